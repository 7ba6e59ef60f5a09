/*
 * leak.h - proving that no secret reaches a log: the secrets in play (the
 * fixture's passwords and client secret, every token and device code the
 * emulator issued) and a search for any 16-character piece of one in what
 * the tests captured (syslog lines, SASL log callbacks, stderr, stdout,
 * cache directory listings).
 */
#ifndef MSOAUTH_TESTS_LEAK_H
#define MSOAUTH_TESTS_LEAK_H

#include <stddef.h>

#include "emu.h"

/* A piece this long of a secret is a leak; a shorter secret must not
 * appear whole. */
#define LEAK_PIECE 16

struct leak_secrets {
  char **items;
  size_t n;
  size_t cap;
};

/* What a test captured, appended sink after sink (a growing buffer). */
struct leak_sinks {
  char *text;
  size_t len;
  size_t cap;
};

/* Adds a copy of secret (empty ones and repeats are ignored). 0, or -1 on
 * no memory. */
int leak_add(struct leak_secrets *set, const char *secret);

/* Adds the passwords and client secrets of tests/fixtures/entra.json
 * (under MSOAUTH_SRCDIR) and everything GET /_emu/issued lists. Returns
 * the number added, or -1. */
long leak_collect(struct leak_secrets *set, struct emu *emu);

/* Adds each base64 line of a PEM file (a private key). 0, or -1. */
int leak_add_pem(struct leak_secrets *set, const char *path);

/* Frees the copies and empties set. */
void leak_secrets_free(struct leak_secrets *set);

/* Appends "== label ==\n" and len bytes of text to sinks (NUL bytes kept:
 * the search is over bytes). 0, or -1. */
int leak_sink(struct leak_sinks *sinks, const char *label, const char *text,
              size_t len);

/* Appends the output of `ls -laR dir` (file names, modes, sizes). 0/-1. */
int leak_sink_listing(struct leak_sinks *sinks, const char *dir);

void leak_sinks_free(struct leak_sinks *sinks);

/* Searches sinks for every secret, or any LEAK_PIECE-byte piece of one.
 * Prints each hit to stderr (the label of the sink it is in, and where:
 * never the secret itself) and returns the number of hits. */
size_t leak_find(const struct leak_secrets *set,
                 const struct leak_sinks *sinks);

/* Whether s[0..len) is UTF-8 without a control character (C0, DEL, C1):
 * what a log line or a message may hold. */
int leak_printable(const char *s, size_t len);

#endif
