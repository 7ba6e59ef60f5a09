#include "config_build.h"
/*
 * pam_loop.c - many authentications through pam_msoauth in one process, as
 * a Dovecot auth worker makes them: good, wrong and unreachable in turn,
 * with setcred and account after the good ones. Run by valgrind-loop.sh
 * under valgrind and pam_wrapper; exits 0 when every result was the
 * expected one and every request went over one connection (the module
 * stays loaded between pam_end and pam_start: linked -z nodelete).
 *
 *   pam_loop [COUNT]      (MSOAUTH_PAMLOOP_DIR: the directory whose svc/
 *                          the PAM service files "loop" and "loop-down"
 *                          are in; this program writes their configs)
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpamtest.h>
#include <security/pam_appl.h>

#include "../emu.h"
#include "pam_driver.h"

static struct pamd driver;

static int write_conf(const char *dir, const char *name, const char *authority,
                      const char *ca) {
  char path[512];
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "w");
  if (f == NULL)
    return -1;
  fprintf(f,
          "authority = %s\ntenant = contoso.com\n"
          "client_id = " EMU_PUBLIC_CLIENT "\nca_file = %s\n"
          "cache_dir = %s/cache\nretries = 0\ntimeout = 30\n"
          "connect_timeout = 2\nfailure_cache = 0\n",
          authority, ca, dir);
  return fclose(f);
}

/* One round: returns 0 when every operation returned what it should. */
static int round_of(long i) {
  struct pam_testcase good[] = {
      pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
      pam_test(PAMTEST_SETCRED, PAM_SUCCESS),
      pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
  };
  struct pam_testcase bad[] = {pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR)};
  struct pam_testcase down[] = {
      pam_test(PAMTEST_AUTHENTICATE, PAM_AUTHINFO_UNAVAIL)};
  enum pamtest_err perr;

  /* (run_pamtest_conv of libpamtest 1.1.4 does not compile: a misplaced
   * parenthesis.) */
  pamd_rewind(&driver);
  switch (i % 3) {
  case 0:
    driver.passwords[0] = EMU_ALICE_PASSWORD;
    perr = _pamtest_conv("loop", "alice@contoso.com", pamd_conv, &driver, good,
                         3, NULL);
    break;
  case 1:
    driver.passwords[0] = "not her password";
    perr = _pamtest_conv("loop", "alice@contoso.com", pamd_conv, &driver, bad,
                         1, NULL);
    break;
  default:
    driver.passwords[0] = EMU_ALICE_PASSWORD;
    perr = _pamtest_conv("loop-down", "alice@contoso.com", pamd_conv, &driver,
                         down, 1, NULL);
    break;
  }
  if (perr != PAMTEST_ERR_OK) {
    fprintf(stderr, "pam_loop: round %ld: %s\n", i, pamtest_strerror(perr));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = getenv("MSOAUTH_PAMLOOP_DIR");
  struct emu emu;
  long count = 200, failures = 0;
  char *end;

  if (argc > 1) {
    errno = 0;
    count = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || count < 1 || count > 100000) {
      fprintf(stderr, "usage: pam_loop [COUNT]\n");
      return 2;
    }
  }
  if (dir == NULL) {
    fprintf(stderr, "pam_loop: MSOAUTH_PAMLOOP_DIR is not set\n");
    return 2;
  }
  /* pam_wrapper (and an ASan runtime) are loaded: the emulator needs
   * neither. */
  unsetenv("LD_PRELOAD");
  if (emu_start(&emu, NULL) != 0)
    return 1;
  /* Port 1 on loopback: connection refused, at once. */
  if (write_conf(dir, "loop.conf", emu.url, emu.ca) != 0 ||
      write_conf(dir, "down.conf", "https://127.0.0.1:1", emu.ca) != 0) {
    emu_stop(&emu);
    return 1;
  }
  for (long i = 0; i < count; i++)
    if (round_of(i) != 0)
      failures++;
  printf("pam_loop: %ld authentications, %ld unexpected, %ld requests seen "
         "over %ld connections\n",
         count, failures, emu_count(&emu, "grant:password"),
         emu_count(&emu, "connections"));
  if (emu_count(&emu, "grant:password") != count - count / 3)
    failures++;
  /* A handle per call, one connection for them all (http.c's cache). */
  if (emu_count(&emu, "connections") != 1)
    failures++;
  emu_stop(&emu);
  return failures == 0 ? 0 : 1;
}
