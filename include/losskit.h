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
#define LK_VERSION_MINOR 1
#define LK_VERSION_PATCH 0
/** MAJOR*10000 + MINOR*100 + PATCH, e.g. 100 for 0.1.0. */
#define LK_VERSION_NUMBER (LK_VERSION_MAJOR * 10000 + LK_VERSION_MINOR * 100 + LK_VERSION_PATCH)
#define LK_VERSION_STRING "0.1.0"

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
    LK_ERROR_INTERNAL = 17            /**< a bug in losskit: please report it */
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
 *  logits' float type). */
typedef enum lk_dtype {
    LK_FLOAT32 = 1,
    LK_FLOAT64 = 2,
    LK_INT32 = 3,
    LK_INT64 = 4
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
    int32_t logits_dtype;     /**< LK_FLOAT32 or LK_FLOAT64 */
    int32_t target_dtype;     /**< LK_INT32/LK_INT64: class indices of shape (N, d1..dk);
                                   the logits' float type: probabilities, shape of logits */
    const void *logits;       /**< S*C values, required */
    const void *target;       /**< required; see target_dtype */
    const void *weight;       /**< optional (NULL = all 1): C non-negative class weights, logits' type */
    int64_t ignore_index;     /**< class-index targets equal to it contribute nothing (default -100) */
    int32_t reduction;        /**< an lk_reduction (default LK_REDUCTION_MEAN) */
    int32_t reserved0;        /**< must be 0 */
    const void *dloss;        /**< optional upstream gradient, logits' type (NULL = 1): one value
                                   for mean/sum, S values for none */
    void *loss;               /**< required output, logits' type: one value for mean/sum, S for none */
    void *grad;               /**< optional output (NULL = loss only): dloss * dL/dlogits, shape and
                                   type of logits; may be the logits pointer itself (in place) */
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
 * (the message names the parameter and its allowed range). On error the
 * loss keeps its previous value.
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

/** Number of registered losses. */
int64_t lk_loss_count(void);

/** Name of the registered loss at `index` in [0, lk_loss_count()), owned by
 *  the library; NULL when index is out of range. */
const char *lk_loss_name_at(int64_t index);

/* ------------------------------------------------------------------ threads */

/** Use at most `count` threads per call; 0 means one per CPU (the default).
 *  Errors: LK_ERROR_BAD_PARAM when count is negative. */
lk_status lk_set_num_threads(int32_t count);

/** The thread limit set by lk_set_num_threads (0 = one per CPU). */
int32_t lk_get_num_threads(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOSSKIT_H */
