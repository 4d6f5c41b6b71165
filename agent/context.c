/*
 * context.c — the context window: what of a session's transcript is sent to
 * the model on each step.
 *
 * The transcript lives in memory between steps (loaded from the journal
 * only when a run starts or resumes), so a step costs the same whatever the
 * session's length. When a request would not fit in window - reserve, it
 * is cut in one block down to a low-water mark (so the next steps only
 * append and the server's prompt cache serves their prefix): the oldest
 * tool outputs are elided first; then the older turns are summarized by the
 * model and the summary (a message of kind "summary" covering up to a seq)
 * replaces them, in memory and in the journal, as a message after the
 * pinned task. The system prompt, the tools and this run's task are never
 * elided or summarized, and stay byte-identical; a tool message always goes
 * with the assistant call it answers.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "common/buf.h"
#include "common/json.h"

#define SUMMARY_MAX_TOKENS	768
#define DEFAULT_WINDOW		8192
/*
 * Over the budget, cut down to a share of it (cfg->context_low_water, 60%
 * by default), not just below it: the model server reuses its prompt cache
 * only for the unchanged prefix, and an elision rewrites the history from
 * the oldest output it elides on. Cut a little every step and every step
 * misses the cache; cut to 60% and the next several steps only append.
 */
#define LOW_WATER_PCT(r) ((r)->cfg->context_low_water >= 10 && \
	(r)->cfg->context_low_water <= 100 ? (r)->cfg->context_low_water : 60)

static const char summary_instruction[] =
    "Summarize this conversation so far for yourself, so that you can continue "
    "the work from your summary alone. Keep: what the user asked, what you did "
    "and found (files read or changed, commands and their results, commits), "
    "decisions taken, and what remains to be done. Plain text, concise";

void
ctx_init(struct agent_context *c)
{
	memset(c, 0, sizeof(*c));
	c->factor = 1.0;
}

static void
ctx_msg_clear(struct ctx_msg *cm)
{
	json_decref(cm->msg);
	json_decref(cm->orig);
	cm->msg = cm->orig = NULL;
}

void
ctx_free(struct agent_context *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		ctx_msg_clear(&c->v[i]);
	free(c->v);
	free(c->summary);
	c->v = NULL;
	c->n = c->cap = 0;
	c->summary = NULL;
}

int64_t
ctx_estimate_msg(const json_t *msg)
{
	json_t *a = json_array();
	int64_t n;

	if (a == NULL)
		return 0;
	json_array_append(a, (json_t *)msg);
	n = llm_estimate_tokens(a, NULL);
	json_decref(a);
	return n;
}

int
ctx_append(struct agent_context *c, json_t *msg, int64_t seq, int64_t run_id)
{
	struct ctx_msg *cm;

	if (msg == NULL)
		return AGENTD_ENOMEM;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct ctx_msg *nv = realloc(c->v, ncap * sizeof(*nv));

		if (nv == NULL) {
			json_decref(msg);
			return AGENTD_ENOMEM;
		}
		c->v = nv;
		c->cap = ncap;
	}
	cm = &c->v[c->n++];
	memset(cm, 0, sizeof(*cm));
	cm->msg = msg;
	cm->seq = seq;
	cm->run_id = run_id;
	cm->est = ctx_estimate_msg(msg);
	c->body_est += cm->est;
	return AGENTD_OK;
}

/* A journal record as an OpenAI message (new reference). */
static json_t *
record_to_msg(const json_t *rec)
{
	const char *role = ajson_str(rec, "role", "user");
	const char *content = ajson_str(rec, "content", "");
	json_t *tc = json_object_get(rec, "tool_calls");
	json_t *o;

	/* the same keys in the same order as the loop appends them, so that a
	 * resumed run sends the bytes the run sent before */
	if (strcmp(role, "tool") == 0)
		return json_pack("{s:s, s:s, s:s}", "role", role, "tool_call_id",
		    ajson_str(rec, "tool_call_id", ""), "content", content);
	o = json_pack("{s:s, s:s}", "role", role, "content", content);
	if (o == NULL)
		return NULL;
	if (strcmp(role, "assistant") == 0 && json_is_array(tc) && json_array_size(tc) > 0)
		json_object_set(o, "tool_calls", tc);
	return o;
}

static json_t *
synthetic_result(const char *id)
{
	return json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", id,
	    "content", "No result was recorded for this call (the run that made it "
	    "stopped before it ran).");
}

/* Answer every call of `pending` not marked in `answered`. */
static int
close_pending(struct agent_context *c, json_t *pending, json_t *answered, int64_t seq,
    int64_t run_id)
{
	size_t i;
	json_t *call;

	json_array_foreach(pending, i, call) {
		const char *id = ajson_str(call, "id", "");

		if (json_object_get(answered, id) != NULL)
			continue;
		if (ctx_append(c, synthetic_result(id), seq, run_id) != AGENTD_OK)
			return AGENTD_ENOMEM;
		c->v[c->n - 1].synthetic = 1;
	}
	json_array_clear(pending);
	json_object_clear(answered);
	return AGENTD_OK;
}

int
ctx_load(struct arun *r, int close_trailing, struct agentd_error *err)
{
	struct agent_context *c = &r->ctx;
	json_t *sum = NULL, *list = NULL, *rec;
	json_t *pending = json_array(), *answered = json_object();
	int64_t last_seq = 0, last_run = 0;
	size_t i;
	int rc;

	if (pending == NULL || answered == NULL) {
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		goto out;
	}
	rc = memory_msg_last_summary(r->m, r->session_id, &sum, err);
	if (rc != AGENTD_OK)
		goto out;
	if (sum != NULL) {
		free(c->summary);
		c->summary = strdup(ajson_str(sum, "content", ""));
		c->covers_seq = ajson_int(sum, "covers_seq", 0);
		if (c->summary == NULL) {
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
			goto out;
		}
	}
	rc = memory_msg_list(r->m, r->session_id, c->covers_seq, &list, err);
	if (rc != AGENTD_OK)
		goto out;
	json_array_foreach(list, i, rec) {
		const char *role = ajson_str(rec, "role", "");
		const char *kind = ajson_str(rec, "kind", "message");
		int64_t seq = ajson_int(rec, "seq", 0);
		int64_t run_id = ajson_int(rec, "run_id", 0);
		json_t *msg;

		if (strcmp(kind, "message") != 0 || strcmp(role, "system") == 0)
			continue;
		if (strcmp(role, "tool") == 0) {
			const char *id = ajson_str(rec, "tool_call_id", "");
			size_t k;
			json_t *call;
			int found = 0;

			json_array_foreach(pending, k, call)
				if (strcmp(ajson_str(call, "id", ""), id) == 0)
					found = 1;
			if (!found || json_object_get(answered, id) != NULL)
				continue;	/* stray: answers no open call */
			json_object_set_new(answered, id, json_true());
		} else {
			if (close_pending(c, pending, answered, last_seq, last_run) != AGENTD_OK) {
				rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
				goto out;
			}
			if (strcmp(role, "assistant") == 0) {
				json_t *tc = json_object_get(rec, "tool_calls");

				if (json_is_array(tc))
					json_array_extend(pending, tc);
			}
		}
		msg = record_to_msg(rec);
		if (ctx_append(c, msg, seq, run_id) != AGENTD_OK) {
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
			goto out;
		}
		if (run_id == r->run_id) {
			if (c->run_first_seq == 0)
				c->run_first_seq = seq;
			if (c->task_seq == 0 && strcmp(role, "user") == 0) {
				c->task_seq = seq;
				c->v[c->n - 1].pinned = 1;
			}
		}
		last_seq = seq;
		last_run = run_id;
	}
	if (close_trailing && close_pending(c, pending, answered, last_seq, last_run) != AGENTD_OK)
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
out:
	json_decref(sum);
	json_decref(list);
	json_decref(pending);
	json_decref(answered);
	return rc;
}

char *
ctx_system_text(struct arun *r)
{
	struct abuf b;

	abuf_init(&b, (size_t)64 << 20);
	if (abuf_puts(&b, r->system_prompt) != AGENTD_OK)
		goto fail;
	/* the repository's instructions: fixed for the whole run, so the
	 * prompt's prefix stays byte-identical from step to step */
	if (r->instructions != NULL &&
	    (abuf_puts(&b, "\n\n" INSTRUCTIONS_HEADING "\n") || abuf_puts(&b, r->instructions)))
		goto fail;
	if (r->skills_catalog != NULL &&
	    (abuf_puts(&b, "\n\n") || abuf_puts(&b, r->skills_catalog)))
		goto fail;
	/* no summary here: it is a message of its own (assemble), so that
	 * writing one leaves the system message and the tools as they were */
	return abuf_steal(&b);
fail:
	abuf_free(&b);
	return NULL;
}

void
ctx_calibrate(struct agent_context *c, int64_t prompt_tokens)
{
	double f;

	if (prompt_tokens <= 0 || c->last_est <= 0)
		return;
	f = (double)prompt_tokens / (double)c->last_est;
	if (f < 0.5)
		f = 0.5;
	if (f > 4.0)
		f = 4.0;
	c->factor = f;
}

/* Below this window, tool definitions are sent in their short form. */
#define SMALL_WINDOW 8192

int
ctx_window(struct arun *r, struct agentd_error *err)
{
	struct agent_context *c = &r->ctx;
	int cfgw = r->cfg->context_window, sw = 0, w;
	json_int_t ow = ajson_int(r->opts, "context_window", 0);
	struct agentd_error e;

	if (ow > 0 && ow < INT_MAX)
		cfgw = (int)ow;	/* a per-run override */

	if (llm_context_window(&r->llm, &sw, &e) != AGENTD_OK)
		sw = 0;
	if (sw > 0 && cfgw > 0 && sw < cfgw) {
		char msg[200];

		snprintf(msg, sizeof(msg), "the model server's context window (%d tokens) "
		    "is smaller than configured (%d): using %d", sw, cfgw, sw);
		if (agent_emit(r, "status", json_pack("{s:s, s:s}", "status", "running",
		    "warning", msg), EMIT_BOTH, err) != AGENTD_OK)
			return err ? err->code : AGENTD_EDB;
		w = sw;
	} else if (cfgw > 0) {
		w = cfgw;
	} else if (sw > 0) {
		w = sw;
	} else {
		w = DEFAULT_WINDOW;
	}
	c->window = w;
	c->reserve = r->cfg->context_reserve > 0 ? r->cfg->context_reserve : 1024;
	if (c->reserve > w / 2)
		c->reserve = w / 4;
	if (w < SMALL_WINDOW) {
		/* Ollama's default 4096: keep room for the conversation. The
		 * short prompt and tools are fixed for the run (the window is
		 * asked again on a resume and gives the same answer). */
		json_t *small = agent_compact_tools(r->tools);

		if (small == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		json_decref(r->tools);
		r->tools = small;
		c->compact_tools = 1;
		if (r->default_prompt) {
			char *p = strdup(agent_small_system_prompt());

			if (p == NULL)
				return agentd_seterr(err, AGENTD_ENOMEM, NULL);
			free(r->system_prompt);
			r->system_prompt = p;
		}
		if (c->reserve > w / 8)
			c->reserve = w / 8;
	}
	if (r->tools != NULL) {
		json_t *none = json_array();

		c->tools_est = llm_estimate_tokens(none, r->tools);
		json_decref(none);
	}
	return AGENTD_OK;
}

int
ctx_fixed_prompt(struct arun *r, struct agentd_error *err)
{
	struct agent_context *c = &r->ctx;
	struct agentd_error ce;
	char *sys = ctx_system_text(r);
	json_t *msgs = sys ? json_pack("[{s:s, s:s}]", "role", "system", "content", sys) : NULL;
	int64_t est, n = -1;
	int counted;

	free(sys);
	if (msgs == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	est = llm_estimate_tokens(msgs, r->tools);
	agentd_error_clear(&ce);
	counted = llm_count_tokens(&r->llm, msgs, r->tools, &n, &ce) == AGENTD_OK && n > 0;
	json_decref(msgs);
	if (counted && est > 0) {
		/* the server's own count calibrates the estimate from the start */
		c->factor = (double)n / (double)est;
		if (c->factor < 0.5)
			c->factor = 0.5;
		if (c->factor > 4.0)
			c->factor = 4.0;
	}
	return agent_emit(r, "context", json_pack("{s:i, s:i, s:I, s:s, s:b, s:i}", "window",
	    c->window, "reserve", c->reserve, "fixed_tokens", (json_int_t)(counted ? n : est),
	    "counted_by", counted ? "server" : "estimate", "compact", c->compact_tools,
	    "tools", (int)json_array_size(r->tools)), EMIT_BOTH, err);
}

int64_t
agent_fixed_prompt_tokens(int window)
{
	json_t *tools = tools_openai_json(), *msgs;
	int small = window > 0 && window < SMALL_WINDOW;
	int64_t n;

	if (tools != NULL && small) {
		json_t *t = agent_compact_tools(tools);

		json_decref(tools);
		tools = t;
	}
	if (tools == NULL)
		return -1;
	msgs = json_pack("[{s:s, s:s}]", "role", "system", "content", small ?
	    agent_small_system_prompt() : agent_default_system_prompt());
	n = msgs ? llm_estimate_tokens(msgs, tools) : -1;
	json_decref(msgs);
	json_decref(tools);
	return n;
}

/* Index of the newest assistant message (start of the current turn). */
static size_t
last_turn(const struct agent_context *c)
{
	size_t i = c->n;

	while (i > 0) {
		i--;
		if (strcmp(ajson_str(c->v[i].msg, "role", ""), "assistant") == 0)
			return i;
	}
	return c->n;
}

static int
replace_msg(struct agent_context *c, size_t i, json_t *nmsg)
{
	struct ctx_msg *cm = &c->v[i];

	if (nmsg == NULL)
		return AGENTD_ENOMEM;
	if (cm->orig == NULL)
		cm->orig = cm->msg;
	else
		json_decref(cm->msg);
	cm->msg = nmsg;
	c->body_est -= cm->est;
	cm->est = ctx_estimate_msg(nmsg);
	c->body_est += cm->est;
	return AGENTD_OK;
}

/* Elide the oldest tool outputs before the current turn until `need`
 * tokens are freed. Returns the tokens freed. */
static int64_t
elide_oldest(struct arun *r, int64_t need)
{
	struct agent_context *c = &r->ctx;
	size_t i, lt = last_turn(c);
	int64_t freed = 0;

	for (i = 0; i < lt && freed < need; i++) {
		struct ctx_msg *cm = &c->v[i];
		const char *content;
		char text[96];
		int64_t before = cm->est;

		if (cm->orig != NULL || strcmp(ajson_str(cm->msg, "role", ""), "tool") != 0)
			continue;
		content = ajson_str(cm->msg, "content", "");
		if (strlen(content) < 120)
			continue;
		snprintf(text, sizeof(text), "[output elided to save context: %zu bytes]",
		    strlen(content));
		if (replace_msg(c, i, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
		    ajson_str(cm->msg, "tool_call_id", ""), "content", text)) != AGENTD_OK)
			break;
		freed += before - cm->est;
		c->elisions++;
	}
	return freed;
}

/* Cut the current turn's tool outputs (last resort). Returns tokens freed. */
static int64_t
cut_current(struct agent_context *c, int64_t need)
{
	size_t i, lt = last_turn(c);
	int64_t freed = 0;

	for (i = lt; i < c->n && freed < need; i++) {
		struct ctx_msg *cm = &c->v[i];
		const char *content = ajson_str(cm->msg, "content", "");
		size_t len = strlen(content), cap;
		char *cut;
		int64_t before = cm->est;

		if (strcmp(ajson_str(cm->msg, "role", ""), "tool") != 0 || len < 256)
			continue;
		cap = (size_t)(need - freed) * 4 < len ? len - (size_t)(need - freed) * 4 : len / 2;
		if (cap < 128)
			cap = 128;
		cut = buf_cut_middle(content, len, cap, NULL);
		if (cut == NULL)
			break;
		if (replace_msg(c, i, json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id",
		    ajson_str(cm->msg, "tool_call_id", ""), "content", cut)) != AGENTD_OK) {
			free(cut);
			break;
		}
		free(cut);
		freed += before - cm->est;
	}
	return freed;
}

/* Append `s` cut to `cap` bytes (head and tail) to b. */
static int
put_cut(struct abuf *b, const char *s, size_t cap)
{
	size_t len = strlen(s);
	char *cut;
	int rc;

	if (len <= cap)
		return abuf_append(b, s, len);
	cut = buf_cut_middle(s, len, cap, NULL);
	if (cut == NULL)
		return AGENTD_ENOMEM;
	rc = abuf_puts(b, cut);
	free(cut);
	return rc;
}

/* Render one message for the summary request. */
static int
render_msg(struct abuf *b, const struct ctx_msg *cm)
{
	const json_t *msg = cm->orig ? cm->orig : cm->msg;
	const char *role = ajson_str(msg, "role", "");
	const char *content = ajson_str(msg, "content", "");
	json_t *tc = json_object_get(msg, "tool_calls"), *call;
	size_t i;
	int rc = AGENTD_OK;

	if (strcmp(role, "tool") == 0) {
		rc |= abuf_puts(b, "[tool result] ");
		rc |= put_cut(b, content, 800);
	} else {
		rc |= abuf_printf(b, "[%s] ", role);
		rc |= put_cut(b, content, strcmp(role, "user") == 0 ? 2000 : 1200);
		json_array_foreach(tc, i, call) {
			json_t *fn = json_object_get(call, "function");

			rc |= abuf_printf(b, "\n[call] %s ", ajson_str(fn, "name", "?"));
			rc |= put_cut(b, ajson_str(fn, "arguments", "{}"), 300);
		}
	}
	rc |= abuf_puts(b, "\n");
	return rc ? AGENTD_ENOMEM : AGENTD_OK;
}

static void
sum_retry(void *ud, int attempt, long delay_ms, const char *reason)
{
	struct arun *r = ud;

	agent_emit(r, "retry", json_pack("{s:i, s:I, s:s}", "attempt", attempt,
	    "delay_ms", (json_int_t)delay_ms, "reason", reason ? reason : ""), EMIT_BOTH, NULL);
}

static int
sum_cancelled(void *ud)
{
	return agent_is_cancelled(ud);
}

/* Ask the model to fold `text` into the current summary; store it. */
static int
summarize_text(struct arun *r, const char *text, int64_t covers, struct agentd_error *err)
{
	struct agent_context *c = &r->ctx;
	struct llm_config lc = r->llm;	/* shallow: borrowed strings */
	struct llm_callbacks cb = { NULL, sum_retry, sum_cancelled, r };
	struct llm_response resp;
	struct llm_request req;
	struct memory_msg mm;
	struct abuf b;
	json_t *msgs = NULL;
	char *summary = NULL;
	int rc, words = c->window / 16 < 400 ? c->window / 16 : 400;

	abuf_init(&b, (size_t)16 << 20);
	if (abuf_printf(&b, "%s (at most %d words).\n\n", summary_instruction, words < 60 ? 60 : words) ||
	    (c->summary && (abuf_puts(&b, "Your summary of what came before:\n") ||
	    abuf_puts(&b, c->summary) || abuf_puts(&b, "\n\n"))) ||
	    abuf_puts(&b, "The conversation since then:\n") || abuf_puts(&b, text)) {
		abuf_free(&b);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	msgs = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content",
	    "You are agentd. You keep working notes of your own work.", "role", "user",
	    "content", b.data);
	abuf_free(&b);
	if (msgs == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	lc.max_tokens = c->reserve < SUMMARY_MAX_TOKENS ? c->reserve : SUMMARY_MAX_TOKENS;
	memset(&req, 0, sizeof(req));
	req.messages = msgs;
	memset(&resp, 0, sizeof(resp));
	rc = llm_chat(&lc, &req, &cb, &resp, err);
	json_decref(msgs);
	if (rc != AGENTD_OK)
		return rc;
	r->tokens += (resp.prompt_tokens > 0 ? resp.prompt_tokens : 0) +
	    (resp.completion_tokens > 0 ? resp.completion_tokens : 0);
	if (resp.content == NULL || resp.content[0] == '\0')
		summary = strdup("(no summary was written; earlier messages were dropped "
		    "to fit the context window)");
	else
		summary = buf_cut_middle(resp.content, strlen(resp.content),
		    (size_t)SUMMARY_MAX_TOKENS * 4, NULL);
	if (summary != NULL && r->plan != NULL) {
		/* The plan goes with the summary as it is now, not as it changes
		 * later: the system message stays the same from step to step. */
		char *p = agent_plan_text(r->plan, 0), *both = NULL;

		if (p == NULL || asprintf(&both, "%s\n\n# Your plan when you wrote this summary "
		    "(update_plan calls after it are newer)\n%s", summary, p) < 0)
			both = NULL;
		free(p);
		free(summary);
		summary = both;
	}
	if (summary == NULL) {
		llm_response_free(&resp);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	memset(&mm, 0, sizeof(mm));
	mm.run_id = r->run_id;
	mm.role = "system";
	mm.content = summary;
	mm.step = r->steps;
	mm.kind = "summary";
	mm.covers_seq = covers;
	rc = memory_begin(r->m, err);
	if (rc == AGENTD_OK)
		rc = memory_msg_add(r->m, r->session_id, &mm, NULL, err);
	if (rc == AGENTD_OK)
		rc = memory_run_add_usage(r->m, r->run_id,
		    resp.prompt_tokens > 0 ? resp.prompt_tokens : 0,
		    resp.completion_tokens > 0 ? resp.completion_tokens : 0, 0, err);
	if (rc == AGENTD_OK)
		rc = memory_commit(r->m, err);
	else
		memory_rollback(r->m);
	llm_response_free(&resp);
	if (rc != AGENTD_OK) {
		free(summary);
		return rc;
	}
	free(c->summary);
	c->summary = summary;
	c->covers_seq = covers;
	c->summaries++;
	return AGENTD_OK;
}

/*
 * Summarize v[0, split) except pinned messages, in as many requests as the
 * window needs, then drop them from the transcript.
 */
static int
summarize_before(struct arun *r, size_t split, struct agentd_error *err)
{
	struct agent_context *c = &r->ctx;
	int64_t budget = c->window - c->reserve;
	int64_t room = budget - SUMMARY_MAX_TOKENS - 400 -
	    (c->summary ? (int64_t)strlen(c->summary) / 3 : 0);
	size_t cap, i, j, kept = 0, n_done = 0;
	int64_t covers = c->covers_seq;
	struct abuf b;
	int rc = AGENTD_OK;

	if (room < 256)
		room = 256;
	cap = (size_t)room * 3;
	abuf_init(&b, cap + 4096);
	for (i = 0; i < split; i++) {
		struct ctx_msg *cm = &c->v[i];
		size_t before = b.len;

		if (cm->pinned)
			continue;
		if (render_msg(&b, cm) != AGENTD_OK) {
			rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
			goto out;
		}
		if (b.len > cap && before > 0) {
			/* flush what came before this message */
			b.data[before] = '\0';
			rc = summarize_text(r, b.data, covers, err);
			if (rc != AGENTD_OK)
				goto out;
			abuf_reset(&b);
			if (render_msg(&b, cm) != AGENTD_OK) {
				rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
				goto out;
			}
		}
		if (cm->seq > covers)
			covers = cm->seq;
		n_done++;
	}
	if (b.len > 0)
		rc = summarize_text(r, b.data, covers, err);
	if (rc != AGENTD_OK)
		goto out;
	/* drop the summarized messages, keep the pinned ones */
	for (i = 0, j = 0; i < c->n; i++) {
		if (i < split && !c->v[i].pinned) {
			c->body_est -= c->v[i].est;
			ctx_msg_clear(&c->v[i]);
			continue;
		}
		c->v[j++] = c->v[i];
		kept++;
	}
	c->n = j;
	(void)kept;
	{
		char msg[120];

		snprintf(msg, sizeof(msg), "context: %zu earlier messages summarized", n_done);
		rc = agent_emit(r, "status", json_pack("{s:s, s:s}", "status", "running",
		    "reason", msg), EMIT_BOTH, err);
	}
out:
	abuf_free(&b);
	return rc;
}

/* Where to cut: the earliest turn boundary after which at most `keep`
 * tokens remain; never after the current turn's start. */
static size_t
choose_split(const struct agent_context *c, int64_t keep)
{
	size_t lt = last_turn(c), i, best;
	int64_t acc = 0;

	best = lt;
	for (i = c->n; i > 0; i--) {
		const struct ctx_msg *cm = &c->v[i - 1];

		if (!cm->pinned)
			acc += cm->est;
		if (i - 1 > lt)
			continue;
		if (strcmp(ajson_str(cm->msg, "role", ""), "tool") == 0)
			continue;	/* never separate a tool result from its call */
		if (acc > keep)
			break;
		best = i - 1;
	}
	return best;
}

static int
has_unpinned_before(const struct agent_context *c, size_t split)
{
	size_t i;

	for (i = 0; i < split; i++)
		if (!c->v[i].pinned)
			return 1;
	return 0;
}

static json_t *
assemble(struct arun *r, int64_t *sys_est)
{
	struct agent_context *c = &r->ctx;
	char *sys = ctx_system_text(r);
	json_t *out = json_array(), *sm;
	size_t i;

	if (sys == NULL || out == NULL) {
		free(sys);
		json_decref(out);
		return NULL;
	}
	sm = json_pack("{s:s, s:s}", "role", "system", "content", sys);
	free(sys);
	if (sm == NULL) {
		json_decref(out);
		return NULL;
	}
	*sys_est = ctx_estimate_msg(sm);
	json_array_append_new(out, sm);
	/*
	 * The newest summary stands where the messages it replaced stood: after
	 * the pinned task that leads the transcript, as a message of its own.
	 * So writing it leaves the system message, the tools and the task as
	 * they were, and the server's prompt cache still serves them.
	 */
	for (i = 0; i < c->n && c->v[i].pinned; i++)
		json_array_append(out, c->v[i].msg);
	if (c->summary != NULL && c->summary[0] != '\0') {
		json_t *su = json_pack("{s:s, s:s+}", "role", "user", "content",
		    "# Summary of the conversation before this point (written by you)\n",
		    c->summary);

		if (su == NULL) {
			json_decref(out);
			return NULL;
		}
		*sys_est += ctx_estimate_msg(su);
		json_array_append_new(out, su);
	}
	for (; i < c->n; i++)
		json_array_append(out, c->v[i].msg);
	return out;
}

int
ctx_build(struct arun *r, json_t **outp, struct agentd_error *err)
{
	struct agent_context *c = &r->ctx;
	int64_t budget = c->window - c->reserve, sys_est = 0, raw, need, pinned_est = 0;
	int summarized = 0, under, iter, rc;
	json_t *out = NULL;
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->v[i].pinned)
			pinned_est += c->v[i].est;
	for (iter = 0; iter < 32; iter++) {
		json_decref(out);
		out = assemble(r, &sys_est);
		if (out == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		raw = sys_est + c->tools_est + c->body_est;
		/* the per-message sum bounds the whole; count exactly near the edge */
		if ((double)raw * c->factor > 0.85 * (double)budget)
			raw = llm_estimate_tokens(out, r->tools);
		need = (int64_t)((double)raw * c->factor + 0.5);
		if (need <= budget) {
			c->last_est = raw;
			*outp = out;
			return AGENTD_OK;
		}
		if ((double)(sys_est + c->tools_est + pinned_est) * c->factor > (double)budget) {
			json_decref(out);
			return agentd_seterr(err, AGENTD_ELIMIT, "the context window (%d tokens, "
			    "%d kept free for the answer) is too small for the system prompt, "
			    "the repository's instructions, the tools and the task (about %lld "
			    "tokens)", c->window, c->reserve,
			    (long long)((double)(sys_est + c->tools_est + pinned_est) * c->factor));
		}
		/* tokens to free, in raw estimate units, with a little slack: at
		 * least down to the budget, and while eliding, down to the low
		 * water mark in one block (see LOW_WATER_PCT) */
		raw = (int64_t)((double)(need - budget) / c->factor) + 16;
		{
			int64_t low = (int64_t)((double)need -
			    (double)budget * LOW_WATER_PCT(r) / 100.0);
			int64_t target = (int64_t)((double)low / c->factor) + 16, freed;

			if (target < raw)
				target = raw;
			freed = elide_oldest(r, target);
			under = freed >= raw;
			/* Under the budget with room for the next steps (or the
			 * history already summarized for this step): done. With
			 * too little left to elide, a small cut now would cut
			 * again in a step or two: summarize in one block instead. */
			if (under && (freed >= target / 2 || summarized))
				continue;
		}
		if (!summarized) {
			/* Keep a quarter of the room verbatim after the summary.
			 * A summary rewrites the history from the task on, so
			 * each one costs the server what follows the task once,
			 * however much is kept; keeping less makes the next
			 * summary come later and the cache serve more steps
			 * (docs/benchmarks.md: a half kept served less). */
			int64_t keep = (budget - (int64_t)((double)(sys_est + c->tools_est +
			    pinned_est + SUMMARY_MAX_TOKENS) * c->factor)) / 4;
			size_t split = choose_split(c, keep > 0 ? (int64_t)(keep / c->factor) : 0);

			summarized = 1;
			if (split > 0 && has_unpinned_before(c, split)) {
				rc = summarize_before(r, split, err);
				if (rc != AGENTD_OK) {
					json_decref(out);
					return rc;
				}
				continue;
			}
		}
		if (under)
			continue;	/* nothing to summarize: the elision did it */
		if (cut_current(c, raw) > 0)
			continue;
		break;
	}
	json_decref(out);
	return agentd_seterr(err, AGENTD_ELIMIT, "the conversation does not fit the context "
	    "window (%d tokens, %d kept free for the answer)", c->window, c->reserve);
}

int
ctx_reply_cut(struct agent_context *c, int64_t pt, int64_t ct)
{
	int64_t reserve;

	if (c->window <= 0 || pt < 0 || ct < 0 || pt + ct + 16 < c->window)
		return 0;
	reserve = (int64_t)c->reserve * 2;
	if (reserve > c->window / 2)
		reserve = c->window / 2;
	if (reserve > c->reserve)
		c->reserve = (int)reserve;
	return 1;
}

int
ctx_overflow(struct agent_context *c, const struct llm_overflow *ov)
{
	int64_t sent, w = c->window;

	if (c->last_est <= 0 || c->window <= 0)
		return 0;
	if (ov->n_prompt_tokens > 0)
		ctx_calibrate(c, ov->n_prompt_tokens);
	sent = ov->n_prompt_tokens > 0 ? ov->n_prompt_tokens :
	    (int64_t)((double)c->last_est * c->factor + 0.5);
	if (ov->n_ctx > 0 && ov->n_ctx < w)
		w = ov->n_ctx;
	/* The same request must not fit the new budget: with several slots
	 * sharing one KV cache, what is free now is unknown but below what
	 * was sent. */
	if (sent <= w - c->reserve)
		w = sent * 3 / 4 + c->reserve;
	if (w >= c->window)
		w = c->window * 3 / 4;
	if (w < 256)
		w = 256;
	c->window = (int)w;
	if (c->reserve > c->window / 2)
		c->reserve = c->window / 4;
	if (c->window < SMALL_WINDOW && c->reserve > c->window / 8)
		c->reserve = c->window / 8;	/* as ctx_window does for a small window */
	return c->window;
}
