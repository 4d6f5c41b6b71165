/*
 * memory.c — agentd's durable journal on SQLite: opening and checking the
 * database, transactions, and every record kind of memory.h (sessions, runs,
 * messages, tool calls, plans, hash-chained events, recall search,
 * retention, schedules).
 *
 * Every write runs inside memory_begin/memory_commit (BEGIN IMMEDIATE at the
 * outermost level, a SAVEPOINT inside a caller's transaction), so a process
 * killed at any instant leaves either all of a call's rows or none of them.
 * Statements are prepared once per connection and kept in m->stmt.
 */
#include "memory/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"

#define RUN_COLS "id,session_id,status,reason,workspace,task,branch,base_oid,worktree," \
	"options,job_id,steps,prompt_tokens,completion_tokens,created,started,finished,end_oid," \
	"active_s,start_state"
#define MSG_COLS "seq,run_id,role,content,tool_calls,tool_call_id,step,reasoning,kind," \
	"covers_seq,created"
#define JOB_SELECT "SELECT j.id,j.cron,j.tz,j.workspace,j.task,j.chore,j.branch," \
	"j.branch_name,j.policy,j.catchup,j.paused,j.created,j.last_fire,j.last_run_id,r.status " \
	"FROM jobs j LEFT JOIN runs r ON r.id = j.last_run_id "

/*
 * Recall: the best of each FTS index by BM25 (memory_bm25), then merged. ?1, ?2 and ?5 are
 * the FTS queries for messages, tool results and tool calls (words, and the
 * workspace's tag when filtered, so the filter is applied inside the index). To keep a
 * query's cost bounded however common its words, ranking considers only the
 * newest ?4 (MEMORY_SEARCH_WINDOW) matches of each index: the inner query
 * walks matches newest first and stops there; the outer one scores only rows
 * from that point on. A tool result that also went back to the model as a
 * tool message is found through that message.
 */
#define SEARCH_SQL "SELECT * FROM (" \
	" SELECT s.id AS sid, m.run_id, m.seq, m.role," \
	"  memory_snippet(messages_fts, 1) AS snip," \
	"  memory_bm25(messages_fts, (SELECT max(id) FROM messages), 1) AS rank," \
	"  m.created, s.workspace, m.tool_call_id AS call_id, tc.name AS tool, m.step" \
	" FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid" \
	" CROSS JOIN sessions s ON s.id = m.session_id" \
	" LEFT JOIN tool_calls tc ON tc.run_id = m.run_id AND tc.call_id = m.tool_call_id" \
	" WHERE messages_fts MATCH ?1" \
	"  AND messages_fts.rowid >= coalesce((SELECT min(r) FROM (SELECT rowid AS r" \
	"   FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?4)), 0)" \
	" ORDER BY rank LIMIT ?3)" \
	" UNION ALL SELECT * FROM (" \
	" SELECT s.id, t.run_id, NULL, 'tool'," \
	"  memory_snippet(tool_fts, 1)," \
	"  memory_bm25(tool_fts, (SELECT max(id) FROM tool_calls), 1) AS rank," \
	"  coalesce(t.finished, t.created), s.workspace, t.call_id, t.name, t.step" \
	" FROM tool_fts CROSS JOIN tool_calls t ON t.id = tool_fts.rowid" \
	" CROSS JOIN runs r ON r.id = t.run_id CROSS JOIN sessions s ON s.id = r.session_id" \
	" WHERE tool_fts MATCH ?2" \
	"  AND NOT EXISTS (SELECT 1 FROM messages mm WHERE mm.run_id = t.run_id" \
	"   AND mm.tool_call_id = t.call_id)" \
	"  AND tool_fts.rowid >= coalesce((SELECT min(r) FROM (SELECT rowid AS r" \
	"   FROM tool_fts WHERE tool_fts MATCH ?2 ORDER BY rowid DESC LIMIT ?4)), 0)" \
	" ORDER BY rank LIMIT ?3)" \
	" UNION ALL SELECT * FROM (" \
	" SELECT s.id, t.run_id, NULL, 'call'," \
	"  memory_snippet(call_fts, 2)," \
	"  memory_bm25(call_fts, (SELECT max(id) FROM tool_calls), 2) AS rank," \
	"  t.created, s.workspace, t.call_id, t.name, t.step" \
	" FROM call_fts CROSS JOIN tool_calls t ON t.id = call_fts.rowid" \
	" CROSS JOIN runs r ON r.id = t.run_id CROSS JOIN sessions s ON s.id = r.session_id" \
	" WHERE call_fts MATCH ?5" \
	"  AND call_fts.rowid >= coalesce((SELECT min(r) FROM (SELECT rowid AS r" \
	"   FROM call_fts WHERE call_fts MATCH ?5 ORDER BY rowid DESC LIMIT ?4)), 0)" \
	" ORDER BY rank LIMIT ?3)" \
	" ORDER BY rank LIMIT ?3"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_SESSION_INSERT] = "INSERT INTO sessions(title,workspace,created,updated) VALUES (?1,?2,?3,?3)",
	[ST_SESSION_GET] = "SELECT id,title,workspace,created,updated FROM sessions WHERE id=?1",
	[ST_SESSION_LIST] = "SELECT id,title,workspace,created,updated FROM sessions "
	    "ORDER BY updated DESC, id DESC LIMIT ?1",
	[ST_SESSION_LIST_WS] = "SELECT id,title,workspace,created,updated FROM sessions "
	    "WHERE workspace=?2 ORDER BY updated DESC, id DESC LIMIT ?1",
	[ST_SESSION_DELETE] = "DELETE FROM sessions WHERE id=?1",
	[ST_SESSION_TOUCH] = "UPDATE sessions SET updated=max(updated,?2) WHERE id=?1",
	[ST_SESSION_TOUCH_RUN] = "UPDATE sessions SET updated=max(updated,?2) "
	    "WHERE id=(SELECT session_id FROM runs WHERE id=?1)",
	[ST_RUN_INSERT] = "INSERT INTO runs(session_id,status,workspace,task,branch,options,job_id,created) "
	    "VALUES (?1,'queued',?2,?3,?4,?5,?6,?7)",
	[ST_RUN_STATUS] = "UPDATE runs SET status=?2,"
	    " reason=CASE WHEN ?3 IS NOT NULL THEN ?3 WHEN ?2 IN ('queued','running') THEN NULL ELSE reason END,"
	    " started=CASE WHEN ?2='running' THEN coalesce(started,?4) ELSE started END,"
	    " finished=CASE WHEN ?2 IN ('queued','running') THEN NULL ELSE ?4 END WHERE id=?1",
	[ST_RUN_SET_BRANCH] = "UPDATE runs SET branch=?2 WHERE id=?1",
	[ST_RUN_SET_BASE_OID] = "UPDATE runs SET base_oid=?2 WHERE id=?1",
	[ST_RUN_SET_WORKTREE] = "UPDATE runs SET worktree=?2 WHERE id=?1",
	[ST_RUN_SET_END_OID] = "UPDATE runs SET end_oid=?2 WHERE id=?1",
	[ST_RUN_SET_REASON] = "UPDATE runs SET reason=?2 WHERE id=?1",
	[ST_RUN_SET_START] = "UPDATE runs SET start_state=?2 WHERE id=?1",
	[ST_RUN_SET_ACTIVE] = "UPDATE runs SET active_s=?2 WHERE id=?1",
	[ST_RUN_USAGE] = "UPDATE runs SET prompt_tokens=prompt_tokens+?2,"
	    " completion_tokens=completion_tokens+?3, steps=steps+?4 WHERE id=?1",
	[ST_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE id=?1",
	[ST_RUN_LIST] = "SELECT " RUN_COLS " FROM runs ORDER BY id DESC LIMIT ?1",
	[ST_RUN_LIST_SESSION] = "SELECT " RUN_COLS " FROM runs WHERE session_id=?2"
	    " AND (?3 IS NULL OR status=?3) AND (?4=0 OR job_id=?4) ORDER BY id DESC LIMIT ?1",
	[ST_RUN_LIST_JOB] = "SELECT " RUN_COLS " FROM runs WHERE job_id=?4"
	    " AND (?3 IS NULL OR status=?3) ORDER BY id DESC LIMIT ?1",
	[ST_RUN_LIST_STATUS] = "SELECT " RUN_COLS " FROM runs WHERE status=?3 ORDER BY id DESC LIMIT ?1",
	[ST_RUN_SESSION] = "SELECT session_id FROM runs WHERE id=?1",
	[ST_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id=?1",
	[ST_MSG_NEXT_SEQ] = "SELECT coalesce(max(seq),0)+1 FROM messages WHERE session_id=?1",
	[ST_MSG_INSERT] = "INSERT INTO messages(session_id,seq,run_id,role,content,tool_calls,"
	    "tool_call_id,reasoning,step,kind,covers_seq,created,ws) "
	    "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
	[ST_MSG_LIST] = "SELECT " MSG_COLS " FROM messages WHERE session_id=?1 AND seq>?2 ORDER BY seq"
	    " LIMIT ?3",
	[ST_MSG_LAST_SUMMARY] = "SELECT " MSG_COLS " FROM messages WHERE session_id=?1 AND kind='summary' "
	    "ORDER BY seq DESC LIMIT 1",
	[ST_TOOL_INSERT] = "INSERT INTO tool_calls(run_id,call_id,name,arguments,read_only,step,created,ws) "
	    "VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
	[ST_TOOL_STARTED] = "UPDATE tool_calls SET status='started', started=?3 "
	    "WHERE run_id=?1 AND call_id=?2 AND status<>'finished'",
	[ST_TOOL_FINISHED] = "UPDATE tool_calls SET status='finished', result=?3, ok=?4, finished=?5 "
	    "WHERE run_id=?1 AND call_id=?2 AND status<>'finished'",
	[ST_TOOL_STATUS] = "SELECT status FROM tool_calls WHERE run_id=?1 AND call_id=?2",
	[ST_TOOL_LIST] = "SELECT call_id,run_id,name,arguments,status,result,ok,read_only,started,"
	    "finished,step FROM tool_calls WHERE run_id=?1 ORDER BY id",
	[ST_PLAN_NEXT] = "SELECT coalesce(max(version),0)+1 FROM plans WHERE run_id=?1",
	[ST_PLAN_INSERT] = "INSERT INTO plans(run_id,version,plan,created) VALUES (?1,?2,?3,?4)",
	[ST_PLAN_LATEST] = "SELECT version,plan,created FROM plans WHERE run_id=?1 "
	    "ORDER BY version DESC LIMIT 1",
	[ST_EVENT_LAST] = "SELECT seq,hash FROM events WHERE run_id=?1 ORDER BY seq DESC LIMIT 1",
	[ST_EVENT_INSERT] = "INSERT INTO events(run_id,seq,type,data,created,prev_hash,hash) "
	    "VALUES (?1,?2,?3,?4,?5,?6,?7)",
	[ST_EVENT_LIST] = "SELECT seq,type,data,created,hash FROM events WHERE run_id=?1 AND seq>?2 "
	    "ORDER BY seq",
	[ST_EVENT_AUDIT] = "SELECT seq,type,data,prev_hash,hash FROM events WHERE run_id=?1 ORDER BY seq",
	[ST_SEARCH] = SEARCH_SQL,
	[ST_SESSION_WS] = "SELECT workspace FROM sessions WHERE id=?1",
	[ST_RUN_WS] = "SELECT s.workspace FROM runs r JOIN sessions s ON s.id = r.session_id WHERE r.id=?1",
	[ST_RETENTION] = "DELETE FROM sessions WHERE id IN ("
	    " SELECT id FROM sessions WHERE updated < ?1"
	    " UNION SELECT id FROM (SELECT id FROM sessions ORDER BY updated DESC, id DESC"
	    "  LIMIT -1 OFFSET ?2) WHERE ?2 > 0)"
	    " AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.session_id = sessions.id"
	    "  AND runs.status IN ('queued','running'))",
	[ST_JOB_INSERT] = "INSERT INTO jobs(cron,tz,workspace,task,chore,branch,branch_name,policy,"
	    "catchup,paused,created) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
	[ST_JOB_GET] = JOB_SELECT "WHERE j.id=?1",
	[ST_JOB_LIST] = JOB_SELECT "ORDER BY j.id",
	[ST_JOB_DELETE] = "DELETE FROM jobs WHERE id=?1",
	[ST_JOB_PAUSE] = "UPDATE jobs SET paused=?2 WHERE id=?1",
	[ST_JOB_CLAIM] = "INSERT INTO job_fires(job_id,slot,claimed) VALUES (?1,?2,?3)",
	[ST_JOB_FIRED] = "UPDATE job_fires SET run_id=?3 WHERE job_id=?1 AND slot=?2",
	[ST_JOB_FIRED_JOB] = "UPDATE jobs SET last_fire=?2, last_run_id=?3 WHERE id=?1",
	/* Claims newer than the job's last recorded firing that name no run, each
	 * with the first run of the job created since the claim that no claim
	 * names (the run a kill kept from being recorded), if any. */
	[ST_JOB_OPEN_FIRES] = "SELECT f.job_id, f.slot, (SELECT min(r.id) FROM runs r"
	    " WHERE r.job_id=f.job_id AND r.created>=f.claimed AND NOT EXISTS"
	    " (SELECT 1 FROM job_fires g WHERE g.run_id=r.id)) FROM job_fires f"
	    " JOIN jobs j ON j.id=f.job_id WHERE f.run_id IS NULL"
	    " AND f.slot>coalesce(j.last_fire,-1) ORDER BY f.job_id, f.slot",
	[ST_JOB_LAST_SLOT] = "SELECT (SELECT coalesce(max(slot),0) FROM job_fires WHERE job_id=?1) "
	    "FROM jobs WHERE id=?1",
};

static const char *const run_states[] = {
	"queued", "running", "succeeded", "failed", "cancelled", "interrupted", NULL
};

/* ------------------------------------------------------------------ */
/* errors and statements                                              */

int
memory_sqlerr(sqlite3 *db, int rc, const char *what, struct agentd_error *err)
{
	const char *text = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int sys = db != NULL ? sqlite3_system_errno(db) : 0;
	int prim = rc & 0xff;

	if (prim == SQLITE_FULL || (prim == SQLITE_IOERR && sys == ENOSPC))
		return agentd_seterr(err, AGENTD_ENOSPC,
		    "%s: the disk holding the database is full (%s)", what, text);
	switch (prim) {
	case SQLITE_NOMEM:
		return agentd_seterr(err, AGENTD_ENOMEM, "%s: %s", what, text);
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_IOERR:
		if (sys != 0)
			return agentd_seterr(err, AGENTD_EIO, "%s: %s (%s)", what, text, strerror(sys));
		return agentd_seterr(err, AGENTD_EIO, "%s: %s", what, text);
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return agentd_seterr(err, AGENTD_ECORRUPT, "%s: %s", what, text);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return agentd_seterr(err, AGENTD_EBUSY, "%s: %s", what, text);
	case SQLITE_TOOBIG:
		return agentd_seterr(err, AGENTD_ETOOBIG, "%s: %s", what, text);
	case SQLITE_INTERRUPT:
		return agentd_seterr(err, AGENTD_ECANCELLED, "%s: stopped before it finished", what);
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return agentd_seterr(err, AGENTD_ENOTFOUND, "%s: a referenced record does not exist",
			    what);
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return agentd_seterr(err, AGENTD_EEXIST, "%s: already recorded", what);
		return agentd_seterr(err, AGENTD_EINVAL, "%s: %s", what, text);
	default:
		return agentd_seterr(err, AGENTD_EDB, "%s: %s", what, text);
	}
}

sqlite3 *
memory_internal_db(struct memory *m)
{
	return m->db;
}

/* Map an error and notice when SQLite rolled the transaction back itself
 * (it may on SQLITE_FULL, IOERR, NOMEM, BUSY). */
static int
dberr(struct memory *m, int rc, const char *what, struct agentd_error *err)
{
	int ret = memory_sqlerr(m->db, rc, what, err);

	if (m->depth > 0 && sqlite3_get_autocommit(m->db))
		m->aborted = 1;
	return ret;
}

/* The cached statement, reset and unbound; NULL with err set on failure. */
static sqlite3_stmt *
stmt(struct memory *m, enum memory_stmt id, struct agentd_error *err)
{
	sqlite3_stmt *st = m->stmt[id];
	int rc;

	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	rc = sqlite3_prepare_v3(m->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		m->prep_err = dberr(m, rc, "preparing a statement", err);
		return NULL;
	}
	m->stmt[id] = st;
	return st;
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Bind an id where 0 means "none" (NULL in the database). */
static void
bind_ref(sqlite3_stmt *st, int i, int64_t id)
{
	if (id == 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, id);
}

/* Run a statement that returns no row. */
static int
exec_done(struct memory *m, sqlite3_stmt *st, const char *what, struct agentd_error *err)
{
	int rc = sqlite3_step(st);
	int ret = AGENTD_OK;

	if (rc != SQLITE_DONE)
		ret = dberr(m, rc, what, err);
	sqlite3_reset(st);
	return ret;
}

/* Step once: AGENTD_OK with a row, ENOTFOUND without, else an error.
 * The caller resets the statement after reading the row. */
static int
step_row(struct memory *m, sqlite3_stmt *st, const char *what, struct agentd_error *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return AGENTD_OK;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return agentd_seterr(err, AGENTD_ENOTFOUND, "%s: not found", what);
	}
	rc = dberr(m, rc, what, err);
	sqlite3_reset(st);
	return rc;
}

static int
check_text(const char *name, const char *s, size_t max, int required, struct agentd_error *err)
{
	if (s == NULL)
		return required ? agentd_seterr(err, AGENTD_EINVAL, "%s is required", name) : AGENTD_OK;
	if (strlen(s) > max)
		return agentd_seterr(err, AGENTD_ETOOBIG, "%s is longer than %zu bytes", name, max);
	return AGENTD_OK;
}

static int
in_list(const char *s, const char *const *list)
{
	for (; s != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* row -> JSON                                                        */

static json_t *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	if (s == NULL)
		return json_null();
	return ajson_string_lossy((const char *)s, (size_t)sqlite3_column_bytes(st, i));
}

static json_t *
col_real(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_real(sqlite3_column_double(st, i));
}

static json_t *
col_int(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, i));
}

static json_t *
col_bool(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_boolean(sqlite3_column_int(st, i) != 0);
}

/* Stored JSON text back to JSON (the text itself if it does not parse). */
static json_t *
col_json(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	json_t *v;

	if (s == NULL)
		return json_null();
	v = json_loadb(s, (size_t)sqlite3_column_bytes(st, i), JSON_DECODE_ANY, NULL);
	return v != NULL ? v : col_text(st, i);
}

/* Build an object from (key, new value) pairs; NULL on ENOMEM. A NULL
 * value (an allocation failure) fails the whole object. */
static json_t *
obj_set(json_t *o, const char *key, json_t *v)
{
	if (o == NULL || v == NULL || json_object_set_new(o, key, v) != 0) {
		json_decref(o);
		if (o == NULL)
			json_decref(v);
		return NULL;
	}
	return o;
}

static json_t *
session_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "id", col_int(st, 0));
	o = obj_set(o, "title", col_text(st, 1));
	o = obj_set(o, "workspace", col_text(st, 2));
	o = obj_set(o, "created", col_real(st, 3));
	o = obj_set(o, "updated", col_real(st, 4));
	return o;
}

static json_t *
run_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "id", col_int(st, 0));
	o = obj_set(o, "session_id", col_int(st, 1));
	o = obj_set(o, "status", col_text(st, 2));
	o = obj_set(o, "reason", col_text(st, 3));
	o = obj_set(o, "workspace", col_text(st, 4));
	o = obj_set(o, "task", col_text(st, 5));
	o = obj_set(o, "branch", col_text(st, 6));
	o = obj_set(o, "base_oid", col_text(st, 7));
	o = obj_set(o, "worktree", col_text(st, 8));
	o = obj_set(o, "options", sqlite3_column_type(st, 9) == SQLITE_NULL ? json_object() :
	    col_json(st, 9));
	o = obj_set(o, "job_id", col_int(st, 10));
	o = obj_set(o, "steps", col_int(st, 11));
	o = obj_set(o, "prompt_tokens", col_int(st, 12));
	o = obj_set(o, "completion_tokens", col_int(st, 13));
	o = obj_set(o, "created", col_real(st, 14));
	o = obj_set(o, "started", col_real(st, 15));
	o = obj_set(o, "finished", col_real(st, 16));
	o = obj_set(o, "end_oid", col_text(st, 17));
	o = obj_set(o, "active_s", col_real(st, 18));
	o = obj_set(o, "start_state", sqlite3_column_type(st, 19) == SQLITE_NULL ? json_null() :
	    col_json(st, 19));
	return o;
}

static json_t *
msg_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "seq", col_int(st, 0));
	o = obj_set(o, "run_id", col_int(st, 1));
	o = obj_set(o, "role", col_text(st, 2));
	o = obj_set(o, "content", col_text(st, 3));
	o = obj_set(o, "tool_calls", col_json(st, 4));
	o = obj_set(o, "tool_call_id", col_text(st, 5));
	o = obj_set(o, "step", col_int(st, 6));
	o = obj_set(o, "reasoning", col_text(st, 7));
	o = obj_set(o, "kind", col_text(st, 8));
	o = obj_set(o, "covers_seq", col_int(st, 9));
	o = obj_set(o, "created", col_real(st, 10));
	return o;
}

static json_t *
job_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "id", col_int(st, 0));
	o = obj_set(o, "cron", col_text(st, 1));
	o = obj_set(o, "tz", col_text(st, 2));
	o = obj_set(o, "workspace", col_text(st, 3));
	o = obj_set(o, "task", col_text(st, 4));
	o = obj_set(o, "chore", col_json(st, 5));
	o = obj_set(o, "branch", col_bool(st, 6));
	o = obj_set(o, "branch_name", col_text(st, 7));
	o = obj_set(o, "policy", col_text(st, 8));
	o = obj_set(o, "catchup", col_text(st, 9));
	o = obj_set(o, "paused", col_bool(st, 10));
	o = obj_set(o, "created", col_real(st, 11));
	o = obj_set(o, "last_fire", col_int(st, 12));
	o = obj_set(o, "last_run_id", col_int(st, 13));
	o = obj_set(o, "last_status", col_text(st, 14));
	return o;
}

/* Step through all rows of st into a new array built by `row`. */
static int
collect(struct memory *m, sqlite3_stmt *st, json_t *(*row)(sqlite3_stmt *), const char *what,
    json_t **out, struct agentd_error *err)
{
	json_t *arr = json_array();
	int rc;

	if (arr == NULL) {
		sqlite3_reset(st);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_append_new(arr, row(st)) != 0) {
			sqlite3_reset(st);
			json_decref(arr);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
	}
	if (rc != SQLITE_DONE) {
		rc = dberr(m, rc, what, err);
		sqlite3_reset(st);
		json_decref(arr);
		return rc;
	}
	sqlite3_reset(st);
	*out = arr;
	return AGENTD_OK;
}

/* Read a single row built by `row` (ENOTFOUND with `what` when none). */
static int
fetch_one(struct memory *m, sqlite3_stmt *st, json_t *(*row)(sqlite3_stmt *), const char *what,
    json_t **out, struct agentd_error *err)
{
	json_t *o;
	int ret = step_row(m, st, what, err);

	if (ret != AGENTD_OK)
		return ret;
	o = row(st);
	sqlite3_reset(st);
	if (o == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	*out = o;
	return AGENTD_OK;
}

/* ------------------------------------------------------------------ */
/* ranking                                                            */

/*
 * memory_bm25(fts, max_rowid, ntext): Okapi BM25 over the first ntext
 * columns (the text; default 1) taken as one (k1 1.2,
 * b 0.75), negated like FTS5's bm25() so that lower is better. FTS5's own
 * bm25() counts every document holding each query word to get its IDF, a
 * walk over the whole posting list of a common word (40 ms for a word in
 * 900,000 messages); this one stops counting at RANK_DF_SAMPLE documents
 * and extrapolates from how much of the rowid range those covered. Rare
 * words get their exact IDF; common ones an estimate, which is all a
 * ranking of recent matches needs.
 */
#define RANK_DF_SAMPLE 4096

struct rank_df {
	int64_t hits, first, last;
};

struct rank_data {
	int nphrase;
	int ntext;	/* leading columns that hold text */
	double avgdl;
	double idf[];
};

static int
rank_df_cb(const Fts5ExtensionApi *api, Fts5Context *fts, void *arg)
{
	struct rank_df *d = arg;

	d->last = api->xRowid(fts);
	if (d->hits++ == 0)
		d->first = d->last;
	return d->hits >= RANK_DF_SAMPLE ? SQLITE_DONE : SQLITE_OK;
}

static struct rank_data *
rank_prepare(const Fts5ExtensionApi *api, Fts5Context *fts, int64_t max_rowid, int ntext)
{
	struct rank_data *rd;
	sqlite3_int64 nrow = 0, ntok = 0, coltok;
	int i, n = api->xPhraseCount(fts);

	rd = calloc(1, sizeof(*rd) + (size_t)n * sizeof(double));
	if (rd == NULL)
		return NULL;
	rd->nphrase = n;
	rd->ntext = ntext;
	if (api->xRowCount(fts, &nrow) != SQLITE_OK) {
		free(rd);
		return NULL;
	}
	for (i = 0; i < ntext; i++) {
		if (api->xColumnTotalSize(fts, i, &coltok) != SQLITE_OK) {
			free(rd);
			return NULL;
		}
		ntok += coltok;
	}
	if (nrow < 1)
		nrow = 1;
	rd->avgdl = ntok > 0 ? (double)ntok / (double)nrow : 1.0;
	for (i = 0; i < n; i++) {
		struct rank_df d = { 0 };
		double df, idf;

		if (api->xQueryPhrase(fts, i, &d, rank_df_cb) != SQLITE_OK) {
			free(rd);
			return NULL;
		}
		df = (double)d.hits;
		if (d.hits >= RANK_DF_SAMPLE && max_rowid > d.first && d.last > d.first)
			df = df * (double)(max_rowid - d.first + 1) / (double)(d.last - d.first + 1);
		if (df > (double)nrow)
			df = (double)nrow;
		idf = log(((double)nrow - df + 0.5) / (df + 0.5));
		rd->idf[i] = idf > 1e-6 ? idf : 1e-6;
	}
	return rd;
}

static void
rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int nval,
    sqlite3_value **val)
{
	struct rank_data *rd = api->xGetAuxdata(fts, 0);
	double tf[64] = { 0 }, score = 0, dl;
	int i, ninst = 0, ntok = 0, coltok;

	if (rd == NULL) {
		int ntext = nval > 1 ? sqlite3_value_int(val[1]) : 1;

		if (ntext < 1 || ntext > api->xColumnCount(fts))
			ntext = 1;
		rd = rank_prepare(api, fts, nval > 0 ? sqlite3_value_int64(val[0]) : 0, ntext);
		if (rd == NULL || api->xSetAuxdata(fts, rd, free) != SQLITE_OK) {
			sqlite3_result_error(ctx, "memory_bm25: cannot prepare", -1);
			return;
		}
	}
	if (api->xInstCount(fts, &ninst) != SQLITE_OK) {
		sqlite3_result_error(ctx, "memory_bm25: cannot read the row", -1);
		return;
	}
	for (i = 0; i < rd->ntext; i++) {
		if (api->xColumnSize(fts, i, &coltok) != SQLITE_OK) {
			sqlite3_result_error(ctx, "memory_bm25: cannot read the row", -1);
			return;
		}
		ntok += coltok;
	}
	for (i = 0; i < ninst; i++) {
		int phrase, col, off;

		if (api->xInst(fts, i, &phrase, &col, &off) == SQLITE_OK && col < rd->ntext &&
		    phrase >= 0 && phrase < 64)
			tf[phrase] += 1;
	}
	dl = (double)ntok;
	for (i = 0; i < rd->nphrase && i < 64; i++)
		if (tf[i] > 0)
			score += rd->idf[i] * tf[i] * 2.2 / (tf[i] + 1.2 * (0.25 + 0.75 * dl / rd->avgdl));
	sqlite3_result_double(ctx, -score);
}

/*
 * memory_snippet(fts, ntext): a short excerpt of the best-matching text
 * column among the first ntext ones, hits in [brackets], "..." where text
 * was left out. FTS5's snippet() scores every candidate window against
 * every hit, quadratic in the hits of a row (14 s for one message of
 * 40,000 matching words); this one slides one window of SNIP_TOKENS tokens
 * over the hits once, then tokenizes the column only up to the window's end,
 * and never returns more than SNIP_MAX_BYTES however long a token is.
 */
#define SNIP_TOKENS 12
#define SNIP_MAX_BYTES 600

struct snip_tok {
	int start;		/* first position of the window */
	int pos;		/* position of the next token */
	int n;			/* tokens of the window seen */
	int more;		/* a token follows the window */
	int bstart[SNIP_TOKENS], bend[SNIP_TOKENS];
};

static int
snip_token_cb(void *ud, int tflags, const char *tok, int ntok, int bstart, int bend)
{
	struct snip_tok *t = ud;
	int pos;

	(void)tok;
	(void)ntok;
	if (tflags & FTS5_TOKEN_COLOCATED)
		return SQLITE_OK;	/* a synonym at the same position */
	pos = t->pos++;
	if (pos < t->start)
		return SQLITE_OK;
	if (pos >= t->start + SNIP_TOKENS) {
		t->more = 1;
		return SQLITE_DONE;	/* the rest of the text is not read */
	}
	t->bstart[t->n] = bstart;
	t->bend[t->n] = bend;
	t->n++;
	return SQLITE_OK;
}

struct snip_out {
	char buf[SNIP_MAX_BYTES + 16];
	size_t len;
	int full;
};

/* Append at most what fits under SNIP_MAX_BYTES, cut on a UTF-8 boundary. */
static void
snip_put(struct snip_out *o, const char *p, size_t n)
{
	if (o->full)
		return;
	if (o->len + n > SNIP_MAX_BYTES) {
		n = SNIP_MAX_BYTES - o->len;
		while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
			n--;
		o->full = 1;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
snippet_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int nval,
    sqlite3_value **val)
{
	int ntext = nval > 0 ? sqlite3_value_int(val[0]) : 1, nphrase = api->xPhraseCount(fts);
	int ninst = 0, i, lo, col, best_col = 0, best_first = 0, best_span = 1, best_score = -1;
	int *ph = NULL, *off = NULL, *cnt = NULL, ncol_tok = 0, start, text_len = 0, k, opened;
	char hit[SNIP_TOKENS];
	const char *text = NULL;
	struct snip_tok t;
	struct snip_out *o = NULL;
	int rc;

	if (api->xInstCount(fts, &ninst) != SQLITE_OK)
		goto fail;
	ph = malloc(((size_t)ninst + 1) * sizeof(int));
	off = malloc(((size_t)ninst + 1) * sizeof(int));
	cnt = calloc((size_t)nphrase + 1, sizeof(int));
	o = calloc(1, sizeof(*o));
	if (ph == NULL || off == NULL || cnt == NULL || o == NULL)
		goto fail;
	/* Hits come ordered by column, then position: one pass per column,
	 * two pointers, the window holding the most distinct phrases wins. */
	for (lo = 0; lo < ninst; ) {
		int c, j, distinct = 0, first = 0;

		if (api->xInst(fts, lo, &ph[lo], &c, &off[lo]) != SQLITE_OK)
			goto fail;
		for (j = lo; j < ninst; j++) {
			int pj, cj;

			if (j > lo && (api->xInst(fts, j, &ph[j], &cj, &off[j]) != SQLITE_OK || cj != c))
				break;
			pj = ph[j];
			if (c >= ntext || pj < 0 || pj >= nphrase)
				continue;
			if (cnt[pj]++ == 0)
				distinct++;
			while (off[j] - off[first + lo] >= SNIP_TOKENS) {
				int pf = ph[first + lo];

				if (pf >= 0 && pf < nphrase && --cnt[pf] == 0)
					distinct--;
				first++;
			}
			if (distinct * (SNIP_TOKENS + 1) + (j - lo - first) > best_score) {
				best_score = distinct * (SNIP_TOKENS + 1) + (j - lo - first);
				best_col = c;
				best_first = off[first + lo];
				best_span = off[j] - off[first + lo] + 1;
			}
		}
		memset(cnt, 0, ((size_t)nphrase + 1) * sizeof(int));
		lo = j;
	}
	col = best_col;
	if (api->xColumnSize(fts, col, &ncol_tok) != SQLITE_OK)
		ncol_tok = 0;
	start = best_first - (SNIP_TOKENS - best_span) / 2;
	if (ncol_tok > 0 && start + SNIP_TOKENS > ncol_tok)
		start = ncol_tok - SNIP_TOKENS;
	if (start < 0)
		start = 0;
	memset(hit, 0, sizeof(hit));
	for (i = 0; i < ninst; i++) {
		int c;

		if (api->xInst(fts, i, &k, &c, &off[i]) == SQLITE_OK && c == col &&
		    off[i] >= start && off[i] < start + SNIP_TOKENS)
			hit[off[i] - start] = 1;
	}
	if (api->xColumnText(fts, col, &text, &text_len) != SQLITE_OK || text == NULL) {
		sqlite3_result_null(ctx);
		goto out;
	}
	memset(&t, 0, sizeof(t));
	t.start = start;
	rc = api->xTokenize(fts, text, text_len, &t, snip_token_cb);
	if (rc != SQLITE_OK && rc != SQLITE_DONE)
		goto fail;
	if (t.n == 0) {
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
		goto out;
	}
	if (start > 0)
		snip_put(o, "...", 3);
	for (i = 0; i < t.n; i++) {
		if (i > 0)
			snip_put(o, text + t.bend[i - 1], (size_t)(t.bstart[i] - t.bend[i - 1]));
		opened = hit[i] && !o->full && o->len < SNIP_MAX_BYTES;
		if (opened)
			snip_put(o, "[", 1);
		snip_put(o, text + t.bstart[i], (size_t)(t.bend[i] - t.bstart[i]));
		if (opened)
			o->buf[o->len++] = ']';	/* a bracket opened is closed (the slack holds it) */
	}
	if (!t.more)
		snip_put(o, text + t.bend[t.n - 1], (size_t)(text_len - t.bend[t.n - 1]));
	if (t.more || o->full) {
		memcpy(o->buf + o->len, "...", 3);
		o->len += 3;
	}
	sqlite3_result_text(ctx, o->buf, (int)o->len, SQLITE_TRANSIENT);
	goto out;
fail:
	sqlite3_result_error(ctx, "memory_snippet: cannot read the row", -1);
out:
	free(ph);
	free(off);
	free(cnt);
	free(o);
}

/* Register memory_bm25 on a connection. */
static int
rank_register(sqlite3 *db, struct agentd_error *err)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (api == NULL)
		return agentd_seterr(err, AGENTD_EUNAVAIL, "this SQLite has no FTS5");
	if (api->xCreateFunction(api, "memory_bm25", NULL, rank_fn, NULL) != SQLITE_OK ||
	    api->xCreateFunction(api, "memory_snippet", NULL, snippet_fn, NULL) != SQLITE_OK)
		return memory_sqlerr(db, SQLITE_ERROR, "registering memory_bm25", err);
	return AGENTD_OK;
}

/* ------------------------------------------------------------------ */
/* open / close / transactions                                        */

static int
pragma_text(sqlite3 *db, const char *sql, char *buf, size_t n, struct agentd_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *s = (const char *)sqlite3_column_text(st, 0);

			snprintf(buf, n, "%s", s != NULL ? s : "");
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			buf[0] = '\0';
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		rc = memory_sqlerr(db, rc, sql, err);
	sqlite3_finalize(st);
	return rc;
}

/* Close a connection we refuse to use without checkpointing anything into
 * the main file: a refused database keeps its bytes. */
static void
close_untouched(sqlite3 *db)
{
	if (db == NULL)
		return;
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	sqlite3_close(db);
}

/*
 * The journal is its user's alone, whatever the umask: a new database is
 * created 0600 (SQLite gives its -wal, -shm and -journal the database's
 * mode), and files of ours left open to others are made private.
 */
static int
journal_private(const char *path, struct agentd_error *err)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal", "-ends" };
	char p[PATH_MAX];
	struct stat sb;
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
		    (sb.st_mode & 077) && chmod(p, sb.st_mode & 0700) != 0)
			return agentd_seterr(err, AGENTD_EIO, "cannot make %s private: %s", p,
			    strerror(errno));
	}
	return AGENTD_OK;
}

/* fsync the directory that holds path (its new names made durable). */
int
memory_sync_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * A new journal, whole or not at all: the schema is written into a file
 * under a temporary name, made durable, and linked to path. A crash leaves
 * no journal or a complete one, never an empty file — so an empty agentd.db
 * can only come from outside, and is refused (open_db).
 */
static int
create_journal(const char *path, struct agentd_error *err)
{
	char tmp[PATH_MAX];
	sqlite3 *db = NULL;
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new-XXXXXX", path) >= sizeof(tmp))
		return agentd_seterr(err, AGENTD_EINVAL, "database path too long: %s", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return agentd_seterr(err, errno == ENOSPC ? AGENTD_ENOSPC : AGENTD_EIO,
		    "cannot create database %s: %s", path, strerror(errno));
	if (fchmod(fd, 0600) != 0) {
		rc = agentd_seterr(err, AGENTD_EIO, "cannot create database %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		rc = sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		rc = memory_sqlerr(db, rc, "creating the journal", err);
		goto fail;
	}
	if ((rc = memory_schema_migrate(db, err)) != AGENTD_OK)
		goto fail;
	if (sqlite3_close(db) != SQLITE_OK) {
		db = NULL;
		rc = agentd_seterr(err, AGENTD_EIO, "creating the journal: cannot close %s", tmp);
		goto fail;
	}
	db = NULL;
	/* link, not rename: a journal another process made meanwhile is kept (and used). */
	if (fsync(fd) != 0 || (link(tmp, path) != 0 && errno != EEXIST)) {
		rc = agentd_seterr(err, errno == ENOSPC ? AGENTD_ENOSPC : AGENTD_EIO,
		    "cannot create database %s: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	unlink(tmp);
	if (memory_sync_parent(path) != 0)
		return agentd_seterr(err, AGENTD_EIO, "cannot create database %s: %s", path,
		    strerror(errno));
	return AGENTD_OK;
fail:
	sqlite3_close(db);
	close(fd);
	unlink(tmp);
	return rc;
}

/*
 * SQLite maps the -shm file into memory and the -wal file is written in
 * place: one agentd cannot write (immutable, append-only, read-only) would
 * fail its writes at random, or, for the -shm, kill the process with SIGBUS.
 * Refused here, naming the file and the fix.
 */
static int
check_side_files(const char *path, struct agentd_error *err)
{
	static const char *const suffix[] = { "-shm", "-wal" };
	char p[PATH_MAX];
	struct stat sb;
	size_t i;
	int fd, flags;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		if (lstat(p, &sb) != 0)
			continue;
		if (!S_ISREG(sb.st_mode))
			return agentd_seterr(err, AGENTD_EIO, "%s is not a regular file; "
			    "refusing to use the journal", p);
		fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		flags = 0;
		if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0)
			flags = 0;
		if (fd >= 0)
			close(fd);
		if (flags & FS_IMMUTABLE_FL)
			return agentd_seterr(err, AGENTD_EIO, "%s is immutable: agentd cannot "
			    "use the journal (make it writable again: chattr -i %s)", p, p);
		if (flags & FS_APPEND_FL)
			return agentd_seterr(err, AGENTD_EIO, "%s is append-only: agentd cannot "
			    "use the journal (make it writable again: chattr -a %s)", p, p);
		fd = open(p, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return agentd_seterr(err, AGENTD_EIO, "%s cannot be written (%s): agentd "
			    "cannot use the journal (make it writable: chmod u+w %s)", p,
			    strerror(errno), p);
		close(fd);
	}
	return AGENTD_OK;
}

/* An empty database file, or a WAL without its database: never made by
 * agentd (create_journal), and SQLite would take either for a new journal,
 * deleting the WAL and what it holds. */
static int
refuse_foreign_empty(const char *path, int exists, const struct stat *sb,
    struct agentd_error *err)
{
	char wal[PATH_MAX];
	struct stat ws;
	int has_wal;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	has_wal = lstat(wal, &ws) == 0 && S_ISREG(ws.st_mode) && ws.st_size > 0;
	if (exists && sb->st_size == 0)
		return agentd_seterr(err, AGENTD_ECORRUPT, "database %s is empty (0 bytes)%s; "
		    "agentd never leaves a journal empty, and taking it for a new one would "
		    "lose %s; refusing to touch it", path,
		    has_wal ? ", though its -wal is not" : "",
		    has_wal ? "what the -wal holds" : "the journal it replaced");
	if (!exists && has_wal)
		return agentd_seterr(err, AGENTD_ECORRUPT, "database %s is missing but its "
		    "-wal (%lld bytes) is there; refusing to start a new journal over it", path,
		    (long long)ws.st_size);
	return AGENTD_OK;
}

/* full: the opening of the journal (checks, migrations); else another
 * connection to one already opened so. */
static int
open_db(const char *path, int full, struct memory **out, struct agentd_error *err)
{
	struct memory *m;
	struct stat sb;
	sqlite3 *db = NULL;
	char text[256];
	int exists, flags, rc, version;

	if (path == NULL || path[0] == '\0' || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_open: no database path");
	exists = stat(path, &sb) == 0;
	if (exists && !S_ISREG(sb.st_mode))
		return agentd_seterr(err, AGENTD_EIO, "database %s is not a regular file", path);
	if (exists && access(path, R_OK | W_OK) != 0)
		return agentd_seterr(err, AGENTD_EIO, "database %s is not writable: %s", path,
		    strerror(errno));
	if ((rc = refuse_foreign_empty(path, exists, &sb, err)) != AGENTD_OK)
		return rc;
	if ((rc = journal_private(path, err)) != AGENTD_OK)
		return rc;
	/* Only before the process has a connection (memory_open): closing a
	 * descriptor of -shm or -wal drops every POSIX lock this process holds
	 * on it, SQLite's included, and a connection opened later could then
	 * take the file for its own and truncate it under the others' map. */
	if (full && (rc = check_side_files(path, err)) != AGENTD_OK)
		return rc;
	if (!exists && full) {
		if ((rc = create_journal(path, err)) != AGENTD_OK)
			return rc;
		exists = 1;
	}
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		char what[300];

		snprintf(what, sizeof(what), "cannot open database %s", path);
		rc = memory_sqlerr(db, rc, what, err);
		close_untouched(db);
		if (rc != AGENTD_ECORRUPT && rc != AGENTD_ENOSPC && rc != AGENTD_ENOMEM) {
			rc = AGENTD_EIO;
			if (err != NULL)
				err->code = rc;
		}
		return rc;
	}
	sqlite3_extended_result_codes(db, 1);
	if (sqlite3_db_readonly(db, "main") == 1) {
		close_untouched(db);
		return agentd_seterr(err, AGENTD_EIO, "database %s is read-only", path);
	}
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto refuse_sql;
	/* Checks that only read: a foreign or damaged file is never written. */
	rc = pragma_text(db, "PRAGMA user_version", text, sizeof(text), err);
	if (rc != AGENTD_OK) {
		if (rc == AGENTD_ECORRUPT)
			agentd_seterr(err, AGENTD_ECORRUPT,
			    "%s is not an agentd database (%s); refusing to touch it", path,
			    sqlite3_errmsg(db));
		close_untouched(db);
		return rc;
	}
	version = atoi(text);
	if (version > MEMORY_SCHEMA_VERSION || version < 0) {
		close_untouched(db);
		return agentd_seterr(err, AGENTD_ECORRUPT,
		    "database schema version %d is newer than this agentd (%d); refusing to touch it",
		    version, MEMORY_SCHEMA_VERSION);
	}
	if (!full && version != MEMORY_SCHEMA_VERSION) {
		close_untouched(db);
		return agentd_seterr(err, AGENTD_ECORRUPT, "database %s has schema version %d, "
		    "not %d: it was not opened with memory_open first", path, version,
		    MEMORY_SCHEMA_VERSION);
	}
	if (exists && full) {
		rc = pragma_text(db, "PRAGMA quick_check", text, sizeof(text), err);
		if (rc != AGENTD_OK || strcmp(text, "ok") != 0) {
			if (rc == AGENTD_OK || rc == AGENTD_ECORRUPT || rc == AGENTD_EDB)
				rc = agentd_seterr(err, AGENTD_ECORRUPT,
				    "database %s failed its integrity check (%s); refusing to touch it",
				    path, rc == AGENTD_OK ? text : sqlite3_errmsg(db));
			close_untouched(db);
			return rc;
		}
	}
	rc = pragma_text(db, "PRAGMA journal_mode=WAL", text, sizeof(text), err);
	if (rc != AGENTD_OK) {
		close_untouched(db);
		return rc;
	}
	if (strcmp(text, "wal") != 0) {
		close_untouched(db);
		return agentd_seterr(err, AGENTD_EIO, "database %s: cannot use WAL mode (got %s)", path,
		    text);
	}
	rc = sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto refuse_sql;
	/* Keep the WAL small: checkpoint every MEMORY_WAL_PAGES pages (SQLite's
	 * 1000 let it reach 4 MiB, a small disk's worth) and cut the file back to
	 * MEMORY_WAL_LIMIT bytes whenever it starts over. */
	rc = sqlite3_exec(db, "PRAGMA wal_autocheckpoint=" MEMORY_STR(MEMORY_WAL_PAGES) ";"
	    "PRAGMA journal_size_limit=" MEMORY_STR(MEMORY_WAL_LIMIT), NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto refuse_sql;
	if (version < MEMORY_SCHEMA_VERSION) {
		rc = memory_schema_migrate(db, err);
		if (rc != AGENTD_OK) {
			sqlite3_close(db);
			return rc;
		}
	}
	if ((rc = rank_register(db, err)) != AGENTD_OK) {
		sqlite3_close(db);
		return rc;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		sqlite3_close(db);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	m->db = db;
	*out = m;
	return AGENTD_OK;

refuse_sql:
	rc = memory_sqlerr(db, rc, path, err);
	close_untouched(db);
	return rc;
}

int
memory_set_aside(const char *path, char *aside, size_t aside_len, struct agentd_error *err)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal", "-ends" };
	char base[PATH_MAX], from[PATH_MAX], to[PATH_MAX + 16], stamp[32];
	struct stat sb;
	struct tm tm;
	time_t now = time(NULL);
	size_t i;
	int n, any = 0;

	if (path == NULL || path[0] == '\0')
		return agentd_seterr(err, AGENTD_EINVAL, "memory_set_aside: no database path");
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* A name none of the files has yet. */
	for (n = 0; n < 100; n++) {
		int taken = 0;

		if (n == 0)
			snprintf(base, sizeof(base), "%s.%s", path, stamp);
		else
			snprintf(base, sizeof(base), "%s.%s.%d", path, stamp, n);
		for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]) && !taken; i++) {
			snprintf(to, sizeof(to), "%s%s", base, suffix[i]);
			taken = lstat(to, &sb) == 0;
		}
		if (!taken)
			break;
	}
	if (n == 100)
		return agentd_seterr(err, AGENTD_EEXIST, "no free name to set %s aside", path);
	/* The database last: until it moves, the journal is still whole where it was. */
	for (i = sizeof(suffix) / sizeof(suffix[0]); i-- > 0; ) {
		snprintf(from, sizeof(from), "%s%s", path, suffix[i]);
		snprintf(to, sizeof(to), "%s%s", base, suffix[i]);
		if (lstat(from, &sb) != 0)
			continue;
		if (rename(from, to) != 0)
			return agentd_seterr(err, AGENTD_EIO, "cannot move %s to %s: %s", from, to,
			    strerror(errno));
		any = 1;
	}
	if (any && memory_sync_parent(path) != 0)
		return agentd_seterr(err, AGENTD_EIO, "cannot set %s aside: %s", path, strerror(errno));
	if (!any)
		return agentd_seterr(err, AGENTD_ENOTFOUND, "%s: no journal to set aside", path);
	if (aside != NULL && aside_len > 0)
		snprintf(aside, aside_len, "%s", base);
	return AGENTD_OK;
}

int
memory_open(const char *path, struct memory **out, struct agentd_error *err)
{
	return open_db(path, 1, out, err);
}

int
memory_open_more(const char *path, struct memory **out, struct agentd_error *err)
{
	return open_db(path, 0, out, err);
}

struct memory_stop {
	int (*fn)(void *ud);
	void *ud;
};

static int
progress_cb(void *ud)
{
	struct memory_stop *st = ud;

	return st->fn(st->ud) ? 1 : 0;
}

void
memory_set_interrupt(struct memory *m, int (*stop)(void *ud), void *ud)
{
	if (m == NULL)
		return;
	if (stop == NULL) {
		sqlite3_progress_handler(m->db, 0, NULL, NULL);
		free(m->stop);
		m->stop = NULL;
		return;
	}
	if (m->stop == NULL && (m->stop = malloc(sizeof(*m->stop))) == NULL)
		return;
	m->stop->fn = stop;
	m->stop->ud = ud;
	sqlite3_progress_handler(m->db, 4096, progress_cb, m->stop);
}

void
memory_close(struct memory *m)
{
	int i;

	if (m == NULL)
		return;
	if (m->depth > 0 && !sqlite3_get_autocommit(m->db))
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(m->stmt[i]);
	sqlite3_close(m->db);
	free(m->stop);
	free(m);
}

int
memory_checkpoint(struct memory *m, struct agentd_error *err)
{
	int rc, nlog = 0, nckpt = 0;

	if (m == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no database");
	rc = sqlite3_wal_checkpoint_v2(m->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return agentd_seterr(err, AGENTD_EBUSY, "checkpoint: the journal is busy");
	if (rc != SQLITE_OK)
		return memory_sqlerr(m->db, rc, "checkpoint", err);
	return AGENTD_OK;
}

int
memory_integrity_check(struct memory *m, struct agentd_error *err)
{
	char text[256];
	int rc;

	if (m == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no database");
	rc = pragma_text(m->db, "PRAGMA integrity_check", text, sizeof(text), err);
	if (rc != AGENTD_OK)
		return rc;
	if (strcmp(text, "ok") != 0)
		return agentd_seterr(err, AGENTD_ECORRUPT, "integrity check failed: %s", text);
	return AGENTD_OK;
}

int
memory_begin(struct memory *m, struct agentd_error *err)
{
	int rc;

	if (m == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no database");
	if (m->depth == 0) {
		/* IMMEDIATE takes the write lock now, through the busy timeout,
		 * instead of failing later when a read is upgraded. */
		rc = sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return memory_sqlerr(m->db, rc, "starting a transaction", err);
		m->aborted = 0;
	} else if (!m->aborted) {
		rc = sqlite3_exec(m->db, "SAVEPOINT memory_sp", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return dberr(m, rc, "starting a nested transaction", err);
	}
	m->depth++;
	return AGENTD_OK;
}

static void
txn_ended(struct memory *m, int committed)
{
	if (m->txn_hook != NULL)
		m->txn_hook(m->txn_ud, m->depth, committed);
}

int
memory_txn_depth(const struct memory *m)
{
	return m != NULL ? m->depth : 0;
}

void
memory_set_txn_hook(struct memory *m, void (*fn)(void *ud, int depth, int committed), void *ud)
{
	if (m == NULL)
		return;
	m->txn_hook = fn;
	m->txn_ud = ud;
}

int
memory_commit(struct memory *m, struct agentd_error *err)
{
	int rc;

	if (m == NULL || m->depth == 0)
		return agentd_seterr(err, AGENTD_EINVAL, "commit without a transaction");
	m->depth--;
	if (m->aborted) {
		if (m->depth == 0)
			m->aborted = 0;
		txn_ended(m, 0);
		return agentd_seterr(err, AGENTD_EDB,
		    "the transaction was rolled back after an earlier error");
	}
	if (m->depth > 0) {
		rc = sqlite3_exec(m->db, "RELEASE memory_sp", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			txn_ended(m, 0);
			return dberr(m, rc, "committing a nested transaction", err);
		}
		txn_ended(m, 1);
		return AGENTD_OK;
	}
	rc = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int ret = memory_sqlerr(m->db, rc, "committing", err);

		if (!sqlite3_get_autocommit(m->db))
			sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
		txn_ended(m, 0);
		return ret;
	}
	txn_ended(m, 1);
	return AGENTD_OK;
}

void
memory_rollback(struct memory *m)
{
	if (m == NULL || m->depth == 0)
		return;
	m->depth--;
	if (m->aborted) {
		if (m->depth == 0)
			m->aborted = 0;
		txn_ended(m, 0);
		return;
	}
	if (m->depth == 0) {
		if (!sqlite3_get_autocommit(m->db))
			sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
		txn_ended(m, 0);
		return;
	}
	if (sqlite3_exec(m->db, "ROLLBACK TO memory_sp; RELEASE memory_sp", NULL, NULL, NULL) !=
	    SQLITE_OK && sqlite3_get_autocommit(m->db))
		m->aborted = 1;
	txn_ended(m, 0);
}

/* Finish a write started with memory_begin: commit on success, else roll
 * back, keeping the first error. */
static int
finish(struct memory *m, int ret, struct agentd_error *err)
{
	if (ret == AGENTD_OK)
		return memory_commit(m, err);
	memory_rollback(m);
	return ret;
}

/* ------------------------------------------------------------------ */
/* workspace tags for recall                                          */

/* One FTS token standing for a workspace: "w" and 16 hex digits of the
 * SHA-256 of its path. Stored with each indexed row, added to queries. */
#define WS_TAG_LEN 18

static void
ws_tag(const char *ws, char out[WS_TAG_LEN])
{
	struct memory_sha256 c;
	char hex[65];

	memory_sha256_init(&c);
	memory_sha256_update(&c, ws, strlen(ws));
	memory_sha256_hex(&c, hex);
	out[0] = 'w';
	memcpy(out + 1, hex, 16);
	out[17] = '\0';
}

/* The tag of the workspace of session or run `id` (`which` is ST_SESSION_WS
 * or ST_RUN_WS): *has 0 when it has no workspace; ENOTFOUND when no row. */
static int
lookup_ws(struct memory *m, enum memory_stmt which, int64_t id, char tag[WS_TAG_LEN], int *has,
    struct agentd_error *err)
{
	sqlite3_stmt *st = stmt(m, which, err);
	const char *ws;
	int ret;

	if (st == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, id);
	ret = step_row(m, st, which == ST_SESSION_WS ? "session" : "run", err);
	if (ret == AGENTD_ENOTFOUND)
		return agentd_seterr(err, ret, "no %s %lld", which == ST_SESSION_WS ? "session" : "run",
		    (long long)id);
	if (ret != AGENTD_OK)
		return ret;
	ws = (const char *)sqlite3_column_text(st, 0);
	*has = ws != NULL;
	if (ws != NULL)
		ws_tag(ws, tag);
	sqlite3_reset(st);
	return AGENTD_OK;
}

/* ------------------------------------------------------------------ */
/* sessions                                                           */

int
memory_session_create(struct memory *m, const char *title, const char *workspace, int64_t *id,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	int64_t rowid = 0;
	int ret;

	if ((ret = check_text("title", title, 4096, 0, err)) != AGENTD_OK ||
	    (ret = check_text("workspace", workspace, 4096, 0, err)) != AGENTD_OK)
		return ret;
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_SESSION_INSERT, err)) == NULL)
		return finish(m, m->prep_err, err);
	bind_text(st, 1, title);
	bind_text(st, 2, workspace);
	sqlite3_bind_double(st, 3, ajson_now());
	ret = exec_done(m, st, "creating a session", err);
	if (ret == AGENTD_OK)
		rowid = sqlite3_last_insert_rowid(m->db);
	ret = finish(m, ret, err);
	if (ret == AGENTD_OK && id != NULL)
		*id = rowid;
	return ret;
}

int
memory_session_get(struct memory *m, int64_t id, json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_session_get: bad arguments");
	if ((st = stmt(m, ST_SESSION_GET, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, id);
	return fetch_one(m, st, session_row, "session", out, err);
}

int
memory_session_list(struct memory *m, const char *workspace, int limit, json_t **out,
    struct agentd_error *err)
{
	sqlite3_stmt *st;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_session_list: bad arguments");
	st = stmt(m, workspace != NULL ? ST_SESSION_LIST_WS : ST_SESSION_LIST, err);
	if (st == NULL)
		return m->prep_err;
	sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
	if (workspace != NULL)
		bind_text(st, 2, workspace);
	return collect(m, st, session_row, "listing sessions", out, err);
}

int
memory_session_delete(struct memory *m, int64_t id, struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_SESSION_DELETE, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, id);
	ret = exec_done(m, st, "deleting a session", err);
	if (ret == AGENTD_OK && sqlite3_changes(m->db) == 0)
		ret = agentd_seterr(err, AGENTD_ENOTFOUND, "no session %lld", (long long)id);
	return finish(m, ret, err);
}

/* ------------------------------------------------------------------ */
/* runs                                                               */

static int
touch_run_session(struct memory *m, int64_t run_id, double now, struct agentd_error *err)
{
	sqlite3_stmt *st = stmt(m, ST_SESSION_TOUCH_RUN, err);

	if (st == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_double(st, 2, now);
	return exec_done(m, st, "updating the session", err);
}

int
memory_run_create(struct memory *m, const struct memory_run_spec *spec, int64_t *id,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	char *options = NULL;
	int64_t rowid = 0;
	double now = ajson_now();
	int ret;

	if (m == NULL || spec == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_run_create: bad arguments");
	if ((ret = check_text("workspace", spec->workspace, 4096, 0, err)) != AGENTD_OK ||
	    (ret = check_text("task", spec->task, MEMORY_MAX_TEXT, 0, err)) != AGENTD_OK ||
	    (ret = check_text("branch", spec->branch, 1024, 0, err)) != AGENTD_OK)
		return ret;
	if (spec->options != NULL && !json_is_object(spec->options))
		return agentd_seterr(err, AGENTD_EINVAL, "run options must be an object");
	if (spec->options != NULL && (options = ajson_dumps(spec->options)) == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (options != NULL && strlen(options) > MEMORY_MAX_TEXT) {
		free(options);
		return agentd_seterr(err, AGENTD_ETOOBIG, "run options are too large");
	}
	if ((ret = memory_begin(m, err)) != AGENTD_OK) {
		free(options);
		return ret;
	}
	if ((st = stmt(m, ST_RUN_INSERT, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	sqlite3_bind_int64(st, 1, spec->session_id);
	bind_text(st, 2, spec->workspace);
	bind_text(st, 3, spec->task);
	bind_text(st, 4, spec->branch);
	bind_text(st, 5, options);
	bind_ref(st, 6, spec->job_id);
	sqlite3_bind_double(st, 7, now);
	ret = exec_done(m, st, "creating a run", err);
	if (ret == AGENTD_ENOTFOUND)
		agentd_seterr(err, ret, "creating a run: no session %lld or job %lld",
		    (long long)spec->session_id, (long long)spec->job_id);
	if (ret == AGENTD_OK) {
		rowid = sqlite3_last_insert_rowid(m->db);
		ret = touch_run_session(m, rowid, now, err);
	}
out:
	ret = finish(m, ret, err);
	free(options);
	if (ret == AGENTD_OK && id != NULL)
		*id = rowid;
	return ret;
}

/* Run one UPDATE on a run by id inside a transaction; ENOTFOUND when no row. */
static int
run_update(struct memory *m, sqlite3_stmt *st, int64_t id, const char *what, int touch,
    struct agentd_error *err)
{
	int ret = exec_done(m, st, what, err);

	if (ret == AGENTD_OK && sqlite3_changes(m->db) == 0)
		ret = agentd_seterr(err, AGENTD_ENOTFOUND, "no run %lld", (long long)id);
	if (ret == AGENTD_OK && touch)
		ret = touch_run_session(m, id, ajson_now(), err);
	return finish(m, ret, err);
}

int
memory_run_set_status(struct memory *m, int64_t id, const char *status, const char *reason,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if (!in_list(status, run_states))
		return agentd_seterr(err, AGENTD_EINVAL, "unknown run status '%s'",
		    status != NULL ? status : "(null)");
	if ((ret = check_text("reason", reason, 65536, 0, err)) != AGENTD_OK)
		return ret;
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_RUN_STATUS, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, status);
	bind_text(st, 3, reason);
	sqlite3_bind_double(st, 4, ajson_now());
	return run_update(m, st, id, "setting a run's status", 1, err);
}

int
memory_run_set_text(struct memory *m, int64_t id, const char *field, const char *value,
    struct agentd_error *err)
{
	static const struct {
		const char *name;
		enum memory_stmt st;
	} fields[] = {
		{ "branch", ST_RUN_SET_BRANCH }, { "base_oid", ST_RUN_SET_BASE_OID },
		{ "worktree", ST_RUN_SET_WORKTREE }, { "reason", ST_RUN_SET_REASON },
		{ "end_oid", ST_RUN_SET_END_OID }, { "start_state", ST_RUN_SET_START },
	};
	sqlite3_stmt *st;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (field != NULL && strcmp(field, fields[i].name) == 0)
			break;
	if (i == sizeof(fields) / sizeof(fields[0]))
		return agentd_seterr(err, AGENTD_EINVAL, "run field '%s' cannot be set",
		    field != NULL ? field : "(null)");
	if ((ret = check_text(field, value, 65536, 0, err)) != AGENTD_OK)
		return ret;
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, fields[i].st, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, value);
	return run_update(m, st, id, "setting a run field", 0, err);
}

int
memory_run_add_usage(struct memory *m, int64_t id, int64_t prompt_tokens,
    int64_t completion_tokens, int steps, struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if (prompt_tokens < 0 || completion_tokens < 0 || steps < 0)
		return agentd_seterr(err, AGENTD_EINVAL, "usage counts must not be negative");
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_RUN_USAGE, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, prompt_tokens);
	sqlite3_bind_int64(st, 3, completion_tokens);
	sqlite3_bind_int(st, 4, steps);
	return run_update(m, st, id, "adding a run's usage", 0, err);
}

int
memory_run_set_active(struct memory *m, int64_t id, double seconds, struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if (!(seconds >= 0 && seconds < 1e12))
		return agentd_seterr(err, AGENTD_EINVAL, "a run's active time must be a "
		    "non-negative number of seconds");
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_RUN_SET_ACTIVE, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_double(st, 2, seconds);
	return run_update(m, st, id, "setting a run's active time", 0, err);
}

/* A run's kept end (memory_ends_add) shown in obj instead of a stored
 * status that is not final: the run's id under id_key, its status under
 * status_key, the reason under reason_key (NULL: none). 1 when shown. */
static int
show_kept_end_as(struct memory *m, json_t *obj, const char *id_key, const char *status_key,
    const char *reason_key)
{
	static const char *const open_states[] = { "queued", "running", "interrupted", NULL };
	char status[16], reason[512];

	if (m->ends == NULL || !in_list(ajson_str(obj, status_key, ""), open_states) ||
	    !memory_ends_lookup(m->ends, ajson_int(obj, id_key, 0), status, reason, sizeof(reason)))
		return 0;
	json_object_set_new(obj, status_key, json_string(status));
	if (reason_key != NULL)
		json_object_set_new(obj, reason_key, ajson_string_lossy(reason, strlen(reason)));
	return 1;
}

static int
show_kept_end(struct memory *m, json_t *run)
{
	return show_kept_end_as(m, run, "id", "status", "reason");
}

int
memory_run_get(struct memory *m, int64_t id, json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st;
	json_t *run = NULL;
	int ret;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_run_get: bad arguments");
	if ((st = stmt(m, ST_RUN_GET, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, id);
	ret = fetch_one(m, st, run_row, "run", &run, err);
	if (ret == AGENTD_OK) {
		show_kept_end(m, run);
		*out = run;
	}
	return ret;
}

static int
by_id_desc(const void *a, const void *b)
{
	json_int_t x = ajson_int(*(json_t *const *)a, "id", 0), y = ajson_int(*(json_t *const *)b, "id", 0);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* A listing by status also holds the runs whose end waits beside the
 * journal with that status (stored, they still say running): newest
 * first, within the limit. */
static int
add_kept_runs(struct memory *m, const struct memory_run_filter *f, json_t *runs,
    struct agentd_error *err)
{
	int64_t ids[MEMORY_ENDS_SLOTS];
	size_t n = memory_ends_ids(m->ends, f->status, ids, MEMORY_ENDS_SLOTS), i, k, total;
	size_t limit = (size_t)(f->limit > 0 ? f->limit : 100);
	json_t **v, *run;
	int added = 0, ret;

	for (i = 0; i < n; i++) {
		for (k = 0; k < json_array_size(runs); k++)
			if (ajson_int(json_array_get(runs, k), "id", 0) == ids[i])
				break;
		if (k < json_array_size(runs))
			continue;
		run = NULL;
		if ((ret = memory_run_get(m, ids[i], &run, err)) == AGENTD_ENOTFOUND) {
			agentd_error_clear(err);
			continue;
		}
		if (ret != AGENTD_OK)
			return ret;
		if (strcmp(ajson_str(run, "status", ""), f->status) != 0 ||
		    (f->session_id != 0 && ajson_int(run, "session_id", 0) != f->session_id) ||
		    (f->job_id != 0 && ajson_int(run, "job_id", 0) != f->job_id)) {
			json_decref(run);
			continue;
		}
		json_array_append_new(runs, run);
		added = 1;
	}
	if (!added)
		return AGENTD_OK;
	total = json_array_size(runs);
	if ((v = malloc(total * sizeof(*v))) == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	for (i = 0; i < total; i++)
		v[i] = json_incref(json_array_get(runs, i));
	qsort(v, total, sizeof(*v), by_id_desc);
	json_array_clear(runs);
	for (i = 0; i < total; i++)
		if (i >= limit || json_array_append_new(runs, v[i]) != 0)
			json_decref(v[i]);
	free(v);
	return AGENTD_OK;
}

int
memory_run_list(struct memory *m, const struct memory_run_filter *f, json_t **out,
    struct agentd_error *err)
{
	static const struct memory_run_filter none = { 0 };
	enum memory_stmt id;
	sqlite3_stmt *st;
	json_t *runs = NULL, *run;
	size_t i;
	int ret;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_run_list: bad arguments");
	if (f == NULL)
		f = &none;
	if (f->status != NULL && !in_list(f->status, run_states))
		return agentd_seterr(err, AGENTD_EINVAL, "unknown run status '%s'", f->status);
	/* Lead with the most selective indexed filter. */
	if (f->session_id != 0)
		id = ST_RUN_LIST_SESSION;
	else if (f->job_id != 0)
		id = ST_RUN_LIST_JOB;
	else if (f->status != NULL)
		id = ST_RUN_LIST_STATUS;
	else
		id = ST_RUN_LIST;
	if ((st = stmt(m, id, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int(st, 1, f->limit > 0 ? f->limit : 100);
	if (id != ST_RUN_LIST) {
		if (id == ST_RUN_LIST_SESSION)
			sqlite3_bind_int64(st, 2, f->session_id);
		bind_text(st, 3, f->status);
		if (id != ST_RUN_LIST_STATUS)
			sqlite3_bind_int64(st, 4, f->job_id);
	}
	ret = collect(m, st, run_row, "listing runs", &runs, err);
	if (ret != AGENTD_OK)
		return ret;
	for (i = 0; i < json_array_size(runs); ) {
		run = json_array_get(runs, i);
		if (show_kept_end(m, run) && f->status != NULL &&
		    strcmp(ajson_str(run, "status", ""), f->status) != 0)
			json_array_remove(runs, i);	/* listed by the status it no longer shows */
		else
			i++;
	}
	if (f->status != NULL && m->ends != NULL &&
	    (ret = add_kept_runs(m, f, runs, err)) != AGENTD_OK) {
		json_decref(runs);
		return ret;
	}
	*out = runs;
	return AGENTD_OK;
}

/* ------------------------------------------------------------------ */
/* messages                                                           */

int
memory_msg_add(struct memory *m, int64_t session_id, const struct memory_msg *msg, int64_t *seq,
    struct agentd_error *err)
{
	static const char *const roles[] = { "system", "user", "assistant", "tool", NULL };
	static const char *const kinds[] = { "message", "summary", NULL };
	const char *kind;
	char *calls = NULL, tag[WS_TAG_LEN];
	sqlite3_stmt *st;
	int64_t next = 0;
	double now = ajson_now();
	int ret, has_ws = 0;

	if (m == NULL || msg == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_msg_add: bad arguments");
	kind = msg->kind != NULL ? msg->kind : "message";
	if (!in_list(msg->role, roles))
		return agentd_seterr(err, AGENTD_EINVAL, "unknown message role '%s'",
		    msg->role != NULL ? msg->role : "(null)");
	if (!in_list(kind, kinds))
		return agentd_seterr(err, AGENTD_EINVAL, "unknown message kind '%s'", kind);
	if ((ret = check_text("content", msg->content, MEMORY_MAX_TEXT, 0, err)) != AGENTD_OK ||
	    (ret = check_text("reasoning", msg->reasoning, MEMORY_MAX_TEXT, 0, err)) != AGENTD_OK ||
	    (ret = check_text("tool_call_id", msg->tool_call_id, 256, 0, err)) != AGENTD_OK)
		return ret;
	if (strcmp(msg->role, "tool") == 0 && msg->tool_call_id == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "a tool message needs its tool_call_id");
	if (msg->tool_calls != NULL && !json_is_null(msg->tool_calls)) {
		if (!json_is_array(msg->tool_calls))
			return agentd_seterr(err, AGENTD_EINVAL, "tool_calls must be an array");
		if ((calls = ajson_dumps(msg->tool_calls)) == NULL)
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		if (strlen(calls) > MEMORY_MAX_TEXT) {
			free(calls);
			return agentd_seterr(err, AGENTD_ETOOBIG, "tool_calls are too large");
		}
	}
	if ((ret = memory_begin(m, err)) != AGENTD_OK) {
		free(calls);
		return ret;
	}
	if (msg->run_id != 0) {
		/* A message's run belongs to the same session. */
		if ((st = stmt(m, ST_RUN_SESSION, err)) == NULL) {
			ret = m->prep_err;
			goto out;
		}
		sqlite3_bind_int64(st, 1, msg->run_id);
		if ((ret = step_row(m, st, "message's run", err)) != AGENTD_OK)
			goto out;
		if (sqlite3_column_int64(st, 0) != session_id)
			ret = agentd_seterr(err, AGENTD_EINVAL, "run %lld is not in session %lld",
			    (long long)msg->run_id, (long long)session_id);
		sqlite3_reset(st);
		if (ret != AGENTD_OK)
			goto out;
	}
	if ((ret = lookup_ws(m, ST_SESSION_WS, session_id, tag, &has_ws, err)) != AGENTD_OK)
		goto out;
	if ((st = stmt(m, ST_MSG_NEXT_SEQ, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	sqlite3_bind_int64(st, 1, session_id);
	if ((ret = step_row(m, st, "next message number", err)) != AGENTD_OK)
		goto out;
	next = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((st = stmt(m, ST_MSG_INSERT, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int64(st, 2, next);
	bind_ref(st, 3, msg->run_id);
	bind_text(st, 4, msg->role);
	bind_text(st, 5, msg->content);
	bind_text(st, 6, calls);
	bind_text(st, 7, msg->tool_call_id);
	bind_text(st, 8, msg->reasoning);
	sqlite3_bind_int(st, 9, msg->step);
	bind_text(st, 10, kind);
	if (strcmp(kind, "summary") == 0)
		sqlite3_bind_int64(st, 11, msg->covers_seq);
	sqlite3_bind_double(st, 12, now);
	bind_text(st, 13, has_ws ? tag : NULL);
	ret = exec_done(m, st, "adding a message", err);
	if (ret == AGENTD_ENOTFOUND)
		agentd_seterr(err, ret, "adding a message: no session %lld", (long long)session_id);
	if (ret == AGENTD_OK) {
		if ((st = stmt(m, ST_SESSION_TOUCH, err)) == NULL) {
			ret = m->prep_err;
			goto out;
		}
		sqlite3_bind_int64(st, 1, session_id);
		sqlite3_bind_double(st, 2, now);
		ret = exec_done(m, st, "updating the session", err);
	}
out:
	ret = finish(m, ret, err);
	free(calls);
	if (ret == AGENTD_OK && seq != NULL)
		*seq = next;
	return ret;
}

static int
msg_list(struct memory *m, int64_t session_id, int64_t after_seq, int64_t limit, json_t **out,
    struct agentd_error *err)
{
	sqlite3_stmt *st;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_msg_list: bad arguments");
	if ((st = stmt(m, ST_MSG_LIST, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int64(st, 2, after_seq);
	sqlite3_bind_int64(st, 3, limit);
	return collect(m, st, msg_row, "listing messages", out, err);
}

int
memory_msg_list(struct memory *m, int64_t session_id, int64_t after_seq, json_t **out,
    struct agentd_error *err)
{
	return msg_list(m, session_id, after_seq, -1, out, err);
}

int
memory_msg_page(struct memory *m, int64_t session_id, int64_t after_seq, int64_t limit,
    json_t **out, struct agentd_error *err)
{
	if (limit <= 0)
		return agentd_seterr(err, AGENTD_EINVAL, "a page holds at least one message");
	return msg_list(m, session_id, after_seq, limit, out, err);
}

int
memory_msg_last_summary(struct memory *m, int64_t session_id, json_t **out,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	json_t *o = NULL;
	int ret;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_msg_last_summary: bad arguments");
	if ((st = stmt(m, ST_MSG_LAST_SUMMARY, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, session_id);
	ret = fetch_one(m, st, msg_row, "summary", &o, err);
	if (ret == AGENTD_ENOTFOUND) {
		agentd_error_clear(err);
		ret = AGENTD_OK;
	}
	if (ret == AGENTD_OK)
		*out = o;
	return ret;
}

/* ------------------------------------------------------------------ */
/* tool calls                                                         */

int
memory_tool_add(struct memory *m, int64_t run_id, const char *call_id, const char *name,
    const char *arguments, int read_only, int step, struct agentd_error *err)
{
	char tag[WS_TAG_LEN];
	sqlite3_stmt *st;
	int ret, has_ws = 0;

	if ((ret = check_text("call id", call_id, 256, 1, err)) != AGENTD_OK ||
	    (ret = check_text("tool name", name, 256, 1, err)) != AGENTD_OK ||
	    (ret = check_text("arguments", arguments, MEMORY_MAX_TEXT, 0, err)) != AGENTD_OK)
		return ret;
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((ret = lookup_ws(m, ST_RUN_WS, run_id, tag, &has_ws, err)) != AGENTD_OK)
		return finish(m, ret, err);
	if ((st = stmt(m, ST_TOOL_INSERT, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, call_id);
	bind_text(st, 3, name);
	bind_text(st, 4, arguments);
	sqlite3_bind_int(st, 5, read_only != 0);
	sqlite3_bind_int(st, 6, step);
	sqlite3_bind_double(st, 7, ajson_now());
	bind_text(st, 8, has_ws ? tag : NULL);
	ret = exec_done(m, st, "recording a tool call", err);
	if (ret == AGENTD_ENOTFOUND)
		agentd_seterr(err, ret, "recording a tool call: no run %lld", (long long)run_id);
	else if (ret == AGENTD_EEXIST)
		agentd_seterr(err, ret, "tool call %s of run %lld is already recorded", call_id,
		    (long long)run_id);
	return finish(m, ret, err);
}

/* Why an update of a tool call changed nothing: unknown or already finished. */
static int
tool_unchanged(struct memory *m, int64_t run_id, const char *call_id, struct agentd_error *err)
{
	sqlite3_stmt *st = stmt(m, ST_TOOL_STATUS, err);
	int ret;

	if (st == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, call_id);
	ret = step_row(m, st, "tool call", err);
	if (ret == AGENTD_ENOTFOUND)
		return agentd_seterr(err, ret, "no tool call %s in run %lld", call_id,
		    (long long)run_id);
	if (ret != AGENTD_OK)
		return ret;
	sqlite3_reset(st);
	return agentd_seterr(err, AGENTD_EINVAL, "tool call %s of run %lld is already finished",
	    call_id, (long long)run_id);
}

int
memory_tool_started(struct memory *m, int64_t run_id, const char *call_id,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if ((ret = check_text("call id", call_id, 256, 1, err)) != AGENTD_OK)
		return ret;
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_TOOL_STARTED, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, call_id);
	sqlite3_bind_double(st, 3, ajson_now());
	ret = exec_done(m, st, "marking a tool call started", err);
	if (ret == AGENTD_OK && sqlite3_changes(m->db) == 0)
		ret = tool_unchanged(m, run_id, call_id, err);
	return finish(m, ret, err);
}

int
memory_tool_finished(struct memory *m, int64_t run_id, const char *call_id, const char *result,
    int ok, struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if ((ret = check_text("call id", call_id, 256, 1, err)) != AGENTD_OK ||
	    (ret = check_text("result", result, MEMORY_MAX_TEXT, 0, err)) != AGENTD_OK)
		return ret;
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_TOOL_FINISHED, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, call_id);
	bind_text(st, 3, result);
	sqlite3_bind_int(st, 4, ok != 0);
	sqlite3_bind_double(st, 5, ajson_now());
	ret = exec_done(m, st, "marking a tool call finished", err);
	if (ret == AGENTD_OK && sqlite3_changes(m->db) == 0)
		ret = tool_unchanged(m, run_id, call_id, err);
	return finish(m, ret, err);
}

static json_t *
tool_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "id", col_text(st, 0));
	o = obj_set(o, "run_id", col_int(st, 1));
	o = obj_set(o, "name", col_text(st, 2));
	o = obj_set(o, "arguments", col_text(st, 3));
	o = obj_set(o, "status", col_text(st, 4));
	o = obj_set(o, "result", col_text(st, 5));
	o = obj_set(o, "ok", col_bool(st, 6));
	o = obj_set(o, "read_only", col_bool(st, 7));
	o = obj_set(o, "started", col_real(st, 8));
	o = obj_set(o, "finished", col_real(st, 9));
	o = obj_set(o, "step", col_int(st, 10));
	return o;
}

int
memory_tool_list(struct memory *m, int64_t run_id, json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_tool_list: bad arguments");
	if ((st = stmt(m, ST_TOOL_LIST, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, run_id);
	return collect(m, st, tool_row, "listing tool calls", out, err);
}

/* ------------------------------------------------------------------ */
/* plans                                                              */

int
memory_plan_add(struct memory *m, int64_t run_id, json_t *plan, int *version,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	char *text;
	int next = 0, ret;

	if (m == NULL || plan == NULL || !(json_is_object(plan) || json_is_array(plan)))
		return agentd_seterr(err, AGENTD_EINVAL, "a plan must be a JSON object or array");
	if ((text = ajson_dumps(plan)) == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (strlen(text) > MEMORY_MAX_TEXT) {
		free(text);
		return agentd_seterr(err, AGENTD_ETOOBIG, "the plan is too large");
	}
	if ((ret = memory_begin(m, err)) != AGENTD_OK) {
		free(text);
		return ret;
	}
	if ((st = stmt(m, ST_PLAN_NEXT, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	sqlite3_bind_int64(st, 1, run_id);
	if ((ret = step_row(m, st, "next plan version", err)) != AGENTD_OK)
		goto out;
	next = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if ((st = stmt(m, ST_PLAN_INSERT, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int(st, 2, next);
	bind_text(st, 3, text);
	sqlite3_bind_double(st, 4, ajson_now());
	ret = exec_done(m, st, "storing a plan", err);
	if (ret == AGENTD_ENOTFOUND)
		agentd_seterr(err, ret, "storing a plan: no run %lld", (long long)run_id);
out:
	ret = finish(m, ret, err);
	free(text);
	if (ret == AGENTD_OK && version != NULL)
		*version = next;
	return ret;
}

static json_t *
plan_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "version", col_int(st, 0));
	o = obj_set(o, "plan", col_json(st, 1));
	o = obj_set(o, "created", col_real(st, 2));
	return o;
}

int
memory_plan_latest(struct memory *m, int64_t run_id, json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st;
	json_t *o = NULL;
	int ret;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_plan_latest: bad arguments");
	if ((st = stmt(m, ST_PLAN_LATEST, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, run_id);
	ret = fetch_one(m, st, plan_row, "plan", &o, err);
	if (ret == AGENTD_ENOTFOUND) {
		agentd_error_clear(err);
		ret = AGENTD_OK;
	}
	if (ret == AGENTD_OK)
		*out = o;
	return ret;
}

/* ------------------------------------------------------------------ */
/* events and their hash chain                                        */

/* hash = SHA-256 of: prev_hash "\n" run_id "\n" seq "\n" type "\n" data.
 * Decimal numbers and newline separators make the encoding unambiguous
 * (a type never holds a newline; data is last). */
static void
event_hash(const char *prev, int64_t run_id, int64_t seq, const char *type, const char *data,
    size_t data_len, char out[65])
{
	struct memory_sha256 c;
	char num[64];
	int n;

	memory_sha256_init(&c);
	memory_sha256_update(&c, prev, strlen(prev));
	n = snprintf(num, sizeof(num), "\n%lld\n%lld\n", (long long)run_id, (long long)seq);
	memory_sha256_update(&c, num, (size_t)n);
	memory_sha256_update(&c, type, strlen(type));
	memory_sha256_update(&c, "\n", 1);
	memory_sha256_update(&c, data, data_len);
	memory_sha256_hex(&c, out);
}

static int
valid_event_type(const char *type)
{
	size_t i, n;

	if (type == NULL || (n = strlen(type)) == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++) {
		char c = type[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
memory_event_add(struct memory *m, int64_t run_id, const char *type, json_t *data,
    int64_t *seq_out, struct agentd_error *err)
{
	char prev[65], hash[65];
	sqlite3_stmt *st;
	char *text;
	int64_t seq = 1;
	int ret;

	if (m == NULL || !valid_event_type(type))
		return agentd_seterr(err, AGENTD_EINVAL,
		    "an event type is 1 to 64 letters, digits, '.', '_' or '-'");
	text = data != NULL ? ajson_dumps(data) : strdup("{}");
	if (text == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (strlen(text) > MEMORY_MAX_TEXT) {
		free(text);
		return agentd_seterr(err, AGENTD_ETOOBIG, "event data is too large");
	}
	if ((ret = memory_begin(m, err)) != AGENTD_OK) {
		free(text);
		return ret;
	}
	snprintf(prev, sizeof(prev), "%s", MEMORY_GENESIS_HASH);
	if ((st = stmt(m, ST_EVENT_LAST, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	sqlite3_bind_int64(st, 1, run_id);
	ret = step_row(m, st, "last event", err);
	if (ret == AGENTD_OK) {
		const char *h = (const char *)sqlite3_column_text(st, 1);

		seq = sqlite3_column_int64(st, 0) + 1;
		snprintf(prev, sizeof(prev), "%s", h != NULL ? h : "");
		sqlite3_reset(st);
	} else if (ret == AGENTD_ENOTFOUND) {
		agentd_error_clear(err);
		ret = AGENTD_OK;
	} else {
		goto out;
	}
	event_hash(prev, run_id, seq, type, text, strlen(text), hash);
	if ((st = stmt(m, ST_EVENT_INSERT, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, seq);
	bind_text(st, 3, type);
	bind_text(st, 4, text);
	sqlite3_bind_double(st, 5, ajson_now());
	bind_text(st, 6, prev);
	bind_text(st, 7, hash);
	ret = exec_done(m, st, "recording an event", err);
	if (ret == AGENTD_ENOTFOUND)
		agentd_seterr(err, ret, "recording an event: no run %lld", (long long)run_id);
out:
	ret = finish(m, ret, err);
	free(text);
	if (ret == AGENTD_OK && seq_out != NULL)
		*seq_out = seq;
	return ret;
}

static json_t *
event_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "seq", col_int(st, 0));
	o = obj_set(o, "type", col_text(st, 1));
	o = obj_set(o, "data", col_json(st, 2));
	o = obj_set(o, "created", col_real(st, 3));
	o = obj_set(o, "hash", col_text(st, 4));
	return o;
}

int
memory_event_list(struct memory *m, int64_t run_id, int64_t after_seq, json_t **out,
    struct agentd_error *err)
{
	sqlite3_stmt *st;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_event_list: bad arguments");
	if ((st = stmt(m, ST_EVENT_LIST, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, after_seq);
	return collect(m, st, event_row, "listing events", out, err);
}

static int
run_exists(struct memory *m, int64_t run_id, struct agentd_error *err)
{
	sqlite3_stmt *st = stmt(m, ST_RUN_EXISTS, err);
	int ret;

	if (st == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, run_id);
	ret = step_row(m, st, "run", err);
	if (ret == AGENTD_OK)
		sqlite3_reset(st);
	else if (ret == AGENTD_ENOTFOUND)
		agentd_seterr(err, ret, "no run %lld", (long long)run_id);
	return ret;
}

int
memory_audit(struct memory *m, int64_t run_id, int *ok, int64_t *bad_seq, int64_t *count,
    struct agentd_error *err)
{
	char prev[65], hash[65];
	sqlite3_stmt *st;
	int64_t n = 0, expect = 1, bad = 0;
	int rc, ret;

	if (m == NULL || ok == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_audit: bad arguments");
	/* One read transaction: the chain is checked on a single snapshot. */
	if (sqlite3_exec(m->db, m->depth == 0 ? "BEGIN" : "SAVEPOINT memory_audit", NULL, NULL,
	    NULL) != SQLITE_OK)
		return dberr(m, sqlite3_errcode(m->db), "starting the audit", err);
	if ((ret = run_exists(m, run_id, err)) != AGENTD_OK)
		goto out;
	if ((st = stmt(m, ST_EVENT_AUDIT, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	snprintf(prev, sizeof(prev), "%s", MEMORY_GENESIS_HASH);
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		const char *data = (const char *)sqlite3_column_text(st, 2);
		int data_len = sqlite3_column_bytes(st, 2);
		const char *row_prev = (const char *)sqlite3_column_text(st, 3);
		const char *row_hash = (const char *)sqlite3_column_text(st, 4);

		n++;
		if (bad != 0)
			continue;
		if (seq != expect || type == NULL || data == NULL || row_prev == NULL ||
		    row_hash == NULL || strcmp(row_prev, prev) != 0) {
			bad = seq;
			continue;
		}
		event_hash(prev, run_id, seq, type, data, (size_t)data_len, hash);
		if (strcmp(hash, row_hash) != 0) {
			bad = seq;
			continue;
		}
		memcpy(prev, hash, sizeof(prev));
		expect = seq + 1;
	}
	if (rc != SQLITE_DONE)
		ret = dberr(m, rc, "reading events", err);
	sqlite3_reset(st);
out:
	sqlite3_exec(m->db, m->depth == 0 ? "COMMIT" : "RELEASE memory_audit", NULL, NULL, NULL);
	if (ret != AGENTD_OK)
		return ret;
	*ok = bad == 0;
	if (bad_seq != NULL)
		*bad_seq = bad;
	if (count != NULL)
		*count = n;
	return AGENTD_OK;
}

/* ------------------------------------------------------------------ */
/* recall                                                             */

/* Turn free text into an FTS5 query that cannot be a syntax error: each
 * whitespace-separated word becomes a quoted string ("" doubles a quote),
 * all of them required. NULL when no word remains. */
static char *
fts_query(const char *q, struct agentd_error *err)
{
	struct abuf b;
	const char *p = q;
	int terms = 0;

	abuf_init(&b, 4 * MEMORY_MAX_QUERY + 8);
	while (*p != '\0' && terms < MEMORY_MAX_TERMS) {
		const char *start;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\f' || *p == '\v'))
			p++;
		if (terms > 0 && abuf_append(&b, " ", 1) != AGENTD_OK)
			goto nomem;
		if (abuf_append(&b, "\"", 1) != AGENTD_OK)
			goto nomem;
		for (; start < p; start++)
			if ((*start == '"' && abuf_append(&b, "\"\"", 2) != AGENTD_OK) ||
			    (*start != '"' && abuf_append(&b, start, 1) != AGENTD_OK))
				goto nomem;
		if (abuf_append(&b, "\"", 1) != AGENTD_OK)
			goto nomem;
		terms++;
	}
	if (terms == 0) {
		abuf_free(&b);
		agentd_seterr(err, AGENTD_EINVAL, "the search query has no words");
		return NULL;
	}
	return abuf_steal(&b);
nomem:
	abuf_free(&b);
	agentd_seterr(err, AGENTD_ENOMEM, NULL);
	return NULL;
}

static json_t *
hit_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "session_id", col_int(st, 0));
	o = obj_set(o, "run_id", col_int(st, 1));
	o = obj_set(o, "seq", col_int(st, 2));
	o = obj_set(o, "role", col_text(st, 3));
	o = obj_set(o, "snippet", col_text(st, 4));
	o = obj_set(o, "rank", col_real(st, 5));
	o = obj_set(o, "created", col_real(st, 6));
	o = obj_set(o, "workspace", col_text(st, 7));
	o = obj_set(o, "call_id", col_text(st, 8));
	o = obj_set(o, "tool", col_text(st, 9));
	o = obj_set(o, "step", col_int(st, 10));
	return o;
}

static int
search_run(struct memory *m, const char *msgq, const char *toolq, const char *callq, int limit,
    json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st = stmt(m, ST_SEARCH, err);
	int ret;

	if (st == NULL)
		return m->prep_err;
	bind_text(st, 1, msgq);
	bind_text(st, 2, toolq);
	bind_text(st, 5, callq);
	sqlite3_bind_int(st, 3, limit);
	sqlite3_bind_int(st, 4, MEMORY_SEARCH_WINDOW);
	ret = collect(m, st, hit_row, "searching", out, err);
	sqlite3_clear_bindings(st);
	return ret;
}

int
memory_search(struct memory *m, const char *query, const char *workspace, int limit,
    json_t **out, struct agentd_error *err)
{
	struct abuf mq, tq, cq;
	char tag[WS_TAG_LEN], *terms;
	int ret;

	if (m == NULL || out == NULL || query == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_search: no query");
	if (strlen(query) > MEMORY_MAX_QUERY)
		return agentd_seterr(err, AGENTD_ETOOBIG, "the search query is longer than %d bytes",
		    MEMORY_MAX_QUERY);
	if ((ret = check_text("workspace", workspace, 4096, 0, err)) != AGENTD_OK)
		return ret;
	if (limit <= 0 || limit > MEMORY_SEARCH_MAX)
		limit = limit <= 0 ? 20 : MEMORY_SEARCH_MAX;
	if ((terms = fts_query(query, err)) == NULL)
		return err != NULL ? err->code : AGENTD_EINVAL;
	abuf_init(&mq, 8 * MEMORY_MAX_QUERY);
	abuf_init(&tq, 8 * MEMORY_MAX_QUERY);
	abuf_init(&cq, 8 * MEMORY_MAX_QUERY);
	if (workspace != NULL)
		ws_tag(workspace, tag);
	if (abuf_printf(&mq, "{content} : (%s)", terms) != AGENTD_OK ||
	    abuf_printf(&tq, "{result} : (%s)", terms) != AGENTD_OK ||
	    abuf_printf(&cq, "{name args} : (%s)", terms) != AGENTD_OK ||
	    (workspace != NULL && (abuf_printf(&mq, " AND {ws} : \"%s\"", tag) != AGENTD_OK ||
	    abuf_printf(&tq, " AND {ws} : \"%s\"", tag) != AGENTD_OK ||
	    abuf_printf(&cq, " AND {ws} : \"%s\"", tag) != AGENTD_OK)))
		ret = agentd_seterr(err, AGENTD_ENOMEM, NULL);
	else
		ret = search_run(m, mq.data, tq.data, cq.data, limit, out, err);
	abuf_free(&mq);
	abuf_free(&tq);
	abuf_free(&cq);
	free(terms);
	return ret;
}

/* ------------------------------------------------------------------ */
/* retention                                                          */

int
memory_retention(struct memory *m, double max_age_s, int max_count, int *deleted,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	int n = 0, ret;

	if (max_age_s < 0 || max_count < 0)
		return agentd_seterr(err, AGENTD_EINVAL, "retention limits must not be negative");
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_RETENTION, err)) == NULL)
		return finish(m, m->prep_err, err);
	if (max_age_s > 0)
		sqlite3_bind_double(st, 1, ajson_now() - max_age_s);
	sqlite3_bind_int(st, 2, max_count);
	ret = exec_done(m, st, "applying retention", err);
	if (ret == AGENTD_OK)
		n = sqlite3_changes(m->db);
	ret = finish(m, ret, err);
	if (ret == AGENTD_OK && deleted != NULL)
		*deleted = n;
	return ret;
}

/* ------------------------------------------------------------------ */
/* schedules                                                          */

static int
job_opt_str(json_t *job, const char *key, size_t max, const char **out, struct agentd_error *err)
{
	int ret = ajson_opt_str(job, key, out, err);

	if (ret == AGENTD_ENOTFOUND)
		return AGENTD_OK;
	if (ret != AGENTD_OK)
		return ret;
	return check_text(key, *out, max, 0, err);
}

int
memory_job_add(struct memory *m, json_t *job, int64_t *id, struct agentd_error *err)
{
	const char *cron = NULL, *tz = NULL, *ws = NULL, *task = NULL, *bname = NULL;
	const char *policy = NULL, *catchup = "skip";
	static const char *const catchups[] = { "skip", "once", NULL };
	json_t *chore;
	char *chore_text = NULL;
	int branch = 1, paused = 0, ret;
	int64_t rowid = 0;
	sqlite3_stmt *st;

	if (m == NULL || !json_is_object(job))
		return agentd_seterr(err, AGENTD_EINVAL, "a job must be a JSON object");
	if ((ret = job_opt_str(job, "cron", 256, &cron, err)) != AGENTD_OK ||
	    (ret = job_opt_str(job, "tz", 256, &tz, err)) != AGENTD_OK ||
	    (ret = job_opt_str(job, "workspace", 4096, &ws, err)) != AGENTD_OK ||
	    (ret = job_opt_str(job, "task", MEMORY_MAX_TEXT, &task, err)) != AGENTD_OK ||
	    (ret = job_opt_str(job, "branch_name", 1024, &bname, err)) != AGENTD_OK ||
	    (ret = job_opt_str(job, "policy", 256, &policy, err)) != AGENTD_OK ||
	    (ret = job_opt_str(job, "catchup", 16, &catchup, err)) != AGENTD_OK)
		return ret;
	if (cron == NULL || ws == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "a job needs 'cron' and 'workspace'");
	if (!in_list(catchup, catchups))
		return agentd_seterr(err, AGENTD_EINVAL, "'catchup' must be \"skip\" or \"once\"");
	if ((ret = ajson_opt_bool(job, "branch", &branch, err)) != AGENTD_OK &&
	    ret != AGENTD_ENOTFOUND)
		return ret;
	if ((ret = ajson_opt_bool(job, "paused", &paused, err)) != AGENTD_OK &&
	    ret != AGENTD_ENOTFOUND)
		return ret;
	chore = json_object_get(job, "chore");
	if (chore != NULL && json_is_null(chore))
		chore = NULL;
	if (chore != NULL && !json_is_object(chore))
		return agentd_seterr(err, AGENTD_EINVAL, "'chore' must be an object");
	if (chore == NULL && task == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "a job needs a 'task' or a 'chore'");
	if (chore != NULL && (chore_text = ajson_dumps(chore)) == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (chore_text != NULL && strlen(chore_text) > MEMORY_MAX_TEXT) {
		free(chore_text);
		return agentd_seterr(err, AGENTD_ETOOBIG, "the chore is too large");
	}
	if ((ret = memory_begin(m, err)) != AGENTD_OK) {
		free(chore_text);
		return ret;
	}
	if ((st = stmt(m, ST_JOB_INSERT, err)) == NULL) {
		ret = m->prep_err;
		goto out;
	}
	bind_text(st, 1, cron);
	bind_text(st, 2, tz);
	bind_text(st, 3, ws);
	bind_text(st, 4, task);
	bind_text(st, 5, chore_text);
	sqlite3_bind_int(st, 6, branch != 0);
	bind_text(st, 7, bname);
	bind_text(st, 8, policy);
	bind_text(st, 9, catchup);
	sqlite3_bind_int(st, 10, paused != 0);
	sqlite3_bind_double(st, 11, ajson_now());
	ret = exec_done(m, st, "adding a job", err);
	if (ret == AGENTD_OK)
		rowid = sqlite3_last_insert_rowid(m->db);
out:
	ret = finish(m, ret, err);
	free(chore_text);
	if (ret == AGENTD_OK && id != NULL)
		*id = rowid;
	return ret;
}

int
memory_job_get(struct memory *m, int64_t id, json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st;
	json_t *job = NULL;
	int ret;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_job_get: bad arguments");
	if ((st = stmt(m, ST_JOB_GET, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, id);
	ret = fetch_one(m, st, job_row, "job", &job, err);
	if (ret == AGENTD_OK) {
		show_kept_end_as(m, job, "last_run_id", "last_status", NULL);
		*out = job;
	}
	return ret;
}

int
memory_job_list(struct memory *m, json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st;
	json_t *jobs = NULL;
	size_t i;
	int ret;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_job_list: bad arguments");
	if ((st = stmt(m, ST_JOB_LIST, err)) == NULL)
		return m->prep_err;
	ret = collect(m, st, job_row, "listing jobs", &jobs, err);
	if (ret != AGENTD_OK)
		return ret;
	for (i = 0; i < json_array_size(jobs); i++)
		show_kept_end_as(m, json_array_get(jobs, i), "last_run_id", "last_status", NULL);
	*out = jobs;
	return AGENTD_OK;
}

/* One UPDATE/DELETE of a job by id in a transaction; ENOTFOUND when no row. */
static int
job_write(struct memory *m, enum memory_stmt id, int64_t job, int64_t arg2, int64_t arg3,
    int nargs, const char *what, struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, id, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, job);
	if (nargs >= 2)
		sqlite3_bind_int64(st, 2, arg2);
	if (nargs >= 3)
		bind_ref(st, 3, arg3);
	if (id == ST_JOB_CLAIM)
		sqlite3_bind_double(st, 3, ajson_now());
	ret = exec_done(m, st, what, err);
	if (ret == AGENTD_OK && sqlite3_changes(m->db) == 0)
		ret = agentd_seterr(err, AGENTD_ENOTFOUND, "%s: no job %lld", what, (long long)job);
	return finish(m, ret, err);
}

int
memory_job_delete(struct memory *m, int64_t id, struct agentd_error *err)
{
	return job_write(m, ST_JOB_DELETE, id, 0, 0, 1, "deleting a job", err);
}

int
memory_job_set_paused(struct memory *m, int64_t id, int paused, struct agentd_error *err)
{
	return job_write(m, ST_JOB_PAUSE, id, paused != 0, 0, 2, "pausing a job", err);
}

int
memory_job_claim(struct memory *m, int64_t id, int64_t slot, struct agentd_error *err)
{
	int ret = job_write(m, ST_JOB_CLAIM, id, slot, 0, 2, "claiming a job's firing", err);

	if (ret == AGENTD_EEXIST)
		agentd_seterr(err, ret, "job %lld slot %lld was already claimed", (long long)id,
		    (long long)slot);
	return ret;
}

int
memory_job_fired(struct memory *m, int64_t id, int64_t slot, int64_t run_id,
    struct agentd_error *err)
{
	sqlite3_stmt *st;
	int ret;

	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	if ((st = stmt(m, ST_JOB_FIRED, err)) == NULL)
		return finish(m, m->prep_err, err);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, slot);
	bind_ref(st, 3, run_id);
	ret = exec_done(m, st, "recording a job's run", err);
	if (ret == AGENTD_ENOTFOUND)	/* the foreign key: no such run */
		agentd_seterr(err, ret, "recording a job's run: no run %lld", (long long)run_id);
	else if (ret == AGENTD_OK && sqlite3_changes(m->db) == 0)
		ret = agentd_seterr(err, AGENTD_ENOTFOUND, "job %lld slot %lld was never claimed",
		    (long long)id, (long long)slot);
	if (ret == AGENTD_OK) {
		if ((st = stmt(m, ST_JOB_FIRED_JOB, err)) == NULL)
			return finish(m, m->prep_err, err);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, slot);
		bind_ref(st, 3, run_id);
		ret = exec_done(m, st, "recording a job's run", err);
	}
	return finish(m, ret, err);
}

static json_t *
open_fire_row(sqlite3_stmt *st)
{
	json_t *o = json_object();

	o = obj_set(o, "job_id", col_int(st, 0));
	o = obj_set(o, "slot", col_int(st, 1));
	o = obj_set(o, "run_id", col_int(st, 2));
	return o;
}

int
memory_job_open_fires(struct memory *m, json_t **out, struct agentd_error *err)
{
	sqlite3_stmt *st;

	if (m == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_job_open_fires: bad arguments");
	if ((st = stmt(m, ST_JOB_OPEN_FIRES, err)) == NULL)
		return m->prep_err;
	return collect(m, st, open_fire_row, "listing claimed firings", out, err);
}

int
memory_job_last_slot(struct memory *m, int64_t id, int64_t *slot, struct agentd_error *err)
{
	sqlite3_stmt *st;
	int64_t v;
	int ret;

	if (m == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no database");
	if ((st = stmt(m, ST_JOB_LAST_SLOT, err)) == NULL)
		return m->prep_err;
	sqlite3_bind_int64(st, 1, id);
	ret = step_row(m, st, "job", err);
	if (ret == AGENTD_ENOTFOUND)
		return agentd_seterr(err, ret, "no job %lld", (long long)id);
	if (ret != AGENTD_OK)
		return ret;
	v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (slot != NULL)
		*slot = v;
	return AGENTD_OK;
}
