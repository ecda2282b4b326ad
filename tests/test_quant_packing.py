import numpy as np
import pytest

from harx.quant.packing import pack, packed_bytes, unpack


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("signed", [True, False])
def test_pack_round_trip(bits, signed):
    rng = np.random.default_rng(bits)
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    codes = rng.integers(lo, hi + 1, size=1000)
    data = pack(codes, bits)
    assert data.dtype == np.uint8 and data.size == packed_bytes(1000, bits)
    assert np.array_equal(unpack(data, bits, 1000, signed), codes)


def test_pack_layout_element_zero_in_low_bits():
    # 4-bit: elements 1, -2 (0xE) share byte 0 as 0xE1; 2-bit: 1, -1 (0b11), 0, -2 (0b10) -> 0b10_00_11_01.
    assert pack(np.array([1, -2]), 4).tolist() == [0xE1]
    assert pack(np.array([1, -1, 0, -2]), 2).tolist() == [0b10001101]
    assert pack(np.array([-128, 127]), 8).tolist() == [0x80, 0x7F]


def test_pack_pads_partial_byte_with_zeros():
    assert pack(np.array([3, 3, 3]), 4).tolist() == [0x33, 0x03]
    assert packed_bytes(3, 4) == 2 and packed_bytes(5, 2) == 2
