"""The modes plot: test accuracy against average energy per inference, each adaptive model's modes beside
the static Pareto front of a search (every point there is one network that always does all its work).

The static candidates' energies are recomputed with the current cost model from their genomes (a store
keeps the costs of the harx version that searched), so both sides are costed alike.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from harx.adapt.modes import front
from harx.adapt.pipeline import AdaptResult
from harx.cost import DEFAULT_TARGET, estimate
from harx.objectives import nondominated
from harx.pareto.front import Front
from harx.pareto.plot import plain_log_ticks
from harx.paths import write_atomic

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
STATIC_COLOR = "#7f7f7f"


def figure(results: list[AdaptResult], target: str = DEFAULT_TARGET, static: Front | None = None):
    """A matplotlib Figure: per result, its deployed policy's modes (filled where no other mode of it beats
    them on both axes), its other policies' modes faded, and the single network it replaces; ``static``
    (a front over accuracy and energy on ``target``) in grey."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.6), dpi=130, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for k, r in enumerate(results):
        color = COLORS[k % len(COLORS)]
        for policy, modes in r.sweeps.items():
            if policy != r.policy:
                ax.plot(
                    [m.test.avg_energy_uj[target] for m in modes],
                    [100 * m.test.accuracy for m in modes],
                    color=color,
                    alpha=0.25,
                    lw=0.8,
                    marker=".",
                    ms=3,
                    label=f"{r.kind}: {policy}" if k == 0 else None,
                )
        x = [m.test.avg_energy_uj[target] for m in r.modes]
        y = [100 * m.test.accuracy for m in r.modes]
        on = front(r.modes, "test", target)
        ax.plot(x, y, color=color, lw=1.2, label=f"{r.description} ({r.policy}, {len(r.modes)} modes)")
        ax.scatter(
            [a for a, f in zip(x, on, strict=True) if f],
            [b for b, f in zip(y, on, strict=True) if f],
            color=color,
            s=18,
            zorder=3,
        )
        ax.scatter(
            [a for a, f in zip(x, on, strict=True) if not f],
            [b for b, f in zip(y, on, strict=True) if not f],
            facecolors="none",
            edgecolors=color,
            s=18,
            zorder=3,
        )
        single = r.costs[target].single.energy_uj
        ax.scatter(
            [single],
            [100 * r.full.test.accuracy],
            marker="*",
            s=90,
            color=color,
            edgecolors="black",
            zorder=4,
            label="single network it replaces" if k == 0 else None,
        )
    if static is not None and results:
        pts = static_points(static, target, results[0])
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            color=STATIC_COLOR,
            drawstyle="steps-post",
            lw=1,
            marker="s",
            ms=4,
            label=f"static front: run {static.run_id} ({static.score_source})",
        )
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel(f"average energy per inference on {target} (µJ)")
    ax.set_ylabel("accuracy on the test subjects (%)")
    ax.set_title(f"operating modes on {results[0].dataset}" if results else "operating modes")
    ax.grid(True, which="both", alpha=0.3)
    # below the axes: inside them it covered modes (the cheapest mode sits low, at either side)
    fig.legend(loc="outside lower center", ncol=2, fontsize=7)
    return fig


def static_points(static: Front, target: str, like: AdaptResult) -> list[tuple[float, float]]:
    """(energy µJ on ``target``, accuracy %) of the static front's non-dominated candidates, their energy
    recomputed for ``like``'s input shape; sorted by energy."""
    m = like.model.first.model
    shape = {"in_channels": m.in_channels, "in_len": m.in_len, "n_classes": m.n_classes}
    placed = [p for p in static.all_points if p.acc is not None]
    pts = np.array([[estimate(p.genome, target, **shape).energy_uj, 100 * p.acc] for p in placed])
    if not len(pts):
        return []
    keep = nondominated(np.column_stack([pts[:, 0], -pts[:, 1]]))
    return sorted(map(tuple, pts[keep].tolist()))


def plot_png(
    results: list[AdaptResult],
    path: str | os.PathLike[str],
    target: str = DEFAULT_TARGET,
    static: Front | None = None,
) -> Path:
    """Render ``figure`` to a PNG file (written atomically) and return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figure(results, target, static)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return write_atomic(path, buf.getvalue())
