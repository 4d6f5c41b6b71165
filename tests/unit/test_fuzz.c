/*
 * test_fuzz.c — deterministic fuzzing of agentd's parsers, run by `make check`
 * (and so under ASan+UBSan in the sanitizer build).
 *
 * Every target starts from real inputs (the llama-server captures, the mock
 * scenarios, JSON-RPC requests, cron expressions, chores, tool calls written
 * in the text forms of docs/llm-wire-formats), then feeds mutations of them:
 * bit flips, byte inserts and deletes, splices of two seeds, truncation at
 * every position of short seeds, repeated chunks, random and invalid UTF-8,
 * huge numbers and deep nesting. A fixed seed makes every run repeat.
 *
 *   FUZZ_ITERS  mutated inputs per target (default 20000)
 *   FUZZ_SEED   seed of the random generator (default 20261129)
 *
 * Besides "no crash, no sanitizer report, no leak", each target checks what
 * its API promises: rpc_handle_line answers well-formed JSON-RPC lines,
 * the framer and the SSE parser give the same result whatever the chunking,
 * failed calls leave their output untouched, streamed deltas add up to the
 * assembled reply, argument parsing gives an object or an error, and so on.
 * A failure prints the input (C-escaped) with the seed and iteration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/llm.h"
#include "agent/llm_internal.h"
#include "common/buf.h"
#include "common/json.h"
#include "daemon/chore.h"
#include "daemon/cron.h"
#include "daemon/rpc.h"
#include "tools/tools.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif

#define FUZZ_MAX_INPUT (256u * 1024)		/* mutations stop growing an input here */
#define SHORT_SEED 200			/* seeds up to this long are cut at every byte */

/* ------------------------------------------------------------------ setup */

static unsigned long long fuzz_seed = 20261129ULL;
static size_t fuzz_iters = 20000;
static uint64_t rng;
static const char *cur_target = "";
static size_t cur_iter;
static size_t stat_in, stat_ok;	/* inputs tried, inputs the API accepted */

static const char *
srcdir(void)
{
	const char *s = getenv("top_srcdir");

	return s && *s ? s : TEST_SRCDIR;
}

static uint64_t
rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

/* Each target has its own stream, so one can be run (and repeated) alone. */
static void
start_target(const char *name)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ULL;
	rng = fuzz_seed ^ h;
	cur_iter = 0;
	stat_in = stat_ok = 0;
}

static void
end_target(void)
{
	fprintf(stderr, "fuzz %s: %zu inputs, %zu accepted\n", cur_target, stat_in, stat_ok);
}

/* Print the input that broke a check, then fail. */
static void
bad(const char *what, const char *p, size_t n)
{
	size_t i, shown = n < 4000 ? n : 4000;

	fprintf(stderr, "fuzz %s: FUZZ_SEED=%llu iteration %zu: %s\ninput (%zu bytes): \"",
	    cur_target, fuzz_seed, cur_iter, what, n);
	for (i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"' || c == '\\')
			fprintf(stderr, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x\"\"", c);
	}
	fprintf(stderr, "\"%s\n", shown < n ? "..." : "");
	fail_msg("fuzz %s: %s", cur_target, what);
}

/* An exact-size copy (no terminator: reading past n is an ASan report). */
static char *
exact(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	assert_non_null(c);
	memcpy(c, p, n);
	return c;
}

/* A NUL-terminated copy. */
static char *
cstr(const char *p, size_t n)
{
	char *c = malloc(n + 1);

	assert_non_null(c);
	memcpy(c, p, n);
	c[n] = '\0';
	return c;
}

/* ---------------------------------------------------------------- corpora */

struct blob {
	char *p;
	size_t n;
};

struct corpus {
	struct blob *v;
	size_t n, cap;
};

static void
corpus_add(struct corpus *c, const char *p, size_t n)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n].p = cstr(p, n);
	c->v[c->n].n = n;
	c->n++;
}

static void
corpus_add_str(struct corpus *c, const char *s)
{
	corpus_add(c, s, strlen(s));
}

static void
corpus_add_json(struct corpus *c, const json_t *v)
{
	char *s = ajson_dumps(v);

	assert_non_null(s);
	corpus_add_str(c, s);
	free(s);
}

static void
corpus_free(struct corpus *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].p);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Read a file of the source tree (relative to top_srcdir); fails when missing. */
static char *
read_src(const char *rel, size_t *len)
{
	char path[4096];
	FILE *f;
	char *p;
	long n;

	snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* The names of the files in a source directory ending in `ext`, sorted. */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t
list_src(const char *rel, const char *ext, char ***out)
{
	char path[4096];
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, el = strlen(ext);

	snprintf(path, sizeof(path), "%s/%s", srcdir(), rel);
	d = opendir(path);
	if (d == NULL)
		fail_msg("cannot open %s", path);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (l <= el || strcmp(e->d_name + l - el, ext) != 0)
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		snprintf(path, sizeof(path), "%s/%s", rel, e->d_name);
		v[n] = strdup(path);
		assert_non_null(v[n]);
		n++;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

static void
free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* All mock scenarios, parsed. */
static json_t *
load_scenarios(void)
{
	json_t *all = json_array();
	char **files;
	size_t i, n = list_src("tests/mock/scenarios", ".json", &files);

	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		size_t len;
		char *text = read_src(files[i], &len);
		json_t *v = json_loadb(text, len, 0, NULL);

		if (v == NULL)
			fail_msg("%s is not JSON", files[i]);
		json_array_append_new(all, v);
		free(text);
	}
	free_list(files, n);
	return all;
}

/* The arguments of a scenario's call as the model would write them. */
static char *
args_text(const json_t *a)
{
	if (json_is_string(a))
		return strdup(json_string_value(a));
	return ajson_dumps(a ? a : json_object());
}

/* At least `want` bytes of s (fewer at its end), not ending inside a UTF-8
 * sequence. */
static size_t
piece(const char *s, size_t want)
{
	size_t k = 0;

	while (s[k] && k < want)
		k++;
	while (s[k] && ((unsigned char)s[k] & 0xc0) == 0x80)
		k++;
	return k;
}

/* A non-streamed reply and an SSE stream for one scripted turn, in the
 * shapes llama-server sends (fixtures/llama-server). */
static void
turn_replies(const json_t *turn, int k, struct corpus *bodies, struct corpus *streams)
{
	json_t *msg = json_pack("{s:s}", "role", "assistant");
	json_t *tcs = json_array(), *body, *chunk, *fn;
	const json_t *calls = json_object_get(turn, "tool_calls"), *tc;
	const char *content = ajson_str(turn, "content", "");
	const char *reasoning = ajson_str(turn, "reasoning", NULL);
	const char *finish = ajson_str(turn, "finish_reason",
	    json_array_size(calls) ? "tool_calls" : "stop");
	struct abuf sse;
	char *s, *a, id[32];
	size_t i, j, m;

	abuf_init(&sse, FUZZ_MAX_INPUT * 4);
	json_object_set_new(msg, "content", json_string(content));
	if (reasoning)
		json_object_set_new(msg, "reasoning_content", json_string(reasoning));
	chunk = json_pack("{s:s,s:[{s:i,s:{s:s,s:n},s:n}]}", "object", "chat.completion.chunk",
	    "choices", "index", 0, "delta", "role", "assistant", "content", "finish_reason");
	s = ajson_dumps(chunk);
	abuf_printf(&sse, "data: %s\n\n: keep-alive\n\n", s);
	free(s);
	json_decref(chunk);
	if (reasoning) {
		chunk = json_pack("{s:[{s:i,s:{s:s},s:n}]}", "choices", "index", 0, "delta",
		    "reasoning_content", reasoning, "finish_reason");
		s = ajson_dumps(chunk);
		abuf_printf(&sse, "data: %s\r\n\r\n", s);
		free(s);
		json_decref(chunk);
	}
	for (i = 0; content[i]; i += j) {	/* a few bytes per delta */
		j = piece(content + i, 3);
		chunk = json_pack("{s:[{s:i,s:{s:s%},s:n}]}", "choices", "index", 0, "delta",
		    "content", content + i, j, "finish_reason");
		assert_non_null(chunk);
		s = ajson_dumps(chunk);
		abuf_printf(&sse, "data: %s\n\n", s);
		free(s);
		json_decref(chunk);
	}
	json_array_foreach(calls, i, tc) {
		a = args_text(json_object_get(tc, "arguments"));
		snprintf(id, sizeof(id), "call_%d_%zu", k, i);
		fn = json_pack("{s:s,s:s}", "name", ajson_str(tc, "name", ""), "arguments", a);
		json_array_append_new(tcs, json_pack("{s:s,s:s,s:o}", "id", id, "type", "function",
		    "function", fn));
		/* first piece: index, id, name; then the arguments two bytes at a time */
		chunk = json_pack("{s:[{s:i,s:{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]},s:n}]}", "choices",
		    "index", 0, "delta", "tool_calls", "index", (int)i, "id", id, "type", "function",
		    "function", "name", ajson_str(tc, "name", ""), "arguments", "", "finish_reason");
		s = ajson_dumps(chunk);
		abuf_printf(&sse, "data: %s\n\n", s);
		free(s);
		json_decref(chunk);
		for (j = 0; a[j]; j += m) {
			m = piece(a + j, 2);
			chunk = json_pack("{s:[{s:i,s:{s:[{s:i,s:{s:s%}}]},s:n}]}", "choices",
			    "index", 0, "delta", "tool_calls", "index", (int)i, "function",
			    "arguments", a + j, m, "finish_reason");
			assert_non_null(chunk);
			s = ajson_dumps(chunk);
			abuf_printf(&sse, "data: %s\n\n", s);
			free(s);
			json_decref(chunk);
		}
		free(a);
	}
	chunk = json_pack("{s:[{s:i,s:{},s:s}]}", "choices", "index", 0, "delta",
	    "finish_reason", finish);
	s = ajson_dumps(chunk);
	abuf_printf(&sse, "data: %s\n\n", s);
	free(s);
	json_decref(chunk);
	abuf_puts(&sse, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
	    "\"completion_tokens\":34,\"total_tokens\":46}}\n\ndata: [DONE]\n\n");
	corpus_add(streams, sse.data, sse.len);
	abuf_free(&sse);

	if (json_array_size(tcs) > 0)
		json_object_set(msg, "tool_calls", tcs);
	json_decref(tcs);
	body = json_pack("{s:s,s:[{s:i,s:o,s:s}],s:{s:i,s:i,s:i}}", "object", "chat.completion",
	    "choices", "index", 0, "message", msg, "finish_reason", finish,
	    "usage", "prompt_tokens", 12, "completion_tokens", 34, "total_tokens", 46);
	assert_non_null(body);
	corpus_add_json(bodies, body);
	json_decref(body);
}

/* Tool calls written into the text, in every form of llm-wire-formats.md. */
static const char *const text_call_seeds[] = {
	"<tool_call>\n{\"name\":\"read_file\",\"arguments\":{\"path\":\"README.md\"}}\n</tool_call>",
	"Let me look.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}\n"
	    "</tool_call>\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"b.txt\"}}\n"
	    "</tool_call>",
	"<think>\nTwo files to read.\n</think>\n\n<tool_call>\n{\"name\":\"read_file\","
	    "\"arguments\":{\"path\":\"a.txt\"}}\n</tool_call>",
	"<tool_call>\n{\"name\":\"shell\",\"arguments\":{\"command\":\"ls -la\"}}",
	"[TOOL_CALLS][{\"name\":\"shell\",\"arguments\":{\"command\":\"ls -la\"},\"id\":\"a1B2c3D4e\"}]",
	"[TOOL_CALLS][{\"name\":\"read_file\",\"arguments\":{\"path\":\"a\"}},"
	    "{\"name\":\"read_file\",\"arguments\":{\"path\":\"b\"}}]</s>",
	"[TOOL_CALLS]shell[ARGS]{\"command\":\"ls\"}",
	"<|python_tag|>{\"name\":\"shell\",\"parameters\":{\"command\":\"git status\"}}<|eom_id|>",
	"{\"name\":\"read_file\",\"parameters\":{\"path\":\"README.md\"}}<|eom_id|>",
	"{\"name\": \"read_file\", \"arguments\": {\"path\": \"README.md\"}}",
	"I will write the notes now.\n\n```json\n{\"name\":\"write_file\",\"arguments\":"
	    "{\"path\":\"NOTES.md\",\"content\":\"hi\\n\"}}\n```\n",
	"```\n{\"name\":\"list_dir\",\"arguments\":{}}\n```",
	"<tool_call>\n{\"name\":\"write_file\",\"arguments\":{\"path\":\"x\",\"content\":\"a,b\",}}\n"
	    "</tool_call>",
	"<tool_call>\n{\"name\":\"edit_file\",\"arguments\":\"{\\\"path\\\":\\\"x\\\"}\"}\n</tool_call>",
	NULL
};

/* Interesting tokens inserted by the mutator. */
static const char *const dict[] = {
	"<tool_call>", "</tool_call>", "[TOOL_CALLS]", "[ARGS]", "<|python_tag|>", "<|eom_id|>",
	"<|eot_id|>", "</s>", "```json\n", "```", "<think>", "</think>", "data: ", "data:",
	": ping\n", "event: x\n", "\n\n", "\r\n", "\r", "\n", "[DONE]", "\"", "\\", "\\\"", "{", "}",
	"[", "]", ",", ":", ",}", ",]", "null", "true", "\"\"", "{}", "[]", "\\u0000", "\\ud800",
	"\\udc00", "\\ud83d\\ude00", "\\u", "\"jsonrpc\":\"2.0\"", "\"id\":", "\"method\":",
	"\"params\":", "\"name\":", "\"arguments\":", "\"parameters\":", "\"tool_calls\":",
	"\"index\":", "\"error\":", "\"choices\":", "\"delta\":", "\"content\":", "'", "*", "/",
	"-", "*/", "@daily", "@reboot", "@", "JAN", "sun", "SAT", "7", "0", "60", "24", "32", "13",
	"\t", " ", "\0", "\xff", "\xc0\x80", "\xef\xbf\xbd",
};

static const char *const huge_numbers[] = {
	"1e999999", "-1e999999", "1e-999999", "18446744073709551616", "9223372036854775808",
	"-9223372036854775809", "9223372036854775807", "-9223372036854775808", "4294967296",
	"2147483648", "-2147483649", "1.7976931348623157e309", "0.0000000000000000000001",
	"100000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	"-0", "1E400", "99999999999999999999", "1e308", "NaN", "Infinity",
};

static const char *const invalid_utf8[] = {
	"\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf",
	"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "\xe2\x82",
	"\xf0\x9f\x98", "\xc3", "\xc3\x28", "\xa0\xa1",
};

/* ---------------------------------------------------------------- mutator */

static void
b_insert(struct blob *b, size_t at, const char *p, size_t n)
{
	if (b->n + n > FUZZ_MAX_INPUT)
		return;
	b->p = realloc(b->p, b->n + n + 1);
	assert_non_null(b->p);
	memmove(b->p + at + n, b->p + at, b->n - at);
	memcpy(b->p + at, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void
b_delete(struct blob *b, size_t at, size_t n)
{
	memmove(b->p + at, b->p + at + n, b->n - at - n);
	b->n -= n;
	b->p[b->n] = '\0';
}

/* One random code point, UTF-8 encoded, into out; returns its length. */
static size_t
rand_utf8(char *out)
{
	unsigned long cp;

	switch (below(4)) {
	case 0: cp = 0x20 + below(0x5f); break;
	case 1: cp = 0x80 + below(0x780); break;
	case 2:
		do
			cp = 0x800 + below(0xf800);
		while (cp >= 0xd800 && cp <= 0xdfff);
		break;
	default: cp = 0x10000 + below(0x100000); break;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static void
mutate_once(struct blob *b, const struct corpus *c)
{
	size_t at = below(b->n + 1), n, k;
	char tmp[64];

	switch (below(12)) {
	case 0:		/* bit flips */
		for (k = 1 + below(4); b->n > 0 && k > 0; k--)
			b->p[below(b->n)] ^= (char)(1u << below(8));
		break;
	case 1:		/* random bytes */
		n = 1 + below(8);
		for (k = 0; k < n; k++)
			tmp[k] = (char)rnd();
		b_insert(b, at, tmp, n);
		break;
	case 2:		/* delete a range */
		if (b->n > 0) {
			at = below(b->n);
			n = 1 + below(b->n - at < 64 ? b->n - at : 64);
			b_delete(b, at, n);
		}
		break;
	case 3: {	/* splice: our head, another seed's tail */
		const struct blob *o = &c->v[below(c->n)];
		size_t from = below(o->n + 1);

		b->n = at;
		b->p[b->n] = '\0';
		b_insert(b, b->n, o->p + from, o->n - from);
		break;
	}
	case 4:		/* truncate */
		b->n = at;
		b->p[b->n] = '\0';
		break;
	case 5:		/* repeat a chunk */
		if (b->n > 0) {
			char *chunk;

			at = below(b->n);
			n = 1 + below(b->n - at < 64 ? b->n - at : 64);
			chunk = cstr(b->p + at, n);
			for (k = 2 + below(50); k > 0; k--)
				b_insert(b, at, chunk, n);
			free(chunk);
		}
		break;
	case 6:		/* random valid UTF-8 */
		for (k = 1 + below(8); k > 0; k--) {
			n = rand_utf8(tmp);
			b_insert(b, below(b->n + 1), tmp, n);
		}
		break;
	case 7: {	/* invalid UTF-8 */
		const char *s = invalid_utf8[below(sizeof(invalid_utf8) / sizeof(*invalid_utf8))];

		b_insert(b, at, s, strlen(s));
		break;
	}
	case 8: {	/* a huge number, often in place of a digit */
		const char *s = huge_numbers[below(sizeof(huge_numbers) / sizeof(*huge_numbers))];
		const char *d = b->n ? strpbrk(b->p + below(b->n), "0123456789") : NULL;

		if (d != NULL && below(2)) {
			at = (size_t)(d - b->p);
			b_delete(b, at, 1);
		}
		b_insert(b, at, s, strlen(s));
		break;
	}
	case 9: {	/* deep nesting, balanced or not, around part of the input */
		size_t depth = 1 + below(below(4) ? 40 : 400), end = at + below(b->n - at + 1);
		int obj = (int)below(2);
		struct abuf open, close;

		abuf_init(&open, 8 * 400);
		abuf_init(&close, 400);
		for (k = 0; k < depth; k++) {
			abuf_puts(&open, obj ? "{\"a\":" : "[");
			abuf_puts(&close, obj ? "}" : "]");
		}
		if (below(3) && close.data != NULL)
			b_insert(b, end, close.data, close.len);
		b_insert(b, at, open.data, open.len);
		abuf_free(&open);
		abuf_free(&close);
		break;
	}
	case 10: {	/* a token of the formats */
		size_t i = below(sizeof(dict) / sizeof(*dict));

		b_insert(b, at, dict[i], dict[i][0] ? strlen(dict[i]) : 1);
		break;
	}
	default: {	/* overwrite a byte with a structural one */
		static const char special[] = "\"\\{}[]:,\n\r\0\xff <>/`'";

		if (b->n > 0)
			b->p[below(b->n)] = special[below(sizeof(special) - 1)];
		break;
	}
	}
}

/* A new input: a seed with one mutation, or two to four stacked. */
static struct blob
next_input(const struct corpus *c, size_t iter)
{
	const struct blob *s = &c->v[below(c->n)];
	struct blob b;
	size_t k;

	b.p = cstr(s->p, s->n);
	b.n = s->n;
	for (k = below(2) ? 1 : 2 + below(3); k > 0; k--)
		mutate_once(&b, c);
	(void)iter;
	return b;
}

/*
 * Drive one target over a corpus: every seed as is, every short seed cut at
 * every position, then `iters` mutated inputs.
 */
static void
run_corpus(const struct corpus *c, size_t iters, void (*fn)(const char *p, size_t n))
{
	size_t i, k;

	assert_true(c->n > 0);
	for (i = 0; i < c->n; i++) {
		fn(c->v[i].p, c->v[i].n);
		stat_in++;
		if (c->v[i].n <= SHORT_SEED)
			for (k = 0; k < c->v[i].n; k++, stat_in++)
				fn(c->v[i].p, k);
	}
	for (cur_iter = 0; cur_iter < iters; cur_iter++) {
		struct blob b = next_input(c, cur_iter);

		stat_in++;
		fn(b.p, b.n);
		free(b.p);
	}
}

/* Strict UTF-8 (no overlongs, surrogates or NUL). */
static int
valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0, len, k;
	unsigned long cp;

	while (i < n) {
		if (s[i] == 0)
			return 0;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			len = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			len = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += len;
	}
	return 1;
}

/* ------------------------------------------------------------- tool schemas */

static json_t *schemas;		/* {"tool": schema object} from tools_table() */

static void
load_schemas(void)
{
	const struct tool_entry *t;

	if (schemas != NULL)
		return;
	schemas = json_object();
	for (t = tools_table(); t->name; t++) {
		json_t *s = json_loads(t->schema, 0, NULL);

		if (!json_is_object(s))
			fail_msg("tool %s: schema is not a JSON object", t->name);
		json_object_set_new(schemas, t->name, s);
	}
	assert_true(json_object_size(schemas) > 0);
}

/* Validate args against a tool's schema (or a random one): OK or EINVAL
 * with a message, the same answer twice. */
static void
check_validate(const char *tool, const json_t *args, const char *p, size_t n)
{
	struct agentd_error e1, e2;
	const json_t *schema = tool ? json_object_get(schemas, tool) : NULL;
	int rc1, rc2;

	if (schema == NULL) {
		const char *key;
		json_t *v;
		size_t k = below(json_object_size(schemas));

		json_object_foreach(schemas, key, v)
			if (k-- == 0) {
				schema = v;
				break;
			}
	}
	agentd_error_clear(&e1);
	agentd_error_clear(&e2);
	rc1 = tools_validate(schema, args, &e1);
	rc2 = tools_validate(schema, args, &e2);
	if (strcmp(cur_target, "tools_validate") == 0)
		stat_ok += rc1 == AGENTD_OK;
	if (rc1 != AGENTD_OK && rc1 != AGENTD_EINVAL)
		bad("tools_validate: unexpected error code", p, n);
	if (rc1 != rc2 || strcmp(e1.msg, e2.msg) != 0)
		bad("tools_validate: two calls gave different answers", p, n);
	if (rc1 != AGENTD_OK && e1.msg[0] == '\0')
		bad("tools_validate: error without a message", p, n);
}

/* --------------------------------------------------- arguments and text calls */

/* llm_parse_arguments on a C string: an object, or NULL with EINVAL and a
 * message; valid JSON objects come back equal and unrepaired. */
static json_t *
check_arguments(const char *text, const char *p, size_t n)
{
	struct agentd_error err;
	int repaired = -1;
	json_t *v, *plain;

	agentd_error_clear(&err);
	v = llm_parse_arguments(text, &repaired, &err);
	if (v == NULL) {
		if (err.code != AGENTD_EINVAL || err.msg[0] == '\0')
			bad("llm_parse_arguments: NULL without an EINVAL message", p, n);
		if (repaired != -1)
			bad("llm_parse_arguments: *repaired set on failure", p, n);
		return NULL;
	}
	if (!json_is_object(v))
		bad("llm_parse_arguments: not an object", p, n);
	if (cur_target[0] == 'l' && strcmp(cur_target, "llm_parse_arguments") == 0)
		stat_ok++;
	if (repaired != 0 && repaired != 1)
		bad("llm_parse_arguments: *repaired not set", p, n);
	plain = json_loads(text, 0, NULL);
	if (json_is_object(plain) && (!json_equal(plain, v) || repaired))
		bad("llm_parse_arguments: a valid object came back changed", p, n);
	json_decref(plain);
	return v;
}

static void
fuzz_arguments(const char *p, size_t n)
{
	char *text = cstr(p, n);
	json_t *v = check_arguments(text, p, n);

	if (v != NULL)
		check_validate(NULL, v, p, n);
	json_decref(v);
	free(text);
}

/* llm_extract_text_calls: [{"id":"text_N","name","arguments"}] and a rest
 * no longer than the text; each call's arguments parsed and validated. */
static int
check_text_calls(const char *content, const char *p, size_t n)
{
	char *rest = NULL;
	json_t *calls = llm_extract_text_calls(content, &rest), *c;
	size_t i;
	int count;

	if (!json_is_array(calls) || rest == NULL)
		bad("llm_extract_text_calls: no array or no rest", p, n);
	if (strlen(rest) > strlen(content))
		bad("llm_extract_text_calls: rest longer than the text", p, n);
	json_array_foreach(calls, i, c) {
		char id[32];
		const char *name = ajson_str(c, "name", NULL), *args = ajson_str(c, "arguments", NULL);
		json_t *v;

		snprintf(id, sizeof(id), "text_%zu", i + 1);
		if (!json_is_object(c) || name == NULL || args == NULL ||
		    strcmp(ajson_str(c, "id", ""), id) != 0)
			bad("llm_extract_text_calls: a call without id text_N, name or arguments", p, n);
		if (!valid_utf8((const unsigned char *)name, strlen(name)) ||
		    !valid_utf8((const unsigned char *)args, strlen(args)))
			bad("llm_extract_text_calls: not UTF-8", p, n);
		v = check_arguments(args, p, n);
		if (v != NULL)
			check_validate(name, v, p, n);
		json_decref(v);
	}
	count = (int)json_array_size(calls);
	if (count > 0 && strcmp(cur_target, "llm_extract_text_calls") == 0)
		stat_ok++;
	json_decref(calls);
	free(rest);
	return count;
}

static void
fuzz_text(const char *p, size_t n)
{
	char *text = cstr(p, n);

	check_text_calls(text, p, n);
	free(text);
}

/* ------------------------------------------------------------------ replies */

struct deltas {
	struct abuf text, reasoning;
};

static void
on_delta(void *ud, const char *kind, const char *s, size_t n)
{
	struct deltas *d = ud;

	if (strcmp(kind, "text") == 0)
		abuf_append(&d->text, s, n);
	else if (strcmp(kind, "reasoning") == 0)
		abuf_append(&d->reasoning, s, n);
	else
		fail_msg("delta of unknown kind %s", kind);
}

/* A filled llm_response: content, a tool_calls array of string triples. */
static void
check_response(const struct llm_response *r, const char *p, size_t n)
{
	const json_t *c;
	size_t i;

	if (r->content == NULL || !json_is_array(r->tool_calls))
		bad("llm response: no content or no tool_calls array", p, n);
	json_array_foreach(r->tool_calls, i, c) {
		const char *args = ajson_str(c, "arguments", NULL);
		json_t *v;

		if (ajson_str(c, "id", NULL) == NULL || ajson_str(c, "name", NULL) == NULL ||
		    args == NULL)
			bad("llm response: a tool call without id, name or arguments", p, n);
		v = check_arguments(args, p, n);
		if (v != NULL)
			check_validate(ajson_str(c, "name", NULL), v, p, n);
		json_decref(v);
	}
	check_text_calls(r->content, p, n);
}

static void
fuzz_response(const char *p, size_t n)
{
	char *body = exact(p, n), *buf;
	struct llm_response r, before;
	struct agentd_error err;
	size_t size = 1 + below(below(2) ? 40 : 600), len;
	int rc;

	memset(&r, 0xa5, sizeof(r));
	before = r;
	agentd_error_clear(&err);
	rc = llm_parse_response(body, n, &r, &err);
	if (rc == AGENTD_OK) {
		stat_ok++;
		check_response(&r, p, n);
		/* Token counts are -1 (not reported) or a sane count. */
		if (r.prompt_tokens < -1 || r.prompt_tokens > ((int64_t)1 << 40) ||
		    r.completion_tokens < -1 || r.completion_tokens > ((int64_t)1 << 40))
			bad("llm_parse_response: token count out of range", p, n);
		llm_response_free(&r);
	} else {
		if (memcmp(&r, &before, sizeof(r)) != 0)
			bad("llm_parse_response: output changed on failure", p, n);
		if (err.code != rc || err.msg[0] == '\0')
			bad("llm_parse_response: error without a message", p, n);
	}
	buf = malloc(size);
	assert_non_null(buf);
	llm_http_error_text((long)(400 + below(200)), below(2) ? "http://h/v1/chat/completions" : NULL,
	    body, n, buf, size);
	len = strnlen(buf, size);
	if (len == size)
		bad("llm_http_error_text: not NUL-terminated within the buffer", p, n);
	free(buf);
	free(body);
}

/* Payloads of an SSE body, each as 8 bytes of length then the bytes. */
struct payloads {
	struct abuf all;
	size_t count;
	size_t stop_after;	/* the callback asks to stop after this many (0: never) */
};

static int
on_payload(void *ud, const char *data, size_t len)
{
	struct payloads *pl = ud;
	uint64_t l = len;

	if (data[len] != '\0')
		fail_msg("llm_sse_feed: payload not NUL-terminated");
	assert_int_equal(abuf_append(&pl->all, &l, sizeof(l)), AGENTD_OK);
	assert_int_equal(abuf_append(&pl->all, data, len), AGENTD_OK);
	pl->count++;
	return pl->stop_after && pl->count >= pl->stop_after;
}

/* Feed in chunks of `style` (0: one feed, 1: single bytes, 2: random up to 16,
 * 3: random up to n). Chunks are exact-size copies. */
static int
sse_run(const char *p, size_t n, size_t max_line, int style, struct payloads *pl)
{
	struct llm_sse *s = llm_sse_new(max_line);
	size_t i = 0, k;
	int rc = AGENTD_OK;

	assert_non_null(s);
	abuf_init(&pl->all, SIZE_MAX / 2);
	pl->count = 0;
	do {
		char *chunk;
		size_t before = pl->count;

		k = style == 0 ? n - i : style == 1 ? 1 : style == 2 ? 1 + below(16) :
		    1 + below(n - i);
		if (k > n - i)
			k = n - i;
		chunk = exact(p + i, k);
		rc = llm_sse_feed(s, chunk, k, on_payload, pl);
		free(chunk);
		i += k;
		if (rc != AGENTD_OK || (pl->stop_after && pl->count >= pl->stop_after &&
		    pl->count > before))
			break;
	} while (i < n);
	llm_sse_free(s);
	return rc;
}

/* Assemble a streamed reply from the payloads as llm_chat does. */
static void
stream_payloads(const struct payloads *pl, const char *p, size_t n)
{
	struct deltas d;
	struct llm_callbacks cb = { .delta = on_delta, .ud = &d };
	size_t maxb = below(4) ? 0 : 1 + below(2048), off = 0;
	struct llm_stream *s = llm_stream_new(below(8) ? &cb : NULL, maxb);
	struct llm_response r, before;
	struct agentd_error err;
	int rc = AGENTD_OK, retry;

	assert_non_null(s);
	abuf_init(&d.text, SIZE_MAX / 2);
	abuf_init(&d.reasoning, SIZE_MAX / 2);
	while (off < pl->all.len && !llm_stream_done(s)) {
		uint64_t l;

		memcpy(&l, pl->all.data + off, sizeof(l));
		off += sizeof(l);
		agentd_error_clear(&err);
		retry = -1;
		{
			/* An exact-size copy: the parser must not read past `len`. */
			char *ev = malloc(l ? (size_t)l : 1);

			memcpy(ev, pl->all.data + off, (size_t)l);
			rc = llm_stream_event(s, ev, (size_t)l, &retry, &err);
			free(ev);
		}
		off += (size_t)l;
		if (retry != 0 && retry != 1)
			bad("llm_stream_event: *retryable not set", p, n);
		if (rc != AGENTD_OK) {
			if (err.code != rc || err.msg[0] == '\0')
				bad("llm_stream_event: error without a message", p, n);
			break;
		}
	}
	if (rc == AGENTD_OK) {
		memset(&r, 0x5a, sizeof(r));
		before = r;
		agentd_error_clear(&err);
		rc = llm_stream_finish(s, &r, &err);
		if (rc == AGENTD_OK) {
			check_response(&r, p, n);
			llm_response_free(&r);
		} else if (memcmp(&r, &before, sizeof(r)) != 0 || err.msg[0] == '\0') {
			bad("llm_stream_finish: output changed or no message on failure", p, n);
		}
	}
	llm_stream_free(s);
	abuf_free(&d.text);
	abuf_free(&d.reasoning);
}

/* The same stream, with the deltas: text deltas add up to content exactly,
 * and the reasoning deltas start with the reasoning (trailing blanks trimmed). */
static void
stream_deltas(const struct payloads *pl, const char *p, size_t n)
{
	struct deltas d;
	struct llm_callbacks cb = { .delta = on_delta, .ud = &d };
	struct llm_stream *s = llm_stream_new(&cb, 0);
	struct llm_response r;
	struct agentd_error err;
	size_t off = 0;
	int rc = AGENTD_OK;

	assert_non_null(s);
	abuf_init(&d.text, SIZE_MAX / 2);
	abuf_init(&d.reasoning, SIZE_MAX / 2);
	while (off < pl->all.len && rc == AGENTD_OK && !llm_stream_done(s)) {
		uint64_t l;

		memcpy(&l, pl->all.data + off, sizeof(l));
		off += sizeof(l);
		rc = llm_stream_event(s, pl->all.data + off, (size_t)l, NULL, &err);
		off += (size_t)l;
	}
	if (rc == AGENTD_OK && llm_stream_finish(s, &r, &err) == AGENTD_OK) {
		size_t rl = r.reasoning ? strlen(r.reasoning) : 0;

		if (strlen(r.content) != d.text.len ||
		    (d.text.len && memcmp(r.content, d.text.data, d.text.len) != 0))
			bad("llm_stream: the text deltas do not add up to the content", p, n);
		if (rl > d.reasoning.len || (rl && memcmp(r.reasoning, d.reasoning.data, rl) != 0))
			bad("llm_stream: the reasoning deltas do not match the reasoning", p, n);
		llm_response_free(&r);
	}
	llm_stream_free(s);
	abuf_free(&d.text);
	abuf_free(&d.reasoning);
}

static void
fuzz_sse(const char *p, size_t n)
{
	static const size_t lines[] = { 0, 0, 0, 64, 300, 4096 };
	size_t max_line = lines[below(sizeof(lines) / sizeof(*lines))];
	struct payloads one = { .stop_after = 0 }, many = { .stop_after = 0 };
	int rc1, rc2, style = 1 + (int)below(3);

	if (style == 1 && n > 20000)
		style = 2;
	rc1 = sse_run(p, n, max_line, 0, &one);
	rc2 = sse_run(p, n, max_line, style, &many);
	if (rc1 != rc2 || one.count != many.count || one.all.len != many.all.len ||
	    (one.all.len && memcmp(one.all.data, many.all.data, one.all.len) != 0))
		bad("llm_sse_feed: a chunked feed gave other payloads than one feed", p, n);
	if (rc1 != AGENTD_OK && rc1 != AGENTD_ETOOBIG)
		bad("llm_sse_feed: unexpected error code", p, n);
	stat_ok += one.count > 0;
	abuf_free(&many.all);
	/* stopping early: the callback's stop is honoured whatever the chunking */
	if (one.count > 1) {
		many.stop_after = 1 + below(one.count - 1);
		sse_run(p, n, max_line, style, &many);
		if (many.count != many.stop_after)
			bad("llm_sse_feed: the callback's stop was not honoured", p, n);
		abuf_free(&many.all);
	}
	stream_payloads(&one, p, n);
	stream_deltas(&one, p, n);
	abuf_free(&one.all);
}

/* --------------------------------------------------------------- JSON-RPC */

static enum rpc_status
h_echo(void *ctx, struct rpc_call *call)
{
	call->result = json_pack("{s:O}", "echo", call->params);
	return RPC_DONE;
}

static enum rpc_status
h_null(void *ctx, struct rpc_call *call)
{
	return RPC_DONE;
}

static enum rpc_status
h_fail(void *ctx, struct rpc_call *call)
{
	return rpc_fail(call, RPC_NOT_FOUND, "no such run %d", 7);
}

static enum rpc_status
h_defer(void *ctx, struct rpc_call *call)
{
	return RPC_DEFERRED;
}

static const struct rpc_param p_run[] = {
	{ "prompt", RPC_T_STR, 1, 0, 0 }, { "workspace", RPC_T_STR, 0, 0, 0 }, { "max_steps", RPC_T_INT, 0, 0, 0 },
	{ "network", RPC_T_BOOL, 0, 0, 0 }, { "limits", RPC_T_OBJ, 0, 0, 0 }, { "tools", RPC_T_ARR, 0, 0, 0 },
	{ "temperature", RPC_T_NUM, 0, 0, 0 }, { "branch", RPC_T_STR_OR_BOOL, 0, 0, 0 },
	{ "extra", RPC_T_ANY, 0, 0, 0 }, { NULL, 0, 0, 0, 0 }
};

static const struct rpc_param p_id[] = { { "id", RPC_T_INT, 1, 0, 0 }, { NULL, 0, 0, 0, 0 } };

static const struct rpc_method methods[] = {
	{ "ping", NULL, h_echo, "" },
	{ "run.start", p_run, h_echo, "" },
	{ "run.get", p_id, h_null, "" },
	{ "run.cancel", p_id, h_fail, "" },
	{ "tools.call", NULL, h_defer, "" },
	{ NULL, NULL, NULL, NULL }
};

static const char *const rpc_seeds[] = {
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
	"{\"jsonrpc\":\"2.0\",\"id\":\"c-7\",\"method\":\"ping\",\"params\":{}}",
	"{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}",
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\",\"params\":null}",
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"run.start\",\"params\":{\"prompt\":\"Fix the "
	    "failing test\",\"workspace\":\"/srv/repo\",\"max_steps\":20,\"network\":false,"
	    "\"limits\":{\"max_tokens\":80000},\"tools\":[\"read_file\",\"shell\"],"
	    "\"temperature\":0.2,\"branch\":\"agent/fix\",\"extra\":[1,{\"a\":null}]}}",
	"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"run.get\",\"params\":{\"id\":42}}",
	"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"run.cancel\",\"params\":{\"id\":42}}",
	"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools.call\",\"params\":{\"name\":\"read_file\","
	    "\"args\":{\"path\":\"README.md\"}}}",
	"{\"jsonrpc\":\"2.0\",\"method\":\"tools.call\",\"params\":{}}",
	"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"nope\"}",
	"{\"method\":\"ping\",\"id\":7,\"jsonrpc\":\"2.0\",\"params\":{\"x\":\"\\u00e9\\ud83d\\ude00\"}}",
	"  {\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}  ",
	NULL
};

/* rpc_handle_line on an exact-size line; a reply, when there is one, is one
 * '\n'-terminated JSON-RPC object echoing the request's id. */
static void
check_rpc_line(const char *line, size_t len, const char *p, size_t n)
{
	json_t *deferred = (json_t *)&deferred, *req, *rep, *rid, *id, *e;
	char *out = rpc_handle_line(methods, NULL, NULL, line, len, &deferred);
	size_t olen;

	req = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	rid = json_is_object(req) ? json_object_get(req, "id") : NULL;
	if (rid && !json_is_string(rid) && !json_is_integer(rid) && !json_is_null(rid))
		rid = NULL;	/* answered with a null id */
	if (deferred == (json_t *)&deferred)
		bad("rpc_handle_line: *deferred_id not set", p, n);
	if (out == NULL || strstr(out, "\"result\"") != NULL)
		stat_ok++;
	if (out == NULL) {
		if (deferred != NULL) {
			if (rid ? !json_equal(deferred, rid) : !json_is_null(deferred))
				bad("rpc_handle_line: deferred id differs from the request's", p, n);
			json_decref(deferred);
		} else if (rid != NULL)
			bad("rpc_handle_line: no reply to a request with an id", p, n);
		json_decref(req);
		return;
	}
	if (deferred != NULL)
		bad("rpc_handle_line: both a reply and a deferred id", p, n);
	olen = strlen(out);
	if (olen < 2 || out[olen - 1] != '\n' || memchr(out, '\n', olen - 1) != NULL)
		bad("rpc_handle_line: reply is not one '\\n'-terminated line", p, n);
	rep = json_loadb(out, olen - 1, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(rep) || strcmp(ajson_str(rep, "jsonrpc", ""), "2.0") != 0)
		bad("rpc_handle_line: reply is not a JSON-RPC 2.0 object", p, n);
	id = json_object_get(rep, "id");
	if (id == NULL || (!json_is_null(id) && !json_is_string(id) && !json_is_integer(id)))
		bad("rpc_handle_line: reply without a valid id", p, n);
	if (rid != NULL && !json_equal(id, rid))
		bad("rpc_handle_line: reply id differs from the request's", p, n);
	if ((json_object_get(rep, "result") != NULL) == ((e = json_object_get(rep, "error")) != NULL))
		bad("rpc_handle_line: reply needs exactly one of result and error", p, n);
	if (e != NULL && (!json_is_integer(json_object_get(e, "code")) ||
	    !json_is_string(json_object_get(e, "message"))))
		bad("rpc_handle_line: error without an integer code and a message", p, n);
	json_decref(rep);
	json_decref(req);
	free(out);
}

static void
fuzz_rpc(const char *p, size_t n)
{
	char *line = exact(p, n);

	check_rpc_line(line, n, p, n);
	free(line);
}

/* Lines the framer gives, as 8 bytes of length then the bytes. */
struct lines {
	struct abuf all;
	const char *p;
	size_t n;
	int handle;
};

static int
on_line(void *ud, char *line, size_t len)
{
	struct lines *l = ud;
	uint64_t k = len;

	if (line[len] != '\0' || memchr(line, '\n', len) != NULL)
		bad("rpc_framer_feed: a line not NUL-terminated or with a newline", l->p, l->n);
	assert_int_equal(abuf_append(&l->all, &k, sizeof(k)), AGENTD_OK);
	assert_int_equal(abuf_append(&l->all, line, len), AGENTD_OK);
	if (l->handle)
		check_rpc_line(line, len, l->p, l->n);
	return 0;
}

/* The framer's lines: exactly the '\n'-separated pieces with one trailing
 * '\r' and leading blanks dropped, empty ones skipped; a piece over the cap
 * (complete or not) ends with ETOOBIG. Fed in random chunks. */
static void
fuzz_framer(const char *p, size_t n)
{
	static const size_t caps[] = { 16, 200, 4096, RPC_DEFAULT_MAX_LINE };
	size_t cap = caps[below(sizeof(caps) / sizeof(*caps))], i = 0, k, start;
	struct rpc_framer f;
	struct lines got = { .p = p, .n = n, .handle = 1 }, want = { .p = p, .n = n };
	int rc = 0, want_rc = 0;

	abuf_init(&got.all, SIZE_MAX / 2);
	abuf_init(&want.all, SIZE_MAX / 2);
	for (start = 0; start <= n; start = k + 1) {
		const char *nl = memchr(p + start, '\n', n - start);
		size_t end, b;

		k = nl ? (size_t)(nl - p) : n;
		if (k - start > cap) {
			want_rc = AGENTD_ETOOBIG;
			break;
		}
		if (nl == NULL)
			break;
		end = k;
		if (end > start && p[end - 1] == '\r')
			end--;
		for (b = start; b < end && (p[b] == ' ' || p[b] == '\t'); b++)
			;
		if (end > b) {
			uint64_t len = end - b;

			abuf_append(&want.all, &len, sizeof(len));
			abuf_append(&want.all, p + b, end - b);
		}
	}
	rpc_framer_init(&f, cap);
	while (i < n && rc == 0) {
		char *chunk;

		k = 1 + below(below(2) ? 8 : n - i);
		if (k > n - i)
			k = n - i;
		chunk = exact(p + i, k);
		rc = rpc_framer_feed(&f, chunk, k, on_line, &got);
		free(chunk);
		i += k;
	}
	rpc_framer_free(&f);
	if (rc != want_rc || got.all.len != want.all.len ||
	    (got.all.len && memcmp(got.all.data, want.all.data, got.all.len) != 0))
		bad("rpc_framer_feed: lines differ from the input's", p, n);
	abuf_free(&got.all);
	abuf_free(&want.all);
}

/* ------------------------------------------------------------ cron, chores */

static const char *const cron_seeds[] = {
	"* * * * *", "*/5 * * * *", "0 * * * *", "30 6 * * 1-5", "0 0 1 * *", "0 0 * * 0",
	"15 14 1 * *", "0 22 * * 1-5", "23 0-20/2 * * *", "5 4 * * sun", "0 0,12 1 */2 *",
	"0 4 8-14 * *", "0 0 1,15 * 3", "0 9 * JAN-MAR MON", "59 23 31 12 *", "0 0 29 2 *",
	"0 0 30 2 *", "30 2 * * *", "30 2 29 3 *", "30 2 25 10 *", "0 3 * * 7", "*/7 */3 * * *",
	"0-59/15 0-23/6 1-31/10 1-12/5 0-7/2", "1,2,3,4,5 * * * *", "@hourly", "@daily",
	"@weekly", "@monthly", "@yearly", "@annually", "@midnight", "@reboot",
	"  0   12  *  *  mon-fri ", "0 12 * dec sat",
	NULL
};

static const time_t cron_times[] = {
	1795910400,	/* 2026-11-29 00:00 UTC */
	1774746000,	/* 2026-03-29 01:00 UTC: Berlin springs forward */
	1774745999,
	1792886400,	/* 2026-10-25 01:00 UTC: Berlin falls back */
	1792882800,
	4107456000,	/* 2100-02-28 */
	951782400,	/* 2000-02-29 */
	0, -1, 86399, 2147483647, 2147483648LL, -2147483648LL,
	253402300799LL,	/* 9999-12-31 23:59:59 */
	LLONG_MAX / 2, -(LLONG_MAX / 2),
	/* Far outside real time: refused, never an overflow. */
	67767976233316800LL, LLONG_MIN, LLONG_MIN + 60, LLONG_MAX, LLONG_MAX - 60,
};

/* Parse; on success cron_next in UTC and Berlin: strictly later, and asking
 * again from just before gives the same time. */
static void
fuzz_cron(const char *p, size_t n)
{
	static const char *const zones[] = { "UTC", "Europe/Berlin" };
	char *text = cstr(p, n);
	struct cron_expr *c = (struct cron_expr *)&c, *c2 = NULL;
	struct agentd_error err;
	int rc;

	agentd_error_clear(&err);
	rc = cron_parse(text, &c, &err);
	if (rc != AGENTD_OK) {
		if (c != (struct cron_expr *)&c)
			bad("cron_parse: output changed on failure", p, n);
		if (rc != AGENTD_EINVAL || err.msg[0] == '\0')
			bad("cron_parse: failure without EINVAL and a message", p, n);
		free(text);
		return;
	}
	if (c == NULL || c == (struct cron_expr *)&c)
		bad("cron_parse: OK without an expression", p, n);
	if (cron_parse(text, &c2, NULL) != AGENTD_OK)
		bad("cron_parse: a second parse failed", p, n);
	cron_free(c2);
	{
		const char *tz = zones[below(2)];
		time_t after = below(3) ? (time_t)(1577836800 + (int64_t)below(40ULL * 365 * 86400)) :
		    cron_times[below(sizeof(cron_times) / sizeof(*cron_times))];
		time_t next = 12345, again = 12345;

		rc = cron_next(c, tz, after, &next, &err);
		if (rc == AGENTD_OK) {
			stat_ok++;
			if (next <= after)
				bad("cron_next: not after `after`", p, n);
			if (cron_next(c, tz, next - 1, &again, &err) != AGENTD_OK || again != next)
				bad("cron_next: asking from just before gave another time", p, n);
		} else {
			if (next != 12345)
				bad("cron_next: output changed on failure", p, n);
			if (err.msg[0] == '\0')
				bad("cron_next: failure without a message", p, n);
			if (cron_is_reboot(c) && rc != AGENTD_ENOTFOUND)
				bad("cron_next: @reboot not ENOTFOUND", p, n);
		}
	}
	cron_free(c);
	free(text);
}

/* Parse as JSON; a chore validates to OK or EINVAL with a message. */
static void
check_chore(const json_t *v, const char *p, size_t n)
{
	struct agentd_error err;
	int rc;

	agentd_error_clear(&err);
	rc = chore_validate(v, &err);
	stat_ok += rc == AGENTD_OK;
	if (rc != AGENTD_OK && (rc != AGENTD_EINVAL || err.msg[0] == '\0'))
		bad("chore_validate: failure without EINVAL and a message", p, n);
}

static void
fuzz_chore(const char *p, size_t n)
{
	json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	if (v != NULL)
		check_chore(v, p, n);
	json_decref(v);
}

/* A random JSON value: strings from the corpus and random bytes, nesting up
 * to `depth`. */
static json_t *
rand_json(const struct corpus *c, int depth)
{
	size_t k, i;
	json_t *v;

	switch (below(depth > 0 ? 9 : 6)) {
	case 0: return json_null();
	case 1: return json_boolean(below(2));
	case 2: return json_integer((json_int_t)rnd());
	case 3: return json_real((double)(int64_t)rnd() / (double)(1 + below(1000)));
	case 4: {
		const struct blob *b = &c->v[below(c->n)];
		size_t at = below(b->n + 1);

		return ajson_string_lossy(b->p + at, below(b->n - at + 1));
	}
	case 5: {
		char s[32];

		for (i = 0, k = below(sizeof(s)); i < k; i++)
			s[i] = (char)rnd();
		return ajson_string_lossy(s, k);
	}
	case 6:
		v = json_array();
		for (k = below(5); k > 0; k--)
			json_array_append_new(v, rand_json(c, depth - 1));
		return v;
	case 7: {	/* deep nesting */
		json_t *in = rand_json(c, 0);

		for (k = below(300); k > 0; k--)
			in = below(2) ? json_pack("[o]", in) : json_pack("{s:o}", "a", in);
		return in;
	}
	default:
		v = json_object();
		for (k = below(5); k > 0; k--) {
			static const char *const keys[] = { "path", "content", "command", "name",
				"prompt", "tools", "limits", "schedule", "tz", "branch", "policy",
				"network", "max_steps", "offset", "limit", "pattern", "x", "id",
				"method", "params", "jsonrpc" };

			json_object_set_new(v, keys[below(sizeof(keys) / sizeof(*keys))],
			    rand_json(c, depth - 1));
		}
		return v;
	}
}

/* Replace, drop or add members of a valid object, recursively at random. */
static void
mutate_json(json_t *v, const struct corpus *c, int depth)
{
	const char *key;
	json_t *m;
	void *tmp;
	size_t k = below(json_object_size(v) + 1);

	json_object_foreach_safe(v, tmp, key, m) {
		if (k-- != 0)
			continue;
		switch (below(4)) {
		case 0: json_object_del(v, key); break;
		case 1: json_object_set_new(v, key, rand_json(c, 2)); break;
		case 2:
			if (json_is_object(m) && depth < 4)
				mutate_json(m, c, depth + 1);
			break;
		default: json_object_set_new(v, "unknown", rand_json(c, 1)); break;
		}
		break;
	}
}

/* -------------------------------------------------------------- the tests */

static void
test_rpc(void **state)
{
	struct corpus c = { 0 };
	json_t *sc = load_scenarios(), *v;
	size_t i;

	cur_target = "rpc_handle_line";
	start_target(cur_target);
	for (i = 0; rpc_seeds[i]; i++)
		corpus_add_str(&c, rpc_seeds[i]);
	json_array_foreach(sc, i, v) {	/* real objects as params */
		json_t *req = json_pack("{s:s,s:I,s:s,s:{s:O,s:s}}", "jsonrpc", "2.0", "id",
		    (json_int_t)i + 100, "method", "run.start", "params", "extra", v, "prompt", "go");

		corpus_add_json(&c, req);
		json_decref(req);
	}
	run_corpus(&c, fuzz_iters, fuzz_rpc);
	/* structural: valid requests with members replaced, dropped or added */
	for (cur_iter = 0; cur_iter < fuzz_iters; cur_iter++) {
		const struct blob *b = &c.v[below(c.n)];
		json_t *req = json_loadb(b->p, b->n, 0, NULL);
		char *txt;

		assert_non_null(req);
		mutate_json(req, &c, 0);
		if (below(2))
			mutate_json(req, &c, 0);
		txt = ajson_dumps(req);
		stat_in++;
		fuzz_rpc(txt, strlen(txt));
		free(txt);
		json_decref(req);
	}
	end_target();
	corpus_free(&c);
	json_decref(sc);
}

static void
test_framer(void **state)
{
	struct corpus c = { 0 };
	size_t i, k;

	cur_target = "rpc_framer_feed";
	start_target(cur_target);
	/* streams of several requests, LF and CRLF, blank lines, leading blanks */
	for (i = 0; i < 8; i++) {
		struct abuf b;

		abuf_init(&b, FUZZ_MAX_INPUT);
		for (k = 0; rpc_seeds[k]; k++)
			if ((k + i) % 3 != 0)
				abuf_printf(&b, "%s%s%s", i % 2 ? "\t" : "", rpc_seeds[k],
				    (k + i) % 4 == 0 ? "\r\n" : (k + i) % 5 == 0 ? "\n\n" : "\n");
		corpus_add(&c, b.data, b.len);
		abuf_free(&b);
	}
	run_corpus(&c, fuzz_iters / 3, fuzz_framer);
	end_target();
	corpus_free(&c);
}

static void
test_sse(void **state)
{
	struct corpus c = { 0 }, bodies = { 0 };
	json_t *sc = load_scenarios(), *s, *turn;
	size_t i, k, len;
	char *text;

	cur_target = "llm_sse_feed";
	start_target(cur_target);
	text = read_src("tests/fixtures/llama-server/stream-tool-call.sse", &len);
	corpus_add(&c, text, len);
	free(text);
	text = read_src("tests/fixtures/llama-server/stream-error-event.http", &len);
	corpus_add(&c, text, len);
	if (strstr(text, "\r\n\r\n"))	/* the body alone */
		corpus_add_str(&c, strstr(text, "\r\n\r\n") + 4);
	free(text);
	json_array_foreach(sc, i, s)
		json_array_foreach(json_object_get(s, "turns"), k, turn)
			turn_replies(turn, (int)k, &bodies, &c);
	run_corpus(&c, fuzz_iters / 3, fuzz_sse);
	end_target();
	corpus_free(&c);
	corpus_free(&bodies);
	json_decref(sc);
}

static void
test_response(void **state)
{
	struct corpus c = { 0 }, streams = { 0 };
	json_t *sc = load_scenarios(), *s, *turn;
	size_t i, k, len;
	char *text;

	cur_target = "llm_parse_response";
	start_target(cur_target);
	text = read_src("tests/fixtures/llama-server/nonstream-tool-call.json", &len);
	corpus_add(&c, text, len);
	free(text);
	corpus_add_str(&c, "{\"error\":{\"code\":500,\"message\":\"The model produced output that "
	    "does not match the expected peg-native format\",\"type\":\"server_error\"}}");
	corpus_add_str(&c, "{\"error\":{\"code\":400,\"message\":\"the request exceeds the "
	    "available context size\",\"type\":\"exceed_context_size_error\","
	    "\"n_prompt_tokens\":5031,\"n_ctx\":4096}}");
	json_array_foreach(sc, i, s)
		json_array_foreach(json_object_get(s, "turns"), k, turn)
			turn_replies(turn, (int)k, &c, &streams);
	run_corpus(&c, fuzz_iters / 2, fuzz_response);
	end_target();
	corpus_free(&c);
	corpus_free(&streams);
	json_decref(sc);
}

static void
test_text_calls(void **state)
{
	struct corpus c = { 0 };
	json_t *sc = load_scenarios(), *s, *turn;
	size_t i, k;

	cur_target = "llm_extract_text_calls";
	start_target(cur_target);
	load_schemas();
	for (i = 0; text_call_seeds[i]; i++) {
		/* the seeds are real: each one is recognized as a call */
		if (check_text_calls(text_call_seeds[i], text_call_seeds[i],
		    strlen(text_call_seeds[i])) < 1)
			bad("seed not recognized as a tool call", text_call_seeds[i],
			    strlen(text_call_seeds[i]));
		corpus_add_str(&c, text_call_seeds[i]);
	}
	json_array_foreach(sc, i, s)
		json_array_foreach(json_object_get(s, "turns"), k, turn)
			if (ajson_str(turn, "content", NULL) && *ajson_str(turn, "content", ""))
				corpus_add_str(&c, ajson_str(turn, "content", ""));
	run_corpus(&c, fuzz_iters, fuzz_text);
	end_target();
	corpus_free(&c);
	json_decref(sc);
}

static void
test_arguments(void **state)
{
	struct corpus c = { 0 };
	json_t *sc = load_scenarios(), *s, *turn, *tc;
	size_t i, k, j, len;
	char *text;

	cur_target = "llm_parse_arguments";
	start_target(cur_target);
	load_schemas();
	json_array_foreach(sc, i, s)
		json_array_foreach(json_object_get(s, "turns"), k, turn)
			json_array_foreach(json_object_get(turn, "tool_calls"), j, tc) {
				char *a = args_text(json_object_get(tc, "arguments"));
				json_t *dbl = json_string(a);

				corpus_add_str(&c, a);
				corpus_add_json(&c, dbl);	/* double-encoded */
				json_decref(dbl);
				free(a);
			}
	text = read_src("tests/fixtures/llama-server/nonstream-tool-call.json", &len);
	{
		json_t *v = json_loadb(text, len, 0, NULL), *calls;

		calls = json_object_get(json_object_get(json_array_get(json_object_get(v, "choices"),
		    0), "message"), "tool_calls");
		json_array_foreach(calls, i, tc)
			corpus_add_str(&c, ajson_str(json_object_get(tc, "function"), "arguments", ""));
		json_decref(v);
	}
	free(text);
	corpus_add_str(&c, "{\"path\": \"README.md\",}");
	corpus_add_str(&c, "{\"path\": \"NOTES.md\", \"content\": \"line one\nline two\"");
	corpus_add_str(&c, "{\"command\": \"ls\", \"args\": [1, 2,]}");
	corpus_add_str(&c, "{'path': 'README.md'}");
	corpus_add_str(&c, "  ");
	run_corpus(&c, fuzz_iters, fuzz_arguments);
	end_target();
	corpus_free(&c);
	json_decref(sc);
}

/* Arguments built from each real schema, then broken structurally or as
 * text. */
static json_t *
from_schema(const json_t *schema, const struct corpus *c, int depth)
{
	const json_t *type = json_object_get(schema, "type"), *en = json_object_get(schema, "enum");
	const char *t = json_string_value(type);
	json_t *v;

	if (json_array_size(en) > 0)
		return json_deep_copy(json_array_get(en, below(json_array_size(en))));
	if (json_is_array(type))
		t = json_string_value(json_array_get(type, below(json_array_size(type))));
	if (t == NULL || depth > 6)
		return rand_json(c, 1);
	if (strcmp(t, "string") == 0) {
		static const char *const strs[] = { "README.md", "src/main.c", "", "ls -la",
			"fix: the parser", "HEAD~1", "main", "a\nb", "../../etc/passwd" };

		return json_string(strs[below(sizeof(strs) / sizeof(*strs))]);
	}
	if (strcmp(t, "integer") == 0 || strcmp(t, "number") == 0) {
		json_int_t lo = (json_int_t)ajson_num(schema, "minimum", 0);
		json_int_t hi = (json_int_t)ajson_num(schema, "maximum", lo + 100);

		if (hi < lo || hi - lo > 1000000)
			hi = lo + 100;

		return json_integer(lo + (json_int_t)below((size_t)(hi - lo) + 1));
	}
	if (strcmp(t, "boolean") == 0)
		return json_boolean(below(2));
	if (strcmp(t, "array") == 0) {
		size_t k;

		v = json_array();
		for (k = below(4); k > 0; k--)
			json_array_append_new(v, from_schema(json_object_get(schema, "items"), c,
			    depth + 1));
		return v;
	}
	if (strcmp(t, "object") == 0) {
		const json_t *props = json_object_get(schema, "properties"), *req, *ps;
		const char *key;

		req = json_object_get(schema, "required");
		v = json_object();
		json_object_foreach((json_t *)props, key, ps) {
			size_t i;
			int must = 0;

			for (i = 0; i < json_array_size(req); i++)
				if (strcmp(json_string_value(json_array_get(req, i)) ?
				    json_string_value(json_array_get(req, i)) : "", key) == 0)
					must = 1;
			if (must || below(3))
				json_object_set_new(v, key, from_schema(ps, c, depth + 1));
		}
		return v;
	}
	return json_null();
}

static void
fuzz_validate_text(const char *p, size_t n)
{
	json_t *v = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	if (v != NULL)
		check_validate(NULL, v, p, n);
	json_decref(v);
}

static void
test_validate(void **state)
{
	struct corpus c = { 0 };
	const char *name;
	json_t *schema;
	size_t i;

	cur_target = "tools_validate";
	start_target(cur_target);
	load_schemas();
	for (i = 0; cron_seeds[i]; i++)	/* strings for rand_json */
		corpus_add_str(&c, cron_seeds[i]);
	for (i = 0; text_call_seeds[i]; i++)
		corpus_add_str(&c, text_call_seeds[i]);
	/* generated arguments: mostly valid, so validation goes deep */
	for (cur_iter = 0; cur_iter < fuzz_iters; cur_iter++) {
		json_object_foreach(schemas, name, schema) {
			json_t *args;
			char *txt;

			if (below(json_object_size(schemas)) != 0)
				continue;
			args = from_schema(schema, &c, 0);
			if (below(2))
				mutate_json(args, &c, 0);
			txt = ajson_dumps(args);
			stat_in++;
			check_validate(name, args, txt ? txt : "", txt ? strlen(txt) : 0);
			if (txt != NULL && below(4) == 0)
				corpus_add_str(&c, txt);
			free(txt);
			json_decref(args);
		}
	}
	/* and as text, mutated */
	run_corpus(&c, fuzz_iters / 2, fuzz_validate_text);
	end_target();
	corpus_free(&c);
}

static void
test_cron(void **state)
{
	struct corpus c = { 0 };
	size_t i;

	cur_target = "cron";
	start_target(cur_target);
	for (i = 0; cron_seeds[i]; i++)
		corpus_add_str(&c, cron_seeds[i]);
	run_corpus(&c, fuzz_iters, fuzz_cron);
	/* generated: fields built from the grammar, values mostly in range */
	for (cur_iter = 0; cur_iter < fuzz_iters; cur_iter++) {
		static const int lo[5] = { 0, 0, 1, 1, 0 }, hi[5] = { 59, 23, 31, 12, 7 };
		static const char *const names[] = { "jan", "FEB", "Dec", "sun", "MON", "sat" };
		struct abuf e;
		int f, k;

		abuf_init(&e, 4096);
		for (f = 0; f < 5; f++) {
			int span = hi[f] - lo[f] + 1;

			for (k = below(4) ? 1 : 2 + (int)below(3); k > 0; k--) {
				int a = lo[f] + (int)below((size_t)span), b = a + (int)below((size_t)(hi[f] - a + 1));

				if (below(40) == 0)	/* out of range or huge */
					a = below(2) ? hi[f] + 1 + (int)below(100) : INT_MAX;
				switch (below(40) == 0 ? 6 : below(6)) {
				case 0: abuf_puts(&e, "*"); break;
				case 1: abuf_printf(&e, "*/%d", 1 + (int)below(70)); break;
				case 2: abuf_printf(&e, "%d-%d", a, b); break;
				case 3: abuf_printf(&e, "%d-%d/%d", a, b, 1 + (int)below(40)); break;
				case 4:	/* names: months and weekdays only */
					if (f >= 3)
						abuf_puts(&e, names[(f == 3 ? 0 : 3) + below(3)]);
					else
						abuf_printf(&e, "%d", a);
					break;
				case 5: abuf_printf(&e, "%d", a); break;
				default: abuf_printf(&e, "%d-%d/%d", b, a, (int)below(3)); break;
				}
				if (k > 1)
					abuf_puts(&e, ",");
			}
			abuf_puts(&e, f < 4 ? (below(10) ? " " : "\t ") : "");
		}
		stat_in++;
		fuzz_cron(e.data, e.len);
		abuf_free(&e);
	}
	end_target();
	corpus_free(&c);
}

static void
test_chore(void **state)
{
	struct corpus c = { 0 }, strs = { 0 };
	char **files;
	size_t i, n = list_src("chores", ".json", &files), len;
	json_t *valid = json_array();

	cur_target = "chore_validate";
	start_target(cur_target);
	for (i = 0; i < n; i++) {
		char *text = read_src(files[i], &len);
		json_t *v = json_loadb(text, len, 0, NULL);

		corpus_add(&c, text, len);
		if (v == NULL || chore_validate(v, NULL) != AGENTD_OK)
			fail_msg("%s: the shipped chore does not validate", files[i]);
		json_array_append_new(valid, v);
		free(text);
	}
	free_list(files, n);
	assert_true(json_array_size(valid) > 0);
	corpus_add_str(&c, "{\"prompt\":\"Summarize the log\",\"schedule\":\"@daily\","
	    "\"tz\":\"Europe/Berlin\",\"branch\":\"agent/notes\",\"tools\":[\"read_file\"]}");
	for (i = 0; cron_seeds[i]; i++)
		corpus_add_str(&strs, cron_seeds[i]);
	static const char *const odd[] = { "UTC", "Europe/Berlin", "../../etc/passwd",
		"Etc/GMT+5", "Europe", "posixrules", "a/b/c", "read-only", "full-access",
		"agent/fix", "-x", "a..b", "refs/heads/x", "x.lock", "read_file", "shell" };
	for (i = 0; i < sizeof(odd) / sizeof(*odd); i++)
		corpus_add_str(&strs, odd[i]);
	/* structural: real chores with members replaced */
	for (cur_iter = 0; cur_iter < fuzz_iters; cur_iter++) {
		json_t *v = json_deep_copy(json_array_get(valid, below(json_array_size(valid))));
		char *txt;

		mutate_json(v, &strs, 0);
		if (below(2))
			mutate_json(v, &strs, 0);
		txt = ajson_dumps(v);
		stat_in++;
		check_chore(v, txt ? txt : "", txt ? strlen(txt) : 0);
		free(txt);
		json_decref(v);
	}
	json_decref(valid);
	run_corpus(&c, fuzz_iters / 2, fuzz_chore);
	end_target();
	corpus_free(&c);
	corpus_free(&strs);
}

static void
fuzz_lossy(const char *p, size_t n)
{
	char *in = exact(p, n);
	json_t *v = ajson_string_lossy(in, n);
	const char *s;
	size_t len;

	if (!json_is_string(v))
		bad("ajson_string_lossy: not a string", p, n);
	s = json_string_value(v);
	len = json_string_length(v);
	if (!valid_utf8((const unsigned char *)s, len) || s[len] != '\0')
		bad("ajson_string_lossy: result is not UTF-8 without NUL", p, n);
	if (len > 3 * n)
		bad("ajson_string_lossy: result too long", p, n);
	if (valid_utf8((const unsigned char *)p, n)) {
		if (len != n || memcmp(s, p, n) != 0)
			bad("ajson_string_lossy: valid UTF-8 changed", p, n);
		stat_ok++;
	}
	json_decref(v);
	free(in);
}

static void
test_lossy(void **state)
{
	struct corpus c = { 0 };
	size_t i, k, len;
	char *text;

	cur_target = "ajson_string_lossy";
	start_target(cur_target);
	text = read_src("tests/fixtures/llama-server/stream-tool-call.sse", &len);
	corpus_add(&c, text, len < 4096 ? len : 4096);
	free(text);
	for (i = 0; text_call_seeds[i]; i++)
		corpus_add_str(&c, text_call_seeds[i]);
	for (i = 0; i < sizeof(invalid_utf8) / sizeof(*invalid_utf8); i++)
		corpus_add_str(&c, invalid_utf8[i]);
	corpus_add_str(&c, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd");
	corpus_add(&c, "a\0b\0", 4);
	for (i = 0; i < 64; i++) {	/* random valid UTF-8 */
		char s[256];
		size_t n = 0;

		for (k = below(40); k > 0; k--)
			n += rand_utf8(s + n);
		corpus_add(&c, s, n);
	}
	run_corpus(&c, fuzz_iters * 2, fuzz_lossy);
	end_target();
	corpus_free(&c);
}

static int
setup(void **state)
{
	const char *s = getenv("FUZZ_ITERS"), *seed = getenv("FUZZ_SEED");

	if (s && *s)
		fuzz_iters = strtoull(s, NULL, 10);
	if (seed && *seed)
		fuzz_seed = strtoull(seed, NULL, 0);
	fprintf(stderr, "fuzz: FUZZ_SEED=%llu FUZZ_ITERS=%zu\n", fuzz_seed, fuzz_iters);
	load_schemas();
	return 0;
}

static int
teardown(void **state)
{
	json_decref(schemas);
	schemas = NULL;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc),
		cmocka_unit_test(test_framer),
		cmocka_unit_test(test_sse),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_text_calls),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_cron),
		cmocka_unit_test(test_chore),
		cmocka_unit_test(test_lossy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
