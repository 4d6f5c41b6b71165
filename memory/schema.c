/*
 * schema.c — the journal's schema and its forward migrations, in one place.
 *
 * PRAGMA user_version holds the schema version. migrations[i] takes a
 * database from version i to i + 1; memory_schema_migrate runs the missing
 * ones inside a single BEGIN IMMEDIATE transaction together with the new
 * user_version, so a crash mid-migration leaves the old version intact.
 * A migration is never edited once released: add a new one instead and bump
 * MEMORY_SCHEMA_VERSION in memory.h.
 */
#include "memory/internal.h"

#include <stdio.h>

/* Version 0 -> 1: the whole first schema. */
static const char schema_v1[] =
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  title TEXT,"
	"  workspace TEXT,"
	"  created REAL NOT NULL,"
	"  updated REAL NOT NULL"
	");"
	"CREATE INDEX sessions_updated ON sessions(updated, id);"
	"CREATE INDEX sessions_workspace ON sessions(workspace, updated, id);"

	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  cron TEXT NOT NULL,"
	"  tz TEXT,"
	"  workspace TEXT NOT NULL,"
	"  task TEXT,"
	"  chore TEXT,"				/* JSON object or NULL */
	"  branch INTEGER NOT NULL DEFAULT 1,"
	"  branch_name TEXT,"
	"  policy TEXT,"
	"  catchup TEXT NOT NULL DEFAULT 'skip' CHECK (catchup IN ('skip','once')),"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  created REAL NOT NULL,"
	"  last_fire INTEGER,"
	"  last_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL"
	");"
	"CREATE INDEX jobs_last_run ON jobs(last_run_id);"

	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	"  status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded',"
	"    'failed','cancelled','interrupted')),"
	"  reason TEXT,"
	"  workspace TEXT,"
	"  task TEXT,"
	"  branch TEXT,"
	"  base_oid TEXT,"
	"  worktree TEXT,"
	"  end_oid TEXT,"			/* HEAD when an in-place run ended (for undo) */
	"  options TEXT,"			/* JSON object or NULL */
	"  job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,"
	"  steps INTEGER NOT NULL DEFAULT 0,"
	"  prompt_tokens INTEGER NOT NULL DEFAULT 0,"
	"  completion_tokens INTEGER NOT NULL DEFAULT 0,"
	"  created REAL NOT NULL,"
	"  started REAL,"
	"  finished REAL"
	");"
	"CREATE INDEX runs_session ON runs(session_id, id);"
	"CREATE INDEX runs_status ON runs(status, id);"
	"CREATE INDEX runs_job ON runs(job_id, id);"

	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,"
	"  role TEXT NOT NULL CHECK (role IN ('system','user','assistant','tool')),"
	"  content TEXT,"
	"  tool_calls TEXT,"			/* JSON array or NULL */
	"  tool_call_id TEXT,"
	"  reasoning TEXT,"
	"  step INTEGER NOT NULL DEFAULT 0,"
	"  kind TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message','summary')),"
	"  covers_seq INTEGER,"
	"  created REAL NOT NULL,"
	"  ws TEXT,"				/* workspace tag for recall, see memory.c */
	"  UNIQUE (session_id, seq)"
	");"
	"CREATE INDEX messages_run ON messages(run_id, tool_call_id);"
	"CREATE INDEX messages_summary ON messages(session_id, seq) WHERE kind = 'summary';"

	"CREATE TABLE tool_calls ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  call_id TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  arguments TEXT,"
	"  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','started','finished')),"
	"  result TEXT,"
	"  ok INTEGER,"
	"  read_only INTEGER NOT NULL DEFAULT 0,"
	"  step INTEGER NOT NULL DEFAULT 0,"
	"  created REAL NOT NULL,"
	"  started REAL,"
	"  finished REAL,"
	"  ws TEXT,"
	"  UNIQUE (run_id, call_id)"
	");"

	"CREATE TABLE plans ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL,"
	"  plan TEXT NOT NULL,"
	"  created REAL NOT NULL,"
	"  UNIQUE (run_id, version)"
	");"

	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  data TEXT NOT NULL,"
	"  created REAL NOT NULL,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL,"
	"  UNIQUE (run_id, seq)"
	");"

	"CREATE TABLE job_fires ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  slot INTEGER NOT NULL,"
	"  run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,"
	"  claimed REAL NOT NULL,"
	"  PRIMARY KEY (job_id, slot)"
	") WITHOUT ROWID;"
	"CREATE INDEX job_fires_run ON job_fires(run_id);"

	/* Full-text recall. External content: the text lives once, in messages
	 * and tool_calls; triggers keep the indexes in step on every insert,
	 * update and delete (cascades included). System prompts are not indexed.
	 * The second column holds one token naming the session's workspace, so
	 * a workspace filter is intersected inside the index. */
	"CREATE VIRTUAL TABLE messages_fts USING fts5("
	"  content, ws, content='messages', content_rowid='id', tokenize='porter unicode61');"
	"CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages"
	"  WHEN new.content IS NOT NULL AND new.role <> 'system' BEGIN"
	"  INSERT INTO messages_fts(rowid, content, ws) VALUES (new.id, new.content, new.ws);"
	"END;"
	"CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages"
	"  WHEN old.content IS NOT NULL AND old.role <> 'system' BEGIN"
	"  INSERT INTO messages_fts(messages_fts, rowid, content, ws)"
	"    VALUES ('delete', old.id, old.content, old.ws);"
	"END;"
	"CREATE TRIGGER messages_fts_au AFTER UPDATE OF content, role, ws ON messages BEGIN"
	"  INSERT INTO messages_fts(messages_fts, rowid, content, ws)"
	"    SELECT 'delete', old.id, old.content, old.ws"
	"    WHERE old.content IS NOT NULL AND old.role <> 'system';"
	"  INSERT INTO messages_fts(rowid, content, ws)"
	"    SELECT new.id, new.content, new.ws WHERE new.content IS NOT NULL AND new.role <> 'system';"
	"END;"

	"CREATE VIRTUAL TABLE tool_fts USING fts5("
	"  result, ws, content='tool_calls', content_rowid='id', tokenize='porter unicode61');"
	"CREATE TRIGGER tool_fts_ai AFTER INSERT ON tool_calls WHEN new.result IS NOT NULL BEGIN"
	"  INSERT INTO tool_fts(rowid, result, ws) VALUES (new.id, new.result, new.ws);"
	"END;"
	"CREATE TRIGGER tool_fts_ad AFTER DELETE ON tool_calls WHEN old.result IS NOT NULL BEGIN"
	"  INSERT INTO tool_fts(tool_fts, rowid, result, ws) VALUES ('delete', old.id, old.result, old.ws);"
	"END;"
	"CREATE TRIGGER tool_fts_au AFTER UPDATE OF result, ws ON tool_calls BEGIN"
	"  INSERT INTO tool_fts(tool_fts, rowid, result, ws)"
	"    SELECT 'delete', old.id, old.result, old.ws WHERE old.result IS NOT NULL;"
	"  INSERT INTO tool_fts(rowid, result, ws)"
	"    SELECT new.id, new.result, new.ws WHERE new.result IS NOT NULL;"
	"END;";

/* v2: the wall-time limit counts the time a run was worked on across
 * restarts. */
static const char schema_v2[] =
	"ALTER TABLE runs ADD COLUMN active_s REAL NOT NULL DEFAULT 0;";

/* v3: the state of the checkout when a run began (JSON: head, the paths
 * with uncommitted changes), so its commits leave the user's changes out. */
static const char schema_v3[] =
	"ALTER TABLE runs ADD COLUMN start_state TEXT;";

/* v4: what the agent did is found, not only what was said: the tool's
 * name and the first 4,096 characters of its arguments (the command run,
 * the text written, the commit message) are indexed for every call, and
 * the calls already journaled are indexed now. The view is the index's
 * content, so that snippets read the same capped text that was indexed. */
static const char schema_v4[] =
	"CREATE VIEW tool_call_text AS"
	"  SELECT id, name, substr(arguments, 1, 4096) AS args, ws FROM tool_calls;"
	"CREATE VIRTUAL TABLE call_fts USING fts5("
	"  name, args, ws, content='tool_call_text', content_rowid='id',"
	"  tokenize='porter unicode61');"
	"CREATE TRIGGER call_fts_ai AFTER INSERT ON tool_calls BEGIN"
	"  INSERT INTO call_fts(rowid, name, args, ws)"
	"    VALUES (new.id, new.name, substr(new.arguments, 1, 4096), new.ws);"
	"END;"
	"CREATE TRIGGER call_fts_ad AFTER DELETE ON tool_calls BEGIN"
	"  INSERT INTO call_fts(call_fts, rowid, name, args, ws)"
	"    VALUES ('delete', old.id, old.name, substr(old.arguments, 1, 4096), old.ws);"
	"END;"
	"CREATE TRIGGER call_fts_au AFTER UPDATE OF name, arguments, ws ON tool_calls BEGIN"
	"  INSERT INTO call_fts(call_fts, rowid, name, args, ws)"
	"    VALUES ('delete', old.id, old.name, substr(old.arguments, 1, 4096), old.ws);"
	"  INSERT INTO call_fts(rowid, name, args, ws)"
	"    VALUES (new.id, new.name, substr(new.arguments, 1, 4096), new.ws);"
	"END;"
	"INSERT INTO call_fts(call_fts) VALUES ('rebuild');";

static const char *const migrations[MEMORY_SCHEMA_VERSION] = {
	schema_v1,
	schema_v2,
	schema_v3,
	schema_v4,
};

int
memory_schema_migrate(sqlite3 *db, struct agentd_error *err)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int rc, version, ret;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return memory_sqlerr(db, rc, "starting the schema migration", err);
	/* Read again under the write lock: another process may have migrated. */
	rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = SQLITE_OK;
	if (rc != SQLITE_OK) {
		ret = memory_sqlerr(db, rc, "reading the schema version", err);
		goto fail;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > MEMORY_SCHEMA_VERSION || version < 0) {
		ret = agentd_seterr(err, AGENTD_ECORRUPT,
		    "database schema version %d is newer than this agentd (%d); refusing to touch it",
		    version, MEMORY_SCHEMA_VERSION);
		goto fail;
	}
	for (; version < MEMORY_SCHEMA_VERSION; version++) {
		rc = sqlite3_exec(db, migrations[version], NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			char what[64];

			snprintf(what, sizeof(what), "migrating the schema to version %d", version + 1);
			ret = memory_sqlerr(db, rc, what, err);
			goto fail;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", MEMORY_SCHEMA_VERSION);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		ret = memory_sqlerr(db, rc, "committing the schema migration", err);
		goto fail;
	}
	return AGENTD_OK;
fail:
	sqlite3_finalize(st);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}
