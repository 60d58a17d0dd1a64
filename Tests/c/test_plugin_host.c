/* Tests of the plugin host through the C ABI: the registry, user row losses (results, validation,
 * failures, lifetime, threading), plugins (the example one and broken ones) and weighted mixes.
 *
 * Usage: test_plugin_host PLUGIN_DIR   (the directory Tests/c/run.sh builds the plugins into)
 * A plain runner: every CHECK is one test; the output ends with "N passed, M failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch_data.h"
#include "check.h"
#include "losskit.h"
#include "user_losses.h"

static const char *g_plugin_dir = ".";

/* ------------------------------------------------------------------ helpers */

static lk_loss *create(const char *name) {
    lk_loss *loss = NULL;
    CHECK_STATUS(lk_loss_create(name, &loss), LK_OK);
    return loss;
}

static char *plugin_path(const char *file) {
    static char paths[8][4096];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", g_plugin_dir, file);
    return path;
}

static int registered(const char *name) {
    const int64_t count = lk_loss_count();
    int64_t i;
    for (i = 0; i < count; ++i) {
        const char *at = lk_loss_name_at(i);
        if (at && strcmp(at, name) == 0) return 1;
    }
    return 0;
}

/* A copy of the registry's names, in order, to prove a failed operation left it as it was. */
typedef struct snapshot {
    int64_t count;
    char (*names)[LK_MAX_NAME_LENGTH + 1];
} snapshot;

static snapshot take_snapshot(void) {
    snapshot s;
    int64_t i;
    s.count = lk_loss_count();
    s.names = calloc((size_t)s.count + 1, sizeof *s.names);
    for (i = 0; i < s.count; ++i) {
        const char *name = lk_loss_name_at(i);
        snprintf(s.names[i], sizeof s.names[i], "%s", name ? name : "(null)");
    }
    return s;
}

static int same_registry(const snapshot *before) {
    snapshot now = take_snapshot();
    int same = now.count == before->count;
    int64_t i;
    for (i = 0; same && i < now.count; ++i) same = strcmp(now.names[i], before->names[i]) == 0;
    free(now.names);
    return same;
}

/* True when `a` and `b` give the same loss (and gradient) on `d` within `tol`; prints a mismatch. */
static int same_results(const lk_loss *a, const lk_loss *b, const data *d, double tol, const char *label) {
    outputs x = evaluate(a, d, NO_PROGRESS), y = evaluate(b, d, NO_PROGRESS);
    int ok = x.status == LK_OK && y.status == LK_OK;
    if (!ok) printf("  %s: statuses %d, %d (%s)\n", label, (int)x.status, (int)y.status, lk_last_error_message());
    ok = ok && all_near(x.loss, y.loss, d->loss_count, tol, label);
    if (ok && d->s.with_grad) ok = all_near(x.grad, y.grad, d->elements, tol, label);
    free_outputs(&x);
    free_outputs(&y);
    return ok;
}

/* ------------------------------------------------------------------- registry */

static void test_registry_listing(void) {
    const char *builtins[] = {"cross_entropy", "expectation", "ce_expectation_mix", "squentropy", "dice"};
    const int64_t count = lk_loss_count();
    int64_t i;
    size_t k;
    int all_named = 1, all_create = 1;
    CHECK(count >= 5);
    for (k = 0; k < sizeof builtins / sizeof *builtins; ++k) CHECK(registered(builtins[k]));
    for (i = 0; i < count; ++i) {
        const char *name = lk_loss_name_at(i);
        lk_loss *loss = NULL;
        all_named = all_named && name != NULL && name[0] != '\0';
        if (!name) continue;
        all_create = all_create && lk_loss_create(name, &loss) == LK_OK && strcmp(lk_loss_get_name(loss), name) == 0;
        lk_loss_destroy(loss);
    }
    CHECK(all_named);
    CHECK(all_create);
    CHECK(lk_loss_name_at(-1) == NULL);
    CHECK(lk_loss_name_at(count) == NULL);
    CHECK(lk_loss_name_at(INT64_MAX) == NULL);
    CHECK(lk_loss_name_at(INT64_MIN) == NULL);
}

/* ------------------------------------------------------- a user loss, end to end */

/* The C cross-entropy against the built-in one over dtypes, layouts, reductions and options. */
static void compare_with_builtin(const lk_loss *user, const lk_loss *builtin) {
    const int32_t dtypes[] = {LK_FLOAT32, LK_FLOAT64};
    const int32_t reductions[] = {LK_REDUCTION_MEAN, LK_REDUCTION_SUM, LK_REDUCTION_NONE};
    int di, layout, ri, variant;
    for (di = 0; di < 2; ++di)
        for (layout = 0; layout < 2; ++layout)
            for (ri = 0; ri < 3; ++ri)
                for (variant = 0; variant < 3; ++variant) {
                    spec s = spec_2d(7, 5, (uint32_t)(11 + 3 * layout + variant));
                    data d;
                    char label[160];
                    if (layout == 1) { /* (N, C, d1, d2): rows are class-strided */
                        s.ndim = 4;
                        s.shape[0] = 3, s.shape[1] = 4, s.shape[2] = 2, s.shape[3] = 3;
                    }
                    s.dtype = dtypes[di];
                    s.reduction = reductions[ri];
                    if (variant == 1) { /* class weights (one of them 0), ignored samples, dloss */
                        s.weighted = 1;
                        s.ignore_every = 3;
                        s.with_dloss = 1;
                    } else if (variant == 2) { /* in place, int32 targets, a valid class as ignore_index */
                        s.in_place = 1;
                        s.target_dtype = LK_INT32;
                        s.ignore_index = 1;
                        s.weighted = 1;
                    }
                    snprintf(label, sizeof label, "%s %s reduction %d variant %d",
                             dtypes[di] == LK_FLOAT32 ? "float32" : "float64", layout ? "(N,C,d1,d2)" : "(N,C)",
                             (int)reductions[ri], variant);
                    d = make_data(&s);
                    check_record(same_results(user, builtin, &d, 1e-6, label), label, __FILE__, __LINE__);
                    free_data(&d);
                }
}

static void test_user_row_loss(void) {
    user_state state;
    lk_loss_callbacks callbacks;
    const int64_t before = lk_loss_count();
    lk_loss *user, *builtin = create("cross_entropy");
    user_state_init(&state);
    callbacks = row_callbacks(checked_ce_row, &state, count_destroy, 0);

    CHECK_STATUS(lk_register_loss("c_cross_entropy", &callbacks), LK_OK);
    CHECK(lk_loss_count() == before + 1);
    CHECK(lk_loss_name_at(before) && strcmp(lk_loss_name_at(before), "c_cross_entropy") == 0);
    CHECK(registered("c_cross_entropy"));
    user = create("c_cross_entropy");
    CHECK(user && strcmp(lk_loss_get_name(user), "c_cross_entropy") == 0);

    compare_with_builtin(user, builtin);
    CHECK(atomic_load(&state.calls) > 0);

    { /* an empty batch: the callback is not needed and the mean is 0 */
        spec s = spec_2d(0, 4, 1);
        data d = make_data(&s);
        outputs o = evaluate(user, &d, NO_PROGRESS);
        const long calls = atomic_load(&state.calls);
        CHECK_STATUS(o.status, LK_OK);
        CHECK(o.loss[0] == 0.0);
        CHECK(atomic_load(&state.calls) == calls);
        free_outputs(&o);
        free_data(&d);
    }
    { /* validation happens before any callback: a NaN logit or a bad target never reaches it */
        spec s = spec_2d(4, 3, 2);
        data d = make_data(&s);
        const long calls = atomic_load(&state.calls);
        outputs o;
        set_float(d.logits, d.s.dtype, 5, nan(""));
        o = evaluate(user, &d, NO_PROGRESS);
        CHECK_STATUS(o.status, LK_ERROR_NONFINITE_LOGIT);
        CHECK(untouched(&o, &d));
        free_outputs(&o);
        set_float(d.logits, d.s.dtype, 5, 0.5);
        ((int64_t *)d.target)[3] = 3;
        o = evaluate(user, &d, NO_PROGRESS);
        CHECK_STATUS(o.status, LK_ERROR_TARGET_OUT_OF_RANGE);
        CHECK(untouched(&o, &d));
        CHECK(atomic_load(&state.calls) == calls);
        free_outputs(&o);
        free_data(&d);
    }
    { /* user losses take the common parameters; they have none of their own */
        double value = 0;
        CHECK_STATUS(lk_loss_set_param_string(user, "nan_policy", "error"), LK_OK);
        CHECK_STATUS(lk_loss_set_param(user, "label_smoothing", 0.1), LK_ERROR_UNKNOWN_PARAM);
        CHECK_STATUS(lk_loss_get_param(user, "no_such", &value), LK_ERROR_UNKNOWN_PARAM);
    }

    lk_loss_destroy(user);
    CHECK(atomic_load(&state.destroyed) == 0); /* still registered */
    CHECK_STATUS(lk_unregister_loss("c_cross_entropy"), LK_OK);
    CHECK(atomic_load(&state.destroyed) == 1);
    CHECK(!registered("c_cross_entropy"));
    CHECK(lk_loss_count() == before);
    CHECK_STATUS(lk_unregister_loss("c_cross_entropy"), LK_ERROR_UNKNOWN_LOSS);
    CHECK_STATUS(lk_unregister_loss(NULL), LK_ERROR_NULL_POINTER);
    CHECK(atomic_load(&state.destroyed) == 1);
    lk_loss_destroy(builtin);
}

/* ------------------------------------------------------- registration refused */

static void test_registration_errors(void) {
    user_state state;
    lk_loss_callbacks good, bad;
    char long_name[LK_MAX_NAME_LENGTH + 2], max_name[LK_MAX_NAME_LENGTH + 1];
    snapshot before;
    user_state_init(&state);
    good = row_callbacks(checked_ce_row, &state, count_destroy, 0);
    CHECK_STATUS(lk_register_loss("dup_loss", &good), LK_OK);
    before = take_snapshot();

    CHECK_STATUS(lk_register_loss("dup_loss", &good), LK_ERROR_DUPLICATE_NAME);
    CHECK(message_has("dup_loss"));
    CHECK_STATUS(lk_register_loss("cross_entropy", &good), LK_ERROR_DUPLICATE_NAME);
    CHECK_STATUS(lk_register_loss(NULL, &good), LK_ERROR_NULL_POINTER);
    CHECK_STATUS(lk_register_loss("null_callbacks", NULL), LK_ERROR_NULL_POINTER);

    bad = good;
    bad.batch = (lk_batch_loss_fn)0;
    bad.row = NULL;
    CHECK_STATUS(lk_register_loss("neither_fn", &bad), LK_ERROR_BAD_PARAM);
    bad = good;
    bad.batch = (lk_batch_loss_fn)(void (*)(void))plain_ce_row; /* any non-NULL pointer: never called */
    CHECK_STATUS(lk_register_loss("both_fns", &bad), LK_ERROR_BAD_PARAM);
    bad = good;
    bad.abi_version = LK_LOSS_ABI_VERSION + 1;
    CHECK_STATUS(lk_register_loss("wrong_abi", &bad), LK_ERROR_ABI_VERSION);
    bad.abi_version = 0;
    CHECK_STATUS(lk_register_loss("wrong_abi", &bad), LK_ERROR_ABI_VERSION);
    bad = good;
    bad.struct_size = sizeof bad - 8;
    CHECK_STATUS(lk_register_loss("wrong_size", &bad), LK_ERROR_ABI_VERSION);
    bad.struct_size = sizeof bad + 8;
    CHECK_STATUS(lk_register_loss("wrong_size", &bad), LK_ERROR_ABI_VERSION);
    bad = good;
    bad.reserved = 1;
    CHECK_STATUS(lk_register_loss("reserved_set", &bad), LK_ERROR_BAD_PARAM);

    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0'; /* 64 bytes */
    CHECK_STATUS(lk_register_loss(long_name, &good), LK_ERROR_BAD_NAME);
    CHECK_STATUS(lk_register_loss("", &good), LK_ERROR_BAD_NAME);
    CHECK_STATUS(lk_register_loss("caf\xc3", &good), LK_ERROR_BAD_NAME);       /* truncated UTF-8 */
    CHECK_STATUS(lk_register_loss("\xff\xfe", &good), LK_ERROR_BAD_NAME);      /* never UTF-8 */
    CHECK_STATUS(lk_register_loss("caf\xc3\xa9", &good), LK_ERROR_BAD_NAME);   /* UTF-8, not allowed */
    CHECK_STATUS(lk_register_loss("has space", &good), LK_ERROR_BAD_NAME);
    CHECK_STATUS(lk_register_loss("slash/name", &good), LK_ERROR_BAD_NAME);
    CHECK_STATUS(lk_register_loss("mix(a,b)", &good), LK_ERROR_BAD_NAME);
    CHECK_STATUS(lk_register_loss("tab\tname", &good), LK_ERROR_BAD_NAME);
    CHECK(same_registry(&before));
    CHECK(atomic_load(&state.destroyed) == 0); /* a refused registration never calls destroy */

    /* The edges that are allowed: 63 bytes, and every allowed character class. */
    memset(max_name, 'b', sizeof max_name - 1);
    max_name[sizeof max_name - 1] = '\0';
    CHECK_STATUS(lk_register_loss(max_name, &good), LK_OK);
    CHECK_STATUS(lk_register_loss("Az09_-.", &good), LK_OK);
    CHECK_STATUS(lk_unregister_loss(max_name), LK_OK);
    CHECK_STATUS(lk_unregister_loss("Az09_-."), LK_OK);
    CHECK_STATUS(lk_unregister_loss("dup_loss"), LK_OK);
    CHECK(atomic_load(&state.destroyed) == 3); /* one destroy per registration that succeeded */
    free(before.names);
}

/* ------------------------------------------------------------ callbacks failing */

/* Registers `row` under `name`, runs it on a batch containing target 2 and checks that the call fails
 * with LK_ERROR_CALLBACK_FAILED, the message containing `message`, and no output written. */
static void expect_callback_failure(const char *name, lk_row_loss_fn row, uint32_t flags, const char *message) {
    lk_loss_callbacks callbacks = row_callbacks(row, NULL, NULL, flags);
    const int32_t dtypes[] = {LK_FLOAT32, LK_FLOAT64};
    const int32_t reductions[] = {LK_REDUCTION_MEAN, LK_REDUCTION_NONE};
    lk_loss *loss;
    int di, ri, in_place;
    CHECK_STATUS(lk_register_loss(name, &callbacks), LK_OK);
    loss = create(name);
    for (di = 0; di < 2; ++di)
        for (ri = 0; ri < 2; ++ri)
            for (in_place = 0; in_place < 2; ++in_place) {
                spec s = spec_2d(9, 4, 5);
                data d;
                outputs o;
                s.dtype = dtypes[di];
                s.reduction = reductions[ri];
                s.in_place = in_place;
                d = make_data(&s);
                o = evaluate(loss, &d, NO_PROGRESS);
                CHECK_STATUS(o.status, LK_ERROR_CALLBACK_FAILED);
                if (message) CHECK(message_has(message));
                else CHECK(lk_last_error_message()[0] != '\0');
                CHECK(untouched(&o, &d));
                free_outputs(&o);
                free_data(&d);
            }
    lk_loss_destroy(loss);
    CHECK_STATUS(lk_unregister_loss(name), LK_OK);
}

static void test_callback_failures(void) {
    expect_callback_failure("failing_row", failing_row, 0, FAILING_MESSAGE);
    expect_callback_failure("silent_failing_row", silent_failing_row, 0, NULL);
    expect_callback_failure("nan_row", nan_row, 0, NULL);
    expect_callback_failure("inf_grad_row", inf_grad_row, 0, NULL);

    { /* A failure on a worker thread: the message set there still reaches the caller's thread. */
        lk_loss_callbacks callbacks = row_callbacks(failing_row, NULL, NULL, LK_CALLBACK_THREAD_SAFE);
        spec s = spec_2d(40000, 3, 9); /* several chunks; only late rows have target 2 */
        data d;
        outputs o;
        lk_loss *loss;
        int64_t i;
        CHECK_STATUS(lk_register_loss("failing_parallel", &callbacks), LK_OK);
        loss = create("failing_parallel");
        s.in_place = 1;
        d = make_data(&s);
        for (i = 0; i < d.samples; ++i) ((int64_t *)d.target)[i] = i == d.samples - 5 ? 2 : i % 2;
        lk_set_num_threads(4);
        o = evaluate(loss, &d, NO_PROGRESS);
        CHECK_STATUS(o.status, LK_ERROR_CALLBACK_FAILED);
        CHECK(message_has(FAILING_MESSAGE)); /* before the next losskit call replaces it */
        CHECK(untouched(&o, &d));
        lk_set_num_threads(0);
        free_outputs(&o);
        free_data(&d);
        lk_loss_destroy(loss);
        CHECK_STATUS(lk_unregister_loss("failing_parallel"), LK_OK);
    }
    { /* A note left by a callback that succeeded is not an error: the caller reads "". */
        lk_loss_callbacks callbacks = row_callbacks(chatty_row, NULL, NULL, 0);
        spec s = spec_2d(3, 3, 4);
        data d = make_data(&s);
        outputs o;
        lk_loss *loss;
        CHECK_STATUS(lk_register_loss("chatty_row", &callbacks), LK_OK);
        loss = create("chatty_row");
        o = evaluate(loss, &d, NO_PROGRESS);
        CHECK_STATUS(o.status, LK_OK);
        CHECK(strcmp(lk_last_error_message(), "") == 0);
        if (lk_last_error_message()[0] != '\0') printf("  after a successful call: \"%s\"\n", lk_last_error_message());
        free_outputs(&o);
        free_data(&d);
        lk_loss_destroy(loss);
        CHECK_STATUS(lk_unregister_loss("chatty_row"), LK_OK);
    }
}

/* ------------------------------------------------------------------- lifetime */

static void test_unregister_while_in_use(void) {
    user_state state;
    lk_loss_callbacks callbacks;
    lk_loss *user, *again = NULL, *mix = NULL, *builtin = create("cross_entropy");
    spec s = spec_2d(6, 4, 21);
    data d = make_data(&s);
    user_state_init(&state);
    callbacks = row_callbacks(checked_ce_row, &state, count_destroy, 0);
    CHECK_STATUS(lk_register_loss("short_lived", &callbacks), LK_OK);
    user = create("short_lived");
    CHECK_STATUS(lk_mix_create((const lk_loss *const *)&user, 1, &mix), LK_OK);

    CHECK_STATUS(lk_unregister_loss("short_lived"), LK_OK);
    CHECK(!registered("short_lived"));
    CHECK_STATUS(lk_loss_create("short_lived", &again), LK_ERROR_UNKNOWN_LOSS);
    CHECK(again == NULL);
    CHECK(atomic_load(&state.destroyed) == 0);
    CHECK(same_results(user, builtin, &d, 1e-12, "unregistered loss still computes"));
    CHECK(strcmp(lk_loss_get_name(user), "short_lived") == 0);

    /* The name is free again, for a new loss with its own user_data. */
    {
        user_state other;
        lk_loss_callbacks other_callbacks;
        user_state_init(&other);
        other_callbacks = row_callbacks(checked_ce_row, &other, count_destroy, 0);
        CHECK_STATUS(lk_register_loss("short_lived", &other_callbacks), LK_OK);
        CHECK_STATUS(lk_unregister_loss("short_lived"), LK_OK);
        CHECK(atomic_load(&other.destroyed) == 1);
    }
    CHECK(atomic_load(&state.destroyed) == 0);

    lk_loss_destroy(user);
    CHECK(atomic_load(&state.destroyed) == 0); /* the mix holds a copy */
    CHECK(same_results(mix, builtin, &d, 1e-12, "mix of an unregistered loss"));
    lk_loss_destroy(mix);
    CHECK(atomic_load(&state.destroyed) == 1);
    free_data(&d);
    lk_loss_destroy(builtin);
}

/* -------------------------------------------------------------------- threads */

typedef struct compute_job {
    const lk_loss *loss;
    const data *d;
    const double *want_loss;
    int rounds;
    int ok;
} compute_job;

static void *compute_rounds(void *arg) {
    compute_job *job = (compute_job *)arg;
    int r;
    job->ok = 1;
    for (r = 0; r < job->rounds; ++r) {
        outputs o = evaluate(job->loss, job->d, NO_PROGRESS);
        job->ok = job->ok && o.status == LK_OK && near(o.loss[0], job->want_loss[0], 1e-12);
        free_outputs(&o);
    }
    return NULL;
}

/* Runs `threads` pthreads computing `loss` on `d` at once; true when every result was right. */
static int compute_concurrently(const lk_loss *loss, const data *d, const double *want, int threads, int rounds) {
    pthread_t ids[8];
    compute_job jobs[8];
    int t, ok = 1;
    for (t = 0; t < threads; ++t) {
        jobs[t].loss = loss, jobs[t].d = d, jobs[t].want_loss = want, jobs[t].rounds = rounds;
        pthread_create(&ids[t], NULL, compute_rounds, &jobs[t]);
    }
    for (t = 0; t < threads; ++t) {
        pthread_join(ids[t], NULL);
        ok = ok && jobs[t].ok;
    }
    return ok;
}

static void test_callback_threading(void) {
    overlap_state serial, parallel;
    lk_loss_callbacks callbacks;
    lk_loss *loss, *builtin = create("cross_entropy");
    spec s = spec_2d(32768, 4, 31); /* 4 chunks of work: the host would split it across threads */
    data d = make_data(&s);
    outputs want = evaluate(builtin, &d, NO_PROGRESS);
    memset(&serial, 0, sizeof serial);
    memset(&parallel, 0, sizeof parallel);
    lk_set_num_threads(4);

    /* Without LK_CALLBACK_THREAD_SAFE: one thread at a time, within one call and across calls. */
    callbacks = row_callbacks(overlap_row, &serial, NULL, 0);
    CHECK_STATUS(lk_register_loss("serial_row", &callbacks), LK_OK);
    loss = create("serial_row");
    CHECK(same_results(loss, builtin, &d, 1e-12, "serial_row"));
    CHECK(atomic_load(&serial.most) == 1);
    CHECK(compute_concurrently(loss, &d, want.loss, 4, 2));
    CHECK(atomic_load(&serial.calls) == 9 * d.samples);
    if (atomic_load(&serial.most) != 1)
        printf("  a non-thread-safe callback had %d threads inside at once\n", atomic_load(&serial.most));
    CHECK(atomic_load(&serial.most) == 1);
    lk_loss_destroy(loss);
    CHECK_STATUS(lk_unregister_loss("serial_row"), LK_OK);

    /* With it: the host may (and, with several CPUs and chunks, does) run it on several threads. */
    callbacks = row_callbacks(overlap_row, &parallel, NULL, LK_CALLBACK_THREAD_SAFE);
    CHECK_STATUS(lk_register_loss("parallel_row", &callbacks), LK_OK);
    loss = create("parallel_row");
    CHECK(same_results(loss, builtin, &d, 1e-12, "parallel_row"));
    CHECK(compute_concurrently(loss, &d, want.loss, 4, 2));
    if (sysconf(_SC_NPROCESSORS_ONLN) > 1) CHECK(atomic_load(&parallel.most) > 1);
    else printf("  (one CPU: overlap of a thread-safe callback not checked)\n");
    lk_loss_destroy(loss);
    CHECK_STATUS(lk_unregister_loss("parallel_row"), LK_OK);

    lk_set_num_threads(0);
    free_outputs(&want);
    free_data(&d);
    lk_loss_destroy(builtin);
}

typedef struct churn_job {
    int id;
    const data *d;
    const double *want;
    int ok;
} churn_job;

/* Registers, uses and unregisters losses of its own while other threads do the same. */
static void *churn(void *arg) {
    churn_job *job = (churn_job *)arg;
    int round;
    job->ok = 1;
    for (round = 0; round < 40; ++round) {
        char name[32];
        lk_loss_callbacks callbacks = row_callbacks(plain_ce_row, NULL, NULL, round % 2 ? LK_CALLBACK_THREAD_SAFE : 0);
        lk_loss *loss = NULL;
        outputs o;
        snprintf(name, sizeof name, "churn_%d_%d", job->id, round);
        job->ok = job->ok && lk_register_loss(name, &callbacks) == LK_OK;
        job->ok = job->ok && lk_register_loss(name, &callbacks) == LK_ERROR_DUPLICATE_NAME;
        job->ok = job->ok && lk_loss_create(name, &loss) == LK_OK;
        o = evaluate(loss, job->d, NO_PROGRESS);
        job->ok = job->ok && o.status == LK_OK && near(o.loss[0], job->want[0], 1e-12);
        free_outputs(&o);
        (void)lk_loss_name_at(lk_loss_count() - 1); /* listing while others change the list */
        job->ok = job->ok && lk_unregister_loss(name) == LK_OK;
        lk_loss_destroy(loss);
    }
    return NULL;
}

static void test_concurrent_registration(void) {
    enum { THREADS = 6 };
    pthread_t ids[THREADS];
    churn_job jobs[THREADS];
    lk_loss *builtin = create("cross_entropy");
    spec s = spec_2d(50, 6, 41);
    data d = make_data(&s);
    outputs want = evaluate(builtin, &d, NO_PROGRESS);
    snapshot before = take_snapshot();
    int t, ok = 1;
    for (t = 0; t < THREADS; ++t) {
        jobs[t].id = t, jobs[t].d = &d, jobs[t].want = want.loss;
        pthread_create(&ids[t], NULL, churn, &jobs[t]);
    }
    for (t = 0; t < THREADS; ++t) {
        pthread_join(ids[t], NULL);
        ok = ok && jobs[t].ok;
    }
    CHECK(ok);
    CHECK(same_registry(&before));
    free(before.names);
    free_outputs(&want);
    free_data(&d);
    lk_loss_destroy(builtin);
}

static void test_registry_capacity(void) {
    user_state state;
    lk_loss_callbacks callbacks;
    const int64_t start = lk_loss_count();
    int64_t i, added = 0;
    int all_ok = 1;
    char name[32];
    user_state_init(&state);
    callbacks = row_callbacks(plain_ce_row, &state, count_destroy, 0);
    CHECK(start < LK_REGISTRY_CAPACITY);
    for (i = start; i < LK_REGISTRY_CAPACITY; ++i, ++added) {
        snprintf(name, sizeof name, "cap_%lld", (long long)i);
        if (lk_register_loss(name, &callbacks) != LK_OK) {
            all_ok = 0;
            printf("  registering %s: %s\n", name, lk_last_error_message());
            break;
        }
    }
    CHECK(all_ok);
    CHECK(lk_loss_count() == LK_REGISTRY_CAPACITY);
    CHECK_STATUS(lk_register_loss("one_too_many", &callbacks), LK_ERROR_REGISTRY_FULL);
    CHECK_STATUS(lk_plugin_load(plugin_path("libcross_entropy_plugin.so")), LK_ERROR_PLUGIN);
    CHECK(lk_loss_count() == LK_REGISTRY_CAPACITY);
    CHECK(atomic_load(&state.destroyed) == 0);
    all_ok = 1;
    for (i = start; i < start + added; ++i) {
        snprintf(name, sizeof name, "cap_%lld", (long long)i);
        all_ok = all_ok && lk_unregister_loss(name) == LK_OK;
    }
    CHECK(all_ok);
    CHECK(lk_loss_count() == start);
    CHECK(atomic_load(&state.destroyed) == added);
}

/* -------------------------------------------------------------------- plugins */

static void test_example_plugin(void) {
    lk_loss *row, *whole, *builtin = create("cross_entropy");
    const int32_t dtypes[] = {LK_FLOAT32, LK_FLOAT64};
    int di, layout, variant;
    snapshot loaded;
    CHECK_STATUS(lk_plugin_load(plugin_path("libcross_entropy_plugin.so")), LK_OK);
    CHECK(registered("plugin_ce"));
    CHECK(registered("plugin_mean_ce"));
    row = create("plugin_ce");
    whole = create("plugin_mean_ce");
    compare_with_builtin(row, builtin);

    /* The whole-batch loss: mean reduction only, any layout, weights, ignore_index, dloss. */
    for (di = 0; di < 2; ++di)
        for (layout = 0; layout < 2; ++layout)
            for (variant = 0; variant < 3; ++variant) {
                spec s = spec_2d(8, 5, (uint32_t)(50 + variant));
                data d;
                if (layout) {
                    s.ndim = 4;
                    s.shape[0] = 2, s.shape[1] = 3, s.shape[2] = 4, s.shape[3] = 2;
                }
                s.dtype = dtypes[di];
                s.weighted = variant >= 1;
                s.ignore_every = variant >= 1 ? 3 : 0;
                s.with_dloss = variant == 2;
                s.in_place = variant == 2;
                s.target_dtype = variant == 2 ? LK_INT32 : LK_INT64;
                d = make_data(&s);
                CHECK(same_results(whole, builtin, &d, 1e-6, "plugin_mean_ce"));
                free_data(&d);
            }
    {
        spec s = spec_2d(4, 3, 7);
        data d;
        outputs o;
        s.reduction = LK_REDUCTION_NONE;
        d = make_data(&s);
        o = evaluate(whole, &d, NO_PROGRESS);
        CHECK_STATUS(o.status, LK_ERROR_BAD_REDUCTION);
        CHECK(untouched(&o, &d));
        free_outputs(&o);
        free_data(&d);
    }

    /* Loading it again fails (its names are taken) and leaves the first load's losses working. */
    loaded = take_snapshot();
    CHECK_STATUS(lk_plugin_load(plugin_path("libcross_entropy_plugin.so")), LK_ERROR_PLUGIN);
    CHECK(message_has("plugin_ce"));
    CHECK(same_registry(&loaded));
    {
        spec s = spec_2d(5, 4, 3);
        data d = make_data(&s);
        CHECK(same_results(row, builtin, &d, 1e-12, "plugin_ce after a failed reload"));
        free_data(&d);
    }
    free(loaded.names);
    lk_loss_destroy(row);
    lk_loss_destroy(whole);
    lk_loss_destroy(builtin);
}

static void test_broken_plugins(void) {
    snapshot before = take_snapshot();
    char text[] = "/tmp/losskit_not_a_library_XXXXXX";
    const int fd = mkstemp(text);
    CHECK_STATUS(lk_plugin_load(NULL), LK_ERROR_NULL_POINTER);
    CHECK_STATUS(lk_plugin_load(plugin_path("no_such_plugin.so")), LK_ERROR_PLUGIN);
    CHECK(message_has("no_such_plugin.so"));
    if (CHECK(fd >= 0)) { /* a file that exists but is not a shared library */
        CHECK(write(fd, "not ELF\n", 8) == 8);
        close(fd);
        CHECK_STATUS(lk_plugin_load(text), LK_ERROR_PLUGIN);
        unlink(text);
    }
    CHECK_STATUS(lk_plugin_load(plugin_path("libno_entry_plugin.so")), LK_ERROR_PLUGIN);
    CHECK(message_has("lk_plugin_init"));
    CHECK_STATUS(lk_plugin_load(plugin_path("libwrong_abi_plugin.so")), LK_ERROR_ABI_VERSION);
    CHECK(!registered("wrong_abi_loss")); /* its init never ran */
    CHECK_STATUS(lk_plugin_load(plugin_path("libfailing_init_plugin.so")), LK_ERROR_PLUGIN);
    CHECK(message_has("failing_init_plugin: no licence for this loss"));
    CHECK(same_registry(&before));
    free(before.names);
}

/* Loads the partial plugin and expects the registry as before. Run in a child process (see
 * run_isolated) when the plugin has a destroy callback: if the host ran it after closing the plugin,
 * the crash takes down only the child. */
static void partial_plugin_body(void) {
    snapshot before = take_snapshot();
    lk_loss *loss = NULL;
    CHECK_STATUS(lk_plugin_load(plugin_path("libpartial_plugin.so")), LK_ERROR_PLUGIN);
    CHECK(message_has("partial_plugin: gave up after registering two losses"));
    CHECK(same_registry(&before));
    CHECK(!registered("partial_first") && !registered("partial_second"));
    CHECK_STATUS(lk_loss_create("partial_first", &loss), LK_ERROR_UNKNOWN_LOSS);
    free(before.names);
}

/* Runs `body` in a forked child, adding its check counts to ours; a crash or hang is one failure. */
static void run_isolated(const char *what, void (*body)(void)) {
    int fds[2], status = 0;
    int counts[2] = {0, 0};
    pid_t pid;
    fflush(stdout);
    if (pipe(fds) != 0) {
        CHECK(!"pipe failed");
        return;
    }
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(60);
        atomic_store(&check_passed, 0);
        atomic_store(&check_failed, 0);
        body();
        counts[0] = atomic_load(&check_passed);
        counts[1] = atomic_load(&check_failed);
        if (write(fds[1], counts, sizeof counts) != (ssize_t)sizeof counts) _exit(3);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], counts, sizeof counts) == (ssize_t)sizeof counts) {
        atomic_fetch_add(&check_passed, counts[0]);
        atomic_fetch_add(&check_failed, counts[1]);
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) printf("  %s: child killed by signal %d (%s)\n", what, WTERMSIG(status), strsignal(WTERMSIG(status)));
    check_record(WIFEXITED(status) && WEXITSTATUS(status) == 0, what, __FILE__, __LINE__);
}

/* Reads the destroy marks the partial plugin left: the number of lines. */
static int count_lines(const char *path) {
    FILE *file = fopen(path, "r");
    int lines = 0, c;
    if (!file) return 0;
    while ((c = fgetc(file)) != EOF) lines += c == '\n';
    fclose(file);
    return lines;
}

static void test_partial_plugin_rollback(void) {
    char mark[] = "/tmp/losskit_partial_XXXXXX";
    const int fd = mkstemp(mark);
    /* Without a destroy callback: only the registry's rollback is under test. */
    unsetenv("LK_TEST_PARTIAL_MARK");
    run_isolated("partial plugin without destroy: rollback, process survives", partial_plugin_body);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    /* With one: it must run once, while the plugin's code is still loaded. */
    setenv("LK_TEST_PARTIAL_MARK", mark, 1);
    run_isolated("partial plugin with destroy: rollback, process survives", partial_plugin_body);
    if (count_lines(mark) != 1) printf("  destroy callback of the rolled-back loss ran %d times\n", count_lines(mark));
    CHECK(count_lines(mark) == 1);
    unsetenv("LK_TEST_PARTIAL_MARK");
    unlink(mark);
}

/* ----------------------------------------------------------------------- mixes */

/* Expects mix == Σ w_k·component_k on d (component outputs computed separately, at `progress`). */
static int mix_matches(const lk_loss *mix, double progress, int use_compute_at, const lk_loss *const *parts,
                       const double *weights, int count, const data *d, double tol, const char *label) {
    outputs got;
    double *want_loss = calloc((size_t)d->loss_count, sizeof(double));
    double *want_grad = calloc((size_t)d->elements + 1, sizeof(double));
    int k, ok = 1;
    int64_t i;
    for (k = 0; k < count; ++k) {
        outputs part = evaluate(parts[k], d, NO_PROGRESS);
        ok = ok && part.status == LK_OK;
        for (i = 0; i < d->loss_count; ++i) want_loss[i] += weights[k] * part.loss[i];
        if (d->s.with_grad)
            for (i = 0; i < d->elements; ++i) want_grad[i] += weights[k] * part.grad[i];
        free_outputs(&part);
    }
    if (use_compute_at) {
        got = evaluate(mix, d, progress);
    } else {
        ok = ok && lk_loss_set_param((lk_loss *)mix, "progress", progress) == LK_OK;
        got = evaluate(mix, d, NO_PROGRESS);
    }
    if (got.status != LK_OK) printf("  %s: status %d: %s\n", label, (int)got.status, lk_last_error_message());
    ok = ok && got.status == LK_OK && all_near(got.loss, want_loss, d->loss_count, tol, label);
    if (ok && d->s.with_grad) ok = all_near(got.grad, want_grad, d->elements, tol, label);
    free_outputs(&got);
    free(want_loss);
    free(want_grad);
    return check_record(ok, label, __FILE__, __LINE__);
}

static void set_linear(lk_loss *mix, int k, double start, double end) {
    char name[32];
    snprintf(name, sizeof name, "w%d_schedule", k);
    CHECK_STATUS(lk_loss_set_param_string(mix, name, "linear"), LK_OK);
    snprintf(name, sizeof name, "w%d_start", k);
    CHECK_STATUS(lk_loss_set_param(mix, name, start), LK_OK);
    snprintf(name, sizeof name, "w%d_end", k);
    CHECK_STATUS(lk_loss_set_param(mix, name, end), LK_OK);
}

static void test_mix_schedule(void) {
    lk_loss *ce = create("cross_entropy"), *sq = create("squentropy"), *mix = NULL;
    const lk_loss *parts[2];
    const double ts[] = {0.0, 0.5, 1.0};
    const int32_t reductions[] = {LK_REDUCTION_MEAN, LK_REDUCTION_NONE};
    const int32_t dtypes[] = {LK_FLOAT64, LK_FLOAT32};
    int ti, ri, di, via;
    parts[0] = ce, parts[1] = sq;
    CHECK_STATUS(lk_mix_create(parts, 2, &mix), LK_OK);
    CHECK(lk_loss_get_name(mix) != NULL);
    set_linear(mix, 0, 1, 0);
    set_linear(mix, 1, 0, 1);
    for (di = 0; di < 2; ++di)
        for (ri = 0; ri < 2; ++ri)
            for (ti = 0; ti < 3; ++ti)
                for (via = 0; via < 2; ++via) {
                    const double t = ts[ti], weights[2] = {1 - t, t};
                    spec s = spec_2d(6, 5, 61);
                    data d;
                    char label[128];
                    s.dtype = dtypes[di];
                    s.reduction = reductions[ri];
                    s.weighted = 1;
                    s.ignore_every = 4;
                    d = make_data(&s);
                    snprintf(label, sizeof label, "mix ce→squentropy %s reduction %d t=%.1f via %s",
                             di ? "float32" : "float64", (int)s.reduction, t, via ? "compute_at" : "progress");
                    mix_matches(mix, t, via, parts, weights, 2, &d, di ? 1e-5 : 1e-12, label);
                    free_data(&d);
                }
    { /* compute_at does not change the stored progress; the stored one is used without it */
        double progress = -1;
        spec s = spec_2d(5, 4, 62);
        data d = make_data(&s);
        const double weights[2] = {0.75, 0.25};
        CHECK_STATUS(lk_loss_set_param(mix, "progress", 0.25), LK_OK);
        outputs o = evaluate(mix, &d, 0.9);
        CHECK_STATUS(o.status, LK_OK);
        free_outputs(&o);
        CHECK_STATUS(lk_loss_get_param(mix, "progress", &progress), LK_OK);
        CHECK(progress == 0.25);
        mix_matches(mix, 0.25, 0, parts, weights, 2, &d, 1e-12, "mix at the stored progress");
        s.in_place = 1; /* in place: every component must still read the original logits */
        free_data(&d);
        d = make_data(&s);
        mix_matches(mix, 0.25, 1, parts, weights, 2, &d, 1e-12, "mix in place");
        free_data(&d);
    }
    { /* refused progress and weights */
        spec s = spec_2d(3, 3, 63);
        data d = make_data(&s);
        outputs o = evaluate(mix, &d, 1.5);
        CHECK_STATUS(o.status, LK_ERROR_BAD_PARAM);
        CHECK(untouched(&o, &d));
        free_outputs(&o);
        o = evaluate(mix, &d, nan(""));
        CHECK_STATUS(o.status, LK_ERROR_BAD_PARAM);
        free_outputs(&o);
        CHECK_STATUS(lk_loss_set_param(mix, "w0", -1), LK_ERROR_BAD_PARAM);
        CHECK_STATUS(lk_loss_set_param(mix, "w2", 1), LK_ERROR_UNKNOWN_PARAM);
        CHECK_STATUS(lk_loss_set_param_string(mix, "w1_schedule", "sometimes"), LK_ERROR_BAD_PARAM);
        CHECK_STATUS(lk_loss_set_param(mix, "progress", 2), LK_ERROR_BAD_PARAM);
        free_data(&d);
    }
    lk_loss_destroy(mix);
    lk_loss_destroy(ce);
    lk_loss_destroy(sq);
}

static void test_mix_construction(void) {
    lk_loss *ce = create("cross_entropy"), *sq = create("squentropy"), *mix = NULL;
    const lk_loss *parts[2];
    const lk_loss *with_null[2];
    parts[0] = ce, parts[1] = sq;
    with_null[0] = ce, with_null[1] = NULL;
    CHECK_STATUS(lk_mix_create(parts, 0, &mix), LK_ERROR_BAD_PARAM);
    CHECK_STATUS(lk_mix_create(parts, -1, &mix), LK_ERROR_BAD_PARAM);
    CHECK_STATUS(lk_mix_create(NULL, 2, &mix), LK_ERROR_NULL_POINTER);
    CHECK_STATUS(lk_mix_create(with_null, 2, &mix), LK_ERROR_NULL_POINTER);
    CHECK_STATUS(lk_mix_create(parts, 2, NULL), LK_ERROR_NULL_POINTER);

    /* Components are copied as configured at creation: later changes and destruction do not reach it. */
    CHECK_STATUS(lk_loss_set_param(ce, "label_smoothing", 0.2), LK_OK);
    CHECK_STATUS(lk_mix_create(parts, 2, &mix), LK_OK);
    {
        lk_loss *ce_smooth = create("cross_entropy"), *sq2 = create("squentropy");
        const lk_loss *reference[2];
        const double weights[2] = {1, 1};
        spec s = spec_2d(5, 4, 71);
        data d = make_data(&s);
        CHECK_STATUS(lk_loss_set_param(ce_smooth, "label_smoothing", 0.2), LK_OK);
        reference[0] = ce_smooth, reference[1] = sq2;
        CHECK_STATUS(lk_loss_set_param(ce, "label_smoothing", 0.0), LK_OK);
        lk_loss_destroy(sq);
        sq = NULL;
        mix_matches(mix, 0, 1, reference, weights, 2, &d, 1e-12, "mix keeps its components' configuration");
        free_data(&d);
        lk_loss_destroy(ce_smooth);
        lk_loss_destroy(sq2);
    }
    lk_loss_destroy(mix);
    lk_loss_destroy(ce);
}

static void test_mix_of_mix(void) {
    lk_loss *ce = create("cross_entropy"), *sq = create("squentropy"), *ex = create("expectation");
    lk_loss *inner = NULL, *outer = NULL;
    const lk_loss *inner_parts[2], *outer_parts[2], *flat[3];
    const double ts[] = {0.0, 0.3, 1.0};
    int ti;
    inner_parts[0] = ce, inner_parts[1] = sq;
    CHECK_STATUS(lk_mix_create(inner_parts, 2, &inner), LK_OK);
    CHECK_STATUS(lk_loss_set_param(inner, "w0", 0.25), LK_OK);
    set_linear(inner, 1, 2, 0); /* inner schedules see the outer call's progress */
    outer_parts[0] = inner, outer_parts[1] = ex;
    CHECK_STATUS(lk_mix_create(outer_parts, 2, &outer), LK_OK);
    CHECK_STATUS(lk_loss_set_param(outer, "w0", 3), LK_OK);
    set_linear(outer, 1, 0, 4);
    flat[0] = ce, flat[1] = sq, flat[2] = ex;
    for (ti = 0; ti < 3; ++ti) {
        const double t = ts[ti];
        const double weights[3] = {3 * 0.25, 3 * (2 - 2 * t), 4 * t};
        char label[64];
        spec s = spec_2d(7, 4, 81);
        data d;
        s.reduction = ti == 1 ? LK_REDUCTION_NONE : LK_REDUCTION_SUM;
        s.with_dloss = 1;
        d = make_data(&s);
        snprintf(label, sizeof label, "mix of mix at t=%.1f", t);
        mix_matches(outer, t, 1, flat, weights, 3, &d, 1e-12, label);
        snprintf(label, sizeof label, "mix of mix at progress=%.1f", t);
        mix_matches(outer, t, 0, flat, weights, 3, &d, 1e-12, label);
        free_data(&d);
    }
    lk_loss_destroy(inner); /* the outer mix holds its own copy */
    {
        spec s = spec_2d(4, 4, 82);
        data d = make_data(&s);
        const double weights[3] = {0.75, 3 * 2, 0};
        mix_matches(outer, 0, 1, flat, weights, 3, &d, 1e-12, "mix of a destroyed mix");
        free_data(&d);
    }
    lk_loss_destroy(outer);
    lk_loss_destroy(ce);
    lk_loss_destroy(sq);
    lk_loss_destroy(ex);
}

/* ce_expectation_mix is (1-α)·CE + α·β·(1 - p_y): the same as a mix with those constant weights. */
static void test_mix_equals_ce_expectation_mix(void) {
    const double alpha = 0.3, beta = 2.0;
    lk_loss *ce = create("cross_entropy"), *ex = create("expectation"), *builtin = create("ce_expectation_mix");
    lk_loss *mix = NULL;
    const lk_loss *parts[2];
    const int32_t reductions[] = {LK_REDUCTION_MEAN, LK_REDUCTION_SUM, LK_REDUCTION_NONE};
    int ri, di;
    parts[0] = ce, parts[1] = ex;
    CHECK_STATUS(lk_mix_create(parts, 2, &mix), LK_OK);
    CHECK_STATUS(lk_loss_set_param(mix, "w0", 1 - alpha), LK_OK);
    CHECK_STATUS(lk_loss_set_param(mix, "w1", alpha * beta), LK_OK);
    CHECK_STATUS(lk_loss_set_param(builtin, "alpha", alpha), LK_OK);
    CHECK_STATUS(lk_loss_set_param(builtin, "beta", beta), LK_OK);
    for (di = 0; di < 2; ++di)
        for (ri = 0; ri < 3; ++ri) {
            spec s = spec_2d(9, 6, 91);
            data d;
            char label[96];
            s.dtype = di ? LK_FLOAT32 : LK_FLOAT64;
            s.reduction = reductions[ri];
            s.weighted = 1;
            s.ignore_every = 4;
            s.with_dloss = 1;
            d = make_data(&s);
            snprintf(label, sizeof label, "mix == ce_expectation_mix, %s reduction %d", di ? "float32" : "float64",
                     (int)s.reduction);
            check_record(same_results(mix, builtin, &d, di ? 1e-5 : 1e-12, label), label, __FILE__, __LINE__);
            free_data(&d);
        }
    lk_loss_destroy(mix);
    lk_loss_destroy(ce);
    lk_loss_destroy(ex);
    lk_loss_destroy(builtin);
}

static void test_mix_failing_component(void) {
    lk_loss_callbacks callbacks = row_callbacks(failing_row, NULL, NULL, 0);
    lk_loss *ce = create("cross_entropy"), *bad, *mix = NULL, *outer = NULL;
    const lk_loss *parts[2];
    int in_place;
    CHECK_STATUS(lk_register_loss("mix_failing_row", &callbacks), LK_OK);
    bad = create("mix_failing_row");
    parts[0] = ce, parts[1] = bad;
    CHECK_STATUS(lk_mix_create(parts, 2, &mix), LK_OK);
    CHECK_STATUS(lk_mix_create((const lk_loss *const *)&mix, 1, &outer), LK_OK);
    for (in_place = 0; in_place < 2; ++in_place) {
        spec s = spec_2d(8, 4, 101);
        data d;
        outputs o;
        s.in_place = in_place;
        d = make_data(&s);
        o = evaluate(mix, &d, 0.5);
        CHECK_STATUS(o.status, LK_ERROR_CALLBACK_FAILED);
        CHECK(message_has(FAILING_MESSAGE));
        CHECK(untouched(&o, &d));
        free_outputs(&o);
        o = evaluate(outer, &d, NO_PROGRESS);
        CHECK_STATUS(o.status, LK_ERROR_CALLBACK_FAILED);
        CHECK(untouched(&o, &d));
        free_outputs(&o);
        free_data(&d);
    }
    { /* a component's validation error also leaves everything untouched */
        spec s = spec_2d(4, 4, 102);
        data d = make_data(&s);
        outputs o;
        ((int64_t *)d.target)[0] = 9;
        o = evaluate(mix, &d, NO_PROGRESS);
        CHECK_STATUS(o.status, LK_ERROR_TARGET_OUT_OF_RANGE);
        CHECK(untouched(&o, &d));
        free_outputs(&o);
        free_data(&d);
    }
    lk_loss_destroy(outer);
    lk_loss_destroy(mix);
    lk_loss_destroy(bad);
    lk_loss_destroy(ce);
    CHECK_STATUS(lk_unregister_loss("mix_failing_row"), LK_OK);
}

/* A user loss and a plugin loss are components like any other. */
static void test_mix_of_user_losses(void) {
    lk_loss_callbacks callbacks = row_callbacks(plain_ce_row, NULL, NULL, LK_CALLBACK_THREAD_SAFE);
    lk_loss *user, *plugin, *ce = create("cross_entropy"), *mix = NULL;
    const lk_loss *parts[2], *reference[1];
    const double weights[1] = {1.0};
    spec s = spec_2d(10, 3, 111);
    data d;
    CHECK_STATUS(lk_register_loss("mix_user_ce", &callbacks), LK_OK);
    user = create("mix_user_ce");
    plugin = create("plugin_ce"); /* loaded by test_example_plugin */
    parts[0] = user, parts[1] = plugin;
    CHECK_STATUS(lk_mix_create(parts, 2, &mix), LK_OK);
    set_linear(mix, 0, 1, 0);
    set_linear(mix, 1, 0, 1);
    reference[0] = ce;
    s.ndim = 3, s.shape[2] = 2;
    s.weighted = 1;
    s.reduction = LK_REDUCTION_NONE;
    d = make_data(&s);
    mix_matches(mix, 0.4, 1, reference, weights, 1, &d, 1e-12, "(1-t)·user CE + t·plugin CE == CE");
    free_data(&d);
    lk_loss_destroy(mix);
    lk_loss_destroy(user);
    lk_loss_destroy(plugin);
    lk_loss_destroy(ce);
    CHECK_STATUS(lk_unregister_loss("mix_user_ce"), LK_OK);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    g_plugin_dir = argv[1];
    /* First, while no worker thread has started: the forked child needs none. */
    check_group("partial_plugin_rollback", test_partial_plugin_rollback);
    check_group("registry_listing", test_registry_listing);
    check_group("user_row_loss", test_user_row_loss);
    check_group("registration_errors", test_registration_errors);
    check_group("callback_failures", test_callback_failures);
    check_group("unregister_while_in_use", test_unregister_while_in_use);
    check_group("callback_threading", test_callback_threading);
    check_group("concurrent_registration", test_concurrent_registration);
    check_group("registry_capacity", test_registry_capacity);
    check_group("broken_plugins", test_broken_plugins);
    check_group("example_plugin", test_example_plugin);
    check_group("mix_schedule", test_mix_schedule);
    check_group("mix_construction", test_mix_construction);
    check_group("mix_of_mix", test_mix_of_mix);
    check_group("mix_equals_ce_expectation_mix", test_mix_equals_ce_expectation_mix);
    check_group("mix_failing_component", test_mix_failing_component);
    check_group("mix_of_user_losses", test_mix_of_user_losses);
    return check_summary();
}
