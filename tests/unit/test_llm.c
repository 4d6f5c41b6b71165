/*
 * test_llm.c — the model client: SSE parsing (split anywhere), the reply
 * parsers on real llama-server captures, tool calls left in text, argument
 * repair and its limits, and live requests against the scripted mock server
 * (tests/mock/mock_llm.py): retries, Retry-After, refused connections,
 * stream cuts, garbage, timeouts, error events, cancellation, failover and
 * the context-window probe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/llm.h"
#include "agent/llm_internal.h"
#include "common/buf.h"
#include "common/json.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif

/* ---- helpers ---- */

static const char *
srcdir(void)
{
	const char *s = getenv("top_srcdir");

	return s && *s ? s : TEST_SRCDIR;
}

static char *
slurp(const char *rel, size_t *len)
{
	char path[4096];
	FILE *f;
	struct abuf b;
	char tmp[4096];
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	abuf_init(&b, 1 << 24);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(abuf_append(&b, tmp, n), AGENTD_OK);
	fclose(f);
	*len = b.len;
	return abuf_steal(&b);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- SSE ---- */

struct events {
	char *ev[64];
	int n;
};

static int
collect(void *ud, const char *d, size_t n)
{
	struct events *e = ud;

	assert_true(e->n < 64);
	e->ev[e->n++] = strndup(d, n);
	return 0;
}

static void
events_free(struct events *e)
{
	while (e->n > 0)
		free(e->ev[--e->n]);
}

static void
test_sse_lines(void **state)
{
	static const char in[] =
	    ": keep-alive\r\n\r\n"
	    "data: one\r\n\r\n"
	    "event: x\nid: 7\ndata:two\n\n"
	    "data: a\ndata: b\n\n"
	    "data: cr\r\r"
	    "retry: 10\n\n"
	    "data: tail";
	struct llm_sse *s = llm_sse_new(64);
	struct events e = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) - 1; i++)	/* byte by byte */
		assert_int_equal(llm_sse_feed(s, in + i, 1, collect, &e), AGENTD_OK);
	assert_int_equal(e.n, 4);
	assert_string_equal(e.ev[0], "one");
	assert_string_equal(e.ev[1], "two");
	assert_string_equal(e.ev[2], "a\nb");
	assert_string_equal(e.ev[3], "cr");
	events_free(&e);
	/* a line over the cap */
	{
		char big[200];

		memset(big, 'x', sizeof(big));
		assert_int_equal(llm_sse_feed(s, big, sizeof(big), collect, &e), AGENTD_ETOOBIG);
	}
	llm_sse_free(s);
	llm_sse_free(NULL);
}

/* Assemble a streamed body fed in chunks of the given sizes (0 = random). */
struct asm_ctx {
	struct llm_stream *st;
	int rc;
	struct agentd_error err;
};

static int
to_stream(void *ud, const char *d, size_t n)
{
	struct asm_ctx *a = ud;

	a->rc = llm_stream_event(a->st, d, n, NULL, &a->err);
	return a->rc != AGENTD_OK || llm_stream_done(a->st);
}

static int
assemble(const char *body, size_t len, size_t step, struct llm_response *r,
    struct agentd_error *err)
{
	struct asm_ctx a = { llm_stream_new(NULL, 1 << 20), AGENTD_OK, { 0, "" } };
	struct llm_sse *s = llm_sse_new(1 << 16);
	size_t i = 0;
	int rc;

	while (i < len && a.rc == AGENTD_OK) {
		size_t k = step ? step : (size_t)(rand() % 97) + 1;

		if (k > len - i)
			k = len - i;
		assert_int_equal(llm_sse_feed(s, body + i, k, to_stream, &a), AGENTD_OK);
		i += k;
	}
	if (a.rc != AGENTD_OK) {
		*err = a.err;
		rc = a.rc;
	} else {
		rc = llm_stream_finish(a.st, r, err);
	}
	llm_sse_free(s);
	llm_stream_free(a.st);
	return rc;
}

static void
test_stream_fixture_split(void **state)
{
	size_t len, step;
	char *body = slurp("tests/fixtures/llama-server/stream-tool-call.sse", &len);
	struct llm_response whole, r;
	struct agentd_error err;
	json_t *tc, *args;
	int round;

	(void)state;
	assert_int_equal(assemble(body, len, len, &whole, &err), AGENTD_OK);
	assert_int_equal(json_array_size(whole.tool_calls), 1);
	tc = json_array_get(whole.tool_calls, 0);
	assert_string_equal(ajson_str(tc, "id", ""), "L6qgp2XcoqEftpkcKVarX70Ddc9Lw2rk");
	assert_string_equal(ajson_str(tc, "name", ""), "read_file");
	args = llm_parse_arguments(ajson_str(tc, "arguments", ""), NULL, &err);
	assert_non_null(args);
	assert_true(json_is_string(json_object_get(args, "path")));
	json_decref(args);
	assert_string_equal(whole.finish_reason, "tool_calls");
	assert_int_equal(whole.prompt_tokens, 195);
	assert_int_equal(whole.completion_tokens, 40);
	assert_int_equal(whole.cached_tokens, 194);	/* the server's prompt cache */
	assert_null(whole.reasoning);

	for (step = 1; step <= 7; step += 6) {
		assert_int_equal(assemble(body, len, step, &r, &err), AGENTD_OK);
		assert_string_equal(r.content, whole.content);
		assert_true(json_equal(r.tool_calls, whole.tool_calls));
		llm_response_free(&r);
	}
	srand(42);
	for (round = 0; round < 50; round++) {
		assert_int_equal(assemble(body, len, 0, &r, &err), AGENTD_OK);
		assert_true(json_equal(r.tool_calls, whole.tool_calls));
		assert_string_equal(r.content, whole.content);
		llm_response_free(&r);
	}
	/* the same bytes with CRLF line ends */
	{
		struct abuf crlf;
		size_t i;

		abuf_init(&crlf, 1 << 20);
		for (i = 0; i < len; i++)
			abuf_puts(&crlf, body[i] == '\n' ? "\r\n" : (char[]){ body[i], 0 });
		assert_int_equal(assemble(crlf.data, crlf.len, 0, &r, &err), AGENTD_OK);
		assert_true(json_equal(r.tool_calls, whole.tool_calls));
		llm_response_free(&r);
		abuf_free(&crlf);
	}
	/* cut before [DONE] and the finish chunk: an error, not a reply */
	{
		const char *cut = strstr(body, "\"finish_reason\":\"tool_calls\"");

		assert_non_null(cut);
		while (cut > body && cut[-1] != '\n')
			cut--;
		assert_int_equal(assemble(body, (size_t)(cut - body), 0, &r, &err), AGENTD_EPROTO);
		assert_non_null(strstr(err.msg, "stream cut"));
	}
	llm_response_free(&whole);
	free(body);
}

static void
test_nonstream_fixture(void **state)
{
	size_t len;
	char *body = slurp("tests/fixtures/llama-server/nonstream-tool-call.json", &len);
	struct llm_response r;
	struct agentd_error err;
	json_t *tc, *args;

	(void)state;
	/* the capture ends with the status code curl printed: ignored */
	assert_int_equal(llm_parse_response(body, len, &r, &err), AGENTD_OK);
	assert_true(strlen(r.content) > 100);
	tc = json_array_get(r.tool_calls, 0);
	assert_string_equal(ajson_str(tc, "id", ""), "yl9jYPejNEkCdRJfSohWBhD9grcVRqLm");
	args = llm_parse_arguments(ajson_str(tc, "arguments", ""), NULL, &err);
	assert_non_null(args);
	assert_string_equal(ajson_str(args, "path", ""), " gently Grey");
	json_decref(args);
	assert_int_equal(r.prompt_tokens, 195);
	assert_int_equal(r.completion_tokens, 188);
	assert_int_equal(r.cached_tokens, 194);
	assert_string_equal(r.finish_reason, "tool_calls");
	llm_response_free(&r);
	free(body);
	/* an error body, and something that is not JSON */
	assert_int_equal(llm_parse_response("{\"error\":{\"message\":\"boom\"}}", 28, &r, &err),
	    AGENTD_ELLM);
	assert_non_null(strstr(err.msg, "boom"));
	assert_int_equal(llm_parse_response("<html>", 6, &r, &err), AGENTD_EPROTO);
}

static void
test_error_event_fixture(void **state)
{
	size_t len;
	char *raw = slurp("tests/fixtures/llama-server/stream-error-event.http", &len);
	char *body = strstr(raw, "\r\n\r\n");
	struct llm_response r;
	struct agentd_error err;

	(void)state;
	assert_non_null(body);
	body += 4;
	assert_int_equal(assemble(body, len - (size_t)(body - raw), 0, &r, &err), AGENTD_ELLM);
	assert_non_null(strstr(err.msg, "does not match the expected peg-native format"));
	free(raw);
}

/* Stream chunks built by hand: think tags split, Ollama's parallel calls, objects. */
static int
feed_events(const char *const *ev, struct llm_response *r, struct agentd_error *err)
{
	struct llm_stream *s = llm_stream_new(NULL, 1 << 20);
	int rc = AGENTD_OK, i;

	for (i = 0; ev[i] && rc == AGENTD_OK; i++)
		rc = llm_stream_event(s, ev[i], strlen(ev[i]), NULL, err);
	if (rc == AGENTD_OK)
		rc = llm_stream_finish(s, r, err);
	llm_stream_free(s);
	return rc;
}

#define D(x) "{\"choices\":[{\"index\":0,\"delta\":" x "}]}"

static void
test_stream_shapes(void **state)
{
	static const char *const think[] = {
		D("{\"role\":\"assistant\",\"content\":null}"),
		D("{\"content\":\"  <thi\"}"), D("{\"content\":\"nk>plan a</th\"}"),
		D("{\"content\":\"ink>\\n\\nAnswer <b>\"}"),
		"{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}", "[DONE]", NULL
	};
	static const char *const ollama[] = {
		D("{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_a\",\"index\":0,"
		  "\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\":\\\"a\\\"}\"}}]}"),
		D("{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_b\",\"index\":0,"
		  "\"type\":\"function\",\"function\":{\"name\":\"list_dir\",\"arguments\":{\"path\":\".\"}}}]}"),
		"{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}", "[DONE]", NULL
	};
	static const char *const noid[] = {
		D("{\"reasoning_content\":\"hmm\"}"),
		D("{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"git_status\",\"arguments\":\"\"}}]}"),
		D("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}"),
		D("{\"tool_calls\":[{\"index\":1,\"function\":{\"name\":\"git_log\",\"arguments\":\"{}\"}}]}"),
		"{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}",
		/* no [DONE] but a finish reason came? no: this one ends at usage */
		NULL
	};
	static const char *const garbage[] = { D("{\"content\":\"x\"}"), "{not json", NULL };
	struct llm_response r;
	struct agentd_error err;
	json_t *c;
	int retry = 0;

	(void)state;
	assert_int_equal(feed_events(think, &r, &err), AGENTD_OK);
	assert_string_equal(r.reasoning, "plan a");
	assert_string_equal(r.content, "Answer <b>");
	llm_response_free(&r);

	assert_int_equal(feed_events(ollama, &r, &err), AGENTD_OK);
	assert_int_equal(json_array_size(r.tool_calls), 2);
	c = json_array_get(r.tool_calls, 1);
	assert_string_equal(ajson_str(c, "id", ""), "call_b");
	assert_string_equal(ajson_str(c, "name", ""), "list_dir");
	assert_string_equal(ajson_str(c, "arguments", ""), "{\"path\":\".\"}");
	assert_string_equal(ajson_str(json_array_get(r.tool_calls, 0), "arguments", ""),
	    "{\"path\":\"a\"}");
	assert_int_equal(r.prompt_tokens, -1);
	assert_int_equal(r.cached_tokens, -1);
	llm_response_free(&r);

	/* Ollama's own "thinking" field (and vLLM's newer "reasoning") is thinking,
	 * never the answer */
	{
		static const char *const thinking[] = {
			D("{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Let me \"}"),
			D("{\"reasoning\":\"see.\"}"),
			D("{\"content\":\"Four.\"}"),
			"{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
			"[DONE]", NULL
		};
		static const char body[] = "{\"choices\":[{\"message\":{\"role\":\"assistant\","
		    "\"content\":\"Four.\",\"thinking\":\"2+2\"},\"finish_reason\":\"stop\"}]}";

		assert_int_equal(feed_events(thinking, &r, &err), AGENTD_OK);
		assert_string_equal(r.reasoning, "Let me see.");
		assert_string_equal(r.content, "Four.");
		llm_response_free(&r);
		assert_int_equal(llm_parse_response(body, strlen(body), &r, &err), AGENTD_OK);
		assert_string_equal(r.reasoning, "2+2");
		assert_string_equal(r.content, "Four.");
		llm_response_free(&r);
	}

	/* no [DONE] and no finish_reason: cut */
	assert_int_equal(feed_events(noid, &r, &err), AGENTD_EPROTO);
	{
		static const char *const noid_done[] = {
			D("{\"reasoning_content\":\"hmm\"}"),
			D("{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"git_status\",\"arguments\":\"\"}}]}"),
			D("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}"),
			D("{\"tool_calls\":[{\"index\":1,\"function\":{\"name\":\"git_log\",\"arguments\":\"{}\"}}]}"),
			"{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}",
			"[DONE]", NULL
		};

		assert_int_equal(feed_events(noid_done, &r, &err), AGENTD_OK);
		assert_int_equal(json_array_size(r.tool_calls), 2);
		assert_string_equal(ajson_str(json_array_get(r.tool_calls, 0), "id", ""), "call_1");
		assert_string_equal(ajson_str(json_array_get(r.tool_calls, 0), "arguments", ""), "{}");
		assert_string_equal(ajson_str(json_array_get(r.tool_calls, 1), "id", ""), "call_2");
		assert_string_equal(r.reasoning, "hmm");
		assert_int_equal(r.prompt_tokens, 5);
		assert_null(r.finish_reason);
		llm_response_free(&r);
	}
	{
		struct llm_stream *s = llm_stream_new(NULL, 0);

		assert_int_equal(llm_stream_event(s, garbage[0], strlen(garbage[0]), &retry, &err),
		    AGENTD_OK);
		assert_int_equal(llm_stream_event(s, garbage[1], strlen(garbage[1]), &retry, &err),
		    AGENTD_EPROTO);
		assert_int_equal(retry, 1);
		assert_non_null(strstr(err.msg, "not a JSON object"));
		llm_stream_free(s);
	}
	/* the size cap holds */
	{
		struct llm_stream *s = llm_stream_new(NULL, 8);
		const char *big = D("{\"content\":\"0123456789\"}");

		assert_int_equal(llm_stream_event(s, big, strlen(big), NULL, &err), AGENTD_ELLM);
		assert_non_null(strstr(err.msg, "larger than"));
		llm_stream_free(s);
	}
}

/* ---- tool calls in text ---- */

struct text_case {
	const char *text;
	int ncalls;
	const char *name0;
	const char *args0;	/* canonical compact JSON of the parsed arguments */
	const char *rest;
};

static void
check_text(const struct text_case *t)
{
	char *rest = NULL;
	json_t *calls = llm_extract_text_calls(t->text, &rest);

	assert_non_null(calls);
	if ((int)json_array_size(calls) != t->ncalls)
		fail_msg("%s: %zu calls, want %d", t->text, json_array_size(calls), t->ncalls);
	if (t->ncalls > 0) {
		json_t *c = json_array_get(calls, 0);
		struct agentd_error err;
		json_t *a = llm_parse_arguments(ajson_str(c, "arguments", ""), NULL, &err);
		char *s;

		assert_string_equal(ajson_str(c, "id", ""), "text_1");
		assert_string_equal(ajson_str(c, "name", ""), t->name0);
		assert_non_null(a);
		s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
		assert_string_equal(s, t->args0);
		free(s);
		json_decref(a);
	}
	if (t->rest)
		assert_string_equal(rest, t->rest);
	free(rest);
	json_decref(calls);
}

static void
test_text_calls(void **state)
{
	static const struct text_case cases[] = {
		{ "<tool_call>\n{\"name\":\"read_file\",\"arguments\":{\"path\":\"README.md\"}}\n</tool_call>",
		  1, "read_file", "{\"path\":\"README.md\"}", "" },
		{ "<think>I should look</think>\nSure.\n<tool_call>\n{\"name\": \"list_dir\", \"arguments\": {}}\n"
		  "</tool_call>\n<tool_call>\n{\"name\": \"git_status\", \"arguments\": {}}\n</tool_call>",
		  2, "list_dir", "{}", "Sure." },
		{ "<tool_call>\n{\"name\":\"shell\",\"arguments\":{\"command\":\"ls\"}}",	/* no close */
		  1, "shell", "{\"command\":\"ls\"}", "" },
		{ "<tool_call>{\"name\":\"shell\",\"arguments\":{\"command\":\"ls\"}",	/* cut brace */
		  1, "shell", "{\"command\":\"ls\"}", "" },
		{ "[TOOL_CALLS][{\"name\":\"shell\",\"arguments\":{\"command\":\"ls -la\"},\"id\":\"a1B2c3D4e\"},"
		  "{\"name\":\"git_status\",\"arguments\":{}}]</s>",
		  2, "shell", "{\"command\":\"ls -la\"}", "" },
		{ "[TOOL_CALLS]shell[ARGS]{\"command\":\"ls\"}", 1, "shell", "{\"command\":\"ls\"}", "" },
		{ "[TOOL_CALLS]read_file[ARGS]{\"path\":\"a\"}[TOOL_CALLS]read_file[ARGS]{\"path\":\"b\"}",
		  2, "read_file", "{\"path\":\"a\"}", "" },
		{ "<|python_tag|>{\"name\":\"shell\",\"parameters\":{\"command\":\"git status\"}}<|eom_id|>",
		  1, "shell", "{\"command\":\"git status\"}", "" },
		{ "{\"name\": \"shell\", \"parameters\": {\"command\": \"git status\"}}<|eot_id|>",
		  1, "shell", "{\"command\":\"git status\"}", "" },
		{ "  {\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\":\\\"x\\\"}\"}  ",
		  1, "read_file", "{\"path\":\"x\"}", "" },
		{ "I'll write the notes.\n```json\n{\"name\":\"write_file\",\"arguments\":{\"path\":\"NOTES.md\","
		  "\"content\":\"hi\\n\"}}\n```\nDone soon.",
		  1, "write_file", "{\"content\":\"hi\\n\",\"path\":\"NOTES.md\"}",
		  "I'll write the notes.\n\nDone soon." },
		{ "```\n[{\"name\":\"a\",\"arguments\":{}},{\"name\":\"b\",\"arguments\":{\"x\":1}}]\n```",
		  2, "a", "{}", "" },
		{ "{\"type\":\"function\",\"function\":{\"name\":\"git_log\",\"arguments\":{\"max\":3}}}",
		  1, "git_log", "{\"max\":3}", "" },
		/* prose and JSON of other shapes are left alone */
		{ "The config is {\"name\": \"x\", \"version\": 2}.", 0, NULL, NULL,
		  "The config is {\"name\": \"x\", \"version\": 2}." },
		{ "{\"name\": \"agentd\", \"version\": \"1.0\"}", 0, NULL, NULL, NULL },
		{ "Here:\n```json\n{\"steps\": [1, 2]}\n```", 0, NULL, NULL, NULL },
		{ "```python\nprint({\"name\":\"x\",\"arguments\":{}})\n```", 0, NULL, NULL, NULL },
		{ "Plain answer.", 0, NULL, NULL, "Plain answer." },
		{ "", 0, NULL, NULL, "" },
		{ "<tool_call>not json</tool_call>", 0, NULL, NULL, "<tool_call>not json</tool_call>" },
	};
	char *rest = NULL;
	json_t *c;
	struct agentd_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_text(&cases[i]);
	c = llm_extract_text_calls(NULL, NULL);
	assert_int_equal(json_array_size(c), 0);
	json_decref(c);
	/* explicit markup with broken JSON: the call is kept with its raw
	 * arguments, so the model hears exactly what is wrong */
	c = llm_extract_text_calls("<tool_call>\n{\"name\": \"read_file\", \"arguments\": "
	    "{'path': 'README.md'}}\n</tool_call>", &rest);
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(ajson_str(json_array_get(c, 0), "name", ""), "read_file");
	assert_string_equal(ajson_str(json_array_get(c, 0), "arguments", ""), "{'path': 'README.md'}");
	assert_null(llm_parse_arguments(ajson_str(json_array_get(c, 0), "arguments", ""), NULL, &err));
	assert_non_null(strstr(err.msg, "double quotes"));
	assert_string_equal(rest, "");
	free(rest);
	json_decref(c);
}

/* ---- argument repair ---- */

static void
check_args(const char *in, const char *want, int want_repaired)
{
	struct agentd_error err;
	int repaired = -1;
	json_t *v = llm_parse_arguments(in, &repaired, &err);
	char *s;

	if (v == NULL)
		fail_msg("%s: %s", in, err.msg);
	s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, want);
	assert_int_equal(repaired, want_repaired);
	free(s);
	json_decref(v);
}

static void
check_refused(const char *in, const char *needle)
{
	struct agentd_error err;
	int repaired = -1;
	json_t *v = llm_parse_arguments(in, &repaired, &err);

	if (v != NULL)
		fail_msg("%s was accepted", in);
	assert_int_equal(err.code, AGENTD_EINVAL);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", in, err.msg, needle);
	assert_int_equal(repaired, -1);	/* untouched on failure */
}

static void
test_arguments(void **state)
{
	(void)state;
	check_args("{\"path\": \"README.md\"}", "{\"path\":\"README.md\"}", 0);
	check_args("  ", "{}", 0);
	check_args("\"{\\\"path\\\":\\\"a\\\"}\"", "{\"path\":\"a\"}", 1);	/* double-encoded */
	check_args("{\"a\": 1, \"b\": [1, 2,],}", "{\"a\":1,\"b\":[1,2]}", 1);
	check_args("{\"a\": {\"b\": 1", "{\"a\":{\"b\":1}}", 1);	/* two braces cut */
	check_args("{\"path\": \"x\"", "{\"path\":\"x\"}", 1);
	check_args("{\"l\": [1, 2", "{\"l\":[1,2]}", 1);
	check_args("{\"a\": 1,", "{\"a\":1}", 1);
	check_args("{\"content\": \"line1\nline2\ttab\r\"}",
	    "{\"content\":\"line1\\nline2\\ttab\\r\"}", 1);
	check_args("{\"s\": \"it's fine\"}", "{\"s\":\"it's fine\"}", 0);
	/* riskier slips are refused, with a message a small model can use */
	check_refused("{'path': 'README.md'}", "double quotes");
	check_refused("{\"path\": \"READ", "not valid JSON");	/* cut inside a string */
	check_refused("{\"path\":", "not valid JSON");
	check_refused("[1, 2]", "must be a JSON object");
	check_refused("\"just text\"", "not valid JSON");
	check_refused("42", "must be a JSON object");
	check_refused("{\"a\": 1]", "position");
	check_refused("path=README.md", "{\"path\":\"README.md\"}");
	check_refused(NULL, "missing");
}

static void
test_http_error_text(void **state)
{
	static const char ctx[] = "{\"error\":{\"code\":400,\"message\":\"the request exceeds the "
	    "available context size\",\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":5031,"
	    "\"n_ctx\":4096}}";
	char buf[512];

	(void)state;
	llm_http_error_text(400, NULL, ctx, strlen(ctx), buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP 400: the request exceeds"));
	assert_non_null(strstr(buf, "5031"));
	assert_non_null(strstr(buf, "4096"));
	{
		const char *e500 = "{\"error\":{\"code\":500,\"message\":\"The model produced "
		    "output that does not match\"}}";

		llm_http_error_text(500, NULL, e500, strlen(e500), buf, sizeof(buf));
	}
	assert_string_equal(buf, "HTTP 500: The model produced output that does not match");
	llm_http_error_text(404, NULL, "{\"error\":\"model 'x' not found\"}", 31, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP 404: model 'x' not found");
	llm_http_error_text(400, NULL, "{\"object\":\"error\",\"message\":\"tool_choice auto needs "
	    "--enable-auto-tool-choice\"}", 78, buf, sizeof(buf));
	assert_non_null(strstr(buf, "--enable-auto-tool-choice"));
	llm_http_error_text(502, NULL, "<html>\nbad gateway</html>", 25, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP 502: an HTML page, not the API: \"bad gateway\"");
	llm_http_error_text(503, NULL, NULL, 0, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP 503");
}

/* An HTML page where the API was expected: the URL, the status, the page's
 * text without markup, and what to check. */
static void
test_http_error_html(void **state)
{
	static const char page[] = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
	    "charset=\"utf-8\">\n<title>Error</title>\n<style>body{color:red}</style>\n</head>\n"
	    "<body>\n<script>var x = 1 < 2;</script><pre>Cannot POST /chat/completions</pre>\n"
	    "<p>&lt;a&gt; &amp; b</p></body>\n</html>\n";
	static const char only_title[] = "<html><head><title>404 Not Found</title></head>"
	    "<body></body></html>";
	char buf[1024], big[4000];
	size_t i;

	(void)state;
	assert_true(llm_is_html(page, strlen(page)));
	assert_false(llm_is_html("{\"error\":1}", 11));
	assert_false(llm_is_html("x < y", 5));
	llm_http_error_text(404, "http://127.0.0.1:8080/chat/completions", page, strlen(page),
	    buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP 404 from http://127.0.0.1:8080/chat/completions"));
	assert_non_null(strstr(buf, "\"Cannot POST /chat/completions <a> & b\""));
	assert_non_null(strstr(buf, "usually ends in /v1"));
	assert_null(strstr(buf, "DOCTYPE"));
	assert_null(strstr(buf, "color"));
	assert_null(strstr(buf, "var x"));
	/* the base URL has /v1 already: no "ends in /v1", still the base URL */
	llm_http_error_text(200, "http://h/v1/chat/completions", page, strlen(page), buf,
	    sizeof(buf));
	assert_non_null(strstr(buf, "HTTP 200 from http://h/v1/chat/completions: an HTML page"));
	assert_non_null(strstr(buf, "check the base URL"));
	llm_http_error_text(404, "http://h/v1/chat/completions", only_title, strlen(only_title),
	    buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"404 Not Found\""));
	/* llama-server's own 404 for a wrong path names the fix too; a model not
	 * found does not */
	llm_http_error_text(404, "http://h/chat/completions", "{\"error\":{\"code\":404,"
	    "\"message\":\"File Not Found\",\"type\":\"not_found_error\"}}", 77, buf, sizeof(buf));
	assert_non_null(strstr(buf, "ends in /v1"));
	llm_http_error_text(404, "http://h/v1/chat/completions", "{\"error\":\"model 'x' not "
	    "found\"}", 31, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP 404 from http://h/v1/chat/completions: model 'x' not found");
	/* a long page: a short excerpt */
	memcpy(big, "<html><body>", 12);
	for (i = 12; i < sizeof(big) - 1; i++)
		big[i] = 'a' + (char)(i % 26);
	big[sizeof(big) - 1] = '\0';
	llm_http_error_text(500, "http://h/v1/chat/completions", big, strlen(big), buf,
	    sizeof(buf));
	assert_true(strlen(buf) < 400);
	assert_non_null(strstr(buf, "...\""));
}

/* The captures of a context error and of a reply cut by max_tokens. */
static void
test_context_and_length_fixtures(void **state)
{
	size_t len;
	char *body = slurp("tests/fixtures/llama-server/stream-context-exceeded.sse", &len);
	struct llm_stream *st = llm_stream_new(NULL, 1 << 20);
	struct llm_overflow ov = { 7, 7 };
	struct llm_response r;
	struct agentd_error err;
	char *nl = strchr(body, '\n');
	int retry = 1;
	static const char e400[] = "{\"error\":{\"code\":400,\"message\":\"the request exceeds "
	    "the available context size, try increasing it\",\"type\":\"exceed_context_size_error\","
	    "\"n_prompt_tokens\":5031,\"n_ctx\":4096}}";
	static const char vllm[] = "{\"object\":\"error\",\"message\":\"This model's maximum "
	    "context length is 4096 tokens. However, you requested 5031 tokens (4031 in the "
	    "messages, 1000 in the completion). Please reduce the length of the messages or "
	    "completion.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}";

	(void)state;
	/* a full shared KV cache: not retried blindly, the window is smaller */
	assert_non_null(nl);
	assert_int_equal(llm_stream_event(st, body + 6, (size_t)(nl - body) - 6, &retry, &err),
	    AGENTD_ECONTEXT);
	assert_false(retry);
	assert_non_null(strstr(err.msg, "Context size has been exceeded"));
	llm_stream_overflow(st, &ov);
	assert_int_equal(ov.n_prompt_tokens, -1);
	assert_int_equal(ov.n_ctx, -1);
	llm_stream_free(st);
	assert_int_equal(assemble(body, len, 0, &r, &err), AGENTD_ECONTEXT);
	free(body);
	/* not streamed: the same as HTTP 500, and llama-server's 400 with numbers */
	{
		static const char e500[] = "{\"error\":{\"code\":500,\"message\":\"Context size "
		    "has been exceeded.\",\"type\":\"server_error\"}}";

		assert_int_equal(llm_parse_response(e500, strlen(e500), &r, &err), AGENTD_ECONTEXT);
	}
	assert_true(llm_error_is_context(e400, strlen(e400), &ov));
	assert_int_equal(ov.n_prompt_tokens, 5031);
	assert_int_equal(ov.n_ctx, 4096);
	assert_true(llm_error_is_context(vllm, strlen(vllm), &ov));
	assert_int_equal(ov.n_prompt_tokens, 5031);
	assert_int_equal(ov.n_ctx, 4096);
	assert_false(llm_error_is_context("{\"error\":{\"message\":\"Loading model\"}}", 38, &ov));
	assert_false(llm_error_is_context("<html>", 6, &ov));

	/* max_tokens hit inside a <tool_call>: nothing but the finish reason */
	body = slurp("tests/fixtures/llama-server/stream-length-cut.sse", &len);
	assert_int_equal(assemble(body, len, 0, &r, &err), AGENTD_OK);
	assert_string_equal(r.finish_reason, "length");
	assert_string_equal(r.content, "");
	assert_int_equal(json_array_size(r.tool_calls), 0);
	assert_int_equal(r.completion_tokens, 12);
	assert_int_equal(r.prompt_tokens, 2237);
	llm_response_free(&r);
	free(body);
}

static void
test_request_body(void **state)
{
	struct llm_config c;
	json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");
	json_t *tools = json_pack("[{s:s,s:{s:s}}]", "type", "function", "function", "name", "x");
	struct llm_request req = { msgs, tools, NULL, NULL };
	json_t *b;

	(void)state;
	llm_config_init(&c);
	assert_int_equal(llm_config_add_endpoint(&c, "http://127.0.0.1:1/v1", "m", NULL), AGENTD_OK);
	b = llm_request_body(&c, &c.endpoints[0], &req);
	assert_string_equal(ajson_str(b, "model", ""), "m");
	assert_string_equal(ajson_str(b, "tool_choice", ""), "auto");
	assert_true(json_is_true(json_object_get(b, "parallel_tool_calls")));
	assert_true(json_is_true(json_object_get(b, "stream")));
	assert_true(json_is_true(json_object_get(json_object_get(b, "stream_options"), "include_usage")));
	assert_null(json_object_get(b, "temperature"));
	assert_null(json_object_get(b, "max_tokens"));
	assert_null(json_object_get(b, "chat_template_kwargs"));
	assert_null(json_object_get(b, "thinking_budget_tokens"));
	json_decref(b);
	/* reasoning: the endpoint's template arguments, a budget, thinking off */
	{
		json_t *kw = json_pack("{s:b, s:s}", "enable_thinking", 1, "x", "y");
		struct llm_config d;

		assert_int_equal(llm_config_set_template_kwargs(&c, 1, kw), AGENTD_EINVAL);
		assert_int_equal(llm_config_set_template_kwargs(&c, 0, msgs), AGENTD_EINVAL);
		assert_int_equal(llm_config_set_template_kwargs(&c, 0, kw), AGENTD_OK);
		c.reasoning_budget = 512;
		b = llm_request_body(&c, &c.endpoints[0], &req);
		assert_true(json_equal(json_object_get(b, "chat_template_kwargs"), kw));
		assert_int_equal(ajson_int(b, "thinking_budget_tokens", 0), 512);
		json_decref(b);
		c.reasoning_budget = 0;	/* off: but the endpoint's own setting wins */
		assert_int_equal(llm_config_copy(&d, &c), AGENTD_OK);
		b = llm_request_body(&d, &d.endpoints[0], &req);
		assert_true(json_is_true(json_object_get(json_object_get(b, "chat_template_kwargs"),
		    "enable_thinking")));
		assert_int_equal(ajson_int(b, "thinking_budget_tokens", 7), 0);
		json_decref(b);
		llm_config_free(&d);
		assert_int_equal(llm_config_set_template_kwargs(&c, 0, NULL), AGENTD_OK);
		b = llm_request_body(&c, &c.endpoints[0], &req);
		assert_true(json_is_false(json_object_get(json_object_get(b, "chat_template_kwargs"),
		    "enable_thinking")));
		json_decref(b);
		c.reasoning_budget = -1;
		json_decref(kw);
	}
	c.stream = 0;
	c.temperature = 0.2;
	c.max_tokens = 100;
	req.tools = NULL;
	b = llm_request_body(&c, &c.endpoints[0], &req);
	assert_null(json_object_get(b, "stream_options"));
	assert_null(json_object_get(b, "tools"));
	assert_null(json_object_get(b, "tool_choice"));
	assert_int_equal(ajson_int(b, "max_tokens", 0), 100);
	assert_true(json_is_real(json_object_get(b, "temperature")));
	json_decref(b);
	{
		struct llm_config d;

		assert_int_equal(llm_config_copy(&d, &c), AGENTD_OK);
		assert_string_equal(d.endpoints[0].url, c.endpoints[0].url);
		assert_ptr_not_equal(d.endpoints[0].url, c.endpoints[0].url);
		llm_config_free(&d);
	}
	assert_true(llm_estimate_tokens(msgs, tools) > 0);
	{
		json_t *more = json_deep_copy(msgs);
		char big[4000];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		json_array_append_new(more, json_pack("{s:s,s:s}", "role", "user", "content", big));
		assert_true(llm_estimate_tokens(more, NULL) > 1000);
		json_decref(more);
	}
	assert_int_equal(llm_config_add_endpoint(&c, "", NULL, NULL), AGENTD_EINVAL);
	llm_config_free(&c);
	llm_config_free(NULL);
	llm_response_free(NULL);
	json_decref(msgs);
	json_decref(tools);
}

/* Random slices and mutations of real inputs: no crash, no leak, caps hold. */
static void
test_fuzz_parsers(void **state)
{
	static const char *const seeds[] = {
		"<tool_call>\n{\"name\":\"read_file\",\"arguments\":{\"path\":\"a\"}}\n</tool_call>",
		"[TOOL_CALLS][{\"name\":\"shell\",\"arguments\":{\"command\":\"ls\"}}]",
		"[TOOL_CALLS]shell[ARGS]{\"command\":\"ls\"}",
		"<|python_tag|>{\"name\":\"x\",\"parameters\":{\"a\":[1,{\"b\":\"c\"}]}}<|eom_id|>",
		"Text\n```json\n[{\"name\":\"a\",\"arguments\":{}}]\n```",
		"<think>t</think>{\"name\":\"a\",\"arguments\":\"{\\\"k\\\":1}\"}",
	};
	static const char alphabet[] = "{}[]\":,\\ \n\tab<>|/_'`";
	size_t flen;
	char *fx = slurp("tests/fixtures/llama-server/stream-tool-call.sse", &flen);
	char buf[600];
	int i;

	(void)state;
	srand(7);
	for (i = 0; i < 4000; i++) {
		const char *seed = seeds[i % 6];
		size_t n = strlen(seed), k, m;
		struct agentd_error err;
		char *rest = NULL;
		json_t *v;

		memcpy(buf, seed, n + 1);
		for (m = (size_t)(rand() % 4); m > 0; m--) {	/* mutate */
			k = (size_t)rand() % n;
			buf[k] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		}
		buf[(size_t)rand() % (n + 1)] = '\0';		/* and cut */
		v = llm_extract_text_calls(buf, &rest);
		assert_non_null(v);
		assert_non_null(rest);
		json_decref(v);
		free(rest);
		json_decref(llm_parse_arguments(buf, NULL, &err));
	}
	for (i = 0; i < 300; i++) {	/* the fixture, mutated, through the stream parser */
		struct llm_stream *st = llm_stream_new(NULL, 4096);
		struct llm_sse *s = llm_sse_new(512);
		struct asm_ctx a = { st, AGENTD_OK, { 0, "" } };
		char *copy = malloc(flen);
		struct llm_response r;
		struct agentd_error err;
		int m;

		memcpy(copy, fx, flen);
		for (m = 0; m < 8; m++)
			copy[(size_t)rand() % flen] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		llm_sse_feed(s, copy, (size_t)rand() % (flen + 1), to_stream, &a);
		if (llm_stream_finish(st, &r, &err) == AGENTD_OK)
			llm_response_free(&r);
		free(copy);
		llm_sse_free(s);
		llm_stream_free(st);
	}
	free(fx);
}

/* ---- live tests against the mock server ---- */

struct mock {
	pid_t pid;
	int port;
	char dir[64];
	char url[128];
};

static int
have_python(const char **py)
{
	const char *p = getenv("PYTHON3");
	const char *path = getenv("PATH");
	char buf[4096];

	*py = p && *p ? p : "python3";
	if (strchr(*py, '/'))
		return access(*py, X_OK) == 0;
	while (path && *path) {
		const char *e = strchr(path, ':');
		size_t n = e ? (size_t)(e - path) : strlen(path);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, *py);
		if (access(buf, X_OK) == 0)
			return 1;
		path = e ? e + 1 : NULL;
	}
	return 0;
}

static pid_t leftover;

/* Start the mock with this scenario; 0 when python3 is missing (skip). */
static int
mock_start(struct mock *m, const char *scenario)
{
	char sc[128], pf[128], script[4096], buf[32];
	const char *py;
	FILE *f;
	int i;

	if (!have_python(&py)) {
		print_message("python3 not found: skipping the live tests\n");
		return 0;
	}
	strcpy(m->dir, "/tmp/test_llm.XXXXXX");
	assert_non_null(mkdtemp(m->dir));
	snprintf(sc, sizeof(sc), "%s/scenario.json", m->dir);
	snprintf(pf, sizeof(pf), "%s/port", m->dir);
	snprintf(script, sizeof(script), "%s/tests/mock/mock_llm.py", srcdir());
	f = fopen(sc, "w");
	assert_non_null(f);
	fputs(scenario, f);
	fclose(f);
	if (leftover > 0) {	/* from a test that failed before its teardown */
		kill(leftover, SIGTERM);
		waitpid(leftover, NULL, 0);
	}
	m->pid = fork();
	assert_true(m->pid >= 0);
	if (m->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execlp(py, py, script, "--scenario", sc, "--port", "0", "--port-file", pf,
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {	/* up to 10 s for python to start */
		int st;

		if ((f = fopen(pf, "r")) != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL)
				m->port = atoi(buf);
			fclose(f);
			if (m->port > 0)
				break;
		}
		if (waitpid(m->pid, &st, WNOHANG) == m->pid)
			fail_msg("the mock server exited (status %d)", st);
		usleep(50000);
	}
	assert_true(m->port > 0);
	leftover = m->pid;
	snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d/v1", m->port);
	return 1;
}

static void
mock_stop(struct mock *m)
{
	char cmd[128];
	int st;

	kill(m->pid, SIGTERM);
	waitpid(m->pid, &st, 0);
	leftover = 0;
	snprintf(cmd, sizeof(cmd), "%s/scenario.json", m->dir);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s/port", m->dir);
	unlink(cmd);
	rmdir(m->dir);
}

static size_t
get_write(char *p, size_t s, size_t n, void *ud)
{
	abuf_append(ud, p, s * n);
	return s * n;
}

/* GET a mock control endpoint as JSON. */
static json_t *
mock_get(const struct mock *m, const char *path)
{
	char url[256];
	struct abuf b;
	CURL *h = curl_easy_init();
	json_t *v;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", m->port, path);
	abuf_init(&b, 1 << 24);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, get_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_cleanup(h);
	v = json_loadb(b.data, b.len, 0, NULL);
	abuf_free(&b);
	assert_non_null(v);
	return v;
}

/* A port nobody listens on. */
static int
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

struct probe {
	struct abuf text;
	struct abuf reasoning;
	int retries;
	long last_delay;
	char last_reason[1100];
	double cancel_after;	/* seconds from start; 0 = never */
	double start;
};

static void
p_delta(void *ud, const char *kind, const char *s, size_t n)
{
	struct probe *p = ud;

	abuf_append(strcmp(kind, "text") == 0 ? &p->text : &p->reasoning, s, n);
}

static void
p_retry(void *ud, int attempt, long delay_ms, const char *reason)
{
	struct probe *p = ud;

	(void)attempt;
	p->retries++;
	p->last_delay = delay_ms;
	snprintf(p->last_reason, sizeof(p->last_reason), "%s", reason);
}

static int
p_cancelled(void *ud)
{
	struct probe *p = ud;

	return p->cancel_after > 0 && mono() - p->start > p->cancel_after;
}

struct live {
	struct mock m;
	struct llm_config c;
	struct probe p;
	struct llm_callbacks cb;
	json_t *msgs;
	json_t *tools;
	struct llm_request req;
};

static int
live_setup(struct live *l, const char *scenario, int stream)
{
	memset(l, 0, sizeof(*l));
	if (!mock_start(&l->m, scenario))
		return 0;
	llm_config_init(&l->c);
	l->c.stream = stream;
	l->c.backoff_base_ms = 10;
	l->c.backoff_max_ms = 3000;
	l->c.max_retries = 3;
	l->c.connect_timeout_ms = 2000;
	l->c.idle_timeout_ms = 10000;
	assert_int_equal(llm_config_add_endpoint(&l->c, l->m.url, "qwen", "sk-secret-key"),
	    AGENTD_OK);
	abuf_init(&l->p.text, 1 << 20);
	abuf_init(&l->p.reasoning, 1 << 20);
	l->p.start = mono();
	l->cb.delta = p_delta;
	l->cb.retry = p_retry;
	l->cb.cancelled = p_cancelled;
	l->cb.ud = &l->p;
	l->msgs = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "be brief",
	    "role", "user", "content", "read the readme");
	l->tools = json_pack("[{s:s,s:{s:s,s:s,s:{s:s}}}]", "type", "function", "function",
	    "name", "read_file", "description", "read a file", "parameters", "type", "object");
	l->req.messages = l->msgs;
	l->req.tools = l->tools;
	return 1;
}

static void
live_teardown(struct live *l)
{
	mock_stop(&l->m);
	llm_config_free(&l->c);
	abuf_free(&l->p.text);
	abuf_free(&l->p.reasoning);
	json_decref(l->msgs);
	json_decref(l->tools);
}

#define SC_READ(faults) \
	"{\"n_ctx\":8192,\"flavor\":\"llama\",\"turns\":[{\"content\":\"Reading it now.\"," \
	"\"reasoning\":\"The user wants the readme.\",\"tool_calls\":[{\"name\":\"read_file\"," \
	"\"arguments\":{\"path\":\"README.md\"}},{\"name\":\"read_file\",\"arguments\":" \
	"{\"path\":\"docs/a b.md\",\"limit\":20}}],\"faults\":" faults "}]}"

static void
check_read_reply(const struct llm_response *r)
{
	json_t *c0 = json_array_get(r->tool_calls, 0), *c1 = json_array_get(r->tool_calls, 1);
	struct agentd_error err;
	json_t *a;

	assert_string_equal(r->content, "Reading it now.");
	assert_string_equal(r->reasoning, "The user wants the readme.");
	assert_int_equal(json_array_size(r->tool_calls), 2);
	assert_string_equal(ajson_str(c0, "name", ""), "read_file");
	assert_int_equal(strlen(ajson_str(c0, "id", "")), 32);
	assert_string_not_equal(ajson_str(c0, "id", ""), ajson_str(c1, "id", ""));
	a = llm_parse_arguments(ajson_str(c1, "arguments", ""), NULL, &err);
	assert_non_null(a);
	assert_string_equal(ajson_str(a, "path", ""), "docs/a b.md");
	assert_int_equal(ajson_int(a, "limit", 0), 20);
	json_decref(a);
	assert_string_equal(r->finish_reason, "tool_calls");
	assert_true(r->prompt_tokens > 0);
	assert_true(r->completion_tokens > 0);
}

static void
test_live_stream_and_plain(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	json_t *log, *body;
	int stream;

	(void)state;
	for (stream = 1; stream >= 0; stream--) {
		if (!live_setup(&l, SC_READ("[]"), stream))
			skip();
		assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
		check_read_reply(&r);
		assert_string_equal(r.endpoint, l.m.url);
		if (stream) {
			assert_string_equal(l.p.text.data, "Reading it now.");
			assert_string_equal(l.p.reasoning.data, "The user wants the readme.");
		} else {
			assert_null(l.p.text.data);
		}
		assert_int_equal(l.p.retries, 0);
		log = mock_get(&l.m, "/_log");
		assert_int_equal(json_array_size(log), 1);
		assert_int_equal(ajson_int(json_array_get(log, 0), "status", 0), 200);
		assert_string_equal(ajson_str(json_array_get(log, 0), "authorization", ""),
		    "Bearer sk-secret-key");
		body = json_object_get(json_array_get(log, 0), "body");
		assert_int_equal(ajson_bool(body, "stream", -1), stream);
		assert_string_equal(ajson_str(body, "model", ""), "qwen");
		assert_string_equal(ajson_str(body, "tool_choice", ""), "auto");
		json_decref(log);
		llm_response_free(&r);
		live_teardown(&l);
	}
}

static void
test_live_flavors(void **state)
{
	static const char *const sc[] = {
		"{\"flavor\":\"ollama\",\"turns\":[{\"content\":\"\",\"reasoning\":\"r\",\"tool_calls\":["
		"{\"name\":\"list_dir\",\"arguments\":{}},{\"name\":\"git_status\",\"arguments\":{}}]}]}",
		"{\"flavor\":\"vllm\",\"turns\":[{\"content\":\"\",\"reasoning\":\"r\",\"tool_calls\":["
		"{\"name\":\"list_dir\",\"arguments\":{}},{\"name\":\"git_status\",\"arguments\":{}}]}]}",
		"{\"flavor\":\"llama\",\"turns\":[{\"content\":\"ok\",\"reasoning\":\"r\","
		"\"think_in_content\":true}]}",
	};
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	size_t i;
	int stream;

	(void)state;
	for (i = 0; i < 3; i++)
		for (stream = 0; stream <= 1; stream++) {
			if (!live_setup(&l, sc[i], stream))
				skip();
			assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
			assert_string_equal(r.reasoning, "r");
			if (i < 2) {
				assert_int_equal(json_array_size(r.tool_calls), 2);
				assert_string_equal(ajson_str(json_array_get(r.tool_calls, 1), "name", ""),
				    "git_status");
				assert_string_equal(ajson_str(json_array_get(r.tool_calls, 0), "arguments",
				    ""), "{}");
				assert_string_equal(r.content, "");
			} else {
				assert_string_equal(r.content, "ok");
			}
			llm_response_free(&r);
			live_teardown(&l);
		}
}

static void
test_live_retry_500_then_ok(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;

	(void)state;
	if (!live_setup(&l, SC_READ("[\"500\",\"503\"]"), 1))
		skip();
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
	check_read_reply(&r);
	assert_int_equal(l.p.retries, 2);
	assert_non_null(strstr(l.p.last_reason, "HTTP 503 from "));
	assert_non_null(strstr(l.p.last_reason, "/v1/chat/completions: Loading model"));
	llm_response_free(&r);
	live_teardown(&l);
}

static void
test_live_429_retry_after(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;

	(void)state;
	if (!live_setup(&l, SC_READ("[\"429:1\"]"), 0))
		skip();
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
	assert_int_equal(l.p.retries, 1);
	assert_int_equal(l.p.last_delay, 1000);		/* the server's Retry-After */
	assert_non_null(strstr(l.p.last_reason, "HTTP 429"));
	llm_response_free(&r);
	live_teardown(&l);
	/* Retry-After is capped by backoff_max_ms */
	if (!live_setup(&l, SC_READ("[\"429:60\"]"), 0))
		skip();
	l.c.backoff_max_ms = 200;
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
	assert_int_equal(l.p.last_delay, 200);
	llm_response_free(&r);
	live_teardown(&l);
}

/* What cannot succeed by asking again is not retried: a prompt over the
 * window (said in a stream, as HTTP 500 or as 400) and an HTML page. */
static void
test_live_context_and_html(void **state)
{
	static const char *const html[] = { "404", "200" };
	struct llm_overflow ov;
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	size_t i;
	int stream;

	(void)state;
	for (stream = 0; stream <= 1; stream++) {
		/* slots share a full KV cache */
		if (!live_setup(&l, "{\"kv_free\":10,\"turns\":[{\"content\":\"x\"}]}", stream))
			skip();
		ov.n_ctx = ov.n_prompt_tokens = 0;
		l.req.overflow = &ov;
		assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ECONTEXT);
		assert_int_equal(l.p.retries, 0);
		assert_non_null(strstr(err.msg, "Context size has been exceeded"));
		assert_int_equal(ov.n_ctx, -1);
		live_teardown(&l);
		/* over n_ctx: the server's numbers */
		if (!live_setup(&l, "{\"n_ctx\":20,\"turns\":[{\"content\":\"x\"}]}", stream))
			skip();
		l.req.overflow = &ov;
		assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ECONTEXT);
		assert_int_equal(l.p.retries, 0);
		assert_int_equal(ov.n_ctx, 20);
		assert_true(ov.n_prompt_tokens > 20);
		assert_non_null(strstr(err.msg, "HTTP 400 from "));
		live_teardown(&l);
		for (i = 0; i < 2; i++) {
			char sc[256];

			snprintf(sc, sizeof(sc), "{\"turns\":[{\"content\":\"x\",\"faults\":"
			    "[\"html:%s\",\"html:%s\"]}]}", html[i], html[i]);
			if (!live_setup(&l, sc, stream))
				skip();
			assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ELLM);
			assert_int_equal(l.p.retries, 0);
			assert_non_null(strstr(err.msg, "/v1/chat/completions: an HTML page"));
			assert_non_null(strstr(err.msg, html[i]));
			assert_non_null(strstr(err.msg, "Cannot POST"));
			assert_null(strstr(err.msg, "<"));
			live_teardown(&l);
		}
	}
}

static void
test_live_refused(void **state)
{
	struct llm_config c;
	struct llm_response r;
	struct agentd_error err;
	struct probe p;
	struct llm_callbacks cb = { NULL, p_retry, NULL, &p };
	json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");
	struct llm_request req = { msgs, NULL, NULL, NULL };
	char url[64];

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", closed_port());
	llm_config_init(&c);
	c.backoff_base_ms = 5;
	c.max_retries = 3;
	assert_int_equal(llm_config_add_endpoint(&c, url, NULL, "sk-secret-key"), AGENTD_OK);
	memset(&r, 0x5a, sizeof(r));
	assert_int_equal(llm_chat(&c, &req, &cb, &r, &err), AGENTD_ELLM);
	assert_int_equal(p.retries, 3);
	assert_non_null(strstr(err.msg, "cannot reach"));
	assert_non_null(strstr(err.msg, url));
	assert_null(strstr(err.msg, "sk-secret"));
	assert_int_equal(*(unsigned char *)&r, 0x5a);	/* untouched on failure */
	llm_config_free(&c);
	/* no endpoint at all */
	llm_config_init(&c);
	assert_int_equal(llm_chat(&c, &req, &cb, &r, &err), AGENTD_EINVAL);
	assert_non_null(strstr(err.msg, "--llm-url"));
	json_decref(msgs);
}

static void
test_live_cut_and_garbage(void **state)
{
	static const char *const faults[] = {
		"[\"cut_mid_tool_call\"]", "[\"garbage_sse\"]", "[\"close\"]", "[\"error_event\"]",
	};
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	size_t i;
	int stream;

	(void)state;
	for (i = 0; i < 4; i++)
		for (stream = 0; stream <= 1; stream++) {
			char sc[1024];

			snprintf(sc, sizeof(sc), SC_READ("%s"), faults[i]);
			if (!live_setup(&l, sc, stream))
				skip();
			if (i == 1 && stream == 0) {	/* an HTML page with 200: not retried */
				assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ELLM);
				assert_int_equal(l.p.retries, 0);
				assert_non_null(strstr(err.msg, "an HTML page, not the API: "
				    "\"502 Bad Gateway\""));
				live_teardown(&l);
				continue;
			}
			assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
			check_read_reply(&r);
			if (l.p.retries != 1)
				fail_msg("%s stream=%d: %d retries", faults[i], stream, l.p.retries);
			llm_response_free(&r);
			live_teardown(&l);
		}
	/* never better: the last error surfaces */
	if (!live_setup(&l, SC_READ("[\"garbage_sse\",\"garbage_sse\"]"), 1))
		skip();
	l.c.max_retries = 1;
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ELLM);
	assert_non_null(strstr(err.msg, "not a JSON object"));
	live_teardown(&l);
	if (!live_setup(&l, SC_READ("[\"cut_mid_tool_call\",\"cut_mid_tool_call\"]"), 1))
		skip();
	l.c.max_retries = 1;
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ELLM);
	assert_non_null(strstr(err.msg, "stream cut"));
	live_teardown(&l);
	if (!live_setup(&l, SC_READ("[\"error_event\"]"), 1))
		skip();
	l.c.max_retries = 0;
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ELLM);
	assert_non_null(strstr(err.msg, "does not match the expected peg-native format"));
	live_teardown(&l);
}

static void
test_live_400_not_retried(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	json_t *stats;

	(void)state;
	if (!live_setup(&l, SC_READ("[\"400:your transcript is broken\"]"), 1))
		skip();
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ELLM);
	assert_non_null(strstr(err.msg, "HTTP 400 from http://127.0.0.1:"));
	assert_non_null(strstr(err.msg, "/v1/chat/completions: your transcript is broken"));
	assert_int_equal(l.p.retries, 0);
	live_teardown(&l);
	/* a tool message answering no call: the mock rejects it like a strict server */
	if (!live_setup(&l, SC_READ("[]"), 1))
		skip();
	json_array_append_new(l.msgs, json_pack("{s:s,s:s,s:s}", "role", "tool", "tool_call_id",
	    "nope", "content", "x"));
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ELLM);
	assert_non_null(strstr(err.msg, "HTTP 400"));
	assert_non_null(strstr(err.msg, "answers no call"));
	stats = mock_get(&l.m, "/_stats");
	assert_int_equal(ajson_int(stats, "rejected", 0), 1);
	json_decref(stats);
	live_teardown(&l);
	/* over the window: llama-server's error with the counts */
	if (!live_setup(&l, "{\"n_ctx\":64,\"turns\":[{\"content\":\"x\"}]}", 0))
		skip();
	{
		char big[2000];

		memset(big, 'w', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		json_array_append_new(l.msgs, json_pack("{s:s,s:s}", "role", "user", "content", big));
		json_array_remove(l.msgs, 1);
	}
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ECONTEXT);
	assert_non_null(strstr(err.msg, "context window is 64"));
	live_teardown(&l);
}

static void
test_live_idle_timeout(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	double t0;
	int stream;

	(void)state;
	for (stream = 0; stream <= 1; stream++) {
		if (!live_setup(&l, stream ? SC_READ("[\"stall:4\"]") : SC_READ("[\"slow:4\"]"), stream))
			skip();
		l.c.idle_timeout_ms = 300;
		l.c.max_retries = 0;
		t0 = mono();
		assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ETIMEOUT);
		assert_non_null(strstr(err.msg, "idle timeout"));
		assert_true(mono() - t0 < 3.5);		/* generous: well before the server answers */
		live_teardown(&l);
	}
	/* with a retry, the second request is answered */
	if (!live_setup(&l, SC_READ("[\"slow:3\"]"), 1))
		skip();
	l.c.idle_timeout_ms = 300;
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
	assert_int_equal(l.p.retries, 1);
	assert_non_null(strstr(l.p.last_reason, "idle timeout"));
	llm_response_free(&r);
	live_teardown(&l);
}

static void
test_live_cancel(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	double t0;

	(void)state;
	/* mid-request */
	if (!live_setup(&l, SC_READ("[\"slow:5\"]"), 1))
		skip();
	l.p.cancel_after = 0.3;
	l.p.start = t0 = mono();
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ECANCELLED);
	assert_true(mono() - t0 < 4.0);
	live_teardown(&l);
	/* during a backoff sleep (Retry-After 30 s) */
	if (!live_setup(&l, SC_READ("[\"429:30\"]"), 1))
		skip();
	l.c.backoff_max_ms = 60000;
	l.p.cancel_after = 0.5;
	l.p.start = t0 = mono();
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_ECANCELLED);
	assert_int_equal(l.p.retries, 1);
	assert_true(mono() - t0 < 10.0);
	live_teardown(&l);
}

static void
test_live_failover(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	char dead[64];

	(void)state;
	if (!live_setup(&l, SC_READ("[]"), 1))
		skip();
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/v1", closed_port());
	llm_config_free(&l.c);
	llm_config_init(&l.c);
	l.c.backoff_base_ms = 5;
	l.c.max_retries = 1;
	assert_int_equal(llm_config_add_endpoint(&l.c, dead, NULL, NULL), AGENTD_OK);
	assert_int_equal(llm_config_add_endpoint(&l.c, l.m.url, NULL, NULL), AGENTD_OK);
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
	assert_string_equal(r.endpoint, l.m.url);
	assert_int_equal(l.p.retries, 2);	/* one retry on the dead one, then the switch */
	assert_non_null(strstr(l.p.last_reason, "trying"));
	check_read_reply(&r);
	llm_response_free(&r);
	live_teardown(&l);
}

static void
test_live_text_format(void **state)
{
	struct live l;
	struct llm_response r;
	struct agentd_error err;
	json_t *calls;
	char *rest;

	(void)state;
	if (!live_setup(&l, "{\"turns\":[{\"content\":\"Let me look.\",\"text_format\":\"hermes\","
	    "\"tool_calls\":[{\"name\":\"list_dir\",\"arguments\":{\"path\":\".\"}}]}]}", 1))
		skip();
	assert_int_equal(llm_chat(&l.c, &l.req, &l.cb, &r, &err), AGENTD_OK);
	assert_int_equal(json_array_size(r.tool_calls), 0);
	assert_string_equal(r.finish_reason, "stop");
	calls = llm_extract_text_calls(r.content, &rest);
	assert_int_equal(json_array_size(calls), 1);
	assert_string_equal(ajson_str(json_array_get(calls, 0), "name", ""), "list_dir");
	assert_string_equal(rest, "Let me look.");
	free(rest);
	json_decref(calls);
	llm_response_free(&r);
	live_teardown(&l);
}

static void
test_live_context_window(void **state)
{
	static const struct { const char *sc; int want; const char *path; } cases[] = {
		{ "{\"n_ctx\":8192,\"flavor\":\"llama\",\"turns\":[]}", 8192, "/props" },
		{ "{\"n_ctx\":6000,\"flavor\":\"llama\",\"no_props\":true,\"turns\":[]}", 6000, "/v1/models" },
		/* 4 slots sharing one KV cache: each may use all of it */
		{ "{\"n_ctx\":8192,\"slots\":4,\"turns\":[]}", 8192, "/slots" },
		/* 4 slots with their own part: /slots tells the part */
		{ "{\"n_ctx\":8192,\"slots\":4,\"unified_kv\":false,\"props_n_ctx\":8192,"
		  "\"turns\":[]}", 2048, "/slots" },
		{ "{\"n_ctx\":16384,\"flavor\":\"vllm\",\"turns\":[]}", 16384, "/v1/models" },
		{ "{\"n_ctx\":12000,\"flavor\":\"ollama\",\"turns\":[]}", 12000, "/api/show" },
		/* no num_ctx: Ollama's default window, not the trained length */
		{ "{\"n_ctx\":12000,\"flavor\":\"ollama\",\"ollama_num_ctx\":false,\"n_ctx_train\":32768,"
		  "\"turns\":[]}", 4096, "/api/show" },
		{ "{\"n_ctx\":12000,\"flavor\":\"ollama\",\"ollama_num_ctx\":false,\"n_ctx_train\":2048,"
		  "\"turns\":[]}", 2048, "/api/show" },
	};
	struct live l;
	struct agentd_error err;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *log;

		if (!live_setup(&l, cases[i].sc, 1))
			skip();
		n = -1;
		assert_int_equal(llm_context_window(&l.c, &n, &err), AGENTD_OK);
		assert_int_equal(n, cases[i].want);
		log = mock_get(&l.m, "/_log");
		assert_string_equal(ajson_str(json_array_get(log, json_array_size(log) - 1), "path", ""),
		    cases[i].path);
		json_decref(log);
		live_teardown(&l);
	}
	{
		struct llm_config c;
		char url[64];

		llm_config_init(&c);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", closed_port());
		llm_config_add_endpoint(&c, url, NULL, NULL);
		n = -1;
		assert_int_equal(llm_context_window(&c, &n, &err), AGENTD_ENOTFOUND);
		assert_int_equal(n, -1);
		llm_config_free(&c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sse_lines),
		cmocka_unit_test(test_stream_fixture_split),
		cmocka_unit_test(test_nonstream_fixture),
		cmocka_unit_test(test_error_event_fixture),
		cmocka_unit_test(test_stream_shapes),
		cmocka_unit_test(test_text_calls),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_http_error_text),
		cmocka_unit_test(test_http_error_html),
		cmocka_unit_test(test_context_and_length_fixtures),
		cmocka_unit_test(test_request_body),
		cmocka_unit_test(test_fuzz_parsers),
		cmocka_unit_test(test_live_stream_and_plain),
		cmocka_unit_test(test_live_flavors),
		cmocka_unit_test(test_live_retry_500_then_ok),
		cmocka_unit_test(test_live_429_retry_after),
		cmocka_unit_test(test_live_refused),
		cmocka_unit_test(test_live_cut_and_garbage),
		cmocka_unit_test(test_live_context_and_html),
		cmocka_unit_test(test_live_400_not_retried),
		cmocka_unit_test(test_live_idle_timeout),
		cmocka_unit_test(test_live_cancel),
		cmocka_unit_test(test_live_failover),
		cmocka_unit_test(test_live_text_format),
		cmocka_unit_test(test_live_context_window),
	};

	signal(SIGPIPE, SIG_IGN);
	llm_global_init();
	if (getenv("TEST_FILTER") != NULL)	/* e.g. TEST_FILTER='test_live_*' */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
