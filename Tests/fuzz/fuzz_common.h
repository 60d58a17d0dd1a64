/* Shared helpers of the losskit fuzz targets: a byte reader over the fuzz input, a PRNG for bulk
 * data, tables of interesting values, and the contract checks every target applies to every call.
 *
 * A failed check prints what was wrong and calls abort(), which libFuzzer reports as a crash and
 * saves as a reproducer. Every check is a promise of include/losskit.h or README.md.
 */
#ifndef LOSSKIT_FUZZ_COMMON_H
#define LOSSKIT_FUZZ_COMMON_H

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "losskit.h"

/* ------------------------------------------------------------------ failing */

static inline void fz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void fz_fail(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\n*** losskit contract violated: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

#define FZ_CHECK(cond, ...)                 \
    do {                                    \
        if (!(cond)) fz_fail(__VA_ARGS__);  \
    } while (0)

/* --------------------------------------------------------------- the input */

typedef struct fz_input {
    const uint8_t *data;
    size_t size;
} fz_input;

static inline uint8_t fz_u8(fz_input *in) {
    if (in->size == 0) return 0;
    uint8_t b = in->data[0];
    in->data++;
    in->size--;
    return b;
}

static inline uint16_t fz_u16(fz_input *in) { uint16_t v = fz_u8(in); return (uint16_t)(v | (uint16_t)fz_u8(in) << 8); }
static inline uint32_t fz_u32(fz_input *in) { uint32_t v = fz_u16(in); return v | (uint32_t)fz_u16(in) << 16; }
static inline uint64_t fz_u64(fz_input *in) { uint64_t v = fz_u32(in); return v | (uint64_t)fz_u32(in) << 32; }
static inline int fz_bool(fz_input *in) { return fz_u8(in) & 1; }
/* A value in [0, n), n >= 1. */
static inline uint32_t fz_pick(fz_input *in, uint32_t n) { return n <= 256 ? fz_u8(in) % n : fz_u32(in) % n; }

static inline double fz_raw_double(fz_input *in) {
    uint64_t bits = fz_u64(in);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ------------------------------------------------------------------- PRNG */

typedef struct fz_rng { uint64_t s; } fz_rng;

static inline uint64_t fz_next(fz_rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double fz_unit(fz_rng *r) { return (double)(fz_next(r) >> 11) * 0x1.0p-53; } /* [0, 1) */
static inline uint32_t fz_below(fz_rng *r, uint32_t n) { return n ? (uint32_t)(fz_next(r) % n) : 0; }

/* ------------------------------------------------------------ value tables */

/* Numbers for parameters: ordinary, boundary, out of range and non-finite. */
static const double fz_param_values[] = {
    0.0, -0.0, 0.5, 1.0, 2.0, 0.1, 0.04, 0.3, 3.0, 1.5, 0.999, 1e-3,
    -1.0, -1e-300, 1e-300, 4.9e-324, 1e300, DBL_MAX, -DBL_MAX, INFINITY, -INFINITY, NAN, -NAN,
    1.0000001, 100.0, 1e6, 0.25, 0.75, 2.5, 64.0,
};
#define FZ_PARAM_VALUES (sizeof fz_param_values / sizeof fz_param_values[0])

/* A parameter value is "moderate" when no result computed with it can overflow for logits of
 * moderate size: 0, or a magnitude in [1e-2, 100]. Outputs are only required to be finite then. */
static inline int fz_moderate(double v) { return v == 0 || (fabs(v) >= 1e-2 && fabs(v) <= 100); }

/* Every parameter name of the built-in losses and of mixes, plus a few that no loss has. */
static const char *const fz_param_names[] = {
    "label_smoothing", "z_loss", "beta", "smooth", "skip_absent", "gamma", "margin", "class_counts",
    "M", "tau", "priors", "p", "progress", "k", "alpha", "alpha_start", "alpha_end", "t_switch",
    "schedule", "nan_policy", "w0", "w1", "w2", "w0_schedule", "w1_schedule", "w0_start", "w0_end",
    "w1_start", "w1_end", "w0_t_switch", "w1_t_switch", "w3", "", "bogus", "Margin", "margin ",
    "w-1", "w99", "w0_", "nan_policy\x01",
};
#define FZ_PARAM_NAMES (sizeof fz_param_names / sizeof fz_param_names[0])

static const char *const fz_text_values[] = {
    "error", "propagate", "constant", "linear", "cosine", "step", "", "Error", "linear ", "raise",
    "\xff\xfe", "cosine\xc3", "nan",
};
#define FZ_TEXT_VALUES (sizeof fz_text_values / sizeof fz_text_values[0])

/* -------------------------------------------------------- contract checks */

/* Every status the header lists. */
static inline int fz_known_status(lk_status s) { return (int)s >= LK_OK && (int)s <= LK_ERROR_PLUGIN; }

/* The checks every fallible call gets: the status is listed, LK_ERROR_INTERNAL never happens, a
 * failure carries a message and lk_status_string names it, a success leaves the message empty. */
static inline void fz_check_status(lk_status s, const char *call) {
    FZ_CHECK(fz_known_status(s), "%s returned unknown status %d", call, (int)s);
    const char *text = lk_status_string(s);
    FZ_CHECK(text != NULL && strcmp(text, "unknown status") != 0, "%s: lk_status_string(%d) = %s", call, (int)s,
             text ? text : "NULL");
    const char *msg = lk_last_error_message();
    FZ_CHECK(msg != NULL, "%s: lk_last_error_message() is NULL", call);
    if (s == LK_OK) {
        FZ_CHECK(msg[0] == 0, "%s succeeded but the message is '%s'", call, msg);
    } else {
        FZ_CHECK(msg[0] != 0, "%s failed with %d (%s) and an empty message", call, (int)s, text);
        FZ_CHECK(s != LK_ERROR_INTERNAL, "%s: LK_ERROR_INTERNAL (a bug in losskit): %s", call, msg);
    }
}

static inline void fz_expect_status(lk_status s, lk_status want, const char *call) {
    fz_check_status(s, call);
    FZ_CHECK(s == want, "%s returned %d (%s: %s); expected %d (%s)", call, (int)s, lk_status_string(s),
             lk_last_error_message(), (int)want, lk_status_string(want));
}

static inline int fz_bits_equal(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

#endif /* LOSSKIT_FUZZ_COMMON_H */
