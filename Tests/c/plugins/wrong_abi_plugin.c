/* A test plugin built "for another ABI": lk_plugin_load must refuse it with LK_ERROR_ABI_VERSION
 * before running its init (which would register a loss the test looks for). */
#include <stdint.h>

#include "losskit.h"

const uint32_t lk_plugin_abi_version = LK_LOSS_ABI_VERSION + 1;

static int32_t never_row(void *user_data, const double *logits, int64_t classes, int64_t target,
                         double *out_loss, double *out_grad) {
    (void)user_data, (void)logits, (void)classes, (void)target, (void)out_grad;
    *out_loss = 0.0;
    return 0;
}

int32_t lk_plugin_init(const lk_plugin_api *api) {
    lk_loss_callbacks callbacks = {0};
    callbacks.struct_size = sizeof callbacks;
    callbacks.abi_version = LK_LOSS_ABI_VERSION;
    callbacks.row = never_row;
    return api->register_loss("wrong_abi_loss", &callbacks) == LK_OK ? 0 : 1;
}
