/*
 * aliases.h - aliases_file: alternate addresses and their primary ones.
 *
 * The file is read while the configuration loads (config.c hands its text
 * here); the identity rules (identity.c) look names up in what it holds.
 */
#ifndef MSOAUTH_ALIASES_H
#define MSOAUTH_ALIASES_H

#include <stddef.h>

#include "ini.h"

/* What signing in with an alias does (key alias_policy). */
enum msoauth_alias_policy {
  MSOAUTH_ALIAS_REJECT = 0,
  MSOAUTH_ALIAS_RESOLVE = 1,
};

struct msoauth_alias {
  char *alias;   /* lowercased */
  char *primary; /* lowercased */
};

/*
 * Parses text (len bytes, mutable, NUL-terminated; read from path, named in
 * messages): lines "ALIAS PRIMARY" of two addresses, blank lines and
 * "# comments". Each bad line is a problem reported to p and skipped; the
 * good ones are appended to *list (n_list entries, grown with realloc; free
 * it with msoauth_aliases_free).
 */
void msoauth_aliases_parse(struct msoauth_problems *p, const char *path,
                           char *text, size_t len, struct msoauth_alias **list,
                           size_t *n_list);

/* Frees *list and its n_list entries, and empties both. */
void msoauth_aliases_free(struct msoauth_alias **list, size_t *n_list);

/* The entry whose alias is addr (case-insensitively), or NULL. */
const struct msoauth_alias *
msoauth_aliases_find(const struct msoauth_alias *list, size_t n_list,
                     const char *addr);

#endif
