/*
 * platform_gap8.c: GAP8 under the GAP SDK (PMSIS). The harness runs on the fabric controller; the layer
 * sequence runs as a cluster task forked on every cluster core, its buffers in L1, and each layer's
 * read-only arrays are brought from L2 into the L1 staging buffer by the cluster DMA.
 */
#include "pmsis.h"

#include "harx_platform.h"

int harx_test_main(void);

static struct pi_device harx_cluster;

struct harx_fork {
    void (*layers)(void *);
    void *arg;
};

void harx_write(const char *buf, uint32_t n_bytes)
{
    printf("%.*s", (int)n_bytes, buf);
}

void harx_stage(uint8_t *dst, const void *src, uint32_t n_bytes)
{
    if (pi_core_id() == 0) {
        pi_cl_dma_cmd_t cmd;
        pi_cl_dma_cmd((uint32_t)src, (uint32_t)dst, n_bytes, PI_CL_DMA_DIR_EXT2LOC, &cmd);
        pi_cl_dma_cmd_wait(&cmd);
    }
    pi_cl_team_barrier();
}

static void harx_cluster_entry(void *arg)
{
    struct harx_fork *f = (struct harx_fork *)arg;
    pi_cl_team_fork(pi_cl_cluster_nb_cores(), f->layers, f->arg);
}

void harx_run_layers(void (*layers)(void *), void *arg)
{
    struct harx_fork f = {layers, arg};
    struct pi_cluster_task task;
    pi_cluster_task(&task, harx_cluster_entry, &f);
    pi_cluster_send_task_to_cl(&harx_cluster, &task);
}

static void harx_gap8_main(void)
{
    struct pi_cluster_conf conf;
    int status;
    pi_cluster_conf_init(&conf);
    pi_open_from_conf(&harx_cluster, &conf);
    if (pi_cluster_open(&harx_cluster))
        pmsis_exit(-1);
    status = harx_test_main();
    pi_cluster_close(&harx_cluster);
    pmsis_exit(status);
}

int main(void)
{
    return pmsis_kickoff((void *)harx_gap8_main);
}
