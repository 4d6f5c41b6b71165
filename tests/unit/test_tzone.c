/*
 * test_tzone.c — daemon/tzone.c against glibc: the UTC offset of twenty
 * IANA zones (both hemispheres, half and quarter hours, negative DST,
 * two-hour DST, a skipped day) every few hours from 1950 to 2100 and at
 * each change, compared with localtime_r under TZ (the reference; this
 * test is single-threaded, so switching TZ here is safe). Then POSIX TZ
 * rules with known answers, malformed files and rules refused without a
 * crash, and the point of it all: cron_next in one thread leaves another
 * thread's environment and local time alone.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "daemon/cron.h"
#include "daemon/tzone.h"

extern char **environ;

static const char *const zones[] = {
	"Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe",
	"America/Santiago", "Africa/Casablanca", "Pacific/Chatham", "America/St_Johns",
	"Asia/Tehran", "Europe/Dublin", "Asia/Kolkata", "UTC", "Etc/GMT+5", "America/Sao_Paulo",
	"Antarctica/Troll", "Pacific/Apia", "Asia/Gaza", "Europe/London", "America/Nuuk",
	"Pacific/Kiritimati",
};

static size_t
be32(const unsigned char *p)
{
	return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

static long
glibc_off(time_t t)
{
	struct tm tm;

	return localtime_r(&t, &tm) ? tm.tm_gmtoff : -999999;
}

static int
have(const char *zone)
{
	char p[256];

	snprintf(p, sizeof p, "/usr/share/zoneinfo/%s", zone);
	return access(p, R_OK) == 0;
}

static void
test_matches_glibc(void **state)
{
	const time_t from = -631152000;		/* 1950-01-01 */
	const time_t to = 4102444800;		/* 2100-01-01 */
	const time_t step = 7 * 3600 + 13 * 60 + 7;
	size_t i, zones_seen = 0;
	long checks = 0, bad = 0;

	(void)state;
	for (i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		struct tzone *z = NULL;
		struct agentd_error err;
		time_t t, prev_t = from;
		long prev;

		if (!have(zones[i]))
			continue;
		zones_seen++;
		assert_int_equal(tzone_get(zones[i], &z, &err), AGENTD_OK);
		setenv("TZ", zones[i], 1);
		tzset();
		prev = glibc_off(from);
		for (t = from; t < to; t += step) {
			long g = glibc_off(t);

			if (g != prev) {	/* the change itself, to the second */
				time_t lo = prev_t, hi = t, k;

				while (hi - lo > 1) {
					time_t mid = lo + (hi - lo) / 2;

					if (glibc_off(mid) == prev)
						lo = mid;
					else
						hi = mid;
				}
				for (k = hi - 1; k <= hi; k++, checks++)
					if (tzone_offset(z, k) != glibc_off(k) && bad++ < 10)
						print_message("%s at %lld: ours %ld, glibc %ld\n", zones[i],
						    (long long)k, tzone_offset(z, k), glibc_off(k));
			}
			checks++;
			if (tzone_offset(z, t) != g && bad++ < 10)
				print_message("%s at %lld: ours %ld, glibc %ld\n", zones[i], (long long)t,
				    tzone_offset(z, t), g);
			prev = g;
			prev_t = t;
		}
		tzone_put(z);
	}
	unsetenv("TZ");
	tzset();
	if (zones_seen == 0) {
		print_message("skipped: no tzdata\n");
		return;
	}
	print_message("%zu zones, %ld instants compared\n", zones_seen, checks);
	assert_int_equal(bad, 0);
}

struct rule_case {
	const char *rule;
	const char *when;	/* UTC, "YYYY-MM-DD HH:MM:SS" */
	long off;
};

static time_t
utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	assert_non_null(strptime(s, "%Y-%m-%d %H:%M:%S", &tm));
	return timegm(&tm);
}

static void
test_rules(void **state)
{
	static const struct rule_case cases[] = {
		/* US: second Sunday of March 02:00 EST, first of November 02:00 EDT */
		{ "EST5EDT,M3.2.0,M11.1.0", "2026-03-08 06:59:59", -5 * 3600 },
		{ "EST5EDT,M3.2.0,M11.1.0", "2026-03-08 07:00:00", -4 * 3600 },
		{ "EST5EDT,M3.2.0,M11.1.0", "2026-11-01 05:59:59", -4 * 3600 },
		{ "EST5EDT,M3.2.0,M11.1.0", "2026-11-01 06:00:00", -5 * 3600 },
		{ "EST5EDT", "2026-07-01 00:00:00", -4 * 3600 },	/* the default rule */
		/* southern: DST across the new year */
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-15 00:00:00", 11 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04 15:59:59", 11 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04 16:00:00", 10 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03 15:59:59", 10 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03 16:00:00", 11 * 3600 },
		/* Dublin: "summer" time is standard, winter the negative DST */
		{ "IST-1GMT0,M10.5.0,M3.5.0/1", "2026-01-10 12:00:00", 0 },
		{ "IST-1GMT0,M10.5.0,M3.5.0/1", "2026-07-10 12:00:00", 3600 },
		{ "IST-1GMT0,M10.5.0,M3.5.0/1", "2026-03-29 00:59:59", 0 },
		{ "IST-1GMT0,M10.5.0,M3.5.0/1", "2026-03-29 01:00:00", 3600 },
		/* DST all year (RFC 8536 3.3.1) */
		{ "EST5EDT4,0/0,J365/25", "2026-01-01 00:00:00", -4 * 3600 },
		{ "EST5EDT4,0/0,J365/25", "2026-12-31 23:59:59", -4 * 3600 },
		{ "EST5EDT4,0/0,J365/25", "2028-12-31 12:00:00", -4 * 3600 },
		/* quoted names, minutes, Julian days, the last week */
		{ "<+0545>-5:45", "2026-06-01 00:00:00", 5 * 3600 + 45 * 60 },
		{ "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-07-01 00:00:00", -2 * 3600 },
		{ "XXX0YYY,J60/0,J300/0", "2028-02-29 12:00:00", 0 },	/* J60 is Mar 1 */
		{ "XXX0YYY,J60/0,J300/0", "2028-03-01 00:00:00", 3600 },
		{ "XXX0YYY,59/0,300/0", "2028-02-29 00:00:00", 3600 },	/* 59 is Feb 29 */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tzone *z = NULL;
		struct agentd_error err;
		long got;

		assert_int_equal(tzone_from_rule(cases[i].rule, &z, &err), AGENTD_OK);
		got = tzone_offset(z, utc(cases[i].when));
		if (got != cases[i].off)
			fail_msg("%s at %s: %ld, want %ld", cases[i].rule, cases[i].when, got,
			    cases[i].off);
		tzone_put(z);
	}
}

static void
test_bad_rules(void **state)
{
	static const char *const bad[] = {
		"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0", "<A>5", "EST25",
		"EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "EST5EDT,J0,J365",
		"EST5EDT,M3.2.0/200,M11.1.0", "EST5:60", "EST5EDT,M3.2.0,M11.1.0x", "<ABC5",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tzone *z = (struct tzone *)&z;	/* untouched on failure */
		struct agentd_error err;

		if (tzone_from_rule(bad[i], &z, &err) != AGENTD_EINVAL)
			fail_msg("rule '%s' was accepted", bad[i]);
		assert_ptr_equal(z, (struct tzone *)&z);
	}
}

/* Truncated, reordered and oversized files under a TZDIR of our own. */
static void
test_bad_files(void **state)
{
	char dir[] = "/tmp/test_tzone.XXXXXX", path[256];
	unsigned char buf[65536];
	size_t n, cut;
	FILE *f;
	int i;

	(void)state;
	if (!have("Europe/Berlin")) {
		print_message("skipped: no tzdata\n");
		return;
	}
	f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	assert_true(n > 100);
	assert_non_null(mkdtemp(dir));
	setenv("TZDIR", dir, 1);
	for (i = 0; i < 40; i++) {
		struct tzone *z = NULL;
		struct agentd_error err;
		char name[16];
		int rc;

		snprintf(name, sizeof name, "Bad%d", i);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		f = fopen(path, "wb");
		assert_non_null(f);
		if (i < 30) {	/* cut short at thirty places */
			cut = n * (size_t)i / 30;
			fwrite(buf, 1, cut, f);
		} else {	/* flipped bytes in the headers and the data */
			unsigned char c[65536];

			memcpy(c, buf, n);
			if (i < 39) {
				c[(i - 30) * 7 % 44 + (i & 1 ? 0 : 44)] ^= 0xff;
			} else {	/* two equal transitions in the 64-bit block */
				size_t v1 = 44 + be32(c + 32) * 5 + be32(c + 36) * 6 + be32(c + 40) +
				    be32(c + 28) * 8 + be32(c + 24) + be32(c + 20);

				assert_true(be32(c + v1 + 32) >= 2);
				memcpy(c + v1 + 44 + 8, c + v1 + 44, 8);
			}
			fwrite(c, 1, n, f);
		}
		fclose(f);
		rc = tzone_get(name, &z, &err);
		if (rc == AGENTD_OK) {	/* a flip that left a valid file: it answers */
			(void)tzone_offset(z, 0);
			(void)tzone_offset(z, 4102444800);
			tzone_put(z);
		} else {
			assert_int_equal(rc, AGENTD_EINVAL);
			assert_null(z);
		}
		unlink(path);
	}
	{
		struct tzone *z = NULL;
		struct agentd_error err;

		assert_int_equal(tzone_get("../etc/passwd", &z, &err), AGENTD_EINVAL);
		assert_int_equal(tzone_get("/etc/passwd", &z, &err), AGENTD_EINVAL);
		assert_int_equal(tzone_get("Nowhere/Zone", &z, &err), AGENTD_EINVAL);
		assert_null(z);
	}
	{	/* cron_next says what is wrong with a job's zone */
		struct cron_expr *c;
		struct agentd_error err;
		time_t next = 7;

		assert_int_equal(cron_parse("0 9 * * *", &c, &err), AGENTD_OK);
		assert_int_equal(cron_next(c, "Nowhere/Zone", 1767225600, &next, &err), AGENTD_EINVAL);
		assert_non_null(strstr(agentd_errmsg(&err), "unknown time zone 'Nowhere/Zone'"));
		assert_int_equal(next, 7);
		assert_int_equal(cron_next(c, "Europe/Berlin", 1767225600, &next, &err), AGENTD_EINVAL);
		setenv("TZDIR", "/nonexistent-zoneinfo", 1);
		assert_int_equal(cron_check_tz("Europe/Berlin", &err), AGENTD_EUNAVAIL);
		assert_non_null(strstr(agentd_errmsg(&err), "install the tzdata package"));
		assert_int_equal(cron_check_tz("Europe/../x", &err), AGENTD_EINVAL);
		assert_non_null(strstr(agentd_errmsg(&err), "is not an IANA zone name"));
		unsetenv("TZDIR");	/* the zone is looked for where TZDIR says */
		assert_int_equal(cron_next(c, "Europe/Berlin", 1767225600, &next, &err), AGENTD_OK);
		assert_int_equal(next, 1767254400);	/* 2026-01-01 09:00 CET */
		cron_free(c);
	}
	rmdir(dir);
}

static volatile int stop;

static void *
cron_thread(void *arg)
{
	struct cron_expr *c = arg;
	time_t t = 1767225600, next;	/* 2026-01-01 */
	struct agentd_error err;

	while (!stop) {
		if (cron_next(c, "Asia/Tokyo", t, &next, &err) == AGENTD_OK)
			t = next;
		else
			t = 1767225600;
	}
	return NULL;
}

/*
 * cron_next in a job's zone while this thread reads its environment and
 * local time: neither changes. Before the zone reader, cron_next set TZ
 * for a moment and localtime here saw Tokyo's +9 h.
 */
static void
test_other_threads_untouched(void **state)
{
	struct cron_expr *c;
	struct agentd_error err;
	pthread_t th;
	char **env;
	long seen_other = 0, i;

	(void)state;
	if (!have("Asia/Tokyo")) {
		print_message("skipped: no tzdata\n");
		return;
	}
	setenv("TZ", "UTC", 1);
	tzset();
	env = environ;
	assert_int_equal(cron_parse("*/5 * * * *", &c, &err), AGENTD_OK);
	stop = 0;
	assert_int_equal(pthread_create(&th, NULL, cron_thread, c), 0);
	for (i = 0; i < 200000; i++) {
		const char *tz = getenv("TZ");
		time_t now = 1767225600 + i;
		struct tm tm;

		seen_other += tz == NULL || strcmp(tz, "UTC") != 0 || environ != env ||
		    localtime_r(&now, &tm) == NULL || tm.tm_gmtoff != 0;
	}
	stop = 1;
	pthread_join(th, NULL);
	cron_free(c);
	unsetenv("TZ");
	tzset();
	assert_int_equal(seen_other, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_glibc),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_bad_rules),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_other_threads_untouched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
