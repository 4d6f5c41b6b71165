/* error.c — messages for the shared error enum. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const messages[AGENTD_ERR_MAX_] = {
	[AGENTD_OK] = "success",
	[AGENTD_ENOMEM] = "out of memory",
	[AGENTD_EINVAL] = "invalid argument",
	[AGENTD_EIO] = "input/output error",
	[AGENTD_ENOTFOUND] = "not found",
	[AGENTD_EDENIED] = "permission denied",
	[AGENTD_ETIMEOUT] = "timed out",
	[AGENTD_ECANCELLED] = "cancelled",
	[AGENTD_ENOTIMPL] = "not implemented",
	[AGENTD_EPROTO] = "protocol error",
	[AGENTD_ELLM] = "model server error",
	[AGENTD_EDB] = "database error",
	[AGENTD_ETOOBIG] = "too large",
	[AGENTD_EEXIST] = "already exists",
	[AGENTD_EBUSY] = "busy",
	[AGENTD_EUNAVAIL] = "unavailable",
	[AGENTD_ELIMIT] = "limit reached",
	[AGENTD_EGIT] = "git error",
	[AGENTD_ECORRUPT] = "corrupt or incompatible data",
	[AGENTD_ENOSPC] = "no space left on device",
	[AGENTD_ECONTEXT] = "the prompt does not fit the model's context window",
};

const char *
agentd_strerror(int code)
{
	if (code < 0 || code >= AGENTD_ERR_MAX_ || messages[code] == NULL)
		return "unknown error";
	return messages[code];
}

int
agentd_seterr(struct agentd_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	if (fmt == NULL) {
		snprintf(err->msg, sizeof(err->msg), "%s", agentd_strerror(code));
		return code;
	}
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
agentd_error_clear(struct agentd_error *err)
{
	if (err == NULL)
		return;
	err->code = AGENTD_OK;
	err->msg[0] = '\0';
}

const char *
agentd_errmsg(const struct agentd_error *err)
{
	if (err == NULL)
		return "unknown error";
	if (err->msg[0] != '\0')
		return err->msg;
	return agentd_strerror(err->code);
}
