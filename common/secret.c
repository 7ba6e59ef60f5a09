/*
 * secret.c - secrets in memory and in files.
 */
#include "config_build.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "io.h"
#include "secret.h"

struct msoauth_secret {
  size_t len;
  char value[]; /* len bytes and a NUL */
};

/* explicit_bzero is memset that the compiler may not drop: a cached
 * login wipes kilobytes of tokens, and OPENSSL_cleanse goes byte by byte. */
void msoauth_wipe(void *p, size_t len) {
  if (p == NULL || len == 0)
    return;
#ifdef HAVE_EXPLICIT_BZERO
  explicit_bzero(p, len);
#else
  OPENSSL_cleanse(p, len);
#endif
}

void msoauth_free_wiped(char **s) {
  if (s == NULL || *s == NULL)
    return;
  msoauth_wipe(*s, strlen(*s));
  free(*s);
  *s = NULL;
}

msoauth_rc msoauth_secret_new(const char *value, size_t len,
                              struct msoauth_secret **secret_r) {
  struct msoauth_secret *secret;

  *secret_r = NULL;
  if (len > MSOAUTH_SECRET_MAX)
    return MSOAUTH_ERR_INVALID;
  secret = malloc(sizeof(*secret) + len + 1);
  if (secret == NULL)
    return MSOAUTH_ERR_NOMEM;
  secret->len = len;
  if (len > 0)
    memcpy(secret->value, value, len);
  secret->value[len] = '\0';
  *secret_r = secret;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_secret_from_str(const char *value,
                                   struct msoauth_secret **secret_r) {
  return msoauth_secret_new(value, strlen(value), secret_r);
}

msoauth_rc msoauth_secret_dup(const struct msoauth_secret *secret,
                              struct msoauth_secret **copy_r) {
  return msoauth_secret_new(secret->value, secret->len, copy_r);
}

const char *msoauth_secret_value(const struct msoauth_secret *secret) {
  return secret->value;
}

size_t msoauth_secret_len(const struct msoauth_secret *secret) {
  return secret->len;
}

int msoauth_secret_equal(const struct msoauth_secret *a,
                         const struct msoauth_secret *b) {
  if (a->len != b->len)
    return 0;
  return CRYPTO_memcmp(a->value, b->value, a->len) == 0;
}

int msoauth_secret_is_token(const struct msoauth_secret *secret) {
  for (size_t i = 0; i < secret->len; i++)
    if ((unsigned char)secret->value[i] <= 0x20 ||
        (unsigned char)secret->value[i] >= 0x7f)
      return 0;
  return 1;
}

void msoauth_secret_free(struct msoauth_secret **secret) {
  if (secret == NULL || *secret == NULL)
    return;
  msoauth_wipe(*secret, sizeof(**secret) + (*secret)->len + 1);
  free(*secret);
  *secret = NULL;
}

/* The rules of a secret file: a regular file of the effective user or
 * root, no access for group or others, no symbolic link. */
static const struct msoauth_file_policy secret_policy = {
    .owner = MSOAUTH_OWNER_SELF_OR_ROOT,
    .mode = MSOAUTH_MODE_PRIVATE,
    .follow_symlinks = 0,
    .max = MSOAUTH_SECRET_MAX,
    .secret = 1,
};

/* The message of one of msoauth_file_read's problems with a secret file. */
static msoauth_rc file_problem(enum msoauth_file_problem problem,
                               const struct msoauth_file *file,
                               const char *path, struct msoauth_err *err) {
  switch (problem) {
  case MSOAUTH_FILE_SYMLINK:
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: is a symbolic link",
                        path);
  case MSOAUTH_FILE_NOT_REGULAR:
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: not a regular file",
                        path);
  case MSOAUTH_FILE_MODE:
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "%s: readable or writable by group or others "
                        "(run: chmod 600 %s)",
                        path, path);
  case MSOAUTH_FILE_OWNER:
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "%s: owned by another user (uid %ld)", path,
                        (long)file->st.st_uid);
  case MSOAUTH_FILE_TOO_LARGE:
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: larger than %d bytes",
                        path, MSOAUTH_SECRET_MAX);
  case MSOAUTH_FILE_CHANGED:
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: changed while read",
                        path);
  case MSOAUTH_FILE_NOMEM:
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  default: /* cannot open, stat or read */
    return msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", path,
                        msoauth_file_why(problem, file));
  }
}

msoauth_rc msoauth_secret_read_file(const char *path,
                                    struct msoauth_secret **secret_r,
                                    struct msoauth_err *err) {
  struct msoauth_file file;
  enum msoauth_file_problem problem;
  const char *buf;
  size_t len;
  msoauth_rc rc;

  *secret_r = NULL;
  problem = msoauth_file_read(path, &secret_policy, &file);
  if (problem) {
    rc = file_problem(problem, &file, path, err);
    goto out;
  }
  buf = file.data.data;
  len = file.data.len;
  if (len > 0 && buf[len - 1] == '\n')
    len--;
  if (len > 0 && buf[len - 1] == '\r')
    len--;
  if (len == 0) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: empty", path);
    goto out;
  }
  if (memchr(buf, '\0', len) != NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: holds a NUL byte", path);
    goto out;
  }
  rc = msoauth_secret_new(buf, len, secret_r);
  if (rc)
    msoauth_fail(err, rc, "out of memory");
out:
  msoauth_file_free(&file);
  return rc;
}
