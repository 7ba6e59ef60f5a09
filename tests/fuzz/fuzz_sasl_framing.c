/*
 * fuzz_sasl_framing.c - libFuzzer target: the XOAUTH2 and OAUTHBEARER
 * framing of sasl_xoauth2/framing.c (xoauth2_frame_build,
 * xoauth2_remote_port) and the reading of the server's error challenge
 * (xoauth2_challenge_status).
 *
 * Input: a mode byte, then
 *  - bit 0 clear (a frame): IDENTITY \0 HOST \0 REMOTE \0 TOKEN (the token
 *    is the rest, any bytes); bit 1 set: OAUTHBEARER, clear: XOAUTH2;
 *  - bit 0 set (a challenge): the JSON the server sent; bits 2-7 give the
 *    size of the status buffer (8 to 71; the plugin's is 64, and "unknown"
 *    needs 8).
 *
 * Beyond memory safety: a frame is the fields it was built from, split
 * back at \x01 (the saslname unescapes to the identity, a host is there
 * only when it is printable, a port only when REMOTE has a valid one); a
 * buffer one byte too small fails and is left empty. A status is
 * terminated inside its buffer, printable, "unknown" or the challenge's
 * string "status", and the same when read twice.
 */
#include "config_build.h"

#include <errno.h>
#include <json-c/json.h>

#include "buf.h"
#include "framing.h"
#include "fuzz.h"

#define FRAME_MAX (1024 * 1024)

/* The next \0-terminated field of [*p, end), copied; the rest when no \0. */
static char *next_field(const uint8_t **p, const uint8_t *end) {
  const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
  size_t n = nul != NULL ? (size_t)(nul - *p) : (size_t)(end - *p);
  char *s = fuzz_strndup(*p, n);

  *p += nul != NULL ? n + 1 : n;
  return s;
}

/* Whether [s, s + n) equals the C string want. */
static int field_is(const char *s, size_t n, const char *want) {
  return strlen(want) == n && memcmp(s, want, n) == 0;
}

/* Decodes an RFC 7628 saslname of n bytes; NULL when it is not one (a raw
 * ',' or an '=' not followed by 2C or 3D). The caller frees it. */
static char *saslname_decode(const char *s, size_t n) {
  char *out = malloc(n + 1);
  size_t len = 0;

  FUZZ_CHECK(out != NULL);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == ',') {
      free(out);
      return NULL;
    }
    if (s[i] == '=') {
      if (n - i < 3 || (memcmp(s + i, "=2C", 3) && memcmp(s + i, "=3D", 3))) {
        free(out);
        return NULL;
      }
      out[len++] = s[i + 1] == '2' ? ',' : '=';
      i += 2;
    } else {
      out[len++] = s[i];
    }
  }
  out[len] = '\0';
  return out;
}

/* The port the frame must carry: what follows the last ';' of remote. */
static void check_port(const char *remote, long port) {
  const char *semi = strrchr(remote, ';');

  FUZZ_CHECK(port >= 0 && port <= 65535);
  if (port == 0)
    return;
  FUZZ_CHECK(semi != NULL);
  FUZZ_CHECK(strtol(semi + 1, NULL, 10) == port);
}

/* The OAUTHBEARER head ("n,a=NAME," then \1host=, \1port=) before the
 * field at *i of the frame's fields; advances *i past it. */
static void check_bearer_head(const struct xoauth2_frame *f,
                              const char *const *field, const size_t *flen,
                              size_t nfields, size_t *i) {
  long port = xoauth2_remote_port(f->remote);
  char *name, want[32];

  FUZZ_CHECK(flen[0] >= 5 && memcmp(field[0], "n,a=", 4) == 0);
  FUZZ_CHECK(field[0][flen[0] - 1] == ',');
  name = saslname_decode(field[0] + 4, flen[0] - 5);
  FUZZ_CHECK(name != NULL && strcmp(name, f->identity) == 0);
  free(name);
  *i = 1;
  if (*f->host != '\0' && !xoauth2_has_ctl(f->host, strlen(f->host))) {
    FUZZ_CHECK(*i < nfields && flen[*i] == 5 + strlen(f->host));
    FUZZ_CHECK(memcmp(field[*i], "host=", 5) == 0);
    FUZZ_CHECK(memcmp(field[*i] + 5, f->host, strlen(f->host)) == 0);
    (*i)++;
  }
  check_port(f->remote, port);
  if (port != 0) {
    snprintf(want, sizeof(want), "port=%ld", port);
    FUZZ_CHECK(*i < nfields && field_is(field[*i], flen[*i], want));
    (*i)++;
  }
}

/* Splits the frame at \x01 and checks each field against f. */
static void check_fields(const struct xoauth2_frame *f, const char *frame,
                         size_t len) {
  const char *field[8];
  size_t flen[8], n = 0, i = 0;
  const char *p = frame, *end = frame + len;

  while (n < 8) {
    const char *sep = memchr(p, '\001', (size_t)(end - p));

    field[n] = p;
    flen[n++] = sep != NULL ? (size_t)(sep - p) : (size_t)(end - p);
    if (sep == NULL)
      break;
    p = sep + 1;
  }
  /* ... \1auth=Bearer TOKEN \1 "" \1 "": the last two fields are empty. */
  FUZZ_CHECK(n >= 4 && flen[n - 1] == 0 && flen[n - 2] == 0);
  if (f->bearer) {
    check_bearer_head(f, field, flen, n, &i);
  } else {
    FUZZ_CHECK(flen[0] == 5 + strlen(f->identity));
    FUZZ_CHECK(memcmp(field[0], "user=", 5) == 0);
    FUZZ_CHECK(memcmp(field[0] + 5, f->identity, strlen(f->identity)) == 0);
    i = 1;
  }
  FUZZ_CHECK(i == n - 3); /* nothing between the head and auth= */
  FUZZ_CHECK(flen[i] == 12 + f->token_len);
  FUZZ_CHECK(memcmp(field[i], "auth=Bearer ", 12) == 0);
  FUZZ_CHECK(memcmp(field[i] + 12, f->token, f->token_len) == 0);
}

static void fuzz_frame(int bearer, const uint8_t *p, const uint8_t *end) {
  char *identity = next_field(&p, end), *host = next_field(&p, end);
  char *remote = next_field(&p, end);
  struct xoauth2_frame f = {bearer, identity,        host,
                            remote, (const char *)p, (size_t)(end - p)};
  struct msoauth_buf buf, small;
  msoauth_rc rc;

  msoauth_buf_init(&buf, FRAME_MAX, 1);
  rc = xoauth2_frame_build(&f, &buf);
  FUZZ_CHECK(rc == MSOAUTH_OK); /* inputs are far below FRAME_MAX */
  FUZZ_CHECK(buf.len >= 2 &&
             memcmp(buf.data + buf.len - 2, "\001\001", 2) == 0);
  /* The plugin sends only printable identities and tokens: then the frame
   * splits back into its fields. */
  if (!xoauth2_has_ctl(identity, strlen(identity)) &&
      !xoauth2_has_ctl(f.token, f.token_len))
    check_fields(&f, buf.data, buf.len);
  /* One byte short of the frame: an error, and nothing left behind. */
  msoauth_buf_init(&small, buf.len - 1, 1);
  FUZZ_CHECK(xoauth2_frame_build(&f, &small) == MSOAUTH_ERR_INVALID);
  FUZZ_CHECK(small.data == NULL && small.len == 0);
  msoauth_buf_free(&small);
  msoauth_buf_free(&buf);
  free(identity);
  free(host);
  free(remote);
}

/* The challenge's "status" when it is a JSON object with a string one. */
static int status_is(const char *in, size_t len, const char *status) {
  struct json_tokener *tok = json_tokener_new();
  struct json_object *obj, *v;
  int same = 0;

  FUZZ_CHECK(tok != NULL);
  obj = json_tokener_parse_ex(tok, in, (int)len);
  if (obj != NULL && json_object_object_get_ex(obj, "status", &v) &&
      json_object_is_type(v, json_type_string))
    same = strcmp(json_object_get_string(v), status) == 0;
  json_object_put(obj);
  json_tokener_free(tok);
  return same;
}

static void fuzz_challenge(size_t size, const uint8_t *p, size_t len) {
  char status[80], again[80];

  memset(status, 'Z', sizeof(status));
  xoauth2_challenge_status((const char *)p, len, status, size);
  FUZZ_CHECK(status[size] == 'Z'); /* nothing past the buffer */
  FUZZ_CHECK(memchr(status, '\0', size) != NULL);
  FUZZ_CHECK(status[0] != '\0' && fuzz_printable(status));
  xoauth2_challenge_status((const char *)p, len, again, size);
  FUZZ_CHECK(strcmp(status, again) == 0);
  /* "unknown" is what a status too long for the buffer gives too. */
  if (strcmp(status, "unknown") != 0)
    FUZZ_CHECK(status_is((const char *)p, len, status));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1)
    fuzz_challenge(8 + (size_t)(data[0] >> 2), data + 1, size - 1);
  else
    fuzz_frame((data[0] & 2) != 0, data + 1, data + size);
  return 0;
}
