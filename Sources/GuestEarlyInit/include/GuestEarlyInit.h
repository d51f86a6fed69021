#ifndef GUEST_EARLY_INIT_H
#define GUEST_EARLY_INIT_H
/// 1 if /proc was mounted before the Swift runtime started (the agent is the
/// guest's /init), 0 if it was already there, -errno if mounting failed.
int lg_early_proc_status(void);
/// CLOCK_BOOTTIME (the guest's uptime) in ms when the process's first
/// initialiser ran, before the Swift runtime's: when /init started.
double lg_early_boottime_ms(void);
#endif
