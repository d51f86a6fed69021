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

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int lg_sealed_copy_seals(void) { return F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE; }

int lg_get_seals(int fd) {
    int s = fcntl(fd, F_GET_SEALS);
    return s < 0 ? -errno : s;
}

int lg_sealable_memfd(long long size) {
    int fd = memfd_create("luminaguard-template-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -errno;
    if (ftruncate(fd, size) != 0) { int e = errno; close(fd); return -e; }
    return fd;
}

int lg_fill_and_seal(int src, int fd, long long size, long long *copied) {
    static const char zero[4096];
    enum { chunk = 1 << 20 };
    *copied = 0;
    int err = 0;
    unsigned char *buf = malloc(chunk);
    if (!buf) return -ENOMEM;
    // Only the data extents, and of those only runs of non-zero pages: the
    // guest never touched most of its RAM, and a hole reads as zeros.
    // pread/pwrite: ~0.75x the time of copying between two mappings here.
    for (off_t at = 0; at < size && !err;) {
        off_t data = lseek(src, at, SEEK_DATA);
        if (data < 0) { if (errno != ENXIO) err = errno; break; }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > size) hole = size;
        for (off_t c = data & ~4095LL; c < hole && !err;) {
            size_t want = (size_t)(hole - c < chunk ? hole - c : chunk);
            ssize_t got = pread(src, buf, want, c);
            if (got <= 0) { err = got < 0 ? errno : EIO; break; }
            size_t n = (size_t)got & ~4095UL, i = 0;
            if (n == 0) n = (size_t)got;
            while (i < n) {
                while (i < n && memcmp(buf + i, zero, n - i < 4096 ? n - i : 4096) == 0) i += 4096;
                size_t j = i;
                while (j < n && memcmp(buf + j, zero, n - j < 4096 ? n - j : 4096) != 0) j += 4096;
                if (j > n) j = n;
                if (j > i) {
                    if (pwrite(fd, buf + i, j - i, c + (off_t)i) != (ssize_t)(j - i)) { err = errno ? errno : EIO; break; }
                    *copied += (long long)(j - i);
                }
                i = j;
            }
            c += (off_t)n;
        }
        at = hole;
    }
    free(buf);
    if (!err && fcntl(fd, F_ADD_SEALS, lg_sealed_copy_seals()) != 0) err = errno;
    return -err;
}
