/*
 * log.h - logging to a sink the host provides (syslog, SASL's log callback,
 * stderr).
 *
 * The format string is checked by the compiler, and secrets live in
 * struct msoauth_secret, which no conversion prints: a secret cannot reach a
 * log line by accident.
 */
#ifndef MSOAUTH_LOG_H
#define MSOAUTH_LOG_H

enum msoauth_level {
  MSOAUTH_LOG_ERROR = 0,
  MSOAUTH_LOG_WARNING = 1,
  MSOAUTH_LOG_INFO = 2,
  MSOAUTH_LOG_DEBUG = 3,
};

typedef void (*msoauth_log_fn)(void *arg, enum msoauth_level level,
                               const char *msg);

struct msoauth_log {
  msoauth_log_fn fn;          /* NULL: messages are dropped */
  void *arg;                  /* passed to fn */
  enum msoauth_level level;   /* messages above this level are dropped */
};

/* Formats a message (truncated at 1 KiB) and hands it to the sink when
 * level is enabled. log may be NULL. */
void msoauth_log(const struct msoauth_log *log, enum msoauth_level level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses "error", "warning", "info" or "debug". Returns 0, or -1. */
int msoauth_level_parse(const char *name, enum msoauth_level *level_r);

/* A sink writing "msoauth: LEVEL: msg" lines to stderr (the CLI, tests). */
void msoauth_log_stderr(void *arg, enum msoauth_level level, const char *msg);

#define MSOAUTH_ERROR(log, ...) msoauth_log((log), MSOAUTH_LOG_ERROR, __VA_ARGS__)
#define MSOAUTH_WARN(log, ...) msoauth_log((log), MSOAUTH_LOG_WARNING, __VA_ARGS__)
#define MSOAUTH_INFO(log, ...) msoauth_log((log), MSOAUTH_LOG_INFO, __VA_ARGS__)
/* Debug lines carry the function name. */
#define MSOAUTH_DEBUG(log, fmt, ...)                                         \
  msoauth_log((log), MSOAUTH_LOG_DEBUG, "%s: " fmt, __func__, ##__VA_ARGS__)

#endif
