/* platform_host.c: the host build of the test harness (stdio; also run under ASan/UBSan). */
#include <stdio.h>

#include "harx_platform.h"

int harx_test_main(void);

void harx_write(const char *buf, uint32_t n_bytes)
{
    fwrite(buf, 1, n_bytes, stdout);
}

int main(void)
{
    return harx_test_main();
}
