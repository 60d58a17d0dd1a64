/* Deterministic test batches in any layout and dtype, and a runner that evaluates a loss on one and
 * returns its outputs as doubles. Lets a test compare two losses on identical input without writing
 * a reference of its own. */
#ifndef LOSSKIT_TEST_BATCH_DATA_H
#define LOSSKIT_TEST_BATCH_DATA_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "losskit.h"

/* A value no loss produces here; exactly representable in float32, so "untouched" is exact. */
#define SENTINEL 12345.0
/* run_loss/evaluate without a per-call progress (lk_loss_compute rather than lk_loss_compute_at). */
#define NO_PROGRESS (-1.0)

typedef struct spec {
    int32_t ndim;
    int64_t shape[LK_MAX_NDIM]; /* (N, C, d1..dk) */
    int32_t dtype;              /* LK_FLOAT32 | LK_FLOAT64 */
    int32_t target_dtype;       /* LK_INT32 | LK_INT64 */
    int weighted;               /* class weights 0.5, 1.5, 0, 2, ... (one class weighs 0) */
    int64_t ignore_index;
    int ignore_every;           /* > 0: every k-th sample's target is ignore_index */
    int32_t reduction;
    int with_dloss;             /* upstream gradient: -1.5 for mean/sum, varied per sample for none */
    int with_grad;
    int in_place;               /* grad written over (a copy of) the logits */
    uint32_t seed;
} spec;

/* An (N, C) spec, float64, int64 targets, mean, with gradient; tests change what they need. */
static inline spec spec_2d(int64_t n, int64_t c, uint32_t seed) {
    spec s;
    memset(&s, 0, sizeof s);
    s.ndim = 2;
    s.shape[0] = n;
    s.shape[1] = c;
    s.dtype = LK_FLOAT64;
    s.target_dtype = LK_INT64;
    s.ignore_index = LK_DEFAULT_IGNORE_INDEX;
    s.reduction = LK_REDUCTION_MEAN;
    s.with_grad = 1;
    s.seed = seed;
    return s;
}

/* The typed buffers of one batch built from a spec. */
typedef struct data {
    spec s;
    int64_t samples, classes, elements, loss_count;
    void *logits, *target, *weight, *dloss;
} data;

static inline size_t float_size(int32_t dtype) { return dtype == LK_FLOAT32 ? sizeof(float) : sizeof(double); }

static inline double get_float(const void *buffer, int32_t dtype, int64_t i) {
    return dtype == LK_FLOAT32 ? (double)((const float *)buffer)[i] : ((const double *)buffer)[i];
}

static inline void set_float(void *buffer, int32_t dtype, int64_t i, double value) {
    if (dtype == LK_FLOAT32) ((float *)buffer)[i] = (float)value;
    else ((double *)buffer)[i] = value;
}

/* Logits in [-4, 4) from a small LCG, so every run sees the same numbers. */
static inline double next_logit(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (double)(*state >> 8) / (double)(1u << 24) * 8.0 - 4.0;
}

static inline data make_data(const spec *s) {
    data d;
    int64_t i, inner = 1;
    uint32_t state = s->seed;
    int k;
    memset(&d, 0, sizeof d);
    d.s = *s;
    for (k = 2; k < s->ndim; ++k) inner *= s->shape[k];
    d.classes = s->shape[1];
    d.samples = s->shape[0] * inner;
    d.elements = d.samples * d.classes;
    d.loss_count = s->reduction == LK_REDUCTION_NONE ? d.samples : 1;
    d.logits = malloc((size_t)(d.elements + 1) * float_size(s->dtype));
    for (i = 0; i < d.elements; ++i) set_float(d.logits, s->dtype, i, next_logit(&state));
    d.target = malloc((size_t)(d.samples + 1) * sizeof(int64_t));
    for (i = 0; i < d.samples; ++i) {
        int64_t y = (i * 7 + 3) % d.classes;
        if (s->ignore_every > 0 && i % s->ignore_every == 1) y = s->ignore_index;
        if (s->target_dtype == LK_INT32) ((int32_t *)d.target)[i] = (int32_t)y;
        else ((int64_t *)d.target)[i] = y;
    }
    if (s->weighted) {
        d.weight = malloc((size_t)d.classes * float_size(s->dtype));
        for (i = 0; i < d.classes; ++i) set_float(d.weight, s->dtype, i, i == 2 ? 0.0 : 0.5 + (double)(i % 4) * 0.5);
    }
    if (s->with_dloss) {
        d.dloss = malloc((size_t)d.loss_count * float_size(s->dtype));
        for (i = 0; i < d.loss_count; ++i)
            set_float(d.dloss, s->dtype, i, d.loss_count == 1 ? -1.5 : (double)(i % 5) - 1.25);
    }
    return d;
}

static inline void free_data(data *d) {
    free(d->logits);
    free(d->target);
    free(d->weight);
    free(d->dloss);
    memset(d, 0, sizeof *d);
}

/* Evaluates `loss` on `d` (at `progress` via lk_loss_compute_at unless it is NO_PROGRESS, then
 * lk_loss_compute). The typed outputs start as SENTINEL (for in place, the gradient buffer starts as
 * the logits); they are copied as doubles to loss_out (loss_count values) and, when with_grad,
 * grad_out (elements values) whether or not the call succeeded. */
static inline lk_status run_loss(const lk_loss *loss, const data *d, double progress, double *loss_out, double *grad_out) {
    const size_t fs = float_size(d->s.dtype);
    void *out_loss = malloc((size_t)d->loss_count * fs + fs);
    void *out_grad = d->s.with_grad ? malloc((size_t)d->elements * fs + fs) : NULL;
    lk_batch b;
    lk_status status;
    int64_t i;
    for (i = 0; i < d->loss_count; ++i) set_float(out_loss, d->s.dtype, i, SENTINEL);
    if (out_grad) {
        if (d->s.in_place) memcpy(out_grad, d->logits, (size_t)d->elements * fs);
        else for (i = 0; i < d->elements; ++i) set_float(out_grad, d->s.dtype, i, SENTINEL);
    }
    lk_batch_init(&b);
    b.ndim = d->s.ndim;
    b.shape = d->s.shape;
    b.logits_dtype = d->s.dtype;
    b.target_dtype = d->s.target_dtype;
    b.logits = d->s.in_place && out_grad ? out_grad : d->logits;
    b.target = d->target;
    b.weight = d->weight;
    b.ignore_index = d->s.ignore_index;
    b.reduction = d->s.reduction;
    b.dloss = d->dloss;
    b.loss = out_loss;
    b.grad = out_grad;
    status = progress != NO_PROGRESS ? lk_loss_compute_at(loss, &b, progress) : lk_loss_compute(loss, &b);
    for (i = 0; i < d->loss_count; ++i) loss_out[i] = get_float(out_loss, d->s.dtype, i);
    if (out_grad && grad_out)
        for (i = 0; i < d->elements; ++i) grad_out[i] = get_float(out_grad, d->s.dtype, i);
    free(out_loss);
    free(out_grad);
    return status;
}

/* Outputs of one evaluation, as doubles. */
typedef struct outputs {
    lk_status status;
    double *loss, *grad;
} outputs;

static inline outputs evaluate(const lk_loss *loss, const data *d, double progress) {
    outputs o;
    o.loss = malloc((size_t)d->loss_count * sizeof(double));
    o.grad = malloc((size_t)(d->elements + 1) * sizeof(double));
    o.status = run_loss(loss, d, progress, o.loss, o.grad);
    return o;
}

static inline void free_outputs(outputs *o) {
    free(o->loss);
    free(o->grad);
    o->loss = o->grad = NULL;
}

/* True when every output of `o` is still SENTINEL (for in place: the gradient buffer still holds the
 * logits), i.e. a failed call wrote nothing. */
static inline int untouched(const outputs *o, const data *d) {
    int64_t i;
    for (i = 0; i < d->loss_count; ++i)
        if (o->loss[i] != SENTINEL) return 0;
    if (d->s.with_grad)
        for (i = 0; i < d->elements; ++i)
            if (o->grad[i] != (d->s.in_place ? get_float(d->logits, d->s.dtype, i) : SENTINEL)) return 0;
    return 1;
}

#endif
