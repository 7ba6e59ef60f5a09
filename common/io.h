/*
 * io.h - file descriptor helpers shared by the core and the tools, and the
 * one reader of files whose contents the core trusts.
 *
 * Every file the core reads (the configuration, the aliases file, secret
 * and key files, the certificate, the CA bundle, cache entries) goes
 * through msoauth_file_read_at with a policy that says, for that file, who
 * may own it, which mode bits refuse it, whether a symbolic link is
 * followed, how large it may be and whether its bytes are secret. What
 * every policy shares: only a regular file is read (a FIFO, device,
 * socket or directory is refused, and the open never blocks on a FIFO),
 * the descriptor is close-on-exec and never a controlling terminal, the
 * checks apply to the opened file (fstat, no race with a rename), and a
 * file that changes size while read is refused.
 */
#ifndef MSOAUTH_IO_H
#define MSOAUTH_IO_H

#include <stddef.h>
#include <sys/stat.h>

#include "buf.h"

/* Writes all len bytes at p to fd, through short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int msoauth_write_all(int fd, const char *p, size_t len);

/* Who may own a file. */
enum msoauth_file_owner {
  MSOAUTH_OWNER_ANY = 0,      /* public data: a CA bundle, a certificate */
  MSOAUTH_OWNER_SELF_OR_ROOT, /* the effective user, or root */
  MSOAUTH_OWNER_SELF,         /* the effective user only */
};

/* Which permission bits make a file unusable. */
enum msoauth_file_mode {
  MSOAUTH_MODE_ANY = 0,
  MSOAUTH_MODE_NO_SHARED_WRITE, /* refused if group or others may write */
  MSOAUTH_MODE_PRIVATE,         /* refused if group or others have any bit */
};

struct msoauth_file_policy {
  enum msoauth_file_owner owner;
  enum msoauth_file_mode mode;
  int follow_symlinks; /* 0: a symbolic link is refused (O_NOFOLLOW) */
  size_t max;          /* most bytes the file may hold */
  int secret;          /* the bytes are secret: every copy is wiped */
};

/* Why a file was not read; the caller words the message. */
enum msoauth_file_problem {
  MSOAUTH_FILE_OK = 0,
  MSOAUTH_FILE_MISSING,     /* open: ENOENT */
  MSOAUTH_FILE_OPEN,        /* open failed otherwise (sys_errno) */
  MSOAUTH_FILE_SYMLINK,     /* a symbolic link, and the policy refuses one */
  MSOAUTH_FILE_STAT,        /* fstat failed (sys_errno) */
  MSOAUTH_FILE_NOT_REGULAR, /* a directory, FIFO, device or socket */
  MSOAUTH_FILE_OWNER,       /* an owner the policy refuses (st.st_uid) */
  MSOAUTH_FILE_MODE,        /* mode bits the policy refuses (st.st_mode) */
  MSOAUTH_FILE_TOO_LARGE,   /* more than policy->max bytes */
  MSOAUTH_FILE_READ,        /* read failed (sys_errno) */
  MSOAUTH_FILE_CHANGED,     /* its size changed while it was read */
  MSOAUTH_FILE_NOMEM,
};

struct msoauth_file {
  struct msoauth_buf data; /* the contents, NUL-terminated; wiped when
                            * the policy says secret */
  struct stat st;          /* the opened file's, from MSOAUTH_FILE_OWNER on */
  int sys_errno;           /* for OPEN, STAT and READ */
};

/*
 * Reads path, relative to dirfd when it is not absolute (AT_FDCWD for the
 * current directory), under policy. file is initialised here; on
 * MSOAUTH_FILE_OK file->data holds the contents, otherwise it is empty.
 * Either way the caller calls msoauth_file_free.
 */
enum msoauth_file_problem
msoauth_file_read_at(int dirfd, const char *path,
                     const struct msoauth_file_policy *policy,
                     struct msoauth_file *file);

/* The checks of msoauth_file_read_at without the reading: on
 * MSOAUTH_FILE_OK *fd_r is the opened file (close-on-exec, the caller's to
 * close), to be read later with msoauth_file_read_fd, as after a chroot;
 * otherwise *fd_r is -1. file->st is the opened file's; file->data stays
 * empty, and needs no msoauth_file_free. */
enum msoauth_file_problem
msoauth_file_open_at(int dirfd, const char *path,
                     const struct msoauth_file_policy *policy, int *fd_r,
                     struct msoauth_file *file);

/* Reads the whole file fd (from msoauth_file_open_at; its offset is
 * moved) under policy, checked again; as msoauth_file_read_at otherwise. */
enum msoauth_file_problem
msoauth_file_read_fd(int fd, const struct msoauth_file_policy *policy,
                     struct msoauth_file *file);

/* msoauth_file_read_at(AT_FDCWD, ...). */
enum msoauth_file_problem
msoauth_file_read(const char *path, const struct msoauth_file_policy *policy,
                  struct msoauth_file *file);

/* A short phrase for problem ("a symbolic link", "not a regular file"),
 * using file's errno where the problem has one. Static storage. */
const char *msoauth_file_why(enum msoauth_file_problem problem,
                             const struct msoauth_file *file);

/* Frees (wiping if secret) what file holds. */
void msoauth_file_free(struct msoauth_file *file);

#endif
