"""A front as JSON, CSV or a Markdown table (for a README, a paper or a CI artifact)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from harx.errors import ConfigError
from harx.objectives import STAGE_SCORES
from harx.pareto.front import Front, FrontPoint

FORMATS = ("csv", "json", "markdown")
# Per-target columns of the CSV, in stored units.
COST_FIELDS = ("flash_bytes", "ram_bytes", "macs", "latency_cycles", "latency_ms", "energy_uj")


def _points(front: Front, include_dominated: bool) -> tuple[FrontPoint, ...]:
    return front.all_points if include_dominated else front.points


def _targets(front: Front) -> list[str]:
    """The front's target first, then every other target the candidates hold costs for."""
    others = sorted({t for p in front.all_points for t in p.costs} - {front.target})
    return [front.target, *others]


def front_dict(front: Front, include_dominated: bool = False) -> dict[str, Any]:
    """Everything a front holds, as JSON-ready plain data (stored units)."""
    return {
        "store": front.store_path,
        "run": {"id": front.run.id, "name": front.run.name, "status": front.run.status},
        "dataset": front.dataset,
        "stage": front.stage,
        "selected_on": front.selected_on,
        "scores": front.score_source,
        "target": front.target,
        "objectives": [
            {
                "name": o.name,
                "sense": o.sense,
                "field": o.key if o.per_target else STAGE_SCORES[front.stage][o.key].mean,
                "unit": o.unit or "fraction",
            }
            for o in front.objectives
        ],
        "hypervolume": {
            "value": front.hypervolume,
            "reference": {o.name: r for o, r in zip(front.objectives, front.reference, strict=True)},
            "reference_given": list(front.reference_given),
            "space": "objectives as minimised (maximised ones negated); accuracy as a fraction",
        },
        "counts": {
            "front": len(front.points),
            "dominated": len(front.dominated),
            "infeasible": front.n_infeasible,
            "failed": front.n_failed,
            "missing_values": front.n_unplaced,
        },
        "points": [
            {
                **{k: v for k, v in asdict(p).items() if k not in ("values", "costs")},
                "objectives": {o.name: v for o, v in zip(front.objectives, p.values, strict=True)},
                "costs": {t: asdict(c) for t, c in p.costs.items()},
            }
            for p in _points(front, include_dominated)
        ],
    }


def to_json(front: Front, include_dominated: bool = False) -> str:
    return json.dumps(front_dict(front, include_dominated), indent=2, allow_nan=False) + "\n"


def to_csv(front: Front, include_dominated: bool = False) -> str:
    """One row per candidate: ids, genome, scores, and every target's costs in stored units."""
    targets = _targets(front)
    header = [
        "run_id",
        "candidate_id",
        "stage",
        "on_front",
        "genome",
        "acc",
        "acc_std",
        "f1",
        "f1_std",
        "n_repeats",
        "acc_ci95_lo",
        "acc_ci95_hi",
        "selected_on",
        "weight_bytes",
    ]
    header += [f"{t}_{f}" for t in targets for f in COST_FIELDS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for p in _points(front, include_dominated):
        row: list[Any] = [
            p.run_id,
            p.candidate_id,
            p.stage,
            int(p.on_front),
            p.genome,
            p.acc,
            p.acc_std,
            p.f1,
            p.f1_std,
            p.n_repeats,
            *(p.acc_ci95 or (None, None)),
            front.selected_on,
            p.weight_bytes,
        ]
        for t in targets:
            cost = p.costs.get(t)
            row += [getattr(cost, f) if cost else None for f in COST_FIELDS]
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def _pct(value: float | None, std: float | None) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.2f} ± {100 * std:.2f}" if std is not None else f"{100 * value:.2f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "–" if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def _num(value: float | None, scale: float, digits: int) -> str:
    return "–" if value is None else f"{value * scale:,.{digits}f}"


def to_markdown(front: Front, include_dominated: bool = False) -> str:
    """A table fit for a README or a paper: id, genome, accuracy ± std, F1, flash and RAM in kB, latency and
    energy on the front's target, and latency on the other targets, with a caption saying what was measured."""
    t = front.target
    others = [x for x in _targets(front) if x != t]
    spread = "sd over seeds" if front.stage == "refine" else "sd over folds"
    head = [
        "id",
        "genome",
        f"acc % (± {spread})",
        "95% CI (subjects)",
        "F1 %",
        "flash kB",
        f"RAM kB ({t})",
        f"{t} latency ms",
        f"{t} energy µJ",
    ]
    head += [f"{o} latency ms" for o in others]
    if include_dominated:
        head.append("front")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for p in _points(front, include_dominated):
        c = p.costs.get(t)
        cells = [
            str(p.candidate_id),
            f"`{p.genome}`",
            _pct(p.acc, p.acc_std),
            _ci(p.acc_ci95),
            _pct(p.f1, None),
            _num(c.flash_bytes if c else None, 1e-3, 2),
            _num(c.ram_bytes if c else None, 1e-3, 2),
            _num(c.latency_ms if c else None, 1.0, 3),
            _num(c.energy_uj if c else None, 1.0, 2),
        ]
        cells += [_num(p.costs[o].latency_ms if o in p.costs else None, 1.0, 3) for o in others]
        if include_dominated:
            cells.append("yes" if p.on_front else "")
        lines.append("| " + " | ".join(cells) + " |")
    objs = ", ".join(f"{o.name} ({o.sense})" for o in front.objectives)
    caption = (
        f"Run {front.run.id} ({front.dataset}), {front.stage} stage: accuracy on the {front.score_source} "
        f"(sd with ddof=1; 95% interval: subject bootstrap). Points chosen on {front.selected_on} scores, "
        f"non-dominated over {objs} on {t}; hypervolume {front.hypervolume:.6g} at reference "
        f"{front.describe_reference()}. Costs are harx's model estimates, kB = 1,000 B."
    )
    return "\n".join(lines) + "\n\n" + caption + "\n"


def export(front: Front, fmt: str, include_dominated: bool = False) -> str:
    """The front in ``fmt`` (one of ``FORMATS``)."""
    writers = {"csv": to_csv, "json": to_json, "markdown": to_markdown}
    if fmt not in writers:
        raise ConfigError(f"--format: unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    return writers[fmt](front, include_dominated)


def front_from_dict(d: dict[str, Any], where: str) -> Front:
    """The Front that ``front_dict`` (``harx pareto export --format json``) wrote: a saved front, e.g. a CI
    baseline. ``where`` names the file in errors (one line, naming the field)."""
    from harx.objectives import parse_objectives
    from harx.pareto.front import TargetCost
    from harx.store import RunRecord

    def need(mapping: Any, key: str, path: str) -> Any:
        if not isinstance(mapping, dict) or key not in mapping:
            raise ConfigError(
                f"{where}: field '{path}{key}' is missing (is it `harx pareto export -f json`?)"
            )
        return mapping[key]

    try:
        names = [need(o, "name", "objectives[].") for o in need(d, "objectives", "")]
        try:
            objectives = parse_objectives(names)
        except ConfigError as exc:
            raise ConfigError(f"{where}: field 'objectives': {exc}") from None
        hv = need(d, "hypervolume", "")
        ref = need(hv, "reference", "hypervolume.")
        run = need(d, "run", "")
        counts = need(d, "counts", "")
        points = []
        for i, p in enumerate(need(d, "points", "")):
            at = f"points[{i}]."
            values = need(p, "objectives", at)
            fields = {k: v for k, v in p.items() if k not in ("objectives", "costs")}
            points.append(
                FrontPoint(
                    **fields,
                    values=tuple(float(need(values, o.name, f"{at}objectives.")) for o in objectives),
                    costs={t: TargetCost(**c) for t, c in need(p, "costs", at).items()},
                )
            )
        return Front(
            store_path=str(need(d, "store", "")),
            run=RunRecord(
                id=int(need(run, "id", "run.")),
                recipe={},
                seed=0,
                name=run.get("name"),
                status=str(run.get("status", "")),
            ),
            dataset=str(need(d, "dataset", "")),
            stage=(stage := str(need(d, "stage", ""))),
            # a front saved before harx recorded it: refined fronts were then kept non-dominated on test scores
            selected_on=str(d.get("selected_on") or ("test" if stage == "refine" else "validation")),
            objectives=objectives,
            target=str(need(d, "target", "")),
            points=tuple(p for p in points if p.on_front),
            dominated=tuple(p for p in points if not p.on_front),
            reference=tuple(float(need(ref, o.name, "hypervolume.reference.")) for o in objectives),
            reference_given=tuple(hv.get("reference_given", ())),
            hypervolume=float(need(hv, "value", "hypervolume.")),
            n_infeasible=int(need(counts, "infeasible", "counts.")),
            n_failed=int(need(counts, "failed", "counts.")),
            n_unplaced=int(need(counts, "missing_values", "counts.")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: not a saved front ({exc})") from None


def read_front_file(path) -> Front:
    """A front saved with ``harx pareto export --format json -o FILE``."""
    from pathlib import Path

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the front file ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a saved front is a JSON object (`harx pareto export -f json`)")
    return front_from_dict(data, str(p))
