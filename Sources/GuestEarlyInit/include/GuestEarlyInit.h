#ifndef GUEST_EARLY_INIT_H
#define GUEST_EARLY_INIT_H
/// 1 if /proc was mounted before the Swift runtime started (the agent is the
/// guest's /init), 0 if it was already there, -errno if mounting failed.
int lg_early_proc_status(void);
#endif
