/*
 * clock.h - the monotonic clock that every deadline is measured on, and a
 * sleep that keeps to it. Deadlines cross layers (PAM's timeout reaches the
 * cache lock and the HTTP request), so they share one clock that no layer
 * owns.
 */
#ifndef MSOAUTH_CLOCK_H
#define MSOAUTH_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. 0 if
 * the clock cannot be read. */
long long msoauth_now_ms(void);

/* Sleeps ms milliseconds (nothing when ms <= 0), resuming after signals:
 * the core installs no handler, but its host may. */
void msoauth_sleep_ms(long long ms);

#endif
