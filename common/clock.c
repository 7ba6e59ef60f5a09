/*
 * clock.c - the monotonic clock and a sleep on it.
 */
#include "config_build.h"

#include <errno.h>
#include <time.h>

#include "clock.h"

long long msoauth_now_ms(void) {
  struct timespec ts;

  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return 0;
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void msoauth_sleep_ms(long long ms) {
  struct timespec ts;

  if (ms <= 0)
    return;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}
