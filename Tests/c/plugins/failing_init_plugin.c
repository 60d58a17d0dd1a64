/* A test plugin whose init fails with its own message: lk_plugin_load must return LK_ERROR_PLUGIN and
 * carry that message. */
#include <stdint.h>

#include "losskit.h"

int32_t lk_plugin_init(const lk_plugin_api *api) {
    api->set_error("failing_init_plugin: no licence for this loss");
    return 7;
}
