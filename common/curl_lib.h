/*
 * curl_lib.h - libcurl, mapped into the process only when it is needed.
 *
 * The artifacts are not linked with libcurl: it and the thirty libraries
 * it pulls in cost about 1.1 MiB of private memory in every process that
 * maps them, and every libsasl2 client of a host loads our plugin, most
 * of them never to make a request. libcurl is opened with dlopen() when
 * the first request is about to be made (http_share.c), or earlier when a
 * caller asks (msoauth_http_preload: a process that may chroot before its
 * first request). Its functions are then called through this table.
 */
#ifndef MSOAUTH_CURL_LIB_H
#define MSOAUTH_CURL_LIB_H

#include <time.h>

#include <curl/curl.h>

#include "result.h"

/* libcurl's soname: its ABI has been version 4 since 2006. */
#define MSOAUTH_LIBCURL_SONAME "libcurl.so.4"

/* The libcurl functions msoauth calls. */
struct msoauth_curl_lib {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
  CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
  CURLcode (*easy_perform)(CURL *curl);
  void (*easy_reset)(CURL *curl);
  void (*easy_cleanup)(CURL *curl);
  const char *(*easy_strerror)(CURLcode code);
  CURLSH *(*share_init)(void);
  CURLSHcode (*share_setopt)(CURLSH *share, CURLSHoption option, ...);
  CURLSHcode (*share_cleanup)(CURLSH *share);
  struct curl_slist *(*slist_append)(struct curl_slist *list,
                                     const char *string);
  void (*slist_free_all)(struct curl_slist *list);
  time_t (*getdate)(const char *date, const time_t *unused);
  CURLU *(*url)(void);
  CURLUcode (*url_set)(CURLU *url, CURLUPart part, const char *content,
                       unsigned int flags);
  CURLUcode (*url_get)(const CURLU *url, CURLUPart part, char **content,
                       unsigned int flags);
  void (*url_cleanup)(CURLU *url);
  void (*free)(void *p);
};

/*
 * Maps libcurl (once per process; later calls return the same table) and
 * returns its functions, or NULL with err set (MSOAUTH_ERR_CONFIG: the
 * library or one of its functions was not found, as inside a chroot that
 * has no copy of it). Nothing of libcurl runs here but its libraries'
 * constructors: curl_global_init is the caller's, after environ.c.
 * Thread-safe. The library stays mapped until the process exits.
 */
const struct msoauth_curl_lib *msoauth_curl_lib(struct msoauth_err *err);

#endif
