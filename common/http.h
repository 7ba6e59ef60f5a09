/*
 * http.h - HTTPS requests over libcurl. Knows nothing of OAuth.
 *
 * HTTPS only, peer and host always verified, redirects never followed, bodies
 * capped, every request bounded by a deadline, retries on network errors, 5xx
 * and 429 (Retry-After honoured when it fits the deadline), or, for a request
 * that must not be repeated needlessly, only where nothing was sent or the
 * server asked for it (msoauth_http_post). The CA bundle is opened when
 * the handle is made and read by its first request, so a caller that
 * chroots in between still verifies TLS. libcurl is mapped (curl_lib.h)
 * and initialised by the first request, never before, unless
 * msoauth_http_preload mapped it earlier. No signal handler is touched. Handles share one connection
 * cache per process: a connection outlives the handle that opened it, for
 * the next handle with the same settings. Every socket is close-on-exec; a
 * child of fork() never uses its parent's connections, even through a
 * handle made before the fork. Threads may share a handle: its requests
 * take turns.
 */
#ifndef MSOAUTH_HTTP_H
#define MSOAUTH_HTTP_H

#include <stddef.h>

#include "buf.h"
#include "log.h"
#include "result.h"

/* Largest response body accepted. */
#define MSOAUTH_HTTP_BODY_MAX (1024 * 1024)
/* Largest request form. */
#define MSOAUTH_HTTP_FORM_MAX (256 * 1024)

struct msoauth_http; /* settings, and a libcurl handle kept between requests */

struct msoauth_http_response {
  long status;             /* the final HTTP status */
  struct msoauth_buf body; /* capped at MSOAUTH_HTTP_BODY_MAX */
  int attempts;            /* requests made, retries included */
};

/* What a handle is made of (token_token_settings.c fills it from the configuration).
 * The strings are only read while the handle is made. */
struct msoauth_http_settings {
  long connect_timeout; /* seconds */
  long retries;         /* after network errors, 5xx and 429 */
  const char *ca_file;  /* PEM bundle; NULL: libcurl's default bundle */
  const char *ca_path;  /* CA directory; NULL: none */
  const char *proxy;    /* proxy URL; NULL: none */
};

/*
 * Makes a handle from set. Opens the CA bundle (ca_file, else libcurl's
 * default bundle; PEM, at most 4 MiB) and checks it now, MSOAUTH_ERR_IO when
 * it cannot; its bytes are read by the first request. libcurl is neither
 * mapped nor started here but by the first request, after the environment
 * was made safe (environ.h; MSOAUTH_ERR_CONFIG when it cannot be). log is
 * copied.
 * The caller owns *http_r and frees it with msoauth_http_free.
 */
msoauth_rc msoauth_http_new(const struct msoauth_http_settings *set,
                            const struct msoauth_log *log,
                            struct msoauth_http **http_r,
                            struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_http_free(struct msoauth_http **http);

/*
 * Maps libcurl now, without starting it, for a process that may enter a
 * chroot that has no copy of it before its first request (Postfix's smtp).
 * The environment is made safe first, as libcurl's libraries run their
 * constructors as they are mapped. MSOAUTH_ERR_CONFIG when libcurl cannot
 * be loaded. Once per process; later calls do nothing.
 */
msoauth_rc msoauth_http_preload(const struct msoauth_log *log,
                                struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * POSTs form (application/x-www-form-urlencoded, see msoauth_form_add) to
 * url, or GETs url when form is NULL, retrying as configured until
 * deadline_ms (msoauth_now_ms(), clock.h). Returns MSOAUTH_OK with any final
 * 2xx or 4xx answer in *resp (the caller reads the status), or
 * MSOAUTH_ERR_UNAVAILABLE (network, 5xx), MSOAUTH_ERR_THROTTLED (429),
 * MSOAUTH_ERR_TIMEOUT, MSOAUTH_ERR_PROTOCOL (redirect, body too large,
 * malformed answer, a TLS handshake failure or an untrusted certificate), MSOAUTH_ERR_INVALID (not an https:// URL: no request
 * made). *resp is initialised here (its body is wiped when freed: it holds
 * tokens; status is 0 when no complete answer came); free it with
 * msoauth_http_response_free whatever the result. form is only read, and
 * libcurl keeps no pointer to it once this returns.
 */
msoauth_rc msoauth_http_request(struct msoauth_http *http, const char *url,
                                const struct msoauth_buf *form,
                                long long deadline_ms,
                                struct msoauth_http_response *resp,
                                struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Which failures a POST may be retried after. */
enum msoauth_http_retry {
  /* network errors, 5xx and 429: a request the server may see twice */
  MSOAUTH_HTTP_RETRY_FAILURES = 0,
  /* only when no byte of the request was sent (no connection), or on a 429
   * or 503 with Retry-After: a request whose repetition counts against
   * someone (a password: on-premises AD counts each as a failure) */
  MSOAUTH_HTTP_RETRY_UNSENT = 1,
};

/* A POST (or a GET with neither form nor make_form). With make_form, the
 * form is made anew for each attempt (a signed client assertion is never
 * sent twice): make_form(arg, form, err) fills form, empty and made with
 * msoauth_buf_init(form, MSOAUTH_HTTP_FORM_MAX, 1), which is wiped after
 * the attempt; a failure of make_form ends the request with its result. */
struct msoauth_http_post {
  const char *url;
  const struct msoauth_buf *form; /* used when make_form is NULL */
  msoauth_rc (*make_form)(void *arg, struct msoauth_buf *form,
                          struct msoauth_err *err);
  void *arg;
  enum msoauth_http_retry retry;
};

/* msoauth_http_request for req, with its form maker and retry policy. */
msoauth_rc msoauth_http_post(struct msoauth_http *http,
                             const struct msoauth_http_post *req,
                             long long deadline_ms,
                             struct msoauth_http_response *resp,
                             struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_http_response_free(struct msoauth_http_response *resp);

/* Connections the handle has opened so far (connection reuse keeps this at
 * one for a long-lived caller, at none for a handle that found one in the
 * process's cache); from CURLINFO_NUM_CONNECTS. */
long msoauth_http_connects(const struct msoauth_http *http);

/* Appends "key=value" to form, URL-encoded ('&' between pairs). Create the
 * form with msoauth_buf_init(form, MSOAUTH_HTTP_FORM_MAX, 1): it holds
 * secrets. */
msoauth_rc msoauth_form_add(struct msoauth_buf *form, const char *key,
                            const char *value)
    __attribute__((warn_unused_result));

/* Appends value percent-encoded (everything but ALPHA DIGIT - . _ ~). */
msoauth_rc msoauth_url_encode(struct msoauth_buf *out, const char *value,
                              size_t len) __attribute__((warn_unused_result));

#endif
