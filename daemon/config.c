/*
 * config.c — build agentd's configuration from defaults, the JSON config
 * file, the environment and the command line (in that order of precedence,
 * last wins).
 */
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/rpc.h"
#include "common/json.h"
#include "common/num.h"
#include "tools/mcp.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
set_str(char **dst, const char *v)
{
	char *n = v ? strdup(v) : NULL;

	if (v && n == NULL)
		return AGENTD_ENOMEM;
	free(*dst);
	*dst = n;
	return AGENTD_OK;
}

static void
defaults(struct config *c)
{
	char buf[PATH_MAX];
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	memset(c, 0, sizeof(*c));
	rpc_default_socket(buf, sizeof(buf));
	c->socket_path = strdup(buf);
	if (xdg && *xdg)
		snprintf(buf, sizeof(buf), "%s/agentd", xdg);
	else if (home && *home)
		snprintf(buf, sizeof(buf), "%s/.local/state/agentd", home);
	else
		snprintf(buf, sizeof(buf), "/var/lib/agentd");
	c->state_dir = strdup(buf);
	xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && *xdg)
		snprintf(buf, sizeof(buf), "%s/agentd", xdg);
	else if (home && *home)
		snprintf(buf, sizeof(buf), "%s/.config/agentd", home);
	else
		buf[0] = '\0';
	c->config_dir = buf[0] ? strdup(buf) : NULL;
	c->log_level = LOG_LVL_INFO;
	c->max_line = RPC_DEFAULT_MAX_LINE;
	c->max_concurrent_runs = 2;
	c->stop_grace_s = 10;
	c->max_active_runs = 8;
	agent_config_init(&c->agent);
}

/*
 * The keys a configuration file may hold, at every depth: each known key's
 * type and, for numbers, its range. An object whose keys another module
 * checks (hooks, mcp_servers) has sub == NULL and K_OBJ_ELSEWHERE. To add a
 * key, add a row.
 */
enum key_type { K_STR, K_BOOL, K_INT, K_NUM, K_OBJ, K_OBJ_ELSEWHERE, K_ANY,
	/* Durations: a number in the key's unit, or a string with a unit
	 * ("90s", "5m", "2h", "1d") turned into that number when checked. */
	K_SECS, K_SECS_INT, K_MS_INT, K_DAYS };

struct key_spec {
	const char *name;
	enum key_type type;
	double min, max;		/* K_INT, K_NUM: allowed range, inclusive */
	const struct key_spec *sub;	/* K_OBJ: the keys inside */
};

#define KEY_END { NULL, K_ANY, 0, 0, NULL }

static const struct key_spec retention_keys[] = {
	{ "max_age_days", K_DAYS, 0, 36500, NULL }, { "max_count", K_INT, 0, 1e9, NULL },
	KEY_END
};

static const struct key_spec author_keys[] = {
	{ "name", K_STR, 0, 0, NULL }, { "email", K_STR, 0, 0, NULL }, KEY_END
};

static const struct key_spec llm_keys[] = {
	{ "connect_timeout_ms", K_MS_INT, 1, 3600000, NULL },
	{ "idle_timeout_ms", K_MS_INT, 1, 86400000, NULL },
	{ "max_retries", K_INT, 0, 100, NULL },
	{ "backoff_base_ms", K_MS_INT, 0, 3600000, NULL },
	{ "backoff_max_ms", K_MS_INT, 0, 3600000, NULL },
	{ "temperature", K_NUM, 0, 10, NULL },
	{ "max_tokens", K_INT, 1, 1e9, NULL },
	{ "parallel_tool_calls", K_BOOL, 0, 0, NULL },
	{ "reasoning_budget", K_INT, -1, 1000000, NULL },
	KEY_END
};

static const struct key_spec endpoint_keys[] = {
	{ "url", K_STR, 0, 0, NULL }, { "model", K_STR, 0, 0, NULL },
	{ "api_key", K_STR, 0, 0, NULL }, { "chat_template_kwargs", K_OBJ_ELSEWHERE, 0, 0, NULL },
	KEY_END
};

static const struct key_spec known_keys[] = {
	{ "socket", K_STR, 0, 0, NULL }, { "state_dir", K_STR, 0, 0, NULL },
	{ "log_level", K_STR, 0, 0, NULL }, { "llm_url", K_ANY, 0, 0, NULL },
	{ "model", K_STR, 0, 0, NULL }, { "api_key", K_STR, 0, 0, NULL },
	{ "stream", K_BOOL, 0, 0, NULL }, { "context_window", K_INT, 1, 1e9, NULL },
	{ "context_low_water", K_INT, 10, 100, NULL }, { "tool_budget", K_INT, 0, 1e9, NULL },
	{ "max_steps", K_INT, 1, 1e6, NULL }, { "max_wall_s", K_SECS, 0.001, 1e9, NULL },
	{ "max_tokens", K_INT, 1, 1e12, NULL },
	{ "tool_output_cap", K_INT, 1, 1073741824, NULL },
	{ "repeat_fail_limit", K_INT, 1, 1000, NULL },
	{ "resume", K_BOOL, 0, 0, NULL }, { "policy", K_STR, 0, 0, NULL },
	{ "network", K_BOOL, 0, 0, NULL }, { "git_writable", K_BOOL, 0, 0, NULL },
	{ "approval", K_STR, 0, 0, NULL }, { "approval_timeout_s", K_SECS_INT, 1, 86400, NULL },
	{ "system_prompt_file", K_STR, 0, 0, NULL },
	{ "max_line_bytes", K_INT, 1024, RPC_MAX_LINE_LIMIT, NULL },
	{ "max_concurrent_runs", K_INT, 1, 1024, NULL },
	{ "max_active_runs", K_INT, 0, 1024, NULL },
	{ "stop_grace_s", K_SECS_INT, 0, 3600, NULL },
	{ "project_doc", K_BOOL, 0, 0, NULL },
	{ "project_doc_max_bytes", K_INT, 0, 1048576, NULL },
	{ "project_doc_fallback_filenames", K_ANY, 0, 0, NULL },
	{ "hooks", K_OBJ_ELSEWHERE, 0, 0, NULL }, { "mcp_servers", K_OBJ_ELSEWHERE, 0, 0, NULL },
	{ "skills", K_BOOL, 0, 0, NULL },
	{ "retention", K_OBJ, 0, 0, retention_keys }, { "author", K_OBJ, 0, 0, author_keys },
	{ "llm", K_OBJ, 0, 0, llm_keys },
	KEY_END
};

/* ------------------------------------------------- where a key is written */

static const char *
pos_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* p at '"': the byte after the closing quote. */
static const char *
pos_string(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++)
		if (*p == '\\' && p + 1 < end)
			p++;
	return p < end ? p + 1 : end;
}

/*
 * Skip the (valid, already parsed) JSON value at p. While `live`, the keys of
 * an object at `depth` are compared with path[depth]; the key that ends the
 * path sets *hit. Returns the byte after the value, NULL past the depth cap.
 */
static const char *
pos_value(const char *p, const char *end, const char *const *path, int n, int depth,
    int live, const char **hit)
{
	p = pos_ws(p, end);
	if (p >= end || depth > 64)
		return NULL;
	if (*p == '"')
		return pos_string(p, end);
	if (*p == '{' || *p == '[') {
		int obj = *p == '{';

		for (p = pos_ws(p + 1, end); p && p < end && *p != (obj ? '}' : ']');
		    p = p ? pos_ws(p, end) : NULL) {
			int match = 0;

			if (*p == ',')
				p = pos_ws(p + 1, end);
			if (obj) {
				const char *k = p, *ke = pos_string(p, end);
				size_t kl = (size_t)(ke - k) - 2;

				match = live && depth < n && strlen(path[depth]) == kl &&
				    memcmp(k + 1, path[depth], kl) == 0;
				if (match && depth == n - 1 && *hit == NULL)
					*hit = k;
				p = pos_ws(ke, end);
				if (p < end && *p == ':')
					p++;
			}
			p = pos_value(p, end, path, n, depth + 1, match, hit);
		}
		return p && p < end ? p + 1 : NULL;
	}
	while (p < end && !strchr(",]} \t\r\n", *p))
		p++;
	return p;
}

/* "FILE:LINE:COLUMN" of the key path[0..n-1] in text, or "FILE" when not found. */
static void
key_where(const char *file, const char *text, size_t len, const char *const *path, int n,
    char *out, size_t outlen)
{
	const char *hit = NULL, *p;
	int line = 1, col = 1;

	if (text != NULL)
		pos_value(text, text + len, path, n, 0, 1, &hit);
	if (hit == NULL) {
		snprintf(out, outlen, "%s", file);
		return;
	}
	for (p = text; p < hit; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)*p & 0xc0) != 0x80) {
			col++;
		}
	}
	snprintf(out, outlen, "%s:%d:%d", file, line, col);
}

/* ------------------------------------------------------ types and ranges */

static const char *
type_word(enum key_type t)
{
	switch (t) {
	case K_STR: return "a string";
	case K_BOOL: return "true or false";
	case K_INT: return "a whole number";
	case K_NUM: return "a number";
	case K_SECS: case K_SECS_INT: return "a number of seconds or a duration like \"90s\", \"5m\", \"2h\"";
	case K_MS_INT: return "a number of milliseconds or a duration like \"30s\", \"5m\"";
	case K_DAYS: return "a number of days or a duration like \"12h\", \"90d\"";
	default: return "an object";
	}
}

static const char *
json_word(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "a whole number";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

#define KEY_MAX_DEPTH 4

/* Check obj's keys against spec; path[0..depth-1] names obj. */
/*
 * A duration written with a unit ("90s", "5m", "2h", "1d"): replaced in obj
 * by the number of the key's unit (*v then points at it), so that the range
 * check and the reading of the value see a number.
 */
static int
duration_value(const char *where, const char *name, json_t *obj, const char *key,
    const struct key_spec *k, json_t **v, struct agentd_error *err)
{
	const char *s = json_string_value(*v);
	size_t n = strlen(s);
	struct agentd_error e;
	double secs, x;
	json_t *nv;

	agentd_error_clear(&e);
	if (n == 0 || strchr("smhd", s[n - 1]) == NULL ||
	    anum_duration(s, 1e12, &secs, &e) != AGENTD_OK)
		return agentd_seterr(err, AGENTD_EINVAL, "%s: '%s' must be %s, not \"%.40s\"",
		    where, name, type_word(k->type), s);
	x = k->type == K_MS_INT ? secs * 1000.0 : k->type == K_DAYS ? secs / 86400.0 : secs;
	if (k->type == K_SECS_INT || k->type == K_MS_INT) {
		if (x != floor(x))
			return agentd_seterr(err, AGENTD_EINVAL, "%s: '%s' must be a whole number of "
			    "%s, not %.15g", where, name, k->type == K_MS_INT ? "milliseconds" :
			    "seconds", x);
		nv = json_integer((json_int_t)x);
	} else
		nv = json_real(x);
	if (nv == NULL || json_object_set_new(obj, key, nv) != 0)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	*v = nv;
	return AGENTD_OK;
}

static int
check_object(const char *file, const char *text, size_t len, const json_t *obj,
    const struct key_spec *spec, const char **path, int depth, struct agentd_error *err)
{
	char where[PATH_MAX + 32], name[256] = "", known[512] = "";
	const struct key_spec *k;
	const char *key;
	json_t *v;
	double x;
	int i, ok, rc;

	json_object_foreach((json_t *)obj, key, v) {
		for (k = spec; k->name; k++)
			if (strcmp(k->name, key) == 0)
				break;
		path[depth] = key;
		key_where(file, text, len, path, depth + 1, where, sizeof(where));
		name[0] = '\0';
		for (i = 0; i <= depth; i++)
			snprintf(name + strlen(name), sizeof(name) - strlen(name), "%s%.64s",
			    i ? "." : "", path[i]);
		if (k->name == NULL) {
			if (depth == 0)
				return agentd_seterr(err, AGENTD_EINVAL, "%s: unknown key '%s' "
				    "(docs/configuration.md lists them)", where, name);
			known[0] = '\0';
			for (k = spec; k->name; k++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known),
				    "%s%s", k == spec ? "" : ", ", k->name);
			return agentd_seterr(err, AGENTD_EINVAL, "%s: unknown key '%s' (known: %s)",
			    where, name, known);
		}
		if ((k->type == K_SECS || k->type == K_SECS_INT || k->type == K_MS_INT ||
		    k->type == K_DAYS) && json_is_string(v)) {
			if ((rc = duration_value(where, name, (json_t *)obj, key, k, &v, err)))
				return rc;
		}
		switch (k->type) {
		case K_STR: ok = json_is_string(v); break;
		case K_BOOL: ok = json_is_boolean(v); break;
		case K_INT: case K_SECS_INT: case K_MS_INT: ok = json_is_integer(v); break;
		case K_NUM: case K_SECS: case K_DAYS: ok = json_is_number(v); break;
		case K_OBJ: case K_OBJ_ELSEWHERE: ok = json_is_object(v); break;
		default: ok = 1; break;
		}
		if (!ok)
			return agentd_seterr(err, AGENTD_EINVAL, "%s: '%s' must be %s, not %s",
			    where, name, type_word(k->type), json_word(v));
		if (k->type != K_STR && k->type != K_BOOL && k->type != K_OBJ &&
		    k->type != K_OBJ_ELSEWHERE && k->type != K_ANY) {
			x = json_number_value(v);
			if (!(x >= k->min && x <= k->max))
				return agentd_seterr(err, AGENTD_EINVAL, "%s: '%s' must be from %.15g "
				    "to %.15g, not %.15g", where, name, k->min, k->max, x);
		}
		if (k->type == K_OBJ && k->sub != NULL && depth + 1 < KEY_MAX_DEPTH) {
			rc = check_object(file, text, len, v, k->sub, path, depth + 1, err);
			if (rc != AGENTD_OK)
				return rc;
		}
	}
	return AGENTD_OK;
}

/* The keys of an object that has no place in the text we can name
 * (an llm_url entry): prefix ("llm_url[1]") names them. */
static int
check_keys(const char *file, const char *prefix, json_t *obj, const struct key_spec *keys,
    struct agentd_error *err)
{
	const char *path[KEY_MAX_DEPTH] = { prefix };

	return check_object(file, NULL, 0, obj, keys, path, 1, err);
}

/* An endpoint URL: http or https, with a host. */
static int
check_url(const char *where, const char *u, struct agentd_error *err)
{
	const char *h;
	size_t n;

	if (strncmp(u, "http://", 7) == 0)
		h = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		h = u + 8;
	else
		return agentd_seterr(err, AGENTD_EINVAL, "%s: 'llm_url' '%.100s' is not an http:// "
		    "or https:// URL (e.g. http://127.0.0.1:8080/v1)", where, u);
	n = strcspn(h, ":/?#");
	if (n == 0 || strcspn(h, " \t\r\n") < strlen(h))
		return agentd_seterr(err, AGENTD_EINVAL, "%s: 'llm_url' '%.100s' has no host or "
		    "holds a space (e.g. http://127.0.0.1:8080/v1)", where, u);
	return AGENTD_OK;
}

static int
check_file_keys(const char *file, const char *text, size_t len, json_t *root,
    struct agentd_error *err)
{
	const char *path[KEY_MAX_DEPTH] = { "llm_url" };
	char where[PATH_MAX + 32];
	json_t *v = json_object_get(root, "llm_url"), *e;
	size_t i;
	int rc;

	rc = check_object(file, text, len, root, known_keys, path, 0, err);
	if (rc != AGENTD_OK || v == NULL)
		return rc;
	path[0] = "llm_url";
	key_where(file, text, len, path, 1, where, sizeof(where));
	if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if (json_is_object(e))
				e = json_object_get(e, "url");
			if (json_is_string(e) && (rc = check_url(where, json_string_value(e), err)))
				return rc;
		}
		return AGENTD_OK;
	}
	if (json_is_object(v))
		v = json_object_get(v, "url");
	return json_is_string(v) ? check_url(where, json_string_value(v), err) : AGENTD_OK;
}

/* The whole file, NUL-terminated, up to 4 MiB; NULL when it cannot be read. */
static char *
read_text(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	char *b = NULL, *nb;
	size_t n = 0, cap = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			if (cap >= 4u << 20 || (nb = realloc(b, cap ? cap * 2 : 8192)) == NULL) {
				free(b);
				fclose(f);
				return NULL;
			}
			b = nb;
			cap = cap ? cap * 2 : 8192;
		}
		r = fread(b + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	fclose(f);
	b[n] = '\0';
	*len = n;
	return b;
}

/* One endpoint from a string or {url, model, api_key, chat_template_kwargs}. */
static int
add_endpoint(struct config *c, const char *file, size_t index, json_t *v, const char *model,
    const char *key, struct agentd_error *err)
{
	char where[40];
	int rc;

	if (c->agent.llm.n_endpoints >= LLM_MAX_ENDPOINTS)
		return agentd_seterr(err, AGENTD_EINVAL, "'llm_url' lists more than %d endpoints",
		    LLM_MAX_ENDPOINTS);
	if (json_is_string(v))
		return llm_config_add_endpoint(&c->agent.llm, json_string_value(v), model, key);
	snprintf(where, sizeof(where), "llm_url[%zu]", index);
	if (json_is_object(v) && json_is_string(json_object_get(v, "url"))) {
		if ((rc = check_keys(file, where, v, endpoint_keys, err)) != AGENTD_OK)
			return rc;
		rc = llm_config_add_endpoint(&c->agent.llm, ajson_str(v, "url", NULL),
		    ajson_str(v, "model", model), ajson_str(v, "api_key", key));
		if (rc == AGENTD_OK)
			rc = llm_config_set_template_kwargs(&c->agent.llm, c->agent.llm.n_endpoints - 1,
			    json_object_get(v, "chat_template_kwargs"));
		return rc;
	}
	return agentd_seterr(err, AGENTD_EINVAL,
	    "'llm_url' entries must be URLs or objects {\"url\",\"model\"?,\"api_key\"?,"
	    "\"chat_template_kwargs\"?}");
}

static int
apply_file(struct config *c, const char *file, struct agentd_error *err)
{
	json_error_t jerr;
	json_t *root, *v, *o;
	const char *model, *key;
	char *text;
	size_t i, tlen = 0;
	int rc, lvl;
	enum sandbox_policy pol;

	text = read_text(file, &tlen);
	root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		free(text);
		if (jerr.line <= 0)
			return agentd_seterr(err, AGENTD_EINVAL, "%s: %s", file, jerr.text);
		return agentd_seterr(err, AGENTD_EINVAL, "%s:%d:%d: %s", file, jerr.line,
		    jerr.column, jerr.text);
	}
	if (!json_is_object(root)) {
		free(text);
		json_decref(root);
		return agentd_seterr(err, AGENTD_EINVAL, "%s: the configuration must be a JSON object", file);
	}
	rc = check_file_keys(file, text, tlen, root, err);
	free(text);
	if (rc != AGENTD_OK)
		goto out;
	rc = AGENTD_ENOMEM;
	if ((v = json_object_get(root, "socket")) && set_str(&c->socket_path, json_string_value(v)))
		goto out;
	if ((v = json_object_get(root, "state_dir")) && set_str(&c->state_dir, json_string_value(v)))
		goto out;
	if ((v = json_object_get(root, "log_level"))) {
		lvl = log_parse_level(json_string_value(v));
		if (lvl < 0) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: log_level must be error, warn, info or debug", file);
			goto out;
		}
		c->log_level = lvl;
	}
	model = ajson_str(root, "model", NULL);
	key = ajson_str(root, "api_key", NULL);
	if ((v = json_object_get(root, "llm_url"))) {
		llm_config_free(&c->agent.llm);
		if (json_is_array(v)) {
			json_array_foreach(v, i, o) {
				rc = add_endpoint(c, file, i, o, model, key, err);
				if (rc != AGENTD_OK)
					goto out;
			}
		} else {
			rc = add_endpoint(c, file, 0, v, model, key, err);
			if (rc != AGENTD_OK)
				goto out;
		}
	}
	/* Applied once the endpoints are known (the default one included). */
	if ((model && set_str(&c->file_model, model)) || (key && set_str(&c->file_api_key, key)))
		goto out;
	c->agent.llm.stream = ajson_bool(root, "stream", c->agent.llm.stream);
	c->agent.context_window = (int)ajson_int(root, "context_window", c->agent.context_window);
	c->agent.tool_budget = ajson_int(root, "tool_budget", c->agent.tool_budget);
	c->agent.max_steps = (int)ajson_int(root, "max_steps", c->agent.max_steps);
	c->agent.max_wall_s = ajson_num(root, "max_wall_s", c->agent.max_wall_s);
	c->agent.max_tokens = ajson_int(root, "max_tokens", c->agent.max_tokens);
	c->agent.tool_output_cap = (size_t)ajson_int(root, "tool_output_cap", (json_int_t)c->agent.tool_output_cap);
	c->agent.repeat_fail_limit = (int)ajson_int(root, "repeat_fail_limit", c->agent.repeat_fail_limit);
	c->agent.resume = ajson_bool(root, "resume", c->agent.resume);
	c->agent.network = ajson_bool(root, "network", c->agent.network);
	c->agent.git_writable = ajson_bool(root, "git_writable", c->agent.git_writable);
	c->agent.approval_timeout_s = (int)ajson_int(root, "approval_timeout_s", c->agent.approval_timeout_s);
	c->max_line = (size_t)ajson_int(root, "max_line_bytes", (json_int_t)c->max_line);
	c->max_concurrent_runs = (int)ajson_int(root, "max_concurrent_runs", c->max_concurrent_runs);
	c->stop_grace_s = (int)ajson_int(root, "stop_grace_s", c->stop_grace_s);
	if ((v = json_object_get(root, "context_low_water"))) {
		if (json_integer_value(v) < 10 || json_integer_value(v) > 100) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: context_low_water must be a "
			    "percentage from 10 to 100", file);
			goto out;
		}
		c->agent.context_low_water = (int)json_integer_value(v);
	}
	if ((v = json_object_get(root, "max_active_runs"))) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > 1024) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: max_active_runs must be 0 (no limit) to 1024", file);
			goto out;
		}
		c->max_active_runs = (int)json_integer_value(v);
	}
	if ((v = json_object_get(root, "policy"))) {
		if (sandbox_policy_parse(json_string_value(v), &pol) != AGENTD_OK) {
			rc = agentd_seterr(err, AGENTD_EINVAL,
			    "%s: policy must be read-only, workspace-write or full-access", file);
			goto out;
		}
		c->agent.policy = pol;
	}
	if ((v = json_object_get(root, "approval"))) {
		if (strcmp(json_string_value(v), "never") != 0 && strcmp(json_string_value(v), "ask") != 0) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: approval must be \"never\" or \"ask\"", file);
			goto out;
		}
		if (set_str(&c->approval, json_string_value(v)))
			goto out;
	}
	if ((v = json_object_get(root, "system_prompt_file")) &&
	    set_str(&c->system_prompt_file, json_string_value(v)))
		goto out;
	c->agent.project_doc = ajson_bool(root, "project_doc", c->agent.project_doc);
	c->agent.skills = ajson_bool(root, "skills", c->agent.skills);
	if ((v = json_object_get(root, "project_doc_max_bytes"))) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > 1024 * 1024) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: project_doc_max_bytes must be 0 "
			    "(read none) to 1048576", file);
			goto out;
		}
		c->agent.project_doc_max_bytes = (size_t)json_integer_value(v);
	}
	if ((v = json_object_get(root, "project_doc_fallback_filenames"))) {
		json_t *n;

		json_array_foreach(v, i, n)
			if (!json_is_string(n) || json_string_length(n) == 0 ||
			    json_string_length(n) > 255 || strchr(json_string_value(n), '/'))
				break;
		if (!json_is_array(v) || i < json_array_size(v) || json_array_size(v) > 16) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: project_doc_fallback_filenames "
			    "must be an array of at most 16 file names (no '/'), e.g. [\"CLAUDE.md\"]",
			    file);
			goto out;
		}
		json_decref(c->project_doc_fallbacks);
		c->project_doc_fallbacks = json_incref(v);
	}
	if ((v = json_object_get(root, "hooks"))) {
		struct agentd_error he;

		agentd_error_clear(&he);
		if (agent_hooks_check(v, &he) != AGENTD_OK) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: %s", file, agentd_errmsg(&he));
			goto out;
		}
		json_decref(c->hooks);
		c->hooks = json_incref(v);
	}
	if ((v = json_object_get(root, "mcp_servers"))) {
		struct agentd_error me;

		agentd_error_clear(&me);
		if (mcp_config_check(v, &me) != AGENTD_OK) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: %s", file, agentd_errmsg(&me));
			goto out;
		}
		json_decref(c->mcp_servers);
		c->mcp_servers = json_incref(v);
	}
	if ((o = json_object_get(root, "retention"))) {
		/* Key by key, so that a later file changes only what it names. */
		c->retention_max_age_s = ajson_num(o, "max_age_days",
		    c->retention_max_age_s / 86400.0) * 86400.0;
		c->retention_max_count = (int)ajson_int(o, "max_count", c->retention_max_count);
	}
	if ((o = json_object_get(root, "author"))) {
		if ((json_object_get(o, "name") &&
		    set_str(&c->author_name, ajson_str(o, "name", NULL))) ||
		    (json_object_get(o, "email") &&
		    set_str(&c->author_email, ajson_str(o, "email", NULL))))
			goto out;
	}
	if ((o = json_object_get(root, "llm"))) {
		c->agent.llm.connect_timeout_ms = (long)ajson_int(o, "connect_timeout_ms", c->agent.llm.connect_timeout_ms);
		c->agent.llm.idle_timeout_ms = (long)ajson_int(o, "idle_timeout_ms", c->agent.llm.idle_timeout_ms);
		c->agent.llm.max_retries = (int)ajson_int(o, "max_retries", c->agent.llm.max_retries);
		c->agent.llm.backoff_base_ms = (long)ajson_int(o, "backoff_base_ms", c->agent.llm.backoff_base_ms);
		c->agent.llm.backoff_max_ms = (long)ajson_int(o, "backoff_max_ms", c->agent.llm.backoff_max_ms);
		c->agent.llm.temperature = ajson_num(o, "temperature", c->agent.llm.temperature);
		c->agent.llm.max_tokens = (int)ajson_int(o, "max_tokens", c->agent.llm.max_tokens);
		c->agent.llm.parallel_tool_calls = ajson_bool(o, "parallel_tool_calls",
		    c->agent.llm.parallel_tool_calls);
		c->agent.llm.reasoning_budget = (int)ajson_int(o, "reasoning_budget",
		    c->agent.llm.reasoning_budget);
		if (ajson_int(o, "reasoning_budget", -1) < -1 ||
		    ajson_int(o, "reasoning_budget", -1) > 1000000) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "%s: llm.reasoning_budget must be -1 "
			    "(not sent), 0 (thinking off) or a number of tokens up to 1000000", file);
			goto out;
		}
	}
	rc = AGENTD_OK;
out:
	json_decref(root);
	return rc;
}

const char *
config_system_path(char *buf, size_t len)
{
	const char *env = getenv("AGENTD_SYSTEM_CONFIG");

	if (env != NULL) {
		/* Set: that file (which must then exist), or none when empty. */
		if (*env == '\0' || strlen(env) >= len)
			return NULL;
		snprintf(buf, len, "%s", env);
		return buf;
	}
	if ((size_t)snprintf(buf, len, "%s/agentd/config.json", AGENTD_SYSCONFDIR) >= len)
		return NULL;
	return access(buf, F_OK) == 0 ? buf : NULL;
}

int
config_load(const struct config_flags *f, struct config *out, struct agentd_error *err)
{
	struct config c;
	const char *env_url = getenv("AGENTD_LLM_URL"), *env_model = getenv("AGENTD_MODEL");
	const char *env_key = getenv("AGENTD_API_KEY"), *env_sock = getenv("AGENTD_SOCKET");
	const char *xdg_cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	const char *url, *model, *cfg_file, *sys_file;
	char defpath[PATH_MAX] = "", sysbuf[PATH_MAX];
	int rc, i, lvl;

	defaults(&c);
	if (c.socket_path == NULL || c.state_dir == NULL) {
		config_free(&c);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	/* The machine's file first (the administrator's defaults), then the
	 * user's on top of it, key by key. */
	sys_file = config_system_path(sysbuf, sizeof(sysbuf));
	if (sys_file) {
		rc = set_str(&c.system_config_file, sys_file);
		if (rc == AGENTD_OK)
			rc = apply_file(&c, sys_file, err);
		if (rc != AGENTD_OK) {
			config_free(&c);
			return rc;
		}
	}
	cfg_file = f->config_file;
	if (cfg_file == NULL) {
		/* The usual place, when the user keeps a file there. */
		if (xdg_cfg && *xdg_cfg)
			snprintf(defpath, sizeof(defpath), "%s/agentd/config.json", xdg_cfg);
		else if (home && *home)
			snprintf(defpath, sizeof(defpath), "%s/.config/agentd/config.json", home);
		if (defpath[0] && access(defpath, F_OK) == 0)
			cfg_file = defpath;
	}
	if (cfg_file) {
		rc = set_str(&c.config_file, cfg_file);
		if (rc == AGENTD_OK)
			rc = apply_file(&c, cfg_file, err);
		if (rc != AGENTD_OK) {
			config_free(&c);
			return rc;
		}
	}
	/* Environment, then flags. */
	if (env_sock && *env_sock && set_str(&c.socket_path, env_sock))
		goto nomem;
	url = f->llm_url ? f->llm_url : (env_url && *env_url ? env_url : NULL);
	model = f->model ? f->model : (env_model && *env_model ? env_model : NULL);
	if (url) {
		llm_config_free(&c.agent.llm);
		if (llm_config_add_endpoint(&c.agent.llm, url, model, NULL) != AGENTD_OK)
			goto nomem;
	}
	if (c.agent.llm.n_endpoints == 0 &&
	    llm_config_add_endpoint(&c.agent.llm, "http://127.0.0.1:8080/v1", model, NULL) != AGENTD_OK)
		goto nomem;
	for (i = 0; i < c.agent.llm.n_endpoints; i++) {
		if (model && set_str(&c.agent.llm.endpoints[i].model, model))
			goto nomem;
		if (!model && c.file_model && c.agent.llm.endpoints[i].model == NULL &&
		    set_str(&c.agent.llm.endpoints[i].model, c.file_model))
			goto nomem;
		if (c.file_api_key && c.agent.llm.endpoints[i].api_key == NULL &&
		    set_str(&c.agent.llm.endpoints[i].api_key, c.file_api_key))
			goto nomem;
		if (env_key && *env_key && c.agent.llm.endpoints[i].api_key == NULL &&
		    set_str(&c.agent.llm.endpoints[i].api_key, env_key))
			goto nomem;
	}
	if (f->socket_path && set_str(&c.socket_path, f->socket_path))
		goto nomem;
	if (f->state_dir && set_str(&c.state_dir, f->state_dir))
		goto nomem;
	if (f->log_level) {
		lvl = log_parse_level(f->log_level);
		if (lvl < 0) {
			config_free(&c);
			return agentd_seterr(err, AGENTD_EINVAL,
			    "--log-level must be error, warn, info or debug (got '%s')", f->log_level);
		}
		c.log_level = lvl;
	}
	if (f->no_stream)
		c.agent.llm.stream = 0;
	c.agent.state_dir = c.state_dir;
	c.agent.system_prompt_file = c.system_prompt_file;
	c.agent.approval = c.approval ? c.approval : "never";
	c.agent.author_name = c.author_name;
	c.agent.author_email = c.author_email;
	c.agent.config_dir = c.config_dir;
	c.agent.project_doc_fallbacks = c.project_doc_fallbacks;
	c.agent.hooks = c.hooks;
	*out = c;
	return AGENTD_OK;
nomem:
	config_free(&c);
	return agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->config_file);
	free(c->system_config_file);
	free(c->socket_path);
	free(c->state_dir);
	free(c->system_prompt_file);
	free(c->approval);
	free(c->author_name);
	free(c->author_email);
	free(c->file_model);
	free(c->file_api_key);
	free(c->config_dir);
	json_decref(c->project_doc_fallbacks);
	json_decref(c->hooks);
	json_decref(c->mcp_servers);
	llm_config_free(&c->agent.llm);
	memset(c, 0, sizeof(*c));
}

json_t *
config_summary(const struct config *c)
{
	json_t *eps = json_array(), *o;
	int i;

	for (i = 0; i < c->agent.llm.n_endpoints; i++) {
		o = json_object();
		ajson_set_str(o, "url", c->agent.llm.endpoints[i].url);
		ajson_set_str(o, "model", c->agent.llm.endpoints[i].model);
		ajson_set_bool(o, "api_key", c->agent.llm.endpoints[i].api_key != NULL);
		json_array_append_new(eps, o);
	}
	return json_pack("{s:s?, s:s?, s:s, s:s, s:o, s:b, s:i, s:i, s:f, s:I, s:s, s:b, s:s, s:b, s:i}",
	    "system_config_file", c->system_config_file,
	    "config_file", c->config_file, "socket", c->socket_path, "state_dir", c->state_dir,
	    "endpoints", eps, "stream", c->agent.llm.stream,
	    "context_window", c->agent.context_window, "max_steps", c->agent.max_steps,
	    "max_wall_s", c->agent.max_wall_s, "max_tokens", (json_int_t)c->agent.max_tokens,
	    "policy", sandbox_policy_name(c->agent.policy), "network", c->agent.network,
	    "approval", c->agent.approval ? c->agent.approval : "never", "resume", c->agent.resume,
	    "mcp_servers", (int)json_object_size(c->mcp_servers));
}
