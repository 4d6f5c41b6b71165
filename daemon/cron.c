/*
 * cron.c — parse 5-field cron expressions and compute their next fire time
 * in an IANA zone, right across DST changes, month ends and leap days.
 *
 * The search walks real time (epoch seconds) and jumps field by field: to
 * the next matching month, day, hour or minute. Local time comes from the
 * job's zone read from its TZif file (tzone.c; never by switching TZ,
 * which raced with every other thread's getenv and localtime), or for jobs
 * without one from localtime_r in the process's zone. Whenever a jump
 * crosses a change of UTC offset, the walk stops at the change itself, so
 * that local times skipped by a DST gap can be accounted for:
 *   - "fixed-time" jobs (neither minute nor hour starts with '*') fire once
 *     at the first instant after a gap that swallowed one of their times,
 *     and fire only at the first occurrence of a repeated local time;
 *   - wildcard jobs (minute or hour starts with '*') follow real elapsed
 *     time: times inside a gap do not exist, repeated times fire twice.
 */
#include "daemon/cron.h"
#include "daemon/tzone.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRON_MAX_TEXT 512
/* How far ahead cron_next looks before answering AGENTD_ENOTFOUND: a bit
 * more than 8 years, so Feb 29 is found across 2100 (not a leap year). */
#define CRON_HORIZON ((time_t)(8 * 366 + 2) * 86400)

struct cron_expr {
	uint64_t min;		/* bits 0-59 */
	uint32_t hour;		/* bits 0-23 */
	uint32_t dom;		/* bits 1-31 */
	uint32_t mon;		/* bits 1-12 */
	uint32_t dow;		/* bits 0-6 (7 folded into 0) */
	unsigned min_star : 1, hour_star : 1, dom_star : 1, dow_star : 1, reboot : 1;
};

struct field_spec {
	const char *name;
	int lo, hi;
	const char *const *names;	/* names[i] has value names_base + i */
	int names_base;
};

static const char *const mon_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
	"JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const dow_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI",
	"SAT", NULL };

static const struct field_spec fields[5] = {
	{ "minute", 0, 59, NULL, 0 },
	{ "hour", 0, 23, NULL, 0 },
	{ "day-of-month", 1, 31, NULL, 0 },
	{ "month", 1, 12, mon_names, 1 },
	{ "day-of-week", 0, 7, dow_names, 0 },
};

/* ---------------------------------------------------------------- parsing */

/* Parse one value (number or name) from s[0..n); -1 and err on failure. */
static int
parse_value(const struct field_spec *f, const char *s, size_t n, int *out,
    int *was_name, struct agentd_error *err)
{
	size_t i;
	long v = 0;

	*was_name = 0;
	if (n == 0)
		return agentd_seterr(err, AGENTD_EINVAL, "%s field: missing value", f->name);
	if (isdigit((unsigned char)s[0])) {
		for (i = 0; i < n; i++) {
			if (!isdigit((unsigned char)s[i]))
				return agentd_seterr(err, AGENTD_EINVAL,
				    "%s field: '%.*s' is not a number", f->name, (int)n, s);
			if (v < 100000)
				v = v * 10 + (s[i] - '0');
		}
		if (v < f->lo || v > f->hi)
			return agentd_seterr(err, AGENTD_EINVAL, "%s field: %ld is out of range %d-%d",
			    f->name, v, f->lo, f->hi);
		*out = (int)v;
		return AGENTD_OK;
	}
	if (f->names != NULL && n == 3) {
		for (i = 0; f->names[i] != NULL; i++) {
			if (strncasecmp(f->names[i], s, 3) == 0) {
				*out = f->names_base + (int)i;
				*was_name = 1;
				return AGENTD_OK;
			}
		}
	}
	if (f->names != NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "%s field: unknown name '%.*s'",
		    f->name, (int)(n > 32 ? 32 : n), s);
	return agentd_seterr(err, AGENTD_EINVAL, "%s field: '%.*s' is not a number",
	    f->name, (int)(n > 32 ? 32 : n), s);
}

/* Parse one comma-separated item into bits; star set when it starts with '*'. */
static int
parse_item(const struct field_spec *f, const char *s, size_t n, uint64_t *bits,
    struct agentd_error *err)
{
	const char *slash = memchr(s, '/', n);
	size_t rn = slash ? (size_t)(slash - s) : n;
	int lo, hi, step = 1, name_lo, name_hi, rc, v;
	const char *dash;

	if (n == 0)
		return agentd_seterr(err, AGENTD_EINVAL, "%s field: empty list item", f->name);
	if (slash != NULL) {
		const char *p = slash + 1;
		size_t sn = n - rn - 1;
		long st = 0;
		size_t i;

		if (sn == 0)
			return agentd_seterr(err, AGENTD_EINVAL, "%s field: missing step after '/'",
			    f->name);
		for (i = 0; i < sn; i++) {
			if (!isdigit((unsigned char)p[i]))
				return agentd_seterr(err, AGENTD_EINVAL,
				    "%s field: step '%.*s' is not a number", f->name,
				    (int)(sn > 32 ? 32 : sn), p);
			if (st < 100000)
				st = st * 10 + (p[i] - '0');
		}
		if (st == 0)
			return agentd_seterr(err, AGENTD_EINVAL, "%s field: step 0 is not allowed",
			    f->name);
		if (st > f->hi)
			return agentd_seterr(err, AGENTD_EINVAL,
			    "%s field: step %ld is larger than the range %d-%d", f->name, st,
			    f->lo, f->hi);
		step = (int)st;
	}
	if (rn == 1 && s[0] == '*') {
		lo = f->lo;
		hi = f->hi;
		if (f->hi == 7)	/* day-of-week: '*' means 0-6 */
			hi = 6;
	} else {
		dash = memchr(s, '-', rn);
		if (dash != NULL) {
			rc = parse_value(f, s, (size_t)(dash - s), &lo, &name_lo, err);
			if (rc)
				return rc;
			rc = parse_value(f, dash + 1, rn - (size_t)(dash - s) - 1, &hi, &name_hi,
			    err);
			if (rc)
				return rc;
			/* "FRI-SUN": a weekday range ending on Sunday ends at 7. */
			if (f->hi == 7 && hi == 0 && lo > 0)
				hi = 7;
			if (lo > hi)
				return agentd_seterr(err, AGENTD_EINVAL,
				    "%s field: range %.*s is reversed (the first value must not "
				    "be larger than the second; split it into two ranges)",
				    f->name, (int)(rn > 32 ? 32 : rn), s);
		} else {
			rc = parse_value(f, s, rn, &lo, &name_lo, err);
			if (rc)
				return rc;
			/* "a/n" runs from a to the end of the field. */
			hi = slash != NULL ? (f->hi == 7 ? 6 : f->hi) : lo;
			if (hi < lo)
				hi = lo;
		}
	}
	for (v = lo; v <= hi; v += step)
		*bits |= (uint64_t)1 << (f->hi == 7 && v == 7 ? 0 : v);
	return AGENTD_OK;
}

static int
parse_field(const struct field_spec *f, const char *s, size_t n, uint64_t *bits,
    int *star, struct agentd_error *err)
{
	size_t start = 0, i;
	int rc;

	*bits = 0;
	*star = n > 0 && s[0] == '*';
	for (i = 0; i <= n; i++) {
		if (i == n || s[i] == ',') {
			rc = parse_item(f, s + start, i - start, bits, err);
			if (rc)
				return rc;
			start = i + 1;
		}
	}
	return AGENTD_OK;
}

static const struct {
	const char *name;
	const char *expansion;
} shorthands[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* 1 when some day in dom (bits 1-31) exists in some month in mon (bits 1-12). */
static int
dom_meets_month(uint32_t dom, uint32_t mon)
{
	static const int mdays[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int m, d;

	for (m = 1; m <= 12; m++)
		for (d = 1; d <= mdays[m]; d++)
			if ((mon & (1u << m)) && (dom & (1u << d)))
				return 1;
	return 0;
}

int
cron_parse(const char *text, struct cron_expr **out, struct agentd_error *err)
{
	struct cron_expr c;
	const char *p, *tok[6];
	size_t len[6], nf = 0, i;
	uint64_t bits[5];
	int star[5], rc;
	struct cron_expr *res;

	if (text == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "empty cron expression");
	if (strlen(text) > CRON_MAX_TEXT)
		return agentd_seterr(err, AGENTD_EINVAL, "cron expression longer than %d bytes",
		    CRON_MAX_TEXT);
	memset(&c, 0, sizeof(c));
	p = text;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '@') {
		size_t n = strcspn(p, " \t\r\n");
		const char *rest = p + n;

		while (isspace((unsigned char)*rest))
			rest++;
		if (*rest != '\0')
			return agentd_seterr(err, AGENTD_EINVAL,
			    "'%.*s' takes no other fields", (int)(n > 32 ? 32 : n), p);
		if (n == 7 && strncasecmp(p, "@reboot", 7) == 0) {
			c.reboot = 1;
			goto done;
		}
		for (i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++) {
			if (strlen(shorthands[i].name) == n &&
			    strncasecmp(p, shorthands[i].name, n) == 0)
				return cron_parse(shorthands[i].expansion, out, err);
		}
		return agentd_seterr(err, AGENTD_EINVAL,
		    "unknown shorthand '%.*s' (known: @hourly @daily @midnight @weekly "
		    "@monthly @yearly @annually @reboot)", (int)(n > 32 ? 32 : n), p);
	}
	while (*p != '\0') {
		size_t n = strcspn(p, " \t\r\n");

		if (nf < 6) {
			tok[nf] = p;
			len[nf] = n;
		}
		nf++;
		p += n;
		while (isspace((unsigned char)*p))
			p++;
	}
	if (nf == 0)
		return agentd_seterr(err, AGENTD_EINVAL, "empty cron expression");
	if (nf != 5)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "expected 5 fields (minute hour day-of-month month day-of-week), got %zu", nf);
	for (i = 0; i < 5; i++) {
		rc = parse_field(&fields[i], tok[i], len[i], &bits[i], &star[i], err);
		if (rc)
			return rc;
	}
	c.min = bits[0];
	c.hour = (uint32_t)bits[1];
	c.dom = (uint32_t)bits[2];
	c.mon = (uint32_t)bits[3];
	c.dow = (uint32_t)bits[4];
	c.min_star = star[0] != 0;
	c.hour_star = star[1] != 0;
	c.dom_star = star[2] != 0;
	c.dow_star = star[4] != 0;
	/* Only the day of the month decides the day (the weekday is '*'): some
	 * listed day must exist in some listed month, else it never fires. A
	 * Feb 29 comes within 8 years, so a schedule that passes fires then. */
	if (!c.dom_star && c.dow_star && !dom_meets_month(c.dom, c.mon))
		return agentd_seterr(err, AGENTD_EINVAL, "day-of-month field: no listed day "
		    "exists in a listed month (\"%.*s %.*s\"), so the schedule would never fire",
		    (int)len[2], tok[2], (int)len[3], tok[3]);
done:
	res = malloc(sizeof(*res));
	if (res == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	*res = c;
	*out = res;
	return AGENTD_OK;
}

void
cron_free(struct cron_expr *c)
{
	free(c);
}

int
cron_is_reboot(const struct cron_expr *c)
{
	return c != NULL && c->reboot;
}

/* ---------------------------------------------------------------- zones */

int
cron_check_tz(const char *tz, struct agentd_error *err)
{
	struct tzone *z;
	int rc;

	if (tz == NULL || tz[0] == '\0')
		return AGENTD_OK;
	if ((rc = tzone_get(tz, &z, err)) == AGENTD_OK)
		tzone_put(z);	/* read once: cron_next finds it cached */
	return rc;
}

/* ---------------------------------------------------------------- matching */

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int mon1)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return mon1 == 2 && is_leap(y) ? 29 : d[mon1 - 1];
}

static int
day_matches(const struct cron_expr *c, int mday, int wday)
{
	int d = (c->dom >> mday) & 1, w = (c->dow >> wday) & 1;

	if (c->dom_star || c->dow_star)
		return d && w;
	return d || w;
}

/* Does the broken-down time match every field? */
static int
tm_matches(const struct cron_expr *c, const struct tm *tm)
{
	return ((c->mon >> (tm->tm_mon + 1)) & 1) && day_matches(c, tm->tm_mday, tm->tm_wday) &&
	    ((c->hour >> tm->tm_hour) & 1) && ((c->min >> tm->tm_min) & 1);
}

static int
is_fixed(const struct cron_expr *c)
{
	return !c->min_star && !c->hour_star;
}

/* UTC offset at t in zone z (NULL: the process's own, through localtime_r). */
static long
offset_at(const struct tzone *z, time_t t)
{
	struct tm tm;

	if (z != NULL)
		return tzone_offset(z, t);
	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return tm.tm_gmtoff;
}

/* Local time of t in zone z, broken down (tm_gmtoff set); NULL on overflow. */
static struct tm *
local_tm(const struct tzone *z, time_t t, struct tm *tm)
{
	long off;
	time_t u;

	if (z == NULL)
		return localtime_r(&t, tm);
	off = tzone_offset(z, t);
	u = t + off;
	if (gmtime_r(&u, tm) == NULL)
		return NULL;
	tm->tm_gmtoff = off;
	return tm;
}

/* First instant in (lo, hi] whose UTC offset differs from lo's; hi when none. */
static time_t
find_change(const struct tzone *z, time_t lo, time_t hi)
{
	long off = offset_at(z, lo);

	if (offset_at(z, hi) == off)
		return hi;
	while (hi - lo > 1) {
		time_t mid = lo + (hi - lo) / 2;

		if (offset_at(z, mid) == off)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* A forward change at t (offset old → new): does a local time swallowed by
 * the gap match the expression? */
static int
gap_matches(const struct cron_expr *c, time_t t, long old_off, long new_off)
{
	time_t w;
	struct tm tm;

	for (w = t + old_off; w < t + new_off; w += 60) {
		time_t m = w - (w % 60 + 60) % 60;

		if (gmtime_r(&m, &tm) == NULL)
			return 0;
		if (tm_matches(c, &tm))
			return 1;
	}
	return 0;
}

/* Is t's local time a second occurrence (the same wall time already
 * happened earlier, after the clocks went back)? */
static int
is_repeat(const struct tzone *z, time_t t)
{
	long off = offset_at(z, t), o;
	int k;

	for (k = 1; k <= 8; k++) {
		o = offset_at(z, t - (time_t)k * 1800);
		if (o > off && offset_at(z, t - (o - off)) == o)
			return 1;
	}
	return 0;
}

/*
 * The first instant of local day y-mon0-d (mon0 0-based, may be 12: the
 * next January) in zone z: its midnight, the earlier one when midnight
 * happens twice, or the end of the gap when the clocks skip it. Within
 * 27 hours of it a zone's offset changes at most once.
 */
static time_t
local_midnight(const struct tzone *z, int y, int mon0, int d)
{
	struct tm tm;
	time_t wall, lo, c, best = (time_t)-1, ch;
	long o[2];
	int i;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900 + mon0 / 12;
	tm.tm_mon = mon0 % 12;
	tm.tm_mday = d;
	wall = timegm(&tm);	/* the local wall time, counted as if UTC */
	if (wall == (time_t)-1)
		return (time_t)-1;
	lo = wall - 27 * 3600;
	o[0] = offset_at(z, lo);
	ch = find_change(z, lo, wall + 27 * 3600);
	o[1] = offset_at(z, ch);
	for (i = 0; i < 2; i++) {
		c = wall - o[i];
		if (offset_at(z, c) == o[i] && (best == (time_t)-1 || c < best))
			best = c;
	}
	/* None: midnight is in a gap, whose end starts the day. */
	return best != (time_t)-1 ? best : ch;
}

/* Years 1..9999: the walk's arithmetic (and struct tm's int year) stay in range. */
#define CRON_MIN_TIME (-62135596800LL)
#define CRON_MAX_TIME 253402300799LL

/* The walk itself, in zone z (NULL: the process's). */
static int
next_in(const struct cron_expr *c, const struct tzone *z, time_t after, time_t *next)
{
	time_t t = after - ((after % 60) + 60) % 60 + 60;
	time_t limit = after + CRON_HORIZON, to;
	struct tm tm;
	long off, noff;
	int guard = 0;

	/* A gap that ends between `after` and the first minute looked at. */
	if (is_fixed(c) && offset_at(z, t) > offset_at(z, after)) {
		to = find_change(z, after, t);
		if (gap_matches(c, to, offset_at(z, after), offset_at(z, to))) {
			*next = to;
			return AGENTD_OK;
		}
	}
	while (t <= limit && guard++ < 200000) {
		if (local_tm(z, t, &tm) == NULL)
			return AGENTD_EINVAL;
		off = tm.tm_gmtoff;
		if (!((c->mon >> (tm.tm_mon + 1)) & 1)) {
			to = local_midnight(z, tm.tm_year + 1900, tm.tm_mon + 1, 1);
		} else if (!day_matches(c, tm.tm_mday, tm.tm_wday)) {
			int y = tm.tm_year + 1900, d = tm.tm_mday, w = tm.tm_wday;
			int dim = days_in_month(y, tm.tm_mon + 1);

			do {
				d++;
				w = (w + 1) % 7;
			} while (d <= dim && !day_matches(c, d, w));
			to = local_midnight(z, y, d <= dim ? tm.tm_mon : tm.tm_mon + 1, d <= dim ? d : 1);
		} else if (!((c->hour >> tm.tm_hour) & 1)) {
			to = t - tm.tm_min * 60 - tm.tm_sec + 3600;
		} else if (!((c->min >> tm.tm_min) & 1)) {
			int m = tm.tm_min;

			while (m < 60 && !((c->min >> m) & 1))
				m++;
			to = t - tm.tm_sec + (time_t)(m - tm.tm_min) * 60;
		} else if (is_fixed(c) && is_repeat(z, t)) {
			to = t - tm.tm_min * 60 - tm.tm_sec + 3600;
		} else {
			*next = t;
			return AGENTD_OK;
		}
		if (to == (time_t)-1 || to <= t)
			to = t + 60;
		/* Stop at any change of offset on the way. */
		to = find_change(z, t, to);
		noff = offset_at(z, to);
		if (noff > off && is_fixed(c) && gap_matches(c, to, off, noff)) {
			*next = to;
			return AGENTD_OK;
		}
		t = to;
	}
	return AGENTD_ENOTFOUND;
}

int
cron_next(const struct cron_expr *c, const char *tz, time_t after, time_t *next,
    struct agentd_error *err)
{
	struct tzone *z = NULL;
	time_t res = 0;
	int rc;

	if (c == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no cron expression");
	if (c->reboot)
		return agentd_seterr(err, AGENTD_ENOTFOUND, "@reboot jobs have no next time");
	if (after < (time_t)CRON_MIN_TIME || after > (time_t)CRON_MAX_TIME)
		return agentd_seterr(err, AGENTD_EINVAL, "time %lld is out of the range cron handles",
		    (long long)after);
	if (tz != NULL && tz[0] != '\0' && (rc = tzone_get(tz, &z, err)) != AGENTD_OK)
		return rc;
	rc = next_in(c, z, after, &res);
	tzone_put(z);
	if (rc == AGENTD_OK && res > (time_t)CRON_MAX_TIME)
		rc = AGENTD_ENOTFOUND;	/* past the year 9999 */
	if (rc == AGENTD_ENOTFOUND)
		return agentd_seterr(err, rc, "the cron expression never matches a real date");
	if (rc)
		return agentd_seterr(err, rc, "time out of range");
	*next = res;
	return AGENTD_OK;
}
