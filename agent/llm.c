/*
 * llm.c — the model client: one Chat Completions request over libcurl,
 * streamed (SSE) or not, with retries, backoff, failover, timeouts and
 * cancellation; the reply parsers behind it; the context-window probe.
 */
#include "agent/llm.h"
#include "agent/llm_internal.h"
#include "common/buf.h"
#include "common/num.h"
#include "common/json.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CALLS_MAX	128
#define SSE_LINE_MAX	(1u << 20)
#define SLEEP_SLICE_MS	20
#define PROBE_TIMEOUT_MS 5000L


/* ---- configuration ---- */

void
llm_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
llm_config_init(struct llm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->stream = 1;
	c->connect_timeout_ms = 5000;
	c->idle_timeout_ms = 120000;
	c->max_retries = 4;
	c->backoff_base_ms = 500;
	c->backoff_max_ms = 30000;
	c->temperature = -1;
	c->max_tokens = 0;
	c->parallel_tool_calls = 1;
	c->max_response_bytes = 8u << 20;
	c->reasoning_budget = -1;
}

static char *
dup_or_null(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

int
llm_config_add_endpoint(struct llm_config *c, const char *url, const char *model,
    const char *api_key)
{
	struct llm_endpoint *e;
	int fail = 0;

	if (url == NULL || *url == '\0')
		return AGENTD_EINVAL;
	if (c->n_endpoints >= LLM_MAX_ENDPOINTS)
		return AGENTD_ETOOBIG;
	e = &c->endpoints[c->n_endpoints];
	e->url = dup_or_null(url, &fail);
	e->model = dup_or_null(model && *model ? model : NULL, &fail);
	e->api_key = dup_or_null(api_key && *api_key ? api_key : NULL, &fail);
	if (fail) {
		free(e->url);
		free(e->model);
		free(e->api_key);
		memset(e, 0, sizeof(*e));
		return AGENTD_ENOMEM;
	}
	c->n_endpoints++;
	return AGENTD_OK;
}

int
llm_config_set_template_kwargs(struct llm_config *c, int index, const json_t *kwargs)
{
	json_t *copy = NULL;

	if (index < 0 || index >= c->n_endpoints || (kwargs != NULL && !json_is_object(kwargs)))
		return AGENTD_EINVAL;
	if (kwargs != NULL && (copy = json_deep_copy(kwargs)) == NULL)
		return AGENTD_ENOMEM;
	json_decref(c->endpoints[index].chat_template_kwargs);
	c->endpoints[index].chat_template_kwargs = copy;
	return AGENTD_OK;
}

int
llm_config_copy(struct llm_config *dst, const struct llm_config *src)
{
	struct llm_config tmp = *src;
	int i;

	tmp.n_endpoints = 0;
	memset(tmp.endpoints, 0, sizeof(tmp.endpoints));
	for (i = 0; i < src->n_endpoints; i++) {
		const struct llm_endpoint *e = &src->endpoints[i];
		int rc = llm_config_add_endpoint(&tmp, e->url, e->model, e->api_key);

		if (rc == AGENTD_OK)
			rc = llm_config_set_template_kwargs(&tmp, i, e->chat_template_kwargs);
		if (rc != AGENTD_OK) {
			llm_config_free(&tmp);
			return rc;
		}
	}
	*dst = tmp;
	return AGENTD_OK;
}

void
llm_config_free(struct llm_config *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_endpoints && i < LLM_MAX_ENDPOINTS; i++) {
		free(c->endpoints[i].url);
		free(c->endpoints[i].model);
		json_decref(c->endpoints[i].chat_template_kwargs);
		if (c->endpoints[i].api_key != NULL) {
			memset(c->endpoints[i].api_key, 0, strlen(c->endpoints[i].api_key));
			free(c->endpoints[i].api_key);
		}
		memset(&c->endpoints[i], 0, sizeof(c->endpoints[i]));
	}
	c->n_endpoints = 0;
}

void
llm_response_free(struct llm_response *r)
{
	if (r == NULL)
		return;
	free(r->content);
	free(r->reasoning);
	json_decref(r->tool_calls);
	free(r->finish_reason);
	free(r->endpoint);
	memset(r, 0, sizeof(*r));
}

/* ---- reply assembly, shared by both modes ---- */

struct call {
	char *id;
	char *name;
	struct abuf args;
	long index;
};

/* Turn collected calls into [{"id","name","arguments"}]. */
static json_t *
calls_to_json(struct call *calls, int n)
{
	json_t *arr = json_array();
	int i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		json_t *o = json_object();
		char id[32];
		const char *a = calls[i].args.data ? calls[i].args.data : "";

		snprintf(id, sizeof(id), "call_%d", i + 1);
		if (o == NULL || ajson_set_str(o, "id", calls[i].id ? calls[i].id : id) ||
		    ajson_set_str(o, "name", calls[i].name ? calls[i].name : "") ||
		    json_object_set_new(o, "arguments", ajson_string_lossy(a, calls[i].args.len)) ||
		    json_array_append_new(arr, o)) {
			json_decref(o);
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static void
calls_free(struct call *calls, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(calls[i].id);
		free(calls[i].name);
		abuf_free(&calls[i].args);
	}
	free(calls);
}

/* The text of an {"error":…} member: an object with a message, or a string. */
static const char *
error_message(const json_t *e)
{
	if (json_is_string(e))
		return json_string_value(e);
	if (json_is_object(e) && json_is_string(json_object_get(e, "message")))
		return json_string_value(json_object_get(e, "message"));
	return "unknown error";
}

static int context_error(const json_t *e, struct llm_overflow *ov);

/* A server's token count, or -1 when it sent none or nonsense (negative, or
 * beyond any real context: the loop adds these up). */
static int64_t
usage_value(const json_t *v, int64_t keep)
{
	json_int_t n;

	if (!json_is_integer(v))
		return keep;
	n = json_integer_value(v);
	return n >= 0 && n <= ((int64_t)1 << 40) ? (int64_t)n : -1;
}

static void
read_usage(const json_t *u, int64_t *pt, int64_t *ct)
{
	if (!json_is_object(u))
		return;
	*pt = usage_value(json_object_get(u, "prompt_tokens"), *pt);
	*ct = usage_value(json_object_get(u, "completion_tokens"), *ct);
}

/* The prompt tokens the server took from its prompt cache: OpenAI's
 * usage.prompt_tokens_details.cached_tokens, else llama-server's
 * timings.cache_n (v is the reply or the chunk). */
static void
read_cached(const json_t *v, int64_t *cached)
{
	const json_t *u = json_object_get(v, "usage");
	const json_t *n = json_object_get(json_object_get(u, "prompt_tokens_details"),
	    "cached_tokens");

	if (!json_is_integer(n))
		n = json_object_get(json_object_get(v, "timings"), "cache_n");
	*cached = usage_value(n, *cached);
}

/* ---- streaming ---- */

enum { THINK_START, THINK_IN, THINK_NONE };

struct llm_stream {
	const struct llm_callbacks *cb;
	size_t max_bytes;
	struct abuf content;
	struct abuf reasoning;
	struct abuf pend;	/* content held back while a <think> tag may be forming */
	int think;
	int saw_think;
	struct call *calls;
	int ncalls;
	char *finish;
	int64_t pt, ct, cached;
	int done;
	struct llm_overflow ov;	/* an error event said the prompt is over the window */
};

struct llm_stream *
llm_stream_new(const struct llm_callbacks *cb, size_t max_bytes)
{
	struct llm_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (max_bytes == 0)
		max_bytes = 8u << 20;
	s->cb = cb;
	s->max_bytes = max_bytes;
	abuf_init(&s->content, max_bytes);
	abuf_init(&s->reasoning, max_bytes);
	abuf_init(&s->pend, max_bytes);
	s->calls = calloc(CALLS_MAX, sizeof(*s->calls));
	if (s->calls == NULL) {
		free(s);
		return NULL;
	}
	s->pt = s->ct = s->cached = -1;
	s->ov.n_prompt_tokens = s->ov.n_ctx = -1;
	return s;
}

void
llm_stream_free(struct llm_stream *s)
{
	if (s == NULL)
		return;
	abuf_free(&s->content);
	abuf_free(&s->reasoning);
	abuf_free(&s->pend);
	calls_free(s->calls, s->ncalls);
	free(s->finish);
	free(s);
}

int
llm_stream_done(const struct llm_stream *s)
{
	return s->done;
}

void
llm_stream_overflow(const struct llm_stream *s, struct llm_overflow *ov)
{
	*ov = s->ov;
}

static int
emit(struct llm_stream *s, int reasoning, const char *p, size_t n)
{
	int rc;

	if (!reasoning && s->saw_think && s->content.len == 0)
		while (n > 0 && isspace((unsigned char)*p)) {	/* blank lines after </think> */
			p++;
			n--;
		}
	if (n == 0)
		return AGENTD_OK;
	rc = abuf_append(reasoning ? &s->reasoning : &s->content, p, n);
	if (rc != AGENTD_OK)
		return rc;
	if (s->cb != NULL && s->cb->delta != NULL)
		s->cb->delta(s->cb->ud, reasoning ? "reasoning" : "text", p, n);
	return AGENTD_OK;
}

/* Route held-back content: a leading <think>…</think> goes to reasoning. */
static int
drain(struct llm_stream *s)
{
	static const char open[] = "<think>", close[] = "</think>";
	int rc;

	for (;;) {
		char *p = s->pend.data ? s->pend.data : "";
		size_t n = s->pend.len, k = 0, rem;

		if (s->think == THINK_START) {
			while (k < n && isspace((unsigned char)p[k]))
				k++;
			rem = n - k;
			if (rem == 0 || (rem < 7 && memcmp(p + k, open, rem) == 0))
				return AGENTD_OK;
			if (rem >= 7 && memcmp(p + k, open, 7) == 0) {
				k += 7;
				while (k < n && isspace((unsigned char)p[k]))
					k++;
				abuf_consume(&s->pend, k);
				s->think = THINK_IN;
				s->saw_think = 1;
				continue;
			}
			s->think = THINK_NONE;
			rc = emit(s, 0, p, n);
			abuf_reset(&s->pend);
			return rc;
		}
		if (s->think == THINK_IN) {
			char *e;

			if (s->reasoning.len == 0) {	/* no leading blank lines */
				while (k < n && isspace((unsigned char)p[k]))
					k++;
				abuf_consume(&s->pend, k);
				p = s->pend.data ? s->pend.data : "";
				n = s->pend.len;
				k = 0;
			}
			e = memmem(p, n, close, 8);

			if (e != NULL) {
				size_t before = (size_t)(e - p);

				if ((rc = emit(s, 1, p, before)) != AGENTD_OK)
					return rc;
				s->think = THINK_NONE;
				k = before + 8;
				while (k < n && isspace((unsigned char)p[k]))
					k++;
				rc = emit(s, 0, p + k, n - k);
				abuf_reset(&s->pend);
				return rc;
			}
			if (n > 7) {
				if ((rc = emit(s, 1, p, n - 7)) != AGENTD_OK)
					return rc;
				abuf_consume(&s->pend, n - 7);
			}
			return AGENTD_OK;
		}
		return AGENTD_OK;
	}
}

static int
content_piece(struct llm_stream *s, const char *p, size_t n)
{
	int rc;

	if (s->think == THINK_NONE)
		return emit(s, 0, p, n);
	if ((rc = abuf_append(&s->pend, p, n)) != AGENTD_OK)
		return rc;
	return drain(s);
}

/* One element of delta.tool_calls. */
static int
call_piece(struct llm_stream *s, const json_t *tc)
{
	const json_t *fn = json_object_get(tc, "function");
	const char *id = json_string_value(json_object_get(tc, "id"));
	const json_t *jidx = json_object_get(tc, "index");
	const json_t *name = json_object_get(fn, "name");
	const json_t *args = json_object_get(fn, "arguments");
	struct call *c = NULL;
	long idx;
	int i;

	if (id != NULL && *id == '\0')
		id = NULL;
	idx = json_is_integer(jidx) ? (long)json_integer_value(jidx) :
	    (s->ncalls > 0 ? s->calls[s->ncalls - 1].index : 0);
	if (id != NULL)		/* a known id continues its call */
		for (i = 0; i < s->ncalls && c == NULL; i++)
			if (s->calls[i].id && strcmp(s->calls[i].id, id) == 0)
				c = &s->calls[i];
	if (c == NULL)		/* else the latest call with this index … */
		for (i = s->ncalls - 1; i >= 0 && c == NULL; i--)
			if (s->calls[i].index == idx)
				c = &s->calls[i];
	/* … unless this piece brings a new id (Ollama: parallel calls all index 0) */
	if (c != NULL && id != NULL && c->id != NULL && strcmp(c->id, id) != 0)
		c = NULL;
	if (c == NULL) {
		if (s->ncalls == CALLS_MAX)
			return AGENTD_ETOOBIG;
		c = &s->calls[s->ncalls++];
		c->index = idx;
		abuf_init(&c->args, s->max_bytes);
	}
	if (id != NULL && c->id == NULL && (c->id = strdup(id)) == NULL)
		return AGENTD_ENOMEM;
	if (json_is_string(name) && json_string_length(name) > 0 &&
	    (c->name == NULL || *c->name == '\0')) {
		free(c->name);
		if ((c->name = strdup(json_string_value(name))) == NULL)
			return AGENTD_ENOMEM;
	}
	if (json_is_string(args))
		return abuf_append(&c->args, json_string_value(args), json_string_length(args));
	if (json_is_object(args)) {
		char *d = ajson_dumps(args);
		int rc = d ? abuf_puts(&c->args, d) : AGENTD_ENOMEM;

		free(d);
		return rc;
	}
	return AGENTD_OK;
}

static int
stream_cap_error(int rc, size_t max, struct agentd_error *err)
{
	if (rc == AGENTD_ETOOBIG)
		return agentd_seterr(err, AGENTD_ELLM, "the reply is larger than %zu bytes", max);
	return agentd_seterr(err, rc, NULL);
}

int
llm_stream_event(struct llm_stream *s, const char *data, size_t len,
    int *retryable, struct agentd_error *err)
{
	json_t *v, *choices, *ch, *delta, *e;
	json_error_t jerr;
	int rc = AGENTD_OK;

	if (retryable)
		*retryable = 0;
	while (len > 0 && isspace((unsigned char)data[len - 1]))
		len--;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		s->done = 1;
		return AGENTD_OK;
	}
	v = json_loadb(data, len, 0, &jerr);
	if (v == NULL || !json_is_object(v)) {
		json_decref(v);
		if (retryable)
			*retryable = 1;
		return agentd_seterr(err, AGENTD_EPROTO,
		    "the server sent a stream chunk that is not a JSON object: %.*s%s",
		    (int)(len > 60 ? 60 : len), data, len > 60 ? "…" : "");
	}
	if ((e = json_object_get(v, "error")) != NULL && !json_is_null(e)) {
		json_int_t code = json_is_object(e) ? ajson_int(e, "code", 500) : 500;

		if (context_error(e, &s->ov)) {	/* asking again the same cannot help */
			agentd_seterr(err, AGENTD_ECONTEXT, "server error in the stream: %s",
			    error_message(e));
			json_decref(v);
			return AGENTD_ECONTEXT;
		}
		if (retryable)
			*retryable = code >= 500 || code == 429 || code == 408;
		agentd_seterr(err, AGENTD_ELLM, "server error in the stream: %s", error_message(e));
		json_decref(v);
		return AGENTD_ELLM;
	}
	read_usage(json_object_get(v, "usage"), &s->pt, &s->ct);
	read_cached(v, &s->cached);
	choices = json_object_get(v, "choices");
	ch = json_array_get(choices, 0);
	if (json_is_object(ch)) {
		const json_t *fr = json_object_get(ch, "finish_reason");
		const json_t *c, *r, *tcs, *tc;
		size_t i;

		delta = json_object_get(ch, "delta");
		c = json_object_get(delta, "content");
		r = json_object_get(delta, "reasoning_content");
		if (!json_is_string(r))
			r = json_object_get(delta, "reasoning");	/* Ollama /v1, newer vLLM */
		if (!json_is_string(r))
			r = json_object_get(delta, "thinking");		/* Ollama's own field */
		if (json_is_string(r) && rc == AGENTD_OK)
			rc = emit(s, 1, json_string_value(r), json_string_length(r));
		if (json_is_string(c) && rc == AGENTD_OK)
			rc = content_piece(s, json_string_value(c), json_string_length(c));
		tcs = json_object_get(delta, "tool_calls");
		json_array_foreach(tcs, i, tc)
			if (rc == AGENTD_OK && json_is_object(tc))
				rc = call_piece(s, tc);
		if (json_is_string(fr) && rc == AGENTD_OK) {
			free(s->finish);
			if ((s->finish = strdup(json_string_value(fr))) == NULL)
				rc = AGENTD_ENOMEM;
		}
	}
	json_decref(v);
	if (rc != AGENTD_OK)
		return stream_cap_error(rc, s->max_bytes, err);
	return AGENTD_OK;
}

int
llm_stream_finish(struct llm_stream *s, struct llm_response *out, struct agentd_error *err)
{
	struct llm_response r;
	int rc = AGENTD_OK;
	const char *body;

	if (!s->done && s->finish == NULL)
		return agentd_seterr(err, AGENTD_EPROTO,
		    "stream cut: the server closed the reply before it was complete");
	if (s->think == THINK_START)
		rc = emit(s, 0, s->pend.data ? s->pend.data : "", s->pend.len);
	else if (s->think == THINK_IN)
		rc = emit(s, 1, s->pend.data ? s->pend.data : "", s->pend.len);
	abuf_reset(&s->pend);
	if (rc != AGENTD_OK)
		return stream_cap_error(rc, s->max_bytes, err);
	while (s->saw_think && s->reasoning.len > 0 &&
	    isspace((unsigned char)s->reasoning.data[s->reasoning.len - 1]))
		s->reasoning.data[--s->reasoning.len] = '\0';
	memset(&r, 0, sizeof(r));
	body = s->content.data ? s->content.data : "";
	r.content = strdup(body);
	r.reasoning = s->reasoning.data ? strdup(s->reasoning.data) : NULL;
	r.tool_calls = calls_to_json(s->calls, s->ncalls);
	r.finish_reason = s->finish ? strdup(s->finish) : NULL;
	r.prompt_tokens = s->pt;
	r.completion_tokens = s->ct;
	r.cached_tokens = s->cached;
	if (r.content == NULL || r.tool_calls == NULL ||
	    (s->reasoning.data && r.reasoning == NULL) || (s->finish && !r.finish_reason)) {
		llm_response_free(&r);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	*out = r;
	return AGENTD_OK;
}

/* ---- non-streaming ---- */

int
llm_parse_response(const char *body, size_t len, struct llm_response *out,
    struct agentd_error *err)
{
	json_error_t jerr;
	json_t *v, *e, *msg, *ch, *tcs, *tc, *c, *rs;
	struct llm_response r;
	struct call *calls = NULL;
	const char *text, *rest;
	char *think;
	int n = 0;
	size_t i;

	v = json_loadb(body, len, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!json_is_object(v)) {
		json_decref(v);
		return agentd_seterr(err, AGENTD_EPROTO,
		    "the server's reply is not a JSON object: %s at position %d",
		    jerr.text, jerr.position);
	}
	if ((e = json_object_get(v, "error")) != NULL && !json_is_null(e)) {
		struct llm_overflow ov;
		int code = context_error(e, &ov) ? AGENTD_ECONTEXT : AGENTD_ELLM;

		agentd_seterr(err, code, "server error: %s", error_message(e));
		json_decref(v);
		return code;
	}
	ch = json_array_get(json_object_get(v, "choices"), 0);
	msg = json_object_get(ch, "message");
	if (!json_is_object(msg)) {
		json_decref(v);
		return agentd_seterr(err, AGENTD_EPROTO, "the server's reply has no choices[0].message");
	}
	memset(&r, 0, sizeof(r));
	r.prompt_tokens = r.completion_tokens = r.cached_tokens = -1;
	c = json_object_get(msg, "content");
	text = json_is_string(c) ? json_string_value(c) : "";
	think = llm_split_think(text, &rest);
	if (think != NULL)
		while (isspace((unsigned char)*rest))
			rest++;
	rs = json_object_get(msg, "reasoning_content");
	if (!json_is_string(rs))
		rs = json_object_get(msg, "reasoning");
	if (!json_is_string(rs))
		rs = json_object_get(msg, "thinking");
	if (json_is_string(rs) && json_string_length(rs) > 0) {
		struct abuf b;

		abuf_init(&b, SIZE_MAX / 2);
		abuf_puts(&b, json_string_value(rs));
		if (think) {
			abuf_puts(&b, "\n");
			abuf_puts(&b, think);
		}
		free(think);
		think = abuf_steal(&b);
	}
	r.reasoning = think;
	r.content = strdup(rest);
	tcs = json_object_get(msg, "tool_calls");
	if (json_array_size(tcs) > 0 &&
	    (calls = calloc(json_array_size(tcs) < CALLS_MAX ? json_array_size(tcs) : CALLS_MAX,
	    sizeof(*calls))) == NULL) {
		llm_response_free(&r);
		json_decref(v);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	json_array_foreach(tcs, i, tc) {
		const json_t *fn = json_object_get(tc, "function");
		const json_t *a = json_object_get(fn, "arguments");
		const char *id = json_string_value(json_object_get(tc, "id"));
		const char *name = json_string_value(json_object_get(fn, "name"));
		char *d = NULL;

		if (n == CALLS_MAX)
			break;
		abuf_init(&calls[n].args, SIZE_MAX / 2);
		calls[n].id = id && *id ? strdup(id) : NULL;
		calls[n].name = strdup(name ? name : "");
		if (json_is_string(a))
			abuf_append(&calls[n].args, json_string_value(a), json_string_length(a));
		else if (json_is_object(a) && (d = ajson_dumps(a)) != NULL)
			abuf_puts(&calls[n].args, d);
		free(d);
		n++;
	}
	r.tool_calls = calls_to_json(calls, n);
	calls_free(calls, n);
	if (json_is_string(json_object_get(ch, "finish_reason")))
		r.finish_reason = strdup(json_string_value(json_object_get(ch, "finish_reason")));
	read_usage(json_object_get(v, "usage"), &r.prompt_tokens, &r.completion_tokens);
	read_cached(v, &r.cached_tokens);
	json_decref(v);
	if (r.content == NULL || r.tool_calls == NULL) {
		llm_response_free(&r);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	*out = r;
	return AGENTD_OK;
}

/* ---- error texts ---- */

int
llm_is_html(const char *body, size_t len)
{
	size_t i = 0;

	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i < len && (unsigned char)body[i] == 0xEF && i + 2 < len)	/* a UTF-8 BOM */
		i += 3;
	if (i >= len || body[i] != '<')
		return 0;
	len -= i;
	body += i;
	return (len >= 9 && strncasecmp(body, "<!doctype", 9) == 0) ||
	    (len >= 5 && strncasecmp(body, "<html", 5) == 0) ||
	    (len >= 5 && strncasecmp(body, "<head", 5) == 0) ||
	    (len >= 5 && strncasecmp(body, "<body", 5) == 0) ||
	    (len >= 5 && strncasecmp(body, "<?xml", 5) == 0) ||
	    memmem(body, len < 4096 ? len : 4096, "</", 2) != NULL;
}

/* Append c to out (at most size-1 bytes), collapsing white space. */
static void
put_char(char *out, size_t size, size_t *k, char c)
{
	if ((unsigned char)c < 0x20 || c == 0x7f)
		c = ' ';
	if (c == ' ' && (*k == 0 || out[*k - 1] == ' '))
		return;
	if (*k + 1 < size)
		out[(*k)++] = c;
	out[*k] = '\0';
}

/* Where the element that starts at p[0] ('<') ends: past its closing tag
 * for head, style and script (their text is not shown), else past '>'. */
static size_t
skip_tag(const char *p, size_t n)
{
	static const char *const hidden[] = { "head", "style", "script" };
	const char *gt;
	size_t i, k = 0;

	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		size_t l = strlen(hidden[i]);

		if (n > l + 1 && strncasecmp(p + 1, hidden[i], l) == 0 &&
		    (p[l + 1] == '>' || isspace((unsigned char)p[l + 1]))) {
			for (k = l + 1; k + l + 2 <= n; k++)
				if (p[k] == '<' && p[k + 1] == '/' &&
				    strncasecmp(p + k + 2, hidden[i], l) == 0)
					break;
			if (k + l + 2 > n)
				return n;	/* never closed: hide the rest */
			break;
		}
	}
	gt = memchr(p + k, '>', n - k);
	return gt ? (size_t)(gt - p) + 1 : n;
}

/* The text of an HTML page for a message: no markup, <head>, <style> or
 * <script>; a few entities decoded; white space collapsed; else its title. */
static void
html_text(const char *p, size_t n, char *out, size_t size)
{
	static const struct { const char *e; char c; } ents[] = {
		{ "&lt;", '<' }, { "&gt;", '>' }, { "&amp;", '&' }, { "&quot;", '"' },
		{ "&#39;", '\'' }, { "&nbsp;", ' ' },
	};
	size_t i = 0, k = 0, j;

	out[0] = '\0';
	while (i < n && k + 1 < size) {
		if (p[i] == '<') {
			i += skip_tag(p + i, n - i);
			put_char(out, size, &k, ' ');
			continue;
		}
		if (p[i] == '&') {
			for (j = 0; j < sizeof(ents) / sizeof(ents[0]); j++)
				if (n - i >= strlen(ents[j].e) &&
				    strncmp(p + i, ents[j].e, strlen(ents[j].e)) == 0)
					break;
			if (j < sizeof(ents) / sizeof(ents[0])) {
				put_char(out, size, &k, ents[j].c);
				i += strlen(ents[j].e);
				continue;
			}
		}
		put_char(out, size, &k, p[i++]);
	}
	while (k > 0 && out[k - 1] == ' ')
		out[--k] = '\0';
	if (k == 0) {		/* nothing but markup: the title, if any */
		const char *t = NULL;

		for (i = 0; i + 7 <= n && t == NULL; i++)
			if (strncasecmp(p + i, "<title>", 7) == 0)
				t = p + i + 7;
		for (k = 0; t != NULL && t + k < p + n && t[k] != '<'; k++)
			;
		if (t != NULL)
			snprintf(out, size, "%.*s", (int)(k < size ? k : size - 1), t);
	}
}

/* A short excerpt of a body that is not JSON: at most max bytes of text. */
static void
excerpt(const char *body, size_t len, char *out, size_t size, size_t max)
{
	size_t k = 0, i;

	if (size > max + 1)
		size = max + 1;
	out[0] = '\0';
	if (llm_is_html(body, len)) {
		html_text(body, len, out, size);
	} else {
		for (i = 0; i < len && k + 1 < size; i++)
			put_char(out, size, &k, body[i]);
	}
	k = strlen(out);
	if (k + 1 >= size && size > 4) {	/* cut: end on a whole UTF-8 character */
		while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
			k--;
		if (k > 0 && (unsigned char)out[k - 1] >= 0xC0)
			k--;
		snprintf(out + (k > size - 4 ? size - 4 : k), 4, "...");
	}
}

/* What to check when the URL answered something other than the API. */
static const char *
url_hint(long status, const char *url, int html)
{
	int v1 = url != NULL && strstr(url, "/v1/") != NULL;

	if (status == 401 || status == 403)
		return " — the server wants an API key: set api_key in the config or "
		    "AGENTD_API_KEY";
	if (status == 404 || status == 405 || (html && status / 100 != 5))
		return v1 ? " — check the base URL: it must be the model server's "
		    "OpenAI-compatible API (agentd posts to BASE/chat/completions), e.g. "
		    "http://127.0.0.1:8080/v1" :
		    " — check the base URL: it must be the model server's OpenAI-compatible "
		    "API and usually ends in /v1 (e.g. http://127.0.0.1:8080/v1)";
	return "";
}

void
llm_http_error_text(long status, const char *url, const char *body, size_t len, char *buf,
    size_t size)
{
	json_t *v = body && len ? json_loadb(body, len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	const json_t *e = json_object_get(v, "error");
	const char *msg = NULL;
	char raw[241], from[600];
	int html = body != NULL && llm_is_html(body, len);

	if (json_is_string(e))
		msg = json_string_value(e);
	else if (json_is_object(e) && json_is_string(json_object_get(e, "message")))
		msg = json_string_value(json_object_get(e, "message"));
	else if (json_is_string(json_object_get(v, "message")))
		msg = json_string_value(json_object_get(v, "message"));
	else if (json_is_string(json_object_get(v, "detail")))
		msg = json_string_value(json_object_get(v, "detail"));
	if (msg == NULL && body && len) {	/* not JSON: a cleaned excerpt */
		excerpt(body, len, raw, sizeof(raw), html ? 160 : 240);
		msg = raw[0] ? raw : NULL;
	}
	from[0] = '\0';
	if (url != NULL)
		snprintf(from, sizeof(from), " from %s", url);
	if (msg == NULL)
		snprintf(buf, size, "HTTP %ld%s%s", status, from, url_hint(status, url, html));
	else if (json_is_object(e) &&
	    strcmp(ajson_str(e, "type", ""), "exceed_context_size_error") == 0)
		snprintf(buf, size, "HTTP %ld%s: %s (the prompt has %lld tokens, the context "
		    "window is %lld)", status, from, msg,
		    (long long)ajson_int(e, "n_prompt_tokens", -1),
		    (long long)ajson_int(e, "n_ctx", -1));
	else if (html)
		snprintf(buf, size, "HTTP %ld%s: an HTML page, not the API: \"%s\"%s", status, from,
		    msg, url_hint(status, url, html));
	else if (msg == raw || strcasecmp(msg, "File Not Found") == 0 ||
	    strcasecmp(msg, "Not Found") == 0)	/* not the API's own answer about a model */
		snprintf(buf, size, "HTTP %ld%s: %s%s", status, from, msg, url_hint(status, url, 0));
	else
		snprintf(buf, size, "HTTP %ld%s: %s", status, from, msg);
	json_decref(v);
}

/* A number after `key` in text ("maximum context length is 4096"), or -1. */
static int64_t
number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	long long n;

	if (p == NULL)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == ':' || *p == '=')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	n = strtoll(p, NULL, 10);
	return n >= 0 && n < (1LL << 40) ? (int64_t)n : -1;
}

/* The error member's message says the prompt is over the window? */
static int
context_error(const json_t *e, struct llm_overflow *ov)
{
	static const char *const says[] = {
		"context size has been exceeded",	/* llama-server, a full shared KV cache */
		"exceeds the available context size",	/* llama-server, over n_ctx */
		"maximum context length",		/* vLLM, OpenAI */
		"context_length_exceeded",
		"context window exceeded",
	};
	const char *msg = error_message(e);
	char low[512];
	size_t i;
	int hit = json_is_object(e) &&
	    (strcmp(ajson_str(e, "type", ""), "exceed_context_size_error") == 0 ||
	    (json_is_string(json_object_get(e, "code")) &&
	    strcmp(ajson_str(e, "code", ""), "context_length_exceeded") == 0));

	for (i = 0; i + 1 < sizeof(low) && msg[i]; i++)
		low[i] = (char)tolower((unsigned char)msg[i]);
	low[i] = '\0';
	for (i = 0; !hit && i < sizeof(says) / sizeof(says[0]); i++)
		hit = strstr(low, says[i]) != NULL;
	if (!hit)
		return 0;
	ov->n_prompt_tokens = json_is_object(e) ? ajson_int(e, "n_prompt_tokens", -1) : -1;
	ov->n_ctx = json_is_object(e) ? ajson_int(e, "n_ctx", -1) : -1;
	if (ov->n_ctx < 0)	/* vLLM: "maximum context length is 4096 tokens. However, you requested 5031 tokens" */
		ov->n_ctx = number_after(low, "maximum context length is");
	if (ov->n_prompt_tokens < 0)
		ov->n_prompt_tokens = number_after(low, "your messages resulted in");
	if (ov->n_prompt_tokens < 0)
		ov->n_prompt_tokens = number_after(low, "you requested");
	return 1;
}

int
llm_error_is_context(const char *body, size_t len, struct llm_overflow *ov)
{
	json_t *v = body && len ? json_loadb(body, len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	const json_t *e = json_object_get(v, "error");
	struct llm_overflow o = { -1, -1 };
	int hit;

	if (e == NULL && json_is_string(json_object_get(v, "message")))
		e = v;		/* vLLM: {"object":"error","message":…} */
	hit = e != NULL && context_error(e, &o);
	json_decref(v);
	if (hit && ov != NULL)
		*ov = o;
	return hit;
}

json_t *
llm_request_body(const struct llm_config *c, const struct llm_endpoint *e,
    const struct llm_request *req)
{
	json_t *b = json_object();
	int bad = 0;

	if (b == NULL)
		return NULL;
	if (e->model != NULL)
		bad |= ajson_set_str(b, "model", e->model);
	bad |= json_object_set(b, "messages", req->messages ? req->messages : json_null());
	if (req->tools != NULL && json_array_size(req->tools) > 0) {
		bad |= json_object_set(b, "tools", req->tools);
		bad |= ajson_set_str(b, "tool_choice", req->tool_choice ? req->tool_choice : "auto");
		bad |= ajson_set_bool(b, "parallel_tool_calls", c->parallel_tool_calls);
	}
	bad |= ajson_set_bool(b, "stream", c->stream);
	if (c->stream)
		bad |= json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
	if (c->temperature >= 0)
		bad |= json_object_set_new(b, "temperature", json_real(c->temperature));
	if (c->max_tokens > 0)
		bad |= ajson_set_int(b, "max_tokens", c->max_tokens);
	if (e->chat_template_kwargs != NULL || c->reasoning_budget == 0) {
		json_t *kw = e->chat_template_kwargs ? json_deep_copy(e->chat_template_kwargs) :
		    json_object();

		if (kw != NULL && c->reasoning_budget == 0 &&
		    json_object_get(kw, "enable_thinking") == NULL)
			json_object_set_new(kw, "enable_thinking", json_false());
		bad |= kw == NULL || json_object_set_new(b, "chat_template_kwargs", kw);
	}
	if (c->reasoning_budget >= 0)
		bad |= ajson_set_int(b, "thinking_budget_tokens", c->reasoning_budget);
	if (bad) {
		json_decref(b);
		return NULL;
	}
	return b;
}

/* ---- HTTP ---- */

enum abort_why { WHY_NONE, WHY_CANCEL, WHY_IDLE, WHY_TOOBIG, WHY_STREAM, WHY_DONE };

/* SSE framing costs a few hundred bytes per one-token chunk: the raw stream
 * may be this many times max_response_bytes (the assembled reply is capped
 * at max_response_bytes itself). */
#define STREAM_OVERHEAD 8

struct xfer {
	const struct llm_config *c;
	const struct llm_callbacks *cb;
	CURL *h;
	int want_stream;
	int mode;		/* 0 undecided, 1 SSE, 2 body */
	struct abuf body;
	struct llm_sse *sse;
	struct llm_stream *acc;
	size_t total;
	double last_ms;
	enum abort_why why;
	long retry_after_ms;
	int ev_retryable;
	struct agentd_error everr;
	char head[512];		/* the reply's first bytes, to tell an HTML page */
	size_t head_len;
};

static int
on_data(void *ud, const char *data, size_t len)
{
	struct xfer *x = ud;

	if (llm_stream_event(x->acc, data, len, &x->ev_retryable, &x->everr) != AGENTD_OK) {
		x->why = WHY_STREAM;
		return 1;
	}
	return llm_stream_done(x->acc);
}

static size_t
write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;

	x->last_ms = (anum_mono_s() * 1000.0);
	x->total += n;
	if (x->head_len < sizeof(x->head)) {
		size_t k = sizeof(x->head) - x->head_len < n ? sizeof(x->head) - x->head_len : n;

		memcpy(x->head + x->head_len, p, k);
		x->head_len += k;
	}
	if (x->total > x->c->max_response_bytes * (x->mode == 1 ? STREAM_OVERHEAD : 1)) {
		x->why = WHY_TOOBIG;
		return 0;
	}
	if (x->mode == 0) {
		long status = 0;
		char *ct = NULL;

		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ct);
		x->mode = (x->want_stream && status / 100 == 2 &&
		    !(ct && (strncasecmp(ct, "application/json", 16) == 0 ||
		    strncasecmp(ct, "text/html", 9) == 0))) ? 1 : 2;
	}
	if (x->mode == 1) {
		int rc;

		rc = llm_sse_feed(x->sse, p, n, on_data, x);
		if (x->why == WHY_STREAM)
			return 0;
		if (llm_stream_done(x->acc)) {	/* [DONE]: nothing after it matters */
			x->why = WHY_DONE;
			return 0;
		}
		if (rc != AGENTD_OK) {
			agentd_seterr(&x->everr, AGENTD_EPROTO,
			    "the server sent a stream line longer than %u bytes", SSE_LINE_MAX);
			x->ev_retryable = 1;
			x->why = WHY_STREAM;
			return 0;
		}
		return n;
	}
	if (abuf_append(&x->body, p, n) != AGENTD_OK) {
		x->why = WHY_TOOBIG;
		return 0;
	}
	return n;
}

static size_t
header_cb(char *p, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;

	if (n > 5 && strncmp(p, "HTTP/", 5) == 0)
		x->retry_after_ms = -1;
	else if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char tmp[32];
		size_t k = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
		char *end;
		long secs;

		memcpy(tmp, p + 12, k);
		tmp[k] = '\0';
		secs = strtol(tmp, &end, 10);
		if (end != tmp && secs >= 0 && secs < 86400)
			x->retry_after_ms = secs * 1000;
	}
	return n;
}

static int
xferinfo_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = ud;

	(void)dt; (void)dn; (void)ut; (void)un;
	if (x->cb != NULL && x->cb->cancelled != NULL && x->cb->cancelled(x->cb->ud)) {
		x->why = WHY_CANCEL;
		return 1;
	}
	if (x->c->idle_timeout_ms > 0 && (anum_mono_s() * 1000.0) - x->last_ms > (double)x->c->idle_timeout_ms) {
		x->why = WHY_IDLE;
		return 1;
	}
	return 0;
}

/* The URL for display: without user:password@. */
static void
safe_url(const char *url, char *buf, size_t size)
{
	const char *s = strstr(url, "://"), *at, *slash;

	if (s != NULL) {
		s += 3;
		at = strchr(s, '@');
		slash = strchr(s, '/');
		if (at != NULL && (slash == NULL || at < slash)) {
			snprintf(buf, size, "%.*s%s", (int)(s - url), url, at + 1);
			return;
		}
	}
	snprintf(buf, size, "%s", url);
}

/* base URL + path, without doubled slashes. */
static char *
join_url(const char *base, const char *path)
{
	size_t n = strlen(base);
	char *u;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((u = malloc(n + strlen(path) + 1)) == NULL)
		return NULL;
	memcpy(u, base, n);
	strcpy(u + n, path);
	return u;
}

static CURL *
easy_new(const struct llm_config *c, const char *url, struct curl_slist *hdrs)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms > 0 ?
	    c->connect_timeout_ms : 5000L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	return h;
}

/* What an attempt's failure allows. */
enum next { NEXT_RETRY, NEXT_FAILOVER, NEXT_STOP };

/*
 * One request to one endpoint. On failure err says why and *next what may
 * be tried; *retry_after_ms is the server's Retry-After (or -1).
 */
static int
attempt(const struct llm_config *c, const struct llm_endpoint *e, const char *payload,
    const struct llm_callbacks *cb, struct llm_response *resp, enum next *next,
    long *retry_after_ms, struct llm_overflow *ov, struct agentd_error *err)
{
	struct xfer x;
	struct curl_slist *hdrs = NULL;
	char *url = join_url(e->url, "/chat/completions");
	char shown[512], shown_req[600], *auth = NULL;
	long status = 0;
	CURLcode res;
	int rc;

	*next = NEXT_STOP;
	*retry_after_ms = -1;
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.cb = cb;
	x.want_stream = c->stream;
	x.retry_after_ms = -1;
	abuf_init(&x.body, c->max_response_bytes);
	safe_url(e->url, shown, sizeof(shown));
	safe_url(url ? url : e->url, shown_req, sizeof(shown_req));
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, c->stream ? "Accept: text/event-stream" :
	    "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (e->api_key != NULL) {
		size_t n = strlen(e->api_key) + 32;

		if ((auth = malloc(n)) != NULL) {
			snprintf(auth, n, "Authorization: Bearer %s", e->api_key);
			hdrs = curl_slist_append(hdrs, auth);
			memset(auth, 0, strlen(auth));
			free(auth);
		}
	}
	if (c->stream) {
		x.sse = llm_sse_new(SSE_LINE_MAX);
		x.acc = llm_stream_new(cb, c->max_response_bytes);
	}
	if (url == NULL || hdrs == NULL || (c->stream && (x.sse == NULL || x.acc == NULL)) ||
	    (x.h = easy_new(c, url, hdrs)) == NULL) {
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		goto out;
	}
	curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
	curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(x.h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x.h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(x.h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(x.h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(x.h, CURLOPT_XFERINFODATA, &x);
	x.last_ms = (anum_mono_s() * 1000.0);
	res = curl_easy_perform(x.h);
	curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &status);
	*retry_after_ms = x.retry_after_ms;

	if (x.why == WHY_CANCEL) {
		rc = agentd_seterr(err, AGENTD_ECANCELLED, "the model request was cancelled");
	} else if (x.why == WHY_IDLE) {
		*next = NEXT_RETRY;
		rc = agentd_seterr(err, AGENTD_ETIMEOUT, "%s sent nothing for %ld ms (idle timeout)",
		    shown, c->idle_timeout_ms);
	} else if (x.why == WHY_TOOBIG) {
		rc = agentd_seterr(err, AGENTD_ELLM, "the reply from %s is larger than %zu bytes",
		    shown, c->max_response_bytes);
	} else if (x.why == WHY_DONE) {
		rc = llm_stream_finish(x.acc, resp, err);
	} else if (x.why == WHY_STREAM) {
		*next = x.ev_retryable ? NEXT_RETRY : NEXT_STOP;
		if (x.everr.code == AGENTD_ECONTEXT)
			llm_stream_overflow(x.acc, ov);
		rc = agentd_seterr(err, x.everr.code, "%s", x.everr.msg);
	} else if (res == CURLE_OPERATION_TIMEDOUT) {
		*next = NEXT_RETRY;
		rc = agentd_seterr(err, AGENTD_ETIMEOUT, "cannot reach %s: %s", shown,
		    curl_easy_strerror(res));
	} else if (res != CURLE_OK && status / 100 == 2 && c->stream) {
		*next = NEXT_RETRY;
		rc = agentd_seterr(err, AGENTD_EPROTO, "stream cut: %s", curl_easy_strerror(res));
	} else if (res != CURLE_OK) {
		switch (res) {
		case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY: case CURLE_GOT_NOTHING:
		case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_PARTIAL_FILE:
			*next = NEXT_RETRY;
			break;
		default:
			*next = NEXT_FAILOVER;
		}
		rc = agentd_seterr(err, AGENTD_ELLM, "cannot reach %s: %s", shown,
		    curl_easy_strerror(res));
	} else if (status / 100 != 2) {
		char text[sizeof(err->msg)];

		llm_http_error_text(status, shown_req, x.body.data, x.body.len, text, sizeof(text));
		if (llm_error_is_context(x.body.data, x.body.len, ov)) {
			rc = agentd_seterr(err, AGENTD_ECONTEXT, "%s", text);
		} else {
			if (status == 429 || status == 408 || status >= 500)
				*next = NEXT_RETRY;
			else if (status == 401 || status == 403 || status == 404 || status == 405)
				*next = NEXT_FAILOVER;
			rc = agentd_seterr(err, AGENTD_ELLM, "%s", text);
		}
	} else if (llm_is_html(x.head, x.head_len)) {
		/* a web page where the API's JSON or event stream was expected:
		 * asking again gets the same page; another endpoint may do */
		char text[sizeof(err->msg)];
		const char *b = x.mode == 2 && x.body.data ? x.body.data : x.head;

		llm_http_error_text(status, shown_req, b, x.mode == 2 ? x.body.len : x.head_len, text,
		    sizeof(text));
		*next = NEXT_FAILOVER;
		rc = agentd_seterr(err, AGENTD_ELLM, "%s", text);
	} else if (x.mode == 1) {
		rc = llm_stream_finish(x.acc, resp, err);
		if (rc != AGENTD_OK && rc != AGENTD_ENOMEM)
			*next = NEXT_RETRY;
	} else {
		rc = llm_parse_response(x.body.data ? x.body.data : "", x.body.len, resp, err);
		if (rc == AGENTD_ECONTEXT)
			llm_error_is_context(x.body.data, x.body.len, ov);
		else if (rc == AGENTD_EPROTO || rc == AGENTD_ELLM)
			*next = NEXT_RETRY;
	}
	if (rc == AGENTD_OK && (resp->endpoint = strdup(e->url)) == NULL) {
		llm_response_free(resp);
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
out:
	if (x.h != NULL)
		curl_easy_cleanup(x.h);
	curl_slist_free_all(hdrs);
	free(url);
	abuf_free(&x.body);
	llm_sse_free(x.sse);
	llm_stream_free(x.acc);
	return rc;
}

static int
is_cancelled(const struct llm_callbacks *cb)
{
	return cb != NULL && cb->cancelled != NULL && cb->cancelled(cb->ud);
}

/* Sleep ms in small slices; non-zero when cancelled meanwhile. */
static int
nap(long ms, const struct llm_callbacks *cb)
{
	double end = (anum_mono_s() * 1000.0) + (double)ms;

	for (;;) {
		double left = end - (anum_mono_s() * 1000.0);
		struct timespec ts;

		if (is_cancelled(cb))
			return 1;
		if (left <= 0)
			return 0;
		if (left > SLEEP_SLICE_MS)
			left = SLEEP_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e6);
		nanosleep(&ts, NULL);
	}
}

/* A random number in [0, n] for the backoff jitter. */
static long
jitter(long n, unsigned long long *state)
{
	unsigned long long x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return n > 0 ? (long)(x % (unsigned long long)(n + 1)) : 0;
}

static long
backoff(const struct llm_config *c, int attempt_no, long retry_after_ms,
    unsigned long long *rnd)
{
	long cap = c->backoff_max_ms > 0 ? c->backoff_max_ms : 30000;
	long d = c->backoff_base_ms > 0 ? c->backoff_base_ms : 1;
	int i;

	if (retry_after_ms >= 0)
		return retry_after_ms < cap ? retry_after_ms : cap;
	for (i = 0; i < attempt_no && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	return jitter(d, rnd);	/* full jitter */
}

int
llm_chat(const struct llm_config *c, const struct llm_request *req,
    const struct llm_callbacks *cb, struct llm_response *resp, struct agentd_error *err)
{
	struct agentd_error last;
	unsigned long long rnd;
	struct timespec ts;
	int ei, tries = 0;

	agentd_error_clear(&last);
	if (c == NULL || req == NULL || resp == NULL || !json_is_array(req->messages))
		return agentd_seterr(err, AGENTD_EINVAL, "llm_chat: no messages");
	if (c->n_endpoints <= 0)
		return agentd_seterr(err, AGENTD_EINVAL, "no model server is configured "
		    "(set --llm-url, for example http://127.0.0.1:8080/v1)");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rnd = ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)getpid() ^
	    (unsigned long long)(uintptr_t)&last;
	if (rnd == 0)
		rnd = 88172645463325252ULL;

	for (ei = 0; ei < c->n_endpoints && ei < LLM_MAX_ENDPOINTS; ei++) {
		const struct llm_endpoint *e = &c->endpoints[ei];
		json_t *body = llm_request_body(c, e, req);
		char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
		int a;

		json_decref(body);
		if (payload == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		for (a = 0; ; a++) {
			struct llm_response r;
			struct llm_overflow ov = { -1, -1 };
			enum next next;
			long ra, delay;
			int rc;

			if (is_cancelled(cb)) {
				free(payload);
				return agentd_seterr(err, AGENTD_ECANCELLED,
				    "the model request was cancelled");
			}
			memset(&r, 0, sizeof(r));
			rc = attempt(c, e, payload, cb, &r, &next, &ra, &ov, &last);
			tries++;
			if (rc == AGENTD_ECONTEXT && req->overflow != NULL)
				*req->overflow = ov;
			if (rc == AGENTD_OK) {
				free(payload);
				*resp = r;
				return AGENTD_OK;
			}
			if (rc == AGENTD_ECANCELLED || rc == AGENTD_ENOMEM || next == NEXT_STOP) {
				free(payload);
				return agentd_seterr(err, rc, "%s", last.msg);
			}
			if (next == NEXT_FAILOVER || a >= c->max_retries)
				break;
			delay = backoff(c, a, ra, &rnd);
			if (cb != NULL && cb->retry != NULL)
				cb->retry(cb->ud, tries, delay, last.msg);
			if (nap(delay, cb)) {
				free(payload);
				return agentd_seterr(err, AGENTD_ECANCELLED,
				    "the model request was cancelled");
			}
		}
		free(payload);
		if (ei + 1 < c->n_endpoints && cb != NULL && cb->retry != NULL) {
			char why[sizeof(last.msg) + 320];
			char shown[256];

			safe_url(c->endpoints[ei + 1].url, shown, sizeof(shown));
			snprintf(why, sizeof(why), "%s; trying %s", last.msg, shown);
			cb->retry(cb->ud, tries, 0, why);
		}
	}
	return agentd_seterr(err, last.code == AGENTD_ETIMEOUT ? AGENTD_ETIMEOUT : AGENTD_ELLM,
	    "%s", last.msg[0] ? last.msg : "the model server did not answer");
}

/* ---- context window ---- */

/* A short GET (body NULL) or POST; the reply body in out. */
static long
probe(const struct llm_config *c, const char *url, const char *api_key, const char *body,
    struct abuf *out)
{
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	long status = 0;
	CURL *h;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.mode = 2;
	x.last_ms = (anum_mono_s() * 1000.0);
	x.body = *out;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (api_key != NULL) {
		char auth[1024];

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", api_key);
		hdrs = curl_slist_append(hdrs, auth);
		memset(auth, 0, sizeof(auth));
	}
	if (hdrs == NULL || (h = easy_new(c, url, hdrs)) == NULL) {
		curl_slist_free_all(hdrs);
		return 0;
	}
	x.h = h;
	if (c->connect_timeout_ms <= 0 || c->connect_timeout_ms > 2000)
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, PROBE_TIMEOUT_MS);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	*out = x.body;
	return status;
}

long
llm_http_probe(const struct llm_config *c, const char *url, const char *api_key,
    const char *body, struct abuf *out)
{
	return probe(c, url, api_key, body, out);
}

static json_t *
probe_json(const struct llm_config *c, const char *base, const char *path,
    const char *api_key, const char *body)
{
	char *url = join_url(base, path);
	struct abuf b;
	json_t *v = NULL;

	if (url == NULL)
		return NULL;
	abuf_init(&b, 1u << 20);
	if (probe(c, url, api_key, body, &b) == 200 && b.data != NULL)
		v = json_loadb(b.data, b.len, 0, NULL);
	abuf_free(&b);
	free(url);
	if (!json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static int
positive(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) < (1 << 30) ? (int)json_integer_value(v) : 0;
}

/* The smallest n_ctx of llama-server's GET /slots (an array), or 0. */
static int
slots_ctx(const struct llm_config *c, const char *root, const char *api_key)
{
	char *url = join_url(root, "/slots");
	struct abuf b;
	json_t *v = NULL, *sl;
	size_t i;
	int min = 0;

	if (url == NULL)
		return 0;
	abuf_init(&b, 1u << 20);
	if (probe(c, url, api_key, NULL, &b) == 200 && b.data != NULL)
		v = json_loadb(b.data, b.len, 0, NULL);
	abuf_free(&b);
	free(url);
	json_array_foreach(v, i, sl) {
		int n = positive(json_object_get(sl, "n_ctx"));

		if (n > 0 && (min == 0 || n < min))
			min = n;
	}
	json_decref(v);
	return min;
}

/*
 * Ollama's /api/show: num_ctx from the model's parameters when it sets one.
 * Otherwise Ollama runs the model with its default window (4096 tokens in
 * current versions, less in older ones; OLLAMA_CONTEXT_LENGTH is not
 * visible here) whatever the model was trained for, and silently cuts the
 * front of a longer prompt: so the trained context_length only caps that
 * default.
 */
#define OLLAMA_DEFAULT_CTX 4096
static int
ollama_ctx(const json_t *v)
{
	const char *params = ajson_str(v, "parameters", NULL);
	const json_t *mi = json_object_get(v, "model_info");
	const char *key;
	const json_t *val;

	if (params != NULL) {
		const char *p = strstr(params, "num_ctx");

		while (p != NULL) {
			if ((p == params || p[-1] == '\n') && isspace((unsigned char)p[7])) {
				long n = strtol(p + 7, NULL, 10);

				if (n > 0 && n < (1L << 30))
					return (int)n;
			}
			p = strstr(p + 7, "num_ctx");
		}
	}
	json_object_foreach((json_t *)mi, key, val) {
		size_t kl = strlen(key);

		if (kl > 15 && strcmp(key + kl - 15, ".context_length") == 0 && positive(val))
			return positive(val) < OLLAMA_DEFAULT_CTX ? positive(val) : OLLAMA_DEFAULT_CTX;
	}
	return 0;
}

int
llm_context_window(const struct llm_config *c, int *n_ctx, struct agentd_error *err)
{
	int i;

	for (i = 0; i < c->n_endpoints && i < LLM_MAX_ENDPOINTS; i++) {
		const struct llm_endpoint *e = &c->endpoints[i];
		size_t n = strlen(e->url);
		char *root;
		json_t *v, *req;
		int found = 0;

		while (n > 0 && e->url[n - 1] == '/')
			n--;
		if (n >= 3 && strncmp(e->url + n - 3, "/v1", 3) == 0)
			n -= 3;
		if ((root = strndup(e->url, n)) == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		/* llama.cpp: the window of one request is a slot's. Without a
		 * unified KV cache each of K slots has n_ctx/K, which /slots tells
		 * where it is on; with one (the default now) every slot may use all
		 * of n_ctx but shares it, and a full cache is learned from the
		 * "Context size has been exceeded." errors (llm_chat). */
		if ((v = probe_json(c, root, "/props", e->api_key, NULL)) != NULL) {
			found = positive(json_object_get(json_object_get(v,
			    "default_generation_settings"), "n_ctx"));
			if (!found)
				found = positive(json_object_get(v, "n_ctx"));
			if (found && positive(json_object_get(v, "total_slots")) > 1) {
				int slot = slots_ctx(c, root, e->api_key);

				if (slot > 0 && slot < found)
					found = slot;
			}
			json_decref(v);
		}
		/* llama.cpp again, and vLLM's max_model_len */
		if (!found && (v = probe_json(c, e->url, "/models", e->api_key, NULL)) != NULL) {
			json_t *d = json_array_get(json_object_get(v, "data"), 0);

			found = positive(json_object_get(json_object_get(d, "meta"), "n_ctx"));
			if (!found)
				found = positive(json_object_get(d, "max_model_len"));
			json_decref(v);
		}
		/* Ollama */
		if (!found && (req = json_pack("{s:s}", "model", e->model ? e->model : "")) != NULL) {
			char *body = ajson_dumps(req);

			json_decref(req);
			if (body != NULL && (v = probe_json(c, root, "/api/show", e->api_key,
			    body)) != NULL) {
				found = ollama_ctx(v);
				json_decref(v);
			}
			free(body);
		}
		free(root);
		if (found) {
			*n_ctx = found;
			return AGENTD_OK;
		}
	}
	return agentd_seterr(err, AGENTD_ENOTFOUND,
	    "the model server does not report its context window");
}

/* ---- token estimate ---- */

static size_t
json_bytes(const json_t *v, int depth)
{
	const char *key;
	const json_t *el;
	size_t i, n = 0;

	if (v == NULL || depth > 64)
		return 0;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_length(v) + 2;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, el)
			n += strlen(key) + 4 + json_bytes(el, depth + 1);
		return n + 2;
	case JSON_ARRAY:
		json_array_foreach(v, i, el)
			n += json_bytes(el, depth + 1) + 1;
		return n + 2;
	default:
		return 6;
	}
}

int64_t
llm_estimate_tokens(const json_t *messages, const json_t *tools)
{
	double t = 0;

	if (json_is_array(messages)) {
		const json_t *m;
		size_t i;

		json_array_foreach(messages, i, m)
			t += (double)json_bytes(json_object_get(m, "content"), 0) / 3.5 +
			    (double)json_bytes(json_object_get(m, "tool_calls"), 0) / 3.0 + 8;
	}
	if (tools != NULL)
		t += (double)json_bytes(tools, 0) / 3.0 + 16;
	return (int64_t)t + 3;
}
