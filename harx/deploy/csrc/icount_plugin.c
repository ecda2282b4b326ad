/*
 * icount_plugin.c: a qemu TCG plugin (plugin API version 1, qemu 7.2) that counts, exactly, the guest
 * instructions executed inside an address range [lo, hi) and records that count whenever the instruction
 * at `entry` or at one of the `mark` addresses executes. With the range covering all inference code
 * (harx_infer and every kernel it calls, nothing else), `entry` = harx_infer and the marks at the kernels'
 * first instructions, the records give the instructions of each inference and of each kernel call.
 *
 * Usage: qemu-riscv32 -plugin ./icount_plugin.so,lo=0x...,hi=0x...,entry=0x...[,mark=0x...]...,out=FILE prog
 * FILE gets, per inference i, "inference <i> <instructions>" and, per kernel call j inside it,
 * "call <i> <j> <address> <instructions of inference i before the call>".
 *
 * Debian ships no qemu-plugin.h, so the few API-v1 declarations used are written out here.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            void (*cb)(unsigned int vcpu_index, void *userdata),
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t id, void *userdata),
                                    void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_MARKS 256

struct event {
    uint64_t address; /* entry or a mark */
    uint64_t executed;
};

static uint64_t lo, hi, entry;
static uint64_t marks[MAX_MARKS];
static size_t n_marks;
static uint64_t executed; /* instructions executed inside [lo, hi) so far */
static struct event *events;
static size_t n_events, cap_events;
static char out_path[4096];

static void on_event(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    if (n_events == cap_events) {
        cap_events = cap_events ? 2 * cap_events : 4096;
        events = realloc(events, cap_events * sizeof *events);
        if (!events) {
            qemu_plugin_outs("icount_plugin: out of memory\n");
            abort();
        }
    }
    events[n_events].address = *(const uint64_t *)userdata;
    events[n_events].executed = executed;
    n_events++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, m, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == entry)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_event, QEMU_PLUGIN_CB_NO_REGS, &entry);
        for (m = 0; m < n_marks; m++)
            if (pc == marks[m])
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_event, QEMU_PLUGIN_CB_NO_REGS, &marks[m]);
        if (pc >= lo && pc < hi)
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void on_atexit(qemu_plugin_id_t id, void *userdata)
{
    FILE *f = fopen(out_path, "w");
    size_t e, next;
    long inference = -1, call = 0;
    uint64_t start = 0;
    (void)id;
    (void)userdata;
    if (!f) {
        qemu_plugin_outs("icount_plugin: cannot open the output file\n");
        return;
    }
    /* Inference i runs from its entry event to the next entry event (or to the end of the program). */
    for (e = 0; e < n_events; e++) {
        if (events[e].address == entry) {
            inference++;
            call = 0;
            start = events[e].executed;
            for (next = e + 1; next < n_events && events[next].address != entry; next++) {
            }
            fprintf(f, "inference %ld %llu\n", inference,
                    (unsigned long long)((next < n_events ? events[next].executed : executed) - start));
        } else if (inference >= 0) {
            fprintf(f, "call %ld %ld 0x%llx %llu\n", inference, call++, (unsigned long long)events[e].address,
                    (unsigned long long)(events[e].executed - start));
        }
    }
    fclose(f);
}

static int parse_arg(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return -1;
    if (!strncmp(arg, "lo=", 3))
        lo = strtoull(eq + 1, NULL, 0);
    else if (!strncmp(arg, "hi=", 3))
        hi = strtoull(eq + 1, NULL, 0);
    else if (!strncmp(arg, "entry=", 6))
        entry = strtoull(eq + 1, NULL, 0);
    else if (!strncmp(arg, "mark=", 5) && n_marks < MAX_MARKS)
        marks[n_marks++] = strtoull(eq + 1, NULL, 0);
    else if (!strncmp(arg, "out=", 4) && strlen(eq + 1) < sizeof out_path)
        strcpy(out_path, eq + 1);
    else
        return -1;
    return 0;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const struct qemu_info_t *info, int argc,
                                                               char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (parse_arg(argv[i])) {
            qemu_plugin_outs("icount_plugin: bad argument (expected lo=, hi=, entry=, mark=, out=)\n");
            return -1;
        }
    }
    if (!out_path[0] || lo >= hi || entry < lo || entry >= hi) {
        qemu_plugin_outs("icount_plugin: need lo < hi, lo <= entry < hi and out=FILE\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
