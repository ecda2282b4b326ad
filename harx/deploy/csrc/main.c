/*
 * main.c: the test harness. Runs harx_infer on every embedded test window (real windows of the dataset's
 * test subjects), prints the predicted class and a checksum of the logits per window, compares every logit
 * with the numpy integer model's, and exits non-zero if any differs.
 */
#include "harx_io.h"
#include "network.h"
#include "test_data.h"

int harx_test_main(void)
{
    uint32_t w, mismatches = 0;
    int i, cls;
    harx_puts("harx ");
    harx_put_uint(HARX_TEST_WINDOWS);
    harx_puts(" windows\n");
    for (w = 0; w < HARX_TEST_WINDOWS; w++) {
        for (i = 0; i < HARX_WINDOW_BYTES; i++)
            harx_window[i] = harx_test_windows[w][i];
        cls = harx_infer(harx_window, harx_logits);
        harx_puts("window ");
        harx_put_uint(w);
        harx_puts(" class ");
        harx_put_int(cls);
        mismatches += harx_end_window(harx_logits, harx_test_logits[w], HARX_N_CLASSES, 1);
    }
    return harx_end_test(mismatches);
}
