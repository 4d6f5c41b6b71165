/*
 * toolsearch.c — the MCP servers' tools in a run: which are offered to the
 * model, within a budget of tokens for all tool definitions, and the
 * `tool_search` tool that finds the others when they do not all fit; the
 * servers' progress notifications as run events.
 */
#include "agent/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "tools/mcp.h"

#define SEARCH_HITS	5	/* definitions one tool_search returns */
#define PROGRESS_MAX	100	/* progress events stored per call */

static int64_t
tools_tokens(const json_t *tools)
{
	json_t *none = json_array();
	int64_t n = llm_estimate_tokens(none, tools);

	json_decref(none);
	return n;
}

/* The OpenAI form of one definition from mcp_servers_tools. */
static json_t *
openai_def(const json_t *d)
{
	return json_pack("{s:s, s:{s:O, s:O, s:O}}", "type", "function", "function", "name",
	    json_object_get(d, "name"), "description", json_object_get(d, "description"),
	    "parameters", json_object_get(d, "parameters"));
}

/* The servers' report, one line each, for a warning and for agentctl show. */
static int
warn_unavailable(struct arun *r, const json_t *report, struct agentd_error *err)
{
	size_t i;
	json_t *s;
	int rc = AGENTD_OK;

	json_array_foreach(report, i, s) {
		if (strcmp(ajson_str(s, "state", ""), "running") == 0)
			continue;
		char msg[700];

		snprintf(msg, sizeof(msg), "MCP server %.32s is not available; the run goes on "
		    "without its tools: %.600s", ajson_str(s, "name", "?"), ajson_str(s, "error", "?"));
		rc = agent_emit(r, "warning", json_pack("{s:s}", "message", msg), EMIT_BOTH, err);
		if (rc != AGENTD_OK)
			break;
	}
	return rc;
}

/* "a, b and c": the running servers of the report (static buffer). */
static const char *
server_names(const json_t *report)
{
	static _Thread_local char b[300];
	size_t i, n = 0, len = 0, total = 0;
	json_t *s;

	json_array_foreach(report, i, s)
		total += strcmp(ajson_str(s, "state", ""), "running") == 0;
	b[0] = '\0';
	json_array_foreach(report, i, s) {
		if (strcmp(ajson_str(s, "state", ""), "running") != 0 || len + 40 >= sizeof(b))
			continue;
		n++;
		len += (size_t)snprintf(b + len, sizeof(b) - len, "%s%.32s", n == 1 ? "" :
		    n == total ? " and " : ", ", ajson_str(s, "name", "?"));
	}
	return b;
}

static int offer_matches(struct arun *r, json_t *matches, json_t **offered_out);

/* Take the MCP tools and tool_search out of the offered ones (a server's
 * list changed: they are offered again). *found: the names tool_search had
 * found, oldest first (new reference). */
static json_t *
take_back(struct arun *r)
{
	json_t *found = r->mcp_found ? r->mcp_found : json_array();
	size_t i;

	for (i = json_array_size(r->tools); i-- > 0;) {
		const char *n = ajson_str(json_object_get(json_array_get(r->tools, i), "function"),
		    "name", "");

		if (strncmp(n, "mcp__", 5) == 0 || strcmp(n, "tool_search") == 0)
			json_array_remove(r->tools, i);
	}
	json_decref(r->mcp_defs);
	r->mcp_defs = NULL;
	r->mcp_found = NULL;
	return found;
}

static int offer_defs(struct arun *r, json_t *defs, json_t *report, int again,
    struct agentd_error *err);

int
agent_mcp_offer(struct arun *r, struct agentd_error *err)
{
	const json_t *only = json_object_get(r->opts, "mcp");
	json_t *defs = NULL, *report = NULL;
	struct agentd_error me;
	uint64_t gen = mcp_servers_generation();

	if (r->workspace == NULL || (json_is_array(only) && json_array_size(only) == 0))
		return AGENTD_OK;
	agentd_error_clear(&me);
	if (mcp_servers_tools(r->workspace, json_is_array(only) ? only : NULL, &defs, &report,
	    &me) != AGENTD_OK)
		return agent_emit(r, "warning", json_pack("{s:s++}", "message", "MCP servers: ",
		    agentd_errmsg(&me), ""), EMIT_BOTH, err);
	if (json_array_size(report) == 0) {	/* none configured */
		json_decref(defs);
		json_decref(report);
		return AGENTD_OK;
	}
	r->mcp_on = 1;
	r->mcp_gen = gen;
	return offer_defs(r, defs, report, 0, err);
}

int
agent_mcp_refresh(struct arun *r, struct agentd_error *err)
{
	const json_t *only = json_object_get(r->opts, "mcp");
	json_t *defs = NULL, *report = NULL, *found, *again, *d, *shown = NULL;
	struct agentd_error me;
	size_t i, k;
	int rc;

	if (!r->mcp_on)
		return AGENTD_OK;
	/* Looking at the servers reads what they said since the last call: a
	 * tools/list_changed makes them list again, which moves the number. */
	agentd_error_clear(&me);
	if (mcp_servers_tools(r->workspace, json_is_array(only) ? only : NULL, &defs, &report,
	    &me) != AGENTD_OK)
		return AGENTD_OK;	/* said at the start; the calls will say it again */
	if (mcp_servers_generation() == r->mcp_gen) {
		json_decref(defs);
		json_decref(report);
		return AGENTD_OK;
	}
	r->mcp_gen = mcp_servers_generation();
	found = take_back(r);
	rc = offer_defs(r, defs, report, 1, err);
	if (rc == AGENTD_OK && r->mcp_defs != NULL && json_array_size(found) > 0) {
		/* what tool_search had found and still exists stays offered */
		again = json_array();
		json_array_foreach(found, i, d)
			for (k = 0; again && k < json_array_size(r->mcp_defs); k++)
				if (strcmp(ajson_str(json_object_get(json_array_get(r->mcp_defs, k),
				    "function"), "name", ""), json_string_value(d)) == 0)
					json_array_append(again, json_array_get(r->mcp_defs, k));
		if (again == NULL || offer_matches(r, again, &shown) != 0)
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		json_decref(again);
		json_decref(shown);
	}
	json_decref(found);
	return rc;
}

/* Offer defs (takes both references): all of them when the definitions fit
 * the budget, else tool_search; the "tools" event says what was done. */
static int
offer_defs(struct arun *r, json_t *defs, json_t *report, int again, struct agentd_error *err)
{
	json_t *mine = NULL, *d, *ev;
	int64_t builtin, all, budget;
	size_t i;
	int rc;

	mine = json_array();
	json_array_foreach(defs, i, d)
		if (mine == NULL || json_array_append_new(mine, openai_def(d)) != 0)
			break;
	json_decref(defs);
	if (mine == NULL || json_array_size(mine) != i) {
		json_decref(mine);
		json_decref(report);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	budget = r->cfg->tool_budget > 0 ? r->cfg->tool_budget : r->ctx.window / 4;
	builtin = tools_tokens(r->tools);
	if (!r->ctx.compact_tools && builtin + tools_tokens(mine) > budget) {
		/* Room first from the built-in tools' short descriptions (what
		 * small windows get anyway), then from tool_search. */
		json_t *small = agent_compact_tools(r->tools);

		if (small == NULL) {
			json_decref(mine);
			json_decref(report);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		json_decref(r->tools);
		r->tools = small;
		r->ctx.compact_tools = 1;
		builtin = tools_tokens(r->tools);
	}
	if (json_array_extend(r->tools, mine) != 0) {
		json_decref(mine);
		json_decref(report);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	all = tools_tokens(r->tools);
	r->tool_budget = budget;
	if (all > budget && json_array_size(mine) > 0) {
		/* Too many for this window: none one by one, a search instead. */
		json_t *t;

		for (i = json_array_size(r->tools); i-- > 0;)
			if (strncmp(ajson_str(json_object_get(json_array_get(r->tools, i), "function"),
			    "name", ""), "mcp__", 5) == 0)
				json_array_remove(r->tools, i);
		char desc[600];

		snprintf(desc, sizeof(desc), "Find tools of the connected MCP servers by what they "
		    "do: %zu tools of %s are not listed, to save room. Returns the definitions of the "
		    "best matches; call them from your next step on.", json_array_size(mine),
		    server_names(report));
		t = json_loads(TOOL_SEARCH_SCHEMA, 0, NULL);
		t = t ? json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function",
		    "name", "tool_search", "description", desc, "parameters", t) : NULL;
		if (t == NULL || json_array_append_new(r->tools, t) != 0) {
			json_decref(mine);
			json_decref(report);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		r->mcp_defs = mine;
		mine = NULL;
		r->mcp_found = json_array();
	}
	r->ctx.tools_est = tools_tokens(r->tools);
	ev = json_pack("{s:O, s:i, s:i, s:I, s:I, s:I, s:b, s:I, s:b}", "servers", report,
	    "mcp_tools", (int)(r->mcp_defs ? json_array_size(r->mcp_defs) : json_array_size(mine)),
	    "offered", (int)json_array_size(r->tools), "builtin_tokens", (json_int_t)builtin,
	    "mcp_tokens", (json_int_t)(all - builtin), "budget", (json_int_t)budget,
	    "search", r->mcp_defs != NULL, "tokens", (json_int_t)r->ctx.tools_est,
	    "changed", again);
	json_decref(mine);
	rc = agent_emit(r, "tools", ev, EMIT_BOTH, err);
	if (rc == AGENTD_OK && !again)
		rc = warn_unavailable(r, report, err);
	json_decref(report);
	return rc;
}

/* Lowercase words of at least two characters, at most 16 of them. */
static size_t
words_of(const char *q, char w[16][48])
{
	size_t n = 0, k;

	while (*q && n < 16) {
		while (*q && !isalnum((unsigned char)*q))
			q++;
		for (k = 0; *q && isalnum((unsigned char)*q); q++)
			if (k < 47)
				w[n][k++] = (char)tolower((unsigned char)*q);
		w[n][k] = '\0';
		if (k >= 2)
			n++;
	}
	return n;
}

/* Case-insensitive substring. */
static int
contains(const char *hay, const char *word)
{
	size_t n = strlen(word), i;

	for (; *hay; hay++) {
		for (i = 0; i < n && hay[i] && tolower((unsigned char)hay[i]) == word[i]; i++)
			;
		if (i == n)
			return 1;
	}
	return 0;
}

static const char *
fn_name(const json_t *t)
{
	return ajson_str(json_object_get(t, "function"), "name", "");
}

/* Take the tool named `name` out of the offered ones and of mcp_found. */
static void
unoffer(struct arun *r, const char *name)
{
	size_t i;

	for (i = 0; i < json_array_size(r->tools); i++)
		if (strcmp(fn_name(json_array_get(r->tools, i)), name) == 0) {
			json_array_remove(r->tools, i);
			break;
		}
	for (i = 0; i < json_array_size(r->mcp_found); i++)
		if (strcmp(json_string_value(json_array_get(r->mcp_found, i)), name) == 0) {
			json_array_remove(r->mcp_found, i);
			break;
		}
}

/*
 * Offer the matches (best first) from the next step on, within the budget:
 * tools found by earlier searches go first, oldest first, then this
 * search's weakest matches; the best match always stays. *offered: the
 * names now offered, best first (new reference).
 */
static int
offer_matches(struct arun *r, json_t *matches, json_t **offered_out)
{
	json_t *d, *batch = json_array();
	size_t i, k, old;
	int in;

	if (batch == NULL)
		goto fail;
	json_array_foreach(matches, i, d) {
		const char *name = fn_name(d);

		for (k = 0, in = 0; k < json_array_size(r->mcp_found); k++)
			if (strcmp(json_string_value(json_array_get(r->mcp_found, k)), name) == 0) {
				json_array_remove(r->mcp_found, k);	/* found again: now newest */
				in = 1;
				break;
			}
		if (!in && json_array_append(r->tools, d) != 0)
			goto fail;
		if (json_array_append_new(r->mcp_found, json_string(name)) != 0 ||
		    json_array_append_new(batch, json_string(name)) != 0)
			goto fail;
	}
	old = json_array_size(r->mcp_found) - json_array_size(batch);
	while (tools_tokens(r->tools) > r->tool_budget) {
		if (old > 0) {
			unoffer(r, json_string_value(json_array_get(r->mcp_found, 0)));
			old--;
		} else if (json_array_size(batch) > 1) {
			unoffer(r, json_string_value(json_array_get(batch, json_array_size(batch) - 1)));
			json_array_remove(batch, json_array_size(batch) - 1);
		} else {
			break;
		}
	}
	r->ctx.tools_est = tools_tokens(r->tools);
	*offered_out = batch;
	return 0;
fail:
	json_decref(batch);
	return -1;
}

json_t *
agent_tool_search(struct arun *r, const json_t *args)
{
	const char *query = ajson_str(args, "query", "");
	char w[16][48];
	size_t nw = words_of(query, w), i, k, nbest = 0;
	struct { size_t at; int score; } best[SEARCH_HITS];
	json_t *d, *matches, *names = NULL, *out, *res;
	struct abuf b;
	char *text;

	if (r->mcp_defs == NULL)
		return tools_result(0, "Every tool of the MCP servers is already offered: no search "
		    "is needed.");
	json_array_foreach(r->mcp_defs, i, d) {
		json_t *fn = json_object_get(d, "function");
		const char *name = ajson_str(fn, "name", ""), *desc = ajson_str(fn, "description", "");
		int score = 0;

		for (k = 0; k < nw; k++)
			score += (contains(name, w[k]) ? 3 : 0) + (contains(desc, w[k]) ? 1 : 0);
		if (score == 0)
			continue;
		for (k = nbest; k > 0 && best[k - 1].score < score; k--)
			if (k < SEARCH_HITS)
				best[k] = best[k - 1];
		if (k < SEARCH_HITS) {
			best[k].at = i;
			best[k].score = score;
			if (nbest < SEARCH_HITS)
				nbest++;
		}
	}
	matches = json_array();
	out = json_array();
	for (k = 0; k < nbest && matches; k++)
		if (json_array_append(matches, json_array_get(r->mcp_defs, best[k].at)) != 0)
			break;
	if (matches == NULL || out == NULL || k < nbest || offer_matches(r, matches, &names) != 0) {
		json_decref(matches);
		json_decref(out);
		return NULL;
	}
	json_array_foreach(matches, i, d)
		if (i < json_array_size(names))
			json_array_append(out, json_object_get(d, "function"));
	agent_emit(r, "tool_search", json_pack("{s:s, s:O}", "query", query, "found", names),
	    EMIT_BOTH, NULL);
	abuf_init(&b, 1 << 20);
	if (nbest == 0) {
		abuf_printf(&b, "No MCP tool matches \"%.200s\". Try other words; the tools are "
		    "named mcp__SERVER__TOOL, from the servers:", query);
		for (i = 0; i < json_array_size(r->mcp_defs); i++) {
			const char *n = fn_name(json_array_get(r->mcp_defs, i));
			const char *s = n + 5, *e = strstr(s, "__");

			if (e && (i == 0 || strncmp(fn_name(json_array_get(r->mcp_defs, i - 1)), n,
			    (size_t)(e - n)) != 0))
				abuf_printf(&b, " %.*s", (int)(e - s), s);
		}
		abuf_puts(&b, ".");
	} else {
		text = json_dumps(out, JSON_COMPACT);
		abuf_printf(&b, "These tools are offered from your next step on:\n%s", text ? text : "[]");
		free(text);
		if (json_array_size(names) < nbest) {
			abuf_puts(&b, "\nAlso matched, not offered for lack of room (search for one "
			    "of them by name to get it):");
			for (i = json_array_size(names); i < nbest; i++)
				abuf_printf(&b, " %s", fn_name(json_array_get(matches, i)));
		}
	}
	json_decref(names);
	json_decref(matches);
	json_decref(out);
	text = abuf_steal(&b);
	res = text ? tools_result(1, text) : NULL;
	free(text);
	return res;
}

void
agent_mcp_progress(void *ud, const char *server, const json_t *params)
{
	struct arun *r = ud;
	const char *m = ajson_str(params, "message", NULL);
	json_t *d, *v;

	if (r->progress_n++ >= PROGRESS_MAX || r->cur_call == NULL)
		return;
	d = json_pack("{s:s, s:s}", "id", r->cur_call, "server", server);
	if (d == NULL)
		return;
	if (json_is_number(v = json_object_get(params, "progress")))
		json_object_set(d, "progress", v);
	if (json_is_number(v = json_object_get(params, "total")))
		json_object_set(d, "total", v);
	if (m != NULL)	/* a server's words: 200 bytes at most */
		json_object_set_new(d, "message", ajson_string_lossy(m, strlen(m) < 200 ?
		    strlen(m) : 200));
	agent_emit(r, "progress", d, EMIT_BOTH, NULL);
}
