/*
 * num.h — strict parsing of numbers and durations typed by a user
 * (command-line flags, config values); and the one monotonic clock reading
 * every deadline and elapsed time is measured with.
 *
 * The whole string must be the number: "5m" is not an integer, "abc"
 * is not 0, and a value outside [min, max] is refused. On failure the
 * output is untouched and `err` says what form was expected.
 */
#ifndef AGENTD_COMMON_NUM_H
#define AGENTD_COMMON_NUM_H

#include <stdint.h>

#include "common/error.h"

/* A decimal integer in [min, max]. */
enum agentd_err anum_int(const char *s, int64_t min, int64_t max, int64_t *out,
			 struct agentd_error *err);

/*
 * A duration in seconds: a number with an optional unit s, m, h or d
 * ("30", "30s", "1.5m", "2h"); result in (0, max_s].
 */
enum agentd_err anum_duration(const char *s, double max_s, double *out,
			      struct agentd_error *err);

/* Seconds on CLOCK_MONOTONIC (deadlines, elapsed times; not wall time). */
double anum_mono_s(void);

#endif
