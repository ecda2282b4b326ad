"""``harx adapt``: an adaptive model (early exit or cascade), its operating modes, their work and memory.

    from harx.adapt import adapt_early_exit, adapt_cascade
    r = adapt_early_exit(parse_genome("c16k5p2w8a8-c24k5p2w4a4-c32k5p2w4a4-gapw8"), "uci-har", 1, cfg)
    r.modes[i].test.accuracy, r.modes[i].test.avg_macs, r.memory["gap8"].extra_bytes, r.within

Thresholds come from the validation subjects of the split the networks were trained on (never from the
test subjects); every mode is then scored on the test subjects. The deployed mode table is the chosen
policy's sweep; the other policies' sweeps are reported beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harx.adapt.cascade import input_rescale
from harx.adapt.early_exit import train_early_exit
from harx.adapt.modes import Mode, ModeScores, Pick, StageOutputs, distinct, front, pick_within, sweep
from harx.adapt.work import StageCosts, cascade_costs, early_exit_costs
from harx.cost import DEFAULT_TARGET, TARGETS, load_target, plan
from harx.data import load_dataset, subject_split
from harx.data.splits import validation_warnings
from harx.deploy.adaptive_c import adaptive_plan
from harx.errors import ConfigError, DataError
from harx.evaluate import evaluate, training_warnings
from harx.models.genome import Genome, model_layers, parse_genome
from harx.paths import harx_home
from harx.quant.adaptive import (
    DEFAULT_MODES,
    DEFAULT_POLICY,
    NEVER,
    POLICIES,
    AdaptiveModel,
    ModeRule,
    check_adaptive_dir,
    check_policy_range,
    save_adaptive,
)
from harx.quant.artifact import Artifact
from harx.train.config import Execution, TrainConfig
from harx.train.loop import norm_stats

DEFAULT_TARGETS = TARGETS
WITHIN_POINTS = 0.5


@dataclass(frozen=True)
class MemoryOverhead:
    """The adaptive model's memory against the single network's on one target, from the memory plans (the
    bytes the generated C allocates): read-only arrays (flash) and RAM buffers."""

    target: str
    single_ro_bytes: int
    single_ram_bytes: int
    ro_bytes: int
    ram_bytes: int

    @property
    def extra_ro_bytes(self) -> int:
        return self.ro_bytes - self.single_ro_bytes

    @property
    def extra_ram_bytes(self) -> int:
        return self.ram_bytes - self.single_ram_bytes

    @property
    def extra_bytes(self) -> int:
        return self.extra_ro_bytes + self.extra_ram_bytes

    @property
    def extra_percent(self) -> float:
        """Extra bytes (flash + RAM) as a percentage of the single network's flash + RAM."""
        return 100.0 * self.extra_bytes / (self.single_ro_bytes + self.single_ram_bytes)

    def as_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "extra_ro_bytes": self.extra_ro_bytes,
            "extra_ram_bytes": self.extra_ram_bytes,
            "extra_bytes": self.extra_bytes,
            "extra_percent": self.extra_percent,
            "extra_ro_percent": 100.0 * self.extra_ro_bytes / self.single_ro_bytes,
            "extra_ram_percent": 100.0 * self.extra_ram_bytes / self.single_ram_bytes,
        }


@dataclass
class AdaptResult:
    """An adaptive model and its operating modes.

    ``modes`` is the deployed table (``policy``'s sweep, cheapest first); ``sweeps`` holds every policy's.
    ``within`` is the cheapest mode whose validation accuracy is within ``WITHIN_POINTS`` of the full
    network's (the deployable choice), ``oracle`` the same choice made on the test subjects (for reference
    only). ``first_alone``/``full`` are the first stage alone (ALWAYS) and the full network (NEVER).
    ``train_seconds`` is the time this call spent training (0 when it trained nothing, as for a cascade).
    """

    kind: str
    description: str
    dataset: str
    val_subjects: tuple[int, ...]
    val_windows: int
    test_windows: int
    policy: str
    modes: tuple[Mode, ...]
    sweeps: dict[str, tuple[Mode, ...]]
    costs: dict[str, StageCosts]
    memory: dict[str, MemoryOverhead]
    within: Pick
    oracle: Pick
    model: AdaptiveModel = field(repr=False)
    artifact_path: Path | None = None
    train_seconds: float = 0.0
    training: dict = field(default_factory=dict)  # the effective settings of this call's training, if any
    warnings: list[str] = field(default_factory=list)  # one line each: the data is small for the settings

    @property
    def full(self) -> Mode:
        return self.modes[-1]

    @property
    def first_alone(self) -> Mode:
        return self.modes[0]

    def macs_span(self, split: str = "test") -> float:
        """Largest over smallest average MACs among the modes."""
        macs = [m.scores(split).avg_macs for m in self.modes]
        return max(macs) / min(macs)

    def saving(self, pick: Pick, split: str = "test") -> float:
        """Fraction of the single network's MACs that ``pick``'s mode saves on average (negative: costs more,
        as a full-network mode does with an exit head evaluated on every window)."""
        single = next(iter(self.costs.values())).single.macs
        return 1.0 - pick.mode.scores(split).avg_macs / single

    def to_json(self, front_target: str = DEFAULT_TARGET) -> dict:
        on_front = front(self.modes, "test", front_target)
        return {
            "kind": self.kind,
            "model": self.description,
            "dataset": self.dataset,
            "val_subjects": list(self.val_subjects),
            "val_windows": self.val_windows,
            "test_windows": self.test_windows,
            "policy": self.policy,
            "n_modes": len(self.modes),
            "distinct_modes_test": distinct(self.modes, "test"),
            "macs_span_test": self.macs_span("test"),
            "modes": [
                {**_mode_json(i, m), "on_front_test": bool(f)}
                for i, (m, f) in enumerate(zip(self.modes, on_front, strict=True))
            ],
            "sweeps": {p: [_mode_json(i, m) for i, m in enumerate(ms)] for p, ms in self.sweeps.items()},
            "costs": {t: dataclasses.asdict(c) for t, c in self.costs.items()},
            "memory": {t: m.as_dict() for t, m in self.memory.items()},
            "within": _pick_json(self, self.within),
            "oracle": _pick_json(self, self.oracle),
            "artifact": None if self.artifact_path is None else str(self.artifact_path),
            "train_seconds": round(self.train_seconds, 1),
            "training": self.training,
            "warnings": self.warnings,
        }


def _scores_json(s: ModeScores) -> dict:
    return dataclasses.asdict(s)


def _mode_json(i: int, m: Mode) -> dict:
    return {
        "mode": i,
        "policy": m.rule.policy,
        "threshold": m.rule.threshold,
        "val": _scores_json(m.val),
        "test": _scores_json(m.test),
    }


def _pick_json(r: AdaptResult, p: Pick) -> dict:
    full = r.full
    return {
        "mode": p.index,
        "chosen_on": p.chosen_on,
        "points": p.points,
        "test_accuracy": p.mode.test.accuracy,
        "full_test_accuracy": full.test.accuracy,
        "test_accuracy_delta_points": 100 * (p.mode.test.accuracy - full.test.accuracy),
        "test_exit_fraction": p.mode.test.exit_fraction,
        "test_avg_macs": p.mode.test.avg_macs,
        "single_macs": next(iter(r.costs.values())).single.macs,
        "test_macs_saving": r.saving(p),
        "test_energy_saving": {
            t: 1.0 - p.mode.test.avg_energy_uj[t] / c.single.energy_uj for t, c in r.costs.items()
        },
    }


def _outputs(model: AdaptiveModel, ds, idx: np.ndarray) -> StageOutputs:
    codes = model.first.normalize_and_quantize(ds.X[idx])
    first, final = model.stage_logits(codes)
    return StageOutputs(first, final, ds.y[idx])


def _memory(model: AdaptiveModel, target: str) -> MemoryOverhead:
    single_art = model.first if model.kind == "early_exit" else model.big
    m = single_art.model
    specs = model_layers(single_art.genome, m)
    single = plan(specs, load_target(target))
    adaptive = adaptive_plan(model, target)
    return MemoryOverhead(target, single.ro_bytes, single.ram_bytes, adaptive.ro_bytes, adaptive.ram_bytes)


def _costs(model: AdaptiveModel, target: str) -> StageCosts:
    m = model.first.model
    shape = (m.in_channels, m.in_len, m.n_classes)
    if model.kind == "early_exit":
        return early_exit_costs(
            parse_genome(model.first.genome), model.exit_layer, model.first_head.w_bits, target, *shape
        )
    return cascade_costs(parse_genome(model.first.genome), parse_genome(model.big.genome), target, *shape)


def evaluate_adaptive(
    model: AdaptiveModel,
    ds,
    split,
    *,
    policy: str = DEFAULT_POLICY,
    n_modes: int = DEFAULT_MODES,
    targets: tuple[str, ...] = DEFAULT_TARGETS,
) -> AdaptResult:
    """Sweep every policy's thresholds on ``split.val``, score the modes on ``split.test``, and give
    ``model`` the mode table of ``policy``. ``model.modes`` on entry is ignored."""
    if policy not in POLICIES:
        raise ConfigError(f"--policy {policy}: choose one of {', '.join(POLICIES)}")
    if not targets:
        raise ConfigError("give at least one cost target")
    check_policy_range(model.first_head, f"adaptive model '{model.describe()}'")
    val, test = _outputs(model, ds, split.val), _outputs(model, ds, split.test)
    costs = {t: _costs(model, t) for t in targets}
    sweeps = {p: sweep(p, val, test, costs, ds.n_classes, n_modes) for p in POLICIES}
    modes = sweeps[policy]
    deployed = dataclasses.replace(model, modes=tuple(m.rule for m in modes), default_mode=len(modes) - 1)
    return AdaptResult(
        kind=model.kind,
        description=model.describe(),
        dataset=ds.name,
        val_subjects=split.val_subjects,
        val_windows=len(split.val),
        test_windows=len(split.test),
        policy=policy,
        modes=modes,
        sweeps=sweeps,
        costs=costs,
        memory={t: _memory(deployed, t) for t in targets},
        within=pick_within(modes, WITHIN_POINTS, "val"),
        oracle=pick_within(modes, WITHIN_POINTS, "test"),
        model=deployed,
    )


def default_out(dataset: str, name: str) -> Path:
    return harx_home() / "adaptive" / dataset / name


def _placeholder(policy: str) -> tuple[ModeRule, ...]:
    return (ModeRule(policy, NEVER),)


def adapt_early_exit(
    genome: Genome,
    dataset: str,
    exit_after: int,
    cfg: TrainConfig,
    *,
    seed: int = 0,
    n_val_subjects: int | None = None,
    exit_w_bits: int | None = None,
    policy: str = DEFAULT_POLICY,
    n_modes: int = DEFAULT_MODES,
    targets: tuple[str, ...] = DEFAULT_TARGETS,
    out: Path | None = None,
    home: Path | None = None,
    on_epoch: Callable | None = None,
    execution: Execution | None = None,
    force: bool = False,
) -> AdaptResult:
    """Train ``genome`` with an exit head after its first ``exit_after`` blocks (seed ``seed``; validation
    subjects ``subject_split(n_val_subjects, seed)``, None: the dataset's default), derive its modes and
    write the adaptive model to ``out`` (default ``$HARX_HOME/adaptive/<dataset>/<genome>-exit<k>-s<seed>``;
    checked before training, ``force`` as in ``save_adaptive``)."""
    if policy not in POLICIES:
        raise ConfigError(f"--policy {policy}: choose one of {', '.join(POLICIES)}")
    ds = load_dataset(dataset, home)
    genome.validate(ds.n_channels, ds.window)
    split = _validation_split(ds, n_val_subjects, seed)
    path = out or default_out(ds.name, f"{genome.text()}-exit{exit_after}-s{seed}")
    check_adaptive_dir(path, force)
    trained = train_early_exit(
        genome,
        ds,
        split,
        cfg,
        exit_after,
        exit_w_bits=exit_w_bits,
        seed=seed,
        on_epoch=on_epoch,
        execution=execution,
    )
    ev = evaluate(trained, ds, split)
    art = trained.artifact(ds, ev.metrics(), cfg, {"history": ev.history, "exit_after": exit_after})
    result = evaluate_adaptive(
        AdaptiveModel("early_exit", art, _placeholder(policy)),
        ds,
        split,
        policy=policy,
        n_modes=n_modes,
        targets=targets,
    )
    result.train_seconds = trained.train_seconds
    result.training = {**cfg.as_dict(), "effective": trained.budget.as_dict()}
    result.warnings = training_warnings(ds, split, trained.budget, _THRESHOLDS)
    result.artifact_path = save_adaptive(result.model, path, result.to_json(), force)
    return result


_THRESHOLDS = "choosing the operating modes' thresholds"


def _validation_split(ds, n_val_subjects: int | None, seed: int):
    """The held-out subjects the operating modes are chosen on (None: the dataset's default number): adapt
    cannot work without them."""
    if n_val_subjects is not None and n_val_subjects < 1:
        raise ConfigError(
            f"--val-subjects {n_val_subjects}: adapt chooses its operating modes on held-out validation "
            "subjects, so at least 1 is needed"
        )
    return subject_split(ds, n_val_subjects=n_val_subjects, seed=seed)


def check_trained_on(art: Artifact, ds, split, where: str) -> None:
    """Refuse an artifact whose input normalization is not the training subjects' of ``split``: its
    validation windows would then not be held out, and the thresholds would be fitted on training data."""
    if art.dataset_fingerprint and art.dataset_fingerprint != ds.fingerprint:
        raise DataError(
            f"{where}: trained on dataset version {art.dataset_fingerprint[:12]}, the cache ({ds.cache_path}) "
            f"holds {ds.fingerprint[:12]}"
        )
    if not _normalized_on(art, ds.X[split.train]):
        if _normalized_on(art, ds.X[np.concatenate([split.train, split.val])]):
            raise ConfigError(
                f"{where}: trained on every training subject (refine val_subjects 0), so no subjects are "
                "left to choose the operating modes on; train both with `harx quantize --val-subjects 4`"
            )
        raise ConfigError(
            f"{where}: its input normalization is not that of the training subjects of subject_split("
            f"n_val_subjects={len(split.val_subjects)}, seed={art.train_config.get('seed', 0)}); give the "
            "--val-subjects it was trained with"
        )


def _normalized_on(art: Artifact, x_train: np.ndarray) -> bool:
    """Whether ``art``'s input normalization is that of ``x_train``."""
    mean, std = norm_stats(x_train)
    return bool(
        np.allclose(art.norm_mean, mean, rtol=1e-5, atol=1e-6) and np.allclose(art.norm_std, std, rtol=1e-5)
    )


def adapt_cascade(
    little: Artifact,
    big: Artifact,
    *,
    n_val_subjects: int | None = None,
    policy: str = DEFAULT_POLICY,
    n_modes: int = DEFAULT_MODES,
    targets: tuple[str, ...] = DEFAULT_TARGETS,
    out: Path | None = None,
    home: Path | None = None,
    force: bool = False,
) -> AdaptResult:
    """The cascade ``little`` -> ``big`` (two artifacts trained on the same split: the validation subjects
    of ``subject_split(n_val_subjects, seed)``, seed from the little artifact's training config), its modes,
    written to ``out`` (default ``$HARX_HOME/adaptive/<dataset>/<little>--<big>``; checked first, ``force``
    as in ``save_adaptive``)."""
    if policy not in POLICIES:
        raise ConfigError(f"--policy {policy}: choose one of {', '.join(POLICIES)}")
    rescale = input_rescale(little, big)
    ds = load_dataset(little.dataset, home)
    path = out or default_out(ds.name, f"{little.genome}--{big.genome}")
    check_adaptive_dir(path, force)
    seed = int(little.train_config.get("seed", 0))
    split = _validation_split(ds, n_val_subjects, seed)
    check_trained_on(little, ds, split, f"little network '{little.genome}'")
    check_trained_on(big, ds, split, f"big network '{big.genome}'")
    model = AdaptiveModel("cascade", little, _placeholder(policy), big, rescale)
    result = evaluate_adaptive(model, ds, split, policy=policy, n_modes=n_modes, targets=targets)
    result.warnings = validation_warnings(ds, [split], _THRESHOLDS)
    result.artifact_path = save_adaptive(result.model, path, result.to_json(), force)
    return result
