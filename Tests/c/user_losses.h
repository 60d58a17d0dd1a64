/* Row losses written in C for the tests, each showing one behaviour of a user callback: a correct
 * cross-entropy that also checks what the host promises it, failures of every kind, and one that
 * records how many threads are inside it at once. */
#ifndef LOSSKIT_TEST_USER_LOSSES_H
#define LOSSKIT_TEST_USER_LOSSES_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "losskit.h"

/* user_data of the checked cross-entropy: proves the pointer arrives intact and counts calls and
 * destroys. */
#define USER_MAGIC 0x1055C0DE

typedef struct user_state {
    int magic;
    atomic_long calls;
    atomic_int destroyed;
} user_state;

static inline void user_state_init(user_state *state) {
    state->magic = USER_MAGIC;
    atomic_store(&state->calls, 0);
    atomic_store(&state->destroyed, 0);
}

static inline void count_destroy(void *user_data) { atomic_fetch_add(&((user_state *)user_data)->destroyed, 1); }

/* Softmax cross-entropy of one row, max-subtracted: L = lse - z_y, g_j = p_j - [j = y]. */
static inline void cross_entropy_row(const double *z, int64_t classes, int64_t target, double *loss, double *grad) {
    double m = z[0], sum = 0.0, lse;
    int64_t j;
    for (j = 1; j < classes; ++j)
        if (z[j] > m) m = z[j];
    for (j = 0; j < classes; ++j) sum += exp(z[j] - m);
    lse = m + log(sum);
    for (j = 0; j < classes; ++j) grad[j] = exp(z[j] - lse) - (j == target ? 1.0 : 0.0);
    *loss = lse - z[target];
}

/* Cross-entropy that refuses (with a message) anything the host promised never to pass: a wrong
 * user_data, a target outside [0, classes) (ignored samples must not reach it), an unzeroed grad. */
static inline int32_t checked_ce_row(void *user_data, const double *z, int64_t classes, int64_t target,
                              double *out_loss, double *out_grad) {
    user_state *state = (user_state *)user_data;
    int64_t j;
    if (!state || state->magic != USER_MAGIC) {
        lk_set_callback_error("checked_ce_row: user_data did not arrive intact");
        return 1;
    }
    if (target < 0 || target >= classes) {
        lk_set_callback_error("checked_ce_row: target outside [0, classes)");
        return 1;
    }
    for (j = 0; j < classes; ++j) {
        if (out_grad[j] != 0.0) {
            lk_set_callback_error("checked_ce_row: out_grad was not zeroed by the host");
            return 1;
        }
    }
    atomic_fetch_add(&state->calls, 1);
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    return 0;
}

/* Plain cross-entropy with no user_data, for registrations where only the name matters. */
static inline int32_t plain_ce_row(void *user_data, const double *z, int64_t classes, int64_t target,
                            double *out_loss, double *out_grad) {
    (void)user_data;
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    return 0;
}

/* The message failing_row gives; the test looks for it in lk_last_error_message(). */
#define FAILING_MESSAGE "failing_row: class 2 is not supported by this loss"

/* Succeeds except on target 2, where it writes junk into its outputs and then fails with a message:
 * the junk must never reach the caller. */
static inline int32_t failing_row(void *user_data, const double *z, int64_t classes, int64_t target,
                           double *out_loss, double *out_grad) {
    (void)user_data;
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    if (target != 2) return 0;
    out_grad[0] = 777.0;
    *out_loss = 777.0;
    lk_set_callback_error(FAILING_MESSAGE);
    return 5;
}

/* Fails on target 2 without saying why. */
static inline int32_t silent_failing_row(void *user_data, const double *z, int64_t classes, int64_t target,
                                  double *out_loss, double *out_grad) {
    (void)user_data;
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    return target == 2 ? -1 : 0;
}

/* Returns a NaN loss on target 2 (and reports success). */
static inline int32_t nan_row(void *user_data, const double *z, int64_t classes, int64_t target,
                       double *out_loss, double *out_grad) {
    (void)user_data;
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    if (target == 2) *out_loss = nan("");
    return 0;
}

/* Returns an infinite gradient entry on target 2 (and reports success). */
static inline int32_t inf_grad_row(void *user_data, const double *z, int64_t classes, int64_t target,
                            double *out_loss, double *out_grad) {
    (void)user_data;
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    if (target == 2) out_grad[0] = INFINITY;
    return 0;
}

/* Leaves a message behind but succeeds: the caller's call succeeded, so it must read "". */
static inline int32_t chatty_row(void *user_data, const double *z, int64_t classes, int64_t target,
                          double *out_loss, double *out_grad) {
    (void)user_data;
    lk_set_callback_error("chatty_row: a note, not a failure");
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    return 0;
}

/* Records the most threads ever inside it at once; spins a little so that overlap, if the host
 * allows it, actually happens. */
typedef struct overlap_state {
    atomic_int inside;
    atomic_int most;
    atomic_long calls;
} overlap_state;

static inline int32_t overlap_row(void *user_data, const double *z, int64_t classes, int64_t target,
                           double *out_loss, double *out_grad) {
    overlap_state *state = (overlap_state *)user_data;
    const int now = atomic_fetch_add(&state->inside, 1) + 1;
    int most = atomic_load(&state->most);
    volatile int spin;
    while (now > most && !atomic_compare_exchange_weak(&state->most, &most, now)) {
    }
    for (spin = 0; spin < 400; ++spin) {
    }
    cross_entropy_row(z, classes, target, out_loss, out_grad);
    atomic_fetch_add(&state->calls, 1);
    atomic_fetch_sub(&state->inside, 1);
    return 0;
}

/* A callback table for a row loss, as a well-behaved caller fills it. */
static inline lk_loss_callbacks row_callbacks(lk_row_loss_fn row, void *user_data, lk_destroy_fn destroy, uint32_t flags) {
    lk_loss_callbacks c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.abi_version = LK_LOSS_ABI_VERSION;
    c.row = row;
    c.destroy = destroy;
    c.user_data = user_data;
    c.flags = flags;
    return c;
}

#endif
