/*
 * io.c - file descriptor helpers, and the one reader of trusted files
 * (the rules are in io.h).
 */
#include "config_build.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "secret.h"

/* Bytes read per call into a stack buffer (wiped for secrets). */
#define IO_CHUNK 16384

int msoauth_write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Checks the opened file's fstat against policy. */
static enum msoauth_file_problem check(int fd,
                                       const struct msoauth_file_policy *policy,
                                       struct msoauth_file *file) {
  const struct stat *st = &file->st;

  if (fstat(fd, &file->st) != 0) {
    file->sys_errno = errno;
    return MSOAUTH_FILE_STAT;
  }
  if (!S_ISREG(st->st_mode))
    return MSOAUTH_FILE_NOT_REGULAR;
  if ((policy->owner == MSOAUTH_OWNER_SELF && st->st_uid != geteuid()) ||
      (policy->owner == MSOAUTH_OWNER_SELF_OR_ROOT && st->st_uid != 0 &&
       st->st_uid != geteuid()))
    return MSOAUTH_FILE_OWNER;
  if ((policy->mode == MSOAUTH_MODE_NO_SHARED_WRITE &&
       (st->st_mode & (S_IWGRP | S_IWOTH))) ||
      (policy->mode == MSOAUTH_MODE_PRIVATE &&
       (st->st_mode & (S_IRWXG | S_IRWXO))))
    return MSOAUTH_FILE_MODE;
  if (st->st_size < 0 || (unsigned long long)st->st_size > policy->max)
    return MSOAUTH_FILE_TOO_LARGE;
  return MSOAUTH_FILE_OK;
}

/* Reads fd to its end, expecting exactly size bytes: at most size + 1 are
 * ever read, so a file that grows cannot make the reader loop. */
static enum msoauth_file_problem read_body(int fd, size_t size,
                                           struct msoauth_file *file) {
  char chunk[IO_CHUNK];
  enum msoauth_file_problem problem = MSOAUTH_FILE_OK;

  for (;;) {
    size_t want = size + 1 - file->data.len;
    ssize_t n = read(fd, chunk, want < sizeof(chunk) ? want : sizeof(chunk));
    msoauth_rc rc;

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      file->sys_errno = errno;
      problem = MSOAUTH_FILE_READ;
      break;
    }
    if (n == 0)
      break;
    rc = msoauth_buf_add(&file->data, chunk, (size_t)n);
    if (rc) {
      problem =
          rc == MSOAUTH_ERR_NOMEM ? MSOAUTH_FILE_NOMEM : MSOAUTH_FILE_TOO_LARGE;
      break;
    }
    if (file->data.len > size) {
      problem = MSOAUTH_FILE_CHANGED;
      break;
    }
  }
  if (!problem && file->data.len != size)
    problem = MSOAUTH_FILE_CHANGED;
  if (!problem && file->data.data == NULL)
    /* An empty file: still a NUL-terminated, allocated buffer. */
    problem = msoauth_buf_add(&file->data, "", 0) ? MSOAUTH_FILE_NOMEM
                                                  : MSOAUTH_FILE_OK;
  if (file->data.wipe)
    msoauth_wipe(chunk, sizeof(chunk));
  return problem;
}

enum msoauth_file_problem
msoauth_file_open_at(int dirfd, const char *path,
                     const struct msoauth_file_policy *policy, int *fd_r,
                     struct msoauth_file *file) {
  /* O_NONBLOCK: a FIFO put in the file's place must not hang the caller;
   * it is refused as not regular after the open. */
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  enum msoauth_file_problem problem;
  int fd;

  *fd_r = -1;
  memset(&file->st, 0, sizeof(file->st));
  file->sys_errno = 0;
  msoauth_buf_init(&file->data, policy->max, policy->secret);
  if (!policy->follow_symlinks)
    flags |= O_NOFOLLOW;
  fd = openat(dirfd, path, flags);
  if (fd < 0) {
    file->sys_errno = errno;
    if (errno == ENOENT)
      return MSOAUTH_FILE_MISSING;
    return errno == ELOOP && !policy->follow_symlinks ? MSOAUTH_FILE_SYMLINK
                                                      : MSOAUTH_FILE_OPEN;
  }
  problem = check(fd, policy, file);
  if (problem)
    close(fd);
  else
    *fd_r = fd;
  return problem;
}

enum msoauth_file_problem
msoauth_file_read_fd(int fd, const struct msoauth_file_policy *policy,
                     struct msoauth_file *file) {
  enum msoauth_file_problem problem;

  file->sys_errno = 0;
  msoauth_buf_init(&file->data, policy->max, policy->secret);
  problem = check(fd, policy, file);
  if (!problem && lseek(fd, 0, SEEK_SET) != 0) {
    file->sys_errno = errno;
    problem = MSOAUTH_FILE_READ;
  }
  if (!problem)
    problem = read_body(fd, (size_t)file->st.st_size, file);
  if (problem)
    msoauth_buf_free(&file->data);
  return problem;
}

enum msoauth_file_problem
msoauth_file_read_at(int dirfd, const char *path,
                     const struct msoauth_file_policy *policy,
                     struct msoauth_file *file) {
  enum msoauth_file_problem problem;
  int fd;

  problem = msoauth_file_open_at(dirfd, path, policy, &fd, file);
  if (problem)
    return problem;
  problem = read_body(fd, (size_t)file->st.st_size, file);
  if (problem)
    msoauth_buf_free(&file->data);
  close(fd);
  return problem;
}

enum msoauth_file_problem
msoauth_file_read(const char *path, const struct msoauth_file_policy *policy,
                  struct msoauth_file *file) {
  return msoauth_file_read_at(AT_FDCWD, path, policy, file);
}

const char *msoauth_file_why(enum msoauth_file_problem problem,
                             const struct msoauth_file *file) {
  switch (problem) {
  case MSOAUTH_FILE_OK:
    return "no problem";
  case MSOAUTH_FILE_MISSING:
  case MSOAUTH_FILE_OPEN:
  case MSOAUTH_FILE_STAT:
  case MSOAUTH_FILE_READ:
    return strerror(file->sys_errno);
  case MSOAUTH_FILE_SYMLINK:
    return "a symbolic link";
  case MSOAUTH_FILE_NOT_REGULAR:
    return "not a regular file";
  case MSOAUTH_FILE_OWNER:
    return "owned by another user";
  case MSOAUTH_FILE_MODE:
    return "accessible by group or others";
  case MSOAUTH_FILE_TOO_LARGE:
    return "too large";
  case MSOAUTH_FILE_CHANGED:
    return "changed while read";
  case MSOAUTH_FILE_NOMEM:
    return "out of memory";
  }
  return "unknown problem";
}

void msoauth_file_free(struct msoauth_file *file) {
  msoauth_buf_free(&file->data);
}
