/*
 * bench.h — the few helpers every benchmark under bench/ uses: a monotonic
 * clock in milliseconds and a comparison for sorting samples. Header-only,
 * for bench programs alone.
 */
#ifndef AGENTD_BENCH_H
#define AGENTD_BENCH_H

#include <time.h>

/* Milliseconds on the monotonic clock. */
static inline double
bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* qsort comparison for doubles, ascending. */
static inline int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
