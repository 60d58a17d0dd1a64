/* The plain test runner shared by the C tests: every CHECK counts as one test, from any thread.
 * check_summary() prints "N passed, M failed" and gives the exit code: non-zero if any check failed
 * or none ran. */
#ifndef LOSSKIT_TEST_CHECK_H
#define LOSSKIT_TEST_CHECK_H

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "losskit.h"

static atomic_int check_passed;
static atomic_int check_failed;

static inline int check_record(int ok, const char *what, const char *file, int line) {
    if (ok) {
        atomic_fetch_add(&check_passed, 1);
    } else {
        atomic_fetch_add(&check_failed, 1);
        printf("FAIL %s:%d: %s\n", file, line, what);
        fflush(stdout);
    }
    return ok;
}

#define CHECK(cond) check_record((cond) ? 1 : 0, #cond, __FILE__, __LINE__)

/* Passes when `call` returns `expected`; otherwise also prints what it got and the library's message
 * (read right away: it lasts only until the next losskit call on this thread). */
#define CHECK_STATUS(call, expected) check_status_((call), (expected), #call " == " #expected, __FILE__, __LINE__)

static inline int check_status_(lk_status got, lk_status expected, const char *what, const char *file, int line) {
    if (got != expected) printf("  got %d (%s): %s\n", (int)got, lk_status_string(got), lk_last_error_message());
    return check_record(got == expected, what, file, line);
}

/* True when the thread's last error message contains `part`; prints the message when it does not. */
static inline int message_has(const char *part) {
    const char *message = lk_last_error_message();
    if (message && strstr(message, part)) return 1;
    printf("  message \"%s\" lacks \"%s\"\n", message ? message : "(null)", part);
    return 0;
}

/* |got - want| <= tol·(1 + |want|): absolute near 0, relative for large values. */
static inline int near(double got, double want, double tol) {
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

/* Element-wise near(); prints the first mismatch under `label`. */
static inline int all_near(const double *got, const double *want, long long count, double tol, const char *label) {
    long long i;
    for (i = 0; i < count; ++i) {
        if (!near(got[i], want[i], tol)) {
            printf("  %s[%lld]: got %.17g, want %.17g\n", label, i, got[i], want[i]);
            return 0;
        }
    }
    return 1;
}

/* Prints a group's result line and whether it added failures. */
static inline void check_group(const char *name, void (*run)(void)) {
    const int failed_before = atomic_load(&check_failed);
    run();
    printf("%-36s %s\n", name, atomic_load(&check_failed) == failed_before ? "ok" : "FAILED");
    fflush(stdout);
}

static inline int check_summary(void) {
    const int passed = atomic_load(&check_passed), failed = atomic_load(&check_failed);
    printf("%d passed, %d failed\n", passed, failed);
    return (failed == 0 && passed > 0) ? 0 : 1;
}

#endif
