#include <errno.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>
#include "GuestEarlyInit.h"

static int proc_status = 0;
static double boottime_ms = -1;

// The guest agent is linked statically (no dynamic loader to run at boot), and
// a static Swift runtime finds its own path through /proc/self/exe while it
// initialises: without /proc it aborts ("Unable to obtain Swift runtime path").
// As the guest's /init the agent starts before anything has mounted /proc, so
// mount it here, before the runtime's initialisers (priority 101 runs first).
__attribute__((constructor(101))) static void lg_mount_proc_early(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0) boottime_ms = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    if (getpid() != 1 || access("/proc/self/exe", F_OK) == 0) return;
    proc_status = mount("proc", "/proc", "proc", 0, 0) == 0 ? 1 : -errno;
}

int lg_early_proc_status(void) { return proc_status; }
double lg_early_boottime_ms(void) { return boottime_ms; }
