/* Which sanitizers this build of the library runs under (internal to liblosskit.so: not part of the
 * ABI). Compiled in C, where Clang says so: the Swift code cannot ask. */
#ifndef LOSSKIT_SANITIZERS_H
#define LOSSKIT_SANITIZERS_H

/** 1 when the library was built with AddressSanitizer (`swift build --sanitize=address`), else 0. */
int losskit_address_sanitizer(void);

#endif
