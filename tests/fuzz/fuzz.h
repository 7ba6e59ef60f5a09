/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz/ share: the entry
 * points' prototypes and the checks each target makes beyond the
 * sanitizers' own (a broken contract aborts, so libFuzzer records it as a
 * crash with the input that caused it).
 */
#ifndef MSOAUTH_FUZZ_H
#define MSOAUTH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "result.h"

/* libFuzzer's entry points. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts, naming the broken expectation. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* Whether s holds no control character: whatever reaches a log line or an
 * error detail must not be able to forge another line (syslog, stderr). */
static inline int fuzz_printable(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
      return 0;
  return 1;
}

/* The error contract of the core: a failure fills err with the same rc and
 * a terminated, printable, non-empty detail. */
static inline void fuzz_check_err(const struct msoauth_err *err,
                                  msoauth_rc rc) {
  if (rc == MSOAUTH_OK)
    return;
  FUZZ_CHECK(err->rc == rc);
  FUZZ_CHECK(memchr(err->detail, '\0', sizeof(err->detail)) != NULL);
  FUZZ_CHECK(err->detail[0] != '\0');
  FUZZ_CHECK(fuzz_printable(err->detail));
}

/* A log sink that reads every message and checks it as above. */
static inline void fuzz_log_sink(void *arg, enum msoauth_level level,
                                 const char *msg) {
  (void)arg;
  FUZZ_CHECK(level >= MSOAUTH_LOG_ERROR && level <= MSOAUTH_LOG_DEBUG);
  FUZZ_CHECK(fuzz_printable(msg));
}

/* A NUL-terminated copy of n bytes, for APIs that take C strings. */
static inline char *fuzz_strndup(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);

  if (s == NULL)
    abort();
  if (n > 0)
    memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

#endif
