#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
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

int lg_openat2_beneath(int dirfd, const char *path, int flags) {
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
    struct open_how how = {0};
    how.flags = (unsigned long long)(unsigned int)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
#else
    return -ENOSYS;
#endif
}

int lg_spawn_addclosefrom(void *actions, int from) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from);
#else
    (void)actions; (void)from;
    return ENOSYS;
#endif
}

int lg_limit_cpu_seconds(pid_t pid, long seconds) {
    struct rlimit r = { (rlim_t)seconds, (rlim_t)seconds };
    return prlimit(pid, RLIMIT_CPU, &r, NULL) == 0 ? 0 : errno;
}

#include <sys/mount.h>
int lg_mount(const char *source, const char *target, const char *fstype, const char *data) {
    return mount(source, target, fstype, 0, data) == 0 ? 0 : -errno;
}
