/*
 * test_cron.c — the cron evaluator against tables of known next fire times.
 *
 * The expected times were computed independently while writing the table
 * (a minute-by-minute scan in Python's zoneinfo, cross-checked with
 * `TZ=… date -d @N`) and are hard-coded as epoch seconds with the local times
 * in comments. Zone cases need the tzdata package; without it they are
 * skipped with a message.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/cron.h"
#include "common/spawn.h"

struct next_case {
	const char *expr;
	const char *tz;
	time_t after;
	time_t next;
};

static const struct next_case next_cases[] = {
	{ "30 2 * * *", "America/New_York", 1772902800, 1772953200 },	/* 2026-03-07 12:00 EST -> 2026-03-08 03:00 EDT */
	{ "30 2 * * *", "America/New_York", 1772953200, 1773037800 },	/* 2026-03-08 03:00 EDT -> 2026-03-09 02:30 EDT */
	{ "0,30 2 * * *", "America/New_York", 1772949600, 1772953200 },	/* 2026-03-08 01:00 EST -> 2026-03-08 03:00 EDT */
	{ "0 2 * * *", "America/New_York", 1772953140, 1772953200 },	/* 2026-03-08 01:59 EST -> 2026-03-08 03:00 EDT */
	{ "*/15 * * * *", "America/New_York", 1772952600, 1772953200 },	/* 2026-03-08 01:50 EST -> 2026-03-08 03:00 EDT */
	{ "30 * * * *", "America/New_York", 1772952000, 1772955000 },	/* 2026-03-08 01:40 EST -> 2026-03-08 03:30 EDT */
	{ "0 * * * *", "America/New_York", 1772951400, 1772953200 },	/* 2026-03-08 01:30 EST -> 2026-03-08 03:00 EDT */
	{ "30 1 * * *", "America/New_York", 1793462400, 1793511000 },	/* 2026-10-31 12:00 EDT -> 2026-11-01 01:30 EDT */
	{ "30 1 * * *", "America/New_York", 1793511000, 1793601000 },	/* 2026-11-01 01:30 EDT -> 2026-11-02 01:30 EST */
	{ "0 2 * * *", "America/New_York", 1793505600, 1793516400 },	/* 2026-11-01 00:00 EDT -> 2026-11-01 02:00 EST */
	{ "*/15 * * * *", "America/New_York", 1793512200, 1793512800 },	/* 2026-11-01 01:50 EDT -> 2026-11-01 01:00 EST */
	{ "0 * * * *", "America/New_York", 1793507400, 1793509200 },	/* 2026-11-01 00:30 EDT -> 2026-11-01 01:00 EDT */
	{ "30 2 * * *", "Europe/Berlin", 1774695600, 1774746000 },	/* 2026-03-28 12:00 CET -> 2026-03-29 03:00 CEST */
	{ "*/30 * * * *", "Europe/Berlin", 1774745100, 1774746000 },	/* 2026-03-29 01:45 CET -> 2026-03-29 03:00 CEST */
	{ "30 2 * * *", "Europe/Berlin", 1792836000, 1792888200 },	/* 2026-10-24 12:00 CEST -> 2026-10-25 02:30 CEST */
	{ "30 2 * * *", "Europe/Berlin", 1792888200, 1792978200 },	/* 2026-10-25 02:30 CEST -> 2026-10-26 02:30 CET */
	{ "*/30 * * * *", "Europe/Berlin", 1792889100, 1792890000 },	/* 2026-10-25 02:45 CEST -> 2026-10-25 02:00 CET */
	{ "0 3 * * SUN", "Europe/Berlin", 1792447200, 1792893600 },	/* 2026-10-20 00:00 CEST -> 2026-10-25 03:00 CET */
	{ "30 2 * * *", "Australia/Sydney", 1790992800, 1791043200 },	/* 2026-10-03 12:00 AEST -> 2026-10-04 03:00 AEDT */
	{ "30 2 * * *", "Australia/Sydney", 1775264400, 1775316600 },	/* 2026-04-04 12:00 AEDT -> 2026-04-05 02:30 AEDT */
	{ "30 2 * * *", "Australia/Sydney", 1775316600, 1775406600 },	/* 2026-04-05 02:30 AEDT -> 2026-04-06 02:30 AEST */
	{ "*/20 * * * *", "Australia/Sydney", 1775317800, 1775318400 },	/* 2026-04-05 02:50 AEDT -> 2026-04-05 02:00 AEST */
	{ "*/20 * * * *", "Australia/Sydney", 1791042600, 1791043200 },	/* 2026-10-04 01:50 AEST -> 2026-10-04 03:00 AEDT */
	{ "0 0 31 * *", "UTC", 1775001600, 1780185600 },	/* 2026-04-01 00:00 UTC -> 2026-05-31 00:00 UTC */
	{ "0 0 31 * *", "UTC", 1780185600, 1785456000 },	/* 2026-05-31 00:00 UTC -> 2026-07-31 00:00 UTC */
	{ "*/15 * * * *", "UTC", 1795954050, 1795954500 },	/* 2026-11-29 12:07 UTC -> 2026-11-29 12:15 UTC */
	{ "*/15 * * * *", "UTC", 1795954500, 1795955400 },	/* 2026-11-29 12:15 UTC -> 2026-11-29 12:30 UTC */
	{ "*/15 * * * *", "UTC", 1795996200, 1795996800 },	/* 2026-11-29 23:50 UTC -> 2026-11-30 00:00 UTC */
	{ "*/1 * * * *", "UTC", 1795953659, 1795953660 },	/* 2026-11-29 12:00 UTC -> 2026-11-29 12:01 UTC */
	{ "0 9 * * MON-FRI", "UTC", 1795773600, 1796029200 },	/* 2026-11-27 10:00 UTC -> 2026-11-30 09:00 UTC */
	{ "0 9 * * sat,SUN", "UTC", 1795600800, 1795856400 },	/* 2026-11-25 10:00 UTC -> 2026-11-28 09:00 UTC */
	{ "0 0 * * FRI-SUN", "UTC", 1795910400, 1796342400 },	/* 2026-11-29 00:00 UTC -> 2026-12-04 00:00 UTC */
	{ "0 0 * * 7", "UTC", 1795478400, 1795910400 },	/* 2026-11-24 00:00 UTC -> 2026-11-29 00:00 UTC */
	{ "0 0 * * 5-7", "UTC", 1795910400, 1796342400 },	/* 2026-11-29 00:00 UTC -> 2026-12-04 00:00 UTC */
	{ "0 0 1 JAN,jul *", "UTC", 1795910400, 1798761600 },	/* 2026-11-29 00:00 UTC -> 2027-01-01 00:00 UTC */
	{ "0 12 * FEB-MAR MON", "UTC", 1795910400, 1801483200 },	/* 2026-11-29 00:00 UTC -> 2027-02-01 12:00 UTC */
	{ "0 0 1 * MON", "UTC", 1795910400, 1795996800 },	/* 2026-11-29 00:00 UTC -> 2026-11-30 00:00 UTC */
	{ "0 0 1 * MON", "UTC", 1795996800, 1796083200 },	/* 2026-11-30 00:00 UTC -> 2026-12-01 00:00 UTC */
	{ "0 0 13 * FRI", "UTC", 1796083200, 1796342400 },	/* 2026-12-01 00:00 UTC -> 2026-12-04 00:00 UTC */
	{ "0 0 */2 * MON", "UTC", 1795910400, 1796601600 },	/* 2026-11-29 00:00 UTC -> 2026-12-07 00:00 UTC */
	{ "0 0 1-7 * *", "UTC", 1795910400, 1796083200 },	/* 2026-11-29 00:00 UTC -> 2026-12-01 00:00 UTC */
	{ "10-40/15 * * * *", "UTC", 1795953600, 1795954200 },	/* 2026-11-29 12:00 UTC -> 2026-11-29 12:10 UTC */
	{ "10-40/15 * * * *", "UTC", 1795956000, 1795957800 },	/* 2026-11-29 12:40 UTC -> 2026-11-29 13:10 UTC */
	{ "5/20 * * * *", "UTC", 1795956360, 1795957500 },	/* 2026-11-29 12:46 UTC -> 2026-11-29 13:05 UTC */
	{ "0 9-17/4 * * *", "UTC", 1795959000, 1795971600 },	/* 2026-11-29 13:30 UTC -> 2026-11-29 17:00 UTC */
	{ "0 0 * * 1/2", "UTC", 1795910400, 1795996800 },	/* 2026-11-29 00:00 UTC -> 2026-11-30 00:00 UTC */
	{ "@hourly", "UTC", 1795953600, 1795957200 },	/* 2026-11-29 12:00 UTC -> 2026-11-29 13:00 UTC */
	{ "@daily", "UTC", 1795953600, 1795996800 },	/* 2026-11-29 12:00 UTC -> 2026-11-30 00:00 UTC */
	{ "@midnight", "UTC", 1795910400, 1795996800 },	/* 2026-11-29 00:00 UTC -> 2026-11-30 00:00 UTC */
	{ "@weekly", "UTC", 1795910400, 1796515200 },	/* 2026-11-29 00:00 UTC -> 2026-12-06 00:00 UTC */
	{ "@monthly", "UTC", 1795953600, 1796083200 },	/* 2026-11-29 12:00 UTC -> 2026-12-01 00:00 UTC */
	{ "@yearly", "UTC", 1795953600, 1798761600 },	/* 2026-11-29 12:00 UTC -> 2027-01-01 00:00 UTC */
	{ "@ANNUALLY", "UTC", 1795953600, 1798761600 },	/* 2026-11-29 12:00 UTC -> 2027-01-01 00:00 UTC */
	{ "@daily", "America/New_York", 1795971600, 1796014800 },	/* 2026-11-29 12:00 EST -> 2026-11-30 00:00 EST */
	/* Feb 29: the next leap year; across 2100 (not a leap year) to 2104 */
	{ "0 0 29 2 *", "UTC", 1795910400, 1835395200 },	/* 2026-11-29 -> 2028-02-29 00:00 UTC */
	{ "0 0 29 2 *", "Europe/Berlin", 1795910400, 1835391600 },	/* -> 2028-02-29 00:00 CET */
	{ "0 0 29 2 *", "UTC", 3981398400, 4233686400 },	/* 2096-03-01 -> 2104-02-29 00:00 UTC */
};

static int
have_tzdata(void)
{
	struct agentd_error err;

	return cron_check_tz("America/New_York", &err) == AGENTD_OK &&
	    cron_check_tz("Europe/Berlin", &err) == AGENTD_OK &&
	    cron_check_tz("Australia/Sydney", &err) == AGENTD_OK;
}

static void
test_next_table(void **state)
{
	size_t i, skipped = 0;
	int tzdata = have_tzdata();

	(void)state;
	for (i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
		const struct next_case *k = &next_cases[i];
		struct cron_expr *c = NULL;
		struct agentd_error err = { 0 };
		time_t got = 0;
		int rc;

		if (!tzdata && strcmp(k->tz, "UTC") != 0) {
			skipped++;
			continue;
		}
		rc = cron_parse(k->expr, &c, &err);
		if (rc != AGENTD_OK)
			fail_msg("parse '%s': %s", k->expr, err.msg);
		rc = cron_next(c, k->tz, k->after, &got, &err);
		if (rc != AGENTD_OK)
			fail_msg("next '%s' in %s after %lld: %s", k->expr, k->tz,
			    (long long)k->after, err.msg);
		if (got != k->next)
			fail_msg("'%s' in %s after %lld: got %lld, want %lld", k->expr, k->tz,
			    (long long)k->after, (long long)got, (long long)k->next);
		cron_free(c);
	}
	if (skipped)
		fprintf(stderr, "test_cron: tzdata missing (install the tzdata package): "
		    "skipped %zu zone cases\n", skipped);
}

/* Walking the whole fall-back night in New York: a fixed time fires once,
 * a wildcard job fires in both passes of the repeated hour. */
static void
test_fall_back_counts(void **state)
{
	struct cron_expr *fixed = NULL, *wild = NULL;
	time_t t, start = 1793505600, end = 1793505600 + 5 * 3600;	/* 00:00 EDT + 5 h */
	int nfixed = 0, nwild = 0;

	(void)state;
	if (!have_tzdata())
		skip();
	assert_int_equal(cron_parse("30 1 * * *", &fixed, NULL), AGENTD_OK);
	assert_int_equal(cron_parse("*/15 * * * *", &wild, NULL), AGENTD_OK);
	for (t = start; cron_next(fixed, "America/New_York", t, &t, NULL) == 0 && t < end;)
		nfixed++;
	for (t = start; cron_next(wild, "America/New_York", t, &t, NULL) == 0 && t < end;)
		nwild++;
	assert_int_equal(nfixed, 1);
	assert_int_equal(nwild, 19);	/* quarter hours in (start, start + 5 real hours) */
	cron_free(fixed);
	cron_free(wild);
}

/* The spring-forward night: the fixed job fires once, the quarter-hour job
 * follows real time (4 real hours from 00:00 EST). */
static void
test_spring_forward_counts(void **state)
{
	struct cron_expr *fixed = NULL, *wild = NULL;
	time_t t, start = 1772946000, end = 1772946000 + 4 * 3600;	/* 2026-03-08 00:00 EST */
	int nfixed = 0, nwild = 0;

	(void)state;
	if (!have_tzdata())
		skip();
	assert_int_equal(cron_parse("0,15,30,45 2 * * *", &fixed, NULL), AGENTD_OK);
	assert_int_equal(cron_parse("*/15 * * * *", &wild, NULL), AGENTD_OK);
	for (t = start; cron_next(fixed, "America/New_York", t, &t, NULL) == 0 && t < end;)
		nfixed++;
	for (t = start; cron_next(wild, "America/New_York", t, &t, NULL) == 0 && t < end;)
		nwild++;
	assert_int_equal(nfixed, 1);
	assert_int_equal(nwild, 15);	/* quarter hours in (start, start + 4 real hours) */
	cron_free(fixed);
	cron_free(wild);
}

static void
test_never(void **state)
{
	static const char *const never[] = { "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 feb *" };
	struct cron_expr *c = NULL, *sentinel = (struct cron_expr *)&c;
	struct agentd_error err = { 0 };
	time_t t = 12345;
	size_t i;

	(void)state;
	/* A day that no listed month has is refused when parsed, not found never to fire. */
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		c = sentinel;
		assert_int_equal(cron_parse(never[i], &c, &err), AGENTD_EINVAL);
		assert_ptr_equal(c, sentinel);	/* untouched on failure */
		assert_non_null(strstr(err.msg, "day-of-month"));
		assert_non_null(strstr(err.msg, "never fire"));
	}
	/* With a weekday too, either may match (Vixie): Mondays in February fire. */
	assert_int_equal(cron_parse("0 0 30 2 1", &c, &err), AGENTD_OK);
	assert_int_equal(cron_next(c, "UTC", 1795910400, &t, &err), AGENTD_OK);
	cron_free(c);
	/* Feb 29 fires (within 8 years), so it is accepted. */
	assert_int_equal(cron_parse("0 0 29 2 *", &c, &err), AGENTD_OK);
	cron_free(c);
}

static void
test_reboot(void **state)
{
	struct cron_expr *c = NULL;
	time_t t = 0;

	(void)state;
	assert_int_equal(cron_parse("@reboot", &c, NULL), AGENTD_OK);
	assert_true(cron_is_reboot(c));
	assert_int_not_equal(cron_next(c, NULL, 0, &t, NULL), AGENTD_OK);
	cron_free(c);
	assert_int_equal(cron_parse("@daily", &c, NULL), AGENTD_OK);
	assert_false(cron_is_reboot(c));
	cron_free(c);
	cron_free(NULL);
}

/* NULL zone = the process's local time (TZ), and TZ is restored after. */
static void
test_local_zone(void **state)
{
	struct cron_expr *c = NULL;
	time_t a = 0, b = 0;

	(void)state;
	if (!have_tzdata())
		skip();
	setenv("TZ", "Australia/Sydney", 1);
	tzset();
	assert_int_equal(cron_parse("30 2 * * *", &c, NULL), AGENTD_OK);
	assert_int_equal(cron_next(c, NULL, 1790992800, &a, NULL), AGENTD_OK);
	assert_int_equal(a, 1791043200);	/* 2026-10-04 03:00 AEDT */
	assert_int_equal(cron_next(c, "Europe/Berlin", 1790992800, &b, NULL), AGENTD_OK);
	assert_string_equal(getenv("TZ"), "Australia/Sydney");
	assert_int_equal(cron_next(c, "", 1790992800, &b, NULL), AGENTD_OK);
	assert_int_equal(b, a);
	unsetenv("TZ");
	tzset();
	cron_free(c);
}

static void
test_check_tz(void **state)
{
	static const char *const bad[] = { "Mars/Olympus", "../etc/passwd", "/etc/localtime",
		"Europe/../../etc/passwd", "Europe/Berlin;rm", "zone.tab", "Europe", NULL };
	struct agentd_error err = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(cron_check_tz(NULL, &err), AGENTD_OK);
	assert_int_equal(cron_check_tz("", &err), AGENTD_OK);
	if (!have_tzdata())
		skip();
	assert_int_equal(cron_check_tz("Europe/Berlin", &err), AGENTD_OK);
	assert_int_equal(cron_check_tz("UTC", &err), AGENTD_OK);
	for (i = 0; bad[i] != NULL; i++) {
		if (cron_check_tz(bad[i], &err) == AGENTD_OK)
			fail_msg("time zone '%s' accepted", bad[i]);
	}
}

struct bad_case {
	const char *expr;
	const char *fragment;
};

static const struct bad_case bad_cases[] = {
	{ "61 * * * *", "minute field: 61 is out of range 0-59" },
	{ "* 24 * * *", "hour field: 24 is out of range 0-23" },
	{ "* * 0 * *", "day-of-month field: 0 is out of range 1-31" },
	{ "* * 32 * *", "day-of-month field: 32 is out of range 1-31" },
	{ "* * * 13 *", "month field: 13 is out of range 1-12" },
	{ "* * * FOO *", "month field: unknown name 'FOO'" },
	{ "* * * * FUNDAY", "day-of-week field: unknown name 'FUNDAY'" },
	{ "* * * * 8", "day-of-week field: 8 is out of range 0-7" },
	{ "* * * * * *", "expected 5 fields" },
	{ "* * * * * *", "got 6" },
	{ "* * * *", "got 4" },
	{ "", "empty" },
	{ "   ", "empty" },
	{ "*/0 * * * *", "minute field: step 0" },
	{ "* 1-5/0 * * *", "hour field: step 0" },
	{ "30-10 * * * *", "minute field: range 30-10 is reversed" },
	{ "* * * * FRI-MON", "day-of-week field: range FRI-MON is reversed" },
	{ "1,,2 * * * *", "minute field: empty list item" },
	{ "a * * * *", "minute field: 'a' is not a number" },
	{ "* * * JANUARY *", "month field: unknown name" },
	{ "* * * * MON-", "day-of-week field: missing value" },
	{ "-5 * * * *", "minute field: missing value" },
	{ "5/ * * * *", "minute field: missing step" },
	{ "*/x * * * *", "minute field: step 'x' is not a number" },
	{ "*/61 * * * *", "minute field: step 61" },
	{ "1.5 * * * *", "minute field: '1.5' is not a number" },
	{ "@fortnightly", "unknown shorthand '@fortnightly'" },
	{ "@daily 5", "takes no other fields" },
	{ "99999999999999999999 * * * *", "minute field:" },
};

static void
test_bad_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct cron_expr *c = (struct cron_expr *)0x1;
		struct agentd_error err = { 0 };
		int rc = cron_parse(bad_cases[i].expr, &c, &err);

		if (rc != AGENTD_EINVAL)
			fail_msg("'%s' accepted (rc %d)", bad_cases[i].expr, rc);
		if (c != (struct cron_expr *)0x1)
			fail_msg("'%s': output touched on failure", bad_cases[i].expr);
		if (strstr(err.msg, bad_cases[i].fragment) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", bad_cases[i].expr, err.msg,
			    bad_cases[i].fragment);
	}
}

static void
test_good_forms(void **state)
{
	static const char *const good[] = { "* * * * *", "0 0 1 1 0", "59 23 31 12 7",
		"0-59 0-23 1-31 1-12 0-7", "*/5 */2 */3 */4 */2", "1,2,3-5,10-20/5 * * * *",
		"0 9 * * mon-fri", "0 9 * jan-DEC Sun", "@reboot", "@HOURLY", "  0  0  *  *  *  ",
		"0\t0\t*\t*\t*", NULL };
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++) {
		struct cron_expr *c = NULL;
		struct agentd_error err = { 0 };

		if (cron_parse(good[i], &c, &err) != AGENTD_OK)
			fail_msg("'%s' refused: %s", good[i], err.msg);
		cron_free(c);
	}
}

static volatile int tz_stop;

static void *
tz_thread(void *arg)
{
	struct agentd_error err = { 0 };
	time_t next;

	while (!tz_stop)
		(void)cron_next(arg, "Asia/Tokyo", 1772902800, &next, &err);
	return NULL;
}

/* A job's zone stays the scheduler's: the environment copied meanwhile
 * for a child (a hook, an MCP server, a sandboxed command) is agentd's,
 * never the job's zone (cron_next set TZ for a moment until it read zone
 * files itself; test_tzone checks more of the same). */
static void
test_tz_stays_private(void **state)
{
	struct cron_expr *c = NULL;
	struct agentd_error err = { 0 };
	pthread_t t;
	int i, seen = 0;

	(void)state;
	if (access("/usr/share/zoneinfo/Asia/Tokyo", R_OK) != 0) {
		print_message("skipped: no tzdata\n");
		skip();
	}
	unsetenv("TZ");
	assert_int_equal(cron_parse("30 2 * * *", &c, &err), AGENTD_OK);
	tz_stop = 0;
	assert_int_equal(pthread_create(&t, NULL, tz_thread, c), 0);
	for (i = 0; i < 20000; i++) {
		char **env = aspawn_env(NULL, 0);
		const char *tz;

		assert_non_null(env);
		tz = aspawn_getenv(env, "TZ");
		seen += tz != NULL && strcmp(tz, "Asia/Tokyo") == 0;
		aspawn_env_free(env);
	}
	tz_stop = 1;
	pthread_join(t, NULL);
	cron_free(c);
	assert_int_equal(seen, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_table),
		cmocka_unit_test(test_fall_back_counts),
		cmocka_unit_test(test_spring_forward_counts),
		cmocka_unit_test(test_never),
		cmocka_unit_test(test_reboot),
		cmocka_unit_test(test_local_zone),
		cmocka_unit_test(test_check_tz),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_good_forms),
		cmocka_unit_test(test_tz_stays_private),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
