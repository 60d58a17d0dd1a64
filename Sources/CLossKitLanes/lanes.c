/* The helpers are all inline in include/; SwiftPM needs a source file per C target. */
#include "avx2_lanes.h"
#include "avx512_lanes.h"
#include "fused_multiply_add.h"
#include "lane_reductions.h"
#include "prefetch.h"
