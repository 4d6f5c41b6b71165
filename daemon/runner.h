/*
 * runner.h — agentd's run manager: one worker thread per active run, each
 * with its own journal connection, calling agent_run(). The loop reports
 * through hooks that hand events to the main loop (server_post) — the worker
 * never touches a socket. Also runs tools.call requests off the loop thread.
 */
#ifndef AGENTD_RUNNER_H
#define AGENTD_RUNNER_H

#include <stdint.h>
#include <jansson.h>
#include "common/error.h"

struct agentd;
struct runner;

int runner_new(struct agentd *d, struct runner **out);
/*
 * Stop every run, record them interrupted (they resume at the next start),
 * free. A tool call or hook already running may finish for up to grace_s
 * seconds, its result recorded; nothing new starts. `hurry` (may be NULL)
 * is asked every 50 ms while that lasts: 1 ends the grace at once (a
 * second SIGTERM).
 */
void runner_free(struct runner *r, int grace_s, int (*hurry)(void *ud), void *ud);

/* Start (or resume) run_id in a worker; subscribe conn_id (0 = none). */
int runner_start(struct runner *r, int64_t run_id, struct agentd_error *err);
/* AGENTD_ENOTFOUND when the run is not active (or its end is already
 * recorded while its worker tidies up: the journal has the answer). */
int runner_cancel(struct runner *r, int64_t run_id);
/* 1 while a worker runs run_id and its end is not recorded yet. */
int runner_active(struct runner *r, int64_t run_id);
int runner_count(struct runner *r);
/* Resume runs left "running" by a crash (or mark them interrupted). */
int runner_recover(struct runner *r, struct agentd_error *err);
/* Answer a pending approval (run_id 0: whichever run asked request_id; ids
 * are unique in the daemon); a denial's reason (borrowed, may be NULL) goes
 * to the model. AGENTD_ENOTFOUND when none is waiting. */
int runner_approve(struct runner *r, int64_t run_id, int64_t request_id, int allow,
    const char *reason);
/* The approval requests waiting now: [{run_id, request_id, request, since}]
 * (owned; NULL when out of memory). Main thread. */
json_t *runner_approvals(struct runner *r);

/*
 * Run one tool off the loop thread and answer the deferred call (conn_id, id)
 * when done. params: {name, workspace, args, policy?, network?} (borrowed).
 */
int runner_tool_call(struct runner *r, uint64_t conn_id, json_t *id, json_t *params,
    struct agentd_error *err);

/*
 * Check what a run needs, off the loop thread (a model endpoint may take
 * seconds to answer), and answer the deferred call (conn_id, id) with
 * {journal: {path, bytes, wal_bytes, free_bytes, integrity}, endpoints:
 * [llm_probe_endpoint reports, with fixed_prompt_tokens and fits]}.
 */
int runner_doctor(struct runner *r, uint64_t conn_id, json_t *id, struct agentd_error *err);

/*
 * Read the journal off the loop thread: fn(m, params, &result, err) runs on
 * one of a pool of RUNNER_JOURNAL_CALLS threads, each with a journal
 * connection of its own, oldest request first, and the deferred call (conn_id, id) is answered with result or with
 * fn's error. post (may be NULL) runs on the loop thread first, with the
 * result, for what only the loop knows (active runs, subscriptions). params (borrowed) is deep-copied for the thread. A statement
 * still running after RUNNER_JOURNAL_MAX_S, or when agentd stops, is
 * abandoned (-32005). At most RUNNER_JOURNAL_QUEUE reads wait; past that
 * AGENTD_EBUSY.
 */
#define RUNNER_JOURNAL_CALLS 2
#define RUNNER_JOURNAL_QUEUE 1024
#define RUNNER_JOURNAL_MAX_S 30

struct memory;
typedef int (*runner_journal_fn)(struct memory *m, json_t *params, json_t **result,
    struct agentd_error *err);
typedef void (*runner_journal_post)(struct agentd *d, uint64_t conn_id, json_t *params,
    json_t *result);
int runner_journal_call(struct runner *r, uint64_t conn_id, json_t *id, json_t *params,
    runner_journal_fn fn, runner_journal_post post, struct agentd_error *err);

/*
 * MCP work off the loop thread (servers may take seconds to start), answering
 * the deferred call (conn_id, id). params: {what: "tools" | "test", workspace,
 * name?}. "tools": {tools: built-in and MCP tools (tools.list form), mcp:
 * [server reports]}; "test": mcp_servers_test's object, or an error with
 * the reason the server could not start.
 */
int runner_mcp(struct runner *r, uint64_t conn_id, json_t *id, json_t *params,
    struct agentd_error *err);
/* mcp_wrap_fn: stdio servers run under `agentctl sandbox` on their workspace. */
int runner_mcp_wrap(const char *name, const json_t *cfg, const char *workspace, void *ud,
    json_t **out, struct agentd_error *err);

#endif
