/*
 * platform_rv32.c: a bare rv32imc program for qemu-riscv32 (Linux user mode): no libc, a C _start, and the
 * Linux write (64) and exit (93) system calls through ecall. Link with -Wl,--no-relax: _start does not set
 * gp, so no access may be relaxed to gp-relative.
 */
#include "harx_platform.h"

int harx_test_main(void);
void _start(void);

static long harx_ecall(long number, long arg0, long arg1, long arg2)
{
    register long a0 __asm__("a0") = arg0;
    register long a1 __asm__("a1") = arg1;
    register long a2 __asm__("a2") = arg2;
    register long a7 __asm__("a7") = number;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
    return a0;
}

void harx_write(const char *buf, uint32_t n_bytes)
{
    harx_ecall(64, 1, (long)buf, (long)n_bytes);
}

void _start(void)
{
    harx_ecall(93, harx_test_main(), 0, 0);
    for (;;) {
    }
}
