/*
 * internal.h — what the memory module's files share and nothing else sees: the connection
 * handle, the statement cache, schema migration, SQLite error mapping and
 * the SHA-256 used by the event hash chain. Tests of this module may use it.
 */
#ifndef AGENTD_MEMORY_INTERNAL_H
#define AGENTD_MEMORY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "common/error.h"
#include "memory/memory.h"

/* Upper bound on one stored text (message content, tool result, JSON). */
#define MEMORY_MAX_TEXT (16u * 1024 * 1024)
/* Search: longest query accepted, most results returned. */
#define MEMORY_MAX_QUERY MEMORY_MAX_QUERY_BYTES
#define MEMORY_MAX_TERMS 32
#define MEMORY_SEARCH_MAX 100
/* Ranking looks at the newest this-many matches of each index (bounds cost). */
#define MEMORY_SEARCH_WINDOW 2000
/* The WAL: checkpointed every MEMORY_WAL_PAGES pages (1 MiB of 4 KiB pages)
 * and cut back to MEMORY_WAL_LIMIT bytes when it starts over (docs/memory.md). */
#define MEMORY_WAL_PAGES 256
#define MEMORY_WAL_LIMIT 1048576
#define MEMORY_STR_(x) #x
#define MEMORY_STR(x) MEMORY_STR_(x)
/* prev_hash of a run's first event. */
#define MEMORY_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* Every SQL statement the module runs; prepared once per connection. */
enum memory_stmt {
	ST_SESSION_INSERT,
	ST_SESSION_GET,
	ST_SESSION_LIST,
	ST_SESSION_LIST_WS,
	ST_SESSION_DELETE,
	ST_SESSION_TOUCH,
	ST_RUN_INSERT,
	ST_RUN_STATUS,
	ST_RUN_SET_BRANCH,
	ST_RUN_SET_BASE_OID,
	ST_RUN_SET_WORKTREE,
	ST_RUN_SET_END_OID,
	ST_RUN_SET_REASON,
	ST_RUN_SET_START,
	ST_RUN_USAGE,
	ST_RUN_SET_ACTIVE,
	ST_RUN_GET,
	ST_RUN_LIST,
	ST_RUN_LIST_SESSION,
	ST_RUN_LIST_JOB,
	ST_RUN_LIST_STATUS,
	ST_RUN_SESSION,
	ST_SESSION_TOUCH_RUN,
	ST_MSG_NEXT_SEQ,
	ST_MSG_INSERT,
	ST_MSG_LIST,
	ST_MSG_LAST_SUMMARY,
	ST_TOOL_INSERT,
	ST_TOOL_STARTED,
	ST_TOOL_FINISHED,
	ST_TOOL_STATUS,
	ST_TOOL_LIST,
	ST_PLAN_NEXT,
	ST_PLAN_INSERT,
	ST_PLAN_LATEST,
	ST_EVENT_LAST,
	ST_EVENT_INSERT,
	ST_EVENT_LIST,
	ST_EVENT_AUDIT,
	ST_RUN_EXISTS,
	ST_SEARCH,
	ST_SESSION_WS,
	ST_RUN_WS,
	ST_RETENTION,
	ST_JOB_INSERT,
	ST_JOB_GET,
	ST_JOB_LIST,
	ST_JOB_DELETE,
	ST_JOB_PAUSE,
	ST_JOB_CLAIM,
	ST_JOB_FIRED,
	ST_JOB_FIRED_JOB,
	ST_JOB_LAST_SLOT,
	ST_JOB_OPEN_FIRES,
	ST__COUNT
};

struct memory {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__COUNT];
	int depth;	/* open memory_begin calls */
	int aborted;	/* SQLite rolled the whole transaction back under us */
	void (*txn_hook)(void *ud, int depth, int committed);	/* memory_set_txn_hook */
	void *txn_ud;
	int prep_err;	/* agentd_err of the last failed statement preparation */
	struct memory_ends *ends;	/* borrowed: kept run ends shown in run reads, or NULL */
	struct memory_stop *stop;	/* memory_set_interrupt's poll, or NULL */
};

/* ends.c: the kept end of run_id, if any: 1 with status (and reason, cut to
 * reason_len) filled, else 0. Thread-safe. */
int memory_ends_lookup(struct memory_ends *e, int64_t run_id, char status[16], char *reason,
    size_t reason_len);
/* The ids of the runs whose kept end says `status`, at most max. */
size_t memory_ends_ids(struct memory_ends *e, const char *status, int64_t *ids, size_t max);

/* memory.c: fsync the directory that holds path; -1 with errno on failure. */
int memory_sync_parent(const char *path);

/* schema.c: bring the schema from its user_version up to
 * MEMORY_SCHEMA_VERSION inside one write transaction. */
int memory_schema_migrate(sqlite3 *db, struct agentd_error *err);

/* memory.c: map an SQLite result code to an agentd_err, with `what` and
 * SQLite's text in err. */
int memory_sqlerr(sqlite3 *db, int rc, const char *what, struct agentd_error *err);

/* Test seam: the raw connection (for PRAGMA max_page_count and tampering). */
sqlite3 *memory_internal_db(struct memory *m);

/* sha256.c */
struct memory_sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t fill;
};
void memory_sha256_init(struct memory_sha256 *c);
void memory_sha256_update(struct memory_sha256 *c, const void *data, size_t n);
/* Finish and write 64 lowercase hex digits and a NUL. */
void memory_sha256_hex(struct memory_sha256 *c, char out[65]);

#endif
