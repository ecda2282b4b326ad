"""Where an adaptive model's networks come from: a stored candidate, an artifact or a genome, and the
training settings, seed and validation subjects that go with each (what ``harx adapt`` resolves)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harx.deploy.pipeline import candidate_artifact
from harx.errors import ConfigError
from harx.models.genome import Genome, parse_genome
from harx.quant.artifact import Artifact, load
from harx.train.config import TrainConfig


@dataclass(frozen=True)
class ExitSource:
    """An early exit's network: its genome and dataset, the training settings it was trained with (empty:
    the defaults), its seed and the validation subjects to hold out (None: the dataset's default)."""

    genome: Genome
    dataset: str
    training: dict
    seed: int
    val_subjects: int | None


def early_exit_source(
    store_path: Path,
    candidate: int | None = None,
    artifact: Path | None = None,
    genome: str | None = None,
    dataset: str | None = None,
) -> ExitSource:
    """The network of an early exit from exactly one of a stored ``candidate``, an ``artifact`` directory or
    a ``genome`` with its ``dataset``."""
    if genome is not None:
        if dataset is None:
            raise ConfigError("--genome needs --dataset")
        return ExitSource(parse_genome(genome), dataset, {}, 0, None)
    if dataset is not None:
        raise ConfigError("--dataset goes with --genome (a candidate or artifact names its own)")
    if artifact is not None:
        art = load(artifact)
        seed = int(art.train_config.get("seed", 0))
        return ExitSource(parse_genome(art.genome), art.dataset, art.train_config, seed, None)
    if candidate is None:
        raise ConfigError("give a candidate, an artifact or a genome")
    from harx.pareto import open_store

    with open_store(store_path) as st:
        rec = st.get_candidate(candidate)
        runs = st.runs_of(candidate) if rec.stage == "proxy" else []
    tc = rec.train_config
    training = tc.get("training", {})
    if runs:
        # a proxy candidate's own budget only ranks genomes: the full one is its search's refine training
        # (batch size and all), what the search would have retrained it with
        training = runs[0].recipe.get("refine", {}).get("training", training)
    # the exit is retrained, so a candidate refined on every training subject (0) can still hold some out
    val = int(tc.get("val_subjects", 0)) or None
    return ExitSource(parse_genome(rec.genome), rec.dataset, training, 0, val)


def cascade_artifacts(
    store_path: Path,
    little: int | None = None,
    big: int | None = None,
    little_artifact: Path | None = None,
    big_artifact: Path | None = None,
) -> tuple[Artifact, Artifact]:
    """The little and big networks of a cascade: two stored candidates or two artifact directories."""
    if little_artifact is not None or big_artifact is not None:
        if little_artifact is None or big_artifact is None:
            raise ConfigError("a cascade needs both --little-artifact and --big-artifact")
        return load(little_artifact), load(big_artifact)
    if little is None or big is None:
        raise ConfigError("a cascade needs both --little ID and --big ID")
    return load(candidate_artifact(store_path, little)), load(candidate_artifact(store_path, big))


def training_config(
    training: dict,
    epochs: int | None = None,
    qat_epochs: int | None = None,
    batch_size: int | None = None,
) -> TrainConfig:
    """A source's training settings (keys that are not training settings dropped: the seed, and the thread
    count older artifacts recorded) with the epoch counts and batch size overridden where given."""
    d = {k: v for k, v in training.items() if k in TrainConfig.__dataclass_fields__}
    for key, value in (("epochs_float", epochs), ("epochs_qat", qat_epochs), ("batch_size", batch_size)):
        if value is not None:
            d[key] = value
    return TrainConfig.from_dict(d, "training settings")


def static_front(store_path: Path, run_id: int | None, target: str):
    """The store's front over accuracy and energy on ``target`` (what ``--plot`` draws the modes against);
    raises StoreError when there is none."""
    from harx.pareto import load_front, open_store

    with open_store(store_path) as st:
        return load_front(st, run_id, ("acc", "energy"), target)
