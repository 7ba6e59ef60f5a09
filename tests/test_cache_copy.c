/*
 * test_cache_copy.c - the file backend's in-process copies of entries
 * (common/cache_copy.c, issue 17): an unchanged file is not read again,
 * and nothing the file no longer holds is ever served. "The other
 * process" is a second handle on the same directory: its writes do not
 * drop the first handle's copies, exactly as another process's would not.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "cache.h"
#include "cache_copy.h"
#include "clock.h"
#include "secret.h"

static const struct msoauth_cache_key key = {
    "https://login.microsoftonline.com", "contoso.com",
    "11111111-1111-1111-1111-111111111111", "alice@contoso.com"};

struct fixture {
  char base[64];
  char dir[128];
  char path[256]; /* key's entry file */
  struct msoauth_cache *mine, *other;
};

/* key's file name, computed independently of cache_file.c. */
static void entry_path(struct fixture *fx) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  char text[512];
  int n = snprintf(text, sizeof(text), "%s\n%s\n%s\n%s", key.authority,
                   key.tenant, key.client_id, key.identity);
  size_t off;

  SHA256((const unsigned char *)text, (size_t)n, md);
  off = (size_t)snprintf(fx->path, sizeof(fx->path), "%s/", fx->dir);
  for (size_t i = 0; i < sizeof(md); i++)
    off += (size_t)snprintf(fx->path + off, sizeof(fx->path) - off, "%02x",
                            md[i]);
  snprintf(fx->path + off, sizeof(fx->path) - off, ".json");
}

static int setup(void **state) {
  struct fixture *fx = calloc(1, sizeof(*fx));
  struct msoauth_cache_settings set = {0};

  if (fx == NULL)
    return -1;
  snprintf(fx->base, sizeof(fx->base), "/tmp/test_cache_copy.XXXXXX");
  if (mkdtemp(fx->base) == NULL)
    return -1;
  snprintf(fx->dir, sizeof(fx->dir), "%s/cache", fx->base);
  set.dir = fx->dir;
  if (msoauth_cache_open(&set, NULL, &fx->mine, NULL) != MSOAUTH_OK ||
      msoauth_cache_open(&set, NULL, &fx->other, NULL) != MSOAUTH_OK)
    return -1;
  entry_path(fx);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  struct fixture *fx = *state;

  msoauth_cache_close(&fx->mine);
  msoauth_cache_close(&fx->other);
  unlink(fx->path);
  {
    char lock[300];

    snprintf(lock, sizeof(lock), "%.*s.lock", (int)(strlen(fx->path) - 5),
             fx->path);
    unlink(lock);
  }
  rmdir(fx->dir);
  rmdir(fx->base);
  free(fx);
  return 0;
}

/* "The other process" stores an entry whose one access token is value. */
static void other_puts(struct fixture *fx, const char *value) {
  struct msoauth_cache_entry e;
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_secret *tok = NULL;
  long long now = (long long)time(NULL);

  msoauth_cache_entry_init(&e);
  assert_int_equal(msoauth_secret_from_str(value, &tok), MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str("rt-secret", &e.refresh_token),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_cache_entry_set(&e, "scope", tok, now + 3600, now),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_cache_lock(fx->other, &key, msoauth_now_ms() + 5000,
                                      &lock, NULL),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_cache_put(fx->other, &key, &e, NULL), MSOAUTH_OK);
  msoauth_cache_unlock(&lock);
  msoauth_secret_free(&tok);
  msoauth_cache_entry_clear(&e);
}

/* Sets the file's mtime back a minute: written long ago, settled. */
static void settle(struct fixture *fx) {
  struct timespec t[2];

  clock_gettime(CLOCK_REALTIME, &t[0]);
  t[0].tv_sec -= 60;
  t[1] = t[0];
  assert_int_equal(utimensat(AT_FDCWD, fx->path, t, 0), 0);
}

/* The token my handle gets now ("" when none), and whether a copy
 * answered. */
static const char *my_token(struct fixture *fx, int *from_copy) {
  static char value[256];
  struct msoauth_cache_entry e;
  unsigned long before = msoauth_copies_hits();

  value[0] = '\0';
  if (msoauth_cache_get(fx->mine, &key, &e, NULL) == MSOAUTH_OK &&
      e.n_access == 1)
    snprintf(value, sizeof(value), "%s",
             msoauth_secret_value(e.access[0].token));
  msoauth_cache_entry_clear(&e);
  *from_copy = msoauth_copies_hits() != before;
  return value;
}

/* An unchanged file is served from the copy; another process's rewrite
 * (a new file by rename) between two logins is seen at once. */
static void test_rewrite_seen(void **state) {
  struct fixture *fx = *state;
  int copy;

  other_puts(fx, "token-one");
  settle(fx);
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_false(copy); /* read and parsed */
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_true(copy); /* not read again */
  other_puts(fx, "token-two");
  settle(fx);
  assert_string_equal(my_token(fx, &copy), "token-two");
  assert_false(copy);
  assert_string_equal(my_token(fx, &copy), "token-two");
  assert_true(copy);
}

/* A rewrite in place, same inode, same size, the mtime put back: the
 * ctime still tells. */
static void test_rewrite_in_place_seen(void **state) {
  struct fixture *fx = *state;
  char buf[8192], *at;
  struct stat st, st2;
  struct timespec t[2];
  ssize_t n;
  int fd, copy;

  other_puts(fx, "token-one");
  settle(fx);
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_true(copy);
  assert_int_equal(stat(fx->path, &st), 0);
  fd = open(fx->path, O_RDWR);
  assert_true(fd >= 0);
  n = pread(fd, buf, sizeof(buf) - 1, 0);
  assert_true(n > 0);
  buf[n] = '\0';
  at = strstr(buf, "token-one");
  assert_non_null(at);
  memcpy(at, "token-new", 9);
  assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
  close(fd);
  t[0] = st.st_atim;
  t[1] = st.st_mtim;
  assert_int_equal(utimensat(AT_FDCWD, fx->path, t, 0), 0);
  assert_int_equal(stat(fx->path, &st2), 0);
  assert_true(st2.st_ino == st.st_ino && st2.st_size == st.st_size &&
              st2.st_mtim.tv_sec == st.st_mtim.tv_sec &&
              st2.st_mtim.tv_nsec == st.st_mtim.tv_nsec);
  assert_string_equal(my_token(fx, &copy), "token-new");
  assert_false(copy);
}

/* Forgotten by the other process: nothing is served. A file made
 * readable by others: refused, copy or not. */
static void test_forget_and_mode(void **state) {
  struct fixture *fx = *state;
  struct msoauth_cache_lock *lock = NULL;
  int copy;

  other_puts(fx, "token-one");
  settle(fx);
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_true(copy);
  assert_int_equal(chmod(fx->path, 0644), 0);
  assert_string_equal(my_token(fx, &copy), "");
  assert_false(copy);
  assert_int_equal(chmod(fx->path, 0600), 0);
  settle(fx);
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_true(copy);
  assert_int_equal(msoauth_cache_lock(fx->other, &key, msoauth_now_ms() + 5000,
                                      &lock, NULL),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_cache_forget(fx->other, &key, NULL), MSOAUTH_OK);
  msoauth_cache_unlock(&lock);
  assert_string_equal(my_token(fx, &copy), "");
  assert_false(copy);
}

/* A file written within the last second is read every time: a second
 * write in the same clock tick could leave its mtime as it was. */
static void test_young_file_not_copied(void **state) {
  struct fixture *fx = *state;
  int copy;

  other_puts(fx, "token-one");
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_string_equal(my_token(fx, &copy), "token-one");
  assert_false(copy);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_rewrite_seen),
      T(test_rewrite_in_place_seen),
      T(test_forget_and_mode),
      T(test_young_file_not_copied),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
