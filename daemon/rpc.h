/*
 * rpc.h — the wire protocol shared by agentd and agentctl: JSON-RPC 2.0,
 * one JSON object per line (docs/protocol.md).
 *
 * A framer splits a byte stream into lines with a cap on line length; the
 * dispatcher validates a request line (JSON, object, "jsonrpc":"2.0",
 * method, params) against a method table and answers with the standard
 * error codes. Knows no sockets: callers feed bytes and write lines.
 */
#ifndef AGENTD_RPC_H
#define AGENTD_RPC_H

#include <stddef.h>
#include <jansson.h>
#include "common/buf.h"

/* Standard JSON-RPC 2.0 codes. */
#define RPC_PARSE_ERROR		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_METHOD_NOT_FOUND	-32601
#define RPC_INVALID_PARAMS	-32602
#define RPC_INTERNAL_ERROR	-32603
/* agentd's own (server error range). */
#define RPC_NOT_FOUND		-32001	/* no such run, session, job, tool */
#define RPC_NOT_IMPLEMENTED	-32002	/* capability not built */
#define RPC_BUSY		-32003	/* in use / conflicting state */
#define RPC_DENIED		-32004	/* refused by policy */
#define RPC_UNAVAILABLE		-32005	/* database or facility unavailable */

#define RPC_DEFAULT_MAX_LINE (1024 * 1024)
#define RPC_MAX_LINE_LIMIT (64u * 1024 * 1024)	/* highest max_line_bytes accepted */
/* Largest reply line: a bigger result is answered with -32603 instead (the
 * server drops a client whose queued output passes twice this). */
#define RPC_MAX_REPLY (32u * 1024 * 1024)

struct rpc_framer {
	struct abuf buf;
	size_t max_line;
	int overflow;	/* a line went over the cap */
};

void rpc_framer_init(struct rpc_framer *f, size_t max_line);
/*
 * Feed bytes; calls fn(ud, line, len) for every complete line (the '\n' and
 * a trailing '\r' removed; line is NUL-terminated and writable). Empty lines
 * are skipped. fn returning non-zero stops and is returned. Returns
 * AGENTD_ETOOBIG when a line exceeds the cap (the caller answers and closes).
 */
int rpc_framer_feed(struct rpc_framer *f, const char *p, size_t n,
    int (*fn)(void *ud, char *line, size_t len), void *ud);
void rpc_framer_free(struct rpc_framer *f);
/* Free the framer's buffer (a partial line in it is discarded); it is
 * allocated again, small, by the next feed. */
void rpc_framer_shrink(struct rpc_framer *f);

/* Lines to send (malloc'd, '\n'-terminated). They steal the result, params and data
 * passed; the id is borrowed. */
char *rpc_result_line(json_t *id, json_t *result);
char *rpc_error_line(json_t *id, int code, const char *message, json_t *data);
char *rpc_notify_line(const char *method, json_t *params);
char *rpc_request_line(json_int_t id, const char *method, json_t *params);

/* Parameter spec for a method. */
enum rpc_type { RPC_T_ANY, RPC_T_STR, RPC_T_INT, RPC_T_BOOL, RPC_T_OBJ, RPC_T_ARR, RPC_T_NUM, RPC_T_STR_OR_BOOL };
struct rpc_param {
	const char *name;
	enum rpc_type type;
	int required;
	/* RPC_T_INT, RPC_T_NUM: the value must be within [min, max] when
	 * min < max (both 0: any value of the type). */
	double min, max;
};

/* Common ranges, for the tables. */
#define RPC_ID 1, 9007199254740991.0		/* ids: positive, exact in a double */
#define RPC_LIMIT 1, 10000			/* a listing's limit */
#define RPC_OFFSET 0, 9007199254740991.0	/* after, after_seq */

/* What a handler answers. */
enum rpc_status { RPC_DONE = 0, RPC_FAILED = 1, RPC_DEFERRED = 2 };

struct rpc_call {
	json_t *id;		/* borrowed; NULL for a notification */
	const char *method;	/* borrowed */
	json_t *params;		/* borrowed; always an object ({} when absent) */
	void *conn;		/* the caller's connection (opaque to rpc) */
	/* Set by the handler: */
	json_t *result;		/* RPC_DONE: new reference */
	int err_code;		/* RPC_FAILED */
	char err_msg[512];
};

struct rpc_method {
	const char *name;
	const struct rpc_param *params;	/* terminated by {NULL}; may be NULL */
	enum rpc_status (*handler)(void *ctx, struct rpc_call *call);
	const char *summary;
};

/* The JSON-RPC error code for a module's agentd_err (a value over a cap in
 * the params, AGENTD_ETOOBIG, is invalid params like AGENTD_EINVAL). */
int rpc_code_for_err(int agentd_err);

/* Fail a call with a code and message; returns RPC_FAILED. */
enum rpc_status rpc_fail(struct rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Check params against a spec: 0, or RPC_INVALID_PARAMS with msg. */
int rpc_check_params(const json_t *params, const struct rpc_param *spec, char *msg, size_t len);

/*
 * Handle one request line against a method table. Returns the response line
 * to send (malloc'd), or NULL when nothing is to be sent now (a notification,
 * or a handler that answered RPC_DEFERRED and will answer later with
 * rpc_result_line/rpc_error_line using *deferred_id — a new reference the
 * caller must json_decref when done; NULL when not deferred).
 */
char *rpc_handle_line(const struct rpc_method *table, void *ctx, void *conn,
    const char *line, size_t len, json_t **deferred_id);

/*
 * The socket path agentd and agentctl use when none is given: $AGENTD_SOCKET,
 * else $XDG_RUNTIME_DIR/agentd.sock, else /run/agentd.sock for root and
 * /tmp/agentd-UID/agentd.sock for others. Written into buf.
 */
void rpc_default_socket(char *buf, size_t len);

/* Find a method by name (NULL when unknown). */
const struct rpc_method *rpc_find(const struct rpc_method *table, const char *name);

#endif
