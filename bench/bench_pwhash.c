/*
 * bench_pwhash.c - what one password verifier costs (issue 12, item 7):
 * making and checking one at the cost of a cached token's verifier and at
 * the cost of PAM's (failure_cache, offline_grace), and checking a password
 * against four rejected ones that share a salt. Median of N runs each.
 *
 *   make bench/bench_pwhash && bench/bench_pwhash [N]
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "secret.h"
#include "pwhash.h"

#define RUNS_MAX 101

static double now_ms(void) {
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(*v), by_value);
  return v[n / 2];
}

/* Make and check at one cost. */
static int one_cost(const struct msoauth_secret *pw, long cost, int n) {
  double make[RUNS_MAX], check[RUNS_MAX];

  for (int i = 0; i < n; i++) {
    char *v = NULL;
    double t0 = now_ms(), t1;

    if (msoauth_verifier_make_with(pw, cost, NULL, &v) != MSOAUTH_OK)
      return -1;
    t1 = now_ms();
    if (msoauth_verifier_check(v, pw) != MSOAUTH_OK)
      return -1;
    check[i] = now_ms() - t1;
    make[i] = t1 - t0;
    msoauth_free_wiped(&v);
  }
  printf("%7ld iterations: make %.1f ms, check %.1f ms (median of %d)\n",
         cost, median(make, n), median(check, n), n);
  return 0;
}

/* A password against four rejected ones of one salt: one derivation. */
static int four_failed(const struct msoauth_secret *pw,
                       const struct msoauth_secret *other, int n) {
  char *v[4] = {NULL, NULL, NULL, NULL};
  const char *list[4];
  double t[RUNS_MAX];
  int ret = 0;

  for (int i = 0; i < 4 && ret == 0; i++) {
    if (msoauth_verifier_make_with(pw, MSOAUTH_VERIFIER_ITERATIONS_PASSWORD,
                                   i > 0 ? v[0] : NULL, &v[i]) != MSOAUTH_OK)
      ret = -1;
    list[i] = v[i];
  }
  for (int i = 0; i < n && ret == 0; i++) {
    double t0 = now_ms();

    if (msoauth_verifier_find(list, 4, other) != -1)
      ret = -1;
    t[i] = now_ms() - t0;
  }
  if (ret == 0)
    printf("four rejected passwords (one salt), no match: %.1f ms (median "
           "of %d)\n",
           median(t, n), n);
  for (int i = 0; i < 4; i++)
    msoauth_free_wiped(&v[i]);
  return ret;
}

int main(int argc, char **argv) {
  struct msoauth_secret *pw = NULL, *other = NULL;
  long n = 11;
  int ret = 1;

  if (argc > 1) {
    char *end;

    errno = 0;
    n = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > RUNS_MAX) {
      fprintf(stderr, "usage: %s [RUNS, 1 to %d]\n", argv[0], RUNS_MAX);
      return 2;
    }
  }
  if (msoauth_secret_from_str("Correct horse battery staple", &pw) ==
          MSOAUTH_OK &&
      msoauth_secret_from_str("a stale password", &other) == MSOAUTH_OK &&
      one_cost(pw, MSOAUTH_VERIFIER_ITERATIONS, (int)n) == 0 &&
      one_cost(pw, MSOAUTH_VERIFIER_ITERATIONS_PASSWORD, (int)n) == 0 &&
      four_failed(pw, other, (int)n) == 0)
    ret = 0;
  msoauth_secret_free(&pw);
  msoauth_secret_free(&other);
  return ret;
}
