/*
 * test_util.c - buffers, base64, secrets, JSON readers and results.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "io.h"
#include "json.h"
#include "log.h"
#include "result.h"
#include "scope.h"
#include "secret.h"

static void test_buf_grows_and_caps(void **state) {
  struct msoauth_buf buf;

  (void)state;
  msoauth_buf_init(&buf, 10, 0);
  assert_string_equal(msoauth_buf_str(&buf), "");
  assert_int_equal(msoauth_buf_adds(&buf, "hello"), MSOAUTH_OK);
  assert_int_equal(msoauth_buf_addf(&buf, "%d%s", 12, "34"), MSOAUTH_OK);
  assert_string_equal(msoauth_buf_str(&buf), "hello1234");
  assert_int_equal(buf.len, 9);
  /* One byte more fits the cap of 10, two do not: the buffer is freed. */
  assert_int_equal(msoauth_buf_adds(&buf, "x"), MSOAUTH_OK);
  assert_int_equal(msoauth_buf_adds(&buf, "y"), MSOAUTH_ERR_INVALID);
  assert_null(buf.data);
  assert_int_equal(buf.len, 0);
  msoauth_buf_free(&buf);
}

static void test_buf_take(void **state) {
  struct msoauth_buf buf;
  char *s;

  (void)state;
  msoauth_buf_init(&buf, 1000, 1);
  for (int i = 0; i < 100; i++)
    assert_int_equal(msoauth_buf_adds(&buf, "abcdefgh"), MSOAUTH_OK);
  assert_int_equal(buf.len, 800);
  s = msoauth_buf_take(&buf);
  assert_non_null(s);
  assert_int_equal(strlen(s), 800);
  assert_null(buf.data);
  free(s);
  msoauth_buf_free(&buf);
}

struct b64_case {
  const char *plain;
  size_t len;
  const char *std;
  const char *url;
};

static const struct b64_case b64_cases[] = {
    {"", 0, "", ""},
    {"f", 1, "Zg==", "Zg"},
    {"fo", 2, "Zm8=", "Zm8"},
    {"foo", 3, "Zm9v", "Zm9v"},
    {"foob", 4, "Zm9vYg==", "Zm9vYg"},
    {"\xfb\xff\xfe", 3, "+//+", "-__-"},
    {"user=a@b\x01" "auth=Bearer t\x01\x01", 24,
     "dXNlcj1hQGIBYXV0aD1CZWFyZXIgdAEB", "dXNlcj1hQGIBYXV0aD1CZWFyZXIgdAEB"},
};

static void test_base64_round_trip(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
    const struct b64_case *c = &b64_cases[i];

    for (int url = 0; url <= 1; url++) {
      const char *expect = url ? c->url : c->std;
      struct msoauth_buf enc, dec;

      msoauth_buf_init(&enc, 1024, 0);
      msoauth_buf_init(&dec, 1024, 0);
      assert_int_equal(msoauth_base64_encode(&enc, c->plain, c->len, url),
                       MSOAUTH_OK);
      assert_string_equal(msoauth_buf_str(&enc), expect);
      assert_int_equal(
          msoauth_base64_decode(&dec, expect, strlen(expect), url),
          MSOAUTH_OK);
      assert_int_equal(dec.len, c->len);
      assert_memory_equal(msoauth_buf_str(&dec), c->plain, c->len);
      msoauth_buf_free(&enc);
      msoauth_buf_free(&dec);
    }
  }
}

static void test_base64_strict(void **state) {
  static const struct {
    const char *text;
    int url;
  } bad[] = {
      {"Zg=", 0},   {"Zg", 0},    {"Z", 1},      {"Zg==", 1}, {"Z g=", 0},
      {"Zh==", 0},  {"Zh", 1},    {"+/", 1},     {"-_==", 0}, {"Zm9v\n", 0},
      {"=Zm9", 0},  {"Zm9v=", 1}, {"Zm\0v", 1},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct msoauth_buf out;
    size_t len = strlen(bad[i].text);

    if (i == sizeof(bad) / sizeof(bad[0]) - 1)
      len = 4; /* embedded NUL */
    msoauth_buf_init(&out, 64, 0);
    assert_int_equal(msoauth_base64_decode(&out, bad[i].text, len, bad[i].url),
                     MSOAUTH_ERR_INVALID);
    msoauth_buf_free(&out);
  }
}

/* Inputs longer than one EVP chunk (1,024 characters): every length around
 * the boundaries round-trips, and a bad character in the last chunk is
 * still refused. */
static void test_base64_long(void **state) {
  unsigned char plain[3100];
  (void)state;

  for (size_t i = 0; i < sizeof(plain); i++)
    plain[i] = (unsigned char)(i * 131 + 7);
  for (size_t len = 760; len < sizeof(plain); len += 97) {
    for (int url = 0; url <= 1; url++) {
      struct msoauth_buf enc, dec;

      msoauth_buf_init(&enc, 8192, 0);
      msoauth_buf_init(&dec, 8192, 1);
      assert_int_equal(msoauth_base64_encode(&enc, plain, len, url),
                       MSOAUTH_OK);
      assert_int_equal(enc.len, url ? (len * 4 + 2) / 3 : (len + 2) / 3 * 4);
      assert_int_equal(msoauth_base64_decode(&dec, enc.data, enc.len, url),
                       MSOAUTH_OK);
      assert_int_equal(dec.len, len);
      assert_memory_equal(dec.data, plain, len);
      msoauth_buf_free(&dec);
      enc.data[enc.len - 3] = url ? '+' : '-';
      assert_int_equal(msoauth_base64_decode(&dec, enc.data, enc.len, url),
                       MSOAUTH_ERR_INVALID);
      enc.data[enc.len - 3] = ' ';
      assert_int_equal(msoauth_base64_decode(&dec, enc.data, enc.len, url),
                       MSOAUTH_ERR_INVALID);
      msoauth_buf_free(&enc);
      msoauth_buf_free(&dec);
    }
  }
}

static void test_scope_has(void **state) {
  (void)state;
  assert_true(msoauth_scope_has("openid profile", "openid"));
  assert_true(msoauth_scope_has("openid  profile", "profile"));
  assert_true(msoauth_scope_has(" offline_access ", "offline_access"));
  assert_false(msoauth_scope_has("openid profile", "open"));
  assert_false(msoauth_scope_has("openidx", "openid"));
  assert_false(msoauth_scope_has("", "openid"));
  assert_false(msoauth_scope_has("https://x/.default", "openid"));
}

static void test_secret_basics(void **state) {
  struct msoauth_secret *a = NULL, *b = NULL, *c = NULL;

  (void)state;
  assert_int_equal(msoauth_secret_new("pa\0ss", 5, &a), MSOAUTH_OK);
  assert_int_equal(msoauth_secret_len(a), 5);
  assert_memory_equal(msoauth_secret_value(a), "pa\0ss", 6);
  assert_int_equal(msoauth_secret_dup(a, &b), MSOAUTH_OK);
  assert_true(msoauth_secret_equal(a, b));
  assert_int_equal(msoauth_secret_from_str("pa", &c), MSOAUTH_OK);
  assert_false(msoauth_secret_equal(a, c));
  msoauth_secret_free(&a);
  msoauth_secret_free(&b);
  msoauth_secret_free(&c);
  assert_null(a);
  msoauth_secret_free(&a); /* twice is harmless */
  assert_int_equal(msoauth_secret_new("x", MSOAUTH_SECRET_MAX + 1, &a),
                   MSOAUTH_ERR_INVALID);
  assert_null(a);
}

/* Writes content to a fresh file in dir with mode; returns its path. */
static const char *write_file(const char *dir, const char *name,
                              const char *content, size_t len, mode_t mode) {
  static char path[512];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(content, 1, len, f), len);
  fclose(f);
  assert_int_equal(chmod(path, mode), 0);
  return path;
}

static void test_secret_file(void **state) {
  char dir[] = "/tmp/msoauth-util-XXXXXX";
  struct msoauth_secret *s = NULL;
  struct msoauth_err err;
  const char *path;
  char link_path[600];

  (void)state;
  assert_non_null(mkdtemp(dir));
  path = write_file(dir, "ok", "s3cret\n", 7, 0600);
  assert_int_equal(msoauth_secret_read_file(path, &s, &err), MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(s), "s3cret");
  msoauth_secret_free(&s);

  path = write_file(dir, "crlf", "two words\r\n", 11, 0400);
  assert_int_equal(msoauth_secret_read_file(path, &s, &err), MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(s), "two words");
  msoauth_secret_free(&s);

  /* Only one trailing newline is stripped. */
  path = write_file(dir, "nl2", "x\n\n", 3, 0600);
  assert_int_equal(msoauth_secret_read_file(path, &s, &err), MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(s), "x\n");
  msoauth_secret_free(&s);

  path = write_file(dir, "open", "s3cret\n", 7, 0644);
  assert_int_equal(msoauth_secret_read_file(path, &s, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_non_null(strstr(err.detail, "chmod 600"));
  assert_null(strstr(err.detail, "s3cret"));
  assert_null(s);

  path = write_file(dir, "group", "s3cret\n", 7, 0640);
  assert_int_equal(msoauth_secret_read_file(path, &s, &err),
                   MSOAUTH_ERR_CONFIG);

  path = write_file(dir, "empty", "\n", 1, 0600);
  assert_int_equal(msoauth_secret_read_file(path, &s, &err),
                   MSOAUTH_ERR_CONFIG);

  path = write_file(dir, "nul", "a\0b", 3, 0600);
  assert_int_equal(msoauth_secret_read_file(path, &s, &err),
                   MSOAUTH_ERR_CONFIG);

  snprintf(link_path, sizeof(link_path), "%s/link", dir);
  assert_int_equal(symlink("ok", link_path), 0);
  assert_int_equal(msoauth_secret_read_file(link_path, &s, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_non_null(strstr(err.detail, "symbolic link"));

  assert_int_equal(msoauth_secret_read_file("/nonexistent/x", &s, &err),
                   MSOAUTH_ERR_IO);

  {
    size_t big = MSOAUTH_SECRET_MAX + 10;
    char *content = malloc(big);

    assert_non_null(content);
    memset(content, 'a', big);
    path = write_file(dir, "big", content, big, 0600);
    free(content);
    assert_int_equal(msoauth_secret_read_file(path, &s, &err),
                     MSOAUTH_ERR_CONFIG);
  }
  {
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
  }
}

/* The one file reader: each rule of a policy, on a file made to break it. */
static void test_file_policy(void **state) {
  static const struct msoauth_file_policy strict = {
      MSOAUTH_OWNER_SELF, MSOAUTH_MODE_PRIVATE, 0, 16, 1};
  static const struct msoauth_file_policy relaxed = {
      MSOAUTH_OWNER_ANY, MSOAUTH_MODE_NO_SHARED_WRITE, 1, 16, 0};
  static const struct {
    const char *name;
    mode_t mode;
    size_t len;
    const struct msoauth_file_policy *policy;
    enum msoauth_file_problem expect;
  } cases[] = {
      {"ok", 0600, 5, &strict, MSOAUTH_FILE_OK},
      {"empty", 0600, 0, &strict, MSOAUTH_FILE_OK},
      {"cap", 0600, 16, &strict, MSOAUTH_FILE_OK},
      {"big", 0600, 17, &strict, MSOAUTH_FILE_TOO_LARGE},
      {"gread", 0640, 5, &strict, MSOAUTH_FILE_MODE},
      {"gexec", 0610, 5, &strict, MSOAUTH_FILE_MODE},
      {"oread", 0604, 5, &relaxed, MSOAUTH_FILE_OK},
      {"gwrite", 0620, 5, &relaxed, MSOAUTH_FILE_MODE},
      {"owrite", 0602, 5, &relaxed, MSOAUTH_FILE_MODE},
  };
  char dir[] = "/tmp/msoauth-io-XXXXXX";
  char path[512], link_path[512];
  struct msoauth_file f;
  int dirfd;

  (void)state;
  assert_non_null(mkdtemp(dir));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *p = write_file(dir, cases[i].name, "0123456789abcdefgh",
                               cases[i].len, cases[i].mode);

    assert_int_equal(msoauth_file_read(p, cases[i].policy, &f),
                     cases[i].expect);
    if (cases[i].expect == MSOAUTH_FILE_OK) {
      assert_int_equal(f.data.len, cases[i].len);
      assert_non_null(f.data.data);
      assert_int_equal(f.data.data[f.data.len], '\0');
      assert_memory_equal(f.data.data, "0123456789abcdef", cases[i].len);
    } else {
      assert_null(f.data.data);
    }
    assert_int_equal(f.data.wipe, cases[i].policy->secret);
    msoauth_file_free(&f);
  }

  /* A symbolic link: refused by one policy, followed by the other. */
  snprintf(link_path, sizeof(link_path), "%s/link", dir);
  assert_int_equal(symlink("ok", link_path), 0);
  assert_int_equal(msoauth_file_read(link_path, &strict, &f),
                   MSOAUTH_FILE_SYMLINK);
  assert_non_null(strstr(msoauth_file_why(MSOAUTH_FILE_SYMLINK, &f),
                         "symbolic link"));
  msoauth_file_free(&f);
  assert_int_equal(msoauth_file_read(link_path, &relaxed, &f), MSOAUTH_FILE_OK);
  assert_string_equal(f.data.data, "01234");
  msoauth_file_free(&f);

  /* A FIFO is refused at once under both, never waited on; a directory. */
  snprintf(path, sizeof(path), "%s/fifo", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  assert_int_equal(msoauth_file_read(path, &strict, &f),
                   MSOAUTH_FILE_NOT_REGULAR);
  msoauth_file_free(&f);
  assert_int_equal(msoauth_file_read(path, &relaxed, &f),
                   MSOAUTH_FILE_NOT_REGULAR);
  msoauth_file_free(&f);
  assert_int_equal(msoauth_file_read(dir, &relaxed, &f),
                   MSOAUTH_FILE_NOT_REGULAR);
  msoauth_file_free(&f);

  /* Missing, and relative to a directory descriptor. */
  snprintf(path, sizeof(path), "%s/missing", dir);
  assert_int_equal(msoauth_file_read(path, &relaxed, &f), MSOAUTH_FILE_MISSING);
  msoauth_file_free(&f);
  dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(dirfd >= 0);
  assert_int_equal(msoauth_file_read_at(dirfd, "ok", &strict, &f),
                   MSOAUTH_FILE_OK);
  assert_string_equal(f.data.data, "01234");
  msoauth_file_free(&f);
  assert_int_equal(msoauth_file_read_at(dirfd, "link", &strict, &f),
                   MSOAUTH_FILE_SYMLINK);
  msoauth_file_free(&f);
  close(dirfd);

  /* Owned by another user (only root can set that up): refused by the
   * owner rule, read by a policy that takes any owner. */
  if (geteuid() == 0) {
    const char *p = write_file(dir, "nobody", "x", 1, 0600);

    assert_int_equal(chown(p, 65534, 65534), 0);
    assert_int_equal(msoauth_file_read(p, &strict, &f), MSOAUTH_FILE_OWNER);
    assert_int_equal((long)f.st.st_uid, 65534);
    msoauth_file_free(&f);
    assert_int_equal(msoauth_file_read(p, &relaxed, &f), MSOAUTH_FILE_OK);
    msoauth_file_free(&f);
  }
  {
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
  }
}

static void test_json_readers(void **state) {
  const char *text = "{\"s\":\"v\",\"n\":42,\"ns\":\"7\",\"neg\":-3,"
                     "\"f\":1.5,\"big\":123456789012345678901234,"
                     "\"bad\":\"12x\",\"arr\":[1],\"tok\":\"t0ken\"}";
  struct json_object *root = msoauth_json_parse(text, strlen(text));
  struct msoauth_secret *tok = NULL;
  long long v = 0;
  int bad = 0;

  (void)state;
  assert_non_null(root);
  assert_string_equal(msoauth_json_string(root, "s", &bad), "v");
  assert_int_equal(bad, 0);
  assert_null(msoauth_json_string(root, "missing", &bad));
  assert_int_equal(bad, 0);
  assert_null(msoauth_json_string(root, "n", &bad));
  assert_int_equal(bad, 1);
  assert_int_equal(msoauth_json_int(root, "n", &v), MSOAUTH_OK);
  assert_int_equal(v, 42);
  assert_int_equal(msoauth_json_int(root, "ns", &v), MSOAUTH_OK);
  assert_int_equal(v, 7);
  assert_int_equal(msoauth_json_int(root, "neg", &v), MSOAUTH_OK);
  assert_int_equal(v, -3);
  assert_int_equal(msoauth_json_int(root, "f", &v), MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_json_int(root, "big", &v), MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_json_int(root, "bad", &v), MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_json_int(root, "arr", &v), MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_json_int(root, "missing", &v),
                   MSOAUTH_ERR_NOT_FOUND);
  assert_int_equal(msoauth_json_take_secret(root, "tok", &tok), MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(tok), "t0ken");
  /* json-c's own copy was wiped. */
  assert_null(strstr(json_object_to_json_string(root), "t0ken"));
  msoauth_secret_free(&tok);
  assert_int_equal(msoauth_json_take_secret(root, "n", &tok),
                   MSOAUTH_ERR_PROTOCOL);
  assert_null(tok);
  json_object_put(root);
}

static void test_json_parse_strict(void **state) {
  static const char *const bad[] = {
      "", "{", "{\"a\":1} x", "{\"a\":1}{}", "[1,]", "nul",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_null(msoauth_json_parse(bad[i], strlen(bad[i])));
  /* Exactly len bytes are parsed: a NUL inside is trailing garbage. */
  assert_null(msoauth_json_parse("{}\0{}", 5));
}

static int log_calls;
static char log_last[2048];

static void count_log(void *arg, enum msoauth_level level, const char *msg) {
  (void)arg;
  (void)level;
  log_calls++;
  snprintf(log_last, sizeof(log_last), "%s", msg);
}

static void test_log_levels(void **state) {
  struct msoauth_log log = {count_log, NULL, MSOAUTH_LOG_WARNING};
  enum msoauth_level level;
  char big[3000];

  (void)state;
  log_calls = 0;
  MSOAUTH_ERROR(&log, "e %d", 1);
  MSOAUTH_WARN(&log, "w");
  MSOAUTH_INFO(&log, "i");
  MSOAUTH_DEBUG(&log, "d");
  assert_int_equal(log_calls, 2);
  log.level = MSOAUTH_LOG_DEBUG;
  MSOAUTH_DEBUG(&log, "step %s", "one");
  assert_int_equal(log_calls, 3);
  assert_string_equal(log_last, "test_log_levels: step one");
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  MSOAUTH_ERROR(&log, "%s", big);
  assert_int_equal(strlen(log_last), 1023);
  MSOAUTH_ERROR(NULL, "dropped");
  assert_int_equal(msoauth_level_parse("info", &level), 0);
  assert_int_equal(level, MSOAUTH_LOG_INFO);
  assert_int_equal(msoauth_level_parse("verbose", &level), -1);
}

static void test_results(void **state) {
  struct msoauth_err err;

  (void)state;
  for (int rc = 0; rc < 60; rc++)
    assert_non_null(msoauth_strerror((msoauth_rc)rc));
  assert_string_equal(msoauth_strerror(MSOAUTH_OK), "success");
  assert_int_equal(msoauth_fail(&err, MSOAUTH_ERR_DOMAIN, "domain %s", "x.org"),
                   MSOAUTH_ERR_DOMAIN);
  assert_int_equal(err.rc, MSOAUTH_ERR_DOMAIN);
  assert_string_equal(err.detail, "domain x.org");
  assert_int_equal(msoauth_fail(NULL, MSOAUTH_ERR_IO, "x"), MSOAUTH_ERR_IO);
  msoauth_err_clear(&err);
  assert_int_equal(err.rc, MSOAUTH_OK);
  assert_string_equal(err.detail, "");
  assert_true(msoauth_rc_unreachable(MSOAUTH_ERR_TIMEOUT));
  assert_true(msoauth_rc_unreachable(MSOAUTH_ERR_UNAVAILABLE));
  assert_false(msoauth_rc_unreachable(MSOAUTH_ERR_BAD_CREDENTIALS));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_grows_and_caps),
      cmocka_unit_test(test_buf_take),
      cmocka_unit_test(test_base64_round_trip),
      cmocka_unit_test(test_base64_strict),
      cmocka_unit_test(test_base64_long),
      cmocka_unit_test(test_scope_has),
      cmocka_unit_test(test_secret_basics),
      cmocka_unit_test(test_secret_file),
      cmocka_unit_test(test_file_policy),
      cmocka_unit_test(test_json_readers),
      cmocka_unit_test(test_json_parse_strict),
      cmocka_unit_test(test_log_levels),
      cmocka_unit_test(test_results),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
