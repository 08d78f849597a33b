/* TCG plugin: counts executed aarch64 instructions by class, and writes the counts each time the guest asks.
 *
 *   qemu-aarch64 -plugin ./libinsn_classes.so,out=FILE -cpu cortex-a76 ...
 *
 * The guest marks a point by calling sched_get_priority_max(MARK_POLICY) (a syscall with an invalid policy:
 * it only fails with EINVAL); the plugin then appends one line "mark N total c1 c2 ..." to FILE. The difference
 * of two marks is what ran between them (tools/aarch64/count_stages.py). Classes are decided once per
 * translated instruction from its encoding (dot product, FP16) and its disassembly (the rest), and counted per translation block with inline adds (cheap;
 * the adds are not atomic, so count with one guest thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-plugin-min.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define SYS_SCHED_GET_PRIORITY_MAX 125 /* aarch64 */
#define MARK_POLICY 0x5eed

enum cls { C_DOT, C_FP16, C_SIMD_MAC, C_SIMD, C_LOAD, C_STORE, C_BRANCH, C_SCALAR, N_CLS };
static const char *const names[N_CLS] = {"dot", "fp16", "simd_mac", "simd", "load", "store", "branch", "scalar"};
static uint64_t counts[N_CLS];
static FILE *out;
static unsigned marks;

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int has_vreg(const char *ops) {
    /* a SIMD&FP register operand: v0.4s, q1, d2, s3, h4, b5 (not x/w general registers) */
    for (const char *p = ops; *p; p++) {
        if ((p == ops || p[-1] == ' ' || p[-1] == '{' || p[-1] == '[') &&
            strchr("vqdshb", *p) && p[1] >= '0' && p[1] <= '9')
            return 1;
    }
    return 0;
}

/* Dot product and FP16 arithmetic by encoding (Arm ARM, "Advanced SIMD three same (FP16)", "three register
 * extension", "vector x indexed element"): Debian's capstone 4 does not decode these ARMv8.2 instructions. */
static int is_dot(uint32_t w) {
    return (w & 0x9FE0FC00u) == 0x0E809400u    /* SDOT/UDOT (vector), size = 10 */
           || (w & 0x9FC0F400u) == 0x0F80E000u; /* SDOT/UDOT (by element) */
}

static int is_fp16(uint32_t w) {
    return (w & 0x9F60C400u) == 0x0E400400u    /* three same (FP16): FMLA, FADD, FMUL, FMAX... .4h/.8h */
           || (w & 0xBFC0F400u) == 0x0F001000u  /* FMLA (by element), half precision */
           || (w & 0xBFC0F400u) == 0x0F009000u; /* FMUL (by element), half precision */
}

static enum cls classify(uint32_t w, const char *dis) {
    if (is_dot(w)) return C_DOT;
    if (is_fp16(w)) return C_FP16;
    char mn[32];
    size_t i = 0;
    while (dis[i] && dis[i] != ' ' && i < sizeof mn - 1) { mn[i] = dis[i]; i++; }
    mn[i] = 0;
    const char *ops = dis + i;
    if (starts(mn, "ld") || starts(mn, "prfm") || starts(mn, "cas") || starts(mn, "swp")) return C_LOAD;
    if (starts(mn, "st")) return C_STORE;
    if (mn[0] == 'b' && (mn[1] == 0 || mn[1] == '.' || !strcmp(mn, "bl") || !strcmp(mn, "br") ||
                         !strcmp(mn, "blr")))
        return C_BRANCH;
    if (!strcmp(mn, "ret") || starts(mn, "cbz") || starts(mn, "cbnz") || starts(mn, "tbz") || starts(mn, "tbnz"))
        return C_BRANCH;
    if (!strcmp(mn, "sdot") || !strcmp(mn, "udot") || !strcmp(mn, "usdot") || !strcmp(mn, "sudot")) return C_DOT;
    if (!has_vreg(ops)) return C_SCALAR;
    /* half-precision arithmetic: an f-mnemonic (not a conversion) on .8h/.4h lanes or h registers */
    if (mn[0] == 'f' && !starts(mn, "fcvt") && !starts(mn, "fmov") &&
        (strstr(ops, ".8h") || strstr(ops, ".4h") || strstr(ops, ".h[") || (ops[0] == ' ' && ops[1] == 'h')))
        return C_FP16;
    if (starts(mn, "fmla") || starts(mn, "fmls") || starts(mn, "fmul") || starts(mn, "fmadd") ||
        starts(mn, "fmsub") || starts(mn, "mla") || starts(mn, "mls") || !strcmp(mn, "mul") ||
        starts(mn, "smlal") || starts(mn, "umlal") || starts(mn, "smull") || starts(mn, "umull") ||
        starts(mn, "sqrdmulh") || starts(mn, "sqdmulh") || starts(mn, "sadalp") || starts(mn, "uadalp"))
        return C_SIMD_MAC;
    return C_SIMD;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    uint64_t n[N_CLS] = {0};
    size_t k = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < k; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t w = 0;
        memcpy(&w, qemu_plugin_insn_data(insn), sizeof w); /* aarch64: 4 bytes, little-endian */
        char *dis = qemu_plugin_insn_disas(insn);
        n[classify(w, dis ? dis : "")]++;
        free(dis);
    }
    for (int c = 0; c < N_CLS; c++)
        if (n[c]) qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &counts[c], n[c]);
}

static void write_line(const char *tag) {
    uint64_t total = 0;
    for (int c = 0; c < N_CLS; c++) total += counts[c];
    fprintf(out, "%s %u %llu", tag, marks++, (unsigned long long)total);
    for (int c = 0; c < N_CLS; c++) fprintf(out, " %llu", (unsigned long long)counts[c]);
    fputc('\n', out);
    fflush(out);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num == SYS_SCHED_GET_PRIORITY_MAX && a1 == MARK_POLICY) write_line("mark");
}

static void on_exit_cb(qemu_plugin_id_t id, void *p) {
    write_line("exit");
    fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    const char *path = NULL;
    for (int i = 0; i < argc; i++)
        if (starts(argv[i], "out=")) path = argv[i] + 4;
    if (!path) {
        fprintf(stderr, "insn_classes: give out=FILE\n");
        return -1;
    }
    out = fopen(path, "w");
    if (!out) {
        perror(path);
        return -1;
    }
    fprintf(out, "classes");
    for (int c = 0; c < N_CLS; c++) fprintf(out, " %s", names[c]);
    fputc('\n', out);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
