/* A test plugin with no "lk_plugin_init": lk_plugin_load must refuse it with LK_ERROR_PLUGIN. */
#include <stdint.h>

#include "losskit.h"

const uint32_t lk_plugin_abi_version = LK_LOSS_ABI_VERSION;

/* A near miss of the entry point's name, so only the exact name can be what the host looks for. */
int32_t lk_plugin_initialize(const lk_plugin_api *api) {
    (void)api;
    return 0;
}
