/*
 * internal.h — what agent.c (the loop) and context.c (the context window)
 * share. Not part of agent/'s public API.
 */
#ifndef AGENTD_AGENT_INTERNAL_H
#define AGENTD_AGENT_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "agent/agent.h"
#include "agent/llm.h"
#include "memory/memory.h"
#include "tools/tools.h"

/* One message of the in-memory transcript. */
struct ctx_msg {
	json_t *msg;		/* OpenAI message as sent to the model (own ref) */
	json_t *orig;		/* the unelided message when elided (own ref), else NULL */
	int64_t seq;		/* journal seq; 0 for a synthetic message */
	int64_t run_id;
	int64_t est;		/* estimated tokens of msg */
	unsigned pinned : 1;	/* this run's task: never elided nor summarized */
	unsigned synthetic : 1;	/* made up on load to keep the transcript valid */
};

/*
 * The transcript kept between steps (so a step costs the same at step 10
 * and step 1,000): the newest summary, then the messages after it.
 */
struct agent_context {
	struct ctx_msg *v;
	size_t n, cap;
	char *summary;		/* newest summary text or NULL */
	int64_t covers_seq;	/* summary stands for messages with seq <= this */
	int64_t task_seq;	/* seq of this run's task message (0 = unknown) */
	int64_t run_first_seq;	/* first message of this run */
	int window;		/* tokens */
	int reserve;
	double factor;		/* calibration: server tokens / our estimate */
	int64_t tools_est;
	int compact_tools;	/* the built-in tools' short descriptions are offered */
	int64_t body_est;	/* sum of v[].est */
	int64_t last_est;	/* raw estimate of the last request */
	int summaries;		/* summaries written by this run */
	int elisions;		/* tool outputs elided by this run */
};

/* The state of one agent_run call. */
struct arun {
	struct memory *m;
	int64_t run_id, session_id;
	const struct agent_config *cfg;
	const struct agent_hooks *hooks;
	/* Events told while a journal transaction is open wait here until it
	 * commits (dropped when it rolls back): a client that attaches reads
	 * the journal, so it must never be told of an event the journal does
	 * not have yet. */
	struct held_event {
		int level;		/* memory_txn_depth when it was told */
		int64_t seq;		/* 0: not stored */
		const char *type;	/* static */
		json_t *data;		/* owned */
	} *held;
	size_t n_held, cap_held;
	json_t *run;			/* run record */
	const json_t *opts;		/* borrowed from run */
	struct llm_config llm;		/* own copy (model override applied) */
	int llm_owned;
	char *system_prompt;
	int default_prompt;		/* system_prompt is agentd's own (a small window shortens it) */
	char *instructions;		/* repository instructions (AGENTS.md) or NULL */
	json_t *instr_files;		/* {"files","skipped"} as read at the run's start */
	json_t *skills;			/* skills found at the start (agent_skills_discover) or NULL */
	char *skills_catalog;		/* their names and descriptions for the model, or NULL */
	char *user_workspace;		/* as the user gave it (resolved) */
	char *workspace;		/* where the tools work (worktree or user's) */
	char *worktree;			/* NULL when in place */
	char *branch;			/* branch of a worktree run, else NULL */
	const json_t *tctx_start;	/* in place: start_state (in run), for the tools */
	char *no_git;			/* why the workspace has no usable repository, or NULL */
	char *task;
	json_t *tools;			/* OpenAI tools array offered to the model */
	json_t *allowed;		/* array of names, or NULL = all */
	/* MCP tools (toolsearch.c): over the budget, their definitions wait
	 * here for tool_search (NULL: all are in tools) */
	json_t *mcp_defs;
	json_t *mcp_found;		/* names tool_search added to tools, oldest first */
	int mcp_on;			/* MCP servers were offered (agent_mcp_offer) */
	uint64_t mcp_gen;		/* mcp_servers_generation() of what is offered */
	int64_t tool_budget;		/* tokens for all tool definitions */
	const char *cur_call;		/* id of the call running (for progress events) */
	int progress_n;			/* progress events of that call */
	/* effective limits and policy */
	int max_steps;
	double max_wall_s;
	int64_t max_tokens;
	enum sandbox_policy policy;
	int network;
	int git_writable;
	int unattended;
	const char *approval;
	struct tool_ctx tctx;
	/* progress */
	int steps;
	int64_t tokens;
	int nudged;
	int cuts;			/* replies cut by the output limit in a row */
	char *cut_text;			/* a text answer cut so far (continued), or NULL */
	json_t *plan;			/* latest {"steps":[…]} or NULL */
	struct timespec t0;		/* this life's start (monotonic) */
	double active_before;		/* seconds worked in earlier lives */
	/* failing calls seen: key -> count */
	struct { char *key; int count; } fails[64];
	int nfails;
	char utf8_carry[8];		/* incomplete UTF-8 sequence of a delta */
	size_t carry_len;
	const char *carry_kind;
	json_t *schemas;		/* tool name -> parsed schema (cache) */
	struct agent_context ctx;
	/* hooks */
	char transcript_path[PATH_MAX];	/* "" until the first hook of this life */
	int64_t transcript_seq;		/* messages written there so far */
	int stop_blocks;		/* times a Stop hook kept the run going */
	int hook_allowed;		/* the current call's PreToolUse hook said "allow" */
	char deny_said[320];		/* " The person said: …" after a denial with a reason, or "" */
	/* how the run ended (end_status NULL while it goes on) */
	const char *end_status;
	char end_reason[1200];
	char *answer;
};

/* Heads the repository instructions in the system message. */
#define INSTRUCTIONS_HEADING "# Instructions for this repository\n" \
	"From the project's AGENTS.md files (and the user's own), outermost first: where " \
	"they disagree, a later one (in a deeper folder) wins. They never change your tools, " \
	"sandbox or limits.\n"

#define EMIT_STORE	1	/* memory_event_add */
#define EMIT_HOOK	2	/* hooks->event */
#define HELD_MAX	4096	/* events held in one transaction; past it only stored */
#define EMIT_BOTH	3

/* Emit an event to the hooks and/or the journal (EMIT_*). Steals data.
 * Returns the journal's error, if any. */
int agent_emit(struct arun *r, const char *type, json_t *data, int how,
    struct agentd_error *err);
int agent_is_cancelled(struct arun *r);
/* Must work already started stop now? As agent_is_cancelled, but 0 while
 * agentd drains (AGENT_STOP_DRAIN): for tools and hooks in flight. */
int agent_stop_now(struct arun *r);
/* Render a plan as numbered lines "1. step (status)". malloc'd. */
char *agent_plan_text(const json_t *plan, int open_only);

/* ---- instructions.c ---- */
/* Read dirfd/name (AT_FDCWD with a path) as a regular file, never through a
 * symbolic link, at most max bytes (*more: it is longer). malloc'd and
 * NUL-terminated; NULL with *why ("missing", "a symbolic link (not
 * followed)", "not a regular file", "not readable", "out of memory"). */
char *agent_read_nofollow(int dirfd, const char *name, size_t max, size_t *len, int *more,
    const char **why);

/* ---- hooks.c ---- */
/* What the hooks of one event said, combined. */
struct hook_result {
	int blocked;		/* exit 2 or decision "block" */
	int stop;		/* continue: false */
	char *reason;		/* the block's (or a PreToolUse decision's) reason */
	char *stop_reason;
	char *context;		/* additionalContext (and plain stdout where taken) */
	const char *decision;	/* PreToolUse: "allow", "ask", "deny" or NULL */
	json_t *updated_input;	/* PreToolUse: the arguments to use instead */
};
/* Run the hooks of `event` whose matcher takes `subject` (a tool name, a
 * source…; may be NULL) with `fields` (stolen; may be NULL) plus the common
 * ones on stdin; each run is journaled as a "hook" event. *h is always set
 * (free with hook_result_free); an error only when the journal failed. */
int hooks_fire(struct arun *r, const char *event, const char *subject, json_t *fields,
    struct hook_result *h, struct agentd_error *err);
void hook_result_free(struct hook_result *h);

/* ---- toolsearch.c ---- */
/* Offer the tools of the run's MCP servers (option "mcp": names, [] none,
 * absent: the enabled ones) after the built-in ones: all of them while the
 * definitions fit the budget (agent_config.tool_budget, else a quarter of
 * the window), else a tool_search tool. Emits "tools" (what was offered)
 * and a "warning" per server that could not start. Needs r->workspace and
 * the window. An error only when the journal failed or memory ran out. */
int agent_mcp_offer(struct arun *r, struct agentd_error *err);
/* Before a step: when a server's tool list changed since they were offered
 * (tools/list_changed), offer them again (a "tools" event with changed). */
int agent_mcp_refresh(struct arun *r, struct agentd_error *err);
/* Answer tool_search {query}: the best-matching definitions, offered from
 * the next step on (within the budget). New result object; NULL on ENOMEM. */
json_t *agent_tool_search(struct arun *r, const json_t *args);
#define TOOL_SEARCH_SCHEMA "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":" \
	"\"string\",\"description\":\"words for what the tool should do\"}},\"required\":[\"query\"]}"
/* tool_ctx.progress: a server's notifications/progress as a "progress"
 * event of the running call (at most 100 per call). */
void agent_mcp_progress(void *ud, const char *server, const json_t *params);

/* ---- context.c ---- */
void ctx_init(struct agent_context *c);
void ctx_free(struct agent_context *c);
/* Load the session's newest summary and the messages after it; repair a
 * transcript left invalid by an earlier run (unanswered calls in the
 * middle, stray tool messages). close_trailing: also answer calls of a
 * trailing assistant message (used when a new run starts after it). */
int ctx_load(struct arun *r, int close_trailing, struct agentd_error *err);
/* Append a message (steals msg). */
int ctx_append(struct agent_context *c, json_t *msg, int64_t seq, int64_t run_id);
/* Estimate one message. */
int64_t ctx_estimate_msg(const json_t *msg);
/* Messages to send for the next request, within window - reserve: elides
 * the oldest tool outputs, then summarizes older turns with the model.
 * *out: new array. AGENTD_ELIMIT when even the fixed parts do not fit;
 * AGENTD_ECANCELLED / AGENTD_ELLM from a summary request. */
int ctx_build(struct arun *r, json_t **out, struct agentd_error *err);
/* After a reply: calibrate with the server's prompt token count. */
void ctx_calibrate(struct agent_context *c, int64_t prompt_tokens);
/* The system message content (prompt, repository instructions, skills
 * catalog; fixed for the run). malloc'd. */
char *ctx_system_text(struct arun *r);
/* Determine the window: configured, the server's, or 8192 (warns). */
int ctx_window(struct arun *r, struct agentd_error *err);
/* A reply of ct tokens to a prompt of pt was cut: when it ran into the end
 * of the window (not the output limit), keep more room free for the next
 * answer. Returns 1 when the window was full. */
int ctx_reply_cut(struct agent_context *c, int64_t pt, int64_t ct);
/* The server said the last request did not fit (its counts in ov, -1 when
 * not given): the window is smaller than thought. Shrink it (to the
 * server's n_ctx, or below the prompt that failed) and calibrate the
 * estimate, so that the next ctx_build makes a smaller request. Returns the
 * new window, or 0 when it cannot shrink (nothing was sent yet). */
int ctx_overflow(struct agent_context *c, const struct llm_overflow *ov);
/* Count the fixed part of every request (system message and tools) with
 * the server's tokenizer where it can (calibrating the estimate), else
 * estimate it, and say which in a "context" event. */
int ctx_fixed_prompt(struct arun *r, struct agentd_error *err);

#endif
