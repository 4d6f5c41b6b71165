/*
 * tools.h — what the model can do in a repository: the tool registry.
 *
 * A tool is one `struct tool_entry` (name, description written for the
 * model, JSON Schema of its arguments, flags, handler) in one table. Tools
 * know nothing of sockets, the loop or the database; everything they need
 * comes in a `struct tool_ctx`. File tools are confined to ctx->workspace;
 * git tools use libgit2 on the workspace repository; the shell tool runs
 * through sandbox/.
 *
 * A result is a JSON object {"ok":true|false, "output":"…", …extra fields}.
 * A tool that *ran* and failed (no such file, refused path, non-zero exit…)
 * returns AGENTD_OK with ok:false and the reason in "output"/"error"; the
 * function's own error return is kept for bad calls (unknown tool,
 * arguments that do not match the schema) and resource failures.
 */
#ifndef AGENTD_TOOLS_H
#define AGENTD_TOOLS_H

#include <jansson.h>
#include "common/error.h"
#include "sandbox/sandbox.h"

#define TOOL_READ_ONLY		0x01	/* no side effects: safe to re-run after a crash */
#define TOOL_NEEDS_NETWORK	0x02
#define TOOL_GIT		0x04	/* touches the repository through libgit2 */
#define TOOL_AGENT		0x08	/* handled by the loop (update_plan, recall) */
#define TOOL_MCP		0x10	/* a tool of an MCP server (mcp__SERVER__TOOL) */
#define TOOL_APPROVE		0x20	/* each call goes through approvals (server "approve": true) */

struct tool_ctx {
	const char *workspace;		/* borrowed; absolute, resolved path */
	struct sandbox_opts sandbox;	/* limits and policy for the shell tool */
	size_t output_cap;		/* cap on a result's output text */
	/* Polled by long tools; non-zero stops them (AGENTD_ECANCELLED). */
	int (*cancelled)(void *ud);
	void *cancel_ud;
	/* Commit author when the repository's config has none (borrowed, may be NULL). */
	const char *author_name;
	const char *author_email;
	/* The checkout when the run began (borrowed, may be NULL), as made by
	 * tools_git_start_state: git_commit leaves its "dirty" paths out of
	 * commits unless the call names them in `paths`. */
	const json_t *start_state;
	/* Answers the `recall` tool (provided by the loop, which owns memory). */
	int (*recall)(void *ud, const char *query, int limit, json_t **result);
	void *recall_ud;
	/* Told of an MCP server's notifications/progress params (borrowed) during
	 * a call; may be NULL. */
	void (*progress)(void *ud, const char *server, const json_t *params);
	void *progress_ud;
};

struct tool_entry {
	const char *name;
	const char *description;	/* for the model */
	const char *schema;		/* JSON Schema of the arguments, as JSON text */
	unsigned flags;
	/* args: borrowed, already validated; *result: new reference. */
	int (*exec)(const struct tool_ctx *ctx, json_t *args, json_t **result,
	    struct agentd_error *err);
	/* The description on a small context window (tools_openai_compact), or
	 * NULL: not offered there (a small model does without it). */
	const char *brief;
	/* Its schema there, or NULL: the schema without descriptions and
	 * bounds (types, properties, required, enums and items stay). */
	const char *brief_schema;
};

/* Fill a ctx with defaults for a workspace (sandbox_opts_init, 32 KiB output). */
void tools_ctx_init(struct tool_ctx *ctx, const char *workspace);

/* The table, terminated by an entry with name == NULL. */
const struct tool_entry *tools_table(void);
const struct tool_entry *tools_find(const char *name);

/*
 * [{"name","description","parameters": schema-object, "flags":[...]}, …]
 * for tools.list; new reference.
 */
json_t *tools_list_json(void);
/* The same in the Chat Completions "tools" form; new reference. */
json_t *tools_openai_json(void);
/*
 * A Chat Completions "tools" array for a small context window: each tool of
 * `tools` (an array in the form above; borrowed) whose entry has a brief,
 * with the brief for description and the compact schema. Tools not in the
 * table are looked up in `extra` (may be NULL; NULL-name terminated). New
 * reference, or NULL (out of memory). Validation keeps the full schemas.
 */
json_t *tools_openai_compact(const json_t *tools, const struct tool_entry *extra);

/*
 * Validate args against a JSON Schema (the subset tools use: type, properties,
 * required, enum, items, additionalProperties:false, minimum/maximum).
 * AGENTD_OK, or AGENTD_EINVAL with err naming the field, what was wrong and
 * what is expected.
 */
int tools_validate(const json_t *schema, const json_t *args, struct agentd_error *err);

/*
 * Validate and run one tool. AGENTD_ENOTFOUND for an unknown tool,
 * AGENTD_EINVAL for arguments that fail validation (err says why);
 * otherwise *result is the tool's result object (new reference).
 */
int tools_call(const struct tool_ctx *ctx, const char *name, json_t *args,
    json_t **result, struct agentd_error *err);

/* Make a result object: {"ok":ok,"output":text}. New reference. */
json_t *tools_result(int ok, const char *output);

/*
 * Git plumbing for runs that work on their own branch (used by the daemon,
 * never offered to the model). All return AGENTD_EGIT with libgit2's text.
 */
/* HEAD of the repository containing `workspace`: oid as 40 hex + NUL, and the
 * branch name ("" when detached/unborn) into branch[blen]. */
int tools_git_head(const char *workspace, char oid[41], char *branch, size_t blen,
    struct agentd_error *err);
/* Most paths a start state lists (more are counted in dirty_count). */
#define TOOLS_START_DIRTY_MAX 10000
/* The state of the checkout containing `workspace` when a run begins:
 * {"head": oid or null when unborn, "dirty": [work-tree paths with staged,
 * unstaged or untracked changes, at most TOOLS_START_DIRTY_MAX],
 * "dirty_count": n}. New reference in *out. */
int tools_git_start_state(const char *workspace, json_t **out, struct agentd_error *err);
/* Where `workspace` lies in its repository's work tree: "" at the top,
 * else "sub/dir/" (with the slash), into prefix[plen]. */
int tools_git_prefix(const char *workspace, char *prefix, size_t plen,
    struct agentd_error *err);
/* Create branch `branch` at HEAD of `repo` and a worktree for it at wt_path
 * (which must not exist). base_oid receives the commit it starts from. */
int tools_worktree_add(const char *repo, const char *wt_path, const char *branch,
    char base_oid[41], struct agentd_error *err);
/* Remove the worktree at wt_path (files and the repository's record of it);
 * the branch stays. */
int tools_worktree_remove(const char *repo, const char *wt_path, struct agentd_error *err);
/* 1 when local branch `branch` exists in the repository of `repo`, 0 when
 * not, a negative agentd_err when the repository cannot be read. */
int tools_git_branch_exists(const char *repo, const char *branch, struct agentd_error *err);
/* Undo an interrupted worktree setup: remove whatever exists of the
 * worktree at wt_path (files, git's record, git's folder for it when a
 * kill came before the record was complete, the branch's ref lock) and
 * delete `branch` when it exists and is not checked out elsewhere. Only
 * for a path and branch the caller journaled as its own before making
 * them. */
int tools_worktree_discard(const char *repo, const char *wt_path, const char *branch,
    struct agentd_error *err);
/*
 * Remove the lock files (index.lock, HEAD.lock, the current branch's ref
 * lock, packed-refs.lock) of the repository containing `workspace` that a
 * git call interrupted by a crash left behind: only a lock whose mtime lies
 * between since - 2 s and since + 300 s (since: when the interrupted call
 * started, as journaled) and that no process has open. Names the removed
 * files in removed[n] ("" when none).
 */
int tools_git_clear_stale_locks(const char *workspace, double since, char *removed, size_t n,
    struct agentd_error *err);
/*
 * For tests only: when the environment variable AGENTD_TEST_PAUSE is
 * "POINT:MS" and POINT is `point`, sleep MS milliseconds (at most 60000), so
 * a test can kill the daemon at that point. Points: "worktree-add" (inside
 * worktree creation: the branch made, the worktree not yet), "run-setup"
 * (the workspace set up, the run not yet running), "git-commit" (git_commit
 * has staged, the commit is not made yet).
 */
void tools_test_pause(const char *point);
/* Delete a local branch. Refuses the checked-out branch. */
int tools_git_branch_delete(const char *repo, const char *branch, struct agentd_error *err);
/* Move `branch` back to to_oid, only when its tip is still expect_oid
 * (AGENTD_EBUSY otherwise: someone committed on top). If it is the checked-out
 * branch, the work tree and index follow as with `git reset --keep`: local
 * changes stay, and a file that would change but has local changes makes it
 * refuse (AGENTD_EBUSY, the files listed, nothing changed). */
int tools_git_branch_reset(const char *repo, const char *branch, const char *to_oid,
    const char *expect_oid, struct agentd_error *err);

#endif
