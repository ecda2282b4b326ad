"""The search: NSGA-II (pymoo, ask/tell) over genomes, every candidate through the store, then refine.

Resume needs no pickled optimizer: NSGA-II is replayed from the run's seed and every genome already
evaluated is served from the store, so a resumed run follows the killed run's trajectory exactly and
only trains what it had not finished.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harx import __version__
from harx.data import load_dataset
from harx.errors import StoreError
from harx.evaluate import genome_costs
from harx.models.genome import Genome, parse_genome
from harx.paths import artifacts_dir
from harx.search.evaluation import ProxyJob, ProxyOutcome, RefineJob, RefineOutcome, run_proxy, run_refine
from harx.search.executors import make_executor
from harx.search.recipe import OBJECTIVES, ExecutorSettings, Recipe, recipe_from_stored
from harx.search.space import Encoding
from harx.store import CandidateRecord, RunStats, Store, config_hash, genome_hash

ACC_METRIC = {
    "proxy": {"accuracy": "val_acc", "macro_f1": "val_f1"},
    "refine": {"accuracy": "test_acc_mean", "macro_f1": "test_f1_mean"},
}


@dataclass
class Event:
    """Progress of a search, for a progress display: one per candidate, epoch or phase change."""

    kind: str  # "generation", "candidate", "epoch", "refine"
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
        }


def _objective_value(rec: CandidateRecord, name: str, stage: str, target: str) -> float:
    if OBJECTIVES[name] == "max":
        return rec.metrics[ACC_METRIC[stage][name]]
    return rec.costs[target][name]


def objective_matrix(records: list[CandidateRecord], objectives, stage: str, target: str) -> np.ndarray:
    """Rows of minimised objectives: 1 - accuracy, then costs."""
    rows = []
    for r in records:
        rows.append(
            [
                1 - _objective_value(r, o, stage, target)
                if OBJECTIVES[o] == "max"
                else _objective_value(r, o, stage, target)
                for o in objectives
            ]
        )
    return np.array(rows, dtype=float).reshape(len(records), len(objectives))


def nondominated(
    records: list[CandidateRecord], objectives, stage: str, target: str
) -> list[CandidateRecord]:
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    if not records:
        return []
    F = objective_matrix(records, objectives, stage, target)
    first = NonDominatedSorting().do(F, only_non_dominated_front=True)
    return sorted(
        (records[i] for i in first), key=lambda r: _objective_value(r, objectives[1], stage, target)
    )


def refine_picks(
    front: list[CandidateRecord],
    objectives,
    target: str,
    max_points: int,
    near: Sequence[CandidateRecord] = (),
) -> list[CandidateRecord]:
    """The candidates to retrain, at most ``max_points``, in order of the first cost.

    First the front of the accuracy objective against the first cost (the trade-off read first; with more
    than two objectives a spread along the whole front skipped most of it on uci-har), then ``near``
    (candidates just under that front, inside the proxy's noise: ``near_front``) in its order, then
    candidates spread evenly along the first cost among the rest of the front.
    """
    metric, cost = primary_objectives(objectives)
    primary = nondominated(front, (metric, cost), "proxy", target)
    picks = _spread(primary, max_points)
    chosen = {c.id for c in picks}
    picks += [c for c in near if c.id not in chosen][: max(max_points - len(picks), 0)]
    chosen = {c.id for c in picks}
    rest = [c for c in front if c.id not in chosen]
    picks += _spread(rest, max(max_points - len(picks), 0))
    return sorted(picks, key=lambda r: _objective_value(r, cost, "proxy", target))


def primary_objectives(objectives) -> tuple[str, str]:
    """The accuracy objective and the first cost: the trade-off that refine retrains first."""
    return (
        next(o for o in objectives if OBJECTIVES[o] == "max"),
        next(o for o in objectives if OBJECTIVES[o] == "min"),
    )


def near_front(
    records: list[CandidateRecord], objectives, target: str, band_points: float
) -> list[CandidateRecord]:
    """Dominated candidates that no other candidate beats by more than ``band_points`` accuracy points at
    no higher cost: the proxy cannot tell them from the front. Closest to the front first.
    """
    if not records or band_points <= 0:
        return []
    F = objective_matrix(records, objectives, "proxy", target)
    m = next(i for i, o in enumerate(objectives) if OBJECTIVES[o] == "max")
    costs = [i for i in range(len(objectives)) if i != m]
    band = band_points / 100
    near = []
    for i in range(len(records)):
        no_costlier = np.all(F[:, costs] <= F[i, costs], axis=1)
        no_costlier[i] = False
        if np.any(no_costlier):
            margin = F[i, m] - F[no_costlier, m].min()  # accuracy lost to the best of those (fraction)
            if 0 < margin <= band:
                near.append((margin, i))
    return [records[i] for _, i in sorted(near)]


def _spread(records: list, k: int) -> list:
    """``k`` of ``records`` evenly by position (all of them when there are no more than ``k``)."""
    if len(records) <= k:
        return list(records)
    if k == 0:
        return []
    return [records[i] for i in np.unique(np.round(np.linspace(0, len(records) - 1, k)).astype(int))]


class _Search:
    def __init__(
        self,
        recipe: Recipe,
        store: Store,
        run_id: int,
        threads: int,
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.recipe, self.store, self.run_id = recipe, store, run_id
        self.on_event = on_event or (lambda e: None)
        self.ds = load_dataset(recipe.dataset)
        self.enc = Encoding(recipe.space, self.ds.n_channels, self.ds.window)
        self.executor = make_executor(recipe.executor, threads)
        self.hits = self.trained = 0
        self.trained_seconds = 0.0
        self.cons = sorted(recipe.constraints)

    # ---- one generation --------------------------------------------------------------------------------
    def _costs(self, genome: Genome) -> dict:
        return {t: c.summary() for t, c in genome_costs(genome, self.ds, self.recipe.targets).items()}

    def _infeasible_reason(self, costs: dict) -> str:
        c = costs[self.recipe.target]
        reasons = [] if c["feasible"] else [c["infeasible_reason"]]
        for k in self.cons:
            if c[k] > self.recipe.constraints[k]:
                reasons.append(f"{k} {c[k]:,.6g} > limit {self.recipe.constraints[k]:,.6g}")
        return "; ".join(reasons)

    def _proxy_job(self, genome: Genome) -> ProxyJob:
        p = self.recipe.proxy
        return ProxyJob(
            genome.text(), self.ds.name, self.ds.fingerprint, p.folds, self.recipe.seed, p.training.as_dict()
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
        for g in genomes:
            text = g.text()
            if text in results or text in pending:
                continue
            job = self._proxy_job(g)
            costs = self._costs(g)
            reason = self._infeasible_reason(costs)
            if reason:
                results[text] = self._infeasible(text, job, costs, reason, gen)
                continue
            hit = self.store.lookup(
                genome_hash(text), self.ds.fingerprint, config_hash(job.config()), "proxy"
            )
            if hit is not None:
                results[text] = self._serve(hit, costs, gen)
            else:
                pending[text] = (g, job, costs)
        done = len(results)
        self._emit("candidate", gen, done, len(genomes))

        def on_epoch(log):
            self._emit(
                "epoch",
                gen,
                done,
                len(genomes),
                detail=f"{log.phase} epoch {log.epoch + 1} {log.scores_text()}",
            )

        jobs = [job for _, job, _ in pending.values()]
        for job, outcome in self.executor.map(run_proxy, jobs, on_epoch):
            results[job.genome] = self._store_proxy(job, pending[job.genome][2], outcome, gen)
            done += 1
            self._emit("candidate", gen, done, len(genomes), genome=job.genome)
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

    def objectives(self, recs: list[CandidateRecord | None]) -> tuple[np.ndarray, np.ndarray]:
        """F (minimised; log10 of costs so crowding spreads over orders of magnitude) and G (<= 0 feasible)."""
        obj = self.recipe.objectives
        F = np.zeros((len(recs), len(obj)))
        G = np.zeros((len(recs), len(self.cons) + 1))
        for i, r in enumerate(recs):
            if r is None:  # failed: dominated by everything, and infeasible
                F[i] = [1.0 if OBJECTIVES[o] == "max" else 12.0 for o in obj]
                G[i] = 1.0
                continue
            c = r.costs[self.recipe.target]
            for j, o in enumerate(obj):
                if OBJECTIVES[o] == "max":
                    F[i, j] = 1 - r.metrics.get(ACC_METRIC["proxy"][o], 0.0)
                else:
                    F[i, j] = np.log10(max(c[o], 1e-9))
            G[i, 0] = 0.0 if c["feasible"] else 1.0
            for j, k in enumerate(self.cons, start=1):
                G[i, j] = c[k] / self.recipe.constraints[k] - 1
        return F, G

    # ---- the loop ----------------------------------------------------------------------------------------
    def run_nsga2(self) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.duplicate import ElementwiseDuplicateElimination
        from pymoo.core.evaluator import Evaluator
        from pymoo.core.problem import Problem
        from pymoo.core.repair import Repair
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM
        from pymoo.operators.repair.rounding import RoundingRepair
        from pymoo.operators.sampling.rnd import IntegerRandomSampling
        from pymoo.problems.static import StaticProblem

        enc = self.enc

        class GenomeRepair(Repair):
            def _do(self, problem, X, **kwargs):
                return np.array([enc.repair_vector(x) for x in X])

        s = self.recipe.search
        problem = Problem(
            n_var=enc.n_var,
            n_obj=len(self.recipe.objectives),
            n_ieq_constr=len(self.cons) + 1,
            xl=enc.xl,
            xu=enc.xu,
            vtype=int,
        )
        algo = NSGA2(
            pop_size=s.population,
            n_offsprings=s.offspring,
            sampling=self.initial_population() if s.initial_genomes else IntegerRandomSampling(),
            crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
            mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
            repair=GenomeRepair(),
            eliminate_duplicates=ElementwiseDuplicateElimination(
                cmp_func=lambda a, b: enc.decode(a.X).text() == enc.decode(b.X).text()
            ),
        )
        algo.setup(problem, termination=("n_gen", s.generations), seed=self.recipe.seed, verbose=False)
        gen = 0
        while algo.has_next():
            pop = algo.ask()
            self._emit("generation", gen, 0, len(pop))
            genomes = [enc.decode(x) for x in pop.get("X")]
            F, G = self.objectives(self.evaluate_generation(genomes, gen))
            Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
            algo.tell(infills=pop)
            gen += 1

    def initial_population(self) -> np.ndarray:
        """The recipe's ``initial_genomes`` (repaired like any offspring), then uniform random vectors drawn
        with the recipe's seed."""
        enc, s = self.enc, self.recipe.search
        rng = np.random.default_rng(self.recipe.seed)
        X = rng.integers(enc.xl, enc.xu + 1, size=(s.population, enc.n_var))
        for i, text in enumerate(s.initial_genomes):
            X[i] = enc.encode(enc.repair(parse_genome(text)), like=X[i])
        return X

    # ---- refine --------------------------------------------------------------------------------------------
    def feasible_proxy(self) -> list[CandidateRecord]:
        return [
            r
            for r in self.store.candidates(self.run_id, stage="proxy", status="ok")
            if not self._infeasible_reason(r.costs)
        ]

    def refine(self, front: list[CandidateRecord], feasible: list[CandidateRecord]) -> list[CandidateRecord]:
        """Retrain ``front`` (the proxy front of ``feasible``, the run's feasible proxy candidates) and the
        near misses of ``feasible`` that ``refine.band_points`` admits."""
        r, objectives, target = self.recipe.refine, self.recipe.objectives, self.recipe.target
        near = near_front(feasible, primary_objectives(objectives), target, r.band_points)
        picks = refine_picks(front, objectives, target, r.max_points, near)
        root = str(artifacts_dir() / self.ds.name)
        refined = []
        pending = {}
        for i, cand in enumerate(picks):
            job = RefineJob(
                cand.genome,
                self.ds.name,
                self.ds.fingerprint,
                r.seeds,
                r.val_subjects,
                r.training.as_dict(),
                root,
            )
            hit = self.store.lookup(
                cand.genome_hash, self.ds.fingerprint, config_hash(job.config()), "refine"
            )
            if hit is not None:
                self.store.link(self.run_id, hit.id, -1, cache_hit=True)
                self.hits += 1
                refined.append(hit)
            else:
                pending[cand.genome] = (job, cand)
            self.on_event(Event("refine", done=i, total=len(picks), genome=cand.genome, cache_hits=self.hits))

        def on_epoch(log):
            self.on_event(
                Event(
                    "refine",
                    done=len(refined),
                    total=len(picks),
                    cache_hits=self.hits,
                    detail=f"{log.phase} epoch {log.epoch + 1} {log.scores_text()}",
                )
            )

        for job, out in self.executor.map(run_refine, [job for job, _ in pending.values()], on_epoch):
            refined.append(self._store_refine(pending[job.genome][1], job, out))
            self.on_event(
                Event("refine", done=len(refined), total=len(picks), genome=job.genome, cache_hits=self.hits)
            )
        return [x for x in refined if x is not None]

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
    threads: int = 2,
    refine: bool = True,
    on_event: Callable[[Event], None] | None = None,
    run_id: int | None = None,
) -> SearchResult:
    """Run (or, with ``run_id``, resume) a search; returns the refined front. KeyboardInterrupt marks the run
    interrupted and propagates."""
    t0 = time.perf_counter()
    if run_id is None:
        run_id = store.create_run(recipe.to_dict(), recipe.seed, recipe.name, versions()).id
    search = None
    try:
        search = _Search(recipe, store, run_id, threads, on_event)
        search.run_nsga2()
        feasible = search.feasible_proxy()
        proxy_front = nondominated(feasible, recipe.objectives, "proxy", recipe.target)
        refined = search.refine(proxy_front, feasible) if refine else []
    except KeyboardInterrupt:
        store.finish_run(run_id, "interrupted", "stopped by the user; resume with harx search --resume")
        raise
    except BaseException as exc:
        store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if search is not None:
            search.executor.close()
    store.finish_run(run_id, "done")
    front = nondominated(refined, recipe.objectives, "refine", recipe.target) if refined else []
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
        served_now=search.hits,
        trained_now=search.trained,
    )


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


__all__ = ["Event", "SearchResult", "nondominated", "resume", "run"]
