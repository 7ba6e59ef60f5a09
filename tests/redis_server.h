/*
 * redis_server.h - a redis-server of the test's own: a loopback port, a
 * Unix socket and (with certificates) a TLS port, an ACL user "msoauth"
 * limited to msoauth:* and a default user, each with a password; no
 * persistence, its own directory; stopped by the test.
 */
#ifndef MSOAUTH_TESTS_REDIS_SERVER_H
#define MSOAUTH_TESTS_REDIS_SERVER_H

#include <sys/types.h>

#include "redis_conn.h"

#define REDIS_USER_PW "fleet-Pw.7d2e91c04b5a"
#define REDIS_DEFAULT_PW "default-Pw.b81d22c4e6f3"

struct redis_server {
  char dir[300];
  char sock[340];
  char tls_dir[300]; /* server.crt, server.key; "" for no TLS */
  int port, tls_port;
  pid_t pid;
};

/* Whether redis-server is installed. */
int redis_installed(void);

/* A free loopback TCP port, or -1. */
int redis_free_port(void);

/* Starts a server in dir (created) with ports of its own; tls_dir names
 * the directory of server.crt and server.key, or NULL. Returns 0 once it
 * answers, -1 on failure. */
int redis_server_start(struct redis_server *rs, const char *dir,
                       const char *tls_dir);

/* Starts it again after redis_server_stop: same ports, empty. */
int redis_server_restart(struct redis_server *rs);

void redis_server_stop(struct redis_server *rs);

/* A connection as the default user over the Unix socket, or NULL. */
struct msoauth_redis *redis_server_admin(const struct redis_server *rs);

#endif
