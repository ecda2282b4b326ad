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

import numpy as np

from harx import __version__
from harx.data import Dataset, load_dataset, subject_folds, subject_split
from harx.data.splits import subject_warnings, validation_warnings
from harx.errors import ConfigError, StoreError
from harx.evaluate import float_arch, genome_costs
from harx.models.genome import Genome, parse_genome
from harx.paths import artifacts_dir
from harx.search.encoding import Encoding
from harx.search.executors import DaskExecutor, LocalExecutor, make_executor
from harx.search.jobs import (
    FoldsJob,
    GenomeOutcome,
    JobOutcome,
    RefineJob,
    fold_metrics,
    run_folds,
    run_refine,
)
from harx.search.problem import (
    first_fold_comparable,
    infeasible_reason,
    make_algorithm,
    objective_values,
    promoted,
)
from harx.search.recipe import EXECUTORS, ExecutorSettings, Recipe, check_recipe_data, recipe_from_stored
from harx.search.refine import front_of, picks_for
from harx.search.result import Event, SearchResult
from harx.store import CandidateRecord, Store, config_hash, genome_hash
from harx.train.budget import Budget
from harx.train.budget import plan as plan_budget
from harx.train.config import Execution


class Study:
    """One run of a recipe against a store: evaluates what the store lacks, serves the rest, emits events."""

    def __init__(
        self,
        recipe: Recipe,
        store: Store,
        run_id: int,
        ds: Dataset,
        executor: LocalExecutor | DaskExecutor,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.recipe, self.store, self.run_id = recipe, store, run_id
        self.on_event = on_event or (lambda e: None)
        self.ds = ds
        self.enc = Encoding(recipe.space, self.ds.n_channels, self.ds.window)
        self.executor = executor
        self.hits = self.trained = self.float_hits = 0
        self.float_trained: list[str] = []  # keys of the float stages this call trained
        self.trained_seconds = 0.0
        self.stage_seconds: dict[str, float] = {}
        self.warnings: list[str] = []
        self.effective = self._plan()

    def _warn(self, warnings: list[str]) -> None:
        """Keep ``warnings`` for the result and show them now, as events."""
        self.warnings += warnings
        for w in warnings:
            self.on_event(Event("warning", detail=w))

    def _plan(self) -> dict[str, tuple[dict, ...]]:
        """Each stage's training budgets (``harx.train.budget``) on its splits: their effective settings for
        the cache key where the data changed them; the proxy's warnings are kept for the search's start."""
        r, ds, name = self.recipe, self.ds, f"dataset '{self.ds.name}'"
        proxy_folds = subject_folds(ds, n_folds=r.proxy.folds, seed=r.seed)
        select_folds = subject_folds(ds, n_folds=r.refine.folds, seed=r.seed)
        seeds = [
            subject_split(ds, n_val_subjects=r.refine.val_subjects, seed=i) for i in range(r.refine.seeds)
        ]
        proxy = [plan_budget(r.proxy.training, len(f.train)) for f in proxy_folds]
        select = [plan_budget(r.refine.training, len(f.train)) for f in select_folds]
        refine = [plan_budget(r.refine.training, len(s.train)) for s in seeds]
        self.stage_warnings = {
            "proxy": subject_warnings(ds)
            + min(proxy, key=lambda b: b.n_train).warnings(f"{name}, proxy (smallest of {len(proxy)} folds)")
            + validation_warnings(ds, proxy_folds, "ranking candidates"),
            "select": min(select, key=lambda b: b.n_train).warnings(f"{name}, select")
            + validation_warnings(ds, select_folds, "choosing the front"),
            "refine": refine[0].warnings(f"{name}, refine")
            + validation_warnings(ds, seeds[:1], "early stopping in refine"),
        }
        return {"proxy": _effective(proxy), "select": _effective(select), "refine": _effective(refine)}

    # ---- evaluating candidates -----------------------------------------------------------------------------
    def _costs(self, genome: Genome) -> dict:
        return {t: c.summary() for t, c in genome_costs(genome, self.ds, self.recipe.targets).items()}

    def _job(
        self,
        stage: str,
        genomes: tuple[str, ...],
        with_floats: bool = False,
        only_folds: tuple[int, ...] = (),
    ):
        """The job of ``stage`` for ``genomes`` (one architecture), with the stored float stages it needs;
        ``only_folds`` a subset of the proxy's folds."""
        r, ds = self.recipe, self.ds
        if stage in ("proxy", "select"):
            f = r.proxy if stage == "proxy" else r.refine
            job = FoldsJob(
                stage,
                genomes,
                ds.name,
                ds.fingerprint,
                f.folds,
                r.seed,
                f.training.as_dict(),
                {},
                only_folds,
                self.effective[stage],
            )
        else:
            root = str(artifacts_dir() / ds.name)
            f = r.refine
            job = RefineJob(
                genomes,
                ds.name,
                ds.fingerprint,
                f.seeds,
                f.val_subjects,
                f.training.as_dict(),
                root,
                {},
                self.effective[stage],
            )
        if not with_floats:
            return job
        found = {k: d for k in job.float_keys(ds) if (d := self.store.get_float_stage(k)) is not None}
        return dataclasses.replace(job, float_stages=found)

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

    def _infeasible(self, text: str, config: dict, costs: dict, reason: str, gen: int) -> CandidateRecord:
        """Infeasibility depends on the recipe's target and constraints, so its record is keyed on them too:
        a looser recipe later trains the genome instead of being served this verdict."""
        config = {
            **config,
            "feasibility": {"target": self.recipe.target, "constraints": self.recipe.constraints},
        }
        hit = self.store.lookup(genome_hash(text), self.ds.fingerprint, config_hash(config), "proxy")
        if hit is not None:
            return self._serve(hit, costs, gen)
        rec = self._record(text, "proxy", config, costs, "infeasible", infeasible_reason=reason)
        rec.id = self.store.add_candidate(rec, self.run_id, gen)
        return rec

    def evaluate(
        self,
        stage: str,
        costs: dict[str, dict],
        gen: int,
        only_folds: tuple[int, ...] = (),
        prior: dict[str, CandidateRecord] | None = None,
    ) -> dict[str, CandidateRecord | None]:
        """Records of ``stage`` for the genomes of ``costs`` (genome text -> its costs), None for a failed
        evaluation: served from the store where it holds them, else trained in jobs of one architecture
        each; ``gen`` is the proxy generation (-1 for select and refine). ``only_folds`` trains a subset of
        the proxy's folds; with ``prior`` (genome -> its record of the other folds) the two are stored as
        one every-fold record."""
        generations = self.recipe.search.generations
        job0 = self._job(stage, (), only_folds=() if prior else only_folds)
        config = job0.config()
        results: dict[str, CandidateRecord | None] = {}
        pending: dict[str, list[str]] = {}
        total = len(costs)

        def emit(genome: str = "", detail: str = "", kind: str = "candidate") -> None:
            e = Event(kind, max(gen, 0), generations, len(results), total, genome, self.hits, self.trained)
            e.stage, e.detail, e.float_hits = stage, detail, self.float_hits
            per = self.trained_seconds / self.trained if self.trained else None
            e.eta_s = None if per is None or stage != "proxy" else per * max(total - len(results), 0)
            self.on_event(e)

        for text, c in costs.items():
            reason = infeasible_reason(c, self.recipe) if stage == "proxy" else ""
            if reason:
                results[text] = self._infeasible(text, config, c, reason, gen)
                emit(text, f"infeasible: {reason}")
                continue
            hit = self.store.lookup(genome_hash(text), self.ds.fingerprint, config_hash(config), stage)
            if hit is not None:
                results[text] = self._serve(hit, c, gen)
                emit(text, f"served from the store, {_score(hit)}")
            else:
                pending.setdefault(float_arch(parse_genome(text)), []).append(text)

        def on_epoch(log):
            emit(detail=f"{log.phase} epoch {log.epoch + 1} {log.scores_text()}", kind="epoch")

        jobs = [self._job(stage, tuple(g), with_floats=True, only_folds=only_folds) for g in pending.values()]
        run = run_folds if stage in ("proxy", "select") else run_refine
        t0 = time.perf_counter()
        for _, out in self.executor.map(run, jobs, on_epoch, _lost):
            for fs in out.float_stages:
                self.store.put_float_stage(fs.key, fs.arch, self.ds.fingerprint, fs.data, fs.train_seconds)
                self.float_trained.append(fs.key)
            self.float_hits += out.float_hits
            for o in out.outcomes:
                if prior and not o.error:
                    o = _merged(prior[o.genome], o)
                results[o.genome] = rec = self._store(stage, config, costs[o.genome], o, gen)
                emit(o.genome, f"trained in {o.train_seconds:.0f} s, " + (_score(rec) if rec else "failed"))
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.perf_counter() - t0
        return results

    def _store(self, stage: str, config: dict, costs: dict, out: GenomeOutcome, gen: int):
        self.trained += 1
        self.trained_seconds += out.train_seconds
        if out.error:
            rec = self._record(
                out.genome, stage, config, costs, "failed", error=out.error, train_seconds=out.train_seconds
            )
            self.store.add_candidate(rec, self.run_id, gen)
            return None
        rec = self._record(
            out.genome,
            stage,
            config,
            costs,
            "ok",
            metrics=out.metrics,
            extra=out.extra,
            train_seconds=out.train_seconds,
            artifact_path=out.artifact_path,
        )
        rec.id = self.store.add_candidate(rec, self.run_id, gen)
        return rec

    # ---- the loop ----------------------------------------------------------------------------------------
    def evaluate_generation(self, genomes: list[Genome], gen: int) -> list[CandidateRecord | None]:
        """Proxy records for ``genomes`` (None for a failed evaluation), training only what the store lacks:
        every fold of each, or (``proxy.promote`` < 1) the first fold of each and every fold of the
        promoted part (``promoted``)."""
        costs = {g.text(): self._costs(g) for g in genomes}
        p = self.recipe.proxy
        if p.promote >= 1:
            got = self.evaluate("proxy", costs, gen)
            return [got[g.text()] for g in genomes]
        full_config = config_hash(self._job("proxy", ()).config())
        full = {
            t: hit
            for t in costs
            if (hit := self.store.lookup(genome_hash(t), self.ds.fingerprint, full_config, "proxy"))
            is not None
        }
        first = self.evaluate(
            "proxy", {t: c for t, c in costs.items() if t not in full}, gen, only_folds=(0,)
        )
        for t in full:
            self._serve(full[t], costs[t], gen)
        promote = promoted({**first, **full}, self.recipe, p.promote)
        rest = tuple(range(1, p.folds))
        todo = {t: costs[t] for t in promote if t not in full}
        prior = {t: first[t] for t in todo}
        full.update(
            {t: r for t, r in self.evaluate("proxy", todo, gen, rest, prior).items() if r is not None}
        )
        return [full.get(g.text(), first.get(g.text())) for g in genomes]

    def run_nsga2(self) -> None:
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        self._warn(self.stage_warnings["proxy"])
        problem, algo = make_algorithm(self.recipe, self.enc)
        gen = 0
        while algo.has_next():
            pop = algo.ask()
            self.on_event(Event("generation", gen, self.recipe.search.generations, 0, len(pop)))
            genomes = [self.enc.decode(x) for x in pop.get("X")]
            F, G = objective_values(
                first_fold_comparable(self.evaluate_generation(genomes, gen)), self.recipe
            )
            Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
            algo.tell(infills=pop)
            gen += 1

    # ---- select and refine ---------------------------------------------------------------------------------
    def feasible_proxy(self) -> list[CandidateRecord]:
        """The run's feasible proxy candidates scored on every fold (not those of the first rung alone)."""
        return [
            r
            for r in self.store.candidates(self.run_id, stage="proxy", status="ok")
            if not infeasible_reason(r.costs, self.recipe) and not r.train_config.get("only_folds")
        ]

    def select(self, front: list[CandidateRecord], feasible: list[CandidateRecord]) -> list[CandidateRecord]:
        """Score what ``picks_for`` picks on subject-grouped folds at the refine budget (stage ``select``) and
        return the non-dominated ones by those scores: the front, chosen on training subjects only."""
        self._warn(self.stage_warnings["select"])
        picks = picks_for(self.recipe, front, feasible)
        got = self.evaluate("select", {c.genome: c.costs for c in picks}, -1)
        scored = [r for r in got.values() if r is not None]
        return front_of(scored, self.recipe.objectives, self.recipe.target)

    def refine(self, selected: list[CandidateRecord]) -> list[CandidateRecord]:
        """Retrain the selected genomes on every training subject and score them once on the test subjects."""
        self._warn(self.stage_warnings["refine"])
        got = self.evaluate("refine", {c.genome: c.costs for c in selected}, -1)
        return [got[c.genome] for c in selected if got.get(c.genome) is not None]


def _merged(prior: CandidateRecord, out: GenomeOutcome) -> GenomeOutcome:
    """The record of the first folds and the outcome of the others as one every-fold outcome."""
    m, n = prior.metrics, out.metrics
    acc, f1 = m["val_acc_folds"] + n["val_acc_folds"], m["val_f1_folds"] + n["val_f1_folds"]
    return dataclasses.replace(
        out, metrics={**n, **fold_metrics(acc, f1)}, train_seconds=prior.train_seconds + out.train_seconds
    )


def _effective(budgets: list[Budget]) -> tuple[dict, ...]:
    """The effective settings of each training of a job, for its cache key and record: empty where the data
    changed nothing (so uci-har's keys are those of every earlier harx)."""
    return tuple(b.as_dict() for b in budgets) if any(b.changed for b in budgets) else ()


def _lost(job, reason: str) -> JobOutcome:
    """The outcome of a job the executor lost: every genome failed, so a later run or resume retries it."""
    return JobOutcome([GenomeOutcome(g, error=reason) for g in job.genomes])


def _score(rec: CandidateRecord) -> str:
    """A stored candidate's score for a progress line."""
    m = rec.metrics
    if "test_acc_mean" in m:
        return f"test acc {100 * m['test_acc_mean']:.2f}%"
    if "val_acc" in m:
        return f"val acc {100 * m['val_acc']:.2f}%"
    return rec.status


def versions(recipe: Recipe, execution: Execution) -> dict[str, str]:
    """The software and where it ran: a run's scores depend on them (training is deterministic on one
    machine, but other CPU kernels sum in another order)."""
    import pymoo
    import torch

    dask = recipe.executor.kind == "dask"
    return {
        "harx": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pymoo": pymoo.__version__,
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "threads": str(recipe.executor.threads_per_worker if dask else execution.threads),
        "device": "cpu" if dask else execution.device,
        "executor": recipe.executor.kind,
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
    """Run (or, with ``run_id``, resume) a search: NSGA-II on the proxy, then ``select`` (picks scored on
    folds at the refine budget; the front chosen on them) and ``refine`` (the chosen genomes retrained and
    scored on the test subjects). ``execution`` applies to the local executor (default 2 threads).
    KeyboardInterrupt marks the run interrupted and propagates.

    The dataset, what the recipe asks of it (``check_recipe_data``) and the executor come first: when one of
    them fails, the store is left as it was (no run row, or the resumed run's row untouched)."""
    t0 = time.perf_counter()
    execution = execution or Execution()
    ds = load_dataset(recipe.dataset)
    check_recipe_data(recipe, ds)
    executor = make_executor(recipe.executor, execution)
    try:
        if run_id is None:
            run_id = store.create_run(
                recipe.to_dict(), recipe.seed, recipe.name, versions(recipe, execution)
            ).id
        else:
            store.resume_run(run_id)
        try:
            study = Study(recipe, store, run_id, ds, executor, on_event)
            study.run_nsga2()
            feasible = study.feasible_proxy()
            proxy_front = front_of(feasible, recipe.objectives, recipe.target)
            selected = study.select(proxy_front, feasible) if refine else []
            front = study.refine(selected) if refine else []
        except KeyboardInterrupt:
            store.finish_run(run_id, "interrupted", "stopped by the user; resume with harx search --resume")
            raise
        except BaseException as exc:
            store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
    finally:
        executor.close()
    store.finish_run(run_id, "done")
    return SearchResult(
        run_id,
        str(store.path),
        proxy_front,
        selected,
        front,
        store.run_stats(run_id),
        time.perf_counter() - t0,
        recipe.objectives,
        recipe.target,
        served_now=study.hits,
        trained_now=study.trained,
        float_cache_hits=study.float_hits,
        float_trained=tuple(study.float_trained),
        stage_seconds=study.stage_seconds,
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
    return run(recipe, store, run_id=run_id, **kw)
