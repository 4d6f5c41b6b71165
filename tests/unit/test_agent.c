/*
 * test_agent.c — the plan-act loop against a scripted model.
 *
 * llm_chat and llm_context_window are replaced at link time
 * (-Wl,--wrap=…): each test queues the replies the "model" gives, and every
 * request the loop makes is checked (each tool message answers an issued
 * call id, every call is answered before the next message, the request fits
 * the window). Everything else is real: a temporary SQLite journal, the
 * real tools on a temporary git repository built with the git CLI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tests/unit/helpers.h"
#include "agent/agent.h"
#include "agent/llm.h"
#include "memory/memory.h"
#include "tools/tools.h"
#include "common/json.h"

/* ---- the scripted model ---- */

struct reply {
	char *content;
	json_t *calls;		/* [{"id","name","arguments"}] */
	const char *finish;
	int err_code;		/* != 0: fail with this */
	int64_t prompt_tokens;	/* AGENTD_ECONTEXT: the server's n_prompt_tokens */
	int64_t n_ctx;		/* AGENTD_ECONTEXT: the server's n_ctx */
	char *reasoning;	/* the reply's thinking, or NULL */
};

#define QMAX 1024
static struct reply queue[QMAX];
static int qhead, qtail;
static int n_requests, n_summaries;
static int window_limit;	/* > 0: every request must fit */
static int server_window;	/* > 0: llm_context_window answers it */
static int cancel_on_request;	/* > 0: the Nth request sees a cancel */
static int cancel_flag;
static const char *expect_in_request;	/* text the next request must carry */
static const char *must_keep[4];	/* texts every request must carry */
static int keep_from[4];		/* … from this model request on */
static int retry_first;			/* report a retry before the first reply */
static int approve_answer;		/* what the person answers */
static int approve_asked;
static const char *cancel_when;		/* cancel once this file exists */
static int64_t req_est[QMAX];		/* estimated size of each request */
static json_t *prev_msgs, *prev_tools;	/* the last request with tools */
static int prefix_breaks;		/* requests that did not extend the one before */
/* What llama-server's /apply-template + /tokenize would count: 0 = not a
 * llama-server; else this many tokens per estimated token (x100). */
static int count_pct;
static int system_breaks;		/* … and changed the system message or the tools */

static void
q_push(const char *content, json_t *calls, const char *finish, int err_code, int64_t pt)
{
	assert_true(qtail < QMAX);
	queue[qtail].content = strdup(content ? content : "");
	queue[qtail].calls = calls;
	queue[qtail].finish = finish;
	queue[qtail].err_code = err_code;
	queue[qtail].prompt_tokens = pt;
	queue[qtail].n_ctx = -1;
	queue[qtail].reasoning = NULL;
	qtail++;
}

/* One call reply: name and raw argument text. */
static void
q_call(const char *name, const char *args)
{
	q_push("", json_pack("[{s:s, s:s, s:s}]", "id", "x", "name", name, "arguments", args),
	    "tool_calls", 0, -1);
}

static void
q_text(const char *text)
{
	q_push(text, NULL, "stop", 0, -1);
}

static void
q_reset(void)
{
	while (qhead < qtail) {
		free(queue[qhead].content);
		free(queue[qhead].reasoning);
		json_decref(queue[qhead].calls);
		qhead++;
	}
	qhead = qtail = 0;
	n_requests = n_summaries = 0;
	window_limit = server_window = cancel_on_request = cancel_flag = 0;
	expect_in_request = NULL;
	retry_first = approve_answer = approve_asked = 0;
	cancel_when = NULL;
	json_decref(prev_msgs);
	json_decref(prev_tools);
	prev_msgs = prev_tools = NULL;
	prefix_breaks = system_breaks = count_pct = 0;
	memset(must_keep, 0, sizeof(must_keep));
	memset(keep_from, 0, sizeof(keep_from));
}

/* Every tool message answers a call of the assistant message before it;
 * every call is answered before the next non-tool message. */
static void
check_transcript(const json_t *msgs, int stored)
{
	json_t *pending = json_object(), *msg;
	size_t i;

	json_array_foreach(msgs, i, msg) {
		const char *role = ajson_str(msg, "role", "");

		if (stored && strcmp(ajson_str(msg, "kind", "message"), "message") != 0)
			continue;
		if (strcmp(role, "tool") == 0) {
			const char *id = ajson_str(msg, "tool_call_id", "");
			json_t *v = json_object_get(pending, id);

			if (v == NULL || !json_is_false(v))
				fail_msg("tool message %zu answers %s, which is not open", i, id);
			json_object_set_new(pending, id, json_true());
			continue;
		}
		{
			const char *k;
			json_t *v;

			json_object_foreach(pending, k, v)
				if (json_is_false(v))
					fail_msg("call %s unanswered before message %zu", k, i);
		}
		json_object_clear(pending);
		if (strcmp(role, "assistant") == 0) {
			json_t *tc = json_object_get(msg, "tool_calls"), *c;
			size_t k;

			json_array_foreach(tc, k, c) {
				json_t *fn = json_object_get(c, "function"), *a;

				assert_string_equal(ajson_str(c, "type", ""), "function");
				a = json_loads(ajson_str(fn, "arguments", ""), 0, NULL);
				assert_non_null(a);
				assert_true(json_is_object(a));
				json_decref(a);
				json_object_set_new(pending, ajson_str(c, "id", ""), json_false());
			}
		}
	}
	if (!stored) {
		const char *k;
		json_t *v;

		json_object_foreach(pending, k, v)
			if (json_is_false(v))
				fail_msg("call %s unanswered at the end of the request", k);
	}
	json_decref(pending);
}

static int
request_has(const json_t *msgs, const char *text)
{
	char *d = json_dumps(msgs, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_t *s = json_string(text);
	char *q = json_dumps(s, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
	int found;

	q[strlen(q) - 1] = '\0';	/* the text as escaped in JSON, unquoted */
	found = strstr(d, q + 1) != NULL;
	free(d);
	free(q);
	json_decref(s);
	return found;
}

int __wrap_llm_chat(const struct llm_config *c, const struct llm_request *req,
    const struct llm_callbacks *cb, struct llm_response *resp, struct agentd_error *err);
int __wrap_llm_context_window(const struct llm_config *c, int *n_ctx, struct agentd_error *err);
int __wrap_llm_count_tokens(const struct llm_config *c, const json_t *messages, const json_t *tools,
    int64_t *n, struct agentd_error *err);

int
__wrap_llm_chat(const struct llm_config *c, const struct llm_request *req,
    const struct llm_callbacks *cb, struct llm_response *resp, struct agentd_error *err)
{
	struct reply *r;
	size_t i;

	(void)c;
	n_requests++;
	check_transcript(req->messages, 0);
	if (n_requests <= QMAX)
		req_est[n_requests - 1] = llm_estimate_tokens(req->messages, req->tools);
	if (window_limit > 0) {
		int64_t est = llm_estimate_tokens(req->messages, req->tools);

		if (est > window_limit)
			fail_msg("request %d: %lld tokens over the window %d", n_requests,
			    (long long)est, window_limit);
	}
	if (cancel_on_request > 0 && n_requests == cancel_on_request) {
		cancel_flag = 1;
		if (cb && cb->cancelled)
			assert_true(cb->cancelled(cb->ud));
		return agentd_seterr(err, AGENTD_ECANCELLED, NULL);
	}
	memset(resp, 0, sizeof(*resp));
	resp->prompt_tokens = resp->completion_tokens = -1;
	if (req->tools == NULL) {
		char text[64];

		n_summaries++;
		snprintf(text, sizeof(text), "Summary %d: reading big.txt again and again.",
		    n_summaries);
		resp->content = strdup(text);
		return AGENTD_OK;
	}
	assert_string_equal(ajson_str(json_array_get(req->messages, 0), "role", ""), "system");
	/* Does this request only append to the one before (what lets the
	 * server reuse its prompt cache)? */
	if (prev_msgs != NULL) {
		int same = json_equal(prev_tools, req->tools) &&
		    json_array_size(prev_msgs) <= json_array_size(req->messages);

		for (i = 0; same && i < json_array_size(prev_msgs); i++)
			same = json_equal(json_array_get(prev_msgs, i),
			    json_array_get(req->messages, i));
		prefix_breaks += !same;
		system_breaks += !json_equal(prev_tools, req->tools) ||
		    !json_equal(json_array_get(prev_msgs, 0), json_array_get(req->messages, 0));
	}
	json_decref(prev_msgs);
	json_decref(prev_tools);
	prev_msgs = json_deep_copy(req->messages);
	prev_tools = json_deep_copy(req->tools);
	for (i = 0; i < 4 && must_keep[i]; i++)
		if (n_requests - n_summaries >= keep_from[i] && !request_has(req->messages, must_keep[i]))
			fail_msg("request %d lost \"%s\"", n_requests, must_keep[i]);
	if (expect_in_request != NULL) {
		assert_true(request_has(req->messages, expect_in_request));
		expect_in_request = NULL;
	}
	if (qhead == qtail)
		return agentd_seterr(err, AGENTD_ELLM, "HTTP 500: script exhausted");
	if (retry_first && n_requests == 1 && cb && cb->retry)
		cb->retry(cb->ud, 1, 500, "HTTP 503: loading model");
	r = &queue[qhead++];
	if (r->err_code == AGENTD_ECONTEXT) {
		free(r->content);
		free(r->reasoning);
		if (req->overflow != NULL) {
			req->overflow->n_prompt_tokens = r->prompt_tokens;
			req->overflow->n_ctx = r->n_ctx;
		}
		return agentd_seterr(err, r->err_code, "server error in the stream: Context size "
		    "has been exceeded.");
	}
	if (r->err_code != 0) {
		free(r->content);
		free(r->reasoning);
		return agentd_seterr(err, r->err_code, "HTTP 500: %s", "scripted failure");
	}
	if (cb && cb->delta && r->content[0])
		cb->delta(cb->ud, "text", r->content, strlen(r->content));
	resp->content = r->content;
	resp->reasoning = r->reasoning;
	r->reasoning = NULL;
	resp->tool_calls = r->calls ? r->calls : json_array();
	resp->finish_reason = strdup(r->finish ? r->finish : "stop");
	resp->prompt_tokens = r->prompt_tokens;
	if (r->prompt_tokens >= 0)
		resp->completion_tokens = 10;
	r->content = NULL;
	r->calls = NULL;
	return AGENTD_OK;
}

int
__wrap_llm_count_tokens(const struct llm_config *c, const json_t *messages, const json_t *tools,
    int64_t *n, struct agentd_error *err)
{
	(void)c;
	if (count_pct <= 0)
		return agentd_seterr(err, AGENTD_ENOTFOUND, "not a llama-server");
	*n = llm_estimate_tokens(messages, tools) * count_pct / 100;
	return AGENTD_OK;
}

int
__wrap_llm_context_window(const struct llm_config *c, int *n_ctx, struct agentd_error *err)
{
	(void)c;
	if (server_window > 0) {
		*n_ctx = server_window;
		return AGENTD_OK;
	}
	return agentd_seterr(err, AGENTD_ENOTFOUND, "not told");
}

/* ---- fixture ---- */

struct fx {
	char dir[PATH_MAX];
	char repo[PATH_MAX + 8];
	char state[PATH_MAX + 8];
	struct memory *m;
	struct agent_config cfg;
	json_t *events;		/* [[type, data]…] from the hooks */
	struct agent_hooks hooks;
	struct memory *reader;	/* a second connection, as an attaching client's */
	int told_early;		/* events told before that connection could read them */
	int64_t last_run, last_seq;
};

static void
on_event(void *ud, int64_t run_id, int64_t seq, const char *type, json_t *data)
{
	struct fx *f = ud;

	json_array_append_new(f->events, json_pack("[s, O]", type, data));
	/* A client that attaches reads the stored events and then follows the
	 * live ones: an event it is told of must already be readable by
	 * another connection, in order, or that client loses it. */
	if (seq > 0 && f->reader != NULL) {
		json_t *ev = NULL;
		struct agentd_error err;

		agentd_error_clear(&err);
		if (run_id != f->last_run)
			f->last_seq = 0;
		f->last_run = run_id;
		if (memory_event_list(f->reader, run_id, seq - 1, &ev, &err) != AGENTD_OK ||
		    json_array_size(ev) == 0 ||
		    ajson_int(json_array_get(ev, 0), "seq", 0) != seq || seq <= f->last_seq) {
			fprintf(stderr, "# event %lld (%s) told before it was stored\n",
			    (long long)seq, type);
			f->told_early++;
		}
		f->last_seq = seq;
		json_decref(ev);
	}
}

static int
on_cancelled(void *ud)
{
	(void)ud;
	if (cancel_when != NULL && access(cancel_when, F_OK) == 0)
		cancel_flag = 1;
	return cancel_flag;
}

static int
on_approve(void *ud, int64_t run_id, json_t *request, int timeout_s)
{
	(void)ud;
	(void)run_id;
	assert_true(timeout_s > 0);
	assert_string_equal(ajson_str(request, "tool", ""), "shell");
	approve_asked++;
	if (approve_answer == -2) {
		/* agentd stops while the person is asked */
		cancel_flag = AGENT_STOP_INTERRUPT;
		return 0;
	}
	return approve_answer;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char db[PATH_MAX * 2];
	struct agentd_error err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_agent.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	sh("mkdir -p %s %s && cd %s && git init -q -b main . && "
	    "printf 'hello\\nworld\\n' > README.md && git add README.md && "
	    "git -c user.name=T -c user.email=t@example.org commit -q -m init", f->repo, f->state,
	    f->repo);
	snprintf(db, sizeof(db), "%s/agentd.db", f->state);
	assert_int_equal(memory_open(db, &f->m, &err), AGENTD_OK);
	assert_int_equal(memory_open_more(db, &f->reader, &err), AGENTD_OK);
	agent_config_init(&f->cfg);
	f->cfg.state_dir = f->state;
	f->cfg.author_name = "agentd";
	f->cfg.author_email = "agentd@example.org";
	f->events = json_array();
	f->hooks.event = on_event;
	f->hooks.cancelled = on_cancelled;
	f->hooks.approve = on_approve;
	f->hooks.ud = f;
	q_reset();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	q_reset();
	assert_int_equal(f->told_early, 0);
	memory_close(f->reader);
	memory_close(f->m);
	json_decref(f->events);
	sh("rm -rf %s", f->dir);
	free(f);
	return 0;
}

static int64_t
new_session(struct fx *f)
{
	struct agentd_error err;
	int64_t sid;

	assert_int_equal(memory_session_create(f->m, "t", f->repo, &sid, &err), AGENTD_OK);
	return sid;
}

static int64_t
new_run(struct fx *f, int64_t sid, const char *task, const char *options, const char *branch)
{
	struct memory_run_spec spec;
	struct agentd_error err;
	json_t *o = options ? json_loads(options, 0, NULL) : NULL;
	int64_t id;

	memset(&spec, 0, sizeof(spec));
	spec.session_id = sid ? sid : new_session(f);
	spec.workspace = f->repo;
	spec.task = task;
	spec.branch = branch;
	spec.options = o;
	assert_int_equal(memory_run_create(f->m, &spec, &id, &err), AGENTD_OK);
	json_decref(o);
	return id;
}

static json_t *
get_run(struct fx *f, int64_t id)
{
	struct agentd_error err;
	json_t *r;

	assert_int_equal(memory_run_get(f->m, id, &r, &err), AGENTD_OK);
	return r;
}

static void
run_it(struct fx *f, int64_t id)
{
	struct agentd_error err;

	agentd_error_clear(&err);
	if (agent_run(f->m, id, &f->cfg, &f->hooks, &err) != AGENTD_OK)
		fail_msg("agent_run: %s", agentd_errmsg(&err));
}

static json_t *
messages(struct fx *f, int64_t run_id)
{
	struct agentd_error err;
	json_t *run = get_run(f, run_id), *list;

	assert_int_equal(memory_msg_list(f->m, ajson_int(run, "session_id", 0), 0, &list, &err),
	    AGENTD_OK);
	json_decref(run);
	check_transcript(list, 1);
	return list;
}

static void
assert_status(struct fx *f, int64_t id, const char *status, const char *reason_part)
{
	json_t *r = get_run(f, id);

	if (strcmp(ajson_str(r, "status", ""), status) != 0)
		fail_msg("run %lld is %s (%s), expected %s", (long long)id, ajson_str(r, "status", ""),
		    ajson_str(r, "reason", ""), status);
	if (reason_part != NULL && strstr(ajson_str(r, "reason", ""), reason_part) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", ajson_str(r, "reason", ""), reason_part);
	json_decref(r);
}

/* The content of the tool message answering the nth call (0-based) of a run. */
static const char *
nth_tool_output(json_t *msgs, int n)
{
	size_t i;
	json_t *m;

	json_array_foreach(msgs, i, m)
		if (strcmp(ajson_str(m, "role", ""), "tool") == 0 && n-- == 0)
			return ajson_str(m, "content", "");
	return "";
}

static int
count_events(struct fx *f, const char *type)
{
	size_t i;
	json_t *e;
	int n = 0;

	json_array_foreach(f->events, i, e)
		if (strcmp(json_string_value(json_array_get(e, 0)), type) == 0)
			n++;
	return n;
}

/* ---- tests ---- */

static void
test_multi_step(void **state)
{
	struct fx *f = *state;
	struct agentd_error err;
	int64_t id = new_run(f, 0, "Add a NOTES.md and commit it", NULL, NULL);
	json_t *msgs, *run, *ev;
	char *log;
	int ok = 0;
	int64_t bad, count;

	q_call("update_plan", "{\"steps\":[{\"step\":\"look\",\"status\":\"in_progress\"},"
	    "{\"step\":\"write and commit\",\"status\":\"pending\"}]}");
	q_call("list_dir", "{}");
	q_call("read_file", "{\"path\":\"README.md\"}");
	q_call("write_file", "{\"path\":\"NOTES.md\",\"content\":\"notes\\n\"}");
	q_call("git_add", "{\"paths\":[\"NOTES.md\"]}");
	q_call("git_commit", "{\"message\":\"Add notes\"}");
	q_call("update_plan", "{\"steps\":[{\"step\":\"look\",\"status\":\"completed\"},"
	    "{\"step\":\"write and commit\",\"status\":\"completed\"}]}");
	q_text("Added NOTES.md and committed it.");
	retry_first = 1;
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_int_equal(n_requests, 8);
	assert_true(exists(f->repo, "NOTES.md"));
	log = capture("git -C %s log -1 --format=%%s", f->repo);
	assert_string_equal(log, "Add notes\n");
	free(log);
	msgs = messages(f, id);
	/* user, then 7 × (assistant, tool), then the answer */
	assert_int_equal(json_array_size(msgs), 16);
	assert_string_equal(ajson_str(json_array_get(msgs, 0), "content", ""),
	    "Add a NOTES.md and commit it");
	assert_non_null(strstr(nth_tool_output(msgs, 1), "README.md"));
	assert_non_null(strstr(nth_tool_output(msgs, 2), "hello"));
	assert_string_equal(ajson_str(json_array_get(msgs, 15), "content", ""),
	    "Added NOTES.md and committed it.");
	json_decref(msgs);
	run = get_run(f, id);
	assert_int_equal(ajson_int(run, "steps", 0), 8);
	json_decref(run);
	assert_int_equal(count_events(f, "plan"), 2);
	assert_int_equal(count_events(f, "tool_call"), 7);
	assert_int_equal(count_events(f, "tool_result"), 7);
	assert_int_equal(count_events(f, "end"), 1);
	assert_int_equal(count_events(f, "retry"), 1);
	assert_true(count_events(f, "text") >= 1);
	/* stored: everything but the streamed text */
	{
		json_t *stored, *e;
		size_t i;
		int retries = 0, texts = 0;

		assert_int_equal(memory_event_list(f->m, id, 0, &stored, &err), AGENTD_OK);
		json_array_foreach(stored, i, e) {
			retries += strcmp(ajson_str(e, "type", ""), "retry") == 0;
			texts += strcmp(ajson_str(e, "type", ""), "text") == 0;
		}
		assert_int_equal(retries, 1);
		assert_int_equal(texts, 0);
		json_decref(stored);
	}
	ev = json_array_get(f->events, json_array_size(f->events) - 1);
	assert_string_equal(json_string_value(json_array_get(ev, 0)), "end");
	assert_string_equal(ajson_str(json_array_get(ev, 1), "answer", ""),
	    "Added NOTES.md and committed it.");
	/* the stored events form an intact chain */
	assert_int_equal(memory_audit(f->m, id, &ok, &bad, &count, &err), AGENTD_OK);
	assert_true(ok);
	assert_true(count >= 18);
}

static void
test_bad_calls(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "read the readme", NULL, NULL);
	json_t *msgs, *m, *tc;
	size_t i;
	int assistants = 0;

	q_call("frobnicate", "{\"x\":1}");				/* unknown tool */
	q_call("read_file", "{\"limit\":3}");				/* missing path */
	q_call("read_file", "{\"path\": ");				/* unparseable */
	q_call("read_file", "{\"path\":\"README.md\",}");		/* repaired */
	q_push("Let me look.\n<tool_call>\n{\"name\":\"read_file\",\"arguments\":"
	    "{\"path\":\"README.md\"}}\n</tool_call>", NULL, "stop", 0, -1);	/* in the text */
	q_text("It says hello world.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	msgs = messages(f, id);
	assert_non_null(strstr(nth_tool_output(msgs, 0), "Unknown tool \"frobnicate\""));
	assert_non_null(strstr(nth_tool_output(msgs, 0), "read_file"));
	assert_non_null(strstr(nth_tool_output(msgs, 1), "Invalid arguments for read_file"));
	assert_non_null(strstr(nth_tool_output(msgs, 1), "path"));
	assert_non_null(strstr(nth_tool_output(msgs, 2), "Could not parse the arguments"));
	assert_non_null(strstr(nth_tool_output(msgs, 3), "hello"));
	assert_non_null(strstr(nth_tool_output(msgs, 4), "hello"));
	json_array_foreach(msgs, i, m) {
		if (strcmp(ajson_str(m, "role", ""), "assistant") != 0)
			continue;
		tc = json_object_get(m, "tool_calls");
		if (assistants == 0 || assistants == 2)	/* broken calls replay as {} */
			assert_string_equal(ajson_str(json_object_get(json_array_get(tc, 0),
			    "function"), "arguments", ""), "{}");
		if (assistants == 4) {
			assert_string_equal(ajson_str(m, "content", ""), "Let me look.");
			assert_int_equal(json_array_size(tc), 1);
		}
		assistants++;
	}
	assert_int_equal(assistants, 6);
	json_decref(msgs);
}

/*
 * The calls a request carries back are the arguments the model wrote, byte
 * for byte, when they are a valid JSON object: a server that renders them
 * as they are then finds in its prompt cache the tokens it generated.
 * Repaired or broken arguments go back as valid JSON (a strict server
 * rejects anything else), never as the model's text.
 */
static void
test_call_arguments_replayed(void **state)
{
	static const char *const sent[] = {
		"{ \"path\" : \"README.md\" }",		/* kept as written */
		"\n{\"path\": \"README.md\"}\n",		/* whitespace around: kept */
		"{\"path\":\"README.md\",}",		/* repaired */
		"{\"path\":\"x\",\"path\":\"README.md\"}",	/* a key twice */
		"{\"path\": ",				/* unparseable */
	};
	static const char *const back[] = {
		"{ \"path\" : \"README.md\" }",
		"\n{\"path\": \"README.md\"}\n",
		"{\"path\":\"README.md\"}",
		NULL,					/* anything strict JSON */
		"{}",
	};
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "read the readme", NULL, NULL);
	json_t *lists[2], *m;
	size_t i, k, n;

	for (k = 0; k < 5; k++)
		q_call("read_file", sent[k]);
	q_text("It says hello world.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	lists[0] = json_incref(prev_msgs);	/* the last request */
	lists[1] = messages(f, id);		/* the journal */
	for (k = 0; k < 2; k++) {
		n = 0;
		json_array_foreach(lists[k], i, m) {
			const char *a;
			json_t *v;

			if (!json_is_array(json_object_get(m, "tool_calls")))
				continue;
			a = ajson_str(json_object_get(json_array_get(json_object_get(m,
			    "tool_calls"), 0), "function"), "arguments", "");
			v = json_loads(a, JSON_REJECT_DUPLICATES, NULL);
			if (!json_is_object(v))
				fail_msg("call %zu went back as %s", n, a);
			json_decref(v);
			if (back[n] != NULL && strcmp(a, back[n]) != 0)
				fail_msg("call %zu went back as [%s], not [%s]", n, a, back[n]);
			n++;
		}
		assert_int_equal(n, 5);
		json_decref(lists[k]);
	}
}

static void
test_repeated_failure(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "read missing", NULL, NULL);
	int i;

	for (i = 0; i < 10; i++)
		q_call("read_file", "{\"path\":\"missing.txt\"}");
	run_it(f, id);
	assert_status(f, id, "failed", "repeated 3 times");
	assert_int_equal(n_requests, 3);
	json_decref(messages(f, id));
}

static void
test_nudge_once(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "two things", NULL, NULL);
	json_t *msgs, *m;
	size_t i;
	int nudges = 0;

	q_call("update_plan", "{\"steps\":[{\"step\":\"first\",\"status\":\"completed\"},"
	    "{\"step\":\"second\",\"status\":\"pending\"}]}");
	q_text("Done, I think.");
	q_text("The second step was not needed.");
	q_text("never asked");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_int_equal(n_requests, 3);
	msgs = messages(f, id);
	json_array_foreach(msgs, i, m)
		if (strcmp(ajson_str(m, "role", ""), "user") == 0 &&
		    strstr(ajson_str(m, "content", ""), "Your plan still has open steps") != NULL) {
			nudges++;
			assert_non_null(strstr(ajson_str(m, "content", ""), "second (pending)"));
			assert_null(strstr(ajson_str(m, "content", ""), "first"));
		}
	assert_int_equal(nudges, 1);
	json_decref(msgs);
}

static void
test_limits(void **state)
{
	struct fx *f = *state;
	int64_t id;
	int i;

	/* steps */
	id = new_run(f, 0, "loop", "{\"max_steps\":3}", NULL);
	for (i = 0; i < 10; i++)
		q_call("list_dir", i % 2 ? "{}" : "{\"path\":\".\"}");
	run_it(f, id);
	assert_status(f, id, "failed", "step limit (3) reached");
	assert_int_equal(n_requests, 3);
	json_decref(messages(f, id));
	q_reset();

	/* tokens, counted from the server's usage */
	id = new_run(f, 0, "loop", "{\"max_tokens\":1000}", NULL);
	for (i = 0; i < 10; i++)
		q_push("", json_pack("[{s:s, s:s, s:s}]", "id", "a", "name", "list_dir",
		    "arguments", i % 2 ? "{}" : "{\"path\":\".\"}"), "tool_calls", 0, 600);
	run_it(f, id);
	assert_status(f, id, "failed", "token limit (1000) reached");
	assert_int_equal(n_requests, 2);
	q_reset();

	/* a model server that keeps failing */
	id = new_run(f, 0, "fail", NULL, NULL);
	q_push(NULL, NULL, NULL, AGENTD_ELLM, -1);
	run_it(f, id);
	assert_status(f, id, "failed", "scripted failure");
	assert_true(count_events(f, "error") >= 1);
}

static void
test_cancel(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "cancel me", NULL, NULL);

	q_call("list_dir", "{}");
	q_call("list_dir", "{\"path\":\".\"}");
	cancel_on_request = 2;	/* the second request is cancelled in flight */
	run_it(f, id);
	assert_status(f, id, "cancelled", NULL);
	assert_int_equal(n_requests, 2);
	json_decref(messages(f, id));

	/* cancelled while a tool runs: the sandboxed command is stopped */
	q_reset();
	{
		char flag[PATH_MAX * 2];
		json_t *msgs;

		snprintf(flag, sizeof(flag), "%s/started.flag", f->repo);
		cancel_when = flag;
		id = new_run(f, 0, "wait", NULL, NULL);
		q_call("shell", "{\"command\":\"touch started.flag; sleep 60\"}");
		q_text("never");
		run_it(f, id);
		assert_status(f, id, "cancelled", NULL);
		assert_int_equal(n_requests, 1);
		msgs = messages(f, id);
		assert_non_null(strstr(nth_tool_output(msgs, 0), "cancelled"));
		json_decref(msgs);
	}

	/* cancelled before the first request */
	q_reset();
	id = new_run(f, 0, "cancel me too", NULL, NULL);
	cancel_flag = 1;
	run_it(f, id);
	assert_status(f, id, "cancelled", NULL);
	assert_int_equal(n_requests, 0);
}

static void
test_context_small_window(void **state)
{
	struct fx *f = *state;
	struct agentd_error err;
	char big[1600];
	json_t *sum = NULL, *run;
	int64_t id;
	int i;

	memset(big, 'x', sizeof(big) - 1);
	for (i = 60; i < (int)sizeof(big) - 1; i += 61)
		big[i] = '\n';
	big[sizeof(big) - 1] = '\0';
	put(f->repo, "big.txt", big);
	f->cfg.context_window = 2048;
	f->cfg.context_reserve = 256;
	window_limit = 2048 - 256;
	id = new_run(f, 0, "Read big.txt 200 times, TASK-MARKER-42", "{\"tools\":[\"read_file\"],"
	    "\"max_steps\":300}", NULL);
	must_keep[0] = "TASK-MARKER-42";
	must_keep[1] = "You are agentd";
	q_call("update_plan", "{\"steps\":[{\"step\":\"PLAN-MARKER read big.txt\","
	    "\"status\":\"in_progress\"}]}");
	for (i = 0; i < 200; i++)
		q_call("read_file", "{\"path\":\"big.txt\"}");
	q_call("update_plan", "{\"steps\":[{\"step\":\"PLAN-MARKER read big.txt\","
	    "\"status\":\"completed\"}]}");
	must_keep[2] = "PLAN-MARKER";	/* the plan, once made, is never lost */
	keep_from[2] = 2;
	q_text("Read it 200 times.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_int_equal(n_requests - n_summaries, 203);
	assert_true(n_summaries >= 1);
	assert_int_equal(memory_msg_last_summary(f->m, ajson_int(run = get_run(f, id),
	    "session_id", 0), &sum, &err), AGENTD_OK);
	assert_non_null(sum);
	assert_string_equal(ajson_str(sum, "kind", ""), "summary");
	json_decref(sum);
	json_decref(run);
	json_decref(messages(f, id));
}

/*
 * A long run on a 4,096-token window: once the history outgrows the
 * budget, old outputs are elided in rare large blocks, so that nearly
 * every request only appends to the one before (and the model server can
 * serve its prefix from the prompt cache). Eliding just enough on each step
 * would rewrite the history on nearly every step.
 */
static void
test_context_cache_prefix(void **state)
{
	struct fx *f = *state;
	char text[700], name[32];
	int i, k;

	for (k = 0; k < 8; k++) {
		for (i = 0; i < (int)sizeof(text) - 1; i++)
			text[i] = (i % 50 == 49) ? '\n' : (char)('a' + (i + k) % 26);
		text[300 + k * 50] = '\0';
		snprintf(name, sizeof(name), "f%d.txt", k);
		put(f->repo, name, text);
	}
	f->cfg.context_window = 4096;
	window_limit = 4096;
	{
		int64_t id = new_run(f, 0, "Read the files again and again", "{\"max_steps\":60}",
		    NULL);
		char args[64];

		q_call("update_plan", "{\"steps\":[{\"step\":\"read\",\"status\":\"in_progress\"}]}");
		for (i = 0; i < 48; i++) {
			snprintf(args, sizeof(args), "{\"path\":\"f%d.txt\"}", i % 8);
			q_call("read_file", args);
		}
		q_call("update_plan", "{\"steps\":[{\"step\":\"read\",\"status\":\"completed\"}]}");
		q_text("Read them all.");
		run_it(f, id);
		assert_status(f, id, "succeeded", NULL);
	}
	print_message("%d of %d requests rewrote the history (%d summaries)\n", prefix_breaks,
	    n_requests - n_summaries, n_summaries);
	/* the history did outgrow the window (or this tests nothing) … */
	assert_true(prefix_breaks >= 1);
	/* … and was cut rarely: each cut frees room for several steps … */
	if (prefix_breaks > 50 / 5)
		fail_msg("%d of 50 requests rewrote the history before their end", prefix_breaks);
	/* … and never the system message or the tools, summaries included */
	assert_int_equal(system_breaks, 0);
}

/*
 * Outputs too short to elide: the history is summarized, and each summary
 * rewrites what follows the task (the model server's cache serves only the
 * prefix before it). Keeping a quarter of the room after a summary, not a
 * half, makes them come later: 3 in these 121 requests, not 4.
 */
static void
test_context_summary_rare(void **state)
{
	struct fx *f = *state;
	int i;

	put(f->repo, "short.txt", "a short line, well under what is worth eliding\n");
	f->cfg.context_window = 4096;
	window_limit = 4096 - 512;
	{
		int64_t id = new_run(f, 0, "Read short.txt again and again", "{\"max_steps\":130,"
		    "\"tools\":[\"read_file\"]}", NULL);

		for (i = 0; i < 120; i++)
			q_call("read_file", "{\"path\":\"short.txt\"}");
		q_text("Read it.");
		run_it(f, id);
		assert_status(f, id, "succeeded", NULL);
	}
	print_message("%d of %d requests rewrote the history (%d summaries)\n", prefix_breaks,
	    n_requests - n_summaries, n_summaries);
	assert_true(n_summaries >= 2);
	if (prefix_breaks > 3)
		fail_msg("%d of 121 requests rewrote the history before their end", prefix_breaks);
	assert_int_equal(system_breaks, 0);
}

/*
 * The fixed part of every request (system prompt and tools) fits a small
 * window: at most 1,200 tokens on a 4,096 window (it was about 2,300 as a
 * GPT-2-vocabulary server counts it, ~2,400 as agentd estimates), so that
 * even a 2,048 window can run a step. Every tool a small model needs stays.
 */
static void
test_fixed_prompt_small(void **state)
{
	static const char *const needed[] = { "read_file", "write_file", "edit_file", "list_dir",
	    "grep", "shell", "git_status", "git_diff", "git_commit", "update_plan", NULL };
	struct fx *f = *state;
	int64_t small = agent_fixed_prompt_tokens(4096), big = agent_fixed_prompt_tokens(16384);
	json_t *e, *d = NULL, *tools;
	int64_t id;
	size_t i, k;

	print_message("fixed prompt: %lld tokens (4,096 window), %lld (16,384)\n",
	    (long long)small, (long long)big);
	assert_true(small > 0 && small <= 1200);
	assert_true(big > small);
	/* a real run on a 2,048 window: the server counts the fixed part */
	f->cfg.context_window = 2048;
	count_pct = 90;
	id = new_run(f, 0, "hi", NULL, NULL);
	q_text("hello");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	json_array_foreach(f->events, i, e)
		if (strcmp(json_string_value(json_array_get(e, 0)), "context") == 0)
			d = json_array_get(e, 1);
	assert_non_null(d);
	assert_string_equal(ajson_str(d, "counted_by", ""), "server");
	assert_true(ajson_bool(d, "compact", 0));
	assert_true(ajson_int(d, "fixed_tokens", 0) > 0 && ajson_int(d, "fixed_tokens", 0) <= 1200);
	/* the short tools are the ones a small model needs, with their schemas */
	tools = tools_openai_json();
	{
		json_t *c = agent_compact_tools(tools);

		for (k = 0; needed[k] != NULL; k++) {
			json_t *t;
			int found = 0;

			json_array_foreach(c, i, t) {
				json_t *fn = json_object_get(t, "function");

				if (strcmp(ajson_str(fn, "name", ""), needed[k]) == 0 &&
				    json_is_object(json_object_get(fn, "parameters")) &&
				    strlen(ajson_str(fn, "description", "")) > 8)
					found = 1;
			}
			if (!found)
				fail_msg("%s is not offered on a small window", needed[k]);
		}
		json_decref(c);
	}
	json_decref(tools);
	/* elsewhere the fixed part is estimated, and the event says so */
	json_array_clear(f->events);
	count_pct = 0;
	id = new_run(f, 0, "hi again", NULL, NULL);
	q_text("hello");
	run_it(f, id);
	d = NULL;
	json_array_foreach(f->events, i, e)
		if (strcmp(json_string_value(json_array_get(e, 0)), "context") == 0)
			d = json_array_get(e, 1);
	assert_non_null(d);
	assert_string_equal(ajson_str(d, "counted_by", ""), "estimate");
}

static void
test_server_window_smaller(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "hi", NULL, NULL);
	size_t i;
	json_t *e;
	int warned = 0;

	f->cfg.context_window = 16384;
	server_window = 8192;
	q_text("hello");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	json_array_foreach(f->events, i, e)
		if (json_object_get(json_array_get(e, 1), "warning") != NULL)
			warned = 1;
	assert_true(warned);
}

/* A journal left by a crash in the middle of a step's calls. */
static void
test_resume(void **state)
{
	struct fx *f = *state;
	struct agentd_error err;
	struct memory_msg mm;
	int64_t sid = new_session(f), id = new_run(f, sid, "write markers", NULL, NULL);
	json_t *calls, *msgs, *tools, *row;
	size_t i;

	assert_int_equal(memory_run_set_status(f->m, id, "running", NULL, &err), AGENTD_OK);
	memset(&mm, 0, sizeof(mm));
	mm.run_id = id;
	mm.role = "user";
	mm.content = "write markers";
	assert_int_equal(memory_msg_add(f->m, sid, &mm, NULL, &err), AGENTD_OK);
	calls = json_pack("[{s:s, s:s, s:{s:s, s:s}}, {s:s, s:s, s:{s:s, s:s}},"
	    "{s:s, s:s, s:{s:s, s:s}}]",
	    "id", "c1", "type", "function", "function", "name", "write_file", "arguments",
	    "{\"path\":\"marker1.txt\",\"content\":\"1\"}",
	    "id", "c2", "type", "function", "function", "name", "read_file", "arguments",
	    "{\"path\":\"README.md\"}",
	    "id", "c3", "type", "function", "function", "name", "write_file", "arguments",
	    "{\"path\":\"marker3.txt\",\"content\":\"3\"}");
	memset(&mm, 0, sizeof(mm));
	mm.run_id = id;
	mm.role = "assistant";
	mm.content = "";
	mm.tool_calls = calls;
	mm.step = 1;
	assert_int_equal(memory_msg_add(f->m, sid, &mm, NULL, &err), AGENTD_OK);
	assert_int_equal(memory_tool_add(f->m, id, "c1", "write_file",
	    "{\"path\":\"marker1.txt\",\"content\":\"1\"}", 0, 1, &err), AGENTD_OK);
	assert_int_equal(memory_tool_add(f->m, id, "c2", "read_file", "{\"path\":\"README.md\"}",
	    1, 1, &err), AGENTD_OK);
	assert_int_equal(memory_tool_add(f->m, id, "c3", "write_file",
	    "{\"path\":\"marker3.txt\",\"content\":\"3\"}", 0, 1, &err), AGENTD_OK);
	assert_int_equal(memory_run_add_usage(f->m, id, 10, 10, 1, &err), AGENTD_OK);
	/* c1 and c2 were running when agentd died; c3 never started */
	assert_int_equal(memory_tool_started(f->m, id, "c1", &err), AGENTD_OK);
	assert_int_equal(memory_tool_started(f->m, id, "c2", &err), AGENTD_OK);
	json_decref(calls);

	/* with resume off the run is only marked interrupted */
	f->cfg.resume = 0;
	run_it(f, id);
	assert_status(f, id, "interrupted", NULL);
	assert_int_equal(n_requests, 0);
	assert_int_equal(memory_run_set_status(f->m, id, "running", NULL, &err), AGENTD_OK);

	f->cfg.resume = 1;
	q_text("Markers written.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_false(exists(f->repo, "marker1.txt"));	/* side effect never re-run */
	assert_true(exists(f->repo, "marker3.txt"));	/* pending: run now */
	msgs = messages(f, id);
	assert_non_null(strstr(nth_tool_output(msgs, 0), "outcome of this call is unknown"));
	assert_non_null(strstr(nth_tool_output(msgs, 1), "hello"));	/* read-only: re-run */
	json_decref(msgs);
	assert_int_equal(memory_tool_list(f->m, id, &tools, &err), AGENTD_OK);
	json_array_foreach(tools, i, row)
		assert_string_equal(ajson_str(row, "status", ""), "finished");
	json_decref(tools);
}

/* The wall-time limit counts the time worked in earlier lives, not the
 * time agentd was down: a resumed run does not get its full time again. */
static void
test_resume_keeps_wall_time(void **state)
{
	struct fx *f = *state;
	struct agentd_error err;
	struct memory_msg mm;
	int64_t sid = new_session(f), id = new_run(f, sid, "slow work", NULL, NULL), id2;
	json_t *run;

	/* A fresh run records the time it worked with its steps. */
	q_call("read_file", "{\"path\":\"README.md\"}");
	q_text("read");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	run = get_run(f, id);
	assert_true(ajson_num(run, "active_s", -1) > 0);
	assert_true(ajson_num(run, "active_s", -1) < 60);
	json_decref(run);

	/* A run that had worked 1,790 of its 1,800 s when agentd died. */
	id2 = new_run(f, sid, "slow work", NULL, NULL);
	assert_int_equal(memory_run_set_status(f->m, id2, "running", NULL, &err), AGENTD_OK);
	memset(&mm, 0, sizeof(mm));
	mm.run_id = id2;
	mm.role = "user";
	mm.content = "slow work";
	assert_int_equal(memory_msg_add(f->m, sid, &mm, NULL, &err), AGENTD_OK);
	assert_int_equal(memory_run_set_active(f->m, id2, 1801, &err), AGENTD_OK);
	q_reset();
	q_text("never asked");
	run_it(f, id2);
	assert_status(f, id2, "failed", "time limit (1800 s) reached");
	assert_int_equal(n_requests, 0);
}

/* A step committed, then a crash before its only call started. */
static void
test_resume_after_commit(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "resume", NULL, NULL);
	struct agentd_error err;
	json_t *msgs;

	q_call("write_file", "{\"path\":\"once.txt\",\"content\":\"x\"}");
	q_text("done");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	/* running it again on an ended run is refused, nothing repeated */
	assert_true(exists(f->repo, "once.txt"));
	assert_int_not_equal(agent_run(f->m, id, &f->cfg, &f->hooks, &err), AGENTD_OK);
	msgs = messages(f, id);
	assert_int_equal(json_array_size(msgs), 4);
	json_decref(msgs);
}

/* A crash right after the run started: only the task is stored. */
static void
test_resume_before_first_request(void **state)
{
	struct fx *f = *state;
	struct agentd_error err;
	struct memory_msg mm;
	int64_t sid = new_session(f), id = new_run(f, sid, "TASK-ONCE", NULL, NULL);
	json_t *msgs, *m;
	size_t i;
	int tasks = 0;

	assert_int_equal(memory_run_set_status(f->m, id, "running", NULL, &err), AGENTD_OK);
	memset(&mm, 0, sizeof(mm));
	mm.run_id = id;
	mm.role = "user";
	mm.content = "TASK-ONCE";
	assert_int_equal(memory_msg_add(f->m, sid, &mm, NULL, &err), AGENTD_OK);
	must_keep[0] = "TASK-ONCE";
	q_text("done");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	msgs = messages(f, id);
	json_array_foreach(msgs, i, m)
		tasks += strcmp(ajson_str(m, "content", ""), "TASK-ONCE") == 0;
	assert_int_equal(tasks, 1);	/* the task is stored once, also across resumes */
	json_decref(msgs);
}

static void
test_session_continues(void **state)
{
	struct fx *f = *state;
	int64_t sid = new_session(f), id1, id2;

	id1 = new_run(f, sid, "What does README.md say? FIRST-TASK", NULL, NULL);
	q_call("read_file", "{\"path\":\"README.md\"}");
	q_text("It says hello world. FIRST-ANSWER");
	run_it(f, id1);
	assert_status(f, id1, "succeeded", NULL);
	q_reset();
	id2 = new_run(f, sid, "And in French?", NULL, NULL);
	must_keep[0] = "FIRST-TASK";
	must_keep[1] = "FIRST-ANSWER";
	must_keep[2] = "And in French?";
	q_text("Bonjour le monde.");
	run_it(f, id2);
	assert_status(f, id2, "succeeded", NULL);
	assert_int_equal(n_requests, 1);
	json_decref(messages(f, id2));
}

static void
test_branch_run(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "commit on a branch", NULL, "auto");
	char *out, name[64];
	json_t *run;

	q_call("write_file", "{\"path\":\"B.md\",\"content\":\"b\\n\"}");
	q_call("git_add", "{\"paths\":[\"B.md\"]}");
	q_call("git_commit", "{\"message\":\"On the branch\"}");
	q_text("Committed on a branch.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	snprintf(name, sizeof(name), "agentd/%lld", (long long)id);
	run = get_run(f, id);
	assert_string_equal(ajson_str(run, "branch", ""), name);
	assert_non_null(strstr(ajson_str(run, "worktree", ""), "/worktrees/run-"));
	assert_int_equal(strlen(ajson_str(run, "base_oid", "")), 40);
	json_decref(run);
	assert_false(exists(f->repo, "B.md"));	/* the user's checkout untouched */
	out = capture("git -C %s worktree list | wc -l", f->repo);
	assert_int_equal(atoi(out), 1);		/* the worktree is gone */
	free(out);
	out = capture("git -C %s log -1 --format=%%s %s", f->repo, name);
	assert_string_equal(out, "On the branch\n");	/* the branch stays */
	free(out);
	out = capture("git -C %s rev-parse --abbrev-ref HEAD", f->repo);
	assert_string_equal(out, "main\n");
	free(out);
}

/* A branch run on a subfolder of a repository works in that subfolder of
 * its worktree, also when git has nothing there yet (only untracked files). */
static void
test_branch_run_subfolder(void **state)
{
	struct fx *f = *state;
	struct memory_run_spec spec;
	struct agentd_error err;
	char ws[PATH_MAX + 16], name[64], *out;
	json_t *msgs;
	int64_t id, id2;

	sh("mkdir -p %s/pkg/lib && printf 'inner\\n' > %s/pkg/lib/in.txt && cd %s && "
	    "git add pkg && git -c user.name=T -c user.email=t@example.org commit -q -m pkg && "
	    "mkdir -p new/dir && touch new/dir/untracked", f->repo, f->repo, f->repo);
	snprintf(ws, sizeof(ws), "%s/pkg/lib", f->repo);
	memset(&spec, 0, sizeof(spec));
	spec.session_id = new_session(f);
	spec.workspace = ws;
	spec.task = "add a file next to in.txt";
	spec.branch = "auto";
	assert_int_equal(memory_run_create(f->m, &spec, &id, &err), AGENTD_OK);
	q_call("read_file", "{\"path\":\"in.txt\"}");
	q_call("write_file", "{\"path\":\"added.txt\",\"content\":\"x\\n\"}");
	q_call("git_add", "{\"paths\":[\"added.txt\"]}");
	q_call("git_commit", "{\"message\":\"Add beside\"}");
	q_text("Done.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	msgs = messages(f, id);
	assert_non_null(strstr(nth_tool_output(msgs, 0), "inner"));
	json_decref(msgs);
	snprintf(name, sizeof(name), "agentd/%lld", (long long)id);
	out = capture("git -C %s ls-tree -r --name-only %s", f->repo, name);
	assert_non_null(strstr(out, "pkg/lib/added.txt\n"));
	assert_null(strstr(out, "\nadded.txt"));
	free(out);
	assert_false(exists(ws, "added.txt"));	/* the user's checkout untouched */

	/* A folder git does not know: made in the worktree, the work lands there. */
	snprintf(ws, sizeof(ws), "%s/new/dir", f->repo);
	spec.workspace = ws;
	assert_int_equal(memory_run_create(f->m, &spec, &id2, &err), AGENTD_OK);
	q_reset();
	q_call("write_file", "{\"path\":\"n.txt\",\"content\":\"n\\n\"}");
	q_call("git_add", "{\"paths\":[\"n.txt\"]}");
	q_call("git_commit", "{\"message\":\"Add n\"}");
	q_text("Done.");
	run_it(f, id2);
	assert_status(f, id2, "succeeded", NULL);
	snprintf(name, sizeof(name), "agentd/%lld", (long long)id2);
	out = capture("git -C %s ls-tree -r --name-only %s", f->repo, name);
	assert_non_null(strstr(out, "new/dir/n.txt\n"));
	free(out);
}

static void
test_in_place_records_base(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "nothing", NULL, NULL);
	json_t *run;
	char *head;

	q_text("Nothing to do.");
	run_it(f, id);
	run = get_run(f, id);
	head = capture("git -C %s rev-parse HEAD", f->repo);
	head[40] = '\0';
	assert_string_equal(ajson_str(run, "base_oid", ""), head);
	assert_string_equal(ajson_str(run, "branch", ""), "main");
	free(head);
	json_decref(run);
}

static void
test_output_cut(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "read a long file", NULL, NULL);
	char *big = malloc(20001);
	json_t *msgs;
	const char *out;
	int i;

	for (i = 0; i < 20000; i++)
		big[i] = (i % 50 == 49) ? '\n' : 'a' + (i / 50) % 26;
	big[20000] = '\0';
	put(f->repo, "long.txt", big);
	free(big);
	f->cfg.tool_output_cap = 2000;
	q_call("read_file", "{\"path\":\"long.txt\"}");
	q_text("ok");
	run_it(f, id);
	msgs = messages(f, id);
	out = nth_tool_output(msgs, 0);
	assert_true(strlen(out) < 2200);
	assert_non_null(strstr(out, "bytes omitted"));
	assert_non_null(strstr(out, "     1"));	/* the head is kept */
	json_decref(msgs);
}

/* shell asking for the network in a run without it */
static void
test_network_approval(void **state)
{
	struct fx *f = *state;
	int64_t id;
	json_t *msgs;
	size_t i;
	json_t *e;
	int denied = 0, granted = 0;

	/* approval never (default): denied without asking, the model told */
	id = new_run(f, 0, "fetch", NULL, NULL);
	q_call("shell", "{\"command\":\"true\",\"network\":true}");
	q_text("could not");
	run_it(f, id);
	msgs = messages(f, id);
	assert_non_null(strstr(nth_tool_output(msgs, 0), "Denied"));
	json_decref(msgs);
	assert_int_equal(approve_asked, 0);

	/* ask, unattended: never waits for a person */
	q_reset();
	id = new_run(f, 0, "fetch", "{\"approval\":\"ask\",\"unattended\":true}", NULL);
	q_call("shell", "{\"command\":\"true\",\"network\":true}");
	q_text("could not");
	run_it(f, id);
	assert_int_equal(approve_asked, 0);

	/* ask, attended: the person says yes */
	q_reset();
	approve_answer = 1;
	id = new_run(f, 0, "fetch", "{\"approval\":\"ask\"}", NULL);
	q_call("shell", "{\"command\":\"echo ran > ran.txt\",\"network\":true}");
	q_text("done");
	run_it(f, id);
	assert_int_equal(approve_asked, 1);
	json_array_foreach(f->events, i, e) {
		json_t *d = json_array_get(e, 1);

		if (strcmp(json_string_value(json_array_get(e, 0)), "approval") != 0)
			continue;
		if (json_is_true(json_object_get(d, "granted")))
			granted++;
		else
			denied++;
	}
	assert_int_equal(denied, 2);
	assert_int_equal(granted, 1);
	msgs = messages(f, id);
	if (!exists(f->repo, "ran.txt"))
		fail_msg("the approved shell call did not run: %s", nth_tool_output(msgs, 0));
	json_decref(msgs);
}

/* Stopped while a person is asked for approval: nobody answered, so the
 * run is interrupted (no denial told to the model, no end) and the call
 * stays open; the resumed run asks again and runs it. */
static void
test_interrupted_approval(void **state)
{
	struct fx *f = *state;
	json_t *e, *rows = NULL;
	struct agentd_error err;
	int64_t id;
	size_t i;
	int n_end = 0, n_approval = 0, n_interrupted = 0;

	approve_answer = -2;
	id = new_run(f, 0, "fetch", "{\"approval\":\"ask\"}", NULL);
	q_call("shell", "{\"command\":\"echo ran > ran.txt\",\"network\":true}");
	q_text("done");
	run_it(f, id);
	assert_status(f, id, "interrupted", NULL);
	json_array_foreach(f->events, i, e) {
		const char *t = json_string_value(json_array_get(e, 0));

		n_end += strcmp(t, "end") == 0;
		n_approval += strcmp(t, "approval") == 0;
		n_interrupted += strcmp(t, "interrupted") == 0;
	}
	assert_int_equal(n_end, 0);
	assert_int_equal(n_approval, 0);
	assert_int_equal(n_interrupted, 1);
	assert_int_equal(memory_tool_list(f->m, id, &rows, &err), AGENTD_OK);
	assert_string_equal(ajson_str(json_array_get(rows, 0), "status", ""), "pending");
	json_decref(rows);
	/* agentd starts again: the person is asked again and says yes */
	cancel_flag = 0;
	approve_answer = 1;
	json_array_clear(f->events);
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_int_equal(approve_asked, 2);
	assert_true(exists(f->repo, "ran.txt"));
}

/* One run of one shell call, the person answering `answer` if asked;
 * returns the run's id. */
static int64_t
shell_once(struct fx *f, const char *options, const char *args, int answer)
{
	int64_t id;

	q_reset();
	approve_answer = answer;
	id = new_run(f, 0, "shell once", options, NULL);
	q_call("shell", args);
	q_text("done");
	run_it(f, id);
	return id;
}

/* shell asking for a stronger policy than the run's: asked for, and only
 * what is granted is used; asking for what the run has already needs nothing */
static void
test_policy_escalation(void **state)
{
	struct fx *f = *state;
	char out[PATH_MAX + 64], cmd[PATH_MAX * 2];
	const char *in = "{\"command\":\"echo in > in.txt\",\"policy\":\"workspace-write\"}";
	json_t *msgs;
	int64_t id;

	/* The target lies outside the workspace but not under /tmp (a sandboxed
	 * command always gets a private /tmp). */
	snprintf(out, sizeof(out), "/var/tmp/agentd-test-esc.%d", (int)getpid());
	unlink(out);
	snprintf(cmd, sizeof(cmd), "{\"command\":\"echo x > %s\",\"policy\":\"full-access\"}", out);

	/* approval never: denied without asking, nothing written */
	id = shell_once(f, NULL, cmd, 1);
	msgs = messages(f, id);
	assert_non_null(strstr(nth_tool_output(msgs, 0), "Denied: the full-access policy"));
	json_decref(msgs);
	assert_int_equal(approve_asked, 0);
	assert_int_equal(access(out, F_OK), -1);

	/* read-only run asking for workspace-write: asked; refused: not run */
	shell_once(f, "{\"approval\":\"ask\",\"policy\":\"read-only\"}", in, 0);
	assert_int_equal(approve_asked, 1);
	assert_false(exists(f->repo, "in.txt"));

	/* asking for the run's own policy: no question */
	shell_once(f, "{\"approval\":\"ask\"}", in, 0);
	assert_int_equal(approve_asked, 0);
	assert_true(exists(f->repo, "in.txt"));

	/* asking for less: no question, and the call gets only what it asked */
	shell_once(f, "{\"approval\":\"ask\"}",
	    "{\"command\":\"echo ro > ro.txt\",\"policy\":\"read-only\"}", 0);
	assert_int_equal(approve_asked, 0);
	assert_false(exists(f->repo, "ro.txt"));

	/* granted: the command runs under full-access */
	id = shell_once(f, "{\"approval\":\"ask\"}", cmd, 1);
	assert_int_equal(approve_asked, 1);
	msgs = messages(f, id);
	if (access(out, F_OK) != 0)
		fail_msg("the approved full-access call did not write: %s", nth_tool_output(msgs, 0));
	json_decref(msgs);
	unlink(out);
}

/* ---- replies cut by finish_reason "length" ---- */

/* Does some user message of the transcript carry text? */
static int
user_says(json_t *msgs, const char *text)
{
	size_t i;
	json_t *m;

	json_array_foreach(msgs, i, m)
		if (strcmp(ajson_str(m, "role", ""), "user") == 0 &&
		    strstr(ajson_str(m, "content", ""), text) != NULL)
			return 1;
	return 0;
}

/* The answer of the run's "end" event. */
static const char *
end_answer(struct fx *f)
{
	size_t i;
	json_t *e;

	json_array_foreach(f->events, i, e)
		if (strcmp(json_string_value(json_array_get(e, 0)), "end") == 0)
			return ajson_str(json_array_get(e, 1), "answer", "");
	return "";
}

static int
tool_messages(json_t *msgs)
{
	size_t i;
	json_t *m;
	int n = 0;

	json_array_foreach(msgs, i, m)
		n += strcmp(ajson_str(m, "role", ""), "tool") == 0;
	return n;
}

/* A cut text answer is continued; the answer is the whole text. */
static void
test_cut_text_continued(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "explain", NULL, NULL);
	json_t *msgs;

	q_push("The answer begins", NULL, "length", 0, 100);
	q_text(" and ends here.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_int_equal(n_requests, 2);
	assert_string_equal(end_answer(f), "The answer begins and ends here.");
	msgs = messages(f, id);
	assert_true(user_says(msgs, "cut off at 10 tokens"));
	json_decref(msgs);
}

/* Cut again and again: the run fails, never "succeeded" with a part. */
static void
test_cut_text_fails(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "explain", NULL, NULL);
	int i;

	for (i = 0; i < 8; i++)
		q_push("On and on", NULL, "length", 0, 100);
	run_it(f, id);
	assert_status(f, id, "failed", "reply cut at 10 tokens");
	assert_int_equal(n_requests, 4);
}

/* A cut tool call is never run nor repaired; the model is told to do less at once. */
static void
test_cut_call_not_run(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "write a file", NULL, NULL);
	json_t *msgs;

	q_push("", json_pack("[{s:s, s:s, s:s}]", "id", "a", "name", "write_file", "arguments",
	    "{\"path\":\"out.txt\",\"content\":\"abc"), "length", 0, 100);
	q_push("", json_pack("[{s:s, s:s, s:s}]", "id", "b", "name", "grep", "arguments", "{"),
	    "length", 0, 100);
	q_call("list_dir", "{}");	/* resets the count of cuts in a row */
	/* not streamed: the server leaves the cut markup in the text */
	q_push("<tool_call>\n {\"name\"\n\n\t :\"grep\n", NULL, "length", 0, 100);
	/* streamed: the server held the partial call back, nothing arrives */
	q_push("", NULL, "length", 0, 100);
	q_call("list_dir", "{}");
	/* a reasoning model that thought until the limit */
	q_push("", NULL, "length", 0, 100);
	queue[qtail - 1].reasoning = strdup("Hmm, let me think about this for a long");
	q_text("Gave up.");
	f->cfg.repeat_fail_limit = 100;
	run_it(f, id);
	assert_false(exists(f->repo, "out.txt"));
	msgs = messages(f, id);
	assert_int_equal(tool_messages(msgs), 2);	/* list_dir only */
	assert_true(user_says(msgs, "while you were still thinking"));
	assert_true(user_says(msgs, "cut off at 10 tokens"));
	assert_true(user_says(msgs, "edit_file"));
	assert_true(user_says(msgs, "tool call to write_file"));
	assert_true(user_says(msgs, "tool call to grep"));
	json_decref(msgs);
	assert_string_equal(end_answer(f), "Gave up.");
	assert_status(f, id, "succeeded", NULL);
}

/* ---- the window is smaller than thought ---- */

static void
big_file(struct fx *f)
{
	char big[6001];
	int i;

	for (i = 0; i < 6000; i++)
		big[i] = i % 60 == 59 ? '\n' : 'a' + i % 26;
	big[6000] = '\0';
	put(f->repo, "big.txt", big);
}

/* Slots sharing a full KV cache: "Context size has been exceeded." (no
 * numbers) is followed by a smaller request, which succeeds. */
static void
test_context_exceeded_shrinks(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "read big.txt", NULL, NULL);
	json_t *run;

	big_file(f);
	server_window = 32768;
	q_call("read_file", "{\"path\":\"big.txt\"}");
	q_push(NULL, NULL, NULL, AGENTD_ECONTEXT, -1);
	q_text("Read it.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_int_equal(n_requests, 3);
	if (req_est[2] >= req_est[1])
		fail_msg("the request after the context error is not smaller: %lld then %lld",
		    (long long)req_est[1], (long long)req_est[2]);
	run = get_run(f, id);
	assert_int_equal(ajson_int(run, "steps", 0), 3);	/* the refused request counts */
	json_decref(run);
	q_reset();
	/* 400 exceed_context_size_error: the server's n_ctx is the window */
	id = new_run(f, 0, "read big.txt", NULL, NULL);
	server_window = 32768;
	q_call("read_file", "{\"path\":\"big.txt\"}");
	q_push(NULL, NULL, NULL, AGENTD_ECONTEXT, 2600);
	queue[qtail - 1].n_ctx = 3000;
	q_text("Read it.");
	run_it(f, id);
	assert_status(f, id, "succeeded", NULL);
	assert_int_equal(n_requests, 3);
	assert_true(req_est[2] < req_est[1]);
	q_reset();
	/* never fits: the run fails with the server's message, not forever */
	id = new_run(f, 0, "hi", NULL, NULL);
	server_window = 32768;
	{
		int i;

		for (i = 0; i < 20; i++)
			q_push(NULL, NULL, NULL, AGENTD_ECONTEXT, -1);
	}
	run_it(f, id);
	assert_status(f, id, "failed", "Context size has been exceeded");
	assert_true(n_requests <= 5);
}

/* A run that failed on its first request says it made one. */
static void
test_failed_first_request_counts(void **state)
{
	struct fx *f = *state;
	int64_t id = new_run(f, 0, "fail", NULL, NULL);
	json_t *run;

	q_push(NULL, NULL, NULL, AGENTD_ELLM, -1);
	run_it(f, id);
	assert_status(f, id, "failed", "scripted failure");
	run = get_run(f, id);
	assert_int_equal(ajson_int(run, "steps", 0), 1);
	json_decref(run);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_multi_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nudge_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_arguments_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_small_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_cache_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_summary_rare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_prompt_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_approval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_window_smaller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_keeps_wall_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_before_first_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_continues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_branch_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_branch_run_subfolder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_records_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_approval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_escalation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_text_continued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_text_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_call_not_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_exceeded_shrinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_first_request_counts, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
