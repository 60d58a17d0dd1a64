/* A cache-hot loop over lk_loss_compute, from C, for working on one kernel: no Python, no PyTorch,
 * the same batch evaluated again and again (after the first call its data is wherever the caches
 * keep it), or with EVICT=1 in the environment after writing 64 MB elsewhere before each call (as
 * in benchmarks/run.py, where PyTorch's calls evict losskit's data). PAUSE_US=N pauses N µs
 * before each call, asleep (usleep: the calling CPU may idle), or with PAUSE=spin busy-waiting (it
 * stays awake): how a call runs after the machine has been idle. Prints the median and the
 * minimum time of one call. Not the comparison benchmark (benchmarks/run.py); see benchmarks/README.md.
 *
 *   cc -O2 -Iinclude benchmarks/hot_loop.c -L.build/release -llosskit -Wl,-rpath,$PWD/.build/release -o /tmp/hot_loop
 *   /tmp/hot_loop cross_entropy 4096x1000 [float32|float64] [threads] [error|propagate] [calls]
 *
 * logit_adjusted gets Zipf priors (p_j ∝ 1/(j+1)); hem gets the same values as class counts (HEM+).
 */
#include "losskit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses "AxBx..." into shape; returns the number of axes, 0 when malformed. */
static int parse_shape(const char *text, int64_t shape[LK_MAX_NDIM]) {
    int ndim = 0;
    const char *p = text;
    while (*p && ndim < LK_MAX_NDIM) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0) return 0;
        shape[ndim++] = v;
        if (*end == 'x') p = end + 1;
        else if (*end == 0) p = end;
        else return 0;
    }
    return ndim >= 2 && *p == 0 ? ndim : 0;
}

/* A fixed pseudo-random sequence (no dependence on libc's rand). */
static uint64_t next_random(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s LOSS NxC[xd..] [float32|float64] [threads] [error|propagate] [calls]\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    int64_t shape[LK_MAX_NDIM];
    int ndim = parse_shape(argv[2], shape);
    if (ndim == 0) { fprintf(stderr, "shape %s: expected NxC or NxCxHxW\n", argv[2]); return 2; }
    int is_double = argc > 3 && strcmp(argv[3], "float64") == 0;
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    const char *nan_policy = argc > 5 ? argv[5] : "error";
    int calls = argc > 6 ? atoi(argv[6]) : 200;
    if (calls < 1) calls = 1;

    int64_t samples = shape[0], classes = shape[1];
    for (int k = 2; k < ndim; k++) samples *= shape[k];
    size_t count = (size_t)(samples * classes), size = is_double ? 8 : 4;
    void *logits = malloc(count * size), *grad = malloc(count * size);
    int64_t *target = malloc((size_t)samples * sizeof(int64_t));
    if (!logits || !grad || !target) { fprintf(stderr, "out of memory\n"); return 1; }
    uint64_t state = 1;
    for (size_t i = 0; i < count; i++) {
        double u = (double)next_random(&state) / 2147483648.0;  /* [0, 1) */
        double x = 4 * u - 2;
        if (is_double) ((double *)logits)[i] = x; else ((float *)logits)[i] = (float)x;
    }
    for (int64_t i = 0; i < samples; i++) target[i] = (int64_t)(next_random(&state) % (uint64_t)classes);
    memset(grad, 0, count * size);

    lk_loss *loss = NULL;
    if (lk_loss_create(name, &loss) != LK_OK ||
        lk_loss_set_param_string(loss, "nan_policy", nan_policy) != LK_OK ||
        lk_set_num_threads(threads) != LK_OK) {
        fprintf(stderr, "%s\n", lk_last_error_message());
        return 1;
    }
    if (strcmp(name, "logit_adjusted") == 0 || strcmp(name, "hem") == 0) {  /* a parameter per class, Zipf-like */
        double *per_class = malloc((size_t)classes * sizeof(double));
        if (!per_class) { fprintf(stderr, "out of memory\n"); return 1; }
        for (int64_t j = 0; j < classes; j++) per_class[j] = 1.0 / (double)(j + 1);
        double total = 0;
        for (int64_t j = 0; j < classes; j++) total += per_class[j];
        for (int64_t j = 0; j < classes; j++) per_class[j] /= total;
        const char *key = name[0] == 'h' ? "class_counts" : "priors";
        if (lk_loss_set_param_array(loss, key, per_class, classes) != LK_OK) {
            fprintf(stderr, "%s\n", lk_last_error_message());
            return 1;
        }
        free(per_class);
    }
    double value64 = 0;
    float value32 = 0;
    lk_batch batch;
    lk_batch_init(&batch);
    batch.ndim = ndim;
    batch.shape = shape;
    batch.logits_dtype = is_double ? LK_FLOAT64 : LK_FLOAT32;
    batch.target_dtype = LK_INT64;
    batch.logits = logits;
    batch.target = target;
    batch.loss = is_double ? (void *)&value64 : (void *)&value32;
    batch.grad = grad;

    const char *evict_setting = getenv("EVICT");
    size_t evict_bytes = evict_setting && atoi(evict_setting) ? (size_t)64 << 20 : 0;
    unsigned char *evict = evict_bytes ? malloc(evict_bytes) : NULL;
    const char *pause_setting = getenv("PAUSE_US"), *pause_kind = getenv("PAUSE");
    const double pause_us = pause_setting ? atof(pause_setting) : 0;
    const int spin = pause_kind && strcmp(pause_kind, "spin") == 0;
    double *times = malloc((size_t)calls * sizeof(double));
    for (int i = -5; i < calls; i++) {  /* 5 untimed calls first */
        if (evict) memset(evict, i & 0xff, evict_bytes);
        if (pause_us > 0 && spin) {
            const double until = now_ms() + pause_us / 1000;
            while (now_ms() < until) {}
        } else if (pause_us > 0) {
            usleep((useconds_t)pause_us);
        }
        double start = now_ms();
        if (lk_loss_compute(loss, &batch) != LK_OK) { fprintf(stderr, "%s\n", lk_last_error_message()); return 1; }
        if (i >= 0) times[i] = now_ms() - start;
    }
    qsort(times, (size_t)calls, sizeof(double), compare_doubles);
    char paused[64] = "";
    if (pause_us > 0) snprintf(paused, sizeof paused, " paused %.0f us (%s)", pause_us, spin ? "spin" : "sleep");
    printf("%s %s %s threads=%d nan_policy=%s simd=%s%s%s: median %.3f ms, min %.3f ms (%d calls), loss %.6g\n",
           name, argv[2], is_double ? "float64" : "float32", threads, nan_policy, lk_simd_level(), evict ? " evicted" : "",
           paused, times[calls / 2], times[0], calls, is_double ? value64 : (double)value32);
    lk_loss_destroy(loss);
    free(times); free(evict); free(logits); free(grad); free(target);
    return 0;
}
