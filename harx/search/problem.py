"""The optimisation problem NSGA-II solves: integer genome vectors, their repair and initial population,
the operators the recipe sets, and the objective and constraint values of evaluated candidates.

The algorithm never evaluates anything itself: ``harx.search.study`` asks it for a population, evaluates
(or serves from the store) each genome, and tells it the values ``objective_values`` computes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from harx.models.genome import parse_genome
from harx.objectives import recipe_objective
from harx.search.encoding import Encoding
from harx.search.recipe import Recipe
from harx.store import CandidateRecord

# A failed candidate's objective values (as minimised): worse than any real one on every axis.
FAILED_SCORE = 1.0
FAILED_LOG_COST = 12.0


def infeasible_reason(costs: dict, recipe: Recipe) -> str:
    """Why a candidate with these stored ``costs`` cannot be on the recipe's front ('' when it can): it does
    not fit the target's memories, or breaks a recipe constraint."""
    c = costs[recipe.target]
    reasons = [] if c["feasible"] else [c["infeasible_reason"]]
    for k in sorted(recipe.constraints):
        if c[k] > recipe.constraints[k]:
            reasons.append(f"{k} {c[k]:,.6g} > limit {recipe.constraints[k]:,.6g}")
    return "; ".join(reasons)


def objective_values(recs: list[CandidateRecord | None], recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """F (minimised: 1 - score, and log10 of costs so crowding spreads over orders of magnitude) and G
    (<= 0 feasible: the target's memories, then each constraint relative to its limit) of proxy records;
    None is a failed evaluation, dominated by everything and infeasible."""
    objs = [recipe_objective(o) for o in recipe.objectives]
    cons = sorted(recipe.constraints)
    F = np.zeros((len(recs), len(objs)))
    G = np.zeros((len(recs), len(cons) + 1))
    for i, r in enumerate(recs):
        if r is None:
            F[i] = [FAILED_SCORE if o.maximize else FAILED_LOG_COST for o in objs]
            G[i] = 1.0
            continue
        c = r.costs[recipe.target]
        for j, (name, o) in enumerate(zip(recipe.objectives, objs, strict=True)):
            if o.maximize:
                F[i, j] = 1 - (o.value(r, recipe.target) or 0.0)
            else:
                F[i, j] = np.log10(max(c[name], 1e-9))
        G[i, 0] = 0.0 if c["feasible"] else 1.0
        for j, k in enumerate(cons, start=1):
            G[i, j] = c[k] / recipe.constraints[k] - 1
    return F, G


def initial_population(recipe: Recipe, enc: Encoding) -> np.ndarray:
    """The recipe's ``initial_genomes`` (repaired like any offspring), then uniform random vectors drawn
    with the recipe's seed."""
    s = recipe.search
    rng = np.random.default_rng(recipe.seed)
    X = rng.integers(enc.xl, enc.xu + 1, size=(s.population, enc.n_var))
    for i, text in enumerate(s.initial_genomes):
        X[i] = enc.encode(enc.repair(parse_genome(text)), like=X[i])
    return X


def make_algorithm(recipe: Recipe, enc: Encoding):
    """(problem, NSGA-II set up for ask/tell with the recipe's sizes, operators and seed)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.duplicate import ElementwiseDuplicateElimination
    from pymoo.core.problem import Problem
    from pymoo.core.repair import Repair
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    class GenomeRepair(Repair):
        def _do(self, problem, X, **kwargs):
            return np.array([enc.repair_vector(x) for x in X])

    s = recipe.search
    problem = Problem(
        n_var=enc.n_var,
        n_obj=len(recipe.objectives),
        n_ieq_constr=len(recipe.constraints) + 1,
        xl=enc.xl,
        xu=enc.xu,
        vtype=int,
    )
    algo = NSGA2(
        pop_size=s.population,
        n_offsprings=s.offspring,
        sampling=initial_population(recipe, enc) if s.initial_genomes else IntegerRandomSampling(),
        crossover=SBX(prob=s.crossover_prob, eta=s.crossover_eta, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=s.mutation_eta, vtype=float, repair=RoundingRepair()),
        repair=GenomeRepair(),
        eliminate_duplicates=ElementwiseDuplicateElimination(
            cmp_func=lambda a, b: enc.decode(a.X).text() == enc.decode(b.X).text()
        ),
    )
    algo.setup(problem, termination=("n_gen", s.generations), seed=recipe.seed, verbose=False)
    return problem, algo


def promoted(records: dict[str, CandidateRecord | None], recipe: Recipe, fraction: float) -> list[str]:
    """The genomes of a generation that go on to every fold: the best ``fraction`` of them (at least one)
    by non-dominated rank of their first-fold score against the recipe's costs, then by that score."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    ok = [t for t, r in records.items() if r is not None and r.status == "ok"]
    if not ok:
        return []
    recs = [records[t] for t in ok]
    F, _ = objective_values(first_fold_comparable(recs, shift=False), recipe)
    fronts = NonDominatedSorting().do(F)
    rank = {ok[i]: k for k, front in enumerate(fronts) for i in front}
    quota = max(1, int(np.ceil(fraction * len(records))))
    order = sorted(ok, key=lambda t: (rank[t], -records[t].metrics["val_acc_folds"][0]))
    return order[:quota]


def first_fold_comparable(
    recs: list[CandidateRecord | None], shift: bool = True
) -> list[CandidateRecord | None]:
    """Records to rank side by side: those scored on the first fold only get that score, plus (``shift``) the
    mean gap between every-fold and first-fold scores of the records scored on every fold among ``recs``;
    without ``shift``, every record gets its first-fold score (the promotion's common ground)."""
    partial = [r for r in recs if r is not None and r.status == "ok" and r.train_config.get("only_folds")]
    full = [r for r in recs if r is not None and r.status == "ok" and not r.train_config.get("only_folds")]
    if not partial and shift:
        return recs
    gap = (
        float(np.mean([r.metrics["val_acc"] - r.metrics["val_acc_folds"][0] for r in full])) if full else 0.0
    )
    out = []
    for r in recs:
        if r is None or r.status != "ok" or (shift and r in full):
            out.append(r)
            continue
        first = r.metrics["val_acc_folds"][0] + (gap if shift else 0.0)
        out.append(dataclasses.replace(r, metrics={**r.metrics, "val_acc": first}))
    return out
