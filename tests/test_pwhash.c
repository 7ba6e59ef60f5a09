/*
 * test_pwhash.c - PBKDF2-HMAC-SHA256 password verifiers: round trip,
 * wrong passwords, fresh salts, strict parsing, stored iterations.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "base64.h"
#include "buf.h"
#include "result.h"
#include "secret.h"
#include "pwhash.h"

/* A well-formed salt (16 zero bytes) and hash (32 zero bytes). */
#define SALT0 "AAAAAAAAAAAAAAAAAAAAAA"
#define HASH0 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static struct msoauth_secret *secret(const char *s) {
  struct msoauth_secret *sec = NULL;

  assert_int_equal(msoauth_secret_from_str(s, &sec), MSOAUTH_OK);
  return sec;
}

static void test_make_and_check(void **state) {
  struct msoauth_secret *pw = secret("correct horse battery staple");
  char *v = NULL;
  char prefix[64];

  (void)state;
  assert_int_equal(msoauth_verifier_make(pw, &v), MSOAUTH_OK);
  assert_non_null(v);
  snprintf(prefix, sizeof(prefix), "pbkdf2-sha256$%d$",
           MSOAUTH_VERIFIER_ITERATIONS);
  assert_memory_equal(v, prefix, strlen(prefix));
  /* 16 bytes of salt and 32 of hash, base64url without padding */
  assert_int_equal(strlen(v), strlen(prefix) + 22 + 1 + 43);
  assert_int_equal(v[strlen(prefix) + 22], '$');
  assert_null(strpbrk(v, "+/="));
  assert_null(strstr(v, "correct"));
  assert_int_equal(msoauth_verifier_check(v, pw), MSOAUTH_OK);
  msoauth_free_wiped(&v);
  assert_null(v);
  msoauth_secret_free(&pw);
}

static void test_wrong_password(void **state) {
  static const char *const wrong[] = {
      "Correct horse battery staple",
      "correct horse battery stapl",
      "correct horse battery staple ",
      "",
      "x",
  };
  struct msoauth_secret *pw = secret("correct horse battery staple");
  char *v = NULL;

  (void)state;
  assert_int_equal(msoauth_verifier_make(pw, &v), MSOAUTH_OK);
  for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
    struct msoauth_secret *other = secret(wrong[i]);

    if (msoauth_verifier_check(v, other) != MSOAUTH_ERR_BAD_CREDENTIALS)
      fail_msg("case %zu: \"%s\" accepted", i, wrong[i]);
    msoauth_secret_free(&other);
  }
  msoauth_free_wiped(&v);
  msoauth_secret_free(&pw);
}

/* A password with a NUL inside is compared in full, not as a C string. */
static void test_embedded_nul(void **state) {
  struct msoauth_secret *pw = NULL, *cut = secret("abc");
  char *v = NULL;

  (void)state;
  assert_int_equal(msoauth_secret_new("abc\0def", 7, &pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_make(pw, &v), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check(v, pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check(v, cut), MSOAUTH_ERR_BAD_CREDENTIALS);
  msoauth_free_wiped(&v);
  msoauth_secret_free(&pw);
  msoauth_secret_free(&cut);
}

static void test_salt_differs(void **state) {
  struct msoauth_secret *pw = secret("same password");
  char *a = NULL, *b = NULL;
  const char *salt_a, *salt_b;

  (void)state;
  assert_int_equal(msoauth_verifier_make(pw, &a), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_make(pw, &b), MSOAUTH_OK);
  assert_string_not_equal(a, b);
  salt_a = strchr(strchr(a, '$') + 1, '$') + 1;
  salt_b = strchr(strchr(b, '$') + 1, '$') + 1;
  assert_false(memcmp(salt_a, salt_b, 22) == 0);
  /* and the hashes differ with them */
  assert_string_not_equal(salt_a + 23, salt_b + 23);
  assert_int_equal(msoauth_verifier_check(a, pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check(b, pw), MSOAUTH_OK);
  msoauth_free_wiped(&a);
  msoauth_free_wiped(&b);
  msoauth_secret_free(&pw);
}

struct form_case {
  const char *verifier;
  msoauth_rc rc;
};

static const struct form_case form_cases[] = {
    /* the control: well formed, only the password is wrong */
    {"pbkdf2-sha256$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_BAD_CREDENTIALS},
    {"pbkdf2-sha256$1000$" SALT0 "$" HASH0, MSOAUTH_ERR_BAD_CREDENTIALS},
    /* prefix */
    {"", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha1$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"PBKDF2-SHA256$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {" pbkdf2-sha256$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2_sha256$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"bcrypt$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    /* iterations */
    {"pbkdf2-sha256$$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$abc$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$+20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$-20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$ 20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000 $" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000x$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$0x4e20$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$020000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$2e4$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    /* iterations out of range */
    {"pbkdf2-sha256$0$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$999$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$10000001$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$99999999999999999999$" SALT0 "$" HASH0,
     MSOAUTH_ERR_INVALID},
    /* salt: 15 and 17 bytes, empty */
    {"pbkdf2-sha256$20000$AAAAAAAAAAAAAAAAAAAA$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$AAAAAAAAAAAAAAAAAAAAAAA$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$$" HASH0, MSOAUTH_ERR_INVALID},
    /* hash: 31 and 33 bytes, empty */
    {"pbkdf2-sha256$20000$" SALT0 "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0 "$" HASH0 "AA", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0 "$", MSOAUTH_ERR_INVALID},
    /* bad base64url: other alphabet, padding, junk, non-zero spare bits */
    {"pbkdf2-sha256$20000$AAAAAAAAAAAAAAAAAAAAA+$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$AAAAAAAAAAAAAAAAAAAAA/$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0 "==$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$AAAAAAAAAA!AAAAAAAAAAA$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$AAAAAAAAAAAAAAAAAAAAAB$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0 "$" HASH0 "=", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0 "$" HASH0 "\n", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0
     "$AAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA",
     MSOAUTH_ERR_INVALID},
    /* missing parts */
    {"pbkdf2-sha256$20000", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    /* extra parts */
    {"pbkdf2-sha256$20000$" SALT0 "$" HASH0 "$", MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$" SALT0 "$" HASH0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$20000$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
    {"pbkdf2-sha256$pbkdf2-sha256$20000$" SALT0 "$" HASH0, MSOAUTH_ERR_INVALID},
};

static void test_malformed(void **state) {
  struct msoauth_secret *pw = secret("password");

  (void)state;
  for (size_t i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
    msoauth_rc rc = msoauth_verifier_check(form_cases[i].verifier, pw);

    if (rc != form_cases[i].rc)
      fail_msg("case %zu (%s): rc %d, want %d", i, form_cases[i].verifier, rc,
               form_cases[i].rc);
  }
  assert_int_equal(msoauth_verifier_check(NULL, pw), MSOAUTH_ERR_INVALID);
  msoauth_secret_free(&pw);
}

/* Builds "pbkdf2-sha256$ITER$SALT$HASH" by hand, independently of
 * msoauth_verifier_make. */
static char *hand_built(const char *password, long iterations) {
  static const unsigned char salt[16] = "0123456789abcdef";
  unsigned char hash[32];
  struct msoauth_buf out;

  assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
                                     sizeof(salt), (int)iterations,
                                     EVP_sha256(), sizeof(hash), hash),
                   1);
  msoauth_buf_init(&out, 256, 0);
  assert_int_equal(msoauth_buf_addf(&out, "pbkdf2-sha256$%ld$", iterations),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_base64_encode(&out, salt, sizeof(salt), 1),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_buf_adds(&out, "$"), MSOAUTH_OK);
  assert_int_equal(msoauth_base64_encode(&out, hash, sizeof(hash), 1),
                   MSOAUTH_OK);
  return msoauth_buf_take(&out);
}

static void test_other_iterations(void **state) {
  static const long iterations[] = {1000, 1001, 4096, 50000};
  struct msoauth_secret *pw = secret("s3cret!"), *bad = secret("s3cret?");

  (void)state;
  for (size_t i = 0; i < sizeof(iterations) / sizeof(iterations[0]); i++) {
    char *v = hand_built("s3cret!", iterations[i]);
    char *sep = strchr(v + strlen("pbkdf2-sha256$"), '$');

    assert_int_equal(msoauth_verifier_check(v, pw), MSOAUTH_OK);
    assert_int_equal(msoauth_verifier_check(v, bad),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
    /* The same salt and hash under another count do not match: the
     * iterations stored are the ones used. */
    assert_non_null(sep);
    {
      char other[256];

      snprintf(other, sizeof(other), "pbkdf2-sha256$%ld%s", iterations[i] + 1,
               sep);
      assert_int_equal(msoauth_verifier_check(other, pw),
                       MSOAUTH_ERR_BAD_CREDENTIALS);
    }
    free(v);
  }
  msoauth_secret_free(&pw);
  msoauth_secret_free(&bad);
}

/* Known answers computed elsewhere (Python's hashlib.pbkdf2_hmac):
 * PBKDF2-HMAC-SHA256("password", "0123456789abcdef", N), so the format and
 * the derivation are the documented ones. */
static void test_known_answer(void **state) {
  static const char *const known[] = {
      "pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$"
      "hRRjgXWkW8ResfIvBP99J_T4vkgEmMRV_0tJTOjR59I",
      "pbkdf2-sha256$20000$MDEyMzQ1Njc4OWFiY2RlZg$"
      "7-EOVlfeYlWDIYuMjGvydMrkyOrH4XUsKK7PmN3jO2o",
  };
  struct msoauth_secret *pw = secret("password"), *bad = secret("Password");

  (void)state;
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
    char *v = hand_built("password", i == 0 ? 1000 : 20000);

    assert_string_equal(v, known[i]);
    assert_int_equal(msoauth_verifier_check(known[i], pw), MSOAUTH_OK);
    assert_int_equal(msoauth_verifier_check(known[i], bad),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
    free(v);
  }
  msoauth_secret_free(&pw);
  msoauth_secret_free(&bad);
}

/* The memo answers again for the very verifier and password that passed,
 * and for nothing else. */
static void test_memo(void **state) {
  struct msoauth_verifier_memo *memo = NULL;
  struct msoauth_secret *pw = secret("s3cret!"), *bad = secret("s3cret?");
  char *v = hand_built("s3cret!", 1000), *w = hand_built("other", 1000);

  (void)state;
  assert_int_equal(msoauth_verifier_memo_new(&memo), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check_memo(memo, v, pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_memo_hits(memo), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(msoauth_verifier_check_memo(memo, v, pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_memo_hits(memo), 3);
  /* Another password, another verifier, a failure: computed, and a
   * failure is never remembered. */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(msoauth_verifier_check_memo(memo, v, bad),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
    assert_int_equal(msoauth_verifier_check_memo(memo, w, pw),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
  }
  assert_int_equal(msoauth_verifier_memo_hits(memo), 3);
  /* A verifier that differs in one character is not the one remembered. */
  v[strlen(v) - 1] = v[strlen(v) - 1] == 'A' ? 'B' : 'A';
  assert_int_equal(msoauth_verifier_check_memo(memo, v, pw),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(msoauth_verifier_memo_hits(memo), 3);
  /* No memo: a plain check. */
  assert_int_equal(msoauth_verifier_check_memo(NULL, w, bad),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  msoauth_verifier_memo_free(&memo);
  assert_null(memo);
  free(v);
  free(w);
  msoauth_secret_free(&pw);
  msoauth_secret_free(&bad);
}

/* Every success is remembered up to MSOAUTH_VERIFIER_MEMO_MAX (as many
 * identities as a busy server has); one more and the memo starts again:
 * the checks stay right, the earlier ones are computed again. */
static void test_memo_capacity(void **state) {
  enum { N = MSOAUTH_VERIFIER_MEMO_MAX };
  struct msoauth_verifier_memo *memo = NULL;
  struct msoauth_secret **pw = calloc(N + 1, sizeof(*pw));
  char **v = calloc(N + 1, sizeof(*v));
  char text[32];

  (void)state;
  assert_non_null(pw);
  assert_non_null(v);
  assert_int_equal(msoauth_verifier_memo_new(&memo), MSOAUTH_OK);
  for (int i = 0; i <= N; i++) {
    snprintf(text, sizeof(text), "password %d", i);
    pw[i] = secret(text);
    v[i] = hand_built(text, 1000);
  }
  for (int i = 0; i < N; i++)
    assert_int_equal(msoauth_verifier_check_memo(memo, v[i], pw[i]),
                     MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_memo_hits(memo), 0);
  for (int i = 0; i < N; i++)
    assert_int_equal(msoauth_verifier_check_memo(memo, v[i], pw[i]),
                     MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_memo_hits(memo), N);
  /* Another password against a remembered verifier is no hit. */
  assert_int_equal(msoauth_verifier_check_memo(memo, v[0], pw[1]),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  /* One more: the memo starts again with it alone. */
  assert_int_equal(msoauth_verifier_check_memo(memo, v[N], pw[N]),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check_memo(memo, v[N], pw[N]),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check_memo(memo, v[0], pw[0]),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_memo_hits(memo), N + 1);
  for (int i = 0; i <= N; i++) {
    free(v[i]);
    msoauth_secret_free(&pw[i]);
  }
  free(v);
  free(pw);
  msoauth_verifier_memo_free(&memo);
}

/* Issue 12, item 7: a chosen cost travels in the string; a like of the
 * same cost lends its salt, so one derivation checks several verifiers. */
static void test_make_with_and_find(void **state) {
  struct msoauth_secret *pw = NULL, *other = NULL, *third = NULL;
  char *a = NULL, *b = NULL, *c = NULL;
  const char *list[4];

  (void)state;
  assert_int_equal(msoauth_secret_from_str("first wrong", &pw), MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str("second wrong", &other),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str("never seen", &third), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_make_with(pw, 30000, NULL, &a),
                   MSOAUTH_OK);
  assert_non_null(strstr(a, "pbkdf2-sha256$30000$"));
  assert_int_equal(msoauth_verifier_make_with(other, 30000, a, &b),
                   MSOAUTH_OK);
  /* The same salt (the third part), another hash. */
  assert_memory_equal(a, b, (size_t)(strrchr(a, '$') - a));
  assert_string_not_equal(a, b);
  assert_int_equal(msoauth_verifier_check(a, pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check(b, other), MSOAUTH_OK);
  /* Another cost: a salt of its own. */
  assert_int_equal(msoauth_verifier_make_with(other, 20000, a, &c),
                   MSOAUTH_OK);
  assert_memory_not_equal(a + 21, c + 21, 22);
  msoauth_free_wiped(&c);
  list[0] = a;
  list[1] = NULL;
  list[2] = "pbkdf2-sha256$x";
  list[3] = b;
  assert_int_equal(msoauth_verifier_find(list, 4, pw), 0);
  assert_int_equal(msoauth_verifier_find(list, 4, other), 3);
  assert_int_equal(msoauth_verifier_find(list, 4, third), -1);
  assert_int_equal(msoauth_verifier_find(list, 0, pw), -1);
  /* Out of bounds costs are refused. */
  assert_int_equal(msoauth_verifier_make_with(pw, 999, NULL, &c),
                   MSOAUTH_ERR_INVALID);
  assert_null(c);
  assert_int_equal(msoauth_verifier_make_with(pw, 10000001, NULL, &c),
                   MSOAUTH_ERR_INVALID);
  msoauth_free_wiped(&a);
  msoauth_free_wiped(&b);
  msoauth_secret_free(&pw);
  msoauth_secret_free(&other);
  msoauth_secret_free(&third);
}

/* The cost of PAM's verifiers is current guidance (OWASP, 2023). */
static void test_password_cost(void **state) {
  struct msoauth_secret *pw = NULL;
  char *v = NULL;

  (void)state;
  assert_true(MSOAUTH_VERIFIER_ITERATIONS_PASSWORD >= 600000);
  assert_int_equal(msoauth_secret_from_str("pw", &pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_make_with(
                       pw, MSOAUTH_VERIFIER_ITERATIONS_PASSWORD, NULL, &v),
                   MSOAUTH_OK);
  assert_non_null(strstr(v, "pbkdf2-sha256$600000$"));
  assert_int_equal(msoauth_verifier_check(v, pw), MSOAUTH_OK);
  msoauth_free_wiped(&v);
  msoauth_secret_free(&pw);
}

/* A verifier made on a thread checks the password it was started with,
 * and no other; one not taken is wiped and freed (valgrind sees no leak);
 * started before a fork, the child makes it itself. */
static void test_job(void **state) {
  struct msoauth_secret *pw = secret("correct horse battery staple");
  struct msoauth_secret *other = secret("correct horse battery stapler");
  struct msoauth_verifier_job *job = NULL;
  char dummy[] = "x";
  char *v = dummy; /* finish sets it, also on failure */
  pid_t pid;
  int status = 0;

  (void)state;
  assert_int_equal(msoauth_verifier_start(pw, &job), MSOAUTH_OK);
  assert_non_null(job);
  assert_int_equal(msoauth_verifier_finish(&job, &v), MSOAUTH_OK);
  assert_null(job);
  assert_non_null(v);
  assert_int_equal(msoauth_verifier_check(v, pw), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check(v, other),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  msoauth_free_wiped(&v);
  /* The request failed: nothing taken. */
  assert_int_equal(msoauth_verifier_start(pw, &job), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_finish(&job, NULL), MSOAUTH_OK);
  assert_null(job);
  assert_int_equal(msoauth_verifier_finish(&job, &v), MSOAUTH_ERR_INVALID);
  assert_null(v);
  /* A child of a fork has no such thread. */
  assert_int_equal(msoauth_verifier_start(pw, &job), MSOAUTH_OK);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int ok = msoauth_verifier_finish(&job, &v) == MSOAUTH_OK &&
             msoauth_verifier_check(v, pw) == MSOAUTH_OK;

    _exit(ok ? 0 : 1);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(msoauth_verifier_finish(&job, &v), MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check(v, pw), MSOAUTH_OK);
  msoauth_free_wiped(&v);
  msoauth_secret_free(&pw);
  msoauth_secret_free(&other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_make_with_and_find),
      cmocka_unit_test(test_password_cost),
      cmocka_unit_test(test_make_and_check),
      cmocka_unit_test(test_wrong_password),
      cmocka_unit_test(test_embedded_nul),
      cmocka_unit_test(test_salt_differs),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_other_iterations),
      cmocka_unit_test(test_known_answer),
      cmocka_unit_test(test_memo),
      cmocka_unit_test(test_memo_capacity),
      cmocka_unit_test(test_job),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
