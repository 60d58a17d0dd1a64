/* An example losskit plugin: two user losses written in plain C, registered through the table the
 * host passes to lk_plugin_init. Build with examples/plugins/build.sh, load with lk_plugin_load().
 *
 *   plugin_ce       a row loss: softmax cross-entropy of one sample. The host gathers rows from any
 *                   layout and dtype and applies class weights, ignore_index, reduction and dloss.
 *   plugin_mean_ce  a whole-batch loss: the weighted mean cross-entropy over the samples not ignored,
 *                   written out in full to show what a whole-batch callback must do itself.
 *
 * Both equal the built-in "cross_entropy" (default parameters, mean reduction for the second). */
#include <math.h>
#include <stdint.h>

#include "losskit.h"

/* The host checks this against its LK_LOSS_ABI_VERSION before calling lk_plugin_init. */
const uint32_t lk_plugin_abi_version = LK_LOSS_ABI_VERSION;

/* log Σ exp(z_j) over `classes` values `stride` apart; the maximum is subtracted so exp never overflows. */
static double log_sum_exp(const double *z, int64_t classes, int64_t stride) {
    double m = z[0], sum = 0.0;
    int64_t j;
    for (j = 1; j < classes; ++j)
        if (z[j * stride] > m) m = z[j * stride];
    for (j = 0; j < classes; ++j) sum += exp(z[j * stride] - m);
    return m + log(sum);
}

/* L = lse(z) - z_y,  dL/dz_j = softmax(z)_j - [j = y]. */
static int32_t ce_row(void *user_data, const double *logits, int64_t classes, int64_t target,
                      double *out_loss, double *out_grad) {
    const double lse = log_sum_exp(logits, classes, 1);
    int64_t j;
    (void)user_data;
    for (j = 0; j < classes; ++j) out_grad[j] = exp(logits[j] - lse) - (j == target ? 1.0 : 0.0);
    *out_loss = lse - logits[target];
    return 0;
}

/* L = Σ_s w_{y_s}·CE_s / Σ_s w_{y_s} over samples s not ignored (0 when that sum is 0), PyTorch's mean.
 * Sample s = (b, i) has its logits at (b·classes + j)·inner + i, for j in [0, classes). */
static int32_t mean_ce_batch(void *user_data, int64_t n, int64_t classes, int64_t inner, const double *logits,
                             const int64_t *target, const double *weight, int64_t ignore_index,
                             double *out_loss, double *out_grad) {
    double total = 0.0, denominator = 0.0;
    int64_t b, i, j;
    (void)user_data;
    for (b = 0; b < n; ++b) {
        for (i = 0; i < inner; ++i) {
            const int64_t y = target[b * inner + i];
            const double *z = logits + b * classes * inner + i;
            double *g = out_grad + b * classes * inner + i;
            double w, lse;
            if (y == ignore_index) continue;
            w = weight ? weight[y] : 1.0;
            lse = log_sum_exp(z, classes, inner);
            total += w * (lse - z[y * inner]);
            denominator += w;
            for (j = 0; j < classes; ++j) g[j * inner] = w * (exp(z[j * inner] - lse) - (j == y ? 1.0 : 0.0));
        }
    }
    if (denominator > 0.0) {
        const int64_t count = n * classes * inner;
        for (i = 0; i < count; ++i) out_grad[i] /= denominator;
        *out_loss = total / denominator;
    } else {
        *out_loss = 0.0; /* every sample ignored: the gradient stays zero, as the host zeroed it */
    }
    return 0;
}

/* Registers both losses. A refusal (e.g. a name already taken) fails the whole load, and the host
 * removes whatever this call had registered before it. */
int32_t lk_plugin_init(const lk_plugin_api *api) {
    lk_loss_callbacks row = {0}, batch = {0};
    if (api->abi_version != LK_LOSS_ABI_VERSION) {
        api->set_error("cross_entropy_plugin: host ABI differs from LK_LOSS_ABI_VERSION");
        return 1;
    }
    row.struct_size = sizeof row;
    row.abi_version = LK_LOSS_ABI_VERSION;
    row.row = ce_row;
    row.flags = LK_CALLBACK_THREAD_SAFE; /* no shared state: any number of threads may run it */
    if (api->register_loss("plugin_ce", &row) != LK_OK) {
        api->set_error("cross_entropy_plugin: cannot register 'plugin_ce'");
        return 1;
    }
    batch.struct_size = sizeof batch;
    batch.abi_version = LK_LOSS_ABI_VERSION;
    batch.batch = mean_ce_batch;
    if (api->register_loss("plugin_mean_ce", &batch) != LK_OK) {
        api->set_error("cross_entropy_plugin: cannot register 'plugin_mean_ce'");
        return 1;
    }
    return 0;
}
