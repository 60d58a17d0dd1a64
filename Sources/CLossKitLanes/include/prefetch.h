/* A hint to bring a cache line towards the core before it is read (internal to liblosskit.so: not
 * part of the ABI). Swift has no prefetch; this is Clang's builtin, one prefetch instruction in every
 * build, and it never faults (an address past the end of a buffer is harmless). */
#ifndef LOSSKIT_PREFETCH_H
#define LOSSKIT_PREFETCH_H

/** Asks for the line at `address` in the level-2 cache (prefetcht1), for a read. */
static inline __attribute__((always_inline)) void losskit_prefetch_to_l2(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

/** Asks for the line at `address` in the level-2 cache, to be written (prefetchw where the CPU has it:
 * the line then arrives owned, and the store that follows does not wait on a read for ownership). */
static inline __attribute__((always_inline)) void losskit_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 2);
}

#endif
