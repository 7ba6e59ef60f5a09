/*
 * secret.c - secrets in memory and in files.
 */
#include "config_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secret.h"

struct msoauth_secret {
  size_t len;
  char value[]; /* len bytes and a NUL */
};

void msoauth_wipe(void *p, size_t len) {
  if (p != NULL && len > 0)
    OPENSSL_cleanse(p, len);
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

/* Checks that fd is a regular file that only its owner can access. */
static msoauth_rc check_private_file(int fd, const char *path,
                                     struct msoauth_err *err) {
  struct stat st;

  if (fstat(fd, &st) != 0)
    return msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: not a regular file",
                        path);
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "%s: readable or writable by group or others "
                        "(run: chmod 600 %s)",
                        path, path);
  if (st.st_uid != geteuid() && st.st_uid != 0)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "%s: owned by another user (uid %ld)", path,
                        (long)st.st_uid);
  if (st.st_size > MSOAUTH_SECRET_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: larger than %d bytes",
                        path, MSOAUTH_SECRET_MAX);
  return MSOAUTH_OK;
}

/* Reads at most MSOAUTH_SECRET_MAX + 1 bytes of fd into buf. */
static msoauth_rc read_all(int fd, char *buf, size_t *len_r, const char *path,
                           struct msoauth_err *err) {
  size_t len = 0;

  for (;;) {
    ssize_t n = read(fd, buf + len, MSOAUTH_SECRET_MAX + 1 - len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", path,
                          strerror(errno));
    if (n == 0)
      break;
    len += (size_t)n;
    if (len > MSOAUTH_SECRET_MAX)
      return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: larger than %d bytes",
                          path, MSOAUTH_SECRET_MAX);
  }
  *len_r = len;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_secret_read_file(const char *path,
                                    struct msoauth_secret **secret_r,
                                    struct msoauth_err *err) {
  char *buf = NULL;
  size_t len = 0;
  int fd;
  msoauth_rc rc;

  *secret_r = NULL;
  /* O_NONBLOCK: a FIFO put in its place must not hang the caller. */
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return msoauth_fail(err, errno == ELOOP ? MSOAUTH_ERR_CONFIG : MSOAUTH_ERR_IO,
                        "%s: %s", path,
                        errno == ELOOP ? "is a symbolic link" : strerror(errno));
  rc = check_private_file(fd, path, err);
  if (rc)
    goto out;
  buf = malloc(MSOAUTH_SECRET_MAX + 1);
  if (buf == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  rc = read_all(fd, buf, &len, path, err);
  if (rc)
    goto out;
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
  if (buf != NULL) {
    msoauth_wipe(buf, MSOAUTH_SECRET_MAX + 1);
    free(buf);
  }
  close(fd);
  return rc;
}
