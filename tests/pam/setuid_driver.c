#include "config_build.h"
/*
 * setuid_driver.c - a minimal su: pam_start, pam_authenticate, pam_end,
 * with the real libpam and /etc/pam.d. test_setuid.sh installs a copy
 * setuid root and runs it as nobody, with the environment an attacker
 * would choose.
 *
 *   setuid_driver SERVICE USER [abort]
 *
 * The password is read from standard input when the module asks for it;
 * with "abort" the conversation fails instead (Ctrl-C at su's prompt).
 * Prints one line, "result=NAME prompted=yes|no mapped_at_prompt=yes|no
 * curl_at_prompt=yes|no curl_started=yes|no", and exits 0; 2 on a usage
 * error.
 *
 * The conversation is every test's (pam_driver.c); the password is read
 * at the prompt.
 *
 * The driver sees whether the module had mapped libcurl, and whether it
 * had started it, before the prompt (curl_spy.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "../curl_spy.h"
#include "pam_driver.h"

static int aborting;
static int prompted;
static int curl_at_prompt;
static int mapped_at_prompt;

/* At each prompt: whether libcurl was started before it; the password
 * is read from standard input when it is asked for. */
static int at_prompt(struct pamd *d, int style) {
  static char line[1024];

  prompted = 1;
  curl_at_prompt = curl_spy_tls_starts > 0;
  mapped_at_prompt = curl_spy_mapped();
  if (aborting)
    return -1;
  if (style == PAM_PROMPT_ECHO_OFF && d->prompts < PAMD_PASSWORDS) {
    if (fgets(line, sizeof(line), stdin) == NULL)
      line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    d->passwords[d->prompts] = line;
  }
  return 0;
}

static const char *name_of(int ret) {
  switch (ret) {
  case PAM_SUCCESS:
    return "PAM_SUCCESS";
  case PAM_AUTH_ERR:
    return "PAM_AUTH_ERR";
  case PAM_CONV_ERR:
    return "PAM_CONV_ERR";
  case PAM_AUTHINFO_UNAVAIL:
    return "PAM_AUTHINFO_UNAVAIL";
  case PAM_USER_UNKNOWN:
    return "PAM_USER_UNKNOWN";
  default:
    return "other";
  }
}

int main(int argc, char **argv) {
  struct pamd driver = {.on_prompt = at_prompt};
  int ret;

  if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "abort") != 0)) {
    fprintf(stderr, "usage: setuid_driver SERVICE USER [abort]\n");
    return 2;
  }
  aborting = argc == 4;
  driver.user = argv[2];
  ret = pamd_authenticate(argv[1], argv[2], &driver);
  printf("result=%s prompted=%s mapped_at_prompt=%s curl_at_prompt=%s "
         "curl_started=%s\n",
         name_of(ret), prompted ? "yes" : "no", mapped_at_prompt ? "yes" : "no",
         curl_at_prompt ? "yes" : "no", curl_spy_tls_starts > 0 ? "yes" : "no");
  return 0;
}
