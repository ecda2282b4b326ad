/*
 * harx_opt.h: optimized portable kernels that compute exactly what harx_ref.h computes, faster on a core
 * without SIMD or multiply-accumulate (rv32imc). C99, int32 arithmetic, no int64, no allocation, one core.
 *
 * Same arguments and activation/requantization contract as harx_ref.h (HWC, sub-byte codes packed along
 * channels little end first, y = clip((kappa*acc + lambda) >> shift, 0, 2^bits - 1)); two things differ:
 *  - weights: conv and linear read the export-time layout of harx/deploy/opt_layout.py (same byte count
 *    as the reference packing, another order; sub-byte codes of the lane kernels stored offset by 2^(b-1));
 *  - im2col: the conv needs HARX_OPT_IM2COL_BYTES(ch_in, k_x, k_y) = 4 * k_x * k_y * ch_in bytes (4 output
 *    pixels at once). The linear kernel unpacks its input on the stack (HARX_OPT_LINEAR_CHUNK bytes).
 *
 * How a conv runs. Output pixels are taken 4 at a time (a "block"). The taps of the block (tap t = the
 * (k_y, k_x) position, then the channel in run order, see harx_opt_unpack_run) are unpacked to one byte
 * each into the im2col as [t][pixel], so the 4 pixels' codes of a tap are 4 adjacent bytes. Output
 * channels are taken B at a time; per tap the kernel loads the B channels' weights once and the 4 pixels'
 * codes once and does 16 multiplications into 16 register accumulators. Three families:
 *  - S ("scalar"; signed input, or 8-bit input with 8-bit weights): B = 4, one product per mul, int32
 *    accumulators (4 pixels x 4 channels).
 *  - L16 (unsigned input, other widths): B = 8; a weight word holds the offset codes w + 2^(b-1) >= 0 of two
 *    channels in 16-bit lanes (channel g in bits 0..15, g + 4 in bits 16..31), so one mul of an activation
 *    code a >= 0 by it does two MACs with no borrow between lanes. A lane takes drain_taps taps (the lane
 *    bound, harx_opt_drain_taps) before it is added to int32 sums; the true accumulator is the lane sum
 *    minus 2^(b-1) * (sum of the pixel's activation codes), which the im2col build computes.
 *  - L8 (2-bit input, 2-bit weights): B = 16, four 8-bit lanes (channel g + 4l in lane l): four MACs per
 *    mul; every 28 taps the 8-bit lanes are added to 16-bit lanes, which hold the whole tap count (checked).
 * Remainder channels (ch_out not a multiple of B) run the S kernel, 4 and then 1 at a time.
 *
 * The hot loops, read with riscv64-unknown-elf-objdump -d (gcc 12.2, -O2 -march=rv32imc), per tap of the
 * 4 pixels: L16 w4 47 instructions (1 lw, 4 lbu, 7 and/srl, 16 mul, 16 add, 2 pointer steps, the branch)
 * with no stack access; L16 w2 49 (lhu, sll, or spread the halfword); L16 w8 48 and L8 47-48, each with one
 * reload of the loop end from the stack (no register left); S w8 84 per two taps (16 lb/lbu, 32 mul,
 * 32 add), one stack access. Accumulators and pointers stay in registers. gcc's first scheduling pass
 * undoes this: it hoists all loads and shifts of a tap to its top and then spills accumulators (5 stack
 * accesses per tap in the L16 w4 loop, 27 per two taps in the S w8 loop). HARX_OPT_HOT turns that pass off for the hot functions only (noinline
 * keeps them apart from the callers, which are scheduled as usual); without it the 8-bit network takes 3.75
 * instead of 2.93 instructions per MAC (bench/results/kernels_rv32_no_hot.md). A build may instead pass
 * -fno-schedule-insns; define HARX_OPT_HOT to override.
 */
#ifndef HARX_OPT_H
#define HARX_OPT_H

#include <stddef.h>
#include <stdint.h>

#include "harx_ref.h"

#if defined(__GNUC__) && !defined(__clang__)
#if !defined(HARX_OPT_HOT)
#define HARX_OPT_HOT __attribute__((optimize("no-schedule-insns"), noinline))
#endif
#define HARX_OPT_INLINE static inline __attribute__((always_inline))
#else
#if !defined(HARX_OPT_HOT)
#define HARX_OPT_HOT
#endif
#define HARX_OPT_INLINE static inline
#endif
#if defined(__GNUC__)
/* A 32-bit word of a byte array: may_alias keeps the word accesses to uint8_t buffers well defined. */
typedef uint32_t harx_word __attribute__((may_alias));
typedef uint16_t harx_half __attribute__((may_alias));
#else
typedef uint32_t harx_word;
typedef uint16_t harx_half;
#endif
#define HARX_CWORD(p) (*(const harx_word *)(const void *)(p))

#define HARX_OPT_S 0
#define HARX_OPT_L16 1
#define HARX_OPT_L8 2
#define HARX_OPT_PX 4u
#define HARX_OPT_LINEAR_CHUNK 256u
#define HARX_OPT_IM2COL_BYTES(ch_in, k_x, k_y) (4u * (uint32_t)(ch_in) * (uint32_t)(k_x) * (uint32_t)(k_y))

/* ------------------------------------------------------------------------------------------------------
 * Lane bounds (harx/deploy/opt_layout.py lane_plan computes the same numbers; a test compares them).
 * With an unsigned code a <= 2^in_bits - 1 and an offset weight w' <= 2^w_bits - 1, one product is at most
 * pmax = (2^in_bits - 1)(2^w_bits - 1), so a lane of L bits holds floor((2^L - 1) / pmax) products without
 * carrying into the next lane. drain_taps is that count rounded down to a multiple of 4.
 * ------------------------------------------------------------------------------------------------------ */
static inline uint32_t harx_opt_product_max(int in_bits, int w_bits)
{
    return ((1u << in_bits) - 1u) * ((1u << w_bits) - 1u);
}

/* The family of a layer: taps is k_x*k_y*ch_in (conv) or dim_vec (linear). L8 also needs the 16-bit lanes
 * that collect its 8-bit lanes to hold the whole tap count, else L16 runs it. */
static inline int harx_opt_family(int in_bits, int in_signed, int w_bits, uint32_t taps)
{
    if (in_signed || (in_bits == 8 && w_bits == 8))
        return HARX_OPT_S;
    if (in_bits == 2 && w_bits == 2 && taps * harx_opt_product_max(2, 2) <= 0xFFFFu)
        return HARX_OPT_L8;
    return HARX_OPT_L16;
}

/* Taps a lane accumulates before it is drained (0 for S: no lanes). */
static inline uint32_t harx_opt_drain_taps(int family, int in_bits, int w_bits)
{
    if (family == HARX_OPT_S)
        return 0;
    return ((family == HARX_OPT_L8 ? 0xFFu : 0xFFFFu) / harx_opt_product_max(in_bits, w_bits)) & ~3u;
}

static inline uint32_t harx_opt_block_channels(int family)
{
    return family == HARX_OPT_S ? 4u : (family == HARX_OPT_L16 ? 8u : 16u);
}

/* ------------------------------------------------------------------------------------------------------
 * Unpacking activation codes into the im2col: one byte per code, consecutive taps `step` bytes apart
 * (4 in the conv block [tap][pixel], 1 in the linear's column).
 * ------------------------------------------------------------------------------------------------------ */
HARX_OPT_INLINE void harx_opt_put4(uint8_t **d, uint32_t step, uint32_t y)
{
    uint8_t *p = *d;
    p[0] = (uint8_t)y;
    p[step] = (uint8_t)(y >> 8);
    p[2u * step] = (uint8_t)(y >> 16);
    p[3u * step] = (uint8_t)(y >> 24);
    *d = p + 4u * step;
}

HARX_OPT_INLINE void harx_opt_zero(uint8_t **d, uint32_t step, uint32_t n)
{
    uint8_t *p = *d;
    for (; n; n--, p += step)
        *p = 0;
    *d = p;
}

/* Sum of the bytes of x pairwise into 16-bit lanes. */
HARX_OPT_INLINE uint32_t harx_opt_byte_pairs(uint32_t x)
{
    return (x & 0x00FF00FFu) + ((x >> 8) & 0x00FF00FFu);
}

HARX_OPT_INLINE uint32_t harx_opt_fold16(uint32_t lanes)
{
    return (lanes & 0xFFFFu) + (lanes >> 16);
}

/*
 * Unpack a run of n codes (one pixel's channels, or adjacent pixels' when each is a whole number of 32-bit
 * words) from src to *d; returns the sum of the codes when want_sum (unsigned codes only).
 * Run order: 8-bit codes in channel order. Sub-byte codes in 4-byte chunks counted from the run start:
 * a chunk's 32 bits x become the words (x >> j*bits) & mask8 for j = 0 .. 8/bits - 1, i.e. chunk channels
 * 0,2,4,6,1,3,5,7 at 4 bits and 0,4,8,12,1,5,9,13,2,6,10,14,3,7,11,15 at 2 bits; the bytes after the last
 * whole chunk in channel order. opt_layout.run_order is the same permutation.
 */
HARX_OPT_INLINE uint32_t harx_opt_unpack_run(uint8_t **d, uint32_t step, const uint8_t *src, uint32_t n,
                                             int bits, int want_sum)
{
    const int aligned = ((uintptr_t)src & 3u) == 0;
    uint32_t sum = 0;
    if (bits == 8) {
        uint8_t *p = *d;
        if (aligned) {
            while (n >= 4u) {
                uint32_t lanes = 0, k;
                /* 16-bit lanes of two byte sums: 128 words of codes <= 255 stay below 2^16. */
                for (k = 0; k < 128u && n >= 4u; k++, n -= 4u, src += 4) {
                    const uint32_t x = HARX_CWORD(src);
                    harx_opt_put4(&p, step, x);
                    if (want_sum)
                        lanes += harx_opt_byte_pairs(x);
                }
                sum += harx_opt_fold16(lanes);
            }
        } else {
            for (; n >= 4u; n -= 4u, src += 4, p += 4u * step) {
                p[0] = src[0], p[step] = src[1], p[2u * step] = src[2], p[3u * step] = src[3];
                if (want_sum)
                    sum += (uint32_t)src[0] + src[1] + src[2] + src[3];
            }
        }
        for (; n; n--, p += step) {
            *p = *src++;
            sum += *p;
        }
        *d = p;
        return want_sum ? sum : 0;
    } else {
        const uint32_t mask = bits == 4 ? 0x0F0F0F0Fu : 0x03030303u;
        const uint32_t field = (1u << bits) - 1u, per = 8u / (uint32_t)bits;
        const uint32_t fold_every = bits == 4 ? 8u : 16u; /* byte lanes: 8 chunks x 30, 16 x 12 < 256 */
        uint32_t bytes = n * (uint32_t)bits / 8u, chunks = bytes / 4u, lanes = 0, k = 0, j;
        for (; chunks; chunks--, src += 4) {
            uint32_t y0, y1;
            if (!aligned) {
                /* The same codes and order from single bytes: word j of the chunk, byte l is field
                 * (8/bits)*l + j, i.e. bits j*bits of source byte l. (Assembling the word from bytes instead
                 * lets gcc merge both paths into one byte-wise load.) */
                uint32_t l, jj;
                for (jj = 0; jj < per; jj++)
                    for (l = 0; l < 4u; l++)
                        (*d)[(4u * jj + l) * step] = (uint8_t)((src[l] >> (jj * (uint32_t)bits)) & field);
                *d += 4u * per * step;
                if (want_sum)
                    for (l = 0; l < 4u; l++)
                        for (jj = 0; jj < per; jj++)
                            sum += (src[l] >> (jj * (uint32_t)bits)) & field;
                continue;
            }
            {
                const uint32_t x = HARX_CWORD(src);
                y0 = x & mask;
                y1 = (x >> bits) & mask;
                harx_opt_put4(d, step, y0);
                harx_opt_put4(d, step, y1);
                if (bits == 2) {
                    const uint32_t y2 = (x >> 4) & mask, y3 = (x >> 6) & mask;
                    harx_opt_put4(d, step, y2);
                    harx_opt_put4(d, step, y3);
                    y0 += y2;
                    y1 += y3;
                }
            }
            if (want_sum) {
                lanes += y0 + y1;
                if (++k == fold_every) {
                    sum += harx_opt_fold16(harx_opt_byte_pairs(lanes));
                    lanes = 0;
                    k = 0;
                }
            }
        }
        sum += harx_opt_fold16(harx_opt_byte_pairs(lanes));
        for (bytes &= 3u; bytes; bytes--) {
            const uint32_t b = *src++;
            for (j = 0; j < per; j++) {
                const uint32_t v = (b >> (j * (uint32_t)bits)) & field;
                **d = (uint8_t)v;
                *d += step;
                sum += v;
            }
        }
        return want_sum ? sum : 0;
    }
}

/* ------------------------------------------------------------------------------------------------------
 * Inner loops. Accumulator cPG: pixel P, weight word (or channel) G. ACTS declares the tap's codes a0..a3
 * (a0 only for the linear); MAC adds one weight word times them.
 * ------------------------------------------------------------------------------------------------------ */
#define HARX_OPT_DECL16(T)                                                                                      \
    T c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c20 = 0, c21 = 0, c22 = 0,     \
      c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0
#define HARX_OPT_ZERO16()                                                                                       \
    (c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = 0)
#define HARX_OPT_DECL4(T) T c00 = 0, c01 = 0, c02 = 0, c03 = 0
#define HARX_OPT_ZERO4() (c00 = c01 = c02 = c03 = 0)
#define HARX_OPT_ACTS4(c, u, T)                                                                                 \
    const T a0 = (c)[4 * (u)], a1 = (c)[4 * (u) + 1], a2 = (c)[4 * (u) + 2], a3 = (c)[4 * (u) + 3]
#define HARX_OPT_ACTS1(c, u, T) const T a0 = (c)[u]
#define HARX_OPT_MAC4(g, w, T)                                                                                  \
    do {                                                                                                        \
        const T w_ = (w);                                                                                       \
        c0##g += a0 * w_;                                                                                       \
        c1##g += a1 * w_;                                                                                       \
        c2##g += a2 * w_;                                                                                       \
        c3##g += a3 * w_;                                                                                       \
    } while (0)
#define HARX_OPT_MAC1(g, w, T) (c0##g += a0 * (T)(w))

/* Lane steps: the weight word of channels (g, g + 4) [L16] or (g, g+4, g+8, g+12) [L8]. */
#define HARX_OPT_L16W4_STEP(c, ACTS, MAC)                                                                       \
    do {                                                                                                        \
        const uint32_t x = HARX_CWORD(wp);                                                                      \
        ACTS(c, 0, uint32_t);                                                                                   \
        wp += 4;                                                                                                \
        MAC(0, x & 0x000F000Fu, uint32_t);                                                                      \
        MAC(1, (x >> 4) & 0x000F000Fu, uint32_t);                                                               \
        MAC(2, (x >> 8) & 0x000F000Fu, uint32_t);                                                               \
        MAC(3, (x >> 12) & 0x000F000Fu, uint32_t);                                                              \
    } while (0)
#define HARX_OPT_L16W8_STEP(c, ACTS, MAC)                                                                       \
    do {                                                                                                        \
        const uint32_t x = HARX_CWORD(wp), y = HARX_CWORD(wp + 4);                                             \
        ACTS(c, 0, uint32_t);                                                                                   \
        wp += 8;                                                                                                \
        MAC(0, x & 0x00FF00FFu, uint32_t);                                                                      \
        MAC(1, (x >> 8) & 0x00FF00FFu, uint32_t);                                                               \
        MAC(2, y & 0x00FF00FFu, uint32_t);                                                                      \
        MAC(3, (y >> 8) & 0x00FF00FFu, uint32_t);                                                               \
    } while (0)
/* 2-bit weights: a halfword per tap, channels 0-7 in order; h | h << 8 puts channel g + 4 at bit 16 + 2g
 * next to channel g at bit 2g (the bits between are masked off). */
#define HARX_OPT_L16W2_STEP(c, ACTS, MAC)                                                                       \
    do {                                                                                                        \
        const uint32_t h = *(const harx_half *)(const void *)wp, x = h | h << 8;                              \
        ACTS(c, 0, uint32_t);                                                                                   \
        wp += 2;                                                                                                \
        MAC(0, x & 0x00030003u, uint32_t);                                                                      \
        MAC(1, (x >> 2) & 0x00030003u, uint32_t);                                                               \
        MAC(2, (x >> 4) & 0x00030003u, uint32_t);                                                               \
        MAC(3, (x >> 6) & 0x00030003u, uint32_t);                                                               \
    } while (0)
#define HARX_OPT_L8W2_STEP(c, ACTS, MAC)                                                                        \
    do {                                                                                                        \
        const uint32_t x = HARX_CWORD(wp);                                                                      \
        ACTS(c, 0, uint32_t);                                                                                   \
        wp += 4;                                                                                                \
        MAC(0, x & 0x03030303u, uint32_t);                                                                      \
        MAC(1, (x >> 2) & 0x03030303u, uint32_t);                                                               \
        MAC(2, (x >> 4) & 0x03030303u, uint32_t);                                                               \
        MAC(3, (x >> 6) & 0x03030303u, uint32_t);                                                               \
    } while (0)
/* S steps: four channels' signed weights per tap; codes read as CT (int8_t: the window, else uint8_t). */
#define HARX_OPT_SEXT(x, sh, m, half) ((int32_t)((((x) >> (sh)) & (m)) ^ (half)) - (half))
#define HARX_OPT_SW8_STEP(c, ACTS, MAC, CT)                                                                     \
    do {                                                                                                        \
        const int8_t *ws_ = (const int8_t *)wp;                                                                 \
        ACTS((const CT *)(c), 0, int32_t);                                                                      \
        wp += 4;                                                                                                \
        MAC(0, ws_[0], int32_t);                                                                                \
        MAC(1, ws_[1], int32_t);                                                                                \
        MAC(2, ws_[2], int32_t);                                                                                \
        MAC(3, ws_[3], int32_t);                                                                                \
    } while (0)
#define HARX_OPT_SW4_STEP(c, ACTS, MAC, CT)                                                                     \
    do {                                                                                                        \
        const uint32_t x = *(const harx_half *)(const void *)wp;                                               \
        ACTS((const CT *)(c), 0, int32_t);                                                                      \
        wp += 2;                                                                                                \
        MAC(0, HARX_OPT_SEXT(x, 0, 15u, 8), int32_t);                                                           \
        MAC(1, HARX_OPT_SEXT(x, 4, 15u, 8), int32_t);                                                           \
        MAC(2, HARX_OPT_SEXT(x, 8, 15u, 8), int32_t);                                                           \
        MAC(3, HARX_OPT_SEXT(x, 12, 15u, 8), int32_t);                                                          \
    } while (0)
#define HARX_OPT_SW2_STEP(c, ACTS, MAC, CT)                                                                     \
    do {                                                                                                        \
        const uint32_t x = wp[0];                                                                               \
        ACTS((const CT *)(c), 0, int32_t);                                                                      \
        wp += 1;                                                                                                \
        MAC(0, HARX_OPT_SEXT(x, 0, 3u, 2), int32_t);                                                            \
        MAC(1, HARX_OPT_SEXT(x, 2, 3u, 2), int32_t);                                                            \
        MAC(2, HARX_OPT_SEXT(x, 4, 3u, 2), int32_t);                                                            \
        MAC(3, HARX_OPT_SEXT(x, 6, 3u, 2), int32_t);                                                            \
    } while (0)

/* n taps from c (npx bytes per tap); STEP does step_taps taps at c_, n is a multiple of step_taps. */
#define HARX_OPT_TAPS(c0_, n, npx, step_taps, STEP)                                                            \
    do {                                                                                                        \
        const uint8_t *c_ = (c0_), *e_ = c_ + (npx) * (n);                                                      \
        while (c_ != e_) {                                                                                      \
            STEP;                                                                                               \
            c_ += (npx) * (step_taps);                                                                          \
        }                                                                                                       \
    } while (0)
/* The same, two taps per iteration, then one if n is odd: one loop test and pointer step less per two taps.
 * The S loops have the registers for it (1 spill per 2 taps at most); the lane loops do not (gcc then
 * spills accumulators: measured 1.74 -> 1.96 instructions per MAC on the 4-bit layer). */
#define HARX_OPT_TAPS2(c0_, n, npx, STEP)                                                                       \
    do {                                                                                                        \
        const uint8_t *c_ = (c0_), *e_ = c_ + (npx) * ((n) & ~1u);                                             \
        while (c_ != e_) {                                                                                      \
            STEP;                                                                                               \
            c_ += (npx);                                                                                        \
            STEP;                                                                                               \
            c_ += (npx);                                                                                        \
        }                                                                                                       \
        if ((n)&1u) {                                                                                           \
            STEP;                                                                                               \
        }                                                                                                       \
    } while (0)

/* Drains. L16, 4 pixels: lane 0 of word g -> channel g, lane 1 -> g + 4; sums[p][8]. */
#define HARX_OPT_SET =
#define HARX_OPT_ADD +=
#define HARX_OPT_L16_DRAIN1(p, g, OP)                                                                           \
    (sums[8 * (p) + (g)] OP(c##p##g & 0xFFFFu), sums[8 * (p) + (g) + 4] OP(c##p##g >> 16))
#define HARX_OPT_L16_DRAINP(p, OP)                                                                              \
    (HARX_OPT_L16_DRAIN1(p, 0, OP), HARX_OPT_L16_DRAIN1(p, 1, OP), HARX_OPT_L16_DRAIN1(p, 2, OP),            \
     HARX_OPT_L16_DRAIN1(p, 3, OP))
#define HARX_OPT_L16_DRAIN4(OP)                                                                                 \
    (HARX_OPT_L16_DRAINP(0, OP), HARX_OPT_L16_DRAINP(1, OP), HARX_OPT_L16_DRAINP(2, OP),                     \
     HARX_OPT_L16_DRAINP(3, OP))
/* L8, 4 pixels, into 16-bit lanes: mid[p][g][0] lanes (ch g, g + 8), mid[p][g][1] lanes (ch g + 4, g + 12). */
#define HARX_OPT_L8_DRAIN1(p, g, OP)                                                                            \
    (mid[8 * (p) + 2 * (g)] OP(c##p##g & 0x00FF00FFu), mid[8 * (p) + 2 * (g) + 1] OP((c##p##g >> 8) & 0x00FF00FFu))
#define HARX_OPT_L8_DRAINP(p, OP)                                                                               \
    (HARX_OPT_L8_DRAIN1(p, 0, OP), HARX_OPT_L8_DRAIN1(p, 1, OP), HARX_OPT_L8_DRAIN1(p, 2, OP),               \
     HARX_OPT_L8_DRAIN1(p, 3, OP))
#define HARX_OPT_L8_DRAIN4(OP)                                                                                  \
    (HARX_OPT_L8_DRAINP(0, OP), HARX_OPT_L8_DRAINP(1, OP), HARX_OPT_L8_DRAINP(2, OP), HARX_OPT_L8_DRAINP(3, OP))

/* Conv block of a lane family: taps [0, taps) in chunks of `drain`, each chunk drained by DRAIN(first: =,
 * then +=). The weights of the block are [tap][B channels] in the family's word layout (opt_layout). */
#define HARX_OPT_LANE_BLOCK4(NAME, STEP, STEP_TAPS, OUT, DRAIN)                                                \
    HARX_OPT_HOT static void NAME(const uint8_t *col, const uint8_t *wp, uint32_t taps, uint32_t drain,       \
                                  uint32_t *OUT)                                                                \
    {                                                                                                           \
        HARX_OPT_DECL16(uint32_t);                                                                              \
        uint32_t t0, n = taps < drain ? taps : drain;                                                           \
        HARX_OPT_TAPS(col, n, 4u, STEP_TAPS, STEP(c_, HARX_OPT_ACTS4, HARX_OPT_MAC4));                         \
        DRAIN(HARX_OPT_SET);                                                                                    \
        for (t0 = n; t0 < taps; t0 += n) {                                                                      \
            n = taps - t0 < drain ? taps - t0 : drain;                                                          \
            HARX_OPT_ZERO16();                                                                                  \
            HARX_OPT_TAPS(col + 4u * t0, n, 4u, STEP_TAPS, STEP(c_, HARX_OPT_ACTS4, HARX_OPT_MAC4));           \
            DRAIN(HARX_OPT_ADD);                                                                                \
        }                                                                                                       \
    }
HARX_OPT_LANE_BLOCK4(harx_opt_l16w8_p4, HARX_OPT_L16W8_STEP, 1, sums, HARX_OPT_L16_DRAIN4)
HARX_OPT_LANE_BLOCK4(harx_opt_l16w4_p4, HARX_OPT_L16W4_STEP, 1, sums, HARX_OPT_L16_DRAIN4)
HARX_OPT_LANE_BLOCK4(harx_opt_l16w2_p4, HARX_OPT_L16W2_STEP, 1, sums, HARX_OPT_L16_DRAIN4)
HARX_OPT_LANE_BLOCK4(harx_opt_l8w2_p4, HARX_OPT_L8W2_STEP, 1, mid, HARX_OPT_L8_DRAIN4)

/* S block, 4 pixels x 4 channels: acc[p][4]. */
#define HARX_OPT_S_BLOCK4(NAME, STEP, CT)                                                                       \
    HARX_OPT_HOT static void NAME(const uint8_t *col, const uint8_t *wp, uint32_t taps, int32_t *acc)         \
    {                                                                                                           \
        HARX_OPT_DECL16(int32_t);                                                                               \
        HARX_OPT_TAPS2(col, taps, 4u, STEP(c_, HARX_OPT_ACTS4, HARX_OPT_MAC4, CT));                          \
        acc[0] = c00, acc[1] = c01, acc[2] = c02, acc[3] = c03, acc[4] = c10, acc[5] = c11, acc[6] = c12;       \
        acc[7] = c13, acc[8] = c20, acc[9] = c21, acc[10] = c22, acc[11] = c23, acc[12] = c30, acc[13] = c31;   \
        acc[14] = c32, acc[15] = c33;                                                                           \
    }
HARX_OPT_S_BLOCK4(harx_opt_sw8u_p4, HARX_OPT_SW8_STEP, uint8_t)
HARX_OPT_S_BLOCK4(harx_opt_sw8i_p4, HARX_OPT_SW8_STEP, int8_t)
HARX_OPT_S_BLOCK4(harx_opt_sw4u_p4, HARX_OPT_SW4_STEP, uint8_t)
HARX_OPT_S_BLOCK4(harx_opt_sw4i_p4, HARX_OPT_SW4_STEP, int8_t)
HARX_OPT_S_BLOCK4(harx_opt_sw2u_p4, HARX_OPT_SW2_STEP, uint8_t)
HARX_OPT_S_BLOCK4(harx_opt_sw2i_p4, HARX_OPT_SW2_STEP, int8_t)

/* One output channel (a remainder channel) for 4 pixels: its weights are one row [tap], reference packing. */
static void harx_opt_s1_p4(const uint8_t *col, const uint8_t *row, uint32_t taps, int w_bits, int in_signed,
                           int32_t *acc)
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint32_t t;
    for (t = 0; t < taps; t++, col += 4) {
        const int32_t w = harx_sext((uint32_t)harx_ucode(row, t, w_bits), w_bits);
        if (in_signed) {
            const int8_t *ci = (const int8_t *)col;
            s0 += ci[0] * w, s1 += ci[1] * w, s2 += ci[2] * w, s3 += ci[3] * w;
        } else {
            s0 += col[0] * w, s1 += col[1] * w, s2 += col[2] * w, s3 += col[3] * w;
        }
    }
    acc[0] = s0, acc[1] = s1, acc[2] = s2, acc[3] = s3;
}

/* ------------------------------------------------------------------------------------------------------
 * Requantization and output.
 * ------------------------------------------------------------------------------------------------------ */

/* harx_requant with the in-range case on one unsigned compare. */
HARX_OPT_INLINE uint32_t harx_opt_code(int32_t acc, int32_t kappa, int32_t lambda, int32_t shift, int32_t top)
{
    int32_t v = (kappa * acc + lambda) >> shift;
    if ((uint32_t)v > (uint32_t)top)
        v = v < 0 ? 0 : top;
    return (uint32_t)v;
}

/*
 * Requantize and write channels [co0, co0 + nco) of npx pixels: acc[p * stride + j] - corr[p] (corr NULL: 0)
 * is the accumulator of pixel p, channel co0 + j. co0 is a multiple of 4, so the codes start on a byte.
 * Channel by channel over the 4 pixels: kappa and lambda are loaded once per channel.
 */
HARX_OPT_INLINE void harx_opt_store(uint8_t *out, uint32_t out_px_bytes, uint32_t npx, uint32_t co0,
                                    uint32_t nco, const int32_t *acc, uint32_t stride, const int32_t *corr,
                                    const int32_t *kappa, const int32_t *lambda, int32_t shift, int out_bits)
{
    const int32_t top = ((int32_t)1 << out_bits) - 1;
    uint8_t *o0 = out + co0 * (uint32_t)out_bits / 8u;
    uint32_t p, j, sh = 0;
    kappa += co0;
    lambda += co0;
    if (npx == HARX_OPT_PX) {
        const int32_t r0 = corr ? corr[0] : 0, r1 = corr ? corr[1] : 0, r2 = corr ? corr[2] : 0;
        const int32_t r3 = corr ? corr[3] : 0;
        uint8_t *o1 = o0 + out_px_bytes, *o2 = o1 + out_px_bytes, *o3 = o2 + out_px_bytes;
        uint32_t b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        for (j = 0; j < nco; j++) {
            const int32_t k = kappa[j], l = lambda[j];
            b0 |= harx_opt_code(acc[j] - r0, k, l, shift, top) << sh;
            b1 |= harx_opt_code(acc[stride + j] - r1, k, l, shift, top) << sh;
            b2 |= harx_opt_code(acc[2u * stride + j] - r2, k, l, shift, top) << sh;
            b3 |= harx_opt_code(acc[3u * stride + j] - r3, k, l, shift, top) << sh;
            sh += (uint32_t)out_bits;
            if (sh == 8u) {
                *o0++ = (uint8_t)b0, *o1++ = (uint8_t)b1, *o2++ = (uint8_t)b2, *o3++ = (uint8_t)b3;
                b0 = b1 = b2 = b3 = 0;
                sh = 0;
            }
        }
        return;
    }
    for (p = 0; p < npx; p++, o0 += out_px_bytes, acc += stride) {
        const int32_t r = corr ? corr[p] : 0;
        uint8_t *o = o0;
        uint32_t b = 0;
        for (j = 0, sh = 0; j < nco; j++) {
            b |= harx_opt_code(acc[j] - r, kappa[j], lambda[j], shift, top) << sh;
            sh += (uint32_t)out_bits;
            if (sh == 8u) {
                *o++ = (uint8_t)b;
                b = 0;
                sh = 0;
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------------------
 * The conv.
 * ------------------------------------------------------------------------------------------------------ */
typedef struct {
    const uint8_t *in;
    uint8_t *col;
    int32_t in_x, in_y, ch_in, out_x, k_x, k_y, pad_top, pad_left, stride_x, stride_y, dil_x, dil_y;
    uint32_t taps, in_px_bytes, n_out;
} harx_opt_geom;

/*
 * Build the im2col of output pixels n0 .. n0 + 3 (zeros for padding and for pixels past the end) and, when
 * want_sum, the sum of each pixel's codes. Taps run (k_y, k_x, channel in run order); the in-range taps of a
 * row are one run when dil_x = 1 and each input pixel is a whole number of words (or 8-bit codes).
 */
HARX_OPT_INLINE void harx_opt_build(const harx_opt_geom *g, uint32_t n0, int32_t *sums, int in_bits,
                                    int want_sum)
{
    const uint32_t cin = (uint32_t)g->ch_in;
    const int merge = g->dil_x == 1 && (in_bits == 8 || (g->in_px_bytes & 3u) == 0);
    uint32_t p;
    for (p = 0; p < HARX_OPT_PX; p++) {
        uint8_t *d = g->col + p;
        const uint32_t n = n0 + p;
        uint32_t sum = 0;
        int32_t oy, ox, ky, kx;
        if (n >= g->n_out) {
            harx_opt_zero(&d, 4u, g->taps);
            sums[p] = 0;
            continue;
        }
        oy = (int32_t)(n / (uint32_t)g->out_x);
        ox = (int32_t)n - oy * g->out_x;
        for (ky = 0; ky < g->k_y; ky++) {
            const int32_t iy = oy * g->stride_y - g->pad_top + ky * g->dil_y;
            const int32_t ix0 = ox * g->stride_x - g->pad_left;
            if (iy < 0 || iy >= g->in_y) {
                harx_opt_zero(&d, 4u, (uint32_t)g->k_x * cin);
            } else if (merge) {
                /* kx is in range iff 0 <= ix0 + kx < in_x */
                int32_t lo = ix0 < 0 ? -ix0 : 0, hi = g->in_x - ix0;
                lo = lo > g->k_x ? g->k_x : lo;
                hi = hi > g->k_x ? g->k_x : (hi < lo ? lo : hi);
                harx_opt_zero(&d, 4u, (uint32_t)lo * cin);
                if (hi > lo)
                    sum += harx_opt_unpack_run(&d, 4u, g->in + (uint32_t)(iy * g->in_x + ix0 + lo) * g->in_px_bytes,
                                               (uint32_t)(hi - lo) * cin, in_bits, want_sum);
                harx_opt_zero(&d, 4u, (uint32_t)(g->k_x - hi) * cin);
            } else {
                for (kx = 0; kx < g->k_x; kx++) {
                    const int32_t ix = ix0 + kx * g->dil_x;
                    if (ix < 0 || ix >= g->in_x)
                        harx_opt_zero(&d, 4u, cin);
                    else
                        sum += harx_opt_unpack_run(&d, 4u, g->in + (uint32_t)(iy * g->in_x + ix) * g->in_px_bytes,
                                                   cin, in_bits, want_sum);
                }
            }
        }
        sums[p] = (int32_t)sum;
    }
}

/* The int32 lane sums of an L8 block from its 16-bit-lane sums mid[4][4][2]: vals[p][16]. */
static void harx_opt_l8_values(const uint32_t *mid, int32_t *vals)
{
    uint32_t p, g;
    for (p = 0; p < HARX_OPT_PX; p++) {
        for (g = 0; g < 4u; g++) {
            const uint32_t e = mid[8u * p + 2u * g], o = mid[8u * p + 2u * g + 1u];
            int32_t *v = vals + 16u * p + g;
            v[0] = (int32_t)(e & 0xFFFFu);
            v[4] = (int32_t)(o & 0xFFFFu);
            v[8] = (int32_t)(e >> 16);
            v[12] = (int32_t)(o >> 16);
        }
    }
}

/* S block of 4 channels by weight bits and input signedness. */
HARX_OPT_INLINE void harx_opt_s4(const uint8_t *col, const uint8_t *w, uint32_t taps, int32_t *acc, int w_bits,
                                 int in_signed)
{
    if (w_bits == 8)
        (in_signed ? harx_opt_sw8i_p4 : harx_opt_sw8u_p4)(col, w, taps, acc);
    else if (w_bits == 4)
        (in_signed ? harx_opt_sw4i_p4 : harx_opt_sw4u_p4)(col, w, taps, acc);
    else
        (in_signed ? harx_opt_sw2i_p4 : harx_opt_sw2u_p4)(col, w, taps, acc);
}

/*
 * Convolution: harx_conv's arguments and result; weight is the opt_layout.conv_weights layout, im2col holds
 * HARX_OPT_IM2COL_BYTES(ch_in, k_x, k_y) bytes.
 */
HARX_OPT_INLINE void harx_opt_conv(const uint8_t *in, uint8_t *im2col, uint8_t *out, const uint8_t *weight,
                                 const int32_t *kappa, const int32_t *lambda, int32_t shift, int32_t in_x,
                                 int32_t in_y, int32_t ch_in, int32_t out_x, int32_t out_y, int32_t ch_out,
                                 int32_t k_x, int32_t k_y, int32_t pad_top, int32_t pad_left, int32_t stride_x,
                                 int32_t stride_y, int32_t dil_x, int32_t dil_y, int in_bits, int in_signed,
                                 int out_bits, int w_bits)
{
    harx_opt_geom g;
    const uint32_t taps = (uint32_t)(ch_in * k_x * k_y);
    const int family = harx_opt_family(in_bits, in_signed, w_bits, taps);
    const uint32_t block = harx_opt_block_channels(family), drain = harx_opt_drain_taps(family, in_bits, w_bits);
    const uint32_t n_blocks = (uint32_t)ch_out / block, rest = (uint32_t)ch_out - n_blocks * block;
    const uint32_t n_s4 = rest / 4u, n_s1 = rest % 4u;
    const uint32_t block_bytes = block * taps * (uint32_t)w_bits / 8u, row_bytes = taps * (uint32_t)w_bits / 8u;
    const uint32_t out_px_bytes = (uint32_t)ch_out * (uint32_t)out_bits / 8u;
    const int32_t half = family == HARX_OPT_S ? 0 : (int32_t)1 << (w_bits - 1);
    uint32_t n0, b, j;
    g.in = in;
    g.col = im2col;
    g.in_x = in_x, g.in_y = in_y, g.ch_in = ch_in, g.out_x = out_x, g.k_x = k_x, g.k_y = k_y;
    g.pad_top = pad_top, g.pad_left = pad_left, g.stride_x = stride_x, g.stride_y = stride_y;
    g.dil_x = dil_x, g.dil_y = dil_y;
    g.taps = taps;
    g.in_px_bytes = (uint32_t)ch_in * (uint32_t)in_bits / 8u;
    g.n_out = (uint32_t)(out_x * out_y);
    for (n0 = 0; n0 < g.n_out; n0 += HARX_OPT_PX) {
        int32_t corr[HARX_OPT_PX], vals[HARX_OPT_PX * 16u];
        uint32_t sums[HARX_OPT_PX * 8u];
        const uint32_t npx = g.n_out - n0 < HARX_OPT_PX ? g.n_out - n0 : HARX_OPT_PX;
        const uint8_t *w = weight;
        uint8_t *o = out + n0 * out_px_bytes;
        harx_opt_build(&g, n0, corr, in_bits, family != HARX_OPT_S);
        for (j = 0; j < HARX_OPT_PX; j++)
            corr[j] *= half;
        for (b = 0; b < n_blocks; b++, w += block_bytes) {
            if (family == HARX_OPT_L16) {
                if (w_bits == 8)
                    harx_opt_l16w8_p4(im2col, w, taps, drain, sums);
                else if (w_bits == 4)
                    harx_opt_l16w4_p4(im2col, w, taps, drain, sums);
                else
                    harx_opt_l16w2_p4(im2col, w, taps, drain, sums);
                harx_opt_store(o, out_px_bytes, npx, b * 8u, 8u, (const int32_t *)(const void *)sums, 8u, corr,
                               kappa, lambda, shift, out_bits);
            } else if (family == HARX_OPT_L8) {
                harx_opt_l8w2_p4(im2col, w, taps, drain, sums);
                harx_opt_l8_values(sums, vals);
                harx_opt_store(o, out_px_bytes, npx, b * 16u, 16u, vals, 16u, corr, kappa, lambda, shift,
                               out_bits);
            } else {
                harx_opt_s4(im2col, w, taps, vals, w_bits, in_signed);
                harx_opt_store(o, out_px_bytes, npx, b * 4u, 4u, vals, 4u, NULL, kappa, lambda, shift,
                               out_bits);
            }
        }
        for (b = 0; b < n_s4; b++, w += 4u * row_bytes) {
            harx_opt_s4(im2col, w, taps, vals, w_bits, in_signed);
            harx_opt_store(o, out_px_bytes, npx, n_blocks * block + 4u * b, 4u, vals, 4u, NULL, kappa, lambda,
                           shift, out_bits);
        }
        if (n_s1) {
            for (j = 0; j < n_s1; j++, w += row_bytes) {
                int32_t one[HARX_OPT_PX];
                uint32_t p;
                harx_opt_s1_p4(im2col, w, taps, w_bits, in_signed, one);
                for (p = 0; p < HARX_OPT_PX; p++)
                    vals[4u * p + j] = one[p];
            }
            harx_opt_store(o, out_px_bytes, npx, (uint32_t)ch_out - n_s1, n_s1, vals, 4u, NULL, kappa, lambda,
                           shift, out_bits);
        }
    }
}

/* ------------------------------------------------------------------------------------------------------
 * Linear layer: one "pixel" (the input vector), unpacked HARX_OPT_LINEAR_CHUNK codes at a time into a stack
 * buffer; the conv's families with 4 weight words per tap in registers.
 * ------------------------------------------------------------------------------------------------------ */

/* Lane block of the linear over taps [0, taps): adds channel j's lane sum to sums[j] (B channels). */
#define HARX_OPT_L16_BLOCK1(NAME, STEP, STEP_TAPS)                                                             \
    HARX_OPT_HOT static void NAME(const uint8_t *col, const uint8_t *wp, uint32_t taps, uint32_t drain,       \
                                  uint32_t *sums)                                                               \
    {                                                                                                           \
        uint32_t t0, n;                                                                                         \
        HARX_OPT_DECL4(uint32_t);                                                                               \
        for (t0 = 0; t0 < taps; t0 += n) {                                                                      \
            n = taps - t0 < drain ? taps - t0 : drain;                                                          \
            HARX_OPT_ZERO4();                                                                                   \
            HARX_OPT_TAPS(col + t0, n, 1u, STEP_TAPS, STEP(c_, HARX_OPT_ACTS1, HARX_OPT_MAC1));                \
            sums[0] += c00 & 0xFFFFu, sums[4] += c00 >> 16, sums[1] += c01 & 0xFFFFu, sums[5] += c01 >> 16;     \
            sums[2] += c02 & 0xFFFFu, sums[6] += c02 >> 16, sums[3] += c03 & 0xFFFFu, sums[7] += c03 >> 16;     \
        }                                                                                                       \
    }
HARX_OPT_L16_BLOCK1(harx_opt_l16w8_p1, HARX_OPT_L16W8_STEP, 1)
HARX_OPT_L16_BLOCK1(harx_opt_l16w4_p1, HARX_OPT_L16W4_STEP, 1)
HARX_OPT_L16_BLOCK1(harx_opt_l16w2_p1, HARX_OPT_L16W2_STEP, 1)

/* L8 block of the linear: 16 channels; the 16-bit middle level holds taps <= HARX_OPT_LINEAR_CHUNK
 * (256 * 9 < 2^16) and is added to sums[16] per call. */
HARX_OPT_HOT static void harx_opt_l8w2_p1(const uint8_t *col, const uint8_t *wp, uint32_t taps, uint32_t drain,
                                           uint32_t *sums)
{
    uint32_t t0, n, g, mid[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    HARX_OPT_DECL4(uint32_t);
    for (t0 = 0; t0 < taps; t0 += n) {
        n = taps - t0 < drain ? taps - t0 : drain;
        HARX_OPT_ZERO4();
        HARX_OPT_TAPS(col + t0, n, 1u, 1, HARX_OPT_L8W2_STEP(c_, HARX_OPT_ACTS1, HARX_OPT_MAC1));
        mid[0] += c00 & 0x00FF00FFu, mid[1] += (c00 >> 8) & 0x00FF00FFu;
        mid[2] += c01 & 0x00FF00FFu, mid[3] += (c01 >> 8) & 0x00FF00FFu;
        mid[4] += c02 & 0x00FF00FFu, mid[5] += (c02 >> 8) & 0x00FF00FFu;
        mid[6] += c03 & 0x00FF00FFu, mid[7] += (c03 >> 8) & 0x00FF00FFu;
    }
    for (g = 0; g < 4u; g++) {
        sums[g] += mid[2u * g] & 0xFFFFu;
        sums[g + 4u] += mid[2u * g + 1u] & 0xFFFFu;
        sums[g + 8u] += mid[2u * g] >> 16;
        sums[g + 12u] += mid[2u * g + 1u] >> 16;
    }
}

/* S block of the linear: 4 channels, signed weights [tap][4]; adds to sums[0..3]. */
#define HARX_OPT_S_BLOCK1(NAME, STEP)                                                                           \
    HARX_OPT_HOT static void NAME(const uint8_t *col, const uint8_t *wp, uint32_t taps, int32_t *sums)        \
    {                                                                                                           \
        HARX_OPT_DECL4(int32_t);                                                                                \
        HARX_OPT_TAPS2(col, taps, 1u, STEP(c_, HARX_OPT_ACTS1, HARX_OPT_MAC1, uint8_t));                     \
        sums[0] += c00, sums[1] += c01, sums[2] += c02, sums[3] += c03;                                         \
    }
HARX_OPT_S_BLOCK1(harx_opt_sw8_p1, HARX_OPT_SW8_STEP)
HARX_OPT_S_BLOCK1(harx_opt_sw4_p1, HARX_OPT_SW4_STEP)
HARX_OPT_S_BLOCK1(harx_opt_sw2_p1, HARX_OPT_SW2_STEP)

HARX_OPT_INLINE void harx_opt_s4_p1(const uint8_t *col, const uint8_t *w, uint32_t taps, int32_t *sums,
                                    int w_bits)
{
    if (w_bits == 8)
        harx_opt_sw8_p1(col, w, taps, sums);
    else if (w_bits == 4)
        harx_opt_sw4_p1(col, w, taps, sums);
    else
        harx_opt_sw2_p1(col, w, taps, sums);
}

/*
 * Fully connected layer to int32 outputs: harx_linear_i32's arguments and result (unsigned input); weight is
 * the opt_layout.linear_weights layout. Uses HARX_OPT_LINEAR_CHUNK bytes of stack for the unpacked input.
 */
HARX_OPT_INLINE void harx_opt_linear_i32(const uint8_t *in, const int32_t *bias, int32_t *out, const uint8_t *weight,
                                       uint32_t dim_vec, uint32_t n_out, int in_bits, int w_bits)
{
    const int family = harx_opt_family(in_bits, 0, w_bits, dim_vec);
    const uint32_t block = harx_opt_block_channels(family), drain = harx_opt_drain_taps(family, in_bits, w_bits);
    const uint32_t n_blocks = n_out / block, rest = n_out - n_blocks * block, n_s4 = rest / 4u;
    const uint32_t row_bytes = dim_vec * (uint32_t)w_bits / 8u;
    const int32_t half = family == HARX_OPT_S ? 0 : (int32_t)1 << (w_bits - 1);
    uint32_t colw[HARX_OPT_LINEAR_CHUNK / 4u];
    uint8_t *col = (uint8_t *)colw;
    uint32_t o, t0, b;
    for (o = 0; o < n_out; o++)
        out[o] = bias[o];
    for (t0 = 0; t0 < dim_vec; t0 += HARX_OPT_LINEAR_CHUNK) {
        const uint32_t n = dim_vec - t0 < HARX_OPT_LINEAR_CHUNK ? dim_vec - t0 : HARX_OPT_LINEAR_CHUNK;
        const uint32_t tap_bytes = t0 * (uint32_t)w_bits / 8u; /* bytes of one row before this chunk */
        uint8_t *d = col;
        const int32_t corr = half * (int32_t)harx_opt_unpack_run(&d, 1u, in + t0 * (uint32_t)in_bits / 8u, n,
                                                                  in_bits, family != HARX_OPT_S);
        const uint8_t *w = weight;
        for (b = 0; b < n_blocks; b++, w += block * row_bytes) {
            uint32_t sums[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, j;
            const uint8_t *wb = w + block * tap_bytes;
            if (family == HARX_OPT_S) /* only 8-bit codes with 8-bit weights: the input is unsigned */
                harx_opt_sw8_p1(col, wb, n, (int32_t *)(void *)sums);
            else if (family == HARX_OPT_L8)
                harx_opt_l8w2_p1(col, wb, n, drain, sums);
            else if (w_bits == 8)
                harx_opt_l16w8_p1(col, wb, n, drain, sums);
            else if (w_bits == 4)
                harx_opt_l16w4_p1(col, wb, n, drain, sums);
            else
                harx_opt_l16w2_p1(col, wb, n, drain, sums);
            for (j = 0; j < block; j++)
                out[b * block + j] += (int32_t)sums[j] - corr;
        }
        for (b = 0; b < n_s4; b++, w += 4u * row_bytes)
            harx_opt_s4_p1(col, w + 4u * tap_bytes, n, out + n_blocks * block + 4u * b, w_bits);
        for (o = n_blocks * block + 4u * n_s4; o < n_out; o++, w += row_bytes) {
            const uint8_t *row = w + tap_bytes;
            int32_t acc = 0;
            uint32_t t;
            for (t = 0; t < n; t++)
                acc += (int32_t)col[t] * harx_sext((uint32_t)harx_ucode(row, t, w_bits), w_bits);
            out[o] += acc;
        }
    }
}

/* ------------------------------------------------------------------------------------------------------
 * Pooling.
 * ------------------------------------------------------------------------------------------------------ */

/* Per-field maximum of two words of unsigned `bits`-bit fields: even and odd fields apart, each with the
 * field above it free, so (x | 2^bits) - y per field never borrows across fields and its bit `bits` says
 * x >= y. */
HARX_OPT_INLINE uint32_t harx_opt_max_fields(uint32_t x, uint32_t y, int bits)
{
    const uint32_t even = bits == 8 ? 0x00FF00FFu : (bits == 4 ? 0x0F0F0F0Fu : 0x33333333u);
    const uint32_t low = bits == 8 ? 0x00010001u : (bits == 4 ? 0x01010101u : 0x11111111u);
    const uint32_t xe = x & even, ye = y & even, xo = (x >> bits) & even, yo = (y >> bits) & even;
    const uint32_t ge = (((xe | (low << bits)) - ye) >> bits) & low;
    const uint32_t go = (((xo | (low << bits)) - yo) >> bits) & low;
    const uint32_t me = (ge << bits) - ge, mo = (go << bits) - go;
    return (ye ^ ((xe ^ ye) & me)) | (yo ^ ((xo ^ yo) & mo)) << bits;
}

/* Max pool: harx_maxpool's arguments and result; per-field SWAR maximum over whole words of a pixel's codes
 * (single bytes when the rows are not whole aligned words). */
HARX_OPT_INLINE void harx_opt_maxpool(const uint8_t *in, uint8_t *out, int32_t in_x, int32_t in_y, int32_t ch,
                                    int32_t out_x, int32_t out_y, int32_t k_x, int32_t k_y, int32_t pad_top,
                                    int32_t pad_left, int32_t stride_x, int32_t stride_y, int bits)
{
    const uint32_t px_bytes = (uint32_t)ch * (uint32_t)bits / 8u;
    const int words = (px_bytes & 3u) == 0 && (((uintptr_t)in | (uintptr_t)out) & 3u) == 0;
    const uint32_t step = words ? 4u : 1u;
    int32_t oy, ox, ky, kx;
    uint32_t i;
    for (oy = 0; oy < out_y; oy++) {
        for (ox = 0; ox < out_x; ox++) {
            uint8_t *o = out + (uint32_t)(oy * out_x + ox) * px_bytes;
            for (i = 0; i < px_bytes; i += step) {
                uint32_t m = 0;
                for (ky = 0; ky < k_y; ky++) {
                    const int32_t iy = oy * stride_y - pad_top + ky;
                    if (iy < 0 || iy >= in_y)
                        continue;
                    for (kx = 0; kx < k_x; kx++) {
                        const int32_t ix = ox * stride_x - pad_left + kx;
                        const uint8_t *p;
                        if (ix < 0 || ix >= in_x)
                            continue;
                        p = in + (uint32_t)(iy * in_x + ix) * px_bytes + i;
                        m = harx_opt_max_fields(m, words ? HARX_CWORD(p) : *p, bits);
                    }
                }
                if (words)
                    *(harx_word *)(void *)(o + i) = m;
                else
                    o[i] = (uint8_t)m;
            }
        }
    }
}

/*
 * Average pool: harx_avgpool's arguments and result. The global pool harx emits (one output pixel, the
 * kernel the whole input, no padding, whole aligned words per pixel) sums a word of channels at a time in
 * 16-bit lanes; any other geometry runs the reference.
 */
HARX_OPT_INLINE void harx_opt_avgpool(const uint8_t *in, uint8_t *out, int32_t lambda, int32_t out_shift,
                                    int32_t out_add, int32_t in_x, int32_t in_y, int32_t ch, int32_t out_x,
                                    int32_t out_y, int32_t k_x, int32_t k_y, int32_t pad_top, int32_t pad_left,
                                    int32_t stride_x, int32_t stride_y, int bits)
{
    const uint32_t px_bytes = (uint32_t)ch * (uint32_t)bits / 8u, n_px = (uint32_t)(in_x * in_y);
    const uint32_t fields = 16u / (uint32_t)bits; /* lane words per input word: channel j low, j + fields high */
    const uint32_t mask = ((1u << bits) - 1u) * 0x00010001u;
    const uint32_t cap = 0xFFFFu / ((1u << bits) - 1u); /* pixels a 16-bit lane holds */
    const int32_t top = ((int32_t)1 << bits) - 1;
    int32_t multiplier;
    uint32_t col, j;
    if (out_x != 1 || out_y != 1 || k_x != in_x || k_y != in_y || pad_top != 0 || pad_left != 0 ||
        (px_bytes & 3u) != 0 || ((uintptr_t)in & 3u) != 0) {
        harx_avgpool(in, out, lambda, out_shift, out_add, in_x, in_y, ch, out_x, out_y, k_x, k_y, pad_top, pad_left,
                     stride_x, stride_y, bits);
        return;
    }
    multiplier = lambda / (k_x * k_y);
    for (col = 0; col < px_bytes; col += 4u) {
        int32_t sum[16];
        uint32_t lanes[8], p0, p, code = 0;
        for (j = 0; j < 2u * fields; j++)
            sum[j] = 0;
        for (p0 = 0; p0 < n_px; p0 += cap) {
            const uint32_t p1 = n_px - p0 < cap ? n_px : p0 + cap;
            const uint8_t *src = in + p0 * px_bytes + col;
            if (bits == 8) {
                uint32_t l0 = 0, l1 = 0;
                for (p = p0; p < p1; p++, src += px_bytes) {
                    const uint32_t x = HARX_CWORD(src);
                    l0 += x & 0x00FF00FFu;
                    l1 += (x >> 8) & 0x00FF00FFu;
                }
                lanes[0] = l0, lanes[1] = l1;
            } else if (bits == 4) {
                uint32_t l0 = 0, l1 = 0, l2 = 0, l3 = 0;
                for (p = p0; p < p1; p++, src += px_bytes) {
                    const uint32_t x = HARX_CWORD(src);
                    l0 += x & mask, l1 += (x >> 4) & mask, l2 += (x >> 8) & mask, l3 += (x >> 12) & mask;
                }
                lanes[0] = l0, lanes[1] = l1, lanes[2] = l2, lanes[3] = l3;
            } else {
                uint32_t l0 = 0, l1 = 0, l2 = 0, l3 = 0, l4 = 0, l5 = 0, l6 = 0, l7 = 0;
                for (p = p0; p < p1; p++, src += px_bytes) {
                    const uint32_t x = HARX_CWORD(src);
                    l0 += x & mask, l1 += (x >> 2) & mask, l2 += (x >> 4) & mask, l3 += (x >> 6) & mask;
                    l4 += (x >> 8) & mask, l5 += (x >> 10) & mask, l6 += (x >> 12) & mask, l7 += (x >> 14) & mask;
                }
                lanes[0] = l0, lanes[1] = l1, lanes[2] = l2, lanes[3] = l3;
                lanes[4] = l4, lanes[5] = l5, lanes[6] = l6, lanes[7] = l7;
            }
            for (j = 0; j < fields; j++) {
                sum[j] += (int32_t)(lanes[j] & 0xFFFFu);
                sum[j + fields] += (int32_t)(lanes[j] >> 16);
            }
        }
        for (j = 0; j < 2u * fields; j++) {
            /* harx_avgpool's formula: clip((sum * multiplier + out_add) >> out_shift, 0, top) */
            const int32_t v = (sum[j] * multiplier + out_add) >> out_shift;
            code |= (uint32_t)(v < 0 ? 0 : (v > top ? top : v)) << (j * (uint32_t)bits);
        }
        out[col] = (uint8_t)code;
        out[col + 1u] = (uint8_t)(code >> 8);
        out[col + 2u] = (uint8_t)(code >> 16);
        out[col + 3u] = (uint8_t)(code >> 24);
    }
}

#endif /* HARX_OPT_H */
