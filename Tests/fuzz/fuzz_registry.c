/* fuzz_registry: random sequences of registry, handle, mix, user-callback and plugin calls.
 *
 * Operations decoded from the input: lk_register_loss (valid and invalid names, duplicate names,
 * broken callback tables: struct_size, abi_version, reserved, both / neither callback; row or
 * whole-batch callbacks that succeed, fail with or without a message, return NaN or +inf, put a
 * non-finite value in the gradient, or fail only on some inputs; thread-safe or not; with or without
 * a destroy callback), lk_unregister_loss, lk_loss_create / destroy (built-in and user losses, also
 * after their unregistration), lk_mix_create of random handles (mixes of mixes, components destroyed
 * first), parameter calls, lk_loss_compute / lk_loss_compute_at on a small valid batch (sometimes
 * with a NaN logit, sometimes large enough to run on several threads), lk_plugin_load of missing
 * files, non-libraries, a directory, a library without entry point and a plugin whose init
 * registers two losses and then fails, lk_set_callback_error outside callbacks; once per process, a
 * full registry (LK_ERROR_REGISTRY_FULL at LK_REGISTRY_CAPACITY, then emptied again).
 *
 * Checks (promises of losskit.h / README.md):
 *  - statuses are listed, never LK_ERROR_INTERNAL, failures carry a message;
 *  - every call's status is the one the target predicts from its model of the registry (e.g.
 *    LK_ERROR_DUPLICATE_NAME, LK_ERROR_UNKNOWN_LOSS, LK_ERROR_ABI_VERSION, LK_ERROR_CALLBACK_FAILED
 *    exactly when a callback that fails was called, or one that returned a NaN loss or a non-finite
 *    gradient under nan_policy "error"), or one of several when several faults apply;
 *  - a refused computation leaves the caller's buffers untouched; a successful one leaves inputs
 *    untouched and, for well-behaved losses and finite inputs, gives finite results;
 *  - callbacks receive what the header says: the batch's C, a target in [0, C), a zeroed gradient
 *    buffer, (n, C, inner) and targets of the batch; a callback without LK_CALLBACK_THREAD_SAFE is
 *    never entered by two threads at once;
 *  - a refused registration never calls destroy; destroy runs exactly once, right when the loss is
 *    unregistered and the last handle (mixes included) using it is destroyed, never before;
 *  - a failed plugin load leaves the registry as it was;
 *  - LeakSanitizer: nothing leaks (user_data is malloc'd and freed only by destroy callbacks).
 *
 * Each input ends by destroying its handles and unregistering its losses, so the registry is the
 * same before every input (checked).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdatomic.h>
#include <unistd.h>

#include "fuzz_common.h"

#define MAX_REGS 48
#define MAX_HANDLES 8
#define MAX_LEAVES 16

/* ------------------------------------------------------------ user losses */

enum behaviour {
    B_GOOD,          /* a correct loss (cross-entropy for rows, a constant for batches) */
    B_FAIL_MESSAGE,  /* returns 1 after lk_set_callback_error */
    B_FAIL_SILENT,   /* returns 7 without a message */
    B_NAN_LOSS,
    B_INF_GRAD,
    B_INF_LOSS,      /* +inf loss: allowed */
    B_FAIL_SOME,     /* rows: fails for target 1; batches: fails when n > 2 */
    B_NAN_GRAD,
    B_ZERO,          /* returns 0, writes nothing (loss 0, zero gradient) */
    B_COUNT
};

static int behaviour_always_fails(int b) { return b == B_FAIL_MESSAGE || b == B_FAIL_SILENT; }

/* A NaN loss or non-finite gradient fails only where nan_policy "error" applies (losskit.h). */
static int behaviour_returns_nonfinite(int b) { return b == B_NAN_LOSS || b == B_INF_GRAD || b == B_NAN_GRAD; }

#define CTX_MAGIC 0x10557417

typedef struct user_ctx {
    int magic;
    int reg;           /* registration id within the current input */
    int behaviour;
    int thread_safe;
    atomic_int inside; /* threads inside a callback right now */
} user_ctx;

typedef struct registration {
    int used;
    int slot;          /* index in slot_names */
    user_ctx *ctx;
    int has_destroy;
    int whole_batch;
    int behaviour;
    int registered;    /* still in the registry */
    int refs;          /* leaves of live handles that use it */
} registration;

static registration regs[MAX_REGS];
static int n_regs;
static int destroyed[MAX_REGS]; /* destroy calls per registration id */

/* The batch of the compute in progress, for the callbacks' checks. */
static struct {
    int64_t n, classes, inner, samples;
    const int64_t *targets; /* as int64 */
    int64_t ignore_index;
    int has_weight;
    const double *weight; /* as double */
} current;

static void enter(user_ctx *ctx) {
    FZ_CHECK(ctx && ctx->magic == CTX_MAGIC, "a callback got user_data %p that is not a live registration's", (void *)ctx);
    int before = atomic_fetch_add(&ctx->inside, 1);
    FZ_CHECK(ctx->thread_safe || before == 0,
             "a callback registered without LK_CALLBACK_THREAD_SAFE was entered by two threads at once");
}

static void leave(user_ctx *ctx) { atomic_fetch_sub(&ctx->inside, 1); }

static int32_t user_row(void *user_data, const double *logits, int64_t classes, int64_t target, double *out_loss,
                        double *out_grad) {
    user_ctx *ctx = user_data;
    enter(ctx);
    FZ_CHECK(classes == current.classes, "row callback: classes %lld, batch C %lld", (long long)classes,
             (long long)current.classes);
    FZ_CHECK(target >= 0 && target < classes, "row callback: target %lld outside [0, %lld)", (long long)target,
             (long long)classes);
    int64_t j;
    for (j = 0; j < classes; ++j) FZ_CHECK(out_grad[j] == 0, "row callback: out_grad[%lld] not zeroed", (long long)j);
    int32_t rc = 0;
    switch (ctx->behaviour) {
    case B_FAIL_MESSAGE: lk_set_callback_error("user_row: failing on purpose"); rc = 1; break;
    case B_FAIL_SILENT: rc = 7; break;
    case B_FAIL_SOME:
        if (target == 1) {
            lk_set_callback_error("user_row: target 1 refused");
            rc = 2;
        }
        break;
    case B_ZERO: break;
    default: {
        double m = -INFINITY, s = 0;
        for (j = 0; j < classes; ++j) m = logits[j] > m ? logits[j] : m;
        for (j = 0; j < classes; ++j) s += exp(logits[j] - m);
        double lse = m + log(s);
        *out_loss = lse - logits[target];
        for (j = 0; j < classes; ++j) out_grad[j] = exp(logits[j] - lse) - (j == target);
        if (ctx->behaviour == B_NAN_LOSS) *out_loss = NAN;
        if (ctx->behaviour == B_INF_LOSS) *out_loss = INFINITY;
        if (ctx->behaviour == B_INF_GRAD) out_grad[classes - 1] = -INFINITY;
        if (ctx->behaviour == B_NAN_GRAD) out_grad[0] = NAN;
    }
    }
    leave(ctx);
    return rc;
}

static int32_t user_batch(void *user_data, int64_t n, int64_t classes, int64_t inner, const double *logits,
                          const int64_t *target, const double *weight, int64_t ignore_index, double *out_loss,
                          double *out_grad) {
    user_ctx *ctx = user_data;
    enter(ctx);
    FZ_CHECK(n == current.n && classes == current.classes && inner == current.inner,
             "batch callback: (n, C, inner) = (%lld, %lld, %lld), batch (%lld, %lld, %lld)", (long long)n,
             (long long)classes, (long long)inner, (long long)current.n, (long long)current.classes,
             (long long)current.inner);
    FZ_CHECK(ignore_index == current.ignore_index, "batch callback: ignore_index %lld", (long long)ignore_index);
    FZ_CHECK((weight != NULL) == current.has_weight, "batch callback: weight %p", (const void *)weight);
    int64_t i;
    for (i = 0; i < n * inner; ++i)
        FZ_CHECK(target[i] == current.targets[i], "batch callback: target[%lld] = %lld, batch %lld", (long long)i,
                 (long long)target[i], (long long)current.targets[i]);
    for (i = 0; weight && i < classes; ++i)
        FZ_CHECK(weight[i] == current.weight[i], "batch callback: weight[%lld] = %g", (long long)i, weight[i]);
    for (i = 0; i < n * classes * inner; ++i) {
        FZ_CHECK(out_grad[i] == 0, "batch callback: out_grad[%lld] not zeroed", (long long)i);
        (void)logits[i];
    }
    int32_t rc = 0;
    switch (ctx->behaviour) {
    case B_FAIL_MESSAGE: lk_set_callback_error("user_batch: failing on purpose"); rc = 1; break;
    case B_FAIL_SILENT: rc = -1; break;
    case B_FAIL_SOME: rc = n > 2 ? 3 : 0; break;
    case B_ZERO: break;
    default:
        *out_loss = ctx->behaviour == B_NAN_LOSS ? NAN : ctx->behaviour == B_INF_LOSS ? INFINITY : 0.25;
        for (i = 0; i < n * classes * inner; ++i) out_grad[i] = 0.01 * (double)(i % 5) - 0.02;
        if (ctx->behaviour == B_INF_GRAD) out_grad[0] = INFINITY;
        if (ctx->behaviour == B_NAN_GRAD) out_grad[n * classes * inner - 1] = NAN;
    }
    leave(ctx);
    return rc;
}

static void user_destroy(void *user_data) {
    user_ctx *ctx = user_data;
    FZ_CHECK(ctx && ctx->magic == CTX_MAGIC, "destroy got user_data %p that is not a live registration's", (void *)ctx);
    FZ_CHECK(atomic_load(&ctx->inside) == 0, "destroy ran while a callback was running");
    FZ_CHECK(ctx->reg >= 0 && ctx->reg < MAX_REGS, "destroy: bad registration %d", ctx->reg);
    destroyed[ctx->reg]++;
    ctx->magic = 0;
    free(ctx);
}

/* ------------------------------------------------------------------ names */

static const char *const slot_names[] = {"u0", "u1", "user.loss-2", "U_3", "expectation", "x"};
#define SLOTS 6

static const char *const bad_names[] = {
    "", "has space", "slash/name", "\xc3\xa9t\xc3\xa9", "\xff\xfe", "tab\tname", "cross_entropy", "dice",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 bytes */
    "semi;colon", "quote'", "mix(u0)",
};
#define BAD_NAMES 12

/* Built-in losses a handle may be created from: all but logit_adjusted, which needs priors. */
static const char *const builtin_names[] = {"cross_entropy", "ce_expectation_mix", "squentropy", "square", "hem",
                                            "multi_margin",  "logit_norm",         "focal",      "dice"};
#define BUILTINS 9

static char initial_names[256][LK_MAX_NAME_LENGTH + 1];
static int64_t initial_count;
static lk_loss *g_orphan; /* a handle of "expectation", which LLVMFuzzerInitialize unregistered */
static char plugin_dir[PATH_MAX];

static int is_registered(const char *name) {
    int64_t n = lk_loss_count(), i;
    for (i = 0; i < n; ++i) {
        const char *at = lk_loss_name_at(i);
        if (at && strcmp(at, name) == 0) return 1;
    }
    return 0;
}

static void check_registry_is_initial(const char *when) {
    int64_t n = lk_loss_count(), i;
    FZ_CHECK(n == initial_count, "%s: lk_loss_count() = %lld, expected %lld", when, (long long)n, (long long)initial_count);
    for (i = 0; i < n; ++i) {
        const char *at = lk_loss_name_at(i);
        FZ_CHECK(at && strcmp(at, initial_names[i]) == 0, "%s: name %lld is %s, expected %s", when, (long long)i,
                 at ? at : "NULL", initial_names[i]);
    }
}

/* ---------------------------------------------------------------- handles */

typedef struct leaf {
    int user;          /* a user loss (reg) or a built-in */
    int reg;
    int mean_only;     /* dice or a whole-batch callback */
    int checks;        /* nan_policy "error" of the leaf or of a mix it was copied through */
} leaf;

typedef struct handle {
    lk_loss *loss;
    int n_leaves;
    leaf leaves[MAX_LEAVES];
    int level_checks_nan; /* this handle's own nan_policy is "error"; a leaf's effective policy is
                             "error" when this is set or its own `checks` is */
    int moderate;
    int is_mix;
} handle;

static handle handles[MAX_HANDLES];

static void release_refs(handle *h) {
    int k;
    for (k = 0; k < h->n_leaves; ++k) {
        if (!h->leaves[k].user) continue;
        registration *r = &regs[h->leaves[k].reg];
        r->refs--;
        FZ_CHECK(r->refs >= 0, "internal: negative refs");
    }
}

/* Destroy callbacks that must have run by now: registrations gone from the registry, with no handle
 * left. Checked after every operation: destroy runs exactly when the last user lets go. */
static void check_destroy_timing(const char *after) {
    int i;
    for (i = 0; i < n_regs; ++i) {
        registration *r = &regs[i];
        if (!r->used || !r->has_destroy) {
            FZ_CHECK(destroyed[i] == 0, "after %s: a registration without destroy (or refused) was destroyed", after);
            continue;
        }
        int dead = !r->registered && r->refs == 0;
        FZ_CHECK(destroyed[i] == dead, "after %s: registration %d (%s, %s, %d handle leaves) destroyed %d times, expected %d",
                 after, i, slot_names[r->slot], r->registered ? "registered" : "unregistered", r->refs, destroyed[i], dead);
    }
}

static void destroy_handle(int k) {
    if (!handles[k].loss) return;
    lk_loss_destroy(handles[k].loss);
    release_refs(&handles[k]);
    memset(&handles[k], 0, sizeof handles[k]);
    check_destroy_timing("lk_loss_destroy");
}

static int free_handle_slot(void) {
    int k;
    for (k = 0; k < MAX_HANDLES; ++k)
        if (!handles[k].loss) return k;
    return -1;
}

/* ----------------------------------------------------------------- compute */

static void compute(fz_input *in, handle *h, int big) {
    fz_rng rng = {fz_u32(in)};
    uint8_t shape_code = fz_u8(in), opts = fz_u8(in);
    int64_t n = big ? 70000 : shape_code % 7, classes = big ? 1 : 1 + (shape_code >> 3) % 5;
    int spatial = !big && (shape_code & 0x80);
    int64_t inner = spatial ? 2 : 1, samples = n * inner, elements = samples * classes;
    int f32 = opts & 1, i32 = (opts >> 1) & 1, has_weight = ((opts >> 2) & 3) == 0, has_dloss = ((opts >> 4) & 3) == 0;
    int grad_mode = (opts >> 6) & 3; /* 0, 1: separate; 2: NULL; 3: in place */
    int32_t reduction = (int32_t)(fz_u8(in) % 3);
    int64_t ignore_index = fz_bool(in) ? LK_DEFAULT_IGNORE_INDEX : 0;
    int inject_nan = fz_u8(in) < 16 && elements > 0;
    int use_at = fz_u8(in) < 64;
    double progress = fz_param_values[fz_u8(in) % FZ_PARAM_VALUES];
    int32_t threads = (int32_t)(fz_u8(in) % 3);
    size_t fs = f32 ? 4 : 8;

    int64_t shape[3] = {n, classes, 2};
    size_t lbytes = (size_t)elements * fs + 8, gbytes = lbytes, tbytes = (size_t)samples * 8 + 8;
    size_t lossbytes = (size_t)(reduction == LK_REDUCTION_NONE ? samples : 1) * fs + 8;
    uint8_t *logits = malloc(lbytes), *grad = malloc(gbytes), *target = malloc(tbytes), *loss = malloc(lossbytes);
    uint8_t *weight = malloc((size_t)classes * fs), *dloss = malloc(lossbytes);
    int64_t *targets64 = malloc((size_t)samples * 8 + 8);
    double *weight64 = malloc((size_t)classes * 8);
    memset(logits, 0xA5, lbytes); /* every byte defined: whole buffers are compared below */
    memset(target, 0xA5, tbytes);
    int64_t s, j;
    int any_counted = 0, any_target1 = 0;
    for (j = 0; j < elements; ++j) {
        double v = (fz_unit(&rng) * 2 - 1) * 5;
        if (f32) { float f = (float)v; memcpy(logits + j * 4, &f, 4); } else memcpy(logits + j * 8, &v, 8);
    }
    if (inject_nan) {
        j = (int64_t)fz_below(&rng, (uint32_t)elements);
        if (f32) { float f = NAN; memcpy(logits + j * 4, &f, 4); } else { double d = NAN; memcpy(logits + j * 8, &d, 8); }
    }
    for (s = 0; s < samples; ++s) {
        int64_t y = fz_below(&rng, 6) == 0 ? ignore_index : (int64_t)fz_below(&rng, (uint32_t)classes);
        targets64[s] = y;
        if (i32) { int32_t y32 = (int32_t)y; memcpy(target + s * 4, &y32, 4); } else memcpy(target + s * 8, &y, 8);
        if (y != ignore_index) {
            any_counted = 1;
            any_target1 |= y == 1;
        }
    }
    for (j = 0; j < classes; ++j) {
        double w = 0.5 + fz_unit(&rng);
        if (f32) { float f = (float)w; memcpy(weight + j * 4, &f, 4); weight64[j] = f; } else { memcpy(weight + j * 8, &w, 8); weight64[j] = w; }
    }
    int64_t lcount = reduction == LK_REDUCTION_NONE ? samples : 1;
    for (j = 0; j < lcount; ++j) {
        double d = fz_unit(&rng) * 2 - 1;
        if (f32) { float f = (float)d; memcpy(dloss + j * 4, &f, 4); } else memcpy(dloss + j * 8, &d, 8);
    }
    memset(grad, 0xA5, gbytes);
    memset(loss, 0xA5, lossbytes);

    lk_batch b;
    lk_batch_init(&b);
    b.ndim = spatial ? 3 : 2;
    b.shape = shape;
    b.logits_dtype = f32 ? LK_FLOAT32 : LK_FLOAT64;
    b.target_dtype = i32 ? LK_INT32 : LK_INT64;
    b.logits = logits;
    b.target = target;
    b.weight = has_weight ? weight : NULL;
    b.dloss = has_dloss ? dloss : NULL;
    b.ignore_index = ignore_index;
    b.reduction = reduction;
    b.loss = loss;
    b.grad = grad_mode == 2 ? NULL : grad_mode == 3 ? logits : grad;

    current.n = n;
    current.classes = classes;
    current.inner = inner;
    current.samples = samples;
    current.targets = targets64;
    current.ignore_index = ignore_index;
    current.has_weight = has_weight;
    current.weight = weight64;

    /* The faults of this batch for this loss. */
    lk_status faults[8];
    int nf = 0, k, well_behaved = 1;
    if (use_at && !(progress >= 0 && progress <= 1)) faults[nf++] = LK_ERROR_BAD_PARAM;
    int any_checks = h->level_checks_nan;
    for (k = 0; k < h->n_leaves; ++k) any_checks |= h->leaves[k].checks;
    if (inject_nan && any_checks) faults[nf++] = LK_ERROR_NONFINITE_LOGIT;
    int mean_only = 0, fails = 0;
    for (k = 0; k < h->n_leaves; ++k) {
        leaf *l = &h->leaves[k];
        mean_only |= l->mean_only;
        if (!l->user) continue;
        registration *r = &regs[l->reg];
        if (r->behaviour != B_GOOD && r->behaviour != B_ZERO) well_behaved = 0;
        int called = r->whole_batch ? elements > 0 && reduction == LK_REDUCTION_MEAN : any_counted;
        if (!called) continue;
        if (behaviour_always_fails(r->behaviour)) fails = 1;
        if (behaviour_returns_nonfinite(r->behaviour) && (l->checks || h->level_checks_nan)) fails = 1;
        if (r->behaviour == B_FAIL_SOME && (r->whole_batch ? n > 2 : any_target1)) fails = 1;
    }
    if (mean_only && reduction != LK_REDUCTION_MEAN) faults[nf++] = LK_ERROR_BAD_REDUCTION;
    if (fails) faults[nf++] = LK_ERROR_CALLBACK_FAILED;

    uint8_t *before_logits = malloc(lbytes), *before_grad = malloc(gbytes), *before_loss = malloc(lossbytes);
    memcpy(before_logits, logits, lbytes);
    memcpy(before_grad, grad, gbytes);
    memcpy(before_loss, loss, lossbytes);

    fz_expect_status(lk_set_num_threads(threads), LK_OK, "lk_set_num_threads");
    lk_status st = use_at ? lk_loss_compute_at(h->loss, &b, progress) : lk_loss_compute(h->loss, &b);
    fz_check_status(st, "lk_loss_compute");

    if (st != LK_OK) {
        int expected = 0;
        for (k = 0; k < nf; ++k) expected |= faults[k] == st;
        FZ_CHECK(expected, "lk_loss_compute refused with %d (%s: %s); expected one of %d predicted faults", (int)st,
                 lk_status_string(st), lk_last_error_message(), nf);
        FZ_CHECK(memcmp(before_logits, logits, lbytes) == 0, "a refused compute changed the logits");
        FZ_CHECK(memcmp(before_grad, grad, gbytes) == 0, "a refused compute wrote grad");
        FZ_CHECK(memcmp(before_loss, loss, lossbytes) == 0, "a refused compute wrote loss");
        if (st == LK_ERROR_CALLBACK_FAILED)
            FZ_CHECK(strlen(lk_last_error_message()) > 0, "LK_ERROR_CALLBACK_FAILED without a message");
    } else {
        FZ_CHECK(nf == 0, "lk_loss_compute accepted a batch with %d predicted fault(s), first %d (%s)", nf, (int)faults[0],
                 lk_status_string(faults[0]));
        if (grad_mode != 3) FZ_CHECK(memcmp(before_logits, logits, lbytes) == 0, "compute changed the logits");
        if (grad_mode == 2) FZ_CHECK(memcmp(before_grad, grad, gbytes) == 0, "compute wrote grad when it was NULL");
        if (well_behaved && h->moderate && !inject_nan) {
            for (j = 0; j < lcount; ++j) {
                double v = f32 ? (double)((float *)loss)[j] : ((double *)loss)[j];
                FZ_CHECK(isfinite(v), "loss[%lld] = %g with well-behaved losses and finite inputs", (long long)j, v);
            }
            const uint8_t *g = grad_mode == 3 ? logits : grad;
            for (j = 0; grad_mode != 2 && j < elements; ++j) {
                double v = f32 ? (double)((const float *)g)[j] : ((const double *)g)[j];
                FZ_CHECK(isfinite(v), "grad[%lld] = %g with well-behaved losses and finite inputs", (long long)j, v);
            }
        }
    }
    fz_expect_status(lk_set_num_threads(0), LK_OK, "lk_set_num_threads(0)");
    free(before_logits), free(before_grad), free(before_loss);
    free(logits), free(grad), free(target), free(loss), free(weight), free(dloss), free(targets64), free(weight64);
}

/* ------------------------------------------------------------- operations */

static void op_register(fz_input *in) {
    uint8_t name_code = fz_u8(in), table_code = fz_u8(in), b = fz_u8(in);
    const char *name = name_code < 200 ? slot_names[name_code % SLOTS] : name_code < 250 ? bad_names[name_code % BAD_NAMES] : NULL;
    int slot = name_code < 200 ? (int)(name_code % SLOTS) : -1;
    int whole = b & 1, behaviour = (b >> 1) % B_COUNT, thread_safe = (b >> 5) & 1, has_destroy = !((b >> 6) & 1);
    if (n_regs >= MAX_REGS) return;
    int id = n_regs++;
    user_ctx *ctx = calloc(1, sizeof *ctx);
    ctx->magic = CTX_MAGIC;
    ctx->reg = id;
    ctx->behaviour = behaviour;
    ctx->thread_safe = thread_safe;

    lk_loss_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.struct_size = sizeof cb;
    cb.abi_version = LK_LOSS_ABI_VERSION;
    if (whole) cb.batch = user_batch; else cb.row = user_row;
    cb.destroy = has_destroy ? user_destroy : NULL;
    cb.user_data = ctx;
    cb.flags = thread_safe ? LK_CALLBACK_THREAD_SAFE : 0;
    if (b >> 7) cb.flags |= 0xF0u; /* unknown flag bits */

    lk_status faults[6];
    int nf = 0, null_table = 0;
    if (name == NULL) faults[nf++] = LK_ERROR_NULL_POINTER;
    else if (slot < 0) faults[nf++] = strcmp(name, "cross_entropy") == 0 || strcmp(name, "dice") == 0 ? LK_ERROR_DUPLICATE_NAME
                                                                                                        : LK_ERROR_BAD_NAME;
    else if (is_registered(name)) faults[nf++] = LK_ERROR_DUPLICATE_NAME;
    switch (table_code % 16) {
    case 0: cb.struct_size = 0; faults[nf++] = LK_ERROR_ABI_VERSION; break;
    case 1: cb.struct_size = sizeof cb + 8; faults[nf++] = LK_ERROR_ABI_VERSION; break;
    case 2: cb.abi_version = LK_LOSS_ABI_VERSION + 1; faults[nf++] = LK_ERROR_ABI_VERSION; break;
    case 3: cb.reserved = 1; faults[nf++] = LK_ERROR_BAD_PARAM; break;
    case 4: cb.row = user_row; cb.batch = user_batch; faults[nf++] = LK_ERROR_BAD_PARAM; break;
    case 5: cb.row = NULL; cb.batch = NULL; faults[nf++] = LK_ERROR_BAD_PARAM; break;
    case 6: null_table = 1; faults[nf++] = LK_ERROR_NULL_POINTER; break;
    default: break;
    }
    lk_status s = lk_register_loss(name, null_table ? NULL : &cb);
    fz_check_status(s, "lk_register_loss");
    if (s == LK_OK) {
        FZ_CHECK(nf == 0, "lk_register_loss('%s') succeeded with a predicted fault %d", name, (int)faults[0]);
        registration *r = &regs[id];
        r->used = 1;
        r->slot = slot;
        r->ctx = ctx;
        r->has_destroy = has_destroy;
        r->whole_batch = whole;
        r->behaviour = behaviour;
        r->registered = 1;
        r->refs = 0;
        FZ_CHECK(is_registered(name), "'%s' is not listed after lk_register_loss", name);
    } else {
        int k, expected = 0;
        for (k = 0; k < nf; ++k) expected |= faults[k] == s;
        FZ_CHECK(expected, "lk_register_loss('%s') returned %d (%s: %s), predicted %d fault(s)", name ? name : "NULL", (int)s,
                 lk_status_string(s), lk_last_error_message(), nf);
        FZ_CHECK(destroyed[id] == 0, "a refused registration called destroy");
        free(ctx); /* refused: still ours */
    }
    check_destroy_timing("lk_register_loss");
}

static int find_registration(int slot) {
    int i;
    for (i = 0; i < n_regs; ++i)
        if (regs[i].used && regs[i].registered && regs[i].slot == slot) return i;
    return -1;
}

static void op_unregister(fz_input *in) {
    uint8_t code = fz_u8(in);
    if (code >= 240) {
        fz_expect_status(lk_unregister_loss(NULL), LK_ERROR_NULL_POINTER, "lk_unregister_loss(NULL)");
        return;
    }
    if (code >= 200) {
        const char *name = bad_names[code % BAD_NAMES];
        if (strcmp(name, "cross_entropy") == 0 || strcmp(name, "dice") == 0) return; /* built-ins stay */
        lk_status s = lk_unregister_loss(name);
        fz_check_status(s, "lk_unregister_loss(bad name)");
        FZ_CHECK(s == LK_ERROR_UNKNOWN_LOSS || s == LK_ERROR_BAD_NAME, "lk_unregister_loss(bad name): %d", (int)s);
        return;
    }
    int slot = code % SLOTS, id = find_registration(slot);
    lk_status s = lk_unregister_loss(slot_names[slot]);
    if (id < 0) {
        fz_expect_status(s, LK_ERROR_UNKNOWN_LOSS, "lk_unregister_loss(not registered)");
    } else {
        fz_expect_status(s, LK_OK, "lk_unregister_loss");
        regs[id].registered = 0;
        FZ_CHECK(!is_registered(slot_names[slot]), "'%s' still listed after lk_unregister_loss", slot_names[slot]);
    }
    check_destroy_timing("lk_unregister_loss");
}

static void op_create(fz_input *in) {
    int k = free_handle_slot();
    if (k < 0) return;
    uint8_t code = fz_u8(in);
    handle *h = &handles[k];
    memset(h, 0, sizeof *h);
    h->level_checks_nan = 1;
    h->moderate = 1;
    lk_loss *loss = (lk_loss *)1;
    if (code < 128) {
        int slot = code % SLOTS, id = find_registration(slot);
        lk_status s = lk_loss_create(slot_names[slot], &loss);
        if (id < 0) {
            fz_expect_status(s, LK_ERROR_UNKNOWN_LOSS, "lk_loss_create(not registered)");
            FZ_CHECK(loss == NULL, "a failed lk_loss_create left a handle");
            return;
        }
        fz_expect_status(s, LK_OK, "lk_loss_create(user loss)");
        h->loss = loss;
        h->n_leaves = 1;
        h->leaves[0].user = 1;
        h->leaves[0].reg = id;
        h->leaves[0].mean_only = regs[id].whole_batch;
        regs[id].refs++;
    } else if (code < 250) {
        const char *name = builtin_names[code % BUILTINS];
        fz_expect_status(lk_loss_create(name, &loss), LK_OK, "lk_loss_create(built-in)");
        h->loss = loss;
        h->n_leaves = 1;
        h->leaves[0].mean_only = strcmp(name, "dice") == 0;
    } else {
        lk_status s = lk_loss_create(bad_names[code % BAD_NAMES], &loss);
        fz_check_status(s, "lk_loss_create(bad name)");
        if (s == LK_OK) { /* a built-in's name */
            lk_loss_destroy(loss);
        } else {
            FZ_CHECK(s == LK_ERROR_UNKNOWN_LOSS || s == LK_ERROR_BAD_NAME, "lk_loss_create(bad name): %d", (int)s);
            FZ_CHECK(loss == NULL, "a failed lk_loss_create left a handle");
        }
    }
}

static void op_mix(fz_input *in) {
    int k = free_handle_slot();
    if (k < 0) return;
    int count = 1 + fz_u8(in) % 3, c, total = 0;
    const lk_loss *parts[3];
    handle *from[3];
    for (c = 0; c < count; ++c) {
        uint8_t pick = fz_u8(in);
        if (pick % (MAX_HANDLES + 1) == MAX_HANDLES) {
            parts[c] = g_orphan;
            from[c] = NULL;
            total += 1;
        } else {
            handle *h = &handles[pick % MAX_HANDLES];
            if (!h->loss) return;
            parts[c] = h->loss;
            from[c] = h;
            total += h->n_leaves;
        }
    }
    if (total > MAX_LEAVES) return;
    lk_loss *mix = NULL;
    fz_expect_status(lk_mix_create(parts, count, &mix), LK_OK, "lk_mix_create");
    handle *m = &handles[k];
    memset(m, 0, sizeof *m);
    m->loss = mix;
    m->is_mix = 1;
    m->level_checks_nan = 1;
    m->moderate = 1;
    for (c = 0; c < count; ++c) {
        if (!from[c]) {
            m->leaves[m->n_leaves++] = (leaf){0, 0, 0, 1}; /* expectation, nan_policy "error" */
            continue;
        }
        int l;
        for (l = 0; l < from[c]->n_leaves; ++l) {
            leaf lf = from[c]->leaves[l];
            lf.checks |= from[c]->level_checks_nan;
            m->leaves[m->n_leaves++] = lf;
            if (lf.user) regs[lf.reg].refs++;
        }
        m->moderate &= from[c]->moderate;
    }
    if (fz_bool(in)) /* destroy the first component's handle right away */
        for (c = 0; c < MAX_HANDLES; ++c)
            if (from[0] && &handles[c] == from[0]) destroy_handle(c);
}

static void op_param(fz_input *in) {
    handle *h = &handles[fz_u8(in) % MAX_HANDLES];
    if (!h->loss) return;
    uint8_t code = fz_u8(in);
    lk_status s;
    if (code < 64) {
        const char *value = fz_text_values[code % FZ_TEXT_VALUES];
        s = lk_loss_set_param_string(h->loss, "nan_policy", value);
        fz_check_status(s, "lk_loss_set_param_string(nan_policy)");
        int valid = strcmp(value, "error") == 0 || strcmp(value, "propagate") == 0;
        FZ_CHECK((s == LK_OK) == valid, "nan_policy '%s': status %d", value, (int)s);
        if (s == LK_OK) h->level_checks_nan = strcmp(value, "error") == 0;
    } else {
        static const char *const names[] = {"w0", "w1", "w2", "progress", "margin", "gamma", "w0_schedule", "bogus"};
        const char *name = names[code % 8];
        double v = fz_param_values[fz_u8(in) % FZ_PARAM_VALUES];
        s = lk_loss_set_param(h->loss, name, v);
        fz_check_status(s, "lk_loss_set_param");
        if (s == LK_OK) {
            FZ_CHECK(isfinite(v) && v >= 0, "parameter '%s' accepted %g", name, v);
            if (!fz_moderate(v)) h->moderate = 0;
        }
    }
}

static void op_plugin(fz_input *in) {
    char path[PATH_MAX + 64];
    uint8_t code = fz_u8(in) % 9;
    const char *skip = getenv("LOSSKIT_FUZZ_SKIP");
    switch (code) {
    case 0: snprintf(path, sizeof path, "/nonexistent/losskit/plugin.so"); break;
    case 1: snprintf(path, sizeof path, "%s", ""); break;
    case 2: snprintf(path, sizeof path, "/dev/null"); break;
    case 3: snprintf(path, sizeof path, "/tmp"); break;
    case 4: snprintf(path, sizeof path, "libm.so.6"); break;
    case 5: snprintf(path, sizeof path, "%s/librollback_plugin.so", plugin_dir); break;
    case 6:
        if (skip && strstr(skip, "plugin-destroy")) return;
        snprintf(path, sizeof path, "%s/librollback_destroy_plugin.so", plugin_dir);
        break;
    case 7: snprintf(path, sizeof path, "no_such_plugin_%u.so", fz_u8(in)); break;
    default: fz_expect_status(lk_plugin_load(NULL), LK_ERROR_NULL_POINTER, "lk_plugin_load(NULL)"); return;
    }
    int64_t count = lk_loss_count();
    lk_status s = lk_plugin_load(path);
    fz_check_status(s, "lk_plugin_load");
    FZ_CHECK(s == LK_ERROR_PLUGIN, "lk_plugin_load('%s') returned %d (%s: %s); expected LK_ERROR_PLUGIN", path, (int)s,
             lk_status_string(s), lk_last_error_message());
    if (code == 5 || code == 6)
        FZ_CHECK(strstr(lk_last_error_message(), "failing on purpose") != NULL, "the plugin's message is lost: %s",
                 lk_last_error_message());
    FZ_CHECK(lk_loss_count() == count, "a failed plugin load changed the registry (%lld -> %lld losses)", (long long)count,
             (long long)lk_loss_count());
    FZ_CHECK(!is_registered("rollback_plugin_row") && !is_registered("rollback_plugin_batch"),
             "a failed plugin load left its losses registered");
}

static void op_flood(void) {
    int64_t start = lk_loss_count(), i, added = 0;
    char name[32];
    lk_loss_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.struct_size = sizeof cb;
    cb.abi_version = LK_LOSS_ABI_VERSION;
    cb.row = user_row;
    for (i = 0; i < LK_REGISTRY_CAPACITY + 2; ++i) {
        snprintf(name, sizeof name, "flood_%lld", (long long)i);
        lk_status s = lk_register_loss(name, &cb);
        if (start + added < LK_REGISTRY_CAPACITY) {
            fz_expect_status(s, LK_OK, "lk_register_loss(flood)");
            added++;
        } else {
            fz_expect_status(s, LK_ERROR_REGISTRY_FULL, "lk_register_loss(full registry)");
        }
    }
    FZ_CHECK(lk_loss_count() == LK_REGISTRY_CAPACITY, "full registry: lk_loss_count() = %lld", (long long)lk_loss_count());
    for (i = 0; i < added; ++i) {
        snprintf(name, sizeof name, "flood_%lld", (long long)i);
        fz_expect_status(lk_unregister_loss(name), LK_OK, "lk_unregister_loss(flood)");
    }
    FZ_CHECK(lk_loss_count() == start, "after the flood: %lld losses, expected %lld", (long long)lk_loss_count(), (long long)start);
}

/* ------------------------------------------------------------------ driver */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("LOSSKIT_FUZZ_PLUGIN_DIR");
    if (dir) {
        snprintf(plugin_dir, sizeof plugin_dir, "%s", dir);
    } else { /* next to the fuzzer */
        ssize_t n = readlink("/proc/self/exe", plugin_dir, sizeof plugin_dir - 1);
        plugin_dir[n > 0 ? n : 0] = 0;
        char *slash = strrchr(plugin_dir, '/');
        if (slash) *slash = 0;
    }
    /* A handle outlives the unregistration of its built-in loss, and the name becomes free. */
    fz_expect_status(lk_loss_create("expectation", &g_orphan), LK_OK, "lk_loss_create(expectation)");
    fz_expect_status(lk_unregister_loss("expectation"), LK_OK, "lk_unregister_loss(expectation)");
    lk_loss *again = (lk_loss *)1;
    fz_expect_status(lk_loss_create("expectation", &again), LK_ERROR_UNKNOWN_LOSS, "lk_loss_create(unregistered)");
    FZ_CHECK(again == NULL, "lk_loss_create(unregistered) left a handle");
    op_flood(); /* once: 4096 registrations are too slow for every input */
    initial_count = lk_loss_count();
    FZ_CHECK(initial_count > 0 && initial_count < 256, "lk_loss_count() = %lld", (long long)initial_count);
    int64_t i;
    for (i = 0; i < initial_count; ++i) snprintf(initial_names[i], sizeof initial_names[i], "%s", lk_loss_name_at(i));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    memset(regs, 0, sizeof regs);
    memset(destroyed, 0, sizeof destroyed);
    memset(handles, 0, sizeof handles);
    n_regs = 0;
    int steps = 0;
    while (in.size > 0 && steps++ < 64) {
        uint8_t op = fz_u8(&in);
        switch (op % 12) {
        case 0: case 1: op_register(&in); break;
        case 2: op_unregister(&in); break;
        case 3: case 4: op_create(&in); break;
        case 5: destroy_handle(fz_u8(&in) % MAX_HANDLES); break;
        case 6: op_mix(&in); break;
        case 7: op_param(&in); break;
        case 8: case 9: {
            uint8_t which = fz_u8(&in);
            handle *h = which == 255 ? NULL : &handles[which % MAX_HANDLES];
            if (h && h->loss) compute(&in, h, op == 0xF8);
            else if (!h) fz_expect_status(lk_loss_compute(NULL, NULL), LK_ERROR_NULL_POINTER, "lk_loss_compute(NULL)");
            break;
        }
        case 10: op_plugin(&in); break;
        default:
            if (op & 0x10) {
                lk_set_callback_error(op & 0x20 ? NULL : "set outside a callback");
                fz_expect_status(lk_set_num_threads(0), LK_OK, "a call after lk_set_callback_error");
            } else {
                int64_t n = lk_loss_count(), i;
                for (i = -1; i <= n; ++i) {
                    const char *name = lk_loss_name_at(i);
                    FZ_CHECK((name != NULL) == (i >= 0 && i < n), "lk_loss_name_at(%lld) of %lld", (long long)i, (long long)n);
                    FZ_CHECK(!name || (strlen(name) >= 1 && strlen(name) <= LK_MAX_NAME_LENGTH), "bad listed name");
                }
            }
        }
    }
    /* Clean up: every handle, every registration; destroy timing checked at each step. */
    int k;
    for (k = 0; k < MAX_HANDLES; ++k) destroy_handle(k);
    for (k = 0; k < n_regs; ++k) {
        registration *r = &regs[k];
        if (!r->used) continue;
        if (r->registered) {
            fz_expect_status(lk_unregister_loss(slot_names[r->slot]), LK_OK, "lk_unregister_loss(cleanup)");
            r->registered = 0;
            check_destroy_timing("cleanup");
        }
        if (!r->has_destroy) free(r->ctx);
    }
    check_registry_is_initial("end of input");
    return 0;
}
