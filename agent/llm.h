/*
 * llm.h — the model client: OpenAI-compatible Chat Completions over libcurl.
 *
 * Speaks to llama.cpp's llama-server, Ollama (/v1), vLLM and LM Studio:
 * non-streaming and streaming (SSE) replies, tool-call deltas assembled by
 * index (and by id for Ollama), reasoning_content kept apart, usage, retries
 * with exponential backoff and jitter honouring Retry-After, endpoint
 * failover, connect and idle-read timeouts, cancellation.
 *
 * Also the tolerant side of tool calling: tool calls left in the text
 * (Hermes/Qwen <tool_call>, Mistral [TOOL_CALLS], Llama 3.1 <|python_tag|>,
 * bare JSON objects, fenced ```json blocks) and the conservative repair of
 * arguments (trailing commas, a missing final brace, raw newlines in strings).
 *
 * No global state besides curl_global_init (call llm_global_init once from
 * main). Thread-safe: each call uses its own curl handle.
 */
#ifndef AGENTD_LLM_H
#define AGENTD_LLM_H

#include <stdint.h>
#include <jansson.h>
#include "common/error.h"

#define LLM_MAX_ENDPOINTS 8

struct llm_endpoint {
	char *url;	/* base URL, e.g. http://127.0.0.1:8080/v1 (owned) */
	char *model;	/* owned; may be NULL (server's default) */
	char *api_key;	/* owned; may be NULL; never logged or stored */
	/* Own reference, or NULL: sent as the request's chat_template_kwargs
	 * (llama-server, vLLM), e.g. {"enable_thinking": false}. */
	json_t *chat_template_kwargs;
};

struct llm_config {
	struct llm_endpoint endpoints[LLM_MAX_ENDPOINTS];	/* tried in order */
	int n_endpoints;
	int stream;			/* default 1 */
	long connect_timeout_ms;	/* default 5000 */
	long idle_timeout_ms;		/* no byte for this long: give up; default 120000 */
	int max_retries;		/* per endpoint; default 4 */
	long backoff_base_ms;		/* default 500 */
	long backoff_max_ms;		/* default 30000 */
	double temperature;		/* < 0 = not sent */
	int max_tokens;			/* <= 0 = not sent */
	int parallel_tool_calls;	/* sent as given; default 1 */
	size_t max_response_bytes;	/* cap on a reply; default 8 MiB */
	/* Tokens a reasoning model may think before it answers: -1 (default)
	 * sends nothing; 0 turns thinking off (chat_template_kwargs
	 * enable_thinking false, unless the endpoint sets it, and
	 * thinking_budget_tokens 0); N > 0 sends thinking_budget_tokens N,
	 * read by llama-server builds that take a per-request budget and
	 * ignored by servers that do not know it. */
	int reasoning_budget;
};

void llm_global_init(void);
/* Defaults, no endpoints. */
void llm_config_init(struct llm_config *c);
/* Append an endpoint (copies the strings). */
int llm_config_add_endpoint(struct llm_config *c, const char *url, const char *model,
    const char *api_key);
/* Give endpoint `index` its chat_template_kwargs (a JSON object, copied;
 * NULL clears). AGENTD_EINVAL when not an object. */
int llm_config_set_template_kwargs(struct llm_config *c, int index, const json_t *kwargs);
/* Deep copy / free the owned strings. */
int llm_config_copy(struct llm_config *dst, const struct llm_config *src);
void llm_config_free(struct llm_config *c);

struct llm_callbacks {
	/* Streamed pieces of the answer (kind "text") or of the reasoning
	 * (kind "reasoning"). May be NULL. After a retry (see `retry`) the
	 * pieces start again from the beginning of the new reply. */
	void (*delta)(void *ud, const char *kind, const char *s, size_t n);
	/* Before each retry: attempt number, delay, and why. May be NULL. */
	void (*retry)(void *ud, int attempt, long delay_ms, const char *reason);
	/* Polled during the request; non-zero aborts with AGENTD_ECANCELLED. */
	int (*cancelled)(void *ud);
	void *ud;
};

/* What a server said when a prompt did not fit (-1: not said). */
struct llm_overflow {
	int64_t n_prompt_tokens;
	int64_t n_ctx;
};

struct llm_request {
	json_t *messages;	/* borrowed; OpenAI messages array */
	json_t *tools;		/* borrowed; OpenAI tools array or NULL */
	const char *tool_choice;	/* "auto" (default when NULL), "none", "required" */
	/* May be NULL. Filled when llm_chat fails with AGENTD_ECONTEXT. */
	struct llm_overflow *overflow;
};

struct llm_response {
	char *content;		/* owned; text answer ("" when none) */
	char *reasoning;	/* owned; reasoning_content / <think> text, or NULL */
	/* New reference: [{"id","name","arguments": "<raw text>"}…] in order, as
	 * the server sent them (native calls only; see llm_extract_text_calls). */
	json_t *tool_calls;
	char *finish_reason;	/* owned; may be NULL */
	int64_t prompt_tokens;	/* -1 when not reported */
	int64_t completion_tokens;
	/* prompt tokens served from the server's prompt cache
	 * (usage.prompt_tokens_details.cached_tokens or llama-server's
	 * timings.cache_n); -1 when not reported */
	int64_t cached_tokens;
	char *endpoint;		/* owned; base URL that answered */
};

/*
 * One chat completion, with retries and failover. AGENTD_OK with *resp
 * filled; AGENTD_ECANCELLED when cancelled; AGENTD_ETIMEOUT;
 * AGENTD_ECONTEXT, not retried, when the server said the prompt does not
 * fit its window (llama-server's 400 exceed_context_size_error, or "Context
 * size has been exceeded." when slots share a full KV cache; vLLM's
 * "maximum context length"), its numbers in req->overflow; otherwise
 * AGENTD_ELLM with the URL, the status and the server's message (a short
 * cleaned excerpt of an HTML page, with the likely fix) in err. Not retried:
 * 4xx other than 408 and 429, and HTML where JSON or SSE was expected.
 */
int llm_chat(const struct llm_config *c, const struct llm_request *req,
    const struct llm_callbacks *cb, struct llm_response *resp, struct agentd_error *err);
void llm_response_free(struct llm_response *r);

/*
 * The server's context window in tokens: llama.cpp GET {root}/props
 * (default_generation_settings.n_ctx), GET {base}/models (data[0].meta.n_ctx),
 * Ollama POST {root}/api/show (model_info.*.context_length or
 * parameters num_ctx). AGENTD_ENOTFOUND when the server does not say.
 */
int llm_context_window(const struct llm_config *c, int *n_ctx, struct agentd_error *err);

/*
 * How many tokens `messages` with `tools` (may be NULL; both borrowed) cost,
 * counted by the server itself: llama-server's POST {root}/apply-template
 * (its own chat template) then POST {root}/tokenize. AGENTD_ENOTFOUND when
 * no endpoint can (Ollama, vLLM: estimate instead). Short requests (5 s).
 */
int llm_count_tokens(const struct llm_config *c, const json_t *messages, const json_t *tools,
    int64_t *n, struct agentd_error *err);

/*
 * Find tool calls written into the text. Returns a new array
 * [{"id":"text_<n>","name","arguments":"<raw text>"}] (empty when none) and,
 * when rest != NULL, the text with the call markup removed (malloc'd).
 */
json_t *llm_extract_text_calls(const char *content, char **rest);

/*
 * Parse a call's arguments: accepts an object given as a string, a
 * double-encoded string, and repairs trailing commas, one missing final
 * brace/bracket and raw newlines/tabs inside strings — nothing riskier.
 * Returns a new object reference, or NULL with err saying what is wrong.
 * *repaired is set to 1 when a repair was needed (may be NULL).
 */
json_t *llm_parse_arguments(const char *text, int *repaired, struct agentd_error *err);

/* Parse an SSE body incrementally (exposed for tests and fuzzing). */
struct llm_sse;
struct llm_sse *llm_sse_new(size_t max_line);
/* Feed bytes; for each complete `data:` payload calls fn(ud, payload, len);
 * fn returning non-zero stops. Comments and other fields are skipped.
 * AGENTD_ETOOBIG when a line exceeds max_line. */
int llm_sse_feed(struct llm_sse *s, const char *p, size_t n,
    int (*fn)(void *ud, const char *data, size_t len), void *ud);
void llm_sse_free(struct llm_sse *s);

/*
 * Check endpoint `index` of c for `agentctl doctor`: *report (new object)
 * {url, model, reachable, models_status, models[], model_listed?, server?,
 * n_ctx?, slots?, generic_tool_format?, tools_ok, tools_error?, error?, ms}.
 * A one-token request that offers a tool tells whether tool calls are
 * accepted. AGENTD_OK whenever a report was made, whatever it says.
 */
int llm_probe_endpoint(const struct llm_config *c, int index, json_t **report,
    struct agentd_error *err);

/* Rough token estimate for a JSON message array (bytes/3.5 and overhead);
 * used where the server does not count. */
int64_t llm_estimate_tokens(const json_t *messages, const json_t *tools);

#endif
