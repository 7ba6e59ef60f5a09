/*
 * http.c - HTTPS requests over libcurl. Knows nothing of OAuth.
 *
 * It owns the handle and one request: one CURL easy handle per struct
 * msoauth_http, reset before every request (options) but kept. Every
 * option that matters for safety is set again on each request: HTTPS
 * only, peer and host verified against the CA bundle opened at creation
 * (http_ca.c), no redirects, no proxy but the configured one, bodies
 * capped, time bounded by the caller's deadline; then the retries and
 * their waits.
 *
 * What belongs to the process rather than to a handle (libcurl's loading
 * and start by the first request, after environ.c; the connection cache
 * every handle shares; handles inherited through fork(); close-on-exec
 * sockets) is in http_share.c, and form encoding in http_form.c.
 */
#include "config_build.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"
#include "curl_lib.h"
#include "environ.h"
#include "http.h"
#include "http_ca.h"
#include "http_share.h"
#include "secret.h"

/* No request is started with less time than this left. */
#define HTTP_MIN_LEFT_MS 50
/* Backoff between retries that have no Retry-After. */
#define HTTP_BACKOFF_FIRST_MS 250
#define HTTP_BACKOFF_MAX_MS 4000
/* Bounds on configuration values, so that milliseconds cannot overflow. */
#define HTTP_CONNECT_TIMEOUT_MAX 3600
#define HTTP_RETRIES_MAX 100
/* A Retry-After beyond a day is as good as "not before the deadline". */
#define HTTP_RETRY_AFTER_MAX_S 86400
/* Longest header value examined (Content-Length, Retry-After). */
#define HTTP_HEADER_VALUE_MAX 128

struct msoauth_http {
  pthread_mutex_t lock; /* one request at a time: threads may share a handle */
  const struct msoauth_curl_lib *lib; /* libcurl, from the first request */
  CURL *curl;             /* made by the first request (NULL until then) */
  pid_t pid;              /* the process that made curl */
  struct msoauth_log log; /* a copy: the caller's may go away */
  struct curl_slist *get_headers;  /* Accept, no Expect; from the first */
  struct curl_slist *form_headers; /* request, the same and the form's type */
  struct msoauth_http_ca ca;       /* the CA bundle */
  char *ca_path;
  char *proxy; /* may hold proxy credentials: wiped when freed */
  long connect_timeout_ms;
  long retries;
  long connects;
  char errbuf[CURL_ERROR_SIZE];
};

/* What one attempt learnt from the answer's headers and body. */
struct attempt {
  const struct msoauth_curl_lib *lib;
  struct msoauth_buf *body;
  long long retry_after_ms; /* -1: no usable Retry-After */
  int too_big;              /* the body passed MSOAUTH_HTTP_BODY_MAX */
  int nomem;
};

/* How an attempt ended: the result, and whether another may follow. */
struct outcome {
  msoauth_rc rc;
  int retry;
  long long wait_ms; /* -1: the usual backoff; else Retry-After */
  int unsent;        /* no byte of the request left this process */
};

/* ------------------------------------------------------------ the handle */

/* Appends line to *list (left as it was on failure). Returns 0, or -1. */
static int add_header(const struct msoauth_curl_lib *lib,
                      struct curl_slist **list, const char *line) {
  struct curl_slist *l = lib->slist_append(*list, line);

  if (l == NULL)
    return -1;
  *list = l;
  return 0;
}

/* Makes the header lists, once, when libcurl is there. */
static msoauth_rc make_headers(struct msoauth_http *http) {
  const struct msoauth_curl_lib *lib = http->lib;
  struct curl_slist *get = NULL, *form = NULL;

  if (http->form_headers != NULL)
    return MSOAUTH_OK;
  if (add_header(lib, &get, "Accept: application/json") ||
      add_header(lib, &get, "Expect:") ||
      add_header(lib, &form, "Accept: application/json") ||
      add_header(lib, &form, "Expect:") ||
      add_header(lib, &form,
                 "Content-Type: application/x-www-form-urlencoded")) {
    lib->slist_free_all(get);
    lib->slist_free_all(form);
    return MSOAUTH_ERR_NOMEM;
  }
  http->get_headers = get;
  http->form_headers = form;
  return MSOAUTH_OK;
}

static msoauth_rc copy_str(const char *s, char **copy_r) {
  *copy_r = NULL;
  if (s == NULL)
    return MSOAUTH_OK;
  *copy_r = strdup(s);
  return *copy_r != NULL ? MSOAUTH_OK : MSOAUTH_ERR_NOMEM;
}

static long clamp(long v, long lo, long hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

msoauth_rc msoauth_http_new(const struct msoauth_http_settings *set,
                            const struct msoauth_log *log,
                            struct msoauth_http **http_r,
                            struct msoauth_err *err) {
  struct msoauth_http *http = NULL;
  msoauth_rc rc;

  *http_r = NULL;
  if (set == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "no settings");
  http = calloc(1, sizeof(*http));
  if (http == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  pthread_mutex_init(&http->lock, NULL);
  http->ca.fd = -1;
  if (log != NULL)
    http->log = *log;
  /* libcurl is not started here (see msoauth_http_curl_start); OpenSSL may be
   * used by the caller before the first request: the environment is made safe
   * for it now. */
  rc = msoauth_environ_prepare(&http->log, err);
  if (rc)
    goto out;
  http->connect_timeout_ms =
      clamp(set->connect_timeout, 0, HTTP_CONNECT_TIMEOUT_MAX) * 1000;
  http->retries = clamp(set->retries, 0, HTTP_RETRIES_MAX);
  rc = copy_str(set->ca_path, &http->ca_path);
  if (!rc)
    rc = copy_str(set->proxy, &http->proxy);
  if (rc) {
    msoauth_fail(err, rc, "out of memory");
    goto out;
  }
  /* Opened now: the first request may come after a chroot. */
  rc = msoauth_http_ca_open(&http->ca, set->ca_file, set->ca_path != NULL,
                            &http->log, err);
out:
  if (rc)
    msoauth_http_free(&http);
  *http_r = http;
  return rc;
}

void msoauth_http_free(struct msoauth_http **http) {
  if (http == NULL || *http == NULL)
    return;
  msoauth_http_curl_free(&(*http)->curl, (*http)->pid);
  if ((*http)->lib != NULL) { /* the lists are made once libcurl is there */
    (*http)->lib->slist_free_all((*http)->get_headers);
    (*http)->lib->slist_free_all((*http)->form_headers);
  }
  msoauth_http_ca_free(&(*http)->ca);
  free((*http)->ca_path);
  msoauth_free_wiped(&(*http)->proxy);
  pthread_mutex_destroy(&(*http)->lock);
  free(*http);
  *http = NULL;
}

msoauth_rc msoauth_http_preload(const struct msoauth_log *log,
                                struct msoauth_err *err) {
  msoauth_rc rc = msoauth_environ_prepare(log, err);

  if (!rc && msoauth_curl_lib(err) == NULL)
    rc = err->rc;
  return rc;
}

long msoauth_http_connects(const struct msoauth_http *http) {
  return http != NULL ? http->connects : 0;
}

void msoauth_http_response_free(struct msoauth_http_response *resp) {
  if (resp == NULL)
    return;
  msoauth_buf_free(&resp->body);
}

/* ------------------------------------------------------------ one request */

/* Copies a header's value, trimmed, into out (NUL-terminated). Returns 0, or
 * -1 when it does not fit. */
static int header_value(const char *p, size_t len, char *out, size_t size) {
  while (len > 0 && (*p == ' ' || *p == '\t')) {
    p++;
    len--;
  }
  while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
                     p[len - 1] == ' ' || p[len - 1] == '\t'))
    len--;
  if (len >= size)
    return -1;
  memcpy(out, p, len);
  out[len] = '\0';
  return 0;
}

/* Whether the header line starts with name (which ends in ':'). */
static int header_is(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);

  return len >= n && strncasecmp(line, name, n) == 0;
}

/* Parses a non-negative decimal number, strictly. Returns 0, or -1. */
static int parse_count(const char *s, long long max, long long *v_r) {
  char *end;
  long long v;

  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (*end != '\0')
    return -1;
  if (errno == ERANGE || v > max)
    v = max;
  *v_r = v;
  return 0;
}

/* Retry-After: delta-seconds or an HTTP-date. Returns ms, or -1. */
static long long parse_retry_after(const struct msoauth_curl_lib *lib,
                                   const char *value) {
  long long s;
  time_t when;

  if (parse_count(value, HTTP_RETRY_AFTER_MAX_S, &s) == 0)
    return s * 1000;
  when = lib->getdate(value, NULL);
  if (when == (time_t)-1)
    return -1;
  s = (long long)when - (long long)time(NULL);
  if (s < 0)
    s = 0;
  if (s > HTTP_RETRY_AFTER_MAX_S)
    s = HTTP_RETRY_AFTER_MAX_S;
  return s * 1000;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg) {
  struct attempt *a = arg;
  size_t len = size * n;
  char value[HTTP_HEADER_VALUE_MAX];
  long long v;

  /* A status line starts a new answer (an interim or a proxy's answer may
   * come first): forget what the previous one said. */
  if (header_is(line, len, "HTTP/")) {
    a->retry_after_ms = -1;
    return len;
  }
  if (header_is(line, len, "Content-Length:")) {
    /* Refuse an oversized answer before its body arrives. An unparsable
     * length is left to libcurl, which rejects it. */
    if (header_value(line + 15, len - 15, value, sizeof(value)) == 0 &&
        parse_count(value, (long long)MSOAUTH_HTTP_BODY_MAX + 1, &v) == 0 &&
        v > MSOAUTH_HTTP_BODY_MAX) {
      a->too_big = 1;
      return 0;
    }
  } else if (header_is(line, len, "Retry-After:")) {
    if (header_value(line + 12, len - 12, value, sizeof(value)) == 0)
      a->retry_after_ms = parse_retry_after(a->lib, value);
  }
  return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct attempt *a = arg;
  size_t len = size * n;

  /* Stops the transfer as soon as the cap is passed: libcurl then fails it
   * with CURLE_WRITE_ERROR. */
  if (len > a->body->max - a->body->len) {
    a->too_big = 1;
    return 0;
  }
  if (msoauth_buf_add(a->body, p, len) != MSOAUTH_OK) {
    a->nomem = 1;
    return 0;
  }
  return len;
}

/* Sets every option of one request on the freshly reset handle. */
static CURLcode set_options(struct msoauth_http *http, const char *url,
                            const struct msoauth_buf *form, long long left_ms,
                            struct attempt *a) {
  const struct msoauth_curl_lib *lib = http->lib;
  CURL *c = http->curl;
  struct curl_blob ca;
  CURLcode res;

  res = lib->easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!res)
    res =
        lib->easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  /* The bundle in memory replaces libcurl's default file, and the default
   * directory is dropped: the trust anchors are the configured ones. */
  if (!res && http->ca.pem != NULL) {
    ca.data = http->ca.pem;
    ca.len = http->ca.len;
    ca.flags = CURL_BLOB_NOCOPY;
    res = lib->easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_CAINFO, (char *)NULL);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_CAPATH, http->ca_path);
  /* "" disables the proxy and the *_proxy variables; NOPROXY "" makes
   * libcurl skip no_proxy too: the environment plays no part. */
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_PROXY,
                           http->proxy != NULL ? http->proxy : "");
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_NOPROXY, "");
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION,
                           msoauth_http_open_socket);
  if (!res && http->connect_timeout_ms > 0)
    res = lib->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                           http->connect_timeout_ms);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left_ms);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_USERAGENT, "msoauth/" PACKAGE_VERSION);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_ERRORBUFFER, http->errbuf);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_HEADERDATA, a);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  if (!res)
    res = lib->easy_setopt(c, CURLOPT_WRITEDATA, a);
  if (!res)
    res =
        lib->easy_setopt(c, CURLOPT_HTTPHEADER,
                         form != NULL ? http->form_headers : http->get_headers);
  /* The form is the caller's buffer, not a copy: nothing secret stays in
   * the handle once the request is over. */
  if (!res && form != NULL)
    res =
        lib->easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form->len);
  if (!res && form != NULL)
    res = lib->easy_setopt(c, CURLOPT_POSTFIELDS, msoauth_buf_str(form));
  if (!res && form == NULL)
    res = lib->easy_setopt(c, CURLOPT_HTTPGET, 1L);
  return res;
}

static int tls_error(CURLcode res) {
  switch (res) {
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
    return 1;
  default:
    return 0;
  }
}

static int certificate_error(CURLcode res) {
  switch (res) {
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return 1;
  default:
    return 0;
  }
}

/* Whether the failed transfer sent no byte of the request: no connection,
 * or one that failed before the request went out. */
static int nothing_sent(const struct msoauth_curl_lib *lib, CURL *c) {
  curl_off_t uploaded = -1;
  long request = -1;

  return lib->easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request) == CURLE_OK &&
         lib->easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &uploaded) == CURLE_OK &&
         request == 0 && uploaded == 0;
}

/* The host a redirect points to, for the message; "" when unknown. */
static void redirect_host(const struct msoauth_curl_lib *lib, CURL *c,
                          char *host, size_t size) {
  char *location = NULL, *h = NULL;
  CURLU *u;

  host[0] = '\0';
  if (lib->easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) != CURLE_OK ||
      location == NULL)
    return;
  u = lib->url();
  if (u == NULL)
    return;
  if (lib->url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
      lib->url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && strlen(h) < size)
    memcpy(host, h, strlen(h) + 1);
  lib->free(h);
  lib->url_cleanup(u);
}

/* Turns a transfer that failed in libcurl into an outcome. */
static struct outcome curl_failure(struct msoauth_http *http, CURLcode res,
                                   const char *url, long long deadline_ms,
                                   const struct attempt *a,
                                   struct msoauth_err *err) {
  const char *why =
      http->errbuf[0] ? http->errbuf : http->lib->easy_strerror(res);
  struct outcome o = {MSOAUTH_ERR_UNAVAILABLE, 0, -1, 0};

  if (a->too_big) {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "the answer of %s is larger than %d bytes", url,
                        MSOAUTH_HTTP_BODY_MAX);
  } else if (a->nomem || res == CURLE_OUT_OF_MEMORY) {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  } else if (certificate_error(res)) {
    /* Not "unreachable": someone answered who is not the platform, and
     * offline_grace must not be at its mercy. */
    o.rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "%s: the server certificate was not trusted (%s)", url,
                        why);
  } else if (tls_error(res)) {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "%s: TLS handshake failed (%s)", url, why);
  } else if (res == CURLE_UNSUPPORTED_PROTOCOL || res == CURLE_URL_MALFORMAT) {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_INVALID, "%s: %s", url, why);
  } else if (res == CURLE_OPERATION_TIMEDOUT &&
             deadline_ms - msoauth_now_ms() < HTTP_MIN_LEFT_MS) {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_TIMEOUT,
                        "no answer from %s within the time limit", url);
  } else {
    /* Refused, reset, closed mid-body, name not resolved, connect timeout:
     * the network may do better on the next try. */
    o.rc = msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "%s: %s", url, why);
    o.retry = 1;
    o.unsent = nothing_sent(http->lib, http->curl);
  }
  return o;
}

/* Turns a complete HTTP answer into an outcome. */
static struct outcome http_answer(struct msoauth_http *http, long status,
                                  const char *url, const struct attempt *a,
                                  int attempts, struct msoauth_err *err) {
  struct outcome o = {MSOAUTH_OK, 0, -1, 0};
  char host[256];

  if ((status >= 200 && status < 300) ||
      (status >= 400 && status < 500 && status != 429))
    return o;
  if (status >= 300 && status < 400) {
    redirect_host(http->lib, http->curl, host, sizeof(host));
    /* The host first: the detail is cut at MSOAUTH_ERR_DETAIL_MAX. */
    o.rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "redirect (HTTP %ld)%s%s not followed, from %s", status,
                        host[0] ? " to " : "", host, url);
  } else if (status == 429) {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_THROTTLED,
                        "throttled by %s (HTTP 429) after %d attempt%s", url,
                        attempts, attempts == 1 ? "" : "s");
    o.retry = 1;
    o.wait_ms = a->retry_after_ms;
  } else if (status >= 500 && status < 600) {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE,
                        "HTTP %ld from %s after %d attempt%s", status, url,
                        attempts, attempts == 1 ? "" : "s");
    o.retry = 1;
    if (status == 503)
      o.wait_ms = a->retry_after_ms;
  } else {
    o.rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "unexpected HTTP status %ld from %s", status, url);
  }
  return o;
}

/* Readies the handle for its request: libcurl, the header lists, the CA
 * bundle's bytes. */
static msoauth_rc http_start(struct msoauth_http *http,
                             struct msoauth_err *err) {
  msoauth_rc rc = msoauth_http_curl_start(&http->curl, &http->pid, &http->lib,
                                          &http->log, err);

  if (!rc && make_headers(http) != MSOAUTH_OK)
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  if (!rc)
    rc = msoauth_http_ca_read(&http->ca, err);
  return rc;
}

/* Makes one request with the time left, and says how it ended. */
static struct outcome attempt_once(struct msoauth_http *http, const char *url,
                                   const struct msoauth_buf *form,
                                   long long deadline_ms,
                                   struct msoauth_http_response *resp,
                                   struct msoauth_err *err) {
  struct attempt a = {NULL, &resp->body, -1, 0, 0};
  long long started = msoauth_now_ms();
  const struct msoauth_curl_lib *lib;
  long connects = 0;
  struct outcome o = {MSOAUTH_OK, 0, -1, 1};
  CURLcode res;

  msoauth_buf_free(&resp->body);
  resp->status = 0;
  o.rc = http_start(http, err);
  if (o.rc)
    return o;
  lib = a.lib = http->lib;
  resp->attempts++;
  http->errbuf[0] = '\0';
  lib->easy_reset(http->curl);
  res = set_options(http, url, form, deadline_ms - started, &a);
  if (res) {
    o.rc = msoauth_fail(
        err,
        res == CURLE_OUT_OF_MEMORY ? MSOAUTH_ERR_NOMEM : MSOAUTH_ERR_INVALID,
        "libcurl refused an option: %s", lib->easy_strerror(res));
    return o;
  }
  res = lib->easy_perform(http->curl);
  /* Drop the pointer to the caller's form at once. */
  if (form != NULL)
    lib->easy_setopt(http->curl, CURLOPT_POSTFIELDS, (char *)NULL);
  if (lib->easy_getinfo(http->curl, CURLINFO_NUM_CONNECTS, &connects) ==
      CURLE_OK)
    http->connects += connects;
  if (res == CURLE_OK) {
    /* Only a complete answer has a status: a cut one is a network error. */
    lib->easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    MSOAUTH_DEBUG(&http->log, "%s %s: HTTP %ld in %lld ms (attempt %d)",
                  form != NULL ? "POST" : "GET", url, resp->status,
                  msoauth_now_ms() - started, resp->attempts);
    return http_answer(http, resp->status, url, &a, resp->attempts, err);
  }
  MSOAUTH_DEBUG(&http->log, "%s %s: failed in %lld ms (attempt %d): %s",
                form != NULL ? "POST" : "GET", url, msoauth_now_ms() - started,
                resp->attempts,
                http->errbuf[0] ? http->errbuf : lib->easy_strerror(res));
  return curl_failure(http, res, url, deadline_ms, &a, err);
}

/* How long to wait before the next attempt; -1 when none fits before the
 * deadline (err then says why). */
static long long next_wait(const struct outcome *o, long long *backoff_ms,
                           long long deadline_ms, struct msoauth_err *err) {
  long long room = deadline_ms - msoauth_now_ms() - HTTP_MIN_LEFT_MS;
  long long wait;

  if (o->wait_ms >= 0) {
    /* The server said when: earlier is pointless, later is too late. */
    if (o->wait_ms > room) {
      msoauth_fail(err, o->rc,
                   "%s: asked to retry after %lld s, beyond the time left",
                   o->rc == MSOAUTH_ERR_THROTTLED ? "throttled (HTTP 429)"
                                                  : "unavailable (HTTP 503)",
                   o->wait_ms / 1000);
      return -1;
    }
    return o->wait_ms;
  }
  if (room < 0)
    return -1;
  wait = *backoff_ms < room ? *backoff_ms : room;
  *backoff_ms = *backoff_ms * 2 < HTTP_BACKOFF_MAX_MS ? *backoff_ms * 2
                                                      : HTTP_BACKOFF_MAX_MS;
  return wait;
}

static int is_https(const char *url) {
  return strncasecmp(url, "https://", 8) == 0 && url[8] != '\0';
}

/* Whether policy allows another attempt after o. */
static int may_retry(const struct outcome *o, enum msoauth_http_retry policy) {
  if (!o->retry)
    return 0;
  if (policy == MSOAUTH_HTTP_RETRY_FAILURES)
    return 1;
  /* The server may have seen the request: only its own word (429 or 503
   * with Retry-After) or a request that never left makes a retry safe. */
  return o->unsent || o->wait_ms >= 0;
}

/* The form of one attempt: the fixed one, or one made now into *made. */
static msoauth_rc attempt_form(const struct msoauth_http_post *req,
                               struct msoauth_buf *made,
                               const struct msoauth_buf **form_r,
                               struct msoauth_err *err) {
  msoauth_rc rc;

  msoauth_buf_free(made);
  if (req->make_form == NULL) {
    *form_r = req->form;
    return MSOAUTH_OK;
  }
  msoauth_buf_init(made, MSOAUTH_HTTP_FORM_MAX, 1);
  rc = req->make_form(req->arg, made, err);
  if (!rc && made->len > MSOAUTH_HTTP_FORM_MAX)
    rc = msoauth_fail(err, MSOAUTH_ERR_INVALID, "the form is too large");
  *form_r = made;
  return rc;
}

msoauth_rc msoauth_http_post(struct msoauth_http *http,
                             const struct msoauth_http_post *req,
                             long long deadline_ms,
                             struct msoauth_http_response *resp,
                             struct msoauth_err *err) {
  long long backoff_ms = HTTP_BACKOFF_FIRST_MS, wait;
  struct outcome o = {MSOAUTH_OK, 0, -1, 0};
  const struct msoauth_buf *form = NULL;
  struct msoauth_buf made;
  const char *url = req != NULL ? req->url : NULL;

  resp->status = 0;
  resp->attempts = 0;
  /* The body holds tokens: wiped when freed. */
  msoauth_buf_init(&resp->body, MSOAUTH_HTTP_BODY_MAX, 1);
  msoauth_buf_init(&made, MSOAUTH_HTTP_FORM_MAX, 1);
  if (http == NULL || url == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "no handle or URL");
  if (!is_https(url))
    return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                        "refusing %s: only https:// URLs are used", url);
  if (req->form != NULL && req->form->len > MSOAUTH_HTTP_FORM_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "the form is too large");
  for (;;) {
    if (deadline_ms - msoauth_now_ms() < HTTP_MIN_LEFT_MS) {
      if (resp->attempts == 0)
        o.rc = msoauth_fail(err, MSOAUTH_ERR_TIMEOUT,
                            "no time left for a request to %s", url);
      break;
    }
    o.rc = attempt_form(req, &made, &form, err);
    if (o.rc)
      break;
    pthread_mutex_lock(&http->lock);
    o = attempt_once(http, url, form, deadline_ms, resp, err);
    pthread_mutex_unlock(&http->lock);
    if (!may_retry(&o, req->retry) || resp->attempts > http->retries)
      break;
    wait = next_wait(&o, &backoff_ms, deadline_ms, err);
    if (wait < 0)
      break;
    MSOAUTH_DEBUG(&http->log, "retrying %s in %lld ms", url, wait);
    msoauth_sleep_ms(wait);
  }
  msoauth_buf_free(&made);
  if (o.rc)
    msoauth_buf_free(&resp->body);
  else
    msoauth_err_clear(err); /* a failed attempt before may have filled it */
  return o.rc;
}

msoauth_rc msoauth_http_request(struct msoauth_http *http, const char *url,
                                const struct msoauth_buf *form,
                                long long deadline_ms,
                                struct msoauth_http_response *resp,
                                struct msoauth_err *err) {
  struct msoauth_http_post req = {url, form, NULL, NULL,
                                  MSOAUTH_HTTP_RETRY_FAILURES};

  return msoauth_http_post(http, &req, deadline_ms, resp, err);
}
