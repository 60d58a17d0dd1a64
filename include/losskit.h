/*
 * losskit.h — the C contract of liblosskit.
 *
 * losskit computes classification losses *and* their gradient with respect to
 * the logits in one fused pass, over buffers the caller owns. Every symbol
 * starts with `lk_` (functions, types) or `LK_` (macros, constants).
 *
 * Conventions, true of every function below unless its comment says otherwise:
 *  - Functions that can fail return an `lk_status`; `LK_OK` (0) is success.
 *    On failure `lk_last_error_message()` says what was wrong and what was
 *    expected, and no output buffer of the caller has been written.
 *  - The library never takes ownership of a caller's buffer and never keeps a
 *    pointer to it after the call returns.
 *  - Nothing here aborts, traps or throws: every bad input is a status.
 *
 * ABI stability: structs begin with `struct_size` so they can grow at the end;
 * new losses and parameters are added by name, never by changing a symbol.
 */
#ifndef LOSSKIT_H
#define LOSSKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ version */

#define LK_VERSION_MAJOR 0
#define LK_VERSION_MINOR 2
#define LK_VERSION_PATCH 0
/** MAJOR*10000 + MINOR*100 + PATCH, e.g. 100 for 0.1.0. */
#define LK_VERSION_NUMBER (LK_VERSION_MAJOR * 10000 + LK_VERSION_MINOR * 100 + LK_VERSION_PATCH)
#define LK_VERSION_STRING "0.2.0"

/** The library's version as "MAJOR.MINOR.PATCH"; a static string, never NULL. */
const char *lk_version(void);

/** The library's version as LK_VERSION_NUMBER of the build; compare it with the
 *  macro to detect a header/library mismatch. */
uint32_t lk_version_number(void);

/* ------------------------------------------------------------------- status */

/** Result of every fallible call. Values are stable: new codes are appended. */
typedef enum lk_status {
    LK_OK = 0,
    LK_ERROR_NULL_POINTER = 1,        /**< a required pointer was NULL */
    LK_ERROR_BAD_SHAPE = 2,           /**< ndim out of range, a negative size, or C == 0 */
    LK_ERROR_SIZE_OVERFLOW = 3,       /**< the element count (or its byte size) overflows int64 */
    LK_ERROR_BAD_DTYPE = 4,           /**< a dtype code the call does not accept */
    LK_ERROR_TARGET_OUT_OF_RANGE = 5, /**< a class index outside [0, C) that is not ignore_index */
    LK_ERROR_BAD_PROBABILITIES = 6,   /**< probability targets negative, non-finite or not summing to 1 */
    LK_ERROR_NONFINITE_LOGIT = 7,     /**< a NaN or +inf logit (with nan_policy "error", the default) */
    LK_ERROR_BAD_WEIGHT = 8,          /**< a class weight negative or non-finite */
    LK_ERROR_BAD_DLOSS = 9,           /**< the upstream gradient is non-finite */
    LK_ERROR_BAD_REDUCTION = 10,      /**< reduction is not one of LK_REDUCTION_*, or not one the loss offers */
    LK_ERROR_UNKNOWN_LOSS = 11,       /**< no loss is registered under that name */
    LK_ERROR_UNKNOWN_PARAM = 12,      /**< the loss has no parameter of that name */
    LK_ERROR_BAD_PARAM = 13,          /**< a parameter value out of range or of the wrong kind */
    LK_ERROR_ALIASING = 14,           /**< an output overlaps an input (only grad == logits is allowed) */
    LK_ERROR_MISALIGNED = 15,         /**< a buffer is not aligned to its element type */
    LK_ERROR_BAD_STRUCT = 16,         /**< struct_size is not a size this library knows */
    LK_ERROR_INTERNAL = 17,           /**< a bug in losskit: please report it */
    LK_ERROR_DUPLICATE_NAME = 18,     /**< a loss of that name is already registered */
    LK_ERROR_REGISTRY_FULL = 19,      /**< the registry holds LK_REGISTRY_CAPACITY losses */
    LK_ERROR_BAD_NAME = 20,           /**< a loss name empty, too long, not UTF-8 or with other characters */
    LK_ERROR_ABI_VERSION = 21,        /**< a callback table or plugin built for another ABI version */
    LK_ERROR_CALLBACK_FAILED = 22,    /**< a user callback reported failure or returned NaN */
    LK_ERROR_PLUGIN = 23              /**< a plugin could not be opened, has no entry point, or its init failed */
} lk_status;

/** A short static description of a status ("null pointer", ...); never NULL,
 *  "unknown status" for a value not listed above. */
const char *lk_status_string(lk_status status);

/** The message of the most recent failed call on the calling thread, saying
 *  what was wrong and what was expected; "" when the last call succeeded.
 *  Owned by the library, valid until the next losskit call on this thread. */
const char *lk_last_error_message(void);

/* ------------------------------------------------------------------ batches */

/** Element types. Logits, weights, dloss and outputs share one float type;
 *  targets are class indices (LK_INT32/LK_INT64) or probabilities (the
 *  logits' float type).
 *
 *  16-bit logits (LK_BFLOAT16, LK_FLOAT16: raw 16-bit patterns, e.g. uint16_t
 *  buffers) are computed in float32: they are widened exactly into a
 *  library-owned float32 copy (one allocation per call), and weights, dloss,
 *  probability targets and the loss output are float32. The gradient is
 *  float32 or the logits' 16-bit type (lk_batch.grad_dtype), rounded to
 *  nearest even. */
typedef enum lk_dtype {
    LK_FLOAT32 = 1,
    LK_FLOAT64 = 2,
    LK_INT32 = 3,
    LK_INT64 = 4,
    LK_BFLOAT16 = 5, /**< bfloat16 logits (since 0.2.0) */
    LK_FLOAT16 = 6   /**< IEEE binary16 logits (since 0.2.0) */
} lk_dtype;

typedef enum lk_reduction {
    LK_REDUCTION_MEAN = 0, /**< weighted mean over the samples not ignored (PyTorch's rule) */
    LK_REDUCTION_SUM = 1,
    LK_REDUCTION_NONE = 2  /**< one loss per sample, shape (N, d1..dk) */
} lk_reduction;

/** The default ignore_index, as in PyTorch. */
#define LK_DEFAULT_IGNORE_INDEX (-100)
/** The largest ndim accepted: (N, C) plus up to 14 spatial dimensions. */
#define LK_MAX_NDIM 16

/**
 * One batch: inputs, options and outputs of a loss evaluation.
 *
 * Layout: `shape` = (N, C) row-major, or (N, C, d1, ..., dk) with the class
 * axis second and every axis contiguous in C order (PyTorch's layout). A
 * "sample" is one position (n, i1..ik); there are S = N*d1*..*dk samples.
 *
 * Initialise with lk_batch_init(), which sets struct_size and the defaults,
 * then fill in the fields you need.
 */
typedef struct lk_batch {
    uint32_t struct_size;     /**< sizeof(lk_batch) as compiled by the caller (set by lk_batch_init) */
    int32_t ndim;             /**< number of axes, 2..LK_MAX_NDIM */
    const int64_t *shape;     /**< ndim sizes (N, C, d1..dk); N and d may be 0, C >= 1 */
    int32_t logits_dtype;     /**< LK_FLOAT32, LK_FLOAT64, LK_BFLOAT16 or LK_FLOAT16 */
    int32_t target_dtype;     /**< LK_INT32/LK_INT64: class indices of shape (N, d1..dk);
                                   the logits' float type: probabilities, shape of logits */
    const void *logits;       /**< S*C values, required */
    const void *target;       /**< required; see target_dtype (probabilities of 16-bit logits: LK_FLOAT32) */
    const void *weight;       /**< optional (NULL = all 1): C non-negative class weights, logits' type
                                   (float32 for 16-bit logits, as dloss and loss) */
    int64_t ignore_index;     /**< class-index targets equal to it contribute nothing (default -100) */
    int32_t reduction;        /**< an lk_reduction (default LK_REDUCTION_MEAN) */
    int32_t reserved0;        /**< must be 0 */
    const void *dloss;        /**< optional upstream gradient, logits' type (NULL = 1): one value
                                   for mean/sum, S values for none */
    void *loss;               /**< required output, logits' type: one value for mean/sum, S for none */
    void *grad;               /**< optional output (NULL = loss only): dloss * dL/dlogits, shape of
                                   logits, type grad_dtype; may be the logits pointer itself (in place,
                                   when grad_dtype is the logits' type) */
    /* Since 0.2.0 (a batch whose struct_size is that of 0.1.0, which ends at grad, reads as
     * grad_dtype 0): */
    int32_t grad_dtype;       /**< 0 (default): the logits' type; LK_FLOAT32 for 16-bit logits */
    int32_t reserved1;        /**< must be 0 */
} lk_batch;

/** Fill `batch` with zeros and the defaults: struct_size = sizeof(lk_batch),
 *  ignore_index = -100, reduction = mean. Does nothing when batch is NULL. */
void lk_batch_init(lk_batch *batch);

/* ------------------------------------------------------------------- losses */

/** An opaque loss: a registered loss function with its parameter values. */
typedef struct lk_loss lk_loss;

/**
 * Create a loss by name (see lk_loss_count / lk_loss_name_at for the list)
 * with its default parameters. On success `*out_loss` owns a new handle to be
 * released with lk_loss_destroy(); on failure it is set to NULL.
 * Errors: LK_ERROR_NULL_POINTER, LK_ERROR_UNKNOWN_LOSS.
 */
lk_status lk_loss_create(const char *name, lk_loss **out_loss);

/** Release a loss created by lk_loss_create. NULL is accepted and ignored. */
void lk_loss_destroy(lk_loss *loss);

/** The loss's registered name, owned by the library; NULL when loss is NULL. */
const char *lk_loss_get_name(const lk_loss *loss);

/**
 * Set a numeric parameter by name (e.g. "label_smoothing", "z_loss").
 * Not safe to call while another thread computes with the same loss.
 * Errors: LK_ERROR_NULL_POINTER, LK_ERROR_UNKNOWN_PARAM, LK_ERROR_BAD_PARAM
 * (the message names the parameter and its allowed range), LK_ERROR_BAD_NAME
 * (a name or text value that is not UTF-8; this holds for every string argument
 * of this header). On error the loss keeps its previous value.
 */
lk_status lk_loss_set_param(lk_loss *loss, const char *name, double value);

/** Set a text parameter by name (e.g. "nan_policy" = "error" | "propagate").
 *  Errors as lk_loss_set_param. */
lk_status lk_loss_set_param_string(lk_loss *loss, const char *name, const char *value);

/**
 * Set a vector parameter by name (e.g. "priors" of logit_adjusted, "class_counts" of hem): `count`
 * doubles copied from `values` (the loss keeps no pointer to them). count == 0 clears the vector.
 * A length that must equal the number of classes is checked by lk_loss_compute.
 * Errors as lk_loss_set_param; LK_ERROR_NULL_POINTER when values is NULL and count > 0,
 * LK_ERROR_BAD_PARAM when count < 0.
 */
lk_status lk_loss_set_param_array(lk_loss *loss, const char *name, const double *values, int64_t count);

/** Read a numeric parameter's current value into *out_value.
 *  Errors: LK_ERROR_NULL_POINTER, LK_ERROR_UNKNOWN_PARAM, LK_ERROR_BAD_PARAM
 *  (the parameter is not numeric). */
lk_status lk_loss_get_param(const lk_loss *loss, const char *name, double *out_value);

/**
 * Evaluate the loss on `batch`: writes batch->loss and, when batch->grad is
 * not NULL, batch->grad = dloss * dL/dlogits. Thread-safe: one loss may be
 * used by many threads at once. Results do not depend on the thread count.
 *
 * Everything is validated before anything is written: shapes, dtypes,
 * pointers, alignment, aliasing, targets, weights, dloss and (nan_policy
 * "error") the logits. On any error the caller's buffers are untouched.
 */
lk_status lk_loss_compute(const lk_loss *loss, const lk_batch *batch);

/**
 * As lk_loss_compute, with training progress t in [0, 1] for this call only: scheduled weights
 * (ce_expectation_mix's alpha, a mix's weights) are evaluated at `progress` instead of the loss's
 * "progress" parameter. Errors as lk_loss_compute; LK_ERROR_BAD_PARAM when progress is outside [0, 1].
 */
lk_status lk_loss_compute_at(const lk_loss *loss, const lk_batch *batch, double progress);

/** The kinds of parameter value (lk_loss_param_kind_at). */
typedef enum lk_param_kind {
    LK_PARAM_NUMBER = 1, /**< set with lk_loss_set_param */
    LK_PARAM_TEXT = 2,   /**< set with lk_loss_set_param_string */
    LK_PARAM_VECTOR = 3  /**< set with lk_loss_set_param_array */
} lk_param_kind;

/** Number of parameters `loss` takes (its own, then those every loss has, such as "nan_policy");
 *  0 when loss is NULL. */
int64_t lk_loss_param_count(const lk_loss *loss);

/** Name of parameter `index` in [0, lk_loss_param_count(loss)), owned by the library and valid for
 *  the life of the process; NULL when loss is NULL or index is out of range. */
const char *lk_loss_param_name_at(const lk_loss *loss, int64_t index);

/** The lk_param_kind of parameter `index`; 0 when loss is NULL or index is out of range. */
int32_t lk_loss_param_kind_at(const lk_loss *loss, int64_t index);

/** One line describing parameter `index`: allowed values, default and meaning (e.g. "number in
 *  [0.0, 1.0], default 0.0: ε: the target becomes (1-ε)·target + ε/C"). Owned by the library and
 *  valid for the life of the process; NULL when loss is NULL or index is out of range. */
const char *lk_loss_param_doc_at(const lk_loss *loss, int64_t index);

/** Number of registered losses. */
int64_t lk_loss_count(void);

/** Name of the registered loss at `index` in [0, lk_loss_count()), owned by
 *  the library; NULL when index is out of range. */
const char *lk_loss_name_at(int64_t index);

/* ------------------------------------------------------------------- mixing */

/**
 * Create a loss that is a weighted sum of `count` >= 1 losses: L = Σ_k w_k(t)·L_k, with the same
 * sum for the gradient. Each component is copied as it is configured now (later changes to it do
 * not reach the mix; the mix may be destroyed in any order with its components). A mix may be a
 * component of another mix. The mix's parameters, per component k: "w<k>" (constant weight, default
 * 1, >= 0), "w<k>_schedule" ("constant" | "linear" | "cosine" | "step"), "w<k>_start", "w<k>_end",
 * "w<k>_t_switch"; and "progress" (t, shared by every schedule, nested mixes included).
 * The mix evaluates each component into library-owned buffers (one allocation per call) and writes
 * the caller's outputs only when all succeeded.
 * Errors: LK_ERROR_NULL_POINTER (components, a component or out_mix), LK_ERROR_BAD_PARAM (count < 1).
 */
lk_status lk_mix_create(const lk_loss *const *components, int64_t count, lk_loss **out_mix);

/* ------------------------------------------------------ user losses, plugins */

/** The version of the callback table and plugin API below; bumped only on incompatible change. */
#define LK_LOSS_ABI_VERSION 1
/** Most losses the registry holds, and the longest name (bytes). */
#define LK_REGISTRY_CAPACITY 4096
#define LK_MAX_NAME_LENGTH 63

/**
 * A per-sample loss: one row of `classes` logits (float64, contiguous, gathered by the host from any
 * layout or dtype) and its class-index target in [0, classes). Write the unweighted loss to
 * *out_loss and dL/dlogits to out_grad (`classes` values, zeroed by the host). Return 0 on success;
 * non-zero on failure, after calling lk_set_callback_error() to say why. The host applies class
 * weights, ignore_index, the reduction and dloss, and converts to the batch's dtype.
 */
typedef int32_t (*lk_row_loss_fn)(void *user_data, const double *logits, int64_t classes, int64_t target,
                                  double *out_loss, double *out_grad);

/**
 * A whole-batch loss (not a sum over samples, e.g. Dice): logits (n, classes, inner) in float64, C
 * order, where inner is the product of the spatial sizes (1 for (N, C) batches); targets int64 of
 * shape (n, inner); weight NULL or `classes` values; samples whose target is ignore_index must be
 * left out. Write the mean-reduced loss to *out_loss and its gradient (dloss = 1) to out_grad
 * (n·classes·inner values, zeroed by the host). Return 0 on success, non-zero on failure.
 */
typedef int32_t (*lk_batch_loss_fn)(void *user_data, int64_t n, int64_t classes, int64_t inner,
                                    const double *logits, const int64_t *target, const double *weight,
                                    int64_t ignore_index, double *out_loss, double *out_grad);

/** Releases user_data; called once, when the loss is unregistered and no loss object uses it. */
typedef void (*lk_destroy_fn)(void *user_data);

/** lk_loss_callbacks.flags: the row callback may run on several threads at once. Without it the
 *  host calls it from one thread at a time. */
#define LK_CALLBACK_THREAD_SAFE 1u

/** What a user loss gives the registry. Exactly one of row and batch is non-NULL. */
typedef struct lk_loss_callbacks {
    uint32_t struct_size;     /**< sizeof(lk_loss_callbacks) */
    uint32_t abi_version;     /**< LK_LOSS_ABI_VERSION */
    lk_row_loss_fn row;       /**< per-sample loss, or NULL */
    lk_batch_loss_fn batch;   /**< whole-batch loss (mean reduction only), or NULL */
    lk_destroy_fn destroy;    /**< may be NULL */
    void *user_data;          /**< passed to every callback */
    uint32_t flags;           /**< LK_CALLBACK_* bits */
    uint32_t reserved;        /**< must be 0 */
} lk_loss_callbacks;

/**
 * Register a user loss under `name` (1..63 characters from A-Z a-z 0-9 _ - .). From then on it is
 * listed, created and computed like a built-in loss, with every layout, dtype, weight, ignore_index,
 * reduction, dloss, validation and threading the built-ins get. A failing callback, or one returning
 * a NaN loss or non-finite gradient (unless the loss's nan_policy is "propagate"), makes
 * lk_loss_compute return LK_ERROR_CALLBACK_FAILED with the callback's message, the caller's buffers
 * untouched. A callback without LK_CALLBACK_THREAD_SAFE is never entered by two threads at once,
 * even from concurrent lk_loss_compute calls. On error nothing is registered and destroy is not called.
 * Errors: LK_ERROR_NULL_POINTER, LK_ERROR_BAD_NAME, LK_ERROR_DUPLICATE_NAME, LK_ERROR_REGISTRY_FULL,
 * LK_ERROR_ABI_VERSION (abi_version or struct_size), LK_ERROR_BAD_PARAM (both or neither of row and
 * batch, or reserved not 0).
 */
lk_status lk_register_loss(const char *name, const lk_loss_callbacks *callbacks);

/** Remove a registered loss (built-in or user). Loss objects created from it keep working until
 *  destroyed; its destroy callback runs after the last one is gone.
 *  Errors: LK_ERROR_NULL_POINTER, LK_ERROR_UNKNOWN_LOSS. */
lk_status lk_unregister_loss(const char *name);

/** For use inside a callback that is about to return non-zero: the message the caller will read from
 *  lk_last_error_message() (copied). */
void lk_set_callback_error(const char *message);

/** The table a plugin's init receives: how it registers its losses and reports failure. */
typedef struct lk_plugin_api {
    uint32_t struct_size;     /**< sizeof(lk_plugin_api) */
    uint32_t abi_version;     /**< LK_LOSS_ABI_VERSION of the host */
    lk_status (*register_loss)(const char *name, const lk_loss_callbacks *callbacks);
    void (*set_error)(const char *message);
} lk_plugin_api;

/** The entry point a plugin exports under the name "lk_plugin_init": register its losses through
 *  `api` and return 0, or call api->set_error and return non-zero. */
typedef int32_t (*lk_plugin_init_fn)(const lk_plugin_api *api);

/**
 * Load a plugin: dlopen `path`, find "lk_plugin_init", call it. Loading a plugin runs its code with
 * the caller's rights. On any failure the losses the plugin registered are removed again (the
 * registry is as before) and the library is closed; on success it stays loaded for the life of the
 * process. Errors: LK_ERROR_NULL_POINTER, LK_ERROR_PLUGIN (the message carries dlerror()'s text or the
 * plugin's own message), LK_ERROR_ABI_VERSION.
 */
lk_status lk_plugin_load(const char *path);

/* ------------------------------------------------------------------ threads */

/** Use at most `count` threads per call; 0 means one per CPU (the default).
 *  Errors: LK_ERROR_BAD_PARAM when count is negative. */
lk_status lk_set_num_threads(int32_t count);

/** The thread limit set by lk_set_num_threads (0 = one per CPU). */
int32_t lk_get_num_threads(void);

/* --------------------------------------------------------- instruction set */

/**
 * The build of the vector kernels this process runs, chosen once at load from
 * what the CPU and the OS support: "avx512" (AVX-512 F/BW/DQ/VL), "avx2"
 * (AVX2 + FMA) or "baseline" (any x86-64, or another architecture). The
 * environment variable LOSSKIT_SIMD=baseline|avx2|avx512 caps the choice (it
 * never raises it above what the CPU supports). Results may differ in the last
 * bits between builds, never between runs or thread counts. Owned by the
 * library, valid for the life of the process. Since 0.2.0.
 */
const char *lk_simd_level(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOSSKIT_H */
