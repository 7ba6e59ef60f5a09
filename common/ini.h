/*
 * ini.h - the line reader of msoauth.conf and of the aliases file.
 *
 * Splits a file's text into numbered lines (a CR before the LF dropped,
 * long lines and NUL bytes refused), trims them, skips blank lines and
 * "# comments", and for msoauth.conf cuts "[NAME]" headers and
 * "key = value" lines. It also reads the file, with the checks a
 * configuration file gets (owner, mode, size). It knows no key: what a section
 * or a pair means is the caller's. Problems are reported the way the
 * configuration reports all of its own: logged one by one, the first kept,
 * reading goes on, so an administrator sees them all at once.
 */
#ifndef MSOAUTH_INI_H
#define MSOAUTH_INI_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "log.h"
#include "result.h"

/*
 * Opens and reads path: a regular file owned by root or the effective user,
 * not writable by group or others, at most MSOAUTH_CONFIG_FILE_MAX bytes.
 * A symbolic link is followed (msoauth.conf(5) says so: the file may be
 * kept elsewhere and linked). text must be initialised and empty: it
 * receives the contents, wiped when freed if text->wipe (a client_secret
 * may be in it). The file's mode goes to *mode_r.
 */
msoauth_rc msoauth_ini_read_file(const char *path, struct msoauth_buf *text,
                                 mode_t *mode_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Longest section name. */
#define MSOAUTH_INI_NAME_MAX 64

/* The problems found while reading: each logged to log (may be NULL), the
 * first one kept in rc and err (may be NULL). Zero it, then set log and
 * err. */
struct msoauth_problems {
  const struct msoauth_log *log;
  struct msoauth_err *err;
  msoauth_rc rc; /* the first problem; MSOAUTH_OK while there is none */
  int nomem;     /* out of memory was reported */
};

/* Logs a problem and keeps it when it is the first. */
void msoauth_problem(struct msoauth_problems *p, msoauth_rc rc, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

/* Reports "PATH: out of memory" once; returns MSOAUTH_ERR_NOMEM. */
msoauth_rc msoauth_problem_nomem(struct msoauth_problems *p, const char *path);

/* Whether the len bytes of name are a section name: 1 to
 * MSOAUTH_INI_NAME_MAX letters, digits, '_', '.' or '-'. */
int msoauth_ini_name_ok(const char *name, size_t len);

/*
 * Calls fn on each line of text (len bytes, mutable, NUL-terminated) that
 * is neither blank nor a comment, trimmed and NUL-terminated in place, with
 * its number. A line longer than MSOAUTH_CONFIG_LINE_MAX bytes or holding a
 * NUL byte is a problem ("PATH:LINE: ...") and skipped. Stops when fn
 * returns nonzero.
 */
void msoauth_ini_lines(struct msoauth_problems *p, const char *path, char *text,
                       size_t len, int (*fn)(void *arg, char *line, int n),
                       void *arg);

/* What msoauth_ini_parse calls; a nonzero return stops the reading. */
struct msoauth_ini_handler {
  /* A "[NAME]" line. name is NULL for a header that is not [NAME] (which
   * is then reported, unless this stopped the reading): the lines after it
   * belong to no section that can be chosen. */
  int (*section)(void *arg, const char *name, int line);
  /* A "key = value" line, both trimmed; key is not empty, value may be. */
  int (*pair)(void *arg, char *key, char *value, int line);
};

/* Reads text as msoauth_ini_lines does, each line a header or a pair; a
 * line without '=' or with an empty key is a problem. */
void msoauth_ini_parse(struct msoauth_problems *p, const char *path, char *text,
                       size_t len, const struct msoauth_ini_handler *h,
                       void *arg);

#endif
