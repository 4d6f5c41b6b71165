/*
 * tzone.h — IANA time zones read from their TZif files (RFC 8536): the UTC
 * offset of a zone at any instant, without touching the process's TZ.
 *
 * The scheduler evaluates each job in its own zone while other threads run
 * (libcurl reads the environment, libgit2 asks localtime for a commit's
 * offset): switching TZ with setenv for a moment raced with both. A zone
 * is read once and kept (looked at again at most once a minute, and read
 * again when its file changed, so a tzdata upgrade is picked up); the
 * times after its last transition come from the file's footer rule (a
 * POSIX TZ string), as in glibc.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef AGENTD_TZONE_H
#define AGENTD_TZONE_H

#include <time.h>
#include "common/error.h"

struct tzone;

/*
 * The zone `name` (an IANA name, e.g. "Europe/Berlin": letters, digits and
 * / _ - +, never a path out of the database) from $TZDIR or
 * /usr/share/zoneinfo. On success *out holds a reference the caller gives
 * back with tzone_put; on failure it is untouched: AGENTD_EINVAL for a
 * bad or unknown name or a file that is not a valid TZif file (the message
 * says which), AGENTD_EUNAVAIL when the database is missing, AGENTD_ENOMEM.
 */
int tzone_get(const char *name, struct tzone **out, struct agentd_error *err);
/* Give back a reference from tzone_get; NULL is fine. */
void tzone_put(struct tzone *z);
/* Seconds east of UTC at instant t (borrowed zone). */
long tzone_offset(const struct tzone *z, time_t t);
/* Parse a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3" (the footer
 * of a TZif file) into a zone of its own; for tests and TZif footers. */
int tzone_from_rule(const char *rule, struct tzone **out, struct agentd_error *err);

#endif
