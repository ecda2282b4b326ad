"""Search recipes: a YAML file validated on load into plain dataclasses, one-line errors naming the key."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from harx.cost import DEFAULT_TARGET, TARGETS
from harx.errors import ConfigError, SettingError
from harx.models.genome import BITS, HEADS, MAX_BLOCKS, Genome, parse_genome
from harx.objectives import COST_KEYS, check_recipe_objectives
from harx.train.config import TrainConfig

EXECUTORS = ("local", "dask")

# The most individuals search.population and search.offspring may ask for. pymoo holds every individual in
# memory: the initial draw alone is a matrix of 38 int64 genes each (28 GiB for the 100,000,000 that were
# once accepted), and its objects add about 2.7 kB each (measured with tracemalloc); its duplicate elimination
# compares each new individual with all the others: 35 s for a population of 1,000 on a 2-core machine,
# about an hour for 10,000. A generation of 1,000 is also some 8 hours of proxy training on such a machine.
# $HARX_MAX_POPULATION raises the limit for a big cluster.
DEFAULT_MAX_POPULATION = 1000
MAX_POPULATION_ENV = "HARX_MAX_POPULATION"


# Each block gene: the Space list it draws from and the Block field it sets (encoding order).
BLOCK_GENES = (
    ("channels", "channels"),
    ("kernels", "kernel"),
    ("strides", "stride"),
    ("pools", "pool"),
    ("dilations", "dilation"),
    ("bits", "w_bits"),
    ("bits", "a_bits"),
)


@dataclass(frozen=True)
class Space:
    """The genes NSGA-II may choose from; every list is sorted so crossover moves between neighbours."""

    min_blocks: int = 1
    max_blocks: int = 5
    channels: tuple[int, ...] = (4, 8, 12, 16, 24, 32, 48, 64)
    kernels: tuple[int, ...] = (3, 5, 7, 9)
    strides: tuple[int, ...] = (1, 2)
    pools: tuple[int, ...] = (1, 2, 4)
    dilations: tuple[int, ...] = (1,)
    bits: tuple[int, ...] = BITS
    heads: tuple[str, ...] = HEADS

    def rejects(self, genome: Genome) -> str:
        """Why ``genome`` is outside this space ('' when it is inside)."""
        n = len(genome.blocks)
        if not self.min_blocks <= n <= self.max_blocks:
            return f"{n} blocks, the space allows {self.min_blocks} to {self.max_blocks}"
        if genome.head not in self.heads:
            return f"head '{genome.head}' is not in space.heads"
        if genome.head_w_bits not in self.bits:
            return f"head bits {genome.head_w_bits} are not in space.bits"
        for i, b in enumerate(genome.blocks, 1):
            for gene, attr in BLOCK_GENES:
                if getattr(b, attr) not in getattr(self, gene):
                    return f"block {i}: {getattr(b, attr)} is not in space.{gene}"
        return ""


@dataclass(frozen=True)
class SearchSettings:
    """NSGA-II sizes and operators. ``initial_genomes`` (genome texts, e.g. known-good hand-designed
    networks) take the first places of the initial population, the rest is drawn at random: a warm start.
    Crossover is simulated binary crossover and mutation polynomial mutation on the integer genes (pymoo's
    SBX and PM, rounded): ``crossover_prob`` per mating, distribution indices ``crossover_eta`` and
    ``mutation_eta`` (larger: children closer to their parents)."""

    population: int = 24
    offspring: int = 24
    generations: int = 10
    initial_genomes: tuple[str, ...] = ()
    crossover_prob: float = 0.9
    crossover_eta: float = 15.0
    mutation_eta: float = 20.0


@dataclass(frozen=True)
class ProxySettings:
    """Search-time evaluation: mean integer-model score over subject-grouped validation folds.

    ``promote`` < 1 makes it two rungs (successive halving inside each generation): every candidate is
    scored on the first fold, and only that fraction of the generation, the best by non-dominated rank of
    that score against the costs, on every fold; the others keep their first-fold score, shifted by the
    generation's mean gap between first-fold and every-fold scores."""

    folds: int = 3
    promote: float = 1.0
    training: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs_float=15, epochs_qat=8, patience=5)
    )


@dataclass(frozen=True)
class RefineSettings:
    """The full budget, in two steps that keep the test subjects out of every choice.

    ``select``: at most ``max_points`` proxy candidates (the proxy front of accuracy against the first cost,
    then, with ``band_points`` > 0, candidates no more than that many accuracy points under it, then the
    rest of the front) are trained with ``training`` on ``folds`` subject-grouped folds of the training
    subjects and scored on the held-out folds; the reported front is the non-dominated set of those scores.
    ``refine``: each chosen genome is retrained with ``training`` on every training subject (``val_subjects``
    > 0 holds that many out for early stopping instead) with ``seeds`` seeds and scored once on the test
    subjects: mean, standard deviation over seeds and a 95% subject-bootstrap interval.
    """

    seeds: int = 3
    val_subjects: int = 0
    max_points: int = 12
    band_points: float = 0.0
    folds: int = 3
    training: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class ExecutorSettings:
    kind: str = "local"
    scheduler: str | None = None  # tcp://host:port; None with dask starts a LocalCluster
    workers: int = 2  # LocalCluster workers
    threads_per_worker: int = 1


@dataclass(frozen=True)
class Recipe:
    name: str
    dataset: str
    seed: int = 0
    target: str = DEFAULT_TARGET
    targets: tuple[str, ...] = TARGETS  # every candidate is costed on these
    objectives: tuple[str, ...] = ("accuracy", "flash_bytes", "latency_ms")
    constraints: dict[str, float] = field(default_factory=dict)
    space: Space = field(default_factory=Space)
    search: SearchSettings = field(default_factory=SearchSettings)
    proxy: ProxySettings = field(default_factory=ProxySettings)
    refine: RefineSettings = field(default_factory=RefineSettings)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    source: str = ""  # the file it came from, for messages

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    def with_overrides(
        self,
        *,
        generations: int | None = None,
        population: int | None = None,
        executor: str | None = None,
        scheduler: str | None = None,
    ) -> Recipe:
        """This recipe with command-line overrides (population also sets offspring), validated again."""
        search, ex = self.search, self.executor
        if generations is not None:
            search = dataclasses.replace(search, generations=generations)
        if population is not None:
            search = dataclasses.replace(search, population=population, offspring=population)
        if executor is not None:
            ex = dataclasses.replace(ex, kind=executor)
        if scheduler is not None:
            ex = dataclasses.replace(ex, kind="dask", scheduler=scheduler)
        return parse_recipe(dataclasses.replace(self, search=search, executor=ex).to_dict(), self.source)


def _fail(where: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: {key}: {problem}")


def _section(cls, data, where: str, key: str, nested: dict | None = None):
    """Build dataclass ``cls`` from mapping ``data`` checking unknown keys and value types by the defaults."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise _fail(where, key, f"expected a mapping, got {type(data).__name__}")
    default = cls()
    known = {f for f in default.__dataclass_fields__}
    kwargs = {}
    for k, v in data.items():
        if k not in known:
            raise _fail(where, f"{key}.{k}", f"unknown key (known: {', '.join(sorted(known))})")
        full = f"{key}.{k}"
        if nested and k in nested:
            kwargs[k] = nested[k](v, where, full)
            continue
        kwargs[k] = _typed(getattr(default, k), v, where, full)
    return cls(**kwargs)


def _typed(default, value, where: str, key: str):
    if isinstance(default, tuple):
        # only lists that are empty by default (search.initial_genomes) may be given empty
        if not isinstance(value, list | tuple) or (default and not value):
            raise _fail(where, key, "expected a non-empty list" if default else "expected a list")
        if not value:
            return ()
        kind = type(default[0]) if default else type(value[0])
        items = [_typed(kind(), v, where, key) for v in value]
        if len(set(items)) != len(items):
            raise _fail(where, key, "has duplicate entries")
        return tuple(sorted(items)) if kind is int else tuple(items)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _fail(where, key, f"expected true or false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, key, f"expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail(where, key, f"expected a number, got {value!r}")
        return float(value)
    if default is None and value is None:
        return None
    if isinstance(default, str) or default is None:
        if not isinstance(value, str):
            raise _fail(where, key, f"expected text, got {value!r}")
        return value
    return value


def _training(value, where: str, key: str) -> TrainConfig:
    if not isinstance(value, dict):
        raise _fail(where, key, "expected a mapping of training settings")
    base = TrainConfig()
    for k in value:
        if k not in TrainConfig.__dataclass_fields__:
            raise _fail(
                where,
                f"{key}.{k}",
                f"unknown key '{k}' (known: {', '.join(TrainConfig.__dataclass_fields__)})",
            )
    try:
        return TrainConfig.from_dict(
            {k: _typed(getattr(base, k), v, where, f"{key}.{k}") for k, v in value.items()},
            where=f"{where}: {key}",
        )
    except SettingError as exc:
        raise _fail(where, f"{key}.{exc.key}", exc.problem) from None
    except ConfigError as exc:
        if str(exc).startswith(f"{where}: "):
            raise
        raise _fail(where, key, str(exc)) from None


def max_population() -> int:
    """The limit on search.population and search.offspring: $HARX_MAX_POPULATION, else
    DEFAULT_MAX_POPULATION."""
    text = os.environ.get(MAX_POPULATION_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_POPULATION
    if not text.isascii() or not text.isdigit() or int(text) < 4:
        raise ConfigError(f"${MAX_POPULATION_ENV} {text!r}: expected a whole number of at least 4")
    return int(text)


def _check_space(s: Space, where: str) -> None:
    if not 1 <= s.min_blocks <= s.max_blocks <= MAX_BLOCKS:
        raise _fail(
            where, "space.min_blocks/max_blocks", f"need 1 <= min_blocks <= max_blocks <= {MAX_BLOCKS}"
        )
    for key, values, ok in (
        ("channels", s.channels, lambda v: 1 <= v <= 256),
        ("kernels", s.kernels, lambda v: 1 <= v <= 15),
        ("strides", s.strides, lambda v: 1 <= v <= 4),
        ("pools", s.pools, lambda v: 1 <= v <= 4),
        ("dilations", s.dilations, lambda v: 1 <= v <= 8),
        ("bits", s.bits, lambda v: v in BITS),
    ):
        bad = [v for v in values if not ok(v)]
        if bad:
            raise _fail(where, f"space.{key}", f"{bad[0]} is not allowed")
    bad_heads = [h for h in s.heads if h not in HEADS]
    if bad_heads:
        raise _fail(where, "space.heads", f"'{bad_heads[0]}' is not one of {', '.join(HEADS)}")
    if 8 not in s.bits:
        raise _fail(
            where, "space.bits", "must include 8 (the repair falls back to 8 bit where packing needs it)"
        )


def parse_recipe(data: dict, where: str = "recipe") -> Recipe:
    from harx.cost.target import TARGETS

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    known = set(Recipe.__dataclass_fields__) - {"source"}
    for k in data:
        if k not in known:
            raise _fail(where, k, f"unknown key (known: {', '.join(sorted(known))})")
    for k in ("name", "dataset"):
        if not isinstance(data.get(k), str) or not data[k]:
            raise _fail(where, k, "required text value is missing")
    seed = _typed(0, data.get("seed", 0), where, "seed")
    target = _typed("", data.get("target", DEFAULT_TARGET), where, "target")
    targets = _typed(("",), data.get("targets", list(TARGETS)), where, "targets")
    for t in (target, *targets):
        if t not in TARGETS:
            raise _fail(
                where, "target" if t == target else "targets", f"'{t}' is not one of {', '.join(TARGETS)}"
            )
    if target not in targets:
        targets = (target, *targets)
    objectives = _typed(("",), data.get("objectives", list(Recipe.objectives)), where, "objectives")
    problem = check_recipe_objectives(objectives)
    if problem:
        raise _fail(where, "objectives", problem)
    constraints = data.get("constraints") or {}
    if not isinstance(constraints, dict):
        raise _fail(where, "constraints", "expected a mapping such as {flash_bytes: 32768}")
    for k, v in constraints.items():
        if k not in COST_KEYS:
            raise _fail(where, f"constraints.{k}", f"unknown cost (known: {', '.join(COST_KEYS)})")
        if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
            raise _fail(where, f"constraints.{k}", f"expected a positive number, got {v!r}")
    space = _section(Space, data.get("space"), where, "space")
    _check_space(space, where)
    search = _section(SearchSettings, data.get("search"), where, "search")
    if search.population < 4 or search.offspring < 2 or search.generations < 1:
        raise _fail(where, "search", "need population >= 4, offspring >= 2, generations >= 1")
    limit = max_population()
    for key in ("population", "offspring"):
        n = getattr(search, key)
        if n > limit:
            raise _fail(
                where,
                f"search.{key}",
                f"{n:,} individuals is over the limit of {limit:,} (set ${MAX_POPULATION_ENV} to raise it)",
            )
    if not 0 <= search.crossover_prob <= 1 or search.crossover_eta <= 0 or search.mutation_eta <= 0:
        raise _fail(where, "search", "need 0 <= crossover_prob <= 1, crossover_eta > 0, mutation_eta > 0")
    if len(search.initial_genomes) > search.population:
        raise _fail(where, "search.initial_genomes", "more genomes than search.population")
    for i, text in enumerate(search.initial_genomes):
        key = f"search.initial_genomes[{i}]"
        try:
            reason = space.rejects(parse_genome(text))
        except ConfigError as exc:
            raise _fail(where, key, str(exc)) from None
        if reason:
            raise _fail(where, key, f"'{text}' is outside the space: {reason}")
    proxy = _section(ProxySettings, data.get("proxy"), where, "proxy", {"training": _training})
    if proxy.folds < 2:
        raise _fail(where, "proxy.folds", "need at least 2 subject-grouped folds")
    if not 0 < proxy.promote <= 1:
        raise _fail(where, "proxy.promote", f"expected a fraction in (0, 1], got {proxy.promote!r}")
    refine = _section(RefineSettings, data.get("refine"), where, "refine", {"training": _training})
    if refine.seeds < 1 or refine.max_points < 1:
        raise _fail(where, "refine", "need seeds >= 1 and max_points >= 1")
    if refine.folds < 2:
        raise _fail(where, "refine.folds", "need at least 2 subject-grouped folds")
    if refine.val_subjects < 0:
        raise _fail(where, "refine.val_subjects", "must be 0 (train on every training subject) or more")
    if refine.band_points < 0:
        raise _fail(where, "refine.band_points", f"expected accuracy points >= 0, got {refine.band_points!r}")
    executor = _section(ExecutorSettings, data.get("executor"), where, "executor")
    if executor.kind not in EXECUTORS:
        raise _fail(where, "executor.kind", f"'{executor.kind}' is not one of {', '.join(EXECUTORS)}")
    return Recipe(
        name=data["name"],
        dataset=data["dataset"],
        seed=seed,
        target=target,
        targets=targets,
        objectives=objectives,
        constraints={k: float(v) for k, v in constraints.items()},
        space=space,
        search=search,
        proxy=proxy,
        refine=refine,
        executor=executor,
        source=where,
    )


def check_recipe_data(recipe: Recipe, ds) -> None:
    """What the recipe asks of its dataset ``ds`` and of this installation, checked before a run starts:
    otherwise every candidate would fail the same way. Enough training subjects for ``proxy.folds`` and
    ``refine.val_subjects``, and the quantization backends."""
    from harx.data import subject_split
    from harx.quant.backends import get_backend

    where = recipe.source
    n = len(subject_split(ds, 0).train_subjects)
    for key, folds in (("proxy.folds", recipe.proxy.folds), ("refine.folds", recipe.refine.folds)):
        if folds > n:
            raise _fail(
                where,
                key,
                f"{folds} folds, but dataset '{ds.name}' has {n} training subjects (2 to {n} folds)",
            )
    if recipe.refine.val_subjects >= n:
        raise _fail(
            where,
            "refine.val_subjects",
            f"{recipe.refine.val_subjects} held out, but dataset '{ds.name}' has {n} training subjects "
            f"(0 to {n - 1} can be held out)",
        )
    for stage in ("proxy", "refine"):
        try:
            get_backend(getattr(recipe, stage).training.backend)
        except ConfigError as exc:
            raise _fail(where, f"{stage}.training.backend", str(exc)) from None


def default_recipe(dataset: str) -> Recipe:
    """The built-in recipe of ``harx search --dataset NAME``: every default of ``Recipe``."""
    return parse_recipe({"name": dataset, "dataset": dataset}, f"default recipe for {dataset}")


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recipe ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}") from None
    return parse_recipe(data, str(path))


def recipe_from_stored(d: dict, where: str) -> Recipe:
    """A recipe as saved in a run row (``Recipe.to_dict``), for resuming."""
    d = dict(d)
    for section in ("proxy", "refine"):
        if isinstance(d.get(section), dict) and isinstance(d[section].get("training"), dict):
            d[section] = {
                **d[section],
                "training": {
                    k: v for k, v in d[section]["training"].items() if k in TrainConfig.__dataclass_fields__
                },
            }
    return parse_recipe(d, where)


def recipe_yaml(recipe: Recipe) -> str:
    """``recipe`` as a YAML recipe file that ``load_recipe`` reads back to an equal recipe."""

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return yaml.safe_dump(plain(recipe.to_dict()), sort_keys=False, default_flow_style=None, width=100)
