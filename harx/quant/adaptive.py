"""Adaptive networks: an early-exit head or a big/little cascade, integer confidence policies and a runtime
mode table, as a numpy golden model beside the static one (the generated C, ``harx.deploy.adaptive_c``,
reproduces it bit for bit), and its directory on disk.

An adaptive network has two stages. The first (the network up to an early-exit head, or a little network)
runs on every window; when it is confident enough the inference stops with its logits, else the second
stage (the rest of the network, or the big network) runs and its logits are the output. A runtime mode is
a ``ModeRule`` (policy, threshold): stop iff ``confidence(first-stage logits, policy) >= threshold``.
``harx_set_mode(int mode)`` selects a row of the generated mode table. ``harx adapt`` (one floor up)
trains the networks and sweeps the thresholds; this module is the integer contract both sides share.

Confidence policies on the int32 logits l[0..n-1] of the first stage (top1 = max l, top2 = the largest
logit of the other classes, so a tie at the top gives a margin of 0):

- ``max_score``: top1;
- ``margin``: top1 - top2;
- ``mean_gap``: sum over c of (top1 - l[c]) = n*top1 - sum(l), n times the distance of top1 to the mean.

The C computes them in int32 exactly as written. Generation proves that no value overflows: with
B = max over classes of |bias| + sum |w| * (2^in_bits - 1), the largest |logit| any input can give, every
intermediate lies in [-2nB, 2nB] and 2nB < 2^31 - 1 is checked, so ``NEVER`` (INT32_MAX) stops nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harx import __version__
from harx.errors import ConfigError, DataError
from harx.paths import check_generated_dir, file_manifest, regenerated_dir
from harx.quant.artifact import Artifact, read_meta
from harx.quant.artifact import load as load_artifact
from harx.quant.artifact import save as save_artifact
from harx.quant.integer import INT32_MAX, INT32_MIN, IntConv, IntLinear

POLICIES = ("max_score", "margin", "mean_gap")  # the C's policy ids are the indices
DEFAULT_POLICY = "margin"
DEFAULT_MODES = 25  # thresholds swept per policy (at most): the size of a deployed mode table
KINDS = ("early_exit", "cascade")
ALWAYS = INT32_MIN  # the threshold of the mode that always stops after the first stage
NEVER = INT32_MAX  # ... and of the mode that never does
ADAPTIVE_FILE = "adaptive.json"
FORMAT_VERSION = 1
INT8_MIN, INT8_MAX = -128, 127


# ---------------------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------------------


def confidence(logits: np.ndarray, policy: str) -> np.ndarray:
    """Confidence (int64 array, one per row) of int32 logits (N, n_classes) under ``policy``."""
    if policy not in POLICIES:
        raise ConfigError(f"policy '{policy}' is not one of {', '.join(POLICIES)}")
    x = np.asarray(logits, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"expected logits of shape (N, n_classes >= 2), got {x.shape}")
    top = np.sort(x, axis=1)
    if policy == "max_score":
        return top[:, -1]
    if policy == "margin":
        return top[:, -1] - top[:, -2]
    return (top[:, -1:] - x).sum(axis=1)


def logit_bound(head: IntLinear) -> int:
    """The largest |logit| the classifier ``head`` can output for any unsigned input codes."""
    w = np.abs(head.weights.astype(np.int64)).sum(axis=1) * (2**head.in_bits - 1)
    return int((np.abs(head.bias.astype(np.int64)) + w).max())


def check_policy_range(head: IntLinear, where: str) -> int:
    """Refuse a first-stage classifier whose logits could overflow a policy's int32 arithmetic; returns B."""
    bound = logit_bound(head)
    if 2 * head.cout * bound >= INT32_MAX:
        raise ConfigError(
            f"{where}: its logits can reach {bound:,}, so the confidence policies could overflow int32 "
            f"(2 x {head.cout} classes x {bound:,} >= 2^31 - 1)"
        )
    return bound


@dataclass(frozen=True)
class ModeRule:
    """One runtime mode: stop after the first stage iff ``confidence(logits, policy) >= threshold``."""

    policy: str
    threshold: int

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(f"mode policy '{self.policy}' is not one of {', '.join(POLICIES)}")
        if not INT32_MIN <= self.threshold <= INT32_MAX:
            raise ConfigError(f"mode threshold {self.threshold} does not fit int32")

    def stops(self, first_logits: np.ndarray) -> np.ndarray:
        return confidence(first_logits, self.policy) >= self.threshold


# ---------------------------------------------------------------------------------------------------------
# The integer adaptive model
# ---------------------------------------------------------------------------------------------------------


@dataclass
class InputRescale:
    """Per-channel requantization of int8 window codes into another network's input quantization:
    ``clip((kappa[c] * x + lam[c]) >> shift, -128, 127)``, int32 throughout (the shift is chosen so)."""

    kappa: np.ndarray
    lam: np.ndarray
    shift: int

    def run(self, codes: np.ndarray) -> np.ndarray:
        v = (codes.astype(np.int64) * self.kappa + self.lam) >> self.shift
        return np.clip(v, INT8_MIN, INT8_MAX).astype(np.int8)


@dataclass
class AdaptiveModel:
    """An adaptive network as integers. ``first`` is the network with its one early-exit head
    (``early_exit``) or the little network (``cascade``); ``big`` the cascade's second network and
    ``rescale`` the requantization of the window into its input (None when both quantize alike).
    ``modes`` is the runtime mode table, ``default_mode`` the mode in force after reset."""

    kind: str
    first: Artifact
    modes: tuple[ModeRule, ...]
    big: Artifact | None = None
    rescale: InputRescale | None = None
    default_mode: int = -1

    def __post_init__(self) -> None:
        self.modes = tuple(self.modes)
        if self.default_mode < 0:
            self.default_mode += len(self.modes)
        self.validate()

    def validate(self) -> None:
        where = f"adaptive model ({self.kind})"
        if self.kind not in KINDS:
            raise ConfigError(f"adaptive model kind '{self.kind}' is not one of {', '.join(KINDS)}")
        if not self.modes:
            raise ConfigError(f"{where}: the mode table is empty")
        if not 0 <= self.default_mode < len(self.modes):
            raise ConfigError(f"{where}: default mode {self.default_mode} is not in 0..{len(self.modes) - 1}")
        m = self.first.model
        if self.kind == "early_exit":
            if len(m.exits) != 1 or self.big is not None:
                raise ConfigError(
                    f"{where}: needs one network with exactly one exit head, has {len(m.exits)} heads"
                )
        else:
            if self.big is None:
                raise ConfigError(f"{where}: needs a big network")
            b = self.big.model
            if (m.in_len, m.in_channels, m.n_classes) != (b.in_len, b.in_channels, b.n_classes):
                raise ConfigError(
                    f"{where}: the little network reads {m.in_channels}x{m.in_len} windows into "
                    f"{m.n_classes} classes, the big one {b.in_channels}x{b.in_len} into {b.n_classes}"
                )
        if m.n_classes < 2:
            raise ConfigError(f"{where}: a confidence policy needs at least 2 classes")

    @property
    def exit_layer(self) -> int:
        """Early exit: the main layer whose output the exit head reads."""
        return next(iter(self.first.model.exits))

    @property
    def first_head(self) -> IntLinear:
        """The classifier whose logits the policies score."""
        m = self.first.model
        return m.exits[self.exit_layer][-1] if self.kind == "early_exit" else m.layers[-1]

    def describe(self) -> str:
        if self.kind == "cascade":
            return f"{self.first.genome} -> {self.big.genome}"
        # Every conv block has one conv layer (and maybe a max pool after it).
        blocks = sum(isinstance(layer, IntConv) for layer in self.first.model.layers[: self.exit_layer + 1])
        return f"{self.first.genome} (exit after block {blocks})"

    def stage_logits(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first-stage logits, final logits) of int8 window codes (N, T, C), both computed for every window."""
        if self.kind == "early_exit":
            final, exits = self.first.model.run(codes, return_exits=True)
            return exits[self.exit_layer], final
        big_in = codes if self.rescale is None else self.rescale.run(codes)
        return self.first.model.run(codes), self.big.model.run(big_in)

    def run(self, codes: np.ndarray, mode: int) -> tuple[np.ndarray, np.ndarray]:
        """(output logits, stopped-after-the-first-stage flags) of the windows in runtime ``mode``."""
        first, final = self.stage_logits(codes)
        stop = self.modes[mode].stops(first)
        return np.where(stop[:, None], first, final), stop


# ---------------------------------------------------------------------------------------------------------
# On disk: adaptive.json beside the integer artifact(s)
# ---------------------------------------------------------------------------------------------------------


def is_adaptive(path: str | Path) -> bool:
    return (Path(path) / ADAPTIVE_FILE).is_file()


def check_adaptive_dir(path: str | Path, force: bool = False) -> None:
    """Refuse, before any training, a directory ``save_adaptive`` could not write without losing a file
    (``harx.paths.check_generated_dir``)."""
    check_generated_dir(path, ADAPTIVE_FILE, "an adaptive model", force=force)


def save_adaptive(
    model: AdaptiveModel, path: str | Path, report: dict | None = None, force: bool = False
) -> Path:
    """Write ``adaptive.json`` (kind, mode table, rescale, ``report``, the sha256 of every file under
    "files") and the integer artifacts (``model/``, or ``little/`` and ``big/``) atomically: a temp
    directory renamed into place. A directory harx wrote before is replaced when nobody edited its files or
    added any; ``force`` overwrites edited files and keeps the others (``harx.paths.regenerated_dir``)."""
    path = Path(path)
    meta = {
        "format_version": FORMAT_VERSION,
        "harx_version": __version__,
        "kind": model.kind,
        "modes": [{"policy": r.policy, "threshold": r.threshold} for r in model.modes],
        "default_mode": model.default_mode,
        "rescale": None
        if model.rescale is None
        else {
            "kappa": model.rescale.kappa.tolist(),
            "lam": model.rescale.lam.tolist(),
            "shift": model.rescale.shift,
        },
        "report": report or {},
    }
    with regenerated_dir(path, ADAPTIVE_FILE, "an adaptive model", force=force) as tmp:
        if model.kind == "early_exit":
            save_artifact(model.first, tmp / "model")
        else:
            save_artifact(model.first, tmp / "little")
            save_artifact(model.big, tmp / "big")
        meta["files"] = file_manifest(tmp)
        (tmp / ADAPTIVE_FILE).write_text(json.dumps(meta, indent=1))
    return path


def load_adaptive(path: str | Path) -> tuple[AdaptiveModel, dict]:
    """The adaptive model in ``path`` and the report stored with it."""
    path = Path(path)
    meta_file = path / ADAPTIVE_FILE
    meta = read_meta(meta_file, "adaptive model", "harx adapt", FORMAT_VERSION)
    try:
        kind = meta["kind"]
        modes = tuple(ModeRule(m["policy"], int(m["threshold"])) for m in meta["modes"])
        rs = meta.get("rescale")
        rescale = (
            None
            if rs is None
            else InputRescale(
                np.asarray(rs["kappa"], np.int64), np.asarray(rs["lam"], np.int64), int(rs["shift"])
            )
        )
        if kind == "cascade":
            first, big = load_artifact(path / "little"), load_artifact(path / "big")
        else:
            first, big = load_artifact(path / "model"), None
        model = AdaptiveModel(kind, first, modes, big, rescale, int(meta["default_mode"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{meta_file}: malformed adaptive model ({type(exc).__name__}: {exc})") from None
    except ConfigError as exc:
        raise DataError(f"{meta_file}: {exc}") from None
    return model, meta.get("report", {})
