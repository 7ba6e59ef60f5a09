/*
 * ini.c - the line reader of msoauth.conf and of the aliases file: lines,
 * comments, "[NAME]" headers and "key = value" pairs, with line numbers.
 *
 * It knows no key and keeps no section: the caller decides what a header
 * or a pair means. Values are never written into a message: one of them
 * may be a secret.
 */
#include "config_build.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "ini.h"
#include "io.h"

#define MESSAGE_MAX 1024

void msoauth_problem(struct msoauth_problems *p, msoauth_rc rc, const char *fmt,
                     ...) {
  char msg[MESSAGE_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  MSOAUTH_ERROR(p->log, "%s", msg);
  if (p->rc == MSOAUTH_OK) {
    p->rc = rc;
    msoauth_fail(p->err, rc, "%s", msg);
  }
}

msoauth_rc msoauth_problem_nomem(struct msoauth_problems *p, const char *path) {
  if (!p->nomem)
    msoauth_problem(p, MSOAUTH_ERR_NOMEM, "%s: out of memory", path);
  p->nomem = 1;
  return MSOAUTH_ERR_NOMEM;
}

static int is_blank(int c) {
  return c == ' ' || c == '\t';
}

static int is_name_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Trims blanks on both sides, in place. */
static char *trim(char *s) {
  size_t len;

  while (is_blank((unsigned char)*s))
    s++;
  len = strlen(s);
  while (len > 0 && is_blank((unsigned char)s[len - 1]))
    len--;
  s[len] = '\0';
  return s;
}

int msoauth_ini_name_ok(const char *name, size_t len) {
  if (len == 0 || len > MSOAUTH_INI_NAME_MAX)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!is_name_char((unsigned char)name[i]))
      return 0;
  return 1;
}

void msoauth_ini_lines(struct msoauth_problems *p, const char *path, char *text,
                       size_t len, int (*fn)(void *arg, char *line, int n),
                       void *arg) {
  char *s = text, *end = text + len;
  int line = 0;

  while (s < end) {
    char *nl = memchr(s, '\n', (size_t)(end - s));
    size_t n = (size_t)((nl != NULL ? nl : end) - s);

    line++;
    if (n > 0 && s[n - 1] == '\r')
      n--;
    if (n > MSOAUTH_CONFIG_LINE_MAX) {
      msoauth_problem(p, MSOAUTH_ERR_CONFIG, "%s:%d: line longer than %d bytes",
                      path, line, MSOAUTH_CONFIG_LINE_MAX);
    } else if (memchr(s, '\0', n) != NULL) {
      msoauth_problem(p, MSOAUTH_ERR_CONFIG, "%s:%d: NUL byte in line", path,
                      line);
    } else {
      char *t;

      s[n] = '\0';
      t = trim(s);
      if (*t != '\0' && *t != '#' && fn(arg, t, line) != 0)
        return;
    }
    s = nl != NULL ? nl + 1 : end;
  }
}

struct parse {
  struct msoauth_problems *p;
  const char *path;
  const struct msoauth_ini_handler *h;
  void *arg;
};

/* "[NAME]". The handler sees a malformed header first: it may have a
 * reason to stop reading that comes before this one. */
static int parse_header(struct parse *ps, char *s, int line) {
  size_t len = strlen(s);
  int ok = len >= 2 && s[len - 1] == ']' && msoauth_ini_name_ok(s + 1, len - 2);
  int stop;

  if (ok)
    s[len - 1] = '\0';
  stop = ps->h->section(ps->arg, ok ? s + 1 : NULL, line);
  if (!ok && !stop)
    msoauth_problem(ps->p, MSOAUTH_ERR_CONFIG,
                    "%s:%d: bad section header (expected [NAME], NAME of 1 "
                    "to %d letters, digits, '_', '.' or '-')",
                    ps->path, line, MSOAUTH_INI_NAME_MAX);
  return stop;
}

static int parse_line(void *arg, char *s, int line) {
  struct parse *ps = arg;
  char *eq, *key;

  if (*s == '[')
    return parse_header(ps, s, line);
  eq = strchr(s, '=');
  if (eq == NULL) {
    msoauth_problem(ps->p, MSOAUTH_ERR_CONFIG,
                    "%s:%d: no '=' (expected key = value)", ps->path, line);
    return 0;
  }
  *eq = '\0';
  key = trim(s);
  if (*key == '\0') {
    msoauth_problem(ps->p, MSOAUTH_ERR_CONFIG, "%s:%d: empty key", ps->path,
                    line);
    return 0;
  }
  return ps->h->pair(ps->arg, key, trim(eq + 1), line);
}

void msoauth_ini_parse(struct msoauth_problems *p, const char *path, char *text,
                       size_t len, const struct msoauth_ini_handler *h,
                       void *arg) {
  struct parse ps = {.p = p, .path = path, .h = h, .arg = arg};

  msoauth_ini_lines(p, path, text, len, parse_line, &ps);
}

msoauth_rc msoauth_ini_read_file(const char *path, struct msoauth_buf *text,
                                 mode_t *mode_r, struct msoauth_err *err) {
  const struct msoauth_file_policy policy = {
      .owner = MSOAUTH_OWNER_SELF_OR_ROOT,
      .mode = MSOAUTH_MODE_NO_SHARED_WRITE,
      .follow_symlinks = 1,
      .max = MSOAUTH_CONFIG_FILE_MAX,
      .secret = text->wipe,
  };
  struct msoauth_file file;
  enum msoauth_file_problem problem;
  msoauth_rc rc = MSOAUTH_OK;

  problem = msoauth_file_read(path, &policy, &file);
  switch (problem) {
  case MSOAUTH_FILE_OK:
    *mode_r = file.st.st_mode;
    msoauth_buf_free(text);
    *text = file.data;
    msoauth_buf_init(&file.data, MSOAUTH_CONFIG_FILE_MAX, policy.secret);
    break;
  case MSOAUTH_FILE_NOT_REGULAR:
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: not a regular file", path);
    break;
  case MSOAUTH_FILE_OWNER:
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: owned by uid %ld, not by root or the running user",
                      path, (long)file.st.st_uid);
    break;
  case MSOAUTH_FILE_MODE:
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: writable by group or others (run: chmod go-w %s)",
                      path, path);
    break;
  case MSOAUTH_FILE_TOO_LARGE:
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: larger than %d bytes", path,
                      MSOAUTH_CONFIG_FILE_MAX);
    break;
  case MSOAUTH_FILE_CHANGED:
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: changed while read", path);
    break;
  case MSOAUTH_FILE_NOMEM:
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "%s: out of memory", path);
    break;
  default: /* cannot open, stat or read */
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", path,
                      msoauth_file_why(problem, &file));
    break;
  }
  msoauth_file_free(&file);
  return rc;
}
