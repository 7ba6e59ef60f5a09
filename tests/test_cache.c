/*
 * test_cache.c - the token cache: entries, their serialised form, and the
 * file backend (permissions, corrupt files, atomicity, locks, full disks).
 *
 * Every test runs in a fresh mkdtemp directory. Tests that need other
 * processes fork; a child never calls cmocka, it reports through its exit
 * status.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "log.h"
#include "result.h"
#include "secret.h"

#define NOBODY_UID 65534

static const struct msoauth_cache_key key_a = {
    "https://login.microsoftonline.com", "contoso.onmicrosoft.com",
    "00000000-1111-2222-3333-444444444444", "alice@contoso.com"};
static const struct msoauth_cache_key key_b = {
    "https://login.microsoftonline.com", "contoso.onmicrosoft.com",
    "00000000-1111-2222-3333-444444444444", "bob@contoso.com"};

/* ------------------------------------------------------------ logging */

static int n_warnings;
static char last_warning[1024];

static void count_log(void *arg, enum msoauth_level level, const char *msg) {
  (void)arg;
  if (level != MSOAUTH_LOG_WARNING)
    return;
  n_warnings++;
  snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

static const struct msoauth_log test_log = {count_log, NULL, MSOAUTH_LOG_DEBUG};

/* ------------------------------------------------------------ fixture */

struct fixture {
  char base[64]; /* the mkdtemp directory */
  char dir[128]; /* cache_dir, inside base */
  struct msoauth_cache_settings set;
  struct msoauth_cache *cache;
};

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));

  if (fx == NULL)
    return -1;
  snprintf(fx->base, sizeof(fx->base), "/tmp/test_cache.XXXXXX");
  if (mkdtemp(fx->base) == NULL) {
    free(fx);
    return -1;
  }
  snprintf(fx->dir, sizeof(fx->dir), "%s/cache", fx->base);
  fx->set.dir = fx->dir;
  n_warnings = 0;
  last_warning[0] = '\0';
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  struct fixture *fx = *state;

  msoauth_cache_close(&fx->cache);
  /* A test may have chowned a file or made a directory unreadable. */
  chmod(fx->dir, 0700);
  nftw(fx->base, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static void open_cache(struct fixture *fx) {
  struct msoauth_err err;

  assert_int_equal(msoauth_cache_open(&fx->set, &test_log, &fx->cache, &err),
                   MSOAUTH_OK);
  assert_non_null(fx->cache);
}

/* ------------------------------------------------------------ helpers */

/* The entry's file name, computed here independently of cache_file.c. */
static void key_path(const struct fixture *fx,
                     const struct msoauth_cache_key *key, const char *suffix,
                     char *path, size_t size) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  char text[1024], stem[2 * SHA256_DIGEST_LENGTH + 1];
  int n;

  n = snprintf(text, sizeof(text), "%s\n%s\n%s\n%s", key->authority,
               key->tenant, key->client_id, key->identity);
  assert_true(n > 0 && (size_t)n < sizeof(text));
  SHA256((const unsigned char *)text, (size_t)n, md);
  for (size_t i = 0; i < sizeof(md); i++)
    snprintf(stem + 2 * i, 3, "%02x", md[i]);
  snprintf(path, size, "%s/%s%s", fx->dir, stem, suffix);
}

static void write_file(const char *path, const char *data, size_t len,
                       mode_t mode) {
  int fd;

  unlink(path);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
  assert_true(fd >= 0);
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  assert_int_equal(close(fd), 0);
}

static char *read_file(const char *path, size_t *len_r) {
  struct stat st;
  char *data;
  int fd = open(path, O_RDONLY);

  assert_true(fd >= 0);
  assert_int_equal(fstat(fd, &st), 0);
  data = malloc((size_t)st.st_size + 1);
  assert_non_null(data);
  assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
  data[st.st_size] = '\0';
  close(fd);
  *len_r = (size_t)st.st_size;
  return data;
}

/* Files in dir whose names contain part. */
static int count_files(const char *dir, const char *part) {
  struct dirent *de;
  int n = 0;
  DIR *d = opendir(dir);

  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    if (strstr(de->d_name, part) != NULL)
      n++;
  }
  closedir(d);
  return n;
}

static long long mono_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

  nanosleep(&ts, NULL);
}

/* Stores entry under key's lock, as every writer must. */
static msoauth_rc put_locked(struct msoauth_cache *cache,
                             const struct msoauth_cache_key *key,
                             const struct msoauth_cache_entry *entry,
                             struct msoauth_err *err) {
  struct msoauth_cache_lock *lock = NULL;
  msoauth_rc rc = msoauth_cache_lock(cache, key, mono_ms() + 5000, &lock, err);

  if (!rc)
    rc = msoauth_cache_put(cache, key, entry, err);
  msoauth_cache_unlock(&lock);
  return rc;
}

/* What must not change in a file another user owns. */
struct snapshot {
  ino_t ino;
  uid_t uid;
  struct timespec mtime;
  char *data;
  size_t len;
};

static char *read_file(const char *path, size_t *len_r);

static void snap(const char *path, struct snapshot *s) {
  struct stat st;

  assert_int_equal(lstat(path, &st), 0);
  s->ino = st.st_ino;
  s->uid = st.st_uid;
  s->mtime = st.st_mtim;
  s->data = read_file(path, &s->len);
}

static void assert_unchanged(const char *path, struct snapshot *s) {
  struct stat st;
  char *data;
  size_t len;

  assert_int_equal(lstat(path, &st), 0);
  assert_true(st.st_ino == s->ino);
  assert_int_equal(st.st_uid, s->uid);
  assert_true(st.st_mtim.tv_sec == s->mtime.tv_sec &&
              st.st_mtim.tv_nsec == s->mtime.tv_nsec);
  data = read_file(path, &len);
  assert_int_equal(len, s->len);
  assert_memory_equal(data, s->data, len);
  free(data);
  free(s->data);
  s->data = NULL;
}

/* Becomes nobody for good (a child only): what Postfix's smtp does after
 * the plugin was initialised as root. */
static int become_nobody(void) {
  if (setgroups(0, NULL) != 0 || setgid(NOBODY_UID) != 0 ||
      setuid(NOBODY_UID) != 0 || geteuid() != NOBODY_UID)
    return -1;
  return 0;
}

/* Fills entry: a refresh token (when rt is not NULL), a verifier and
 * n_tokens tokens of token_len bytes each, expiring in an hour. Returns 0, or
 * -1 (so children can use it too). */
static int make_entry(struct msoauth_cache_entry *entry, const char *rt,
                      size_t n_tokens, size_t token_len, char tag) {
  long long now = (long long)time(NULL);
  struct msoauth_secret *tok = NULL;
  char *value = malloc(token_len + 1);
  int ret = 0;

  msoauth_cache_entry_init(entry);
  if (value == NULL)
    return -1;
  if (rt != NULL && msoauth_secret_from_str(rt, &entry->refresh_token))
    ret = -1;
  entry->password_verifier = strdup("pbkdf2-sha256$20000$c2FsdA$aGFzaA");
  entry->failed[0].verifier = strdup("pbkdf2-sha256$20000$ZmFpbA$aGFzaA");
  entry->failed[0].at = now - 10;
  entry->failed[1].verifier = strdup("pbkdf2-sha256$20000$ZmFpbA$aGFzaB");
  entry->failed[1].at = now - 12;
  entry->n_failed = 2;
  entry->locked_at = now - 5;
  entry->offline_verifier = strdup("pbkdf2-sha256$20000$b2Zm$aGFzaA");
  entry->verified_at = now - 20;
  entry->offline_identity = strdup("alice@contoso.com");
  entry->offline_groups = strdup("aaaaaaaa-0000-0000-0000-000000000001");
  if (entry->password_verifier == NULL || entry->failed[0].verifier == NULL ||
      entry->failed[1].verifier == NULL || entry->offline_verifier == NULL ||
      entry->offline_identity == NULL || entry->offline_groups == NULL)
    ret = -1;
  for (size_t i = 0; ret == 0 && i < n_tokens; i++) {
    char scope[64];

    memset(value, tag, token_len);
    value[token_len] = '\0';
    snprintf(value, token_len + 1, "at-%c-%zu-", tag, i);
    if (strlen(value) < token_len)
      value[strlen(value)] = tag; /* keep the full length */
    snprintf(scope, sizeof(scope), "https://outlook.office.com/scope%zu", i);
    if (msoauth_secret_from_str(value, &tok) ||
        msoauth_cache_entry_set(entry, scope, tok, now + 3600 + (long long)i,
                                now))
      ret = -1;
    msoauth_secret_free(&tok);
  }
  free(value);
  return ret;
}

static int same_secret(const struct msoauth_secret *a,
                       const struct msoauth_secret *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return msoauth_secret_equal(a, b);
}

static int same_str(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

/* Whether two entries hold the same data (updated aside). */
static int same_entry(const struct msoauth_cache_entry *a,
                      const struct msoauth_cache_entry *b) {
  if (!same_secret(a->refresh_token, b->refresh_token) ||
      !same_str(a->password_verifier, b->password_verifier) ||
      !same_str(a->offline_verifier, b->offline_verifier) ||
      !same_str(a->offline_identity, b->offline_identity) ||
      !same_str(a->offline_groups, b->offline_groups) ||
      a->n_failed != b->n_failed || a->locked_at != b->locked_at ||
      a->verified_at != b->verified_at || a->n_access != b->n_access)
    return 0;
  for (size_t i = 0; i < a->n_failed; i++)
    if (!same_str(a->failed[i].verifier, b->failed[i].verifier) ||
        a->failed[i].at != b->failed[i].at)
      return 0;
  for (size_t i = 0; i < a->n_access; i++) {
    if (!same_str(a->access[i].scope, b->access[i].scope) ||
        !same_secret(a->access[i].token, b->access[i].token) ||
        a->access[i].expires_at != b->access[i].expires_at)
      return 0;
  }
  return 1;
}

/* Waits for pid and returns its exit status, or -1 when it did not exit. */
static int wait_child(pid_t pid) {
  int status;

  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

/* ------------------------------------------------------------ opening */

static void test_open_creates_dir(void **state) {
  struct fixture *fx = *state;
  struct msoauth_err err;
  struct stat st;
  char path[PATH_MAX];
  mode_t old = umask(022);

  open_cache(fx);
  umask(old);
  assert_int_equal(lstat(fx->dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0700);
  assert_int_equal(st.st_uid, geteuid());
  msoauth_cache_close(&fx->cache);
  assert_null(fx->cache);

  /* Opening again finds it. */
  open_cache(fx);
  msoauth_cache_close(&fx->cache);

  /* Parents are not created; relative paths are refused. */
  snprintf(path, sizeof(path), "%s/missing/cache", fx->base);
  fx->set.dir = path;
  assert_int_equal(msoauth_cache_open(&fx->set, &test_log, &fx->cache, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_null(fx->cache);
  assert_non_null(strstr(err.detail, "parent"));
  snprintf(path, sizeof(path), "relative/cache");
  fx->set.dir = path;
  assert_int_equal(msoauth_cache_open(&fx->set, &test_log, &fx->cache, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_null(fx->cache);
  fx->set.dir = fx->dir;
}

enum bad_dir { BAD_MODE, BAD_SYMLINK, BAD_FILE };

static const struct {
  enum bad_dir kind;
  const char *hint; /* in the detail: how to fix it */
} bad_dirs[] = {
    {BAD_MODE, "chmod 700"},
    {BAD_SYMLINK, "symbolic link"},
    {BAD_FILE, "not a directory"},
};

static void test_open_refuses(void **state) {
  struct fixture *fx = *state;
  char real[PATH_MAX];

  snprintf(real, sizeof(real), "%s/real", fx->base);
  for (size_t i = 0; i < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++) {
    struct msoauth_err err;

    switch (bad_dirs[i].kind) {
    case BAD_MODE:
      assert_int_equal(mkdir(fx->dir, 0700), 0);
      assert_int_equal(chmod(fx->dir, 0755), 0);
      break;
    case BAD_SYMLINK:
      assert_int_equal(mkdir(real, 0700), 0);
      assert_int_equal(symlink(real, fx->dir), 0);
      break;
    case BAD_FILE:
      write_file(fx->dir, "x", 1, 0600);
      break;
    }
    assert_int_equal(msoauth_cache_open(&fx->set, &test_log, &fx->cache, &err),
                     MSOAUTH_ERR_CONFIG);
    assert_null(fx->cache);
    assert_non_null(strstr(err.detail, bad_dirs[i].hint));
    assert_non_null(strstr(err.detail, fx->dir));
    assert_int_equal(remove(fx->dir), 0);
    rmdir(real);
  }
}

/* Root never uses another user's cache_dir unless the caller says it is
 * about to become that user (cache_allow_foreign_dir: the SASL plugin in
 * Postfix); even then root writes nothing there, and once it has become
 * the owner, everything works as in its own. */
static void test_open_root_foreign_dir(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry in, out;
  struct msoauth_cache_lock *lock = NULL;
  struct snapshot before;
  struct msoauth_err err;
  char path[PATH_MAX], lpath[PATH_MAX];
  struct stat st;
  pid_t pid;

  if (geteuid() != 0)
    skip(); /* needs root to chown and to become nobody */
  assert_int_equal(mkdir(fx->dir, 0700), 0);
  assert_int_equal(chown(fx->dir, NOBODY_UID, NOBODY_UID), 0);
  /* The CLI, PAM: refused, with the directory and its owner named. */
  assert_int_equal(msoauth_cache_open(&fx->set, &test_log, &fx->cache, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_null(fx->cache);
  assert_non_null(strstr(err.detail, fx->dir));
  assert_non_null(strstr(err.detail, "uid 65534"));
  /* The SASL plugin: opened, but root writes nothing there. */
  fx->set.allow_foreign_dir = 1;
  open_cache(fx);
  assert_int_equal(make_entry(&in, "rt-alice-secret", 1, 40, 'a'), 0);
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 1000, &lock, &err),
      MSOAUTH_ERR_IO);
  assert_null(lock);
  assert_non_null(strstr(err.detail, fx->dir));
  assert_non_null(strstr(err.detail, "uid 65534"));
  assert_int_not_equal(msoauth_cache_put(fx->cache, &key_a, &in, &err),
                       MSOAUTH_OK);
  assert_int_equal(count_files(fx->dir, ".json"), 0);
  assert_int_equal(count_files(fx->dir, ".lock"), 0);
  assert_int_equal(count_files(fx->dir, ".tmp."), 0);
  /* After the drop to the owner (the directory kept open): as usual. */
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (become_nobody() != 0)
      _exit(2);
    if (put_locked(fx->cache, &key_a, &in, NULL) != MSOAUTH_OK)
      _exit(3);
    if (msoauth_cache_get(fx->cache, &key_a, &out, NULL) != MSOAUTH_OK ||
        !same_entry(&in, &out))
      _exit(4);
    _exit(0);
  }
  assert_int_equal(wait_child(pid), 0);
  key_path(fx, &key_a, ".json", path, sizeof(path));
  key_path(fx, &key_a, ".lock", lpath, sizeof(lpath));
  assert_int_equal(lstat(path, &st), 0);
  assert_int_equal(st.st_uid, NOBODY_UID);
  assert_int_equal(lstat(lpath, &st), 0);
  assert_int_equal(st.st_uid, NOBODY_UID);
  /* Root again: nobody's entry is neither read, replaced nor removed. */
  snap(path, &before);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_ERR_NOT_FOUND);
  msoauth_cache_entry_clear(&out);
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 1000, &lock, &err),
      MSOAUTH_ERR_IO);
  assert_int_not_equal(msoauth_cache_put(fx->cache, &key_a, &in, &err),
                       MSOAUTH_OK);
  assert_int_not_equal(msoauth_cache_forget(fx->cache, &key_a, &err),
                       MSOAUTH_OK);
  assert_unchanged(path, &before);
  assert_int_equal(count_files(fx->dir, ".tmp."), 0);
  msoauth_cache_entry_clear(&in);
}

/* Every write holds the entry's lock: a put or a forget without it is
 * refused, whoever calls. */
static void test_write_needs_lock(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry in, out;
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_err err;

  open_cache(fx);
  assert_int_equal(make_entry(&in, "rt", 1, 10, 'l'), 0);
  assert_int_equal(msoauth_cache_put(fx->cache, &key_a, &in, &err),
                   MSOAUTH_ERR_INVALID);
  assert_non_null(strstr(err.detail, "lock"));
  assert_int_equal(count_files(fx->dir, ".json"), 0);
  assert_int_equal(count_files(fx->dir, ".tmp."), 0);
  /* Another entry's lock does not do. */
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_b, mono_ms() + 1000, &lock, &err),
      MSOAUTH_OK);
  assert_int_equal(msoauth_cache_put(fx->cache, &key_a, &in, &err),
                   MSOAUTH_ERR_INVALID);
  assert_int_equal(msoauth_cache_put(fx->cache, &key_b, &in, &err),
                   MSOAUTH_OK);
  msoauth_cache_unlock(&lock);
  /* Released: refused again; forget too. */
  assert_int_equal(msoauth_cache_put(fx->cache, &key_b, &in, &err),
                   MSOAUTH_ERR_INVALID);
  assert_int_equal(msoauth_cache_forget(fx->cache, &key_b, &err),
                   MSOAUTH_ERR_INVALID);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_b, &out, &err),
                   MSOAUTH_OK);
  assert_true(same_entry(&in, &out));
  msoauth_cache_entry_clear(&out);
  assert_int_equal(count_files(fx->dir, ".json"), 1);
  msoauth_cache_entry_clear(&in);
}

/* A lock file of another owner (left by an older root run in a user's
 * cache): no lock, so nothing is written; the entry stays as it was and
 * can still be read. */
static void test_foreign_lock_file(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry in, other, out;
  struct msoauth_cache_lock *lock = NULL;
  struct snapshot before;
  struct msoauth_err err;
  char path[PATH_MAX], lpath[PATH_MAX];

  if (geteuid() != 0)
    skip(); /* needs root to chown */
  open_cache(fx);
  assert_int_equal(make_entry(&in, "rt-first", 1, 10, 'a'), 0);
  assert_int_equal(make_entry(&other, "rt-second", 2, 10, 'b'), 0);
  assert_int_equal(put_locked(fx->cache, &key_a, &in, &err), MSOAUTH_OK);
  key_path(fx, &key_a, ".json", path, sizeof(path));
  key_path(fx, &key_a, ".lock", lpath, sizeof(lpath));
  assert_int_equal(chown(lpath, NOBODY_UID, NOBODY_UID), 0);
  snap(path, &before);
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 1000, &lock, &err),
      MSOAUTH_ERR_IO);
  assert_null(lock);
  assert_non_null(strstr(err.detail, strrchr(lpath, '/') + 1));
  assert_non_null(strstr(err.detail, "uid 65534"));
  assert_int_not_equal(msoauth_cache_put(fx->cache, &key_a, &other, &err),
                       MSOAUTH_OK);
  assert_unchanged(path, &before);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_OK);
  assert_true(same_entry(&in, &out));
  msoauth_cache_entry_clear(&out);
  msoauth_cache_entry_clear(&in);
  msoauth_cache_entry_clear(&other);
}

/* An entry file of another owner in one's own directory is ignored when
 * read, and never replaced or removed, even under the lock. */
static void test_foreign_entry_kept(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry in, out;
  struct msoauth_cache_lock *lock = NULL;
  struct snapshot before;
  struct msoauth_err err;
  char path[PATH_MAX];
  int warnings;

  if (geteuid() != 0)
    skip(); /* needs root to chown */
  open_cache(fx);
  assert_int_equal(make_entry(&in, "rt-nobody", 1, 10, 'n'), 0);
  assert_int_equal(put_locked(fx->cache, &key_a, &in, &err), MSOAUTH_OK);
  key_path(fx, &key_a, ".json", path, sizeof(path));
  assert_int_equal(chown(path, NOBODY_UID, NOBODY_UID), 0);
  snap(path, &before);
  warnings = n_warnings;
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_ERR_NOT_FOUND);
  msoauth_cache_entry_clear(&out);
  assert_int_equal(n_warnings, warnings + 1);
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 1000, &lock, &err),
      MSOAUTH_OK);
  assert_int_equal(msoauth_cache_put(fx->cache, &key_a, &in, &err),
                   MSOAUTH_ERR_IO);
  assert_non_null(strstr(err.detail, "uid 65534"));
  assert_non_null(strstr(err.detail, "not replaced"));
  assert_int_equal(msoauth_cache_forget(fx->cache, &key_a, &err),
                   MSOAUTH_ERR_IO);
  msoauth_cache_unlock(&lock);
  assert_unchanged(path, &before);
  assert_int_equal(count_files(fx->dir, ".tmp."), 0);
  msoauth_cache_entry_clear(&in);
}

/* ------------------------------------------------------------ get, put */

static void test_round_trip(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry in, out;
  struct msoauth_err err;
  char path[PATH_MAX];
  struct stat st;
  long long before = (long long)time(NULL);

  open_cache(fx);
  assert_int_equal(make_entry(&in, "rt-alice-secret", 3, 40, 'a'), 0);
  assert_int_equal(put_locked(fx->cache, &key_a, &in, &err), MSOAUTH_OK);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_OK);
  assert_true(same_entry(&in, &out));
  assert_int_equal(out.n_access, 3);
  assert_string_equal(msoauth_secret_value(out.refresh_token),
                      "rt-alice-secret");
  assert_true(out.updated >= before && out.updated <= (long long)time(NULL));
  msoauth_cache_entry_clear(&out);

  /* The file: named by the hex SHA-256 of the key, 0600, regular. */
  key_path(fx, &key_a, ".json", path, sizeof(path));
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(count_files(fx->dir, ".json"), 1);
  assert_int_equal(count_files(fx->dir, ".tmp."), 0);

  /* Another key is another entry; replacing one keeps the other. */
  assert_int_equal(msoauth_cache_get(fx->cache, &key_b, &out, &err),
                   MSOAUTH_ERR_NOT_FOUND);
  msoauth_cache_entry_clear(&out);
  msoauth_cache_entry_drop(&in, "https://outlook.office.com/scope1");
  assert_int_equal(put_locked(fx->cache, &key_a, &in, &err), MSOAUTH_OK);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_OK);
  assert_int_equal(out.n_access, 2);
  assert_true(same_entry(&in, &out));
  msoauth_cache_entry_clear(&out);
  msoauth_cache_entry_clear(&in);
  assert_int_equal(n_warnings, 0);
}

static void test_get_missing(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry out;
  struct msoauth_cache_key bad = key_a;
  struct msoauth_err err;

  open_cache(fx);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_ERR_NOT_FOUND);
  assert_null(out.refresh_token);
  assert_int_equal(out.n_access, 0);
  msoauth_cache_entry_clear(&out);
  /* A missing entry is normal: nothing is logged. */
  assert_int_equal(n_warnings, 0);

  /* A key field with a newline could collide with another key. */
  bad.identity = "alice\n@contoso.com";
  assert_int_equal(msoauth_cache_get(fx->cache, &bad, &out, &err),
                   MSOAUTH_ERR_INVALID);
  msoauth_cache_entry_clear(&out);
}

/* ------------------------------------------------------------ corrupt */

/* The members of a valid file for key_a, in order. */
static const struct {
  const char *name;
  const char *value;
} members[] = {
    {"version", "1"},
    {"authority", "\"https://login.microsoftonline.com\""},
    {"tenant", "\"contoso.onmicrosoft.com\""},
    {"client_id", "\"00000000-1111-2222-3333-444444444444\""},
    {"identity", "\"alice@contoso.com\""},
    {"updated", "1700000000"},
    {"refresh_token", "\"rt-SECRET-value\""},
    {"password_verifier", "\"pbkdf2-sha256$20000$c2FsdA$aGFzaA\""},
    {"failed_verifier", "\"pbkdf2-sha256$20000$ZmFpbA$aGFzaA\""},
    {"failed_at", "1700000001"},
    {"verified_verifier", "\"pbkdf2-sha256$20000$b2Zm$aGFzaA\""},
    {"verified_at", "1700000002"},
    {"access_tokens", "[{\"scope\":\"s1\",\"access_token\":\"at-SECRET-1\","
                      "\"expires_at\":4000000000},"
                      "{\"scope\":\"s2\",\"access_token\":\"at-SECRET-2\","
                      "\"expires_at\":4000000001}]"},
};
#define N_MEMBERS (sizeof(members) / sizeof(members[0]))
#define M_VERSION 0
#define M_AUTHORITY 1
#define M_TENANT 2
#define M_CLIENT 3
#define M_IDENTITY 4
#define M_UPDATED 5
#define M_RT 6
#define M_VERIFIER 7
#define M_FAILED 8
#define M_FAILED_AT 9
#define M_VERIFIED 10
#define M_VERIFIED_AT 11
#define M_TOKENS 12
#define OMIT ((const char *)NULL)

/* The valid text with member `which` replaced by value (omitted when value
 * is NULL); which == N_MEMBERS changes nothing. */
static char *build_json(size_t which, const char *value) {
  struct msoauth_buf buf;
  int first = 1;

  msoauth_buf_init(&buf, 64 * 1024, 0);
  assert_int_equal(msoauth_buf_adds(&buf, "{"), MSOAUTH_OK);
  for (size_t i = 0; i < N_MEMBERS; i++) {
    const char *v = i == which ? value : members[i].value;

    if (v == NULL)
      continue;
    assert_int_equal(msoauth_buf_addf(&buf, "%s\"%s\":%s", first ? "" : ",",
                                      members[i].name, v),
                     MSOAUTH_OK);
    first = 0;
  }
  assert_int_equal(msoauth_buf_adds(&buf, "}"), MSOAUTH_OK);
  return msoauth_buf_take(&buf);
}

/* An access_tokens array of n valid tokens. */
static char *many_tokens(size_t n) {
  struct msoauth_buf buf;

  msoauth_buf_init(&buf, 64 * 1024, 0);
  assert_int_equal(msoauth_buf_adds(&buf, "["), MSOAUTH_OK);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(msoauth_buf_addf(&buf,
                                      "%s{\"scope\":\"s%zu\",\"access_token\":"
                                      "\"at-SECRET-%zu\",\"expires_at\":%zu}",
                                      i ? "," : "", i, i, 4000000000u + i),
                     MSOAUTH_OK);
  assert_int_equal(msoauth_buf_adds(&buf, "]"), MSOAUTH_OK);
  return msoauth_buf_take(&buf);
}

static const struct {
  size_t which;
  const char *value;
} bad_members[] = {
    /* wrong types */
    {M_VERSION, "\"1\""},
    {M_VERSION, "1.0"},
    {M_VERSION, "true"},
    {M_AUTHORITY, "5"},
    {M_TENANT, "null"},
    {M_CLIENT, "[]"},
    {M_IDENTITY, "{}"},
    {M_UPDATED, "\"1700000000\""},
    {M_UPDATED, "1.5"},
    {M_RT, "7"},
    {M_RT, "null"},
    {M_VERIFIER, "true"},
    {M_FAILED, "[]"},
    {M_FAILED_AT, OMIT},
    {M_FAILED_AT, "\"1700000001\""},
    {M_VERIFIED, "1"},
    {M_VERIFIED_AT, OMIT},
    {M_VERIFIED_AT, "null"},
    {M_TOKENS, "{}"},
    {M_TOKENS, "\"x\""},
    {M_TOKENS, "[\"x\"]"},
    {M_TOKENS, "[[]]"},
    {M_TOKENS, "[{\"scope\":1,\"access_token\":\"t\",\"expires_at\":1}]"},
    {M_TOKENS, "[{\"scope\":\"s\",\"access_token\":2,\"expires_at\":1}]"},
    {M_TOKENS,
     "[{\"scope\":\"s\",\"access_token\":\"t\",\"expires_at\":\"3\"}]"},
    {M_TOKENS, "[{\"scope\":\"s\",\"access_token\":\"t\",\"expires_at\":3.5}]"},
    /* empty strings, a NUL inside */
    {M_TENANT, "\"\""},
    {M_RT, "\"\""},
    {M_IDENTITY, "\"alice@contoso.com\\u0000x\""},
    {M_TOKENS, "[{\"scope\":\"\",\"access_token\":\"t\",\"expires_at\":1}]"},
    {M_TOKENS, "[{\"scope\":\"s\",\"access_token\":\"\",\"expires_at\":1}]"},
    /* missing members */
    {M_VERSION, OMIT},
    {M_AUTHORITY, OMIT},
    {M_TENANT, OMIT},
    {M_CLIENT, OMIT},
    {M_IDENTITY, OMIT},
    {M_UPDATED, OMIT},
    {M_TOKENS, OMIT},
    {M_TOKENS, "[{\"access_token\":\"t\",\"expires_at\":1}]"},
    {M_TOKENS, "[{\"scope\":\"s\",\"expires_at\":1}]"},
    {M_TOKENS, "[{\"scope\":\"s\",\"access_token\":\"t\"}]"},
    /* wrong values */
    {M_VERSION, "2"},
    {M_VERSION, "0"},
    {M_IDENTITY, "\"bob@contoso.com\""},
    {M_TENANT, "\"fabrikam.onmicrosoft.com\""},
    {M_TOKENS, "[{\"scope\":\"s\",\"access_token\":\"a\",\"expires_at\":1},"
               "{\"scope\":\"s\",\"access_token\":\"b\",\"expires_at\":1}]"},
};

/* Writes text as key_a's entry file and checks it is ignored and logged,
 * naming the file and not its contents. */
static void expect_ignored(struct fixture *fx, const char *text, size_t len,
                           mode_t mode) {
  struct msoauth_cache_entry out;
  struct msoauth_err err;
  char path[PATH_MAX];
  int warnings = n_warnings;

  key_path(fx, &key_a, ".json", path, sizeof(path));
  write_file(path, text, len, mode);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_ERR_NOT_FOUND);
  assert_null(out.refresh_token);
  assert_int_equal(out.n_access, 0);
  msoauth_cache_entry_clear(&out);
  assert_int_equal(n_warnings, warnings + 1);
  assert_non_null(strstr(last_warning, strrchr(path, '/') + 1));
  assert_null(strstr(last_warning, "SECRET"));
  assert_null(strstr(err.detail, "SECRET"));
}

static void test_corrupt_files(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry out;
  struct msoauth_err err;
  static const char *const raw[] = {
      "garbage", "", "[]", "null", "{}", "\"string\"", "{\"version\":1",
  };
  static const size_t cuts[] = {1, 2, 10, 50, 100, 200, 300};
  char path[PATH_MAX];
  char *good, *text;
  size_t len;

  open_cache(fx);
  /* The baseline is valid. */
  good = build_json(N_MEMBERS, NULL);
  len = strlen(good);
  assert_int_equal(
      msoauth_cache_entry_parse(good, len, &key_a, &out, NULL, &err),
      MSOAUTH_OK);
  assert_int_equal(out.n_access, 2);
  msoauth_cache_entry_clear(&out);

  for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
    expect_ignored(fx, raw[i], strlen(raw[i]), 0600);
  /* Truncated at several lengths, and with trailing garbage. */
  for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
    expect_ignored(fx, good, len - cuts[i], 0600);
  expect_ignored(fx, good, len / 2, 0600);
  text = malloc(len + 3);
  assert_non_null(text);
  snprintf(text, len + 3, "%sxx", good);
  expect_ignored(fx, text, len + 2, 0600);
  free(text);

  for (size_t i = 0; i < sizeof(bad_members) / sizeof(bad_members[0]); i++) {
    text = build_json(bad_members[i].which, bad_members[i].value);
    assert_int_equal(
        msoauth_cache_entry_parse(text, strlen(text), &key_a, &out, NULL, &err),
        MSOAUTH_ERR_PROTOCOL);
    assert_int_equal(out.n_access, 0);
    assert_null(out.refresh_token);
    msoauth_cache_entry_clear(&out);
    expect_ignored(fx, text, strlen(text), 0600);
    free(text);
  }

  /* 16 tokens are fine, 17 are not. */
  {
    char *tokens = many_tokens(MSOAUTH_CACHE_TOKENS_MAX);

    text = build_json(M_TOKENS, tokens);
    assert_int_equal(
        msoauth_cache_entry_parse(text, strlen(text), &key_a, &out, NULL, &err),
        MSOAUTH_OK);
    assert_int_equal(out.n_access, MSOAUTH_CACHE_TOKENS_MAX);
    msoauth_cache_entry_clear(&out);
    free(text);
    free(tokens);
    tokens = many_tokens(MSOAUTH_CACHE_TOKENS_MAX + 1);
    text = build_json(M_TOKENS, tokens);
    expect_ignored(fx, text, strlen(text), 0600);
    free(text);
    free(tokens);
  }

  /* The same name with valid contents is read again. */
  key_path(fx, &key_a, ".json", path, sizeof(path));
  write_file(path, good, len, 0600);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(out.refresh_token),
                      "rt-SECRET-value");
  msoauth_cache_entry_clear(&out);
  free(good);
}

static void test_bad_files_ignored(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry in, out;
  struct msoauth_err err;
  char path[PATH_MAX], other[PATH_MAX], elsewhere[PATH_MAX];
  char *text;
  size_t len;

  open_cache(fx);
  assert_int_equal(make_entry(&in, "rt-SECRET-a", 2, 30, 'a'), 0);
  assert_int_equal(put_locked(fx->cache, &key_a, &in, &err), MSOAUTH_OK);
  key_path(fx, &key_a, ".json", path, sizeof(path));
  text = read_file(path, &len);

  /* Readable by group or others. */
  expect_ignored(fx, text, len, 0644);
  expect_ignored(fx, text, len, 0640);
  expect_ignored(fx, text, len, 0604);
  expect_ignored(fx, text, len, 0700 | 0020);

  /* Owned by someone else. */
  if (geteuid() == 0) {
    int warnings = n_warnings;

    write_file(path, text, len, 0600);
    assert_int_equal(chown(path, NOBODY_UID, NOBODY_UID), 0);
    assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                     MSOAUTH_ERR_NOT_FOUND);
    msoauth_cache_entry_clear(&out);
    assert_int_equal(n_warnings, warnings + 1);
    assert_non_null(strstr(last_warning, "owned by another user"));
  }

  /* A symlink in place of the entry, to a valid file. */
  {
    int warnings = n_warnings;

    snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.json", fx->base);
    write_file(elsewhere, text, len, 0600);
    unlink(path);
    assert_int_equal(symlink(elsewhere, path), 0);
    assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                     MSOAUTH_ERR_NOT_FOUND);
    msoauth_cache_entry_clear(&out);
    assert_int_equal(n_warnings, warnings + 1);
    assert_non_null(strstr(last_warning, "symbolic link"));
    unlink(path);
  }

  /* A directory or a FIFO in place of the entry. */
  {
    int warnings = n_warnings;

    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                     MSOAUTH_ERR_NOT_FOUND);
    msoauth_cache_entry_clear(&out);
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                     MSOAUTH_ERR_NOT_FOUND);
    msoauth_cache_entry_clear(&out);
    rmdir(path);
    assert_int_equal(n_warnings, warnings + 2);
  }

  /* Another key's valid file copied over this key's name: never a token of
   * another identity. */
  free(text);
  assert_int_equal(put_locked(fx->cache, &key_b, &in, &err), MSOAUTH_OK);
  key_path(fx, &key_b, ".json", other, sizeof(other));
  text = read_file(other, &len);
  {
    int warnings = n_warnings;

    write_file(path, text, len, 0600);
    assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                     MSOAUTH_ERR_NOT_FOUND);
    msoauth_cache_entry_clear(&out);
    assert_int_equal(n_warnings, warnings + 1);
    assert_non_null(strstr(last_warning, "another key"));
  }
  assert_int_equal(msoauth_cache_get(fx->cache, &key_b, &out, &err),
                   MSOAUTH_OK);
  assert_true(same_entry(&in, &out));
  msoauth_cache_entry_clear(&out);

  /* Oversized. */
  {
    size_t big = MSOAUTH_CACHE_ENTRY_MAX + 1;
    char *blob = malloc(big);

    assert_non_null(blob);
    memset(blob, ' ', big);
    expect_ignored(fx, blob, big, 0600);
    free(blob);
  }
  free(text);
  msoauth_cache_entry_clear(&in);
}

/* ------------------------------------------------------------ forget, list */

static void test_forget(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry in, out;
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_err err;
  char path[PATH_MAX];

  open_cache(fx);
  assert_int_equal(make_entry(&in, "rt", 1, 10, 'f'), 0);
  assert_int_equal(put_locked(fx->cache, &key_a, &in, &err), MSOAUTH_OK);
  assert_int_equal(put_locked(fx->cache, &key_b, &in, &err), MSOAUTH_OK);
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 1000, &lock, &err),
      MSOAUTH_OK);
  assert_int_equal(msoauth_cache_forget(fx->cache, &key_a, &err), MSOAUTH_OK);
  msoauth_cache_unlock(&lock);
  assert_null(lock);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, &err),
                   MSOAUTH_ERR_NOT_FOUND);
  msoauth_cache_entry_clear(&out);
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 1000, &lock, &err),
      MSOAUTH_OK);
  assert_int_equal(msoauth_cache_forget(fx->cache, &key_a, &err),
                   MSOAUTH_ERR_NOT_FOUND);
  msoauth_cache_unlock(&lock);
  /* The lock file stays (deleting it would race); the other entry too. */
  key_path(fx, &key_a, ".lock", path, sizeof(path));
  assert_int_equal(access(path, F_OK), 0);
  key_path(fx, &key_a, ".json", path, sizeof(path));
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_b, &out, &err),
                   MSOAUTH_OK);
  msoauth_cache_entry_clear(&out);
  msoauth_cache_entry_clear(&in);
  assert_int_equal(n_warnings, 0);
}

struct listing {
  int count;
  int seen_a, seen_b;
  int leaked;
  const char *secrets[40];
  size_t n_secrets;
};

static void check_no_secret(struct listing *l, const char *s) {
  for (size_t i = 0; i < l->n_secrets; i++) {
    if (s == NULL || strstr(s, l->secrets[i]) != NULL)
      l->leaked++;
  }
}

static void collect(void *arg, const struct msoauth_cache_info *info) {
  struct listing *l = arg;

  l->count++;
  check_no_secret(l, info->authority);
  check_no_secret(l, info->tenant);
  check_no_secret(l, info->client_id);
  check_no_secret(l, info->identity);
  for (size_t i = 0; i < info->n_access; i++)
    check_no_secret(l, info->scopes[i]);
  if (strcmp(info->identity, key_a.identity) == 0 && info->has_refresh_token &&
      info->n_access == 3 &&
      strcmp(info->scopes[2], "https://outlook.office.com/scope2") == 0 &&
      info->expires_at[2] > (long long)time(NULL) + 3000 &&
      strcmp(info->tenant, key_a.tenant) == 0 &&
      strcmp(info->client_id, key_a.client_id) == 0 &&
      strcmp(info->authority, key_a.authority) == 0 && info->updated > 0)
    l->seen_a++;
  if (strcmp(info->identity, key_b.identity) == 0 && !info->has_refresh_token &&
      info->n_access == 1)
    l->seen_b++;
}

static void test_list(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry a, b;
  struct listing l;
  struct msoauth_err err;
  char path[PATH_MAX];

  open_cache(fx);
  memset(&l, 0, sizeof(l));
  assert_int_equal(msoauth_cache_list(fx->cache, collect, &l, &err),
                   MSOAUTH_OK);
  assert_int_equal(l.count, 0);

  assert_int_equal(make_entry(&a, "rt-alice", 3, 20, 'a'), 0);
  assert_int_equal(make_entry(&b, NULL, 1, 20, 'b'), 0);
  assert_int_equal(put_locked(fx->cache, &key_a, &a, &err), MSOAUTH_OK);
  assert_int_equal(put_locked(fx->cache, &key_b, &b, &err), MSOAUTH_OK);
  l.secrets[l.n_secrets++] = "rt-alice";
  l.secrets[l.n_secrets++] = a.password_verifier;
  for (size_t i = 0; i < a.n_access; i++)
    l.secrets[l.n_secrets++] = msoauth_secret_value(a.access[i].token);
  for (size_t i = 0; i < b.n_access; i++)
    l.secrets[l.n_secrets++] = msoauth_secret_value(b.access[i].token);

  /* A corrupt entry-like file is skipped with a warning; other names are
   * not entries at all. */
  snprintf(path, sizeof(path), "%s/%064d.json", fx->dir, 0);
  write_file(path, "garbage", 7, 0600);
  snprintf(path, sizeof(path), "%s/README", fx->dir);
  write_file(path, "hello", 5, 0600);
  /* A valid file under another name than its key's is misplaced. */
  {
    size_t len;
    char *text;

    key_path(fx, &key_b, ".json", path, sizeof(path));
    text = read_file(path, &len);
    snprintf(path, sizeof(path), "%s/%064d.json", fx->dir, 1);
    write_file(path, text, len, 0600);
    free(text);
  }

  assert_int_equal(msoauth_cache_list(fx->cache, collect, &l, &err),
                   MSOAUTH_OK);
  assert_int_equal(l.count, 2);
  assert_int_equal(l.seen_a, 1);
  assert_int_equal(l.seen_b, 1);
  assert_int_equal(l.leaked, 0);
  assert_int_equal(n_warnings, 2);

  /* Listing twice gives the same (the directory is rewound). */
  l.count = 0;
  l.seen_a = 0;
  l.seen_b = 0;
  assert_int_equal(msoauth_cache_list(fx->cache, collect, &l, &err),
                   MSOAUTH_OK);
  assert_int_equal(l.count, 2);
  msoauth_cache_entry_clear(&a);
  msoauth_cache_entry_clear(&b);
}

/* ------------------------------------------------------------ entries */

static void test_entry_find_set(void **state) {
  struct msoauth_cache_entry e;
  struct msoauth_secret *t1 = NULL, *t2 = NULL;
  const struct msoauth_cache_token *hit;
  const long long now = 1700000000;

  (void)state;
  msoauth_cache_entry_init(&e);
  assert_int_equal(msoauth_secret_from_str("token-one", &t1), MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str("token-two", &t2), MSOAUTH_OK);

  assert_null(msoauth_cache_entry_find(&e, "s", now, 0));
  assert_int_equal(msoauth_cache_entry_set(&e, "s", t1, now + 100, now),
                   MSOAUTH_OK);
  /* Valid while expires_at > now + margin. */
  hit = msoauth_cache_entry_find(&e, "s", now, 50);
  assert_non_null(hit);
  assert_string_equal(msoauth_secret_value(hit->token), "token-one");
  assert_int_equal(hit->expires_at, now + 100);
  assert_non_null(msoauth_cache_entry_find(&e, "s", now, 99));
  assert_null(msoauth_cache_entry_find(&e, "s", now, 100));
  assert_null(msoauth_cache_entry_find(&e, "s", now, 150));
  assert_null(msoauth_cache_entry_find(&e, "s", now + 100, 0));
  /* Exactly this scope string. */
  assert_null(msoauth_cache_entry_find(&e, "S", now, 0));
  assert_null(msoauth_cache_entry_find(&e, "s ", now, 0));

  /* Same scope: replaced, not added. */
  assert_int_equal(msoauth_cache_entry_set(&e, "s", t2, now + 200, now),
                   MSOAUTH_OK);
  assert_int_equal(e.n_access, 1);
  hit = msoauth_cache_entry_find(&e, "s", now, 150);
  assert_non_null(hit);
  assert_string_equal(msoauth_secret_value(hit->token), "token-two");

  /* Tokens expired at now are dropped by the next set. */
  assert_int_equal(msoauth_cache_entry_set(&e, "old", t1, now + 10, now),
                   MSOAUTH_OK);
  assert_int_equal(e.n_access, 2);
  assert_int_equal(msoauth_cache_entry_set(&e, "new", t1, now + 500, now + 10),
                   MSOAUTH_OK);
  assert_int_equal(e.n_access, 2);
  assert_null(msoauth_cache_entry_find(&e, "old", 0, 0));
  assert_non_null(msoauth_cache_entry_find(&e, "new", now, 0));
  assert_non_null(msoauth_cache_entry_find(&e, "s", now, 0));

  /* Drop. */
  msoauth_cache_entry_drop(&e, "nothing");
  assert_int_equal(e.n_access, 2);
  msoauth_cache_entry_drop(&e, "s");
  assert_int_equal(e.n_access, 1);
  assert_null(msoauth_cache_entry_find(&e, "s", now, 0));
  assert_non_null(msoauth_cache_entry_find(&e, "new", now, 0));

  /* The cap: 16 scopes, a 17th refused unless one has expired. */
  for (int i = 1; i < MSOAUTH_CACHE_TOKENS_MAX; i++) {
    char scope[32];

    snprintf(scope, sizeof(scope), "scope%d", i);
    assert_int_equal(msoauth_cache_entry_set(&e, scope, t1, now + 100 + i, now),
                     MSOAUTH_OK);
  }
  assert_int_equal(e.n_access, MSOAUTH_CACHE_TOKENS_MAX);
  assert_int_equal(msoauth_cache_entry_set(&e, "one-more", t2, now + 900, now),
                   MSOAUTH_ERR_INVALID);
  assert_int_equal(e.n_access, MSOAUTH_CACHE_TOKENS_MAX);
  assert_null(msoauth_cache_entry_find(&e, "one-more", now, 0));
  /* Replacing within a full entry works. */
  assert_int_equal(msoauth_cache_entry_set(&e, "scope3", t2, now + 900, now),
                   MSOAUTH_OK);
  assert_int_equal(e.n_access, MSOAUTH_CACHE_TOKENS_MAX);
  /* At now + 102, scope1 and scope2 have expired: room again. */
  assert_int_equal(
      msoauth_cache_entry_set(&e, "one-more", t2, now + 900, now + 102),
      MSOAUTH_OK);
  assert_int_equal(e.n_access, MSOAUTH_CACHE_TOKENS_MAX - 1);
  assert_non_null(msoauth_cache_entry_find(&e, "one-more", now, 0));
  assert_null(msoauth_cache_entry_find(&e, "scope1", 0, 0));

  msoauth_cache_entry_clear(&e);
  assert_int_equal(e.n_access, 0);
  assert_null(e.refresh_token);
  assert_null(msoauth_cache_entry_find(&e, "scope3", now, 0));
  msoauth_secret_free(&t1);
  msoauth_secret_free(&t2);
}

static void test_entry_format_parse(void **state) {
  static const struct msoauth_cache_key odd = {"https://login.example/\"x\"",
                                               "ten\\ant",
                                               "cli\x01\x1f"
                                               "ent",
                                               "\xc3\xa9lise@contoso.com"};
  struct msoauth_cache_entry in, out;
  struct msoauth_secret *t = NULL;
  struct msoauth_err err;
  char *stored[4];
  char *text = NULL;

  (void)state;
  msoauth_cache_entry_init(&in);
  assert_int_equal(msoauth_secret_from_str("r\"t\\\n\t\x7f", &in.refresh_token),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str("a\"\\b\x02", &t), MSOAUTH_OK);
  assert_int_equal(msoauth_cache_entry_set(&in, "s \"q\"", t, 4000000000LL, 0),
                   MSOAUTH_OK);
  msoauth_secret_free(&t);

  assert_int_equal(msoauth_cache_entry_format(&odd, &in, 1234, &text),
                   MSOAUTH_OK);
  assert_non_null(strstr(text, "\"version\":1"));
  assert_non_null(strstr(text, "\\u0001\\u001f"));
  assert_non_null(strstr(text, "\"updated\":1234"));
  /* No verifier: no member. */
  assert_null(strstr(text, "password_verifier"));

  assert_int_equal(
      msoauth_cache_entry_parse(text, strlen(text), &odd, &out, stored, &err),
      MSOAUTH_OK);
  assert_true(same_entry(&in, &out));
  assert_int_equal(out.updated, 1234);
  assert_string_equal(stored[0], odd.authority);
  assert_string_equal(stored[1], odd.tenant);
  assert_string_equal(stored[2], odd.client_id);
  assert_string_equal(stored[3], odd.identity);
  for (int i = 0; i < 4; i++)
    free(stored[i]);
  msoauth_cache_entry_clear(&out);

  /* Another expected key: refused, nothing returned. */
  assert_int_equal(
      msoauth_cache_entry_parse(text, strlen(text), &key_a, &out, stored, &err),
      MSOAUTH_ERR_PROTOCOL);
  assert_null(out.refresh_token);
  assert_null(stored[0]);
  msoauth_cache_entry_clear(&out);
  msoauth_free_wiped(&text);

  /* Unknown members are ignored (forward compatibility). */
  text = build_json(N_MEMBERS, NULL);
  {
    size_t len = strlen(text);
    char *more = malloc(len + 64);

    assert_non_null(more);
    snprintf(more, len + 64, "{\"future\":{\"x\":[1]},%s", text + 1);
    assert_int_equal(
        msoauth_cache_entry_parse(more, strlen(more), &key_a, &out, NULL, &err),
        MSOAUTH_OK);
    assert_string_equal(msoauth_secret_value(out.refresh_token),
                        "rt-SECRET-value");
    assert_string_equal(out.password_verifier,
                        "pbkdf2-sha256$20000$c2FsdA$aGFzaA");
    /* The single failed verifier of earlier versions is still read. */
    assert_int_equal(out.n_failed, 1);
    assert_string_equal(out.failed[0].verifier,
                        "pbkdf2-sha256$20000$ZmFpbA$aGFzaA");
    assert_int_equal(out.failed[0].at, 1700000001);
    assert_int_equal(out.updated, 1700000000);
    assert_int_equal(out.n_access, 2);
    assert_string_equal(out.access[1].scope, "s2");
    assert_string_equal(msoauth_secret_value(out.access[1].token),
                        "at-SECRET-2");
    assert_int_equal(out.access[1].expires_at, 4000000001LL);
    msoauth_cache_entry_clear(&out);
    free(more);
  }
  free(text);

  /* Too large to serialise. */
  {
    struct msoauth_cache_entry big;

    assert_int_equal(make_entry(&big, NULL, 5, 60 * 1024, 'z'), 0);
    assert_int_equal(msoauth_cache_entry_format(&key_a, &big, 1, &text),
                     MSOAUTH_ERR_INVALID);
    assert_null(text);
    msoauth_cache_entry_clear(&big);
  }
  msoauth_cache_entry_clear(&in);
}

/* ------------------------------------------------------------ atomicity */

#define ROUNDS 300

/* Two entries of very different sizes. */
static void make_pair(struct msoauth_cache_entry *small,
                      struct msoauth_cache_entry *large) {
  assert_int_equal(make_entry(small, "rt-small", 1, 16, 's'), 0);
  assert_int_equal(make_entry(large, "rt-large", 12, 12 * 1024, 'L'), 0);
}

/* A child writing the pair alternately, rounds times (forever when 0). */
static void put_pair(struct msoauth_cache *cache,
                     const struct msoauth_cache_entry *small,
                     const struct msoauth_cache_entry *large, int rounds) {
  for (int i = 0; rounds == 0 || i < rounds; i++) {
    if (put_locked(cache, &key_a, i % 2 ? small : large, NULL))
      _exit(1);
  }
  _exit(0);
}

static void test_atomic_readers(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry small, large, out;
  int n_small = 0, n_large = 0;
  int ready[2], status = 0, done = 0;
  char c;
  pid_t pid;

  open_cache(fx);
  make_pair(&small, &large);
  assert_int_equal(put_locked(fx->cache, &key_a, &small, NULL),
                   MSOAUTH_OK);
  assert_int_equal(pipe(ready), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* Tell the parent the writer runs, so reads and writes overlap. */
    if (write(ready[1], "r", 1) != 1)
      _exit(2);
    put_pair(fx->cache, &small, &large, ROUNDS);
  }
  close(ready[1]);
  assert_int_equal(read(ready[0], &c, 1), 1);
  close(ready[0]);
  /* At least ROUNDS reads, and on until the writer is done. */
  for (int i = 0; i < ROUNDS || !done; i++) {
    struct msoauth_err err;
    msoauth_rc rc = msoauth_cache_get(fx->cache, &key_a, &out, &err);

    if (rc != MSOAUTH_OK)
      kill(pid, SIGKILL);
    assert_int_equal(rc, MSOAUTH_OK);
    if (same_entry(&out, &small))
      n_small++;
    else if (same_entry(&out, &large))
      n_large++;
    else
      fail_msg("read %d: an entry that was never written", i);
    msoauth_cache_entry_clear(&out);
    if (!done) {
      pid_t w = waitpid(pid, &status, WNOHANG);

      assert_true(w >= 0);
      done = w == pid;
    }
  }
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* The reads did overlap the writes. */
  assert_true(n_small > 0 && n_large > 0);
  assert_int_equal(n_warnings, 0);
  assert_int_equal(count_files(fx->dir, ".tmp."), 0);
  msoauth_cache_entry_clear(&small);
  msoauth_cache_entry_clear(&large);
}

static void backdate(const char *dir, const char *name) {
  char path[PATH_MAX];
  struct timespec times[2];

  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= 120;
  times[1] = times[0];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_killed_writer(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry small, large, out;
  char fresh[PATH_MAX], stale[PATH_MAX];
  struct dirent *de;
  unsigned seed = (unsigned)time(NULL);
  int found = 0;
  DIR *d;

  open_cache(fx);
  make_pair(&small, &large);
  for (int i = 0; i < 30; i++) {
    struct msoauth_err err;
    msoauth_rc rc;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
      put_pair(fx->cache, &small, &large, 0);
    sleep_us(rand_r(&seed) % 20000);
    kill(pid, SIGKILL);
    assert_int_equal(wait_child(pid), -1);
    rc = msoauth_cache_get(fx->cache, &key_a, &out, &err);
    if (rc == MSOAUTH_OK) {
      assert_true(same_entry(&out, &small) || same_entry(&out, &large));
      found++;
    } else {
      assert_int_equal(rc, MSOAUTH_ERR_NOT_FOUND);
      assert_int_equal(found, 0); /* once there, it stays */
    }
    msoauth_cache_entry_clear(&out);
  }
  /* A partial file would have been logged. */
  assert_int_equal(n_warnings, 0);
  msoauth_cache_close(&fx->cache);

  /* Re-opening removes temporary files older than 60 s, not younger ones. */
  key_path(fx, &key_a, ".tmp.1.00", stale, sizeof(stale));
  write_file(stale, "{\"vers", 6, 0600);
  key_path(fx, &key_a, ".tmp.2.00", fresh, sizeof(fresh));
  write_file(fresh, "{\"vers", 6, 0600);
  d = opendir(fx->dir);
  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    if (strstr(de->d_name, ".tmp.") != NULL &&
        strcmp(de->d_name, strrchr(fresh, '/') + 1) != 0)
      backdate(fx->dir, de->d_name);
  }
  closedir(d);
  assert_true(count_files(fx->dir, ".tmp.") >= 2);
  open_cache(fx);
  assert_int_equal(count_files(fx->dir, ".tmp."), 1);
  assert_int_equal(access(fresh, F_OK), 0);
  assert_int_equal(access(stale, F_OK), -1);
  msoauth_cache_entry_clear(&small);
  msoauth_cache_entry_clear(&large);
}

/* ------------------------------------------------------------ locks */

#define LOCKERS 20

/* A child: waits for the start signal, then increments the counter kept
 * in the refresh token ("count=N") under the lock. */
static void increment(struct msoauth_cache *cache, int start_fd) {
  struct msoauth_cache_entry e;
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_secret *rt = NULL;
  char buf[32], *end;
  long n = 0;
  msoauth_rc rc;

  if (read(start_fd, buf, 1) < 0)
    _exit(2);
  if (msoauth_cache_lock(cache, &key_a, mono_ms() + 60000, &lock, NULL))
    _exit(3);
  rc = msoauth_cache_get(cache, &key_a, &e, NULL);
  if (rc == MSOAUTH_OK) {
    const char *v = msoauth_secret_value(e.refresh_token);

    if (strncmp(v, "count=", 6) != 0)
      _exit(4);
    n = strtol(v + 6, &end, 10);
    if (*end != '\0')
      _exit(4);
  } else if (rc != MSOAUTH_ERR_NOT_FOUND) {
    _exit(5);
  }
  /* Widen the window a lost update would need. */
  sleep_us(2000);
  msoauth_secret_free(&e.refresh_token);
  snprintf(buf, sizeof(buf), "count=%ld", n + 1);
  if (msoauth_secret_from_str(buf, &rt))
    _exit(6);
  e.refresh_token = rt;
  if (msoauth_cache_put(cache, &key_a, &e, NULL))
    _exit(7);
  msoauth_cache_unlock(&lock);
  msoauth_cache_entry_clear(&e);
  _exit(0);
}

static void test_lock_exclusive(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry out;
  pid_t pids[LOCKERS];
  int start[2];

  open_cache(fx);
  assert_int_equal(pipe(start), 0);
  for (int i = 0; i < LOCKERS; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      close(start[1]);
      increment(fx->cache, start[0]);
    }
  }
  close(start[0]);
  close(start[1]); /* all children start now */
  for (int i = 0; i < LOCKERS; i++)
    assert_int_equal(wait_child(pids[i]), 0);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, NULL),
                   MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(out.refresh_token), "count=20");
  msoauth_cache_entry_clear(&out);
  assert_int_equal(n_warnings, 0);
}

static void test_lock_deadline(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_lock *lock = NULL, *other = NULL;
  struct msoauth_err err;
  pid_t pid;

  open_cache(fx);
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 1000, &lock, &err),
      MSOAUTH_OK);
  assert_non_null(lock);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    long long t0 = mono_ms(), dt;
    msoauth_rc rc =
        msoauth_cache_lock(fx->cache, &key_a, t0 + 200, &other, NULL);

    dt = mono_ms() - t0;
    if (rc != MSOAUTH_ERR_TIMEOUT)
      _exit(1);
    if (dt < 200 || dt >= 1000)
      _exit(2);
    /* Another entry's lock is free. */
    if (msoauth_cache_lock(fx->cache, &key_b, t0 + 200, &other, NULL))
      _exit(3);
    msoauth_cache_unlock(&other);
    _exit(0);
  }
  assert_int_equal(wait_child(pid), 0);
  msoauth_cache_unlock(&lock);
  assert_null(lock);
  /* Released: taken at once, even with a deadline already past. */
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() - 1, &lock, &err),
      MSOAUTH_OK);
  /* Held here: a second taker in this process times out too. */
  assert_int_equal(
      msoauth_cache_lock(fx->cache, &key_a, mono_ms() + 50, &other, &err),
      MSOAUTH_ERR_TIMEOUT);
  assert_null(other);
  msoauth_cache_unlock(&lock);
  msoauth_cache_unlock(&lock); /* NULL is accepted */
}

/* ------------------------------------------------------------ full disk */

static void test_full_disk(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_entry small, large, out;
  pid_t pid;

  open_cache(fx);
  make_pair(&small, &large);
  assert_int_equal(put_locked(fx->cache, &key_a, &small, NULL),
                   MSOAUTH_OK);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = {8192, 8192};
    struct msoauth_err err;

    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
      _exit(2);
    if (put_locked(fx->cache, &key_a, &large, &err) != MSOAUTH_ERR_IO)
      _exit(1);
    if (strstr(err.detail, "SECRET") != NULL || err.detail[0] == '\0')
      _exit(3);
    _exit(0);
  }
  assert_int_equal(wait_child(pid), 0);
  assert_int_equal(msoauth_cache_get(fx->cache, &key_a, &out, NULL),
                   MSOAUTH_OK);
  assert_true(same_entry(&out, &small));
  msoauth_cache_entry_clear(&out);
  assert_int_equal(count_files(fx->dir, ".tmp."), 0);
  assert_int_equal(count_files(fx->dir, ".json"), 1);
  msoauth_cache_entry_clear(&small);
  msoauth_cache_entry_clear(&large);
}

/* ------------------------------------------------------------ a backend */

/* A fake backend: open_backend dispatches to it and takes its state. */
struct fake {
  int gets, closes;
};

static msoauth_rc fake_get(void *state, const struct msoauth_cache_key *key,
                           struct msoauth_cache_entry *entry,
                           struct msoauth_err *err) {
  struct fake *f = state;

  (void)key;
  f->gets++;
  entry->updated = 42;
  return msoauth_fail(err, MSOAUTH_ERR_NOT_FOUND, "fake");
}

static void fake_close(void *state) {
  ((struct fake *)state)->closes++;
}

static void test_backend_dispatch(void **state) {
  struct msoauth_cache_backend be;
  struct msoauth_cache *cache = NULL;
  struct msoauth_cache_entry out;
  struct fake f = {0, 0};

  (void)state;
  memset(&be, 0, sizeof(be));
  be.name = "fake";
  be.get = fake_get;
  be.close = fake_close;
  assert_int_equal(msoauth_cache_open_backend(&be, &f, &test_log, &cache),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_cache_get(cache, &key_a, &out, NULL),
                   MSOAUTH_ERR_NOT_FOUND);
  assert_int_equal(f.gets, 1);
  /* A failed get leaves a cleared entry. */
  assert_int_equal(out.updated, 0);
  msoauth_cache_close(&cache);
  assert_null(cache);
  assert_int_equal(f.closes, 1);
  msoauth_cache_close(&cache);
  assert_int_equal(f.closes, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_open_creates_dir), T(test_open_refuses), T(test_open_root_foreign_dir),
      T(test_write_needs_lock), T(test_foreign_lock_file),
      T(test_foreign_entry_kept),
      T(test_round_trip),       T(test_get_missing),
      T(test_corrupt_files),    T(test_bad_files_ignored),
      T(test_forget),           T(test_list),
      T(test_entry_find_set),   T(test_entry_format_parse),
      T(test_atomic_readers),   T(test_killed_writer),
      T(test_lock_exclusive),   T(test_lock_deadline),
      T(test_full_disk),        T(test_backend_dispatch),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
