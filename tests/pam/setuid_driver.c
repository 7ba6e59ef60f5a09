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
 * Prints one line, "result=NAME prompted=yes|no curl_at_prompt=yes|no
 * curl_started=yes|no", and exits 0; 2 on a usage error.
 *
 * The program defines curl_global_init itself (exported): the module's
 * call lands here first, so the driver knows whether libcurl was started
 * before the prompt. The real one is then called.
 */

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <security/pam_appl.h>

static int aborting;
static int prompted;
static int curl_at_prompt;
static int curl_inits;

__attribute__((visibility("default"))) CURLcode curl_global_init(long flags);

CURLcode curl_global_init(long flags) {
  void *lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD);
  CURLcode (*real)(long) = NULL;

  curl_inits++;
  if (lib != NULL)
    *(void **)&real = dlsym(lib, "curl_global_init");
  if (real == NULL || real == curl_global_init)
    return CURLE_FAILED_INIT;
  return real(flags);
}

static int conv(int n, const struct pam_message **msg,
                struct pam_response **resp, void *arg) {
  struct pam_response *r;
  char line[1024];
  (void)arg;

  for (int i = 0; i < n; i++)
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
        msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      prompted = 1;
      curl_at_prompt = curl_inits > 0;
    }
  if (aborting)
    return PAM_CONV_ERR;
  r = calloc((size_t)n, sizeof(*r));
  if (r == NULL)
    return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF)
      continue;
    if (fgets(line, sizeof(line), stdin) == NULL)
      line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    r[i].resp = strdup(line);
  }
  *resp = r;
  return PAM_SUCCESS;
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
  struct pam_conv c = {conv, NULL};
  pam_handle_t *pamh = NULL;
  int ret;

  if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "abort") != 0)) {
    fprintf(stderr, "usage: setuid_driver SERVICE USER [abort]\n");
    return 2;
  }
  aborting = argc == 4;
  ret = pam_start(argv[1], argv[2], &c, &pamh);
  if (ret == PAM_SUCCESS)
    ret = pam_authenticate(pamh, 0);
  printf("result=%s prompted=%s curl_at_prompt=%s curl_started=%s\n",
         name_of(ret), prompted ? "yes" : "no", curl_at_prompt ? "yes" : "no",
         curl_inits > 0 ? "yes" : "no");
  if (pamh != NULL)
    pam_end(pamh, ret);
  return 0;
}
