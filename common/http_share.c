/*
 * http_share.c - libcurl's state for the whole process.
 *
 * It owns what no single handle may: libcurl itself (mapped by the first
 * request unless preloaded, curl_lib.c) and curl_global_init (run by the
 * first request, never before, after environ.c has made the environment
 * safe),
 * the one connection cache (with TLS sessions and DNS answers) that every
 * handle of the process joins, the easy handles a child inherited through
 * fork() (left alone: their sockets are the parent's), and the
 * close-on-exec marking of the sockets libcurl makes where no option
 * reaches. http.c, which owns one request, is its only user.
 */
#include "config_build.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "curl_lib.h"
#include "environ.h"
#include "http_share.h"

/* Free descriptor numbers watched while libcurl makes its internal ones. */
#define HTTP_FD_WATCH 8
/* Highest descriptor number looked at for a free one. */
#define HTTP_FD_SEARCH_MAX 65536

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
/* libcurl's functions, once it is mapped and initialised; NULL before. */
static const struct msoauth_curl_lib *lib;
static struct msoauth_err global_err;

/* Only ever run by the first request (http_start), after environ.c. */
static void global_init_once(void) {
  const struct msoauth_curl_lib *l = msoauth_curl_lib(&global_err);

  if (l == NULL)
    return;
  if (l->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    msoauth_fail(&global_err, MSOAUTH_ERR_NOMEM, "cannot initialise libcurl");
    return;
  }
  lib = l;
}

static msoauth_rc global_init(struct msoauth_err *err) {
  if (pthread_once(&global_once, global_init_once) != 0)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "cannot initialise libcurl");
  if (lib == NULL)
    return msoauth_fail(err, global_err.rc, "%s", global_err.detail);
  return MSOAUTH_OK;
}

/* ------------------------------------------------------------ shared cache */

/*
 * One connection cache (with TLS sessions and DNS answers) for every handle
 * of the process, so that a host making a handle per call (PAM: a Dovecot
 * auth worker verifies thousands of passwords) still talks over one TLS
 * connection. libcurl only reuses a connection whose host, port, proxy and
 * TLS settings (the CA bundle included) match. A child after fork() makes
 * its own and never touches its parent's, whose sockets it inherited: it
 * neither uses nor closes them. The cache lives until the process exits.
 */
struct share {
  CURLSH *sh;
  pid_t pid;
  struct share *parent; /* the cache of the process that forked this one:
                           left alone, and kept reachable */
  pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static pthread_mutex_t share_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct share *share_current;

static void share_lock(CURL *curl, curl_lock_data data, curl_lock_access access,
                       void *arg) {
  (void)curl;
  (void)access;
  pthread_mutex_lock(&((struct share *)arg)->locks[data]);
}

static void share_unlock(CURL *curl, curl_lock_data data, void *arg) {
  (void)curl;
  pthread_mutex_unlock(&((struct share *)arg)->locks[data]);
}

static struct share *share_new(void) {
  struct share *s = calloc(1, sizeof(*s));
  CURLSHcode res;

  if (s == NULL)
    return NULL;
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init(&s->locks[i], NULL);
  s->pid = getpid();
  s->sh = lib->share_init();
  res = s->sh != NULL ? CURLSHE_OK : CURLSHE_NOMEM;
  if (res == CURLSHE_OK)
    res = lib->share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock);
  if (res == CURLSHE_OK)
    res = lib->share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
  if (res == CURLSHE_OK)
    res = lib->share_setopt(s->sh, CURLSHOPT_USERDATA, s);
  if (res == CURLSHE_OK)
    res = lib->share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  if (res == CURLSHE_OK)
    res = lib->share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  if (res == CURLSHE_OK)
    res = lib->share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  if (res != CURLSHE_OK) {
    lib->share_cleanup(s->sh); /* NULL is fine */
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
      pthread_mutex_destroy(&s->locks[i]);
    free(s);
    return NULL;
  }
  return s;
}

/* The process's cache, made on first use; NULL when it cannot be made (the
 * handle then keeps its own connections). */
static CURLSH *share_get(void) {
  CURLSH *sh = NULL;

  pthread_mutex_lock(&share_mutex);
  if (share_current == NULL || share_current->pid != getpid()) {
    struct share *s = share_new();

    if (s != NULL) { /* a parent's cache is left untouched */
      s->parent = share_current;
      share_current = s;
    }
  }
  if (share_current != NULL && share_current->pid == getpid())
    sh = share_current->sh;
  pthread_mutex_unlock(&share_mutex);
  return sh;
}

/*
 * Easy handles made by an ancestor process before fork(). Each keeps
 * connections (its own, or a way into its parent's cache) whose sockets
 * this process inherited: cleaning one up would close them with a TLS
 * close_notify the parent never sent. Left alone, and kept reachable.
 */
struct inherited {
  CURL *curl;
  struct inherited *next;
};

static struct inherited *inherited_handles;

static void inherited_keep(CURL *curl) {
  struct inherited *h = malloc(sizeof(*h));

  if (h == NULL)
    return; /* forgotten rather than cleaned up */
  h->curl = curl;
  pthread_mutex_lock(&share_mutex);
  h->next = inherited_handles;
  inherited_handles = h;
  pthread_mutex_unlock(&share_mutex);
}

/* ------------------------------------------------------------ sockets */

/* The lowest n free descriptor numbers (-1 where none was found). */
static void free_fds(int *fds, int n) {
  int found = 0;

  for (int fd = 0; fd < HTTP_FD_SEARCH_MAX && found < n; fd++)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
      fds[found++] = fd;
  while (found < n)
    fds[found++] = -1;
}

/*
 * libcurl makes a multi handle inside each easy handle at its first
 * perform, and with it a socket pair (its wakeup) that some versions
 * (7.88) open without close-on-exec, and that lives as long as the easy
 * handle. No option reaches it, so it is made here, by a perform without a
 * URL (which fails before any I/O), and sockets that appeared in the lowest
 * free descriptor numbers, where the kernel puts new ones, are marked
 * close-on-exec.
 */
static void internal_fds_cloexec(CURL *curl) {
  int fds[HTTP_FD_WATCH];
  struct stat st;
  int flags;

  free_fds(fds, HTTP_FD_WATCH);
  (void)lib->easy_perform(curl); /* CURLE_URL_MALFORMAT: no URL */
  for (int i = 0; i < HTTP_FD_WATCH && fds[i] >= 0; i++) {
    flags = fcntl(fds[i], F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC) && fstat(fds[i], &st) == 0 &&
        S_ISSOCK(st.st_mode))
      (void)fcntl(fds[i], F_SETFD, flags | FD_CLOEXEC);
  }
}

curl_socket_t msoauth_http_open_socket(void *arg, curlsocktype purpose,
                                       struct curl_sockaddr *addr) {
  (void)arg;
  (void)purpose;
  return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* ------------------------------------------------------------ handles */

/* Joins the process's connection cache (kept by curl_easy_reset). */
static void attach_share(CURL *curl, const struct msoauth_log *log) {
  CURLSH *sh = share_get();

  if (sh == NULL || lib->easy_setopt(curl, CURLOPT_SHARE, sh) != CURLE_OK)
    MSOAUTH_DEBUG(log, "no shared connection cache: this handle "
                       "keeps its own connections");
}

msoauth_rc msoauth_http_curl_start(CURL **curl, pid_t *pid,
                                   const struct msoauth_curl_lib **lib_r,
                                   const struct msoauth_log *log,
                                   struct msoauth_err *err) {
  pid_t self = getpid();
  msoauth_rc rc;

  if (*curl != NULL && *pid == self) {
    *lib_r = lib;
    return MSOAUTH_OK;
  }
  if (*curl != NULL) {
    MSOAUTH_DEBUG(log,
                  "a new process: the handle of process %ld is "
                  "left to it",
                  (long)*pid);
    inherited_keep(*curl);
    *curl = NULL;
  }
  rc = msoauth_environ_prepare(log, err);
  if (rc)
    return rc;
  rc = global_init(err);
  if (rc)
    return rc;
  *lib_r = lib;
  *curl = lib->easy_init();
  if (*curl == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  *pid = self;
  internal_fds_cloexec(*curl);
  attach_share(*curl, log);
  return MSOAUTH_OK;
}

void msoauth_http_curl_free(CURL **curl, pid_t pid) {
  if (*curl != NULL && pid != getpid())
    inherited_keep(*curl);
  else if (*curl != NULL)
    lib->easy_cleanup(*curl); /* made by this process: lib is set */
  *curl = NULL;
}
