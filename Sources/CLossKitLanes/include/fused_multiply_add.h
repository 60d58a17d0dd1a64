/* Fused multiply-add on the row loops' vectors, for the fast builds of the row loops (internal to
 * liblosskit.so: not part of the ABI).
 *
 * Swift has no packed FMA: SIMD's `addingProduct` runs lane by lane, and `a * b + c` is never
 * contracted. These helpers are Clang's elementwise fma (llvm.fma on the whole vector); inlined into
 * a function compiled for AVX2 or AVX-512 they become one vfmadd per register. The baseline build
 * must not call them (without FMA hardware llvm.fma is a libm call per lane): LaneVector.swift uses
 * them only where LOSSKIT_FMA is defined. The ext_vector_type types import as SIMD16<Float> and
 * SIMD8<Double>. */
#ifndef LOSSKIT_FUSED_MULTIPLY_ADD_H
#define LOSSKIT_FUSED_MULTIPLY_ADD_H

typedef float losskit_float_lanes __attribute__((ext_vector_type(16)));
typedef double losskit_double_lanes __attribute__((ext_vector_type(8)));

/** a·b + c in every lane, rounded once. */
static inline __attribute__((always_inline)) losskit_float_lanes
losskit_fma_float(losskit_float_lanes a, losskit_float_lanes b, losskit_float_lanes c) {
    return __builtin_elementwise_fma(a, b, c);
}

/** a·b + c in every lane, rounded once. */
static inline __attribute__((always_inline)) losskit_double_lanes
losskit_fma_double(losskit_double_lanes a, losskit_double_lanes b, losskit_double_lanes c) {
    return __builtin_elementwise_fma(a, b, c);
}

#endif
