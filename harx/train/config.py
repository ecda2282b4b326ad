"""Training settings (what a result depends on, hashed into the store's cache key) and execution settings
(where it runs, which never enter a cache key)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from harx.errors import ConfigError, SettingError


@dataclass(frozen=True)
class TrainConfig:
    """How one candidate is trained. Epoch counts are maxima: early stopping on validation macro-F1."""

    epochs_float: int = 40
    epochs_qat: int = 25
    batch_size: int = 64
    lr: float = 3e-3
    lr_qat: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 10
    label_smoothing: float = 0.05
    augment_scale: float = 0.1  # per-window, per-channel amplitude jitter (+-10%); 0 disables
    augment_noise: float = 0.02  # Gaussian noise in normalized units; 0 disables
    exit_loss_weight: float = 1.0  # weight of each early-exit head's loss (networks with exits only)
    backend: str = "torch"
    schedule: str = "cosine"  # learning rate per phase: cosine decay per epoch, or one-cycle per step

    SCHEDULES = ("cosine", "onecycle")

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", "float") and (
                not isinstance(v, int | float) or isinstance(v, bool) or v < 0
            ):
                raise SettingError("training setting", f.name, f"must be a non-negative number, got {v!r}")
        if self.batch_size < 1:
            raise SettingError("training setting", "batch_size", "must be at least 1")
        if self.schedule not in self.SCHEDULES:
            raise SettingError(
                "training setting",
                "schedule",
                f"must be one of {', '.join(self.SCHEDULES)}, not {self.schedule!r}",
            )
        if self.epochs_float + self.epochs_qat < 1:
            raise ConfigError("training settings 'epochs_float' + 'epochs_qat' must be at least 1")

    @classmethod
    def from_dict(cls, d: dict, where: str = "training") -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(names))})")
        return cls(**d)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Execution:
    """Where a training runs: torch CPU threads and the device (``cpu``, ``cuda`` or ``auto``: cuda when
    torch sees a GPU). Not a training setting: it never enters a cache key. A GPU sums in another order,
    so its scores can differ from the CPU's in the last digits."""

    threads: int = 2
    device: str = "cpu"

    DEVICES = ("cpu", "cuda", "auto")

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads must be a whole number of at least 1, got {self.threads!r}")
        if self.device not in self.DEVICES:
            raise ConfigError(f"--device must be one of {', '.join(self.DEVICES)}, not {self.device!r}")

    @property
    def torch_device(self) -> str:
        """The torch device to train on; ConfigError for ``cuda`` without a GPU."""
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda: torch sees no GPU here (use cpu or auto)")
        return self.device
