/* Every error path of the losskit C ABI, for valgrind memcheck (Tests/valgrind/run.sh).
 *
 * Each lk_status except LK_ERROR_INTERNAL (a losskit bug, not reachable on purpose) is produced at
 * least once, by every function that can return it where practical: lk_loss_create (unknown name,
 * bad name, NULL), the parameter setters and getter, lk_loss_compute / _at (every batch fault),
 * lk_mix_create, lk_register_loss (name, table, duplicate, full registry), lk_unregister_loss,
 * lk_plugin_load (missing file, not a library, no entry point, an init that fails after registering
 * two losses), lk_set_num_threads. Then create / compute / destroy cycles of every registered loss
 * and of a mix of all of them, on one and several threads; a user row loss and a whole-batch loss
 * with destroy callbacks (destroy runs once: at unregistration, or when the last handle goes).
 *
 * Usage: error_paths [PLUGIN_DIR]   (where run.sh built librollback_plugin.so and
 *                                   librollback_destroy_plugin.so; skipped without it)
 * A plain runner: prints "N passed, M failed"; exit status 1 if any check failed.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "losskit.h"

static int passed, failed;
static int seen[LK_ERROR_PLUGIN + 1]; /* statuses produced */

static int record(int ok, const char *what, int line) {
    if (ok) passed++;
    else {
        failed++;
        printf("FAIL line %d: %s\n", line, what);
    }
    return ok;
}
#define CHECK(cond) record((cond) ? 1 : 0, #cond, __LINE__)

/* The call returns `want`; a failure has a message, a success none. */
#define EXPECT(call, want) expect_((call), (want), #call, __LINE__)
static int expect_(lk_status got, lk_status want, const char *what, int line) {
    const char *msg = lk_last_error_message();
    int ok = got == want && msg != NULL && (got == LK_OK ? msg[0] == 0 : msg[0] != 0);
    if (!ok) printf("  %s: got %d (%s) '%s', expected %d\n", what, (int)got, lk_status_string(got), msg ? msg : "NULL", (int)want);
    if ((int)got >= 0 && (int)got <= LK_ERROR_PLUGIN) seen[got] = 1;
    return record(ok, what, line);
}

/* ------------------------------------------------------------------ batches */

#define N 4
#define C 3

typedef struct fixture {
    int64_t shape[4];
    double logits[N * C * 2];
    int64_t target[N * 2];
    double weight[C], dloss[N * 2], loss[N * 2], grad[N * C * 2];
    double probabilities[N * C];
    lk_batch b;
} fixture;

static void fixture_init(fixture *f) {
    int i;
    memset(f, 0, sizeof *f);
    f->shape[0] = N;
    f->shape[1] = C;
    for (i = 0; i < N * C * 2; ++i) f->logits[i] = 0.25 * (double)(i % 7) - 0.5;
    for (i = 0; i < N * 2; ++i) f->target[i] = i % C;
    for (i = 0; i < C; ++i) f->weight[i] = 1.0 + i;
    for (i = 0; i < N * 2; ++i) f->dloss[i] = 1.0;
    for (i = 0; i < N * C; ++i) f->probabilities[i] = 1.0 / C;
    lk_batch_init(&f->b);
    f->b.ndim = 2;
    f->b.shape = f->shape;
    f->b.logits_dtype = LK_FLOAT64;
    f->b.target_dtype = LK_INT64;
    f->b.logits = f->logits;
    f->b.target = f->target;
    f->b.loss = f->loss;
    f->b.grad = f->grad;
}

/* Computes with `loss` on a fixture changed by `change`, expecting `want` and, on failure, untouched
 * outputs. */
typedef void (*change_fn)(fixture *);
static void compute_expect(lk_loss *loss, change_fn change, lk_status want, const char *what, int line) {
    fixture f;
    fixture_init(&f);
    if (change) change(&f);
    double loss_before[N * 2], grad_before[N * C * 2];
    memcpy(loss_before, f.loss, sizeof loss_before);
    memcpy(grad_before, f.grad, sizeof grad_before);
    expect_(lk_loss_compute(loss, &f.b), want, what, line);
    if (want != LK_OK) {
        record(memcmp(loss_before, f.loss, sizeof loss_before) == 0, "refused: loss untouched", line);
        record(memcmp(grad_before, f.grad, sizeof grad_before) == 0, "refused: grad untouched", line);
    }
}
#define COMPUTE(loss, change, want) compute_expect((loss), (change), (want), #change " -> " #want, __LINE__)

static void c_ndim1(fixture *f) { f->b.ndim = 1; }
static void c_ndim17(fixture *f) { f->b.ndim = 17; }
static void c_negative(fixture *f) { f->shape[0] = -1; }
static void c_no_classes(fixture *f) { f->shape[1] = 0; }
static void c_overflow(fixture *f) { f->shape[0] = INT64_MAX / 2; f->shape[1] = 1 << 20; }
static void c_logits_dtype(fixture *f) { f->b.logits_dtype = 7; }
static void c_target_dtype(fixture *f) { f->b.target_dtype = 9; }
static void c_target_range(fixture *f) { f->target[2] = C; }
static void c_target_negative(fixture *f) { f->target[0] = -5; }
static void c_probabilities_bad(fixture *f) { f->b.target_dtype = LK_FLOAT64; f->b.target = f->probabilities; f->probabilities[0] = 0.9; }
static void c_probabilities(fixture *f) { f->b.target_dtype = LK_FLOAT64; f->b.target = f->probabilities; }
static void c_nan_logit(fixture *f) { f->logits[4] = NAN; }
static void c_inf_logit(fixture *f) { f->logits[1] = INFINITY; }
static void c_bad_weight(fixture *f) { f->b.weight = f->weight; f->weight[1] = -1; }
static void c_nan_weight(fixture *f) { f->b.weight = f->weight; f->weight[2] = NAN; }
static void c_bad_dloss(fixture *f) { f->b.dloss = f->dloss; f->dloss[0] = INFINITY; }
static void c_reduction(fixture *f) { f->b.reduction = 5; }
static void c_none(fixture *f) { f->b.reduction = LK_REDUCTION_NONE; f->b.dloss = f->dloss; }
static void c_alias_loss(fixture *f) { f->b.loss = f->logits + 2; }
static void c_alias_grad(fixture *f) { f->b.grad = f->logits + 1; }
static void c_alias_grad_weight(fixture *f) { f->b.weight = f->weight; f->b.grad = (double *)f->weight - 1; }
static void c_misaligned(fixture *f) { f->b.logits = (const char *)f->logits + 1; }
static void c_misaligned_loss(fixture *f) { f->b.loss = (char *)f->loss + 4; }
static void c_struct_size(fixture *f) { f->b.struct_size = 0; }
static void c_reserved(fixture *f) { f->b.reserved0 = 3; }
static void c_null_logits(fixture *f) { f->b.logits = NULL; }
static void c_null_target(fixture *f) { f->b.target = NULL; }
static void c_null_loss(fixture *f) { f->b.loss = NULL; }
static void c_null_shape(fixture *f) { f->b.shape = NULL; }
static void c_in_place(fixture *f) { f->b.grad = f->logits; }
static void c_spatial(fixture *f) { f->b.ndim = 3; f->shape[0] = 2; f->shape[2] = 2; }
static void c_empty(fixture *f) { f->shape[0] = 0; }
static void c_all_ignored(fixture *f) { int i; for (i = 0; i < N; ++i) f->target[i] = LK_DEFAULT_IGNORE_INDEX; }
static void c_float32(fixture *f) {
    static float logits32[N * C];
    int i;
    for (i = 0; i < N * C; ++i) logits32[i] = (float)f->logits[i];
    f->b.logits_dtype = LK_FLOAT32;
    f->b.logits = logits32;
    f->b.grad = NULL;
    f->b.loss = (float *)(void *)f->loss;
}

/* ----------------------------------------------------------- user losses */

static int destroyed[4];

static int32_t ce_row(void *user_data, const double *z, int64_t classes, int64_t target, double *out_loss, double *out_grad) {
    (void)user_data;
    double m = z[0], s = 0;
    int64_t j;
    for (j = 1; j < classes; ++j) m = z[j] > m ? z[j] : m;
    for (j = 0; j < classes; ++j) s += exp(z[j] - m);
    *out_loss = m + log(s) - z[target];
    for (j = 0; j < classes; ++j) out_grad[j] = exp(z[j] - m) / s - (j == target);
    return 0;
}

static int32_t failing_row(void *user_data, const double *z, int64_t classes, int64_t target, double *out_loss,
                           double *out_grad) {
    (void)user_data, (void)z, (void)classes, (void)out_grad;
    if (target == 1) {
        lk_set_callback_error("failing_row: target 1 is not allowed");
        return 1;
    }
    *out_loss = 0.5;
    return 0;
}

static int32_t nan_row(void *user_data, const double *z, int64_t classes, int64_t target, double *out_loss, double *out_grad) {
    (void)user_data, (void)z, (void)classes, (void)target, (void)out_grad;
    *out_loss = NAN;
    return 0;
}

static int32_t mean_batch(void *user_data, int64_t n, int64_t classes, int64_t inner, const double *logits,
                          const int64_t *target, const double *weight, int64_t ignore_index, double *out_loss,
                          double *out_grad) {
    (void)user_data, (void)logits, (void)target, (void)weight, (void)ignore_index;
    *out_loss = 0.125;
    int64_t i;
    for (i = 0; i < n * classes * inner; ++i) out_grad[i] = 0.001 * (double)i;
    return 0;
}

static void counting_destroy(void *user_data) {
    int *slot = user_data;
    destroyed[slot[0]]++;
    free(slot);
}

static lk_loss_callbacks callbacks(lk_row_loss_fn row, lk_batch_loss_fn batch, int destroy_slot) {
    lk_loss_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.struct_size = sizeof cb;
    cb.abi_version = LK_LOSS_ABI_VERSION;
    cb.row = row;
    cb.batch = batch;
    if (destroy_slot >= 0) {
        int *slot = malloc(sizeof *slot);
        *slot = destroy_slot;
        cb.user_data = slot;
        cb.destroy = counting_destroy;
    }
    cb.flags = LK_CALLBACK_THREAD_SAFE;
    return cb;
}

/* ------------------------------------------------------------------ tests */

static void test_create_and_params(void) {
    lk_loss *loss = (lk_loss *)1;
    EXPECT(lk_loss_create("no_such_loss", &loss), LK_ERROR_UNKNOWN_LOSS);
    CHECK(loss == NULL);
    EXPECT(lk_loss_create(NULL, &loss), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_create("cross_entropy", NULL), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_create("\xff\xfe", &loss), LK_ERROR_BAD_NAME);

    EXPECT(lk_loss_create("cross_entropy", &loss), LK_OK);
    double v = 0, values[2] = {1, 2};
    EXPECT(lk_loss_set_param(loss, "label_smoothing", 0.1), LK_OK);
    EXPECT(lk_loss_set_param(loss, "label_smoothing", 2.0), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_set_param(loss, "label_smoothing", NAN), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_get_param(loss, "label_smoothing", &v), LK_OK);
    CHECK(v == 0.1);
    EXPECT(lk_loss_set_param(loss, "bogus", 1.0), LK_ERROR_UNKNOWN_PARAM);
    EXPECT(lk_loss_set_param(NULL, "z_loss", 1.0), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_set_param(loss, NULL, 1.0), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_set_param_string(loss, "nan_policy", "maybe"), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_set_param_string(loss, "nan_policy", NULL), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_set_param_string(loss, "z_loss", "error"), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_set_param_string(loss, "bogus", "error"), LK_ERROR_UNKNOWN_PARAM);
    EXPECT(lk_loss_set_param_array(loss, "z_loss", values, 2), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_set_param_array(loss, "bogus", values, 2), LK_ERROR_UNKNOWN_PARAM);
    EXPECT(lk_loss_set_param_array(loss, "z_loss", values, -1), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_set_param_array(loss, "z_loss", NULL, 3), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_get_param(loss, "nan_policy", &v), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_get_param(loss, "bogus", &v), LK_ERROR_UNKNOWN_PARAM);
    EXPECT(lk_loss_get_param(loss, "z_loss", NULL), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_get_param(NULL, "z_loss", &v), LK_ERROR_NULL_POINTER);
    CHECK(strcmp(lk_loss_get_name(loss), "cross_entropy") == 0);
    CHECK(lk_loss_get_name(NULL) == NULL);
    lk_loss_destroy(loss);
    lk_loss_destroy(NULL);

    lk_loss *hem = NULL;
    EXPECT(lk_loss_create("hem", &hem), LK_OK);
    EXPECT(lk_loss_set_param_array(hem, "class_counts", values, 2), LK_OK);
    EXPECT(lk_loss_set_param_array(hem, "class_counts", NULL, 0), LK_OK);
    values[1] = -3;
    EXPECT(lk_loss_set_param_array(hem, "class_counts", values, 2), LK_ERROR_BAD_PARAM);
    lk_loss_destroy(hem);

    EXPECT(lk_set_num_threads(-1), LK_ERROR_BAD_PARAM);
    EXPECT(lk_set_num_threads(0), LK_OK);
    CHECK(lk_status_string((lk_status)999) != NULL && strcmp(lk_status_string((lk_status)999), "unknown status") == 0);
    CHECK(strcmp(lk_version(), LK_VERSION_STRING) == 0 && lk_version_number() == LK_VERSION_NUMBER);
    CHECK(lk_loss_name_at(-1) == NULL && lk_loss_name_at(lk_loss_count()) == NULL);
}

static void test_compute_errors(void) {
    lk_loss *ce = NULL, *dice = NULL, *focal = NULL, *la = NULL;
    EXPECT(lk_loss_create("cross_entropy", &ce), LK_OK);
    EXPECT(lk_loss_create("dice", &dice), LK_OK);
    EXPECT(lk_loss_create("focal", &focal), LK_OK);
    EXPECT(lk_loss_create("logit_adjusted", &la), LK_OK);

    COMPUTE(ce, NULL, LK_OK);
    COMPUTE(ce, c_ndim1, LK_ERROR_BAD_SHAPE);
    COMPUTE(ce, c_ndim17, LK_ERROR_BAD_SHAPE);
    COMPUTE(ce, c_negative, LK_ERROR_BAD_SHAPE);
    COMPUTE(ce, c_no_classes, LK_ERROR_BAD_SHAPE);
    COMPUTE(ce, c_overflow, LK_ERROR_SIZE_OVERFLOW);
    COMPUTE(ce, c_logits_dtype, LK_ERROR_BAD_DTYPE);
    COMPUTE(ce, c_target_dtype, LK_ERROR_BAD_DTYPE);
    COMPUTE(ce, c_target_range, LK_ERROR_TARGET_OUT_OF_RANGE);
    COMPUTE(ce, c_target_negative, LK_ERROR_TARGET_OUT_OF_RANGE);
    COMPUTE(ce, c_probabilities_bad, LK_ERROR_BAD_PROBABILITIES);
    COMPUTE(ce, c_probabilities, LK_OK);
    COMPUTE(focal, c_probabilities, LK_ERROR_BAD_PROBABILITIES);
    COMPUTE(ce, c_nan_logit, LK_ERROR_NONFINITE_LOGIT);
    COMPUTE(ce, c_inf_logit, LK_ERROR_NONFINITE_LOGIT);
    COMPUTE(ce, c_bad_weight, LK_ERROR_BAD_WEIGHT);
    COMPUTE(ce, c_nan_weight, LK_ERROR_BAD_WEIGHT);
    COMPUTE(ce, c_bad_dloss, LK_ERROR_BAD_DLOSS);
    COMPUTE(ce, c_reduction, LK_ERROR_BAD_REDUCTION);
    COMPUTE(dice, c_none, LK_ERROR_BAD_REDUCTION);
    COMPUTE(ce, c_alias_loss, LK_ERROR_ALIASING);
    COMPUTE(ce, c_alias_grad, LK_ERROR_ALIASING);
    COMPUTE(ce, c_alias_grad_weight, LK_ERROR_ALIASING);
    COMPUTE(ce, c_misaligned, LK_ERROR_MISALIGNED);
    COMPUTE(ce, c_misaligned_loss, LK_ERROR_MISALIGNED);
    COMPUTE(ce, c_struct_size, LK_ERROR_BAD_STRUCT);
    COMPUTE(ce, c_reserved, LK_ERROR_BAD_STRUCT);
    COMPUTE(ce, c_null_logits, LK_ERROR_NULL_POINTER);
    COMPUTE(ce, c_null_target, LK_ERROR_NULL_POINTER);
    COMPUTE(ce, c_null_loss, LK_ERROR_NULL_POINTER);
    COMPUTE(ce, c_null_shape, LK_ERROR_NULL_POINTER);
    COMPUTE(NULL, NULL, LK_ERROR_NULL_POINTER);
    COMPUTE(la, NULL, LK_ERROR_BAD_PARAM); /* priors are required */
    COMPUTE(ce, c_in_place, LK_OK);
    COMPUTE(ce, c_spatial, LK_OK);
    COMPUTE(ce, c_empty, LK_OK);
    COMPUTE(ce, c_all_ignored, LK_OK);
    COMPUTE(ce, c_float32, LK_OK);
    EXPECT(lk_loss_compute(ce, NULL), LK_ERROR_NULL_POINTER);
    fixture f;
    fixture_init(&f);
    EXPECT(lk_loss_compute_at(ce, &f.b, 2.0), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_compute_at(ce, &f.b, NAN), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_compute_at(ce, &f.b, 0.5), LK_OK);
    EXPECT(lk_loss_set_param_string(ce, "nan_policy", "propagate"), LK_OK);
    COMPUTE(ce, c_nan_logit, LK_OK);

    lk_loss_destroy(ce);
    lk_loss_destroy(dice);
    lk_loss_destroy(focal);
    lk_loss_destroy(la);
}

static void test_mix_errors(void) {
    lk_loss *ce = NULL, *mix = (lk_loss *)1;
    EXPECT(lk_loss_create("cross_entropy", &ce), LK_OK);
    const lk_loss *parts[2] = {ce, NULL};
    EXPECT(lk_mix_create(parts, 0, &mix), LK_ERROR_BAD_PARAM);
    CHECK(mix == NULL);
    EXPECT(lk_mix_create(parts, 2, &mix), LK_ERROR_NULL_POINTER);
    EXPECT(lk_mix_create(NULL, 1, &mix), LK_ERROR_NULL_POINTER);
    EXPECT(lk_mix_create(parts, 1, NULL), LK_ERROR_NULL_POINTER);
    EXPECT(lk_mix_create(parts, 1, &mix), LK_OK);
    EXPECT(lk_loss_set_param(mix, "w0", -1.0), LK_ERROR_BAD_PARAM);
    EXPECT(lk_loss_set_param(mix, "w1", 1.0), LK_ERROR_UNKNOWN_PARAM);
    EXPECT(lk_loss_set_param_string(mix, "w0_schedule", "cosine"), LK_OK);
    lk_loss_destroy(ce); /* the mix keeps its copy */
    COMPUTE(mix, NULL, LK_OK);
    COMPUTE(mix, c_nan_logit, LK_ERROR_NONFINITE_LOGIT);
    lk_loss_destroy(mix);
}

/* Every registered loss: create, configure what it needs, compute in several layouts, destroy; then
 * a mix of all of them, on one and on several threads. */
static void test_every_loss(void) {
    int64_t count = lk_loss_count(), i, cycle;
    lk_loss *all[64];
    int n = 0;
    double priors[C] = {0.2, 0.3, 0.5};
    for (cycle = 0; cycle < 3; ++cycle) {
        for (i = 0; i < count && i < 64; ++i) {
            const char *name = lk_loss_name_at(i);
            lk_loss *loss = NULL;
            if (!EXPECT(lk_loss_create(name, &loss), LK_OK)) continue;
            if (strcmp(name, "logit_adjusted") == 0) EXPECT(lk_loss_set_param_array(loss, "priors", priors, C), LK_OK);
            COMPUTE(loss, NULL, LK_OK);
            COMPUTE(loss, c_spatial, LK_OK);
            COMPUTE(loss, c_in_place, LK_OK);
            COMPUTE(loss, c_float32, LK_OK);
            COMPUTE(loss, c_bad_weight, LK_ERROR_BAD_WEIGHT);
            if (cycle == 0) all[n++] = loss;
            else lk_loss_destroy(loss);
        }
    }
    lk_loss *mix = NULL;
    EXPECT(lk_mix_create((const lk_loss *const *)all, n, &mix), LK_OK);
    const lk_loss *nested_parts[2] = {mix, all[0]};
    lk_loss *nested = NULL;
    EXPECT(lk_mix_create(nested_parts, 2, &nested), LK_OK);
    for (i = 0; i < n; ++i) lk_loss_destroy(all[i]);
    COMPUTE(mix, NULL, LK_OK);
    COMPUTE(nested, c_spatial, LK_OK);
    COMPUTE(mix, c_none, LK_ERROR_BAD_REDUCTION); /* dice is in it */

    /* Several threads: 40000 samples of 2 classes is more than one chunk. */
    lk_loss *ce = NULL;
    EXPECT(lk_loss_create("squentropy", &ce), LK_OK);
    enum { BIG = 40000 };
    float *logits = malloc(sizeof(float) * BIG * 2), *grad = malloc(sizeof(float) * BIG * 2), loss = 0;
    int32_t *target = malloc(sizeof(int32_t) * BIG);
    for (i = 0; i < BIG * 2; ++i) logits[i] = (float)((i % 11) - 5) * 0.1f;
    for (i = 0; i < BIG; ++i) target[i] = (int32_t)(i % 2);
    int64_t shape[2] = {BIG, 2};
    lk_batch b;
    lk_batch_init(&b);
    b.ndim = 2;
    b.shape = shape;
    b.logits_dtype = LK_FLOAT32;
    b.target_dtype = LK_INT32;
    b.logits = logits;
    b.target = target;
    b.loss = &loss;
    b.grad = grad;
    EXPECT(lk_set_num_threads(2), LK_OK);
    EXPECT(lk_loss_compute(ce, &b), LK_OK);
    EXPECT(lk_loss_compute(mix, &b), LK_ERROR_BAD_PARAM); /* logit_adjusted's priors have length 3, not 2 */
    EXPECT(lk_set_num_threads(0), LK_OK);
    free(logits), free(grad), free(target);
    lk_loss_destroy(ce);
    lk_loss_destroy(mix);
    lk_loss_destroy(nested);
}

static void test_user_losses(void) {
    lk_loss_callbacks cb = callbacks(ce_row, NULL, 0);
    EXPECT(lk_register_loss("c_row_loss", &cb), LK_OK);
    lk_loss_callbacks dup = callbacks(ce_row, NULL, -1);
    EXPECT(lk_register_loss("c_row_loss", &dup), LK_ERROR_DUPLICATE_NAME);
    EXPECT(lk_register_loss("cross_entropy", &dup), LK_ERROR_DUPLICATE_NAME);
    EXPECT(lk_register_loss("bad name", &dup), LK_ERROR_BAD_NAME);
    EXPECT(lk_register_loss("", &dup), LK_ERROR_BAD_NAME);
    EXPECT(lk_register_loss(NULL, &dup), LK_ERROR_NULL_POINTER);
    EXPECT(lk_register_loss("c_other", NULL), LK_ERROR_NULL_POINTER);
    lk_loss_callbacks bad = dup;
    bad.abi_version = LK_LOSS_ABI_VERSION + 1;
    EXPECT(lk_register_loss("c_other", &bad), LK_ERROR_ABI_VERSION);
    bad = dup;
    bad.struct_size = 8;
    EXPECT(lk_register_loss("c_other", &bad), LK_ERROR_ABI_VERSION);
    bad = dup;
    bad.batch = mean_batch;
    EXPECT(lk_register_loss("c_other", &bad), LK_ERROR_BAD_PARAM);
    bad = dup;
    bad.row = NULL;
    EXPECT(lk_register_loss("c_other", &bad), LK_ERROR_BAD_PARAM);
    bad = dup;
    bad.reserved = 1;
    EXPECT(lk_register_loss("c_other", &bad), LK_ERROR_BAD_PARAM);
    CHECK(destroyed[0] == 0);

    /* destroy runs at unregistration when no handle uses the loss ... */
    lk_loss *loss = NULL;
    EXPECT(lk_loss_create("c_row_loss", &loss), LK_OK);
    COMPUTE(loss, NULL, LK_OK);
    COMPUTE(loss, c_spatial, LK_OK);
    lk_loss_destroy(loss);
    EXPECT(lk_unregister_loss("c_row_loss"), LK_OK);
    CHECK(destroyed[0] == 1);
    EXPECT(lk_unregister_loss("c_row_loss"), LK_ERROR_UNKNOWN_LOSS);
    EXPECT(lk_unregister_loss(NULL), LK_ERROR_NULL_POINTER);
    EXPECT(lk_loss_create("c_row_loss", &loss), LK_ERROR_UNKNOWN_LOSS);

    /* ... or when the last handle (here a mix) goes. */
    lk_loss_callbacks whole = callbacks(NULL, mean_batch, 1);
    EXPECT(lk_register_loss("c_batch_loss", &whole), LK_OK);
    EXPECT(lk_loss_create("c_batch_loss", &loss), LK_OK);
    const lk_loss *parts[1] = {loss};
    lk_loss *mix = NULL;
    EXPECT(lk_mix_create(parts, 1, &mix), LK_OK);
    EXPECT(lk_unregister_loss("c_batch_loss"), LK_OK);
    COMPUTE(loss, NULL, LK_OK);
    COMPUTE(loss, c_none, LK_ERROR_BAD_REDUCTION);
    lk_loss_destroy(loss);
    CHECK(destroyed[1] == 0);
    COMPUTE(mix, NULL, LK_OK);
    lk_loss_destroy(mix);
    CHECK(destroyed[1] == 1);

    /* Failing callbacks. */
    lk_loss_callbacks failing = callbacks(failing_row, NULL, 2);
    failing.flags = 0; /* one thread at a time */
    EXPECT(lk_register_loss("c_failing", &failing), LK_OK);
    EXPECT(lk_loss_create("c_failing", &loss), LK_OK);
    COMPUTE(loss, NULL, LK_ERROR_CALLBACK_FAILED);
    lk_loss_destroy(loss);
    EXPECT(lk_unregister_loss("c_failing"), LK_OK);
    CHECK(destroyed[2] == 1);
    lk_loss_callbacks nan = callbacks(nan_row, NULL, 3);
    EXPECT(lk_register_loss("c_nan", &nan), LK_OK);
    EXPECT(lk_loss_create("c_nan", &loss), LK_OK);
    COMPUTE(loss, NULL, LK_ERROR_CALLBACK_FAILED);
    EXPECT(lk_unregister_loss("c_nan"), LK_OK);
    CHECK(destroyed[3] == 0);
    lk_loss_destroy(loss);
    CHECK(destroyed[3] == 1);
    lk_set_callback_error("outside a callback"); /* harmless */
    lk_set_callback_error(NULL);

    /* A full registry. */
    int64_t start = lk_loss_count(), i, added = 0;
    char name[32];
    lk_loss_callbacks plain = callbacks(ce_row, NULL, -1);
    for (i = 0; start + added < LK_REGISTRY_CAPACITY; ++i, ++added) {
        snprintf(name, sizeof name, "fill_%lld", (long long)i);
        if (lk_register_loss(name, &plain) != LK_OK) break;
    }
    CHECK(lk_loss_count() == LK_REGISTRY_CAPACITY);
    EXPECT(lk_register_loss("one_too_many", &plain), LK_ERROR_REGISTRY_FULL);
    for (i = 0; i < added; ++i) {
        snprintf(name, sizeof name, "fill_%lld", (long long)i);
        if (lk_unregister_loss(name) != LK_OK) failed++;
    }
    CHECK(lk_loss_count() == start);
}

static void test_plugins(const char *plugin_dir) {
    int64_t count = lk_loss_count();
    EXPECT(lk_plugin_load("/nonexistent/losskit_plugin.so"), LK_ERROR_PLUGIN);
    EXPECT(lk_plugin_load("/dev/null"), LK_ERROR_PLUGIN);
    EXPECT(lk_plugin_load("libm.so.6"), LK_ERROR_PLUGIN); /* no lk_plugin_init */
    EXPECT(lk_plugin_load(NULL), LK_ERROR_NULL_POINTER);
    if (plugin_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/librollback_plugin.so", plugin_dir);
        EXPECT(lk_plugin_load(path), LK_ERROR_PLUGIN);
        CHECK(strstr(lk_last_error_message(), "failing on purpose") != NULL);
        EXPECT(lk_plugin_load(path), LK_ERROR_PLUGIN);
        /* Its first loss owns malloc'd user_data freed by a destroy callback inside the plugin: the
         * rollback must run it before closing the library (no leak, no jump into unmapped code). */
        snprintf(path, sizeof path, "%s/librollback_destroy_plugin.so", plugin_dir);
        EXPECT(lk_plugin_load(path), LK_ERROR_PLUGIN);
        EXPECT(lk_plugin_load(path), LK_ERROR_PLUGIN);
    }
    CHECK(lk_loss_count() == count);
}

int main(int argc, char **argv) {
    test_create_and_params();
    test_compute_errors();
    test_mix_errors();
    test_every_loss();
    test_user_losses();
    test_plugins(argc > 1 ? argv[1] : NULL);
    int s, missing = 0;
    for (s = 0; s <= LK_ERROR_PLUGIN; ++s) {
        if (s == LK_ERROR_INTERNAL || seen[s]) continue;
        printf("FAIL: status %d (%s) was never produced\n", s, lk_status_string((lk_status)s));
        missing++;
    }
    failed += missing;
    printf("error_paths: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
