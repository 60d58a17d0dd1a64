/* A vector's lanes reduced to one number, for every build of the row loops (internal to
 * liblosskit.so: not part of the ABI).
 *
 * Written once with Clang's generic vector operations, so that each build gets its own instructions
 * (maxps, vmaxps on xmm/ymm/zmm halves, cvtps2pd). The same reductions written with Swift's SIMD
 * halves came out of LLVM as dozens of shuffles, extracts and mask moves (stack spills in the AVX2
 * build): a row's max then reached its Σ exp late, and on rows of 32 to 250 classes that latency was
 * 5-25 % of the softmax losses' time. Each follows the portable order of the Swift code it replaces
 * (lanes k and k + half, then halves of those; ties keep the lower half's lane), so the bits are the
 * same. */
#ifndef LOSSKIT_LANE_REDUCTIONS_H
#define LOSSKIT_LANE_REDUCTIONS_H

#include "fused_multiply_add.h"

#define LOSSKIT_REDUCTION_INLINE static inline __attribute__((always_inline))

typedef float losskit_float8 __attribute__((ext_vector_type(8)));
typedef float losskit_float4 __attribute__((ext_vector_type(4)));
typedef float losskit_float2 __attribute__((ext_vector_type(2)));
typedef double losskit_double4 __attribute__((ext_vector_type(4)));
typedef double losskit_double2 __attribute__((ext_vector_type(2)));

/** The largest of the 16 lanes; none may be NaN. */
LOSSKIT_REDUCTION_INLINE float losskit_float_largest_lane(losskit_float_lanes x) {
    losskit_float8 low = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7);
    losskit_float8 high = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    losskit_float8 eight = high > low ? high : low;
    losskit_float4 low4 = __builtin_shufflevector(eight, eight, 0, 1, 2, 3);
    losskit_float4 high4 = __builtin_shufflevector(eight, eight, 4, 5, 6, 7);
    losskit_float4 four = high4 > low4 ? high4 : low4;
    losskit_float2 low2 = __builtin_shufflevector(four, four, 0, 1), high2 = __builtin_shufflevector(four, four, 2, 3);
    losskit_float2 two = high2 > low2 ? high2 : low2;
    return two[1] > two[0] ? two[1] : two[0];
}

/** The largest of the 8 lanes; none may be NaN. */
LOSSKIT_REDUCTION_INLINE double losskit_double_largest_lane(losskit_double_lanes x) {
    losskit_double4 low = __builtin_shufflevector(x, x, 0, 1, 2, 3), high = __builtin_shufflevector(x, x, 4, 5, 6, 7);
    losskit_double4 four = high > low ? high : low;
    losskit_double2 low2 = __builtin_shufflevector(four, four, 0, 1), high2 = __builtin_shufflevector(four, four, 2, 3);
    losskit_double2 two = high2 > low2 ? high2 : low2;
    return two[1] > two[0] ? two[1] : two[0];
}

/** Σ of the 8 lanes: lane k plus lane k + 4, then halves. */
LOSSKIT_REDUCTION_INLINE double losskit_double_lane_sum(losskit_double_lanes x) {
    losskit_double4 four = __builtin_shufflevector(x, x, 0, 1, 2, 3) + __builtin_shufflevector(x, x, 4, 5, 6, 7);
    losskit_double2 two = __builtin_shufflevector(four, four, 0, 1) + __builtin_shufflevector(four, four, 2, 3);
    return two[0] + two[1];
}

/** Σ of the 16 lanes in Double: lane k plus lane k + 8 (each converted exactly), then halves. */
LOSSKIT_REDUCTION_INLINE double losskit_float_lane_sum(losskit_float_lanes x) {
    losskit_double_lanes low = __builtin_convertvector(__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7), losskit_double_lanes);
    losskit_double_lanes high = __builtin_convertvector(__builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15),
                                                        losskit_double_lanes);
    losskit_double_lanes eight = low + high;  /* then as losskit_double_lane_sum (a call would pass a 512-bit
                                                 vector, whose ABI differs between the builds) */
    losskit_double4 four = __builtin_shufflevector(eight, eight, 0, 1, 2, 3) + __builtin_shufflevector(eight, eight, 4, 5, 6, 7);
    losskit_double2 two = __builtin_shufflevector(four, four, 0, 1) + __builtin_shufflevector(four, four, 2, 3);
    return two[0] + two[1];
}

#endif
