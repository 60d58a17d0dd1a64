/* A call allocates nothing on the heap once a call of its shape has run on the thread (issue 7:
 * "no allocation and no locks per call"). This program defines malloc and its relatives, which the
 * dynamic linker then binds for the whole process, liblosskit.so included; each counts and forwards
 * to glibc's own. For every built-in loss and the layouts that take different paths (rows, tiles of
 * rows, transposed columns, (N, C, d…) columns, wide rows, nan_policy "error" and "propagate"): one
 * warm-up call, then three calls that must not allocate, on one thread. On two threads, each
 * parallel phase of a call hands its job to the workers in one small object (WorkerPool), so a call
 * may allocate at most four. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_long allocations;

void *malloc(size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_realloc(pointer, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) {
    atomic_fetch_add(&allocations, 1);
    *out = __libc_memalign(alignment, size);
    return *out ? 0 : 12; /* ENOMEM */
}

typedef struct shape {
    const char *label;
    int32_t ndim;
    int64_t dims[4];
} shape;

static const shape shapes[] = {
    {"rows of 2000 classes", 2, {64, 2000, 0, 0}},
    {"tiles of rows (100 classes)", 2, {300, 100, 0, 0}},
    {"transposed columns (10 classes)", 2, {1000, 10, 0, 0}},
    {"(N, C, d) columns", 4, {2, 5, 32, 32}},
    {"a wide row", 2, {1, 70000, 0, 0}},
};

static const char *const losses[] = {"cross_entropy", "expectation", "ce_expectation_mix", "focal", "logit_adjusted",
                                     "squentropy", "square", "hem", "multi_margin", "logit_norm", "dice"};

/* Allocations of `calls` calls after one warm-up call, or -1 if a call failed. */
static long allocations_per_calls(lk_loss *loss, const lk_batch *batch, int calls) {
    if (lk_loss_compute(loss, batch) != LK_OK) return -1;
    long before = atomic_load(&allocations);
    for (int i = 0; i < calls; i++) {
        if (lk_loss_compute(loss, batch) != LK_OK) return -1;
    }
    return atomic_load(&allocations) - before;
}

int main(void) {
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        int64_t classes = sh->dims[1], samples = sh->dims[0];
        for (int32_t d = 2; d < sh->ndim; d++) samples *= sh->dims[d];
        int64_t elements = samples * classes;
        double *logits = malloc((size_t)elements * sizeof(double));
        double *grad = malloc((size_t)elements * sizeof(double));
        double *loss_value = malloc(sizeof(double));
        double *priors = malloc((size_t)classes * sizeof(double));
        int64_t *target = malloc((size_t)samples * sizeof(int64_t));
        for (int64_t i = 0; i < elements; i++) logits[i] = (double)((i * 7919) % 1000) / 250.0 - 2.0;
        for (int64_t i = 0; i < samples; i++) target[i] = (i * 31) % classes;
        for (int64_t j = 0; j < classes; j++) priors[j] = 1.0 / (double)classes;

        lk_batch batch;
        lk_batch_init(&batch);
        batch.ndim = sh->ndim;
        batch.shape = sh->dims;
        batch.logits = logits;
        batch.logits_dtype = LK_FLOAT64;
        batch.target = target;
        batch.target_dtype = LK_INT64;
        batch.loss = loss_value;
        batch.grad = grad;

        for (size_t l = 0; l < sizeof losses / sizeof losses[0]; l++) {
            for (int propagate = 0; propagate <= 1; propagate++) {
                lk_loss *loss = NULL;
                CHECK_STATUS(lk_loss_create(losses[l], &loss), LK_OK);
                if (!loss) continue;
                if (propagate) CHECK_STATUS(lk_loss_set_param_string(loss, "nan_policy", "propagate"), LK_OK);
                if (l == 4) CHECK_STATUS(lk_loss_set_param_array(loss, "priors", priors, classes), LK_OK);

                CHECK_STATUS(lk_set_num_threads(1), LK_OK);
                long one = allocations_per_calls(loss, &batch, 3);
                if (!CHECK(one == 0)) printf("  %s, %s, nan_policy %s, 1 thread: %ld allocations in 3 calls\n", losses[l],
                                             sh->label, propagate ? "propagate" : "error", one);
                CHECK_STATUS(lk_set_num_threads(2), LK_OK);
                long two = allocations_per_calls(loss, &batch, 3);
                if (!CHECK(two >= 0 && two <= 3 * 4)) printf("  %s, %s, nan_policy %s, 2 threads: %ld allocations in 3 calls\n",
                                                             losses[l], sh->label, propagate ? "propagate" : "error", two);
                lk_loss_destroy(loss);
            }
        }
        free(logits);
        free(grad);
        free(loss_value);
        free(priors);
        free(target);
    }
    CHECK_STATUS(lk_set_num_threads(0), LK_OK);
    return check_summary();
}
