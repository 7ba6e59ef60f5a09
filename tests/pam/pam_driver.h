/*
 * pam_driver.h - the test side's PAM application: one conversation
 * (answers prompts, keeps the messages) and one authentication
 * (pam_start, pam_authenticate, pam_end). test_pam, pam_loop,
 * setuid_driver and bench_pam all drive libpam through it.
 *
 * Plain C, no cmocka, no environment: setuid_driver runs it setuid root
 * as nobody.
 */
#ifndef MSOAUTH_TESTS_PAM_DRIVER_H
#define MSOAUTH_TESTS_PAM_DRIVER_H

#include <stddef.h>

#include <security/pam_appl.h>

#define PAMD_PASSWORDS 4
#define PAMD_MSGS 8
#define PAMD_MSG_LEN 512

/* What the conversation answers and what it saw; the arg of
 * pamd_conv. */
struct pamd {
  /* Answers to PAM_PROMPT_ECHO_OFF, in order; past the last, the
   * conversation fails (PAM_CONV_ERR). */
  const char *passwords[PAMD_PASSWORDS];
  size_t prompts;      /* how many were answered */
  const char *user;    /* the answer to PAM_PROMPT_ECHO_ON (login:); NULL:
                          the conversation fails */
  size_t user_prompts; /* how many were asked */
  char errors[PAMD_MSGS][PAMD_MSG_LEN]; /* PAM_ERROR_MSG, the first ones */
  size_t n_errors;
  char infos[PAMD_MSGS][PAMD_MSG_LEN]; /* PAM_TEXT_INFO, the first ones */
  size_t n_infos;
  /* Optional: called before each prompt is answered; may fill
   * passwords[prompts] (read at the prompt). Non-zero fails the
   * conversation (PAM_CONV_ERR), as Ctrl-C at a prompt. */
  int (*on_prompt)(struct pamd *d, int style);
};

/* A struct pam_conv conversation function; arg: a struct pamd. Replies
 * are wiped and freed when it fails. */
int pamd_conv(int n, const struct pam_message **msg, struct pam_response **resp,
              void *arg);

/* Clears what d saw (the counters and messages), not its answers. */
void pamd_rewind(struct pamd *d);

/* pam_start (service, user) with pamd_conv on d (rewound first),
 * pam_authenticate, pam_end: returns the first result that is not
 * PAM_SUCCESS, or PAM_SUCCESS. */
int pamd_authenticate(const char *service, const char *user, struct pamd *d);

#endif
