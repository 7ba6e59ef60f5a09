/*
 * aliases.c - aliases_file: parsing its "ALIAS PRIMARY" lines, and finding
 * an alias among them for the identity rules.
 */
#include "config_build.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aliases.h"
#include "config_keys.h"

struct alias_list {
  struct msoauth_problems *p;
  const char *path;
  struct msoauth_alias **list;
  size_t *n;
  size_t cap;
};

static int is_blank(int c) {
  return c == ' ' || c == '\t';
}

/* Cuts the next blank-separated word off *s. */
static char *next_word(char **s) {
  char *p = *s, *word;

  while (is_blank((unsigned char)*p))
    p++;
  word = p;
  while (*p != '\0' && !is_blank((unsigned char)*p))
    p++;
  if (*p != '\0')
    *p++ = '\0';
  *s = p;
  return word;
}

static int add_alias(struct alias_list *al, const char *alias,
                     const char *primary) {
  struct msoauth_alias *a;

  if (*al->n == al->cap) {
    size_t cap = al->cap ? al->cap * 2 : 16;
    struct msoauth_alias *grown = realloc(*al->list, cap * sizeof(*grown));

    if (grown == NULL)
      return msoauth_problem_nomem(al->p, al->path);
    *al->list = grown;
    al->cap = cap;
  }
  a = &(*al->list)[*al->n];
  a->alias = strdup(alias);
  a->primary = strdup(primary);
  if (a->alias == NULL || a->primary == NULL) {
    free(a->alias);
    free(a->primary);
    return msoauth_problem_nomem(al->p, al->path);
  }
  msoauth_lowercase(a->alias);
  msoauth_lowercase(a->primary);
  (*al->n)++;
  return 0;
}

/* "ALIAS PRIMARY" (blank lines and comments never get here). */
static int parse_alias(void *arg, char *s, int line) {
  struct alias_list *al = arg;
  char *alias, *primary, *rest;
  const char *why;

  alias = next_word(&s);
  primary = next_word(&s);
  rest = next_word(&s);
  if (*primary == '\0' || *rest != '\0') {
    msoauth_problem(al->p, MSOAUTH_ERR_CONFIG,
                    "%s:%d: expected two addresses: ALIAS PRIMARY", al->path,
                    line);
    return 0;
  }
  why = msoauth_address_problem(alias, strlen(alias));
  if (why == NULL)
    why = msoauth_address_problem(primary, strlen(primary));
  if (why != NULL) {
    msoauth_problem(al->p, MSOAUTH_ERR_CONFIG, "%s:%d: %s", al->path, line,
                    why);
    return 0;
  }
  return add_alias(al, alias, primary);
}

void msoauth_aliases_parse(struct msoauth_problems *p, const char *path,
                           char *text, size_t len, struct msoauth_alias **list,
                           size_t *n_list) {
  struct alias_list al = {
      .p = p, .path = path, .list = list, .n = n_list, .cap = *n_list};

  msoauth_ini_lines(p, path, text, len, parse_alias, &al);
}

void msoauth_aliases_free(struct msoauth_alias **list, size_t *n_list) {
  for (size_t i = 0; *list != NULL && i < *n_list; i++) {
    free((*list)[i].alias);
    free((*list)[i].primary);
  }
  free(*list);
  *list = NULL;
  *n_list = 0;
}

const struct msoauth_alias *
msoauth_aliases_find(const struct msoauth_alias *list, size_t n_list,
                     const char *addr) {
  for (size_t i = 0; i < n_list; i++)
    if (list[i].alias != NULL && list[i].primary != NULL &&
        strcasecmp(list[i].alias, addr) == 0)
      return &list[i];
  return NULL;
}
