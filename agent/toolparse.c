/*
 * toolparse.c — the tolerant side of tool calling.
 *
 * Finds tool calls that a server left in the answer text (Hermes/Qwen
 * <tool_call>, Mistral [TOOL_CALLS], Llama 3.1 <|python_tag|>, fenced
 * ```json blocks, a bare JSON object as the whole message), and parses a
 * call's arguments with a few conservative repairs: trailing commas,
 * closing braces missing at the end of a cut text, raw control characters
 * inside strings. Anything riskier (single quotes, a cut inside a string)
 * is refused with a message a small model can act on.
 */
#include "agent/llm.h"
#include "agent/llm_internal.h"
#include "common/buf.h"
#include "common/json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARGS_MAX	(4u << 20)	/* repaired text cap */
#define NEST_MAX	256
#define TEXT_CALLS_MAX	64
#define EXAMPLE		"send a JSON object like {\"path\":\"README.md\"}"

/* ---- arguments ---- */

/* Last byte of b that is not white space, or -1. */
static long
last_sig(const struct abuf *b)
{
	long i = (long)b->len - 1;

	while (i >= 0 && isspace((unsigned char)b->data[i]))
		i--;
	return i;
}

/* Drop a comma that is the last significant byte of b. */
static int
drop_trailing_comma(struct abuf *b)
{
	long i = last_sig(b);

	if (i < 0 || b->data[i] != ',')
		return 0;
	memmove(b->data + i, b->data + i + 1, b->len - (size_t)i - 1);
	b->len--;
	b->data[b->len] = '\0';
	return 1;
}

/*
 * Rewrite text with the allowed repairs into out. Returns 0 when the text
 * cannot be repaired safely (cut inside a string, mismatched brackets,
 * nesting too deep).
 */
static int
repair_text(const char *p, size_t n, struct abuf *out)
{
	char stack[NEST_MAX];
	int depth = 0, in_str = 0, esc = 0;
	size_t i;
	char tmp[8];

	for (i = 0; i < n; i++) {
		char c = p[i];
		const char *add = NULL;

		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			else if (c == '\n')
				add = "\\n";
			else if (c == '\r')
				add = "\\r";
			else if (c == '\t')
				add = "\\t";
			else if ((unsigned char)c < 0x20) {
				snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned)c);
				add = tmp;
			}
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (depth == NEST_MAX)
				return 0;
			stack[depth++] = c == '{' ? '}' : ']';
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != c)
				return 0;
			depth--;
			drop_trailing_comma(out);
		}
		if (add ? abuf_puts(out, add) : abuf_append(out, &c, 1))
			return 0;
	}
	if (in_str)
		return 0;	/* cut inside a string: the value would be made up */
	if (depth > 0) {
		long k = last_sig(out);

		if (k >= 0 && out->data[k] == ':')
			return 0;	/* a key without its value */
		while (depth > 0) {
			drop_trailing_comma(out);
			if (abuf_append(out, &stack[--depth], 1))
				return 0;
		}
	}
	return 1;
}

/* A quote character outside double-quoted strings: single-quoted JSON. */
static int
has_single_quotes(const char *p, size_t n)
{
	int in_str = 0, esc = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (in_str) {
			if (esc)
				esc = 0;
			else if (p[i] == '\\')
				esc = 1;
			else if (p[i] == '"')
				in_str = 0;
		} else if (p[i] == '"') {
			in_str = 1;
		} else if (p[i] == '\'') {
			return 1;
		}
	}
	return 0;
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	default: return "an object";
	}
}

/*
 * Parse p[0..n) as any JSON value, repairing when needed. NULL with err
 * when it cannot be read.
 */
static json_t *
parse_lenient(const char *p, size_t n, int *repaired, struct agentd_error *err)
{
	json_error_t jerr;
	json_t *v;
	struct abuf fixed;

	v = json_loadb(p, n, JSON_DECODE_ANY, &jerr);
	if (v != NULL)
		return v;
	if (has_single_quotes(p, n)) {
		agentd_seterr(err, AGENTD_EINVAL, "arguments are not valid JSON: "
		    "strings and keys must use double quotes (\"), not single quotes; "
		    EXAMPLE);
		return NULL;
	}
	abuf_init(&fixed, n + n / 4 + 64 < ARGS_MAX ? n + n / 4 + 64 : ARGS_MAX);
	if (repair_text(p, n, &fixed)) {
		json_error_t jerr2;

		v = json_loadb(fixed.data ? fixed.data : "", fixed.len, JSON_DECODE_ANY, &jerr2);
	}
	abuf_free(&fixed);
	if (v != NULL) {
		if (repaired)
			*repaired = 1;
		return v;
	}
	agentd_seterr(err, AGENTD_EINVAL, "arguments are not valid JSON: %s at position %d; "
	    EXAMPLE, jerr.text, jerr.position);
	return NULL;
}

json_t *
llm_parse_arguments(const char *text, int *repaired, struct agentd_error *err)
{
	size_t n, i = 0;
	int fix = 0;
	json_t *v;

	if (text == NULL) {
		agentd_seterr(err, AGENTD_EINVAL, "arguments are missing; " EXAMPLE);
		return NULL;
	}
	n = strlen(text);
	while (i < n && isspace((unsigned char)text[i]))
		i++;
	if (i == n) {		/* a call without arguments */
		if (repaired)
			*repaired = 0;
		return json_object();
	}
	v = parse_lenient(text, n, &fix, err);
	if (v == NULL)
		return NULL;
	if (json_is_string(v)) {	/* double-encoded */
		const char *s = json_string_value(v);
		json_t *inner = parse_lenient(s, json_string_length(v), &fix, err);

		json_decref(v);
		if (inner == NULL)
			return NULL;
		v = inner;
		fix = 1;
	}
	if (!json_is_object(v)) {
		agentd_seterr(err, AGENTD_EINVAL, "arguments must be a JSON object, not %s; "
		    EXAMPLE, type_name(v));
		json_decref(v);
		return NULL;
	}
	if (repaired)
		*repaired = fix;
	return v;
}

/* ---- tool calls in text ---- */

struct found {
	size_t start;		/* where its markup starts (orders the calls) */
	char *name;
	char *args;
};

struct scan {
	const char *text;
	size_t n;
	char *drop;		/* drop[i]: byte i is markup */
	struct found calls[TEXT_CALLS_MAX];
	int ncalls;
};

/* Length of the balanced JSON value at p (which starts with { or [), or 0. */
static size_t
json_extent(const char *p, size_t n)
{
	int depth = 0, in_str = 0, esc = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
			if (depth < 0)
				return 0;
		}
	}
	return 0;
}

/* Name and arguments of a call object, or 0 when it is not one. Inside
 * explicit markup (`loose`) the arguments may be missing. */
static int
call_shape(json_t *v, int loose, const char **name, json_t **args)
{
	json_t *fn = json_object_get(v, "function");
	json_t *a;

	if (!json_is_object(v))
		return 0;
	if (json_is_object(fn) && !json_is_string(json_object_get(v, "name")))
		v = fn;
	if (!json_is_string(json_object_get(v, "name")) ||
	    json_string_length(json_object_get(v, "name")) == 0)
		return 0;
	a = json_object_get(v, "arguments");
	if (a == NULL)
		a = json_object_get(v, "parameters");
	if (a == NULL && !loose)
		return 0;
	if (a != NULL && !json_is_object(a) && !json_is_string(a))
		return 0;
	*name = json_string_value(json_object_get(v, "name"));
	*args = a;
	return 1;
}

/* Does v hold call(s) only? */
static int
all_calls(json_t *v, int loose)
{
	const char *name;
	json_t *args, *el;
	size_t i;

	if (json_is_object(v))
		return call_shape(v, loose, &name, &args);
	if (!json_is_array(v) || json_array_size(v) == 0)
		return 0;
	json_array_foreach(v, i, el)
		if (!call_shape(el, loose, &name, &args))
			return 0;
	return 1;
}

static void
add_one(struct scan *sc, size_t start, const char *name, json_t *args)
{
	struct found *f;

	if (sc->ncalls == TEXT_CALLS_MAX)
		return;
	f = &sc->calls[sc->ncalls];
	f->start = start;
	f->name = strdup(name);
	if (args == NULL)
		f->args = strdup("{}");
	else if (json_is_string(args))
		f->args = strdup(json_string_value(args));
	else
		f->args = ajson_dumps(args);
	if (f->name == NULL || f->args == NULL) {
		free(f->name);
		free(f->args);
		return;
	}
	sc->ncalls++;
}

/* Record the call(s) in v (already checked with all_calls). */
static void
add_calls(struct scan *sc, size_t start, json_t *v, int loose)
{
	const char *name;
	json_t *args, *el;
	size_t i;

	if (json_is_object(v)) {
		if (call_shape(v, loose, &name, &args))
			add_one(sc, start, name, args);
		return;
	}
	json_array_foreach(v, i, el)
		if (call_shape(el, loose, &name, &args))
			add_one(sc, start, name, args);
}

static void
mark(struct scan *sc, size_t a, size_t b)
{
	if (b > sc->n)
		b = sc->n;
	if (a < b)
		memset(sc->drop + a, 1, b - a);
}

static size_t
skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && isspace((unsigned char)p[i]))
		i++;
	return i;
}

static int
starts(const char *p, size_t i, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n - i >= l && memcmp(p + i, lit, l) == 0;
}

static const char *
find(const char *p, size_t from, size_t n, const char *lit)
{
	size_t l = strlen(lit), i;

	for (i = from; i + l <= n; i++)
		if (p[i] == lit[0] && memcmp(p + i, lit, l) == 0)
			return p + i;
	return NULL;
}

/*
 * Read the JSON value at p[i] (an object or array; when unbalanced, up to
 * `limit` with repairs). On success *end is past it; returns the value.
 */
static json_t *
read_value(const char *p, size_t i, size_t limit, size_t *end)
{
	size_t len;
	json_t *v;

	if (i >= limit || (p[i] != '{' && p[i] != '['))
		return NULL;
	len = json_extent(p + i, limit - i);
	if (len > 0) {
		v = parse_lenient(p + i, len, NULL, NULL);
		if (v != NULL) {
			*end = i + len;
			return v;
		}
	}
	len = limit - i;	/* cut: try the rest as a whole */
	while (len > 0 && isspace((unsigned char)p[i + len - 1]))
		len--;
	v = parse_lenient(p + i, len, NULL, NULL);
	if (v != NULL)
		*end = limit;
	return v;
}

/*
 * Inside explicit markup whose JSON does not parse (single quotes, a cut
 * string): keep the call when its name can be read, with the arguments as
 * raw text, so that llm_parse_arguments can tell the model what is wrong.
 */
static int
salvage(struct scan *sc, size_t start, size_t i, size_t limit)
{
	const char *p = sc->text, *k, *a = NULL;
	char name[128];
	size_t j, n = 0, end = limit;
	char *args;

	if (i >= limit || p[i] != '{' || (k = find(p, i, limit, "\"name\"")) == NULL)
		return 0;
	j = skip_ws(p, (size_t)(k - p) + 6, limit);
	if (j >= limit || p[j] != ':')
		return 0;
	j = skip_ws(p, j + 1, limit);
	if (j >= limit || p[j] != '"')
		return 0;
	for (j++; j < limit && p[j] != '"' && n < sizeof(name) - 1; j++) {
		if (!(isalnum((unsigned char)p[j]) || p[j] == '_' || p[j] == '-' || p[j] == '.'))
			return 0;
		name[n++] = p[j];
	}
	if (j >= limit || p[j] != '"' || n == 0)
		return 0;
	name[n] = '\0';
	if ((k = find(p, j, limit, "\"arguments\"")) != NULL)
		a = k + 11;
	else if ((k = find(p, j, limit, "\"parameters\"")) != NULL)
		a = k + 12;
	if (a == NULL)
		return 0;
	j = skip_ws(p, (size_t)(a - p), limit);
	if (j >= limit || p[j] != ':')
		return 0;
	j = skip_ws(p, j + 1, limit);
	while (end > j && isspace((unsigned char)p[end - 1]))
		end--;
	if (end > j && p[end - 1] == '}' && json_extent(p + i, limit - i) == end - i)
		end--;		/* the call object's own closing brace */
	while (end > j && isspace((unsigned char)p[end - 1]))
		end--;
	if ((args = strndup(p + j, end - j)) == NULL || sc->ncalls == TEXT_CALLS_MAX) {
		free(args);
		return 0;
	}
	sc->calls[sc->ncalls].start = start;
	sc->calls[sc->ncalls].args = args;
	if ((sc->calls[sc->ncalls].name = strdup(name)) == NULL) {
		free(args);
		return 0;
	}
	sc->ncalls++;
	return 1;
}

/* <tool_call>{…}</tool_call>, several; the closing tag may be missing. */
static void
scan_hermes(struct scan *sc)
{
	const char *p = sc->text, *t;
	size_t n = sc->n, from = 0;

	while ((t = find(p, from, n, "<tool_call>")) != NULL) {
		size_t start = (size_t)(t - p), i, end = 0, limit;
		const char *close, *next;
		json_t *v;

		i = skip_ws(p, start + strlen("<tool_call>"), n);
		close = find(p, i, n, "</tool_call>");
		next = find(p, i, n, "<tool_call>");
		limit = close ? (size_t)(close - p) : next ? (size_t)(next - p) : n;
		if (next && close && next < close)
			limit = (size_t)(next - p);
		v = read_value(p, i, limit, &end);
		if (v != NULL && all_calls(v, 1)) {
			add_calls(sc, start, v, 1);
			end = skip_ws(p, end, n);
			if (starts(p, end, n, "</tool_call>"))
				end += strlen("</tool_call>");
			mark(sc, start, end);
		} else if (v == NULL && salvage(sc, start, i, limit)) {
			end = close ? limit + strlen("</tool_call>") : limit;
			mark(sc, start, end);
		} else {
			end = i;
		}
		json_decref(v);
		from = end > start ? end : start + 1;
	}
}

/* [TOOL_CALLS][{…},…] and [TOOL_CALLS]name[ARGS]{…}. */
static void
scan_mistral(struct scan *sc)
{
	const char *p = sc->text, *t;
	size_t n = sc->n, from = 0;

	while ((t = find(p, from, n, "[TOOL_CALLS]")) != NULL) {
		size_t start = (size_t)(t - p), i, end = 0;
		json_t *v;

		i = skip_ws(p, start + strlen("[TOOL_CALLS]"), n);
		from = i;
		if (i < n && p[i] == '[') {
			v = read_value(p, i, n, &end);
			if (v != NULL && all_calls(v, 1)) {
				add_calls(sc, start, v, 1);
				mark(sc, start, end);
				from = end;
			}
			json_decref(v);
			continue;
		}
		/* name[ARGS]{…}, possibly repeated */
		for (;;) {
			size_t ns = i, ne;
			char name[128];

			while (i < n && (isalnum((unsigned char)p[i]) || p[i] == '_' ||
			    p[i] == '-' || p[i] == '.'))
				i++;
			ne = i;
			if (ne == ns || ne - ns >= sizeof(name) || !starts(p, i, n, "[ARGS]"))
				break;
			i = skip_ws(p, i + strlen("[ARGS]"), n);
			v = read_value(p, i, n, &end);
			if (v == NULL || !json_is_object(v)) {
				json_decref(v);
				break;
			}
			memcpy(name, p + ns, ne - ns);
			name[ne - ns] = '\0';
			add_one(sc, ns, name, v);
			json_decref(v);
			mark(sc, start, end);
			start = end;
			i = from = skip_ws(p, end, n);
			if (starts(p, i, n, "[TOOL_CALLS]"))
				i = skip_ws(p, i + strlen("[TOOL_CALLS]"), n);
		}
	}
}

/* <|python_tag|>{"name","parameters"} [; {…}] ended by <|eom_id|> or <|eot_id|>. */
static void
scan_llama(struct scan *sc)
{
	const char *p = sc->text, *t;
	size_t n = sc->n, from = 0;

	while ((t = find(p, from, n, "<|python_tag|>")) != NULL) {
		size_t start = (size_t)(t - p), i, end = 0;
		json_t *v;

		i = skip_ws(p, start + strlen("<|python_tag|>"), n);
		from = i;
		while ((v = read_value(p, i, n, &end)) != NULL) {
			if (!all_calls(v, 1)) {
				json_decref(v);
				break;
			}
			add_calls(sc, start, v, 1);
			json_decref(v);
			mark(sc, start, end);
			start = end;
			i = from = skip_ws(p, end, n);
			if (i < n && p[i] == ';')
				i = skip_ws(p, i + 1, n);
		}
	}
}

/* ```json / ``` fences holding a call object or an array of them. */
static void
scan_fenced(struct scan *sc)
{
	const char *p = sc->text, *t;
	size_t n = sc->n, from = 0;

	while ((t = find(p, from, n, "```")) != NULL) {
		size_t start = (size_t)(t - p), i = start + 3, info, body, limit, end = 0;
		const char *close;
		json_t *v;

		info = i;
		while (i < n && p[i] != '\n' && !isspace((unsigned char)p[i]))
			i++;
		if (!(i == info || (i - info == 4 && strncasecmp(p + info, "json", 4) == 0) ||
		    (i - info == 9 && strncmp(p + info, "tool_call", 9) == 0) ||
		    (i - info == 10 && strncmp(p + info, "tool_calls", 10) == 0))) {
			close = find(p, i, n, "```");
			from = close ? (size_t)(close - p) + 3 : n;
			continue;
		}
		body = skip_ws(p, i, n);
		close = find(p, body, n, "```");
		limit = close ? (size_t)(close - p) : n;
		v = read_value(p, body, limit, &end);
		if (v != NULL && all_calls(v, 0) && skip_ws(p, end, limit) == limit) {
			add_calls(sc, start, v, 0);
			mark(sc, start, close ? limit + 3 : n);
		}
		json_decref(v);
		from = close ? limit + 3 : n;
	}
}

/* The whole message is one call object (or an array of them). */
static void
scan_bare(struct scan *sc)
{
	const char *p = sc->text;
	size_t n = sc->n, i = 0, end = 0, j;
	json_t *v;

	while (i < n && (sc->drop[i] || isspace((unsigned char)p[i])))
		i++;
	if (i == n || (p[i] != '{' && p[i] != '['))
		return;
	j = i;
	while (j < n && !sc->drop[j])
		j++;
	v = read_value(p, i, j, &end);
	if (v != NULL && all_calls(v, 0)) {
		size_t k = end;

		while (k < n && (sc->drop[k] || isspace((unsigned char)p[k])))
			k++;
		if (k == n) {
			add_calls(sc, i, v, 0);
			mark(sc, i, end);
		}
	}
	json_decref(v);
}

/* Mark every occurrence of a special token. */
static void
mark_token(struct scan *sc, const char *lit)
{
	const char *t;
	size_t from = 0;

	while ((t = find(sc->text, from, sc->n, lit)) != NULL) {
		from = (size_t)(t - sc->text);
		mark(sc, from, from + strlen(lit));
		from += strlen(lit);
	}
}

char *
llm_split_think(const char *text, const char **body)
{
	const char *p = text, *end;
	size_t n;
	char *r;

	while (isspace((unsigned char)*p))
		p++;
	if (strncmp(p, "<think>", 7) != 0) {
		*body = text;
		return NULL;
	}
	p += 7;
	end = strstr(p, "</think>");
	n = end ? (size_t)(end - p) : strlen(p);
	*body = end ? end + 8 : p + n;
	while (n > 0 && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)p[n - 1]))
		n--;
	r = strndup(p, n);
	if (r == NULL)
		*body = text;
	return r;
}

static int
cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

json_t *
llm_extract_text_calls(const char *content, char **rest)
{
	struct scan sc;
	const char *body;
	char *think;
	json_t *out;
	struct abuf r;
	size_t i;
	int k;

	if (content == NULL)
		content = "";
	think = llm_split_think(content, &body);
	free(think);
	memset(&sc, 0, sizeof(sc));
	sc.text = body;
	sc.n = strlen(body);
	sc.drop = calloc(sc.n + 1, 1);
	out = json_array();
	if (sc.drop == NULL || out == NULL) {
		free(sc.drop);
		json_decref(out);
		return NULL;
	}
	mark_token(&sc, "<|eom_id|>");
	mark_token(&sc, "<|eot_id|>");
	mark_token(&sc, "</s>");
	scan_hermes(&sc);
	scan_mistral(&sc);
	scan_llama(&sc);
	if (sc.ncalls == 0)
		scan_fenced(&sc);
	if (sc.ncalls == 0)
		scan_bare(&sc);
	qsort(sc.calls, (size_t)sc.ncalls, sizeof(sc.calls[0]), cmp_found);
	for (k = 0; k < sc.ncalls; k++) {
		json_t *c = json_object();
		char id[32];

		snprintf(id, sizeof(id), "text_%d", k + 1);
		if (c == NULL || ajson_set_str(c, "id", id) || ajson_set_str(c, "name", sc.calls[k].name) ||
		    ajson_set_str(c, "arguments", sc.calls[k].args) || json_array_append_new(out, c)) {
			json_decref(c);
			break;
		}
	}
	for (k = 0; k < sc.ncalls; k++) {
		free(sc.calls[k].name);
		free(sc.calls[k].args);
	}
	if (rest != NULL) {
		size_t a, b;

		abuf_init(&r, sc.n + 1);
		for (i = 0; i < sc.n; i++)
			if (!sc.drop[i])
				abuf_append(&r, body + i, 1);
		a = 0;
		b = r.len;
		while (a < b && isspace((unsigned char)r.data[a]))
			a++;
		while (b > a && isspace((unsigned char)r.data[b - 1]))
			b--;
		*rest = strndup(r.data ? r.data + a : "", b - a);
		abuf_free(&r);
	}
	free(sc.drop);
	return out;
}
