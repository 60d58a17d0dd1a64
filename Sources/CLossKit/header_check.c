/* Compiles the public header as plain C, so a C-only construct error shows up in every build. */
#include "losskit.h"
