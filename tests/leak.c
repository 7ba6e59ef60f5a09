/*
 * leak.c - the secrets in play and a search for pieces of them in what the
 * tests captured.
 */
#include "config_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "leak.h"

#define MAX_REPORTS 20

int leak_add(struct leak_secrets *set, const char *secret) {
  char **items;

  if (secret == NULL || secret[0] == '\0')
    return 0;
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->items[i], secret) == 0)
      return 0; /* "Password1!" is many users' */
  if (set->n == set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 64;

    items = realloc(set->items, cap * sizeof(*items));
    if (items == NULL)
      return -1;
    set->items = items;
    set->cap = cap;
  }
  set->items[set->n] = strdup(secret);
  if (set->items[set->n] == NULL)
    return -1;
  set->n++;
  return 0;
}

void leak_secrets_free(struct leak_secrets *set) {
  for (size_t i = 0; i < set->n; i++)
    free(set->items[i]);
  free(set->items);
  memset(set, 0, sizeof(*set));
}

/* The string member key of each object of array (or of obj itself when
 * array is NULL). */
static long add_members(struct leak_secrets *set, struct json_object *array,
                        const char *key) {
  struct json_object *v;
  long added = 0;
  size_t n;

  if (array == NULL)
    return 0;
  if (!json_object_is_type(array, json_type_array)) {
    if (json_object_object_get_ex(array, key, &v) &&
        json_object_is_type(v, json_type_string))
      return leak_add(set, json_object_get_string(v)) == 0 ? 1 : -1;
    return 0;
  }
  n = json_object_array_length(array);
  for (size_t i = 0; i < n; i++) {
    long one = add_members(set, json_object_array_get_idx(array, i), key);

    if (one < 0)
      return -1;
    added += one;
  }
  return added;
}

static struct json_object *member_of(struct json_object *obj, const char *key) {
  struct json_object *v = NULL;

  return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

static long add_fixture(struct leak_secrets *set) {
  const char *src = getenv("MSOAUTH_SRCDIR");
  struct json_object *root;
  char path[512];
  long a, b, c;

  snprintf(path, sizeof(path), "%s/tests/fixtures/entra.json",
           src != NULL ? src : ".");
  root = json_object_from_file(path);
  if (root == NULL) {
    fprintf(stderr, "leak: cannot read %s\n", path);
    return -1;
  }
  a = add_members(set, member_of(root, "users"), "password");
  b = add_members(set, member_of(root, "apps"), "secret");
  c = add_members(set, member_of(root, "generated_users"), "password");
  json_object_put(root);
  return a < 0 || b < 0 || c < 0 ? -1 : a + b + c;
}

static long add_issued(struct leak_secrets *set, struct emu *emu) {
  char *body = emu_get(emu, "/_emu/issued");
  struct json_object *root = body != NULL ? json_tokener_parse(body) : NULL;
  struct json_object *list = root != NULL ? member_of(root, "secrets") : NULL;
  long added = 0;
  size_t n;

  free(body);
  if (list == NULL || !json_object_is_type(list, json_type_array)) {
    fprintf(stderr, "leak: no list from GET /_emu/issued\n");
    json_object_put(root);
    return -1;
  }
  n = json_object_array_length(list);
  for (size_t i = 0; i < n && added >= 0; i++) {
    struct json_object *s = json_object_array_get_idx(list, i);

    if (leak_add(set, json_object_get_string(s)) != 0)
      added = -1;
    else
      added++;
  }
  json_object_put(root);
  return added;
}

int leak_add_pem(struct leak_secrets *set, const char *path) {
  FILE *f = fopen(path, "r");
  char line[256];
  int rc = 0;

  if (f == NULL) {
    fprintf(stderr, "leak: cannot read %s\n", path);
    return -1;
  }
  while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    /* A short last line could match anything. */
    if (strncmp(line, "-----", 5) != 0 && strlen(line) >= LEAK_PIECE)
      rc = leak_add(set, line);
  }
  fclose(f);
  return rc;
}

long leak_collect(struct leak_secrets *set, struct emu *emu) {
  long fixture = add_fixture(set);
  long issued = fixture < 0 ? -1 : add_issued(set, emu);

  return issued < 0 ? -1 : fixture + issued;
}

/* ------------------------------------------------------------ sinks */

static int append(struct leak_sinks *sinks, const char *text, size_t len) {
  if (sinks->len + len + 1 > sinks->cap) {
    size_t cap = sinks->cap ? sinks->cap : 64 * 1024;
    char *grown;

    while (sinks->len + len + 1 > cap)
      cap *= 2;
    grown = realloc(sinks->text, cap);
    if (grown == NULL)
      return -1;
    sinks->text = grown;
    sinks->cap = cap;
  }
  memcpy(sinks->text + sinks->len, text, len);
  sinks->len += len;
  sinks->text[sinks->len] = '\0';
  return 0;
}

int leak_sink(struct leak_sinks *sinks, const char *label, const char *text,
              size_t len) {
  if (append(sinks, "\n== ", 4) != 0 ||
      append(sinks, label, strlen(label)) != 0 ||
      append(sinks, " ==\n", 4) != 0)
    return -1;
  return append(sinks, text, len);
}

int leak_sink_listing(struct leak_sinks *sinks, const char *dir) {
  char cmd[600], buf[4096], label[560];
  FILE *p;
  size_t n;
  int rc = 0;

  snprintf(cmd, sizeof(cmd), "ls -laR '%s' 2>&1", dir);
  snprintf(label, sizeof(label), "ls -laR %s", dir);
  p = popen(cmd, "r");
  if (p == NULL || leak_sink(sinks, label, "", 0) != 0)
    return -1;
  while (rc == 0 && (n = fread(buf, 1, sizeof(buf), p)) > 0)
    rc = append(sinks, buf, n);
  return pclose(p) == 0 && rc == 0 ? 0 : -1;
}

void leak_sinks_free(struct leak_sinks *sinks) {
  free(sinks->text);
  memset(sinks, 0, sizeof(*sinks));
}

/* ------------------------------------------------------------ search */

/* Every LEAK_PIECE-byte piece of every secret, in an open-addressing
 * table: one pass over the sinks then finds them all. */
struct piece_table {
  const char **piece; /* NULL: free slot */
  size_t *owner;      /* index of the secret */
  size_t size;        /* a power of two */
};

static uint64_t hash_piece(const char *p) {
  uint64_t h = 1469598103934665603ULL;

  for (size_t i = 0; i < LEAK_PIECE; i++)
    h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
  return h;
}

static size_t *slot_of(struct piece_table *t, const char *p) {
  size_t i = (size_t)hash_piece(p) & (t->size - 1);

  while (t->piece[i] != NULL && memcmp(t->piece[i], p, LEAK_PIECE) != 0)
    i = (i + 1) & (t->size - 1);
  return &t->owner[i];
}

static int table_build(struct piece_table *t, const struct leak_secrets *set) {
  size_t pieces = 0;

  for (size_t i = 0; i < set->n; i++) {
    size_t len = strlen(set->items[i]);

    pieces += len >= LEAK_PIECE ? len - LEAK_PIECE + 1 : 0;
  }
  for (t->size = 1024; t->size < pieces * 2; t->size *= 2)
    ;
  t->piece = calloc(t->size, sizeof(*t->piece));
  t->owner = calloc(t->size, sizeof(*t->owner));
  if (t->piece == NULL || t->owner == NULL)
    return -1;
  for (size_t i = 0; i < set->n; i++) {
    const char *s = set->items[i];
    size_t len = strlen(s);

    for (size_t k = 0; len >= LEAK_PIECE && k + LEAK_PIECE <= len; k++) {
      size_t *owner = slot_of(t, s + k);

      t->piece[owner - t->owner] = s + k;
      *owner = i;
    }
  }
  return 0;
}

static void table_free(struct piece_table *t) {
  free(t->piece);
  free(t->owner);
}

/* The label of the sink holding offset at. */
static void report(const struct leak_sinks *sinks, size_t at, size_t secret,
                   size_t len) {
  const char *label = "?";
  size_t label_len = 1;

  for (size_t i = at; i >= 4; i--) {
    if (memcmp(sinks->text + i - 4, "\n== ", 4) == 0) {
      const char *end = memchr(sinks->text + i, '\n', sinks->len - i);

      label = sinks->text + i;
      label_len = end != NULL ? (size_t)(end - label) : 0;
      if (label_len >= 3 && memcmp(label + label_len - 3, " ==", 3) == 0)
        label_len -= 3;
      break;
    }
  }
  fprintf(stderr,
          "# LEAK: secret #%zu (%zu bytes long) at byte %zu, in [%.*s]\n",
          secret, len, at, (int)label_len, label);
}

static size_t find_short(const struct leak_secrets *set,
                         const struct leak_sinks *sinks, char *hit) {
  size_t hits = 0;

  for (size_t i = 0; i < set->n; i++) {
    size_t len = strlen(set->items[i]);
    const char *at;

    if (len >= LEAK_PIECE || sinks->len == 0)
      continue;
    at = memmem(sinks->text, sinks->len, set->items[i], len);
    if (at != NULL && !hit[i]) {
      hit[i] = 1;
      if (hits++ < MAX_REPORTS)
        report(sinks, (size_t)(at - sinks->text), i, len);
    }
  }
  return hits;
}

size_t leak_find(const struct leak_secrets *set,
                 const struct leak_sinks *sinks) {
  struct piece_table t = {0};
  char *hit = calloc(set->n + 1, 1);
  size_t hits;

  if (hit == NULL || table_build(&t, set) != 0) {
    fprintf(stderr, "# leak: out of memory\n");
    free(hit);
    table_free(&t);
    return 1;
  }
  hits = find_short(set, sinks, hit);
  for (size_t at = 0; at + LEAK_PIECE <= sinks->len; at++) {
    size_t *owner = slot_of(&t, sinks->text + at);
    size_t i = *owner;

    if (t.piece[owner - t.owner] == NULL || hit[i])
      continue;
    hit[i] = 1;
    if (hits++ < MAX_REPORTS)
      report(sinks, at, i, strlen(set->items[i]));
  }
  table_free(&t);
  free(hit);
  return hits;
}

/* Whether s[0..len) is UTF-8 without a control character, C0, DEL or C1:
 * what a log line may hold. Written apart from the module's own check. */
int leak_printable(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;

  for (size_t i = 0; i < len;) {
    unsigned long cp;
    size_t n, k;

    if (p[i] < 0x80) {
      if (p[i] < 0x20 || p[i] == 0x7f)
        return 0;
      i++;
      continue;
    }
    n = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : p[i] >= 0xc0 ? 2 : 0;
    if (n == 0 || p[i] > 0xf4 || i + n > len)
      return 0;
    cp = p[i] & (0x7f >> n);
    for (k = 1; k < n; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
        (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
      return 0;
    i += n;
  }
  return 1;
}
