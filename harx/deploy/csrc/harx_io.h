/* harx_io.h: the few console helpers the test harnesses need (no printf on a bare rv32 build). */
#ifndef HARX_IO_H
#define HARX_IO_H

#include <stdint.h>

void harx_puts(const char *s);
void harx_put_int(int32_t v);
void harx_put_uint(uint32_t v);
/* FNV-1a over the bytes of n int32 logits, least significant byte first (harx.deploy recomputes it). */
uint32_t harx_checksum(const int32_t *logits, int n);
/* Ends a window's line with the checksum of its n logits and, if they differ from expected or same is 0,
 * " MISMATCH"; returns 1 for a mismatching window, 0 otherwise. */
int harx_end_window(const int32_t *logits, const int32_t *expected, int n, int same);
/* Prints the harness's last line and returns its exit status: 0 when no window mismatched. */
int harx_end_test(uint32_t mismatches);

#endif /* HARX_IO_H */
