/*
 * helpers.h — what the unit tests that build real files and repositories
 * share: run a shell command, capture its output, write a file, test that a
 * path exists. Header-only (static inline); include it after <cmocka.h>.
 */
#ifndef AGENTD_TEST_HELPERS_H
#define AGENTD_TEST_HELPERS_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Run a /bin/sh command line; the test fails unless it exits 0. */
static inline void
sh(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* A command's standard output, up to 1 MiB (malloc'd, NUL-terminated). */
static inline char *
capture(const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	FILE *p;
	char *buf;
	size_t n, cap = 1 << 20;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	buf = malloc(cap);
	assert_non_null(buf);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(buf, 1, cap - 1, p);
	pclose(p);
	buf[n] = '\0';
	return buf;
}

/* Write text to dir/rel (which must be creatable). */
static inline void
put(const char *dir, const char *rel, const char *text)
{
	char p[PATH_MAX * 2];
	FILE *f;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, rel) >= sizeof(p))
		fail_msg("path too long: %s/%s", dir, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Does dir/rel exist (a symlink counts, whatever it points to)? */
static inline int
exists(const char *dir, const char *rel)
{
	char p[PATH_MAX * 2];
	struct stat st;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, rel) >= sizeof(p))
		fail_msg("path too long: %s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

#endif
