/*
 * framing.c - builds the XOAUTH2 and OAUTHBEARER initial responses and
 * reads the server's error challenge (see framing.h).
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "framing.h"
#include "json.h"

/* Eight bytes at a time (a token is kilobytes, checked on every login):
 * a word holds a byte below 0x20 or a 0x7f exactly when these are non-zero
 * (the "has less" and "has zero" tests of Anderson's bit hacks). */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static int word_has_ctl(unsigned long long w) {
  unsigned long long del = w ^ (0x7fULL * ONES);

  return (((w - 0x20ULL * ONES) & ~w & HIGHS) |
          ((del - ONES) & ~del & HIGHS)) != 0;
}

int xoauth2_has_ctl(const char *s, size_t len) {
  size_t i = 0;

  for (; i + 8 <= len; i += 8) {
    unsigned long long w;

    memcpy(&w, s + i, 8);
    if (word_has_ctl(w))
      return 1;
  }
  for (; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return 1;
  return 0;
}

long xoauth2_remote_port(const char *remote) {
  const char *semi;
  char *end = NULL;
  long port;

  if (remote == NULL)
    return 0;
  semi = strrchr(remote, ';');
  if (semi == NULL || semi[1] == '\0')
    return 0;
  errno = 0;
  port = strtol(semi + 1, &end, 10);
  if (errno != 0 || end == NULL || *end != '\0' || port < 1 || port > 65535)
    return 0;
  return port;
}

/* RFC 7628's saslname: ',' and '=' escaped as =2C and =3D. */
static msoauth_rc add_saslname(struct msoauth_buf *buf, const char *name) {
  msoauth_rc rc = MSOAUTH_OK;

  for (const char *p = name; *p != '\0' && !rc; p++) {
    if (*p == ',')
      rc = msoauth_buf_adds(buf, "=2C");
    else if (*p == '=')
      rc = msoauth_buf_adds(buf, "=3D");
    else
      rc = msoauth_buf_add(buf, p, 1);
  }
  return rc;
}

/* The OAUTHBEARER GS2 header and key/value pairs before the token. */
static msoauth_rc add_bearer_head(struct msoauth_buf *buf,
                                  const struct xoauth2_frame *f) {
  long port = xoauth2_remote_port(f->remote);
  msoauth_rc rc;

  rc = msoauth_buf_adds(buf, "n,a=");
  if (!rc)
    rc = add_saslname(buf, f->identity);
  if (!rc)
    rc = msoauth_buf_adds(buf, ",");
  if (!rc && f->host != NULL && *f->host != '\0' &&
      !xoauth2_has_ctl(f->host, strlen(f->host)))
    rc = msoauth_buf_addf(buf, "\001host=%s", f->host);
  if (!rc && port != 0)
    rc = msoauth_buf_addf(buf, "\001port=%ld", port);
  return rc;
}

msoauth_rc xoauth2_frame_build(const struct xoauth2_frame *f,
                               struct msoauth_buf *buf) {
  msoauth_rc rc;

  if (!f->bearer)
    rc = msoauth_buf_addf(buf, "user=%s", f->identity);
  else
    rc = add_bearer_head(buf, f);
  if (!rc)
    rc = msoauth_buf_adds(buf, "\001auth=Bearer ");
  if (!rc)
    rc = msoauth_buf_add(buf, f->token, f->token_len);
  if (!rc)
    rc = msoauth_buf_add(buf, "\001\001", 2);
  return rc;
}

void xoauth2_challenge_status(const char *in, size_t len, char *status,
                              size_t size) {
  struct json_object *obj = msoauth_json_parse(in, len);
  const char *s = NULL;
  int bad = 0;

  snprintf(status, size, "unknown");
  if (obj != NULL)
    s = msoauth_json_string(obj, "status", &bad);
  /* An empty status would read "(status )" in the message. */
  if (s != NULL && !bad && *s != '\0' && strlen(s) < size &&
      !xoauth2_has_ctl(s, strlen(s)))
    snprintf(status, size, "%s", s);
  if (obj != NULL)
    json_object_put(obj);
}
