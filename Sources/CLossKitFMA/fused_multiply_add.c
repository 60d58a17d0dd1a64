/* The helpers are all inline in include/fused_multiply_add.h; SwiftPM needs a source file per C target. */
#include "fused_multiply_add.h"
