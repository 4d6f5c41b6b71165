/*
 * agent.c — the plan-act loop: one run from its start (or resume) to its end.
 *
 * Each step: build the request within the context window (context.c), ask
 * the model, normalize its tool calls (native or written in the text),
 * commit the assistant message, its tool-call rows, the usage and the
 * events in one transaction, then run the calls in order — each journaled
 * as started before it runs and finished (with its tool message) after.
 * A run whose status is already "running" was interrupted by a crash: the
 * transcript is rebuilt from the journal and the last step's calls are
 * finished without re-running any side effect.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "agent/internal.h"
#include "common/buf.h"
#include "common/json.h"

#define MAX_CALLS_PER_REPLY	32
#define MAX_PLAN_STEPS		100
#define MAX_PROMPT_FILE		(256 * 1024)
#define NUDGE_PREFIX		"Your plan still has open steps:"
#define MAX_STOP_BLOCKS		8	/* a Stop hook may send the model back this often */
#define HOOK_MSG_MAX		4600
#define MAX_CUT_REPLIES		3	/* replies cut by the output limit in a row, then fail */
#define MAX_CONTEXT_RETRIES	4	/* "the prompt does not fit", then smaller, per step */

static const char default_prompt[] =
    "You are agentd, an agent that carries out the user's task in a software "
    "repository, working only through the tools you are given.\n"
    "\n"
    "How to work:\n"
    "1. First record a short plan with update_plan "
    "({\"steps\":[{\"step\":\"...\",\"status\":\"pending\"}]}). Keep it updated: "
    "mark a step in_progress when you start it and completed when it is done, and "
    "revise the plan when you learn something new.\n"
    "2. Look before you change: list_dir, read_file and grep show the repository; "
    "git_status and git_diff show its state.\n"
    "3. Make precise edits: edit_file with an exact old text, or write_file for new "
    "files. Do not rewrite what you were not asked to change.\n"
    "4. Use shell to run commands such as builds and tests; it runs in a sandbox.\n"
    "5. Commit with the git tools (git_add, git_commit) when the task asks for it, "
    "with a clear message.\n"
    "6. Call tools with arguments that are one JSON object matching the tool's "
    "schema. When a tool reports an error, read it and correct the call instead of "
    "repeating it.\n"
    "7. When the work is done, answer briefly without calling a tool: what you "
    "did and anything the user must know.";

/*
 * The same on a small context window (below 8192 tokens), with the tools in
 * their short form: together they cost about 1,100 tokens instead of 2,300
 * (docs/benchmarks.md), and leave room for the conversation.
 */
static const char small_prompt[] =
    "You are agentd: you do the user's task in a software repository, only through "
    "your tools.\n"
    "1. First record a short plan with update_plan; keep each step's status current.\n"
    "2. Look before you change.\n"
    "3. Edit with edit_file (the exact old text) or write_file (new files).\n"
    "4. shell runs builds and tests in a sandbox; git commands that only read work there.\n"
    "5. Commit with git_add and git_commit when the task asks.\n"
    "6. If a tool reports an error, fix the call; do not repeat it.\n"
    "7. When done, answer briefly without calling a tool: what you did.";

const char *
agent_small_system_prompt(void)
{
	return small_prompt;
}

void
agent_config_init(struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	llm_config_init(&c->llm);
	c->max_steps = 50;
	c->max_wall_s = 1800;
	c->max_tokens = 2000000;
	c->context_window = 0;
	c->context_reserve = 1024;
	c->context_low_water = 60;
	c->tool_output_cap = 16 * 1024;
	c->repeat_fail_limit = 3;
	c->resume = 1;
	c->policy = SANDBOX_WORKSPACE_WRITE;
	c->approval = "never";
	c->approval_timeout_s = 60;
	c->project_doc = 1;
	c->project_doc_max_bytes = 32 * 1024;
	c->skills = 1;
}

const char *
agent_default_system_prompt(void)
{
	return default_prompt;
}

/* ------------------------------------------------------------------ */
/* events and small helpers                                           */

int
agent_emit(struct arun *r, const char *type, json_t *data, int how, struct agentd_error *err)
{
	int64_t seq = 0;
	int rc = AGENTD_OK;

	if (data == NULL)
		data = json_object();
	if (data == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (how & EMIT_STORE)
		rc = memory_event_add(r->m, r->run_id, type, data, &seq, err);
	if (rc == AGENTD_OK && (how & EMIT_HOOK) && r->hooks != NULL && r->hooks->event != NULL) {
		int level = memory_txn_depth(r->m);

		if (level == 0) {
			r->hooks->event(r->hooks->ud, r->run_id, seq, type, data);
		} else if (r->n_held < HELD_MAX) {
			/* held until the transaction commits (agent_txn_ended) */
			if (r->n_held == r->cap_held) {
				size_t nc = r->cap_held ? r->cap_held * 2 : 8;
				struct held_event *v = realloc(r->held, nc * sizeof(*v));

				if (v == NULL) {
					json_decref(data);
					return agentd_seterr(err, AGENTD_ENOMEM, NULL);
				}
				r->held = v;
				r->cap_held = nc;
			}
			r->held[r->n_held++] = (struct held_event){ level, seq, type,
			    json_incref(data) };
		}
	}
	json_decref(data);
	return rc;
}

/* memory's transaction hook: a level ended. Committed at depth 0: tell the
 * held events, in order; committed deeper: they now belong to the level
 * below; rolled back: the events of the levels that ended are dropped. */
static void
agent_txn_ended(void *ud, int depth, int committed)
{
	struct arun *r = ud;
	size_t i, k = 0;

	for (i = 0; i < r->n_held; i++) {
		struct held_event *h = &r->held[i];

		if (h->level <= depth) {
			r->held[k++] = *h;
		} else if (!committed) {
			json_decref(h->data);
		} else if (depth > 0) {
			h->level = depth;
			r->held[k++] = *h;
		} else {
			if (r->hooks != NULL && r->hooks->event != NULL)
				r->hooks->event(r->hooks->ud, r->run_id, h->seq, h->type, h->data);
			json_decref(h->data);
		}
	}
	r->n_held = k;
}

int
agent_is_cancelled(struct arun *r)
{
	if (r->hooks == NULL || r->hooks->cancelled == NULL)
		return 0;
	return r->hooks->cancelled(r->hooks->ud);
}

int
agent_stop_now(struct arun *r)
{
	int c = agent_is_cancelled(r);

	return c == AGENT_STOP_DRAIN ? 0 : c;
}

/* Stopped because agentd stops (now or after what is in flight)? */
static int
stop_is_interrupt(int c)
{
	return c == AGENT_STOP_INTERRUPT || c == AGENT_STOP_DRAIN;
}

/* Seconds the run has been worked on: this life and the earlier ones (the
 * journal keeps the total with each step; downtime does not count). */
static double
elapsed_s(const struct arun *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return r->active_before + (double)(now.tv_sec - r->t0.tv_sec) +
	    (double)(now.tv_nsec - r->t0.tv_nsec) / 1e9;
}

/* Errors that come from the journal end agent_run with an error. */
static int
is_journal_error(int code)
{
	return code == AGENTD_EDB || code == AGENTD_EIO || code == AGENTD_ENOSPC ||
	    code == AGENTD_ENOMEM || code == AGENTD_ECORRUPT;
}

static void
set_end(struct arun *r, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_end(struct arun *r, const char *status, const char *fmt, ...)
{
	va_list ap;

	if (r->end_status != NULL)
		return;
	r->end_status = status;
	r->end_reason[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(r->end_reason, sizeof(r->end_reason), fmt, ap);
		va_end(ap);
	}
}

/*
 * The run was told to stop: cancelled by a person (it ends "cancelled"), or
 * interrupted because agentd is stopping (it resumes at the next start).
 */
static void
set_stopped(struct arun *r)
{
	if (stop_is_interrupt(agent_is_cancelled(r)))
		set_end(r, "interrupted", AGENT_INTERRUPTED_REASON);
	else
		set_end(r, "cancelled", "cancelled");
}

static int
interrupted(const struct arun *r)
{
	return r->end_status != NULL && strcmp(r->end_status, "interrupted") == 0;
}

char *
agent_plan_text(const json_t *plan, int open_only)
{
	json_t *steps = json_object_get(plan, "steps"), *s;
	struct abuf b;
	size_t i;
	int n = 0;

	abuf_init(&b, 1 << 20);
	json_array_foreach(steps, i, s) {
		const char *st = ajson_str(s, "status", "pending");

		if (open_only && strcmp(st, "completed") == 0)
			continue;
		if (abuf_printf(&b, "%s%zu. %s (%s)", n++ ? "\n" : "", i + 1,
		    ajson_str(s, "step", ""), st) != AGENTD_OK) {
			abuf_free(&b);
			return NULL;
		}
	}
	return abuf_steal(&b);
}

static int
plan_open(const json_t *plan)
{
	json_t *steps = json_object_get(plan, "steps"), *s;
	size_t i;

	json_array_foreach(steps, i, s)
		if (strcmp(ajson_str(s, "status", "pending"), "completed") != 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* callbacks given to llm/ and tools/                                 */

static int
cb_cancelled(void *ud)
{
	return agent_is_cancelled(ud);
}

/* For a tool call already running: it finishes while agentd drains. */
static int
cb_tool_cancelled(void *ud)
{
	return agent_stop_now(ud);
}

static void
cb_retry(void *ud, int attempt, long delay_ms, const char *reason)
{
	agent_emit(ud, "retry", json_pack("{s:i, s:I, s:s}", "attempt", attempt,
	    "delay_ms", (json_int_t)delay_ms, "reason", reason ? reason : ""), EMIT_BOTH, NULL);
}

/* Length of an incomplete UTF-8 sequence at the end of s[0,n). */
static size_t
utf8_tail(const char *s, size_t n)
{
	size_t k;

	for (k = 1; k <= 3 && k <= n; k++) {
		unsigned char c = (unsigned char)s[n - k];
		size_t need;

		if ((c & 0xC0) == 0x80)
			continue;	/* continuation byte: look further back */
		if (c >= 0xF0)
			need = 4;
		else if (c >= 0xE0)
			need = 3;
		else if (c >= 0xC0)
			need = 2;
		else
			return 0;
		return need > k ? k : 0;
	}
	return 0;
}

static void
cb_delta(void *ud, const char *kind, const char *s, size_t n)
{
	struct arun *r = ud;
	char buf[4096];
	const char *p = s;
	size_t len = n, keep;
	json_t *d;

	if (r->hooks == NULL || r->hooks->event == NULL || n == 0)
		return;
	if (r->carry_len > 0 && r->carry_kind == kind && n + r->carry_len <= sizeof(buf)) {
		memcpy(buf, r->carry_kind ? r->utf8_carry : "", r->carry_len);
		memcpy(buf + r->carry_len, s, n);
		p = buf;
		len = n + r->carry_len;
	}
	r->carry_len = 0;
	keep = utf8_tail(p, len);
	if (keep > 0 && keep < sizeof(r->utf8_carry)) {
		memcpy(r->utf8_carry, p + len - keep, keep);
		r->carry_len = keep;
		r->carry_kind = kind;
		len -= keep;
	}
	if (len == 0)
		return;
	d = json_object();
	if (d == NULL)
		return;
	json_object_set_new(d, "delta", ajson_string_lossy(p, len));
	agent_emit(r, strcmp(kind, "reasoning") == 0 ? "reasoning" : "text", d, EMIT_HOOK, NULL);
}

static int
cb_recall(void *ud, const char *query, int limit, json_t **result)
{
	struct arun *r = ud;

	return memory_search(r->m, query, r->user_workspace, limit > 0 ? limit : 10,
	    result, NULL);
}

/* ------------------------------------------------------------------ */
/* tools offered to the model                                         */

static const char update_plan_schema[] =
    "{\"type\":\"object\",\"properties\":{\"steps\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"object\",\"properties\":{\"step\":{\"type\":\"string\"},\"status\":"
    "{\"type\":\"string\",\"enum\":[\"pending\",\"in_progress\",\"completed\"]}},"
    "\"required\":[\"step\",\"status\"]}},\"explanation\":{\"type\":\"string\"}},"
    "\"required\":[\"steps\"]}";
static const char skill_schema[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"file\":{\"type\":\"string\"}},\"required\":[\"name\"],"
    "\"additionalProperties\":false}";
static const char recall_schema[] =
    "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},\"limit\":"
    "{\"type\":\"integer\",\"minimum\":1,\"maximum\":50}},\"required\":[\"query\"]}";

/* Used only when tools/ does not list the loop's own tools (and for the
 * skill tool, which it never does). */
static const struct tool_entry agent_tools[] = {
	{ "update_plan", "Record or revise your plan: the whole list of steps, each "
	    "pending, in_progress or completed. Call it first, and whenever a step "
	    "changes.", update_plan_schema, TOOL_AGENT, NULL,
	    "Record your plan: every step with its status.", NULL },
	{ "recall", "Search the conversations of earlier sessions in this workspace "
	    "(full-text query); returns matching snippets.", recall_schema,
	    TOOL_AGENT | TOOL_READ_ONLY, NULL, NULL, NULL },
	{ "skill", "Load a skill by name: its instructions and the list of its files. With "
	    "\"file\", read one of its files (e.g. references/api.md).", skill_schema,
	    TOOL_AGENT | TOOL_READ_ONLY, NULL,
	    "Load a skill by name; with file, one of its files.", NULL },
	{ "tool_search", "Find tools of the connected MCP servers by what they do.",
	    TOOL_SEARCH_SCHEMA, TOOL_AGENT | TOOL_READ_ONLY, NULL, NULL, NULL },
	{ NULL, NULL, NULL, 0, NULL, NULL, NULL }
};

json_t *
agent_compact_tools(const json_t *tools)
{
	return tools_openai_compact(tools, agent_tools);
}

static const struct tool_entry *
find_tool(const char *name)
{
	const struct tool_entry *te = tools_find(name);
	size_t i;

	if (te != NULL)
		return te;
	for (i = 0; agent_tools[i].name != NULL; i++)
		if (strcmp(agent_tools[i].name, name) == 0)
			return &agent_tools[i];
	return NULL;
}


static const char *
tool_name_of(const json_t *t)
{
	return ajson_str(json_object_get(t, "function"), "name", "");
}

/* The OpenAI tools array for this run: the allowed tools plus the loop's. */
static int
build_tools(struct arun *r, struct agentd_error *err)
{
	json_t *all = tools_openai_json(), *t, *out = json_array();
	size_t i, k;
	int have[2] = { 0, 0 };

	if (all == NULL || out == NULL) {
		json_decref(all);
		json_decref(out);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	json_array_foreach(all, i, t) {
		const char *name = tool_name_of(t);

		for (k = 0; k < 2; k++)
			if (strcmp(name, agent_tools[k].name) == 0)
				have[k] = 1;
		if (r->allowed == NULL || ajson_array_has(r->allowed, name) ||
		    strcmp(name, "update_plan") == 0 || strcmp(name, "recall") == 0)
			json_array_append(out, t);
	}
	json_decref(all);
	for (k = 0; k < 2; k++) {
		json_t *schema;

		if (have[k])
			continue;
		schema = json_loads(agent_tools[k].schema, 0, NULL);
		json_array_append_new(out, json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function",
		    "function", "name", agent_tools[k].name, "description",
		    agent_tools[k].description, "parameters", schema));
	}
	r->tools = out;
	return AGENTD_OK;
}

static int
tool_offered(const struct arun *r, const char *name)
{
	size_t i;
	json_t *t;

	json_array_foreach(r->tools, i, t)
		if (strcmp(tool_name_of(t), name) == 0)
			return 1;
	return 0;
}

/* "a, b, c" of the offered tools (malloc'd). */
static char *
offered_names(const struct arun *r)
{
	struct abuf b;
	size_t i;
	json_t *t;

	abuf_init(&b, 1 << 16);
	json_array_foreach(r->tools, i, t)
		abuf_printf(&b, "%s%s", i ? ", " : "", tool_name_of(t));
	return abuf_steal(&b);
}

static const json_t *
tool_schema(struct arun *r, const struct tool_entry *te)
{
	json_t *s = json_object_get(r->schemas, te->name);

	if (s == NULL) {
		s = json_loads(te->schema ? te->schema : "{}", 0, NULL);
		if (s == NULL)
			return NULL;
		json_object_set_new(r->schemas, te->name, s);
	}
	return s;
}

/* "path (string), content (string)" — the required fields of a schema. */
static char *
required_text(const json_t *schema)
{
	json_t *req = json_object_get(schema, "required"), *props, *v;
	struct abuf b;
	size_t i;

	props = json_object_get(schema, "properties");
	abuf_init(&b, 1 << 14);
	json_array_foreach(req, i, v) {
		const char *f = json_string_value(v);

		if (f == NULL)
			continue;
		abuf_printf(&b, "%s%s (%s)", i ? ", " : "", f,
		    ajson_str(json_object_get(props, f), "type", "any"));
	}
	if (b.len == 0)
		abuf_puts(&b, "none");
	return abuf_steal(&b);
}

/* ------------------------------------------------------------------ */
/* tool calls                                                         */

struct call {
	char id[16];
	char *name;		/* sanitized; owned */
	char *raw;		/* arguments as received; owned */
	json_t *args;		/* parsed object or NULL */
	char perr[600];		/* why args could not be parsed */
	int repaired;
	const struct tool_entry *te;	/* NULL: unknown or not offered */
	int step;
};

static void
call_clear(struct call *c)
{
	free(c->name);
	free(c->raw);
	json_decref(c->args);
	memset(c, 0, sizeof(*c));
}

/* Our own call id: 9 alphanumerics (some templates insist), unique in a run. */
static void
make_id(char id[16], int step, int index)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned v = (unsigned)step, w = (unsigned)index;
	int i;

	id[0] = 'c';
	for (i = 5; i >= 1; i--) {
		id[i] = digits[v % 36];
		v /= 36;
	}
	for (i = 8; i >= 6; i--) {
		id[i] = digits[w % 36];
		w /= 36;
	}
	id[9] = '\0';
}

static char *
sanitize_name(const char *s)
{
	size_t i, n = strlen(s);
	char *o;

	if (n > 64)
		n = 64;
	o = malloc(n + 1);
	if (o == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		char c = s[i];

		o[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.') ? c : '_';
	}
	o[n] = '\0';
	if (n == 0) {
		free(o);
		o = strdup("unnamed");
	}
	return o;
}

/* Fill c from a name and raw argument text. */
static int
call_prepare(struct arun *r, struct call *c, const char *name, const char *raw,
    const char *id, int step)
{
	struct agentd_error pe;
	const char *text = raw ? raw : "";
	size_t i;

	c->name = sanitize_name(name ? name : "");
	c->raw = strdup(text);
	if (c->name == NULL || c->raw == NULL)
		return AGENTD_ENOMEM;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->step = step;
	for (i = 0; text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'; i++)
		;
	agentd_error_clear(&pe);
	if (text[i] == '\0')
		c->args = json_object();	/* no arguments at all: {} */
	else
		c->args = llm_parse_arguments(text, &c->repaired, &pe);
	if (c->args != NULL && !json_is_object(c->args)) {
		json_decref(c->args);
		c->args = NULL;
		snprintf(pe.msg, sizeof(pe.msg), "the arguments are not a JSON object");
	}
	if (c->args == NULL)
		snprintf(c->perr, sizeof(c->perr), "%s", agentd_errmsg(&pe));
	c->te = tool_offered(r, c->name) ? find_tool(c->name) : NULL;
	return AGENTD_OK;
}

/*
 * The arguments a call goes back to the model with. A valid JSON object as
 * the model wrote it goes back byte for byte (a server that renders the
 * string as it is then finds in its prompt cache the tokens it generated;
 * one that parses it gets the same object). Repaired arguments go back as
 * the repaired object, broken ones and calls of unknown tools as {}: a
 * strict server rejects a request whose arguments are not JSON.
 */
static char *
stored_arguments(const struct call *c)
{
	json_t *v;
	int same;

	if (c->te == NULL || c->args == NULL)
		return strdup("{}");
	if (!c->repaired && c->raw != NULL && c->raw[0] != '\0') {
		v = json_loads(c->raw, JSON_REJECT_DUPLICATES, NULL);
		same = json_is_object(v) && json_equal(v, c->args);
		json_decref(v);
		if (same)
			return strdup(c->raw);
	}
	return json_dumps(c->args, JSON_COMPACT);
}

/* Text sent back to the model for a tool result object. */
static char *
result_text(const json_t *res, size_t cap, int *ok)
{
	struct abuf b;
	const char *key;
	json_t *v;
	char *s, *cut;
	size_t len;

	*ok = json_is_true(json_object_get(res, "ok"));
	abuf_init(&b, (size_t)256 << 20);
	if (!*ok)
		abuf_puts(&b, "Error: ");
	abuf_puts(&b, ajson_str(res, "output", ajson_str(res, "error", "")));
	json_object_foreach((json_t *)res, key, v) {
		if (strcmp(key, "ok") == 0 || strcmp(key, "output") == 0 ||
		    (!*ok && strcmp(key, "error") == 0 && !json_is_string(json_object_get(res, "output"))))
			continue;
		if (json_is_string(v)) {
			if (json_string_length(v) == 0)
				continue;
			abuf_printf(&b, "\n[%s]\n%s", key, json_string_value(v));
		} else {
			char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			abuf_printf(&b, "\n[%s] %s", key, d ? d : "?");
			free(d);
		}
	}
	s = abuf_steal(&b);
	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (len <= cap)
		return s;
	cut = buf_cut_middle(s, len, cap, NULL);
	free(s);
	return cut;
}

static int
fail_note(struct arun *r, const struct call *c, const char *why)
{
	char *args = c->args ? json_dumps(c->args, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	struct abuf b;
	char *key;
	int i, limit = r->cfg->repeat_fail_limit > 0 ? r->cfg->repeat_fail_limit : 3;

	abuf_init(&b, 1 << 20);
	abuf_printf(&b, "%s %s", c->name, args ? args : c->raw);
	free(args);
	key = abuf_steal(&b);
	if (key == NULL)
		return AGENTD_ENOMEM;
	for (i = 0; i < r->nfails; i++)
		if (strcmp(r->fails[i].key, key) == 0)
			break;
	if (i == r->nfails) {
		if (r->nfails == (int)(sizeof(r->fails) / sizeof(r->fails[0]))) {
			free(r->fails[0].key);
			memmove(&r->fails[0], &r->fails[1], sizeof(r->fails[0]) * (size_t)(r->nfails - 1));
			r->nfails--;
			i = r->nfails;
		}
		r->fails[i].key = key;
		r->fails[i].count = 0;
		r->nfails++;
	} else {
		free(key);
	}
	if (++r->fails[i].count >= limit && why != NULL) {
		char shown[300];

		snprintf(shown, sizeof(shown), "%s", r->fails[i].key);
		set_end(r, "failed", "the same failing call was repeated %d times: %s — %.600s",
		    r->fails[i].count, shown, why);
	}
	return AGENTD_OK;
}

/* Journal the end of a call and answer it (one transaction). */
static int
call_finish(struct arun *r, const struct call *c, int started, const char *text, int ok,
    struct agentd_error *err)
{
	struct memory_msg mm;
	int64_t seq = 0;
	char summary[160];
	size_t n;
	int rc;

	memset(&mm, 0, sizeof(mm));
	mm.run_id = r->run_id;
	mm.role = "tool";
	mm.content = text;
	mm.tool_call_id = c->id;
	mm.step = c->step;
	n = strcspn(text, "\n");
	snprintf(summary, sizeof(summary), "%.*s%s", (int)(n < 120 ? n : 120), text,
	    n > 120 || text[n] != '\0' ? "…" : "");
	rc = memory_begin(r->m, err);
	if (rc != AGENTD_OK)
		return rc;
	if (!started)
		rc = memory_tool_started(r->m, r->run_id, c->id, err);
	if (rc == AGENTD_OK)
		rc = memory_tool_finished(r->m, r->run_id, c->id, text, ok, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_active(r->m, r->run_id, elapsed_s(r), err);
	if (rc == AGENTD_OK)
		rc = memory_msg_add(r->m, r->session_id, &mm, &seq, err);
	if (rc == AGENTD_OK)
		rc = agent_emit(r, "tool_result", json_pack("{s:s, s:s, s:b, s:s, s:s}", "id", c->id,
		    "name", c->name, "ok", ok, "summary", summary, "output", text), EMIT_BOTH, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	if (rc != AGENTD_OK) {
		memory_rollback(r->m);
		return rc;
	}
	return ctx_append(&r->ctx, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
	    c->id, "content", text), seq, r->run_id);
}

static int
finish_error(struct arun *r, const struct call *c, const char *text, int count,
    struct agentd_error *err)
{
	int rc = call_finish(r, c, 0, text, 0, err);

	if (rc == AGENTD_OK && count)
		rc = fail_note(r, c, text);
	return rc;
}

/* update_plan: validate, store a version, tell the client. */
static int
do_plan(struct arun *r, const struct call *c, struct agentd_error *err)
{
	json_t *steps = json_object_get(c->args, "steps"), *s, *plan, *out;
	char msg[400];
	size_t i;
	int version = 0, rc;

	out = json_array();
	if (out == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (!json_is_array(steps) || json_array_size(steps) > MAX_PLAN_STEPS) {
		json_decref(out);
		snprintf(msg, sizeof(msg), "Invalid plan: \"steps\" must be an array of at most %d "
		    "objects {\"step\": string, \"status\": \"pending\"|\"in_progress\"|\"completed\"}.",
		    MAX_PLAN_STEPS);
		return finish_error(r, c, msg, 1, err);
	}
	json_array_foreach(steps, i, s) {
		const char *text = ajson_str(s, "step", NULL), *st = ajson_str(s, "status", NULL);

		if (text == NULL || text[0] == '\0' || st == NULL ||
		    (strcmp(st, "pending") && strcmp(st, "in_progress") && strcmp(st, "completed"))) {
			json_decref(out);
			snprintf(msg, sizeof(msg), "Invalid plan: step %zu needs a non-empty \"step\" "
			    "string and a \"status\" of pending, in_progress or completed.", i + 1);
			return finish_error(r, c, msg, 1, err);
		}
		json_array_append_new(out, json_pack("{s:s%, s:s}", "step", text,
		    strlen(text) > 1000 ? (size_t)1000 : strlen(text), "status", st));
	}
	plan = json_pack("{s:o}", "steps", out);
	if (plan == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	rc = memory_begin(r->m, err);
	if (rc == AGENTD_OK)
		rc = memory_plan_add(r->m, r->run_id, plan, &version, err);
	if (rc == AGENTD_OK)
		rc = agent_emit(r, "plan", json_pack("{s:O, s:i}", "steps", out, "version", version),
		    EMIT_BOTH, err);
	if (rc == AGENTD_OK)
		rc = call_finish(r, c, 0, "plan updated", 1, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	if (rc != AGENTD_OK) {
		memory_rollback(r->m);
		json_decref(plan);
		return rc;
	}
	json_decref(r->plan);
	r->plan = plan;
	return AGENTD_OK;
}

/* A call that asks for more than the run's policy (the network, a stronger
 * sandbox): ask or deny. `reason` says what is asked, for the person. */
static int
approve_escalation(struct arun *r, const struct call *c, const char *reason, int *granted,
    struct agentd_error *err)
{
	json_t *req;
	const char *by;

	*granted = 0;
	r->deny_said[0] = '\0';
	req = json_pack("{s:s, s:s, s:O, s:s}", "id", c->id, "tool", c->name, "arguments",
	    c->args, "reason", reason);
	if (req == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (r->hook_allowed) {
		/* the user's own PreToolUse hook answered "allow" for this call */
		*granted = 1;
		by = "hook";
	} else if (strcmp(r->approval, "ask") != 0) {
		by = "policy";
	} else if (r->unattended) {
		by = "unattended";
	} else if (r->hooks == NULL || r->hooks->approve == NULL) {
		by = "nobody";
	} else {
		int t = r->cfg->approval_timeout_s > 0 ? r->cfg->approval_timeout_s : 60;
		struct hook_result h;
		char msg[400];
		int rc;

		snprintf(msg, sizeof(msg), "agentd run %lld waits for your approval: %.300s",
		    (long long)r->run_id, reason);
		rc = hooks_fire(r, "Notification", "permission_prompt", json_pack("{s:s, s:s}",
		    "message", msg, "notification_type", "permission_prompt"), &h, err);
		hook_result_free(&h);
		if (rc != AGENTD_OK) {
			json_decref(req);
			return rc;
		}
		*granted = r->hooks->approve(r->hooks->ud, r->run_id, req, t) == 1;
		if (!*granted && stop_is_interrupt(agent_is_cancelled(r))) {
			/* agentd stopped while the person was asked: nobody
			 * answered; the call stays open and asks again on resume */
			set_stopped(r);
			json_decref(req);
			return AGENTD_OK;
		}
		by = "user";
		if (!*granted && ajson_str(req, "deny_reason", NULL) != NULL)
			snprintf(r->deny_said, sizeof(r->deny_said), " The person said: %.280s",
			    ajson_str(req, "deny_reason", ""));
	}
	return agent_emit(r, "approval", json_pack("{s:s, s:o, s:b, s:s}", "id", c->id,
	    "request", req, "granted", *granted, "by", by), EMIT_BOTH, err);
}

/* The `skill` tool: a skill's instructions, or one of its files; an
 * unknown name lists the skills there are. New result object. */
static json_t *
do_skill(struct arun *r, const struct call *c)
{
	const char *name = ajson_str(c->args, "name", "");
	const json_t *sk = agent_skills_find(r->skills, name);
	struct agentd_error e;
	json_t *res, *s;
	struct abuf b;
	char *text = NULL;
	size_t i;

	if (sk == NULL) {
		abuf_init(&b, 1 << 20);
		abuf_printf(&b, "No skill named \"%.100s\". The skills are:\n", name);
		json_array_foreach(r->skills, i, s)
			abuf_printf(&b, "- %s: %s\n", ajson_str(s, "name", ""),
			    ajson_str(s, "description", ""));
		res = tools_result(0, b.data ? b.data : "");
		abuf_free(&b);
		return res;
	}
	agentd_error_clear(&e);
	if (agent_skill_load(sk, ajson_str(c->args, "file", NULL), &text, &e) != AGENTD_OK) {
		char msg[700];

		snprintf(msg, sizeof(msg), "Cannot read %s of skill %s: %s",
		    ajson_str(c->args, "file", "the instructions"), name, agentd_errmsg(&e));
		return tools_result(0, msg);
	}
	res = tools_result(1, text);
	free(text);
	return res;
}

/* End the run because a hook said `continue: false`. */
static void
hook_stop(struct arun *r, const char *event, const struct hook_result *h)
{
	set_end(r, "cancelled", "stopped by the %s hook: %.500s", event,
	    h->stop_reason ? h->stop_reason : "no reason given");
}

/*
 * The user's PreToolUse hooks: a block or a "deny" answers the call with
 * the hook's reason; "ask" goes through approvals; "allow" grants what
 * approvals would have asked; `updatedInput` replaces the arguments (checked
 * against the schema again). *done: the call was answered here.
 */
static int
pre_tool_hooks(struct arun *r, struct call *c, int *done, struct agentd_error *err)
{
	struct hook_result h;
	struct agentd_error te;
	char msg[HOOK_MSG_MAX];
	int rc, granted;

	*done = 0;
	rc = hooks_fire(r, "PreToolUse", c->name, json_pack("{s:s, s:O, s:s}", "tool_name",
	    c->name, "tool_input", c->args, "tool_use_id", c->id), &h, err);
	if (rc != AGENTD_OK)
		goto out;
	if (h.stop) {
		hook_stop(r, "PreToolUse", &h);
		*done = 1;
		rc = finish_error(r, c, "Not run: the user's hook stopped the run.", 0, err);
		goto out;
	}
	if (h.blocked || (h.decision && strcmp(h.decision, "deny") == 0)) {
		snprintf(msg, sizeof(msg), "Blocked by the user's PreToolUse hook: %s",
		    h.reason ? h.reason : "no reason given");
		*done = 1;
		rc = finish_error(r, c, msg, 0, err);
		goto out;
	}
	if (h.updated_input != NULL) {
		agentd_error_clear(&te);
		if (tool_schema(r, c->te) != NULL &&
		    tools_validate(tool_schema(r, c->te), h.updated_input, &te) != AGENTD_OK) {
			snprintf(msg, sizeof(msg), "Not run: the user's PreToolUse hook changed the "
			    "arguments into invalid ones: %s", agentd_errmsg(&te));
			*done = 1;
			rc = finish_error(r, c, msg, 0, err);
			goto out;
		}
		json_decref(c->args);
		c->args = h.updated_input;
		h.updated_input = NULL;
	}
	if (h.decision && strcmp(h.decision, "ask") == 0) {
		snprintf(msg, sizeof(msg), "a PreToolUse hook asks: %s",
		    h.reason ? h.reason : "no reason given");
		rc = approve_escalation(r, c, msg, &granted, err);
		if (rc == AGENTD_OK && interrupted(r)) {
			*done = 1;	/* left open for the resume */
		} else if (rc == AGENTD_OK && !granted) {
			snprintf(msg, sizeof(msg), "Denied: the user's hook asked for approval of "
			    "this call and it was not given (approval: %s).%s", r->approval,
			    r->deny_said);
			*done = 1;
			rc = finish_error(r, c, msg, 0, err);
		}
		goto out;
	}
	if (h.decision && strcmp(h.decision, "allow") == 0)
		r->hook_allowed = 1;
out:
	hook_result_free(&h);
	return rc;
}

/* PostToolUse (or PostToolUseFailure): what the hooks say is added to the
 * result the model reads; a `continue: false` ends the run after it. */
static int
post_tool_hooks(struct arun *r, const struct call *c, int ok, char **text,
    struct agentd_error *err)
{
	const char *event = ok ? "PostToolUse" : "PostToolUseFailure";
	struct hook_result h;
	json_t *f;
	int rc;

	f = json_pack("{s:s, s:O, s:s, s:s}", "tool_name", c->name, "tool_input", c->args,
	    "tool_use_id", c->id, ok ? "tool_response" : "error", *text);
	rc = hooks_fire(r, event, c->name, f, &h, err);
	if (rc == AGENTD_OK && (h.blocked || h.context)) {
		struct abuf b;

		abuf_init(&b, (size_t)64 << 20);
		if (abuf_puts(&b, *text) || (h.blocked && abuf_printf(&b, "\n\nThe user's %s hook "
		    "says: %s", event, h.reason ? h.reason : "")) || (h.context &&
		    abuf_printf(&b, "\n\nContext from the user's %s hook: %s", event, h.context))) {
			abuf_free(&b);
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		} else {
			free(*text);
			*text = abuf_steal(&b);
			if (*text == NULL)
				rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
	}
	if (rc == AGENTD_OK && h.stop)
		hook_stop(r, event, &h);
	hook_result_free(&h);
	return rc;
}

/*
 * Run one call to its journaled end. `started`: the row is already marked
 * started (a read-only call re-run on resume).
 */
static int
run_call(struct arun *r, struct call *c, int started, struct agentd_error *err)
{
	struct tool_ctx tc = r->tctx;
	struct agentd_error te;
	json_t *res = NULL;
	char *text, *names, *req;
	const char *asked;
	enum sandbox_policy want;
	char msg[2048];
	int rc, ok, granted, done = 0;

	r->hook_allowed = 0;
	if (agent_is_cancelled(r))
		set_stopped(r);
	if (interrupted(r))
		return AGENTD_OK;	/* left open: it runs when the run resumes */
	if (r->end_status != NULL)
		return call_finish(r, c, started, "Not run: the run was cancelled.", 0, err);
	if (c->te == NULL) {
		names = offered_names(r);
		snprintf(msg, sizeof(msg), "Unknown tool \"%s\"%s. Valid tools: %s.", c->name,
		    find_tool(c->name) ? " (not available in this run)" : "", names ? names : "");
		free(names);
		return finish_error(r, c, msg, 1, err);
	}
	if (c->args == NULL) {
		req = required_text(tool_schema(r, c->te));
		snprintf(msg, sizeof(msg), "Could not parse the arguments of %s: %s. Send the "
		    "arguments as one JSON object; required fields: %s.", c->name, c->perr,
		    req ? req : "?");
		free(req);
		return finish_error(r, c, msg, 1, err);
	}
	agentd_error_clear(&te);
	if (tool_schema(r, c->te) != NULL &&
	    tools_validate(tool_schema(r, c->te), c->args, &te) != AGENTD_OK) {
		req = required_text(tool_schema(r, c->te));
		snprintf(msg, sizeof(msg), "Invalid arguments for %s: %s. Required fields: %s; "
		    "schema: %.600s", c->name, agentd_errmsg(&te), req ? req : "?",
		    c->te->schema ? c->te->schema : "{}");
		free(req);
		return finish_error(r, c, msg, 1, err);
	}
	rc = pre_tool_hooks(r, c, &done, err);
	if (rc != AGENTD_OK || done)
		return rc;
	if (strcmp(c->name, "update_plan") == 0)
		return do_plan(r, c, err);
	if (((c->te->flags & TOOL_NEEDS_NETWORK) || json_is_true(json_object_get(c->args, "network"))) &&
	    !r->network) {
		rc = approve_escalation(r, c, "network access (this run has none)", &granted, err);
		if (rc != AGENTD_OK || interrupted(r))
			return rc;	/* interrupted: left open for the resume */
		if (!granted) {
			snprintf(msg, sizeof(msg), "Denied: this run has no network access and the "
			    "request was not approved (approval: %s). Do the work without the network, "
			    "or explain in your answer what needs it.%s", r->approval, r->deny_said);
			return finish_error(r, c, msg, 0, err);
		}
		tc.sandbox.network = 1;
	}
	/* The policy asked for this one call (the schema's enum has already
	 * checked the name): stronger needs approval, the same or weaker is
	 * used as asked. */
	if ((asked = ajson_str(c->args, "policy", NULL)) != NULL &&
	    sandbox_policy_parse(asked, &want) == 0) {
		if (want > tc.sandbox.policy) {
			char why[160];

			snprintf(why, sizeof(why), "sandbox policy %s for this command (the run's is %s)",
			    sandbox_policy_name(want), sandbox_policy_name(tc.sandbox.policy));
			rc = approve_escalation(r, c, why, &granted, err);
			if (rc != AGENTD_OK || interrupted(r))
				return rc;	/* interrupted: left open for the resume */
			if (!granted) {
				snprintf(msg, sizeof(msg), "Denied: the %s policy was not approved "
				    "(approval: %s); the run's policy is %s. Do the work within it, or "
				    "explain in your answer what needs more.%s", sandbox_policy_name(want),
				    r->approval, sandbox_policy_name(tc.sandbox.policy), r->deny_said);
				return finish_error(r, c, msg, 0, err);
			}
		}
		tc.sandbox.policy = want;
	}
	if (c->te->flags & TOOL_APPROVE) {
		char why[200];

		snprintf(why, sizeof(why), "a side-effecting call to an MCP server whose "
		    "configuration asks for approval of each (%.64s)", c->name);
		rc = approve_escalation(r, c, why, &granted, err);
		if (rc != AGENTD_OK || interrupted(r))
			return rc;	/* interrupted: left open for the resume */
		if (!granted) {
			snprintf(msg, sizeof(msg), "Denied: calls to this MCP tool need approval and it "
			    "was not given (approval: %s%s). Do the work without it, or explain in your "
			    "answer what needs it.%s", r->approval, r->unattended ? ", unattended run" : "",
			    r->deny_said);
			return finish_error(r, c, msg, 0, err);
		}
	}
	/* A side-effecting call is durably "started" before it runs; a
	 * read-only one may run again after a crash anyway, so its start is
	 * recorded with its end (one commit less per step). */
	if (!started && !(c->te->flags & TOOL_READ_ONLY)) {
		rc = memory_tool_started(r->m, r->run_id, c->id, err);
		if (rc != AGENTD_OK)
			return rc;
		started = 1;
	}
	agentd_error_clear(&te);
	if (strcmp(c->name, "skill") == 0) {
		res = do_skill(r, c);
		rc = res ? AGENTD_OK : agentd_seterr(&te, AGENTD_ENOMEM, NULL);
	} else if (strcmp(c->name, "tool_search") == 0) {
		res = agent_tool_search(r, c->args);
		rc = res ? AGENTD_OK : agentd_seterr(&te, AGENTD_ENOMEM, NULL);
	} else if (strcmp(c->name, "recall") == 0 && tools_find("recall") == NULL) {
		json_t *hits = NULL;

		rc = cb_recall(r, ajson_str(c->args, "query", ""), (int)ajson_int(c->args, "limit", 10), &hits);
		if (rc == AGENTD_OK) {
			char *d = json_dumps(hits, JSON_COMPACT);

			res = tools_result(1, d ? d : "[]");
			free(d);
			json_decref(hits);
		} else {
			agentd_seterr(&te, rc, "search failed");
		}
	} else {
		r->cur_call = c->id;	/* for an MCP server's progress */
		r->progress_n = 0;
		rc = tools_call(&tc, c->name, c->args, &res, &te);
		r->cur_call = NULL;
	}
	if (rc == AGENTD_ECANCELLED || (rc == AGENTD_OK && agent_is_cancelled(r) &&
	    json_is_true(json_object_get(res, "cancelled")))) {
		json_decref(res);
		set_stopped(r);
		if (interrupted(r))
			return call_finish(r, c, started, "The call was stopped: agentd was stopped "
			    "while it ran, so it may be partly done. Check the state (e.g. git_status, "
			    "read_file) before repeating it.", 0, err);
		return call_finish(r, c, started, "The call was stopped: the run was cancelled.", 0, err);
	}
	if (rc != AGENTD_OK || res == NULL) {
		snprintf(msg, sizeof(msg), "The tool %s failed: %s", c->name, agentd_errmsg(&te));
		json_decref(res);
		text = strdup(msg);
		ok = 0;
	} else {
		text = result_text(res, r->cfg->tool_output_cap > 0 ? r->cfg->tool_output_cap : 16384,
		    &ok);
		json_decref(res);
	}
	if (text == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	rc = post_tool_hooks(r, c, ok, &text, err);
	if (rc != AGENTD_OK) {
		free(text);
		return rc;
	}
	rc = call_finish(r, c, started, text, ok, err);
	if (rc == AGENTD_OK && !ok)
		rc = fail_note(r, c, text);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* one step                                                           */

static int
store_user(struct arun *r, const char *text, int pinned, struct agentd_error *err)
{
	struct memory_msg mm;
	int64_t seq = 0;
	int rc;

	memset(&mm, 0, sizeof(mm));
	mm.run_id = r->run_id;
	mm.role = "user";
	mm.content = text;
	mm.step = r->steps;
	rc = memory_msg_add(r->m, r->session_id, &mm, &seq, err);
	if (rc != AGENTD_OK)
		return rc;
	rc = ctx_append(&r->ctx, json_pack("{s:s, s:s}", "role", "user", "content", text), seq,
	    r->run_id);
	if (rc != AGENTD_OK)
		return agentd_seterr(err, rc, NULL);
	if (pinned) {
		r->ctx.v[r->ctx.n - 1].pinned = 1;
		r->ctx.task_seq = seq;
		if (r->ctx.run_first_seq == 0)
			r->ctx.run_first_seq = seq;
	}
	return AGENTD_OK;
}

static int
end_on_error(struct arun *r, int rc, const struct agentd_error *e, struct agentd_error *err)
{
	if (rc == AGENTD_ECANCELLED) {
		set_stopped(r);
		return AGENTD_OK;
	}
	if (is_journal_error(rc)) {
		if (err != NULL && e != err)
			*err = *e;
		return rc;
	}
	rc = agent_emit(r, "error", json_pack("{s:s}", "message", agentd_errmsg(e)), EMIT_BOTH, err);
	set_end(r, "failed", "%s", agentd_errmsg(e));
	return rc;
}

/*
 * The model answered: the user's Stop hooks may send it back to work (exit 2
 * or decision "block": the reason becomes the next user message), at most
 * MAX_STOP_BLOCKS times a run. Sets the end ("succeeded") unless sent back.
 */
static int
stop_hooks(struct arun *r, const char *answer, struct agentd_error *err)
{
	struct hook_result h;
	char *msg = NULL;
	int rc;

	rc = hooks_fire(r, "Stop", NULL, json_pack("{s:b, s:s}", "stop_hook_active",
	    r->stop_blocks > 0, "last_assistant_message", answer), &h, err);
	if (rc == AGENTD_OK && h.blocked && !h.stop && r->stop_blocks < MAX_STOP_BLOCKS) {
		r->stop_blocks++;
		if (asprintf(&msg, "The user's Stop hook asks you to go on before you finish: %s",
		    h.reason ? h.reason : "no reason given") < 0)
			msg = NULL;
		rc = msg ? store_user(r, msg, 0, err) : agentd_seterr(err, AGENTD_ENOMEM, NULL);
		free(msg);
	} else if (rc == AGENTD_OK) {
		set_end(r, "succeeded", NULL);
	}
	hook_result_free(&h);
	return rc;
}

/* ------------------------------------------------------------------ */
/* a reply cut by finish_reason "length"                              */

/* Where a tool call written in the text starts, or NULL. */
static const char *
call_markup(const char *s)
{
	static const char *const marks[] = { "<tool_call>", "[TOOL_CALLS]", "<|python_tag|>",
	    "<function=", "<function_call>" };
	const char *best = NULL, *p;
	size_t i;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if ((p = strstr(s, marks[i])) != NULL && (best == NULL || p < best))
			best = p;
	p = s;
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	if (best == NULL && *p == '{' && strstr(p, "\"name\"") != NULL)
		best = p;	/* a bare {"name":… object */
	return best;
}

/* The tool a cut call was for: a native call's name, else "name":"x" in the text. */
static void
cut_call_name(const json_t *calls, const char *markup, char *buf, size_t size)
{
	const char *n = ajson_str(json_array_get(calls, 0), "name", "");
	size_t k = 0;

	buf[0] = '\0';
	if (*n == '\0' && markup != NULL && (n = strstr(markup, "\"name\"")) != NULL) {
		n += 6;
		while (*n == ' ' || *n == '\n' || *n == '\t' || *n == '\r' || *n == ':')
			n++;
		n = *n == '"' ? n + 1 : "";
	}
	while (n != NULL && k + 1 < size && (n[k] == '_' || (n[k] >= 'a' && n[k] <= 'z') ||
	    (n[k] >= 'A' && n[k] <= 'Z') || (n[k] >= '0' && n[k] <= '9')))
		k++;
	if (n != NULL)
		snprintf(buf, size, "%.*s", (int)k, n);
}

/*
 * The reply was cut (by the output limit or the end of the window): it is
 * never the answer and a cut call is never run nor repaired. The part
 * received is journaled as the assistant message (a cut call only as a note:
 * it was not made); a cut text is continued, a cut call is explained, at
 * most MAX_CUT_REPLIES times in a row, then the run fails.
 */
static int
cut_reply(struct arun *r, const struct llm_response *resp, int step, int64_t pt, int64_t ct,
    struct agentd_error *err)
{
	const char *content = resp->content ? resp->content : "";
	const char *markup = call_markup(content), *why;
	int is_call = json_array_size(resp->tool_calls) > 0 || markup != NULL;
	char tool[64], note[1200], shown[300];
	struct memory_msg mm;
	struct abuf text;
	int64_t seq = 0;
	size_t lead;
	int rc, blank = 1;
	const char *p;

	for (p = content; *p; p++)
		if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r')
			blank = 0;
	r->cuts++;
	why = ctx_reply_cut(&r->ctx, resp->prompt_tokens, ct) ?
	    "the context window was full" : "the output limit";
	cut_call_name(resp->tool_calls, markup, tool, sizeof(tool));
	/* what the model wrote, as it will see it again */
	abuf_init(&text, 1u << 24);
	lead = markup != NULL ? (size_t)(markup - content) : strlen(content);
	if (is_call || blank) {
		while (lead > 0 && (content[lead - 1] == ' ' || content[lead - 1] == '\n'))
			lead--;
		if (lead > 0)
			abuf_printf(&text, "%.*s\n\n", (int)lead, content);
		abuf_printf(&text, "[reply cut off at %lld tokens%s%s%s]", (long long)ct,
		    is_call ? " in a call" : "", tool[0] ? " to " : "", tool);
	} else {
		abuf_puts(&text, content);
	}
	if (text.data == NULL) {
		abuf_free(&text);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	memset(&mm, 0, sizeof(mm));
	mm.run_id = r->run_id;
	mm.role = "assistant";
	mm.content = text.data;
	mm.reasoning = resp->reasoning;
	mm.step = step;
	rc = memory_begin(r->m, err);
	if (rc == AGENTD_OK)
		rc = memory_msg_add(r->m, r->session_id, &mm, &seq, err);
	if (rc == AGENTD_OK)
		rc = memory_run_add_usage(r->m, r->run_id, pt, ct, 1, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_active(r->m, r->run_id, elapsed_s(r), err);
	if (rc == AGENTD_OK)
		rc = agent_emit(r, "message", json_pack("{s:s, s:s, s:i, s:s}", "role", "assistant",
		    "content", text.data, "step", step, "finish_reason", "length"), EMIT_BOTH, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	if (rc != AGENTD_OK) {
		memory_rollback(r->m);
		abuf_free(&text);
		return rc;
	}
	rc = ctx_append(&r->ctx, json_pack("{s:s, s:s}", "role", "assistant", "content",
	    text.data), seq, r->run_id);
	abuf_free(&text);
	if (rc != AGENTD_OK)
		return agentd_seterr(err, rc, NULL);
	if (!is_call && !blank) {	/* keep the text for the whole answer */
		size_t had = r->cut_text ? strlen(r->cut_text) : 0;
		char *t = realloc(r->cut_text, had + strlen(content) + 1);

		if (t == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		memcpy(t + had, content, strlen(content) + 1);
		r->cut_text = t;
	}
	if (r->cuts > MAX_CUT_REPLIES) {
		snprintf(shown, sizeof(shown), "reply cut at %lld tokens (%s) %d times in a row%s",
		    (long long)ct, why, r->cuts, strcmp(why, "the output limit") == 0 ?
		    ": raise llm.max_tokens or ask for less at once" : "");
		rc = agent_emit(r, "error", json_pack("{s:s}", "message", shown), EMIT_BOTH, err);
		set_end(r, "failed", "%s", shown);
		return rc;
	}
	snprintf(shown, sizeof(shown), "reply cut at %lld tokens (%s)%s", (long long)ct, why,
	    is_call || blank ? ": not run; asking for smaller steps" : ": asking to continue");
	rc = agent_emit(r, "status", json_pack("{s:s, s:s}", "status", "running", "warning",
	    shown), EMIT_BOTH, err);
	if (rc != AGENTD_OK)
		return rc;
	if (!is_call && !blank)
		snprintf(note, sizeof(note), "Your answer was cut off at %lld tokens (%s). "
		    "Continue it exactly where it stopped, without repeating what you already "
		    "wrote.", (long long)ct, why);
	else if (!is_call && resp->reasoning != NULL && resp->reasoning[0] != '\0')
		snprintf(note, sizeof(note), "Your reply was cut off at %lld tokens (%s) while you "
		    "were still thinking; nothing was run. Think less: decide on the next small "
		    "step and make it (one tool call, or your answer).", (long long)ct, why);
	else
		snprintf(note, sizeof(note), "Your reply was cut off at %lld tokens (%s) %s%s%s; "
		    "nothing was run. Do the work in smaller pieces: change a file with edit_file "
		    "instead of rewriting it whole with write_file, write a long new file in parts "
		    "(write_file with the first part, then edit_file to add the rest), keep shell "
		    "commands short, and call one tool at a time.", (long long)ct, why,
		    is_call ? "in the middle of a tool call" : "before a tool call or answer was "
		    "complete", tool[0] ? " to " : "", tool);
	return store_user(r, note, 0, err);
}

static int
do_step(struct arun *r, struct agentd_error *err)
{
	struct llm_callbacks cb = { cb_delta, cb_retry, cb_cancelled, r };
	struct llm_overflow ov;
	char why[900], said[500] = "";
	struct llm_request req;
	struct llm_response resp;
	struct agentd_error e;
	struct call calls[MAX_CALLS_PER_REPLY];
	struct memory_msg mm;
	json_t *msgs = NULL, *src, *text_calls = NULL, *stored_calls = NULL, *amsg = NULL, *c;
	char *rest = NULL;
	const char *content;
	int64_t pt, ct, seq = 0;
	size_t i, ncalls = 0;
	int rc, rc2, step, shrunk, before;

	if ((rc = agent_mcp_refresh(r, err)) != AGENTD_OK)
		return rc;
	for (shrunk = 0; ; shrunk++) {
		agentd_error_clear(&e);
		ov.n_prompt_tokens = ov.n_ctx = -1;
		rc = ctx_build(r, &msgs, &e);
		if (rc == AGENTD_OK) {
			memset(&req, 0, sizeof(req));
			req.messages = msgs;
			req.tools = r->tools;
			req.tool_choice = "auto";
			req.overflow = &ov;
			memset(&resp, 0, sizeof(resp));
			r->carry_len = 0;
			rc = llm_chat(&r->llm, &req, &cb, &resp, &e);
			json_decref(msgs);
			if (rc != AGENTD_OK && rc != AGENTD_ECANCELLED && !agent_is_cancelled(r) &&
			    !is_journal_error(rc)) {
				/* the request was made: it counts, even when it failed */
				r->steps++;
				if ((rc2 = memory_run_add_usage(r->m, r->run_id, 0, 0, 1, err)) != AGENTD_OK)
					return rc2;
			}
		}
		if (rc != AGENTD_ECONTEXT || shrunk >= MAX_CONTEXT_RETRIES ||
		    r->steps >= r->max_steps)
			break;
		/* the window is smaller than thought (slots sharing one KV cache, a
		 * server that reports more than it takes): shrink, elide, ask again */
		before = r->ctx.window;
		if (ctx_overflow(&r->ctx, &ov) == 0)
			break;
		snprintf(said, sizeof(said), "%s", agentd_errmsg(&e));
		snprintf(why, sizeof(why), "the model server's context window is smaller than "
		    "thought (%d tokens): asking again within %d (%.600s)", before, r->ctx.window,
		    agentd_errmsg(&e));
		rc = agent_emit(r, "status", json_pack("{s:s, s:s}", "status", "running", "warning",
		    why), EMIT_BOTH, err);
		if (rc != AGENTD_OK)
			return rc;
	}
	if (rc == AGENTD_ELIMIT && said[0] != '\0') {	/* shrunk until nothing fits */
		char m[sizeof(e.msg)];

		snprintf(m, sizeof(m), "%s", agentd_errmsg(&e));
		agentd_seterr(&e, rc, "%.500s, after the model server said: %.400s", m, said);
	}
	if (rc != AGENTD_OK)
		return end_on_error(r, rc == AGENTD_ECANCELLED || agent_is_cancelled(r) ?
		    AGENTD_ECANCELLED : rc, &e, err);
	step = ++r->steps;
	content = resp.content ? resp.content : "";
	pt = resp.prompt_tokens >= 0 ? resp.prompt_tokens :
	    (int64_t)((double)r->ctx.last_est * r->ctx.factor);
	ct = resp.completion_tokens >= 0 ? resp.completion_tokens :
	    (int64_t)(strlen(content) + (resp.reasoning ? strlen(resp.reasoning) : 0)) / 4 + 1;
	ctx_calibrate(&r->ctx, resp.prompt_tokens);
	r->tokens += pt + ct;
	if (resp.finish_reason != NULL && strcmp(resp.finish_reason, "length") == 0) {
		rc = cut_reply(r, &resp, step, pt, ct, err);
		goto out;
	}
	r->cuts = 0;

	/* normalize the calls: native, else written in the text */
	src = resp.tool_calls;
	if ((src == NULL || json_array_size(src) == 0) && content[0] != '\0') {
		text_calls = llm_extract_text_calls(content, &rest);
		if (text_calls != NULL && json_array_size(text_calls) > 0) {
			src = text_calls;
			content = rest ? rest : "";
		}
	}
	memset(calls, 0, sizeof(calls));
	stored_calls = json_array();
	if (stored_calls == NULL) {
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		goto out;
	}
	json_array_foreach(src, i, c) {
		json_t *a = json_object_get(c, "arguments");
		char id[16], *dumped = NULL, *stored;
		const char *raw;

		if (ncalls == MAX_CALLS_PER_REPLY)
			break;
		if (json_is_string(a))
			raw = json_string_value(a);
		else if (a == NULL || json_is_null(a))
			raw = "";
		else
			raw = dumped = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
		make_id(id, step, (int)ncalls);
		rc = call_prepare(r, &calls[ncalls], ajson_str(c, "name", ""), raw ? raw : "", id, step);
		free(dumped);
		if (rc != AGENTD_OK) {
			call_clear(&calls[ncalls]);
			rc = agentd_seterr(err, rc, NULL);
			goto out;
		}
		stored = stored_arguments(&calls[ncalls]);
		json_array_append_new(stored_calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id,
		    "type", "function", "function", "name", calls[ncalls].name, "arguments",
		    stored ? stored : "{}"));
		free(stored);
		ncalls++;
	}
	amsg = json_pack("{s:s, s:s}", "role", "assistant", "content", content);
	if (amsg == NULL) {
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		goto out;
	}
	if (ncalls > 0)
		json_object_set(amsg, "tool_calls", stored_calls);

	/* one transaction: message, call rows, usage, events */
	memset(&mm, 0, sizeof(mm));
	mm.run_id = r->run_id;
	mm.role = "assistant";
	mm.content = content;
	mm.tool_calls = ncalls > 0 ? stored_calls : NULL;
	mm.reasoning = resp.reasoning;
	mm.step = step;
	rc = memory_begin(r->m, err);
	if (rc != AGENTD_OK)
		goto out;
	rc = memory_msg_add(r->m, r->session_id, &mm, &seq, err);
	for (i = 0; i < ncalls && rc == AGENTD_OK; i++)
		rc = memory_tool_add(r->m, r->run_id, calls[i].id, calls[i].name, calls[i].raw,
		    calls[i].te != NULL && (calls[i].te->flags & TOOL_READ_ONLY), step, err);
	if (rc == AGENTD_OK)
		rc = memory_run_add_usage(r->m, r->run_id, pt, ct, 1, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_active(r->m, r->run_id, elapsed_s(r), err);
	if (rc == AGENTD_OK) {
		json_t *d = json_pack("{s:s, s:s, s:i}", "role", "assistant", "content", content,
		    "step", step);

		/* what the request cost, and how much of it the server's prompt
		 * cache served (agentctl show adds these up) */
		if (d != NULL)
			json_object_set_new(d, "usage", json_pack("{s:I, s:I, s:b, s:o}",
			    "prompt_tokens", (json_int_t)pt, "completion_tokens", (json_int_t)ct,
			    "estimated", resp.prompt_tokens < 0, "cached_tokens",
			    resp.cached_tokens >= 0 ? json_integer(resp.cached_tokens) : json_null()));

		if (d != NULL && ncalls > 0)
			json_object_set(d, "tool_calls", stored_calls);
		rc = agent_emit(r, "message", d, EMIT_BOTH, err);
	}
	for (i = 0; i < ncalls && rc == AGENTD_OK; i++)
		rc = agent_emit(r, "tool_call", json_pack("{s:s, s:s, s:O?, s:b}", "id", calls[i].id,
		    "name", calls[i].name, "arguments", calls[i].args ? calls[i].args : NULL,
		    "repaired", calls[i].repaired), EMIT_BOTH, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	if (rc != AGENTD_OK) {
		memory_rollback(r->m);
		goto out;
	}
	rc = ctx_append(&r->ctx, amsg, seq, r->run_id);
	amsg = NULL;
	if (rc != AGENTD_OK) {
		rc = agentd_seterr(err, rc, NULL);
		goto out;
	}

	if (ncalls == 0) {
		if (r->plan != NULL && plan_open(r->plan) && !r->nudged) {
			char *open = agent_plan_text(r->plan, 1);
			struct abuf b;

			abuf_init(&b, 1 << 20);
			abuf_printf(&b, NUDGE_PREFIX "\n%s\nContinue with them, or answer with a final "
			    "summary if they are done.", open ? open : "");
			free(open);
			r->nudged = 1;
			rc = b.data ? store_user(r, b.data, 0, err) : agentd_seterr(err, AGENTD_ENOMEM, NULL);
			abuf_free(&b);
			goto out;
		}
		rc = stop_hooks(r, content, err);
		if (rc != AGENTD_OK || r->end_status == NULL)
			goto out;	/* a Stop hook sent the model back to work */
		free(r->answer);
		if (r->cut_text != NULL) {	/* the end of a continued answer */
			r->answer = malloc(strlen(r->cut_text) + strlen(content) + 1);
			if (r->answer != NULL)
				strcat(strcpy(r->answer, r->cut_text), content);
		} else {
			r->answer = strdup(content);
		}
		goto out;
	}
	free(r->cut_text);	/* the model went on with tools: no answer to continue */
	r->cut_text = NULL;
	for (i = 0; i < ncalls && rc == AGENTD_OK; i++) {
		if (interrupted(r))
			break;	/* the rest stay open and run when the run resumes */
		if (r->end_status != NULL && strcmp(r->end_status, "cancelled") == 0) {
			rc = call_finish(r, &calls[i], 0, "Not run: the run was cancelled.", 0, err);
			continue;
		}
		rc = run_call(r, &calls[i], 0, err);
	}
out:
	for (i = 0; i < ncalls; i++)
		call_clear(&calls[i]);
	json_decref(amsg);
	json_decref(stored_calls);
	json_decref(text_calls);
	free(rest);
	llm_response_free(&resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* start and resume                                                   */

static int
opt_int(const json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	json_t *lim = json_object_get(o, "limits");

	if (v == NULL && json_is_object(lim))
		v = json_object_get(lim, key);
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (json_is_real(v)) {
		*out = (int64_t)json_real_value(v);
		return 1;
	}
	return 0;
}

static char *
read_prompt_file(const char *path, struct agentd_error *err)
{
	FILE *f = fopen(path, "rb");
	struct abuf b;
	char chunk[8192];
	size_t n;

	if (f == NULL) {
		agentd_seterr(err, AGENTD_EIO, "cannot read the system prompt file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	abuf_init(&b, MAX_PROMPT_FILE);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (abuf_append(&b, chunk, n) != AGENTD_OK) {
			fclose(f);
			abuf_free(&b);
			agentd_seterr(err, AGENTD_ETOOBIG, "the system prompt file %s is over %d bytes",
			    path, MAX_PROMPT_FILE);
			return NULL;
		}
	}
	fclose(f);
	return abuf_steal(&b);
}

/*
 * Read the run and its options. Returns a journal error; a bad option or
 * file sets the run's end (failed) instead.
 */
static int
setup(struct arun *r, struct agentd_error *err)
{
	const struct agent_config *cfg = r->cfg;
	const json_t *o;
	const char *s;
	int64_t v;
	json_t *tools;
	int i, rc;

	rc = memory_run_get(r->m, r->run_id, &r->run, err);
	if (rc != AGENTD_OK)
		return rc;
	r->session_id = ajson_int(r->run, "session_id", 0);
	o = json_object_get(r->run, "options");
	r->opts = json_is_object(o) ? o : NULL;
	o = r->opts;
	r->max_steps = cfg->max_steps > 0 ? cfg->max_steps : 50;
	r->max_wall_s = cfg->max_wall_s > 0 ? cfg->max_wall_s : 1800;
	r->max_tokens = cfg->max_tokens > 0 ? cfg->max_tokens : 2000000;
	if (opt_int(o, "max_steps", &v) && v > 0)
		r->max_steps = v > INT_MAX ? INT_MAX : (int)v;
	if (opt_int(o, "max_wall_s", &v) && v > 0)
		r->max_wall_s = (double)v;
	if (opt_int(o, "max_tokens", &v) && v > 0)
		r->max_tokens = v;
	r->policy = cfg->policy;
	s = ajson_str(o, "policy", NULL);
	if (s != NULL && sandbox_policy_parse(s, &r->policy) != 0) {
		set_end(r, "failed", "invalid option policy \"%.100s\": expected read-only, "
		    "workspace-write or full-access", s);
		return AGENTD_OK;
	}
	r->network = ajson_bool(o, "network", cfg->network);
	r->git_writable = cfg->git_writable;
	r->unattended = ajson_bool(o, "unattended", 0);
	r->approval = ajson_str(o, "approval", cfg->approval ? cfg->approval : "never");
	if (strcmp(r->approval, "never") != 0 && strcmp(r->approval, "ask") != 0) {
		set_end(r, "failed", "invalid option approval \"%.100s\": expected never or ask",
		    r->approval);
		return AGENTD_OK;
	}
	tools = json_object_get(o, "tools");
	if (json_is_array(tools))
		r->allowed = json_incref(tools);

	rc = llm_config_copy(&r->llm, &cfg->llm);
	if (rc != AGENTD_OK)
		return agentd_seterr(err, rc, "cannot copy the model configuration");
	r->llm_owned = 1;
	r->llm.stream = ajson_bool(o, "stream", r->llm.stream);
	s = ajson_str(o, "model", NULL);
	if (s != NULL && s[0] != '\0') {
		for (i = 0; i < r->llm.n_endpoints; i++) {
			char *dup = strdup(s);

			if (dup == NULL)
				return agentd_seterr(err, AGENTD_ENOMEM, NULL);
			free(r->llm.endpoints[i].model);
			r->llm.endpoints[i].model = dup;
		}
	}
	s = ajson_str(o, "system_prompt", NULL);
	if (s != NULL && s[0] != '\0') {
		r->system_prompt = strdup(s);
	} else if (cfg->system_prompt_file != NULL) {
		struct agentd_error pe;

		r->system_prompt = read_prompt_file(cfg->system_prompt_file, &pe);
		if (r->system_prompt == NULL) {
			set_end(r, "failed", "%s", agentd_errmsg(&pe));
			return AGENTD_OK;
		}
	} else {
		r->system_prompt = strdup(default_prompt);
		r->default_prompt = 1;
	}
	r->task = strdup(ajson_str(r->run, "task", ""));
	r->schemas = json_object();
	if (r->system_prompt == NULL || r->task == NULL || r->schemas == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	return build_tools(r, err);
}

/*
 * A branch run's tools work where the user pointed, inside the worktree: a
 * workspace that is a subfolder of its repository maps to the same subfolder
 * of the worktree (made when git has nothing in it, e.g. only untracked
 * files). Sets r->workspace; a failure ends the run.
 */
static int
worktree_workspace(struct arun *r, const char *root, struct agentd_error *err)
{
	char prefix[PATH_MAX], path[PATH_MAX];
	struct agentd_error ge;
	size_t n, i;

	agentd_error_clear(&ge);
	if (tools_git_prefix(r->user_workspace, prefix, sizeof(prefix), &ge) != AGENTD_OK) {
		set_end(r, "failed", "cannot place the workspace in the worktree: %s",
		    agentd_errmsg(&ge));
		return AGENTD_OK;
	}
	n = strlen(prefix);
	if (n > 0 && prefix[n - 1] == '/')
		prefix[--n] = '\0';
	if (n == 0) {
		r->workspace = strdup(root);
		return r->workspace ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, prefix) >= sizeof(path)) {
		set_end(r, "failed", "the workspace's path in the worktree is too long");
		return AGENTD_OK;
	}
	/* mkdir -p below the worktree root; the prefix is git's, never "..". */
	for (i = strlen(root) + 1; ; i++) {
		if (path[i] == '/' || path[i] == '\0') {
			char c = path[i];

			path[i] = '\0';
			if (mkdir(path, 0755) != 0 && errno != EEXIST) {
				set_end(r, "failed", "cannot create %.400s: %s", path, strerror(errno));
				return AGENTD_OK;
			}
			path[i] = c;
			if (c == '\0')
				break;
		}
	}
	r->workspace = strdup(path);
	return r->workspace ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/* Most bytes of a run's start_state in the journal (its text column cap). */
#define START_STATE_MAX 60000

/* Keep the run record in memory in step with a text column just journaled. */
static void
run_note(struct arun *r, const char *field, const char *value)
{
	json_object_set_new(r->run, field, value ? json_string(value) : json_null());
}

/*
 * Record the checkout's state at the start of a fresh run (base_oid, the
 * branch an in-place run works on, start_state) in one transaction: an
 * in-place run is told from a branch run not yet set up by its base_oid.
 */
static int
record_start(struct arun *r, const char *resolved, int in_place, struct agentd_error *err)
{
	char oid[41], cur[256], *text = NULL;
	struct agentd_error ge;
	json_t *st = NULL;
	int rc;

	agentd_error_clear(&ge);
	if (tools_git_start_state(resolved, &st, &ge) != AGENTD_OK) {
		/* Not a repository (or one git refuses): nothing to record; the
		 * run's first event says so. */
		free(r->no_git);
		r->no_git = strdup(agentd_errmsg(&ge));
		return AGENTD_OK;
	}
	/* The journal keeps what fits START_STATE_MAX; dirty_count still counts
	 * all, and git_commit then refuses all:true rather than guess. */
	while ((text = json_dumps(st, JSON_COMPACT)) != NULL && strlen(text) > START_STATE_MAX) {
		json_t *d = json_object_get(st, "dirty");
		size_t n = json_array_size(d), keep = n / 2;

		free(text);
		text = NULL;
		while (json_array_size(d) > keep)
			json_array_remove(d, json_array_size(d) - 1);
		if (n == 0)
			break;
	}
	if (text == NULL) {
		json_decref(st);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	rc = memory_begin(r->m, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_text(r->m, r->run_id, "start_state", text, err);
	if (rc == AGENTD_OK && in_place &&
	    tools_git_head(resolved, oid, cur, sizeof(cur), &ge) == AGENTD_OK) {
		rc = memory_run_set_text(r->m, r->run_id, "base_oid", oid, err);
		if (rc == AGENTD_OK && cur[0] != '\0')
			rc = memory_run_set_text(r->m, r->run_id, "branch", cur, err);
		if (rc == AGENTD_OK) {
			run_note(r, "base_oid", oid);
			if (cur[0] != '\0')
				run_note(r, "branch", cur);
		}
	}
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	else
		memory_rollback(r->m);
	if (rc == AGENTD_OK)
		json_object_set(r->run, "start_state", st);
	free(text);
	json_decref(st);
	return rc;
}

/*
 * Make the worktree of a branch run. The intent (worktree path and branch)
 * is journaled before anything is made and base_oid after: a crash in
 * between leaves a worktree without base_oid, which the next start undoes
 * (setup_workspace) before making it again. `again` names the branch of
 * such an interrupted setup, reused.
 */
static int
make_worktree(struct arun *r, const char *branch, const char *again, struct agentd_error *err)
{
	char path[PATH_MAX], name[256], oid[41];
	struct agentd_error ge;
	int k, rc, taken, autoname = branch[0] == '\0' || strcmp(branch, "auto") == 0;

	if (r->cfg->state_dir == NULL) {
		set_end(r, "failed", "a branch run needs a state directory for its worktree");
		return AGENTD_OK;
	}
	snprintf(path, sizeof(path), "%s/worktrees", r->cfg->state_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		set_end(r, "failed", "cannot create %.400s: %s", path, strerror(errno));
		return AGENTD_OK;
	}
	/* Unique across state dirs sharing a repository: git names the
	 * worktree after the folder. */
	snprintf(path, sizeof(path), "%s/worktrees/run-%lld-%lx", r->cfg->state_dir,
	    (long long)r->run_id, (unsigned long)time(NULL));
	/* The default name may be taken (another state dir's run 1): pick the
	 * next free one. A name the user gave must be free. */
	agentd_error_clear(&ge);
	for (k = 1; ; k++) {
		if (again != NULL)
			snprintf(name, sizeof(name), "%s", again);
		else if (!autoname)
			snprintf(name, sizeof(name), "%s", branch);
		else if (k == 1)
			snprintf(name, sizeof(name), "agentd/%lld", (long long)r->run_id);
		else
			snprintf(name, sizeof(name), "agentd/%lld-%d", (long long)r->run_id, k);
		taken = tools_git_branch_exists(r->user_workspace, name, &ge);
		if (taken < 0) {
			set_end(r, "failed", "cannot create the worktree for branch %s: %s", name,
			    agentd_errmsg(&ge));
			return AGENTD_OK;
		}
		if (!taken)
			break;
		if (!autoname || again != NULL || k >= 20) {
			set_end(r, "failed", "cannot create the worktree for branch %s: a branch "
			    "of that name already exists", name);
			return AGENTD_OK;
		}
	}
	rc = memory_begin(r->m, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_text(r->m, r->run_id, "branch", name, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_text(r->m, r->run_id, "worktree", path, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	if (rc != AGENTD_OK) {
		memory_rollback(r->m);
		return rc;
	}
	r->worktree = strdup(path);
	r->branch = strdup(name);
	if (r->worktree == NULL || r->branch == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	agentd_error_clear(&ge);
	if (tools_worktree_add(r->user_workspace, path, name, oid, &ge) != AGENTD_OK) {
		/* Nothing half made is left (tools_worktree_add cleans up): forget it. */
		set_end(r, "failed", "cannot create the worktree for branch %s: %s", name,
		    agentd_errmsg(&ge));
		free(r->worktree);
		r->worktree = NULL;
		rc = memory_run_set_text(r->m, r->run_id, "worktree", NULL, err);
		return rc;
	}
	rc = memory_run_set_text(r->m, r->run_id, "base_oid", oid, err);
	if (rc != AGENTD_OK)
		return rc;
	run_note(r, "base_oid", oid);
	/* Recorded first: the worktree is removed at the end even if
	 * placing the workspace in it fails. */
	return worktree_workspace(r, path, err);
}

/* Worktree for a branch run, or the base of an in-place run. */
static int
setup_workspace(struct arun *r, int fresh, struct agentd_error *err)
{
	const char *ws = ajson_str(r->run, "workspace", "");
	const char *branch = ajson_str(r->run, "branch", NULL);
	const char *wt = ajson_str(r->run, "worktree", NULL);
	const char *base = ajson_str(r->run, "base_oid", NULL);
	char resolved[PATH_MAX], again[256];
	struct agentd_error ge;
	int rc;

	if (realpath(ws, resolved) == NULL) {
		set_end(r, "failed", "the workspace %.400s cannot be used: %s", ws, strerror(errno));
		return AGENTD_OK;
	}
	r->user_workspace = strdup(resolved);
	if (r->user_workspace == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (wt != NULL && wt[0] != '\0' && base == NULL) {
		/* A setup a crash interrupted: undo what exists of it, then redo it. */
		snprintf(again, sizeof(again), "%s", branch ? branch : "");
		agentd_error_clear(&ge);
		if (tools_worktree_discard(r->user_workspace, wt, again, &ge) != AGENTD_OK) {
			set_end(r, "failed", "cannot undo the interrupted setup of the worktree "
			    "%.400s: %s", wt, agentd_errmsg(&ge));
			return AGENTD_OK;
		}
		rc = memory_run_set_text(r->m, r->run_id, "worktree", NULL, err);
		if (rc != AGENTD_OK)
			return rc;
		agent_emit(r, "warning", json_pack("{s:s}", "message", "the worktree's setup was "
		    "interrupted by a stop of agentd; what was made of it was removed and it is "
		    "made again"), EMIT_BOTH, NULL);
		if (fresh)
			rc = record_start(r, resolved, 0, err);
		if (rc == AGENTD_OK && r->end_status == NULL)
			rc = make_worktree(r, again, again[0] ? again : NULL, err);
		if (rc != AGENTD_OK || r->end_status != NULL)
			return rc;
	} else if (wt != NULL && wt[0] != '\0') {
		/* resumed branch run (or one whose start was interrupted after setup) */
		struct stat st;

		if (stat(wt, &st) != 0) {
			set_end(r, "failed", "the run's worktree %.400s is gone", wt);
			return AGENTD_OK;
		}
		r->worktree = strdup(wt);
		r->branch = strdup(branch ? branch : "");
		if (r->worktree == NULL || r->branch == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		if ((rc = worktree_workspace(r, wt, err)) != AGENTD_OK || r->end_status != NULL)
			return rc;
	} else if (branch != NULL && base == NULL) {
		/* A branch run: an in-place run records its branch with base_oid. */
		rc = record_start(r, resolved, 0, err);
		if (rc == AGENTD_OK)
			rc = make_worktree(r, branch, NULL, err);
		if (rc != AGENTD_OK || r->end_status != NULL)
			return rc;
	} else {
		r->workspace = strdup(resolved);
		if (fresh && (rc = record_start(r, resolved, 1, err)) != AGENTD_OK)
			return rc;
		/* The user's changes from before the run stay out of its commits. */
		r->tctx_start = json_object_get(r->run, "start_state");
	}
	if (r->workspace == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	tools_ctx_init(&r->tctx, r->workspace);
	r->tctx.sandbox.policy = r->policy;
	r->tctx.sandbox.network = r->network;
	r->tctx.sandbox.git_writable = r->git_writable;
	r->tctx.cancelled = cb_tool_cancelled;
	r->tctx.cancel_ud = r;
	r->tctx.sandbox.cancelled = cb_tool_cancelled;
	r->tctx.sandbox.cancel_ud = r;
	r->tctx.author_name = r->cfg->author_name;
	r->tctx.author_email = r->cfg->author_email;
	r->tctx.recall = cb_recall;
	r->tctx.recall_ud = r;
	r->tctx.progress = agent_mcp_progress;
	r->tctx.progress_ud = r;
	r->tctx.start_state = json_is_object(r->tctx_start) ? r->tctx_start : NULL;
	return AGENTD_OK;
}

/* Finish the calls of the last step that a crash left open. */
static int
resume_calls(struct arun *r, struct agentd_error *err)
{
	struct agent_context *c = &r->ctx;
	json_t *rows = NULL, *answered = NULL, *calls, *call, *row, *found;
	size_t i, k, la = c->n;
	int rc;

	for (i = c->n; i > 0; i--) {
		const char *role = ajson_str(c->v[i - 1].msg, "role", "");

		if (strcmp(role, "assistant") == 0) {
			la = i - 1;
			break;
		}
		if (strcmp(role, "tool") != 0)
			break;
	}
	if (la == c->n || c->v[la].run_id != r->run_id)
		return AGENTD_OK;
	calls = json_object_get(c->v[la].msg, "tool_calls");
	if (json_array_size(calls) == 0)
		return AGENTD_OK;
	answered = json_object();
	rc = memory_tool_list(r->m, r->run_id, &rows, err);
	if (rc != AGENTD_OK || answered == NULL)
		goto out;
	for (i = la + 1; i < c->n; i++)
		json_object_set_new(answered, ajson_str(c->v[i].msg, "tool_call_id", ""), json_true());
	json_array_foreach(calls, i, call) {
		const char *id = ajson_str(call, "id", "");
		json_t *fn = json_object_get(call, "function");
		struct call cl;
		const char *status = "pending", *name = ajson_str(fn, "name", "");
		const char *raw = ajson_str(fn, "arguments", "{}");
		int step = r->steps, read_only = 0;

		if (json_object_get(answered, id) != NULL)
			continue;
		found = NULL;
		json_array_foreach(rows, k, row) {
			if (strcmp(ajson_str(row, "id", ""), id) == 0) {
				found = row;
				status = ajson_str(row, "status", "pending");
				raw = ajson_str(row, "arguments", raw);
				name = ajson_str(row, "name", name);
				step = (int)ajson_int(row, "step", step);
				read_only = ajson_bool(row, "read_only", 0);
				break;
			}
		}
		memset(&cl, 0, sizeof(cl));
		rc = call_prepare(r, &cl, name, raw, id, step);
		if (rc != AGENTD_OK) {
			call_clear(&cl);
			rc = agentd_seterr(err, rc, NULL);
			goto out;
		}
		if (strcmp(status, "finished") == 0) {
			rc = call_finish(r, &cl, 1, ajson_str(found, "result", ""),
			    ajson_bool(found, "ok", 0), err);
		} else if (strcmp(status, "started") == 0 && !read_only) {
			const struct tool_entry *te = tools_find(name);
			char removed[600] = "", text[900];
			struct agentd_error ge;

			/* A git call killed mid-write leaves its lock files: with
			 * them every later git call would fail ("index is locked"). */
			agentd_error_clear(&ge);
			if (te != NULL && (te->flags & TOOL_GIT) && r->workspace != NULL &&
			    tools_git_clear_stale_locks(r->workspace, ajson_num(found, "started", 0),
			    removed, sizeof(removed), &ge) == AGENTD_OK && removed[0] != '\0')
				agent_emit(r, "warning", json_pack("{s:s+}", "message", "removed the "
				    "lock files the interrupted git call left: ", removed), EMIT_BOTH, NULL);
			snprintf(text, sizeof(text), "The outcome of this call is unknown: agentd "
			    "stopped while it was running.%s%s%s Check the state (e.g. git_status, "
			    "read_file) before repeating it.", removed[0] ? " It left lock files, now "
			    "removed: " : "", removed, removed[0] ? "." : "");
			rc = call_finish(r, &cl, 1, text, 0, err);
		} else if (interrupted(r)) {
			rc = AGENTD_OK;	/* stopped again: still open */
		} else if (r->end_status != NULL) {
			rc = call_finish(r, &cl, strcmp(status, "started") == 0,
			    "Not run: the run was cancelled.", 0, err);
		} else {
			rc = run_call(r, &cl, strcmp(status, "started") == 0, err);
		}
		call_clear(&cl);
		if (rc != AGENTD_OK)
			goto out;
	}
out:
	json_decref(rows);
	json_decref(answered);
	return rc;
}

/* Progress counters of a resumed run, from the journal. */
static int
resume_state(struct arun *r, struct agentd_error *err)
{
	json_t *rows = NULL, *row;
	size_t i;
	int rc;

	r->steps = (int)ajson_int(r->run, "steps", 0);
	r->tokens = ajson_int(r->run, "prompt_tokens", 0) + ajson_int(r->run, "completion_tokens", 0);
	r->active_before = ajson_num(r->run, "active_s", 0);
	if (!(r->active_before >= 0 && r->active_before < 1e12))
		r->active_before = 0;
	rc = memory_plan_latest(r->m, r->run_id, &r->plan, err);
	if (rc != AGENTD_OK)
		return rc;
	if (r->plan != NULL && !json_is_object(r->plan)) {
		json_decref(r->plan);
		r->plan = NULL;
	}
	for (i = 0; i < r->ctx.n; i++)
		if (r->ctx.v[i].run_id == r->run_id &&
		    strcmp(ajson_str(r->ctx.v[i].msg, "role", ""), "user") == 0 &&
		    strncmp(ajson_str(r->ctx.v[i].msg, "content", ""), NUDGE_PREFIX,
		    strlen(NUDGE_PREFIX)) == 0)
			r->nudged = 1;
	rc = memory_tool_list(r->m, r->run_id, &rows, err);
	if (rc != AGENTD_OK)
		return rc;
	json_array_foreach(rows, i, row) {
		struct call cl;

		if (strcmp(ajson_str(row, "status", ""), "finished") != 0 || ajson_bool(row, "ok", 1))
			continue;
		memset(&cl, 0, sizeof(cl));
		if (call_prepare(r, &cl, ajson_str(row, "name", ""), ajson_str(row, "arguments", ""),
		    ajson_str(row, "id", ""), 0) == AGENTD_OK)
			fail_note(r, &cl, NULL);
		call_clear(&cl);
	}
	json_decref(rows);
	return AGENTD_OK;
}

/* SessionEnd hooks, and a Notification when a scheduled run ended (their
 * answers change nothing: the run has ended). */
static int
end_hooks(struct arun *r, struct agentd_error *err)
{
	struct hook_result h;
	char msg[1400];
	int rc;

	rc = hooks_fire(r, "SessionEnd", r->end_status, json_pack("{s:s, s:s}", "reason",
	    r->end_status, "detail", r->end_reason), &h, err);
	hook_result_free(&h);
	if (rc != AGENTD_OK || ajson_int(r->run, "job_id", 0) <= 0)
		return rc;
	snprintf(msg, sizeof(msg), "agentd: scheduled run %lld (job %lld) %s%s%.1000s",
	    (long long)r->run_id, (long long)ajson_int(r->run, "job_id", 0), r->end_status,
	    r->end_reason[0] ? ": " : "", r->end_reason);
	rc = hooks_fire(r, "Notification", "scheduled_run_end", json_pack("{s:s, s:s, s:s}",
	    "message", msg, "notification_type", "scheduled_run_end", "status", r->end_status),
	    &h, err);
	hook_result_free(&h);
	return rc;
}

/*
 * A run that ends with its last git_commit failed (a lock, nothing staged…)
 * does not end quietly as if its work were committed: "warning" in the end
 * event says so.
 */
static void
last_commit_warning(struct arun *r, json_t *d)
{
	json_t *rows = NULL, *row, *last = NULL;
	struct agentd_error e;
	size_t i;
	char msg[700];

	if (memory_tool_list(r->m, r->run_id, &rows, &e) != AGENTD_OK)
		return;
	json_array_foreach(rows, i, row)
		if (strcmp(ajson_str(row, "name", ""), "git_commit") == 0)
			last = row;
	if (last != NULL && !ajson_bool(last, "ok", 1)) {
		snprintf(msg, sizeof(msg), "the run's last git_commit failed, so its last changes "
		    "may not be committed: %.500s", ajson_str(last, "result", ""));
		json_object_set_new(d, "warning", json_string(msg));
	}
	json_decref(rows);
}

/*
 * A run stopped because agentd is stopping has not ended: it is marked
 * interrupted with an "interrupted" event (no "end", no SessionEnd hooks,
 * its worktree kept) and resumes at the next start.
 */
static int
interrupt_run(struct arun *r, struct agentd_error *err)
{
	int rc;

	rc = memory_begin(r->m, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_status(r->m, r->run_id, "interrupted",
		    AGENT_INTERRUPTED_REASON, err);
	if (rc == AGENTD_OK)
		rc = memory_run_set_active(r->m, r->run_id, elapsed_s(r), err);
	if (rc == AGENTD_OK)
		rc = agent_emit(r, "interrupted", json_pack("{s:s, s:I}", "reason",
		    AGENT_INTERRUPTED_REASON " (it resumes when agentd starts again)", "steps",
		    (json_int_t)r->steps), EMIT_BOTH, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	if (rc != AGENTD_OK)
		memory_rollback(r->m);
	return rc;
}

/* Record the end: status, the "end" event, the worktree removed. */
static int
finish_run(struct arun *r, struct agentd_error *err)
{
	json_t *d;
	struct agentd_error ge;
	int rc;

	if (interrupted(r))
		return interrupt_run(r, err);
	d = json_pack("{s:s}", "status", r->end_status);
	if (d == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (r->end_reason[0] != '\0')
		json_object_set_new(d, "reason", json_string(r->end_reason));
	if (r->answer != NULL)
		json_object_set_new(d, "answer", ajson_string_lossy(r->answer, strlen(r->answer)));
	/* The branch is named only when the run committed something on it. */
	if (r->branch != NULL && r->worktree != NULL) {
		char tip[41];

		agentd_error_clear(&ge);
		if (tools_git_head(r->worktree, tip, NULL, 0, &ge) == AGENTD_OK &&
		    strcmp(tip, ajson_str(r->run, "base_oid", "")) != 0)
			json_object_set_new(d, "branch", json_string(r->branch));
	}
	if (strcmp(r->end_status, "succeeded") == 0)
		last_commit_warning(r, d);
	rc = end_hooks(r, err);
	if (rc == AGENTD_OK)
		rc = memory_begin(r->m, err);
	if (rc == AGENTD_OK && r->worktree == NULL && r->workspace != NULL) {
		char oid[41], cur[256];

		/* Where an in-place run left its branch: what `undo` moves back from. */
		agentd_error_clear(&ge);
		if (tools_git_head(r->workspace, oid, cur, sizeof(cur), &ge) == AGENTD_OK && cur[0])
			rc = memory_run_set_text(r->m, r->run_id, "end_oid", oid, err);
	}
	if (rc == AGENTD_OK)
		rc = memory_run_set_status(r->m, r->run_id, r->end_status,
		    r->end_reason[0] ? r->end_reason : NULL, err);
	if (rc == AGENTD_OK)
		rc = agent_emit(r, "end", json_incref(d), EMIT_STORE, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	if (rc != AGENTD_OK) {
		memory_rollback(r->m);
		json_decref(d);
		return rc;
	}
	if (r->worktree != NULL) {
		agentd_error_clear(&ge);
		if (tools_worktree_remove(r->user_workspace, r->worktree, &ge) != AGENTD_OK)
			agent_emit(r, "error", json_pack("{s:s+}", "message",
			    "could not remove the run's worktree: ", agentd_errmsg(&ge)), EMIT_BOTH, NULL);
	}
	agent_emit(r, "end", d, EMIT_HOOK, NULL);
	return AGENTD_OK;
}

static void
arun_free(struct arun *r)
{
	int i;
	size_t k;

	for (k = 0; k < r->n_held; k++)
		json_decref(r->held[k].data);
	free(r->held);

	json_decref(r->run);
	if (r->llm_owned)
		llm_config_free(&r->llm);
	free(r->system_prompt);
	free(r->instructions);
	json_decref(r->instr_files);
	json_decref(r->skills);
	free(r->skills_catalog);
	free(r->user_workspace);
	free(r->no_git);
	free(r->workspace);
	free(r->worktree);
	free(r->branch);
	free(r->task);
	free(r->cut_text);
	free(r->answer);
	json_decref(r->tools);
	json_decref(r->mcp_defs);
	json_decref(r->mcp_found);
	json_decref(r->allowed);
	json_decref(r->plan);
	json_decref(r->schemas);
	for (i = 0; i < r->nfails; i++)
		free(r->fails[i].key);
	ctx_free(&r->ctx);
}

/*
 * A new run reads the repository's instructions (AGENTS.md) once, where its
 * tools work; the text is journaled with the run so that a resumed run
 * sends the very same bytes even if the files changed meanwhile.
 */
static int
instructions_read(struct arun *r, struct agentd_error *err)
{
	const struct agent_config *cfg = r->cfg;
	struct agentd_error ie;
	char *text = NULL;
	json_t *files = NULL;

	if (!ajson_bool(r->opts, "project_doc", cfg->project_doc) || cfg->project_doc_max_bytes == 0)
		return AGENTD_OK;
	agentd_error_clear(&ie);
	if (agent_instructions_load(cfg->config_dir, r->workspace, cfg->project_doc_max_bytes,
	    cfg->project_doc_fallbacks, &text, &files, &ie) != AGENTD_OK) {
		if (ie.code == AGENTD_ENOMEM)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		/* not fatal: the run goes on without them, and says why */
		return agent_emit(r, "error", json_pack("{s:s}", "message", agentd_errmsg(&ie)),
		    EMIT_BOTH, err);
	}
	r->instructions = text;
	r->instr_files = files;
	return AGENTD_OK;
}

/*
 * A new run finds its skills where its tools work; the `skill` tool is
 * offered only when there are any. The catalog (names and descriptions) is
 * made once the window is known (skills_catalog_make).
 */
static int
skills_find(struct arun *r, struct agentd_error *err)
{
	struct agentd_error se;
	json_t *refused = NULL, *t, *schema;

	if (!r->cfg->skills || !ajson_bool(r->opts, "skills", 1))
		return AGENTD_OK;
	agentd_error_clear(&se);
	if (agent_skills_discover(r->cfg->config_dir, r->workspace, &r->skills, &refused,
	    &se) != AGENTD_OK)
		return se.code == AGENTD_ENOMEM ? agentd_seterr(err, AGENTD_ENOMEM, NULL) : AGENTD_OK;
	json_decref(refused);
	if (json_array_size(r->skills) == 0)
		return AGENTD_OK;
	schema = json_loads(skill_schema, 0, NULL);
	t = json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function", "name",
	    "skill", "description", agent_tools[2].description, "parameters", schema);
	if (t == NULL || json_array_append_new(r->tools, t) != 0)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	return AGENTD_OK;
}

/* The catalog within about 2% of the window (as Codex budgets it), journaled
 * with the skills so that a resumed run offers the very same. */
static int
skills_catalog_make(struct arun *r, struct agentd_error *err)
{
	size_t budget = (size_t)(r->ctx.window / 50 > 100 ? r->ctx.window / 50 : 100) * 4;
	json_t *list, *s;
	size_t i;

	if (json_array_size(r->skills) == 0)
		return AGENTD_OK;
	r->skills_catalog = agent_skills_catalog(r->skills, budget);
	if (r->skills_catalog == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	list = json_array();
	json_array_foreach(r->skills, i, s)
		json_array_append_new(list, json_pack("{s:O, s:O, s:O}", "name",
		    json_object_get(s, "name"), "description", json_object_get(s, "description"),
		    "dir", json_object_get(s, "dir")));
	return agent_emit(r, "skills", json_pack("{s:o, s:s}", "skills", list, "catalog",
	    r->skills_catalog), EMIT_STORE, err);
}

/* A resumed run offers the skills its start journaled. */
static int
skills_restore(struct arun *r, const json_t *ev)
{
	const json_t *d = json_object_get(ev, "data");
	json_t *t, *schema;

	if (r->skills_catalog != NULL || !json_is_array(json_object_get(d, "skills")))
		return AGENTD_OK;
	r->skills = json_deep_copy(json_object_get(d, "skills"));
	r->skills_catalog = strdup(ajson_str(d, "catalog", ""));
	schema = json_loads(skill_schema, 0, NULL);
	t = json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function", "name",
	    "skill", "description", agent_tools[2].description, "parameters", schema);
	if (r->skills == NULL || r->skills_catalog == NULL || t == NULL ||
	    json_array_append_new(r->tools, t) != 0)
		return AGENTD_ENOMEM;
	return AGENTD_OK;
}

/* A chore's skills, loaded up front: their instructions join the task.
 * A skill it names that is not there ends the run. */
static int
skills_preload(struct arun *r, char **task, struct agentd_error *err)
{
	const json_t *names = json_object_get(r->opts, "load_skills"), *n;
	struct abuf b;
	size_t i;

	if (!json_is_array(names) || json_array_size(names) == 0)
		return AGENTD_OK;
	abuf_init(&b, (size_t)64 << 20);
	abuf_puts(&b, *task ? *task : r->task);
	json_array_foreach(names, i, n) {
		const json_t *sk = agent_skills_find(r->skills, json_string_value(n) ?
		    json_string_value(n) : "");
		struct agentd_error e;
		char *text = NULL;

		agentd_error_clear(&e);
		if (sk == NULL || agent_skill_load(sk, NULL, &text, &e) != AGENTD_OK) {
			set_end(r, "failed", "the chore asks for skill \"%.100s\", which %s",
			    json_string_value(n) ? json_string_value(n) : "?", sk == NULL ?
			    "is not found from this workspace (agentctl skills lists them)" :
			    agentd_errmsg(&e));
			abuf_free(&b);
			return AGENTD_OK;
		}
		abuf_printf(&b, "\n\n# Skill %s (loaded for this task)\n%s",
		    json_string_value(n), text);
		free(text);
	}
	free(*task);
	*task = abuf_steal(&b);
	return *task ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/* A resumed run takes the instructions its start journaled. */
static int
instructions_restore(struct arun *r, struct agentd_error *err)
{
	json_t *evs = NULL, *ev;
	size_t i;
	int rc;

	rc = memory_event_list(r->m, r->run_id, 0, &evs, err);
	if (rc != AGENTD_OK)
		return rc;
	json_array_foreach(evs, i, ev) {
		json_t *d = json_object_get(ev, "data");
		const char *t = ajson_str(d, "text", NULL);

		if (strcmp(ajson_str(ev, "type", ""), "skills") == 0 && skills_restore(r, ev)) {
			json_decref(evs);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		if (strcmp(ajson_str(ev, "type", ""), "instructions") != 0 || t == NULL ||
		    r->instructions != NULL)
			continue;
		r->instructions = strdup(t);
		if (r->instructions == NULL) {
			json_decref(evs);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
	}
	json_decref(evs);
	return AGENTD_OK;
}

/*
 * A new run's SessionStart hooks (source "startup" for a new session,
 * "resume" for a continued one) and UserPromptSubmit hooks: what they add as
 * context joins the task message; a UserPromptSubmit block ends the run
 * before the task is stored. *task: the message to store (malloc'd).
 */
static int
start_hooks(struct arun *r, char **task, struct agentd_error *err)
{
	const char *source = r->ctx.n > 0 ? "resume" : "startup";
	struct hook_result h1, h2;
	struct abuf b;
	int rc;

	*task = NULL;
	memset(&h2, 0, sizeof(h2));
	rc = hooks_fire(r, "SessionStart", source, json_pack("{s:s}", "source", source), &h1, err);
	if (rc == AGENTD_OK && h1.stop)
		hook_stop(r, "SessionStart", &h1);
	else if (rc == AGENTD_OK)
		rc = hooks_fire(r, "UserPromptSubmit", NULL, json_pack("{s:s}", "prompt", r->task),
		    &h2, err);
	if (rc == AGENTD_OK && h2.stop)
		hook_stop(r, "UserPromptSubmit", &h2);
	else if (rc == AGENTD_OK && h2.blocked)
		set_end(r, "failed", "the UserPromptSubmit hook blocked the task: %.600s",
		    h2.reason ? h2.reason : "no reason given");
	if (rc == AGENTD_OK && r->end_status == NULL) {
		abuf_init(&b, (size_t)64 << 20);
		if (abuf_puts(&b, r->task) || ((h1.context || h2.context) &&
		    abuf_puts(&b, "\n\n# Context from the user's hooks\n")) ||
		    (h1.context && abuf_printf(&b, "%s\n", h1.context)) ||
		    (h2.context && abuf_printf(&b, "%s\n", h2.context)))
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		else if ((*task = abuf_steal(&b)) == NULL)
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		abuf_free(&b);
	}
	hook_result_free(&h1);
	hook_result_free(&h2);
	return rc;
}

/* The "running" status that opens a new run, naming the instruction files. */
static json_t *
start_status(struct arun *r)
{
	json_t *d = json_pack("{s:s}", "status", "running"), *paths, *f;
	size_t i;

	if (d != NULL && r->no_git != NULL) {
		char msg[1400];

		snprintf(msg, sizeof(msg), "%s is not a git repository that agentd can use: the git "
		    "tools will refuse, and agentctl undo cannot take the run's changes back (%.1000s)",
		    r->user_workspace ? r->user_workspace : "the workspace", r->no_git);
		json_object_set_new(d, "git", json_false());
		json_object_set_new(d, "warning", json_string(msg));
	}
	if (d == NULL || r->instr_files == NULL)
		return d;
	paths = json_array();
	json_array_foreach(json_object_get(r->instr_files, "files"), i, f)
		json_array_append(paths, json_object_get(f, "path"));
	json_object_set_new(d, "instructions", paths);
	return d;
}

/*
 * The first event of a fresh run, when the checkout had uncommitted
 * changes: "dirty" {count, files (a few)} and a "warning" saying what the run
 * does with them, added to d (the "running" status).
 */
static json_t *
dirty_note(struct arun *r, json_t *d)
{
	json_t *st = json_object_get(r->run, "start_state"), *files, *p;
	json_int_t n = ajson_int(st, "dirty_count", 0);
	char list[700], msg[1200];
	size_t i, used = 0;

	if (d == NULL || n <= 0)
		return d;
	files = json_array();
	list[0] = '\0';
	json_array_foreach(json_object_get(st, "dirty"), i, p) {
		if (i >= 5)
			break;
		json_array_append(files, p);
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%.100s",
			    i ? ", " : "", json_string_value(p));
	}
	if (n > 5 && used < sizeof(list))
		snprintf(list + used, sizeof(list) - used, " and %lld more", (long long)n - 5);
	if (r->worktree != NULL)
		snprintf(msg, sizeof(msg), "the checkout has uncommitted changes in %lld file(s) "
		    "(%s); they are not in the run's worktree, which starts from the last commit",
		    (long long)n, list);
	else
		snprintf(msg, sizeof(msg), "the checkout has uncommitted changes in %lld file(s) "
		    "(%s); the run's commits leave them out unless a commit names them",
		    (long long)n, list);
	json_object_set_new(d, "dirty", json_pack("{s:I, s:o}", "count", n, "files", files));
	json_object_set_new(d, "warning", json_string(msg));
	return d;
}

/* The task message as this run stored it (malloc'd), or NULL. */
static char *
stored_task(struct arun *r)
{
	json_t *list = NULL, *m;
	char *out = NULL;
	size_t i;

	if (memory_msg_list(r->m, r->session_id, 0, &list, NULL) != AGENTD_OK)
		return NULL;
	json_array_foreach(list, i, m) {
		if (ajson_int(m, "run_id", 0) == r->run_id &&
		    strcmp(ajson_str(m, "role", ""), "user") == 0 &&
		    strcmp(ajson_str(m, "kind", "message"), "message") == 0) {
			out = strdup(ajson_str(m, "content", ""));
			break;
		}
	}
	json_decref(list);
	return out;
}

static int
agent_loop(struct arun *r, struct agentd_error *err)
{
	const char *status = ajson_str(r->run, "status", "");
	char *task = NULL;
	int fresh, rc, hook_ended = 0;

	if (strcmp(status, "queued") == 0) {
		fresh = 1;
	} else if (strcmp(status, "running") == 0 || strcmp(status, "interrupted") == 0) {
		fresh = 0;
		if (!r->cfg->resume) {
			if (strcmp(status, "running") != 0)
				return AGENTD_OK;
			rc = memory_run_set_status(r->m, r->run_id, "interrupted",
			    "agentd stopped while the run was going on", err);
			if (rc == AGENTD_OK)
				rc = agent_emit(r, "status", json_pack("{s:s, s:s}", "status",
				    "interrupted", "reason", "agentd stopped while the run was going on"),
				    EMIT_BOTH, err);
			return rc;
		}
	} else {
		return agentd_seterr(err, AGENTD_EINVAL, "run %lld has already ended (%s)",
		    (long long)r->run_id, status);
	}
	if (r->end_status == NULL) {
		rc = setup_workspace(r, fresh, err);
		if (rc != AGENTD_OK)
			return rc;
	}
	rc = ctx_load(r, fresh, err);
	if (rc == AGENTD_OK && r->end_status == NULL)
		rc = fresh ? instructions_read(r, err) : instructions_restore(r, err);
	if (rc == AGENTD_OK && fresh && r->end_status == NULL)
		rc = skills_find(r, err);
	if (rc == AGENTD_OK && fresh && r->end_status == NULL) {
		rc = start_hooks(r, &task, err);
		hook_ended = r->end_status != NULL;
	}
	if (rc == AGENTD_OK && fresh && r->end_status == NULL)
		rc = skills_preload(r, &task, err);
	if (rc != AGENTD_OK) {
		free(task);
		return rc;
	}
	if (fresh) {
		tools_test_pause("run-setup");
		rc = memory_begin(r->m, err);
		if (rc == AGENTD_OK && r->end_status == NULL)
			rc = memory_run_set_status(r->m, r->run_id, "running", NULL, err);
		/* a task a hook blocked is not kept in the session */
		if (rc == AGENTD_OK && !hook_ended)
			rc = store_user(r, task ? task : r->task, 1, err);
		free(task);
		task = NULL;
		if (rc == AGENTD_OK && r->instructions != NULL)
			rc = agent_emit(r, "instructions", json_pack("{s:O, s:O, s:s}", "files",
			    json_object_get(r->instr_files, "files"), "skipped",
			    json_object_get(r->instr_files, "skipped"), "text", r->instructions),
			    EMIT_STORE, err);
		if (rc == AGENTD_OK && r->end_status == NULL)
			rc = agent_emit(r, "status", dirty_note(r, start_status(r)), EMIT_BOTH, err);
		if (rc == AGENTD_OK)
			rc = memory_commit(r->m, err);
		if (rc != AGENTD_OK) {
			memory_rollback(r->m);
			return rc;
		}
	} else {
		if (r->ctx.task_seq == 0) {
			/* the task was summarized away: pin it again, the very bytes
			 * stored (with what hooks added), else the run record's */
			char *stored = stored_task(r);

			rc = ctx_append(&r->ctx, json_pack("{s:s, s:s}", "role", "user", "content",
			    stored ? stored : r->task), 0, r->run_id);
			free(stored);
			if (rc != AGENTD_OK)
				return agentd_seterr(err, rc, NULL);
			{
				struct ctx_msg pin = r->ctx.v[r->ctx.n - 1];

				memmove(&r->ctx.v[1], &r->ctx.v[0],
				    sizeof(r->ctx.v[0]) * (r->ctx.n - 1));
				pin.pinned = 1;
				r->ctx.v[0] = pin;
			}
		}
		rc = resume_state(r, err);
		if (rc == AGENTD_OK && r->end_status == NULL)
			rc = agent_emit(r, "resumed", json_pack("{s:s, s:I}", "status", "running",
			    "steps", (json_int_t)r->steps), EMIT_BOTH, err);
		if (rc != AGENTD_OK)
			return rc;
	}
	if (r->end_status == NULL) {
		rc = ctx_window(r, err);
		if (rc == AGENTD_OK)
			rc = agent_mcp_offer(r, err);
		if (rc == AGENTD_OK && fresh)
			rc = skills_catalog_make(r, err);
		if (rc == AGENTD_OK)
			rc = ctx_fixed_prompt(r, err);
		if (rc != AGENTD_OK)
			return rc;
	}
	if (!fresh) {
		rc = resume_calls(r, err);
		if (rc != AGENTD_OK)
			return rc;
	}
	while (r->end_status == NULL) {
		if (agent_is_cancelled(r)) {
			set_stopped(r);
			break;
		}
		if (r->steps >= r->max_steps) {
			set_end(r, "failed", "step limit (%d) reached", r->max_steps);
			break;
		}
		if (elapsed_s(r) >= r->max_wall_s) {
			set_end(r, "failed", "time limit (%g s) reached", r->max_wall_s);
			break;
		}
		if (r->tokens >= r->max_tokens) {
			set_end(r, "failed", "token limit (%lld) reached", (long long)r->max_tokens);
			break;
		}
		rc = do_step(r, err);
		if (rc != AGENTD_OK)
			return rc;
	}
	return finish_run(r, err);
}

int
agent_run(struct memory *m, int64_t run_id, const struct agent_config *cfg,
    const struct agent_hooks *hooks, struct agentd_error *err)
{
	struct arun *r;
	int rc;

	if (m == NULL || cfg == NULL || run_id <= 0)
		return agentd_seterr(err, AGENTD_EINVAL, "agent_run: bad arguments");
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	r->m = m;
	r->run_id = run_id;
	r->cfg = cfg;
	r->hooks = hooks;
	memory_set_txn_hook(m, agent_txn_ended, r);
	ctx_init(&r->ctx);
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	rc = setup(r, err);
	if (rc == AGENTD_OK)
		rc = agent_loop(r, err);
	if (rc != AGENTD_OK && r->run != NULL && is_journal_error(rc)) {
		struct agentd_error e2;
		char reason[1100];

		/* best effort: the journal may be what failed */
		snprintf(reason, sizeof(reason), "journal error: %s", agentd_errmsg(err));
		memory_rollback(m);
		memory_run_set_status(m, run_id, "failed", reason, &e2);
	}
	memory_set_txn_hook(m, NULL, NULL);
	arun_free(r);
	free(r);
	return rc;
}
