/*
 * redis_conn.h - one connection to Redis: TCP, a Unix socket or TLS, one
 * command at a time, every wait bounded.
 *
 * hiredis does what it is good at, the protocol: commands are encoded with
 * redisFormatCommandArgv and replies parsed with its reader. The connection
 * is ours (Debian 12's hiredis 0.14 has no TLS): non-blocking, close-on-exec
 * sockets, poll() up to a deadline, no SIGPIPE, and TLS through OpenSSL,
 * verified against ca_file/ca_path and the URL's host name. So TCP, Unix
 * sockets and TLS share one code path.
 */
#ifndef MSOAUTH_REDIS_CONN_H
#define MSOAUTH_REDIS_CONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include "result.h"
#include "secret.h"

struct msoauth_redis_settings {
  const char *url; /* redis://[USER@]HOST[:PORT][/DB], rediss://, unix:PATH */
  const struct msoauth_secret *password; /* AUTH; NULL: none */
  const char *ca_file;                   /* rediss://; NULL: the system's */
  const char *ca_path;
  long timeout_ms; /* bounds the opening, and each command */
  SSL_CTX *tls;    /* rediss://: made by msoauth_redis_tls_new; NULL: made
                      at each opening */
};

/* For a rediss:// URL, a TLS context with the trust anchors loaded now
 * (a caller that chroots later keeps them); NULL for others. The caller
 * frees *ctx_r with SSL_CTX_free. */
msoauth_rc msoauth_redis_tls_new(const struct msoauth_redis_settings *set,
                                 SSL_CTX **ctx_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

struct msoauth_redis;

/*
 * Connects, says AUTH (USER and password, or the password alone) and
 * SELECT when the URL names a database. MSOAUTH_ERR_CONFIG for a URL that
 * cannot be used, MSOAUTH_ERR_UNAVAILABLE when Redis cannot be reached in
 * time (or TLS fails), MSOAUTH_ERR_DENIED when it refuses the password or
 * wants one. The caller owns *r_r.
 */
msoauth_rc msoauth_redis_open(const struct msoauth_redis_settings *set,
                              struct msoauth_redis **r_r,
                              struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Sends one command (argc arguments of lens bytes) and reads its reply
 * within the settings' timeout. An error reply is MSOAUTH_ERR_PROTOCOL
 * (MSOAUTH_ERR_DENIED for NOAUTH, WRONGPASS, NOPERM); a broken or silent
 * connection is MSOAUTH_ERR_UNAVAILABLE, and the connection is unusable
 * afterwards. The caller frees *reply_r with freeReplyObject. */
msoauth_rc msoauth_redis_command(struct msoauth_redis *r, int argc,
                                 const char *const *argv, const size_t *lens,
                                 redisReply **reply_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Whether the connection is still usable. */
int msoauth_redis_ok(const struct msoauth_redis *r);

/* Frees *r without a word on the connection (a child after fork: the
 * TLS session is its parent's); sets it to NULL. Accepts NULL. */
void msoauth_redis_drop(struct msoauth_redis **r);

/* Closes *r and sets it to NULL. Accepts NULL. */
void msoauth_redis_close(struct msoauth_redis **r);

#endif
