/*
 * scope.h - OAuth scope values: space-separated lists of tokens (RFC 6749
 * section 3.3). The configuration, the grants and the CLI each ask whether
 * a scope holds a token; one function answers for all.
 */
#ifndef MSOAUTH_SCOPE_H
#define MSOAUTH_SCOPE_H

/* Whether the space-separated scope holds token exactly (a whole item,
 * compared byte for byte). */
int msoauth_scope_has(const char *scope, const char *token);

#endif
