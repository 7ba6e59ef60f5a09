/*
 * cache_file.c - the file backend of the token cache.
 *
 * One directory, opened once and used by descriptor afterwards (a caller may
 * chroot). Per entry: STEM.json (the entry, mode 0600, replaced by rename),
 * STEM.lock (flock'ed, never deleted: deleting a lock file races with its
 * next user) and short-lived STEM.tmp.PID.RANDOM files, where STEM is the
 * hex SHA-256 of the key. Files that are not what this code writes are
 * logged and ignored, never trusted.
 *
 * Only the directory's owner writes: root may hold another user's
 * directory open (the SASL plugin, initialised as root in Postfix before
 * smtp becomes postfix), but creates, replaces and removes nothing there
 * until it has become that user; and nobody replaces or removes a file of
 * another owner.
 */
#include "config_build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cache_copy.h"
#include "cache_int.h"
#include "clock.h"
#include "io.h"

/* Hex SHA-256. */
#define STEM_LEN 64
/* Temporary files older than this were left by a writer that died. */
#define STALE_TMP_SECONDS 60
/* Lock polling: the first and the longest sleep. */
#define LOCK_SLEEP_MIN_MS 1
#define LOCK_SLEEP_MAX_MS 16

/* STEM.tmp.PID.RANDOM fits easily. */
#define NAME_MAX_LEN 128

struct file_cache {
  int dirfd;
  char *dir; /* for messages only */
  uid_t dir_uid;    /* the directory's owner, the only writer */
  int tidy_pending; /* stale temporary files not yet looked for */
  struct msoauth_copies *copies; /* entries as read (NULL: none kept) */
  struct msoauth_log log;
};

struct file_lock {
  int fd;
};

/* ------------------------------------------------------------ names */

static const char hex_digits[] = "0123456789abcdef";

static msoauth_rc key_stem(const struct msoauth_cache_key *key,
                           char stem[STEM_LEN + 1], struct msoauth_err *err) {
  char *text = NULL;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  size_t len;
  msoauth_rc rc = MSOAUTH_OK;

  len = strlen(key->authority) + strlen(key->tenant) + strlen(key->client_id) +
        strlen(key->identity) + 4;
  text = malloc(len);
  if (text == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  snprintf(text, len, "%s\n%s\n%s\n%s", key->authority, key->tenant,
           key->client_id, key->identity);
  if (!EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) ||
      md_len * 2 != STEM_LEN) {
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "SHA-256 failed");
    goto out;
  }
  for (unsigned int i = 0; i < md_len; i++) {
    stem[2 * i] = hex_digits[md[i] >> 4];
    stem[2 * i + 1] = hex_digits[md[i] & 0xf];
  }
  stem[STEM_LEN] = '\0';
out:
  free(text);
  return rc;
}

/* STEM + suffix into name[NAME_MAX_LEN]. */
static msoauth_rc key_name(const struct msoauth_cache_key *key,
                           const char *suffix, char name[NAME_MAX_LEN],
                           struct msoauth_err *err) {
  char stem[STEM_LEN + 1];
  msoauth_rc rc = key_stem(key, stem, err);

  if (rc)
    return rc;
  snprintf(name, NAME_MAX_LEN, "%s%s", stem, suffix);
  return MSOAUTH_OK;
}

/* Whether name is STEM followed by suffix (suffix_len bytes), and, with
 * exact, nothing more. */
static int has_stem(const char *name, const char *suffix, int exact) {
  size_t len = strlen(name), slen = strlen(suffix);

  if (len < STEM_LEN + slen || (exact && len != STEM_LEN + slen))
    return 0;
  for (size_t i = 0; i < STEM_LEN; i++) {
    if (strchr(hex_digits, name[i]) == NULL || name[i] == '\0')
      return 0;
  }
  return memcmp(name + STEM_LEN, suffix, slen) == 0;
}

/* ------------------------------------------------------------ owners */

/* "name" of uid for messages, or "unknown user". */
static const char *user_name(uid_t uid, char *buf, size_t size) {
  struct passwd pw, *found = NULL;

  if (getpwuid_r(uid, &pw, buf, size, &found) != 0 || found == NULL)
    return "unknown user";
  return found->pw_name;
}

static void remove_stale(struct file_cache *fc);

/* Whether this process may write in the directory: only as its owner. */
static msoauth_rc check_writer(struct file_cache *fc,
                               struct msoauth_err *err) {
  char name[256];

  if (geteuid() != fc->dir_uid)
    return msoauth_fail(err, MSOAUTH_ERR_IO,
                        "cache_dir %s belongs to uid %ld (%s): nothing is "
                        "written there as uid %ld",
                        fc->dir, (long)fc->dir_uid,
                        user_name(fc->dir_uid, name, sizeof(name)),
                        (long)geteuid());
  /* Opened by root for its owner: tidy up now that the owner writes. */
  if (__atomic_exchange_n(&fc->tidy_pending, 0, __ATOMIC_RELAXED))
    remove_stale(fc);
  return MSOAUTH_OK;
}

/* Refuses to replace or remove the file name of another owner: a root
 * run must never take a user's entry away (Postfix's rotated refresh
 * token would be gone for good). Called under the entry's lock. */
static msoauth_rc check_target(struct file_cache *fc, const char *name,
                               const char *what, struct msoauth_err *err) {
  struct stat st;
  char user[256];

  if (fstatat(fc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? MSOAUTH_OK
                           : msoauth_fail(err, MSOAUTH_ERR_IO, "%s/%s: %s",
                                          fc->dir, name, strerror(errno));
  if (st.st_uid != geteuid())
    return msoauth_fail(err, MSOAUTH_ERR_IO,
                        "cache file %s/%s belongs to uid %ld (%s): not %s",
                        fc->dir, name, (long)st.st_uid,
                        user_name(st.st_uid, user, sizeof(user)), what);
  return MSOAUTH_OK;
}

/* ------------------------------------------------------------ reading */

/* What a cache file must be: the effective user's, private, no symbolic
 * link, at most MSOAUTH_CACHE_ENTRY_MAX bytes; it holds tokens. */
static const struct msoauth_file_policy entry_policy = {
    .owner = MSOAUTH_OWNER_SELF,
    .mode = MSOAUTH_MODE_PRIVATE,
    .follow_symlinks = 0,
    .max = MSOAUTH_CACHE_ENTRY_MAX,
    .secret = 1,
};

/*
 * Reads and parses the entry file name. MSOAUTH_ERR_NOT_FOUND when missing
 * (silently) or when it cannot be trusted (logged). entry is initialised
 * here; stored_r as with msoauth_cache_entry_parse; st_r, when not NULL,
 * gets the opened file's fstat.
 */
static msoauth_rc read_entry(struct file_cache *fc, const char *name,
                             const struct msoauth_cache_key *expect,
                             struct msoauth_cache_entry *entry,
                             char *stored_r[4], struct stat *st_r,
                             struct msoauth_err *err) {
  struct msoauth_err perr;
  struct msoauth_file file;
  enum msoauth_file_problem problem;
  const char *why = NULL;
  msoauth_rc rc = MSOAUTH_ERR_NOT_FOUND;

  msoauth_cache_entry_init(entry);
  msoauth_err_clear(&perr);
  problem = msoauth_file_read_at(fc->dirfd, name, &entry_policy, &file);
  if (problem == MSOAUTH_FILE_MISSING) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOT_FOUND, "no cache entry");
    goto out;
  }
  if (problem == MSOAUTH_FILE_NOMEM) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (problem) {
    why = msoauth_file_why(problem, &file);
    goto out;
  }
  rc = msoauth_cache_entry_parse(file.data.data, file.data.len, expect, entry,
                                 stored_r, &perr);
  if (st_r != NULL)
    *st_r = file.st;
  if (rc == MSOAUTH_ERR_PROTOCOL) {
    why = perr.detail;
    rc = MSOAUTH_ERR_NOT_FOUND;
  } else if (rc) {
    msoauth_fail(err, rc, "%s", perr.detail);
  }
out:
  if (why != NULL) {
    MSOAUTH_WARN(&fc->log, "cache file %s/%s ignored: %s", fc->dir, name, why);
    msoauth_fail(err, MSOAUTH_ERR_NOT_FOUND, "cache entry ignored");
  }
  msoauth_file_free(&file);
  return rc;
}

static msoauth_rc file_get(void *state, const struct msoauth_cache_key *key,
                           struct msoauth_cache_entry *entry,
                           struct msoauth_err *err) {
  struct file_cache *fc = state;
  char name[NAME_MAX_LEN];
  struct stat st;
  msoauth_rc rc;

  msoauth_cache_entry_init(entry);
  /* The file as it was when last read here: its entry, not parsed again. */
  if (msoauth_copies_name(fc->copies, key, name, sizeof(name))) {
    if (fstatat(fc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      msoauth_copies_drop(fc->copies, key);
    else if (msoauth_copies_get(fc->copies, key, &st, entry))
      return MSOAUTH_OK;
  }
  rc = key_name(key, ".json", name, err);
  if (rc)
    return rc;
  rc = read_entry(fc, name, key, entry, NULL, &st, err);
  if (!rc)
    msoauth_copies_put(fc->copies, key, name, &st, entry);
  return rc;
}

/* ------------------------------------------------------------ locks */

/* Polls flock until it succeeds or deadline_ms passes. */
static msoauth_rc wait_lock(int fd, long long deadline_ms,
                            struct msoauth_err *err) {
  long long delay = LOCK_SLEEP_MIN_MS;

  for (;;) {
    long long now;

    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return MSOAUTH_OK;
    if (errno == EINTR)
      continue;
    if (errno != EWOULDBLOCK)
      return msoauth_fail(err, MSOAUTH_ERR_IO, "cannot lock a cache entry: %s",
                          strerror(errno));
    now = msoauth_now_ms();
    if (now >= deadline_ms)
      return msoauth_fail(err, MSOAUTH_ERR_TIMEOUT,
                          "timed out waiting for the cache entry's lock");
    msoauth_sleep_ms(delay < deadline_ms - now ? delay : deadline_ms - now);
    if (delay < LOCK_SLEEP_MAX_MS)
      delay *= 2;
  }
}

static msoauth_rc file_lock(void *state, const struct msoauth_cache_key *key,
                            long long deadline_ms, void **lock_r,
                            struct msoauth_err *err) {
  struct file_cache *fc = state;
  struct file_lock *lock = NULL;
  char name[NAME_MAX_LEN];
  struct stat st;
  int fd = -1;
  msoauth_rc rc;

  *lock_r = NULL;
  rc = check_writer(fc, err);
  if (!rc)
    rc = key_name(key, ".lock", name, err);
  if (rc)
    return rc;
  fd = openat(fc->dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s/%s: %s", fc->dir, name,
                      errno == ELOOP ? "a symbolic link" : strerror(errno));
    goto out;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s/%s: not a regular file",
                      fc->dir, name);
    goto out;
  }
  /* A lock file of another owner (left by a run as root) is no lock of
   * ours: without one, nothing is stored (a token is still used). */
  if (st.st_uid != geteuid()) {
    char user[256];

    rc = msoauth_fail(err, MSOAUTH_ERR_IO,
                      "cache lock %s/%s belongs to uid %ld (%s), not to uid "
                      "%ld: no token is stored until it is removed",
                      fc->dir, name, (long)st.st_uid,
                      user_name(st.st_uid, user, sizeof(user)),
                      (long)geteuid());
    goto out;
  }
  rc = wait_lock(fd, deadline_ms, err);
  if (rc)
    goto out;
  lock = malloc(sizeof(*lock));
  if (lock == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  lock->fd = fd;
  fd = -1;
  *lock_r = lock;
out:
  if (fd >= 0)
    close(fd); /* releases the lock, if taken */
  return rc;
}

static void file_unlock(void *state, void *handle) {
  struct file_lock *lock = handle;

  (void)state;
  if (lock == NULL)
    return;
  flock(lock->fd, LOCK_UN);
  close(lock->fd);
  free(lock);
}

/* ------------------------------------------------------------ writing */

/* A fresh temporary name for stem. */
static msoauth_rc tmp_name(const char *stem, char name[NAME_MAX_LEN],
                           struct msoauth_err *err) {
  unsigned char rnd[8];
  char hex[2 * sizeof(rnd) + 1];

  if (RAND_bytes(rnd, sizeof(rnd)) != 1)
    return msoauth_fail(err, MSOAUTH_ERR_IO, "no random bytes");
  for (size_t i = 0; i < sizeof(rnd); i++) {
    hex[2 * i] = hex_digits[rnd[i] >> 4];
    hex[2 * i + 1] = hex_digits[rnd[i] & 0xf];
  }
  hex[sizeof(hex) - 1] = '\0';
  snprintf(name, NAME_MAX_LEN, "%s.tmp.%ld.%s", stem, (long)getpid(), hex);
  return MSOAUTH_OK;
}

/* Writes text to the new file tmp, flushed to disk; removes it again on
 * failure. */
static msoauth_rc write_tmp(struct file_cache *fc, const char *tmp,
                            const char *text, struct msoauth_err *err) {
  int fd, saved;
  msoauth_rc rc = MSOAUTH_OK;

  fd = openat(fc->dirfd, tmp,
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return msoauth_fail(err, MSOAUTH_ERR_IO, "%s/%s: %s", fc->dir, tmp,
                        strerror(errno));
  /* The umask may have taken bits; the mode must be exactly 0600. */
  if (fchmod(fd, 0600) != 0 || msoauth_write_all(fd, text, strlen(text)) != 0 ||
      fsync(fd) != 0)
    rc = MSOAUTH_ERR_IO;
  saved = errno;
  if (close(fd) != 0 && !rc) {
    rc = MSOAUTH_ERR_IO;
    saved = errno;
  }
  if (rc) {
    unlinkat(fc->dirfd, tmp, 0);
    return msoauth_fail(err, rc, "%s/%s: %s", fc->dir, tmp, strerror(saved));
  }
  return MSOAUTH_OK;
}

static msoauth_rc file_put(void *state, const struct msoauth_cache_key *key,
                           const struct msoauth_cache_entry *entry,
                           struct msoauth_err *err) {
  struct file_cache *fc = state;
  char stem[STEM_LEN + 1], name[NAME_MAX_LEN], tmp[NAME_MAX_LEN];
  char *text = NULL;
  int created = 0;
  msoauth_rc rc;

  rc = check_writer(fc, err);
  if (!rc)
    rc = key_stem(key, stem, err);
  if (rc)
    return rc;
  msoauth_copies_drop(fc->copies, key);
  snprintf(name, sizeof(name), "%s.json", stem);
  rc = msoauth_cache_entry_format(key, entry, (long long)time(NULL), &text);
  if (rc) {
    rc = msoauth_fail(err, rc, "cannot serialise the cache entry");
    goto out;
  }
  rc = tmp_name(stem, tmp, err);
  if (rc)
    goto out;
  rc = write_tmp(fc, tmp, text, err);
  if (rc)
    goto out;
  created = 1;
  rc = check_target(fc, name, "replaced", err);
  if (rc)
    goto out;
  if (renameat(fc->dirfd, tmp, fc->dirfd, name) != 0) {
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s/%s: %s", fc->dir, name,
                      strerror(errno));
    goto out;
  }
  created = 0;
  /* The rename itself must reach the disk. */
  if (fsync(fc->dirfd) != 0 && errno != EINVAL)
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", fc->dir, strerror(errno));
out:
  /* The old entry stays as it was. */
  if (created)
    unlinkat(fc->dirfd, tmp, 0);
  msoauth_free_wiped(&text);
  return rc;
}

static msoauth_rc file_forget(void *state, const struct msoauth_cache_key *key,
                              struct msoauth_err *err) {
  struct file_cache *fc = state;
  char name[NAME_MAX_LEN];
  msoauth_rc rc;

  rc = check_writer(fc, err);
  if (!rc)
    rc = key_name(key, ".json", name, err);
  if (!rc)
    rc = check_target(fc, name, "removed", err);
  if (rc)
    return rc;
  msoauth_copies_drop(fc->copies, key);
  if (unlinkat(fc->dirfd, name, 0) == 0)
    return MSOAUTH_OK;
  if (errno == ENOENT)
    return msoauth_fail(err, MSOAUTH_ERR_NOT_FOUND, "no cache entry");
  return msoauth_fail(err, MSOAUTH_ERR_IO, "%s/%s: %s", fc->dir, name,
                      strerror(errno));
}

/* ------------------------------------------------------------ listing */

/* Calls fn for the entry file name when it is valid and where its key
 * says it belongs. */
static msoauth_rc list_one(struct file_cache *fc, const char *name,
                           msoauth_cache_list_fn fn, void *arg,
                           struct msoauth_err *err) {
  struct msoauth_cache_entry entry;
  struct msoauth_cache_info info;
  struct msoauth_cache_key key;
  char *stored[4] = {NULL, NULL, NULL, NULL};
  char expected[NAME_MAX_LEN];
  msoauth_rc rc;

  rc = read_entry(fc, name, NULL, &entry, stored, NULL, err);
  if (rc)
    goto out;
  key.authority = stored[0];
  key.tenant = stored[1];
  key.client_id = stored[2];
  key.identity = stored[3];
  rc = key_name(&key, ".json", expected, err);
  if (rc)
    goto out;
  if (strcmp(expected, name) != 0) {
    MSOAUTH_WARN(&fc->log, "cache file %s/%s ignored: stored for another key",
                 fc->dir, name);
    goto out;
  }
  cache_entry_info(&key, &entry, &info);
  fn(arg, &info);
out:
  msoauth_cache_entry_clear(&entry);
  for (size_t i = 0; i < 4; i++)
    free(stored[i]);
  /* An entry that cannot be trusted is skipped, not fatal. */
  return rc == MSOAUTH_ERR_NOT_FOUND ? MSOAUTH_OK : rc;
}

/* Opens the directory for iteration, from its start. */
static DIR *open_dir(struct file_cache *fc, struct msoauth_err *err) {
  DIR *d;
  int fd = dup(fc->dirfd);

  if (fd < 0) {
    msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", fc->dir, strerror(errno));
    return NULL;
  }
  d = fdopendir(fd);
  if (d == NULL) {
    msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", fc->dir, strerror(errno));
    close(fd);
    return NULL;
  }
  /* The duplicate shares its offset with dirfd, wherever that was left. */
  rewinddir(d);
  return d;
}

static msoauth_rc file_list(void *state, msoauth_cache_list_fn fn, void *arg,
                            struct msoauth_err *err) {
  struct file_cache *fc = state;
  struct dirent *de;
  DIR *d;
  msoauth_rc rc = MSOAUTH_OK;

  d = open_dir(fc, err);
  if (d == NULL)
    return MSOAUTH_ERR_IO;
  for (de = readdir(d); !rc && de != NULL; de = readdir(d)) {
    if (has_stem(de->d_name, ".json", 1))
      rc = list_one(fc, de->d_name, fn, arg, err);
  }
  closedir(d);
  return rc;
}

/* ------------------------------------------------------------ markers */

int cache_file_mark(void *state, const char *name, int on) {
  struct file_cache *fc = state;
  int fd;

  if (geteuid() != fc->dir_uid)
    return -1;
  if (!on)
    return unlinkat(fc->dirfd, name, 0) == 0;
  fd = openat(fc->dirfd, name,
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    return 1;
  }
  if (errno != EEXIST)
    return -1;
  return utimensat(fc->dirfd, name, NULL, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -1;
}

long long cache_file_mark_age_ms(void *state, const char *name) {
  struct file_cache *fc = state;
  struct timespec now;
  struct stat st;

  if (fstatat(fc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(st.st_mode) || clock_gettime(CLOCK_REALTIME, &now) != 0)
    return -1;
  return (now.tv_sec - st.st_mtim.tv_sec) * 1000LL +
         (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
}

/* ------------------------------------------------------------ opening */

static void file_close(void *state) {
  struct file_cache *fc = state;

  if (fc == NULL)
    return;
  if (fc->dirfd >= 0)
    close(fc->dirfd);
  msoauth_copies_free(fc->copies);
  free(fc->dir);
  free(fc);
}

const struct msoauth_cache_backend cache_file_backend = {
    .name = "file",
    .get = file_get,
    .lock = file_lock,
    .unlock = file_unlock,
    .put = file_put,
    .forget = file_forget,
    .list = file_list,
    .close = file_close,
};

/* Removes temporary files left by writers that died more than
 * STALE_TMP_SECONDS ago; younger ones may still be in use. */
static void remove_stale(struct file_cache *fc) {
  struct dirent *de;
  struct stat st;
  time_t now = time(NULL);
  DIR *d = open_dir(fc, NULL);

  if (d == NULL)
    return;
  for (de = readdir(d); de != NULL; de = readdir(d)) {
    if (!has_stem(de->d_name, ".tmp.", 0) ||
        fstatat(fc->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        st.st_mtime > now - STALE_TMP_SECONDS)
      continue;
    if (unlinkat(fc->dirfd, de->d_name, 0) == 0)
      MSOAUTH_INFO(&fc->log, "removed stale cache file %s/%s", fc->dir,
                   de->d_name);
  }
  closedir(d);
}

/* Creates dir with mode 0700 when missing; *created_r says whether. */
static msoauth_rc make_dir(const char *dir, int *created_r,
                           struct msoauth_err *err) {
  *created_r = 0;
  if (mkdir(dir, 0700) == 0) {
    *created_r = 1;
    return MSOAUTH_OK;
  }
  if (errno == EEXIST)
    return MSOAUTH_OK;
  if (errno == ENOENT)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cache_dir %s: its parent directory does not exist "
                        "(create it, or set cache_dir)",
                        dir);
  return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "cache_dir %s: cannot create: %s", dir, strerror(errno));
}

/* The directory belongs to another user: refused, unless root opens it
 * for the user it is about to become (allow_foreign). */
static msoauth_rc check_dir_owner(const char *dir, uid_t owner,
                                  int allow_foreign, struct msoauth_err *err) {
  char buf[256], me[256];
  uid_t euid = geteuid();
  const char *name;

  if (owner == euid || (euid == 0 && allow_foreign))
    return MSOAUTH_OK;
  if (euid != 0)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cache_dir %s is owned by uid %ld, not by uid %ld "
                        "(run: chown %ld %s)",
                        dir, (long)owner, (long)euid, (long)euid, dir);
  /* Root: another user's tokens are not root's to take or replace. */
  name = user_name(owner, buf, sizeof(buf));
  return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "cache_dir %s is owned by uid %ld (%s), not by uid %ld "
                      "(%s): another user's cache is not used (run as %s, "
                      "or set cache_dir)",
                      dir, (long)owner, name, (long)euid,
                      user_name(euid, me, sizeof(me)), name);
}

/* Opens dir without following a symlink, and checks it is private to its
 * owner, which *uid_r names. */
static msoauth_rc open_checked(const char *dir, int created,
                               int allow_foreign, int *fd_r, uid_t *uid_r,
                               struct msoauth_err *err) {
  struct stat st;
  msoauth_rc rc;
  int fd;

  *fd_r = -1;
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  /* Linux says ENOTDIR for a symlink opened with O_DIRECTORY | O_NOFOLLOW;
   * lstat tells which, for the message only. */
  if (fd < 0 && (errno == ELOOP || (errno == ENOTDIR && lstat(dir, &st) == 0 &&
                                    S_ISLNK(st.st_mode))))
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cache_dir %s is a symbolic link (set cache_dir to "
                        "the real directory)",
                        dir);
  if (fd < 0 && errno == ENOTDIR)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cache_dir %s is not a directory (remove it, or set "
                        "cache_dir)",
                        dir);
  if (fd < 0)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "cache_dir %s: %s", dir,
                        strerror(errno));
  /* The umask may have taken bits from a directory made just now. */
  if (created && fchmod(fd, 0700) != 0) {
    close(fd);
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "cache_dir %s: %s", dir,
                        strerror(errno));
  }
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
    close(fd);
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cache_dir %s is not a directory", dir);
  }
  rc = check_dir_owner(dir, st.st_uid, allow_foreign, err);
  if (rc) {
    close(fd);
    return rc;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    close(fd);
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cache_dir %s is accessible by group or others "
                        "(run: chmod 700 %s)",
                        dir, dir);
  }
  *fd_r = fd;
  *uid_r = st.st_uid;
  return MSOAUTH_OK;
}

msoauth_rc cache_file_new(const struct msoauth_cache_settings *set,
                          const struct msoauth_log *log, void **state_r,
                          struct msoauth_err *err) {
  struct file_cache *fc = NULL;
  const char *dir = set->dir;
  int created = 0;
  msoauth_rc rc;

  *state_r = NULL;
  if (dir == NULL || dir[0] != '/')
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "cache_dir must be an absolute path");
  fc = calloc(1, sizeof(*fc));
  if (fc == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  fc->dirfd = -1;
  if (log != NULL)
    fc->log = *log;
  fc->dir = strdup(dir);
  if (fc->dir == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  rc = make_dir(dir, &created, err);
  if (!rc)
    rc = open_checked(dir, created, set->allow_foreign_dir, &fc->dirfd,
                      &fc->dir_uid, err);
  if (rc)
    goto out;
  /* Without it (out of memory), every get reads the file. */
  fc->copies = msoauth_copies_new();
  /* In another user's directory, tidying waits until we are that user. */
  if (fc->dir_uid == geteuid())
    remove_stale(fc);
  else
    fc->tidy_pending = 1;
  *state_r = fc;
  fc = NULL;
out:
  file_close(fc);
  return rc;
}
