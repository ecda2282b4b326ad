"""What a search reports: progress events while it runs and the finished result, plain dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

from harx.store import CandidateRecord, RunStats


@dataclass
class Event:
    """Progress of a search, for a progress display: one per candidate, epoch or phase change."""

    kind: str  # "generation", "candidate" (one finished or served), "epoch", "warning" (``detail`` holds it)
    generation: int = 0
    generations: int = 0
    done: int = 0
    total: int = 0
    genome: str = ""
    cache_hits: int = 0
    trained: int = 0
    eta_s: float | None = None
    detail: str = ""
    float_hits: int = 0
    stage: str = "proxy"  # "proxy", "select" or "refine"


@dataclass
class SearchResult:
    """A finished search. ``selected`` are the genomes chosen on training subjects (the non-dominated
    ``select`` scores: subject-grouped folds at the refine budget), ``front`` the same genomes retrained on
    every training subject and scored once on the test subjects: the reported front."""

    run_id: int
    store_path: str
    proxy_front: list[CandidateRecord]
    selected: list[CandidateRecord]
    front: list[CandidateRecord]
    stats: RunStats
    wall_seconds: float
    objectives: tuple[str, ...]
    target: str
    # This call only: evaluations served from the store (a genome met again counts again; a resume counts
    # what the same run stored before it stopped, which ``stats`` counts as trained), trainings, float
    # stages not trained (served from the store or shared by bit-width variants) and seconds per stage.
    served_now: int = 0
    trained_now: int = 0
    float_cache_hits: int = 0
    float_trained: tuple[str, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # one line each: the data is small for the recipe

    selected_on = "validation"

    def to_json(self) -> dict:
        def point(c: CandidateRecord) -> dict:
            cost = c.costs.get(self.target, {})
            return {
                "id": c.id,
                "genome": c.genome,
                "stage": c.stage,
                **{
                    k: c.metrics.get(k)
                    for k in (
                        "test_acc_mean",
                        "test_acc_std",
                        "test_acc_ci95",
                        "test_f1_mean",
                        "test_f1_std",
                        "val_acc",
                        "val_f1",
                        "weight_bytes",
                    )
                    if k in c.metrics
                },
                **{k: cost.get(k) for k in ("flash_bytes", "ram_bytes", "latency_ms", "energy_uj")},
                "costs": c.costs,
                "artifact": c.artifact_path,
            }

        return {
            "run_id": self.run_id,
            "store": self.store_path,
            "objectives": list(self.objectives),
            "target": self.target,
            "selected_on": self.selected_on,
            "wall_seconds": round(self.wall_seconds, 1),
            "stage_seconds": {k: round(v, 1) for k, v in self.stage_seconds.items()},
            "candidates": self.stats.n_candidates,
            "trained": self.stats.n_trained,
            "cache_hits": self.stats.cache_hits,
            "served_now": self.served_now,
            "trained_now": self.trained_now,
            "float_cache_hits": self.float_cache_hits,
            "float_trained": len(self.float_trained),
            "failed": self.stats.n_failed,
            "infeasible": self.stats.n_infeasible,
            "front": [point(c) for c in self.front],
            "selected": [point(c) for c in self.selected],
            "proxy_front": [point(c) for c in self.proxy_front],
            "warnings": self.warnings,
        }
