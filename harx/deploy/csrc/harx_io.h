/* harx_io.h: the few console helpers the test harness needs (no printf on a bare rv32 build). */
#ifndef HARX_IO_H
#define HARX_IO_H

#include <stdint.h>

void harx_puts(const char *s);
void harx_put_int(int32_t v);
void harx_put_uint(uint32_t v);

#endif /* HARX_IO_H */
