/*
 * num.c — strict parsing of user-typed numbers and durations (see num.h).
 */
#include "common/num.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

double
anum_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum agentd_err
anum_int(const char *s, int64_t min, int64_t max, int64_t *out, struct agentd_error *err)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return agentd_seterr(err, AGENTD_EINVAL, "expected a whole number, got nothing");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || *s == ' ' || *s == '\t')
		return agentd_seterr(err, AGENTD_EINVAL, "'%s' is not a whole number", s);
	if (errno == ERANGE || v < min || v > max)
		return agentd_seterr(err, AGENTD_EINVAL, "%s is out of range (%lld to %lld)", s,
				     (long long)min, (long long)max);
	*out = v;
	return AGENTD_OK;
}

enum agentd_err
anum_duration(const char *s, double max_s, double *out, struct agentd_error *err)
{
	char *end;
	double v, mult = 1;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '\t' || *s == '+' || *s == '-')
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno == ERANGE || !isfinite(v))
		goto bad;
	if (*end != '\0') {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: goto bad;
		}
		if (end[1] != '\0')
			goto bad;
	}
	v *= mult;
	if (!(v > 0) || v > max_s)
		return agentd_seterr(err, AGENTD_EINVAL, "%s is out of range (more than 0, at most %.0fs)",
				     s, max_s);
	*out = v;
	return AGENTD_OK;
bad:
	return agentd_seterr(err, AGENTD_EINVAL,
			     "'%s' is not a duration (expected a number with an optional unit s, m, h or d: 30s, 5m, 2h)",
			     s ? s : "");
}
