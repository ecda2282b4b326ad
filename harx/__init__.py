"""harx: tiny quantized 1-D CNNs for human activity recognition on microcontrollers."""

import os

# torch's OpenMP threads spin while they wait. On a small machine shared with anything else (another
# training, a compiler) that is catastrophic: a 2-thread training step measured 1,220 ms with spinning and
# 58 ms with passive waiting. Must be set before torch starts its thread pool; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
