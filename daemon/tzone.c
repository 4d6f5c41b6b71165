/*
 * tzone.c — IANA zones from their TZif files (RFC 8536) and POSIX TZ rules
 * (a file's footer), so that the scheduler needs no setenv("TZ"). See
 * tzone.h. Leap-second records ("right/" zones) are skipped: the system
 * clock counts no leap seconds.
 */
#include "daemon/tzone.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_MAX_FILE (256 << 10)	/* the largest zoneinfo file is a few KB */
#define TZ_MAX_TIMES 65536
#define TZ_MAX_TYPES 256
#define TZ_MAX_OFF (26L * 3600)
#define TZ_CACHE 32
#define TZ_RECHECK_S 60

struct tzdate {
	char kind;		/* 'J' 1..365 without Feb 29, 'D' 0..365, 'M' month.week.day */
	int n, m, w, d;
	long secs;		/* local time of day of the change (-167 h .. 167 h) */
};

struct tzrule {
	long std_off, dst_off;	/* seconds east of UTC */
	int has_dst;
	struct tzdate start, end;
};

struct tzone {
	int refs;
	size_t n;		/* transitions */
	int64_t *when;		/* ascending */
	long *off;		/* the offset from when[i] on */
	long off0;		/* before the first: time type 0 */
	int has_rule;		/* after the last (or always, with none) */
	struct tzrule rule;
};

/* ---------------------------------------------------------------- dates */

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t
year_of_days(int64_t z)
{
	int64_t era, doe, yoe, doy, mp, y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return y + (mp >= 10);
}

static int
days_in_month(int64_t y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The local date a rule names in year y, as days since the epoch. */
static int64_t
rule_day(int64_t y, const struct tzdate *d)
{
	int64_t first;
	int wday, mday, dim;

	switch (d->kind) {
	case 'J':
		return days_from_civil(y, 1, 1) + d->n - 1 + (is_leap(y) && d->n >= 60);
	case 'D':
		return days_from_civil(y, 1, 1) + d->n;
	default:
		first = days_from_civil(y, d->m, 1);
		wday = (int)(((first % 7) + 11) % 7);	/* 1970-01-01 was a Thursday */
		mday = 1 + (d->d - wday + 7) % 7 + 7 * (d->w - 1);
		dim = days_in_month(y, d->m);
		while (mday > dim)
			mday -= 7;
		return first + mday - 1;
	}
}

static long
rule_offset(const struct tzrule *r, int64_t t)
{
	int64_t y, yy, s, e;

	if (!r->has_dst)
		return r->std_off;
	y = year_of_days(floor_div(t + r->std_off, 86400));
	for (yy = y - 1; yy <= y + 1; yy++) {
		s = rule_day(yy, &r->start) * 86400 + r->start.secs - r->std_off;
		e = rule_day(yy, &r->end) * 86400 + r->end.secs - r->dst_off;
		if (s >= e)	/* across the new year (southern hemisphere) */
			e = rule_day(yy + 1, &r->end) * 86400 + r->end.secs - r->dst_off;
		if (t >= s && t < e)
			return r->dst_off;
	}
	return r->std_off;
}

long
tzone_offset(const struct tzone *z, time_t t)
{
	size_t lo, hi;

	if (z->n == 0)
		return z->has_rule ? rule_offset(&z->rule, t) : z->off0;
	if ((int64_t)t < z->when[0])
		return z->off0;
	if ((int64_t)t >= z->when[z->n - 1])
		return z->has_rule ? rule_offset(&z->rule, t) : z->off[z->n - 1];
	lo = 0;			/* when[lo] <= t < when[hi] */
	hi = z->n - 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (z->when[mid] <= (int64_t)t)
			lo = mid;
		else
			hi = mid;
	}
	return z->off[lo];
}

/* ---------------------------------------------------------------- POSIX TZ rules */

static const char *
parse_abbr(const char *s)
{
	const char *b;

	if (*s == '<') {
		b = ++s;
		while (*s && *s != '>') {
			if (!isalnum((unsigned char)*s) && *s != '+' && *s != '-')
				return NULL;
			s++;
		}
		return *s == '>' && s - b >= 3 ? s + 1 : NULL;
	}
	b = s;
	while (isalpha((unsigned char)*s))
		s++;
	return s - b >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to maxh; seconds into *out. */
static const char *
parse_hms(const char *s, long maxh, long *out)
{
	long sign = 1, h = 0, m = 0, sec = 0;
	int nd = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	while (isdigit((unsigned char)*s) && nd < 3) {
		h = h * 10 + (*s++ - '0');
		nd++;
	}
	if (nd == 0 || h > maxh)
		return NULL;
	if (*s == ':') {
		if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
			return NULL;
		m = (s[1] - '0') * 10 + (s[2] - '0');
		s += 3;
		if (*s == ':') {
			if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
				return NULL;
			sec = (s[1] - '0') * 10 + (s[2] - '0');
			s += 3;
		}
		if (m > 59 || sec > 59)
			return NULL;
	}
	*out = sign * (h * 3600 + m * 60 + sec);
	return s;
}

static const char *
parse_num(const char *s, int lo, int hi, int *out)
{
	int v = 0, nd = 0;

	while (isdigit((unsigned char)*s) && nd < 3) {
		v = v * 10 + (*s++ - '0');
		nd++;
	}
	if (nd == 0 || v < lo || v > hi)
		return NULL;
	*out = v;
	return s;
}

static const char *
parse_date(const char *s, struct tzdate *d)
{
	memset(d, 0, sizeof(*d));
	if (*s == 'J') {
		d->kind = 'J';
		s = parse_num(s + 1, 1, 365, &d->n);
	} else if (*s == 'M') {
		d->kind = 'M';
		if ((s = parse_num(s + 1, 1, 12, &d->m)) == NULL || *s != '.' ||
		    (s = parse_num(s + 1, 1, 5, &d->w)) == NULL || *s != '.')
			return NULL;
		s = parse_num(s + 1, 0, 6, &d->d);
	} else {
		d->kind = 'D';
		s = parse_num(s, 0, 365, &d->n);
	}
	if (s == NULL)
		return NULL;
	d->secs = 2 * 3600;
	if (*s == '/')
		s = parse_hms(s + 1, 167, &d->secs);
	return s;
}

static int
parse_rule(const char *s, struct tzrule *r)
{
	long v;

	memset(r, 0, sizeof(*r));
	if ((s = parse_abbr(s)) == NULL || (s = parse_hms(s, 24, &v)) == NULL)
		return -1;
	r->std_off = -v;	/* POSIX counts west of UTC */
	if (*s == '\0')
		return 0;
	if ((s = parse_abbr(s)) == NULL)
		return -1;
	r->has_dst = 1;
	r->dst_off = r->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if ((s = parse_hms(s, 24, &v)) == NULL)
			return -1;
		r->dst_off = -v;
	}
	if (*s == '\0') {	/* no rule given: the US one, as glibc assumes */
		r->start = (struct tzdate){ 'M', 0, 3, 2, 0, 2 * 3600 };
		r->end = (struct tzdate){ 'M', 0, 11, 1, 0, 2 * 3600 };
		return 0;
	}
	if (*s != ',' || (s = parse_date(s + 1, &r->start)) == NULL || *s != ',' ||
	    (s = parse_date(s + 1, &r->end)) == NULL || *s != '\0')
		return -1;
	if (labs(r->std_off) > TZ_MAX_OFF || labs(r->dst_off) > TZ_MAX_OFF)
		return -1;
	return 0;
}

int
tzone_from_rule(const char *rule, struct tzone **out, struct agentd_error *err)
{
	struct tzone *z;

	if (rule == NULL || strlen(rule) > 128)
		return agentd_seterr(err, AGENTD_EINVAL, "not a time zone rule");
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (parse_rule(rule, &z->rule) != 0) {
		free(z);
		return agentd_seterr(err, AGENTD_EINVAL, "'%s' is not a POSIX TZ rule", rule);
	}
	z->has_rule = 1;
	z->off0 = z->rule.std_off;
	z->refs = 1;
	*out = z;
	return AGENTD_OK;
}

/* ---------------------------------------------------------------- TZif */

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzhead {
	uint32_t isut, isstd, leap, time, type, chars;
};

static int
read_head(const unsigned char *b, size_t len, size_t at, struct tzhead *h, int *version)
{
	if (len < at + 44 || memcmp(b + at, "TZif", 4) != 0)
		return -1;
	*version = b[at + 4];
	h->isut = be32(b + at + 20);
	h->isstd = be32(b + at + 24);
	h->leap = be32(b + at + 28);
	h->time = be32(b + at + 32);
	h->type = be32(b + at + 36);
	h->chars = be32(b + at + 40);
	if (h->type == 0 || h->type > TZ_MAX_TYPES || h->time > TZ_MAX_TIMES ||
	    h->leap > TZ_MAX_TIMES || h->chars > 65536 || (h->isut && h->isut != h->type) ||
	    (h->isstd && h->isstd != h->type))
		return -1;
	return 0;
}

static size_t
block_size(const struct tzhead *h, size_t tsize)
{
	return h->time * (tsize + 1) + h->type * 6 + h->chars + h->leap * (tsize + 4) +
	    h->isstd + h->isut;
}

static void
zone_free(struct tzone *z)
{
	if (z) {
		free(z->when);
		free(z->off);
		free(z);
	}
}

/* A TZif file's bytes into a zone; -1 when they are not one. */
static int
parse_tzif(const unsigned char *b, size_t len, struct tzone **out)
{
	struct tzhead h;
	struct tzone *z;
	const unsigned char *p, *types;
	size_t at = 0, tsize = 4, i;
	long offs[TZ_MAX_TYPES];
	int version;

	if (read_head(b, len, 0, &h, &version) != 0)
		return -1;
	if (version >= '2') {	/* skip the 32-bit block: the 64-bit one follows */
		at = 44 + block_size(&h, 4);
		if (read_head(b, len, at, &h, &version) != 0)
			return -1;
		tsize = 8;
	}
	p = b + at + 44;
	if (len - (at + 44) < block_size(&h, tsize))
		return -1;
	types = p + h.time * (tsize + 1);
	for (i = 0; i < h.type; i++) {
		int32_t o = (int32_t)be32(types + 6 * i);

		if (o < -TZ_MAX_OFF || o > TZ_MAX_OFF || types[6 * i + 4] > 1 ||
		    types[6 * i + 5] >= h.chars)
			return -1;
		offs[i] = o;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return -2;
	z->refs = 1;
	z->n = h.time;
	z->off0 = offs[0];
	if (h.time > 0 && ((z->when = calloc(h.time, sizeof(*z->when))) == NULL ||
	    (z->off = calloc(h.time, sizeof(*z->off))) == NULL)) {
		zone_free(z);
		return -2;
	}
	for (i = 0; i < h.time; i++) {
		unsigned idx = p[h.time * tsize + i];

		z->when[i] = tsize == 8 ? be64(p + 8 * i) : (int64_t)(int32_t)be32(p + 4 * i);
		if (idx >= h.type || (i > 0 && z->when[i] <= z->when[i - 1])) {
			zone_free(z);
			return -1;
		}
		z->off[i] = offs[idx];
	}
	if (tsize == 8) {	/* the footer: "\n" rule "\n" */
		const char *f = (const char *)p + block_size(&h, tsize), *nl;
		size_t rest = len - (size_t)((const unsigned char *)f - b);
		char rule[129];

		if (rest < 2 || f[0] != '\n' || (nl = memchr(f + 1, '\n', rest - 1)) == NULL ||
		    (size_t)(nl - f - 1) >= sizeof(rule)) {
			zone_free(z);
			return -1;
		}
		memcpy(rule, f + 1, (size_t)(nl - f - 1));
		rule[nl - f - 1] = '\0';
		if (rule[0] != '\0') {
			if (parse_rule(rule, &z->rule) != 0) {
				zone_free(z);
				return -1;
			}
			z->has_rule = 1;
		}
	}
	*out = z;
	return 0;
}

/* ---------------------------------------------------------------- the cache */

static struct {
	char path[512];		/* the file read: $TZDIR or the default, and the name */
	struct tzone *z;	/* the cache's reference */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	time_t checked;		/* CLOCK_MONOTONIC seconds */
} cache[TZ_CACHE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* An IANA name (letters, digits, / _ - +), never a path out of the database. */
static int
check_name(const char *name, struct agentd_error *err)
{
	size_t i, n = strlen(name);

	if (n > 64)
		return agentd_seterr(err, AGENTD_EINVAL, "time zone name too long");
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!isalnum(ch) && ch != '/' && ch != '_' && ch != '-' && ch != '+')
			break;
	}
	if (n == 0 || i < n || name[0] == '/' || name[0] == '.' || strstr(name, "..") != NULL)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "time zone '%s' is not an IANA zone name (such as Europe/Berlin)", name);
	return AGENTD_OK;
}

static time_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int
same_file(const struct stat *st, int slot)
{
	return cache[slot].dev == st->st_dev && cache[slot].ino == st->st_ino &&
	    cache[slot].size == st->st_size && cache[slot].mtime.tv_sec == st->st_mtim.tv_sec &&
	    cache[slot].mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Read and parse the file (in dir); under cache_lock. */
static int
load(const char *dir, const char *path, const char *name, struct stat *st,
    struct tzone **out, struct agentd_error *err)
{
	unsigned char *buf;
	ssize_t r;
	size_t got = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return stat(dir, st) != 0 ? agentd_seterr(err, AGENTD_EUNAVAIL, "time zone "
		    "database %s is missing (install the tzdata package)", dir) :
		    agentd_seterr(err, AGENTD_EINVAL, "unknown time zone '%s'", name);
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > TZ_MAX_FILE) {
		close(fd);
		return agentd_seterr(err, AGENTD_EINVAL, "unknown time zone '%s'", name);
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		close(fd);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	while (got < (size_t)st->st_size &&
	    ((r = read(fd, buf + got, (size_t)st->st_size - got)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	close(fd);
	rc = parse_tzif(buf, got, out);
	free(buf);
	if (rc == -2)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (rc != 0)
		return agentd_seterr(err, AGENTD_EINVAL, "'%s' is not a time zone file", name);
	return AGENTD_OK;
}

int
tzone_get(const char *name, struct tzone **out, struct agentd_error *err)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	struct stat st;
	struct tzone *z = NULL;
	time_t now = mono_s();
	int i, slot = -1, oldest = 0, rc;

	if ((rc = check_name(name ? name : "", err)) != AGENTD_OK)
		return rc;
	if (dir == NULL || dir[0] != '/')
		dir = "/usr/share/zoneinfo";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	pthread_mutex_lock(&cache_lock);
	for (i = 0; i < TZ_CACHE; i++) {
		if (cache[i].z && strcmp(cache[i].path, path) == 0) {
			slot = i;
			break;
		}
		if (!cache[i].z || (cache[oldest].z && cache[i].checked < cache[oldest].checked))
			oldest = i;
	}
	if (slot >= 0 && (now - cache[slot].checked < TZ_RECHECK_S ||
	    (stat(path, &st) == 0 && same_file(&st, slot)))) {
		cache[slot].checked = now;
		z = cache[slot].z;
		__atomic_add_fetch(&z->refs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&cache_lock);
		*out = z;
		return AGENTD_OK;
	}
	if ((rc = load(dir, path, name, &st, &z, err)) != AGENTD_OK) {
		pthread_mutex_unlock(&cache_lock);
		return rc;
	}
	if (slot < 0)
		slot = oldest;
	tzone_put(cache[slot].z);
	memcpy(cache[slot].path, path, sizeof(path));
	cache[slot].z = z;
	cache[slot].dev = st.st_dev;
	cache[slot].ino = st.st_ino;
	cache[slot].size = st.st_size;
	cache[slot].mtime = st.st_mtim;
	cache[slot].checked = now;
	__atomic_add_fetch(&z->refs, 1, __ATOMIC_RELAXED);	/* the cache's and the caller's */
	pthread_mutex_unlock(&cache_lock);
	*out = z;
	return AGENTD_OK;
}

void
tzone_put(struct tzone *z)
{
	if (z && __atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) == 0)
		zone_free(z);
}
