/*
 * opt_vs_ref.c: runs every case of the generated opt_cases.h through harx's reference kernel (harx_ref.h) and
 * the optimized one (harx_opt.h) and compares their outputs byte for byte. Each case's arrays are globals of
 * exactly the size the kernel may touch, so AddressSanitizer sees any access outside them. Prints per case
 * "case <i> ok <FNV-1a of the output>" or "case <i> MISMATCH at byte <j> ...", then "mismatches <n>";
 * exits 1 on any mismatch. Builds for the host (platform_host.c) and bare rv32 (platform_rv32.c).
 */
#include <stdint.h>

#include "harx_io.h"
#include "harx_opt.h"
#include "harx_platform.h"
#include "harx_ref.h"

enum { OPT_CONV, OPT_LINEAR, OPT_MAXPOOL, OPT_AVGPOOL };

struct opt_case {
    int kind;
    int32_t d[20]; /* the kernel's integer arguments, in the order of the calls below */
    const uint8_t *in;
    const uint8_t *w_ref, *w_opt;
    const int32_t *kappa, *lambda; /* conv requantization; linear: kappa is the bias */
    uint8_t *col_ref, *col_opt;
    uint8_t *out_ref, *out_opt;
    uint32_t out_bytes;
};

#include "opt_cases.h"

static void run_case(const struct opt_case *c, int opt)
{
    const int32_t *d = c->d;
    uint8_t *out = opt ? c->out_opt : c->out_ref;
    if (c->kind == OPT_CONV) {
        if (opt)
            harx_opt_conv(c->in, c->col_opt, out, c->w_opt, c->kappa, c->lambda, d[18], d[0], d[1], d[2], d[3],
                          d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15], d[16],
                          d[17]);
        else
            harx_conv(c->in, c->col_ref, out, c->w_ref, c->kappa, c->lambda, d[18], d[0], d[1], d[2], d[3], d[4],
                      d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15], d[16], d[17]);
    } else if (c->kind == OPT_LINEAR) {
        int32_t *o = (int32_t *)(void *)out;
        if (opt)
            harx_opt_linear_i32(c->in, c->kappa, o, c->w_opt, (uint32_t)d[0], (uint32_t)d[1], d[2], d[3]);
        else
            harx_linear_i32(c->in, c->kappa, o, c->w_ref, (uint32_t)d[0], (uint32_t)d[1], d[2], d[3]);
    } else if (c->kind == OPT_MAXPOOL) {
        (opt ? harx_opt_maxpool : harx_maxpool)(c->in, out, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8],
                                                d[9], d[10], d[11]);
    } else {
        (opt ? harx_opt_avgpool : harx_avgpool)(c->in, out, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8],
                                                d[9], d[10], d[11], d[12], d[13], d[14]);
    }
}

int harx_test_main(void)
{
    uint32_t i, j, mismatches = 0;
    for (i = 0; i < OPT_N_CASES; i++) {
        const struct opt_case *c = &opt_cases[i];
        uint32_t h = 2166136261u;
        /* Different fillings: a byte either kernel leaves unwritten shows up as a difference. */
        for (j = 0; j < c->out_bytes; j++) {
            c->out_ref[j] = 0x5Au;
            c->out_opt[j] = 0xA5u;
        }
        run_case(c, 0);
        run_case(c, 1);
        harx_puts("case ");
        harx_put_uint(i);
        for (j = 0; j < c->out_bytes && c->out_ref[j] == c->out_opt[j]; j++)
            h = (h ^ c->out_ref[j]) * 16777619u;
        if (j < c->out_bytes) {
            mismatches++;
            harx_puts(" MISMATCH at byte ");
            harx_put_uint(j);
            harx_puts(" ref ");
            harx_put_uint(c->out_ref[j]);
            harx_puts(" opt ");
            harx_put_uint(c->out_opt[j]);
            harx_puts("\n");
        } else {
            harx_puts(" ok ");
            harx_put_uint(h);
            harx_puts("\n");
        }
    }
    harx_puts("mismatches ");
    harx_put_uint(mismatches);
    harx_puts("\n");
    return mismatches != 0;
}
