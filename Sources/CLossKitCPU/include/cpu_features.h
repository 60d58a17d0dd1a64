/* What the CPU, the OS and the build offer the kernels (internal to liblosskit.so: not part of the
 * ABI). */
#ifndef LOSSKIT_CPU_FEATURES_H
#define LOSSKIT_CPU_FEATURES_H

/** 2: AVX-512 F/BW/DQ/VL with the OS saving zmm state; 1: AVX2 + FMA with ymm state saved; 0: neither
 *  (or not x86-64). */
int losskit_cpu_simd_level(void);

/** 1 when the library was built with AddressSanitizer (`swift build --sanitize=address`), else 0:
 *  Clang knows it in C, Swift code cannot ask. */
int losskit_address_sanitizer(void);

#endif
