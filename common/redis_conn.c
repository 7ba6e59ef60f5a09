/*
 * redis_conn.c - one connection to Redis (see redis_conn.h).
 *
 * Every wait is a poll() up to the deadline of the step (opening, or one
 * command), so a Redis that accepts and never answers costs timeout_ms and
 * no more. A host name is resolved by the same deadline (getaddrinfo_a and
 * gai_suspend), so a resolver that never answers costs no more either; an
 * address needs no resolver and is taken as it is.
 */
#include "config_build.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h> /* struct sigevent */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "redis_conn.h"
#include "sock_bio.h"

#define DEFAULT_PORT "6379"
/* Largest reply read: an entry, sealed, with room for a SCAN page. */
#define REPLY_MAX (4 * 1024 * 1024)
#define READ_CHUNK 16384

struct url {
  int tls;
  char *user;   /* NULL when none */
  char *host;   /* or the socket path */
  char port[8]; /* "" for a Unix socket */
  long db;
};

struct msoauth_redis {
  int fd;
  SSL_CTX *ssl_ctx;
  SSL *ssl;
  BIO_METHOD *bio_method; /* of ssl's BIO, freed after it */
  redisReader *reader;
  long timeout_ms;
  int broken;
};

/* ------------------------------------------------------------ the URL */

static void url_free(struct url *u) {
  free(u->user);
  free(u->host);
  memset(u, 0, sizeof(*u));
}

static msoauth_rc bad_url(struct msoauth_err *err, const char *why) {
  return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "redis_url: %s", why);
}

/* HOST[:PORT] or [V6]:PORT, ending at end. */
static msoauth_rc parse_host(const char *p, const char *end, struct url *u,
                             struct msoauth_err *err) {
  const char *colon, *hend;
  char *stop;
  long port;

  if (*p == '[') {
    hend = memchr(p, ']', (size_t)(end - p));
    if (hend == NULL)
      return bad_url(err, "an IPv6 address without ]");
    u->host = strndup(p + 1, (size_t)(hend - p - 1));
    colon = hend + 1 < end && hend[1] == ':' ? hend + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(end - p));
    u->host = strndup(p, (size_t)((colon != NULL ? colon : end) - p));
  }
  if (u->host == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  if (u->host[0] == '\0')
    return bad_url(err, "no host");
  if (colon == NULL) {
    snprintf(u->port, sizeof(u->port), "%s", DEFAULT_PORT);
    return MSOAUTH_OK;
  }
  errno = 0;
  port = strtol(colon + 1, &stop, 10);
  if (errno != 0 || stop != end || colon + 1 == end || port < 1 || port > 65535)
    return bad_url(err, "a port that is not a number from 1 to 65535");
  snprintf(u->port, sizeof(u->port), "%ld", port);
  return MSOAUTH_OK;
}

static msoauth_rc parse_url(const char *s, struct url *u,
                            struct msoauth_err *err) {
  const char *p, *end, *at;
  char *stop;
  msoauth_rc rc;

  memset(u, 0, sizeof(*u));
  if (s == NULL)
    return bad_url(err, "not set");
  if (strncmp(s, "unix:", 5) == 0) {
    if (s[5] != '/' ||
        strlen(s + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
      return bad_url(err, "unix: needs an absolute path, shorter than 108");
    u->host = strdup(s + 5);
    return u->host != NULL
               ? MSOAUTH_OK
               : msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  if (strncmp(s, "redis://", 8) == 0) {
    p = s + 8;
  } else if (strncmp(s, "rediss://", 9) == 0) {
    p = s + 9;
    u->tls = 1;
  } else {
    return bad_url(err, "not redis://, rediss:// or unix:");
  }
  end = p + strcspn(p, "/");
  at = memchr(p, '@', (size_t)(end - p));
  if (at != NULL) {
    if (memchr(p, ':', (size_t)(at - p)) != NULL)
      return bad_url(err, "a password in the URL (use redis_password_file)");
    u->user = strndup(p, (size_t)(at - p));
    if (u->user == NULL)
      return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    p = at + 1;
  }
  rc = parse_host(p, end, u, err);
  if (rc)
    return rc;
  if (*end == '/' && end[1] != '\0') {
    errno = 0;
    u->db = strtol(end + 1, &stop, 10);
    if (errno != 0 || *stop != '\0' || u->db < 0 || u->db > 65535)
      return bad_url(err, "a database that is not a number");
  }
  return MSOAUTH_OK;
}

/* ------------------------------------------------------------ waiting */

/* Waits for events on fd until deadline_ms: 1 ready, 0 timed out, -1. */
static int wait_fd(int fd, short events, long long deadline_ms) {
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = events};
    long long left = deadline_ms - msoauth_now_ms();
    int n;

    if (left <= 0)
      return 0;
    n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
    if (n > 0)
      return 1;
    if (n < 0 && errno != EINTR)
      return -1;
  }
}

/* Runs one TLS step (handshake, read, write) until it is done or the
 * deadline passes; *n_r as the call returned it. */
enum tls_op { TLS_HANDSHAKE, TLS_READ, TLS_WRITE };

static int tls_step(struct msoauth_redis *r, enum tls_op op, void *buf,
                    size_t len, long long deadline_ms) {
  int n, e;

  for (;;) {
    size_t done = 0;

    ERR_clear_error();
    if (op == TLS_HANDSHAKE)
      n = SSL_connect(r->ssl);
    else if (op == TLS_READ)
      n = SSL_read_ex(r->ssl, buf, len, &done) == 1 ? (int)done : -1;
    else
      n = SSL_write_ex(r->ssl, buf, len, &done) == 1 ? (int)done : -1;
    e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(r->ssl, n);
    if (e == SSL_ERROR_NONE)
      return n;
    if (e == SSL_ERROR_ZERO_RETURN)
      return 0;
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return -1;
    if (wait_fd(r->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                deadline_ms) != 1)
      return -2;
  }
}

/* Writes all of buf: 0, -1 broken, -2 timed out. */
static int write_all(struct msoauth_redis *r, const char *buf, size_t len,
                     long long deadline_ms) {
  while (len > 0) {
    ssize_t n;

    if (r->ssl != NULL) {
      n = tls_step(r, TLS_WRITE, (void *)(uintptr_t)buf, len, deadline_ms);
      if (n <= 0)
        return n == -2 ? -2 : -1;
    } else {
      n = send(r->fd, buf, len, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        int w = wait_fd(r->fd, POLLOUT, deadline_ms);

        if (w != 1)
          return w == 0 ? -2 : -1;
        continue;
      }
      if (n <= 0)
        return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads what is there (at least a byte): n, 0 at end, -1, -2 timed out. */
static ssize_t read_some(struct msoauth_redis *r, char *buf, size_t size,
                         long long deadline_ms) {
  for (;;) {
    ssize_t n;
    int w;

    if (r->ssl != NULL)
      return tls_step(r, TLS_READ, buf, size, deadline_ms);
    n = recv(r->fd, buf, size, 0);
    if (n >= 0)
      return n;
    if (errno != EAGAIN && errno != EINTR)
      return -1;
    w = wait_fd(r->fd, POLLIN, deadline_ms);
    if (w != 1)
      return w == 0 ? -2 : -1;
  }
}

/* ------------------------------------------------------------ connecting */

/* Connects fd to addr, non-blocking, by deadline_ms: 0, -1, -2. */
static int connect_by(int fd, const struct sockaddr *addr, socklen_t len,
                      long long deadline_ms) {
  int soerr = 0, w;
  socklen_t sl = sizeof(soerr);

  if (connect(fd, addr, len) == 0)
    return 0;
  if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
    return -1;
  w = wait_fd(fd, POLLOUT, deadline_ms);
  if (w != 1)
    return w == 0 ? -2 : -1;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
    errno = soerr;
    return -1;
  }
  return 0;
}

static msoauth_rc connect_unix(struct msoauth_redis *r, const char *path,
                               long long deadline_ms, struct msoauth_err *err) {
  struct sockaddr_un sun;
  int c;

  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, strlen(path) + 1);
  r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (r->fd < 0)
    return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "socket: %s",
                        strerror(errno));
  c = connect_by(r->fd, (struct sockaddr *)&sun, sizeof(sun), deadline_ms);
  if (c == 0)
    return MSOAUTH_OK;
  return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "Redis at unix:%s: %s",
                      path,
                      c == -2 ? "no connection in time" : strerror(errno));
}

/* One lookup of a name: everything libc's resolver thread writes to or
 * reads from, in one block of the heap (which outlives a dlclose). */
struct lookup {
  struct gaicb cb;
  struct addrinfo hints;
  struct lookup *next; /* on the parked list */
  char port[8];
  char host[];
};

/* Lookups abandoned at their deadline that libc could not cancel: libc's
 * thread still writes into them, so they stay allocated until it is done,
 * and are freed by a later lookup (reap). After a dlclose of the module
 * they are leaked on purpose: one small block per timed-out lookup, and
 * the redis-down marker spares further lookups for 2 x connect_timeout. */
static struct lookup *parked;
static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;

static void lookup_free(struct lookup *l) {
  if (l->cb.ar_result != NULL)
    freeaddrinfo(l->cb.ar_result);
  free(l);
}

/* Frees the parked lookups libc has finished with. */
static void reap(void) {
  struct lookup **p, *l;

  pthread_mutex_lock(&parked_lock);
  for (p = &parked; (l = *p) != NULL;) {
    if (gai_error(&l->cb) == EAI_INPROGRESS) {
      p = &l->next;
      continue;
    }
    *p = l->next;
    lookup_free(l);
  }
  pthread_mutex_unlock(&parked_lock);
}

static void park(struct lookup *l) {
  pthread_mutex_lock(&parked_lock);
  l->next = parked;
  parked = l;
  pthread_mutex_unlock(&parked_lock);
}

/* Waits for l until deadline_ms: its gai_error, or EAI_AGAIN in time. */
static int lookup_wait(struct lookup *l, long long deadline_ms) {
  const struct gaicb *list[1] = {&l->cb};
  struct timespec ts;
  long long left;
  int gai;

  while ((gai = gai_error(&l->cb)) == EAI_INPROGRESS) {
    left = deadline_ms - msoauth_now_ms();
    if (left <= 0)
      return EAI_AGAIN;
    ts.tv_sec = (time_t)(left / 1000);
    ts.tv_nsec = (long)(left % 1000) * 1000000L;
    gai_suspend(list, 1, &ts); /* EAI_AGAIN, EAI_INTR: look again */
  }
  return gai;
}

/* Resolves host:port by deadline_ms into *res_r (freeaddrinfo): 0, or an
 * EAI_ code, EAI_AGAIN when the deadline passed. An address is taken as
 * it is; a name is looked up by libc's own resolver thread (GAI_NOWAIT),
 * never one of ours, which could outlive the module. */
static int resolve(const char *host, const char *port, long long deadline_ms,
                   struct addrinfo **res_r) {
  struct sigevent none = {.sigev_notify = SIGEV_NONE};
  struct gaicb *list[1];
  struct addrinfo hints;
  struct lookup *l;
  size_t hlen = strlen(host);
  int gai;

  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICHOST;
  *res_r = NULL;
  gai = getaddrinfo(host, port, &hints, res_r);
  if (gai != EAI_NONAME)
    return gai;
  reap();
  l = calloc(1, sizeof(*l) + hlen + 1);
  if (l == NULL)
    return EAI_MEMORY;
  memcpy(l->host, host, hlen + 1);
  snprintf(l->port, sizeof(l->port), "%s", port);
  l->hints = hints;
  l->hints.ai_flags = AI_ADDRCONFIG;
  l->cb.ar_name = l->host;
  l->cb.ar_service = l->port;
  l->cb.ar_request = &l->hints;
  list[0] = &l->cb;
  gai = getaddrinfo_a(GAI_NOWAIT, list, 1, &none);
  if (gai != 0) {
    free(l);
    return gai;
  }
  gai = lookup_wait(l, deadline_ms);
  if (gai == EAI_AGAIN && gai_error(&l->cb) == EAI_INPROGRESS) {
    int c = gai_cancel(&l->cb);

    if (c == EAI_NOTCANCELED || c == EAI_INPROGRESS) {
      park(l);
      return EAI_AGAIN;
    }
  }
  if (gai == 0) {
    *res_r = l->cb.ar_result;
    l->cb.ar_result = NULL;
  }
  lookup_free(l);
  return gai;
}

static msoauth_rc connect_tcp(struct msoauth_redis *r, const struct url *u,
                              long long deadline_ms, struct msoauth_err *err) {
  struct addrinfo *res = NULL;
  int gai, c = -1, saved = 0, one = 1;

  gai = resolve(u->host, u->port, deadline_ms, &res);
  if (gai == EAI_AGAIN && msoauth_now_ms() >= deadline_ms)
    return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE,
                        "Redis host %s: no name resolution in time", u->host);
  if (gai != 0)
    return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "Redis host %s: %s",
                        u->host, gai_strerror(gai));
  for (struct addrinfo *ai = res; ai != NULL && c != 0; ai = ai->ai_next) {
    if (r->fd >= 0)
      close(r->fd);
    r->fd = socket(ai->ai_family,
                   ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (r->fd < 0)
      continue;
    c = connect_by(r->fd, ai->ai_addr, ai->ai_addrlen, deadline_ms);
    saved = errno;
    if (c == -2)
      break;
  }
  freeaddrinfo(res);
  if (c == 0) {
    setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return MSOAUTH_OK;
  }
  return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "Redis at %s:%s: %s",
                      u->host, u->port,
                      c == -2 ? "no connection in time" : strerror(saved));
}

msoauth_rc msoauth_redis_tls_new(const struct msoauth_redis_settings *set,
                                 SSL_CTX **ctx_r, struct msoauth_err *err) {
  int ok;

  *ctx_r = NULL;
  if (set->url == NULL || strncmp(set->url, "rediss://", 9) != 0)
    return MSOAUTH_OK;
  *ctx_r = SSL_CTX_new(TLS_client_method());
  if (*ctx_r == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  SSL_CTX_set_min_proto_version(*ctx_r, TLS1_2_VERSION);
  SSL_CTX_set_verify(*ctx_r, SSL_VERIFY_PEER, NULL);
  if (set->ca_file != NULL || set->ca_path != NULL)
    ok = SSL_CTX_load_verify_locations(*ctx_r, set->ca_file, set->ca_path);
  else
    ok = SSL_CTX_set_default_verify_paths(*ctx_r);
  if (ok == 1)
    return MSOAUTH_OK;
  SSL_CTX_free(*ctx_r);
  *ctx_r = NULL;
  return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "redis_url: cannot load the trust anchors (ca_file, "
                      "ca_path)");
}

/* TLS 1.2 or later, the peer verified against the trust anchors and the
 * URL's host (an address is matched as an address). */
static msoauth_rc start_tls(struct msoauth_redis *r, const struct url *u,
                            const struct msoauth_redis_settings *set,
                            long long deadline_ms, struct msoauth_err *err) {
  struct in6_addr a6;
  int is_ip = inet_pton(AF_INET, u->host, &a6) == 1 ||
              inet_pton(AF_INET6, u->host, &a6) == 1;
  BIO *bio;
  int ok;

  if (set->tls != NULL && SSL_CTX_up_ref(set->tls) == 1)
    r->ssl_ctx = set->tls;
  if (r->ssl_ctx == NULL) {
    msoauth_rc rc = msoauth_redis_tls_new(set, &r->ssl_ctx, err);

    if (rc)
      return rc;
  }
  /* Our socket BIO: OpenSSL's own would raise SIGPIPE in the host. */
  r->bio_method = msoauth_sock_bio_method();
  r->ssl = SSL_new(r->ssl_ctx);
  bio = r->bio_method != NULL ? msoauth_sock_bio_new(r->bio_method, r->fd)
                              : NULL;
  if (r->ssl == NULL || bio == NULL) {
    BIO_free(bio);
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  SSL_set_bio(r->ssl, bio, bio);
  if (is_ip)
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(r->ssl), u->host);
  else
    ok = SSL_set1_host(r->ssl, u->host) &&
         SSL_set_tlsext_host_name(r->ssl, u->host);
  if (ok != 1)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG, "bad Redis host name");
  ok = tls_step(r, TLS_HANDSHAKE, NULL, 0, deadline_ms);
  if (ok == 1)
    return MSOAUTH_OK;
  if (ok == -2)
    return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE,
                        "Redis at %s:%s: no TLS handshake in time", u->host,
                        u->port);
  return msoauth_fail(
      err, MSOAUTH_ERR_UNAVAILABLE, "Redis at %s:%s: TLS failed: %s", u->host,
      u->port,
      SSL_get_verify_result(r->ssl) != X509_V_OK
          ? X509_verify_cert_error_string(SSL_get_verify_result(r->ssl))
          : "handshake refused");
}

/* ------------------------------------------------------------ commands */

static msoauth_rc broken(struct msoauth_redis *r, int how,
                         struct msoauth_err *err) {
  r->broken = 1;
  return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "Redis %s",
                      how == -2  ? "did not answer in time"
                      : how == 0 ? "closed the connection"
                                 : "connection failed");
}

/* Reads one reply by deadline_ms. */
static msoauth_rc read_reply(struct msoauth_redis *r, long long deadline_ms,
                             redisReply **reply_r, struct msoauth_err *err) {
  char buf[READ_CHUNK];
  size_t total = 0;
  void *reply = NULL;

  for (;;) {
    ssize_t n;

    if (redisReaderGetReply(r->reader, &reply) != REDIS_OK) {
      r->broken = 1;
      return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                          "Redis sent what is not a reply");
    }
    if (reply != NULL)
      break;
    n = read_some(r, buf, sizeof(buf), deadline_ms);
    if (n <= 0)
      return broken(r, (int)n, err);
    total += (size_t)n;
    if (total > REPLY_MAX ||
        redisReaderFeed(r->reader, buf, (size_t)n) != REDIS_OK) {
      r->broken = 1;
      return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "Redis reply too long");
    }
  }
  *reply_r = reply;
  return MSOAUTH_OK;
}

/* An error reply: refusals of the password or the rights are DENIED. */
static msoauth_rc error_reply(const redisReply *reply,
                              struct msoauth_err *err) {
  static const char *const denied[] = {"NOAUTH",   "WRONGPASS",
                                       "NOPERM",   "ERR invalid password",
                                       "ERR AUTH", NULL};

  for (size_t i = 0; denied[i] != NULL; i++)
    if (strncmp(reply->str, denied[i], strlen(denied[i])) == 0)
      return msoauth_fail(err, MSOAUTH_ERR_DENIED, "Redis refused: %.120s",
                          reply->str);
  return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "Redis answered: %.120s",
                      reply->str);
}

msoauth_rc msoauth_redis_command(struct msoauth_redis *r, int argc,
                                 const char *const *argv, const size_t *lens,
                                 redisReply **reply_r,
                                 struct msoauth_err *err) {
  long long deadline_ms = msoauth_now_ms() + r->timeout_ms;
  char *cmd = NULL;
  int len, w;
  msoauth_rc rc;

  *reply_r = NULL;
  if (r->broken)
    return msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE,
                        "the Redis connection failed earlier");
  len =
      redisFormatCommandArgv(&cmd, argc, (const char **)(uintptr_t)argv, lens);
  if (len < 0)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  w = write_all(r, cmd, (size_t)len, deadline_ms);
  /* AUTH carries the password. */
  msoauth_wipe(cmd, (size_t)len);
  free(cmd);
  if (w != 0)
    return broken(r, w, err);
  rc = read_reply(r, deadline_ms, reply_r, err);
  if (!rc && (*reply_r)->type == REDIS_REPLY_ERROR) {
    rc = error_reply(*reply_r, err);
    freeReplyObject(*reply_r);
    *reply_r = NULL;
  }
  return rc;
}

/* AUTH [USER] PASSWORD, then SELECT DB. */
static msoauth_rc hello(struct msoauth_redis *r, const struct url *u,
                        const struct msoauth_redis_settings *set,
                        struct msoauth_err *err) {
  const char *argv[3];
  size_t lens[3];
  char db[24];
  int argc = 0;
  redisReply *reply = NULL;
  msoauth_rc rc = MSOAUTH_OK;

  if (set->password != NULL) {
    argv[argc] = "AUTH";
    lens[argc++] = 4;
    if (u->user != NULL) {
      argv[argc] = u->user;
      lens[argc++] = strlen(u->user);
    }
    argv[argc] = msoauth_secret_value(set->password);
    lens[argc++] = msoauth_secret_len(set->password);
    rc = msoauth_redis_command(r, argc, argv, lens, &reply, err);
    freeReplyObject(reply);
    reply = NULL;
    if (rc == MSOAUTH_ERR_DENIED || rc == MSOAUTH_ERR_PROTOCOL)
      return msoauth_fail(err, MSOAUTH_ERR_DENIED,
                          "Redis refused the password of "
                          "redis_password_file%s%s",
                          u->user != NULL ? " for user " : "",
                          u->user != NULL ? u->user : "");
  }
  if (!rc && u->db != 0) {
    snprintf(db, sizeof(db), "%ld", u->db);
    argv[0] = "SELECT";
    lens[0] = 6;
    argv[1] = db;
    lens[1] = strlen(db);
    rc = msoauth_redis_command(r, 2, argv, lens, &reply, err);
    freeReplyObject(reply);
  }
  return rc;
}

msoauth_rc msoauth_redis_open(const struct msoauth_redis_settings *set,
                              struct msoauth_redis **r_r,
                              struct msoauth_err *err) {
  long long deadline_ms = msoauth_now_ms() + set->timeout_ms;
  struct msoauth_redis *r;
  struct url u;
  msoauth_rc rc;

  *r_r = NULL;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  r->fd = -1;
  r->timeout_ms = set->timeout_ms;
  rc = parse_url(set->url, &u, err);
  if (rc)
    goto out;
  r->reader = redisReaderCreate();
  if (r->reader == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (u.port[0] == '\0')
    rc = connect_unix(r, u.host, deadline_ms, err);
  else
    rc = connect_tcp(r, &u, deadline_ms, err);
  if (!rc && u.tls)
    rc = start_tls(r, &u, set, deadline_ms, err);
  /* The handshake counts against the opening's deadline too. */
  if (!rc) {
    r->timeout_ms = deadline_ms - msoauth_now_ms();
    if (r->timeout_ms <= 0)
      rc = broken(r, -2, err);
  }
  if (!rc)
    rc = hello(r, &u, set, err);
  r->timeout_ms = set->timeout_ms;
out:
  url_free(&u);
  if (rc)
    msoauth_redis_close(&r);
  *r_r = r;
  return rc;
}

int msoauth_redis_ok(const struct msoauth_redis *r) {
  return r != NULL && !r->broken;
}

void msoauth_redis_drop(struct msoauth_redis **r) {
  if (r != NULL && *r != NULL)
    (*r)->broken = 1;
  msoauth_redis_close(r);
}

void msoauth_redis_close(struct msoauth_redis **r) {
  if (r == NULL || *r == NULL)
    return;
  if ((*r)->ssl != NULL) {
    if (!(*r)->broken)
      SSL_shutdown((*r)->ssl); /* non-blocking: one try, no wait */
    SSL_free((*r)->ssl);
  }
  BIO_meth_free((*r)->bio_method);
  SSL_CTX_free((*r)->ssl_ctx);
  if ((*r)->fd >= 0)
    close((*r)->fd);
  if ((*r)->reader != NULL)
    redisReaderFree((*r)->reader);
  free(*r);
  *r = NULL;
}
