/*
 * agentctl.c — the command-line client of agentd.
 *
 * Talks JSON-RPC over the daemon's Unix socket (daemon/rpc.h). Progress goes
 * to stderr, results to stdout; every listing takes --json so scripts never
 * parse tables. Exit status: 0 success, 1 the operation failed (a failed
 * run, a tool error, a tampered audit), 2 usage or connection errors, 130
 * a run cancelled by Ctrl-C.
 * `agentctl sandbox` runs locally without the daemon (ctl_sandbox.c).
 * Everything the daemon sends came from a model, a tool, a file, a
 * repository or a task: text output shows it through shown() and --json
 * through print_json(), both escaping terminal controls (common/safetext.h).
 * Kept light: links no libcurl, libgit2 or SQLite.
 */
#include "daemon/rpc.h"
#include "client/ctl.h"
#include "daemon/chore.h"
#include "agent/agent.h"
#include "sandbox/sandbox.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/json.h"
#include "common/safetext.h"
#include "common/num.h"

#include <ctype.h>
#include <errno.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130	/* 128 + SIGINT: a run cancelled by Ctrl-C */

static char sock_path[PATH_MAX];
static int sock_fd = -1;
static int use_color;
static json_int_t next_id = 1;
static struct rpc_framer framer;
static volatile sig_atomic_t interrupted;

/* ---- output helpers ---- */

static const char *
col(const char *code)
{
	return use_color ? code : "";
}
#define C_RESET col("\033[0m")
#define C_DIM col("\033[2m")
#define C_BOLD col("\033[1m")
#define C_RED col("\033[31m")
#define C_GREEN col("\033[32m")
#define C_YELLOW col("\033[33m")
#define C_CYAN col("\033[36m")

static void
die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die_usage(const char *fmt, ...)
{
	char msg[2048], safe[4096];
	va_list ap;
	int n;

	/* The message may quote a chore file or a reply: escaped like all text. */
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	safetext_copy(safe, sizeof(safe), msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1, 0);
	fprintf(stderr, "agentctl: %s\n(see agentctl --help)\n", safe);
	exit(EXIT_USAGE);
}

/* A value as one line of JSON: the exact text, with nothing in it that a
 * terminal would act on (C0 controls escaped by JSON, DEL, C1 and bidi
 * controls as \uXXXX too). */
static void
print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), *safe;

	safe = s ? safetext_json(s, strlen(s), NULL) : NULL;
	if (safe)
		puts(safe);
	free(safe);
	free(s);
	fflush(stdout);
}

/*
 * Make every string in v safe to print as text, in place (v is then for
 * showing only), and return v. Terminal controls become visible escapes;
 * newlines and tabs stay.
 */
static json_t *
shown(json_t *v)
{
	const char *key;
	json_t *e;
	size_t i;
	struct abuf b;

	if (json_is_string(v)) {
		if (safetext_clean(json_string_value(v), json_string_length(v), 0))
			return v;
		abuf_init(&b, (size_t)-1 / 2);
		if (safetext_append(&b, json_string_value(v), json_string_length(v), 0) != AGENTD_OK ||
		    json_string_setn(v, b.data, b.len) != 0) {
			fprintf(stderr, "agentctl: out of memory\n");
			exit(EXIT_FAIL);
		}
		abuf_free(&b);
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, e)
			shown(e);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			shown(e);
	}
	return v;
}

/* Text from the daemon straight to a stream, escaped. */
static void
put_shown(const char *text, FILE *f)
{
	char *s = safetext_dup(text, 0);

	if (s == NULL) {
		fprintf(stderr, "agentctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	fputs(s, f);
	free(s);
}

static void
fmt_time(double t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* One line of text: newlines folded, cut to max chars. */
static void
one_line(const char *s, size_t max, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; s && s[i] && o + 4 < outlen; i++) {
		if (o >= max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		out[o++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
	}
	out[o] = '\0';
}

/* ---- connection ---- */

static void
connect_daemon(void)
{
	sock_fd = ctl_connect(sock_path);
	if (sock_fd < 0) {
		fprintf(stderr,
		    "agentctl: no agentd is answering on %s (%s).\n"
		    "Start one with:\n  agentd --socket %s &\n"
		    "(or point agentctl at another with --socket PATH or AGENTD_SOCKET)\n",
		    sock_path, strerror(errno), sock_path);
		exit(EXIT_USAGE);
	}
	rpc_framer_init(&framer, 256u * 1024 * 1024);
}

static void
send_line(char *line)
{
	size_t off = 0, n;
	ssize_t w;

	if (line == NULL) {
		fprintf(stderr, "agentctl: out of memory\n");
		exit(EXIT_USAGE);
	}
	n = strlen(line);
	while (off < n) {
		w = send(sock_fd, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "agentctl: lost the connection to agentd: %s\n", strerror(errno));
			exit(EXIT_USAGE);
		}
		off += (size_t)w;
	}
	free(line);
}

/* Messages received; the framer callback appends here. */
struct inbox {
	json_t *msgs;
};

static int
collect(void *ud, char *line, size_t len)
{
	struct inbox *ib = ud;
	json_t *v = ajson_loads(line, len, NULL);

	if (v)
		json_array_append_new(ib->msgs, v);
	return 0;
}

/*
 * Read one message from the daemon (blocking up to timeout_ms; -1 forever).
 * Returns a new reference, NULL on timeout; exits on a closed connection.
 */
static json_t *
read_msg(int timeout_ms)
{
	static struct inbox ib;
	char buf[65536];
	struct pollfd pfd;
	ssize_t n;
	json_t *m;
	int rc;

	if (ib.msgs == NULL)
		ib.msgs = json_array();
	for (;;) {
		if (json_array_size(ib.msgs) > 0) {
			m = json_incref(json_array_get(ib.msgs, 0));
			json_array_remove(ib.msgs, 0);
			return m;
		}
		pfd.fd = sock_fd;
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR) {
			if (interrupted)
				return NULL;
			continue;
		}
		if (rc == 0)
			return NULL;
		n = read(sock_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "agentctl: agentd closed the connection\n");
			exit(EXIT_USAGE);
		}
		if (rpc_framer_feed(&framer, buf, (size_t)n, collect, &ib) != 0) {
			fprintf(stderr, "agentctl: a reply from agentd was too large\n");
			exit(EXIT_USAGE);
		}
	}
}

typedef void (*notify_fn)(json_t *msg, void *ud);

/*
 * Call a method and wait for its answer; notifications that arrive meanwhile
 * go to on_notify (may be NULL). Returns the result (new reference) or NULL
 * with the code and message of the error (message static until the next call).
 */
static json_t *
call_ex(const char *method, json_t *params, notify_fn on_notify, void *ud, int *code,
    const char **message)
{
	static char errbuf[2048];
	json_int_t id = next_id++;
	json_t *m, *res, *err;

	if (sock_fd < 0)
		connect_daemon();
	send_line(rpc_request_line(id, method, params));
	for (;;) {
		m = read_msg(-1);
		if (m == NULL)
			continue;
		if (json_object_get(m, "method")) {
			if (on_notify)
				on_notify(m, ud);
			json_decref(m);
			continue;
		}
		/* An error without id (a line over the cap, a parse error) answers the
		 * one request we are waiting for: the daemon may close right after it. */
		if (ajson_int(m, "id", -1) != id &&
		    !(json_is_null(json_object_get(m, "id")) && json_object_get(m, "error"))) {
			json_decref(m);
			continue;
		}
		err = json_object_get(m, "error");
		if (err) {
			*code = (int)ajson_int(err, "code", RPC_INTERNAL_ERROR);
			safetext_copy(errbuf, sizeof(errbuf), ajson_str(err, "message", "error"),
			    strlen(ajson_str(err, "message", "error")), 0);
			*message = errbuf;
			json_decref(m);
			return NULL;
		}
		res = json_incref(json_object_get(m, "result"));
		json_decref(m);
		return res;
	}
}

/* A daemon error's exit status: 2 when the request itself was wrong, 1 when
 * the operation failed. */
static int
exit_for(int code)
{
	switch (code) {
	case RPC_PARSE_ERROR:
	case RPC_INVALID_REQUEST:
	case RPC_METHOD_NOT_FOUND:
	case RPC_INVALID_PARAMS:
		return EXIT_USAGE;
	default:
		return EXIT_FAIL;
	}
}

/* call_ex that exits with a message on error. */
static json_t *
call(const char *method, json_t *params)
{
	const char *msg = NULL, *dot = strchr(method, '.');
	int code = 0, kl = dot ? (int)(dot - method) : (int)strlen(method);
	json_int_t qid = ajson_int(params, "id", 0);
	json_t *r = call_ex(method, params, NULL, NULL, &code, &msg);

	if (r == NULL) {
		/* The user's words: the thing they named and its id, not the method. */
		if (code == RPC_NOT_FOUND && qid > 0) {
			fprintf(stderr, "agentctl: %.*s %lld: no such %.*s\n", kl, method,
			    (long long)qid, kl, method);
			exit(EXIT_USAGE);
		}
		fprintf(stderr, "agentctl: %.*s: %s\n", kl, method, msg ? msg : "error");
		exit(code == RPC_NOT_FOUND ? EXIT_USAGE : exit_for(code));
	}
	return r;
}

/* A whole session: the daemon sends long ones a page at a time. */
static json_t *
session_get_all(json_int_t id)
{
	json_t *s = call("session.get", json_pack("{s:I}", "id", id)), *page;
	json_t *msgs = json_object_get(s, "messages");
	json_int_t next;

	while ((next = ajson_int(s, "next_seq", 0)) > 0) {
		page = call("session.get", json_pack("{s:I, s:I}", "id", id, "after_seq", next));
		if (json_array_extend(msgs, json_object_get(page, "messages")) != 0) {
			fprintf(stderr, "agentctl: session.get: a page could not be added (out of "
			    "memory, or a reply without messages)\n");
			exit(EXIT_FAIL);
		}
		if (ajson_int(page, "next_seq", 0) > next)
			json_object_set(s, "next_seq", json_object_get(page, "next_seq"));
		else
			json_object_del(s, "next_seq");
		json_decref(page);
	}
	return s;
}

/* --json anywhere among the arguments. */
static int
has_json(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0)
			return 1;
	return 0;
}

/* The first argument that is not an option (NULL when none). */
static const char *
first_arg(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			return argv[i];
	return NULL;
}

/* ---- argument helpers ---- */

/* The value of a numeric flag, whole and in range, or exit 2 naming the flag. */
static json_int_t
flag_int(const char *flag, const char *s, int64_t min, int64_t max)
{
	struct agentd_error err;
	int64_t v;

	if (anum_int(s, min, max, &v, &err) != AGENTD_OK)
		die_usage("%s: %s", flag, err.msg);
	return (json_int_t)v;
}

/* The value of a duration flag in seconds, or exit 2 naming the flag. */
static double
flag_duration(const char *flag, const char *s)
{
	struct agentd_error err;
	double v;

	if (anum_duration(s, 366.0 * 86400, &v, &err) != AGENTD_OK)
		die_usage("%s: %s", flag, err.msg);
	return v;
}

static int64_t
parse_id(const char *s, char want)
{
	char *end;
	long long v;

	if (s == NULL)
		die_usage("an id is required");
	if ((*s == 'r' || *s == 's' || *s == 'j') && s[1]) {
		if (want && *s != want)
			die_usage("'%s' is not a %s id", s, want == 'r' ? "run" : want == 's' ? "session" : "job");
		s++;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		die_usage("'%s' is not a valid id", s);
	return v;
}

static int
has_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

static char *
join_args(int argc, char **argv)
{
	struct abuf b;
	int i;

	abuf_init(&b, 1024 * 1024);
	for (i = 0; i < argc; i++) {
		/* Never send a silently cut task or query. */
		if ((i && abuf_puts(&b, " ") != AGENTD_OK) || abuf_puts(&b, argv[i]) != AGENTD_OK)
			die_usage("the text is over %d bytes", 1024 * 1024);
	}
	return abuf_steal(&b);
}

/* ---- status ---- */

static int
cmd_status(int argc, char **argv)
{
	int json = 0, i;
	json_t *r, *cfg, *eps;
	char up[64];

	if (has_help(argc, argv)) {
		puts("usage: agentctl status [--json]\n\nShow whether agentd answers, its version, uptime,\n"
		    "socket, state dir and model server. Exit 0 when the daemon answers.");
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			die_usage("status: unexpected argument '%s'", argv[i]);
	}
	r = call("daemon.status", NULL);
	if (json) {
		print_json(r);
	} else {
		shown(r);
		cfg = json_object_get(r, "config");
		eps = json_object_get(cfg, "endpoints");
		snprintf(up, sizeof(up), "%.0fs", ajson_num(r, "uptime_s", 0));
		printf("agentd %s is running (pid %lld, up %s)\n", ajson_str(r, "version", "?"),
		    (long long)ajson_int(r, "pid", 0), up);
		printf("  socket:      %s\n  state dir:   %s\n  database:    %s\n",
		    ajson_str(r, "socket", ""), ajson_str(r, "state_dir", ""), ajson_str(r, "database", ""));
		for (i = 0; i < (int)json_array_size(eps); i++)
			printf("  model server: %s%s%s\n", ajson_str(json_array_get(eps, (size_t)i), "url", ""),
			    ajson_str(json_array_get(eps, (size_t)i), "model", NULL) ? " model " : "",
			    ajson_str(json_array_get(eps, (size_t)i), "model", ""));
		printf("  active runs: %lld\n  clients:     %lld\n", (long long)ajson_int(r, "runs_active", 0),
		    (long long)ajson_int(r, "clients", 0));
	}
	json_decref(r);
	return 0;
}

/* ---- doctor ---- */

static int doctor_bad, doctor_warn;

static void
doctor_line(int level, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One finding: level 0 ok, 1 warning, 2 failure. */
static void
doctor_line(int level, const char *what, const char *fmt, ...)
{
	va_list ap;

	if (level == 2)
		doctor_bad++;
	else if (level == 1)
		doctor_warn++;
	printf("%s%-5s%s %-8s ", level == 2 ? C_RED : level == 1 ? C_YELLOW : C_GREEN,
	    level == 2 ? "FAIL" : level == 1 ? "warn" : "ok", C_RESET, what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void
doctor_fix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
doctor_fix(const char *fmt, ...)
{
	va_list ap;

	printf("               fix: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const char *
human_bytes(double n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (n >= 1024 && u < 4) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", n, unit[u]);
	return buf;
}

/* The sandbox: run `true` under it, in a throwaway workspace. */
static void
doctor_sandbox(void)
{
	char ws[] = "/tmp/agentd-doctor.XXXXXX", *first, *nl;
	char *argv[] = { "true", NULL };
	struct sandbox_opts o;
	struct sandbox_result res;
	struct agentd_error err;
	char *ex = sandbox_explain();

	first = ex ? strstr(ex, "mode: ") : NULL;
	if (first && (nl = strchr(first, '\n')) != NULL)
		*nl = '\0';
	if (mkdtemp(ws) == NULL) {
		doctor_line(2, "sandbox", "cannot make a test folder: %s", strerror(errno));
		free(ex);
		return;
	}
	sandbox_opts_init(&o);
	o.workspace = ws;
	o.timeout_ms = 10000;
	agentd_error_clear(&err);
	memset(&res, 0, sizeof(res));
	if (sandbox_run(&o, argv, &res, &err) != AGENTD_OK) {
		doctor_line(2, "sandbox", "cannot run a command confined: %s", agentd_errmsg(&err));
		doctor_fix("agentctl sandbox --explain says which layer is missing (docs/sandbox.md)");
	} else if (res.exit_code != 0) {
		doctor_line(2, "sandbox", "a confined `true` exited %d: %.200s", res.exit_code,
		    res.err ? res.err : "");
		doctor_fix("agentctl sandbox --explain; agentctl sandbox --workspace /tmp -- true");
	} else {
		doctor_line(0, "sandbox", "%s", first ? first + 6 : "works");
	}
	sandbox_result_free(&res);
	rmdir(ws);
	free(ex);
}

static void
doctor_endpoint(const json_t *e)
{
	const char *url = ajson_str(e, "url", "?"), *model = ajson_str(e, "model", NULL);
	json_int_t win = ajson_int(e, "window", 0), fixed = ajson_int(e, "fixed_prompt_tokens", 0);
	char what[1100];
	struct abuf b;

	snprintf(what, sizeof(what), "%s%s%s", url, model ? " model " : "", model ? model : "");
	if (!ajson_bool(e, "reachable", 0)) {
		doctor_line(2, "model", "%s: nothing answers there", what);
		doctor_fix("start a model server at that address (llama-server --jinja -m MODEL.gguf "
		    "--port 8080; ollama serve; vllm serve MODEL), or set llm_url in the config "
		    "(AGENTD_LLM_URL) to where yours listens");
		return;
	}
	if (ajson_int(e, "models_status", 0) == 404) {
		doctor_line(2, "model", "%s: answers, but %s/models is not found (HTTP 404: %s)",
		    what, url, ajson_str(e, "models_excerpt", ""));
		doctor_fix("the URL should be the server's OpenAI base, usually ending in /v1 "
		    "(http://HOST:PORT/v1)");
		return;
	}
	if (ajson_int(e, "models_status", 0) == 401 || ajson_int(e, "models_status", 0) == 403) {
		doctor_line(2, "model", "%s: refused (HTTP %lld)", what,
		    (long long)ajson_int(e, "models_status", 0));
		doctor_fix("set api_key for this endpoint (or AGENTD_API_KEY)");
		return;
	}
	if (json_is_false(json_object_get(e, "model_listed")))
		doctor_line(1, "model", "%s: the server does not list the model %s", url, model);
	abuf_init(&b, 4096);
	abuf_printf(&b, "%s: answers", what);
	if (ajson_int(e, "n_ctx", 0) > 0)
		abuf_printf(&b, ", window %lld tokens", (long long)ajson_int(e, "n_ctx", 0));
	else
		abuf_printf(&b, ", window not reported (agentd assumes %lld)", (long long)win);
	if (ajson_int(e, "slots", 0) > 1)
		abuf_printf(&b, " shared by %lld slots", (long long)ajson_int(e, "slots", 0));
	if (!ajson_bool(e, "tools_ok", 0)) {
		doctor_line(2, "model", "%s; a request that offers a tool was refused: %s", b.data,
		    ajson_str(e, "tools_error", "?"));
		doctor_fix("start the server with tool calling: llama-server --jinja; Ollama and "
		    "vLLM (--enable-auto-tool-choice --tool-call-parser NAME) with a model whose "
		    "template has tools");
		abuf_free(&b);
		return;
	}
	abuf_printf(&b, "; tool calls accepted");
	if (json_is_true(json_object_get(e, "generic_tool_format"))) {
		doctor_line(1, "model", "%s, but in llama.cpp's generic JSON format (the model's "
		    "template has no tool calls)", b.data);
		doctor_fix("use a model whose chat template supports tools, or pass one with "
		    "--chat-template-file; small models call tools far less reliably this way");
	} else if (json_is_false(json_object_get(e, "fits"))) {
		doctor_line(2, "model", "%s; but the window (%lld tokens) is too small for agentd's "
		    "fixed prompt (about %lld tokens), a reserve and a task", b.data,
		    (long long)win, (long long)fixed);
		doctor_fix("give the server a larger context (llama-server -c 8192; Ollama: "
		    "OLLAMA_CONTEXT_LENGTH=8192 or num_ctx), or fewer slots (-np 1)");
	} else {
		doctor_line(0, "model", "%s; fixed prompt about %lld tokens", b.data, (long long)fixed);
	}
	abuf_free(&b);
}

/* The MCP servers and their state, as agentd knows them (none is started
 * here). A server that cannot start is a warning: runs go on without it. */
static void
doctor_mcp(void)
{
	const char *msg = NULL;
	json_t *r, *s;
	size_t i;
	int code = 0;

	r = shown(call_ex("mcp.list", NULL, NULL, NULL, &code, &msg));
	if (r == NULL) {
		doctor_line(1, "mcp", "mcp.list: %s", msg ? msg : "?");
		return;
	}
	json_array_foreach(json_object_get(r, "servers"), i, s) {
		const char *st = ajson_str(s, "state", "?"), *e = ajson_str(s, "error", "");
		int bad = strcmp(st, "failed") == 0 || strcmp(st, "restarting") == 0;

		doctor_line(bad, "mcp", "%s (%s%s): %s, %lld tools, %lld starts%s%s%s%s",
		    ajson_str(s, "name", "?"), ajson_str(s, "transport", "?"),
		    ajson_bool(s, "enabled", 1) ? "" : ", disabled", st,
		    (long long)ajson_int(s, "tools", 0), (long long)ajson_int(s, "starts", 0),
		    ajson_str(s, "workspace", NULL) ? " in " : "", ajson_str(s, "workspace", ""),
		    *e ? ": " : "", e);
		if (bad)
			doctor_fix("agentctl mcp test %s says why it cannot start; after fixing "
			    "mcp_servers.%s in the config file, reload agentd (SIGHUP)",
			    ajson_str(s, "name", "?"), ajson_str(s, "name", "?"));
	}
	if (json_array_size(json_object_get(r, "servers")) == 0)
		doctor_line(0, "mcp", "no MCP servers configured");
	json_decref(r);
}

static int
cmd_doctor(int argc, char **argv)
{
	json_t *st = NULL, *r = NULL, *j, *e;
	const char *msg = NULL;
	char a[32], c[32], f[32];
	int i, code = 0, models_ok = 0;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			puts("usage: agentctl doctor\n\nCheck what a run needs: the daemon, the journal "
			    "(integrity, size, free disk),\nthe sandbox on this machine and each model "
			    "endpoint (reachable, models,\nwindow and slots, tool calls accepted, the "
			    "window large enough). Each failure\ncomes with its fix. Exit 0 only when a "
			    "run can work.");
			return 0;
		}
		die_usage("doctor: unexpected argument '%s'", argv[i]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the daemon: reachable? (without connect_daemon's exit) */
	sock_fd = ctl_connect(sock_path);
	if (sock_fd < 0) {
		doctor_line(2, "daemon", "no agentd answers on %s (%s)", sock_path, strerror(errno));
		doctor_fix("start it: agentd --socket %s &  (or systemctl --user start agentd)",
		    sock_path);
		doctor_sandbox();
		return EXIT_FAIL;
	}
	rpc_framer_init(&framer, 256u * 1024 * 1024);
	st = call_ex("daemon.status", NULL, NULL, NULL, &code, &msg);
	if (st == NULL) {
		doctor_line(2, "daemon", "agentd on %s does not answer daemon.status: %s", sock_path,
		    msg ? msg : "?");
		return EXIT_FAIL;
	}
	doctor_line(0, "daemon", "agentd %s (pid %lld, up %.0f s) on %s", ajson_str(st, "version", "?"),
	    (long long)ajson_int(st, "pid", 0), ajson_num(st, "uptime_s", 0), sock_path);
	printf("               checking the journal and the model endpoints…\n");
	r = shown(call_ex("daemon.doctor", NULL, NULL, NULL, &code, &msg));	/* servers' words */
	if (r == NULL) {
		doctor_line(2, "daemon", "daemon.doctor: %s", msg ? msg : "?");
		if (code == RPC_METHOD_NOT_FOUND)
			doctor_fix("this agentd is older than agentctl: restart it from the same build");
		json_decref(st);
		return EXIT_FAIL;
	}
	j = json_object_get(r, "journal");
	if (strcmp(ajson_str(j, "integrity", "?"), "ok") != 0) {
		doctor_line(2, "journal", "%s: %s", ajson_str(j, "path", "?"), ajson_str(j, "integrity", "?"));
		doctor_fix("stop agentd, keep a copy of the state dir, and see docs/memory.md on "
		    "damaged journals");
	} else {
		double fb = ajson_num(j, "free_bytes", -1);

		doctor_line(fb >= 0 && fb < 10.0 * 1048576 ? 2 : fb >= 0 && fb < 200.0 * 1048576 ? 1 : 0,
		    "journal", "%s: %s (+%s WAL), integrity ok, %s free", ajson_str(j, "path", "?"),
		    human_bytes(ajson_num(j, "bytes", 0), a, sizeof(a)),
		    human_bytes(ajson_num(j, "wal_bytes", 0), c, sizeof(c)),
		    fb >= 0 ? human_bytes(fb, f, sizeof(f)) : "? bytes");
		if (fb >= 0 && fb < 200.0 * 1048576)
			doctor_fix("free disk space on %s: runs stop when the journal cannot grow",
			    ajson_str(j, "state_dir", "the state dir"));
	}
	if (ajson_int(j, "kept_ends", 0) > 0) {
		doctor_line(1, "journal", "%lld run end(s) wait beside it in %s-ends: the journal "
		    "could not take them", (long long)ajson_int(j, "kept_ends", 0),
		    ajson_str(j, "path", "agentd.db"));
		doctor_fix("free disk space on %s (or make the journal writable); agentd stores them "
		    "within seconds once it can, and shows those runs failed meanwhile",
		    ajson_str(j, "state_dir", "the state dir"));
	}
	doctor_sandbox();
	json_array_foreach(json_object_get(r, "endpoints"), k, e) {
		int before = doctor_bad;

		doctor_endpoint(e);
		if (doctor_bad == before)
			models_ok++;
	}
	if (json_array_size(json_object_get(r, "endpoints")) == 0)
		doctor_line(2, "model", "no model endpoint is configured");
	/* failover: one endpoint that works is enough for a run */
	if (models_ok > 0) {
		int failed_models = (int)json_array_size(json_object_get(r, "endpoints")) - models_ok;

		doctor_bad -= failed_models;
		doctor_warn += failed_models;
	}
	doctor_mcp();
	printf("\n%s\n", doctor_bad ? "A run cannot work yet: fix what FAILs above." :
	    doctor_warn ? "A run can work (see the warnings)." : "All good: a run can work.");
	json_decref(st);
	json_decref(r);
	return doctor_bad ? EXIT_FAIL : 0;
}

/* ---- run / attach: following a run's events ---- */

struct follow {
	int64_t run_id;
	int json;
	int quiet;		/* -q: the answer and errors only */
	int result;		/* --output-format json: one JSON object at the end */
	int progress;		/* one refreshed status line (a terminal, not -q or --json) */
	int done;
	int ok;
	int in_text;		/* streamed text (1) or thinking (2) is being printed */
	/* the status line: what the run is doing since when */
	char phase[64];		/* "" none, "thinking", or the tool running */
	double phase_t0;
	long tokens;		/* streamed pieces since the model was asked */
	int line_shown;
	long drawn;		/* what the shown line says (seconds and tokens), to redraw on change */
	char *answer;
	char *reason;
	char *status;
	char *branch;
	char *warning;
	char *call_args;	/* the last tool call's arguments, escaped once */
	struct abuf streamed;	/* the text streamed to stderr since the last tool call */
	int streamed_cut;	/* ... was over its cap: not all of it is kept */
	int64_t last_seq;	/* the newest stored event shown: a live one at or
				 * below it was already replayed */
};

/* The streamed text kept to compare with the answer: over it, the answer is
 * printed again (twice where stderr is stdout, never lost). */
#define FOLLOW_STREAMED_MAX (16u * 1024 * 1024)

static void
follow_init(struct follow *f)
{
	memset(f, 0, sizeof(*f));
	abuf_init(&f->streamed, FOLLOW_STREAMED_MAX);
}

static void
follow_free(struct follow *f)
{
	free(f->answer);
	free(f->reason);
	free(f->status);
	free(f->branch);
	free(f->warning);
	free(f->call_args);
	abuf_free(&f->streamed);
}

/* The steps of a plan: an array, {"steps": [...]}, or run.get's
 * {"version", "plan": either of those, "created"}. */
static json_t *
plan_steps(json_t *plan)
{
	if (json_is_object(plan) && json_object_get(plan, "plan"))
		plan = json_object_get(plan, "plan");
	if (json_is_object(plan))
		plan = json_object_get(plan, "steps");
	return json_is_array(plan) ? plan : NULL;
}

static void
print_plan(FILE *f, json_t *steps)
{
	json_t *s;
	size_t i;
	const char *st;

	fprintf(f, "%splan:%s\n", f == stderr ? C_BOLD : "", f == stderr ? C_RESET : "");
	json_array_foreach(steps, i, s) {
		st = ajson_str(s, "status", "pending");
		fprintf(f, "  %s %s\n", strcmp(st, "completed") == 0 ? "[x]" :
		    strcmp(st, "in_progress") == 0 ? "[~]" : "[ ]", ajson_str(s, "step", ""));
	}
}

/*
 * A tool call's arguments as one escaped text, from the value as received
 * (not after shown(): escaping the escapes would print \\x1b for \x1b).
 * malloc'd; exits when out of memory.
 */
static char *
args_text(const json_t *a)
{
	char *raw = json_is_string(a) ? strdup(json_string_value(a)) : ajson_dumps(a), *safe;

	safe = raw == NULL ? NULL : json_is_string(a) ? safetext_dup(raw, 0) :
	    safetext_json(raw, strlen(raw), NULL);
	free(raw);
	if (safe == NULL) {
		fprintf(stderr, "agentctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	return safe;
}

static void
ask_approval(json_t *p, char *args)
{
	char line[16] = "", desc[300];
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	int allow = 0, timeout = (int)ajson_int(p, "timeout_s", 60);
	json_t *params, *req = json_object_get(p, "request");

	/* What is asked first (a long command must not hide it), then the call. */
	(void)req;
	one_line(args, 250, desc, sizeof(desc));
	fprintf(stderr, "%sapproval needed:%s %s\n  %s %s\nallow? [y/N] (%ds) ", C_YELLOW,
	    C_RESET, ajson_str(req, "reason", "an action beyond the run's policy"),
	    ajson_str(req, "tool", "?"), desc, timeout);
	fflush(stderr);
	if (poll(&pfd, 1, timeout * 1000) > 0 && fgets(line, sizeof(line), stdin))
		allow = line[0] == 'y' || line[0] == 'Y';
	else
		fprintf(stderr, "\n");
	params = json_pack("{s:O, s:O, s:b}", "run_id", json_object_get(p, "run_id"),
	    "request_id", json_object_get(p, "request_id"), "allow", allow);
	send_line(rpc_request_line(next_id++, "approval.respond", params));
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
}


/* Erase the status line before anything else is printed. */
static void
progress_clear(struct follow *f)
{
	if (f->line_shown) {
		fputs("\r\033[K", stderr);
		f->line_shown = 0;
	}
}

static void
progress_phase(struct follow *f, const char *phase)
{
	snprintf(f->phase, sizeof(f->phase), "%s", phase);
	f->phase_t0 = anum_mono_s();
	f->tokens = 0;
}

/* Redraw: elapsed time, and while the model works the pieces it streamed
 * (about a token each) and their rate; not over visible streamed text. */
static void
progress_draw(struct follow *f)
{
	double el;

	if (!f->progress || f->phase[0] == '\0' || f->in_text)
		return;
	el = anum_mono_s() - f->phase_t0;
	if (el < 1.0 || (f->line_shown && f->drawn == (long)el * 1000003L + f->tokens))
		return;
	f->drawn = (long)el * 1000003L + f->tokens;
	if (strcmp(f->phase, "thinking") == 0 && f->tokens > 0)
		fprintf(stderr, "\r\033[K%s  … thinking %.0f s · %ld tokens · %.1f tokens/s%s",
		    C_DIM, el, f->tokens, (double)f->tokens / el, C_RESET);
	else if (strcmp(f->phase, "thinking") == 0)
		fprintf(stderr, "\r\033[K%s  … waiting for the model %.0f s%s", C_DIM, el, C_RESET);
	else
		fprintf(stderr, "\r\033[K%s  … %s running %.0f s%s", C_DIM, f->phase, el, C_RESET);
	f->line_shown = 1;
}

static void
on_event(json_t *msg, void *ud)
{
	struct follow *f = ud;
	const char *method = ajson_str(msg, "method", ""), *type;
	json_t *p = json_object_get(msg, "params"), *data;
	char line[400], *s;

	if (ajson_int(p, "run_id", 0) != f->run_id)
		return;
	if (strcmp(method, "approval.request") == 0) {
		if (isatty(STDIN_FILENO) && !f->json) {
			s = args_text(json_object_get(json_object_get(p, "request"), "arguments"));
			ask_approval(shown(p), s);
			free(s);
		}
		else if (f->json) {
			json_object_set_new(p, "type", json_string("approval_request"));
			print_json(p);
		}
		return;
	}
	if (strcmp(method, "run.event") != 0)
		return;
	if (ajson_int(p, "seq", 0) > 0) {
		if (ajson_int(p, "seq", 0) <= f->last_seq)
			return;
		f->last_seq = ajson_int(p, "seq", 0);
	}
	type = ajson_str(p, "type", "");
	data = json_object_get(p, "data");
	if (!f->json && strcmp(type, "tool_call") == 0) {
		abuf_reset(&f->streamed);
		f->streamed_cut = 0;
		free(f->call_args);
		f->call_args = args_text(json_object_get(data, "arguments"));
	}
	if (f->json)
		print_json(p);
	else
		shown(p);
	if (f->progress) {
		if (!strcmp(type, "text") || !strcmp(type, "reasoning"))
			f->tokens++;
		else if (!strcmp(type, "tool_call"))
			progress_phase(f, ajson_str(data, "name", "tool"));
		else if (!strcmp(type, "tool_result") || !strcmp(type, "status") ||
		    !strcmp(type, "approval"))
			progress_phase(f, "thinking");
		else if (!strcmp(type, "end"))
			f->phase[0] = '\0';
		progress_clear(f);
	}
	if (f->quiet && strcmp(type, "end") != 0)
		return;
	if (strcmp(type, "text") == 0 || strcmp(type, "reasoning") == 0) {
		int kind = strcmp(type, "text") == 0 ? 1 : 2;

		if (!f->json) {
			if (f->in_text && f->in_text != kind)
				fprintf(stderr, "%s\n", C_RESET);
			if (f->in_text != kind)	/* the model's thinking, apart from its answer */
				fprintf(stderr, "%s%s", C_DIM, kind == 2 ? "thinking: " : "");
			fprintf(stderr, "%s", ajson_str(data, "delta", ""));
			f->in_text = kind;
			if (kind == 1 && abuf_puts(&f->streamed, ajson_str(data, "delta", "")) != AGENTD_OK)
				f->streamed_cut = 1;
		}
		return;
	}
	if (f->in_text && !f->json) {
		fprintf(stderr, "%s\n", C_RESET);
		f->in_text = 0;
	}
	if (strcmp(type, "resumed") == 0 && f->done) {
		/* a journal from before runs were resumed truthfully: an "end"
		 * stored at a graceful stop, then the run went on */
		f->done = 0;
		f->ok = 0;
	}
	if (strcmp(type, "end") == 0) {
		f->done = 1;
		set_str(&f->status, ajson_str(data, "status", "failed"));
		f->ok = strcmp(f->status, "succeeded") == 0;
		set_str(&f->answer, ajson_str(data, "answer", NULL));
		set_str(&f->reason, ajson_str(data, "reason", NULL));
		set_str(&f->branch, ajson_str(data, "branch", NULL));
		set_str(&f->warning, ajson_str(data, "warning", NULL));
		return;
	}
	if (f->json)
		return;
	if (strcmp(type, "plan") == 0) {
		print_plan(stderr, json_object_get(data, "steps"));
	} else if (strcmp(type, "tool_call") == 0) {
		one_line(f->call_args, 160, line, sizeof(line));
		fprintf(stderr, "%s→ %s%s %s\n", C_CYAN, ajson_str(data, "name", "?"), C_RESET, line);
	} else if (strcmp(type, "tool_result") == 0) {
		one_line(ajson_str(data, "summary", ajson_str(data, "output", "")), 160, line, sizeof(line));
		fprintf(stderr, "  %s%s%s %s\n", ajson_bool(data, "ok", 0) ? C_GREEN : C_RED,
		    ajson_bool(data, "ok", 0) ? "ok" : "error", C_RESET, line);
	} else if (strcmp(type, "retry") == 0) {
		fprintf(stderr, "%sretrying%s (attempt %lld in %lld ms): %s\n", C_YELLOW, C_RESET,
		    (long long)ajson_int(data, "attempt", 0), (long long)ajson_int(data, "delay_ms", 0),
		    ajson_str(data, "reason", ""));
	} else if (strcmp(type, "error") == 0 || strcmp(type, "warning") == 0) {
		fprintf(stderr, "%s%s:%s %s\n", C_RED, type, C_RESET, ajson_str(data, "message", ""));
	} else if (strcmp(type, "waiting") == 0 && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "%swaiting: approval %lld%s (%s); answer it with agentctl approve "
		    "%lld or agentctl deny %lld [--reason TEXT]\n", C_YELLOW,
		    (long long)ajson_int(data, "request_id", 0), C_RESET, ajson_str(data, "reason", ""),
		    (long long)ajson_int(data, "request_id", 0), (long long)ajson_int(data, "request_id", 0));
	} else if (strcmp(type, "interrupted") == 0) {
		fprintf(stderr, "%sinterrupted:%s %s\n", C_YELLOW, C_RESET, ajson_str(data, "reason", ""));
	} else if (strcmp(type, "resumed") == 0) {
		fprintf(stderr, "%sresumed after step %lld%s\n", C_DIM,
		    (long long)ajson_int(data, "steps", 0), C_RESET);
	} else if (strcmp(type, "approval") == 0) {
		fprintf(stderr, "approval %s\n", ajson_bool(data, "granted", 0) ? "granted" : "denied");
	} else if (strcmp(type, "status") == 0) {
		const char *st = ajson_str(data, "status", "");

		if (ajson_str(data, "warning", NULL))
			fprintf(stderr, "%swarning:%s %s\n", C_YELLOW, C_RESET, ajson_str(data, "warning", ""));
		if (strcmp(st, "running") != 0 || ajson_str(data, "reason", NULL))
			fprintf(stderr, "%sstatus: %s%s%s%s\n", C_DIM, st,
			    ajson_str(data, "reason", NULL) ? " — " : "", ajson_str(data, "reason", ""), C_RESET);
	}
}

static void
on_sigint(int sig)
{
	interrupted = 1;
}

/*
 * Whether stdout and stderr lead to one place: one open file (2>&1 into a
 * file, a pipe or a socket), two opens of one file (>>f 2>>f), one
 * terminal (one device, whatever the path it was opened by). What was
 * written to stderr is then already in stdout's file.
 */
static int
stdout_is_stderr(void)
{
	struct stat o, e;

	if (fstat(STDOUT_FILENO, &o) != 0 || fstat(STDERR_FILENO, &e) != 0)
		return 0;
	if (S_ISCHR(o.st_mode) && S_ISCHR(e.st_mode))
		return o.st_rdev == e.st_rdev;
	return o.st_dev == e.st_dev && o.st_ino == e.st_ino;
}

/*
 * Whether the answer was streamed whole since the last tool call, so that
 * printing it again would show it twice where stderr is stdout. Text
 * streamed before agentctl attached, or past the cap, was not seen: then
 * the answer is printed again rather than risk showing only a part of it.
 */
static int
answer_streamed(const struct follow *f)
{
	const char *a = f->answer;
	size_t n;

	if (f->streamed_cut || f->streamed.len == 0 || a == NULL)
		return 0;
	while (isspace((unsigned char)*a))
		a++;
	n = strlen(a);
	while (n > 0 && isspace((unsigned char)a[n - 1]))
		n--;
	return n > 0 && memmem(f->streamed.data, f->streamed.len, a, n) != NULL;
}

/* Follow events until the run ends; returns the exit status. */
static int
follow_run(struct follow *f)
{
	json_t *m, *p;
	int cancel_sent = 0;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	if (f->progress)
		progress_phase(f, "thinking");
	while (!f->done) {
		m = read_msg(f->progress ? 250 : 1000);
		progress_draw(f);
		if (interrupted && !cancel_sent) {
			fprintf(stderr, "\ncancelling run %lld (Ctrl-C again to leave it running)\n",
			    (long long)f->run_id);
			cancel_sent = 1;
			interrupted = 0;
			signal(SIGINT, SIG_DFL);
			p = json_pack("{s:I}", "id", (json_int_t)f->run_id);
			send_line(rpc_request_line(next_id++, "run.cancel", p));
		}
		if (m == NULL)
			continue;
		if (json_object_get(m, "method"))
			on_event(m, f);
		json_decref(m);
	}
	progress_clear(f);
	if (f->in_text && !f->json)
		fprintf(stderr, "%s\n", C_RESET);
	/* Where stderr is stdout (a terminal, 2>&1 into a file or a pipe) the
	 * streamed answer is already there: once is enough. Apart, stdout gets
	 * it whole. */
	if (!f->json && !f->result && f->answer && *f->answer &&
	    !(answer_streamed(f) && stdout_is_stderr()))
		printf("%s\n", f->answer);
	fflush(stdout);
	if (f->result)
		return f->ok ? 0 : cancel_sent && f->status && strcmp(f->status, "cancelled") == 0 ?
		    EXIT_INTERRUPTED : EXIT_FAIL;
	if (f->reason && f->status && strcmp(f->reason, f->status) == 0)
		set_str(&f->reason, NULL);	/* "cancelled: cancelled" says it twice */
	if (!f->ok && !f->json)
		fprintf(stderr, "%srun %lld %s%s%s%s\n", C_RED, (long long)f->run_id,
		    f->status ? f->status : "failed", f->reason ? ": " : "", f->reason ? f->reason : "", C_RESET);
	if (f->warning && *f->warning && !f->json)
		fprintf(stderr, "%swarning:%s %s\n", C_YELLOW, C_RESET, f->warning);
	if (f->branch && *f->branch && !f->json)
		fprintf(stderr, "the run's work is on branch %s (agentctl undo %lld deletes it)\n",
		    f->branch, (long long)f->run_id);
	/* Cancelled by the user's Ctrl-C: the shell's code for SIGINT. */
	if (!f->ok && cancel_sent && f->status && strcmp(f->status, "cancelled") == 0)
		return EXIT_INTERRUPTED;
	return f->ok ? 0 : EXIT_FAIL;
}

/* A task given as "-": standard input, whole, capped. */
static char *
read_stdin_task(void)
{
	size_t cap = 256 * 1024, n = 0, got;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		die_usage("run: out of memory");
	while ((got = fread(buf + n, 1, cap + 1 - n, stdin)) > 0) {
		n += got;
		if (n > cap)
			die_usage("run: the task on standard input is over %zu KiB", cap / 1024);
	}
	if (ferror(stdin))
		die_usage("run: reading the task from standard input: %s", strerror(errno));
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0)
		die_usage("run: the task on standard input is empty");
	return buf;
}

/*
 * --output-format json: one object when the run ended, shaped for scripts
 * (as `claude -p --output-format json` and `codex exec --json` users expect):
 * the outcome, the answer, the ids, and what the run cost.
 */
static void
print_result(struct follow *f, json_int_t session_id)
{
	const char *msg = NULL;
	int code = 0;
	json_t *run = call_ex("run.get", json_pack("{s:I}", "id", (json_int_t)f->run_id), NULL, NULL,
	    &code, &msg);
	json_t *o = json_object();
	json_int_t pt = ajson_int(run, "prompt_tokens", 0), ct = ajson_int(run, "completion_tokens", 0);

	ajson_set_str(o, "type", "result");
	ajson_set_str(o, "status", f->status ? f->status : "failed");
	json_object_set_new(o, "ok", json_boolean(f->ok));
	json_object_set_new(o, "answer", f->answer ? json_string(f->answer) : json_null());
	json_object_set_new(o, "reason", f->reason ? json_string(f->reason) : json_null());
	json_object_set_new(o, "run_id", json_integer(f->run_id));
	json_object_set_new(o, "session_id", json_integer(session_id));
	json_object_set_new(o, "steps", json_integer(ajson_int(run, "steps", 0)));
	json_object_set_new(o, "usage", json_pack("{s:I, s:I, s:I}", "prompt_tokens", pt,
	    "completion_tokens", ct, "total_tokens", pt + ct));
	if (json_is_number(json_object_get(run, "started")) &&
	    json_is_number(json_object_get(run, "finished")))
		json_object_set_new(o, "duration_s", json_real(
		    json_number_value(json_object_get(run, "finished")) -
		    json_number_value(json_object_get(run, "started"))));
	json_object_set_new(o, "branch", f->branch && *f->branch ? json_string(f->branch) : json_null());
	if (f->warning && *f->warning)
		ajson_set_str(o, "warning", f->warning);
	if (run == NULL)
		ajson_set_str(o, "error", msg ? msg : "run.get failed");
	print_json(o);
	json_decref(o);
	json_decref(run);
}

static const char run_usage[] =
    "usage: agentctl run [options] TASK...\n"
    "\n"
    "Start a run in a workspace and follow it: the plan, each tool call and the\n"
    "streamed text go to stderr, the final answer to stdout (not a second time\n"
    "when both are one terminal, file or pipe, as with 2>&1). Exit 0 when the run\n"
    "succeeded, 1 when it failed or was cancelled (the reason on stderr).\n"
    "Ctrl-C cancels the run.\n"
    "\n"
    "  --workspace DIR     the repository to work in (default: the current folder)\n"
    "  --session ID        continue a session with its history\n"
    "  --continue, -c      continue the newest session of this workspace\n"
    "  --branch[=NAME]     work on a new branch in its own worktree (default name\n"
    "                      agentd/<run-id>); your checkout is left untouched\n"
    "  --chore FILE|NAME   run a chore file (or .agentd/chores/NAME.json)\n"
    "  --policy P          read-only | workspace-write (default) | full-access\n"
    "  --network           allow the shell tool to use the network\n"
    "  --approval MODE     never (default) | ask: ask here before going beyond the policy\n"
    "  --max-steps N, --max-wall DURATION, --max-tokens N   limits for this run\n"
    "  --model NAME        model to ask for\n"
    "  --no-project-doc    do not give the model the repository's AGENTS.md files\n"
    "  --mcp NAME[,NAME]   offer the tools of these MCP servers only (repeatable;\n"
    "                      default: every enabled server); --no-mcp: none\n"
    "  -q, --quiet         print only the answer (and why a run failed); on a\n"
    "                      terminal a status line shows otherwise what the run does\n"
    "  --detach            start the run and print its id without following it\n"
    "  --json              print every event as one JSON line on stdout (each with\n"
    "                      a \"type\"; the first is \"start\")\n"
    "  --output-format F   text (default), json: one JSON object when the run ends\n"
    "                      (status, answer, ids, steps, usage, branch, reason),\n"
    "                      stream-json: the same as --json\n"
    "\n"
    "TASK may be -: the task is read from standard input (at most 256 KiB).\n";

static int
cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workspace", required_argument, NULL, 'w' }, { "session", required_argument, NULL, 's' },
		{ "branch", optional_argument, NULL, 'b' }, { "chore", required_argument, NULL, 'K' },
		{ "policy", required_argument, NULL, 'p' }, { "network", no_argument, NULL, 'n' },
		{ "approval", required_argument, NULL, 'a' }, { "max-steps", required_argument, NULL, 'S' },
		{ "max-wall", required_argument, NULL, 'W' }, { "max-tokens", required_argument, NULL, 'T' },
		{ "model", required_argument, NULL, 'm' }, { "detach", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "no-project-doc", no_argument, NULL, 'P' }, { "quiet", no_argument, NULL, 'q' },
		{ "continue", no_argument, NULL, 'C' }, { "output-format", required_argument, NULL, 'O' },
		{ "mcp", required_argument, NULL, 'M' }, { "no-mcp", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct follow f;
	struct agentd_error err;
	const char *ws = ".", *chore = NULL;
	/* Static: a usage error exits with it still held, and the leak checker
	 * must not count that (the process ends there). */
	static json_t *params;
	json_t *r, *ch = NULL;
	char *task = NULL, realws[PATH_MAX];
	int c, detach = 0, rc, code = 0, cont = 0, from_stdin = 0;
	const char *msg = NULL;

	params = json_object();
	follow_init(&f);
	optind = 1;
again:
	while ((c = getopt_long(argc, argv, "+hqc", opts, NULL)) != -1) {
		switch (c) {
		case 'q': f.quiet = 1; break;
		case 'C': case 'c': cont = 1; break;
		case 'O':
			if (strcmp(optarg, "json") == 0)
				f.result = 1;
			else if (strcmp(optarg, "stream-json") == 0)
				f.json = 1;
			else if (strcmp(optarg, "text") != 0)
				die_usage("run: --output-format must be text, json or stream-json (got '%s')",
				    optarg);
			break;
		case 'w': ws = optarg; break;
		case 's': json_object_set_new(params, "session_id", json_integer(parse_id(optarg, 's'))); break;
		case 'b':
			if (optarg)
				ajson_set_str(params, "branch", optarg);
			else
				json_object_set_new(params, "branch", json_true());
			break;
		case 'K': chore = optarg; break;
		case 'p': ajson_set_str(params, "policy", optarg); break;
		case 'n': json_object_set_new(params, "network", json_true()); break;
		case 'a': ajson_set_str(params, "approval", optarg); break;
		case 'S': json_object_set_new(params, "max_steps", json_integer(flag_int("--max-steps", optarg, 1, 1000000))); break;
		case 'W': json_object_set_new(params, "max_wall_s", json_real(flag_duration("--max-wall", optarg))); break;
		case 'T': json_object_set_new(params, "max_tokens", json_integer(flag_int("--max-tokens", optarg, 1, INT64_C(1000000000000)))); break;
		case 'm': ajson_set_str(params, "model", optarg); break;
		case 'd': detach = 1; break;
		case 'P': json_object_set_new(params, "project_doc", json_false()); break;
		case 'M': {
			char *dup = strdup(optarg), *tok, *save = NULL;

			if (!json_is_array(json_object_get(params, "mcp")))
				json_object_set_new(params, "mcp", json_array());
			for (tok = dup ? strtok_r(dup, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save))
				json_array_append_new(json_object_get(params, "mcp"), json_string(tok));
			free(dup);
			break;
		}
		case 'N': json_object_set_new(params, "mcp", json_array()); break;
		case 'j': f.json = 1; break;
		case 'h': fputs(run_usage, stdout); return 0;
		default: fputs(run_usage, stderr); return EXIT_USAGE;
		}
	}
	/* "-" is the task from stdin: options may follow it (run - --json). */
	if (!from_stdin && optind < argc && strcmp(argv[optind], "-") == 0) {
		from_stdin = 1;
		optind++;
		goto again;
	}
	if (from_stdin && optind < argc)
		die_usage("run: '-' reads the task from standard input: no other TASK words "
		    "('%s')", argv[optind]);
	if (f.result && f.json)
		die_usage("run: --output-format json and --json (stream-json) exclude each other");
	if (from_stdin) {
		task = read_stdin_task();
		ajson_set_str(params, "task", task);
		free(task);
	} else if (optind < argc) {
		task = join_args(argc - optind, argv + optind);
		ajson_set_str(params, "task", task);
		free(task);
	}
	if (realpath(ws, realws) == NULL)
		die_usage("run: workspace '%s': %s", ws, strerror(errno));
	if (cont && json_object_get(params, "session_id"))
		die_usage("run: --continue and --session exclude each other");
	if (cont) {
		json_t *sl = call("session.list", json_pack("{s:s, s:i}", "workspace", realws, "limit", 1));
		json_t *s0 = json_array_get(json_object_get(sl, "sessions"), 0);

		if (s0)
			json_object_set_new(params, "session_id", json_integer(ajson_int(s0, "id", 0)));
		else if (!f.result && !f.json)
			fprintf(stderr, "agentctl: no earlier session in %s: starting a new one\n", realws);
		json_decref(sl);
	}
	if (!json_object_get(params, "session_id") || strcmp(ws, ".") != 0)
		ajson_set_str(params, "workspace", realws);
	if (chore) {
		agentd_error_clear(&err);
		if (chore_load(chore, realws, &ch, &err) != AGENTD_OK)
			die_usage("run: chore %s: %s", chore, agentd_errmsg(&err));
		json_object_set_new(params, "chore", ch);
	}
	if (!json_object_get(params, "task") && !chore)
		die_usage("run: a TASK (or --chore) is required");
	if (detach)
		json_object_set_new(params, "detach", json_true());
	r = call_ex("run.start", params, on_event, &f, &code, &msg);
	if (r == NULL) {
		fprintf(stderr, "agentctl: run: %s\n", msg);
		return code == RPC_NOT_FOUND ? EXIT_USAGE : exit_for(code);
	}
	f.run_id = ajson_int(r, "run_id", 0);
	if (detach) {
		if (f.json)
			print_json(r);
		else
			printf("%lld\n", (long long)f.run_id);
		json_decref(r);
		return 0;
	}
	f.progress = !f.json && !f.quiet && isatty(STDERR_FILENO) &&
	    !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
	if (f.quiet || f.result)
		;
	else if (!f.json)
		fprintf(stderr, "%srun %lld (session %lld)%s%s\n", C_DIM, (long long)f.run_id,
		    (long long)ajson_int(r, "session_id", 0),
		    strcmp(ajson_str(r, "status", ""), "queued") == 0 ?
		    " queued: it starts when a running one ends (max_active_runs)" : "", C_RESET);
	else {
		json_object_set_new(r, "type", json_string("start"));
		print_json(r);
	}
	if (f.result)
		f.quiet = 1;
	rc = follow_run(&f);
	if (f.result)
		print_result(&f, ajson_int(r, "session_id", 0));
	json_decref(r);
	follow_free(&f);
	return rc;
}

static int
cmd_attach(int argc, char **argv)
{
	struct follow f;
	json_t *r, *ev, *e, *run;
	size_t i;
	int rc;

	if (has_help(argc, argv) || argc < 2) {
		puts("usage: agentctl attach RUN [--json]\n\nReplay a run's stored events, then follow it live until it ends.");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	follow_init(&f);
	f.run_id = parse_id(first_arg(argc, argv), 'r');
	f.json = has_json(argc, argv);
	r = call("run.attach", json_pack("{s:I}", "id", (json_int_t)f.run_id));
	ev = json_object_get(r, "events");
	json_array_foreach(ev, i, e) {
		json_t *n = json_pack("{s:s, s:{s:I, s:I, s:O, s:O}}", "method", "run.event", "params",
		    "run_id", (json_int_t)f.run_id, "seq", (json_int_t)ajson_int(e, "seq", 0), "type",
		    json_object_get(e, "type"), "data", json_object_get(e, "data"));

		on_event(n, &f);
		json_decref(n);
	}
	run = shown(json_object_get(r, "run"));	/* its reason is only ever printed as text */
	if (!f.done && !ajson_bool(run, "active", 0)) {
		f.done = 1;
		set_str(&f.status, ajson_str(run, "status", "failed"));
		f.ok = strcmp(f.status, "succeeded") == 0;
		set_str(&f.reason, ajson_str(run, "reason", NULL));
	}
	json_decref(r);
	f.progress = !f.json && !f.done && isatty(STDERR_FILENO) &&
	    !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
	rc = follow_run(&f);
	follow_free(&f);
	return rc;
}

/*
 * A command that takes one id, calls one method and says it was done:
 * kind 'r' (run) or 's' (session) for the id's prefix.
 */
static int
id_command(int argc, char **argv, const char *usage, const char *method, char kind,
    const char *done)
{
	json_t *r;

	if (has_help(argc, argv) || argc != 2) {
		fputs(usage, argc != 2 ? stderr : stdout);
		return argc != 2 ? EXIT_USAGE : 0;
	}
	r = call(method, json_pack("{s:I}", "id", (json_int_t)parse_id(argv[1], kind)));
	printf("%s %s %s\n", kind == 'r' ? "run" : "session", argv[1], done);
	json_decref(r);
	return 0;
}

static int
cmd_cancel(int argc, char **argv)
{
	return id_command(argc, argv, "usage: agentctl cancel RUN\n\nCancel a run: the model "
	    "request and any running tool stop at once.\n", "run.cancel", 'r', "cancelled");
}

/* ---- listings ---- */

static void
print_runs(json_t *runs)
{
	json_t *r;
	size_t i;
	char t[32], task[60], st[48];

	printf("%-6s %-7s %-11s %-19s %-28s %s\n", "RUN", "SESSION", "STATUS", "CREATED", "WORKSPACE", "TASK");
	json_array_foreach(runs, i, r) {
		fmt_time(ajson_num(r, "created", 0), t, sizeof(t));
		one_line(ajson_str(r, "task", ""), 50, task, sizeof(task));
		if (ajson_str(r, "waiting", NULL) != NULL)
			snprintf(st, sizeof(st), "waiting: %.30s", ajson_str(r, "waiting", ""));
		else
			snprintf(st, sizeof(st), "%s", ajson_str(r, "status", ""));
		printf("%-6lld %-7lld %-11s %-19s %-28s %s\n", (long long)ajson_int(r, "id", 0),
		    (long long)ajson_int(r, "session_id", 0), st, t,
		    ajson_str(r, "workspace", ""), task);
	}
}

static int
cmd_runs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "status", required_argument, NULL, 's' }, { "session", required_argument, NULL, 'S' },
		{ "job", required_argument, NULL, 'j' }, { "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	json_t *params = json_object(), *r;
	int c, json = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': ajson_set_str(params, "status", optarg); break;
		case 'S': json_object_set_new(params, "session_id", json_integer(parse_id(optarg, 's'))); break;
		case 'j': json_object_set_new(params, "job_id", json_integer(parse_id(optarg, 'j'))); break;
		case 'l': json_object_set_new(params, "limit", json_integer(flag_int("--limit", optarg, 1, 10000))); break;
		case 'J': json = 1; break;
		case 'h':
			puts("usage: agentctl runs [--status S] [--session ID] [--job ID] [--limit N] [--json]\n\n"
			    "List runs, newest first.");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		die_usage("runs: unexpected argument '%s'", argv[optind]);
	r = call("run.list", params);
	if (json)
		print_json(json_object_get(r, "runs"));
	else
		print_runs(shown(json_object_get(r, "runs")));
	json_decref(r);
	return 0;
}

static int
cmd_sessions(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workspace", required_argument, NULL, 'w' }, { "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	json_t *params = json_object(), *r, *s;
	size_t i;
	int c, json = 0;
	char t[32], title[70];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w': ajson_set_str(params, "workspace", optarg); break;
		case 'l': json_object_set_new(params, "limit", json_integer(flag_int("--limit", optarg, 1, 10000))); break;
		case 'J': json = 1; break;
		case 'h':
			puts("usage: agentctl sessions [--workspace DIR] [--limit N] [--json]\n\nList sessions, newest first.");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	r = call("session.list", params);
	if (json) {
		print_json(json_object_get(r, "sessions"));
	} else {
		shown(r);
		printf("%-7s %-19s %-30s %s\n", "SESSION", "UPDATED", "WORKSPACE", "TITLE");
		json_array_foreach(json_object_get(r, "sessions"), i, s) {
			fmt_time(ajson_num(s, "updated", 0), t, sizeof(t));
			one_line(ajson_str(s, "title", ""), 60, title, sizeof(title));
			printf("%-7lld %-19s %-30s %s\n", (long long)ajson_int(s, "id", 0), t,
			    ajson_str(s, "workspace", ""), title);
		}
	}
	json_decref(r);
	return 0;
}

static void
print_messages(json_t *msgs, int64_t only_run)
{
	json_t *m, *tc, *c;
	size_t i, k;
	const char *role;

	json_array_foreach(msgs, i, m) {
		if (only_run && ajson_int(m, "run_id", 0) != only_run)
			continue;
		role = ajson_str(m, "role", "");
		if (strcmp(ajson_str(m, "kind", "message"), "summary") == 0) {
			printf("%s[summary]%s %s\n", C_DIM, C_RESET, ajson_str(m, "content", ""));
			continue;
		}
		if (strcmp(role, "tool") == 0) {
			char line[300];

			one_line(ajson_str(m, "content", ""), 240, line, sizeof(line));
			printf("  %s[tool %s]%s %s\n", C_DIM, ajson_str(m, "tool_call_id", ""), C_RESET, line);
			continue;
		}
		if (ajson_str(m, "reasoning", NULL) && *ajson_str(m, "reasoning", ""))
			printf("%s[%s thinking] %s%s\n", C_DIM, role, ajson_str(m, "reasoning", ""),
			    C_RESET);
		if (ajson_str(m, "content", NULL) && *ajson_str(m, "content", ""))
			printf("%s[%s]%s %s\n", C_BOLD, role, C_RESET, ajson_str(m, "content", ""));
		tc = json_object_get(m, "tool_calls");
		json_array_foreach(tc, k, c) {
			json_t *fn = json_object_get(c, "function");

			printf("%s[%s → %s]%s %s\n", C_CYAN, role, ajson_str(fn, "name", ""), C_RESET,
			    ajson_str(fn, "arguments", ""));
		}
	}
}

/* A run's "tools" event: which MCP tools were offered, and why. */
static void
print_tools_note(const json_t *d)
{
	json_t *s;
	size_t i;
	char err[200];

	if (ajson_bool(d, "search", 0))
		printf("  MCP tools: %lld behind tool_search: with them all tool definitions would "
		    "take %lld tokens, over the budget of %lld (offered: %lld tools, %lld tokens)\n",
		    (long long)ajson_int(d, "mcp_tools", 0), (long long)(ajson_int(d, "builtin_tokens", 0) +
		    ajson_int(d, "mcp_tokens", 0)), (long long)ajson_int(d, "budget", 0),
		    (long long)ajson_int(d, "offered", 0), (long long)ajson_int(d, "tokens", 0));
	else
		printf("  MCP tools: %lld listed one by one (all %lld tool definitions: %lld tokens of "
		    "a budget of %lld)\n", (long long)ajson_int(d, "mcp_tools", 0),
		    (long long)ajson_int(d, "offered", 0), (long long)ajson_int(d, "tokens", 0),
		    (long long)ajson_int(d, "budget", 0));
	json_array_foreach(json_object_get(d, "servers"), i, s) {
		one_line(ajson_str(s, "error", ""), 160, err, sizeof(err));
		printf("    %s: %s, %lld tools%s%s\n", ajson_str(s, "name", "?"),
		    ajson_str(s, "state", "?"), (long long)ajson_int(s, "tools", 0),
		    err[0] ? " — " : "", err);
	}
}

/*
 * What a run's events say beside its transcript: the repository
 * instructions it was given (its first "running" event; not with
 * hooks_only) and each of the user's hooks that ran.
 */
static void
print_run_notes(int64_t run_id, int hooks_only)
{
	json_t *r = call("run.events", json_pack("{s:I}", "id", (json_int_t)run_id)), *ev, *d, *p;
	size_t i, j;
	int instr_done = hooks_only, nhooks = 0, nsteps = 0, ncached = 0, cold = 0;
	long long prompt = 0, cached = 0;
	char cmd[70], cold_steps[120] = "";
	size_t cl = 0;

	json_array_foreach(json_object_get(r, "events"), i, ev) {
		const char *type = ajson_str(ev, "type", "");

		d = json_object_get(ev, "data");
		if (!instr_done && strcmp(type, "status") == 0 &&
		    json_is_array(json_object_get(d, "instructions"))) {
			p = json_object_get(d, "instructions");
			printf("  instructions: %s", json_array_size(p) ? "" : "none found");
			json_array_foreach(json_object_get(d, "instructions"), j, p)
				printf("%s%s", j ? ", " : "", json_string_value(p) ? json_string_value(p) : "?");
			printf("\n");
			instr_done = 1;
		} else if (!hooks_only && strcmp(type, "context") == 0) {
			printf("  prompt: fixed part %lld tokens (%s) of a %lld-token window%s\n",
			    (long long)ajson_int(d, "fixed_tokens", 0),
			    strcmp(ajson_str(d, "counted_by", ""), "server") == 0 ?
			    "counted by the model server" : "estimated: the server cannot count",
			    (long long)ajson_int(d, "window", 0),
			    ajson_bool(d, "compact", 0) ? ", short tools" : "");
		} else if (!hooks_only && strcmp(type, "message") == 0 &&
		    json_is_object(p = json_object_get(d, "usage"))) {
			/* the prompt cache over steps 2..N (the first finds it cold) */
			if (nsteps++ == 0)
				continue;
			if (json_is_integer(json_object_get(p, "cached_tokens"))) {
				long long pt = ajson_int(p, "prompt_tokens", 0);
				long long ct = ajson_int(p, "cached_tokens", 0);

				prompt += pt;
				cached += ct;
				ncached++;
				if (pt > 0 && ct * 2 < pt) {
					cold++;
					if (cl + 24 < sizeof(cold_steps))
						cl += (size_t)snprintf(cold_steps + cl,
						    sizeof(cold_steps) - cl, "%s%lld", cl ? ", " : "",
						    (long long)ajson_int(d, "step", 0));
					else if (cl + 5 < sizeof(cold_steps) && cold_steps[cl - 1] != '.')
						cl += (size_t)snprintf(cold_steps + cl,
						    sizeof(cold_steps) - cl, ", ...");
				}
			}
		} else if (!hooks_only && strcmp(type, "tools") == 0) {
			print_tools_note(d);
		} else if (!hooks_only && strcmp(type, "tool_search") == 0) {
			char q[100];

			one_line(ajson_str(d, "query", ""), 80, q, sizeof(q));
			printf("  tool_search \"%s\" offered:", q);
			json_array_foreach(json_object_get(d, "found"), j, p)
				printf(" %s", json_string_value(p) ? json_string_value(p) : "?");
			printf("%s\n", json_array_size(json_object_get(d, "found")) ? "" : " nothing");
		} else if (strcmp(type, "hook") == 0) {
			if (nhooks++ == 0)
				printf("  hooks:\n");
			one_line(ajson_str(d, "command", ""), 60, cmd, sizeof(cmd));
			printf("    %s%s%s%s: exit %lld, %s, %lld ms — %s\n", ajson_str(d, "event", "?"),
			    ajson_str(d, "subject", NULL) ? " (" : "", ajson_str(d, "subject", ""),
			    ajson_str(d, "subject", NULL) ? ")" : "", (long long)ajson_int(d, "exit_code", -1),
			    ajson_str(d, "outcome", "?"), (long long)ajson_int(d, "ms", 0), cmd);
		}
	}
	if (!hooks_only && ncached > 0 && prompt > 0)
		printf("  prompt cache: %.1f%% of prompt tokens served by the server's cache over "
		    "steps 2-%d (%lld of %lld); mostly uncached: %s\n",
		    100.0 * (double)cached / (double)prompt, nsteps, cached, prompt,
		    cold ? cold_steps : "none");
	else if (!hooks_only && nsteps > 1)
		printf("  prompt cache: not reported by the server\n");
	json_decref(r);
}

static int
cmd_show(int argc, char **argv)
{
	json_t *r, *plan, *s;
	int json = 0, i;
	const char *id = NULL;
	char t1[32], t2[32];

	if (has_help(argc, argv) || argc < 2) {
		puts("usage: agentctl show ID [--json]\n\nShow a run (ID or rID: status, reason, branch, the fixed prompt's\n"
		    "tokens (counted by the server or estimated), the prompt cache's share, plan,\n"
		    "transcript) or a session (sID: its runs and transcript).");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (id == NULL)
			id = argv[i];
		else
			die_usage("show: unexpected argument '%s'", argv[i]);
	}
	if (id && id[0] == 's') {
		r = session_get_all((json_int_t)parse_id(id, 's'));
		if (json) {
			print_json(r);
		} else {
			shown(r);
			printf("session %lld: %s\n  workspace: %s\n", (long long)ajson_int(r, "id", 0),
			    ajson_str(r, "title", ""), ajson_str(r, "workspace", ""));
			print_runs(json_object_get(r, "runs"));
			printf("\n");
			print_messages(json_object_get(r, "messages"), 0);
		}
		json_decref(r);
		return 0;
	}
	r = call("run.get", json_pack("{s:I}", "id", (json_int_t)parse_id(id, 'r')));
	if (json) {
		print_json(r);
		json_decref(r);
		return 0;
	}
	shown(r);
	fmt_time(ajson_num(r, "started", 0), t1, sizeof(t1));
	fmt_time(ajson_num(r, "finished", 0), t2, sizeof(t2));
	if (strcmp(ajson_str(r, "reason", ""), ajson_str(r, "status", "")) == 0)
		json_object_del(r, "reason");	/* "cancelled — cancelled" says it twice */
	printf("run %lld (session %lld): %s%s%s\n", (long long)ajson_int(r, "id", 0),
	    (long long)ajson_int(r, "session_id", 0), ajson_str(r, "status", ""),
	    ajson_str(r, "reason", NULL) ? " — " : "", ajson_str(r, "reason", ""));
	printf("  workspace: %s\n  task:      %s\n  started:   %s\n  finished:  %s\n",
	    ajson_str(r, "workspace", ""), ajson_str(r, "task", ""), t1, t2);
	if (ajson_str(r, "branch", NULL))
		printf("  branch:    %s\n", ajson_str(r, "branch", ""));
	if (ajson_int(r, "job_id", 0))
		printf("  schedule:  %lld\n", (long long)ajson_int(r, "job_id", 0));
	printf("  model requests: %lld, tokens: %lld prompt + %lld completion, worked %.1f s\n",
	    (long long)ajson_int(r, "steps", 0), (long long)ajson_int(r, "prompt_tokens", 0),
	    (long long)ajson_int(r, "completion_tokens", 0), ajson_num(r, "active_s", 0));
	print_run_notes(ajson_int(r, "id", 0), 0);
	plan = plan_steps(json_object_get(r, "plan"));
	if (plan)
		print_plan(stdout, plan);
	fflush(stderr);
	s = shown(session_get_all(ajson_int(r, "session_id", 0)));
	printf("\n");
	print_messages(json_object_get(s, "messages"), ajson_int(r, "id", 0));
	json_decref(s);
	json_decref(r);
	return 0;
}

static int
cmd_tools(int argc, char **argv)
{
	json_t *r, *t;
	size_t i;
	char desc[90];

	char real[PATH_MAX];
	json_t *p;

	if (has_help(argc, argv)) {
		puts("usage: agentctl tools [--json]\n\nList the tools the model can call, with their JSON Schemas (--json):\n"
		    "the built-in ones and those of the MCP servers (mcp__SERVER__TOOL), started\n"
		    "for the current folder as a run there would start them.");
		return 0;
	}
	p = realpath(".", real) ? json_pack("{s:s}", "workspace", real) : NULL;
	r = call("tools.list", p);
	if (has_json(argc, argv)) {
		print_json(json_object_get(r, "tools"));
	} else {
		shown(r);
		json_array_foreach(json_object_get(r, "tools"), i, t) {
			one_line(ajson_str(t, "description", ""), 80, desc, sizeof(desc));
			printf("%-14s %s\n", ajson_str(t, "name", ""), desc);
		}
		json_array_foreach(json_object_get(r, "mcp"), i, t)
			if (ajson_str(t, "error", NULL) != NULL)
				fprintf(stderr, "agentctl: MCP server %s is not available: %s\n",
				    ajson_str(t, "name", ""), ajson_str(t, "error", ""));
	}
	json_decref(r);
	return 0;
}

/* Skills are found where a run would find them; reading a few folders needs
 * no daemon. */
static int
cmd_skills(int argc, char **argv)
{
	const char *ws = ".", *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char cfg[PATH_MAX] = "", desc[90];
	struct agentd_error err;
	json_t *skills = NULL, *refused = NULL, *s;
	size_t i;
	int json = 0;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			puts("usage: agentctl skills [--workspace DIR] [--json]\n\n"
			    "List the skills a run in DIR (default: here) is offered: .agents/skills\n"
			    "from DIR up to its repository root, then ~/.config/agentd/skills; and every\n"
			    "skill folder or SKILL.md that was refused, with the reason.");
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--workspace") == 0 && i + 1 < (size_t)argc) {
			ws = argv[++i];
		} else if (strncmp(argv[i], "--workspace=", 12) == 0) {
			ws = argv[i] + 12;
		} else {
			die_usage("skills: unexpected argument '%s'", argv[i]);
		}
	}
	if (xdg && *xdg)
		snprintf(cfg, sizeof(cfg), "%s/agentd", xdg);
	else if (home && *home)
		snprintf(cfg, sizeof(cfg), "%s/.config/agentd", home);
	agentd_error_clear(&err);
	if (agent_skills_discover(cfg[0] ? cfg : NULL, ws, &skills, &refused, &err) != AGENTD_OK)
		die_usage("skills: %s", agentd_errmsg(&err));
	if (json) {
		json_t *o = json_pack("{s:O, s:O}", "skills", skills, "refused", refused);

		print_json(o);
		json_decref(o);
	} else {
		shown(skills);	/* names and descriptions come from repository files */
		shown(refused);
		if (json_array_size(skills) == 0)
			printf("no skills\n");
		json_array_foreach(skills, i, s) {
			one_line(ajson_str(s, "description", ""), 80, desc, sizeof(desc));
			printf("%-24s %s\n  %s\n", ajson_str(s, "name", ""), desc, ajson_str(s, "dir", ""));
		}
		if (json_array_size(refused))
			printf("\nrefused:\n");
		json_array_foreach(refused, i, s)
			printf("  %s: %s\n", ajson_str(s, "path", ""), ajson_str(s, "why", ""));
	}
	json_decref(skills);
	json_decref(refused);
	return 0;
}

/* agentctl mcp list | test NAME */
static int
cmd_mcp(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "list", *msg = NULL;
	json_t *r, *t, *p;
	char real[PATH_MAX], desc[90];
	int code = 0;
	size_t i;

	if (has_help(argc, argv) || (strcmp(sub, "list") != 0 && strcmp(sub, "test") != 0)) {
		fputs("usage: agentctl mcp list [--json]\n"
		    "       agentctl mcp test NAME [--workspace DIR] [--json]\n\n"
		    "list: the MCP servers of agentd's configuration, each with its state\n"
		    "(stopped, running, restarting, failed), the workspace it runs for, its\n"
		    "number of tools, how often it was started and its last error.\n"
		    "test: start server NAME afresh in the sandbox of DIR (default: here), do the\n"
		    "handshake, list its tools with their schemas, stop it. Exit 1 with the\n"
		    "reason when it cannot start.\n", has_help(argc, argv) ? stdout : stderr);
		return has_help(argc, argv) ? 0 : EXIT_USAGE;
	}
	if (strcmp(sub, "list") == 0) {
		r = call("mcp.list", NULL);
		if (has_json(argc, argv)) {
			print_json(json_object_get(r, "servers"));
		} else {
			shown(r);
			if (json_array_size(json_object_get(r, "servers")) == 0)
				printf("no MCP servers configured (mcp_servers in config.json)\n");
			else
				printf("%-16s %-10s %5s %6s  %s\n", "SERVER", "STATE", "TOOLS", "STARTS",
				    "WORKSPACE / LAST ERROR");
			json_array_foreach(json_object_get(r, "servers"), i, t) {
				printf("%-16s %-10s %5lld %6lld  %s\n", ajson_str(t, "name", ""),
				    ajson_bool(t, "enabled", 1) ? ajson_str(t, "state", "") : "disabled",
				    (long long)ajson_int(t, "tools", 0), (long long)ajson_int(t, "starts", 0),
				    ajson_str(t, "workspace", strcmp(ajson_str(t, "state", ""), "stopped") ?
				    "(every workspace)" : "-"));
				if (*ajson_str(t, "error", ""))
					printf("%-16s %s\n", "", ajson_str(t, "error", ""));
			}
		}
		json_decref(r);
		return 0;
	}
	{
		const char *ws = ".", *name = NULL;
		int k;

		for (k = 2; k < argc; k++) {
			if (strcmp(argv[k], "--workspace") == 0 && k + 1 < argc)
				ws = argv[++k];
			else if (strcmp(argv[k], "--json") == 0)
				;
			else if (name == NULL && argv[k][0] != '-')
				name = argv[k];
			else
				die_usage("mcp test: unexpected argument '%s'", argv[k]);
		}
		if (name == NULL)
			die_usage("mcp test: a server NAME is required (see agentctl mcp list)");
		if (realpath(ws, real) == NULL)
			die_usage("mcp test: workspace '%s': %s", ws, strerror(errno));
		p = json_pack("{s:s, s:s}", "name", name, "workspace", real);
		r = call_ex("mcp.test", p, NULL, NULL, &code, &msg);
		if (r == NULL) {
			fprintf(stderr, "agentctl: mcp test %s: %s\n", name, msg);
			return code == RPC_NOT_FOUND ? EXIT_USAGE : EXIT_FAIL;
		}
		if (has_json(argc, argv)) {
			print_json(r);
		} else {
			shown(r);
			printf("%s: started, %zu tools\n", name, json_array_size(json_object_get(r, "tools")));
			json_array_foreach(json_object_get(r, "tools"), i, t) {
				char *sch = ajson_dumps(json_object_get(t, "inputSchema"));

				one_line(ajson_str(t, "description", ""), 80, desc, sizeof(desc));
				printf("%s\n  %s\n  %s\n", ajson_str(t, "name", ""), desc, sch ? sch : "{}");
				free(sch);
			}
		}
		json_decref(r);
	}
	return 0;
}

static int
cmd_tool(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workspace", required_argument, NULL, 'w' }, { "policy", required_argument, NULL, 'p' },
		{ "network", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct agentd_error err;
	const char *ws = ".", *name = NULL, *args = NULL, *msg = NULL;
	json_t *params = json_object(), *a, *r;
	char real[PATH_MAX];
	int c, i, code = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w': ws = optarg; break;
		case 'p': ajson_set_str(params, "policy", optarg); break;
		case 'n': json_object_set_new(params, "network", json_true()); break;
		case 'h':
			puts("usage: agentctl tool NAME [--workspace DIR] [--policy P] [--network] ['JSON-ARGS']\n\n"
			    "Run one tool through the daemon exactly as the agent would and print its\n"
			    "result as JSON. Exit 0 when ok, 1 when the tool reported an error, 2 on a\n"
			    "usage or connection error.");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	for (i = optind; i < argc; i++) {
		if (name == NULL)
			name = argv[i];
		else if (args == NULL)
			args = argv[i];
		else
			die_usage("tool: unexpected argument '%s'", argv[i]);
	}
	if (name == NULL)
		die_usage("tool: a tool NAME is required (see agentctl tools)");
	agentd_error_clear(&err);
	a = ajson_loads(args ? args : "{}", strlen(args ? args : "{}"), &err);
	if (a == NULL || !json_is_object(a))
		die_usage("tool: arguments must be a JSON object (%s)", a ? "got another JSON value" : err.msg);
	if (realpath(ws, real) == NULL)
		die_usage("tool: workspace '%s': %s", ws, strerror(errno));
	ajson_set_str(params, "name", name);
	ajson_set_str(params, "workspace", real);
	json_object_set_new(params, "args", a);
	r = call_ex("tools.call", params, NULL, NULL, &code, &msg);
	if (r == NULL) {
		fprintf(stderr, "agentctl: tool %s: %s\n", name, msg);
		return code == RPC_NOT_FOUND ? EXIT_USAGE : exit_for(code);
	}
	print_json(r);
	c = ajson_bool(r, "ok", 0) ? 0 : EXIT_FAIL;
	json_decref(r);
	return c;
}

static int
cmd_search(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workspace", required_argument, NULL, 'w' }, { "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	json_t *params = json_object(), *r, *e;
	size_t i;
	int c, json = 0;
	char *q, snip[300];

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w': ajson_set_str(params, "workspace", optarg); break;
		case 'l': json_object_set_new(params, "limit", json_integer(flag_int("--limit", optarg, 1, 10000))); break;
		case 'J': json = 1; break;
		case 'h':
			puts("usage: agentctl search QUERY... [--workspace DIR] [--limit N] [--json]\n\n"
			    "Full-text search over stored messages, tool outputs and tool calls (the tool\n"
			    "and its arguments: the command run, the text written, the commit message) of\n"
			    "all sessions. Each hit names its session, run, step and [role tool]; a tool\n"
			    "call's role is \"call\".");
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		die_usage("search: a QUERY is required");
	q = join_args(argc - optind, argv + optind);
	ajson_set_str(params, "query", q);
	free(q);
	r = call("memory.search", params);
	if (json) {
		print_json(json_object_get(r, "results"));
	} else {
		shown(r);
		json_array_foreach(json_object_get(r, "results"), i, e) {
			char step[32] = "", tool[96] = "";

			one_line(ajson_str(e, "snippet", ""), 200, snip, sizeof(snip));
			if (json_is_integer(json_object_get(e, "step")))
				snprintf(step, sizeof(step), " step %lld", (long long)ajson_int(e, "step", 0));
			if (ajson_str(e, "tool", NULL) != NULL)
				one_line(ajson_str(e, "tool", ""), 64, tool, sizeof(tool));
			printf("session %lld run %lld%s [%s%s%s] %s\n", (long long)ajson_int(e, "session_id", 0),
			    (long long)ajson_int(e, "run_id", 0), step, ajson_str(e, "role", ""),
			    *tool ? " " : "", tool, snip);
		}
		if (json_array_size(json_object_get(r, "results")) == 0)
			fprintf(stderr, "no matches\n");
	}
	json_decref(r);
	return 0;
}

static int
cmd_audit(int argc, char **argv)
{
	json_t *r;
	int ok;

	if (has_help(argc, argv) || argc < 2) {
		puts("usage: agentctl audit RUN [--json]\n\nVerify the hash chain of a run's recorded events (tool calls,\n"
		    "arguments, policy, approvals). Exit 0 when intact, 1 when altered.");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	r = call("run.audit", json_pack("{s:I}", "id", (json_int_t)parse_id(first_arg(argc, argv), 'r')));
	ok = ajson_bool(r, "ok", 0);
	if (has_json(argc, argv))
		print_json(r);
	else if (ok) {
		printf("run %s: %lld events, hash chain intact\n", first_arg(argc, argv),
		    (long long)ajson_int(r, "events", 0));
		print_run_notes(parse_id(first_arg(argc, argv), 'r'), 1);
	}
	else
		printf("run %s: record ALTERED: the hash chain breaks at event %lld\n", first_arg(argc, argv),
		    (long long)ajson_int(r, "first_bad_seq", 0));
	json_decref(r);
	return ok ? 0 : EXIT_FAIL;
}

static int
cmd_export(int argc, char **argv)
{
	const char *fmt = "markdown", *id = NULL;
	json_int_t next = 0;
	json_t *r;
	int i;

	if (has_help(argc, argv) || argc < 2) {
		puts("usage: agentctl export SESSION [--format markdown|jsonl]\n\nPrint a session's transcript.");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			fmt = argv[++i];
		else if (strncmp(argv[i], "--format=", 9) == 0)
			fmt = argv[i] + 9;
		else if (id == NULL)
			id = argv[i];
		else
			die_usage("export: unexpected argument '%s'", argv[i]);
	}
	/* Long sessions come a page at a time; each is printed as it arrives. */
	for (;;) {
		json_int_t prev = next;

		r = call("session.export", json_pack("{s:I, s:s, s:I}", "id",
		    (json_int_t)parse_id(id, 's'), "format", fmt, "after_seq", next));
		if (strcmp(fmt, "jsonl") == 0) {
			/* JSON lines stay exact JSON (print_json's escaping). */
			const char *t = ajson_str(r, "text", "");
			char *safe = safetext_json(t, strlen(t), NULL);

			if (safe == NULL) {
				fprintf(stderr, "agentctl: out of memory\n");
				return EXIT_FAIL;
			}
			fputs(safe, stdout);
			free(safe);
		} else {
			put_shown(ajson_str(r, "text", ""), stdout);
		}
		next = ajson_int(r, "next_seq", 0);
		json_decref(r);
		if (next <= prev)
			break;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "agentctl: export: cannot write the transcript: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}

static int
cmd_rm(int argc, char **argv)
{
	return id_command(argc, argv, "usage: agentctl rm SESSION\n\nDelete a session with its "
	    "runs, messages and events.\n", "session.delete", 's', "deleted");
}

static int
cmd_undo(int argc, char **argv)
{
	json_t *r;

	if (has_help(argc, argv) || argc != 2) {
		puts("usage: agentctl undo RUN\n\nDelete what a run left: its branch (for --branch runs), or, for a run\n"
		    "that worked in place, move the branch back to where it was, keeping every\n"
		    "other uncommitted change (like git reset --keep) — refused when someone\n"
		    "else has committed on top since, or when a file it would change has\n"
		    "uncommitted changes.");
		return argc != 2 ? EXIT_USAGE : 0;
	}
	r = shown(call("run.undo", json_pack("{s:I}", "id", (json_int_t)parse_id(argv[1], 'r'))));
	if (strcmp(ajson_str(r, "undone", ""), "branch") == 0)
		printf("deleted branch %s\n", ajson_str(r, "branch", ""));
	else
		printf("moved %s back to %s\n", ajson_str(r, "branch", ""), ajson_str(r, "to", ""));
	json_decref(r);
	return 0;
}

/* ---- schedules ---- */

static void
print_jobs(json_t *jobs)
{
	json_t *j;
	size_t i;
	char next[32], last[32], what[50];

	printf("%-4s %-16s %-19s %-19s %-10s %-6s %s\n", "JOB", "CRON", "NEXT", "LAST", "RESULT", "STATE", "TASK");
	json_array_foreach(jobs, i, j) {
		fmt_time(ajson_num(j, "next_fire", 0), next, sizeof(next));
		fmt_time(ajson_num(j, "last_fire", 0), last, sizeof(last));
		one_line(ajson_str(j, "task", json_is_object(json_object_get(j, "chore")) ?
		    ajson_str(json_object_get(j, "chore"), "name", "chore") : ""), 40, what, sizeof(what));
		printf("%-4lld %-16s %-19s %-19s %-10s %-6s %s\n", (long long)ajson_int(j, "id", 0),
		    ajson_str(j, "cron", ""), next, last, ajson_str(j, "last_status", "-"),
		    ajson_bool(j, "paused", 0) ? "paused" : "active", what);
	}
}

static const char sched_usage[] =
    "usage: agentctl schedule add [--cron EXPR] [--workspace DIR] [--tz ZONE]\n"
    "                             [--branch[=NAME] | --in-place] [--policy P]\n"
    "                             [--catchup skip|once] [--paused] [--json]\n"
    "                             (--chore FILE|NAME | TASK...)\n"
    "       agentctl schedule list|ls [--json]\n"
    "       agentctl schedule rm|pause|resume|run ID\n"
    "\n"
    "Scheduled runs are unattended and, by default, work on their own branch in\n"
    "their own worktree. EXPR is 5-field cron (minute hour day-of-month month\n"
    "day-of-week) or @hourly, @daily, @midnight, @weekly, @monthly, @yearly,\n"
    "@annually, @reboot; it may come from the chore's \"schedule\". The workspace\n"
    "defaults to the current folder; --tz takes an IANA zone (default: local time).\n";

static int
cmd_schedule_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cron", required_argument, NULL, 'c' }, { "workspace", required_argument, NULL, 'w' },
		{ "tz", required_argument, NULL, 'z' }, { "branch", optional_argument, NULL, 'b' },
		{ "in-place", no_argument, NULL, 'i' }, { "policy", required_argument, NULL, 'p' },
		{ "catchup", required_argument, NULL, 'u' }, { "paused", no_argument, NULL, 'P' }, { "chore", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	struct agentd_error err;
	json_t *params = json_object(), *r, *ch = NULL, *v;
	const char *ws = ".", *chore = NULL;
	char real[PATH_MAX], *task;
	int c, json = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ajson_set_str(params, "cron", optarg); break;
		case 'w': ws = optarg; break;
		case 'z': ajson_set_str(params, "tz", optarg); break;
		case 'b':
			if (optarg)
				ajson_set_str(params, "branch", optarg);
			else
				json_object_set_new(params, "branch", json_true());
			break;
		case 'i': json_object_set_new(params, "branch", json_false()); break;
		case 'p': ajson_set_str(params, "policy", optarg); break;
		case 'u': ajson_set_str(params, "catchup", optarg); break;
		case 'P': json_object_set_new(params, "paused", json_true()); break;
		case 'C': chore = optarg; break;
		case 'J': json = 1; break;
		case 'h': fputs(sched_usage, stdout); return 0;
		default: fputs(sched_usage, stderr); return EXIT_USAGE;
		}
	}
	if (realpath(ws, real) == NULL)
		die_usage("schedule add: workspace '%s': %s", ws, strerror(errno));
	ajson_set_str(params, "workspace", real);
	if (chore) {
		agentd_error_clear(&err);
		if (chore_load(chore, real, &ch, &err) != AGENTD_OK)
			die_usage("schedule add: chore %s: %s", chore, agentd_errmsg(&err));
		json_object_set_new(params, "chore", ch);
		if (!json_object_get(params, "cron") && (v = json_object_get(ch, "schedule")))
			json_object_set(params, "cron", v);
	}
	if (optind < argc) {
		task = join_args(argc - optind, argv + optind);
		ajson_set_str(params, "task", task);
		free(task);
	}
	if (!json_object_get(params, "cron"))
		die_usage("schedule add: --cron EXPR is required");
	if (!json_object_get(params, "task") && !chore)
		die_usage("schedule add: a TASK or --chore is required");
	r = call("schedule.add", params);
	if (json) {
		print_json(r);
	} else {
		char next[32];

		shown(r);
		fmt_time(ajson_num(r, "next_fire", 0), next, sizeof(next));
		printf("schedule %lld added: '%s', next run %s\n", (long long)ajson_int(r, "id", 0),
		    ajson_str(r, "cron", ""), next);
		if (ajson_str(r, "warning", NULL))
			fprintf(stderr, "%swarning:%s %s\n", C_YELLOW, C_RESET, ajson_str(r, "warning", ""));
	}
	json_decref(r);
	return 0;
}

static int
cmd_schedule(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const char *method = NULL;
	json_t *r;

	if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(sched_usage, sub ? stdout : stderr);
		return sub ? 0 : EXIT_USAGE;
	}
	if (strcmp(sub, "add") == 0)
		return cmd_schedule_add(argc - 1, argv + 1);
	if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
		if (has_help(argc - 1, argv + 1)) {
			fputs(sched_usage, stdout);
			return 0;
		}
		r = call("schedule.list", NULL);
		if (has_json(argc - 1, argv + 1))
			print_json(json_object_get(r, "jobs"));
		else
			print_jobs(shown(json_object_get(r, "jobs")));
		json_decref(r);
		return 0;
	}
	if (strcmp(sub, "rm") == 0)
		method = "schedule.rm";
	else if (strcmp(sub, "pause") == 0)
		method = "schedule.pause";
	else if (strcmp(sub, "resume") == 0)
		method = "schedule.resume";
	else if (strcmp(sub, "run") == 0)
		method = "schedule.run";
	else
		die_usage("schedule: unknown sub-command '%s'", sub);
	if (argc != 3 || has_help(argc - 1, argv + 1)) {
		fputs(sched_usage, argc != 3 ? stderr : stdout);
		return argc != 3 ? EXIT_USAGE : 0;
	}
	r = call(method, json_pack("{s:I}", "id", (json_int_t)parse_id(argv[2], 'j')));
	if (strcmp(sub, "run") == 0)
		printf("%lld\n", (long long)ajson_int(r, "run_id", 0));
	else
		printf("schedule %s: %s\n", argv[2], strcmp(sub, "rm") == 0 ? "deleted" : sub);
	json_decref(r);
	return 0;
}

/* ---- main ---- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

/* ---- approvals from any terminal ---- */

static int
cmd_approvals(int argc, char **argv)
{
	json_t *r, *q;
	size_t i;
	char t[32], desc[120];

	if (has_help(argc, argv) || argc != 1) {
		fputs("usage: agentctl approvals\n\nList the approval requests waiting for an "
		    "answer (agentctl approve ID / deny ID).\n", argc != 1 ? stderr : stdout);
		return argc != 1 ? EXIT_USAGE : 0;
	}
	r = call("approval.list", json_object());
	printf("%-6s %-6s %-12s %-19s %s\n", "ID", "RUN", "TOOL", "SINCE", "REASON");
	json_array_foreach(json_object_get(r, "requests"), i, q) {
		json_t *req = json_object_get(q, "request");

		fmt_time((double)ajson_int(q, "since", 0), t, sizeof(t));
		one_line(ajson_str(req, "reason", ""), 100, desc, sizeof(desc));
		printf("%-6lld %-6lld %-12s %-19s %s\n", (long long)ajson_int(q, "request_id", 0),
		    (long long)ajson_int(q, "run_id", 0), ajson_str(req, "tool", ""), t, desc);
	}
	json_decref(r);
	return 0;
}

/* approve ID / deny ID [--reason TEXT] */
static int
answer_approval(int argc, char **argv, int allow)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *reason = NULL;
	json_t *params, *r;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'r' && !allow)
			reason = optarg;
		else if (c == 'h') {
			printf("usage: agentctl %s\n\nAnswer a waiting approval request "
			    "(see agentctl approvals)%s.\n", allow ? "approve ID" :
			    "deny ID [--reason TEXT]", allow ? "" : "; the reason is told to the model");
			return 0;
		} else
			die_usage("see agentctl %s --help", allow ? "approve" : "deny");
	}
	if (optind != argc - 1)
		die_usage("agentctl %s: one request ID", allow ? "approve" : "deny");
	params = json_pack("{s:I, s:b}", "request_id", (json_int_t)parse_id(argv[optind], 0),
	    "allow", allow);
	if (reason != NULL)
		ajson_set_str(params, "reason", reason);
	r = call("approval.respond", params);
	printf("approval %s %s\n", argv[optind], allow ? "granted" : "denied");
	json_decref(r);
	return 0;
}

static int
cmd_approve(int argc, char **argv)
{
	return answer_approval(argc, argv, 1);
}

static int
cmd_deny(int argc, char **argv)
{
	return answer_approval(argc, argv, 0);
}

static int cmd_completion(int argc, char **argv);

static int
cmd_acp(int argc, char **argv)
{
	return ctl_acp_main(argc, argv, sock_path);
}

static const struct command commands[] = {
	{ "status", cmd_status, "is agentd running? version, socket, model server" },
	{ "doctor", cmd_doctor, "check the daemon, journal, sandbox and model servers, with fixes" },
	{ "run", cmd_run, "run a task in a workspace and follow it" },
	{ "attach", cmd_attach, "follow a run that is already going" },
	{ "cancel", cmd_cancel, "cancel a run" },
	{ "approvals", cmd_approvals, "list the approval requests waiting for an answer" },
	{ "approve", cmd_approve, "grant a waiting approval request" },
	{ "deny", cmd_deny, "deny a waiting approval request (--reason TEXT tells the model)" },
	{ "runs", cmd_runs, "list runs" },
	{ "sessions", cmd_sessions, "list sessions" },
	{ "show", cmd_show, "show a run (ID) or a session (sID)" },
	{ "tools", cmd_tools, "list the tools the model can call" },
	{ "skills", cmd_skills, "list the skills a workspace offers, and the files refused" },
	{ "tool", cmd_tool, "run one tool by hand, as the agent would" },
	{ "mcp", cmd_mcp, "list the MCP servers and their state, or test one" },
	{ "search", cmd_search, "search earlier sessions" },
	{ "audit", cmd_audit, "verify that a run's record was not altered" },
	{ "export", cmd_export, "print a session as markdown or JSON lines" },
	{ "rm", cmd_rm, "delete a session" },
	{ "undo", cmd_undo, "delete what a run left in the repository" },
	{ "schedule", cmd_schedule, "add, list, pause, resume, run or remove scheduled jobs" },
	{ "sandbox", NULL, "run a command locally under the shell tool's sandbox" },
	{ "acp", cmd_acp, "speak the Agent Client Protocol on stdio, for editors (Zed…)" },
	{ "completion", cmd_completion, "print the bash or zsh completion script" },
	{ NULL, NULL, NULL }
};

static void
main_usage(FILE *f)
{
	const struct command *c;

	fprintf(f, "usage: agentctl [--socket PATH] COMMAND [ARGS...]\n\n"
	    "Drive agentd, the local-model coding agent daemon, over its Unix socket\n"
	    "(default $AGENTD_SOCKET, else $XDG_RUNTIME_DIR/agentd.sock).\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %-9s %s\n", c->name, c->summary);
	fprintf(f, "\n'agentctl COMMAND --help' describes each. Listings take --json.\n"
	    "Exit status: 0 ok, 1 the operation failed (a failed run, a tool error, a\n"
	    "busy, denied or failed request), 2 a usage error, an invalid request (bad\n"
	    "arguments, an unknown tool, run, session or schedule) or no daemon, 130 a\n"
	    "run cancelled by Ctrl-C.\n");
}

/* ---- shell completion ----
 * The scripts (`agentctl completion bash|zsh`) ask the binary itself
 * (`agentctl __complete WORD...`), so commands and flags come from the same
 * table and --help texts the user reads, and ids from the daemon. */

static const char bash_completion[] =
    "# bash completion for agentctl (agentctl completion bash)\n"
    "_agentctl() {\n"
    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} IFS=$'\\n'\n"
    "\tcase $prev in\n"
    "\t--workspace|--state-dir) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n"
    "\t--chore|--config|--socket) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
    "\tesac\n"
    "\tCOMPREPLY=($(command agentctl __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null))\n"
    "}\n"
    "complete -F _agentctl agentctl\n";

static const char zsh_completion[] =
    "#compdef agentctl\n"
    "# zsh completion for agentctl (agentctl completion zsh)\n"
    "_agentctl() {\n"
    "\tlocal -a out\n"
    "\tcase ${words[CURRENT-1]} in\n"
    "\t--workspace|--state-dir) _files -/; return ;;\n"
    "\t--chore|--config|--socket) _files; return ;;\n"
    "\tesac\n"
    "\tout=(${(f)\"$(command agentctl __complete ${words[2,CURRENT]} 2>/dev/null)\"})\n"
    "\tcompadd -Q -- $out\n"
    "}\n"
    "_agentctl \"$@\"\n";

static int
cmd_completion(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "bash") == 0) {
		fputs(bash_completion, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "zsh") == 0) {
		fputs(zsh_completion, stdout);
		return 0;
	}
	if (has_help(argc, argv)) {
		puts("usage: agentctl completion bash|zsh\n\nPrint the shell completion script "
		    "(installed by make install where\nbash-completion and zsh look; or: eval "
		    "\"$(agentctl completion bash)\").");
		return 0;
	}
	die_usage("completion: say bash or zsh");
	return EXIT_USAGE;
}

/* A command's --help text, run in a child so nothing it does leaks here. */
static char *
help_text(const struct command *c)
{
	char *argv[] = { (char *)c->name, "--help", NULL };
	int fd[2], nul;
	struct abuf b;
	char buf[4096];
	ssize_t n;
	pid_t pid;

	if (pipe(fd) != 0)
		return NULL;
	pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return NULL;
	}
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		if ((nul = open("/dev/null", O_WRONLY)) >= 0)
			dup2(nul, STDERR_FILENO);
		close(fd[0]);
		close(fd[1]);
		nul = c->fn ? c->fn(2, argv) : ctl_sandbox_main(2, argv);
		fflush(stdout);
		_exit(nul);
	}
	close(fd[1]);
	abuf_init(&b, 256 * 1024);
	while ((n = read(fd[0], buf, sizeof(buf))) > 0)
		abuf_append(&b, buf, (size_t)n);
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return abuf_steal(&b);
}

static void
print_if_prefix(const char *word, const char *cur, json_t *seen)
{
	if (strncmp(word, cur, strlen(cur)) != 0 || json_object_get(seen, word))
		return;
	json_object_set_new(seen, word, json_true());
	printf("%s\n", word);
}

/* Ids the daemon knows, when it answers within a second: runs, sessions
 * ("sN") or scheduled jobs. */
static void
complete_ids(const char *what, const char *cur, json_t *seen)
{
	const char *msg;
	json_t *r, *x;
	size_t i;
	int code;
	char id[32];

	sock_fd = ctl_connect(sock_path);
	if (sock_fd < 0)
		return;
	rpc_framer_init(&framer, 16u * 1024 * 1024);
	alarm(1);	/* a daemon that does not answer ends the completion, quietly */
	if (strchr(what, 'r') && (r = call_ex("run.list", json_pack("{s:i}", "limit", 30), NULL,
	    NULL, &code, &msg)) != NULL) {
		json_array_foreach(json_object_get(r, "runs"), i, x) {
			snprintf(id, sizeof(id), "%lld", (long long)ajson_int(x, "id", 0));
			print_if_prefix(id, cur, seen);
		}
		json_decref(r);
	}
	if (strchr(what, 's') && (r = call_ex("session.list", json_pack("{s:i}", "limit", 30),
	    NULL, NULL, &code, &msg)) != NULL) {
		json_array_foreach(json_object_get(r, "sessions"), i, x) {
			snprintf(id, sizeof(id), "s%lld", (long long)ajson_int(x, "id", 0));
			print_if_prefix(id, cur, seen);
		}
		json_decref(r);
	}
	if (strchr(what, 'j') && (r = call_ex("schedule.list", NULL, NULL, NULL, &code,
	    &msg)) != NULL) {
		json_array_foreach(json_object_get(r, "jobs"), i, x) {
			snprintf(id, sizeof(id), "%lld", (long long)ajson_int(x, "id", 0));
			print_if_prefix(id, cur, seen);
		}
		json_decref(r);
	}
	alarm(0);
}

/* agentctl __complete WORD... : the candidates for the last word. */
static int
cmd_complete(int argc, char **argv)
{
	static const struct { const char *flag, *values; } values[] = {
		{ "--policy", "read-only workspace-write full-access" },
		{ "--approval", "never ask" }, { "--format", "markdown jsonl" },
		{ "--catchup", "skip once" },
		{ "--status", "queued running succeeded failed cancelled interrupted" },
	};
	const char *cur = argc > 1 ? argv[argc - 1] : "", *prev = argc > 2 ? argv[argc - 2] : "";
	const struct command *c = NULL, *k;
	json_t *seen = json_object();
	char *help, *p;
	size_t i;
	int w = 1;

	/* skip agentctl's own --socket PATH */
	while (w < argc - 1 && strncmp(argv[w], "--socket", 8) == 0) {
		if (strchr(argv[w], '=') == NULL && w + 1 < argc - 1) {
			snprintf(sock_path, sizeof(sock_path), "%s", argv[w + 1]);
			w++;
		}
		w++;
	}
	if (w >= argc - 1) {
		for (k = commands; k->name; k++)
			print_if_prefix(k->name, cur, seen);
		json_decref(seen);
		return 0;
	}
	for (k = commands; k->name; k++)
		if (strcmp(k->name, argv[w]) == 0)
			c = k;
	if (c == NULL) {
		json_decref(seen);
		return 0;
	}
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		if (strcmp(prev, values[i].flag) == 0) {
			char v[128], *save = NULL, *t;

			snprintf(v, sizeof(v), "%s", values[i].values);
			for (t = strtok_r(v, " ", &save); t; t = strtok_r(NULL, " ", &save))
				print_if_prefix(t, cur, seen);
			json_decref(seen);
			return 0;
		}
	help = help_text(c);
	if (cur[0] == '-') {
		/* the flags its --help names */
		for (p = help; p && (p = strstr(p, "--")) != NULL; ) {
			char flag[64];
			size_t n = 2;

			while (n < sizeof(flag) - 1 && (p[n] == '-' || (p[n] >= 'a' && p[n] <= 'z')))
				n++;
			if (n > 2 && p[n - 1] != '-') {
				snprintf(flag, sizeof(flag), "%.*s", (int)n, p);
				print_if_prefix(flag, cur, seen);
			}
			p += n;
		}
		print_if_prefix("--help", cur, seen);
	} else if (w == argc - 2) {
		/* sub-commands: lowercase words after "agentctl CMD " in its usage lines */
		char pat[80];

		snprintf(pat, sizeof(pat), "agentctl %s ", c->name);
		for (p = help; p && (p = strstr(p, pat)) != NULL; ) {
			char word[200], *save = NULL, *t;
			size_t n = 0;

			p += strlen(pat);
			while (n < sizeof(word) - 1 && ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '|'))
				n++;
			if (n == 0 || (p[n] != ' ' && p[n] != '\n'))
				continue;
			snprintf(word, sizeof(word), "%.*s", (int)n, p);
			for (t = strtok_r(word, "|", &save); t; t = strtok_r(NULL, "|", &save))
				print_if_prefix(t, cur, seen);
		}
	}
	if (cur[0] != '-') {
		if (strcmp(c->name, "show") == 0)
			complete_ids("rs", cur, seen);
		else if (!strcmp(c->name, "attach") || !strcmp(c->name, "cancel") ||
		    !strcmp(c->name, "audit") || !strcmp(c->name, "undo"))
			complete_ids("r", cur, seen);
		else if (!strcmp(c->name, "export") || !strcmp(c->name, "rm"))
			complete_ids("s", cur, seen);
		else if (!strcmp(c->name, "schedule") && w + 1 < argc - 1 &&
		    strstr("rm pause resume run", argv[w + 1]) != NULL)
			complete_ids("j", cur, seen);
	}
	free(help);
	json_decref(seen);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct command *c;
	const char *nc = getenv("NO_COLOR");
	int i = 1;

	signal(SIGPIPE, SIG_IGN);
	rpc_default_socket(sock_path, sizeof(sock_path));
	use_color = isatty(STDERR_FILENO) && (nc == NULL || *nc == '\0') &&
	    !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			snprintf(sock_path, sizeof(sock_path), "%s", argv[i + 1]);
			i += 2;
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			snprintf(sock_path, sizeof(sock_path), "%s", argv[i] + 9);
			i++;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			main_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("agentctl %s\n", PACKAGE_VERSION);
			return 0;
		} else {
			fprintf(stderr, "agentctl: unknown option '%s'\n", argv[i]);
			main_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[i], "sandbox") == 0)
		return ctl_sandbox_main(argc - i, argv + i);
	if (strcmp(argv[i], "__complete") == 0)
		return cmd_complete(argc - i, argv + i);

	for (c = commands; c->name; c++)
		if (c->fn && strcmp(c->name, argv[i]) == 0)
			return c->fn(argc - i, argv + i);
	fprintf(stderr, "agentctl: unknown command '%s'\n", argv[i]);
	main_usage(stderr);
	return EXIT_USAGE;
}
