#include "sanitizers.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOSSKIT_ASAN 1
#endif
#endif

int losskit_address_sanitizer(void) {
#ifdef LOSSKIT_ASAN
    return 1;
#else
    return 0;
#endif
}
