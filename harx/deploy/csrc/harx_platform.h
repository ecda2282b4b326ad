/*
 * harx_platform.h: what differs between the builds of a generated project (host, rv32, gap8).
 *
 *  HARX_ALIGNED          4-byte alignment of every array (the memory plan rounds each array up to 4 bytes)
 *  HARX_L1               placement of the RAM buffers: the cluster's L1 on GAP8, ordinary .bss elsewhere
 *  HARX_KERNEL(call)     a PULP-NN-mixed kernel: on the GAP8 cluster with the real library every core runs it
 *                        (the library splits the work); otherwise harx's single-core reference runs it
 *  HARX_REF_KERNEL(call) a kernel that only harx provides (see harx_kernels.h): single core everywhere
 *  harx_stage()          copy a layer's read-only arrays into the staging buffer (a cluster DMA on GAP8)
 *  harx_run_layers()     run the layer sequence: on GAP8 as a cluster task forked on every core
 *  harx_write()          write bytes to the console (the test harness only)
 */
#ifndef HARX_PLATFORM_H
#define HARX_PLATFORM_H

#include <stdint.h>

#if defined(__GNUC__)
#define HARX_ALIGNED __attribute__((aligned(4)))
#else
#error "harx needs a compiler that honours __attribute__((aligned)) (gcc or clang)"
#endif

#if defined(HARX_GAP8)
#include "pmsis.h"
#define HARX_L1 PI_L1
/* On the cluster, single-core work runs on core 0 and everyone meets at a barrier afterwards. */
#define HARX_ON_CORE0(call)                                                                                  \
    do {                                                                                                     \
        if (pi_core_id() == 0)                                                                               \
            call;                                                                                            \
        pi_cl_team_barrier();                                                                                \
    } while (0)
#if defined(PULP_NN_MIXED)
#define HARX_KERNEL(call)                                                                                    \
    do {                                                                                                     \
        call;                                                                                                \
        pi_cl_team_barrier();                                                                                \
    } while (0)
#else
#define HARX_KERNEL(call) HARX_ON_CORE0(call)
#endif
#define HARX_REF_KERNEL(call) HARX_ON_CORE0(call)
void harx_stage(uint8_t *dst, const void *src, uint32_t n_bytes);
void harx_run_layers(void (*layers)(void *), void *arg);
#else
#define HARX_L1
#define HARX_KERNEL(call) call
#define HARX_REF_KERNEL(call) call
static inline void harx_stage(uint8_t *dst, const void *src, uint32_t n_bytes)
{
    const uint8_t *s = (const uint8_t *)src;
    while (n_bytes--)
        *dst++ = *s++;
}
static inline void harx_run_layers(void (*layers)(void *), void *arg)
{
    layers(arg);
}
#endif

void harx_write(const char *buf, uint32_t n_bytes);

#endif /* HARX_PLATFORM_H */
