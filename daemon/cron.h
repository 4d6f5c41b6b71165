/*
 * cron.h — cron expressions and their next fire times.
 *
 * Standard 5 fields (minute hour day-of-month month day-of-week) with lists,
 * ranges, steps, month and weekday names, and @hourly @daily @weekly
 * @monthly @yearly @annually @midnight @reboot. Day-of-month and day-of-week
 * follow Vixie cron: when both are restricted, either may match. Times are
 * evaluated in local time or a given IANA zone; the next times are right
 * across DST changes (a skipped local time fires at the first instant after
 * the gap for fixed-time jobs; a repeated hour fires once), month ends and
 * leap days.
 *
 * Thread-safety: every function may be called from any thread. A job's
 * zone is read from its TZif file (tzone.h); the process's TZ is never
 * changed, so other threads' getenv() and localtime() are left alone.
 */
#ifndef AGENTD_CRON_H
#define AGENTD_CRON_H

#include <time.h>
#include "common/error.h"

struct cron_expr;

/* Parse; AGENTD_EINVAL with a message naming the field ("minute field:
 * 61 is out of range 0-59"). */
int cron_parse(const char *text, struct cron_expr **out, struct agentd_error *err);
void cron_free(struct cron_expr *c);
/* 1 for @reboot (never fires by time). */
int cron_is_reboot(const struct cron_expr *c);
/* Check that tz names a zone this machine knows (NULL/"" = local). */
int cron_check_tz(const char *tz, struct agentd_error *err);
/* The first fire time strictly after `after`, in zone tz (NULL = local).
 * AGENTD_ENOTFOUND when none within a little over 8 years (cron_parse
 * refuses a day no listed month has, e.g. Feb 30, so a parsed one fires within
 * that horizon; only @reboot and the year 9999 answer it). */
int cron_next(const struct cron_expr *c, const char *tz, time_t after, time_t *next,
    struct agentd_error *err);

#endif
