/*
 * harx_ref.h: harx's portable reference for the PULP-NN-mixed kernels a network calls.
 *
 * Written from harx's integer contract (docs/deploy.md), not from PULP-NN's sources:
 *  - activations are HWC; sub-byte codes are packed along channels, element 0 in the lowest bits;
 *  - weights are signed codes laid out [ch_out][k_y][k_x][ch_in] (linear: [out][in]), packed the same way;
 *  - accumulators are int32; conv requantization is y = clip((kappa*acc + lambda) >> shift, 0, 2^bits - 1)
 *    with a floor (arithmetic) shift; the classifier writes int32 logits.
 *
 * Every kernel file of a generated project defines one PULP-NN-named function that calls one of the
 * generic kernels below with constant bit widths, so the compiler specialises it. Single core, C99,
 * no allocation, no int64. A 1-D layer is a 2-D layer with one of its two dimensions equal to 1.
 */
#ifndef HARX_REF_H
#define HARX_REF_H

#include <stddef.h>
#include <stdint.h>

/* The requant shift is a floor only if >> on a negative int32 is arithmetic, as gcc and clang define it. */
typedef char harx_arithmetic_shift_check[((int32_t)-7 >> 1) == -4 ? 1 : -1];

/* Unsigned code i of a packed array of `bits`-bit codes. */
static inline int32_t harx_ucode(const uint8_t *p, uint32_t i, int bits)
{
    if (bits == 8)
        return p[i];
    if (bits == 4)
        return (p[i >> 1] >> ((i & 1u) << 2)) & 0xF;
    return (p[i >> 2] >> ((i & 3u) << 1)) & 0x3;
}

/* Sign-extend a `bits`-bit two's-complement field without implementation-defined conversions. */
static inline int32_t harx_sext(uint32_t field, int bits)
{
    const int32_t half = (int32_t)1 << (bits - 1);
    return (int32_t)(field ^ (uint32_t)half) - half;
}

/* y = clip((kappa*acc + lambda) >> shift, 0, 2^bits - 1); the export keeps both terms inside int32. */
static inline uint32_t harx_requant(int32_t acc, int32_t kappa, int32_t lambda, int32_t shift, int bits)
{
    const int32_t top = ((int32_t)1 << bits) - 1;
    const int32_t v = (kappa * acc + lambda) >> shift;
    return (uint32_t)(v < 0 ? 0 : (v > top ? top : v));
}

/* im2col: n codes of `bits` bits -> one byte each (a signed int8 input keeps its bit pattern). */
static inline void harx_unpack(const uint8_t *src, uint8_t *dst, uint32_t n, int bits)
{
    uint32_t i;
    for (i = 0; i < n; i++)
        dst[i] = (uint8_t)harx_ucode(src, i, bits);
}

/* Dot product of n 8-bit im2col values (signed or unsigned) with n packed signed weights. */
static inline int32_t harx_dot(const uint8_t *col, int col_signed, const uint8_t *w, uint32_t n, int w_bits)
{
    const uint32_t per_byte = 8u / (uint32_t)w_bits, mask = (1u << w_bits) - 1u;
    int32_t acc = 0;
    uint32_t i, j;
    for (i = 0; i < n; i += per_byte) {
        const uint32_t byte = *w++;
        for (j = 0; j < per_byte; j++) {
            const int32_t a = col_signed ? harx_sext(col[i + j], 8) : (int32_t)col[i + j];
            acc += a * harx_sext((byte >> (j * (uint32_t)w_bits)) & mask, w_bits);
        }
    }
    return acc;
}

/*
 * Convolution (PULP-NN argument order; harx adds the dilations). For each output pixel the k_y*k_x taps
 * of ch_in codes are unpacked to 8 bit into im2col (zeros outside the input: zero padding), then each
 * output channel is one dot product, requantized and packed. im2col holds k_y*k_x*ch_in bytes.
 */
static inline void harx_conv(const uint8_t *in, uint8_t *im2col, uint8_t *out, const uint8_t *weight,
                             const int32_t *kappa, const int32_t *lambda, int32_t shift, int32_t in_x,
                             int32_t in_y, int32_t ch_in, int32_t out_x, int32_t out_y, int32_t ch_out,
                             int32_t k_x, int32_t k_y, int32_t pad_top, int32_t pad_left, int32_t stride_x,
                             int32_t stride_y, int32_t dil_x, int32_t dil_y, int in_bits, int in_signed,
                             int out_bits, int w_bits)
{
    const uint32_t taps_len = (uint32_t)(ch_in * k_x * k_y);
    const uint32_t w_row_bytes = taps_len * (uint32_t)w_bits / 8u;
    const uint32_t in_px_bytes = (uint32_t)ch_in * (uint32_t)in_bits / 8u;
    const int32_t per_out_byte = 8 / out_bits;
    int32_t oy, ox, ky, kx, co, j;
    for (oy = 0; oy < out_y; oy++) {
        for (ox = 0; ox < out_x; ox++) {
            uint8_t *col = im2col;
            uint8_t *o = out + (uint32_t)(oy * out_x + ox) * (uint32_t)ch_out * (uint32_t)out_bits / 8u;
            for (ky = 0; ky < k_y; ky++) {
                const int32_t iy = oy * stride_y - pad_top + ky * dil_y;
                for (kx = 0; kx < k_x; kx++) {
                    const int32_t ix = ox * stride_x - pad_left + kx * dil_x;
                    if (iy < 0 || iy >= in_y || ix < 0 || ix >= in_x) {
                        for (j = 0; j < ch_in; j++)
                            col[j] = 0;
                    } else {
                        harx_unpack(in + (uint32_t)(iy * in_x + ix) * in_px_bytes, col, (uint32_t)ch_in,
                                    in_bits);
                    }
                    col += ch_in;
                }
            }
            for (co = 0; co < ch_out; co += per_out_byte) {
                uint32_t byte = 0;
                for (j = 0; j < per_out_byte; j++) {
                    const int32_t acc =
                        harx_dot(im2col, in_signed, weight + (uint32_t)(co + j) * w_row_bytes, taps_len, w_bits);
                    byte |= harx_requant(acc, kappa[co + j], lambda[co + j], shift, out_bits)
                            << ((uint32_t)j * (uint32_t)out_bits);
                }
                *o++ = (uint8_t)byte;
            }
        }
    }
}

/* Max pool over unsigned codes; taps outside the input are skipped (codes are >= 0). */
static inline void harx_maxpool(const uint8_t *in, uint8_t *out, int32_t in_x, int32_t in_y, int32_t ch,
                                int32_t out_x, int32_t out_y, int32_t k_x, int32_t k_y, int32_t pad_top,
                                int32_t pad_left, int32_t stride_x, int32_t stride_y, int bits)
{
    const int32_t per_byte = 8 / bits;
    int32_t oy, ox, c, j, ky, kx;
    for (oy = 0; oy < out_y; oy++) {
        for (ox = 0; ox < out_x; ox++) {
            uint8_t *o = out + (uint32_t)(oy * out_x + ox) * (uint32_t)ch * (uint32_t)bits / 8u;
            for (c = 0; c < ch; c += per_byte) {
                uint32_t byte = 0;
                for (j = 0; j < per_byte; j++) {
                    int32_t m = 0;
                    for (ky = 0; ky < k_y; ky++) {
                        const int32_t iy = oy * stride_y - pad_top + ky;
                        for (kx = 0; kx < k_x; kx++) {
                            const int32_t ix = ox * stride_x - pad_left + kx;
                            if (iy >= 0 && iy < in_y && ix >= 0 && ix < in_x) {
                                const int32_t v = harx_ucode(in, (uint32_t)((iy * in_x + ix) * ch + c + j), bits);
                                m = v > m ? v : m;
                            }
                        }
                    }
                    byte |= (uint32_t)m << ((uint32_t)j * (uint32_t)bits);
                }
                *o++ = (uint8_t)byte;
            }
        }
    }
}

/*
 * Average pool with requantization, PULP-NN's flag_requant path: the multiplier is lambda / (k_x*k_y)
 * (PULP-NN divides first), y = clip((sum*multiplier + out_add) >> out_shift). harx's global average pool
 * (sum*m) >> s is this with lambda = m*k_x*k_y, out_add = 0 (the export keeps sum*m below 2^30).
 */
static inline void harx_avgpool(const uint8_t *in, uint8_t *out, int32_t lambda, int32_t out_shift,
                                int32_t out_add, int32_t in_x, int32_t in_y, int32_t ch, int32_t out_x,
                                int32_t out_y, int32_t k_x, int32_t k_y, int32_t pad_top, int32_t pad_left,
                                int32_t stride_x, int32_t stride_y, int bits)
{
    const int32_t multiplier = lambda / (k_x * k_y);
    const int32_t per_byte = 8 / bits, top = ((int32_t)1 << bits) - 1;
    int32_t oy, ox, c, j, ky, kx;
    for (oy = 0; oy < out_y; oy++) {
        for (ox = 0; ox < out_x; ox++) {
            uint8_t *o = out + (uint32_t)(oy * out_x + ox) * (uint32_t)ch * (uint32_t)bits / 8u;
            for (c = 0; c < ch; c += per_byte) {
                uint32_t byte = 0;
                for (j = 0; j < per_byte; j++) {
                    int32_t sum = 0, v;
                    for (ky = 0; ky < k_y; ky++) {
                        const int32_t iy = oy * stride_y - pad_top + ky;
                        for (kx = 0; kx < k_x; kx++) {
                            const int32_t ix = ox * stride_x - pad_left + kx;
                            if (iy >= 0 && iy < in_y && ix >= 0 && ix < in_x)
                                sum += harx_ucode(in, (uint32_t)((iy * in_x + ix) * ch + c + j), bits);
                        }
                    }
                    v = (sum * multiplier + out_add) >> out_shift;
                    byte |= (uint32_t)(v < 0 ? 0 : (v > top ? top : v)) << ((uint32_t)j * (uint32_t)bits);
                }
                *o++ = (uint8_t)byte;
            }
        }
    }
}

/* Fully connected layer to int32 outputs: out[o] = bias[o] + sum_i in[i] * w[o][i]. */
static inline void harx_linear_i32(const uint8_t *in, const int32_t *bias, int32_t *out, const uint8_t *weight,
                                   uint32_t dim_vec, uint32_t n_out, int in_bits, int w_bits)
{
    const uint32_t w_row_bytes = dim_vec * (uint32_t)w_bits / 8u;
    uint32_t o, i;
    for (o = 0; o < n_out; o++) {
        const uint8_t *w = weight + o * w_row_bytes;
        int32_t acc = bias[o];
        for (i = 0; i < dim_vec; i++)
            acc += harx_ucode(in, i, in_bits) * harx_sext((uint32_t)harx_ucode(w, i, w_bits), w_bits);
        out[o] = acc;
    }
}

#endif /* HARX_REF_H */
