/*
 * error.h — agentd's one error enum, shared by every module.
 *
 * Functions return an `enum agentd_err` (0 = AGENTD_OK). When a caller wants
 * the detail, it passes a `struct agentd_error *` (may be NULL) that the
 * callee fills with the code and a human-readable message. Output parameters
 * are left untouched on failure. Modules never log; the daemon does.
 * Numbers are never reused.
 */
#ifndef AGENTD_COMMON_ERROR_H
#define AGENTD_COMMON_ERROR_H

#include <stddef.h>

enum agentd_err {
	AGENTD_OK = 0,
	AGENTD_ENOMEM = 1,	/* out of memory */
	AGENTD_EINVAL = 2,	/* invalid argument or input */
	AGENTD_EIO = 3,		/* system call or I/O failed */
	AGENTD_ENOTFOUND = 4,	/* no such object */
	AGENTD_EDENIED = 5,	/* refused by policy or confinement */
	AGENTD_ETIMEOUT = 6,	/* took too long */
	AGENTD_ECANCELLED = 7,	/* cancelled by a user */
	AGENTD_ENOTIMPL = 8,	/* not implemented */
	AGENTD_EPROTO = 9,	/* peer broke the protocol */
	AGENTD_ELLM = 10,	/* model server error */
	AGENTD_EDB = 11,	/* database error */
	AGENTD_ETOOBIG = 12,	/* over a size cap */
	AGENTD_EEXIST = 13,	/* already exists */
	AGENTD_EBUSY = 14,	/* in use */
	AGENTD_EUNAVAIL = 15,	/* a needed facility is unavailable */
	AGENTD_ELIMIT = 16,	/* a run limit was reached */
	AGENTD_EGIT = 17,	/* git operation failed */
	AGENTD_ECORRUPT = 18,	/* stored data is corrupt or from a newer version */
	AGENTD_ENOSPC = 19,	/* disk full */
	AGENTD_ECONTEXT = 20,	/* a prompt over the model's context window */
	AGENTD_ERR_MAX_
};

struct agentd_error {
	int code;
	char msg[1024];
};

/* Static text for a code; never NULL. */
const char *agentd_strerror(int code);

/*
 * Record `code` and a printf-style message in `err` (if not NULL) and return
 * `code`, so that `return agentd_seterr(err, AGENTD_EINVAL, "bad %s", x);`
 * works. A NULL fmt uses agentd_strerror(code).
 */
int agentd_seterr(struct agentd_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clear err (code AGENTD_OK, empty message). NULL is fine. */
void agentd_error_clear(struct agentd_error *err);

/* err->msg if set, else agentd_strerror(err->code). */
const char *agentd_errmsg(const struct agentd_error *err);

#endif
