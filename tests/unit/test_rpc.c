/* test_rpc.c — framing and JSON-RPC dispatch, every bad input included. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "daemon/rpc.h"
#include "common/json.h"

/* ---- a small method table ---- */

static int calls;

static enum rpc_status
h_echo(void *ctx, struct rpc_call *call)
{
	calls++;
	call->result = json_pack("{s:O}", "echo", call->params);
	return RPC_DONE;
}

static enum rpc_status
h_fail(void *ctx, struct rpc_call *call)
{
	return rpc_fail(call, RPC_NOT_FOUND, "no such thing %d", 7);
}

static enum rpc_status
h_defer(void *ctx, struct rpc_call *call)
{
	return RPC_DEFERRED;
}

static enum rpc_status
h_big(void *ctx, struct rpc_call *call)
{
	size_t n = RPC_MAX_REPLY + 16;
	char *s = malloc(n);

	memset(s, 'x', n);
	call->result = json_pack("{s:s%}", "text", s, n);
	free(s);
	return RPC_DONE;
}

static const struct rpc_param p_typed[] = {
	{ "name", RPC_T_STR, 1, 0, 0 }, { "n", RPC_T_INT, 0, 0, 0 }, { "flag", RPC_T_BOOL, 0, 0, 0 },
	{ "obj", RPC_T_OBJ, 0, 0, 0 }, { "b", RPC_T_STR_OR_BOOL, 0, 0, 0 }, { NULL, 0, 0, 0, 0 }
};

static const struct rpc_method table[] = {
	{ "echo", NULL, h_echo, "" },
	{ "typed", p_typed, h_echo, "" },
	{ "fail", NULL, h_fail, "" },
	{ "defer", NULL, h_defer, "" },
	{ "big", NULL, h_big, "" },
	{ NULL, NULL, NULL, NULL }
};

/* Handle one line; returns the parsed reply (or NULL when none). */
static json_t *
handle(const char *line)
{
	json_t *deferred = NULL, *v;
	char *out = rpc_handle_line(table, NULL, NULL, line, strlen(line), &deferred);

	json_decref(deferred);
	if (out == NULL)
		return NULL;
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_null(strchr(out, '\n') == out + strlen(out) - 1 ? NULL : "embedded newline");
	v = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(v);
	return v;
}

static int
err_code(json_t *reply)
{
	json_t *e = json_object_get(reply, "error");

	assert_non_null(e);
	return (int)json_integer_value(json_object_get(e, "code"));
}

static void
test_ok(void **state)
{
	json_t *r = handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":1}}");

	assert_string_equal(ajson_str(r, "jsonrpc", ""), "2.0");
	assert_int_equal(ajson_int(r, "id", 0), 1);
	assert_int_equal(ajson_int(json_object_get(json_object_get(r, "result"), "echo"), "a", 0), 1);
	json_decref(r);
	/* string ids are echoed */
	r = handle("{\"jsonrpc\":\"2.0\",\"id\":\"x7\",\"method\":\"echo\"}");
	assert_string_equal(ajson_str(r, "id", ""), "x7");
	json_decref(r);
}

static void
test_bad_inputs(void **state)
{
	static const struct {
		const char *line;
		int code;
		const char *fragment;
	} cases[] = {
		{ "garbage", RPC_PARSE_ERROR, "parse error" },
		{ "{\"jsonrpc\":\"2.0\",", RPC_PARSE_ERROR, "parse error" },
		{ "[1,2,3]", RPC_INVALID_REQUEST, "JSON object" },
		{ "42", RPC_INVALID_REQUEST, "JSON object" },
		{ "\"str\"", RPC_INVALID_REQUEST, "JSON object" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"echo\"}", RPC_INVALID_REQUEST, "jsonrpc" },
		{ "{\"id\":1,\"method\":\"echo\"}", RPC_INVALID_REQUEST, "jsonrpc" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}", RPC_INVALID_REQUEST, "method" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", RPC_INVALID_REQUEST, "method" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"echo\"}", RPC_INVALID_REQUEST, "id" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}", RPC_METHOD_NOT_FOUND, "nope" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[1]}", RPC_INVALID_PARAMS, "object" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\"}", RPC_INVALID_PARAMS, "'name'" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\",\"params\":{\"name\":3}}", RPC_INVALID_PARAMS, "string" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\",\"params\":{\"name\":\"a\",\"n\":\"x\"}}", RPC_INVALID_PARAMS, "integer" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\",\"params\":{\"name\":\"a\",\"flag\":1}}", RPC_INVALID_PARAMS, "boolean" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\",\"params\":{\"name\":\"a\",\"obj\":[]}}", RPC_INVALID_PARAMS, "object" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\",\"params\":{\"name\":\"a\",\"b\":3}}", RPC_INVALID_PARAMS, "string or a boolean" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\",\"params\":{\"name\":\"a\",\"zzz\":1}}", RPC_INVALID_PARAMS, "unknown param 'zzz'" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"fail\"}", RPC_NOT_FOUND, "no such thing 7" },
	};
	size_t i;
	json_t *r;
	const char *msg;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = handle(cases[i].line);
		assert_non_null(r);
		assert_int_equal(err_code(r), cases[i].code);
		msg = ajson_str(json_object_get(r, "error"), "message", "");
		if (strstr(msg, cases[i].fragment) == NULL)
			fail_msg("case %zu: message '%s' lacks '%s'", i, msg, cases[i].fragment);
		json_decref(r);
	}
}

static void
test_typed_ok(void **state)
{
	json_t *r = handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"typed\",\"params\":"
	    "{\"name\":\"a\",\"n\":3,\"flag\":true,\"obj\":{},\"b\":\"x\"}}");

	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	r = handle("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"typed\",\"params\":{\"name\":\"a\",\"n\":null}}");
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
}

static void
test_notifications(void **state)
{
	int before = calls;

	/* No id: handled, nothing sent back — not even for an unknown method. */
	assert_null(handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}"));
	assert_int_equal(calls, before + 1);
	assert_null(handle("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}"));
	/* A deferred call sends nothing now. */
	assert_null(handle("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"defer\"}"));
}

/* ---- framing ---- */

struct lines {
	char got[16][128];
	int n;
};

static int
on_line(void *ud, char *line, size_t len)
{
	struct lines *l = ud;

	assert_true(l->n < 16);
	assert_int_equal(strlen(line), len);
	snprintf(l->got[l->n++], sizeof(l->got[0]), "%s", line);
	return 0;
}

static void
test_framer_split(void **state)
{
	const char *stream = "{\"a\":1}\n\n{\"b\":2}\r\n  {\"c\":3}\n{\"partial\"";
	struct rpc_framer f;
	struct lines l;
	size_t i;

	/* Byte by byte gives the same lines as all at once. */
	memset(&l, 0, sizeof(l));
	rpc_framer_init(&f, 1024);
	for (i = 0; i < strlen(stream); i++)
		assert_int_equal(rpc_framer_feed(&f, stream + i, 1, on_line, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.got[0], "{\"a\":1}");
	assert_string_equal(l.got[1], "{\"b\":2}");
	assert_string_equal(l.got[2], "{\"c\":3}");
	assert_int_equal(rpc_framer_feed(&f, ":1}\n", 4, on_line, &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.got[3], "{\"partial\":1}");
	rpc_framer_free(&f);
}

static void
test_framer_cap(void **state)
{
	struct rpc_framer f;
	struct lines l;
	char *big = malloc(5000);

	memset(big, 'x', 5000);
	memset(&l, 0, sizeof(l));
	rpc_framer_init(&f, 1024);
	/* Exactly at the cap is fine... */
	assert_int_equal(rpc_framer_feed(&f, big, 1024, on_line, &l), 0);
	assert_int_equal(rpc_framer_feed(&f, "\n", 1, on_line, &l), 0);
	assert_int_equal(l.n, 1);
	/* ...one byte over is refused, even when it comes in pieces. */
	assert_int_equal(rpc_framer_feed(&f, big, 1000, on_line, &l), 0);
	assert_int_equal(rpc_framer_feed(&f, big, 25, on_line, &l), AGENTD_ETOOBIG);
	rpc_framer_free(&f);
	free(big);
}

/* A message that quotes client bytes cut mid-character still gets an answer. */
static void
test_error_cut_utf8(void **state)
{
	struct abuf b;
	json_t *r;
	char *s;
	int i;

	/* "method not found: '%.200s'" cuts a 2-byte character in half. */
	abuf_init(&b, 1 << 20);
	abuf_puts(&b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a");
	for (i = 0; i < 300; i++)
		abuf_puts(&b, "\xc3\xa9");
	abuf_puts(&b, "\"}");
	r = handle(b.data);
	assert_non_null(r);
	assert_int_equal(err_code(r), RPC_METHOD_NOT_FOUND);
	json_decref(r);
	abuf_reset(&b);
	/* "unknown param '%s'" cut at the end of the message buffer. */
	abuf_puts(&b, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"typed\",\"params\":{\"name\":\"x\",\"a");
	for (i = 0; i < 600; i++)
		abuf_puts(&b, "\xc3\xa9");
	abuf_puts(&b, "\":1}}");
	r = handle(b.data);
	assert_non_null(r);
	assert_int_equal(err_code(r), RPC_INVALID_PARAMS);
	json_decref(r);
	abuf_free(&b);
	/* Invalid UTF-8 in a message given directly. */
	s = rpc_error_line(NULL, RPC_INTERNAL_ERROR, "bad \xff byte", NULL);
	assert_non_null(s);
	free(s);
}

/* A reply over the cap becomes an error for that id, not a dropped client. */
static void
test_reply_cap(void **state)
{
	json_t *r = handle("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"big\"}");

	assert_non_null(r);
	assert_int_equal(ajson_int(r, "id", 0), 8);
	assert_int_equal(err_code(r), RPC_INTERNAL_ERROR);
	json_decref(r);
}

static void
test_lines(void **state)
{
	char *s = rpc_notify_line("run.event", json_pack("{s:i}", "run_id", 3));
	json_t *v;

	assert_non_null(s);
	v = json_loads(s, 0, NULL);
	assert_string_equal(ajson_str(v, "method", ""), "run.event");
	assert_null(json_object_get(v, "id"));
	json_decref(v);
	free(s);
	s = rpc_error_line(NULL, RPC_PARSE_ERROR, "bad", NULL);
	v = json_loads(s, 0, NULL);
	assert_true(json_is_null(json_object_get(v, "id")));
	json_decref(v);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_typed_ok),
		cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_framer_split),
		cmocka_unit_test(test_framer_cap),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_error_cut_utf8),
		cmocka_unit_test(test_reply_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
