/*
 * curl_lib.c - libcurl, mapped with dlopen() on first need (curl_lib.h).
 *
 * RTLD_LOCAL keeps libcurl's symbols out of the host's namespace (a host
 * with its own libcurl gets the same mapped copy, which is refcounted).
 * The search for the soname is the dynamic linker's, as it would be for a
 * library we were linked with: in a setuid or setgid process it ignores
 * LD_LIBRARY_PATH. The handle is never closed: libcurl keeps global state
 * (curl_global_init) and the process's connection cache.
 */
#include "config_build.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "curl_lib.h"

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static struct msoauth_curl_lib lib;
static int lib_ok;
static char lib_problem[256];

/* Stores the address of symbol name in *slot; 0, or -1 when missing. */
static int resolve(void *handle, void *slot, const char *name) {
  void *p = dlsym(handle, name);

  if (p == NULL) {
    snprintf(lib_problem, sizeof(lib_problem), "%s has no %s",
             MSOAUTH_LIBCURL_SONAME, name);
    return -1;
  }
  /* POSIX: a function's address may be stored through a void pointer. */
  *(void **)slot = p;
  return 0;
}

static void load_once(void) {
  void *h = dlopen(MSOAUTH_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
  const char *why;

  if (h == NULL) {
    why = dlerror();
    snprintf(lib_problem, sizeof(lib_problem), "%s",
             why != NULL ? why : "no reason given");
    return;
  }
  if (resolve(h, &lib.global_init, "curl_global_init") ||
      resolve(h, &lib.easy_init, "curl_easy_init") ||
      resolve(h, &lib.easy_setopt, "curl_easy_setopt") ||
      resolve(h, &lib.easy_getinfo, "curl_easy_getinfo") ||
      resolve(h, &lib.easy_perform, "curl_easy_perform") ||
      resolve(h, &lib.easy_reset, "curl_easy_reset") ||
      resolve(h, &lib.easy_cleanup, "curl_easy_cleanup") ||
      resolve(h, &lib.easy_strerror, "curl_easy_strerror") ||
      resolve(h, &lib.share_init, "curl_share_init") ||
      resolve(h, &lib.share_setopt, "curl_share_setopt") ||
      resolve(h, &lib.share_cleanup, "curl_share_cleanup") ||
      resolve(h, &lib.slist_append, "curl_slist_append") ||
      resolve(h, &lib.slist_free_all, "curl_slist_free_all") ||
      resolve(h, &lib.getdate, "curl_getdate") ||
      resolve(h, &lib.url, "curl_url") ||
      resolve(h, &lib.url_set, "curl_url_set") ||
      resolve(h, &lib.url_get, "curl_url_get") ||
      resolve(h, &lib.url_cleanup, "curl_url_cleanup") ||
      resolve(h, &lib.free, "curl_free"))
    return; /* left mapped: a partial libcurl is not unloaded mid-process */
  lib_ok = 1;
}

const struct msoauth_curl_lib *msoauth_curl_lib(struct msoauth_err *err) {
  if (pthread_once(&lib_once, load_once) != 0) {
    msoauth_fail(err, MSOAUTH_ERR_NOMEM, "cannot load %s",
                 MSOAUTH_LIBCURL_SONAME);
    return NULL;
  }
  if (!lib_ok) {
    msoauth_fail(err, MSOAUTH_ERR_CONFIG, "cannot load libcurl: %s",
                 lib_problem);
    return NULL;
  }
  return &lib;
}
