/*
 * scope.c - OAuth scope values.
 */
#include "config_build.h"

#include <string.h>

#include "scope.h"

int msoauth_scope_has(const char *scope, const char *token) {
  size_t len = strlen(token);

  for (const char *p = scope; *p != '\0';) {
    size_t n = strcspn(p, " ");

    if (n == len && memcmp(p, token, len) == 0)
      return 1;
    p += n;
    p += strspn(p, " ");
  }
  return 0;
}
