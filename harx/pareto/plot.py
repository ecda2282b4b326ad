"""Front plots: accuracy against each cost axis (log-scaled), one panel per axis, runs overlaid.

Each panel is the 2-D front of (score, cost): points that no other candidate beats on both are drawn solid,
joined by a staircase and labelled with their candidate ids; dominated candidates are faded. Infeasible and
failed candidates have no score and are not drawn (their counts are in the caption). ``plot_png`` renders
with matplotlib; ``plot_html`` writes a self-contained page of inline SVG whose points show their details on
hover (SVG ``<title>`` tooltips, no script, no network).
"""

from __future__ import annotations

import html
import io
import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

from harx.errors import ConfigError
from harx.objectives import COST_AXES, Objective
from harx.pareto.front import Front, FrontPoint, load_fronts
from harx.pareto.reference import PUBLISHED_LABEL, Reference
from harx.paths import harx_home, write_atomic
from harx.store import Store

DEFAULT_AXES = ("flash", "latency", "energy")
# Colour of run i (matplotlib's tab10); published figures are grey.
RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
REF_COLOR = "#7f7f7f"
DOMINATED_ALPHA = 0.25


@dataclass(frozen=True)
class Panel:
    """One plot panel: ``metric`` (accuracy or F1) against ``cost``, the 2-D front of each run."""

    metric: Objective
    cost: Objective
    fronts: tuple[Front, ...]


def panels(
    store: Store,
    run_ids: list[int] | tuple[int, ...] | None = None,
    target: str | None = None,
    metric: str = "acc",
    axes: tuple[str, ...] = DEFAULT_AXES,
    stage: str | None = None,
) -> list[Panel]:
    """The panels of a front plot: one per cost axis in ``axes``, each with the 2-D front of every run."""
    if metric not in ("acc", "f1"):
        raise ConfigError(f"--metric: '{metric}' is not a score (choose acc or f1)")
    for axis in axes:
        if axis not in COST_AXES:
            raise ConfigError(f"--axes: '{axis}' is not a cost axis (choose from {', '.join(COST_AXES)})")
    out = []
    for axis in axes:
        fronts = load_fronts(store, run_ids, (metric, axis), target, stage)
        out.append(Panel(fronts[0].objectives[0], fronts[0].objectives[1], tuple(fronts)))
    return out


def _color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def _run_label(front: Front) -> str:
    name = f" {front.run.name}" if front.run.name else ""
    return f"run {front.run.id}{name} ({front.stage})"


def _xy(panel: Panel, p: FrontPoint) -> tuple[float, float]:
    return panel.cost.display(p.values[1]), panel.metric.display(p.values[0])


def _y_label(panel: Panel) -> str:
    front = panel.fronts[0]  # the runs of a panel share one stage (see load_fronts)
    return f"{panel.metric.label} % ({front.stage}: {front.score_source})"


def _x_label(panel: Panel) -> str:
    return f"{panel.cost.label} on {panel.fronts[0].target} ({panel.cost.display_unit}, log scale)"


def _caption(panel_list: list[Panel]) -> str:
    first = panel_list[0]
    missing = "; ".join(
        f"run {f.run.id}: {f.n_infeasible} infeasible, {f.n_failed} failed"
        for f in first.fronts
        if f.n_infeasible or f.n_failed
    )
    drawn = f"not drawn (no score): {missing}" if missing else "every scored candidate drawn"
    return f"{first.fronts[0].dataset}: dominated candidates faded; {drawn}"


def _points_x(reference: Reference | None, panel: Panel) -> list[float]:
    """The cost-axis positions of the measured points and of the published points of ``panel``."""
    xs = [_xy(panel, p)[0] for front in panel.fronts for p in front.all_points]
    return xs + [panel.cost.display(p.values[panel.cost.name]) for p in _ref_points(reference, panel)]


def _x_range(reference: Reference | None, panel: Panel) -> tuple[float, float]:
    """The cost axis span: the points with a margin. Published ranges never widen it (the paper's ranges
    span four benchmarks and reach decades past one dataset's networks)."""
    xs = _points_x(reference, panel)
    return min(xs) / 1.3, max(xs) * 1.3


def _ranges(reference: Reference | None, panel: Panel) -> list[tuple[float, float, object]]:
    """The reference ranges of ``panel``'s cost as (low, high, range) in display units, clipped to the
    axis span; a range outside it entirely is left out."""
    if reference is None:
        return []
    lo_x, hi_x = _x_range(reference, panel)
    out = []
    for r in reference.ranges:
        if r.objective != panel.cost.name:
            continue
        lo, hi = panel.cost.display(r.low), panel.cost.display(r.high)
        if hi >= lo_x and lo <= hi_x:
            out.append((max(lo, lo_x), min(hi, hi_x), r))
    return out


def plain_log_ticks(axis) -> None:
    """Label a log axis with plain numbers ('2', '500', '0.05'), not '2×10⁰', on the ticks matplotlib
    chose to label."""
    from matplotlib.ticker import LogFormatterSciNotation

    class Plain(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return _fmt(x) if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _ref_points(reference: Reference | None, panel: Panel) -> list:
    if reference is None:
        return []
    wanted = (panel.metric.name, panel.cost.name)
    return [p for p in reference.points if all(k in p.values for k in wanted)]


def _reference_for(panel_list: list[Panel], reference: Reference | None) -> Reference | None:
    return reference.for_dataset(panel_list[0].fronts[0].dataset) if reference else None


def default_plot_path(panel_list: list[Panel]) -> Path:
    """Where ``harx pareto plot`` writes without ``-o``:
    ``$HARX_HOME/plots/<dataset>-run<ID>[-<ID>...].png``."""
    fronts = panel_list[0].fronts
    runs = "-".join(str(f.run.id) for f in fronts)
    return harx_home() / "plots" / f"{fronts[0].dataset}-run{runs}.png"


# ---- PNG ----------------------------------------------------------------------------------------------


def figure(panel_list: list[Panel], reference: Reference | None = None):
    """The matplotlib Figure of ``panel_list`` (artists carry gids: ``front-run<ID>``, ``dominated-run<ID>``,
    ``reference-range-<objective>``, ``reference-points``)."""
    from matplotlib.figure import Figure

    reference = _reference_for(panel_list, reference)
    fig = Figure(figsize=(5.2 * len(panel_list), 4.6), dpi=150, layout="constrained")
    axes = fig.subplots(1, len(panel_list), squeeze=False)[0]
    handles: dict[str, object] = {}
    for ax, panel in zip(axes, panel_list, strict=True):
        for lo, hi, r in _ranges(reference, panel):
            band = ax.axvspan(lo, hi, color=REF_COLOR, alpha=0.08, lw=0, gid=f"reference-range-{r.objective}")
            on_axis = ax.get_xaxis_transform()  # x in data units, y in axes fractions
            ax.plot([lo, hi], [0.03, 0.03], transform=on_axis, color=REF_COLOR, lw=2, marker="|", ms=9)
            full_lo, full_hi = panel.cost.display(r.low), panel.cost.display(r.high)
            ax.text(
                math.sqrt(lo * hi),
                0.05,
                f"{reference.label}: {_fmt(full_lo)}–{_fmt(full_hi)} {panel.cost.display_unit} (published)",
                transform=on_axis,
                ha="center",
                fontsize=7,
                color="#555555",
            )
            handles.setdefault(f"{reference.label} range, {PUBLISHED_LABEL}", band)
        rpts = _ref_points(reference, panel)
        if rpts:
            h = ax.scatter(
                [panel.cost.display(p.values[panel.cost.name]) for p in rpts],
                [panel.metric.display(p.values[panel.metric.name]) for p in rpts],
                marker="*",
                s=90,
                color=REF_COLOR,
                gid="reference-points",
                zorder=3,
            )
            handles.setdefault(f"{reference.label}, {PUBLISHED_LABEL}", h)
        for i, front in enumerate(panel.fronts):
            color = _color(i)
            if front.dominated:
                xs, ys = zip(*(_xy(panel, p) for p in front.dominated), strict=True)
                h = ax.scatter(
                    xs, ys, s=14, color=color, alpha=DOMINATED_ALPHA, lw=0, gid=f"dominated-run{front.run.id}"
                )
                handles.setdefault(f"{_run_label(front)} dominated", h)
            pts = sorted((_xy(panel, p), p.candidate_id) for p in front.points)
            xs, ys = [xy[0] for xy, _ in pts], [xy[1] for xy, _ in pts]
            ax.step(xs, ys, where="post", color=color, lw=1.0, alpha=0.8)
            h = ax.scatter(
                xs, ys, s=36, color=color, edgecolor="black", lw=0.6, zorder=4, gid=f"front-run{front.run.id}"
            )
            handles.setdefault(f"{_run_label(front)} Pareto front", h)
            for (x, y), cid in pts:
                ax.annotate(
                    f"#{cid}", (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7, color=color
                )
        ax.set_xscale("log")
        ax.set_xlim(*_x_range(reference, panel))
        plain_log_ticks(ax.xaxis)
        if _ranges(reference, panel):  # room under the data for the published range bars
            lo, hi = ax.get_ylim()
            ax.set_ylim(lo - 0.12 * (hi - lo), hi)
        ax.set_xlabel(_x_label(panel), fontsize=9)
        ax.set_ylabel(_y_label(panel), fontsize=9)
        ax.set_title(f"{panel.metric.label} vs {panel.cost.label}", fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=2, fontsize=8)
    # about 15 characters of 9-point text per inch: wrap so that the caption is never cut at the edges
    fig.suptitle(textwrap.fill(_caption(panel_list), int(15 * fig.get_figwidth())), fontsize=9)
    return fig


def plot_png(
    panel_list: list[Panel], path: str | os.PathLike[str], reference: Reference | None = None
) -> Path:
    """Render the panels to a PNG file (written atomically) and return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figure(panel_list, reference)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return write_atomic(path, buf.getvalue())


# ---- HTML ---------------------------------------------------------------------------------------------

_W, _H = 440, 330
_ML, _MR, _MT, _MB = 58, 16, 28, 46


def _log_ticks(lo: float, hi: float) -> list[float]:
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    mults = (1, 2, 5) if last - first <= 3 else (1,)
    ticks = [m * 10.0**e for e in range(first, last + 1) for m in mults]
    return [t for t in ticks if lo <= t <= hi]


def _lin_ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if span / s <= 7)
    start = math.ceil(lo / step) * step
    n = math.floor((hi - start) / step + 1e-9) + 1
    return [round(start + k * step, 6) for k in range(n)]


@dataclass(frozen=True)
class _Frame:
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float

    def x(self, v: float) -> float:
        t = (math.log10(v) - math.log10(self.x_lo)) / (math.log10(self.x_hi) - math.log10(self.x_lo))
        return _ML + t * (_W - _ML - _MR)

    def y(self, v: float) -> float:
        t = (v - self.y_lo) / (self.y_hi - self.y_lo)
        return _H - _MB - t * (_H - _MT - _MB)


def _frame(panel: Panel, reference: Reference | None) -> _Frame:
    ys = [_xy(panel, p)[1] for front in panel.fronts for p in front.all_points]
    for p in _ref_points(reference, panel):
        ys.append(panel.metric.display(p.values[panel.metric.name]))
    x_lo, x_hi = _x_range(reference, panel)
    pad = max(0.5, 0.06 * (max(ys) - min(ys)))
    y_lo, y_hi = min(ys) - pad, max(ys) + pad
    if _ranges(reference, panel):  # room under the data for the published range bars
        y_lo -= 0.15 * (y_hi - y_lo)
    return _Frame(x_lo, x_hi, y_lo, y_hi)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _tooltip(p: FrontPoint, front: Front) -> str:
    lines = [f"#{p.candidate_id}  {p.genome}", f"run {p.run_id}, {p.stage} stage"]
    spread = f" ± {100 * p.acc_std:.2f}" if p.acc_std is not None else ""
    reps = f" ({p.n_repeats} {'seeds' if p.stage == 'refine' else 'folds'})" if p.n_repeats else ""
    if p.acc is not None:
        lines.append(f"accuracy {100 * p.acc:.2f}%{spread}{reps}")
    if p.f1 is not None:
        lines.append(f"macro-F1 {100 * p.f1:.2f}%")
    for t, c in p.costs.items():
        parts = []
        if c.flash_bytes is not None:
            parts.append(f"flash {c.flash_bytes:,} B")
        if c.ram_bytes is not None:
            parts.append(f"RAM {c.ram_bytes:,} B")
        if c.latency_ms is not None:
            parts.append(f"{c.latency_ms:.4g} ms")
        if c.energy_uj is not None:
            parts.append(f"{c.energy_uj:.4g} µJ")
        lines.append(f"{t}: " + ", ".join(parts))
    lines.append("on the Pareto front" if p.on_front else "dominated")
    return "\n".join(lines)


def _svg(panel: Panel, reference: Reference | None) -> str:
    f = _frame(panel, reference)
    e = html.escape
    out = [
        f'<svg class="panel" data-axis="{panel.cost.name}" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg">',
        f'<text class="ttl" x="{_W / 2}" y="16">{e(panel.metric.label)} vs {e(panel.cost.label)}</text>',
    ]
    for lo, hi, r in _ranges(reference, panel):
        x0, x1 = f.x(lo), f.x(hi)
        yb = _H - _MB - 8
        full_lo, full_hi = panel.cost.display(r.low), panel.cost.display(r.high)
        span = f"{_fmt(full_lo)}–{_fmt(full_hi)} {panel.cost.display_unit}"
        out.append(
            f'<g class="ref"><title>{e(reference.label)}: {e(panel.cost.label)} {e(span)}, {PUBLISHED_LABEL}\n'
            f"{e(r.where)}\n{e(reference.source)}</title>"
            f'<rect x="{x0:.1f}" y="{_MT}" width="{max(x1 - x0, 1):.1f}" height="{_H - _MT - _MB}"/>'
            f'<path class="seg" d="M{x0:.1f} {yb - 4} V{yb + 4} M{x0:.1f} {yb} H{x1:.1f} M{x1:.1f} {yb - 4} '
            f'V{yb + 4}"/><text class="reftxt" x="{(x0 + x1) / 2:.1f}" y="{yb - 6}">'
            f"{e(reference.label)}: {e(span)} (published)</text></g>"
        )
    for t in _log_ticks(f.x_lo, f.x_hi):
        x = f.x(t)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{_MT}" x2="{x:.1f}" y2="{_H - _MB}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{_H - _MB + 14}">{_fmt(t)}</text>')
    for t in _lin_ticks(f.y_lo, f.y_hi):
        y = f.y(t)
        out.append(f'<line class="grid" x1="{_ML}" y1="{y:.1f}" x2="{_W - _MR}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick ytick" x="{_ML - 4}" y="{y + 3:.1f}">{_fmt(t)}</text>')
    out.append(f'<rect class="axes" x="{_ML}" y="{_MT}" width="{_W - _ML - _MR}" height="{_H - _MT - _MB}"/>')
    out.append(f'<text class="xlab" x="{(_ML + _W - _MR) / 2}" y="{_H - 8}">{e(_x_label(panel))}</text>')
    out.append(
        f'<text class="ylab" transform="translate(13 {(_MT + _H - _MB) / 2}) rotate(-90)">'
        f"{e(_y_label(panel))}</text>"
    )
    for p in _ref_points(reference, panel):
        x = f.x(panel.cost.display(p.values[panel.cost.name]))
        y = f.y(panel.metric.display(p.values[panel.metric.name]))
        out.append(
            f'<path class="refpt" d="M{x:.1f} {y - 6:.1f} L{x + 5:.1f} {y + 4:.1f} L{x - 5:.1f} {y + 4:.1f} Z">'
            f"<title>{e(reference.label)} {e(p.label)}: {PUBLISHED_LABEL}\n{e(p.where)}</title></path>"
        )
    for i, front in enumerate(panel.fronts):
        color = _color(i)
        for p in front.dominated:
            x, y = _xy(panel, p)
            out.append(
                f'<circle class="pt dom" data-id="{p.candidate_id}" data-run="{front.run.id}" '
                f'cx="{f.x(x):.1f}" cy="{f.y(y):.1f}" r="3" fill="{color}">'
                f"<title>{e(_tooltip(p, front))}</title></circle>"
            )
        pts = sorted(((_xy(panel, p), p) for p in front.points), key=lambda item: item[0])
        steps = []
        for k, ((x, y), _) in enumerate(pts):
            steps.append(f"{'M' if k == 0 else 'L'}{f.x(x):.1f} {f.y(pts[k - 1][0][1] if k else y):.1f}")
            steps.append(f"L{f.x(x):.1f} {f.y(y):.1f}")
        out.append(f'<path class="step" stroke="{color}" d="{" ".join(steps)}"/>')
        for (x, y), p in pts:
            cx, cy = f.x(x), f.y(y)
            out.append(
                f'<circle class="pt front" data-id="{p.candidate_id}" data-run="{front.run.id}" '
                f'cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="{color}">'
                f"<title>{e(_tooltip(p, front))}</title></circle>"
            )
            out.append(
                f'<text class="lbl" x="{cx + 6:.1f}" y="{cy - 5:.1f}" fill="{color}">#{p.candidate_id}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


_CSS = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
svg.panel{margin:0 8px 8px 0;background:#fff}
.ttl{font-size:13px;text-anchor:middle;font-weight:600}
.tick{font-size:10px;text-anchor:middle;fill:#555}.ytick{text-anchor:end}
.xlab,.ylab{font-size:11px;text-anchor:middle;fill:#333}
.grid{stroke:#ddd;stroke-width:.6}.axes{fill:none;stroke:#666}
.ref rect{fill:#7f7f7f;fill-opacity:.08}.ref .seg{stroke:#7f7f7f;stroke-width:2;fill:none}
.reftxt{font-size:9px;fill:#555;text-anchor:middle}.refpt{fill:#7f7f7f}
.step{fill:none;stroke-width:1.2;opacity:.8}
.pt.dom{opacity:.25}.pt.front{stroke:#000;stroke-width:.6}
.pt:hover{stroke:#000;stroke-width:2;opacity:1}
.lbl{font-size:9px}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:right}td.g{text-align:left;font-family:monospace}
.sw{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
.note{color:#555;font-size:12px;max-width:75em}"""


def _table(front: Front, color: str) -> str:
    e = html.escape
    t = front.target
    rows = [
        f"<h3><span class='sw' style='background:{color}'></span>{e(_run_label(front))}: Pareto front over "
        f"{', '.join(o.name for o in front.objectives)} on {t}</h3>",
        "<table><tr><th>id</th><th>genome</th><th>accuracy %</th><th>F1 %</th><th>flash B</th>"
        f"<th>RAM B</th><th>{t} ms</th><th>{t} µJ</th></tr>",
    ]
    for p in front.points:
        c = p.costs.get(t)
        std = f" ± {100 * p.acc_std:.2f}" if p.acc_std is not None else ""
        cells = [
            str(p.candidate_id),
            f"{100 * p.acc:.2f}{std}" if p.acc is not None else "",
            f"{100 * p.f1:.2f}" if p.f1 is not None else "",
            f"{c.flash_bytes:,}" if c and c.flash_bytes is not None else "",
            f"{c.ram_bytes:,}" if c and c.ram_bytes is not None else "",
            f"{c.latency_ms:.4g}" if c and c.latency_ms is not None else "",
            f"{c.energy_uj:.4g}" if c and c.energy_uj is not None else "",
        ]
        rows.append(
            f"<tr><td>{cells[0]}</td><td class='g'>{e(p.genome)}</td>"
            + "".join(f"<td>{x}</td>" for x in cells[1:])
            + "</tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def html_page(panel_list: list[Panel], reference: Reference | None = None) -> str:
    """A self-contained HTML page: one inline SVG per panel, hover details, and the front tables."""
    reference = _reference_for(panel_list, reference)
    e = html.escape
    title = f"harx Pareto fronts: {panel_list[0].fronts[0].dataset}"
    body = [
        f"<h1>{e(title)}</h1>",
        f"<p class='note'>{e(_caption(panel_list))}. Hover a point for details.</p>",
    ]
    body += [_svg(p, reference) for p in panel_list]
    legend = [
        f"<span class='sw' style='background:{_color(i)}'></span>{e(_run_label(f))}"
        for i, f in enumerate(panel_list[0].fronts)
    ]
    body.append("<p>" + " &nbsp; ".join(legend) + " &nbsp; faded: dominated</p>")
    if reference and (reference.ranges or reference.points):
        body.append(
            f"<p class='note'><span class='sw' style='background:{REF_COLOR};opacity:.5'></span>"
            f"Grey bands, bars and triangles: {e(reference.label)}, {PUBLISHED_LABEL}. {e(reference.source)} "
            f"{e(reference.url)}. {e(reference.note)}</p>"
        )
    main = next((p for p in panel_list if p.cost.name == "flash"), panel_list[0])
    body += [_table(f, _color(i)) for i, f in enumerate(main.fronts)]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def plot_html(
    panel_list: list[Panel], path: str | os.PathLike[str], reference: Reference | None = None
) -> Path:
    """Write ``html_page`` to ``path`` (atomically) and return the path."""
    return write_atomic(path, html_page(panel_list, reference))
