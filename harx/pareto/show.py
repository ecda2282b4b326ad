"""Everything about one stored candidate: scores, per-layer bits and costs, confusion matrix, training curve.

The per-layer cost breakdown is recomputed from the genome with today's cost model and the candidate's
input shape (its ``extra["input"]``, else that of a refined candidate on the same data, else the built-in
dataset's); where today's totals differ from the stored
ones (the cost model changed since the search), ``cost_changes`` says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from harx.cost import TARGETS, Cost, estimate
from harx.data.registry import get_spec, is_builtin
from harx.models.genome import LayerSpec, parse_genome
from harx.pareto.front import selected_on
from harx.store import CandidateRecord, Store

# Stored totals that must match a recomputed estimate; latency in ms and energy follow from the cycles.
_CHECKED = ("flash_bytes", "ram_bytes", "macs", "latency_cycles")


@dataclass(frozen=True)
class InputShape:
    channels: int
    length: int
    classes: int
    source: str  # "stored", "stored with candidate <id> (same data)" or "dataset registry"


@dataclass(frozen=True)
class ClassScore:
    name: str
    support: int
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True)
class CandidateDetail:
    """``costs`` maps each target to today's estimate (None when the input shape is unknown);
    ``confusion`` is summed over ``confusion_seeds`` seeds (each scores every test window), rows the true
    class; ``history`` the first seed's epochs."""

    record: CandidateRecord
    input: InputShape | None
    layers: tuple[LayerSpec, ...]
    costs: dict[str, Cost]
    cost_changes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...] | None
    class_names: tuple[str, ...] | None
    class_scores: tuple[ClassScore, ...]
    history: tuple[dict, ...]
    confusion_seeds: int = 1

    @property
    def validated(self) -> bool:
        """Whether the stored training curve has validation scores (none when every training subject was
        trained on)."""
        return any(h.get("val_acc") is not None for h in self.history)

    @property
    def selected_on(self) -> str:
        """What chose this candidate for its stage's front (``harx.pareto.front.selected_on``)."""
        return selected_on(self.record.stage, [self.record])

    def to_json(self) -> dict:
        """The JSON form of ``harx pareto show``."""
        return {
            "candidate": asdict(self.record),
            "selected_on": self.selected_on,
            "input": asdict(self.input) if self.input else None,
            "layers": [asdict(layer) for layer in self.layers],
            "costs": {t: asdict(c) for t, c in self.costs.items()},
            "cost_changes": list(self.cost_changes),
            "confusion_test": [list(r) for r in self.confusion] if self.confusion else None,
            "confusion_seeds": self.confusion_seeds,
            "class_scores": [asdict(s) for s in self.class_scores],
            "history": list(self.history),
        }


def _stored_shape(rec: CandidateRecord, source: str) -> InputShape | None:
    raw = rec.extra.get("input")
    if isinstance(raw, dict) and all(isinstance(raw.get(k), int) for k in ("channels", "length", "classes")):
        return InputShape(raw["channels"], raw["length"], raw["classes"], source)
    return None


def _input_shape(store: Store, rec: CandidateRecord) -> InputShape | None:
    shape = _stored_shape(rec, "stored")
    if shape is not None:
        return shape
    # Proxy candidates do not store their input; a refined one on the same windows (same fingerprint) does.
    for other in store.candidates(stage="refine", status="ok"):
        if other.dataset_fingerprint == rec.dataset_fingerprint:
            shape = _stored_shape(other, f"stored with candidate {other.id} (same data)")
            if shape is not None:
                return shape
    if is_builtin(rec.dataset):
        spec = get_spec(rec.dataset)
        return InputShape(spec.n_channels, spec.window, spec.n_classes, "dataset registry")
    return None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def class_scores(confusion: list[list[int]], names: list[str] | None) -> tuple[ClassScore, ...]:
    """Per-class precision, recall and F1 from a confusion matrix (rows: true class, columns: predicted)."""
    n = len(confusion)
    out = []
    for c in range(n):
        tp = confusion[c][c]
        support = sum(confusion[c])
        predicted = sum(row[c] for row in confusion)
        p, r = _ratio(tp, predicted), _ratio(tp, support)
        f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
        name = names[c] if names and c < len(names) else str(c)
        out.append(ClassScore(name, support, p, r, f1))
    return tuple(out)


def _changes(rec: CandidateRecord, costs: dict[str, Cost]) -> tuple[str, ...]:
    notes = []
    for target, cost in costs.items():
        stored = rec.costs.get(target) or {}
        for key in _CHECKED:
            old = stored.get(key)
            new = getattr(cost, key)
            if isinstance(old, (int, float)) and not math.isclose(old, new, rel_tol=1e-9):
                notes.append(f"{target} {key}: stored {old:,} vs {new:,} from today's cost model")
    return tuple(notes)


def detail(store: Store, candidate_id: int, targets: tuple[str, ...] = TARGETS) -> CandidateDetail:
    """Everything ``harx pareto show`` prints about one candidate."""
    rec = store.get_candidate(candidate_id)
    genome = parse_genome(rec.genome)
    shape = _input_shape(store, rec)
    layers: tuple[LayerSpec, ...] = ()
    costs: dict[str, Cost] = {}
    if shape is not None:
        layers = tuple(genome.layers(shape.channels, shape.length, shape.classes))
        costs = {
            t: estimate(genome, t, in_channels=shape.channels, in_len=shape.length, n_classes=shape.classes)
            for t in targets
        }
    confusion = rec.extra.get("confusion_test")
    names = rec.extra.get("class_names")
    names = [str(n) for n in names] if isinstance(names, list) else None
    matrix = tuple(tuple(int(v) for v in row) for row in confusion) if isinstance(confusion, list) else None
    history = rec.extra.get("history")
    return CandidateDetail(
        record=rec,
        input=shape,
        layers=layers,
        costs=costs,
        cost_changes=_changes(rec, costs),
        confusion=matrix,
        class_names=tuple(names) if names else None,
        class_scores=class_scores([list(r) for r in matrix], names) if matrix else (),
        history=tuple(h for h in history if isinstance(h, dict)) if isinstance(history, list) else (),
        # a refined candidate's matrix is the sum over its seeds; a proxy or quantize one is one training's
        confusion_seeds=len(rec.metrics.get("test_acc_seeds") or [None]),
    )
