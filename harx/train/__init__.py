"""Deterministic training: float pre-training, then quantization-aware fine-tuning, with metrics."""

from harx.train.config import Execution, TrainConfig
from harx.train.metrics import Scores, score

__all__ = ["Execution", "Scores", "TrainConfig", "score"]
