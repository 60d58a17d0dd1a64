/* Calls liblosskit the way a foreign runtime does (Python's ctypes, Julia's ccall, a JIT): symbols
 * resolved with dlsym, every call made by libffi from a signature table, a user callback built as a
 * libffi closure. Results must equal the direct C calls bit for bit, which also proves the table (the
 * types a binding would declare) matches the library's real calling convention.
 *
 * Usage: test_ffi_abi LIBRARY_PATH    print the results; exit non-zero on a failure
 *        test_ffi_abi --list          print the table's function names (run.sh compares them with
 *                                     the library's exported lk_ symbols)
 * A plain runner: every CHECK is one test; the output ends with "N passed, M failed". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ffi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_data.h"
#include "check.h"
#include "losskit.h"
#include "user_losses.h"

/* ------------------------------------------------------------ signature table */

/* One C function as a binding declares it: name, return type, argument types (enums are int, as
 * the C ABI passes them). */
typedef struct signature {
    const char *name;
    ffi_type *ret;
    unsigned nargs;
    ffi_type *args[4];
    void *symbol; /* resolved by dlsym */
    ffi_cif cif;
} signature;

#define P &ffi_type_pointer
#define I &ffi_type_sint
static signature g_table[] = {
    {"lk_version", P, 0, {0}, 0, {0}},
    {"lk_version_number", &ffi_type_uint32, 0, {0}, 0, {0}},
    {"lk_status_string", P, 1, {I}, 0, {0}},
    {"lk_last_error_message", P, 0, {0}, 0, {0}},
    {"lk_batch_init", &ffi_type_void, 1, {P}, 0, {0}},
    {"lk_loss_create", I, 2, {P, P}, 0, {0}},
    {"lk_loss_destroy", &ffi_type_void, 1, {P}, 0, {0}},
    {"lk_loss_get_name", P, 1, {P}, 0, {0}},
    {"lk_loss_set_param", I, 3, {P, P, &ffi_type_double}, 0, {0}},
    {"lk_loss_set_param_string", I, 3, {P, P, P}, 0, {0}},
    {"lk_loss_set_param_array", I, 4, {P, P, P, &ffi_type_sint64}, 0, {0}},
    {"lk_loss_get_param", I, 3, {P, P, P}, 0, {0}},
    {"lk_loss_compute", I, 2, {P, P}, 0, {0}},
    {"lk_loss_compute_at", I, 3, {P, P, &ffi_type_double}, 0, {0}},
    {"lk_loss_param_count", &ffi_type_sint64, 1, {P}, 0, {0}},
    {"lk_loss_param_name_at", P, 2, {P, &ffi_type_sint64}, 0, {0}},
    {"lk_loss_param_kind_at", &ffi_type_sint32, 2, {P, &ffi_type_sint64}, 0, {0}},
    {"lk_loss_param_doc_at", P, 2, {P, &ffi_type_sint64}, 0, {0}},
    {"lk_loss_count", &ffi_type_sint64, 0, {0}, 0, {0}},
    {"lk_loss_name_at", P, 1, {&ffi_type_sint64}, 0, {0}},
    {"lk_mix_create", I, 3, {P, &ffi_type_sint64, P}, 0, {0}},
    {"lk_register_loss", I, 2, {P, P}, 0, {0}},
    {"lk_unregister_loss", I, 1, {P}, 0, {0}},
    {"lk_set_callback_error", &ffi_type_void, 1, {P}, 0, {0}},
    {"lk_plugin_load", I, 1, {P}, 0, {0}},
    {"lk_set_num_threads", I, 1, {&ffi_type_sint32}, 0, {0}},
    {"lk_get_num_threads", &ffi_type_sint32, 0, {0}, 0, {0}},
    {"lk_simd_level", P, 0, {0}, 0, {0}},
};
#undef P
#undef I
#define TABLE_SIZE (sizeof g_table / sizeof *g_table)

/* Room for any return value: libffi widens small integer returns to a full ffi_arg. */
typedef union result {
    ffi_arg u;
    ffi_sarg s;
    int64_t i64;
    void *p;
    double d;
} result;

static signature *find(const char *name) {
    size_t i;
    for (i = 0; i < TABLE_SIZE; ++i)
        if (strcmp(g_table[i].name, name) == 0) return &g_table[i];
    fprintf(stderr, "no signature for %s\n", name);
    abort();
}

/* Calls `name` through libffi with `args` (pointers to the argument values). */
static result call(const char *name, void **args) {
    signature *sig = find(name);
    result r;
    memset(&r, 0, sizeof r);
    ffi_call(&sig->cif, FFI_FN(sig->symbol), &r, args);
    return r;
}

static lk_status status_of(result r) { return (lk_status)(int)r.s; }

/* Resolves every table entry in the library at `path`; true when all resolved and prepared. */
static int resolve_all(const char *path) {
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    size_t i;
    int ok = 1;
    if (!CHECK(library != NULL)) {
        printf("  dlopen: %s\n", dlerror());
        return 0;
    }
    for (i = 0; i < TABLE_SIZE; ++i) {
        signature *sig = &g_table[i];
        sig->symbol = dlsym(library, sig->name);
        if (!sig->symbol) {
            printf("  dlsym(%s): not found\n", sig->name);
            ok = 0;
            continue;
        }
        if (ffi_prep_cif(&sig->cif, FFI_DEFAULT_ABI, sig->nargs, sig->ret, sig->args) != FFI_OK) {
            printf("  ffi_prep_cif(%s) failed\n", sig->name);
            ok = 0;
        }
    }
    return ok;
}

/* --------------------------------------------------------------------- tests */

static void test_same_library(void) {
    /* dlopen of the path we link against gives the very functions the direct calls use. */
    CHECK(find("lk_version")->symbol == (void *)lk_version);
    CHECK(find("lk_loss_compute")->symbol == (void *)lk_loss_compute);
    CHECK(find("lk_register_loss")->symbol == (void *)lk_register_loss);
}

static void test_version_and_status(void) {
    result r = call("lk_version", NULL);
    int32_t s;
    int all_same = 1;
    CHECK(r.p == (void *)lk_version() && strcmp((const char *)r.p, LK_VERSION_STRING) == 0);
    r = call("lk_version_number", NULL);
    CHECK((uint32_t)r.u == lk_version_number() && (uint32_t)r.u == LK_VERSION_NUMBER);
    r = call("lk_simd_level", NULL);
    CHECK(r.p == (void *)lk_simd_level() && (strcmp((const char *)r.p, "avx512") == 0 ||
          strcmp((const char *)r.p, "avx2") == 0 || strcmp((const char *)r.p, "baseline") == 0));
    for (s = -1; s <= 30; ++s) {
        void *args[1] = {&s};
        r = call("lk_status_string", args);
        all_same = all_same && r.p != NULL && strcmp((const char *)r.p, lk_status_string((lk_status)s)) == 0;
    }
    CHECK(all_same);
    s = 999;
    {
        void *args[1] = {&s};
        r = call("lk_status_string", args);
        CHECK(strcmp((const char *)r.p, "unknown status") == 0);
    }
}

static void test_registry_listing(void) {
    result r = call("lk_loss_count", NULL);
    const int64_t count = r.i64;
    int64_t i;
    int all_same = 1;
    CHECK(count == lk_loss_count() && count > 0);
    for (i = -1; i <= count; ++i) {
        void *args[1] = {&i};
        const char *direct = lk_loss_name_at(i);
        r = call("lk_loss_name_at", args);
        all_same = all_same && (direct ? r.p && strcmp((const char *)r.p, direct) == 0 : r.p == NULL);
    }
    CHECK(all_same);
}

static void test_batch_init(void) {
    lk_batch by_ffi, direct;
    lk_batch *pointer = &by_ffi;
    void *args[1] = {&pointer};
    memset(&by_ffi, 0xAB, sizeof by_ffi);
    memset(&direct, 0xCD, sizeof direct);
    call("lk_batch_init", args);
    lk_batch_init(&direct);
    CHECK(memcmp(&by_ffi, &direct, sizeof direct) == 0);
    CHECK(by_ffi.struct_size == sizeof(lk_batch) && by_ffi.ignore_index == LK_DEFAULT_IGNORE_INDEX);
    pointer = NULL; /* documented as a no-op */
    call("lk_batch_init", args);
}

/* Creates `name` through libffi; NULL (and a failed CHECK) if refused. */
static lk_loss *ffi_create(const char *name) {
    lk_loss *loss = NULL;
    lk_loss **out = &loss;
    void *args[2] = {&name, &out};
    CHECK_STATUS(status_of(call("lk_loss_create", args)), LK_OK);
    return loss;
}

static void ffi_destroy(lk_loss *loss) {
    void *args[1] = {&loss};
    call("lk_loss_destroy", args);
}

static lk_status ffi_set(lk_loss *loss, const char *name, double value) {
    void *args[3] = {&loss, &name, &value};
    return status_of(call("lk_loss_set_param", args));
}

static void test_parameters(void) {
    lk_loss *ce = ffi_create("cross_entropy"), *adjusted = ffi_create("logit_adjusted");
    const char *name = "label_smoothing", *text_name = "nan_policy", *text = "propagate";
    double value = -1;
    double *out = &value;
    result r;
    {
        void *args[1] = {&ce};
        r = call("lk_loss_get_name", args);
        CHECK(r.p && strcmp((const char *)r.p, "cross_entropy") == 0 && r.p == (void *)lk_loss_get_name(ce));
    }
    CHECK_STATUS(ffi_set(ce, "label_smoothing", 0.125), LK_OK);
    {
        void *args[3] = {&ce, &name, &out};
        CHECK_STATUS(status_of(call("lk_loss_get_param", args)), LK_OK);
        CHECK(value == 0.125);
    }
    {
        double direct = 0;
        CHECK_STATUS(lk_loss_get_param(ce, "label_smoothing", &direct), LK_OK);
        CHECK(direct == 0.125); /* a double argument passed by libffi arrives exactly */
    }
    {
        void *args[3] = {&ce, &text_name, &text};
        CHECK_STATUS(status_of(call("lk_loss_set_param_string", args)), LK_OK);
    }
    { /* an error through libffi: status and message as a direct call gives them */
        char via_ffi[512];
        r = call("lk_last_error_message", NULL);
        CHECK(r.p && ((const char *)r.p)[0] == '\0');
        CHECK_STATUS(ffi_set(ce, "label_smoothing", 1.5), LK_ERROR_BAD_PARAM);
        r = call("lk_last_error_message", NULL);
        snprintf(via_ffi, sizeof via_ffi, "%s", (const char *)r.p);
        CHECK(strstr(via_ffi, "label_smoothing") != NULL);
        CHECK_STATUS(lk_loss_set_param(ce, "label_smoothing", 1.5), LK_ERROR_BAD_PARAM);
        CHECK(strcmp(via_ffi, lk_last_error_message()) == 0);
        CHECK_STATUS(ffi_set(ce, "no_such_param", 1.0), LK_ERROR_UNKNOWN_PARAM);
        CHECK_STATUS(ffi_set(NULL, "label_smoothing", 0.1), LK_ERROR_NULL_POINTER);
    }
    { /* a vector parameter: pointer and int64 count */
        const double priors[3] = {0.5, 0.3, 0.2};
        const double *values = priors;
        const char *priors_name = "priors";
        int64_t count = 3, negative = -1;
        void *args[4] = {&adjusted, &priors_name, &values, &count};
        CHECK_STATUS(status_of(call("lk_loss_set_param_array", args)), LK_OK);
        args[3] = &negative;
        CHECK_STATUS(status_of(call("lk_loss_set_param_array", args)), LK_ERROR_BAD_PARAM);
    }
    ffi_destroy(ce);
    ffi_destroy(adjusted);
    ffi_destroy(NULL); /* accepted and ignored */
}

/* A (4, 3) float32 batch and a (2, 3, 2) float64 batch, each computed through libffi and directly. */
static void test_compute(void) {
    const float zf[12] = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f, 2.5f, 2.5f, -0.5f, 0.1f, 0.2f, 0.3f};
    const int64_t yf[4] = {1, 2, LK_DEFAULT_IGNORE_INDEX, 0};
    const int64_t shape_f[2] = {4, 3};
    const double zd[12] = {0.3, -1.2, 2.0, 0.7, 1.1, 0.0, -0.4, 0.9, 1.6, -2.0, 0.5, 0.25};
    const int32_t yd[4] = {2, 0, 1, 1};
    const int64_t shape_d[3] = {2, 3, 2};
    lk_loss *ce = ffi_create("cross_entropy");
    lk_batch batch;
    const lk_batch *pointer = &batch;
    void *args[2] = {&ce, &pointer};
    {
        float loss_ffi = 0, loss_direct = 0, grad_ffi[12], grad_direct[12];
        lk_batch_init(&batch);
        batch.ndim = 2, batch.shape = shape_f;
        batch.logits_dtype = LK_FLOAT32, batch.target_dtype = LK_INT64;
        batch.logits = zf, batch.target = yf;
        batch.loss = &loss_ffi, batch.grad = grad_ffi;
        CHECK_STATUS(status_of(call("lk_loss_compute", args)), LK_OK);
        batch.loss = &loss_direct, batch.grad = grad_direct;
        CHECK_STATUS(lk_loss_compute(ce, &batch), LK_OK);
        CHECK(loss_ffi == loss_direct && loss_ffi > 0);
        CHECK(memcmp(grad_ffi, grad_direct, sizeof grad_ffi) == 0);
    }
    {
        double loss_ffi[4], loss_direct[4], grad_ffi[12], grad_direct[12];
        lk_batch_init(&batch);
        batch.ndim = 3, batch.shape = shape_d;
        batch.logits_dtype = LK_FLOAT64, batch.target_dtype = LK_INT32;
        batch.logits = zd, batch.target = yd;
        batch.reduction = LK_REDUCTION_NONE;
        batch.loss = loss_ffi, batch.grad = grad_ffi;
        CHECK_STATUS(status_of(call("lk_loss_compute", args)), LK_OK);
        batch.loss = loss_direct, batch.grad = grad_direct;
        CHECK_STATUS(lk_loss_compute(ce, &batch), LK_OK);
        CHECK(memcmp(loss_ffi, loss_direct, sizeof loss_ffi) == 0);
        CHECK(memcmp(grad_ffi, grad_direct, sizeof grad_ffi) == 0);

        /* A refused batch through libffi: the status, and nothing written. */
        batch.reduction = 9;
        loss_ffi[0] = SENTINEL;
        CHECK_STATUS(status_of(call("lk_loss_compute", args)), LK_ERROR_BAD_REDUCTION);
        CHECK(loss_ffi[0] == SENTINEL);
    }
    ffi_destroy(ce);
}

static void test_mix_and_compute_at(void) {
    lk_loss *ce = ffi_create("cross_entropy"), *sq = ffi_create("squentropy"), *mix = NULL;
    const lk_loss *parts[2];
    const lk_loss *const *components = parts;
    lk_loss **out = &mix;
    int64_t count = 2;
    const double z[6] = {1.0, -0.5, 2.0, 0.0, 0.3, -1.0};
    const int64_t y[2] = {2, 1}, shape[2] = {2, 3};
    double loss_ffi = 0, loss_direct = 0, progress = 0.75;
    lk_batch batch;
    const lk_batch *pointer = &batch;
    parts[0] = ce, parts[1] = sq;
    {
        lk_loss *refused = NULL;
        lk_loss **refused_out = &refused;
        int64_t none = 0;
        void *args[3] = {&components, &count, &out};
        void *bad_args[3] = {&components, &none, &refused_out};
        CHECK_STATUS(status_of(call("lk_mix_create", args)), LK_OK);
        CHECK_STATUS(status_of(call("lk_mix_create", bad_args)), LK_ERROR_BAD_PARAM);
    }
    {
        const char *schedule = "w1_schedule", *linear = "linear";
        void *args[3] = {&mix, &schedule, &linear};
        CHECK_STATUS(status_of(call("lk_loss_set_param_string", args)), LK_OK);
    }
    lk_batch_init(&batch);
    batch.ndim = 2, batch.shape = shape;
    batch.logits_dtype = LK_FLOAT64, batch.target_dtype = LK_INT64;
    batch.logits = z, batch.target = y;
    batch.loss = &loss_ffi;
    {
        void *args[3] = {&mix, &pointer, &progress};
        CHECK_STATUS(status_of(call("lk_loss_compute_at", args)), LK_OK);
        batch.loss = &loss_direct;
        CHECK_STATUS(lk_loss_compute_at(mix, &batch, 0.75), LK_OK);
        CHECK(loss_ffi == loss_direct);
        progress = 1.5;
        CHECK_STATUS(status_of(call("lk_loss_compute_at", args)), LK_ERROR_BAD_PARAM);
    }
    ffi_destroy(mix);
    ffi_destroy(ce);
    ffi_destroy(sq);
}

static void test_threads_and_plugin_errors(void) {
    int32_t count = 3, negative = -1;
    const char *missing = "/nonexistent/libnothing.so", *null_path = NULL;
    void *set_args[1] = {&count};
    void *load_args[1] = {&missing};
    CHECK_STATUS(status_of(call("lk_set_num_threads", set_args)), LK_OK);
    CHECK((int32_t)call("lk_get_num_threads", NULL).s == 3 && lk_get_num_threads() == 3);
    set_args[0] = &negative;
    CHECK_STATUS(status_of(call("lk_set_num_threads", set_args)), LK_ERROR_BAD_PARAM);
    count = 0;
    set_args[0] = &count;
    CHECK_STATUS(status_of(call("lk_set_num_threads", set_args)), LK_OK);
    CHECK_STATUS(status_of(call("lk_plugin_load", load_args)), LK_ERROR_PLUGIN);
    CHECK(strstr(lk_last_error_message(), "libnothing.so") != NULL);
    load_args[0] = &null_path;
    CHECK_STATUS(status_of(call("lk_plugin_load", load_args)), LK_ERROR_NULL_POINTER);
}

/* ---------------------------------------------------- a callback made by libffi */

/* The handler behind a libffi closure with lk_row_loss_fn's signature: how a runtime turns one of its
 * own functions into a C function pointer. Fails (through lk_set_callback_error, itself called via
 * libffi) when user_data's flag asks for it. */
typedef struct closure_data {
    int fail;
    long calls;
} closure_data;

static void row_handler(ffi_cif *cif, void *ret, void **args, void *context) {
    closure_data *data = (closure_data *)*(void **)args[0];
    const double *z = *(const double **)args[1];
    const int64_t classes = *(const int64_t *)args[2], target = *(const int64_t *)args[3];
    double *out_loss = *(double **)args[4], *out_grad = *(double **)args[5];
    (void)cif, (void)context;
    ++data->calls;
    if (data->fail) {
        const char *message = "closure: refused by the foreign runtime";
        void *error_args[1] = {&message};
        call("lk_set_callback_error", error_args);
        *(ffi_sarg *)ret = 1;
        return;
    }
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    *(ffi_sarg *)ret = 0;
}

static void test_closure_callback(void) {
    ffi_type *arg_types[6] = {&ffi_type_pointer, &ffi_type_pointer, &ffi_type_sint64,
                              &ffi_type_sint64, &ffi_type_pointer, &ffi_type_pointer};
    ffi_cif cif;
    void *code = NULL;
    ffi_closure *closure = ffi_closure_alloc(sizeof(ffi_closure), &code);
    closure_data data = {0, 0};
    lk_loss_callbacks callbacks;
    const lk_loss_callbacks *table = &callbacks;
    const char *name = "ffi_closure_ce";
    void *register_args[2] = {&name, &table};
    lk_row_loss_fn row;
    lk_loss *user, *ce = ffi_create("cross_entropy");
    const double z[8] = {0.5, 1.5, -1.0, 2.0, 0.0, 0.25, 1.0, -0.5};
    const int64_t y[4] = {1, 0, 1, 1}, shape[2] = {4, 2};
    double loss_user = SENTINEL, loss_ce = 0, grad_user[8], grad_ce[8];
    lk_batch batch;
    if (!CHECK(closure != NULL)) return;
    CHECK(ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 6, &ffi_type_sint32, arg_types) == FFI_OK);
    CHECK(ffi_prep_closure_loc(closure, &cif, row_handler, NULL, code) == FFI_OK);
    memcpy(&row, &code, sizeof row); /* the closure's executable address, as a C function pointer */
    callbacks = row_callbacks(row, &data, NULL, 0);
    CHECK_STATUS(status_of(call("lk_register_loss", register_args)), LK_OK);
    CHECK_STATUS(status_of(call("lk_register_loss", register_args)), LK_ERROR_DUPLICATE_NAME);
    user = ffi_create("ffi_closure_ce");

    lk_batch_init(&batch);
    batch.ndim = 2, batch.shape = shape;
    batch.logits_dtype = LK_FLOAT64, batch.target_dtype = LK_INT64;
    batch.logits = z, batch.target = y;
    batch.loss = &loss_user, batch.grad = grad_user;
    CHECK_STATUS(lk_loss_compute(user, &batch), LK_OK);
    batch.loss = &loss_ce, batch.grad = grad_ce;
    CHECK_STATUS(lk_loss_compute(ce, &batch), LK_OK);
    CHECK(data.calls == 4);
    CHECK(near(loss_user, loss_ce, 1e-12) && all_near(grad_user, grad_ce, 8, 1e-12, "closure grad"));

    data.fail = 1;
    loss_user = SENTINEL;
    batch.loss = &loss_user, batch.grad = NULL;
    CHECK_STATUS(lk_loss_compute(user, &batch), LK_ERROR_CALLBACK_FAILED);
    CHECK(message_has("closure: refused by the foreign runtime"));
    CHECK(loss_user == SENTINEL);

    ffi_destroy(user);
    {
        void *args[1] = {&name};
        CHECK_STATUS(status_of(call("lk_unregister_loss", args)), LK_OK);
        CHECK_STATUS(status_of(call("lk_unregister_loss", args)), LK_ERROR_UNKNOWN_LOSS);
    }
    ffi_destroy(ce);
    ffi_closure_free(closure);
}

int main(int argc, char **argv) {
    size_t i;
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < TABLE_SIZE; ++i) printf("%s\n", g_table[i].name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBRARY_PATH | --list\n", argv[0]);
        return 2;
    }
    if (!CHECK(resolve_all(argv[1]))) return check_summary();
    check_group("same_library", test_same_library);
    check_group("version_and_status", test_version_and_status);
    check_group("registry_listing", test_registry_listing);
    check_group("batch_init", test_batch_init);
    check_group("parameters", test_parameters);
    check_group("compute", test_compute);
    check_group("mix_and_compute_at", test_mix_and_compute_at);
    check_group("threads_and_plugin_errors", test_threads_and_plugin_errors);
    check_group("closure_callback", test_closure_callback);
    return check_summary();
}
