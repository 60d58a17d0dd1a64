/* CPUID and XGETBV: an instruction set counts only when the CPU has it *and* the OS saves its
 * registers on a context switch (XCR0), else using it faults. And whether this build runs under
 * AddressSanitizer, which only C can ask. */
#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

int losskit_cpu_simd_level(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma) return 0;
    const unsigned long long state = xcr0();
    if ((state & 0x6) != 0x6) return 0; /* xmm and ymm state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int avx2 = (b >> 5) & 1;
    if (!avx2) return 0;
    const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    const int zmmState = (state & 0xE0) == 0xE0; /* opmask, upper zmm0-15, zmm16-31 */
    return avx512f && avx512dq && avx512bw && avx512vl && zmmState ? 2 : 1;
}
#else
int losskit_cpu_simd_level(void) { return 0; }
#endif


/* In this compile unit rather than one of its own: a separate C file for it made valgrind 3.19's
 * DWARF reader give up on the whole library ("Possibly corrupted debuginfo file"). */
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
