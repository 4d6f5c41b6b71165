/*
 * mcp_servers.c — the live MCP servers of a process: one instance per
 * (stdio server, workspace), started on first use and shared by every run
 * and by-hand call in that workspace (a stdio server runs inside the
 * sandbox of its workspace, so two workspaces never share one); one for
 * each url server, shared by all (nothing of it runs here). An instance that dies is
 * started again on its next use, after a backoff, a bounded number of
 * times; a reload stops the instances whose configuration changed. Their
 * tools reach the tool registry as mcp__SERVER__TOOL entries (tools_find,
 * tools_call). Knows no socket and no journal: the daemon drives it.
 */
#include "tools/internal.h"
#include "tools/mcp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/num.h"
#include "common/json.h"

#define INST_MAX	32	/* live instances in all; the least recently used stops */
#define RESTART_MAX	5	/* failures in a row (deaths, failed starts), then "failed" */
#define DESC_MAX	2000	/* bytes of a tool description offered to the model */
#define SCHEMA_MAX	(64u << 10)	/* bytes of an inputSchema */

enum { ST_STOPPED, ST_RUNNING, ST_BACKOFF, ST_FAILED };
static const char *const st_name[] = { "stopped", "running", "restarting", "failed" };

struct inst {
	struct inst *next;
	char name[33];
	char *workspace;
	json_t *cfg;		/* the entry of mcp_servers it was made for (owned) */
	pthread_mutex_t mu;	/* held while the client is used */
	struct mcp_client *cl;
	json_t *tools;		/* the last tools/list (owned; under mu) */
	json_t *names;		/* their mcp__ names, in order (mcp_tool_names) */
	int state, starts, relist;
	int fails;		/* failures since the last call that was answered */
	double retry_at, last_used;
	char err[512];
	int gone;		/* a reload dropped it: freed by its last user */
	int users;		/* threads holding it (under g_mu) */
	/* the call in progress (under mu) */
	const struct tool_ctx *ctx;
};

struct entry {
	struct tool_entry te;
	struct entry *next;
	char *server, *tool, *desc, *schema;
	json_t *parsed;
	char name[MCP_NAME_MAX + 1];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_gen;		/* bumped when a server's tool list changes (g_mu) */
static json_t *g_servers;	/* the configured "mcp_servers" (owned) */
static struct inst *g_insts;
static struct entry *g_entries;	/* never freed before mcp_servers_shutdown */
static int g_logfd = -1;
static mcp_wrap_fn g_wrap;
static void *g_wrap_ud;


void
mcp_servers_init(int log_fd, mcp_wrap_fn wrap, void *ud)
{
	pthread_mutex_lock(&g_mu);
	g_logfd = log_fd;
	g_wrap = wrap;
	g_wrap_ud = ud;
	pthread_mutex_unlock(&g_mu);
}

static void
inst_free(struct inst *in)
{
	if (in == NULL)
		return;
	mcp_client_free(in->cl);
	json_decref(in->tools);
	json_decref(in->names);
	json_decref(in->cfg);
	free(in->workspace);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

/* Stopping takes up to two seconds per server (close stdin, SIGTERM,
 * SIGKILL): done off the caller's thread. */
static void *
stop_thread(void *arg)
{
	inst_free(arg);
	return NULL;
}

static void
inst_stop_later(struct inst *in)
{
	pthread_attr_t a;
	pthread_t th;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, stop_thread, in) != 0)
		inst_free(in);
	pthread_attr_destroy(&a);
}

/* Unlink from g_insts (g_mu held). */
static void
unlink_inst(struct inst *in)
{
	struct inst **pp;

	for (pp = &g_insts; *pp; pp = &(*pp)->next)
		if (*pp == in) {
			*pp = in->next;
			return;
		}
}

static void
release(struct inst *in)
{
	int drop;

	pthread_mutex_lock(&g_mu);
	in->users--;
	drop = in->gone && in->users == 0;
	pthread_mutex_unlock(&g_mu);
	if (drop)
		inst_stop_later(in);
}

/* The instance of server `name` for workspace ws, made when missing. */
static struct inst *
acquire(const char *name, const char *ws, struct agentd_error *err)
{
	struct inst *in, *lru = NULL;
	const json_t *cfg;
	int n = 0;

	pthread_mutex_lock(&g_mu);
	cfg = json_object_get(g_servers, name);
	if (cfg == NULL) {
		pthread_mutex_unlock(&g_mu);
		agentd_seterr(err, AGENTD_ENOTFOUND, "no MCP server named '%.40s' is configured", name);
		return NULL;
	}
	/* A url server runs elsewhere, outside any sandbox of ours: one session
	 * serves every workspace. */
	if (json_object_get(cfg, "url") != NULL)
		ws = "";
	for (in = g_insts; in; in = in->next) {
		if (strcmp(in->name, name) == 0 && strcmp(in->workspace, ws) == 0)
			break;
		if (in->users == 0 && (lru == NULL || in->last_used < lru->last_used))
			lru = in;
		n++;
	}
	if (in == NULL) {
		if (n >= INST_MAX && lru != NULL) {
			unlink_inst(lru);
			inst_stop_later(lru);
		}
		in = calloc(1, sizeof(*in));
		if (in == NULL || (in->workspace = strdup(ws)) == NULL ||
		    (in->cfg = json_deep_copy(cfg)) == NULL) {
			if (in)
				free(in->workspace);
			free(in);
			pthread_mutex_unlock(&g_mu);
			agentd_seterr(err, AGENTD_ENOMEM, NULL);
			return NULL;
		}
		snprintf(in->name, sizeof(in->name), "%s", name);
		pthread_mutex_init(&in->mu, NULL);
		in->next = g_insts;
		g_insts = in;
	}
	in->users++;
	in->last_used = anum_mono_s();
	pthread_mutex_unlock(&g_mu);
	return in;
}

/* ---- registry entries ---- */

static void
entry_free(struct entry *e)
{
	free(e->server);
	free(e->tool);
	free(e->desc);
	free(e->schema);
	json_decref(e->parsed);
	free(e);
}

/* The entry for one listed tool: reused when nothing changed, else a new
 * one in front (a call that holds the old one keeps a valid pointer). */
static struct entry *
entry_for(const char *server, const json_t *cfg, const json_t *tool, const char *mname)
{
	const char *tname = ajson_str(tool, "name", "");
	const json_t *is = json_object_get(tool, "inputSchema");
	const json_t *ann = json_object_get(tool, "annotations");
	char name[MCP_NAME_MAX + 1], *schema, *desc;
	unsigned flags = 0;
	struct entry *e;
	size_t dl;

	snprintf(name, sizeof(name), "%s", mname);
	schema = json_is_object(is) ? json_dumps(is, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (schema == NULL || strlen(schema) > SCHEMA_MAX) {
		free(schema);
		schema = strdup("{\"type\":\"object\"}");
	}
	desc = strdup(ajson_str(tool, "description", ajson_str(tool, "title", tname)));
	if (schema == NULL || desc == NULL) {
		free(schema);
		free(desc);
		return NULL;
	}
	if ((dl = strlen(desc)) > DESC_MAX) {
		while (dl > DESC_MAX - 3 || (dl > 0 && ((unsigned char)desc[dl] & 0xC0) == 0x80))
			dl--;	/* never cut inside a UTF-8 character */
		memcpy(desc + dl, "...", 4);
	}
	if (json_is_true(json_object_get(ann, "readOnlyHint")))
		flags |= TOOL_READ_ONLY;
	else if (json_is_true(json_object_get(cfg, "approve")))
		flags |= TOOL_APPROVE;
	flags |= TOOL_MCP;
	for (e = g_entries; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			break;
	if (e && e->te.flags == flags && strcmp(e->schema, schema) == 0 &&
	    strcmp(e->desc, desc) == 0 && strcmp(e->server, server) == 0 &&
	    strcmp(e->tool, tname) == 0) {
		free(schema);
		free(desc);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->server = strdup(server)) == NULL || (e->tool = strdup(tname)) == NULL ||
	    (e->parsed = json_loads(schema, 0, NULL)) == NULL) {
		if (e) {
			e->desc = desc;
			e->schema = schema;
			entry_free(e);
		}
		return NULL;
	}
	e->desc = desc;
	e->schema = schema;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->te.name = e->name;
	e->te.description = e->desc;
	e->te.schema = e->schema;
	e->te.flags = flags;
	e->te.exec = NULL;	/* tools_call sends mcp__ names to mcp_servers_call */
	e->next = g_entries;
	g_entries = e;
	return e;
}

static struct entry *
entry_find(const char *name)
{
	struct entry *e;

	for (e = g_entries; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

uint64_t
mcp_servers_generation(void)
{
	uint64_t g;

	pthread_mutex_lock(&g_mu);
	g = g_gen;
	pthread_mutex_unlock(&g_mu);
	return g;
}

const struct tool_entry *
mcp_servers_find(const char *name)
{
	struct entry *e;

	if (name == NULL || strncmp(name, "mcp__", 5) != 0)
		return NULL;
	pthread_mutex_lock(&g_mu);
	e = entry_find(name);
	pthread_mutex_unlock(&g_mu);
	return e ? &e->te : NULL;
}

/* ---- one instance (in->mu held) ---- */

static void
on_note(void *ud, const json_t *msg)
{
	struct inst *in = ud;
	const char *m = ajson_str(msg, "method", "");

	if (strcmp(m, "notifications/tools/list_changed") == 0)
		in->relist = 1;
	else if (strcmp(m, "notifications/progress") == 0 && in->ctx && in->ctx->progress)
		in->ctx->progress(in->ctx->progress_ud, in->name, json_object_get(msg, "params"));
}

static int
is_cancelled(void *ud)
{
	struct inst *in = ud;

	return in->ctx != NULL && tools_is_cancelled(in->ctx);
}

static int
relist(struct inst *in, struct agentd_error *err)
{
	json_t *tools = NULL, *names, *t;
	size_t i;
	int rc;

	if ((rc = mcp_client_list_tools(in->cl, &tools, err)) != AGENTD_OK)
		return rc;
	if ((names = mcp_tool_names(in->name, tools)) == NULL) {
		json_decref(tools);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	pthread_mutex_lock(&g_mu);
	if (in->tools != NULL && !json_equal(in->tools, tools))
		g_gen++;	/* runs that offered the old list offer the new one */
	pthread_mutex_unlock(&g_mu);
	json_decref(in->tools);
	json_decref(in->names);
	in->tools = tools;
	in->names = names;
	in->relist = 0;
	pthread_mutex_lock(&g_mu);
	json_array_foreach(tools, i, t)
		(void)entry_for(in->name, in->cfg, t, json_string_value(json_array_get(names, i)));
	pthread_mutex_unlock(&g_mu);
	return AGENTD_OK;
}

/* Backoff after failure n in a row: 0, 1, 2, 4 s. */
static double
backoff_s(int n)
{
	return n <= 1 ? 0 : (double)(1 << (n - 2));
}

static void
inst_fail(struct inst *in, const char *why)
{
	mcp_client_free(in->cl);
	in->cl = NULL;
	snprintf(in->err, sizeof(in->err), "%s", why);
	if (++in->fails >= RESTART_MAX) {
		in->state = ST_FAILED;
	} else {
		in->state = ST_BACKOFF;
		in->retry_at = anum_mono_s() + backoff_s(in->fails);
	}
}

/* Start the server when it is not running (in->mu held). */
static int
ensure(struct inst *in, struct agentd_error *err)
{
	json_t *cfg = NULL;
	int rc;

	if (in->cl != NULL && in->state == ST_RUNNING) {
		struct agentd_error pe;

		/* what it said since the last request (tools/list_changed); a
		 * server that died meanwhile is found by the request itself */
		agentd_error_clear(&pe);
		(void)mcp_client_poll(in->cl, &pe);
		return in->relist ? relist(in, err) : AGENTD_OK;
	}
	if (in->state == ST_FAILED)
		return agentd_seterr(err, AGENTD_EUNAVAIL, "MCP server %s failed %d times in a row "
		    "and is not started again until the configuration is reloaded (SIGHUP); last "
		    "error: %s", in->name, in->fails, in->err);
	if (in->state == ST_BACKOFF && anum_mono_s() < in->retry_at)
		return agentd_seterr(err, AGENTD_EUNAVAIL, "MCP server %s is restarting (in %.0f s); "
		    "last error: %s", in->name, in->retry_at - anum_mono_s() + 0.5, in->err);
	in->starts++;
	agentd_error_clear(err);
	if (g_wrap != NULL)
		rc = g_wrap(in->name, in->cfg, in->workspace, g_wrap_ud, &cfg, err);
	else
		rc = (cfg = json_incref(in->cfg)) ? AGENTD_OK : AGENTD_ENOMEM;
	if (rc == AGENTD_OK)
		rc = mcp_client_start(in->name, cfg, g_logfd, &in->cl, err);
	json_decref(cfg);
	if (rc == AGENTD_OK) {
		mcp_client_set_hooks(in->cl, on_note, is_cancelled, in);
		rc = relist(in, err);
	}
	if (rc != AGENTD_OK) {
		inst_fail(in, agentd_errmsg(err));
		return rc;
	}
	in->state = ST_RUNNING;
	in->err[0] = '\0';
	return AGENTD_OK;
}

/* ---- configuration ---- */

int
mcp_servers_configure(const json_t *servers, json_t **changes, struct agentd_error *err)
{
	json_t *copy, *ch, *stopped, *restarted;
	struct inst **pp, *in;
	const char *name;
	const json_t *old, *now;
	int rc;

	if (servers != NULL && (rc = mcp_config_check(servers, err)) != AGENTD_OK)
		return rc;
	copy = servers ? json_deep_copy(servers) : json_object();
	ch = json_pack("{s:[], s:[], s:[], s:[]}", "added", "removed", "changed", "stopped");
	if (copy == NULL || ch == NULL) {
		json_decref(copy);
		json_decref(ch);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	stopped = json_object_get(ch, "stopped");
	restarted = json_object_get(ch, "changed");
	pthread_mutex_lock(&g_mu);
	json_object_foreach(copy, name, now) {
		old = json_object_get(g_servers, name);
		if (old == NULL)
			json_array_append_new(json_object_get(ch, "added"), json_string(name));
		else if (!json_equal((json_t *)old, (json_t *)now))
			json_array_append_new(restarted, json_string(name));
	}
	json_object_foreach(g_servers, name, old)
		if (json_object_get(copy, name) == NULL)
			json_array_append_new(json_object_get(ch, "removed"), json_string(name));
	/* Instances whose entry changed or went away stop; the rest keep running. */
	for (pp = &g_insts; (in = *pp) != NULL;) {
		now = json_object_get(copy, in->name);
		if (now != NULL && json_equal(in->cfg, (json_t *)now)) {
			pp = &in->next;
			continue;
		}
		json_array_append_new(stopped, json_pack("{s:s, s:s}", "name", in->name,
		    "workspace", in->workspace));
		*pp = in->next;
		in->gone = 1;
		if (in->users == 0)
			inst_stop_later(in);
	}
	json_decref(g_servers);
	g_servers = copy;
	pthread_mutex_unlock(&g_mu);
	if (changes)
		*changes = ch;
	else
		json_decref(ch);
	return AGENTD_OK;
}

/* Enabled, and (when `only` is given) named in it. */
static int
selected(const json_t *cfg, const json_t *only, const char *name)
{
	size_t i;
	json_t *v;

	if (only == NULL)
		return ajson_bool(cfg, "enabled", 1);
	json_array_foreach(only, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return 1;
	return 0;
}

int
mcp_servers_check_names(const json_t *only, struct agentd_error *err)
{
	size_t i;
	json_t *v;
	int rc = AGENTD_OK;

	pthread_mutex_lock(&g_mu);
	json_array_foreach(only, i, v)
		if (!json_is_string(v) || json_object_get(g_servers, json_string_value(v)) == NULL) {
			rc = agentd_seterr(err, AGENTD_ENOTFOUND, "no MCP server named '%.40s' is "
			    "configured (see agentctl mcp list)", json_is_string(v) ?
			    json_string_value(v) : "?");
			break;
		}
	pthread_mutex_unlock(&g_mu);
	return rc;
}

/* Names of the selected servers (g_mu taken here); new reference. */
static json_t *
selected_names(const json_t *only)
{
	json_t *names = json_array(), *cfg;
	const char *name;

	pthread_mutex_lock(&g_mu);
	json_object_foreach(g_servers, name, cfg)
		if (selected(cfg, only, name))
			json_array_append_new(names, json_string(name));
	pthread_mutex_unlock(&g_mu);
	return names;
}

int
mcp_servers_tools(const char *workspace, const json_t *only, json_t **defs, json_t **report,
    struct agentd_error *err)
{
	json_t *names = selected_names(only), *out = json_array(), *rep = json_array(), *v, *t;
	size_t i, k;

	if (names == NULL || out == NULL || rep == NULL) {
		json_decref(names);
		json_decref(out);
		json_decref(rep);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	json_array_foreach(names, i, v) {
		const char *name = json_string_value(v);
		struct agentd_error e;
		struct inst *in;
		int n = 0;

		agentd_error_clear(&e);
		if ((in = acquire(name, workspace, &e)) == NULL) {
			json_array_append_new(rep, json_pack("{s:s, s:s, s:i, s:s}", "name", name,
			    "state", "failed", "tools", 0, "error", agentd_errmsg(&e)));
			continue;
		}
		pthread_mutex_lock(&in->mu);
		if (ensure(in, &e) == AGENTD_OK) {
			json_array_foreach(in->tools, k, t) {
				const char *mn = json_string_value(json_array_get(in->names, k));
				struct entry *en;
				char nm[MCP_NAME_MAX + 1];

				snprintf(nm, sizeof(nm), "%s", mn ? mn : "");
				pthread_mutex_lock(&g_mu);
				en = entry_find(nm);
				if (en != NULL) {
					json_t *d = json_pack("{s:s, s:s, s:O, s:s, s:s, s:b}", "name",
					    en->name, "description", en->desc, "parameters", en->parsed,
					    "server", name, "tool", en->tool, "read_only",
					    (en->te.flags & TOOL_READ_ONLY) != 0);

					if (d)
						json_array_append_new(out, d);
					n++;
				}
				pthread_mutex_unlock(&g_mu);
			}
			json_array_append_new(rep, json_pack("{s:s, s:s, s:i}", "name", name,
			    "state", "running", "tools", n));
		} else {
			json_array_append_new(rep, json_pack("{s:s, s:s, s:i, s:s}", "name", name,
			    "state", st_name[in->state], "tools", 0, "error", agentd_errmsg(&e)));
		}
		pthread_mutex_unlock(&in->mu);
		release(in);
	}
	json_decref(names);
	*defs = out;
	if (report)
		*report = rep;
	else
		json_decref(rep);
	return AGENTD_OK;
}

/* A transport failure: the server is gone or no longer speaks the protocol. */
static int
is_death(int rc)
{
	return rc == AGENTD_EPROTO || rc == AGENTD_EIO || rc == AGENTD_ETOOBIG;
}

int
mcp_servers_call(const struct tool_ctx *ctx, const char *name, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct entry *e;
	struct inst *in;
	char *server = NULL, *tool = NULL, *text = NULL;
	const json_t *schema = NULL;
	struct agentd_error ce;
	int rc, is_error = 0;

	pthread_mutex_lock(&g_mu);
	e = entry_find(name);
	if (e != NULL) {
		server = strdup(e->server);
		tool = strdup(e->tool);
		schema = e->parsed;	/* entries live until shutdown */
	}
	pthread_mutex_unlock(&g_mu);
	if (e == NULL)
		return agentd_seterr(err, AGENTD_ENOTFOUND, "unknown tool '%.100s' (no MCP server "
		    "has listed it)", name);
	if (server == NULL || tool == NULL) {
		free(server);
		free(tool);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if ((rc = tools_validate(schema, args, err)) != AGENTD_OK)
		goto out;
	agentd_error_clear(&ce);
	if ((in = acquire(server, ctx->workspace, &ce)) == NULL) {
		*result = tools_fail(&ce);
		goto out;
	}
	pthread_mutex_lock(&in->mu);
	if (ensure(in, &ce) != AGENTD_OK) {
		*result = tools_fail(&ce);
	} else if (tools_is_cancelled(ctx)) {
		rc = agentd_seterr(err, AGENTD_ECANCELLED, "cancelled before '%s' ran", name);
	} else {
		in->ctx = ctx;
		rc = mcp_client_call(in->cl, tool, args, tools_cap(ctx), &text, &is_error, &ce);
		in->ctx = NULL;
		if (rc == AGENTD_OK) {
			in->fails = 0;	/* it answers: failures before were not in a row */
			*result = tools_result(!is_error, text);
			if (in->relist && relist(in, &ce) != AGENTD_OK && is_death(ce.code))
				inst_fail(in, agentd_errmsg(&ce));
		} else if (rc == AGENTD_ECANCELLED) {
			agentd_seterr(err, rc, "%s", agentd_errmsg(&ce));
		} else {
			char msg[900];

			if (is_death(rc)) {
				snprintf(msg, sizeof(msg), "The MCP server %s stopped answering (%s); it "
				    "is restarted for the next call. Whether the call had an effect is "
				    "unknown.", in->name, agentd_errmsg(&ce));
				inst_fail(in, agentd_errmsg(&ce));
			} else {
				snprintf(msg, sizeof(msg), "The MCP tool %s failed: %s", name,
				    agentd_errmsg(&ce));
			}
			*result = tools_failf("%s", msg);
			rc = AGENTD_OK;
		}
	}
	pthread_mutex_unlock(&in->mu);
	release(in);
	if (rc == AGENTD_OK && *result == NULL)
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
out:
	free(text);
	free(server);
	free(tool);
	return rc;
}

json_t *
mcp_servers_status(void)
{
	json_t *out = json_array(), *cfg;
	struct inst *in;
	const char *name;

	if (out == NULL)
		return NULL;
	pthread_mutex_lock(&g_mu);
	json_object_foreach(g_servers, name, cfg) {
		int any = 0;

		for (in = g_insts; in; in = in->next) {
			json_t *o;

			if (strcmp(in->name, name) != 0)
				continue;
			any = 1;
			/* state and counts are ints: a torn read shows an old value at worst */
			o = json_pack("{s:s, s:s, s:b, s:s, s:i, s:i, s:s, s:b}", "name", name,
			    "transport", json_object_get(cfg, "url") ? "http" : "stdio",
			    "enabled", ajson_bool(cfg, "enabled", 1), "state", st_name[in->state],
			    "tools", in->state == ST_RUNNING ? (int)json_array_size(in->tools) : 0,
			    "starts", in->starts, "error", in->err, "approve",
			    ajson_bool(cfg, "approve", 0));
			if (o) {
				if (in->workspace[0] != '\0')	/* "": shared (a url server) */
					ajson_set_str(o, "workspace", in->workspace);
				json_array_append_new(out, o);
			}
		}
		if (!any)
			json_array_append_new(out, json_pack("{s:s, s:s, s:b, s:s, s:i, s:i, s:s, s:b}",
			    "name", name, "transport", json_object_get(cfg, "url") ? "http" : "stdio",
			    "enabled", ajson_bool(cfg, "enabled", 1), "state", "stopped", "tools", 0,
			    "starts", 0, "error", "", "approve", ajson_bool(cfg, "approve", 0)));
	}
	pthread_mutex_unlock(&g_mu);
	return out;
}

int
mcp_servers_test(const char *name, const char *workspace, json_t **out, struct agentd_error *err)
{
	json_t *cfg, *run = NULL, *tools = NULL, *list, *names, *t;
	struct mcp_client *c = NULL;
	size_t i;
	int rc;

	pthread_mutex_lock(&g_mu);
	cfg = json_object_get(g_servers, name) ? json_deep_copy(json_object_get(g_servers, name)) : NULL;
	pthread_mutex_unlock(&g_mu);
	if (cfg == NULL)
		return agentd_seterr(err, AGENTD_ENOTFOUND, "no MCP server named '%.40s' is configured",
		    name);
	rc = g_wrap ? g_wrap(name, cfg, workspace, g_wrap_ud, &run, err) :
	    ((run = json_incref(cfg)) ? AGENTD_OK : AGENTD_ENOMEM);
	if (rc == AGENTD_OK)
		rc = mcp_client_start(name, run, g_logfd, &c, err);
	if (rc == AGENTD_OK)
		rc = mcp_client_list_tools(c, &tools, err);
	mcp_client_free(c);
	json_decref(run);
	json_decref(cfg);
	if (rc != AGENTD_OK)
		return rc;
	list = json_array();
	names = mcp_tool_names(name, tools);
	json_array_foreach(tools, i, t) {
		const char *nm = json_string_value(json_array_get(names, i));

		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:O?, s:O?}", "name", nm ? nm : "",
		    "tool", ajson_str(t, "name", ""), "description", ajson_str(t, "description", ""),
		    "inputSchema", json_object_get(t, "inputSchema"), "annotations",
		    json_object_get(t, "annotations")));
	}
	json_decref(tools);
	json_decref(names);
	*out = json_pack("{s:s, s:o}", "name", name, "tools", list);
	return *out ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

void
mcp_servers_shutdown(void)
{
	struct inst *in, *list;
	struct entry *e, *en;

	pthread_mutex_lock(&g_mu);
	list = g_insts;
	g_insts = NULL;
	e = g_entries;
	g_entries = NULL;
	json_decref(g_servers);
	g_servers = NULL;
	pthread_mutex_unlock(&g_mu);
	while ((in = list) != NULL) {	/* no run is left: nobody holds them */
		list = in->next;
		inst_free(in);
	}
	for (; e; e = en) {
		en = e->next;
		entry_free(e);
	}
}
