/* A test plugin for fuzz_registry and Tests/valgrind: its init registers two losses through the
 * host's API, then reports failure. lk_plugin_load must return LK_ERROR_PLUGIN with the plugin's
 * message, remove both losses again (the registry as before) and close the library.
 *
 * Built twice by Tests/fuzz/run.sh and Tests/valgrind/run.sh:
 *   -DWITH_DESTROY=1  the first loss owns malloc'd user_data with a destroy callback that lives in
 *                     this library: the host must run it (once) before it unloads the plugin;
 *   (default)         no destroy callback, static user_data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "losskit.h"

static int32_t zero_row(void *user_data, const double *logits, int64_t classes, int64_t target, double *out_loss,
                        double *out_grad) {
    (void)user_data, (void)logits, (void)classes, (void)target, (void)out_grad;
    *out_loss = 0.0;
    return 0;
}

static int32_t zero_batch(void *user_data, int64_t n, int64_t classes, int64_t inner, const double *logits,
                          const int64_t *target, const double *weight, int64_t ignore_index, double *out_loss,
                          double *out_grad) {
    (void)user_data, (void)n, (void)classes, (void)inner, (void)logits, (void)target, (void)weight;
    (void)ignore_index, (void)out_grad;
    *out_loss = 0.0;
    return 0;
}

#if WITH_DESTROY
static void release(void *user_data) {
    memset(user_data, 0, 32);
    free(user_data);
}
#endif

int32_t lk_plugin_init(const lk_plugin_api *api) {
    static char tag[32] = "rollback_plugin";
    lk_loss_callbacks row, batch;
    memset(&row, 0, sizeof row);
    memset(&batch, 0, sizeof batch);
    row.struct_size = batch.struct_size = sizeof row;
    row.abi_version = batch.abi_version = LK_LOSS_ABI_VERSION;
    row.row = zero_row;
    batch.batch = zero_batch;
#if WITH_DESTROY
    row.destroy = release;
    row.user_data = malloc(32);
    if (row.user_data == NULL) return 1;
    memcpy(row.user_data, tag, sizeof tag);
#else
    row.user_data = tag;
#endif
    if (api->register_loss("rollback_plugin_row", &row) != LK_OK) {
#if WITH_DESTROY
        free(row.user_data); /* refused: the caller keeps ownership */
#endif
        return 1;
    }
    if (api->register_loss("rollback_plugin_batch", &batch) != LK_OK) return 1;
    api->set_error("rollback_plugin: failing on purpose after registering two losses");
    return 1;
}
