#include "config_build.h"
/*
 * curl_spy.c - libcurl mapped, and TLS started, as the program sees it
 * (see curl_spy.h).
 */

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

#include "curl_spy.h"

int curl_spy_tls_starts;

__attribute__((visibility("default"))) int
OPENSSL_init_ssl(uint64_t opts, const void *settings);

int OPENSSL_init_ssl(uint64_t opts, const void *settings) {
  void *lib = dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);
  int (*real)(uint64_t, const void *) = NULL;

  curl_spy_tls_starts++;
  if (lib != NULL) {
    *(void **)&real = dlsym(lib, "OPENSSL_init_ssl");
    dlclose(lib); /* the module keeps it mapped */
  }
  if (real == NULL || real == OPENSSL_init_ssl)
    return 0;
  return real(opts, settings);
}

int curl_spy_mapped(void) {
  void *lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD);

  if (lib == NULL)
    return 0;
  dlclose(lib);
  return 1;
}
