#define _GNU_SOURCE
#include <sched.h>
#include "CSysShims.h"

int lg_unshare_namespaces(int which) {
    int done = 0;
    if ((which & 1) && unshare(CLONE_NEWNET) == 0) done |= 1;
    if ((which & 2) && unshare(CLONE_NEWIPC) == 0) done |= 2;
    if ((which & 4) && unshare(CLONE_NEWUTS) == 0) done |= 4;
    return done;
}

unsigned long long lg_rdtsc(void) {
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
}
