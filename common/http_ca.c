/*
 * http_ca.c - the CA bundle of an HTTP handle (http_ca.h): opened with the
 * handle, read by its first request.
 */
#include "config_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_ca.h"
#include "io.h"

/* Largest CA bundle read into memory (Debian's is about 220 KiB). */
#define CA_MAX (4 * 1024 * 1024)
/* What CURLOPT_CAINFO_BLOB needs to find: it takes PEM only. */
#define CA_MARK "-----BEGIN CERTIFICATE-----"
#define CA_MARK_LEN (sizeof(CA_MARK) - 1)

/* The bundle is public: any owner, any mode, and a symbolic link is
 * followed (Debian's certificates are links). */
static const struct msoauth_file_policy ca_policy = {
    .owner = MSOAUTH_OWNER_ANY,
    .mode = MSOAUTH_MODE_ANY,
    .follow_symlinks = 1,
    .max = CA_MAX,
    .secret = 0,
};

/* Words problem, met on the bundle at path, in err. */
static msoauth_rc ca_fail(struct msoauth_err *err, const char *path,
                          enum msoauth_file_problem problem,
                          const struct msoauth_file *file) {
  switch (problem) {
  case MSOAUTH_FILE_MISSING:
  case MSOAUTH_FILE_OPEN:
  case MSOAUTH_FILE_SYMLINK:
    return msoauth_fail(err, MSOAUTH_ERR_IO, "cannot open the CA file %s: %s",
                        path, strerror(file->sys_errno));
  case MSOAUTH_FILE_READ:
  case MSOAUTH_FILE_CHANGED:
    return msoauth_fail(
        err, MSOAUTH_ERR_IO, "cannot read the CA file %s: %s", path,
        file->sys_errno ? strerror(file->sys_errno) : "it changed while read");
  case MSOAUTH_FILE_TOO_LARGE:
    return msoauth_fail(err, MSOAUTH_ERR_IO,
                        "the CA file %s is larger than %d bytes", path, CA_MAX);
  case MSOAUTH_FILE_NOMEM:
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  default: /* fstat failed, not a regular file */
    return msoauth_fail(err, MSOAUTH_ERR_IO, "the CA file %s is not a file",
                        path);
  }
}

/* Whether the open file fd holds CA_MARK, read in chunks kept nowhere. */
static int holds_pem(int fd) {
  char chunk[16384];
  size_t keep = 0;
  off_t off = 0;
  ssize_t n;

  while ((n = pread(fd, chunk + keep, sizeof(chunk) - keep, off)) > 0) {
    size_t have = keep + (size_t)n;

    off += n;
    if (memmem(chunk, have, CA_MARK, CA_MARK_LEN) != NULL)
      return 1;
    /* A mark cut at the chunk's end is found with the next one. */
    keep = have < CA_MARK_LEN - 1 ? have : CA_MARK_LEN - 1;
    memmove(chunk, chunk + have - keep, keep);
  }
  return 0;
}

msoauth_rc msoauth_http_ca_open(struct msoauth_http_ca *ca, const char *file,
                                int dir_configured,
                                const struct msoauth_log *log,
                                struct msoauth_err *err) {
  const char *path = file != NULL ? file : MSOAUTH_CA_BUNDLE;
  enum msoauth_file_problem problem;
  struct msoauth_file f;

  memset(ca, 0, sizeof(*ca));
  ca->fd = -1;
  problem = msoauth_file_open_at(AT_FDCWD, path, &ca_policy, &ca->fd, &f);
  if (problem && file == NULL && dir_configured) {
    /* No default bundle, but a CA directory was configured: use it alone. */
    MSOAUTH_DEBUG(log, "no CA bundle at %s: only the CA directory is used",
                  path);
    return MSOAUTH_OK;
  }
  if (problem)
    return ca_fail(err, path, problem, &f);
  ca->dev = f.st.st_dev;
  ca->ino = f.st.st_ino;
  ca->file = strdup(path);
  if (ca->file == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  /* Said now, not at the first handshake. */
  if (!holds_pem(ca->fd))
    return msoauth_fail(err, MSOAUTH_ERR_IO,
                        "the CA file %s holds no PEM certificate", path);
  return MSOAUTH_OK;
}

/* Whether ca->fd is still the file that was opened. */
static int still_ours(const struct msoauth_http_ca *ca) {
  struct stat st;

  return fstat(ca->fd, &st) == 0 && st.st_dev == ca->dev &&
         st.st_ino == ca->ino;
}

msoauth_rc msoauth_http_ca_read(struct msoauth_http_ca *ca,
                                struct msoauth_err *err) {
  enum msoauth_file_problem problem;
  struct msoauth_file f;

  if (ca->pem != NULL || ca->file == NULL)
    return MSOAUTH_OK;
  if (ca->fd >= 0 && still_ours(ca)) {
    problem = msoauth_file_read_fd(ca->fd, &ca_policy, &f);
    close(ca->fd);
  } else {
    problem = msoauth_file_read(ca->file, &ca_policy, &f);
  }
  ca->fd = -1; /* closed, or no longer ours to close */
  if (problem) {
    msoauth_rc rc = ca_fail(err, ca->file, problem, &f);

    msoauth_file_free(&f);
    return rc;
  }
  if (memmem(f.data.data, f.data.len, CA_MARK, CA_MARK_LEN) == NULL) {
    msoauth_file_free(&f);
    return msoauth_fail(err, MSOAUTH_ERR_IO,
                        "the CA file %s holds no PEM certificate", ca->file);
  }
  ca->len = f.data.len;
  ca->pem = msoauth_buf_take(&f.data);
  msoauth_file_free(&f);
  return MSOAUTH_OK;
}

void msoauth_http_ca_free(struct msoauth_http_ca *ca) {
  if (ca->fd >= 0 && still_ours(ca))
    close(ca->fd);
  ca->fd = -1;
  free(ca->pem);
  ca->pem = NULL;
  free(ca->file);
  ca->file = NULL;
}
