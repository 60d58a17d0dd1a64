/* fuzz_params: the parameter setters against a model of every loss's documented parameters.
 *
 * The model is README.md's loss table (names, kinds, ranges, defaults) plus the mix parameters of
 * losskit.h. One input creates a built-in loss or a mix of built-ins and applies a sequence of
 * lk_loss_set_param / _string / _array / lk_loss_get_param calls with names from the table (and a
 * few no loss has) and values in range, at the bounds, out of range, NaN and inf, then computes on a
 * small valid batch.
 *
 * Checks:
 *  - each setter succeeds exactly when the model says the name exists, has that kind and the value
 *    is allowed; otherwise the status is UNKNOWN_PARAM or BAD_PARAM (NULL_POINTER for NULL values);
 *  - lk_loss_get_param returns the model's current value bit for bit (the documented default before
 *    any set), and BAD_PARAM for text and vector parameters;
 *  - the final compute succeeds unless a vector parameter's length contradicts C (BAD_PARAM);
 *  - a mix copies its components: changing a component after lk_mix_create does not change the
 *    mix's results;
 *  - lk_loss_compute_at(b, t) gives the same bits as setting "progress" to t and lk_loss_compute(b).
 */
#include "fuzz_common.h"

enum kind { K_NUMBER, K_CHOICE, K_VECTOR };

typedef struct spec {
    const char *name;
    int kind;
    double lo, hi;      /* numbers: the range */
    int lo_open, hi_open;
    double def;
    const int *allowed; /* integers: the allowed values (count in n_allowed) */
    int n_allowed;
} spec;

static const int one_two[] = {1, 2}, zero_one[] = {0, 1};
#define NUM(n, lo, hi, lo_open, hi_open, def) {n, K_NUMBER, lo, hi, lo_open, hi_open, def, NULL, 0}
#define INT(n, def, allowed) {n, K_NUMBER, 0, 0, 0, 0, def, allowed, 2}
#define CHOICE(n) {n, K_CHOICE, 0, 0, 0, 0, 0, NULL, 0}
#define VECTOR(n) {n, K_VECTOR, 0, 0, 0, 0, 0, NULL, 0}

typedef struct loss_model {
    const char *name;
    int n;
    spec specs[8];
} loss_model;

/* README.md, "The losses". Every loss also has nan_policy. */
static const loss_model models[] = {
    {"cross_entropy", 2, {NUM("label_smoothing", 0, 1, 0, 0, 0), NUM("z_loss", 0, INFINITY, 0, 1, 0)}},
    {"expectation", 0, {{0}}},
    {"ce_expectation_mix", 7,
     {CHOICE("schedule"), NUM("alpha", 0, 1, 0, 0, 0.5), NUM("alpha_start", 0, 1, 0, 0, 0), NUM("alpha_end", 0, 1, 0, 0, 1),
      NUM("t_switch", 0, 1, 0, 0, 0.5), NUM("progress", 0, 1, 0, 0, 0), NUM("beta", 0, INFINITY, 0, 1, 1)}},
    {"squentropy", 0, {{0}}},
    {"square", 2, {NUM("k", 0, INFINITY, 1, 1, 1), NUM("M", 0, INFINITY, 1, 1, 1)}},
    {"hem", 3, {NUM("margin", 0, INFINITY, 0, 1, 0.5), VECTOR("class_counts"), NUM("M", 0, INFINITY, 1, 1, 1)}},
    {"multi_margin", 2, {NUM("margin", 0, INFINITY, 0, 1, 1), INT("p", 1, one_two)}},
    {"logit_norm", 1, {NUM("tau", 0, INFINITY, 1, 1, 0.04)}},
    {"logit_adjusted", 2, {NUM("tau", 0, INFINITY, 0, 1, 1), VECTOR("priors")}},
    {"focal", 1, {NUM("gamma", 0, INFINITY, 0, 1, 2)}},
    {"dice", 2, {NUM("smooth", 0, INFINITY, 0, 1, 1), INT("skip_absent", 0, zero_one)}},
};
#define MODELS (sizeof models / sizeof models[0])

/* The live model of one loss object: its specs and current values. */
#define MAX_SPECS 32
typedef struct state {
    int n;
    spec specs[MAX_SPECS];
    double value[MAX_SPECS];
    int64_t length[MAX_SPECS]; /* vectors */
    const char *choice[MAX_SPECS];
    int logit_adjusted, hem;
} state;

static char mix_names[4][6][24];

static void add_spec(state *st, spec sp) {
    st->specs[st->n] = sp;
    st->value[st->n] = sp.def;
    st->length[st->n] = 0;
    st->choice[st->n] = NULL;
    st->n++;
}

static void model_builtin(state *st, const loss_model *m) {
    int i;
    memset(st, 0, sizeof *st);
    for (i = 0; i < m->n; ++i) add_spec(st, m->specs[i]);
    add_spec(st, (spec)CHOICE("nan_policy"));
    st->logit_adjusted = strcmp(m->name, "logit_adjusted") == 0;
    st->hem = strcmp(m->name, "hem") == 0;
    for (i = 0; i < st->n; ++i) {
        if (strcmp(st->specs[i].name, "schedule") == 0) st->choice[i] = "constant";
        if (strcmp(st->specs[i].name, "nan_policy") == 0) st->choice[i] = "error";
    }
}

/* losskit.h, lk_mix_create: per component k, w<k> (default 1, >= 0), w<k>_schedule, w<k>_start,
 * w<k>_end, w<k>_t_switch; and progress. */
static void model_mix(state *st, int count) {
    int k;
    memset(st, 0, sizeof *st);
    for (k = 0; k < count; ++k) {
        char (*nm)[24] = mix_names[k];
        snprintf(nm[0], 24, "w%d", k);
        snprintf(nm[1], 24, "w%d_schedule", k);
        snprintf(nm[2], 24, "w%d_start", k);
        snprintf(nm[3], 24, "w%d_end", k);
        snprintf(nm[4], 24, "w%d_t_switch", k);
        add_spec(st, (spec)NUM(nm[0], 0, INFINITY, 0, 1, 1));
        add_spec(st, (spec)CHOICE(nm[1]));
        st->choice[st->n - 1] = "constant";
        add_spec(st, (spec)NUM(nm[2], 0, INFINITY, 0, 1, 1));
        add_spec(st, (spec)NUM(nm[3], 0, INFINITY, 0, 1, 1));
        add_spec(st, (spec)NUM(nm[4], 0, 1, 0, 0, 0.5));
    }
    add_spec(st, (spec)NUM("progress", 0, 1, 0, 0, 0));
    add_spec(st, (spec)CHOICE("nan_policy"));
    st->choice[st->n - 1] = "error";
}

static int find_spec(const state *st, const char *name) {
    int i;
    for (i = 0; i < st->n; ++i)
        if (strcmp(st->specs[i].name, name) == 0) return i;
    return -1;
}

static int number_allowed(const spec *sp, double v) {
    if (!isfinite(v)) return 0;
    if (sp->allowed) {
        int i;
        for (i = 0; i < sp->n_allowed; ++i)
            if (v == (double)sp->allowed[i]) return 1;
        return 0;
    }
    if (sp->lo_open ? !(v > sp->lo) : !(v >= sp->lo)) return 0;
    if (sp->hi_open ? !(v < sp->hi) : !(v <= sp->hi)) return 0;
    return 1;
}

static int choice_allowed(const char *name, const char *value) {
    if (strcmp(name, "nan_policy") == 0) return strcmp(value, "error") == 0 || strcmp(value, "propagate") == 0;
    return strcmp(value, "constant") == 0 || strcmp(value, "linear") == 0 || strcmp(value, "cosine") == 0 ||
           strcmp(value, "step") == 0;
}

static const char *pick_name(fz_input *in, const state *st) {
    uint8_t b = fz_u8(in);
    if (b < 160 && st->n > 0) return st->specs[b % st->n].name;
    return fz_param_names[b % FZ_PARAM_NAMES];
}

static void check_get(lk_loss *loss, const state *st, const char *name) {
    double v = 12345;
    lk_status s = lk_loss_get_param(loss, name, &v);
    fz_check_status(s, "lk_loss_get_param");
    int i = find_spec(st, name);
    if (i < 0) {
        FZ_CHECK(s == LK_ERROR_UNKNOWN_PARAM, "get_param('%s'), not a parameter: status %d", name, (int)s);
    } else if (st->specs[i].kind != K_NUMBER) {
        FZ_CHECK(s == LK_ERROR_BAD_PARAM, "get_param('%s'), not numeric: status %d", name, (int)s);
        FZ_CHECK(v == 12345, "a refused get_param wrote its output");
    } else {
        FZ_CHECK(s == LK_OK, "get_param('%s'): status %d (%s)", name, (int)s, lk_last_error_message());
        FZ_CHECK(fz_bits_equal(v, st->value[i]), "get_param('%s') = %a, model %a", name, v, st->value[i]);
    }
}

static void apply(fz_input *in, lk_loss *loss, state *st) {
    const char *name = pick_name(in, st);
    int i = find_spec(st, name);
    uint8_t kind = fz_u8(in) % 4;
    lk_status s;
    if (kind == 0) {
        double v = fz_u8(in) < 230 ? fz_param_values[fz_u8(in) % FZ_PARAM_VALUES] : fz_raw_double(in);
        s = lk_loss_set_param(loss, name, v);
        fz_check_status(s, "lk_loss_set_param");
        lk_status want = i < 0 ? LK_ERROR_UNKNOWN_PARAM
                         : st->specs[i].kind != K_NUMBER || !number_allowed(&st->specs[i], v) ? LK_ERROR_BAD_PARAM
                                                                                              : LK_OK;
        FZ_CHECK(s == want, "set_param('%s', %a): status %d (%s), model %d", name, v, (int)s, lk_last_error_message(),
                 (int)want);
        if (s == LK_OK) st->value[i] = v;
    } else if (kind == 1) {
        const char *value = fz_text_values[fz_u8(in) % FZ_TEXT_VALUES];
        s = lk_loss_set_param_string(loss, name, value);
        fz_check_status(s, "lk_loss_set_param_string");
        lk_status want = i < 0 ? LK_ERROR_UNKNOWN_PARAM
                         : st->specs[i].kind != K_CHOICE || !choice_allowed(name, value) ? LK_ERROR_BAD_PARAM
                                                                                          : LK_OK;
        /* text that is not UTF-8 may be refused as such */
        int not_utf8 = (unsigned char)value[0] >= 0x80 || strchr(value, '\xc3') != NULL;
        FZ_CHECK(s == want || (not_utf8 && s == LK_ERROR_BAD_NAME && want != LK_OK),
                 "set_param_string('%s', '%s'): status %d (%s), model %d", name, value, (int)s, lk_last_error_message(),
                 (int)want);
        if (s == LK_OK) st->choice[i] = value;
    } else if (kind == 2) {
        double values[40];
        int64_t count = fz_u8(in) % 40, j;
        if (fz_u8(in) == 255) count = -1 - fz_u8(in);
        int valid = 1, null_values = fz_u8(in) >= 250;
        for (j = 0; j < 40; ++j) {
            uint8_t b = fz_u8(in);
            values[j] = b < 200 ? 0.5 + b : fz_param_values[b % FZ_PARAM_VALUES];
            if (j < count) valid &= isfinite(values[j]) && values[j] > 0;
        }
        s = lk_loss_set_param_array(loss, name, null_values ? NULL : values, count);
        fz_check_status(s, "lk_loss_set_param_array");
        lk_status want;
        if (count < 0) want = LK_ERROR_BAD_PARAM;
        else if (null_values && count > 0) want = LK_ERROR_NULL_POINTER;
        else if (i < 0) want = LK_ERROR_UNKNOWN_PARAM;
        else if (st->specs[i].kind != K_VECTOR || !(valid || null_values)) want = LK_ERROR_BAD_PARAM;
        else want = LK_OK;
        /* Several faults at once (count < 0 or NULL values, and an unknown name): any of them. */
        int ok = s == want || (want != LK_OK && (count < 0 || (null_values && count > 0)) &&
                               (s == LK_ERROR_UNKNOWN_PARAM || s == LK_ERROR_BAD_PARAM || s == LK_ERROR_NULL_POINTER));
        FZ_CHECK(ok, "set_param_array('%s', count %lld%s): status %d (%s), model %d", name, (long long)count,
                 null_values ? ", NULL" : "", (int)s, lk_last_error_message(), (int)want);
        if (s == LK_OK) st->length[i] = null_values ? 0 : count;
    } else {
        check_get(loss, st, name);
    }
}

/* A small valid batch (N=3, C classes, float64) and its outputs. */
typedef struct small_batch {
    int64_t shape[2];
    double logits[3 * 8];
    int64_t target[3];
    double loss, grad[3 * 8];
    lk_batch b;
} small_batch;

static void make_batch(small_batch *sb, int64_t classes, fz_rng *rng) {
    int64_t i;
    memset(sb, 0, sizeof *sb);
    sb->shape[0] = 3;
    sb->shape[1] = classes;
    for (i = 0; i < 3 * classes; ++i) sb->logits[i] = (fz_unit(rng) * 2 - 1) * 3;
    for (i = 0; i < 3; ++i) sb->target[i] = (int64_t)fz_below(rng, (uint32_t)classes);
    lk_batch_init(&sb->b);
    sb->b.ndim = 2;
    sb->b.shape = sb->shape;
    sb->b.logits_dtype = LK_FLOAT64;
    sb->b.target_dtype = LK_INT64;
    sb->b.logits = sb->logits;
    sb->b.target = sb->target;
    sb->b.loss = &sb->loss;
    sb->b.grad = sb->grad;
}

static lk_status run(lk_loss *loss, small_batch *sb, double out[1 + 3 * 8]) {
    lk_status s = lk_loss_compute(loss, &sb->b);
    fz_check_status(s, "lk_loss_compute");
    out[0] = sb->loss;
    memcpy(out + 1, sb->grad, sizeof sb->grad);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    fz_rng rng = {fz_u32(&in)};
    int64_t classes = 1 + fz_u8(&in) % 8;
    small_batch sb;
    make_batch(&sb, classes, &rng);

    int mix = fz_u8(&in) >= 192, count = mix ? 1 + fz_u8(&in) % 3 : 1, k;
    lk_loss *parts[3] = {NULL, NULL, NULL};
    state part_state[3];
    for (k = 0; k < count; ++k) {
        const loss_model *m = &models[fz_u8(&in) % MODELS];
        fz_expect_status(lk_loss_create(m->name, &parts[k]), LK_OK, "lk_loss_create");
        model_builtin(&part_state[k], m);
        int i;
        for (i = 0; i < part_state[k].n; ++i) check_get(parts[k], &part_state[k], part_state[k].specs[i].name);
        if (mix) { /* configure the component a little before mixing */
            int ops = fz_u8(&in) % 4;
            while (ops-- > 0) apply(&in, parts[k], &part_state[k]);
        }
    }
    lk_loss *loss = parts[0];
    state st = part_state[0];
    if (mix) {
        fz_expect_status(lk_mix_create((const lk_loss *const *)parts, count, &loss), LK_OK, "lk_mix_create");
        model_mix(&st, count);
        int i;
        for (i = 0; i < st.n; ++i) check_get(loss, &st, st.specs[i].name);
    }
    int ops = fz_u8(&in) % 24;
    while (ops-- > 0) apply(&in, loss, &st);

    /* The compute: BAD_PARAM exactly when a vector's length contradicts C. */
    int contradicted = 0, i;
    const state *models_to_check[3];
    int n_check = 0;
    if (mix) for (k = 0; k < count; ++k) models_to_check[n_check++] = &part_state[k];
    else models_to_check[n_check++] = &st;
    for (k = 0; k < n_check; ++k) {
        const state *m = models_to_check[k];
        for (i = 0; i < m->n; ++i) {
            if (m->specs[i].kind != K_VECTOR) continue;
            if (m->logit_adjusted && m->length[i] != classes) contradicted = 1;
            if (m->hem && m->length[i] != 0 && m->length[i] != classes) contradicted = 1;
        }
    }
    double first[1 + 3 * 8], second[1 + 3 * 8];
    lk_status s = run(loss, &sb, first);
    FZ_CHECK(s == (contradicted ? LK_ERROR_BAD_PARAM : LK_OK), "compute after the parameter calls: status %d (%s), model %s",
             (int)s, lk_last_error_message(), contradicted ? "BAD_PARAM" : "OK");

    if (s == LK_OK && mix) {
        /* Later changes to a component do not reach the mix. */
        for (k = 0; k < count; ++k) {
            lk_loss_set_param_string(parts[k], "nan_policy", "propagate");
            lk_loss_set_param(parts[k], "label_smoothing", 0.5);
            lk_loss_set_param(parts[k], "margin", 7.0);
            lk_loss_set_param(parts[k], "gamma", 0.0);
            lk_loss_set_param(parts[k], "alpha", 1.0);
            lk_loss_set_param(parts[k], "tau", 3.0);
            lk_loss_set_param(parts[k], "k", 9.0);
            lk_loss_set_param(parts[k], "smooth", 0.0);
        }
        fz_expect_status(run(loss, &sb, second), LK_OK, "compute after changing components");
        FZ_CHECK(memcmp(first, second, sizeof first) == 0, "changing a component after lk_mix_create changed the mix");
    }
    int p = find_spec(&st, "progress");
    if (s == LK_OK && p >= 0) {
        /* compute_at(t) == set progress t, compute. */
        double t = fz_unit(&rng), at[1 + 3 * 8], set[1 + 3 * 8];
        fz_expect_status(lk_loss_compute_at(loss, &sb.b, t), LK_OK, "lk_loss_compute_at");
        at[0] = sb.loss;
        memcpy(at + 1, sb.grad, sizeof sb.grad);
        fz_expect_status(lk_loss_set_param(loss, "progress", t), LK_OK, "set_param(progress)");
        fz_expect_status(run(loss, &sb, set), LK_OK, "compute at the set progress");
        FZ_CHECK(memcmp(at, set, sizeof at) == 0, "lk_loss_compute_at(t = %g) differs from progress = t", t);
        st.value[p] = t;
        check_get(loss, &st, "progress");
    }
    if (mix) lk_loss_destroy(loss);
    for (k = 0; k < count; ++k) lk_loss_destroy(parts[k]);
    return 0;
}
