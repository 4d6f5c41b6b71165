/*
 * llm_internal.h — the model client's own seams, shared by llm.c and its
 * tests: the reply parsers that work without HTTP (a non-streamed body, a
 * stream of SSE data payloads) and the request body builder.
 * Not for other modules: they use agent/llm.h.
 */
#ifndef AGENTD_LLM_INTERNAL_H
#define AGENTD_LLM_INTERNAL_H

#include "agent/llm.h"

/* Assembles a streamed reply from its `data:` payloads. */
struct llm_stream;

/* cb may be NULL (no deltas); max_bytes caps the text, reasoning and
 * arguments together. */
struct llm_stream *llm_stream_new(const struct llm_callbacks *cb, size_t max_bytes);
/*
 * One SSE data payload. AGENTD_OK to go on; once `[DONE]` was seen,
 * llm_stream_done() is true. An error event or a chunk that is not JSON
 * gives AGENTD_ELLM / AGENTD_EPROTO with the message in err (an error
 * saying the prompt is over the window: AGENTD_ECONTEXT); *retryable
 * (may be NULL) says whether asking again may help.
 */
int llm_stream_event(struct llm_stream *s, const char *data, size_t len,
    int *retryable, struct agentd_error *err);
/* After llm_stream_event gave AGENTD_ECONTEXT: the server's counts. */
void llm_stream_overflow(const struct llm_stream *s, struct llm_overflow *ov);
int llm_stream_done(const struct llm_stream *s);
/*
 * The stream has ended: fill *out (endpoint left NULL). A stream that
 * stopped without `[DONE]` and without a finish_reason is "cut"
 * (AGENTD_EPROTO, retryable).
 */
int llm_stream_finish(struct llm_stream *s, struct llm_response *out, struct agentd_error *err);
void llm_stream_free(struct llm_stream *s);

/*
 * A non-streamed reply body (HTTP 200). Trailing bytes after the JSON value
 * are ignored. An {"error":…} body gives AGENTD_ELLM.
 */
int llm_parse_response(const char *body, size_t len, struct llm_response *out,
    struct agentd_error *err);

/*
 * The text for a failed HTTP exchange with url (the request's URL, shown
 * without credentials; may be NULL): "HTTP <status> from <url>:
 * <error.message>" (plus n_prompt_tokens/n_ctx for llama-server's
 * exceed_context_size_error), or for a body that is not JSON a short
 * cleaned excerpt (an HTML page's text without its markup) and the likely
 * fix, written into buf.
 */
void llm_http_error_text(long status, const char *url, const char *body, size_t len,
    char *buf, size_t size);

/* Is this body an HTML page (what a web server or a proxy answers)? */
int llm_is_html(const char *body, size_t len);

/*
 * Does an error body, or an {"error":…} event, say that the prompt does not
 * fit the window? 1 with the server's counts in *ov (-1 when not given).
 */
int llm_error_is_context(const char *body, size_t len, struct llm_overflow *ov);

/* The JSON request body for one endpoint (new reference). */
json_t *llm_request_body(const struct llm_config *c, const struct llm_endpoint *e,
    const struct llm_request *req);

/* Split a leading <think>…</think> off `text`: returns the reasoning
 * (malloc'd) or NULL when there is none; *body points past it. */
char *llm_split_think(const char *text, const char **body);

/* A short GET (body NULL) or POST of JSON to url (5 s at most, connect 2 s);
 * the reply body into out (capped by its max). Returns the HTTP status, 0
 * when nothing answered. Used by the endpoint check (llm_probe.c). */
struct abuf;
long llm_http_probe(const struct llm_config *c, const char *url, const char *api_key,
    const char *body, struct abuf *out);

#endif
