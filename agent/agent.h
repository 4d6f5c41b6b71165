/*
 * agent.h — the plan-act loop.
 *
 * agent_run() drives one run that already exists in the journal (created
 * with memory_run_create): it asks the model for a plan (update_plan tool),
 * dispatches the model's tool calls to tools/, feeds the results back, and
 * repeats until the model answers without tool calls or a limit is reached.
 * Every step is committed to memory/ before the next model request; a tool
 * call is journaled as started before it runs and finished after, so a run
 * interrupted by a crash resumes (agent_run on a run whose status is
 * "running") without repeating side effects.
 *
 * The loop reports through `struct agent_hooks` — never by calling the
 * server. Hooks are called on the thread that runs agent_run.
 */
#ifndef AGENTD_AGENT_H
#define AGENTD_AGENT_H

#include <stdint.h>
#include <jansson.h>
#include "common/error.h"
#include "agent/llm.h"
#include "memory/memory.h"
#include "sandbox/sandbox.h"

struct agent_config {
	struct llm_config llm;		/* borrowed by agent_run */
	int max_steps;			/* model requests per run; default 50 */
	double max_wall_s;		/* default 1800 */
	int64_t max_tokens;		/* prompt+completion over the run; default 2,000,000 */
	int context_window;		/* tokens; 0 = ask the server, else 8192 */
	int context_reserve;		/* tokens kept free for the answer; default 1024 */
	int context_low_water;		/* over the budget, elide down to this % of it; default 60 */
	const char *system_prompt_file;	/* borrowed; NULL = built-in prompt */
	size_t tool_output_cap;		/* bytes of a tool result sent to the model; default 16 KiB */
	int repeat_fail_limit;		/* same failing call N times ends the run; default 3 */
	int resume;			/* 1: interrupted runs resume; 0: marked interrupted */
	const char *state_dir;		/* borrowed; worktrees live in state_dir/worktrees */
	enum sandbox_policy policy;	/* default policy for the shell tool */
	int network;			/* default network for the shell tool */
	int git_writable;
	const char *approval;		/* "never" (default) or "ask" */
	int approval_timeout_s;		/* default 60 */
	const char *author_name;	/* commit author fallback */
	const char *author_email;
	/* repository instructions (AGENTS.md); see agent_instructions_load */
	int project_doc;		/* 1 (default): read them; a run's option may turn it off */
	size_t project_doc_max_bytes;	/* default 32 KiB */
	const json_t *project_doc_fallbacks;	/* borrowed array of file names, or NULL */
	const char *config_dir;		/* borrowed; holds the global AGENTS.md; NULL = none */
	int skills;			/* 1 (default): offer the skills found (agent_skills_discover) */
	const json_t *hooks;		/* borrowed {EVENT: [{matcher, command, timeout_s}]} or NULL;
					 * checked with agent_hooks_check */
	int64_t tool_budget;		/* tokens for all tool definitions offered (built-in and
					 * MCP); 0 = a quarter of the context window */
};

void agent_config_init(struct agent_config *c);

/* Event types passed to hooks.event (data is borrowed for the call):
 *   "status"      {"status","reason"?,"instructions"?:[paths]}
 *   "instructions" {"files","skipped","text"} the repository instructions (stored only)
 *   "skills"      {"skills":[{name,dir}],"refused","catalog"} skills offered (stored only)
 *   "plan"        {"steps":[…],"version"}
 *   "text"        {"delta"}            streamed answer text (not stored per delta)
 *   "reasoning"   {"delta"}
 *   "message"     {"role","content"}   a complete assistant message (stored)
 *   "tool_call"   {"id","name","arguments"}
 *   "tool_result" {"id","name","ok","summary","output"}
 *   "retry"       {"attempt","delay_ms","reason"}
 *   "approval"    {"id","request","granted","by"}
 *   "hook"        {"event","subject"?,"command","exit_code","timed_out","ms","outcome","stderr"}
 *   "tools"       {"servers":[{name,state,tools,error?}],"mcp_tools","offered","builtin_tokens",
 *                  "mcp_tokens","budget","search","tokens"} the MCP tools offered
 *   "tool_search" {"query","found":[names]}  tools offered from the next step on
 *   "progress"    {"id","server","progress"?,"total"?,"message"?} an MCP call's progress
 *   "warning"     {"message"}          e.g. an MCP server that could not start
 *   "error"       {"message"}
 *   "end"         {"status","reason"?,"answer"?,"branch"?}
 */
#define AGENT_STOP_CANCEL	1
#define AGENT_STOP_INTERRUPT	2
#define AGENT_STOP_DRAIN	3
/* The reason of a run stopped by a graceful shutdown: such a run resumes at
 * the next start. */
#define AGENT_INTERRUPTED_REASON "agentd was stopped during the run"

struct agent_hooks {
	/* An event of the run, told once the journal has it: seq is its
	 * number there (0 for the ones not stored, such as streamed text). */
	void (*event)(void *ud, int64_t run_id, int64_t seq, const char *type, json_t *data);
	/* Polled: 0 goes on; AGENT_STOP_CANCEL (1) cancels the run (it ends
	 * "cancelled"); AGENT_STOP_INTERRUPT (2) stops it because agentd is
	 * stopping: the run is left "interrupted" with AGENT_INTERRUPTED_REASON
	 * and an "interrupted" event, no "end", its open calls kept for the
	 * resume. AGENT_STOP_DRAIN (3): agentd is stopping with time to spare:
	 * a tool call or hook already running goes on to its result (which is
	 * recorded), nothing new starts (a model request is dropped: it is
	 * asked again on resume), and the run stops as for INTERRUPT. */
	int (*cancelled)(void *ud);
	/* Ask a person (approval "ask"): return 1 to allow, 0 to deny. Must
	 * return within timeout_s. NULL = deny. A denial may set the string
	 * "deny_reason" in `request` (the person's words): it is recorded in the
	 * approval event and told to the model. */
	int (*approve)(void *ud, int64_t run_id, json_t *request, int timeout_s);
	void *ud;
};

/*
 * Run (or resume) run `run_id` to its end, using `m` (owned by the calling
 * thread). Sets the run's final status in the journal and returns AGENTD_OK
 * for any run that ended with a status (succeeded, failed, cancelled); an
 * error only when the journal itself failed.
 */
int agent_run(struct memory *m, int64_t run_id, const struct agent_config *cfg,
    const struct agent_hooks *hooks, struct agentd_error *err);

/*
 * Repository instructions: the global AGENTS.override.md or AGENTS.md in
 * `global_dir` (may be NULL), then from the repository root above
 * `workspace` down to it at most one file per folder (AGENTS.override.md,
 * AGENTS.md, then the names in `fallbacks`, an array of strings or NULL),
 * joined root first, at most `max_bytes` bytes of file text in all (a marker
 * where cut). Empty files, symbolic links and non-regular files are skipped.
 * On success *text is the joined text (malloc'd; NULL when nothing was found)
 * and *files is {"files":[{path,bytes,truncated}], "skipped":[{path,why}]}
 * (new reference). Both untouched on failure.
 */
int agent_instructions_load(const char *global_dir, const char *workspace, size_t max_bytes,
    const json_t *fallbacks, char **text, json_t **files, struct agentd_error *err);

/*
 * Check a `hooks` configuration: known events (SessionStart, UserPromptSubmit,
 * PreToolUse, PostToolUse, PostToolUseFailure, Stop, SessionEnd,
 * Notification), each a list of {matcher?: regex, command: string,
 * timeout_s?: 1..3600} or Claude Code's {matcher?, hooks: [{type: "command",
 * command, timeout?}]}. The error names the key's path.
 */
int agent_hooks_check(const json_t *hooks, struct agentd_error *err);

/*
 * The repository root above (or at) the resolved path `ws`: the nearest
 * folder holding a .git folder or file. Returns the length of its path in
 * ws (0 for "/"), or -1 when ws is in no repository.
 */
long agent_repo_root_len(const char *ws);

/*
 * Skills (Agent Skills format): every folder with a valid SKILL.md in
 * `.agents/skills` from `workspace` up to its repository root (nearest
 * first; the workspace only outside a repository), then in
 * `config_dir/skills` (may be NULL); the first of a name wins. *skills:
 * [{name, description, dir, allowed_tools?, body_bytes}] and *refused:
 * [{path, why}] (new references; both untouched on failure). Symbolic links
 * are never followed.
 */
int agent_skills_discover(const char *config_dir, const char *workspace, json_t **skills,
    json_t **refused, struct agentd_error *err);
/* The names and descriptions for the model within max_bytes (descriptions
 * shortened, then names only, then "N more"). malloc'd; NULL when none. */
char *agent_skills_catalog(const json_t *skills, size_t max_bytes);
/* The skill named `name` in a discovered list (borrowed), or NULL. */
const json_t *agent_skills_find(const json_t *skills, const char *name);
/* A skill's instructions (the SKILL.md body) with the list of its files, or,
 * with `file` (a path inside the skill's folder), that file's text. *out
 * malloc'd. AGENTD_ENOTFOUND / AGENTD_EINVAL with the reason. */
int agent_skill_load(const json_t *skill, const char *file, char **out,
    struct agentd_error *err);

/* Estimated tokens of the fixed part of every request (the built-in system
 * prompt and the tool definitions, short ones below an 8k window); -1 on
 * ENOMEM. The window must hold this, a reserve for the answer and the task. */
int64_t agent_fixed_prompt_tokens(int window);
/* agentd's own system prompt on a window below 8192 tokens (static). */
const char *agent_small_system_prompt(void);
/* A tools array (borrowed) in its short form for a window below 8192
 * tokens: the tools a small model needs, brief descriptions, compact
 * schemas (tools_openai_compact, the loop's own tools included). New
 * reference or NULL. */
json_t *agent_compact_tools(const json_t *tools);

/* The built-in system prompt (static text). */
const char *agent_default_system_prompt(void);

#endif
