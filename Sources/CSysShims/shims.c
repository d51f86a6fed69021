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
#include <string.h>
#include <sys/mman.h>

int lg_sealed_copy_seals(void) { return F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE; }

int lg_get_seals(int fd) {
    int s = fcntl(fd, F_GET_SEALS);
    return s < 0 ? -errno : s;
}

int lg_sealed_copy(int src, long long size, long long *copied) {
    static const char zero[4096];
    *copied = 0;
    int fd = memfd_create("luminaguard-template-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return -errno;
    int err = 0;
    unsigned char *in = MAP_FAILED, *out = MAP_FAILED;
    if (ftruncate(fd, size) != 0) { err = errno; goto done; }
    in = mmap(NULL, size, PROT_READ, MAP_PRIVATE, src, 0);
    if (in == MAP_FAILED) { err = errno; goto done; }
    out = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (out == MAP_FAILED) { err = errno; goto done; }
    // Only the data extents, and of those only non-zero pages: the guest
    // never touched most of its RAM, and a hole reads as zeros.
    for (off_t at = 0; at < size;) {
        off_t data = lseek(src, at, SEEK_DATA);
        if (data < 0) { if (errno != ENXIO) err = errno; break; }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > size) hole = size;
        for (off_t p = data & ~4095LL; p < hole; p += 4096) {
            size_t n = (size_t)(size - p < 4096 ? size - p : 4096);
            if (memcmp(in + p, zero, n) != 0) { memcpy(out + p, in + p, n); *copied += n; }
        }
        at = hole;
    }
done:
    if (in != MAP_FAILED) munmap(in, size);
    // No writable shared mapping may remain when the write seal is added.
    if (out != MAP_FAILED) munmap(out, size);
    if (!err && fcntl(fd, F_ADD_SEALS, lg_sealed_copy_seals()) != 0) err = errno;
    if (err) { close(fd); return -err; }
    return fd;
}
