/*
 * log.c — leveled logging to stderr; thread-safe (one write per line).
 * Messages quote paths, tasks and errors that came from outside: each is
 * escaped (common/safetext.h) so it can neither drive the terminal nor
 * forge a second record with a newline.
 */
#include "daemon/log.h"
#include "common/safetext.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Set on the main thread (SIGHUP), read by every worker: atomic. */
static atomic_int cur_level = LOG_LVL_INFO;
static atomic_int journal = -1;

static const char *const names[] = { "error", "warn", "info", "debug" };
static const int priorities[] = { 3, 4, 6, 7 };

int
log_parse_level(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	if (strcmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	return -1;
}

void
log_set_level(int level)
{
	if (level >= LOG_LVL_ERROR && level <= LOG_LVL_DEBUG)
		cur_level = level;
}

int
log_get_level(void)
{
	return cur_level;
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[4096], msg[2048];
	int n = 0, m, lvl = atomic_load_explicit(&cur_level, memory_order_relaxed);
	va_list ap;
	struct timespec ts;
	struct tm tm;

	if (level > lvl)
		return;
	if (atomic_load(&journal) < 0)
		atomic_store(&journal, getenv("JOURNAL_STREAM") != NULL);
	if (atomic_load(&journal)) {
		n = snprintf(line, sizeof(line), "<%d>%s: ", priorities[level], names[level]);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ agentd[%d] %s: ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid(), names[level]);
	}
	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(msg))
		m = (int)sizeof(msg) - 1;
	n += (int)safetext_copy(line + n, sizeof(line) - (size_t)n - 1, msg, (size_t)m,
	    SAFETEXT_ONE_LINE);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report */
	}
}
