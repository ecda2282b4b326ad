"""Tables the commands share: a cost estimate, a front, one candidate's details (rich, never cut)."""

from __future__ import annotations

from rich.table import Table

from harx.cost import Cost
from harx.pareto import CandidateDetail, Front
from harx.pareto.compare import Comparison


def cost_table(cost: Cost) -> Table:
    """The per-layer table of one estimate (totals are printed by ``cost_summary``)."""
    table = Table(title=f"{cost.genome} on {cost.target} ({cost.kernels} kernels)", title_justify="left")
    table.add_column("#")
    for name in ("layer", "kernel"):
        table.add_column(name, no_wrap=True)
    for name in ("MACs", "flash B", "in B", "out B", "cycles", "ms", "µJ"):
        table.add_column(name, justify="right")
    for lc in cost.layers:
        table.add_row(
            str(lc.index),
            lc.shape,
            lc.kernel,
            f"{lc.macs:,}",
            f"{lc.ro_bytes:,}",
            f"{lc.in_bytes:,}",
            f"{lc.out_bytes:,}",
            f"{lc.latency_cycles:,}",
            f"{lc.latency_ms:.4f}",
            f"{lc.energy_uj:.3f}",
        )
    table.add_row(
        "", "per inference", "call, fork (gap8), argmax", "", "", "", "", f"{cost.overhead_cycles:,}", "", ""
    )
    table.add_section()
    table.add_row(
        "",
        "total",
        "",
        f"{cost.macs:,}",
        f"{cost.flash_bytes:,}",
        "",
        "",
        f"{cost.latency_cycles:,}",
        f"{cost.latency_ms:.4f}",
        f"{cost.energy_uj:.3f}",
    )
    return table


def cost_summary(cost: Cost) -> str:
    """Totals, the RAM breakdown and whether the plan fits, as rich markup."""
    p = cost.plan
    fit = "[green]fits[/]" if cost.feasible else f"[red]does not fit: {cost.infeasible_reason}[/]"
    use = ", ".join(f"{u.name} {u.used_bytes:,}/{u.available_bytes:,} B" for u in p.usage)
    return (
        f"flash {cost.flash_bytes:,} B, RAM {cost.ram_bytes:,} B (input {p.input_bytes:,} + arena "
        f"{p.arena_bytes:,} + im2col {p.im2col_bytes:,} + weight buffer {p.weight_buffer_bytes:,} + logits "
        f"{p.logits_bytes:,}), {cost.macs:,} MACs, {cost.latency_ms:.4f} ms, {cost.energy_uj:.3f} µJ\n"
        f"memories: {use}\n{fit}"
    )


def _fmt(value: float | None, spec: str, scale: float | None = None) -> str:
    if value is None:
        return "–"
    return format(value if scale is None else value * scale, spec)


def front_table(front: Front, include_dominated: bool) -> Table:
    name = f" '{front.run.name}'" if front.run.name else ""
    objs = ", ".join(f"{o.name} ({o.sense})" for o in front.objectives)
    table = Table(
        title=f"run {front.run.id}{name} on {front.dataset}: {front.stage} front over {objs} on {front.target}, "
        f"selected on {front.selected_on}; scores on the {front.score_source} (± sd, ddof=1)",
        title_justify="left",
    )
    targets = sorted({t for p in front.all_points for t in p.costs})
    table.add_column("id")
    table.add_column("genome", no_wrap=True)
    ci = any(p.acc_ci95 for p in front.all_points)
    for col in ("acc %", *(("95% CI",) if ci else ()), "F1 %", "flash B", f"RAM B ({front.target})"):
        table.add_column(col, justify="right")
    for t in targets:
        table.add_column(f"{t} ms", justify="right")
        table.add_column(f"{t} µJ", justify="right")
    if include_dominated:
        table.add_column("front")
    for p in front.points + (front.dominated if include_dominated else ()):
        c = p.costs.get(front.target)
        # one seed or fold has no spread to show
        std = f" ± {100 * p.acc_std:.2f}" if p.acc_std is not None and p.n_repeats > 1 else ""
        row = [
            str(p.candidate_id),
            p.genome,
            _fmt(p.acc, ".2f", 100) + std,
            *((f"{100 * p.acc_ci95[0]:.1f}–{100 * p.acc_ci95[1]:.1f}" if p.acc_ci95 else "–",) if ci else ()),
            _fmt(p.f1, ".2f", 100),
            _fmt(c.flash_bytes if c else None, ","),
            _fmt(c.ram_bytes if c else None, ","),
        ]
        for t in targets:
            tc = p.costs.get(t)
            row += [_fmt(tc.latency_ms if tc else None, ".4g"), _fmt(tc.energy_uj if tc else None, ".4g")]
        if include_dominated:
            row.append("yes" if p.on_front else "")
        table.add_row(*row)
    return table


def front_summary(front: Front) -> str:
    units = " x ".join(o.unit or "fraction" for o in front.objectives)
    return (
        f"hypervolume {front.hypervolume:.6g} ({units}, objectives as minimised) at reference "
        f"{front.describe_reference()}\n{len(front.points)} on the front, {len(front.dominated)} dominated; "
        f"not placed: {front.n_infeasible} infeasible on {front.target}, {front.n_failed} failed, "
        f"{front.n_unplaced} missing a value"
    )


def layers_table(d: CandidateDetail) -> Table:
    table = Table(title="layers and bits", title_justify="left")
    for col in ("#", "layer", "in", "out", "in bits", "w bits", "out bits", "params"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for i, layer in enumerate(d.layers):
        table.add_row(
            str(i),
            layer.kind,
            f"{layer.cin}x{layer.lin}",
            f"{layer.cout}x{layer.lout}",
            str(layer.in_bits),
            str(layer.w_bits or "–"),
            str(layer.out_bits),
            f"{layer.n_weights:,}",
        )
    return table


def confusion_table(d: CandidateDetail) -> Table:
    names = [s.name for s in d.class_scores]
    seeds = (
        f", summed over {d.confusion_seeds} seeds (each scores every test window)"
        if d.confusion_seeds > 1
        else ""
    )
    table = Table(
        title=f"confusion matrix on the test subjects{seeds} (rows: true, columns: predicted)",
        title_justify="left",
    )
    table.add_column("true \\ predicted")
    for name in names:
        table.add_column(name[:10], justify="right")
    for col in ("recall", "precision", "F1"):
        table.add_column(col, justify="right")
    for name, row, score in zip(names, d.confusion, d.class_scores, strict=True):
        table.add_row(
            name,
            *(str(v) for v in row),
            _fmt(score.recall, ".3f"),
            _fmt(score.precision, ".3f"),
            _fmt(score.f1, ".3f"),
        )
    return table


def history_table(d: CandidateDetail) -> Table:
    """Every epoch with its validation scores; without validation subjects (fixed epochs, last weights
    kept) one row per phase, as a column of '–' says nothing."""
    if not d.validated:
        return _phase_table(d)
    table = Table(title="training curve (first seed)", title_justify="left")
    for col in ("phase", "epoch", "loss", "val acc", "val F1", "s"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for h in d.history:
        table.add_row(
            str(h.get("phase", "")),
            str(h.get("epoch", "")),
            _fmt(h.get("loss"), ".4f"),
            _fmt(h.get("val_acc"), ".4f"),
            _fmt(h.get("val_f1"), ".4f"),
            _fmt(h.get("seconds"), ".1f"),
        )
    return table


def _phase_table(d: CandidateDetail) -> Table:
    table = Table(
        title="training, first seed (no validation: fixed epochs)",
        title_justify="left",
    )
    for col in ("phase", "epochs", "first loss", "last loss", "lowest loss", "s"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    phases: dict[str, list[dict]] = {}
    for h in d.history:
        phases.setdefault(str(h.get("phase", "")), []).append(h)
    for phase, rows in phases.items():
        losses = [h["loss"] for h in rows if isinstance(h.get("loss"), int | float)]
        table.add_row(
            phase,
            str(len(rows)),
            _fmt(losses[0] if losses else None, ".4f"),
            _fmt(losses[-1] if losses else None, ".4f"),
            _fmt(min(losses) if losses else None, ".4f"),
            _fmt(sum(h.get("seconds") or 0.0 for h in rows), ".1f"),
        )
    return table


def metrics_lines(d: CandidateDetail) -> list[str]:
    lines = []
    for key, value in sorted(d.record.metrics.items()):
        if isinstance(value, list):
            text = ", ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in value)
            lines.append(f"  {key}: [{text}]")
        elif isinstance(value, float):
            lines.append(f"  {key}: {value:.4f}")
        else:
            lines.append(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")
    return lines


def budget_line(e: dict) -> str:
    """What a training ran: ``e`` is ``harx.train.budget.Budget.as_dict()`` (an artifact's "effective")."""
    return (
        f"trained on {e['train_windows']:,} windows: batch size {e['batch_size']}, {e['epochs_float']}+"
        f"{e['epochs_qat']} epochs at most ({e['steps_float']:,}+{e['steps_qat']:,} optimizer steps)"
        + (" (adjusted to the data)" if e["adjusted"] else "")
    )


def stored_cost(c: dict) -> str:
    fit = "fits" if c.get("feasible", True) else f"does not fit: {c.get('infeasible_reason', '')}"
    return (
        f"flash {_fmt(c.get('flash_bytes'), ',')} B, RAM {_fmt(c.get('ram_bytes'), ',')} B, "
        f"{_fmt(c.get('latency_cycles'), ',')} cycles, {_fmt(c.get('latency_ms'), '.4g')} ms, "
        f"{_fmt(c.get('energy_uj'), '.4g')} µJ, {fit}"
    )


def modes_table(r, target: str) -> Table:
    """The operating modes of a ``harx.adapt.AdaptResult`` on ``target``."""
    from harx.adapt.modes import front
    from harx.quant.adaptive import ALWAYS, NEVER

    t = Table(title=f"modes ({r.policy}); mode {len(r.modes) - 1} is the full network")
    cols = (
        "mode",
        "threshold",
        "val stop",
        "test stop",
        "accuracy",
        "macro-F1",
        "avg MACs",
        f"avg energy {target} µJ",
        f"avg latency {target} ms",
        "front",
    )
    for c in cols:
        t.add_column(c, justify="right")
    on = front(r.modes, "test", target)
    for i, (m, f) in enumerate(zip(r.modes, on, strict=True)):
        s = m.test
        t.add_row(
            str(i),
            {ALWAYS: "always", NEVER: "never"}.get(m.rule.threshold, str(m.rule.threshold)),
            f"{100 * m.val.exit_fraction:.1f}%",
            f"{100 * s.exit_fraction:.1f}%",
            f"{100 * s.accuracy:.2f}%",
            f"{100 * s.macro_f1:.2f}%",
            f"{s.avg_macs:,.0f}",
            f"{s.avg_energy_uj[target]:.3f}",
            f"{s.avg_latency_ms[target]:.3f}",
            "*" if f else "",
        )
    return t


def _objective_cells(front: Front, values: tuple[float, ...]) -> list[str]:
    return [
        f"{o.display(v):.2f}" if o.maximize else f"{o.display(v):.4g}"
        for o, v in zip(front.objectives, values, strict=True)
    ]


def comparison_table(c: Comparison) -> Table:
    """Each baseline front point, whether the new front is above, level or below it, and what matches it."""
    b = c.baseline
    units = [f"{o.name} {o.display_unit}" for o in b.objectives]
    table = Table(
        title=f"new front ({c.labels[1]}) against the baseline ({c.labels[0]}): "
        f"{b.stage} fronts on {b.target}",
        title_justify="left",
    )
    for col in ("baseline id", "genome", *units, "new front", "new id", "new genome", "score change"):
        table.add_column(
            col, no_wrap=col in ("genome", "new genome"), justify="left" if "genome" in col else "right"
        )
    for m in c.matches:
        shown = m.match or m.nearest
        change = "–" if m.score_change_points is None else f"{m.score_change_points:+.2f} points"
        table.add_row(
            str(m.baseline.candidate_id),
            m.baseline.genome,
            *_objective_cells(b, m.baseline.values),
            m.status,
            "–" if shown is None else str(shown.candidate_id),
            "–" if shown is None else shown.genome,
            change,
        )
    return table


def _percent(value: float | None) -> str:
    return "none" if value is None else f"{100 * value:.2f}%"


def comparison_lines(c: Comparison) -> list[str]:
    """The verdict: hypervolumes, new points above the baseline front, budgets, regression reasons."""
    ref = ", ".join(f"{o.name}={r:.6g}" for o, r in zip(c.baseline.objectives, c.reference, strict=True))
    counts = {s: sum(m.status == s for m in c.matches) for s in ("above", "level", "below")}
    lines = [
        f"hypervolume: baseline {c.baseline_hypervolume:.6g}, new {c.new_hypervolume:.6g} "
        f"({100 * c.hv_change:+.2f}%) at the shared reference {ref}",
        f"baseline points: {counts['above']} above, {counts['level']} level, {counts['below']} below "
        f"(level: within {c.acc_tolerance:g} points and {100 * c.cost_tolerance:g}% of each cost)",
    ]
    if c.new_above:
        ids = ", ".join(f"#{p.candidate_id}" for p in c.new_above)
        lines.append(f"new points beyond the baseline front: {ids}")
    for bc in c.budgets:
        lines.append(
            f"best score at {bc.cost} <= {bc.budget:g}: baseline {_percent(bc.baseline_best)}, "
            f"new {_percent(bc.new_best)}"
        )
    if c.regressed:
        lines += [f"REGRESSION: {r}" for r in c.reasons]
    else:
        lines.append(f"no regression (hypervolume tolerance {100 * c.hv_tolerance:g}%)")
    return lines
