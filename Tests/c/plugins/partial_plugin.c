/* A test plugin whose init registers two losses and then fails: lk_plugin_load must remove both again
 * (the registry as before) and close the library. When $LK_TEST_PARTIAL_MARK names a file, the first
 * loss also has a destroy callback that appends a line to it: the host must run it exactly once, and
 * before closing the library (the callback's code goes away with it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "losskit.h"

static int32_t zero_row(void *user_data, const double *logits, int64_t classes, int64_t target,
                        double *out_loss, double *out_grad) {
    (void)user_data, (void)logits, (void)classes, (void)target, (void)out_grad;
    *out_loss = 0.0;
    return 0;
}

static int32_t zero_batch(void *user_data, int64_t n, int64_t classes, int64_t inner, const double *logits,
                          const int64_t *target, const double *weight, int64_t ignore_index,
                          double *out_loss, double *out_grad) {
    (void)user_data, (void)n, (void)classes, (void)inner, (void)logits, (void)target, (void)weight;
    (void)ignore_index, (void)out_grad;
    *out_loss = 0.0;
    return 0;
}

static void mark_destroyed(void *user_data) {
    const char *path = getenv("LK_TEST_PARTIAL_MARK");
    FILE *file = path ? fopen(path, "a") : NULL;
    if (file) {
        fprintf(file, "destroyed %s\n", (const char *)user_data);
        fclose(file);
    }
}

int32_t lk_plugin_init(const lk_plugin_api *api) {
    static const char tag[] = "partial_first";
    lk_loss_callbacks row = {0}, batch = {0};
    row.struct_size = batch.struct_size = sizeof row;
    row.abi_version = batch.abi_version = LK_LOSS_ABI_VERSION;
    row.row = zero_row;
    row.destroy = getenv("LK_TEST_PARTIAL_MARK") ? mark_destroyed : NULL;
    row.user_data = (void *)tag;
    batch.batch = zero_batch;
    if (api->register_loss("partial_first", &row) != LK_OK) return 1;
    if (api->register_loss("partial_second", &batch) != LK_OK) return 1;
    api->set_error("partial_plugin: gave up after registering two losses");
    return 1;
}
