#ifndef MFA_CCLOCK_SHIM_H
#define MFA_CCLOCK_SHIM_H

#include <sys/prctl.h>
#include <sys/timex.h>

// The kernel's view of the clock: 1 synchronised (NTP or PTP discipline
// active), 0 not synchronised, -1 cannot tell. Reads only (modes = 0), which
// needs no privilege and works in containers.
static inline int mfa_clock_synchronized(void) {
  struct timex state = {0};
  int result = adjtimex(&state);
  if (result == -1) return -1;
  if (result == TIME_ERROR || (state.status & STA_UNSYNC)) return 0;
  return 1;
}

// Whether the process may dump core (and be read through /proc by others of
// its user): prctl is variadic, which Swift cannot call. 0 on success.
static inline int mfa_set_dumpable(int dumpable) {
  return prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0);
}

static inline int mfa_get_dumpable(void) {
  return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}

#endif
