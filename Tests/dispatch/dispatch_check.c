/* Runs every built-in loss on fixed batches (float32 and float64, (N, C) rows, a few classes for the
 * column kernel, and (N, C, d) columns) and prints, one line each, the SIMD level in use and the
 * loss with a checksum of the gradient. run.sh compares these lines across CPUs emulated by qemu
 * (which builds of the kernels run on a CPU without AVX or AVX-512) and across LOSSKIT_SIMD caps. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "losskit.h"

static double logit(uint64_t *state) { /* deterministic values in [-4, 4) */
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*state >> 11) / 9007199254740992.0 * 8.0 - 4.0;
}

static int run(const char *name, int dtype, const int64_t *shape, int ndim) {
    static float z32[40000], g32[40000];
    static double z64[40000], g64[40000];
    static int64_t target[4000];
    double loss64 = 0, checksum = 0, priors[512];
    float loss32 = 0;
    int64_t n = shape[0], c = shape[1], inner = ndim > 2 ? shape[2] : 1, i, elements = n * c * inner;
    uint64_t state = 12345;
    lk_loss *loss = NULL;
    lk_batch b;
    lk_status status;
    for (i = 0; i < elements; i++) z32[i] = (float)(z64[i] = logit(&state));
    for (i = 0; i < n * inner; i++) target[i] = (int64_t)((logit(&state) + 4.0) / 8.0 * (double)c) % c;
    if (lk_loss_create(name, &loss) != LK_OK) return 1;
    if (strcmp(name, "logit_adjusted") == 0) {
        for (i = 0; i < c; i++) priors[i] = 1.0 / (double)c;
        lk_loss_set_param_array(loss, "priors", priors, c);
    }
    lk_batch_init(&b);
    b.ndim = ndim;
    b.shape = shape;
    b.logits_dtype = dtype;
    b.target_dtype = LK_INT64;
    b.logits = dtype == LK_FLOAT32 ? (const void *)z32 : (const void *)z64;
    b.target = target;
    b.loss = dtype == LK_FLOAT32 ? (void *)&loss32 : (void *)&loss64;
    b.grad = dtype == LK_FLOAT32 ? (void *)g32 : (void *)g64;
    status = lk_loss_compute(loss, &b);
    lk_loss_destroy(loss);
    if (status != LK_OK) {
        fprintf(stderr, "%s: %s\n", name, lk_last_error_message());
        return 1;
    }
    for (i = 0; i < elements; i++) checksum += (double)(i % 7 + 1) * (dtype == LK_FLOAT32 ? (double)g32[i] : g64[i]);
    printf("%s %s %s shape %lldx%lldx%lld loss %.9g grad %.9g\n", lk_simd_level(), name,
           dtype == LK_FLOAT32 ? "f32" : "f64", (long long)n, (long long)c, (long long)inner,
           dtype == LK_FLOAT32 ? (double)loss32 : loss64, checksum);
    return 0;
}

int main(void) {
    static const int64_t rows[2] = {37, 300}, few[2] = {200, 9}, columns[3] = {3, 21, 40};
    int64_t i, count = lk_loss_count();
    int failures = 0, dtype;
    for (i = 0; i < count; i++) {
        const char *name = lk_loss_name_at(i);
        for (dtype = LK_FLOAT32; dtype <= LK_FLOAT64; dtype++) {
            failures += run(name, dtype, rows, 2);
            failures += run(name, dtype, few, 2);
            failures += run(name, dtype, columns, 3);
        }
    }
    return failures != 0;
}
