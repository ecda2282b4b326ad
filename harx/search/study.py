"""The search study: NSGA-II (pymoo, ask/tell) over genomes, every candidate through the store, then refine.

Resume needs no pickled optimizer: NSGA-II is replayed from the run's seed and every genome already
evaluated is served from the store, so a resumed run follows the killed run's trajectory exactly and
only trains what it had not finished.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harx import __version__
from harx.data import load_dataset, subject_folds, subject_split
from harx.data.splits import subject_warnings, validation_warnings
from harx.errors import ConfigError, StoreError
from harx.evaluate import genome_costs
from harx.models.genome import Genome
from harx.paths import artifacts_dir
from harx.search.encoding import Encoding
from harx.search.executors import make_executor
from harx.search.jobs import ProxyJob, ProxyOutcome, RefineJob, RefineOutcome, run_proxy, run_refine
from harx.search.problem import infeasible_reason, make_algorithm, objective_values
from harx.search.recipe import EXECUTORS, ExecutorSettings, Recipe, recipe_from_stored
from harx.search.refine import front_of, picks_for, refine_job
from harx.store import CandidateRecord, RunStats, Store, config_hash, genome_hash
from harx.train.budget import Budget
from harx.train.budget import plan as plan_budget
from harx.train.config import Execution


@dataclass
class Event:
    """Progress of a search, for a progress display: one per candidate, epoch or phase change."""

    kind: str  # "generation", "candidate", "epoch", "refine", "warning" (``detail`` holds it)
    generation: int = 0
    generations: int = 0
    done: int = 0
    total: int = 0
    genome: str = ""
    cache_hits: int = 0
    trained: int = 0
    eta_s: float | None = None
    detail: str = ""


@dataclass
class SearchResult:
    run_id: int
    store_path: str
    proxy_front: list[CandidateRecord]
    refined: list[CandidateRecord]
    front: list[CandidateRecord]  # the reported front: non-dominated refined candidates
    stats: RunStats
    wall_seconds: float
    objectives: tuple[str, ...]
    target: str
    # This call only: evaluations served from the store (a genome met again counts again; a resume counts
    # what the same run stored before it stopped, which ``stats`` counts as trained) and trainings.
    served_now: int = 0
    trained_now: int = 0
    warnings: list[str] = field(default_factory=list)  # one line each: the data is small for the recipe

    def to_json(self) -> dict:
        def point(c: CandidateRecord) -> dict:
            cost = c.costs.get(self.target, {})
            return {
                "id": c.id,
                "genome": c.genome,
                **{
                    k: c.metrics.get(k)
                    for k in (
                        "test_acc_mean",
                        "test_acc_std",
                        "test_f1_mean",
                        "test_f1_std",
                        "val_acc",
                        "val_f1",
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
            "wall_seconds": round(self.wall_seconds, 1),
            "candidates": self.stats.n_candidates,
            "trained": self.stats.n_trained,
            "cache_hits": self.stats.cache_hits,
            "served_now": self.served_now,
            "trained_now": self.trained_now,
            "failed": self.stats.n_failed,
            "infeasible": self.stats.n_infeasible,
            "front": [point(c) for c in self.front],
            "proxy_front": [point(c) for c in self.proxy_front],
            "warnings": self.warnings,
        }


class Study:
    """One run of a recipe against a store: evaluates what the store lacks, serves the rest, emits events."""

    def __init__(
        self,
        recipe: Recipe,
        store: Store,
        run_id: int,
        execution: Execution,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.recipe, self.store, self.run_id = recipe, store, run_id
        self.on_event = on_event or (lambda e: None)
        self.ds = load_dataset(recipe.dataset)
        self.enc = Encoding(recipe.space, self.ds.n_channels, self.ds.window)
        self.hits = self.trained = 0
        self.trained_seconds = 0.0
        self.warnings: list[str] = []
        self._plan_proxy()
        self.executor = make_executor(recipe.executor, execution)

    def _warn(self, warnings: list[str]) -> None:
        """Keep ``warnings`` for the result and show them now, as events."""
        self.warnings += warnings
        for w in warnings:
            self.on_event(Event("warning", detail=w))

    def _plan_proxy(self) -> None:
        """The proxy folds' training budgets (``harx.train.budget``), their effective settings for the cache
        key where the data changed them, and what the data makes worth a warning (given as the search
        starts)."""
        r, ds, name = self.recipe, self.ds, f"dataset '{self.ds.name}'"
        try:
            folds = subject_folds(ds, n_folds=r.proxy.folds, seed=r.seed)
        except ConfigError as exc:  # before, every candidate failed on it, one by one
            raise ConfigError(f"{r.source}: proxy.folds: {exc}") from None
        proxy = [plan_budget(r.proxy.training, len(f.train)) for f in folds]
        self.proxy_effective = _effective(proxy)
        self.proxy_warnings = (
            subject_warnings(ds)
            + min(proxy, key=lambda b: b.n_train).warnings(f"{name}, proxy (smallest of {len(folds)} folds)")
            + validation_warnings(ds, folds, "ranking candidates")
        )

    def plan_refine(self) -> tuple[dict, ...]:
        """The same for refine's seeds; their warnings are given as refine starts."""
        r, ds = self.recipe, self.ds
        splits = [
            subject_split(ds, n_val_subjects=r.refine.val_subjects, seed=i) for i in range(r.refine.seeds)
        ]
        refine = [plan_budget(r.refine.training, len(s.train)) for s in splits]
        self._warn(
            refine[0].warnings(f"dataset '{ds.name}', refine")
            + validation_warnings(ds, splits[:1], "early stopping in refine")
        )
        return _effective(refine)

    # ---- one generation --------------------------------------------------------------------------------
    def _costs(self, genome: Genome) -> dict:
        return {t: c.summary() for t, c in genome_costs(genome, self.ds, self.recipe.targets).items()}

    def _proxy_job(self, genome: Genome) -> ProxyJob:
        p = self.recipe.proxy
        return ProxyJob(
            genome.text(),
            self.ds.name,
            self.ds.fingerprint,
            p.folds,
            self.recipe.seed,
            p.training.as_dict(),
            self.proxy_effective,
        )

    def _record(
        self, genome: str, stage: str, config: dict, costs: dict, status: str, **kw
    ) -> CandidateRecord:
        return CandidateRecord(
            genome=genome,
            dataset=self.ds.name,
            dataset_fingerprint=self.ds.fingerprint,
            stage=stage,
            status=status,
            train_config=config,
            costs=costs,
            harx_version=__version__,
            **kw,
        )

    def _serve(self, hit: CandidateRecord, costs: dict, gen: int) -> CandidateRecord:
        """A stored evaluation reused by this run, with costs from the current cost models."""
        if hit.costs != costs:
            self.store.update_costs(hit.id, costs)
            hit.costs = costs
        self.store.link(self.run_id, hit.id, gen, cache_hit=True)
        self.hits += 1
        return hit

    def _infeasible(self, text: str, job: ProxyJob, costs: dict, reason: str, gen: int) -> CandidateRecord:
        """Infeasibility depends on the recipe's target and constraints, so its record is keyed on them too:
        a looser recipe later trains the genome instead of being served this verdict."""
        config = {
            **job.config(),
            "feasibility": {"target": self.recipe.target, "constraints": self.recipe.constraints},
        }
        hit = self.store.lookup(genome_hash(text), self.ds.fingerprint, config_hash(config), "proxy")
        if hit is not None:
            return self._serve(hit, costs, gen)
        rec = self._record(text, "proxy", config, costs, "infeasible", infeasible_reason=reason)
        rec.id = self.store.add_candidate(rec, self.run_id, gen)
        return rec

    def evaluate_generation(self, genomes: list[Genome], gen: int) -> list[CandidateRecord | None]:
        """Records for ``genomes`` (None for a failed evaluation), training only what the store lacks."""
        results: dict[str, CandidateRecord | None] = {}
        pending = {}
        total = len({g.text() for g in genomes})
        for g in genomes:
            text = g.text()
            if text in results or text in pending:
                continue
            job = self._proxy_job(g)
            costs = self._costs(g)
            reason = infeasible_reason(costs, self.recipe)
            if reason:
                results[text] = self._infeasible(text, job, costs, reason, gen)
                self._emit("candidate", gen, len(results), total, text, f"infeasible: {reason}")
                continue
            hit = self.store.lookup(
                genome_hash(text), self.ds.fingerprint, config_hash(job.config()), "proxy"
            )
            if hit is not None:
                results[text] = self._serve(hit, costs, gen)
                self._emit(
                    "candidate", gen, len(results), total, text, f"served from the store, {_score(hit)}"
                )
            else:
                pending[text] = (g, job, costs)

        def on_epoch(log):
            self._emit(
                "epoch",
                gen,
                len(results),
                total,
                detail=f"{log.phase} epoch {log.epoch + 1} {log.scores_text()}",
            )

        jobs = [job for _, job, _ in pending.values()]
        for job, outcome in self.executor.map(run_proxy, jobs, on_epoch):
            rec = self._store_proxy(job, pending[job.genome][2], outcome, gen)
            results[job.genome] = rec
            detail = f"trained in {outcome.train_seconds:.0f} s, " + (_score(rec) if rec else "failed")
            self._emit("candidate", gen, len(results), total, job.genome, detail)
        return [results[g.text()] for g in genomes]

    def _store_proxy(self, job: ProxyJob, costs: dict, out: ProxyOutcome, gen: int):
        self.trained += 1
        self.trained_seconds += out.train_seconds
        if out.error:
            rec = self._record(
                job.genome,
                "proxy",
                job.config(),
                costs,
                "failed",
                error=out.error,
                train_seconds=out.train_seconds,
            )
            self.store.add_candidate(rec, self.run_id, gen)
            return None
        rec = self._record(
            job.genome,
            "proxy",
            job.config(),
            costs,
            "ok",
            metrics=out.metrics(),
            train_seconds=out.train_seconds,
        )
        rec.id = self.store.add_candidate(rec, self.run_id, gen)
        return rec

    def _emit(self, kind: str, gen: int, done: int, total: int, genome: str = "", detail: str = "") -> None:
        """An event; ``genome`` is set when that candidate's evaluation has just finished."""
        per = self.trained_seconds / self.trained if self.trained else None
        self.on_event(
            Event(
                kind,
                gen,
                self.recipe.search.generations,
                done,
                total,
                genome,
                self.hits,
                self.trained,
                None if per is None else per * max(total - done, 0),
                detail,
            )
        )

    # ---- the loop ----------------------------------------------------------------------------------------
    def run_nsga2(self) -> None:
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        self._warn(self.proxy_warnings)
        problem, algo = make_algorithm(self.recipe, self.enc)
        gen = 0
        while algo.has_next():
            pop = algo.ask()
            self._emit("generation", gen, 0, len(pop))
            genomes = [self.enc.decode(x) for x in pop.get("X")]
            F, G = objective_values(self.evaluate_generation(genomes, gen), self.recipe)
            Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
            algo.tell(infills=pop)
            gen += 1

    # ---- refine --------------------------------------------------------------------------------------------
    def feasible_proxy(self) -> list[CandidateRecord]:
        return [
            r
            for r in self.store.candidates(self.run_id, stage="proxy", status="ok")
            if not infeasible_reason(r.costs, self.recipe)
        ]

    def refine(self, front: list[CandidateRecord], feasible: list[CandidateRecord]) -> list[CandidateRecord]:
        """Retrain what ``harx.search.refine.picks_for`` picks, serving what the store already holds."""
        picks = picks_for(self.recipe, front, feasible)
        effective = self.plan_refine()
        root = str(artifacts_dir() / self.ds.name)
        refined = []
        pending = {}
        for cand in picks:
            job = refine_job(self.recipe, cand.genome, self.ds.name, self.ds.fingerprint, root, effective)
            hit = self.store.lookup(
                cand.genome_hash, self.ds.fingerprint, config_hash(job.config()), "refine"
            )
            if hit is None:
                pending[cand.genome] = (job, cand)
                continue
            self.store.link(self.run_id, hit.id, -1, cache_hit=True)
            self.hits += 1
            refined.append(hit)
            self._refine_event(len(refined), len(picks), cand.genome, f"served from the store, {_score(hit)}")

        def on_epoch(log):
            self._refine_event(
                len(refined), len(picks), "", f"{log.phase} epoch {log.epoch + 1} {log.scores_text()}"
            )

        for job, out in self.executor.map(run_refine, [job for job, _ in pending.values()], on_epoch):
            rec = self._store_refine(pending[job.genome][1], job, out)
            refined.append(rec)
            detail = f"trained in {out.train_seconds:.0f} s, " + (_score(rec) if rec else "failed")
            self._refine_event(len(refined), len(picks), job.genome, detail)
        return [x for x in refined if x is not None]

    def _refine_event(self, done: int, total: int, genome: str, detail: str) -> None:
        self.on_event(
            Event(
                "refine",
                done=done,
                total=total,
                genome=genome,
                cache_hits=self.hits,
                trained=self.trained,
                detail=detail,
            )
        )

    def _store_refine(self, cand: CandidateRecord, job: RefineJob, out: RefineOutcome):
        self.trained += 1
        if out.error:
            self.store.add_candidate(
                self._record(
                    cand.genome,
                    "refine",
                    job.config(),
                    cand.costs,
                    "failed",
                    error=out.error,
                    train_seconds=out.train_seconds,
                ),
                self.run_id,
                -1,
            )
            return None
        rec = self._record(
            cand.genome,
            "refine",
            job.config(),
            cand.costs,
            "ok",
            metrics=out.metrics,
            extra=out.extra,
            train_seconds=out.train_seconds,
            artifact_path=out.artifact_path,
        )
        rec.id = self.store.add_candidate(rec, self.run_id, -1)
        return rec


def _effective(budgets: list[Budget]) -> tuple[dict, ...]:
    """The effective settings of each training of a job, for its cache key and record: empty where the data
    changed nothing (so uci-har's keys are those of every earlier harx)."""
    return tuple(b.as_dict() for b in budgets) if any(b.changed for b in budgets) else ()


def _score(rec: CandidateRecord) -> str:
    """A stored candidate's score for a progress line."""
    m = rec.metrics
    if "test_acc_mean" in m:
        return f"test acc {100 * m['test_acc_mean']:.2f}%"
    if "val_acc" in m:
        return f"val acc {100 * m['val_acc']:.2f}%"
    return rec.status


def versions() -> dict[str, str]:
    import pymoo
    import torch

    return {
        "harx": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pymoo": pymoo.__version__,
    }


def run(
    recipe: Recipe,
    store: Store,
    *,
    execution: Execution | None = None,
    refine: bool = True,
    on_event: Callable[[Event], None] | None = None,
    run_id: int | None = None,
) -> SearchResult:
    """Run (or, with ``run_id``, resume) a search; returns the refined front. ``execution`` applies to the
    local executor (default 2 threads). KeyboardInterrupt marks the run interrupted and propagates."""
    t0 = time.perf_counter()
    if run_id is None:
        run_id = store.create_run(recipe.to_dict(), recipe.seed, recipe.name, versions()).id
    study = None
    try:
        study = Study(recipe, store, run_id, execution or Execution(), on_event)
        study.run_nsga2()
        feasible = study.feasible_proxy()
        proxy_front = front_of(feasible, recipe.objectives, recipe.target)
        refined = study.refine(proxy_front, feasible) if refine else []
    except KeyboardInterrupt:
        store.finish_run(run_id, "interrupted", "stopped by the user; resume with harx search --resume")
        raise
    except BaseException as exc:
        store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if study is not None:
            study.executor.close()
    store.finish_run(run_id, "done")
    front = front_of(refined, recipe.objectives, recipe.target) if refined else []
    return SearchResult(
        run_id,
        str(store.path),
        proxy_front,
        refined,
        front,
        store.run_stats(run_id),
        time.perf_counter() - t0,
        recipe.objectives,
        recipe.target,
        served_now=study.hits,
        trained_now=study.trained,
        warnings=study.warnings,
    )


def resume_executor(
    store: Store, run_id: int, kind: str | None = None, scheduler: str | None = None
) -> ExecutorSettings | None:
    """The executor of run ``run_id`` with ``kind`` and/or ``scheduler`` replaced (a scheduler implies
    dask), for ``resume``; None when neither is given (the run's own executor)."""
    if kind is None and scheduler is None:
        return None
    ex = recipe_from_stored(store.get_run(run_id).recipe, f"{store.path} run {run_id} recipe").executor
    if kind is not None:
        ex = dataclasses.replace(ex, kind=kind)
    if scheduler is not None:
        ex = dataclasses.replace(ex, kind="dask", scheduler=scheduler)
    if ex.kind not in EXECUTORS:
        raise ConfigError(f"--executor {ex.kind!r}: choose {' or '.join(EXECUTORS)}")
    return ex


def resume(store: Store, run_id: int, executor: ExecutorSettings | None = None, **kw) -> SearchResult:
    """Continue run ``run_id`` from its stored recipe. ``executor`` may differ from the run's: where the jobs
    execute changes no result (the coordinator alone scores and stores)."""
    run_rec = store.get_run(run_id)
    if run_rec.status == "done":
        raise StoreError(f"{store.path}: run {run_id} already finished; nothing to resume")
    recipe = recipe_from_stored(run_rec.recipe, f"{store.path} run {run_id} recipe")
    if executor is not None:
        recipe = dataclasses.replace(recipe, executor=executor)
    store.resume_run(run_id)
    return run(recipe, store, run_id=run_id, **kw)
