/*
 * bench_pam.c - authentications through a PAM service in one process, as
 * a Dovecot auth worker makes them: pam_start, pam_authenticate, pam_end,
 * again and again. Run under pam_wrapper (the driver writes the service
 * files: pam_msoauth.so from the build, or pam_permit.so as the reference).
 *
 *   bench_pam loop SERVICE USER PASS N   N authentications; prints the
 *                                        wall time and the failures
 *   bench_pam users SERVICE K PASS       one authentication for each of
 *                                        user0 .. user<K-1>@contoso.com
 *   bench_pam rss SERVICE USER PASS      VmRSS and RssAnon before pam_start
 *                                        and after one authentication
 *
 * Exits 0 when every authentication returned PAM_SUCCESS.
 */
#include "config_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "pam_driver.h"
#include "util.h"

/* The conversation answers the password (tests/pam/pam_driver.c). */
static struct pamd driver;

/* One authentication; returns its PAM result. */
static int authenticate(const char *service, const char *user) {
  return pamd_authenticate(service, user, &driver);
}

static int mode_loop(const char *service, const char *user, long n) {
  long failures = 0;
  long long t0 = bench_now_ns();

  for (long i = 0; i < n; i++) {
    int rc = authenticate(service, user);

    if (rc != PAM_SUCCESS && failures++ == 0)
      fprintf(stderr, "bench_pam: %s: %s\n", service, pam_strerror(NULL, rc));
  }
  printf("seconds %.6f failures %ld\n", (double)(bench_now_ns() - t0) / 1e9,
         failures);
  return failures == 0 ? 0 : 1;
}

static int mode_users(const char *service, long k) {
  char user[64];

  for (long i = 0; i < k; i++) {
    int rc;

    snprintf(user, sizeof(user), "user%ld@contoso.com", i);
    rc = authenticate(service, user);
    if (rc != PAM_SUCCESS) {
      fprintf(stderr, "bench_pam: %s: %s\n", user, pam_strerror(NULL, rc));
      return 1;
    }
  }
  return 0;
}

static int mode_rss(const char *service, const char *user) {
  struct bench_rss before, after;
  int rc;

  bench_rss_sample(&before);
  rc = authenticate(service, user);
  bench_rss_sample(&after);
  bench_rss_print(&before, &after);
  return rc == PAM_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv) {
  long n;

  if (argc == 5 && strcmp(argv[1], "rss") == 0) {
    driver.passwords[0] = argv[4];
    return mode_rss(argv[2], argv[3]);
  }
  if (argc == 6 && strcmp(argv[1], "loop") == 0 &&
      (n = bench_count(argv[5], 10000000L)) > 0) {
    driver.passwords[0] = argv[4];
    return mode_loop(argv[2], argv[3], n);
  }
  if (argc == 5 && strcmp(argv[1], "users") == 0 &&
      (n = bench_count(argv[3], 100000L)) > 0) {
    driver.passwords[0] = argv[4];
    return mode_users(argv[2], n);
  }
  fprintf(stderr, "usage: bench_pam loop SERVICE USER PASS N\n"
                  "       bench_pam users SERVICE K PASS\n"
                  "       bench_pam rss SERVICE USER PASS\n");
  return 2;
}
