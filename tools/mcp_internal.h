/*
 * mcp_internal.h — what the MCP client's files share inside tools/: the
 * Streamable HTTP transport (mcp_http.c) that mcp.c drives next to stdio.
 * Not for other modules: they use tools/mcp.h.
 */
#ifndef AGENTD_MCP_INTERNAL_H
#define AGENTD_MCP_INTERNAL_H

#include <jansson.h>
#include "common/error.h"

#define MCP_HTTP_STREAM_MAX (16u << 20)	/* SSE bytes read for one request, reconnects included */
#define MCP_HTTP_RECONNECTS 8		/* GETs with Last-Event-ID for one request */
#define MCP_HTTP_RETRY_MS 1000		/* wait before such a GET when the server names none */
#define MCP_SESSION_MAX 255		/* Mcp-Session-Id bytes */

struct mcp_http;

/* What a request sees while it waits (all may be NULL). on_msg gets every
 * notification and server request that comes before the answer (borrowed);
 * cancelled() non-zero ends the wait with AGENTD_ECANCELLED. */
struct mcp_http_io {
	void (*on_msg)(void *ud, json_t *msg);
	int (*cancelled)(void *ud);
	void *ud;
};

/* A transport for url; bearer (may be NULL) goes out as "Authorization:
 * Bearer ..."; network = 0 refuses every address that is not loopback. */
int mcp_http_new(const char *name, const char *url, const char *bearer, int network,
    struct mcp_http **out, struct agentd_error *err);
/* MCP-Protocol-Version on every later request ("" = none). From 2026-07-28
 * on, requests also carry Mcp-Method and Mcp-Name. */
void mcp_http_set_version(struct mcp_http *t, const char *version);
/* Forget the session (before a new initialize). */
void mcp_http_reset_session(struct mcp_http *t);
/*
 * POST one message. A notification or a response (id < 0) is done when the
 * server accepts it. A request (id >= 0) waits until deadline (CLOCK_MONOTONIC
 * seconds) for the answer with that id, in a JSON body or on an SSE stream,
 * resuming a cut stream with GET and Last-Event-ID. *answer: the JSON-RPC
 * response (new reference; also a JSON-RPC error that came with an HTTP
 * error status); *status: the last HTTP status (0 when none came).
 */
int mcp_http_post(struct mcp_http *t, json_t *msg, long id, double deadline,
    const struct mcp_http_io *io, json_t **answer, long *status, struct agentd_error *err);
/* DELETE the session if there is one (a second at most), then free. NULL ok. */
void mcp_http_free(struct mcp_http *t);

#endif
