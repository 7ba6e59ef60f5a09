/*
 * redis_server.c - a redis-server of the test's own (see redis_server.h).
 */
#include "config_build.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "redis_server.h"

int redis_installed(void) {
  return system("command -v redis-server >/dev/null 2>&1") == 0;
}

int redis_free_port(void) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

struct msoauth_redis *redis_server_admin(const struct redis_server *rs) {
  struct msoauth_redis_settings set;
  struct msoauth_redis *r = NULL;
  struct msoauth_secret *pw = NULL;
  char url[400];

  memset(&set, 0, sizeof(set));
  snprintf(url, sizeof(url), "unix:%s", rs->sock);
  if (msoauth_secret_from_str(REDIS_DEFAULT_PW, &pw) != MSOAUTH_OK)
    return NULL;
  set.url = url;
  set.password = pw;
  set.timeout_ms = 2000;
  if (msoauth_redis_open(&set, &r, NULL) != MSOAUTH_OK)
    r = NULL;
  msoauth_secret_free(&pw);
  return r;
}

static int write_conf(const struct redis_server *rs, char *conf, size_t size) {
  char tls[1200] = "";
  FILE *f;

  if (rs->tls_dir[0] != '\0')
    snprintf(tls, sizeof(tls),
             "tls-port %d\ntls-cert-file %s/server.crt\n"
             "tls-key-file %s/server.key\ntls-auth-clients no\n",
             rs->tls_port, rs->tls_dir, rs->tls_dir);
  snprintf(conf, size, "%s/redis.conf", rs->dir);
  f = fopen(conf, "w");
  if (f == NULL)
    return -1;
  fprintf(f,
          "bind 127.0.0.1\nport %d\n%sunixsocket %s\nunixsocketperm 700\n"
          "save \"\"\nappendonly no\ndir %s\nlogfile %s/redis.log\n"
          "user default on >" REDIS_DEFAULT_PW " ~* &* +@all\n"
          "user msoauth on >" REDIS_USER_PW " ~msoauth:* +@all\n",
          rs->port, tls, rs->sock, rs->dir, rs->dir);
  return fclose(f) == 0 ? 0 : -1;
}

int redis_server_restart(struct redis_server *rs) {
  char conf[400];

  if (write_conf(rs, conf, sizeof(conf)) != 0)
    return -1;
  rs->pid = fork();
  if (rs->pid < 0)
    return -1;
  if (rs->pid == 0) {
    /* Not under the test's preloads (pam_wrapper). */
    unsetenv("LD_PRELOAD");
    execlp("redis-server", "redis-server", conf, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 100; i++) {
    struct msoauth_redis *r = redis_server_admin(rs);

    if (r != NULL) {
      msoauth_redis_close(&r);
      return 0;
    }
    msoauth_sleep_ms(50);
  }
  redis_server_stop(rs);
  return -1;
}

int redis_server_start(struct redis_server *rs, const char *dir,
                       const char *tls_dir) {
  memset(rs, 0, sizeof(*rs));
  snprintf(rs->dir, sizeof(rs->dir), "%s", dir);
  snprintf(rs->sock, sizeof(rs->sock), "%s/redis.sock", dir);
  if (tls_dir != NULL)
    snprintf(rs->tls_dir, sizeof(rs->tls_dir), "%s", tls_dir);
  rs->port = redis_free_port();
  rs->tls_port = redis_free_port();
  if ((mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0) || rs->port < 0 ||
      rs->tls_port < 0)
    return -1;
  return redis_server_restart(rs);
}

void redis_server_stop(struct redis_server *rs) {
  if (rs->pid <= 0)
    return;
  kill(rs->pid, SIGTERM);
  waitpid(rs->pid, NULL, 0);
  rs->pid = 0;
}
