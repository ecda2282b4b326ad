/* harx_io.h: the few console helpers the test harnesses need (no printf on a bare rv32 build). */
#ifndef HARX_IO_H
#define HARX_IO_H

#include <stdint.h>

void harx_puts(const char *s);
void harx_put_int(int32_t v);
void harx_put_uint(uint32_t v);
/* FNV-1a over the bytes of n int32 logits, least significant byte first (harx.deploy recomputes it). */
uint32_t harx_checksum(const int32_t *logits, int n);

#endif /* HARX_IO_H */
