#include "config_build.h"
/*
 * pam_driver.c - the test side's PAM application (see pam_driver.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pam_driver.h"

/* Frees n replies, each wiped: they may hold a password. */
static void drop_replies(struct pam_response *r, int n) {
  for (int i = 0; i < n; i++)
    if (r[i].resp != NULL) {
      explicit_bzero(r[i].resp, strlen(r[i].resp));
      free(r[i].resp);
    }
  free(r);
}

/* The answer to one prompt, or NULL when the conversation fails. */
static const char *answer_of(struct pamd *d, int style) {
  if (style == PAM_PROMPT_ECHO_ON) {
    d->user_prompts++;
    return d->user;
  }
  /* Counted only when answered, as test_pam asserts. */
  if (d->prompts >= PAMD_PASSWORDS || d->passwords[d->prompts] == NULL)
    return NULL;
  return d->passwords[d->prompts++];
}

/* Keeps a message (the first PAMD_MSGS of each kind). */
static void keep_message(struct pamd *d, int style, const char *text) {
  if (style == PAM_TEXT_INFO) {
    if (d->n_infos < PAMD_MSGS)
      snprintf(d->infos[d->n_infos++], PAMD_MSG_LEN, "%s", text);
  } else if (d->n_errors < PAMD_MSGS) {
    snprintf(d->errors[d->n_errors++], PAMD_MSG_LEN, "%s", text);
  }
}

int pamd_conv(int n, const struct pam_message **msg, struct pam_response **resp,
              void *arg) {
  struct pamd *d = arg;
  struct pam_response *r = calloc((size_t)n, sizeof(*r));
  int ret = PAM_SUCCESS;

  if (r == NULL)
    return PAM_BUF_ERR;
  for (int i = 0; i < n && ret == PAM_SUCCESS; i++) {
    int style = msg[i]->msg_style;
    const char *answer;

    switch (style) {
    case PAM_PROMPT_ECHO_OFF:
    case PAM_PROMPT_ECHO_ON:
      if (d->on_prompt != NULL && d->on_prompt(d, style) != 0) {
        ret = PAM_CONV_ERR;
        break;
      }
      answer = answer_of(d, style);
      if (answer == NULL)
        ret = PAM_CONV_ERR;
      else if ((r[i].resp = strdup(answer)) == NULL)
        ret = PAM_BUF_ERR;
      break;
    case PAM_ERROR_MSG:
    case PAM_TEXT_INFO:
      keep_message(d, style, msg[i]->msg);
      break;
    default:
      break;
    }
  }
  if (ret != PAM_SUCCESS) {
    drop_replies(r, n);
    return ret;
  }
  *resp = r;
  return PAM_SUCCESS;
}

void pamd_rewind(struct pamd *d) {
  d->prompts = 0;
  d->user_prompts = 0;
  d->n_errors = 0;
  d->n_infos = 0;
}

int pamd_authenticate(const char *service, const char *user, struct pamd *d) {
  struct pam_conv conv = {pamd_conv, d};
  pam_handle_t *pamh = NULL;
  int rc;

  pamd_rewind(d);
  rc = pam_start(service, user, &conv, &pamh);
  if (rc == PAM_SUCCESS)
    rc = pam_authenticate(pamh, 0);
  if (pamh != NULL)
    pam_end(pamh, rc);
  return rc;
}
