/*
 * memory.h — agentd's durable journal: one SQLite database in the state dir.
 *
 * Keeps sessions, runs, messages, tool calls, plan versions, run events
 * (hash-chained for audit), schedules and their firings, with an FTS5 index
 * over messages and tool outputs. Schema versioned with PRAGMA user_version;
 * forward migrations run in memory_open. WAL, foreign keys, busy timeout.
 *
 * THREADING RULE: a `struct memory` is one SQLite connection and must be used
 * by one thread at a time. Every thread that needs the journal opens its own
 * handle on the same file (the daemon's main loop has one from memory_open,
 * each run worker one from memory_open_more); SQLite's WAL and the busy
 * timeout serialize writers between them.
 *
 * Knows nothing above it: no loop, no tools, no socket.
 *
 * Records are returned as new JSON references (objects shaped as the
 * protocol shows them); times are seconds since the epoch (real numbers).
 * Every function returns an agentd_err; outputs are untouched on failure.
 * A full disk is AGENTD_ENOSPC, a read-only/unwritable file AGENTD_EIO,
 * other SQLite failures AGENTD_EDB, all with SQLite's text in err.
 */
#ifndef AGENTD_MEMORY_H
#define AGENTD_MEMORY_H

#include <stdint.h>
#include <jansson.h>
#include "common/error.h"

struct memory;

#define MEMORY_SCHEMA_VERSION 4

/*
 * Open (creating when absent) the database at path, run migrations.
 * Refuses with AGENTD_ECORRUPT, never touching the file, when it is not a
 * database, fails a quick integrity check, has a newer schema, is empty
 * (0 bytes: a new journal is written under another name and linked in
 * whole, so agentd never leaves one empty), or is missing beside a WAL
 * that is not. Refuses with AGENTD_EIO an -shm or -wal it could not write
 * (immutable, append-only, read-only): SQLite would fail, or die of SIGBUS.
 */
int memory_open(const char *path, struct memory **out, struct agentd_error *err);
/*
 * Another connection to a journal this process has opened with memory_open
 * (a worker thread's own): the same settings, without the integrity check
 * and the migrations, which ran once — the check reads the whole file, which
 * a long-lived journal makes slow. Refuses a schema version that is not this
 * agentd's.
 */
int memory_open_more(const char *path, struct memory **out, struct agentd_error *err);
void memory_close(struct memory *m);	/* NULL is fine */
/*
 * Move the journal at path and its side files (-wal, -shm, -journal, -ends)
 * aside, to path.<UTC time><suffix>, so that the next memory_open starts a
 * new one; nothing is deleted. aside (may be NULL) gets the new base name.
 * AGENTD_ENOTFOUND when there is nothing to move. Call it with the journal closed.
 */
int memory_set_aside(const char *path, char *aside, size_t aside_len, struct agentd_error *err);
/*
 * Copy the WAL into the database and cut the WAL to zero bytes
 * (wal_checkpoint(TRUNCATE), waiting through the busy timeout). A run's
 * worker calls it when the run ends. AGENTD_EBUSY when another connection
 * kept it from finishing (nothing is lost: the WAL stays as it was).
 */
int memory_checkpoint(struct memory *m, struct agentd_error *err);
/*
 * Let a long statement on this connection be abandoned: stop(ud) is polled
 * every few thousand SQLite steps, and a statement running when it returns
 * non-zero fails with AGENTD_ECANCELLED. NULL removes it.
 */
void memory_set_interrupt(struct memory *m, int (*stop)(void *ud), void *ud);
/* PRAGMA integrity_check: AGENTD_OK when "ok". */
int memory_integrity_check(struct memory *m, struct agentd_error *err);

/* Transactions (nestable by counting; only the outermost commits). */
int memory_begin(struct memory *m, struct agentd_error *err);
int memory_commit(struct memory *m, struct agentd_error *err);
void memory_rollback(struct memory *m);
/* Open memory_begin levels (0: none). */
int memory_txn_depth(const struct memory *m);
/* Called when a level ends: depth = the levels still open; committed 1 when
 * its writes stand (durably when depth is 0), 0 when they were rolled back.
 * Lets a caller hold back what it tells others until its writes are
 * visible to them. NULL removes it. */
void memory_set_txn_hook(struct memory *m, void (*fn)(void *ud, int depth, int committed),
    void *ud);

/* ---- sessions: {id,title,workspace,created,updated} ---- */
int memory_session_create(struct memory *m, const char *title, const char *workspace,
    int64_t *id, struct agentd_error *err);
int memory_session_get(struct memory *m, int64_t id, json_t **out, struct agentd_error *err);
/* Newest first; workspace NULL = all; limit <= 0 = no limit. Array. */
int memory_session_list(struct memory *m, const char *workspace, int limit,
    json_t **out, struct agentd_error *err);
/* Deletes the session and everything under it (runs, messages, events…). */
int memory_session_delete(struct memory *m, int64_t id, struct agentd_error *err);

/* ---- runs ----
 * {id,session_id,status,reason,workspace,task,branch,base_oid,worktree,
 *  options (object),job_id,steps,prompt_tokens,completion_tokens,
 *  created,started,finished,end_oid,active_s,start_state (JSON or null)}
 * For a run in place, branch is the branch it worked on, base_oid its HEAD
 * at the start and end_oid its HEAD at the end (what `undo` moves back).
 * status: queued|running|succeeded|failed|cancelled|interrupted
 */
struct memory_run_spec {
	int64_t session_id;
	const char *workspace;	/* the user's workspace (borrowed) */
	const char *task;	/* the user's request (borrowed) */
	const char *branch;	/* NULL: works in place */
	json_t *options;	/* borrowed; limits, policy, model, … as given */
	int64_t job_id;		/* 0 = not from a schedule */
};
int memory_run_create(struct memory *m, const struct memory_run_spec *spec,
    int64_t *id, struct agentd_error *err);
/* Sets status (and reason, may be NULL); running sets started, final
 * states set finished. */
int memory_run_set_status(struct memory *m, int64_t id, const char *status,
    const char *reason, struct agentd_error *err);
/* Set one text column: "branch", "base_oid", "worktree", "end_oid", "reason" or
 * "start_state" (JSON text: the checkout when the run began). NULL clears it. */
int memory_run_set_text(struct memory *m, int64_t id, const char *field,
    const char *value, struct agentd_error *err);
int memory_run_add_usage(struct memory *m, int64_t id, int64_t prompt_tokens,
    int64_t completion_tokens, int steps, struct agentd_error *err);
/* Seconds the run has been worked on over all its lives (the wall-time
 * limit's clock; time while agentd was down does not count). */
int memory_run_set_active(struct memory *m, int64_t id, double seconds,
    struct agentd_error *err);
int memory_run_get(struct memory *m, int64_t id, json_t **out, struct agentd_error *err);

struct memory_run_filter {
	const char *status;	/* NULL = any */
	int64_t session_id;	/* 0 = any */
	int64_t job_id;		/* 0 = any */
	int limit;		/* <= 0 = 100 */
};
/* Newest first. Array of run objects. */
int memory_run_list(struct memory *m, const struct memory_run_filter *f,
    json_t **out, struct agentd_error *err);

/* ---- run ends kept beside the journal ----
 * When the journal cannot take a run's end (a full disk, an I/O error), the
 * end is kept in a small file beside it, PATH-ends, until the journal can:
 * the file's MEMORY_ENDS_SLOTS slots are allocated when it is opened, so
 * keeping an end needs no new space, and each is made durable (fdatasync)
 * before memory_ends_add returns. A connection with the ends attached shows
 * a kept end instead of a stored queued, running or interrupted status (run
 * reads and listings, a job's last_status; a listing by one of those
 * statuses leaves it out, a listing by a final status finds it once
 * stored), so a run
 * that ended is never taken for one to run or resume, before or after a
 * restart. A struct memory_ends may be used by several threads at once.
 */
struct memory_ends;
#define MEMORY_ENDS_SLOTS 128
/* Open (creating) the ends file of the database at db_path, reading the ends it keeps. */
int memory_ends_open(const char *db_path, struct memory_ends **out, struct agentd_error *err);
void memory_ends_close(struct memory_ends *e);	/* NULL is fine */
/* Keep run_id's end (status: a final run status; reason may be NULL, cut to
 * about 470 bytes) durably; replaces an end kept before for the run.
 * AGENTD_ENOSPC when every slot is taken, AGENTD_EIO when the file cannot be written. */
int memory_ends_add(struct memory_ends *e, int64_t run_id, const char *status,
    const char *reason, struct agentd_error *err);
/* How many ends are kept (0 for NULL). */
int memory_ends_pending(struct memory_ends *e);
/* Store the kept ends into the journal through m (one transaction; a run
 * whose stored status is already final keeps it), then free their slots.
 * *stored (may be NULL) = how many were stored. On failure they stay kept. */
int memory_ends_store(struct memory_ends *e, struct memory *m, int *stored,
    struct agentd_error *err);
/* Show e's ends in m's run reads (borrowed: e outlives m; NULL detaches). */
void memory_attach_ends(struct memory *m, struct memory_ends *e);

/* ---- messages: {seq,run_id,role,content,tool_calls,tool_call_id,step,
 *                 reasoning,kind,created} ----
 * kind: "message" normally; "summary" for a model-written summary standing
 * in for messages up to `covers_seq`. tool_calls is the normalized
 * OpenAI array (or NULL). */
struct memory_msg {
	int64_t run_id;
	const char *role;		/* system|user|assistant|tool */
	const char *content;		/* may be NULL */
	json_t *tool_calls;		/* borrowed; may be NULL */
	const char *tool_call_id;	/* for role tool */
	const char *reasoning;		/* may be NULL */
	int step;
	const char *kind;		/* NULL = "message" */
	int64_t covers_seq;		/* for summaries */
};
int memory_msg_add(struct memory *m, int64_t session_id, const struct memory_msg *msg,
    int64_t *seq, struct agentd_error *err);
/* All of a session's messages in order (seq > after_seq), array. */
int memory_msg_list(struct memory *m, int64_t session_id, int64_t after_seq,
    json_t **out, struct agentd_error *err);
/* The same, at most `limit` (> 0) messages: one page of a long session. */
int memory_msg_page(struct memory *m, int64_t session_id, int64_t after_seq, int64_t limit,
    json_t **out, struct agentd_error *err);
/* The newest summary of a session (or *out = NULL when none). */
int memory_msg_last_summary(struct memory *m, int64_t session_id, json_t **out,
    struct agentd_error *err);

/* ---- tool calls: {id(call id),run_id,name,arguments,status,result,ok,
 *                   read_only,started,finished,step} ----
 * status: pending → started → finished. */
int memory_tool_add(struct memory *m, int64_t run_id, const char *call_id,
    const char *name, const char *arguments, int read_only, int step,
    struct agentd_error *err);
int memory_tool_started(struct memory *m, int64_t run_id, const char *call_id,
    struct agentd_error *err);
/* result: the text sent back to the model; ok: tool's verdict. */
int memory_tool_finished(struct memory *m, int64_t run_id, const char *call_id,
    const char *result, int ok, struct agentd_error *err);
/* All tool calls of a run in order (array). */
int memory_tool_list(struct memory *m, int64_t run_id, json_t **out, struct agentd_error *err);

/* ---- plans: each version stored; {version,plan,created} ---- */
int memory_plan_add(struct memory *m, int64_t run_id, json_t *plan, int *version,
    struct agentd_error *err);
/* Latest plan of a run (*out NULL when none). */
int memory_plan_latest(struct memory *m, int64_t run_id, json_t **out, struct agentd_error *err);

/* ---- events: {seq,type,data,created,hash} hash-chained per run ----
 * hash = SHA-256(prev_hash || run_id || seq || type || data-json). */
/* *seq (may be NULL): the event's number in its run. */
int memory_event_add(struct memory *m, int64_t run_id, const char *type, json_t *data,
    int64_t *seq, struct agentd_error *err);
int memory_event_list(struct memory *m, int64_t run_id, int64_t after_seq,
    json_t **out, struct agentd_error *err);
/* Recompute the chain: *ok 1 when intact, else *bad_seq = first bad row. */
int memory_audit(struct memory *m, int64_t run_id, int *ok, int64_t *bad_seq,
    int64_t *count, struct agentd_error *err);

/* The longest search query accepted (AGENTD_ETOOBIG past it). */
#define MEMORY_MAX_QUERY_BYTES 1024

/* ---- recall: FTS5 over message text, tool results, and tool calls (the
 * tool's name and the first 4,096 characters of its arguments) ----
 * [{session_id,run_id,seq,role,snippet,rank,created,workspace,call_id,tool,
 *   step}], best first. role is the message's, "tool" for a tool result
 * that never went back as a message, "call" for a tool call's arguments;
 * tool names the call's tool (for a call, a tool result, or a tool
 * message), step the run's step (null when unknown). */
int memory_search(struct memory *m, const char *query, const char *workspace,
    int limit, json_t **out, struct agentd_error *err);

/* ---- retention: delete sessions older than max_age_s (0 = keep) and
 *      beyond the newest max_count (0 = keep); *deleted counts them. ---- */
int memory_retention(struct memory *m, double max_age_s, int max_count,
    int *deleted, struct agentd_error *err);

/* ---- schedules ----
 * job: {id,cron,tz,workspace,task,chore (object|null),branch (bool),
 *       branch_name,policy,catchup ("skip"|"once"),paused,created,
 *       last_fire,last_run_id,last_status} */
int memory_job_add(struct memory *m, json_t *job, int64_t *id, struct agentd_error *err);
int memory_job_get(struct memory *m, int64_t id, json_t **out, struct agentd_error *err);
int memory_job_list(struct memory *m, json_t **out, struct agentd_error *err);
int memory_job_delete(struct memory *m, int64_t id, struct agentd_error *err);
int memory_job_set_paused(struct memory *m, int64_t id, int paused, struct agentd_error *err);
/* Claim the firing (job, slot) once: AGENTD_OK when this call claimed it,
 * AGENTD_EEXIST when it was claimed before (also across restarts). */
int memory_job_claim(struct memory *m, int64_t id, int64_t slot, struct agentd_error *err);
/* Attach the run started for a claimed slot; updates last_fire/last_run_id. */
int memory_job_fired(struct memory *m, int64_t id, int64_t slot, int64_t run_id,
    struct agentd_error *err);
/* Claims that name no run and are newer than their job's last recorded
 * firing (a stop came between the claim and memory_job_fired):
 * [{job_id, slot, run_id}] where run_id is the job's first run created
 * since the claim that no claim names (the run it started), or null. */
int memory_job_open_fires(struct memory *m, json_t **out, struct agentd_error *err);
/* Latest claimed slot of a job (0 when none). */
int memory_job_last_slot(struct memory *m, int64_t id, int64_t *slot, struct agentd_error *err);

#endif
