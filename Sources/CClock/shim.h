#ifndef MFA_CCLOCK_SHIM_H
#define MFA_CCLOCK_SHIM_H

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

#endif
