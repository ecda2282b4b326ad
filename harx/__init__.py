"""harx: tiny quantized 1-D CNNs for human activity recognition on microcontrollers."""

__version__ = "0.1.0"
