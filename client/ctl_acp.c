/*
 * ctl_acp.c — `agentctl acp`: agentd as an agent of the Agent Client
 * Protocol (protocol version 1), so that Zed and the other ACP clients
 * drive it with a local model.
 *
 * The editor speaks JSON-RPC 2.0, one object per line, on our stdin/stdout;
 * we speak agentd's protocol on its socket. One poll() loop relays:
 *   initialize                → our capabilities (loadSession)
 *   session/new {cwd}         → session.create; the ACP session id is "s<N>"
 *   session/load {sessionId}  → session.get, replayed as session/update
 *   session/prompt            → run.start (approval "ask"); run.event becomes
 *                               session/update (agent_message_chunk,
 *                               agent_thought_chunk, plan, tool_call,
 *                               tool_call_update); the end answers the prompt
 *                               with its stopReason
 *   session/cancel            → run.cancel
 *   approval.request (agentd) → session/request_permission to the editor,
 *                               its answer → approval.respond
 * Nothing is written to stdout but protocol lines; diagnostics go to stderr.
 */
#include "client/ctl.h"
#include "daemon/rpc.h"
#include "common/buf.h"
#include "common/json.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ACP_PROTOCOL_VERSION	1
#define ACP_MAX_LINE		(64u * 1024 * 1024)
#define ACP_MAX_TASK		(1024 * 1024)

struct acp {
	int sock;
	struct rpc_framer in_fr, sock_fr;
	json_int_t next_id;		/* requests to agentd */
	json_int_t next_client_id;	/* requests to the editor */
	json_t *pending;		/* our agentd request id -> what the answer is for */
	json_t *perms;			/* our editor request id -> {run_id, request_id} */
	/* the prompt turn going on (one at a time) */
	json_t *turn_id;		/* the editor's session/prompt id, NULL when none */
	char turn_session[32];
	int64_t turn_run;
	int turn_text;			/* text streamed since the last complete message */
	int cancel_asked;
	int quit;
};

static void
out_line(char *line)
{
	size_t off = 0, n;
	ssize_t w;

	if (line == NULL)
		return;
	n = strlen(line);
	while (off < n) {
		w = write(STDOUT_FILENO, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(line);
}

static void
reply(json_t *id, json_t *result)
{
	out_line(rpc_result_line(id, result ? result : json_null()));	/* id borrowed */
}

static void
reply_error(json_t *id, int code, const char *msg)
{
	out_line(rpc_error_line(id, code, msg, NULL));
}

static void
update(const char *session, json_t *upd)
{
	out_line(rpc_notify_line("session/update", json_pack("{s:s, s:o}", "sessionId", session,
	    "update", upd)));
}

static void
text_chunk(const char *session, const char *kind, const char *text)
{
	update(session, json_pack("{s:s, s:{s:s, s:s}}", "sessionUpdate", kind, "content",
	    "type", "text", "text", text));
}

/* Send a request to agentd, remembering what its answer is for. */
static void
to_agentd(struct acp *a, const char *method, json_t *params, json_t *what)
{
	json_int_t id = a->next_id++;
	char key[32], *line = rpc_request_line(id, method, params);
	size_t off = 0, n = line ? strlen(line) : 0;
	ssize_t w;

	snprintf(key, sizeof(key), "%lld", (long long)id);
	json_object_set_new(a->pending, key, what ? what : json_object());
	while (off < n) {
		w = send(a->sock, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "agentctl acp: agentd closed the connection\n");
			a->quit = 1;
			break;
		}
		off += (size_t)w;
	}
	free(line);
}

/* "s12" (or "12") -> 12; 0 when not a session id. */
static int64_t
session_num(const char *s)
{
	char *end;
	long long v;

	if (s == NULL)
		return 0;
	if (*s == 's')
		s++;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && v > 0 ? (int64_t)v : 0;
}

static const char *
tool_kind(const char *name)
{
	if (!strcmp(name, "read_file") || !strcmp(name, "skill") || !strcmp(name, "git_show") ||
	    !strcmp(name, "git_diff") || !strcmp(name, "git_log") || !strcmp(name, "git_status"))
		return "read";
	if (!strcmp(name, "write_file") || !strcmp(name, "edit_file"))
		return "edit";
	if (!strcmp(name, "grep") || !strcmp(name, "list_dir") || !strcmp(name, "recall"))
		return "search";
	if (!strcmp(name, "shell"))
		return "execute";
	return "other";
}

/* "shell: make test" — a one-line title from the name and the arguments. */
static char *
tool_title(const char *name, const json_t *args)
{
	const char *keys[] = { "command", "path", "pattern", "message", "name", "query", NULL };
	const char *v = NULL;
	char *t = NULL;
	size_t i;

	for (i = 0; keys[i] != NULL && v == NULL; i++)
		v = ajson_str(args, keys[i], NULL);
	if (asprintf(&t, "%s%s%.160s", name, v ? ": " : "", v ? v : "") < 0)
		return NULL;
	for (i = 0; t[i]; i++)
		if (t[i] == '\n' || t[i] == '\r' || t[i] == '\t')
			t[i] = ' ';
	return t;
}

static const char *
stop_reason(const char *status, const char *reason)
{
	if (strcmp(status, "succeeded") == 0)
		return "end_turn";
	if (strcmp(status, "cancelled") == 0)
		return "cancelled";
	if (reason != NULL && strncmp(reason, "step limit", 10) == 0)
		return "max_turn_requests";
	if (reason != NULL && strncmp(reason, "token limit", 11) == 0)
		return "max_tokens";
	return "end_turn";
}

static void
end_turn(struct acp *a, const char *stop, json_t *meta)
{
	if (a->turn_id == NULL) {
		json_decref(meta);
		return;
	}
	reply(a->turn_id, json_pack("{s:s, s:o?}", "stopReason", stop, "_meta", meta));
	json_decref(a->turn_id);
	a->turn_id = NULL;
	a->turn_run = 0;
	a->cancel_asked = 0;
}

/* ---- agentd → editor ---- */

static void
on_run_event(struct acp *a, const json_t *p)
{
	const char *type = ajson_str(p, "type", ""), *s = a->turn_session;
	const json_t *d = json_object_get(p, "data");

	if (a->turn_id == NULL)
		return;
	if (a->turn_run == 0)
		a->turn_run = ajson_int(p, "run_id", 0);
	if (ajson_int(p, "run_id", 0) != a->turn_run)
		return;
	if (strcmp(type, "text") == 0) {
		a->turn_text = 1;
		text_chunk(s, "agent_message_chunk", ajson_str(d, "delta", ""));
	} else if (strcmp(type, "reasoning") == 0) {
		text_chunk(s, "agent_thought_chunk", ajson_str(d, "delta", ""));
	} else if (strcmp(type, "message") == 0) {
		/* not streamed: the whole text now */
		if (!a->turn_text && ajson_str(d, "content", "")[0] != '\0')
			text_chunk(s, "agent_message_chunk", ajson_str(d, "content", ""));
		a->turn_text = 0;
	} else if (strcmp(type, "plan") == 0) {
		json_t *entries = json_array(), *st;
		size_t i;

		json_array_foreach(json_object_get(d, "steps"), i, st)
			json_array_append_new(entries, json_pack("{s:s, s:s, s:s}", "content",
			    ajson_str(st, "step", ""), "priority", "medium", "status",
			    ajson_str(st, "status", "pending")));
		update(s, json_pack("{s:s, s:o}", "sessionUpdate", "plan", "entries", entries));
	} else if (strcmp(type, "tool_call") == 0) {
		const char *name = ajson_str(d, "name", "?");
		char *title;

		if (strcmp(name, "update_plan") == 0)
			return;	/* shown as the plan */
		title = tool_title(name, json_object_get(d, "arguments"));
		update(s, json_pack("{s:s, s:s, s:s, s:s, s:s, s:O?}", "sessionUpdate", "tool_call",
		    "toolCallId", ajson_str(d, "id", ""), "title", title ? title : name, "kind",
		    tool_kind(name), "status", "in_progress", "rawInput", json_object_get(d, "arguments")));
		free(title);
	} else if (strcmp(type, "tool_result") == 0) {
		if (strcmp(ajson_str(d, "name", ""), "update_plan") == 0)
			return;
		update(s, json_pack("{s:s, s:s, s:s, s:[{s:s, s:{s:s, s:s}}]}", "sessionUpdate",
		    "tool_call_update", "toolCallId", ajson_str(d, "id", ""), "status",
		    ajson_bool(d, "ok", 0) ? "completed" : "failed", "content", "type", "content",
		    "content", "type", "text", "text", ajson_str(d, "output", "")));
	} else if (strcmp(type, "end") == 0) {
		const char *st = ajson_str(d, "status", "failed"), *why = ajson_str(d, "reason", NULL);

		if (strcmp(st, "failed") == 0) {
			char *msg = NULL;

			if (asprintf(&msg, "\n\n(agentd: run %lld failed: %s)", (long long)a->turn_run,
			    why ? why : "no reason given") >= 0)
				text_chunk(s, "agent_message_chunk", msg);
			free(msg);
		}
		end_turn(a, a->cancel_asked && strcmp(st, "succeeded") != 0 ? "cancelled" :
		    stop_reason(st, why), json_pack("{s:{s:I, s:s, s:s?, s:s?}}", "agentd", "run_id",
		    (json_int_t)a->turn_run, "status", st, "reason", why, "branch",
		    ajson_str(d, "branch", NULL)));
	}
}

static void
on_approval(struct acp *a, const json_t *p)
{
	const json_t *req = json_object_get(p, "request");
	const char *name = ajson_str(req, "tool", "?");
	json_int_t id = a->next_client_id++;
	char key[32], *title = tool_title(name, json_object_get(req, "arguments"));

	snprintf(key, sizeof(key), "%lld", (long long)id);
	json_object_set_new(a->perms, key, json_pack("{s:I, s:I}", "run_id",
	    (json_int_t)ajson_int(p, "run_id", 0), "request_id",
	    (json_int_t)ajson_int(p, "request_id", 0)));
	out_line(rpc_request_line(id, "session/request_permission", json_pack(
	    "{s:s, s:{s:s, s:s, s:s, s:s, s:O?}, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}], "
	    "s:{s:{s:s}}}",
	    "sessionId", a->turn_session, "toolCall", "toolCallId", ajson_str(req, "id", ""),
	    "title", title ? title : name, "kind", tool_kind(name), "status", "pending",
	    "rawInput", json_object_get(req, "arguments"), "options",
	    "optionId", "allow", "name", "Allow once", "kind", "allow_once",
	    "optionId", "deny", "name", "Deny", "kind", "reject_once",
	    "_meta", "agentd", "reason", ajson_str(req, "reason", ""))));
	free(title);
}

/* A session's stored messages as session/update, for session/load. */
static void
replay(const char *session, const json_t *msgs)
{
	size_t i, j;
	json_t *m, *c;

	json_array_foreach(msgs, i, m) {
		const char *role = ajson_str(m, "role", ""), *content = ajson_str(m, "content", "");

		if (strcmp(role, "user") == 0 && content[0])
			text_chunk(session, "user_message_chunk", content);
		else if (strcmp(role, "assistant") == 0) {
			if (content[0])
				text_chunk(session, "agent_message_chunk", content);
			json_array_foreach(json_object_get(m, "tool_calls"), j, c) {
				const json_t *fn = json_object_get(c, "function");
				json_t *args = json_loads(ajson_str(fn, "arguments", "{}"), 0, NULL);
				char *title = tool_title(ajson_str(fn, "name", "?"), args);

				update(session, json_pack("{s:s, s:s, s:s, s:s, s:s}", "sessionUpdate",
				    "tool_call", "toolCallId", ajson_str(c, "id", ""), "title",
				    title ? title : "tool", "kind", tool_kind(ajson_str(fn, "name", "")),
				    "status", "in_progress"));
				free(title);
				json_decref(args);
			}
		} else if (strcmp(role, "tool") == 0) {
			update(session, json_pack("{s:s, s:s, s:s, s:[{s:s, s:{s:s, s:s}}]}",
			    "sessionUpdate", "tool_call_update", "toolCallId",
			    ajson_str(m, "tool_call_id", ""), "status", "completed", "content", "type",
			    "content", "content", "type", "text", "text", content));
		}
	}
}

/* An answer from agentd to one of our requests. */
static void
on_agentd_answer(struct acp *a, json_t *m)
{
	char key[32];
	json_t *what, *err = json_object_get(m, "error"), *res = json_object_get(m, "result");
	json_t *acp_id;
	const char *kind;

	snprintf(key, sizeof(key), "%lld", (long long)ajson_int(m, "id", -1));
	what = json_incref(json_object_get(a->pending, key));
	json_object_del(a->pending, key);
	if (what == NULL)
		return;
	kind = ajson_str(what, "kind", "");
	acp_id = json_object_get(what, "acp_id");
	if (err != NULL) {
		if (strcmp(kind, "prompt") == 0) {
			json_decref(a->turn_id);
			a->turn_id = NULL;
		}
		if (acp_id != NULL)
			reply_error(acp_id, (int)ajson_int(err, "code", RPC_INTERNAL_ERROR),
			    ajson_str(err, "message", "agentd refused the request"));
	} else if (strcmp(kind, "new") == 0) {
		char sid[32];

		snprintf(sid, sizeof(sid), "s%lld", (long long)ajson_int(res, "id", 0));
		reply(acp_id, json_pack("{s:s}", "sessionId", sid));
	} else if (strcmp(kind, "load") == 0) {
		const char *sid = ajson_str(what, "session", "");
		json_int_t next = ajson_int(res, "next_seq", 0);

		replay(sid, json_object_get(res, "messages"));
		if (next > 0)
			to_agentd(a, "session.get", json_pack("{s:I, s:I}", "id",
			    (json_int_t)session_num(sid), "after_seq", next), json_incref(what));
		else
			reply(acp_id, json_object());
	} else if (strcmp(kind, "prompt") == 0) {
		if (a->turn_run == 0)
			a->turn_run = ajson_int(res, "run_id", 0);
	}
	json_decref(what);
}

static int
from_agentd(void *ud, char *line, size_t len)
{
	struct acp *a = ud;
	json_t *m = json_loadb(line, len, 0, NULL);
	const char *method = ajson_str(m, "method", NULL);

	if (m == NULL)
		return 0;
	if (method != NULL && strcmp(method, "run.event") == 0)
		on_run_event(a, json_object_get(m, "params"));
	else if (method != NULL && strcmp(method, "approval.request") == 0)
		on_approval(a, json_object_get(m, "params"));
	else if (method == NULL)
		on_agentd_answer(a, m);
	json_decref(m);
	return 0;
}

/* ---- editor → agentd ---- */

/* The prompt's content blocks as one task text. */
static char *
prompt_text(const json_t *blocks)
{
	struct abuf b;
	size_t i;
	json_t *c;

	abuf_init(&b, ACP_MAX_TASK);
	json_array_foreach(blocks, i, c) {
		const char *t = ajson_str(c, "type", "");
		const json_t *res = json_object_get(c, "resource");

		if (b.len)
			abuf_puts(&b, "\n");
		if (strcmp(t, "text") == 0)
			abuf_puts(&b, ajson_str(c, "text", ""));
		else if (strcmp(t, "resource_link") == 0)
			abuf_printf(&b, "(see %s)", ajson_str(c, "uri", ""));
		else if (strcmp(t, "resource") == 0 && ajson_str(res, "text", NULL))
			abuf_printf(&b, "Contents of %s:\n%s", ajson_str(res, "uri", ""),
			    ajson_str(res, "text", ""));
	}
	return b.len ? abuf_steal(&b) : (abuf_free(&b), NULL);
}

static void
on_editor_request(struct acp *a, const char *method, json_t *id, const json_t *p)
{
	if (strcmp(method, "initialize") == 0) {
		reply(id, json_pack("{s:i, s:{s:b, s:{s:b, s:b, s:b}}, s:[], s:{s:s, s:s}}",
		    "protocolVersion", ACP_PROTOCOL_VERSION, "agentCapabilities", "loadSession", 1,
		    "promptCapabilities", "image", 0, "audio", 0, "embeddedContext", 1,
		    "authMethods", "agentInfo", "name", "agentd", "version", PACKAGE_VERSION));
	} else if (strcmp(method, "session/new") == 0) {
		const char *cwd = ajson_str(p, "cwd", NULL);

		if (cwd == NULL || cwd[0] != '/') {
			reply_error(id, RPC_INVALID_PARAMS, "session/new needs cwd, an absolute path");
			return;
		}
		to_agentd(a, "session.create", json_pack("{s:s, s:s}", "workspace", cwd, "title",
		    "editor session"), json_pack("{s:s, s:O}", "kind", "new", "acp_id", id));
	} else if (strcmp(method, "session/load") == 0) {
		const char *sid = ajson_str(p, "sessionId", "");

		if (session_num(sid) == 0) {
			reply_error(id, RPC_INVALID_PARAMS, "sessionId must be an agentd session "
			    "id (sN)");
			return;
		}
		to_agentd(a, "session.get", json_pack("{s:I}", "id", (json_int_t)session_num(sid)),
		    json_pack("{s:s, s:O, s:s}", "kind", "load", "acp_id", id, "session", sid));
	} else if (strcmp(method, "session/prompt") == 0) {
		const char *sid = ajson_str(p, "sessionId", "");
		char *task;

		if (session_num(sid) == 0) {
			reply_error(id, RPC_INVALID_PARAMS, "unknown sessionId");
			return;
		}
		if (a->turn_id != NULL) {
			reply_error(id, RPC_BUSY, "a prompt is already going on");
			return;
		}
		task = prompt_text(json_object_get(p, "prompt"));
		if (task == NULL) {
			reply_error(id, RPC_INVALID_PARAMS, "the prompt has no text");
			return;
		}
		a->turn_id = json_incref(id);
		snprintf(a->turn_session, sizeof(a->turn_session), "%s", sid);
		a->turn_run = 0;
		a->turn_text = 0;
		a->cancel_asked = 0;
		to_agentd(a, "run.start", json_pack("{s:I, s:s, s:s}", "session_id",
		    (json_int_t)session_num(sid), "task", task, "approval", "ask"),
		    json_pack("{s:s, s:O}", "kind", "prompt", "acp_id", id));
		free(task);
	} else if (strcmp(method, "session/set_mode") == 0 ||
	    strcmp(method, "authenticate") == 0) {
		reply_error(id, RPC_METHOD_NOT_FOUND, "not implemented by agentd");
	} else {
		reply_error(id, RPC_METHOD_NOT_FOUND, "unknown method");
	}
}

/* The editor answered one of our session/request_permission. */
static void
on_editor_answer(struct acp *a, const json_t *m)
{
	char key[32];
	json_t *perm;
	const json_t *outcome = json_object_get(json_object_get(m, "result"), "outcome");
	int allow;

	snprintf(key, sizeof(key), "%lld", (long long)ajson_int(m, "id", -1));
	perm = json_incref(json_object_get(a->perms, key));
	json_object_del(a->perms, key);
	if (perm == NULL)
		return;
	allow = strcmp(ajson_str(outcome, "outcome", ""), "selected") == 0 &&
	    strcmp(ajson_str(outcome, "optionId", ""), "allow") == 0;
	to_agentd(a, "approval.respond", json_pack("{s:I, s:I, s:b}", "run_id",
	    (json_int_t)ajson_int(perm, "run_id", 0), "request_id",
	    (json_int_t)ajson_int(perm, "request_id", 0), "allow", allow), NULL);
	json_decref(perm);
}

static int
from_editor(void *ud, char *line, size_t len)
{
	struct acp *a = ud;
	json_error_t je;
	json_t *m = json_loadb(line, len, 0, &je), *id;
	const char *method;

	if (!json_is_object(m)) {
		out_line(rpc_error_line(json_null(), RPC_PARSE_ERROR, "not a JSON object", NULL));
		json_decref(m);
		return 0;
	}
	method = ajson_str(m, "method", NULL);
	id = json_object_get(m, "id");
	if (method == NULL) {
		on_editor_answer(a, m);
	} else if (strcmp(method, "session/cancel") == 0) {
		if (a->turn_id != NULL && a->turn_run > 0 && !a->cancel_asked) {
			a->cancel_asked = 1;
			to_agentd(a, "run.cancel", json_pack("{s:I}", "id", (json_int_t)a->turn_run), NULL);
		} else if (a->turn_id != NULL) {
			a->cancel_asked = 1;
		}
	} else if (id != NULL && !json_is_null(id)) {
		on_editor_request(a, method, id, json_object_get(m, "params"));
	}
	json_decref(m);
	return 0;
}

int
ctl_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		fd = -1;
	}
	return fd;
}

int
ctl_acp_main(int argc, char **argv, const char *sock_path)
{
	struct acp a;
	char buf[65536];
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			puts("usage: agentctl acp\n\nSpeak the Agent Client Protocol on stdin/stdout, so "
			    "that an editor (Zed, and\nthe other ACP clients) drives agentd: configure "
			    "the editor's agent command as\n`agentctl acp` (with --socket PATH before "
			    "`acp` when agentd is elsewhere).\nSessions are agentd's (sN): "
			    "`agentctl show sN` shows them; approvals are\nasked through the editor.");
			return 0;
		}
		fprintf(stderr, "agentctl acp: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	memset(&a, 0, sizeof(a));
	a.sock = ctl_connect(sock_path);
	if (a.sock < 0) {
		fprintf(stderr, "agentctl acp: no agentd answers on %s (%s); start it with "
		    "agentd --socket %s &\n", sock_path, strerror(errno), sock_path);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a.next_id = 1;
	a.next_client_id = 1;
	a.pending = json_object();
	a.perms = json_object();
	rpc_framer_init(&a.in_fr, ACP_MAX_LINE);
	rpc_framer_init(&a.sock_fr, ACP_MAX_LINE);
	while (!a.quit) {
		struct pollfd pf[2] = { { STDIN_FILENO, POLLIN, 0 }, { a.sock, POLLIN, 0 } };
		ssize_t n;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents) {
			n = read(a.sock, buf, sizeof(buf));
			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				fprintf(stderr, "agentctl acp: agentd closed the connection\n");
				if (a.turn_id != NULL)
					reply_error(a.turn_id, RPC_INTERNAL_ERROR, "agentd went away");
				break;
			}
			if (n > 0 && rpc_framer_feed(&a.sock_fr, buf, (size_t)n, from_agentd, &a) != 0)
				break;
		}
		if (pf[0].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n == 0)
				break;	/* the editor closed: its runs go on in agentd */
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (rpc_framer_feed(&a.in_fr, buf, (size_t)n, from_editor, &a) != 0) {
				out_line(rpc_error_line(json_null(), RPC_INVALID_REQUEST,
				    "line too long", NULL));
				break;
			}
		}
	}
	json_decref(a.turn_id);
	json_decref(a.pending);
	json_decref(a.perms);
	rpc_framer_free(&a.in_fr);
	rpc_framer_free(&a.sock_fr);
	close(a.sock);
	return 0;
}
