/*
 * mcp.c — the MCP client: configuration checks, tool naming, the protocol
 * (the eras' handshakes, requests, results) and the stdio transport (one
 * child process, newline-delimited JSON-RPC 2.0). The Streamable HTTP
 * transport is in mcp_http.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "tools/mcp.h"
#include "tools/mcp_internal.h"
#include "common/json.h"
#include "common/num.h"
#include "common/spawn.h"

struct mcp_key {
	const char *name;
	json_type type;		/* JSON_TRUE = boolean, JSON_REAL = number, JSON_NULL = array of strings */
};

static const struct mcp_key mcp_keys[] = {
	{ "command", JSON_STRING }, { "args", JSON_NULL }, { "env", JSON_OBJECT },
	{ "cwd", JSON_STRING }, { "startup_timeout_s", JSON_REAL }, { "tool_timeout_s", JSON_REAL },
	{ "enabled", JSON_TRUE }, { "enabled_tools", JSON_NULL }, { "disabled_tools", JSON_NULL },
	{ "url", JSON_STRING }, { "bearer_token_env", JSON_STRING }, { "network", JSON_TRUE },
	{ "approve", JSON_TRUE }, { "policy", JSON_STRING }, { "readable", JSON_NULL },
	{ NULL, JSON_NULL }
};

static int
str_array(const json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return 0;
	return 1;
}

static void sanitize(const char *in, char *out, size_t n);

int
mcp_config_check(const json_t *servers, struct agentd_error *err)
{
	const char *name, *key;
	json_t *s, *v, *e;
	const struct mcp_key *k;
	size_t idx;
	int ok;

	if (!json_is_object(servers))
		return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers must be an object");
	json_object_foreach((json_t *)servers, name, s) {
		if (!json_is_object(s))
			return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s must be an object", name);
		if (*name == '\0' || strlen(name) > 32)
			return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers: names are 1..32 bytes");
		/* Tool names are mcp__SERVER__TOOL: the server part must be
		 * told apart from a tool name that holds "__", and from other
		 * servers once sanitized. */
		if (strstr(name, "__") != NULL)
			return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s: a server name must "
			    "not contain \"__\" (it separates server and tool in mcp__SERVER__TOOL)",
			    name);
		{
			const char *other;
			json_t *ov;
			char a[40], b[40];

			sanitize(name, a, sizeof(a) - 1);
			json_object_foreach((json_t *)servers, other, ov) {
				if (strcmp(other, name) >= 0 || strlen(other) > 32)
					continue;
				sanitize(other, b, sizeof(b) - 1);
				if (strcmp(a, b) == 0)
					return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers: \"%s\" and "
					    "\"%s\" give the same tool names (mcp__%s__...); rename one",
					    other, name, a);
			}
		}
		json_object_foreach(s, key, v) {
			for (k = mcp_keys; k->name; k++)
				if (strcmp(k->name, key) == 0)
					break;
			if (k->name == NULL)
				return agentd_seterr(err, AGENTD_EINVAL, "unknown key mcp_servers.%s.%s",
				    name, key);
			switch (k->type) {
			case JSON_STRING: ok = json_is_string(v); break;
			case JSON_TRUE: ok = json_is_boolean(v); break;
			case JSON_REAL:	/* a timeout: (0, one day] */
				ok = json_is_number(v) && json_number_value(v) > 0 &&
				    json_number_value(v) <= 86400;
				break;
			case JSON_OBJECT:
				ok = json_is_object(v);
				if (ok) {
					const char *ek;
					json_object_foreach(v, ek, e)
						if (!json_is_string(e))
							ok = 0;
				}
				break;
			default: ok = str_array(v); break;
			}
			if (!ok && k->type == JSON_REAL && json_is_number(v))
				return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s.%s must be more "
				    "than 0 and at most 86400 seconds", name, key);
			if (!ok)
				return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s.%s has the wrong type",
				    name, key);
		}
		if (json_object_get(s, "policy") != NULL) {
			const char *pol = json_string_value(json_object_get(s, "policy"));

			if (strcmp(pol, "read-only") != 0 && strcmp(pol, "workspace-write") != 0 &&
			    strcmp(pol, "full-access") != 0)
				return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s.policy must be "
				    "read-only, workspace-write or full-access", name);
		}
		{	/* env names as the environment can hold them */
			const char *ek;

			json_object_foreach(json_object_get(s, "env"), ek, e)
				if (*ek == '\0' || strchr(ek, '=') != NULL)
					return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s.env: \"%s\" "
					    "is not a variable name (empty, or with '=')", name, ek);
		}
		json_array_foreach(json_object_get(s, "readable"), idx, e)
			if (json_string_value(e)[0] != '/')
				return agentd_seterr(err, AGENTD_EINVAL, "mcp_servers.%s.readable: \"%s\" "
				    "is not an absolute path", name, json_string_value(e));
		if (!json_object_get(s, "command") == !json_object_get(s, "url"))
			return agentd_seterr(err, AGENTD_EINVAL,
			    "mcp_servers.%s needs exactly one of \"command\" or \"url\"", name);
	}
	return AGENTD_OK;
}

static void
sanitize(const char *in, char *out, size_t n)
{
	size_t i;

	for (i = 0; in[i] && i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[i] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-') ? (char)ch : '_';
	}
	out[i] = '\0';
}

static void
tool_name(const char *server, const char *tool, int hashed, char out[MCP_NAME_MAX + 1])
{
	char full[1024];
	char s[256], t[700];
	uint32_t h = 2166136261u;	/* FNV-1a of the raw names: stable across runs */
	const char *p;
	int keep;

	sanitize(server, s, sizeof(s) - 1);
	sanitize(tool, t, sizeof(t) - 1);
	snprintf(full, sizeof(full), "mcp__%s__%s", s, t);
	if (!hashed && strlen(full) <= MCP_NAME_MAX) {
		memcpy(out, full, strlen(full) + 1);
		return;
	}
	for (p = server; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0) * 16777619u;
	for (p = tool; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	keep = (int)strlen(full) < MCP_NAME_MAX - 9 ? (int)strlen(full) : MCP_NAME_MAX - 9;
	snprintf(out, MCP_NAME_MAX + 1, "%.*s_%08x", keep, full, (unsigned)h);
}

void
mcp_tool_name(const char *server, const char *tool, char out[MCP_NAME_MAX + 1])
{
	tool_name(server, tool, 0, out);
}

/* Does the name need no change to be part of a tool name? */
static int
is_clean(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

json_t *
mcp_tool_names(const char *server, const json_t *tools)
{
	size_t n = json_array_size(tools), i, k;
	json_t *out = json_array();
	char (*nm)[MCP_NAME_MAX + 1] = calloc(n ? n : 1, sizeof(*nm));

	if (out == NULL || nm == NULL) {
		json_decref(out);
		free(nm);
		return NULL;
	}
	for (i = 0; i < n; i++)
		mcp_tool_name(server, ajson_str(json_array_get(tools, i), "name", ""), nm[i]);
	for (i = 0; i < n; i++) {
		const char *ti = ajson_str(json_array_get(tools, i), "name", "");
		char plain[MCP_NAME_MAX + 1];
		int hashed = 0;

		/* Two tools, one name ("a.b" and "a_b"): a raw name that needed
		 * no change keeps it, else the bytewise smallest; the others take
		 * the hashed form, whatever order the server lists them in. */
		mcp_tool_name(server, ti, plain);
		for (k = 0; k < n && !hashed; k++) {
			const char *tk = ajson_str(json_array_get(tools, k), "name", "");
			int ei = is_clean(ti), ek = is_clean(tk);

			hashed = k != i && strcmp(nm[k], plain) == 0 &&
			    (ek > ei || (ek == ei && strcmp(tk, ti) < 0));
		}
		if (hashed)
			tool_name(server, ti, 1, plain);
		if (json_array_append_new(out, json_string(plain)) != 0) {
			json_decref(out);
			free(nm);
			return NULL;
		}
	}
	free(nm);
	return out;
}

/* ---- the client ---- */

struct mcp_client {
	struct mcp_http *http;	/* a url server; NULL for stdio */
	char version[16];	/* the protocol version in use */
	int modern;		/* 2026-07-28 or later: _meta on every request, no handshake */
	pid_t pid;
	int in, out, errfd, logfd;
	size_t err_logged;	/* stderr bytes forwarded so far */
	char err_tail[241];	/* the last stderr bytes: a failed start quotes them */
	size_t tail_len;
	char *buf;		/* pending stdout bytes */
	size_t len;
	long next_id;
	double tool_timeout;
	json_t *cfg;
	char name[33];
	/* mcp_client_set_hooks: notifications and cancellation (NULL = none) */
	void (*on_note)(void *ud, const json_t *msg);
	int (*cancelled)(void *ud);
	void *hook_ud;
};

static void on_server_msg(struct mcp_client *c, json_t *m);
static int cancel_request(struct mcp_client *c, long id, struct agentd_error *err);


/* Write all of s to the server's stdin; -1 with errno. */
static int
write_all(int fd, const char *s, size_t n)
{
	size_t off = 0;
	ssize_t w;

	while (off < n) {
		w = write(fd, s + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

/*
 * One message and its newline. A server that has gone makes the write fail
 * with EPIPE, an error of this call: SIGPIPE, which would end a caller that
 * does not ignore it (a test, a probe), is blocked for this thread around
 * the write and one the write raised is taken back.
 */
static int
send_msg(struct mcp_client *c, json_t *msg, struct agentd_error *err)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	sigset_t pipe_set, old;
	int rc, e = 0;

	if (s == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	rc = write_all(c->in, s, strlen(s));	/* the newline in its own write */
	if (rc == 0)
		rc = write_all(c->in, "\n", 1);
	if (rc < 0)
		e = errno;
	if (e == EPIPE && !sigismember(&old, SIGPIPE)) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(s);
	return rc == 0 ? AGENTD_OK : agentd_seterr(err, AGENTD_EIO, "mcp %s: write: %s", c->name,
	    strerror(e));
}

/* Forward stderr to the log, 1 KiB at a time, MCP_STDERR_MAX in all; the
 * rest is read and dropped so the server never blocks on a full pipe. */
static void
drain_stderr(struct mcp_client *c)
{
	char b[1024];
	ssize_t r = read(c->errfd, b, sizeof(b));
	size_t keep = sizeof(c->err_tail) - 1;

	if (r > 0) {
		size_t n = (size_t)r < keep ? (size_t)r : keep;

		if (c->tail_len + n > keep) {
			memmove(c->err_tail, c->err_tail + (c->tail_len + n - keep),
			    keep - n);
			c->tail_len = keep - n;
		}
		memcpy(c->err_tail + c->tail_len, b + (size_t)r - n, n);
		c->tail_len += n;
		c->err_tail[c->tail_len] = '\0';
	}
	if (r > 0 && c->logfd >= 0 && c->err_logged < MCP_STDERR_MAX) {
		size_t n = (size_t)r < MCP_STDERR_MAX - c->err_logged ? (size_t)r :
		    MCP_STDERR_MAX - c->err_logged;

		c->err_logged += n;
		(void)!write(c->logfd, b, n);
	}
	if (r == 0) {
		close(c->errfd);
		c->errfd = -1;
	}
}

/* Handle the whole lines read so far: *out = the answer with this id (id -1:
 * none is awaited) and stop there; the server's other messages go to
 * on_server_msg. AGENTD_OK with *out NULL: no answer yet. */
static int
take_lines(struct mcp_client *c, long id, json_t **out, struct agentd_error *err)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t ln = (size_t)(nl - c->buf);
		json_t *m = json_loadb(c->buf, ln, 0, NULL);

		memmove(c->buf, nl + 1, c->len - ln - 1);
		c->len -= ln + 1;
		if (m == NULL)
			return agentd_seterr(err, AGENTD_EPROTO,
			    "mcp %s: the server wrote a line that is not JSON", c->name);
		if (id >= 0 && json_is_integer(json_object_get(m, "id")) &&
		    json_integer_value(json_object_get(m, "id")) == id &&
		    !json_object_get(m, "method")) {
			*out = m;
			return AGENTD_OK;
		}
		on_server_msg(c, m);
		json_decref(m);
	}
	if (c->len >= MCP_LINE_MAX)
		return agentd_seterr(err, AGENTD_ETOOBIG, "mcp %s: a line over %u bytes",
		    c->name, MCP_LINE_MAX);
	return AGENTD_OK;
}

/* Read what the server's stdout has (poll said it has something). */
static int
read_some(struct mcp_client *c, struct agentd_error *err)
{
	ssize_t r;

	do
		r = read(c->out, c->buf + c->len, MCP_LINE_MAX - c->len);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the server closed its output",
		    c->name);
	c->len += (size_t)r;
	return AGENTD_OK;
}

/* Read messages until the answer with this id comes, or the deadline. */
static int
wait_answer(struct mcp_client *c, long id, double deadline, json_t **out, struct agentd_error *err)
{
	for (;;) {
		struct pollfd p[2];
		int np = 1, t, rc;
		json_t *m = NULL;

		if ((rc = take_lines(c, id, &m, err)) != AGENTD_OK)
			return rc;
		if (m != NULL) {
			*out = m;
			return AGENTD_OK;
		}
		t = (int)((deadline - anum_mono_s()) * 1000);
		if (t <= 0)
			return agentd_seterr(err, AGENTD_ETIMEOUT, "mcp %s: no answer in time", c->name);
		if (c->cancelled && c->cancelled(c->hook_ud))
			return cancel_request(c, id, err);
		if (c->cancelled && t > 200)
			t = 200;	/* look at the cancel flag five times a second */
		p[0].fd = c->out;
		p[0].events = POLLIN;
		if (c->errfd >= 0) {
			p[1].fd = c->errfd;
			p[1].events = POLLIN;
			np = 2;
		}
		if (poll(p, (nfds_t)np, t) < 0) {
			if (errno == EINTR)
				continue;
			return agentd_seterr(err, AGENTD_EIO, "mcp %s: poll: %s", c->name, strerror(errno));
		}
		if (np == 2 && (p[1].revents & (POLLIN | POLLHUP)))
			drain_stderr(c);
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		if ((rc = read_some(c, err)) != AGENTD_OK)
			return rc;
	}
}

int
mcp_client_poll(struct mcp_client *c, struct agentd_error *err)
{
	json_t *none = NULL;
	int rc, reads;

	if (c == NULL || c->http != NULL)
		return AGENTD_OK;	/* over HTTP only a GET stream would carry them */
	/* Bounded: a server that never stops writing is read again at the
	 * next use, not for ever now. */
	for (reads = 0; reads < 64; reads++) {
		struct pollfd p = { .fd = c->out, .events = POLLIN };
		int n;

		if ((rc = take_lines(c, -1, &none, err)) != AGENTD_OK)
			return rc;
		n = poll(&p, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !(p.revents & (POLLIN | POLLHUP)))
			return AGENTD_OK;
		if ((rc = read_some(c, err)) != AGENTD_OK)
			return rc;
	}
	return take_lines(c, -1, &none, err);
}

static int
is_known_legacy(const char *v)
{
	return strcmp(v, "2025-11-25") == 0 || strcmp(v, "2025-06-18") == 0 ||
	    strcmp(v, "2025-03-26") == 0;
}

/* Send a message that awaits no answer. */
static int
send_one(struct mcp_client *c, json_t *msg, struct agentd_error *err)
{
	json_t *ans = NULL;
	long st;
	int rc;

	if (c->http == NULL)
		return send_msg(c, msg, err);
	rc = mcp_http_post(c->http, msg, -1, anum_mono_s() + 10, NULL, &ans, &st, err);
	json_decref(ans);
	return rc;
}

/* A message from the server that is not our answer. Its requests get an
 * answer: ping an empty result, everything else "method not found" (agentd
 * offers no sampling, roots or elicitation). Notifications are dropped. */
static void
on_server_msg(struct mcp_client *c, json_t *m)
{
	json_t *id = json_object_get(m, "id"), *reply;
	const char *method = ajson_str(m, "method", NULL);
	struct agentd_error ignored;

	if (method != NULL && id == NULL && c->on_note)
		c->on_note(c->hook_ud, m);	/* progress, list_changed, log messages */
	if (method == NULL || id == NULL)
		return;
	if (strcmp(method, "ping") == 0)
		reply = json_pack("{s:s,s:O,s:{}}", "jsonrpc", "2.0", "id", id, "result");
	else
		reply = json_pack("{s:s,s:O,s:{s:i,s:s+}}", "jsonrpc", "2.0", "id", id, "error", "code",
		    -32601, "message", "agentd does not provide ", method);
	if (reply)
		(void)send_one(c, reply, &ignored);
	json_decref(reply);
}

static void
http_on_msg(void *ud, json_t *m)
{
	on_server_msg(ud, m);
}

static int
http_cancelled(void *ud)
{
	struct mcp_client *c = ud;

	return c->cancelled != NULL && c->cancelled(c->hook_ud);
}

/* The per-request metadata of the 2026-07-28 revision, merged into params. */
static int
add_modern_meta(json_t *params)
{
	json_t *meta = json_object_get(params, "_meta"), *add;
	int rc;

	if (meta == NULL) {
		if ((meta = json_object()) == NULL || json_object_set_new(params, "_meta", meta))
			return -1;
	}
	add = json_pack("{s:s,s:{s:s,s:s},s:{}}",
	    "io.modelcontextprotocol/protocolVersion", MCP_PROTOCOL_MODERN,
	    "io.modelcontextprotocol/clientInfo", "name", "agentd", "version", PACKAGE_VERSION,
	    "io.modelcontextprotocol/clientCapabilities");
	rc = add ? json_object_update(meta, add) : -1;
	json_decref(add);
	return rc;
}

/* One request on either transport; *ans is the whole JSON-RPC response,
 * *status the HTTP status (0 on stdio). Takes params. */
static int
rpc(struct mcp_client *c, const char *method, json_t *params, double deadline, json_t **ans,
    long *status, struct agentd_error *err)
{
	long id = ++c->next_id;
	json_t *msg;
	int rc;

	*status = 0;
	if (params == NULL)
		params = json_object();
	if (params && c->modern && add_modern_meta(params) != 0) {
		json_decref(params);
		params = NULL;
	}
	msg = params ? json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", (json_int_t)id,
	    "method", method, "params", params) : NULL;
	if (msg == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
	if (c->http) {
		struct mcp_http_io io = { http_on_msg, http_cancelled, c };

		rc = mcp_http_post(c->http, msg, id, deadline, &io, ans, status, err);
		if (rc == AGENTD_ECANCELLED)
			rc = cancel_request(c, id, err);
	} else {
		rc = send_msg(c, msg, err);
		if (rc == AGENTD_OK)
			rc = wait_answer(c, id, deadline, ans, err);
	}
	json_decref(msg);
	return rc;
}

static int
request(struct mcp_client *c, const char *method, json_t *params, double timeout,
    json_t **result, struct agentd_error *err)
{
	json_t *ans = NULL, *e;
	const char *rt;
	long status;
	int rc;

	rc = rpc(c, method, params, anum_mono_s() + timeout, &ans, &status, err);
	if (rc != AGENTD_OK)
		return rc;
	if ((e = json_object_get(ans, "error")) != NULL) {
		rc = agentd_seterr(err, AGENTD_EPROTO, "mcp %s: %s: %s", c->name, method,
		    ajson_str(e, "message", "error"));
		json_decref(ans);
		return rc;
	}
	*result = json_incref(json_object_get(ans, "result"));
	json_decref(ans);
	if (!json_is_object(*result)) {
		json_decref(*result);
		*result = NULL;
		return agentd_seterr(err, AGENTD_EPROTO, "mcp %s: %s: no result", c->name, method);
	}
	/* 2026-07-28: a result says what it is; an absent resultType is "complete". */
	rt = ajson_str(*result, "resultType", "complete");
	if (strcmp(rt, "complete") != 0) {
		rc = agentd_seterr(err, AGENTD_EPROTO, strcmp(rt, "input_required") == 0 ?
		    "mcp %s: %s: the server asks the client for input (sampling, elicitation or "
		    "roots), which agentd does not provide" :
		    "mcp %s: %s: unknown resultType '%.40s'", c->name, method, rt);
		json_decref(*result);
		*result = NULL;
	}
	return rc;
}

void
mcp_client_free(struct mcp_client *c)
{
	int st, i;

	if (c == NULL)
		return;
	if (c->in >= 0)
		close(c->in);	/* the polite way to ask a stdio server to stop */
	for (i = 0; c->pid > 0 && i < 3; i++) {
		int j;

		if (i == 1)
			kill(-c->pid, SIGTERM);	/* its group: what it started too */
		if (i == 2)
			kill(-c->pid, SIGKILL);
		for (j = 0; j < (i == 2 ? 1000 : 20); j++) {
			siginfo_t si;

			si.si_pid = 0;
			if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
				c->pid = 0;	/* reaped elsewhere: its group id is no longer ours */
				break;
			}
			if (si.si_pid == c->pid) {
				/* Gone: what it left running in its group goes too
				 * (its zombie keeps the group's id from reuse). */
				kill(-c->pid, SIGKILL);
				while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
					;
				c->pid = 0;
				break;
			}
			usleep(50000);	/* a grace of one second per step */
		}
	}
	if (c->out >= 0)
		close(c->out);
	if (c->errfd >= 0)
		close(c->errfd);
	mcp_http_free(c->http);	/* DELETEs the session */
	json_decref(c->cfg);
	free(c->buf);
	free(c);
}

/* Close p[child] (the child's end); hand p[!child] to *keep, or close it. */
static void
close_pair_end(int p[2], int child, int *keep)
{
	if (p[child] >= 0)
		close(p[child]);
	if (keep != NULL)
		*keep = p[!child];
	else if (p[!child] >= 0)
		close(p[!child]);
}

/*
 * Start the server: `command` with `args`, in `cwd`, with the caller's
 * environment and `env` over it. All is built here, and posix_spawn runs
 * nothing else in the child: the caller has other threads, and after a
 * fork the child could wait forever on a lock one of them held (setenv's,
 * malloc's). The child gets default signals and none blocked, whatever
 * the caller ignores or reads through a signalfd.
 */
static int
spawn(struct mcp_client *c, const json_t *cfg, struct agentd_error *err)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, e, rc = AGENTD_OK;
	const json_t *args = json_object_get(cfg, "args"), *envo = json_object_get(cfg, "env");
	const char *cmd = ajson_str(cfg, "command", ""), *cwd = NULL, *k;
	size_t n = json_array_size(args), nset = 0, i;
	char **argv = calloc(n + 2, sizeof(*argv));
	char **set = calloc(json_object_size(envo) + 1, sizeof(*set)), **env = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct stat st;
	pid_t pid = -1;
	json_t *v;

	if (argv == NULL || set == NULL) {
		rc = agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
		goto out;
	}
	argv[0] = (char *)cmd;
	for (i = 0; i < n; i++)
		argv[i + 1] = (char *)json_string_value(json_array_get(args, i));
	json_object_foreach((json_t *)envo, k, v) {
		/* mcp_config_check refused these names; never pass one on */
		if (*k == '\0' || strchr(k, '=') != NULL || !json_is_string(v))
			continue;
		if (asprintf(&set[nset], "%s=%s", k, json_string_value(v)) < 0) {
			set[nset] = NULL;
			rc = agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
			goto out;
		}
		nset++;
	}
	if ((env = aspawn_env(set, nset)) == NULL) {
		rc = agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
		goto out;
	}
	if (json_is_string(json_object_get(cfg, "cwd"))) {
		cwd = ajson_str(cfg, "cwd", ".");
		e = stat(cwd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
		if (e != 0) {
			rc = agentd_seterr(err, AGENTD_EIO, "mcp %s: cannot run %s in %s: %s", c->name,
			    cmd, cwd, strerror(e));
			goto out;
		}
	}
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
		rc = agentd_seterr(err, AGENTD_EIO, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		rc = agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
		goto out;
	}
	/* A session of its own: a terminal's ^C to agentd's process group
	 * does not reach it (agentd stops it when it stops), and at the end
	 * its whole group goes (mcp_client_free). */
	if ((e = aspawn_attr_init(&at, POSIX_SPAWN_SETSID)) == 0) {
		if ((e = posix_spawn_file_actions_adddup2(&fa, pin[0], 0)) == 0 &&
		    (e = posix_spawn_file_actions_adddup2(&fa, pout[1], 1)) == 0 &&
		    (e = posix_spawn_file_actions_adddup2(&fa, perr[1], 2)) == 0 &&
		    (cwd == NULL || (e = posix_spawn_file_actions_addchdir_np(&fa, cwd)) == 0))
			e = aspawn_path(&pid, cmd, &fa, &at, argv, env);
		posix_spawnattr_destroy(&at);
	}
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0)
		rc = agentd_seterr(err, AGENTD_EIO, "mcp %s: cannot run %s: %s", c->name, cmd,
		    strerror(e));
	else
		c->pid = pid;
out:
	/* the child's ends are its own now; ours stay open only after a start */
	close_pair_end(pin, 0, rc == AGENTD_OK ? &c->in : NULL);
	close_pair_end(pout, 1, rc == AGENTD_OK ? &c->out : NULL);
	close_pair_end(perr, 1, rc == AGENTD_OK ? &c->errfd : NULL);
	for (i = 0; set != NULL && i < nset; i++)
		free(set[i]);
	free(set);
	aspawn_env_free(env);
	free(argv);
	return rc;
}


static int
lists_legacy(const json_t *list)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		if (json_is_string(e) && is_known_legacy(json_string_value(e)))
			return 1;
	return 0;
}

enum era { ERA_MODERN, ERA_LEGACY, ERA_FAILED };

/*
 * The probe of a client that speaks both eras (2026-07-28 "Versioning and
 * Compatibility"): server/discover in the modern form. A DiscoverResult
 * listing 2026-07-28 means modern. A recognized modern error means a modern
 * server: UnsupportedProtocolVersion (-32022) that lists a version of the
 * handshake era falls back to it, otherwise it is an error, as are
 * HeaderMismatch (-32020) and MissingRequiredClientCapability (-32021).
 * Anything else — another JSON-RPC error, an HTTP 4xx without such a body,
 * no answer in time, a result that is no DiscoverResult — means legacy.
 * A broken transport (not JSON, closed, refused, over a cap) is an error.
 */
static enum era
probe(struct mcp_client *c, double deadline, int *rcp, struct agentd_error *err)
{
	json_t *ans = NULL, *e, *res, *sup;
	struct agentd_error perr;
	enum era era = ERA_LEGACY;
	long status = 0, code;
	int rc;

	agentd_error_clear(&perr);
	c->modern = 1;
	if (c->http)
		mcp_http_set_version(c->http, MCP_PROTOCOL_MODERN);
	rc = rpc(c, "server/discover", NULL, deadline, &ans, &status, &perr);
	c->modern = 0;
	if (c->http)
		mcp_http_set_version(c->http, "");
	if (rc == AGENTD_ETIMEOUT)
		return ERA_LEGACY;	/* a legacy server may say nothing before initialize */
	if (rc == AGENTD_EPROTO && status / 100 == 4)
		return ERA_LEGACY;	/* an HTTP 4xx that is no modern error */
	if (rc != AGENTD_OK) {
		*rcp = agentd_seterr(err, rc, "%s", agentd_errmsg(&perr));
		return ERA_FAILED;
	}
	e = json_object_get(ans, "error");
	res = json_object_get(ans, "result");
	code = json_is_integer(json_object_get(e, "code")) ?
	    (long)json_integer_value(json_object_get(e, "code")) : 0;
	sup = json_object_get(res, "supportedVersions");
	if (res && ajson_array_has(sup, MCP_PROTOCOL_MODERN)) {
		era = ERA_MODERN;
	} else if (res && json_is_array(sup) && !lists_legacy(sup)) {
		agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the server speaks none of the protocol "
		    "versions agentd knows (%s, 2025-11-25, 2025-06-18, 2025-03-26)", c->name,
		    MCP_PROTOCOL_MODERN);
		era = ERA_FAILED;
	} else if (code == -32022) {
		sup = json_object_get(json_object_get(e, "data"), "supported");
		if (!lists_legacy(sup)) {
			char *l = json_dumps(sup ? sup : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);

			agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the server supports protocol versions "
			    "%.200s; agentd knows %s, 2025-11-25, 2025-06-18 and 2025-03-26", c->name,
			    l ? l : "?", MCP_PROTOCOL_MODERN);
			free(l);
			era = ERA_FAILED;
		}
	} else if (code == -32020 || code == -32021) {
		agentd_seterr(err, AGENTD_EPROTO, "mcp %s: server/discover: %s", c->name,
		    ajson_str(e, "message", "error"));
		era = ERA_FAILED;
	}
	json_decref(ans);
	*rcp = era == ERA_FAILED ? AGENTD_EPROTO : AGENTD_OK;
	return era;
}

/* initialize / notifications/initialized, offering MCP_PROTOCOL_VERSION. */
static int
initialize(struct mcp_client *c, double deadline, struct agentd_error *err)
{
	json_t *res = NULL, *note;
	const char *ver;
	int rc;

	if (c->http)
		mcp_http_reset_session(c->http);
	rc = request(c, "initialize", json_pack("{s:s,s:{},s:{s:s,s:s}}", "protocolVersion",
	    MCP_PROTOCOL_VERSION, "capabilities", "clientInfo", "name", "agentd", "version",
	    PACKAGE_VERSION), deadline - anum_mono_s(), &res, err);
	if (rc != AGENTD_OK)
		return rc;
	ver = ajson_str(res, "protocolVersion", "");
	if (!is_known_legacy(ver)) {
		rc = agentd_seterr(err, AGENTD_EPROTO, "mcp %s: the server speaks protocol version "
		    "'%.40s'; agentd knows 2025-11-25, 2025-06-18 and 2025-03-26", c->name, ver);
		json_decref(res);
		return rc;
	}
	snprintf(c->version, sizeof(c->version), "%s", ver);
	json_decref(res);
	if (c->http)
		mcp_http_set_version(c->http, c->version);
	note = json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", "notifications/initialized");
	rc = note ? send_one(c, note, err) : agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
	json_decref(note);
	return rc;
}

static int
connect_http(struct mcp_client *c, const json_t *cfg, struct agentd_error *err)
{
	const char *var = ajson_str(cfg, "bearer_token_env", NULL), *tok = NULL;

	if (var) {
		tok = getenv(var);
		if (tok == NULL || *tok == '\0')
			return agentd_seterr(err, AGENTD_EINVAL, "mcp %s: bearer_token_env names %s, "
			    "which is not set", c->name, var);
	}
	return mcp_http_new(c->name, ajson_str(cfg, "url", ""), tok, ajson_bool(cfg, "network", 0),
	    &c->http, err);
}

/* A start that failed: what the server said on stderr (a missing command,
 * a crash) is the best explanation, so the error ends with its last line. */
static void
start_failed(struct mcp_client *c, struct agentd_error *err)
{
	char msg[sizeof(err->msg)], *p, *end;
	double until = anum_mono_s() + 0.5;
	struct pollfd pf;

	if (err == NULL)
		return;
	while (c->errfd >= 0 && anum_mono_s() < until) {	/* what it wrote as it died */
		pf.fd = c->errfd;
		pf.events = POLLIN;
		if (poll(&pf, 1, 100) <= 0)
			break;
		drain_stderr(c);
	}
	end = c->err_tail + c->tail_len;
	while (end > c->err_tail && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = '\0';
	for (p = end; p > c->err_tail && p[-1] != '\n'; p--)
		;
	for (end = p; *end; end++)	/* one printable line */
		if ((unsigned char)*end < 0x20)
			*end = ' ';
	/* What the caller knows that the server's words do not say (the
	 * daemon: a path of its command line that the sandbox hides). */
	if (json_is_string(json_object_get(c->cfg, "start_hint"))) {
		snprintf(msg, sizeof(msg), "%s (%s)", agentd_errmsg(err),
		    ajson_str(c->cfg, "start_hint", ""));
		snprintf(err->msg, sizeof(err->msg), "%s", msg);
	}
	if (*p == '\0')
		return;
	snprintf(msg, sizeof(msg), "%s; its stderr ends: %s", agentd_errmsg(err), p);
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
}

int
mcp_client_start(const char *name, const json_t *cfg, int stderr_fd,
    struct mcp_client **out, struct agentd_error *err)
{
	struct mcp_client *c;
	double timeout = ajson_num(cfg, "startup_timeout_s", 10), t0 = anum_mono_s();
	double probe_wait = timeout / 2 < 5 ? timeout / 2 : 5;
	enum era era;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL || (c->buf = malloc(MCP_LINE_MAX)) == NULL) {
		free(c);
		return agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
	}
	c->in = c->out = c->errfd = -1;
	c->logfd = stderr_fd;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->cfg = json_deep_copy(cfg);
	c->tool_timeout = ajson_num(cfg, "tool_timeout_s", 60);
	if (json_object_get(cfg, "url"))
		rc = connect_http(c, cfg, err);
	else
		rc = spawn(c, cfg, err);
	if (rc != AGENTD_OK)
		goto fail;
	if ((era = probe(c, t0 + probe_wait, &rc, err)) == ERA_FAILED)
		goto fail;
	if (era == ERA_MODERN) {
		c->modern = 1;
		snprintf(c->version, sizeof(c->version), "%s", MCP_PROTOCOL_MODERN);
		if (c->http)
			mcp_http_set_version(c->http, c->version);
	} else if ((rc = initialize(c, t0 + timeout, err)) != AGENTD_OK) {
		goto fail;
	}
	*out = c;
	return AGENTD_OK;
fail:
	start_failed(c, err);
	mcp_client_free(c);
	return rc;
}

const char *
mcp_client_protocol(const struct mcp_client *c)
{
	return c->version;
}


int
mcp_client_list_tools(struct mcp_client *c, json_t **out, struct agentd_error *err)
{
	json_t *all = json_array(), *res = NULL, *t;
	const json_t *en = json_object_get(c->cfg, "enabled_tools");
	const json_t *dis = json_object_get(c->cfg, "disabled_tools");
	const char *cursor = NULL;
	size_t i;
	int rc, pages;

	for (pages = 0; pages < 100; pages++) {
		json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor) : json_object();

		json_decref(res);
		res = NULL;
		if ((rc = request(c, "tools/list", params, c->tool_timeout, &res, err)) != AGENTD_OK) {
			json_decref(all);
			return rc;
		}
		json_array_foreach(json_object_get(res, "tools"), i, t) {
			const char *n = ajson_str(t, "name", NULL);

			if (n && (!en || ajson_array_has(en, n)) && !ajson_array_has(dis, n) &&
			    json_array_size(all) < 1000)
				json_array_append(all, t);
		}
		if (!json_is_string(json_object_get(res, "nextCursor")))
			break;
		cursor = json_string_value(json_object_get(res, "nextCursor"));
	}
	json_decref(res);
	*out = all;
	return AGENTD_OK;
}

int
mcp_client_call(struct mcp_client *c, const char *tool, json_t *args, size_t cap,
    char **text, int *is_error, struct agentd_error *err)
{
	json_t *res = NULL, *item, *sc, *params;
	size_t i, len = 0;
	char *s;
	int rc;

	params = json_pack("{s:s,s:O}", "name", tool, "arguments", args ? args : json_object());
	if (params && c->on_note)	/* ask for notifications/progress about this call */
		json_object_set_new(params, "_meta", json_pack("{s:I}", "progressToken",
		    (json_int_t)c->next_id + 1));
	rc = request(c, "tools/call", params, c->tool_timeout, &res, err);
	if (rc != AGENTD_OK)
		return rc;
	if ((s = malloc(cap + 1)) == NULL) {
		json_decref(res);
		return agentd_seterr(err, AGENTD_ENOMEM, "out of memory");
	}
	s[0] = '\0';
#define ADD(str) do { size_t l_ = strlen(str); if (l_ > cap - len) l_ = cap - len; \
	memcpy(s + len, (str), l_); len += l_; s[len] = '\0'; } while (0)
	json_array_foreach(json_object_get(res, "content"), i, item) {
		const char *ty = ajson_str(item, "type", "");
		char mark[160];

		if (len)
			ADD("\n");
		if (strcmp(ty, "text") == 0) {
			ADD(ajson_str(item, "text", ""));
		} else {
			const char *d = ajson_str(item, "data", "");

			snprintf(mark, sizeof(mark), "[%.20s: %.60s, %zu bytes]", ty,
			    ajson_str(item, "mimeType", "?"), strlen(d) / 4 * 3);
			ADD(mark);
		}
	}
	if ((sc = json_object_get(res, "structuredContent")) != NULL && len == 0) {
		char *j = json_dumps(sc, JSON_COMPACT);

		if (j)
			ADD(j);
		free(j);
	}
#undef ADD
	*is_error = json_is_true(json_object_get(res, "isError"));
	*text = s;
	json_decref(res);
	return AGENTD_OK;
}

void
mcp_client_set_hooks(struct mcp_client *c, void (*on_note)(void *ud, const json_t *msg),
    int (*cancelled)(void *ud), void *ud)
{
	c->on_note = on_note;
	c->cancelled = cancelled;
	c->hook_ud = ud;
}

/* The caller gave up on request id: tell the server so it can stop. */
static int
cancel_request(struct mcp_client *c, long id, struct agentd_error *err)
{
	json_t *note = json_pack("{s:s,s:s,s:{s:I,s:s}}", "jsonrpc", "2.0", "method",
	    "notifications/cancelled", "params", "requestId", (json_int_t)id, "reason",
	    "the run was cancelled");
	struct agentd_error ignored;

	if (note)
		(void)send_one(c, note, &ignored);
	json_decref(note);
	return agentd_seterr(err, AGENTD_ECANCELLED, "mcp %s: cancelled", c->name);
}

pid_t
mcp_client_pid(const struct mcp_client *c)
{
	return c ? c->pid : 0;
}
