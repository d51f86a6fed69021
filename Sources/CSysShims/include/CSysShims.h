// Linux calls that Glibc's Swift overlay does not expose (they need
// _GNU_SOURCE), wrapped so Swift can call them.
#pragma once
#include <sys/types.h>

/// unshare(2) with the given CLONE_NEW* names: 1 net, 2 ipc, 4 uts. Returns
/// the mask of namespaces that were entered.
int lg_unshare_namespaces(int which);

/// The CPU's time-stamp counter (rdtsc) on x86-64; 0 elsewhere.
unsigned long long lg_rdtsc(void);

/// openat2(2) of `path` below the directory `dirfd` with RESOLVE_BENEATH and
/// RESOLVE_NO_MAGICLINKS: no `..`, absolute path or symlink leads outside, and
/// the check is the open itself (nothing to swap in between). Returns the
/// descriptor, or -errno (-ENOSYS before Linux 5.6).
int lg_openat2_beneath(int dirfd, const char *path, int flags);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): the child closes
/// every descriptor from `from` up. Returns 0, or an errno (ENOSYS where the
/// C library lacks it).
int lg_spawn_addclosefrom(void *actions, int from);

/// prlimit(2): sets RLIMIT_CPU (soft and hard) of process `pid` to `seconds`.
/// Returns 0, or an errno.
int lg_limit_cpu_seconds(pid_t pid, long seconds);
/// mount(2) with no flags; 0, or -errno.
int lg_mount(const char *source, const char *target, const char *fstype, const char *data);

/// A memfd of `size` bytes (all holes) that can be sealed, close-on-exec;
/// or -errno.
int lg_sealable_memfd(long long size);
/// Copies the non-zero pages of the first `size` bytes of the file `src`
/// into the memfd `fd` (holes and zero pages stay holes), then seals it
/// against writes, shrinking, growing and further seal changes. A private
/// (copy-on-write) mapping of it stays possible, also one made before the
/// copy (its untouched pages read what the copy wrote); writes through any
/// descriptor, shared writable mappings and truncation are refused after.
/// Sets `*copied` to the bytes copied; returns 0 or -errno.
int lg_fill_and_seal(int src, int fd, long long size, long long *copied);

/// The seals of a memfd (F_GET_SEALS), or -errno.
int lg_get_seals(int fd);
/// The seals lg_fill_and_seal sets.
int lg_sealed_copy_seals(void);
