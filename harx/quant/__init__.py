"""Fake-quant layers (QAT), integer export, the numpy integer golden model and its on-disk artifact."""
