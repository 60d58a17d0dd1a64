/* AVX2 instructions the row loops' AVX2 build needs and Swift has no operator for (internal to
 * liblosskit.so: not part of the ABI): a row's last, partial vector read or written with masked
 * moves, each 16-float or 8-double vector being two 256-bit halves. Only the AVX2 build of the row
 * loops calls them (LOSSKIT_AVX2); on a machine without AVX2 that code is never chosen. */
#ifndef LOSSKIT_AVX2_LANES_H
#define LOSSKIT_AVX2_LANES_H

#include <immintrin.h>

#include "fused_multiply_add.h"

#define LOSSKIT_AVX2_INLINE static inline __attribute__((always_inline, target("avx2")))

/** Masks of the two 8-float halves: all ones in lanes below `lanes`. */
LOSSKIT_AVX2_INLINE void losskit_avx2_float_masks(long lanes, __m256i *low, __m256i *high) {
    const __m256i n = _mm256_set1_epi32((int)lanes);
    *low = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    *high = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
}

/** Masks of the two 4-double halves: all ones in lanes below `lanes`. */
LOSSKIT_AVX2_INLINE void losskit_avx2_double_masks(long lanes, __m256i *low, __m256i *high) {
    const __m256i n = _mm256_set1_epi64x(lanes);
    *low = _mm256_cmpgt_epi64(n, _mm256_setr_epi64x(0, 1, 2, 3));
    *high = _mm256_cmpgt_epi64(n, _mm256_setr_epi64x(4, 5, 6, 7));
}

/** The first `lanes` (0...16) floats at p, the other lanes set to `fill`; nothing past them is read
 * (a masked-off lane never faults). */
LOSSKIT_AVX2_INLINE losskit_float_lanes losskit_avx2_load_float_lanes(const float *p, long lanes, float fill) {
    __m256i low, high;
    losskit_avx2_float_masks(lanes, &low, &high);
    const __m256 f = _mm256_set1_ps(fill);
    const __m256 a = _mm256_blendv_ps(f, _mm256_maskload_ps(p, low), _mm256_castsi256_ps(low));
    const __m256 b = _mm256_blendv_ps(f, _mm256_maskload_ps(p + 8, high), _mm256_castsi256_ps(high));
    return (losskit_float_lanes)__builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/** The first `lanes` (0...8) doubles at p, the other lanes set to `fill`. */
LOSSKIT_AVX2_INLINE losskit_double_lanes losskit_avx2_load_double_lanes(const double *p, long lanes, double fill) {
    __m256i low, high;
    losskit_avx2_double_masks(lanes, &low, &high);
    const __m256d f = _mm256_set1_pd(fill);
    const __m256d a = _mm256_blendv_pd(f, _mm256_maskload_pd(p, low), _mm256_castsi256_pd(low));
    const __m256d b = _mm256_blendv_pd(f, _mm256_maskload_pd(p + 4, high), _mm256_castsi256_pd(high));
    return (losskit_double_lanes)__builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7);
}

/** Stores the first `lanes` (0...16) lanes of x at p, writing nothing else. */
LOSSKIT_AVX2_INLINE void losskit_avx2_store_float_lanes(float *p, losskit_float_lanes x, long lanes) {
    __m256i low, high;
    losskit_avx2_float_masks(lanes, &low, &high);
    _mm256_maskstore_ps(p, low, (__m256)__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(p + 8, high, (__m256)__builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15));
}

/** Stores the first `lanes` (0...8) lanes of x at p, writing nothing else. */
LOSSKIT_AVX2_INLINE void losskit_avx2_store_double_lanes(double *p, losskit_double_lanes x, long lanes) {
    __m256i low, high;
    losskit_avx2_double_masks(lanes, &low, &high);
    _mm256_maskstore_pd(p, low, (__m256d)__builtin_shufflevector(x, x, 0, 1, 2, 3));
    _mm256_maskstore_pd(p + 4, high, (__m256d)__builtin_shufflevector(x, x, 4, 5, 6, 7));
}

#endif
