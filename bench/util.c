/*
 * util.c - small helpers shared by the benchmark programs.
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

long long bench_now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long bench_status_kib(const char *field) {
  char line[256];
  size_t len = strlen(field);
  long kib = -1;
  FILE *f = fopen("/proc/self/status", "r");

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      kib = bench_count(line + len + 1 + strspn(line + len + 1, " \t"),
                        1L << 40);
      break;
    }
  }
  fclose(f);
  return kib;
}

void bench_rss_sample(struct bench_rss *r) {
  r->rss = bench_status_kib("VmRSS");
  r->anon = bench_status_kib("RssAnon");
}

void bench_rss_print(const struct bench_rss *before,
                     const struct bench_rss *after) {
  printf("rss_kib %ld %ld anon_kib %ld %ld\n", before->rss, after->rss,
         before->anon, after->anon);
}

long bench_count(const char *s, long max) {
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  /* /proc writes "1234 kB": a number followed by its unit. */
  if (errno != 0 || end == s || (*end != '\0' && *end != ' ') || v < 1 ||
      v > max)
    return -1;
  return v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
