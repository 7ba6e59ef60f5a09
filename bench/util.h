/*
 * util.h - small helpers shared by the benchmark programs (bench/): a
 * monotonic clock, the process's resident set, strict number parsing.
 */
#ifndef MSOAUTH_BENCH_UTIL_H
#define MSOAUTH_BENCH_UTIL_H

/* Monotonic time in nanoseconds. */
long long bench_now_ns(void);

/* A field of /proc/self/status in KiB ("VmRSS", "RssAnon"), or -1. */
long bench_status_kib(const char *field);

/* Prints "rss_kib BEFORE AFTER anon_kib BEFORE AFTER" for two samples
 * taken with bench_rss_sample. */
struct bench_rss {
  long rss, anon;
};
void bench_rss_sample(struct bench_rss *r);
void bench_rss_print(const struct bench_rss *before,
                     const struct bench_rss *after);

/* Parses a decimal count in [1, max]; returns it, or -1. */
long bench_count(const char *s, long max);

/* Sorts v (n values) and returns the median. */
double bench_median(double *v, int n);

#endif
