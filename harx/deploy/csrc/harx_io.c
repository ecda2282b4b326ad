/* harx_io.c: decimal formatting over harx_write (see harx_platform.h), the logits checksum and the
 * harnesses' per-window verdict. */
#include "harx_io.h"

#include "harx_platform.h"

void harx_puts(const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    harx_write(s, n);
}

void harx_put_uint(uint32_t v)
{
    char buf[10];
    uint32_t n = sizeof buf;
    do {
        buf[--n] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    harx_write(buf + n, (uint32_t)sizeof buf - n);
}

void harx_put_int(int32_t v)
{
    if (v < 0) {
        harx_write("-", 1);
        harx_put_uint(0u - (uint32_t)v);
    } else {
        harx_put_uint((uint32_t)v);
    }
}

uint32_t harx_checksum(const int32_t *logits, int n)
{
    uint32_t h = 2166136261u;
    int c, b;
    for (c = 0; c < n; c++) {
        for (b = 0; b < 4; b++) {
            h ^= ((uint32_t)logits[c] >> (8 * b)) & 0xFFu;
            h *= 16777619u;
        }
    }
    return h;
}

int harx_end_window(const int32_t *logits, const int32_t *expected, int n, int same)
{
    int c;
    for (c = 0; c < n; c++)
        same &= logits[c] == expected[c];
    harx_puts(" checksum ");
    harx_put_uint(harx_checksum(logits, n));
    harx_puts(same ? "\n" : " MISMATCH\n");
    return !same;
}

int harx_end_test(uint32_t mismatches)
{
    harx_puts("mismatches ");
    harx_put_uint(mismatches);
    harx_puts("\n");
    return mismatches != 0;
}
