/* AVX-512 instructions the row loops' fastest build needs and Swift has no operator for (internal to
 * liblosskit.so: not part of the ABI). Only the AVX-512 build of the row loops may call them
 * (LOSSKIT_AVX512): each is compiled for AVX-512F and inlined into code compiled for that CPU; on a
 * machine without AVX-512 that code is never chosen (SIMDDispatch.swift). */
#ifndef LOSSKIT_AVX512_LANES_H
#define LOSSKIT_AVX512_LANES_H

#include <immintrin.h>

#include "fused_multiply_add.h"

#define LOSSKIT_AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

/** x·2^n in every lane, rounded once (subnormal results included, overflow to inf), for integral n:
 * vscalefps, one instruction for what is otherwise two exponent-field multiplies. */
LOSSKIT_AVX512_INLINE losskit_float_lanes losskit_avx512_scale_float(losskit_float_lanes x, losskit_float_lanes n) {
    return (losskit_float_lanes)_mm512_scalef_ps((__m512)x, (__m512)n);
}

/** x·2^n in every lane, rounded once, for integral n (vscalefpd). */
LOSSKIT_AVX512_INLINE losskit_double_lanes losskit_avx512_scale_double(losskit_double_lanes x, losskit_double_lanes n) {
    return (losskit_double_lanes)_mm512_scalef_pd((__m512d)x, (__m512d)n);
}

/** table[j] in every lane, j the low four bits of that lane's bit pattern in `index` (vpermps): a
 * lookup in a 16-entry table held in a register. */
LOSSKIT_AVX512_INLINE losskit_float_lanes losskit_avx512_lookup_float(losskit_float_lanes table, losskit_float_lanes index) {
    return (losskit_float_lanes)_mm512_permutexvar_ps(_mm512_castps_si512((__m512)index), (__m512)table);
}

/** (j < 8 ? low[j] : high[j - 8]) in every lane, j the low four bits of that lane's bit pattern in
 * `index` (vpermt2pd): a lookup in a 16-entry table held in two registers. */
LOSSKIT_AVX512_INLINE losskit_double_lanes losskit_avx512_lookup_double(losskit_double_lanes low, losskit_double_lanes high,
                                                                       losskit_double_lanes index) {
    return (losskit_double_lanes)_mm512_permutex2var_pd((__m512d)low, _mm512_castpd_si512((__m512d)index), (__m512d)high);
}

/** The first `lanes` (0...16) floats at p, the other lanes set to `fill`: one masked load, which
 * reads nothing past those lanes (no fault at the end of a buffer). */
LOSSKIT_AVX512_INLINE losskit_float_lanes losskit_avx512_load_float_lanes(const float *p, long lanes, float fill) {
    return (losskit_float_lanes)_mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << lanes) - 1), p);
}

/** The first `lanes` (0...8) doubles at p, the other lanes set to `fill`. */
LOSSKIT_AVX512_INLINE losskit_double_lanes losskit_avx512_load_double_lanes(const double *p, long lanes, double fill) {
    return (losskit_double_lanes)_mm512_mask_loadu_pd(_mm512_set1_pd(fill), (__mmask8)((1u << lanes) - 1), p);
}

/** Stores the first `lanes` (0...16) lanes of x at p, writing nothing else. */
LOSSKIT_AVX512_INLINE void losskit_avx512_store_float_lanes(float *p, losskit_float_lanes x, long lanes) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << lanes) - 1), (__m512)x);
}

/** Stores the first `lanes` (0...8) lanes of x at p, writing nothing else. */
LOSSKIT_AVX512_INLINE void losskit_avx512_store_double_lanes(double *p, losskit_double_lanes x, long lanes) {
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << lanes) - 1), (__m512d)x);
}

#endif
