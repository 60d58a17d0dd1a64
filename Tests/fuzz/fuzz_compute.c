/* fuzz_compute: lk_loss_compute / lk_loss_compute_at on batches decoded from the fuzz input.
 *
 * One input describes: a loss (a registered name, a weighted mix of registered losses, arbitrary
 * bytes or NULL), parameter calls on it (names and values from tables or raw: out of range, NaN,
 * inf, text and vector parameters of random lengths), a thread count, and a batch: ndim 1..17 and
 * invalid, sizes small / zero / negative / huge, valid and invalid dtypes and reduction codes,
 * ignore_index, weight / dloss present or not, grad NULL / separate / in place, misaligned or
 * overlapping buffers, a bad struct_size or reserved field, data with NaN, +-inf, huge values and
 * denormals, class targets in and out of range, valid and broken probability targets.
 *
 * Memory: every buffer the batch describes lies in one arena this target owns. A batch whose shape
 * is valid always has real backing for every element it describes (non-empty batches are capped at
 * FZ_CAP elements; a larger one has its N set to 0, and a class weight vector is given only when C
 * fits); misaligned and overlapping pointers point into the arena with room for their whole extent.
 * Only a batch with an invalid shape (which must be refused before any read) has small buffers.
 * In guard mode (about half the inputs) one region ends exactly at a PROT_NONE page, so that reading
 * or writing one byte past its extent faults inside the (uninstrumented) library.
 *
 * Checks (each a promise of losskit.h / README.md):
 *  - the status is a listed code, never LK_ERROR_INTERNAL; a failure has a message, success none;
 *  - the target models every fault it put in the batch (null pointers, bad struct, shape, overflow,
 *    dtype, reduction, alignment, aliasing, weights, dloss, non-finite logits under nan_policy
 *    "error", targets out of range, bad probabilities, parameters the batch contradicts, progress
 *    outside [0, 1]): a batch with faults must be refused with one of their statuses, and a batch
 *    without faults must succeed;
 *  - on failure every byte of the arena (inputs, outputs, guard bytes) is unchanged;
 *  - on success only loss and grad (their described extents) changed: inputs, guards untouched;
 *  - on success with moderate finite inputs and parameters the loss and gradient are finite; with
 *    -inf logits (masked classes) the loss is not NaN or -inf and the gradient not NaN;
 *  - an empty batch gives loss 0; an ignored sample has loss 0 (reduction none) and a zero gradient
 *    row; mean over all-ignored samples is 0;
 *  - a second evaluation with one thread gives bit-identical outputs;
 *  - parameter setters: a refused value leaves the old one (lk_loss_get_param), an accepted number
 *    reads back bit for bit, NaN / inf / negative numbers are never accepted.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

#define FZ_CAP (1 << 17) /* most elements of a non-empty batch */
#define FZ_SMALL 64      /* bytes behind each pointer of a batch with an invalid shape */
#define FZ_GUARD 64
#define FZ_MAX_COMPONENTS 4

enum { R_LOGITS, R_TARGET, R_WEIGHT, R_DLOSS, R_LOSS, R_GRAD, R_COUNT };
static const char *const region_names[R_COUNT] = {"logits", "target", "weight", "dloss", "loss", "grad"};

/* What the target knows of a loss: enough to predict which batches it must refuse. */
typedef struct loss_info {
    int accepts_probabilities; /* all components are cross_entropy */
    int mean_only;             /* some component is dice */
    int checks_nan;            /* some level has nan_policy "error" */
    int moderate;              /* every parameter set has a moderate value */
    int is_mix;
    int n_priors;              /* logit_adjusted components and their priors lengths */
    int64_t priors[FZ_MAX_COMPONENTS];
    int n_counts;              /* hem components and their class_counts lengths */
    int64_t counts[FZ_MAX_COMPONENTS];
} loss_info;

static void info_for_builtin(const char *name, loss_info *info) {
    memset(info, 0, sizeof *info);
    info->accepts_probabilities = strcmp(name, "cross_entropy") == 0;
    info->mean_only = strcmp(name, "dice") == 0;
    info->checks_nan = 1;
    info->moderate = 1;
    if (strcmp(name, "logit_adjusted") == 0) info->priors[info->n_priors++] = 0;
    if (strcmp(name, "hem") == 0) info->counts[info->n_counts++] = 0;
}

/* ------------------------------------------------------------- parameters */

static int is_unit_interval_name(const char *name) {
    return strcmp(name, "label_smoothing") == 0 || strcmp(name, "progress") == 0 || strcmp(name, "t_switch") == 0 ||
           strcmp(name, "alpha") == 0 || strcmp(name, "alpha_start") == 0 || strcmp(name, "alpha_end") == 0 ||
           (name[0] == 'w' && strstr(name, "_t_switch") != NULL);
}

/* One parameter call decoded from the input, with its checks. A parameter name that is not UTF-8
 * is refused with LK_ERROR_BAD_NAME (the header lists NULL_POINTER, UNKNOWN_PARAM and BAD_PARAM for
 * the setters; BAD_NAME is accepted here as the library's documented "not UTF-8" status). `classes` is the batch's C, so that a
 * vector can be given the length the batch needs. */
static void param_op(fz_input *in, lk_loss *loss, loss_info *info, int64_t classes) {
    char raw_name[24];
    const char *name;
    uint8_t which = fz_u8(in);
    if (which < 240) {
        name = fz_param_names[which % FZ_PARAM_NAMES];
    } else {
        size_t n = fz_u8(in) % (sizeof raw_name - 1), i;
        for (i = 0; i < n; ++i) raw_name[i] = (char)(fz_u8(in) | 1);
        raw_name[n] = 0;
        name = raw_name;
    }
    double before = 0;
    lk_status got_before = lk_loss_get_param(loss, name, &before);
    fz_check_status(got_before, "lk_loss_get_param");
    lk_status s;
    uint8_t kind = fz_u8(in) % 10;
    if (kind <= 4) { /* a number */
        double v = kind == 4 ? fz_raw_double(in) : fz_param_values[fz_u8(in) % FZ_PARAM_VALUES];
        s = lk_loss_set_param(loss, name, v);
        if (getenv("FZ_DEBUG")) fprintf(stderr, "set_param(%s, '%s', %g) -> %d\n", lk_loss_get_name(loss), name, v, (int)s);
        fz_check_status(s, "lk_loss_set_param");
        if (s == LK_OK) {
            FZ_CHECK(isfinite(v) && v >= 0, "parameter '%s' accepted %g", name, v);
            FZ_CHECK(!is_unit_interval_name(name) || v <= 1, "parameter '%s' accepted %g (outside [0, 1])", name, v);
            double after = NAN;
            fz_expect_status(lk_loss_get_param(loss, name, &after), LK_OK, "lk_loss_get_param after set");
            FZ_CHECK(fz_bits_equal(after, v), "parameter '%s' set to %a reads back %a", name, v, after);
            if (!fz_moderate(v)) info->moderate = 0;
        } else {
            FZ_CHECK(s == LK_ERROR_UNKNOWN_PARAM || s == LK_ERROR_BAD_PARAM || s == LK_ERROR_BAD_NAME,
                     "lk_loss_set_param: status %d", (int)s);
            if (got_before == LK_OK) {
                double after = NAN;
                fz_expect_status(lk_loss_get_param(loss, name, &after), LK_OK, "lk_loss_get_param after refusal");
                FZ_CHECK(fz_bits_equal(after, before), "refused set of '%s' changed it from %a to %a", name, before, after);
            }
        }
    } else if (kind <= 6) { /* text */
        const char *value = fz_text_values[fz_u8(in) % FZ_TEXT_VALUES];
        s = lk_loss_set_param_string(loss, name, value);
        if (getenv("FZ_DEBUG")) fprintf(stderr, "set_param_string(%s, '%s', '%s') -> %d\n", lk_loss_get_name(loss), name, value, (int)s);
        fz_check_status(s, "lk_loss_set_param_string");
        if (s == LK_OK) {
            static const char *const valid[] = {"error", "propagate", "constant", "linear", "cosine", "step"};
            size_t i;
            int known = 0;
            for (i = 0; i < sizeof valid / sizeof valid[0]; ++i) known |= strcmp(value, valid[i]) == 0;
            FZ_CHECK(known, "text parameter '%s' accepted '%s'", name, value);
            if (strcmp(name, "nan_policy") == 0) {
                FZ_CHECK(strcmp(value, "error") == 0 || strcmp(value, "propagate") == 0, "nan_policy accepted '%s'", value);
                info->checks_nan = strcmp(value, "error") == 0;
            }
        } else {
            FZ_CHECK(s == LK_ERROR_UNKNOWN_PARAM || s == LK_ERROR_BAD_PARAM || s == LK_ERROR_BAD_NAME,
                     "lk_loss_set_param_string: status %d", (int)s);
        }
    } else if (kind <= 8) { /* a vector */
        double values[64];
        uint8_t len_code = fz_u8(in);
        int64_t count;
        if (len_code < 128) count = classes >= 0 && classes <= 64 ? classes : 3; /* the length C */
        else if (len_code < 250) count = len_code % 20;
        else if (len_code == 250) count = -1;
        else count = 64;
        uint8_t mode = fz_u8(in);
        int64_t i;
        int all_positive = 1, moderate = 1;
        for (i = 0; i < 64; ++i) {
            double v = mode < 200 ? 0.05 + (double)(fz_u8(in) % 64) : fz_param_values[fz_u8(in) % FZ_PARAM_VALUES];
            values[i] = v;
            if (i < count) {
                all_positive &= isfinite(v) && v > 0;
                moderate &= fz_moderate(v);
            }
        }
        int null_values = fz_u8(in) == 255;
        s = lk_loss_set_param_array(loss, name, null_values ? NULL : values, count);
        if (getenv("FZ_DEBUG"))
            fprintf(stderr, "set_param_array(%s, '%s', count %lld%s) -> %d\n", lk_loss_get_name(loss), name, (long long)count,
                    null_values ? ", NULL" : "", (int)s);
        fz_check_status(s, "lk_loss_set_param_array");
        if (count < 0) FZ_CHECK(s != LK_OK, "lk_loss_set_param_array accepted count %lld", (long long)count);
        if (null_values && count > 0)
            FZ_CHECK(s == LK_ERROR_NULL_POINTER || (s == LK_ERROR_BAD_NAME && name == raw_name),
                     "NULL values with count > 0: status %d", (int)s);
        if (s == LK_OK) {
            FZ_CHECK(all_positive || count == 0 || null_values, "vector '%s' accepted a value <= 0 or non-finite", name);
            FZ_CHECK(!null_values || count == 0, "NULL vector accepted");
            int64_t len = null_values ? 0 : count;
            if (strcmp(name, "priors") == 0 && info->n_priors == 1) info->priors[0] = len;
            if (strcmp(name, "class_counts") == 0 && info->n_counts == 1) info->counts[0] = len;
            if (!moderate) info->moderate = 0;
        } else {
            FZ_CHECK(s == LK_ERROR_UNKNOWN_PARAM || s == LK_ERROR_BAD_PARAM || s == LK_ERROR_NULL_POINTER ||
                         s == LK_ERROR_BAD_NAME,
                     "lk_loss_set_param_array: status %d", (int)s);
        }
    } else { /* NULL arguments (with a valid name: which of two faults is reported is not specified) */
        name = fz_param_names[which % 20];
        switch (fz_u8(in) % 6) {
        case 0: fz_expect_status(lk_loss_set_param(NULL, name, 1.0), LK_ERROR_NULL_POINTER, "set_param(NULL loss)"); break;
        case 1: fz_expect_status(lk_loss_set_param(loss, NULL, 1.0), LK_ERROR_NULL_POINTER, "set_param(NULL name)"); break;
        case 2: fz_expect_status(lk_loss_set_param_string(loss, name, NULL), LK_ERROR_NULL_POINTER, "set_param_string(NULL)"); break;
        case 3: fz_expect_status(lk_loss_get_param(loss, name, NULL), LK_ERROR_NULL_POINTER, "get_param(NULL out)"); break;
        case 4: fz_expect_status(lk_loss_get_param(NULL, name, &before), LK_ERROR_NULL_POINTER, "get_param(NULL loss)"); break;
        default: fz_expect_status(lk_loss_set_param_array(NULL, name, NULL, 0), LK_ERROR_NULL_POINTER, "set_param_array(NULL)"); break;
        }
    }
}

/* ------------------------------------------------------------------ losses */

static lk_loss *create_builtin(fz_input *in, loss_info *info, int64_t classes) {
    int64_t count = lk_loss_count();
    FZ_CHECK(count >= 1, "lk_loss_count() = %lld", (long long)count);
    const char *name = lk_loss_name_at(fz_pick(in, (uint32_t)count));
    FZ_CHECK(name != NULL, "lk_loss_name_at(in range) is NULL");
    lk_loss *loss = NULL;
    fz_expect_status(lk_loss_create(name, &loss), LK_OK, "lk_loss_create(listed name)");
    FZ_CHECK(loss != NULL, "lk_loss_create succeeded with a NULL handle");
    FZ_CHECK(strcmp(lk_loss_get_name(loss), name) == 0, "lk_loss_get_name = %s, created %s", lk_loss_get_name(loss), name);
    info_for_builtin(name, info);
    uint8_t ops = fz_u8(in) % 6, i;
    for (i = 0; i < ops; ++i) param_op(in, loss, info, classes);
    return loss;
}

/* A mix of 1..FZ_MAX_COMPONENTS built-in losses, each configured first; components are destroyed
 * before or after the mix. */
static lk_loss *create_mix(fz_input *in, loss_info *info, int64_t classes) {
    lk_loss *parts[FZ_MAX_COMPONENTS];
    loss_info part_info[FZ_MAX_COMPONENTS];
    int n = 1 + (int)fz_pick(in, FZ_MAX_COMPONENTS), k;
    for (k = 0; k < n; ++k) parts[k] = create_builtin(in, &part_info[k], classes);
    lk_loss *mix = (lk_loss *)1;
    fz_expect_status(lk_mix_create((const lk_loss *const *)parts, n, &mix), LK_OK, "lk_mix_create");
    FZ_CHECK(mix != NULL, "lk_mix_create succeeded with a NULL handle");
    memset(info, 0, sizeof *info);
    info->is_mix = 1;
    info->accepts_probabilities = 1;
    info->checks_nan = 1; /* the mix's own nan_policy */
    info->moderate = 1;
    int component_checks = 0;
    for (k = 0; k < n; ++k) {
        info->accepts_probabilities &= part_info[k].accepts_probabilities;
        info->mean_only |= part_info[k].mean_only;
        component_checks |= part_info[k].checks_nan;
        info->moderate &= part_info[k].moderate;
        if (part_info[k].n_priors) info->priors[info->n_priors++] = part_info[k].priors[0];
        if (part_info[k].n_counts) info->counts[info->n_counts++] = part_info[k].counts[0];
    }
    int destroy_parts_first = fz_bool(in);
    if (destroy_parts_first)
        for (k = 0; k < n; ++k) lk_loss_destroy(parts[k]);
    uint8_t ops = fz_u8(in) % 6, i;
    for (i = 0; i < ops; ++i) param_op(in, mix, info, classes);
    info->checks_nan |= component_checks;
    if (!destroy_parts_first)
        for (k = 0; k < n; ++k) lk_loss_destroy(parts[k]);
    return mix;
}

/* The mix errors of lk_mix_create, none of which may create anything. */
static void mix_errors(fz_input *in) {
    lk_loss *one = NULL;
    fz_expect_status(lk_loss_create("cross_entropy", &one), LK_OK, "lk_loss_create(cross_entropy)");
    lk_loss *parts[2] = {one, NULL};
    lk_loss *out = (lk_loss *)1;
    switch (fz_u8(in) % 5) {
    case 0: fz_expect_status(lk_mix_create((const lk_loss *const *)parts, 0, &out), LK_ERROR_BAD_PARAM, "mix count 0"); break;
    case 1: fz_expect_status(lk_mix_create((const lk_loss *const *)parts, -5, &out), LK_ERROR_BAD_PARAM, "mix count -5"); break;
    case 2: fz_expect_status(lk_mix_create(NULL, 2, &out), LK_ERROR_NULL_POINTER, "mix NULL components"); break;
    case 3: fz_expect_status(lk_mix_create((const lk_loss *const *)parts, 2, &out), LK_ERROR_NULL_POINTER, "mix NULL component"); break;
    default: fz_expect_status(lk_mix_create((const lk_loss *const *)parts, 1, NULL), LK_ERROR_NULL_POINTER, "mix NULL out"); out = NULL; break;
    }
    FZ_CHECK(out == NULL, "a failed lk_mix_create left *out_mix = %p", (void *)out);
    lk_loss_destroy(one);
}

/* ------------------------------------------------------------------- data */

static double special_value(uint8_t code, int float32) {
    switch (code % 16) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return float32 ? 3.0e38 : 1e300;
    case 4: return float32 ? -3.0e38 : -DBL_MAX;
    case 5: return float32 ? 1e-45 : 4.9e-324; /* smallest denormal */
    case 6: return float32 ? -1e-40 : -1e-310;
    case 7: return -0.0;
    case 8: return 0.0;
    case 9: return 1e30;
    case 10: return -1e30;
    case 11: return 88.8;
    case 12: return -745.2;
    case 13: return 1.0;
    case 14: return -NAN;
    default: return 1e-20;
    }
}

static int is_float32(int32_t dtype) { return dtype == LK_FLOAT32; }

static void put_float(uint8_t *p, int32_t dtype, double v) {
    if (is_float32(dtype)) {
        float f = (float)v;
        memcpy(p, &f, sizeof f);
    } else {
        memcpy(p, &v, sizeof v);
    }
}

static double get_float(const uint8_t *p, int32_t dtype) {
    if (is_float32(dtype)) {
        float f;
        memcpy(&f, p, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, p, sizeof d);
    return d;
}

/* ------------------------------------------------------------------ batch */

typedef struct region {
    int present;    /* the pointer is not NULL */
    size_t offset;  /* of the pointer in the arena */
    size_t alloc;   /* bytes this target reserved for the region (>= its extent) */
    uint64_t bytes; /* the extent the library may read or write (count * element size) */
} region;

static int64_t decode_size(uint8_t code, int axis) {
    static const int64_t special[] = {0, 0, 1, -1, INT64_MIN, INT64_MAX, (int64_t)1 << 31, (int64_t)1 << 32,
                                      (int64_t)1 << 40, (int64_t)1 << 59, (int64_t)1 << 61, 1000, 4097, 20000, 3, -7};
    if (code < 200) {
        if (axis == 0) return code % 9;            /* N: 0..8 */
        if (axis == 1) return 1 + code % 12;       /* C: 1..12 */
        return 1 + code % 4;                       /* d: 1..4 */
    }
    if (code < 216 + 16 && code >= 216) return special[code - 216];
    if (axis == 1 && code < 216) return 13 + (int64_t)(code - 200) * 97; /* a larger C */
    if (code < 216) return code - 200;
    return (int64_t)code * 3;
}

static int32_t decode_ndim(uint8_t code) {
    static const int32_t special[] = {0, 1, 5, 6, 8, 15, 16, 17, -1, INT32_MIN, INT32_MAX, 2, 3, 2, 18, 100};
    return code < 200 ? 2 + code % 3 : special[code % 16];
}

/* float32/float64, or a code the logits refuse (the 16-bit dtypes 5 and 6 are valid since 0.2.0 and
 * not modelled here; HalfPrecisionTests cover them). */
static int32_t decode_float_dtype(uint8_t code) {
    static const int32_t special[] = {0, 3, 4, 7, -1, 99, INT32_MAX, 1};
    return code < 224 ? 1 + (code & 1) : special[code % 8];
}

static int32_t decode_reduction(uint8_t code) {
    static const int32_t special[] = {3, -1, 1000, INT32_MIN};
    return code < 240 ? code % 3 : special[code % 4];
}

/* The product of the sizes times 8 (the library's largest element): 1 when it fits in int64. */
static int product_fits(const int64_t *dims, int n) {
    int64_t p = 8;
    int i;
    for (i = 0; i < n; ++i) {
        int64_t d = dims[i] > 1 ? dims[i] : 1;
        if (__builtin_mul_overflow(p, d, &p)) return 0;
    }
    return 1;
}

typedef struct fault_set {
    int count;
    lk_status status[24];
    const char *why[24];
} fault_set;

static void add_fault(fault_set *f, lk_status s, const char *why) {
    if (f->count < 24) {
        f->status[f->count] = s;
        f->why[f->count] = why;
        f->count++;
    }
}

static int fault_has(const fault_set *f, lk_status s) {
    int i;
    for (i = 0; i < f->count; ++i)
        if (f->status[i] == s) return 1;
    return 0;
}

static void print_faults(const char *label, const fault_set *f) {
    int i;
    fprintf(stderr, "%s:", label);
    for (i = 0; i < f->count; ++i) fprintf(stderr, " %d(%s)", (int)f->status[i], f->why[i]);
    fprintf(stderr, "\n");
}

/* Bytes of the arena outside the ranges [lo_i, hi_i) must equal the snapshot. */
static void check_unchanged_outside(const uint8_t *arena, const uint8_t *snapshot, size_t total, size_t ranges[][2],
                                    int nranges, const char *what) {
    size_t pos = 0;
    while (pos < total) {
        size_t next = total, skip_to = pos;
        int i;
        for (i = 0; i < nranges; ++i) {
            if (ranges[i][0] <= pos && pos < ranges[i][1] && ranges[i][1] > skip_to) skip_to = ranges[i][1];
            if (ranges[i][0] > pos && ranges[i][0] < next) next = ranges[i][0];
        }
        if (skip_to > pos) {
            pos = skip_to;
            continue;
        }
        if (memcmp(arena + pos, snapshot + pos, next - pos) != 0) {
            size_t k = pos;
            while (arena[k] == snapshot[k]) ++k;
            fz_fail("%s: byte %zu of the arena changed (0x%02x -> 0x%02x)", what, k, snapshot[k], arena[k]);
        }
        pos = next;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* Out-of-range name indices are NULL. */
    FZ_CHECK(lk_loss_name_at(-1) == NULL && lk_loss_name_at(lk_loss_count()) == NULL &&
                 lk_loss_name_at(INT64_MAX) == NULL && lk_loss_name_at(INT64_MIN) == NULL,
             "lk_loss_name_at(out of range) is not NULL");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    fz_input *ip = &in;

    /* ---- the shape comes first, so that parameter vectors can take its C. */
    int32_t ndim = decode_ndim(fz_u8(ip));
    int64_t dims[17];
    int i;
    for (i = 0; i < 17; ++i) dims[i] = decode_size(fz_u8(ip), i < 2 ? i : 2);
    int64_t classes = dims[1];

    /* ---- the loss. */
    loss_info info;
    memset(&info, 0, sizeof info);
    info.checks_nan = 1;
    info.moderate = 1;
    lk_loss *loss = NULL;
    uint8_t sel = fz_u8(ip);
    if (sel < 180) {
        loss = create_builtin(ip, &info, classes);
    } else if (sel < 230) {
        loss = create_mix(ip, &info, classes);
    } else if (sel < 250) {
        char name[80];
        size_t n = fz_u8(ip) % 79, k;
        for (k = 0; k < n; ++k) name[k] = (char)(fz_u8(ip) | (k == 0 ? 1 : 0));
        name[n] = 0;
        loss = (lk_loss *)1;
        lk_status s = lk_loss_create(name, &loss);
        fz_check_status(s, "lk_loss_create(bytes)");
        if (s == LK_OK) {
            info_for_builtin(name, &info);
        } else {
            FZ_CHECK(s == LK_ERROR_UNKNOWN_LOSS || s == LK_ERROR_BAD_NAME, "lk_loss_create(bytes): status %d", (int)s);
            FZ_CHECK(loss == NULL, "failed lk_loss_create left a handle");
        }
    } else if (sel < 253) {
        loss = (lk_loss *)1;
        fz_expect_status(lk_loss_create(NULL, &loss), LK_ERROR_NULL_POINTER, "lk_loss_create(NULL)");
        FZ_CHECK(loss == NULL, "lk_loss_create(NULL) left a handle");
        fz_expect_status(lk_loss_create("cross_entropy", NULL), LK_ERROR_NULL_POINTER, "lk_loss_create(.., NULL)");
    } else {
        mix_errors(ip);
    }
    FZ_CHECK(loss == NULL || lk_loss_get_name(loss) != NULL, "lk_loss_get_name is NULL");
    FZ_CHECK(lk_loss_get_name(NULL) == NULL, "lk_loss_get_name(NULL) is not NULL");

    /* ---- threads. */
    static const int32_t thread_counts[] = {0, 1, 2, 3, 0, 1, -1, INT32_MIN};
    int32_t threads = thread_counts[fz_u8(ip) % 8];
    lk_status ts = lk_set_num_threads(threads);
    if (threads < 0) {
        fz_expect_status(ts, LK_ERROR_BAD_PARAM, "lk_set_num_threads(negative)");
        FZ_CHECK(lk_get_num_threads() == 0, "a refused thread count changed the limit");
    } else {
        fz_expect_status(ts, LK_OK, "lk_set_num_threads");
        FZ_CHECK(lk_get_num_threads() == threads, "lk_get_num_threads() = %d, set %d", lk_get_num_threads(), threads);
    }

    /* ---- the rest of the batch description. */
    int32_t logits_dtype = decode_float_dtype(fz_u8(ip));
    uint8_t tcode = fz_u8(ip);
    int32_t target_dtype = tcode < 100 ? LK_INT64 : tcode < 180 ? LK_INT32 : tcode < 240 ? logits_dtype
                           : (int32_t[]){0, 5, -3, 1, 2, 3, 4, 77}[tcode % 8];
    int32_t reduction = decode_reduction(fz_u8(ip));
    uint8_t icode = fz_u8(ip);
    int64_t ignore_index = icode < 160 ? LK_DEFAULT_IGNORE_INDEX
                           : (int64_t[]){-1, 0, 1, 2, INT64_MIN, INT64_MAX, (int64_t)1 << 31, -((int64_t)1 << 31) - 1}[icode % 8];
    uint8_t flags = fz_u8(ip);
    int want_weight = (flags & 3) == 0;
    int want_dloss = (flags & 12) == 0;
    int grad_mode = (flags >> 4) % 4; /* 0, 1: separate, 2: NULL, 3: in place */
    int use_compute_at = (flags & 0x40) != 0;
    int recheck_threads = (flags & 0x80) != 0;
    uint8_t struct_mode = fz_u8(ip);      /* >= 8: ordinary */
    uint8_t misalign_code = fz_u8(ip);    /* < 24: misalign one region */
    uint8_t alias_code = fz_u8(ip);       /* < 40: overlap an output with another region; < 160: guard mode */
    uint32_t alias_delta = fz_u32(ip);
    double progress = fz_param_values[fz_u8(ip) % FZ_PARAM_VALUES];
    uint8_t logit_level = fz_u8(ip), target_mode = fz_u8(ip), weight_mode = fz_u8(ip), dloss_mode = fz_u8(ip);
    fz_rng rng = {fz_u64(ip)};

    /* ---- what the shape means: valid-looking batches have real backing for everything. */
    int ndim_ok = ndim >= 2 && ndim <= LK_MAX_NDIM;
    int shape_null = struct_mode == 3;
    int nd = ndim_ok ? ndim : 0;
    int sizes_ok = 1, any_zero = 0;
    for (i = 0; i < nd; ++i) {
        if (dims[i] < 0) sizes_ok = 0;
        if (dims[i] == 0) any_zero = 1;
    }
    if (nd >= 2 && dims[1] < 1) sizes_ok = 0;
    int fits = nd ? product_fits(dims, nd) : 1;
    int shape_ok = ndim_ok && !shape_null && sizes_ok && (fits || any_zero);
    int64_t samples = 0, elements = 0, C = 0, inner = 1;
    if (shape_ok) {
        C = dims[1];
        if (!any_zero) {
            for (i = 2; i < nd; ++i) inner *= dims[i];
            /* Too big to back: make it empty (N = 0), unless it is small enough. */
            int64_t e;
            if (__builtin_mul_overflow(dims[0], inner, &samples) || __builtin_mul_overflow(samples, C, &e) || e > FZ_CAP) {
                dims[0] = 0;
                any_zero = 1;
                fits = product_fits(dims, nd);
            }
        }
        if (any_zero) {
            inner = 1; /* unused: there is no sample */
            samples = 0;
            elements = 0;
        } else {
            samples = dims[0] * inner;
            elements = samples * C;
        }
        if (C > FZ_CAP) want_weight = 0;
    }
    int64_t *shape = NULL;
    int shape_len = ndim >= 1 && ndim <= 17 ? ndim : 2;
    if (!shape_null) {
        shape = malloc(sizeof(int64_t) * (size_t)shape_len);
        memcpy(shape, dims, sizeof(int64_t) * (size_t)shape_len);
    }

    int fdt_ok = logits_dtype == LK_FLOAT32 || logits_dtype == LK_FLOAT64;
    int fsize = logits_dtype == LK_FLOAT32 ? 4 : 8;
    int probabilities = fdt_ok && target_dtype == logits_dtype;
    int tdt_ok = target_dtype == LK_INT32 || target_dtype == LK_INT64 || probabilities;
    int tsize = target_dtype == LK_INT32 ? 4 : target_dtype == LK_INT64 ? 8 : fsize;
    int red_ok = reduction >= 0 && reduction <= 2;
    int64_t loss_count = reduction == LK_REDUCTION_NONE ? samples : 1;

    /* ---- the arena. */
    region r[R_COUNT];
    memset(r, 0, sizeof r);
    r[R_LOGITS].present = struct_mode != 4;
    r[R_TARGET].present = struct_mode != 5;
    r[R_WEIGHT].present = want_weight;
    r[R_DLOSS].present = want_dloss;
    r[R_LOSS].present = struct_mode != 6;
    r[R_GRAD].present = grad_mode != 2;
    uint64_t cnt[R_COUNT] = {(uint64_t)elements, (uint64_t)(probabilities ? elements : samples), (uint64_t)C,
                             (uint64_t)loss_count, (uint64_t)loss_count, (uint64_t)elements};
    int esz[R_COUNT] = {fsize, tsize, fsize, fsize, fsize, fsize};
    size_t max_alloc = 0;
    for (i = 0; i < R_COUNT; ++i) {
        if (shape_ok) {
            uint64_t n = i == R_TARGET ? (uint64_t)elements : i == R_DLOSS || i == R_LOSS ? (uint64_t)(samples > 1 ? samples : 1)
                                                                                            : cnt[i];
            if (i == R_WEIGHT && !r[i].present) n = 0;
            r[i].alloc = (size_t)n * 8 + 16;
            r[i].bytes = cnt[i] * (uint64_t)esz[i];
        } else {
            r[i].alloc = FZ_SMALL + 16;
            r[i].bytes = 0;
        }
        if (r[i].alloc > max_alloc) max_alloc = r[i].alloc;
    }
    size_t pad = max_alloc + FZ_GUARD, total = 2 * pad, offset = pad;
    for (i = 0; i < R_COUNT; ++i) total += r[i].alloc + FZ_GUARD;
    for (i = 0; i < R_COUNT; ++i) {
        r[i].offset = offset;
        offset += (r[i].alloc + FZ_GUARD + 63) & ~(size_t)63;
        total += 64;
    }
    int misaligned = -1;
    if (misalign_code < 24) {
        int which = misalign_code % R_COUNT;
        if (r[which].present) {
            r[which].offset += 1 + (misalign_code / R_COUNT) % 3 * 2; /* 1, 3 or 5 bytes */
            misaligned = which;
        }
    }
    int aliased_out = -1;
    if (alias_code < 40 && shape_ok) {
        int out = alias_code & 1 ? R_LOSS : R_GRAD;
        int other = (alias_code >> 1) % R_COUNT;
        if (other != out && r[out].present && r[other].present) {
            int64_t span = (int64_t)r[other].alloc + (int64_t)r[out].alloc;
            int64_t delta = (int64_t)(alias_delta % (uint64_t)span) - (int64_t)r[out].alloc + 1;
            if (misaligned != out) delta &= ~(int64_t)7;
            r[out].offset = (size_t)((int64_t)r[other].offset + delta);
            aliased_out = out;
        }
    }
    /* Guard mode: one region ends exactly where the mapping ends, before a PROT_NONE page, so that a
     * read or write past its described extent (a vector loop's tail, an off-by-one) faults at once,
     * although the library is not instrumented. */
    int guarded = -1;
    if (alias_code >= 40 && alias_code < 160 && shape_ok) {
        int g = (alias_code - 40) % R_COUNT;
        if (g == R_GRAD && grad_mode == 3) g = R_LOGITS;
        if (r[g].present && r[g].bytes > 0 && misaligned != g) {
            size_t end = 0, bytes = (size_t)r[g].bytes;
            for (i = 0; i < R_COUNT; ++i)
                if (i != g && r[i].offset + r[i].alloc > end) end = r[i].offset + r[i].alloc;
            size_t start = (end + FZ_GUARD + 7) & ~(size_t)7;
            start += (8 - (start + bytes) % 8) % 8; /* the end, and so the mapping's base, 8-aligned */
            r[g].offset = start;
            total = start + bytes;
            guarded = g;
        }
    }
    if (grad_mode == 3 && r[R_LOGITS].present && aliased_out != R_GRAD) r[R_GRAD].offset = r[R_LOGITS].offset;
    uint8_t *arena, *mapping = NULL;
    size_t mapped = 0;
    if (guarded >= 0) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (total + page - 1) / page * page;
        mapped = body + page;
        mapping = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        FZ_CHECK(mapping != MAP_FAILED, "mmap of %zu bytes failed", mapped);
        FZ_CHECK(mprotect(mapping + body, page, PROT_NONE) == 0, "mprotect failed");
        arena = mapping + body - total;
    } else {
        arena = aligned_alloc(64, (total + 63) & ~(size_t)63);
    }
    memset(arena, 0xA5, total);
    int in_place = r[R_GRAD].present && r[R_LOGITS].present && r[R_GRAD].offset == r[R_LOGITS].offset;

    /* ---- the data (only a valid shape has data to describe). */
    int logit_nan = 0, logit_neginf = 0, logits_moderate = 1;
    int neginf_target = 0; /* a sample's target class has logit -inf */
    int target_bad = 0, probs_bad = 0, probs_ambiguous = 0, all_ignored = samples > 0;
    int weight_bad = 0, weights_moderate = 1, dloss_bad = 0, dloss_moderate = 1;
    uint8_t *ignored_rows = NULL;
    if (shape_ok) {
        int f32 = is_float32(logits_dtype);
        uint8_t *L = arena + r[R_LOGITS].offset;
        static const double scales[] = {1.0, 4.0, 30.0, 0.01};
        double scale = scales[logit_level & 3];
        int level = (logit_level >> 2) % 4;
        int64_t e;
        for (e = 0; e < elements; ++e) {
            double v = (fz_unit(&rng) * 2 - 1) * scale;
            uint32_t roll = fz_below(&rng, 64);
            if (level >= 1 && roll == 0) v = -INFINITY;
            if (level >= 2 && roll == 1) v = fz_below(&rng, 2) ? NAN : INFINITY;
            if (level >= 3 && roll >= 2 && roll < 8) v = special_value((uint8_t)fz_next(&rng), f32);
            put_float(L + e * (uint64_t)esz[R_LOGITS], logits_dtype, v);
        }
        uint8_t pokes = fz_u8(ip) % 8;
        for (; pokes > 0 && elements > 0; --pokes) {
            int64_t at = (int64_t)(fz_u32(ip) % (uint64_t)elements);
            put_float(L + at * (uint64_t)esz[R_LOGITS], logits_dtype, special_value(fz_u8(ip), f32));
        }
        for (e = 0; e < elements; ++e) {
            double v = get_float(L + e * (uint64_t)esz[R_LOGITS], logits_dtype);
            if (isnan(v) || v == INFINITY) logit_nan = 1;
            else if (v == -INFINITY) logit_neginf = 1;
            else if (fabs(v) > 50) logits_moderate = 0;
        }

        /* targets */
        uint8_t *T = arena + r[R_TARGET].offset;
        if (probabilities) {
            int64_t n, j, k;
            double tol = f32 ? 1e-3 : 1e-6;
            for (n = 0; n < samples; ++n) {
                int64_t base = (n / inner) * C * inner + n % inner;
                int mode = target_mode % 4;
                if (mode == 3 && fz_below(&rng, 4)) mode = 0;
                double sum = 0;
                for (j = 0; j < C; ++j) {
                    double q = mode == 1 ? (j == (int64_t)fz_below(&rng, (uint32_t)C) ? 1.0 : 0.0) : fz_unit(&rng);
                    sum += q;
                    put_float(T + (base + j * inner) * (uint64_t)fsize, logits_dtype, q);
                }
                if (mode == 1 && sum == 0) put_float(T + base * (uint64_t)fsize, logits_dtype, 1.0);
                if (mode != 1)
                    for (j = 0; j < C; ++j) {
                        uint8_t *p = T + (base + j * inner) * (uint64_t)fsize;
                        put_float(p, logits_dtype, sum > 0 ? get_float(p, logits_dtype) / sum : 1.0 / (double)C);
                    }
                if (mode >= 2) { /* break one value */
                    k = (int64_t)fz_below(&rng, (uint32_t)C);
                    static const double broken[] = {-0.5, NAN, INFINITY, 2.0, 0.5, -1e-9, 1e-4, 1e-7};
                    uint8_t *p = T + (base + k * inner) * (uint64_t)fsize;
                    put_float(p, logits_dtype, get_float(p, logits_dtype) + broken[fz_below(&rng, 8)]);
                }
                double s = 0;
                int bad = 0;
                for (j = 0; j < C; ++j) {
                    double q = get_float(T + (base + j * inner) * (uint64_t)fsize, logits_dtype);
                    if (!(q >= 0) || !isfinite(q)) bad = 1;
                    s += q;
                }
                if (bad || fabs(s - 1) > 2 * tol) probs_bad = 1;
                else if (fabs(s - 1) > tol / 2) probs_ambiguous = 1;
            }
            all_ignored = 0;
        } else if (tdt_ok) {
            ignored_rows = calloc((size_t)samples + 1, 1);
            int64_t n;
            static const int64_t out_of_range[] = {-1, 0, 0, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX, -100};
            for (n = 0; n < samples; ++n) {
                int64_t y = (int64_t)fz_below(&rng, (uint32_t)(C < UINT32_MAX ? C : UINT32_MAX));
                uint32_t roll = fz_below(&rng, 8);
                int mode = target_mode % 5;
                if ((mode == 1 && roll < 2) || mode == 2) y = ignore_index;
                if (mode == 3 && roll == 0) {
                    y = out_of_range[fz_below(&rng, 8)];
                    if (y == 0) y = C + fz_below(&rng, 3);
                }
                if (target_dtype == LK_INT32) {
                    int32_t y32 = (int32_t)y;
                    memcpy(T + n * 4, &y32, 4);
                    y = y32;
                } else {
                    memcpy(T + n * 8, &y, 8);
                }
                if (y == ignore_index) ignored_rows[n] = 1;
                else {
                    all_ignored = 0;
                    if (y < 0 || y >= C) target_bad = 1;
                    else if (get_float(L + ((n / inner) * C * inner + n % inner + y * inner) * (uint64_t)esz[R_LOGITS],
                                       logits_dtype) == -INFINITY)
                        neginf_target = 1;
                }
            }
        }

        if (r[R_WEIGHT].present) {
            uint8_t *W = arena + r[R_WEIGHT].offset;
            int64_t j;
            static const double bad_weights[] = {-1.0, NAN, INFINITY, -INFINITY, -1e-300, 1e300, -0.0, 0.0};
            for (j = 0; j < C; ++j) {
                double w = weight_mode % 4 == 1 ? 0.0 : fz_unit(&rng) * 3;
                if (weight_mode % 4 == 0 && fz_below(&rng, 8) == 0) w = 0;
                if (weight_mode % 4 >= 2 && fz_below(&rng, 4) == 0) w = bad_weights[fz_below(&rng, 8)];
                put_float(W + j * (uint64_t)fsize, logits_dtype, w);
                double stored = get_float(W + j * (uint64_t)fsize, logits_dtype);
                if (!(stored >= 0) || !isfinite(stored)) weight_bad = 1;
                else if (!fz_moderate(stored)) weights_moderate = 0;
            }
        }
        if (r[R_DLOSS].present) {
            uint8_t *D = arena + r[R_DLOSS].offset;
            int64_t j;
            static const double bad_dloss[] = {NAN, INFINITY, -INFINITY, 1e300, -1e300, 0.0, -0.0, 4.9e-324};
            for (j = 0; j < loss_count; ++j) {
                double d = dloss_mode % 4 == 1 ? 0.0 : (fz_unit(&rng) * 2 - 1) * 4;
                if (dloss_mode % 4 >= 2 && fz_below(&rng, 4) == 0) d = bad_dloss[fz_below(&rng, 8)];
                put_float(D + j * (uint64_t)fsize, logits_dtype, d);
                double stored = get_float(D + j * (uint64_t)fsize, logits_dtype);
                if (!isfinite(stored)) dloss_bad = 1;
                else if (fabs(stored) > 100 || (stored != 0 && fabs(stored) < 1e-2)) dloss_moderate = 0;
            }
        }
    }

    /* ---- the batch struct. */
    lk_batch batch;
    lk_batch_init(&batch);
    FZ_CHECK(batch.struct_size == sizeof(lk_batch) && batch.ignore_index == LK_DEFAULT_IGNORE_INDEX &&
                 batch.reduction == LK_REDUCTION_MEAN && batch.logits == NULL && batch.reserved0 == 0,
             "lk_batch_init did not set the defaults");
    lk_batch_init(NULL);
    batch.ndim = ndim;
    batch.shape = shape;
    batch.logits_dtype = logits_dtype;
    batch.target_dtype = target_dtype;
    batch.ignore_index = ignore_index;
    batch.reduction = reduction;
#define PTR(k) (r[k].present ? (void *)(arena + r[k].offset) : NULL)
    batch.logits = PTR(R_LOGITS);
    batch.target = PTR(R_TARGET);
    batch.weight = PTR(R_WEIGHT);
    batch.dloss = PTR(R_DLOSS);
    batch.loss = PTR(R_LOSS);
    batch.grad = PTR(R_GRAD);
    if (struct_mode == 0) batch.struct_size = 0;
    if (struct_mode == 1) batch.struct_size = (uint32_t)sizeof(lk_batch) + 8;
    if (struct_mode == 2) batch.reserved0 = 1;
    int null_batch = struct_mode == 7;

    /* ---- the faults: structural ones first (the data cannot be judged through a bad structure). */
    fault_set faults = {0}, allowed = {0};
    if (loss == NULL) add_fault(&faults, LK_ERROR_NULL_POINTER, "loss handle NULL");
    if (null_batch) add_fault(&faults, LK_ERROR_NULL_POINTER, "batch NULL");
    if (!null_batch) {
        if (struct_mode <= 2) add_fault(&faults, LK_ERROR_BAD_STRUCT, "struct_size or reserved0");
        if (!ndim_ok) add_fault(&faults, LK_ERROR_BAD_SHAPE, "ndim");
        else if (shape_null) add_fault(&faults, LK_ERROR_NULL_POINTER, "shape NULL");
        else if (!sizes_ok) add_fault(&faults, LK_ERROR_BAD_SHAPE, "negative size or C < 1");
        else if (!fits && !any_zero) add_fault(&faults, LK_ERROR_SIZE_OVERFLOW, "size overflow");
        else if (!fits) add_fault(&allowed, LK_ERROR_SIZE_OVERFLOW, "overflow behind an empty axis");
        if (!fdt_ok) add_fault(&faults, LK_ERROR_BAD_DTYPE, "logits dtype");
        if (!tdt_ok) add_fault(&faults, LK_ERROR_BAD_DTYPE, "target dtype");
        if (!red_ok) add_fault(&faults, LK_ERROR_BAD_REDUCTION, "reduction code");
        if (!r[R_LOGITS].present) add_fault(&faults, LK_ERROR_NULL_POINTER, "logits NULL");
        if (!r[R_TARGET].present) add_fault(&faults, LK_ERROR_NULL_POINTER, "target NULL");
        if (!r[R_LOSS].present) add_fault(&faults, LK_ERROR_NULL_POINTER, "loss NULL");
        for (i = 0; i < R_COUNT; ++i) /* the arena is 64-aligned: an offset's remainder is the address's */
            if (r[i].present && r[i].offset % (size_t)esz[i] != 0) add_fault(&faults, LK_ERROR_MISALIGNED, region_names[i]);
    }
    int structural = faults.count > 0;
    if (!structural) {
        /* Aliasing, with the library's rule: outputs must not overlap inputs or each other; only
         * grad == logits exactly is allowed. Empty regions overlap nothing. */
        int a, b;
        for (a = R_LOSS; a <= R_GRAD; ++a)
            for (b = 0; b < R_COUNT; ++b) {
                if (b == a || (a == R_GRAD && b == R_LOSS)) continue;
                if (!r[a].present || !r[b].present || r[a].bytes == 0 || r[b].bytes == 0) continue;
                if (a == R_GRAD && b == R_LOGITS && in_place) continue;
                uint64_t a0 = r[a].offset, a1 = a0 + r[a].bytes, b0 = r[b].offset, b1 = b0 + r[b].bytes;
                if (a0 < b1 && b0 < a1) add_fault(&faults, LK_ERROR_ALIASING, "overlap");
            }
        structural = faults.count > 0;
    }
    if (!structural) {
        if (use_compute_at && !(progress >= 0 && progress <= 1)) add_fault(&faults, LK_ERROR_BAD_PARAM, "progress");
        if (info.mean_only && reduction != LK_REDUCTION_MEAN) add_fault(&faults, LK_ERROR_BAD_REDUCTION, "mean only");
        int k;
        for (k = 0; k < info.n_priors; ++k)
            if (info.priors[k] != C) add_fault(&faults, LK_ERROR_BAD_PARAM, "priors length");
        for (k = 0; k < info.n_counts; ++k)
            if (info.counts[k] != 0 && info.counts[k] != C) add_fault(&faults, LK_ERROR_BAD_PARAM, "class_counts length");
        if (weight_bad) add_fault(&faults, LK_ERROR_BAD_WEIGHT, "weight");
        if (dloss_bad) add_fault(&faults, LK_ERROR_BAD_DLOSS, "dloss");
        if (logit_nan && info.checks_nan) add_fault(&faults, LK_ERROR_NONFINITE_LOGIT, "NaN/+inf logit");
        if (target_bad) add_fault(&faults, LK_ERROR_TARGET_OUT_OF_RANGE, "target");
        if (probabilities && !info.accepts_probabilities) add_fault(&faults, LK_ERROR_BAD_PROBABILITIES, "probabilities not taken");
        if (probabilities && probs_bad) add_fault(&faults, LK_ERROR_BAD_PROBABILITIES, "bad probabilities");
        if (probabilities && probs_ambiguous) add_fault(&allowed, LK_ERROR_BAD_PROBABILITIES, "sum near tolerance");
    }

    if (getenv("FZ_DEBUG")) {
        fprintf(stderr, "ndim %d dims", ndim);
        for (i = 0; i < (ndim_ok ? ndim : 0); ++i) fprintf(stderr, " %lld", (long long)dims[i]);
        fprintf(stderr, "; S %lld C %lld E %lld; dtypes %d/%d reduction %d ignore %lld in_place %d\n", (long long)samples,
                (long long)C, (long long)elements, logits_dtype, target_dtype, reduction, (long long)ignore_index, in_place);
        fprintf(stderr, "loss %s; guarded region %d, misaligned %d, aliased output %d\n", loss ? lk_loss_get_name(loss) : "NULL",
                guarded, misaligned, aliased_out);
        if (shape_ok && elements <= 64) {
            int64_t e;
            fprintf(stderr, "logits:");
            for (e = 0; e < elements; ++e) fprintf(stderr, " %g", get_float(arena + r[R_LOGITS].offset + e * esz[R_LOGITS], logits_dtype));
            fprintf(stderr, "\ntarget:");
            for (e = 0; e < (probabilities ? elements : samples); ++e)
                fprintf(stderr, " %g", probabilities ? get_float(arena + r[R_TARGET].offset + e * fsize, logits_dtype)
                                       : target_dtype == LK_INT32 ? (double)((int32_t *)(arena + r[R_TARGET].offset))[e]
                                                                  : (double)((int64_t *)(arena + r[R_TARGET].offset))[e]);
            fprintf(stderr, "\n");
        }
        for (i = 0; i < R_COUNT; ++i)
            fprintf(stderr, "  %-6s present %d offset %zu bytes %llu alloc %zu\n", region_names[i], r[i].present, r[i].offset,
                    (unsigned long long)r[i].bytes, r[i].alloc);
    }

    /* ---- the call. LOSSKIT_FUZZ_SKIP (a comma list of known issues, see run.sh) skips:
     *   dice-empty-huge-classes: dice on an empty batch with a huge C allocates 3·C doubles and aborts. */
    const char *skip = getenv("LOSSKIT_FUZZ_SKIP");
    int skip_call = skip && strstr(skip, "dice-empty-huge-classes") && info.mean_only && shape_ok && samples == 0 &&
                    C > (1 << 24);
    uint8_t *snapshot = malloc(total);
    memcpy(snapshot, arena, total);
    const lk_batch *bp = null_batch ? NULL : &batch;
    lk_status s = skip_call ? LK_ERROR_BAD_SHAPE
                  : use_compute_at ? lk_loss_compute_at(loss, bp, progress) : lk_loss_compute(loss, bp);
    if (skip_call) {
    } else if (fz_check_status(s, "lk_loss_compute"), s != LK_OK) {
        if (!fault_has(&faults, s) && !fault_has(&allowed, s)) {
            print_faults("faults", &faults);
            print_faults("allowed", &allowed);
            fz_fail("lk_loss_compute refused with %d (%s: %s), which matches no fault of the batch", (int)s,
                    lk_status_string(s), lk_last_error_message());
        }
        check_unchanged_outside(arena, snapshot, total, NULL, 0, "a refused batch wrote to the caller's memory");
    } else {
        if (faults.count > 0) {
            print_faults("faults", &faults);
            fz_fail("lk_loss_compute accepted a batch with %d fault(s), first: %s", faults.count, faults.why[0]);
        }
        size_t ranges[2][2] = {{r[R_LOSS].offset, r[R_LOSS].offset + (size_t)r[R_LOSS].bytes},
                               {r[R_GRAD].offset, r[R_GRAD].offset + (r[R_GRAD].present ? (size_t)r[R_GRAD].bytes : 0)}};
        check_unchanged_outside(arena, snapshot, total, ranges, 2, "a successful compute wrote outside loss and grad");

        /* The values. */
        const uint8_t *Lo = arena + r[R_LOSS].offset, *G = r[R_GRAD].present ? arena + r[R_GRAD].offset : NULL;
        int64_t j, n, c;
        /*   mix-huge-weight: a mix weight above FLT_MAX becomes inf on a float32 batch, and 0·inf = NaN
         *                    (an empty batch's loss is NaN instead of 0). */
        int skip_zero_checks = info.is_mix && !info.moderate && skip && strstr(skip, "mix-huge-weight");
        if (skip_zero_checks) {
        } else if (samples == 0 && reduction != LK_REDUCTION_NONE)
            FZ_CHECK(get_float(Lo, logits_dtype) == 0, "empty batch: loss %g, expected 0", get_float(Lo, logits_dtype));
        if (all_ignored && reduction == LK_REDUCTION_MEAN && !skip_zero_checks)
            FZ_CHECK(get_float(Lo, logits_dtype) == 0, "every sample ignored: mean loss %g, expected 0", get_float(Lo, logits_dtype));
        if (ignored_rows && !skip_zero_checks) {
            for (n = 0; n < samples; ++n) {
                if (!ignored_rows[n]) continue;
                if (reduction == LK_REDUCTION_NONE)
                    FZ_CHECK(get_float(Lo + n * (uint64_t)fsize, logits_dtype) == 0, "ignored sample %lld: loss %g",
                             (long long)n, get_float(Lo + n * (uint64_t)fsize, logits_dtype));
                if (G) {
                    int64_t base = (n / inner) * C * inner + n % inner;
                    for (c = 0; c < C; ++c) {
                        double g = get_float(G + (base + c * inner) * (uint64_t)fsize, logits_dtype);
                        FZ_CHECK(g == 0, "ignored sample %lld: gradient %g at class %lld", (long long)n, g, (long long)c);
                    }
                }
            }
        }
        int finite_inputs = !logit_nan && logits_moderate && weights_moderate && dloss_moderate && info.moderate &&
                            !probs_ambiguous;
        /* LOSSKIT_FUZZ_SKIP also skips the value checks of known issues, to explore past them:
         *   neginf-target: a target logit of -inf gives a non-finite gradient (focal: NaN row; square:
         *                  -inf, NaN when scaled by a zero weight or dloss; logit_norm: -inf);
         *   mix-neginf:   a mix with a component weight 0 and a component loss of +inf gives NaN (0·inf). */
        if (logit_neginf && info.is_mix && skip && strstr(skip, "mix-neginf")) finite_inputs = 0;
        if (finite_inputs) {
            for (j = 0; j < loss_count; ++j) {
                double v = get_float(Lo + j * (uint64_t)fsize, logits_dtype);
                if (logit_neginf)
                    FZ_CHECK(!isnan(v) && v != -INFINITY, "loss[%lld] = %g with moderate logits and masked classes (-inf)",
                             (long long)j, v);
                else
                    FZ_CHECK(isfinite(v), "loss[%lld] = %g with moderate finite inputs", (long long)j, v);
            }
            int skip_grad = neginf_target && skip && strstr(skip, "neginf-target");
            for (j = 0; G && !skip_grad && j < elements; ++j) {
                double g = get_float(G + j * (uint64_t)fsize, logits_dtype);
                if (logit_neginf)
                    FZ_CHECK(!isnan(g), "grad[%lld] = %g with moderate logits and masked classes (-inf)", (long long)j, g);
                else
                    FZ_CHECK(isfinite(g), "grad[%lld] = %g with moderate finite inputs", (long long)j, g);
            }
        }

        /* Determinism: the same batch on one thread gives the same bits. */
        if (recheck_threads && !in_place && threads != 1) {
            size_t lb = (size_t)r[R_LOSS].bytes, gb = G ? (size_t)r[R_GRAD].bytes : 0;
            uint8_t *first = malloc(lb + gb + 1);
            memcpy(first, Lo, lb);
            if (gb) memcpy(first + lb, G, gb);
            fz_expect_status(lk_set_num_threads(1), LK_OK, "lk_set_num_threads(1)");
            lk_status again = use_compute_at ? lk_loss_compute_at(loss, bp, progress) : lk_loss_compute(loss, bp);
            fz_expect_status(again, LK_OK, "lk_loss_compute (again, one thread)");
            FZ_CHECK(memcmp(first, Lo, lb) == 0, "loss differs between %d threads and 1 thread", threads);
            FZ_CHECK(gb == 0 || memcmp(first + lb, G, gb) == 0, "grad differs between %d threads and 1 thread", threads);
            free(first);
        }
    }

    lk_set_num_threads(0);
    free(snapshot);
    free(ignored_rows);
    if (mapping) munmap(mapping, mapped);
    else free(arena);
    free(shape);
    lk_loss_destroy(loss);
    return 0;
}
