/*
 * methods.c — agentd's JSON-RPC methods (docs/protocol.md), one table.
 *
 * Handlers run on the main thread: they validate, do quick bounded work on
 * the journal through the main thread's connection, and hand long work to
 * runner.c: runs and tool calls to their threads, reads that grow with the
 * journal (j_* functions) to the journal read pool. Nothing here blocks on
 * the model or a child process (docs/architecture.md lists each method).
 */
#include "daemon/server.h"
#include "daemon/runner.h"
#include "daemon/sched.h"
#include "daemon/chore.h"
#include "daemon/log.h"
#include "tools/tools.h"
#include "tools/mcp.h"
#include "common/buf.h"
#include "common/json.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define D(ctx) ((struct agentd *)(ctx))

static const char *const final_states[] = { "succeeded", "failed", "cancelled", "interrupted", NULL };

static int
is_final(const char *status)
{
	int i;

	for (i = 0; final_states[i]; i++)
		if (strcmp(status, final_states[i]) == 0)
			return 1;
	return 0;
}

/* Map a module error to a JSON-RPC failure. */
static enum rpc_status
fail_err(struct rpc_call *call, int rc, const struct agentd_error *err)
{
	return rpc_fail(call, rpc_code_for_err(rc), "%s", agentd_errmsg(err));
}

/* Hand a read to a journal worker; the answer comes from there. */
static enum rpc_status
defer_read(struct agentd *d, struct rpc_call *call, runner_journal_fn fn, runner_journal_post post)
{
	struct agentd_error err;
	int rc;

	if (call->id == NULL)
		return rpc_fail(call, RPC_INVALID_REQUEST, "%s needs an id", call->method);
	agentd_error_clear(&err);
	rc = runner_journal_call(d->runner, server_conn_id(call->conn), call->id, call->params, fn,
	    post, &err);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	return RPC_DEFERRED;
}

/* The "workspace" param resolved to a real path when it exists (buf holds it). */
static const char *
param_workspace(const json_t *params, char buf[PATH_MAX])
{
	const char *ws = ajson_str(params, "workspace", NULL);

	return ws && realpath(ws, buf) ? buf : ws;
}

/* A listing's "limit": dflt when absent, else clamped to 1..10000. */
static int
param_limit(const json_t *params, int dflt)
{
	json_int_t v = ajson_int(params, "limit", dflt);

	return v < 1 ? 1 : v > 10000 ? 10000 : (int)v;
}

/* ---- daemon.status ---- */

static enum rpc_status
m_status(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct server_stats st;

	server_stats(d->srv, &st);
	call->result = json_pack("{s:s, s:i, s:f, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:o}",
	    "version", PACKAGE_VERSION, "pid", (int)getpid(), "uptime_s", ajson_now() - d->started,
	    "socket", d->cfg.socket_path, "state_dir", d->cfg.state_dir, "database", d->db_path,
	    "runs_active", runner_count(d->runner), "clients", server_conn_count(d->srv),
	    "queued_out_bytes", (json_int_t)st.queued_out, "queued_in_bytes", (json_int_t)st.queued_in,
	    "clients_dropped", (json_int_t)st.dropped, "config", config_summary(&d->cfg));
	return RPC_DONE;
}

/* ---- starting runs (shared by run.start and the scheduler) ---- */

static int
valid_branch_name(const char *b)
{
	const char *p;

	if (*b == '\0')
		return 1;	/* default name */
	if (*b == '-' || *b == '/' || strstr(b, "..") || strstr(b, "//") || strstr(b, "@{") ||
	    b[strlen(b) - 1] == '/' || b[strlen(b) - 1] == '.' || strlen(b) > 200)
		return 0;
	for (p = b; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("~^:?*[\\\x7f", *p))
			return 0;
	return 1;
}

static const char *const option_keys[] = {
	"policy", "network", "approval", "max_steps", "max_wall_s", "max_tokens", "model",
	"tools", "stream", "unattended", "context_window", "project_doc", "mcp", NULL
};

/* Tools the loop itself answers, besides those in the tools table. */
static const char *const loop_tools[] = { "update_plan", "recall", "skill", NULL };

/* Every name in 'tools' is a tool this daemon has: a misspelt one would
 * silently leave the run without it. */
static int
check_tool_names(const json_t *tools, struct agentd_error *err)
{
	size_t i, k;
	json_t *t;

	if (!json_is_array(tools))
		return agentd_seterr(err, AGENTD_EINVAL, "'tools' must be an array of tool names");
	json_array_foreach(tools, i, t) {
		const char *name = json_string_value(t);
		int known;

		if (name == NULL)
			return agentd_seterr(err, AGENTD_EINVAL, "'tools'[%zu] must be a string "
			    "(a tool name)", i);
		known = tools_find(name) != NULL;
		for (k = 0; !known && loop_tools[k]; k++)
			known = strcmp(loop_tools[k], name) == 0;
		if (!known)
			return agentd_seterr(err, AGENTD_EINVAL, "'tools'[%zu]: no tool named "
			    "'%.64s' (agentctl tools lists them)", i, name);
	}
	return AGENTD_OK;
}

/* Counts are whole numbers in 1..1e9, max_wall_s seconds in (0, 1e9]. */
static int
check_run_options(const json_t *options, struct agentd_error *err)
{
	static const char *const counts[] = { "max_steps", "max_tokens", "context_window", NULL };
	json_t *v;
	size_t i;

	for (i = 0; counts[i]; i++) {
		v = json_object_get(options, counts[i]);
		if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000000000))
			return agentd_seterr(err, AGENTD_EINVAL, "'%s' must be a whole number "
			    "from 1 to 1000000000", counts[i]);
	}
	v = json_object_get(options, "max_wall_s");
	if (v != NULL && (!json_is_number(v) || !(json_number_value(v) > 0) ||
	    json_number_value(v) > 1e9))
		return agentd_seterr(err, AGENTD_EINVAL, "'max_wall_s' must be a number of "
		    "seconds above 0 and at most 1000000000");
	v = json_object_get(options, "tools");
	if (v != NULL)
		return check_tool_names(v, err);
	return AGENTD_OK;
}

/*
 * The daemon's user can use the workspace (read, enter, and write unless the
 * policy is read-only), and it is not the daemon's own state directory.
 */
static int
check_workspace(const struct agentd *d, const char *ws, const json_t *options,
    struct agentd_error *err)
{
	char sd[PATH_MAX];
	const char *pol = ajson_str(options, "policy", NULL);
	int need = R_OK | X_OK;

	if (pol == NULL || strcmp(pol, "read-only") != 0)
		need |= W_OK;
	if (access(ws, need) != 0)
		return agentd_seterr(err, AGENTD_EINVAL, "workspace %s is not %s by agentd's "
		    "user (%s)", ws, (need & W_OK) ? "readable and writable" : "readable",
		    strerror(errno));
	if (d->cfg.state_dir && realpath(d->cfg.state_dir, sd) != NULL) {
		if (buf_path_within(ws, sd))
			return agentd_seterr(err, AGENTD_EINVAL, "workspace %s is inside agentd's "
			    "state directory %s", ws, sd);
	}
	return AGENTD_OK;
}

/*
 * Create (or continue) a session and a run from a spec
 * {workspace, task, session_id?, branch?, chore?, options…} and start it.
 */
static int
start_run(struct agentd *d, json_t *spec, int64_t job_id, int64_t *run_id,
    int64_t *session_id, struct agentd_error *err)
{
	char ws[PATH_MAX], title[81];
	struct memory_run_spec rs;
	const char *task = ajson_str(spec, "task", NULL), *wsarg = ajson_str(spec, "workspace", NULL);
	const char *branch = NULL, *pol;
	json_t *options = NULL, *v, *session = NULL, *chore = json_object_get(spec, "chore");
	enum sandbox_policy p;
	int64_t sid = ajson_int(spec, "session_id", 0), rid = 0;
	struct stat st;
	size_t i;
	int rc;

	if (sid > 0) {
		rc = memory_session_get(d->mem, sid, &session, err);
		if (rc != AGENTD_OK)
			return rc;
		if (wsarg == NULL)
			wsarg = ajson_str(session, "workspace", NULL);
	}
	if (wsarg == NULL || realpath(wsarg, ws) == NULL || stat(ws, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = agentd_seterr(err, AGENTD_EINVAL, "workspace '%s' is not an existing directory",
		    wsarg ? wsarg : "");
		goto out;
	}
	if (session && strcmp(ajson_str(session, "workspace", ""), ws) != 0) {
		rc = agentd_seterr(err, AGENTD_EINVAL, "session %lld belongs to workspace %s",
		    (long long)sid, ajson_str(session, "workspace", ""));
		goto out;
	}
	options = json_object();
	if (json_is_object(chore)) {
		if ((rc = chore_validate(chore, err)) != AGENTD_OK)
			goto out;
		if (task == NULL)
			task = ajson_str(chore, "prompt", NULL);
		if ((v = json_object_get(chore, "tools")))
			json_object_set(options, "tools", v);
		if ((v = json_object_get(chore, "policy")))
			json_object_set(options, "policy", v);
		if ((v = json_object_get(chore, "network")))
			json_object_set(options, "network", v);
		if (json_is_object(v = json_object_get(chore, "limits")))
			json_object_update(options, v);
		if ((v = json_object_get(chore, "branch")) && json_object_get(spec, "branch") == NULL)
			json_object_set(spec, "branch", v);
		if ((v = json_object_get(chore, "name")))
			json_object_set(options, "chore", v);
		if ((v = json_object_get(chore, "mcp")))
			json_object_set(options, "mcp", v);
		if (json_is_array(v = json_object_get(chore, "skills")))
			json_object_set(options, "load_skills", v);
	}
	if (task == NULL || *task == '\0') {
		rc = agentd_seterr(err, AGENTD_EINVAL, "a task (or a chore with a prompt) is required");
		goto out;
	}
	for (i = 0; option_keys[i]; i++)
		if ((v = json_object_get(spec, option_keys[i])) && !json_is_null(v))
			json_object_set(options, option_keys[i], v);
	if ((pol = ajson_str(options, "policy", NULL)) && sandbox_policy_parse(pol, &p) != AGENTD_OK) {
		rc = agentd_seterr(err, AGENTD_EINVAL, "policy must be read-only, workspace-write or full-access");
		goto out;
	}
	if ((rc = check_run_options(options, err)) != AGENTD_OK ||
	    (rc = check_workspace(d, ws, options, err)) != AGENTD_OK)
		goto out;
	if (json_is_array(v = json_object_get(options, "mcp")) &&
	    (rc = mcp_servers_check_names(v, err)) != AGENTD_OK)
		goto out;
	if ((pol = ajson_str(options, "approval", NULL)) && strcmp(pol, "never") && strcmp(pol, "ask")) {
		rc = agentd_seterr(err, AGENTD_EINVAL, "approval must be \"never\" or \"ask\"");
		goto out;
	}
	v = json_object_get(spec, "branch");
	if (json_is_true(v))
		branch = "";
	else if (json_is_string(v)) {
		branch = json_string_value(v);
		if (!valid_branch_name(branch)) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "'%s' is not a valid branch name", branch);
			goto out;
		}
	}
	if (branch != NULL && job_id == 0) {
		/* Asked by hand: refuse now rather than start a run that fails
		 * at its set-up (a job's run fails and its status says why). */
		struct agentd_error ge;
		char oid[41], cur[256];

		agentd_error_clear(&ge);
		if (tools_git_head(ws, oid, cur, sizeof(cur), &ge) != AGENTD_OK) {
			rc = agentd_seterr(err, AGENTD_EINVAL, "workspace %s: a run on its own branch "
			    "needs a git repository; run it in place, or make one (git init) "
			    "(%.900s)", ws, agentd_errmsg(&ge));
			goto out;
		}
	}
	if (sid == 0) {
		snprintf(title, sizeof(title), "%s", task);
		/* Cut on a character boundary: the title must stay UTF-8. */
		i = strlen(title);
		if (i < strlen(task))
			while (i > 0 && ((unsigned char)task[i] & 0xC0) == 0x80)
				title[--i] = '\0';
		for (i = 0; title[i]; i++)
			if (title[i] == '\n' || title[i] == '\r')
				title[i] = ' ';
		if ((rc = memory_session_create(d->mem, title, ws, &sid, err)) != AGENTD_OK)
			goto out;
	}
	memset(&rs, 0, sizeof(rs));
	rs.session_id = sid;
	rs.workspace = ws;
	rs.task = task;
	rs.branch = branch;
	rs.options = options;
	rs.job_id = job_id;
	if ((rc = memory_run_create(d->mem, &rs, &rid, err)) != AGENTD_OK)
		goto out;
	if (d->cfg.max_active_runs > 0 && runner_count(d->runner) >= d->cfg.max_active_runs) {
		/* It waits, queued; agentd_start_queued starts it when a run ends. */
		log_info("run %lld queued in %s (%d runs active, max_active_runs %d)", (long long)rid,
		    ws, runner_count(d->runner), d->cfg.max_active_runs);
	} else if ((rc = runner_start(d->runner, rid, err)) != AGENTD_OK) {
		memory_run_set_status(d->mem, rid, "failed", agentd_errmsg(err), NULL);
		goto out;
	} else {
		log_info("run %lld started in %s (session %lld%s%s)", (long long)rid, ws,
		    (long long)sid, job_id ? ", scheduled" : "", branch ? ", own branch" : "");
	}
	*run_id = rid;
	*session_id = sid;
	rc = AGENTD_OK;
out:
	json_decref(session);
	json_decref(options);
	return rc;
}

/* Start queued runs, oldest first, while there is room. */
void
agentd_start_queued(struct agentd *d)
{
	struct memory_run_filter f = { .status = "queued", .limit = 10000 };
	struct agentd_error err;
	json_t *runs = NULL;
	size_t i;
	int64_t id;

	agentd_error_clear(&err);
	if (d->stopping || memory_run_list(d->mem, &f, &runs, &err) != AGENTD_OK) {
		json_decref(runs);
		return;
	}
	for (i = json_array_size(runs); i > 0; i--) {	/* newest first: walk backwards */
		if (d->cfg.max_active_runs > 0 && runner_count(d->runner) >= d->cfg.max_active_runs)
			break;
		id = ajson_int(json_array_get(runs, i - 1), "id", 0);
		if (runner_active(d->runner, id))
			continue;
		agentd_error_clear(&err);
		if (runner_start(d->runner, id, &err) != AGENTD_OK) {
			log_error("cannot start queued run %lld: %s", (long long)id, agentd_errmsg(&err));
			memory_run_set_status(d->mem, id, "failed", agentd_errmsg(&err), NULL);
		} else {
			log_info("queued run %lld started", (long long)id);
		}
	}
	json_decref(runs);
}

/* Active, or queued and waiting for a slot. */
int
agentd_run_pending(struct agentd *d, int64_t id)
{
	json_t *run = NULL;
	int queued;

	if (runner_active(d->runner, id))
		return 1;
	if (memory_run_get(d->mem, id, &run, NULL) != AGENTD_OK)
		return 0;
	queued = strcmp(ajson_str(run, "status", ""), "queued") == 0;
	json_decref(run);
	return queued;
}

static const struct rpc_param p_run_start[] = {
	{ "workspace", RPC_T_STR, 0, 0, 0 }, { "task", RPC_T_STR, 0, 0, 0 }, { "session_id", RPC_T_INT, 0, RPC_ID },
	{ "branch", RPC_T_STR_OR_BOOL, 0, 0, 0 }, { "policy", RPC_T_STR, 0, 0, 0 }, { "network", RPC_T_BOOL, 0, 0, 0 },
	{ "approval", RPC_T_STR, 0, 0, 0 }, { "max_steps", RPC_T_INT, 0, 0, 0 }, { "max_wall_s", RPC_T_NUM, 0, 0, 0 },
	{ "max_tokens", RPC_T_INT, 0, 0, 0 }, { "model", RPC_T_STR, 0, 0, 0 }, { "tools", RPC_T_ARR, 0, 0, 0 },
	{ "chore", RPC_T_OBJ, 0, 0, 0 }, { "detach", RPC_T_BOOL, 0, 0, 0 }, { "stream", RPC_T_BOOL, 0, 0, 0 },
	{ "context_window", RPC_T_INT, 0, 0, 0 }, { "project_doc", RPC_T_BOOL, 0, 0, 0 },
	{ "mcp", RPC_T_ARR, 0, 0, 0 }, { NULL, 0, 0, 0, 0 }
};

static enum rpc_status
m_run_start(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	int64_t run_id = 0, sid = 0;
	json_t *spec;
	int rc, detach = ajson_bool(call->params, "detach", 0);

	if (d->stopping)
		return rpc_fail(call, RPC_UNAVAILABLE, "agentd is shutting down");
	if (ajson_str(call->params, "workspace", NULL) == NULL &&
	    ajson_int(call->params, "session_id", 0) == 0)
		return rpc_fail(call, RPC_INVALID_PARAMS, "missing required param 'workspace' (a string)");
	if (detach)
		json_object_set_new(call->params, "unattended", json_true());
	spec = json_deep_copy(call->params);
	agentd_error_clear(&err);
	/* Subscribe before the worker can emit its first event. */
	rc = start_run(d, spec, 0, &run_id, &sid, &err);
	json_decref(spec);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	if (!detach)
		server_subscribe(d->srv, server_conn_id(call->conn), run_id);
	call->result = json_pack("{s:I, s:I, s:s}", "run_id", (json_int_t)run_id,
	    "session_id", (json_int_t)sid, "status",
	    runner_active(d->runner, run_id) ? "running" : "queued");
	return RPC_DONE;
}

static const struct rpc_param p_id[] = { { "id", RPC_T_INT, 1, RPC_ID }, { NULL, 0, 0, 0, 0 } };
/* Methods without params: an unknown one is refused (-32602), as for the others. */
static const struct rpc_param p_none[] = { { NULL, 0, 0, 0, 0 } };

static enum rpc_status
m_run_cancel(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	int64_t id = ajson_int(call->params, "id", 0);
	json_t *run = NULL;
	int rc;

	if (runner_cancel(d->runner, id) == AGENTD_OK) {
		call->result = json_pack("{s:I, s:b}", "id", (json_int_t)id, "cancelled", 1);
		return RPC_DONE;
	}
	agentd_error_clear(&err);
	rc = memory_run_get(d->mem, id, &run, &err);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	if (is_final(ajson_str(run, "status", ""))) {
		rpc_fail(call, RPC_BUSY, "run %lld already ended (%s)", (long long)id,
		    ajson_str(run, "status", ""));
		json_decref(run);
		return RPC_FAILED;
	}
	json_decref(run);
	rc = memory_run_set_status(d->mem, id, "cancelled", "cancelled before it started", &err);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	{
		/* Nobody else will: the run never started, so its clients hear the end here. */
		char *line = rpc_notify_line("run.event", json_pack("{s:I, s:s, s:{s:s, s:s}, s:f}",
		    "run_id", (json_int_t)id, "type", "end", "data", "status", "cancelled",
		    "reason", "cancelled before it started", "time", ajson_now()));

		if (line)
			server_publish(d->srv, id, line);
		free(line);
	}
	call->result = json_pack("{s:I, s:b}", "id", (json_int_t)id, "cancelled", 1);
	return RPC_DONE;
}

/* On a journal worker: a long run has many tool calls. */
static int
j_run_get(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	int64_t id = ajson_int(params, "id", 0);
	json_t *run = NULL, *plan = NULL, *tools = NULL;
	int rc;

	if ((rc = memory_run_get(m, id, &run, err)) != AGENTD_OK)
		return rc;
	if (memory_plan_latest(m, id, &plan, err) == AGENTD_OK && plan)
		json_object_set_new(run, "plan", plan);
	if (memory_tool_list(m, id, &tools, err) == AGENTD_OK)
		json_object_set_new(run, "tool_calls", tools);
	/* what the loop knew when the request came ("@" params are the loop's) */
	json_object_set_new(run, "active", json_boolean(ajson_bool(params, "@active", 0)));
	*result = run;
	return AGENTD_OK;
}

static enum rpc_status
m_run_get(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);

	json_object_set_new(call->params, "@active",
	    json_boolean(runner_active(d->runner, ajson_int(call->params, "id", 0))));
	return defer_read(d, call, j_run_get, NULL);
}

static const struct rpc_param p_run_list[] = {
	{ "status", RPC_T_STR, 0, 0, 0 }, { "session_id", RPC_T_INT, 0, RPC_ID }, { "job_id", RPC_T_INT, 0, RPC_ID },
	{ "limit", RPC_T_INT, 0, RPC_LIMIT }, { NULL, 0, 0, 0, 0 }
};

/* A running run that waits for an approval says so: "waiting": "approval N"
 * (reqs: runner_approvals, borrowed). */
static void
mark_waiting(json_t *reqs, json_t *runs)
{
	json_t *q, *r;
	size_t i, j;
	char buf[48];

	json_array_foreach(reqs, i, q) {
		json_array_foreach(runs, j, r) {
			if (ajson_int(r, "id", 0) != ajson_int(q, "run_id", -1))
				continue;
			snprintf(buf, sizeof(buf), "approval %lld", (long long)ajson_int(q, "request_id", 0));
			json_object_set_new(r, "waiting", json_string(buf));
		}
	}
}

/* On a journal worker: up to 10,000 runs, each with its task. */
static int
j_run_list(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	struct memory_run_filter f;
	json_t *runs = NULL;
	int rc;

	memset(&f, 0, sizeof(f));
	f.status = ajson_str(params, "status", NULL);
	f.session_id = ajson_int(params, "session_id", 0);
	f.job_id = ajson_int(params, "job_id", 0);
	f.limit = param_limit(params, 100);
	if ((rc = memory_run_list(m, &f, &runs, err)) != AGENTD_OK)
		return rc;
	mark_waiting(json_object_get(params, "@approvals"), runs);
	*result = json_pack("{s:o}", "runs", runs);
	return AGENTD_OK;
}

static enum rpc_status
m_run_list(void *ctx, struct rpc_call *call)
{
	json_t *reqs = runner_approvals(D(ctx)->runner);

	if (reqs == NULL)
		return rpc_fail(call, RPC_INTERNAL_ERROR, "out of memory");
	json_object_set_new(call->params, "@approvals", reqs);
	return defer_read(D(ctx), call, j_run_list, NULL);
}

static const struct rpc_param p_events[] = {
	{ "id", RPC_T_INT, 1, RPC_ID }, { "after", RPC_T_INT, 0, RPC_OFFSET }, { NULL, 0, 0, 0, 0 }
};

/* On a journal worker: a long run has many events. */
static int
j_run_events(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	json_t *ev = NULL;
	int rc;

	rc = memory_event_list(m, ajson_int(params, "id", 0), ajson_int(params, "after", 0), &ev,
	    err);
	if (rc != AGENTD_OK)
		return rc;
	*result = json_pack("{s:o}", "events", ev);
	return AGENTD_OK;
}

static enum rpc_status
m_run_events(void *ctx, struct rpc_call *call)
{
	return defer_read(D(ctx), call, j_run_events, NULL);
}

/* On a journal worker: the stored events of a run, however many. */
static int
j_run_attach(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	int64_t id = ajson_int(params, "id", 0);
	json_t *run = NULL, *ev = NULL;
	int rc;

	if ((rc = memory_run_get(m, id, &run, err)) != AGENTD_OK)
		return rc;
	if ((rc = memory_event_list(m, id, 0, &ev, err)) != AGENTD_OK) {
		json_decref(run);
		return rc;
	}
	*result = json_pack("{s:o, s:o}", "run", run, "events", ev);
	return AGENTD_OK;
}

/*
 * On the loop: subscribe while the run is active, then add the events
 * stored since the worker read them (the few that came in between), so
 * that stored and live events meet with nothing lost.
 */
static void
p_run_attach(struct agentd *d, uint64_t conn_id, json_t *params, json_t *result)
{
	int64_t id = ajson_int(params, "id", 0), last;
	json_t *ev = json_object_get(result, "events"), *more = NULL, *e;
	size_t i;
	int pending = agentd_run_pending(d, id);

	json_object_set_new(json_object_get(result, "run"), "active", json_boolean(pending));
	if (!pending)
		return;
	server_subscribe(d->srv, conn_id, id);
	last = ajson_int(json_array_get(ev, json_array_size(ev) - 1), "seq", 0);
	if (json_array_size(ev) == 0)
		last = 0;
	if (memory_event_list(d->mem, id, last, &more, NULL) == AGENTD_OK)
		json_array_foreach(more, i, e)
			json_array_append(ev, e);
	json_decref(more);
}

static enum rpc_status
m_run_attach(void *ctx, struct rpc_call *call)
{
	return defer_read(D(ctx), call, j_run_attach, p_run_attach);
}

/* On a journal worker: the audit hashes every event of the run again. */
static int
j_run_audit(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	int64_t id = ajson_int(params, "id", 0), bad = 0, count = 0;
	json_t *run = NULL;
	int ok = 0, rc;

	if ((rc = memory_run_get(m, id, &run, err)) != AGENTD_OK)
		return rc;
	json_decref(run);
	if ((rc = memory_audit(m, id, &ok, &bad, &count, err)) != AGENTD_OK)
		return rc;
	*result = json_pack("{s:I, s:b, s:I, s:I}", "run_id", (json_int_t)id, "ok", ok,
	    "events", (json_int_t)count, "first_bad_seq", (json_int_t)bad);
	return AGENTD_OK;
}

static enum rpc_status
m_run_audit(void *ctx, struct rpc_call *call)
{
	return defer_read(D(ctx), call, j_run_audit, NULL);
}

static enum rpc_status
m_run_undo(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	int64_t id = ajson_int(call->params, "id", 0);
	json_t *run = NULL;
	const char *branch, *base, *end, *ws, *wt, *head_branch;
	int rc;

	agentd_error_clear(&err);
	if ((rc = memory_run_get(d->mem, id, &run, &err)) != AGENTD_OK)
		return fail_err(call, rc, &err);
	if (runner_active(d->runner, id) || !is_final(ajson_str(run, "status", ""))) {
		json_decref(run);
		return rpc_fail(call, RPC_BUSY, "run %lld is still active; cancel it first", (long long)id);
	}
	ws = ajson_str(run, "workspace", "");
	branch = ajson_str(run, "branch", NULL);
	base = ajson_str(run, "base_oid", NULL);
	wt = ajson_str(run, "worktree", NULL);
	if (branch && *branch && wt && *wt) {
		struct stat st;

		if (stat(wt, &st) == 0 && (rc = tools_worktree_remove(ws, wt, &err)) != AGENTD_OK)
			goto fail;
		if ((rc = tools_git_branch_delete(ws, branch, &err)) != AGENTD_OK)
			goto fail;
		call->result = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "undone", "branch",
		    "branch", branch);
		json_decref(run);
		return RPC_DONE;
	}
	/* Worked in place: move the branch back if nobody committed on top since.
	 * Nothing to undo is a state conflict (-32003), not a missing run. */
	end = ajson_str(run, "end_oid", NULL);
	head_branch = branch;
	if (base == NULL || end == NULL || head_branch == NULL || *head_branch == '\0') {
		json_decref(run);
		return rpc_fail(call, RPC_BUSY,
		    "run %lld recorded no branch or commits to undo", (long long)id);
	}
	if (strcmp(base, end) == 0) {
		json_decref(run);
		return rpc_fail(call, RPC_BUSY, "run %lld made no commits; nothing to undo", (long long)id);
	}
	if ((rc = tools_git_branch_reset(ws, head_branch, base, end, &err)) != AGENTD_OK)
		goto fail;
	call->result = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "undone", "reset",
	    "branch", head_branch, "to", base);
	json_decref(run);
	return RPC_DONE;
fail:
	json_decref(run);
	return fail_err(call, rc, &err);
}

/* ---- sessions ---- */

static const struct rpc_param p_session_list[] = {
	{ "workspace", RPC_T_STR, 0, 0, 0 }, { "limit", RPC_T_INT, 0, RPC_LIMIT }, { NULL, 0, 0, 0, 0 }
};

static enum rpc_status
m_session_list(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	char real[PATH_MAX];
	const char *ws = param_workspace(call->params, real);
	json_t *out = NULL;
	int rc;

	agentd_error_clear(&err);
	rc = memory_session_list(d->mem, ws, param_limit(call->params, 100), &out, &err);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	call->result = json_pack("{s:o}", "sessions", out);
	return RPC_DONE;
}

static const struct rpc_param p_session_create[] = {
	{ "workspace", RPC_T_STR, 1, 0, 0 }, { "title", RPC_T_STR, 0, 0, 0 }, { NULL, 0, 0, 0, 0 }
};

/* An empty session (editors open one before the first prompt). */
static enum rpc_status
m_session_create(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	char real[PATH_MAX];
	const char *title = ajson_str(call->params, "title", "");
	struct stat st;
	int64_t id = 0;
	int rc;

	if (realpath(ajson_str(call->params, "workspace", ""), real) == NULL ||
	    stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
		return rpc_fail(call, RPC_INVALID_PARAMS, "workspace '%.400s' is not an existing "
		    "directory", ajson_str(call->params, "workspace", ""));
	if (strlen(title) > 1000)
		return rpc_fail(call, RPC_INVALID_PARAMS, "title is longer than 1000 bytes");
	agentd_error_clear(&err);
	rc = memory_session_create(d->mem, title, real, &id, &err);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	call->result = json_pack("{s:I, s:s}", "id", (json_int_t)id, "workspace", real);
	return RPC_DONE;
}

/*
 * Long sessions are read a page at a time, so that no request holds the
 * loop (and every other client) for long: at most `limit` messages after
 * `after_seq`, and no more than about PAGE_TEXT bytes of their text (at
 * least one message). The escaped JSON of a page stays well inside a reply.
 */
#define PAGE_TEXT (4u * 1024 * 1024)
#define PAGE_DEFAULT 500
#define PAGE_MAX 1000

static size_t
msg_text_size(json_t *m)
{
	json_t *tc = json_object_get(m, "tool_calls");
	size_t n = 64;
	size_t i;
	json_t *c;

	n += strlen(ajson_str(m, "content", "")) + strlen(ajson_str(m, "reasoning", ""));
	json_array_foreach(tc, i, c)
		n += 64 + strlen(ajson_str(json_object_get(c, "function"), "arguments", ""));
	return n;
}

/* One page of a session's messages: *next is the after_seq of the next
 * page, 0 when this one is the last. New reference or NULL with err. */
static json_t *
msg_page(struct memory *m, int64_t id, int64_t after_seq, int64_t limit, int64_t *next,
    int *rc, struct agentd_error *err)
{
	json_t *rows = NULL, *page;
	size_t i, bytes = 0;

	*next = 0;
	if ((*rc = memory_msg_page(m, id, after_seq, limit + 1, &rows, err)) != AGENTD_OK)
		return NULL;
	page = json_array();
	for (i = 0; i < json_array_size(rows) && page != NULL; i++) {
		json_t *row = json_array_get(rows, i);
		size_t sz = msg_text_size(row);

		if ((int64_t)i == limit || (i > 0 && bytes + sz > PAGE_TEXT)) {
			*next = ajson_int(json_array_get(page, i - 1), "seq", 0);
			break;
		}
		bytes += sz;
		if (json_array_append(page, row) != 0) {
			json_decref(page);
			page = NULL;
		}
	}
	json_decref(rows);
	if (page == NULL)
		*rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
	return page;
}

/* Paging parameters: RPC_DONE, or RPC_FAILED with the error set. */
static enum rpc_status
page_params(struct rpc_call *call, int64_t *after_seq, int64_t *limit)
{
	*after_seq = ajson_int(call->params, "after_seq", 0);
	*limit = ajson_int(call->params, "limit", PAGE_DEFAULT);
	if (*after_seq < 0)
		return rpc_fail(call, RPC_INVALID_PARAMS, "after_seq must not be negative");
	if (*limit < 1 || *limit > PAGE_MAX)
		return rpc_fail(call, RPC_INVALID_PARAMS, "limit must be from 1 to %d", PAGE_MAX);
	return RPC_DONE;
}

/* session + its runs + one page of its messages (+ "next_seq" when more
 * follow); new reference or NULL with err. */
static json_t *
session_full(struct memory *m, int64_t id, int64_t after_seq, int64_t limit, int *rc,
    struct agentd_error *err)
{
	struct memory_run_filter f = { .session_id = id, .limit = 10000 };
	json_t *s = NULL, *runs = NULL, *msgs = NULL, *rev;
	int64_t next = 0;
	size_t i;

	if ((*rc = memory_session_get(m, id, &s, err)) != AGENTD_OK)
		return NULL;
	if ((*rc = memory_run_list(m, &f, &runs, err)) != AGENTD_OK ||
	    (msgs = msg_page(m, id, after_seq, limit, &next, rc, err)) == NULL) {
		json_decref(s);
		json_decref(runs);
		return NULL;
	}
	if (next > 0)
		json_object_set_new(s, "next_seq", json_integer(next));
	/* Oldest run first reads better in a transcript. */
	rev = json_array();
	for (i = json_array_size(runs); i > 0; i--)
		json_array_append(rev, json_array_get(runs, i - 1));
	json_decref(runs);
	json_object_set_new(s, "runs", rev);
	json_object_set_new(s, "messages", msgs);
	return s;
}

static const struct rpc_param p_session_get[] = {
	{ "id", RPC_T_INT, 1, RPC_ID }, { "after_seq", RPC_T_INT, 0, RPC_OFFSET }, { "limit", RPC_T_INT, 0, RPC_LIMIT },
	{ NULL, 0, 0, 0, 0 }
};

/* On a journal worker: a page may hold megabytes of text. */
static int
j_session_get(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	int rc = AGENTD_OK;

	*result = session_full(m, ajson_int(params, "id", 0), ajson_int(params, "after_seq", 0),
	    ajson_int(params, "limit", PAGE_DEFAULT), &rc, err);
	return *result ? AGENTD_OK : rc;
}

static enum rpc_status
m_session_get(void *ctx, struct rpc_call *call)
{
	int64_t after, limit;

	if (page_params(call, &after, &limit) != RPC_DONE)
		return RPC_FAILED;
	return defer_read(D(ctx), call, j_session_get, NULL);
}

static enum rpc_status
m_session_delete(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct memory_run_filter f;
	struct agentd_error err;
	int64_t id = ajson_int(call->params, "id", 0);
	json_t *runs = NULL, *r;
	size_t i;
	int rc;

	memset(&f, 0, sizeof(f));
	f.session_id = id;
	f.limit = 10000;
	agentd_error_clear(&err);
	if ((rc = memory_run_list(d->mem, &f, &runs, &err)) != AGENTD_OK)
		return fail_err(call, rc, &err);
	json_array_foreach(runs, i, r) {
		int64_t rid = ajson_int(r, "id", 0);

		/* rid is copied out: r belongs to runs, freed before the reply. */
		if (runner_active(d->runner, rid)) {
			json_decref(runs);
			return rpc_fail(call, RPC_BUSY, "session %lld has an active run (%lld); cancel it first",
			    (long long)id, (long long)rid);
		}
	}
	json_decref(runs);
	if ((rc = memory_session_delete(d->mem, id, &err)) != AGENTD_OK)
		return fail_err(call, rc, &err);
	call->result = json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1);
	return RPC_DONE;
}

/* Transcripts are capped so that the reply fits a reply line (rpc.h). */
#define EXPORT_MAX (RPC_MAX_REPLY / 2)

static int
md_text(struct abuf *b, const char *label, const char *text)
{
	return abuf_printf(b, "**%s:**\n\n%s\n\n", label, text ? text : "");
}

/* A page of the markdown transcript: the heading on the first page only;
 * cur is the run of the message before the page (-1 on the first). */
static char *
export_markdown(json_t *s, int first, int64_t cur)
{
	struct abuf b;
	json_t *runs = json_object_get(s, "runs"), *msgs = json_object_get(s, "messages"), *r, *m, *tc;
	const char *role, *content;
	size_t i, j, k;
	int rc = AGENTD_OK;

	abuf_init(&b, EXPORT_MAX);
	if (first)
		rc = abuf_printf(&b, "# Session %lld: %s\n\n- workspace: `%s`\n- runs: %zu\n\n",
		    (long long)ajson_int(s, "id", 0), ajson_str(s, "title", ""),
		    ajson_str(s, "workspace", ""), json_array_size(runs));
	json_array_foreach(msgs, i, m) {
		int64_t rid = ajson_int(m, "run_id", 0);

		if (rid != cur) {
			cur = rid;
			json_array_foreach(runs, j, r)
				if (ajson_int(r, "id", 0) == rid)
					rc |= abuf_printf(&b, "## Run %lld — %s%s%s\n\n", (long long)rid,
					    ajson_str(r, "status", ""), ajson_str(r, "reason", NULL) ? ": " : "",
					    ajson_str(r, "reason", ""));
		}
		role = ajson_str(m, "role", "");
		content = ajson_str(m, "content", "");
		if (strcmp(role, "tool") == 0) {
			rc |= abuf_printf(&b, "**tool result** (`%s`):\n\n```\n%s\n```\n\n",
			    ajson_str(m, "tool_call_id", ""), content);
			continue;
		}
		if (strcmp(ajson_str(m, "kind", "message"), "summary") == 0) {
			rc |= md_text(&b, "summary of earlier turns", content);
			continue;
		}
		if (*content)
			rc |= md_text(&b, role, content);
		tc = json_object_get(m, "tool_calls");
		json_array_foreach(tc, k, r) {
			json_t *fn = json_object_get(r, "function");

			rc |= abuf_printf(&b, "**%s calls** `%s` (`%s`):\n\n```json\n%s\n```\n\n", role,
			    ajson_str(fn, "name", ""), ajson_str(r, "id", ""), ajson_str(fn, "arguments", ""));
		}
		if (rc != AGENTD_OK)
			break;
	}
	if (rc != AGENTD_OK) {
		abuf_free(&b);
		return NULL;
	}
	return abuf_steal(&b);
}

/* A page of the JSON lines transcript: the session and its runs on the
 * first page only. */
static char *
export_jsonl(json_t *s, int first)
{
	struct abuf b;
	json_t *head = json_deep_copy(s), *m;
	size_t i;
	char *line;
	int rc = AGENTD_OK;

	abuf_init(&b, EXPORT_MAX);
	json_object_del(head, "messages");
	json_object_del(head, "runs");
	json_object_del(head, "next_seq");
	json_object_set_new(head, "type", json_string("session"));
	line = first ? ajson_dumps(head) : NULL;
	if (first)
		rc = abuf_printf(&b, "%s\n", line ? line : "{}");
	free(line);
	json_decref(head);
	json_array_foreach(first ? json_object_get(s, "runs") : NULL, i, m) {
		json_t *o = json_deep_copy(m);

		json_object_set_new(o, "type", json_string("run"));
		line = ajson_dumps(o);
		rc |= abuf_printf(&b, "%s\n", line ? line : "{}");
		free(line);
		json_decref(o);
	}
	json_array_foreach(json_object_get(s, "messages"), i, m) {
		json_t *o = json_deep_copy(m);

		json_object_set_new(o, "type", json_string("message"));
		line = ajson_dumps(o);
		rc |= abuf_printf(&b, "%s\n", line ? line : "{}");
		free(line);
		json_decref(o);
	}
	if (rc != AGENTD_OK) {
		abuf_free(&b);
		return NULL;
	}
	return abuf_steal(&b);
}

static const struct rpc_param p_export[] = {
	{ "id", RPC_T_INT, 1, RPC_ID }, { "format", RPC_T_STR, 0, 0, 0 }, { "after_seq", RPC_T_INT, 0, RPC_OFFSET },
	{ "limit", RPC_T_INT, 0, RPC_LIMIT }, { NULL, 0, 0, 0, 0 }
};

/* On a journal worker: rendering a page of a long transcript takes time. */
static int
j_session_export(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	const char *fmt = ajson_str(params, "format", "markdown");
	int64_t id = ajson_int(params, "id", 0), after = ajson_int(params, "after_seq", 0);
	int64_t limit = ajson_int(params, "limit", PAGE_DEFAULT), prev_run = -1, next;
	json_t *s, *prev = NULL;
	char *text;
	int rc = AGENTD_OK;

	s = session_full(m, id, after, limit, &rc, err);
	if (s == NULL)
		return rc;
	/* A later page goes on under the run heading the last page ended in. */
	if (after > 0 && memory_msg_page(m, id, after - 1, 1, &prev, err) == AGENTD_OK &&
	    ajson_int(json_array_get(prev, 0), "seq", 0) == after)
		prev_run = ajson_int(json_array_get(prev, 0), "run_id", 0);
	json_decref(prev);
	next = ajson_int(s, "next_seq", 0);
	text = strcmp(fmt, "jsonl") == 0 ? export_jsonl(s, after == 0) :
	    export_markdown(s, after == 0, prev_run);
	json_decref(s);
	if (text == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM,
		    "session %lld: a page of the transcript is over %u bytes, too large for one "
		    "reply (or memory ran out); try a smaller limit", (long long)id, EXPORT_MAX);
	*result = json_pack("{s:s, s:s%}", "format", fmt, "text", text, strlen(text));
	if (*result != NULL && next > 0)
		json_object_set_new(*result, "next_seq", json_integer(next));
	free(text);
	if (*result == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "the transcript is not valid UTF-8");
	return AGENTD_OK;
}

static enum rpc_status
m_session_export(void *ctx, struct rpc_call *call)
{
	const char *fmt = ajson_str(call->params, "format", "markdown");
	int64_t after, limit;

	if (strcmp(fmt, "markdown") != 0 && strcmp(fmt, "jsonl") != 0)
		return rpc_fail(call, RPC_INVALID_PARAMS, "format must be \"markdown\" or \"jsonl\"");
	if (page_params(call, &after, &limit) != RPC_DONE)
		return RPC_FAILED;
	return defer_read(D(ctx), call, j_session_export, NULL);
}

/* ---- tools ---- */

static const struct rpc_param p_tools_list[] = {
	{ "workspace", RPC_T_STR, 0, 0, 0 }, { NULL, 0, 0, 0, 0 }
};

/* With a workspace and MCP servers configured, their tools too: the servers
 * may need starting, so off the loop thread. */
static enum rpc_status
m_tools_list(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	json_t *p;
	int rc;

	if (json_object_size(d->cfg.mcp_servers) == 0 || call->id == NULL ||
	    ajson_str(call->params, "workspace", NULL) == NULL) {
		call->result = json_pack("{s:o}", "tools", tools_list_json());
		return RPC_DONE;
	}
	p = json_pack("{s:s, s:s}", "what", "tools", "workspace",
	    ajson_str(call->params, "workspace", ""));
	agentd_error_clear(&err);
	rc = p ? runner_mcp(d->runner, server_conn_id(call->conn), call->id, p, &err) :
	    agentd_seterr(&err, AGENTD_ENOMEM, NULL);
	json_decref(p);
	return rc == AGENTD_OK ? RPC_DEFERRED : fail_err(call, rc, &err);
}

static enum rpc_status
m_mcp_list(void *ctx, struct rpc_call *call)
{
	call->result = json_pack("{s:o?}", "servers", mcp_servers_status());
	return call->result ? RPC_DONE : rpc_fail(call, RPC_INTERNAL_ERROR, "out of memory");
}

static const struct rpc_param p_mcp_test[] = {
	{ "name", RPC_T_STR, 1, 0, 0 }, { "workspace", RPC_T_STR, 1, 0, 0 }, { NULL, 0, 0, 0, 0 }
};

static enum rpc_status
m_mcp_test(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	json_t *p;
	int rc;

	if (call->id == NULL)
		return rpc_fail(call, RPC_INVALID_REQUEST, "mcp.test needs an id");
	p = json_pack("{s:s, s:s, s:s}", "what", "test", "name", ajson_str(call->params, "name", ""),
	    "workspace", ajson_str(call->params, "workspace", ""));
	agentd_error_clear(&err);
	rc = p ? runner_mcp(d->runner, server_conn_id(call->conn), call->id, p, &err) :
	    agentd_seterr(&err, AGENTD_ENOMEM, NULL);
	json_decref(p);
	return rc == AGENTD_OK ? RPC_DEFERRED : fail_err(call, rc, &err);
}

static const struct rpc_param p_tools_call[] = {
	{ "name", RPC_T_STR, 1, 0, 0 }, { "workspace", RPC_T_STR, 1, 0, 0 }, { "args", RPC_T_OBJ, 0, 0, 0 },
	{ "policy", RPC_T_STR, 0, 0, 0 }, { "network", RPC_T_BOOL, 0, 0, 0 }, { NULL, 0, 0, 0, 0 }
};

static enum rpc_status
m_tools_call(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	const char *name = ajson_str(call->params, "name", "");
	const struct tool_entry *t = tools_find(name);
	int rc;

	/* An MCP tool is known once its server has listed it; the runner's
	 * thread starts the servers and looks again (not here: it may take the
	 * servers' start-up time). */
	if (t == NULL && strncmp(name, "mcp__", 5) != 0)
		return rpc_fail(call, RPC_NOT_FOUND, "no tool named '%.100s' (agentctl tools "
		    "lists them)", name);
	if (t != NULL && (t->flags & TOOL_AGENT))
		return rpc_fail(call, RPC_INVALID_PARAMS,
		    "'%s' only makes sense inside a run (it talks to the loop)", name);
	{
		/* Arguments the tool would refuse are a bad request, answered here. */
		json_t *schema = t ? json_loads(t->schema, 0, NULL) : NULL, *args = json_object_get(call->params, "args");
		json_t *empty = json_object();

		agentd_error_clear(&err);
		rc = schema ? tools_validate(schema, args ? args : empty, &err) : AGENTD_OK;
		json_decref(schema);
		json_decref(empty);
		if (rc != AGENTD_OK)
			return rpc_fail(call, RPC_INVALID_PARAMS, "%s", err.msg);
	}
	if (call->id == NULL)
		return rpc_fail(call, RPC_INVALID_REQUEST, "tools.call needs an id");
	agentd_error_clear(&err);
	rc = runner_tool_call(d->runner, server_conn_id(call->conn), call->id, call->params, &err);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	return RPC_DEFERRED;
}

static enum rpc_status
m_doctor(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	int rc;

	if (call->id == NULL)
		return rpc_fail(call, RPC_INVALID_REQUEST, "daemon.doctor needs an id");
	agentd_error_clear(&err);
	rc = runner_doctor(d->runner, server_conn_id(call->conn), call->id, &err);
	if (rc != AGENTD_OK)
		return fail_err(call, rc, &err);
	return RPC_DEFERRED;
}

/* ---- memory ---- */

static const struct rpc_param p_search[] = {
	{ "query", RPC_T_STR, 1, 0, 0 }, { "workspace", RPC_T_STR, 0, 0, 0 }, { "limit", RPC_T_INT, 0, RPC_LIMIT },
	{ NULL, 0, 0, 0, 0 }
};

/* On a journal worker (runner_journal_call): a search may read much. */
static int
j_search(struct memory *m, json_t *params, json_t **result, struct agentd_error *err)
{
	char real[PATH_MAX];
	const char *ws = param_workspace(params, real);
	json_t *out = NULL;
	int rc;

	rc = memory_search(m, ajson_str(params, "query", ""), ws, param_limit(params, 20), &out,
	    err);
	if (rc != AGENTD_OK)
		return rc;
	*result = json_pack("{s:o}", "results", out);
	return AGENTD_OK;
}

static enum rpc_status
m_memory_search(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	const char *q = ajson_str(call->params, "query", "");

	/* What is wrong with the request is said at once, not after a thread. */
	if (strlen(q) > MEMORY_MAX_QUERY_BYTES)
		return rpc_fail(call, RPC_INVALID_PARAMS, "query: longer than %d bytes",
		    MEMORY_MAX_QUERY_BYTES);
	if (strspn(q, " \t\n\r\f\v") == strlen(q))
		return rpc_fail(call, RPC_INVALID_PARAMS, "the search query has no words");
	return defer_read(d, call, j_search, NULL);
}

/* ---- approvals ---- */

#define MAX_DENY_REASON 280	/* what the model is told of a person's denial */

static const struct rpc_param p_approval[] = {
	{ "run_id", RPC_T_INT, 0, RPC_ID }, { "request_id", RPC_T_INT, 1, RPC_ID }, { "allow", RPC_T_BOOL, 1, 0, 0 },
	{ "reason", RPC_T_STR, 0, 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};

static enum rpc_status
m_approval_respond(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	int64_t run = ajson_int(call->params, "run_id", 0), req = ajson_int(call->params, "request_id", 0);

	const char *why = ajson_str(call->params, "reason", NULL);

	if (why != NULL && strlen(why) > MAX_DENY_REASON)
		return rpc_fail(call, RPC_INVALID_PARAMS, "reason: longer than %d bytes",
		    MAX_DENY_REASON);
	if (runner_approve(d->runner, run, req, ajson_bool(call->params, "allow", 0), why) != AGENTD_OK)
		return run == 0 ? rpc_fail(call, RPC_NOT_FOUND, "no approval request %lld is waiting "
		    "(answered, timed out or unknown)", (long long)req) : rpc_fail(call, RPC_NOT_FOUND,
		    "no approval request %lld is waiting in run %lld (answered, timed out or unknown)",
		    (long long)req, (long long)run);
	call->result = json_pack("{s:b}", "recorded", 1);
	return RPC_DONE;
}

static enum rpc_status
m_approval_list(void *ctx, struct rpc_call *call)
{
	json_t *list = runner_approvals(D(ctx)->runner);

	if (list == NULL)
		return rpc_fail(call, RPC_INTERNAL_ERROR, "out of memory");
	call->result = json_pack("{s:o}", "requests", list);
	return RPC_DONE;
}

/* ---- schedules ---- */

static json_t *
job_with_next(struct agentd *d, json_t *job)
{
	time_t next = d->sched ? sched_next_fire(d->sched, job) : 0;

	json_object_set_new(job, "next_fire", next ? json_integer((json_int_t)next) : json_null());
	return job;
}

/* What start_run would refuse when the job fires is refused when it is added. */
static int
check_job_runnable(const struct agentd *d, const json_t *job, struct agentd_error *err)
{
	json_t *chore = json_object_get(job, "chore"), *tools;
	const char *ws = ajson_str(job, "workspace", "");
	struct agentd_error e;
	int rc;

	agentd_error_clear(&e);
	tools = json_is_object(chore) ? json_object_get(chore, "tools") : NULL;
	if (tools != NULL && !json_is_null(tools) && (rc = check_tool_names(tools, &e)) != AGENTD_OK)
		return agentd_seterr(err, rc, "chore: %s", e.msg);
	if (ws[0] == '/' && (rc = check_workspace(d, ws, job, &e)) != AGENTD_OK)
		return agentd_seterr(err, rc, "%s", e.msg);
	return AGENTD_OK;
}

/*
 * A job on a folder that is not a git repository is kept (in-place runs work
 * there), with a warning in the answer: branch runs need git, and nothing an
 * in-place run changes can be undone.
 */
static void
job_git_warning(json_t *job)
{
	struct agentd_error e;
	char oid[41], br[256], msg[1400];
	const char *ws = ajson_str(job, "workspace", "");

	agentd_error_clear(&e);
	if (ws[0] != '/' || tools_git_head(ws, oid, br, sizeof(br), &e) == AGENTD_OK)
		return;
	if (ajson_bool(job, "branch", 1))
		snprintf(msg, sizeof(msg), "%s is not a git repository that agentd can use: this "
		    "job's runs are branch runs, which need git, and will fail until it is one "
		    "(git init), or add the job with --in-place (%.900s)", ws, agentd_errmsg(&e));
	else
		snprintf(msg, sizeof(msg), "%s is not a git repository that agentd can use: its "
		    "runs work in place, the git tools will refuse, and agentctl undo cannot take "
		    "their changes back (%.900s)", ws, agentd_errmsg(&e));
	json_object_set_new(job, "warning", json_string(msg));
}

static const struct rpc_param p_sched_add[] = {
	{ "cron", RPC_T_STR, 0, 0, 0 }, { "tz", RPC_T_STR, 0, 0, 0 }, { "workspace", RPC_T_STR, 1, 0, 0 },
	{ "task", RPC_T_STR, 0, 0, 0 }, { "chore", RPC_T_OBJ, 0, 0, 0 }, { "branch", RPC_T_STR_OR_BOOL, 0, 0, 0 },
	{ "policy", RPC_T_STR, 0, 0, 0 }, { "catchup", RPC_T_STR, 0, 0, 0 }, { "paused", RPC_T_BOOL, 0, 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};

static enum rpc_status
m_sched_add(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	json_t *job = json_deep_copy(call->params), *stored = NULL;
	const char *ws = ajson_str(job, "workspace", NULL);
	char real[PATH_MAX];
	int64_t id = 0;
	int rc;

	if (ws && realpath(ws, real))
		ajson_set_str(job, "workspace", real);
	agentd_error_clear(&err);
	if ((rc = sched_validate_job(job, &err)) != AGENTD_OK ||
	    (rc = check_job_runnable(d, job, &err)) != AGENTD_OK ||
	    (rc = memory_job_add(d->mem, job, &id, &err)) != AGENTD_OK ||
	    (rc = memory_job_get(d->mem, id, &stored, &err)) != AGENTD_OK) {
		json_decref(job);
		return fail_err(call, rc, &err);
	}
	json_decref(job);
	log_info("schedule %lld added: '%s' in %s", (long long)id, ajson_str(stored, "cron", ""),
	    ajson_str(stored, "workspace", ""));
	call->result = job_with_next(d, stored);
	job_git_warning(call->result);
	return RPC_DONE;
}

static enum rpc_status
m_sched_list(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	json_t *jobs = NULL, *j;
	size_t i;
	int rc;

	agentd_error_clear(&err);
	if ((rc = memory_job_list(d->mem, &jobs, &err)) != AGENTD_OK)
		return fail_err(call, rc, &err);
	json_array_foreach(jobs, i, j)
		job_with_next(d, j);
	call->result = json_pack("{s:o}", "jobs", jobs);
	return RPC_DONE;
}

static enum rpc_status
m_sched_rm(void *ctx, struct rpc_call *call)
{
	struct agentd_error err;
	int64_t id = ajson_int(call->params, "id", 0);
	int rc;

	agentd_error_clear(&err);
	if ((rc = memory_job_delete(D(ctx)->mem, id, &err)) != AGENTD_OK)
		return fail_err(call, rc, &err);
	call->result = json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1);
	return RPC_DONE;
}

static enum rpc_status
set_paused(void *ctx, struct rpc_call *call, int paused)
{
	struct agentd_error err;
	int64_t id = ajson_int(call->params, "id", 0);
	json_t *job = NULL;
	int rc;

	agentd_error_clear(&err);
	if ((rc = memory_job_set_paused(D(ctx)->mem, id, paused, &err)) != AGENTD_OK ||
	    (rc = memory_job_get(D(ctx)->mem, id, &job, &err)) != AGENTD_OK)
		return fail_err(call, rc, &err);
	call->result = job_with_next(D(ctx), job);
	return RPC_DONE;
}

static enum rpc_status
m_sched_pause(void *ctx, struct rpc_call *call)
{
	return set_paused(ctx, call, 1);
}

static enum rpc_status
m_sched_resume(void *ctx, struct rpc_call *call)
{
	return set_paused(ctx, call, 0);
}

static enum rpc_status
m_sched_run(void *ctx, struct rpc_call *call)
{
	struct agentd *d = D(ctx);
	struct agentd_error err;
	int64_t id = ajson_int(call->params, "id", 0), run_id = 0;
	int rc;

	if (d->sched == NULL)
		return rpc_fail(call, RPC_UNAVAILABLE, "the scheduler is not running");
	agentd_error_clear(&err);
	if ((rc = sched_run_now(d->sched, id, &run_id, &err)) != AGENTD_OK)
		return fail_err(call, rc, &err);
	call->result = json_pack("{s:I, s:I}", "job_id", (json_int_t)id, "run_id", (json_int_t)run_id);
	return RPC_DONE;
}

/* The scheduler starts runs through this (see agentd.c). */
int agentd_start_job_run(struct agentd *d, json_t *job, int64_t slot, int64_t *run_id,
    struct agentd_error *err);

int
agentd_start_job_run(struct agentd *d, json_t *job, int64_t slot, int64_t *run_id,
    struct agentd_error *err)
{
	json_t *spec = json_object(), *v;
	int64_t sid = 0;
	int rc;

	(void)slot;
	ajson_set_str(spec, "workspace", ajson_str(job, "workspace", NULL));
	if ((v = json_object_get(job, "task")) && json_is_string(v))
		json_object_set(spec, "task", v);
	if ((v = json_object_get(job, "chore")) && json_is_object(v))
		json_object_set(spec, "chore", v);
	if ((v = json_object_get(job, "policy")) && json_is_string(v))
		json_object_set(spec, "policy", v);
	v = json_object_get(job, "branch_name");
	if (json_is_string(v) && *json_string_value(v))
		json_object_set(spec, "branch", v);
	else if (ajson_bool(job, "branch", 1))
		json_object_set_new(spec, "branch", json_true());
	json_object_set_new(spec, "unattended", json_true());
	rc = start_run(d, spec, ajson_int(job, "id", 0), run_id, &sid, err);
	json_decref(spec);
	return rc;
}

static enum rpc_status
m_reload(void *ctx, struct rpc_call *call)
{
	/* The signal path does the work, so SIGHUP and this method behave alike. */
	if (kill(getpid(), SIGHUP) != 0)
		return rpc_fail(call, RPC_INTERNAL_ERROR, "cannot signal myself: %s", strerror(errno));
	call->result = json_pack("{s:b}", "reloading", 1);
	return RPC_DONE;
}

const struct rpc_method agentd_methods[] = {
	{ "daemon.status", p_none, m_status, "daemon version, uptime, configuration" },
	{ "run.start", p_run_start, m_run_start, "start a run; the caller then receives run.event" },
	{ "run.cancel", p_id, m_run_cancel, "cancel a run" },
	{ "run.get", p_id, m_run_get, "one run with its plan and tool calls" },
	{ "run.list", p_run_list, m_run_list, "runs, newest first" },
	{ "run.attach", p_id, m_run_attach, "stored events of a run, then live ones" },
	{ "run.events", p_events, m_run_events, "stored events of a run" },
	{ "run.audit", p_id, m_run_audit, "verify a run's event hash chain" },
	{ "run.undo", p_id, m_run_undo, "delete what a run left in the repository" },
	{ "session.list", p_session_list, m_session_list, "sessions, newest first" },
	{ "session.create", p_session_create, m_session_create, "an empty session in a workspace" },
	{ "session.get", p_session_get, m_session_get, "a session with its runs and a page of its messages" },
	{ "session.delete", p_id, m_session_delete, "delete a session and all it holds" },
	{ "session.export", p_export, m_session_export, "a session as markdown or JSON lines" },
	{ "tools.list", p_tools_list, m_tools_list, "the tools and their JSON Schemas (with a "
	  "workspace: the MCP servers' tools too)" },
	{ "mcp.list", p_none, m_mcp_list, "the MCP servers: state, tools, last error" },
	{ "mcp.test", p_mcp_test, m_mcp_test, "start an MCP server afresh and list its tools" },
	{ "tools.call", p_tools_call, m_tools_call, "run one tool as the agent would" },
	{ "memory.search", p_search, m_memory_search, "full-text search of earlier sessions" },
	{ "approval.respond", p_approval, m_approval_respond, "answer an approval.request" },
	{ "approval.list", p_none, m_approval_list, "the approval requests waiting now" },
	{ "schedule.add", p_sched_add, m_sched_add, "add a scheduled job" },
	{ "schedule.list", p_none, m_sched_list, "scheduled jobs with next and last runs" },
	{ "schedule.rm", p_id, m_sched_rm, "delete a job" },
	{ "schedule.pause", p_id, m_sched_pause, "pause a job" },
	{ "schedule.resume", p_id, m_sched_resume, "resume a job" },
	{ "schedule.run", p_id, m_sched_run, "fire a job now" },
	{ "daemon.reload", p_none, m_reload, "re-read the configuration file (as SIGHUP)" },
	{ "daemon.doctor", p_none, m_doctor, "check the journal and each model endpoint (off the loop)" },
	{ NULL, NULL, NULL, NULL }
};
