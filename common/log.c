/*
 * log.c - formatting log lines for the host's sink.
 */
#include "config_build.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define LOG_LINE_MAX 1024

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void msoauth_log(const struct msoauth_log *log, enum msoauth_level level,
                 const char *fmt, ...) {
  char line[LOG_LINE_MAX];
  va_list ap;

  if (log == NULL || log->fn == NULL || level > log->level)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  log->fn(log->arg, level, line);
}

int msoauth_level_parse(const char *name, enum msoauth_level *level_r) {
  for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *level_r = (enum msoauth_level)i;
      return 0;
    }
  }
  return -1;
}

void msoauth_log_stderr(void *arg, enum msoauth_level level, const char *msg) {
  (void)arg;
  fprintf(stderr, "msoauth: %s: %s\n", level_names[level], msg);
}
