/* rpc.c — line framing and JSON-RPC 2.0 validation and dispatch. */
#include "daemon/rpc.h"
#include "common/error.h"
#include "common/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
rpc_code_for_err(int rc)
{
	switch (rc) {
	case AGENTD_ENOTFOUND: return RPC_NOT_FOUND;
	case AGENTD_EINVAL: case AGENTD_ETOOBIG: return RPC_INVALID_PARAMS;
	case AGENTD_ENOTIMPL: return RPC_NOT_IMPLEMENTED;
	case AGENTD_EBUSY: case AGENTD_EEXIST: return RPC_BUSY;
	case AGENTD_EDENIED: return RPC_DENIED;
	case AGENTD_EDB: case AGENTD_EIO: case AGENTD_ENOSPC: case AGENTD_ECORRUPT:
	case AGENTD_ECANCELLED: case AGENTD_ETIMEOUT:
		return RPC_UNAVAILABLE;
	default: return RPC_INTERNAL_ERROR;
	}
}

void
rpc_framer_init(struct rpc_framer *f, size_t max_line)
{
	abuf_init(&f->buf, max_line + 1);
	f->max_line = max_line;
	f->overflow = 0;
}

int
rpc_framer_feed(struct rpc_framer *f, const char *p, size_t n,
    int (*fn)(void *ud, char *line, size_t len), void *ud)
{
	const char *nl;
	size_t take, start, len;
	int rc = 0;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		take = nl ? (size_t)(nl - p) : n;
		if (f->buf.len + take > f->max_line) {
			f->overflow = 1;
			return AGENTD_ETOOBIG;
		}
		if (abuf_append(&f->buf, p, take) != AGENTD_OK)
			return AGENTD_ENOMEM;
		if (nl == NULL)
			return 0;
		p += take + 1;
		n -= take + 1;
		len = f->buf.len;
		if (len > 0 && f->buf.data[len - 1] == '\r')
			f->buf.data[--len] = '\0';
		start = 0;
		while (start < len && (f->buf.data[start] == ' ' || f->buf.data[start] == '\t'))
			start++;
		if (len > start)
			rc = fn(ud, f->buf.data + start, len - start);
		abuf_reset(&f->buf);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void
rpc_framer_free(struct rpc_framer *f)
{
	abuf_free(&f->buf);
}

void
rpc_framer_shrink(struct rpc_framer *f)
{
	abuf_free(&f->buf);
}

static char *
finish_line(json_t *msg)
{
	char *s, *line;
	size_t n;

	if (msg == NULL)
		return NULL;
	s = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (line == NULL) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *
rpc_result_line(json_t *id, json_t *result)
{
	json_t *msg = json_pack("{s:s, s:O?, s:o}", "jsonrpc", "2.0", "id", id,
	    "result", result ? result : json_null());

	if (msg && id == NULL)
		json_object_set_new(msg, "id", json_null());
	return finish_line(msg);
}

char *
rpc_error_line(json_t *id, int code, const char *message, json_t *data)
{
	const char *text = message ? message : "error";
	json_t *err, *msg;

	/* Messages quote what the client sent, cut to fit: never let a bad byte
	 * or a cut character cost the client its answer. */
	err = json_pack("{s:i, s:o}", "code", code, "message", ajson_string_lossy(text, strlen(text)));

	if (err && data)
		json_object_set_new(err, "data", data);
	else if (data)
		json_decref(data);
	msg = json_pack("{s:s, s:O?, s:o}", "jsonrpc", "2.0", "id", id, "error", err);
	if (msg && id == NULL)
		json_object_set_new(msg, "id", json_null());
	return finish_line(msg);
}

char *
rpc_notify_line(const char *method, json_t *params)
{
	return finish_line(json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method,
	    "params", params ? params : json_object()));
}

char *
rpc_request_line(json_int_t id, const char *method, json_t *params)
{
	return finish_line(json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", id,
	    "method", method, "params", params ? params : json_object()));
}

enum rpc_status
rpc_fail(struct rpc_call *call, int code, const char *fmt, ...)
{
	va_list ap;

	call->err_code = code;
	va_start(ap, fmt);
	vsnprintf(call->err_msg, sizeof(call->err_msg), fmt, ap);
	va_end(ap);
	return RPC_FAILED;
}

static const char *
type_name(enum rpc_type t)
{
	switch (t) {
	case RPC_T_STR: return "a string";
	case RPC_T_INT: return "an integer";
	case RPC_T_BOOL: return "a boolean";
	case RPC_T_OBJ: return "an object";
	case RPC_T_ARR: return "an array";
	case RPC_T_NUM: return "a number";
	case RPC_T_STR_OR_BOOL: return "a string or a boolean";
	default: return "a value";
	}
}

static int
type_ok(const json_t *v, enum rpc_type t)
{
	switch (t) {
	case RPC_T_STR: return json_is_string(v);
	case RPC_T_INT: return json_is_integer(v);
	case RPC_T_BOOL: return json_is_boolean(v);
	case RPC_T_OBJ: return json_is_object(v);
	case RPC_T_ARR: return json_is_array(v);
	case RPC_T_NUM: return json_is_number(v);
	case RPC_T_STR_OR_BOOL: return json_is_string(v) || json_is_boolean(v);
	default: return 1;
	}
}

int
rpc_check_params(const json_t *params, const struct rpc_param *spec, char *msg, size_t len)
{
	const struct rpc_param *p;
	const char *key;
	json_t *v;

	if (spec == NULL)
		return 0;
	for (p = spec; p->name; p++) {
		v = json_object_get(params, p->name);
		if (v == NULL || json_is_null(v)) {
			if (p->required) {
				snprintf(msg, len, "missing required param '%s' (%s)", p->name,
				    type_name(p->type));
				return RPC_INVALID_PARAMS;
			}
			continue;
		}
		if (!type_ok(v, p->type)) {
			size_t n = strlen(p->name);

			/* Durations travel as numbers of seconds (the _s suffix). */
			snprintf(msg, len, "param '%s' must be %s%s", p->name, type_name(p->type),
			    n > 2 && strcmp(p->name + n - 2, "_s") == 0 ? " of seconds (not a string "
			    "with a unit)" : "");
			return RPC_INVALID_PARAMS;
		}
		if (p->min < p->max && json_is_number(v) &&
		    !(json_number_value(v) >= p->min && json_number_value(v) <= p->max)) {
			snprintf(msg, len, "param '%s' must be from %.15g to %.15g, not %.15g", p->name,
			    p->min, p->max, json_number_value(v));
			return RPC_INVALID_PARAMS;
		}
	}
	json_object_foreach((json_t *)params, key, v) {
		for (p = spec; p->name; p++)
			if (strcmp(p->name, key) == 0)
				break;
		if (p->name == NULL) {
			snprintf(msg, len, "unknown param '%s'", key);
			return RPC_INVALID_PARAMS;
		}
	}
	return 0;
}

const struct rpc_method *
rpc_find(const struct rpc_method *table, const char *name)
{
	for (; table->name; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

char *
rpc_handle_line(const struct rpc_method *table, void *ctx, void *conn,
    const char *line, size_t len, json_t **deferred_id)
{
	struct agentd_error err;
	struct rpc_call call;
	const struct rpc_method *m;
	json_t *root, *id, *ver, *method, *params;
	char msg[600];
	char *out = NULL;
	enum rpc_status st;
	int code;

	*deferred_id = NULL;
	agentd_error_clear(&err);
	root = ajson_loads(line, len, &err);
	if (root == NULL) {
		snprintf(msg, sizeof(msg), "parse error: %.500s", err.msg);
		return rpc_error_line(NULL, RPC_PARSE_ERROR, msg, NULL);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return rpc_error_line(NULL, RPC_INVALID_REQUEST,
		    "invalid request: a request must be a JSON object", NULL);
	}
	id = json_object_get(root, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
		json_decref(root);
		return rpc_error_line(NULL, RPC_INVALID_REQUEST,
		    "invalid request: 'id' must be a string, an integer or null", NULL);
	}
	ver = json_object_get(root, "jsonrpc");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0) {
		out = rpc_error_line(id, RPC_INVALID_REQUEST,
		    "invalid request: 'jsonrpc' must be \"2.0\"", NULL);
		json_decref(root);
		return out;
	}
	method = json_object_get(root, "method");
	if (!json_is_string(method)) {
		out = rpc_error_line(id, RPC_INVALID_REQUEST,
		    "invalid request: 'method' must be a string", NULL);
		json_decref(root);
		return out;
	}
	params = json_object_get(root, "params");
	if (params != NULL && !json_is_object(params) && !json_is_null(params)) {
		out = rpc_error_line(id, RPC_INVALID_PARAMS,
		    "invalid params: 'params' must be an object (named parameters)", NULL);
		json_decref(root);
		return out;
	}
	m = rpc_find(table, json_string_value(method));
	if (m == NULL) {
		snprintf(msg, sizeof(msg), "method not found: '%.200s'", json_string_value(method));
		out = id ? rpc_error_line(id, RPC_METHOD_NOT_FOUND, msg, NULL) : NULL;
		json_decref(root);
		return out;
	}
	if (params == NULL || json_is_null(params)) {
		params = json_object();
		json_object_set_new(root, "params", params);
	}
	code = rpc_check_params(params, m->params, msg, sizeof(msg));
	if (code != 0) {
		out = id ? rpc_error_line(id, code, msg, NULL) : NULL;
		json_decref(root);
		return out;
	}
	memset(&call, 0, sizeof(call));
	call.id = id;
	call.method = m->name;
	call.params = params;
	call.conn = conn;
	st = m->handler(ctx, &call);
	switch (st) {
	case RPC_DONE:
		out = id ? rpc_result_line(id, call.result) : (json_decref(call.result), NULL);
		if (out && strlen(out) > RPC_MAX_REPLY) {
			free(out);
			snprintf(msg, sizeof(msg), "the reply to %s is over %u bytes; ask for less",
			    m->name, RPC_MAX_REPLY);
			out = rpc_error_line(id, RPC_INTERNAL_ERROR, msg, NULL);
		} else if (id && out == NULL) {
			out = rpc_error_line(id, RPC_INTERNAL_ERROR, "cannot encode the reply", NULL);
		}
		break;
	case RPC_FAILED:
		out = id ? rpc_error_line(id, call.err_code, call.err_msg, NULL) : NULL;
		break;
	case RPC_DEFERRED:
		*deferred_id = id ? json_incref(id) : json_null();
		break;
	}
	json_decref(root);
	return out;
}

void
rpc_default_socket(char *buf, size_t len)
{
	const char *s = getenv("AGENTD_SOCKET");
	const char *rt = getenv("XDG_RUNTIME_DIR");

	if (s && *s)
		snprintf(buf, len, "%s", s);
	else if (rt && *rt)
		snprintf(buf, len, "%s/agentd.sock", rt);
	else if (geteuid() == 0)
		snprintf(buf, len, "/run/agentd.sock");
	else
		snprintf(buf, len, "/tmp/agentd-%u/agentd.sock", (unsigned)geteuid());
}
