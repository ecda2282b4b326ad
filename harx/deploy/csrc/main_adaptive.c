/*
 * main.c of an adaptive network: the test harness. For every checked runtime mode it selects the mode with
 * harx_set_mode and runs harx_infer on every embedded test window (real windows of the dataset's test
 * subjects); it prints the mode, the window, the predicted class, whether the inference stopped at the first
 * stage and a checksum of the logits, compares the stop decision and every logit with the numpy integer
 * model's (the first stage's logits when it stopped, the final ones otherwise), and exits non-zero if any
 * differs.
 */
#include "harx_io.h"
#include "network.h"
#include "test_data.h"

int harx_test_main(void)
{
    uint32_t m, w, mismatches = 0;
    int i;
    harx_puts("harx ");
    harx_put_uint(HARX_TEST_WINDOWS);
    harx_puts(" windows in ");
    harx_put_uint(HARX_TEST_MODES);
    harx_puts(" modes\n");
    for (m = 0; m < HARX_TEST_MODES; m++) {
        if (harx_set_mode(harx_test_modes[m]) != 0) {
            harx_puts("harx_set_mode refused a mode of the table\n");
            return 1;
        }
        for (w = 0; w < HARX_TEST_WINDOWS; w++) {
            int cls, exited;
            const int32_t *expected;
            for (i = 0; i < HARX_WINDOW_BYTES; i++)
                harx_window[i] = harx_test_windows[w][i];
            cls = harx_infer(harx_window, harx_logits);
            exited = harx_exited;
            expected = harx_test_exits[m][w] ? harx_test_first_logits[w] : harx_test_final_logits[w];
            harx_puts("mode ");
            harx_put_int(harx_test_modes[m]);
            harx_puts(" window ");
            harx_put_uint(w);
            harx_puts(" class ");
            harx_put_int(cls);
            harx_puts(" exit ");
            harx_put_int(exited);
            mismatches += harx_end_window(harx_logits, expected, HARX_N_CLASSES,
                                          exited == harx_test_exits[m][w]);
        }
    }
    return harx_end_test(mismatches);
}
