#include "config_build.h"
/*
 * curl_spy.c - curl_global_init, counted (see curl_spy.h).
 */

#include <dlfcn.h>
#include <stddef.h>

#include <curl/curl.h>

#include "curl_spy.h"

int curl_spy_inits;

__attribute__((visibility("default"))) CURLcode curl_global_init(long flags);

CURLcode curl_global_init(long flags) {
  void *lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD);
  CURLcode (*real)(long) = NULL;

  curl_spy_inits++;
  if (lib != NULL)
    *(void **)&real = dlsym(lib, "curl_global_init");
  if (real == NULL || real == curl_global_init)
    return CURLE_FAILED_INIT;
  return real(flags);
}
