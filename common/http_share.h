/*
 * http_share.h - libcurl's state for the whole process, for http.c alone:
 * its loading and global initialisation, the connection cache every handle
 * shares, easy handles inherited through fork(), and close-on-exec sockets.
 */
#ifndef MSOAUTH_HTTP_SHARE_H
#define MSOAUTH_HTTP_SHARE_H

#include <sys/types.h>

#include <curl/curl.h>

#include "curl_lib.h"
#include "log.h"
#include "result.h"

/*
 * Makes *curl an easy handle of this process, right before a request: the
 * environment made safe first (environ.c), then libcurl mapped (unless it
 * was preloaded) and initialised (once per process), then the easy handle, its
 * internal sockets close-on-exec, joined to the process's connection cache. A
 * handle in *curl made by another process (*pid, before fork()) is left to
 * it. Nothing is done when *curl is already this process's. The caller
 * serialises calls for one handle. *lib_r is set to libcurl's functions
 * on success. MSOAUTH_ERR_CONFIG when libcurl cannot be loaded.
 */
msoauth_rc msoauth_http_curl_start(CURL **curl, pid_t *pid,
                                   const struct msoauth_curl_lib **lib_r,
                                   const struct msoauth_log *log,
                                   struct msoauth_err *err);

/* Frees *curl (NULL is fine), made by process pid: one made before fork()
 * is left alone, since its connections are the parent's. */
void msoauth_http_curl_free(CURL **curl, pid_t pid);

/* CURLOPT_OPENSOCKETFUNCTION: every connection's socket is close-on-exec
 * from the start, since a thread of the host may fork and exec at any
 * moment (su's shell, a Dovecot helper). */
curl_socket_t msoauth_http_open_socket(void *arg, curlsocktype purpose,
                                       struct curl_sockaddr *addr);

#endif
