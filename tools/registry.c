/*
 * registry.c — the one table of tools, its JSON forms for tools.list and for
 * the Chat Completions "tools" field, and tools_call: validate, run, cap.
 */
#include "tools/internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "tools/mcp.h"

static TOOL_EXEC(tool_update_plan);
static TOOL_EXEC(tool_recall);

#define PATH_PROP(what) "\"path\":{\"type\":\"string\",\"minLength\":1," \
	"\"description\":\"" what "\"}"

static const struct tool_entry tool_table[] = {
	{ "read_file",
	  "Read a text file of the workspace. Returns numbered lines (\"     1\\tline\"), "
	  "2000 lines from `offset` (1-based) unless `limit` says otherwise; long output is cut "
	  "in the middle. Binary files and files over 16 MiB are refused.",
	  "{\"type\":\"object\",\"properties\":{"
	  PATH_PROP("file path relative to the workspace") ","
	  "\"offset\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"first line, 1-based\"},"
	  "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000,"
	  "\"description\":\"number of lines\"}},"
	  "\"required\":[\"path\"],\"additionalProperties\":false}",
	  TOOL_READ_ONLY, tool_read_file,
	  "Read a file as numbered lines (from offset, limit lines).", NULL },
	{ "write_file",
	  "Create or overwrite a file of the workspace with `content` (the whole new text). "
	  "Creates missing folders, keeps an existing file's permissions, replaces the file "
	  "atomically. Returns the number of bytes written.",
	  "{\"type\":\"object\",\"properties\":{"
	  PATH_PROP("file path relative to the workspace") ","
	  "\"content\":{\"type\":\"string\",\"description\":\"full new content of the file\"}},"
	  "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
	  0, tool_write_file,
	  "Create or overwrite a file with the whole content.", NULL },
	{ "edit_file",
	  "Replace the exact text `old` by `new` in a file. `old` must appear exactly once "
	  "(copy it with its whitespace from read_file, without line numbers), unless "
	  "`replace_all` is true. Returns how many replacements were made.",
	  "{\"type\":\"object\",\"properties\":{"
	  PATH_PROP("file path relative to the workspace") ","
	  "\"old\":{\"type\":\"string\",\"minLength\":1,\"description\":\"exact text to replace\"},"
	  "\"new\":{\"type\":\"string\",\"description\":\"replacement text\"},"
	  "\"replace_all\":{\"type\":\"boolean\",\"description\":\"replace every occurrence\"}},"
	  "\"required\":[\"path\",\"old\",\"new\"],\"additionalProperties\":false}",
	  0, tool_edit_file,
	  "Replace the exact text old (without line numbers) by new.", NULL },
	{ "list_dir",
	  "List a folder of the workspace, sorted, folders ending in '/', paths relative to "
	  "the workspace. `depth` (1-5, default 1) goes into subfolders. Skips .git; at most "
	  "1000 entries.",
	  "{\"type\":\"object\",\"properties\":{"
	  PATH_PROP("folder relative to the workspace, default '.'") ","
	  "\"depth\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5}},"
	  "\"additionalProperties\":false}",
	  TOOL_READ_ONLY, tool_list_dir,
	  "List a folder.", NULL },
	{ "grep",
	  "Search files for a POSIX extended regular expression. Returns 'file:line:text' lines "
	  "(at most 200 matches). `path` is a file or folder (default the workspace), `glob` "
	  "filters file names (like '*.c'). Skips binary files and .git.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"pattern\":{\"type\":\"string\",\"minLength\":1,\"description\":\"extended regex\"},"
	  PATH_PROP("file or folder relative to the workspace") ","
	  "\"glob\":{\"type\":\"string\",\"minLength\":1,\"description\":\"file name pattern, like '*.py'\"}},"
	  "\"required\":[\"pattern\"],\"additionalProperties\":false}",
	  TOOL_READ_ONLY, tool_grep,
	  "Search files for a regex.", NULL },
	{ "git_status",
	  "Show the repository's changes like `git status --porcelain`: two status letters and "
	  "a path per line (' M' modified, 'M ' staged, 'A ' added, ' D' deleted, 'R ' renamed, "
	  "'?" "?' untracked, 'UU' conflict).",
	  "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
	  TOOL_READ_ONLY | TOOL_GIT, tool_git_status,
	  "Changed files.", NULL },
	{ "git_diff",
	  "Show changes as a unified diff like `git diff`: unstaged changes by default, staged "
	  "ones with `staged`, or against a commit with `rev`. `path` limits it to a file or folder.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"staged\":{\"type\":\"boolean\"},"
	  "\"rev\":{\"type\":\"string\",\"minLength\":1,\"description\":\"commit, branch or tag\"},"
	  PATH_PROP("file or folder") "},"
	  "\"additionalProperties\":false}",
	  TOOL_READ_ONLY | TOOL_GIT, tool_git_diff,
	  "Diff of the changes.", NULL },
	{ "git_log",
	  "List commits from HEAD, newest first, one per line: short id, date, author, subject. "
	  "`max` (default 20, at most 200); `path` keeps commits that touched it.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"max\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200},"
	  PATH_PROP("file or folder") "},"
	  "\"additionalProperties\":false}",
	  TOOL_READ_ONLY | TOOL_GIT, tool_git_log,
	  NULL, NULL },
	{ "git_show",
	  "Show a commit (author, date, message and its diff), or a file at a commit with "
	  "'REV:path'.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"rev\":{\"type\":\"string\",\"minLength\":1,\"description\":\"like HEAD, HEAD~1, a1b2c3d, main:src/x.c\"}},"
	  "\"required\":[\"rev\"],\"additionalProperties\":false}",
	  TOOL_READ_ONLY | TOOL_GIT, tool_git_show,
	  NULL, NULL },
	{ "git_add",
	  "Stage files or folders for the next commit (deletions too), like `git add`. "
	  "Returns the new status.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"paths\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":1000,"
	  "\"items\":{\"type\":\"string\",\"minLength\":1}}},"
	  "\"required\":[\"paths\"],\"additionalProperties\":false}",
	  TOOL_GIT, tool_git_add,
	  "Stage paths for the next commit.", NULL },
	{ "git_commit",
	  "Commit the staged changes with `message`. With `all`, first stage every change to "
	  "tracked files (like `git commit -a`); `paths` stages those files first. Files that "
	  "already had uncommitted changes when the run began are left out unless named in "
	  "`paths`. Refuses an empty commit. Returns the new commit id.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"message\":{\"type\":\"string\",\"minLength\":1},"
	  "\"all\":{\"type\":\"boolean\"},"
	  "\"paths\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":1000,"
	  "\"items\":{\"type\":\"string\",\"minLength\":1}}},"
	  "\"required\":[\"message\"],\"additionalProperties\":false}",
	  TOOL_GIT, tool_git_commit,
	  "Commit; paths or all are staged first.", NULL },
	{ "git_branch",
	  "Create branch `name` at HEAD (or at `from`); with `checkout`, switch to it.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"name\":{\"type\":\"string\",\"minLength\":1},"
	  "\"checkout\":{\"type\":\"boolean\"},"
	  "\"from\":{\"type\":\"string\",\"minLength\":1,\"description\":\"commit or branch to start from\"}},"
	  "\"required\":[\"name\"],\"additionalProperties\":false}",
	  TOOL_GIT, tool_git_branch,
	  NULL, NULL },
	{ "git_checkout",
	  "Switch to a branch, or to a commit (detached HEAD). Refuses when uncommitted changes "
	  "would be lost, unless `force` (which discards them).",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"target\":{\"type\":\"string\",\"minLength\":1,\"description\":\"branch name or commit\"},"
	  "\"force\":{\"type\":\"boolean\"}},"
	  "\"required\":[\"target\"],\"additionalProperties\":false}",
	  TOOL_GIT, tool_git_checkout,
	  NULL, NULL },
	{ "git_restore",
	  "Discard unstaged changes to files or folders, restoring them from the index like "
	  "`git restore`.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"paths\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":1000,"
	  "\"items\":{\"type\":\"string\",\"minLength\":1}}},"
	  "\"required\":[\"paths\"],\"additionalProperties\":false}",
	  TOOL_GIT, tool_git_restore,
	  NULL, NULL },
	{ "shell",
	  "Run a shell command (/bin/sh -c) in the workspace, in a sandbox. Returns exit_code, "
	  "stdout and stderr (long output is cut in the middle). `timeout_s` (default 120, at "
	  "most 3600); `workdir` is a folder inside the workspace.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"command\":{\"type\":\"string\",\"minLength\":1},"
	  "\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600},"
	  "\"workdir\":{\"type\":\"string\",\"minLength\":1},"
	  "\"network\":{\"type\":\"boolean\",\"description\":\"ask for network access\"},"
	  "\"policy\":{\"type\":\"string\",\"enum\":[\"read-only\",\"workspace-write\","
	  "\"full-access\"],\"description\":\"ask for a stronger sandbox for this command "
	  "(full-access: write outside the workspace); needs approval\"}},"
	  "\"required\":[\"command\"],\"additionalProperties\":false}",
	  0, tool_shell,
	  "Run a command with /bin/sh in the workspace (sandboxed).",
	  "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\"},"
	  "\"timeout_s\":{\"type\":\"integer\"}},"
	  "\"required\":[\"command\"]}" },
	{ "update_plan",
	  "Record your plan: the list of steps with their status. Keep exactly one step "
	  "in_progress while working.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"steps\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":50,\"items\":{"
	  "\"type\":\"object\",\"properties\":{"
	  "\"step\":{\"type\":\"string\",\"minLength\":1},"
	  "\"status\":{\"type\":\"string\",\"enum\":[\"pending\",\"in_progress\",\"completed\"]}},"
	  "\"required\":[\"step\",\"status\"],\"additionalProperties\":false}}},"
	  "\"required\":[\"steps\"],\"additionalProperties\":false}",
	  TOOL_READ_ONLY | TOOL_AGENT, tool_update_plan,
	  "Record your plan: every step with its status.", NULL },
	{ "recall",
	  "Search the memory of earlier runs and sessions for `query`. Returns the best "
	  "matches (default 5, at most 20).",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"query\":{\"type\":\"string\",\"minLength\":1},"
	  "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20}},"
	  "\"required\":[\"query\"],\"additionalProperties\":false}",
	  TOOL_READ_ONLY | TOOL_AGENT, tool_recall,
	  NULL, NULL },
	{ NULL, NULL, NULL, 0, NULL, NULL, NULL }
};

#define NTOOLS (sizeof(tool_table) / sizeof(tool_table[0]) - 1)

/* Parsed schemas, built once. */
static json_t *schemas[NTOOLS];
static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;

static void
schemas_load(void)
{
	size_t i;

	for (i = 0; i < NTOOLS; i++)
		schemas[i] = json_loads(tool_table[i].schema, 0, NULL);
}

static const json_t *
schema_of(const struct tool_entry *t)
{
	pthread_once(&schemas_once, schemas_load);
	return schemas[t - tool_table];
}

void
tools_ctx_init(struct tool_ctx *ctx, const char *workspace)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->workspace = workspace;
	sandbox_opts_init(&ctx->sandbox);
	ctx->sandbox.workspace = workspace;
	ctx->output_cap = TOOLS_DEFAULT_OUTPUT_CAP;
}

const struct tool_entry *
tools_table(void)
{
	return tool_table;
}

const struct tool_entry *
tools_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NTOOLS; i++)
		if (strcmp(tool_table[i].name, name) == 0)
			return &tool_table[i];
	return mcp_servers_find(name);	/* a tool an MCP server listed */
}

static json_t *
flags_json(unsigned f)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	if (f & TOOL_READ_ONLY)
		json_array_append_new(a, json_string("read_only"));
	if (f & TOOL_NEEDS_NETWORK)
		json_array_append_new(a, json_string("needs_network"));
	if (f & TOOL_GIT)
		json_array_append_new(a, json_string("git"));
	if (f & TOOL_AGENT)
		json_array_append_new(a, json_string("agent"));
	if (f & TOOL_MCP)
		json_array_append_new(a, json_string("mcp"));
	if (f & TOOL_APPROVE)
		json_array_append_new(a, json_string("approve"));
	return a;
}

json_t *
tools_list_json(void)
{
	json_t *a = json_array(), *o;
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < NTOOLS; i++) {
		o = json_pack("{s:s, s:s, s:O, s:o}", "name", tool_table[i].name,
		    "description", tool_table[i].description,
		    "parameters", schema_of(&tool_table[i]),
		    "flags", flags_json(tool_table[i].flags));
		if (o == NULL || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
tools_openai_json(void)
{
	json_t *a = json_array(), *o;
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < NTOOLS; i++) {
		o = json_pack("{s:s, s:{s:s, s:s, s:O}}", "type", "function", "function",
		    "name", tool_table[i].name, "description", tool_table[i].description,
		    "parameters", schema_of(&tool_table[i]));
		if (o == NULL || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* A schema for a small window: only what says what to send (types,
 * properties, required, enums, items). New reference. */
static json_t *
compact_schema(const json_t *s)
{
	static const char *const keep[] = { "type", "enum", "items", "properties", "required",
	    NULL };
	json_t *o, *v, *props, *p;
	const char *k;
	size_t i;

	if (!json_is_object(s))
		return json_deep_copy(s);
	o = json_object();
	for (i = 0; o != NULL && keep[i] != NULL; i++) {
		v = json_object_get(s, keep[i]);
		if (v == NULL)
			continue;
		if (strcmp(keep[i], "items") == 0) {
			json_object_set_new(o, "items", compact_schema(v));
		} else if (strcmp(keep[i], "properties") == 0) {
			props = json_object();
			json_object_foreach(v, k, p)
				json_object_set_new(props, k, compact_schema(p));
			json_object_set_new(o, "properties", props);
		} else {
			json_object_set(o, keep[i], v);
		}
	}
	return o;
}

json_t *
tools_openai_compact(const json_t *tools, const struct tool_entry *extra)
{
	json_t *out = json_array(), *t, *schema, *o;
	const struct tool_entry *te;
	size_t i, k;

	if (out == NULL)
		return NULL;
	json_array_foreach(tools, i, t) {
		const char *name = json_string_value(json_object_get(json_object_get(t,
		    "function"), "name"));

		te = tools_find(name);
		for (k = 0; te == NULL && name != NULL && extra != NULL && extra[k].name; k++)
			if (strcmp(extra[k].name, name) == 0)
				te = &extra[k];
		if (te == NULL || te->brief == NULL)
			continue;
		if (te->brief_schema != NULL) {
			schema = json_loads(te->brief_schema, 0, NULL);
		} else {
			json_t *full = json_loads(te->schema ? te->schema : "{}", 0, NULL);

			schema = compact_schema(full);
			json_decref(full);
		}
		o = schema ? json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function",
		    "name", te->name, "description", te->brief, "parameters", schema) : NULL;
		if (o == NULL || json_array_append_new(out, o) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

json_t *
tools_result(int ok, const char *output)
{
	return json_pack("{s:b, s:s}", "ok", ok ? 1 : 0, "output", output ? output : "");
}

json_t *
tools_fail(const struct agentd_error *err)
{
	const char *m = agentd_errmsg(err);

	return json_pack("{s:b, s:s, s:s}", "ok", 0, "output", m, "error", m);
}

json_t *
tools_failf(const char *fmt, ...)
{
	struct agentd_error e;
	va_list ap;

	e.code = AGENTD_EINVAL;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	return tools_fail(&e);
}

size_t
tools_cap(const struct tool_ctx *ctx)
{
	return ctx->output_cap ? ctx->output_cap : TOOLS_DEFAULT_OUTPUT_CAP;
}

int
tools_is_cancelled(const struct tool_ctx *ctx)
{
	return ctx->cancelled != NULL && ctx->cancelled(ctx->cancel_ud);
}

/* Cut "output" to the cap, keeping head and tail. */
static int
cap_output(const struct tool_ctx *ctx, json_t *res)
{
	json_t *o = json_object_get(res, "output");
	size_t cap = tools_cap(ctx), n;
	char *cut;

	if (!json_is_string(o) || json_string_length(o) <= cap)
		return AGENTD_OK;
	cut = buf_cut_middle(json_string_value(o), json_string_length(o), cap, &n);
	if (cut == NULL)
		return AGENTD_ENOMEM;
	json_object_set_new(res, "output", ajson_string_lossy(cut, n));
	free(cut);
	return AGENTD_OK;
}

int
tools_call(const struct tool_ctx *ctx, const char *name, json_t *args,
    json_t **result, struct agentd_error *err)
{
	const struct tool_entry *t = tools_find(name);
	const json_t *schema;
	json_t *res = NULL, *empty = NULL;
	int rc;

	if (t != NULL && (t->flags & TOOL_MCP)) {
		if (ctx == NULL || ctx->workspace == NULL)
			return agentd_seterr(err, AGENTD_EINVAL, "no workspace given for tool '%s'", name);
		if (args == NULL || json_is_null(args))
			args = empty = json_object();
		rc = args ? mcp_servers_call(ctx, name, args, &res, err) :
		    agentd_seterr(err, AGENTD_ENOMEM, NULL);
		json_decref(empty);
		if (rc == AGENTD_OK && cap_output(ctx, res) != AGENTD_OK)
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		if (rc != AGENTD_OK) {
			json_decref(res);
			return rc;
		}
		*result = res;
		return AGENTD_OK;
	}
	if (t == NULL) {
		struct abuf b;
		size_t i;

		abuf_init(&b, 1024);
		for (i = 0; i < NTOOLS; i++)
			abuf_printf(&b, "%s%s", i ? ", " : "", tool_table[i].name);
		rc = agentd_seterr(err, AGENTD_ENOTFOUND, "unknown tool '%.100s'; the tools are: %s",
		    name ? name : "", b.data ? b.data : "");
		abuf_free(&b);
		return rc;
	}
	if (ctx == NULL || ctx->workspace == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no workspace given for tool '%s'", name);
	schema = schema_of(t);
	if (schema == NULL)
		return agentd_seterr(err, AGENTD_EIO, "the schema of tool '%s' does not parse", name);
	if (args == NULL || json_is_null(args))
		args = empty = json_object();
	if (args == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	rc = tools_validate(schema, args, err);
	if (rc == AGENTD_OK && tools_is_cancelled(ctx))
		rc = agentd_seterr(err, AGENTD_ECANCELLED, "cancelled before '%s' ran", name);
	if (rc == AGENTD_OK)
		rc = t->exec(ctx, args, &res, err);
	json_decref(empty);
	if (rc != AGENTD_OK) {
		json_decref(res);
		return rc;
	}
	if (res == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (cap_output(ctx, res) != AGENTD_OK) {
		json_decref(res);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	*result = res;
	return AGENTD_OK;
}

/* Normally intercepted by the loop; called directly it only acknowledges. */
static int
tool_update_plan(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	*result = tools_result(1, "plan recorded");
	return AGENTD_OK;
}

static int
tool_recall(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	json_t *r = NULL;
	int rc;

	if (ctx->recall == NULL) {
		*result = tools_result(0, "recall is not available here");
		return AGENTD_OK;
	}
	rc = ctx->recall(ctx->recall_ud, ajson_str(args, "query", ""),
	    (int)ajson_int(args, "limit", 5), &r);
	if (rc != AGENTD_OK) {
		struct agentd_error e;

		json_decref(r);
		agentd_seterr(&e, rc, "recall failed: %s", agentd_strerror(rc));
		*result = tools_fail(&e);
		return AGENTD_OK;
	}
	if (json_is_object(r) && json_object_get(r, "ok") != NULL) {
		*result = r;
		return AGENTD_OK;
	}
	*result = json_pack("{s:b, s:s, s:o}", "ok", 1, "output", "", "matches",
	    r ? r : json_array());
	if (*result != NULL) {
		char *s = ajson_dumps(json_object_get(*result, "matches"));

		ajson_set_str(*result, "output", s ? s : "");
		free(s);
	}
	return AGENTD_OK;
}
