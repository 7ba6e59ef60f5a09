/*
 * bench_token.c - the core alone (common/libmsoauth), as the plugins and
 * the command use it: msoauth_token_get for (CONF, identity, password).
 *
 *   bench_token cold CONF USER PASS   one token, which must be acquired
 *                                     (the driver empties the cache dir)
 *   bench_token get CONF USER PASS    one token, from the cache or not
 *                                     (a login of a fleet's host)
 *   bench_token fill CONF K PASS      tokens for user0 .. user<K-1>
 *                                     (@contoso.com) into the cache
 *   bench_token scale CONF K PASS     in a fresh process: one pass over the
 *                                     K cached identities (first use in
 *                                     this process), then timed passes
 *                                     until 2,000 lookups; every one must
 *                                     come from the cache
 *
 * scale prints "first_ns X repeat_ns Y": nanoseconds per authentication
 * in the first pass, and the median over the later passes.
 */
#include "config_build.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "secret.h"
#include "token.h"
#include "util.h"

#define SCALE_MIN_LOOKUPS 2000
#define SCALE_MAX_PASSES 64

struct bench {
  struct msoauth_config *cfg;
  struct msoauth_ctx *ctx;
  struct msoauth_secret *pass;
  struct msoauth_err err;
};

static int bench_open(struct bench *b, const char *conf, const char *pass) {
  memset(b, 0, sizeof(*b));
  if (msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &b->cfg, &b->err) ||
      msoauth_ctx_new(b->cfg, NULL, &b->ctx, &b->err) ||
      msoauth_secret_from_str(pass, &b->pass)) {
    fprintf(stderr, "bench_token: %s\n", b->err.detail);
    return -1;
  }
  return 0;
}

static void bench_close(struct bench *b) {
  msoauth_secret_free(&b->pass);
  msoauth_ctx_free(&b->ctx);
  msoauth_config_free(&b->cfg);
}

/* One token for user; 1 when it came from the cache, 0 when acquired,
 * -1 on failure. */
static int get(struct bench *b, const char *user) {
  struct msoauth_token tok;
  int r;

  if (msoauth_token_get(b->ctx, user, strlen(user), b->pass, &tok,
                        &b->err) != MSOAUTH_OK) {
    fprintf(stderr, "bench_token: %s: %s\n", user, b->err.detail);
    msoauth_token_clear(&tok);
    return -1;
  }
  r = tok.from_cache ? 1 : 0;
  msoauth_token_clear(&tok);
  return r;
}

static void user_name(char *buf, size_t size, long i) {
  snprintf(buf, size, "user%ld@contoso.com", i);
}

static int mode_fill(struct bench *b, long k) {
  char user[64];

  for (long i = 0; i < k; i++) {
    user_name(user, sizeof(user), i);
    if (get(b, user) < 0)
      return 1;
  }
  return 0;
}

/* One pass over k identities, all from the cache; ns per lookup or -1. */
static double pass_over(struct bench *b, long k) {
  long long t0 = bench_now_ns();
  char user[64];

  for (long i = 0; i < k; i++) {
    user_name(user, sizeof(user), i);
    if (get(b, user) != 1) {
      fprintf(stderr, "bench_token: %s was not served from the cache\n", user);
      return -1;
    }
  }
  return (double)(bench_now_ns() - t0) / (double)k;
}

static int mode_scale(struct bench *b, long k) {
  double first = pass_over(b, k), v[SCALE_MAX_PASSES];
  int passes = (int)((SCALE_MIN_LOOKUPS + k - 1) / k);

  if (passes < 5)
    passes = 5;
  if (passes > SCALE_MAX_PASSES)
    passes = SCALE_MAX_PASSES;
  if (first < 0)
    return 1;
  for (int i = 0; i < passes; i++)
    if ((v[i] = pass_over(b, k)) < 0)
      return 1;
  printf("first_ns %.0f repeat_ns %.0f\n", first, bench_median(v, passes));
  return 0;
}

int main(int argc, char **argv) {
  struct bench b;
  long k = 0;
  int rc = 2;

  if (argc != 5 || (strcmp(argv[1], "cold") != 0 &&
                    strcmp(argv[1], "get") != 0 &&
                    (k = bench_count(argv[3], 100000L)) < 0)) {
    fprintf(stderr, "usage: bench_token cold|get CONF USER PASS\n"
                    "       bench_token fill|scale CONF K PASS\n");
    return 2;
  }
  if (bench_open(&b, argv[2], argv[4]) != 0)
    return 1;
  if (strcmp(argv[1], "cold") == 0)
    rc = get(&b, argv[3]) == 0 ? 0 : 1;
  else if (strcmp(argv[1], "get") == 0)
    rc = get(&b, argv[3]) >= 0 ? 0 : 1;
  else if (strcmp(argv[1], "fill") == 0)
    rc = mode_fill(&b, k);
  else if (strcmp(argv[1], "scale") == 0)
    rc = mode_scale(&b, k);
  bench_close(&b);
  return rc;
}
