/*
 * test_memory.c — unit tests of the durable journal (memory/) on real
 * SQLite files in a temporary directory: schema creation and refusal of
 * foreign, corrupt or newer databases (bytes unchanged), unwritable files,
 * a full database, every record kind, the event hash chain against raw
 * tampering, hostile search queries, cascading deletes and retention, the
 * once-only job claim, nested transactions and two concurrent writers;
 * run ends kept beside the journal, and empty journals refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/json.h"
#include "memory/internal.h"
#include "memory/memory.h"

struct fx {
	char dir[64];
	char path[128];
	struct memory *m;
};

static int
rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct agentd_error err = { 0 };

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_memory.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/agentd.db", f->dir);
	if (memory_open(f->path, &f->m, &err) != AGENTD_OK) {
		fprintf(stderr, "memory_open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	memory_close(f->m);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Raw SQL on a second, plain connection (as a person with sqlite3 would). */
static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("raw sql failed: %s: %s", sql, msg);
	sqlite3_close(db);
}

static int64_t
raw_int(struct memory *m, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(memory_internal_db(m), sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t
raw_int_path(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *
slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	*n = (size_t)len;
	return buf;
}

static int64_t
new_session(struct memory *m, const char *ws)
{
	struct agentd_error err = { 0 };
	int64_t id = 0;

	assert_int_equal(memory_session_create(m, "t", ws, &id, &err), AGENTD_OK);
	assert_true(id > 0);
	return id;
}

static int64_t
new_run(struct memory *m, int64_t sid, int64_t job)
{
	struct memory_run_spec spec = { .session_id = sid, .workspace = "/w", .task = "do it",
		.job_id = job };
	struct agentd_error err = { 0 };
	int64_t id = 0;

	assert_int_equal(memory_run_create(m, &spec, &id, &err), AGENTD_OK);
	return id;
}

static int64_t
add_msg(struct memory *m, int64_t sid, int64_t run, const char *role, const char *content,
    const char *call_id)
{
	struct memory_msg msg = { .run_id = run, .role = role, .content = content,
		.tool_call_id = call_id, .step = 1 };
	struct agentd_error err = { 0 };
	int64_t seq = 0;

	if (memory_msg_add(m, sid, &msg, &seq, &err) != AGENTD_OK)
		fail_msg("memory_msg_add: %s", err.msg);
	return seq;
}

/* ---- open, schema, refusal ---- */

static void
test_open_schema_and_reopen(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct memory *m2 = NULL;

	assert_int_equal(raw_int(f->m, "PRAGMA user_version"), MEMORY_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->m, "PRAGMA foreign_keys"), 1);
	assert_int_equal(raw_int(f->m, "PRAGMA synchronous"), 2);	/* FULL */
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM sqlite_master WHERE name IN "
	    "('sessions','runs','messages','tool_calls','plans','events','jobs','job_fires',"
	    "'messages_fts','tool_fts')"), 10);
	assert_int_equal(memory_integrity_check(f->m, &err), AGENTD_OK);
	new_session(f->m, "/w");
	memory_close(f->m);
	f->m = NULL;
	/* Reopen: no migration runs again, data kept. */
	assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM sessions"), 1);
	/* A second connection on the same file works alongside. */
	assert_int_equal(memory_open(f->path, &m2, &err), AGENTD_OK);
	memory_close(m2);
	memory_close(NULL);
	/* An empty file is refused, not taken for a new database: test_empty_journal. */
	/* Bad arguments. */
	assert_int_equal(memory_open(NULL, &m2, &err), AGENTD_EINVAL);
	assert_int_equal(memory_open(f->dir, &m2, &err), AGENTD_EIO);
}

static void
test_refuse_newer_schema(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct memory *m2 = NULL;
	char *before, *after;
	size_t n1, n2;

	new_session(f->m, "/w");
	memory_close(f->m);
	f->m = NULL;
	raw_exec(f->path, "PRAGMA user_version = 7");
	before = slurp(f->path, &n1);
	assert_int_equal(memory_open(f->path, &m2, &err), AGENTD_ECORRUPT);
	assert_null(m2);
	{
		char want[96];

		snprintf(want, sizeof(want), "database schema version 7 is newer than this agentd (%d)",
		    MEMORY_SCHEMA_VERSION);
		assert_non_null(strstr(err.msg, want));
	}
	after = slurp(f->path, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	free(before);
	free(after);
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", MEMORY_SCHEMA_VERSION);
		raw_exec(f->path, sql);
	}
	assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
}

/* A worker's connection: the same journal, no checks run again; it never
 * creates a database nor touches one of another version. */
static void
test_open_more(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct memory *m2 = NULL;
	char p[160];
	struct stat sb;

	new_session(f->m, "/w");
	assert_int_equal(memory_open_more(f->path, &m2, &err), AGENTD_OK);
	assert_int_equal(raw_int(m2, "SELECT count(*) FROM sessions"), 1);
	assert_int_equal(raw_int(m2, "PRAGMA foreign_keys"), 1);
	assert_int_equal(raw_int(m2, "PRAGMA synchronous"), 2);
	memory_close(m2);
	m2 = NULL;
	snprintf(p, sizeof(p), "%s/absent.db", f->dir);
	assert_int_not_equal(memory_open_more(p, &m2, &err), AGENTD_OK);
	assert_null(m2);
	assert_int_equal(stat(p, &sb), -1);
	memory_close(f->m);
	f->m = NULL;
	raw_exec(f->path, "PRAGMA user_version = 1");
	assert_int_equal(memory_open_more(f->path, &m2, &err), AGENTD_ECORRUPT);
	assert_null(m2);
	assert_non_null(strstr(err.msg, "not opened with memory_open first"));
	assert_int_equal(raw_int_path(f->path, "PRAGMA user_version"), 1);	/* untouched */
	snprintf(p, sizeof(p), "PRAGMA user_version = %d", MEMORY_SCHEMA_VERSION);
	raw_exec(f->path, p);
	assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
}

/* What version 4 added, taken away again (a journal as version 3 left it). */
#define V4_UNDO "DROP TRIGGER call_fts_ai; DROP TRIGGER call_fts_ad; DROP TRIGGER call_fts_au; " \
	"DROP TABLE call_fts; DROP VIEW tool_call_text; "

/* A version 3 journal is migrated forward: the tool calls it holds become
 * searchable by their tool and arguments (the index is filled from them). */
static void
test_migrate_v3_indexes_calls(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *list = NULL, *h;
	int64_t sid, rid;

	sid = new_session(f->m, "/w");
	rid = new_run(f->m, sid, 0);
	assert_int_equal(memory_tool_add(f->m, rid, "c1", "shell",
	    "{\"command\":\"git push origin topicbranch\"}", 0, 3, &err), AGENTD_OK);
	memory_close(f->m);
	f->m = NULL;
	raw_exec(f->path, V4_UNDO "PRAGMA user_version = 3");
	assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
	assert_int_equal(raw_int(f->m, "PRAGMA user_version"), MEMORY_SCHEMA_VERSION);
	assert_int_equal(memory_search(f->m, "git push", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	h = json_array_get(list, 0);
	assert_string_equal(ajson_str(h, "role", ""), "call");
	assert_string_equal(ajson_str(h, "tool", ""), "shell");
	assert_string_equal(ajson_str(h, "call_id", ""), "c1");
	assert_int_equal(ajson_int(h, "run_id", 0), rid);
	assert_int_equal(ajson_int(h, "step", 0), 3);
	assert_non_null(strstr(ajson_str(h, "snippet", ""), "[git] [push] origin topicbranch"));
	json_decref(list);
	assert_int_equal(sqlite3_exec(memory_internal_db(f->m),
	    "INSERT INTO call_fts(call_fts) VALUES('integrity-check')", NULL, NULL, NULL), SQLITE_OK);
}

/* A version 1 journal (as the first release wrote it) is migrated forward
 * on open, its data kept; the migration runs once. */
static void
test_migrate_from_v1(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct memory_run_spec spec = { 0 };
	int64_t sid, rid;
	json_t *run = NULL;

	sid = new_session(f->m, "/w");
	spec.session_id = sid;
	spec.workspace = "/w";
	spec.task = "old run";
	assert_int_equal(memory_run_create(f->m, &spec, &rid, &err), AGENTD_OK);
	memory_close(f->m);
	f->m = NULL;
	/* Take the database back to version 1: the columns v2 and v3 added go. */
	raw_exec(f->path, V4_UNDO "ALTER TABLE runs DROP COLUMN active_s; "
	    "ALTER TABLE runs DROP COLUMN start_state; PRAGMA user_version = 1");
	assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
	assert_int_equal(raw_int(f->m, "PRAGMA user_version"), MEMORY_SCHEMA_VERSION);
	assert_int_equal(memory_run_get(f->m, rid, &run, &err), AGENTD_OK);
	assert_string_equal(ajson_str(run, "task", ""), "old run");
	assert_true(ajson_num(run, "active_s", -1) == 0);
	json_decref(run);
	assert_int_equal(memory_run_set_active(f->m, rid, 12.5, &err), AGENTD_OK);
	assert_int_equal(memory_run_get(f->m, rid, &run, &err), AGENTD_OK);
	assert_true(ajson_num(run, "active_s", -1) == 12.5);
	json_decref(run);
	assert_int_equal(memory_run_set_active(f->m, rid, -1, &err), AGENTD_EINVAL);
	assert_int_equal(memory_integrity_check(f->m, &err), AGENTD_OK);
	/* Reopen: nothing runs again (an ALTER run twice would fail). */
	memory_close(f->m);
	f->m = NULL;
	assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
}

static void
test_refuse_garbage_and_corrupt(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct memory *m2 = NULL;
	char p[160], junk[8192], *before, *after;
	size_t n1, n2, i;
	FILE *fp;
	int64_t sid;

	/* Not a database at all. */
	snprintf(p, sizeof(p), "%s/garbage.db", f->dir);
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	fp = fopen(p, "wb");
	assert_non_null(fp);
	fwrite(junk, 1, sizeof(junk), fp);
	fclose(fp);
	assert_int_equal(memory_open(p, &m2, &err), AGENTD_ECORRUPT);
	assert_non_null(strstr(err.msg, "not an agentd database"));
	after = slurp(p, &n2);
	assert_int_equal(n2, sizeof(junk));
	assert_memory_equal(junk, after, n2);
	free(after);

	/* A real database with a damaged page: quick_check refuses it. */
	sid = new_session(f->m, "/w");
	for (i = 0; i < 300; i++)
		add_msg(f->m, sid, 0, "user", "some words to fill pages of the messages table", NULL);
	memory_close(f->m);
	f->m = NULL;
	before = slurp(f->path, &n1);
	assert_true(n1 > 8 * 4096);
	fp = fopen(f->path, "r+b");
	assert_non_null(fp);
	fseek(fp, 3 * 4096, SEEK_SET);	/* b-tree pages, headers included */
	fwrite(junk, 1, sizeof(junk), fp);
	fclose(fp);
	free(before);
	before = slurp(f->path, &n1);
	assert_int_equal(memory_open(f->path, &m2, &err), AGENTD_ECORRUPT);
	assert_null(m2);
	after = slurp(f->path, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	free(before);
	free(after);
	/* Teardown must not fail on a NULL handle. */
}

/* Child process: drop to an unprivileged uid when root (root ignores file
 * modes), then try to open; exit with the agentd_err. */
static int
open_as_nobody(const char *path)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct agentd_error err = { 0 };
		struct memory *m = NULL;

		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(100);
		_exit(memory_open(path, &m, &err));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_unwritable(void **state)
{
	struct fx *f = *state;
	char dir[160], p[200];
	int fd;

	snprintf(dir, sizeof(dir), "%s/ro", f->dir);
	assert_int_equal(mkdir(dir, 0555), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	/* New database in a directory we cannot write. */
	snprintf(p, sizeof(p), "%s/new.db", dir);
	assert_int_equal(open_as_nobody(p), AGENTD_EIO);
	/* Existing database file that is read-only. */
	memory_close(f->m);
	f->m = NULL;
	assert_int_equal(chmod(f->path, 0444), 0);
	assert_int_equal(open_as_nobody(f->path), AGENTD_EIO);
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	/* ... and the file was not touched into something else. */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	{
		struct agentd_error err = { 0 };

		assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
		assert_int_equal(memory_integrity_check(f->m, &err), AGENTD_OK);
	}
}

static void
test_disk_full(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	sqlite3 *db = memory_internal_db(f->m);
	char *big = malloc(64 * 1024 + 1);
	char sql[128];
	json_t *list = NULL;
	int64_t sid, pages, seq = 0;
	int i, ret = AGENTD_OK;

	assert_non_null(big);
	memset(big, 'x', 64 * 1024);
	big[64 * 1024] = '\0';
	sid = new_session(f->m, "/w");
	add_msg(f->m, sid, 0, "user", "before the disk filled up", NULL);
	pages = raw_int(f->m, "PRAGMA page_count");
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages + 40);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	for (i = 0; i < 100; i++) {
		struct memory_msg msg = { .role = "tool", .content = big, .tool_call_id = "c" };

		ret = memory_msg_add(f->m, sid, &msg, &seq, &err);
		if (ret != AGENTD_OK)
			break;
	}
	assert_int_equal(ret, AGENTD_ENOSPC);
	assert_non_null(strstr(err.msg, "full"));
	/* Inside a caller's transaction too: the error surfaces, commit fails,
	 * nothing half-written stays. */
	assert_int_equal(memory_begin(f->m, &err), AGENTD_OK);
	{
		struct memory_msg msg = { .role = "tool", .content = big, .tool_call_id = "c" };

		assert_int_equal(memory_msg_add(f->m, sid, &msg, NULL, &err), AGENTD_ENOSPC);
	}
	memory_rollback(f->m);
	/* Reads still work and nothing is corrupt. */
	assert_int_equal(memory_msg_list(f->m, sid, 0, &list, &err), AGENTD_OK);
	assert_true(json_array_size(list) >= 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "content")),
	    "before the disk filled up");
	json_decref(list);
	assert_int_equal(memory_integrity_check(f->m, &err), AGENTD_OK);
	/* Space comes back: writes work again. */
	assert_int_equal(sqlite3_exec(db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_true(add_msg(f->m, sid, 0, "user", "after", NULL) > 0);
	free(big);
}

/* ---- records ---- */

static void
test_sessions(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *o = NULL, *list = NULL;
	int64_t a, b, c;

	a = new_session(f->m, "/w1");
	b = new_session(f->m, "/w2");
	c = new_session(f->m, "/w1");
	assert_int_equal(memory_session_get(f->m, b, &o, &err), AGENTD_OK);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), b);
	assert_string_equal(json_string_value(json_object_get(o, "workspace")), "/w2");
	assert_string_equal(json_string_value(json_object_get(o, "title")), "t");
	assert_true(json_is_real(json_object_get(o, "created")));
	assert_true(json_is_real(json_object_get(o, "updated")));
	json_decref(o);
	o = NULL;
	assert_int_equal(memory_session_get(f->m, 999, &o, &err), AGENTD_ENOTFOUND);
	assert_null(o);
	/* Newest first (a message makes `a` the most recently updated). */
	usleep(5000);
	add_msg(f->m, a, 0, "user", "hello", NULL);
	assert_int_equal(memory_session_list(f->m, NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), a);
	json_decref(list);
	assert_int_equal(memory_session_list(f->m, "/w1", 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	assert_int_equal(memory_session_list(f->m, NULL, 1, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(memory_session_delete(f->m, c, &err), AGENTD_OK);
	assert_int_equal(memory_session_delete(f->m, c, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_session_create(f->m, NULL, NULL, NULL, &err), AGENTD_OK);
}

/* The status a plain connection (no kept ends attached) reads. */
static void
raw_status(const char *path, int64_t id, char *out, size_t n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT status FROM runs WHERE id=?1", -1, &st, NULL),
	    SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* A run's end the journal could not take is kept beside it: shown by run
 * reads, durable across a reopen (a restart), stored later, then freed. */
static void
test_kept_ends(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct memory_ends *e = NULL;
	struct memory_run_filter flt = { .status = "running" };
	json_t *o = NULL, *list = NULL;
	char st[32], ends[160];
	int64_t sid, r1, r2;
	int stored = -1, fd;

	json_t *job = json_pack("{s:s,s:s,s:s}", "cron", "@daily", "workspace", "/w", "task", "t");
	int64_t jid = 0;

	assert_int_equal(memory_job_add(f->m, job, &jid, &err), AGENTD_OK);
	json_decref(job);
	assert_int_equal(memory_job_claim(f->m, jid, 1700000000, &err), AGENTD_OK);
	sid = new_session(f->m, "/w");
	r1 = new_run(f->m, sid, jid);
	r2 = new_run(f->m, sid, 0);
	assert_int_equal(memory_job_fired(f->m, jid, 1700000000, r1, &err), AGENTD_OK);
	assert_int_equal(memory_run_set_status(f->m, r1, "running", NULL, &err), AGENTD_OK);
	assert_int_equal(memory_run_set_status(f->m, r2, "succeeded", NULL, &err), AGENTD_OK);
	assert_int_equal(memory_ends_open(f->path, &e, &err), AGENTD_OK);
	assert_int_equal(memory_ends_pending(e), 0);
	assert_int_equal(memory_ends_add(e, r1, "failed", "the journal failed: disk full", &err),
	    AGENTD_OK);
	assert_int_equal(memory_ends_add(e, r2, "failed", "late", &err), AGENTD_OK);
	assert_int_equal(memory_ends_add(e, r1, "no such status at all", NULL, &err), AGENTD_EINVAL);
	memory_attach_ends(f->m, e);
	assert_int_equal(memory_run_get(f->m, r1, &o, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(o, "reason")),
	    "the journal failed: disk full");
	json_decref(o);
	/* a stored final status is never overridden */
	assert_int_equal(memory_run_get(f->m, r2, &o, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "succeeded");
	json_decref(o);
	assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	flt.status = "failed";		/* listed by the status it shows */
	assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(ajson_int(json_array_get(list, 0), "id", 0), r1);
	json_decref(list);
	flt.status = "running";
	assert_int_equal(memory_job_get(f->m, jid, &o, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(o, "last_status")), "failed");
	json_decref(o);
	assert_int_equal(memory_job_list(f->m, &list, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
	    "last_status")), "failed");
	json_decref(list);
	raw_status(f->path, r1, st, sizeof(st));
	assert_string_equal(st, "running");

	/* a restart: the file alone tells */
	memory_attach_ends(f->m, NULL);
	memory_ends_close(e);
	e = NULL;
	assert_int_equal(memory_ends_open(f->path, &e, &err), AGENTD_OK);
	assert_int_equal(memory_ends_pending(e), 2);
	memory_attach_ends(f->m, e);
	assert_int_equal(memory_run_get(f->m, r1, &o, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "failed");
	json_decref(o);
	assert_int_equal(memory_ends_store(e, f->m, &stored, &err), AGENTD_OK);
	assert_int_equal(stored, 2);
	assert_int_equal(memory_ends_pending(e), 0);
	raw_status(f->path, r1, st, sizeof(st));
	assert_string_equal(st, "failed");
	raw_status(f->path, r2, st, sizeof(st));
	assert_string_equal(st, "succeeded");
	{
		/* the stored end is the run's end event, in its hash chain; the
		 * run that had ended already gets none */
		json_t *ev = NULL, *last;
		int ok = 0;
		int64_t bad = 0, count = 0;

		assert_int_equal(memory_event_list(f->m, r1, 0, &ev, &err), AGENTD_OK);
		last = json_array_get(ev, json_array_size(ev) - 1);
		assert_string_equal(ajson_str(last, "type", ""), "end");
		assert_string_equal(ajson_str(json_object_get(last, "data"), "status", ""), "failed");
		json_decref(ev);
		assert_int_equal(memory_audit(f->m, r1, &ok, &bad, &count, &err), AGENTD_OK);
		assert_true(ok);
		assert_int_equal(memory_event_list(f->m, r2, 0, &ev, &err), AGENTD_OK);
		assert_int_equal(json_array_size(ev), 0);
		json_decref(ev);
	}
	memory_attach_ends(f->m, NULL);
	memory_ends_close(e);
	e = NULL;
	assert_int_equal(memory_ends_open(f->path, &e, &err), AGENTD_OK);
	assert_int_equal(memory_ends_pending(e), 0);

	/* a torn slot (a crash while writing it) is not taken for an end */
	assert_int_equal(memory_ends_add(e, r1, "failed", "x", &err), AGENTD_OK);
	memory_ends_close(e);
	e = NULL;
	snprintf(ends, sizeof(ends), "%s-ends", f->path);
	fd = open(ends, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "y", 1, 40), 1);
	close(fd);
	assert_int_equal(memory_ends_open(f->path, &e, &err), AGENTD_OK);
	assert_int_equal(memory_ends_pending(e), 0);
	memory_ends_close(e);
	memory_ends_close(NULL);
}

/* Files agentd never makes are refused, untouched: an empty database (alone
 * or beside a WAL), a WAL without its database; memory_set_aside moves them
 * out of the way and the next open starts a new journal. */
static void
test_empty_journal(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct memory *m = NULL;
	char p[160], wal[170], aside[256], moved[300];
	struct stat sb;
	int fd;

	snprintf(p, sizeof(p), "%s/empty.db", f->dir);
	snprintf(wal, sizeof(wal), "%s-wal", p);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(memory_open(p, &m, &err), AGENTD_ECORRUPT);
	assert_non_null(strstr(err.msg, "empty"));
	assert_null(m);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	fd = open(wal, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "walbytes", 8), 8);
	close(fd);
	assert_int_equal(memory_open(p, &m, &err), AGENTD_ECORRUPT);
	assert_int_equal(memory_open_more(p, &m, &err), AGENTD_ECORRUPT);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_size, 8);
	/* the WAL alone */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(memory_open(p, &m, &err), AGENTD_ECORRUPT);
	assert_int_equal(stat(p, &sb), -1);
	/* set aside: a new journal, the WAL kept under the new name */
	assert_int_equal(memory_set_aside(p, aside, sizeof(aside), &err), AGENTD_OK);
	snprintf(moved, sizeof(moved), "%s-wal", aside);
	assert_int_equal(stat(moved, &sb), 0);
	assert_int_equal(sb.st_size, 8);
	assert_int_equal(memory_set_aside(p, NULL, 0, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_open(p, &m, &err), AGENTD_OK);
	memory_close(m);
	assert_int_equal(stat(p, &sb), 0);
	assert_true(sb.st_size > 0);
}

static void
test_runs(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *o = NULL, *list = NULL, *opts = json_pack("{s:i,s:s}", "max_steps", 5, "policy", "ro");
	struct memory_run_spec spec = { .workspace = "/w", .task = "fix", .branch = "agentd/1",
		.options = opts };
	struct memory_run_filter flt = { 0 };
	int64_t sid, sid2, r1, r2, r3, id = 0;

	sid = new_session(f->m, "/w");
	sid2 = new_session(f->m, "/w");
	spec.session_id = sid;
	assert_int_equal(memory_run_create(f->m, &spec, &r1, &err), AGENTD_OK);
	r2 = new_run(f->m, sid, 0);
	r3 = new_run(f->m, sid2, 0);
	spec.session_id = 12345;
	assert_int_equal(memory_run_create(f->m, &spec, &id, &err), AGENTD_ENOTFOUND);
	assert_int_equal(id, 0);
	assert_int_equal(memory_run_get(f->m, r1, &o, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "queued");
	assert_string_equal(json_string_value(json_object_get(o, "branch")), "agentd/1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "options"),
	    "max_steps")), 5);
	assert_true(json_is_null(json_object_get(o, "job_id")));
	assert_true(json_is_null(json_object_get(o, "started")));
	json_decref(o);

	assert_int_equal(memory_run_set_status(f->m, r1, "running", NULL, &err), AGENTD_OK);
	assert_int_equal(memory_run_get(f->m, r1, &o, &err), AGENTD_OK);
	assert_true(json_is_real(json_object_get(o, "started")));
	assert_true(json_is_null(json_object_get(o, "finished")));
	json_decref(o);
	assert_int_equal(memory_run_set_status(f->m, r1, "failed", "step limit", &err), AGENTD_OK);
	assert_int_equal(memory_run_set_status(f->m, r1, "exploded", NULL, &err), AGENTD_EINVAL);
	assert_int_equal(memory_run_set_status(f->m, 999, "failed", NULL, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_run_set_text(f->m, r1, "worktree", "/s/wt/1", &err), AGENTD_OK);
	assert_int_equal(memory_run_set_text(f->m, r1, "base_oid", "abc123", &err), AGENTD_OK);
	assert_int_equal(memory_run_set_text(f->m, r1, "status", "x", &err), AGENTD_EINVAL);
	assert_int_equal(memory_run_set_text(f->m, r1, "task; DROP TABLE runs", "x", &err),
	    AGENTD_EINVAL);
	assert_int_equal(memory_run_add_usage(f->m, r1, 100, 20, 1, &err), AGENTD_OK);
	assert_int_equal(memory_run_add_usage(f->m, r1, 50, 5, 1, &err), AGENTD_OK);
	assert_int_equal(memory_run_add_usage(f->m, r1, -1, 5, 1, &err), AGENTD_EINVAL);
	assert_int_equal(memory_run_get(f->m, r1, &o, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "failed");
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "step limit");
	assert_string_equal(json_string_value(json_object_get(o, "worktree")), "/s/wt/1");
	assert_string_equal(json_string_value(json_object_get(o, "base_oid")), "abc123");
	assert_int_equal(json_integer_value(json_object_get(o, "prompt_tokens")), 150);
	assert_int_equal(json_integer_value(json_object_get(o, "completion_tokens")), 25);
	assert_int_equal(json_integer_value(json_object_get(o, "steps")), 2);
	assert_true(json_is_real(json_object_get(o, "finished")));
	json_decref(o);
	/* Resuming clears finished and the old reason. */
	assert_int_equal(memory_run_set_status(f->m, r1, "running", NULL, &err), AGENTD_OK);
	assert_int_equal(memory_run_get(f->m, r1, &o, &err), AGENTD_OK);
	assert_true(json_is_null(json_object_get(o, "finished")));
	assert_true(json_is_null(json_object_get(o, "reason")));
	json_decref(o);

	assert_int_equal(memory_run_list(f->m, NULL, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), r3);
	json_decref(list);
	flt.session_id = sid;
	assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	flt.status = "running";
	assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), r1);
	json_decref(list);
	flt.session_id = 0;
	flt.status = "queued";
	assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	flt.status = NULL;
	flt.limit = 1;
	assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	flt.status = "bogus";
	assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_EINVAL);
	json_decref(opts);
	(void)r2;
}

static void
test_messages(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *calls = json_pack("[{s:s,s:s,s:{s:s,s:s}}]", "id", "call_1", "type", "function",
	    "function", "name", "read_file", "arguments", "{\"path\":\"a\"}");
	struct memory_msg msg = { 0 };
	json_t *list = NULL, *o = NULL;
	int64_t sid, other, run, seq = 0, s;

	sid = new_session(f->m, "/w");
	other = new_session(f->m, "/w");
	run = new_run(f->m, sid, 0);
	assert_int_equal(add_msg(f->m, sid, run, "system", "you are agentd", NULL), 1);
	assert_int_equal(add_msg(f->m, sid, run, "user", "read a", NULL), 2);
	msg.run_id = run;
	msg.role = "assistant";
	msg.tool_calls = calls;
	msg.reasoning = "I should read it";
	msg.step = 1;
	assert_int_equal(memory_msg_add(f->m, sid, &msg, &seq, &err), AGENTD_OK);
	assert_int_equal(seq, 3);
	json_decref(calls);
	assert_int_equal(add_msg(f->m, sid, run, "tool", "contents of a", "call_1"), 4);
	/* Sequence numbers are per session. */
	assert_int_equal(add_msg(f->m, other, 0, "user", "elsewhere", NULL), 1);
	/* Refusals. */
	msg = (struct memory_msg){ .role = "tool", .content = "x" };
	assert_int_equal(memory_msg_add(f->m, sid, &msg, &seq, &err), AGENTD_EINVAL);
	msg = (struct memory_msg){ .role = "wizard", .content = "x" };
	assert_int_equal(memory_msg_add(f->m, sid, &msg, &seq, &err), AGENTD_EINVAL);
	msg = (struct memory_msg){ .role = "user", .content = "x", .run_id = run };
	assert_int_equal(memory_msg_add(f->m, other, &msg, &seq, &err), AGENTD_EINVAL);
	msg = (struct memory_msg){ .role = "user", .content = "x" };
	assert_int_equal(memory_msg_add(f->m, 4242, &msg, &seq, &err), AGENTD_ENOTFOUND);
	assert_int_equal(seq, 3);

	assert_int_equal(memory_msg_list(f->m, sid, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 4);
	o = json_array_get(list, 2);
	assert_string_equal(json_string_value(json_object_get(o, "role")), "assistant");
	assert_true(json_is_null(json_object_get(o, "content")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "tool_calls"), 0), "id")), "call_1");
	assert_string_equal(json_string_value(json_object_get(o, "reasoning")), "I should read it");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "message");
	assert_int_equal(json_integer_value(json_object_get(o, "run_id")), run);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 3),
	    "tool_call_id")), "call_1");
	json_decref(list);
	/* The tail only. */
	assert_int_equal(memory_msg_list(f->m, sid, 2, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 3);
	json_decref(list);
	/* Pages: at most `limit` from after_seq on; a page holds at least one. */
	assert_int_equal(memory_msg_page(f->m, sid, 1, 2, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "seq")), 3);
	json_decref(list);
	assert_int_equal(memory_msg_page(f->m, sid, 3, 10, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	list = (json_t *)1;
	assert_int_equal(memory_msg_page(f->m, sid, 0, 0, &list, &err), AGENTD_EINVAL);
	assert_ptr_equal(list, (json_t *)1);

	/* Summaries. */
	o = (json_t *)1;
	assert_int_equal(memory_msg_last_summary(f->m, sid, &o, &err), AGENTD_OK);
	assert_null(o);
	msg = (struct memory_msg){ .run_id = run, .role = "user", .content = "summary one",
		.kind = "summary", .covers_seq = 2 };
	assert_int_equal(memory_msg_add(f->m, sid, &msg, &s, &err), AGENTD_OK);
	msg.content = "summary two";
	msg.covers_seq = 4;
	assert_int_equal(memory_msg_add(f->m, sid, &msg, &s, &err), AGENTD_OK);
	msg.kind = "digest";
	assert_int_equal(memory_msg_add(f->m, sid, &msg, &s, &err), AGENTD_EINVAL);
	assert_int_equal(memory_msg_last_summary(f->m, sid, &o, &err), AGENTD_OK);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "content")), "summary two");
	assert_int_equal(json_integer_value(json_object_get(o, "covers_seq")), 4);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "summary");
	json_decref(o);
}

static void
test_tool_calls(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *list = NULL, *t;
	int64_t sid, run;

	sid = new_session(f->m, "/w");
	run = new_run(f->m, sid, 0);
	assert_int_equal(memory_tool_add(f->m, run, "c1", "shell", "{\"command\":\"ls\"}", 0, 3, &err),
	    AGENTD_OK);
	assert_int_equal(memory_tool_add(f->m, run, "c2", "read_file", "{}", 1, 3, &err), AGENTD_OK);
	assert_int_equal(memory_tool_add(f->m, run, "c1", "shell", "{}", 0, 3, &err), AGENTD_EEXIST);
	assert_int_equal(memory_tool_add(f->m, 999, "c1", "shell", "{}", 0, 3, &err),
	    AGENTD_ENOTFOUND);
	assert_int_equal(memory_tool_add(f->m, run, NULL, "shell", "{}", 0, 3, &err), AGENTD_EINVAL);
	assert_int_equal(memory_tool_started(f->m, run, "c1", &err), AGENTD_OK);
	assert_int_equal(memory_tool_started(f->m, run, "nope", &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_tool_finished(f->m, run, "c1", "exit 0\nfile.txt", 1, &err), AGENTD_OK);
	/* Never finished twice, never restarted after finishing. */
	assert_int_equal(memory_tool_finished(f->m, run, "c1", "again", 1, &err), AGENTD_EINVAL);
	assert_int_equal(memory_tool_started(f->m, run, "c1", &err), AGENTD_EINVAL);
	assert_int_equal(memory_tool_list(f->m, run, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	t = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(t, "id")), "c1");
	assert_string_equal(json_string_value(json_object_get(t, "name")), "shell");
	assert_string_equal(json_string_value(json_object_get(t, "arguments")), "{\"command\":\"ls\"}");
	assert_string_equal(json_string_value(json_object_get(t, "status")), "finished");
	assert_string_equal(json_string_value(json_object_get(t, "result")), "exit 0\nfile.txt");
	assert_true(json_is_true(json_object_get(t, "ok")));
	assert_true(json_is_false(json_object_get(t, "read_only")));
	assert_true(json_is_real(json_object_get(t, "started")));
	assert_true(json_is_real(json_object_get(t, "finished")));
	assert_int_equal(json_integer_value(json_object_get(t, "step")), 3);
	t = json_array_get(list, 1);
	assert_string_equal(json_string_value(json_object_get(t, "status")), "pending");
	assert_true(json_is_null(json_object_get(t, "ok")));
	assert_true(json_is_true(json_object_get(t, "read_only")));
	json_decref(list);
}

static void
test_plans(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *p1 = json_pack("{s:[{s:s,s:s}]}", "steps", "step", "read", "status", "pending");
	json_t *p2 = json_pack("{s:[{s:s,s:s}]}", "steps", "step", "read", "status", "completed");
	json_t *o = (json_t *)1;
	int64_t run = new_run(f->m, new_session(f->m, "/w"), 0);
	int v = 0;

	assert_int_equal(memory_plan_latest(f->m, run, &o, &err), AGENTD_OK);
	assert_null(o);
	assert_int_equal(memory_plan_add(f->m, run, p1, &v, &err), AGENTD_OK);
	assert_int_equal(v, 1);
	assert_int_equal(memory_plan_add(f->m, run, p2, &v, &err), AGENTD_OK);
	assert_int_equal(v, 2);
	assert_int_equal(memory_plan_add(f->m, 999, p2, &v, &err), AGENTD_ENOTFOUND);
	assert_int_equal(v, 2);
	assert_int_equal(memory_plan_latest(f->m, run, &o, &err), AGENTD_OK);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	assert_true(json_equal(json_object_get(o, "plan"), p2));
	json_decref(o);
	json_decref(p1);
	json_decref(p2);
}

static void
test_events_and_audit(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *list = NULL, *d;
	int64_t run, run2, bad = -1, count = -1;
	int i, ok = -1;

	run = new_run(f->m, new_session(f->m, "/w"), 0);
	run2 = new_run(f->m, new_session(f->m, "/w"), 0);
	for (i = 1; i <= 6; i++) {
		d = json_pack("{s:i,s:s}", "i", i, "tool", "shell");
		assert_int_equal(memory_event_add(f->m, run, "tool.call", d, NULL, &err), AGENTD_OK);
		assert_int_equal(memory_event_add(f->m, run2, "text", d, NULL, &err), AGENTD_OK);
		json_decref(d);
	}
	assert_int_equal(memory_event_add(f->m, run, "bad\ntype", NULL, NULL, &err), AGENTD_EINVAL);
	assert_int_equal(memory_event_add(f->m, 999, "x", NULL, NULL, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_event_list(f->m, run, 4, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 5);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_array_get(list, 0),
	    "data"), "i")), 5);
	assert_int_equal(strlen(json_string_value(json_object_get(json_array_get(list, 0), "hash"))),
	    64);
	json_decref(list);

	assert_int_equal(memory_audit(f->m, run, &ok, &bad, &count, &err), AGENTD_OK);
	assert_int_equal(ok, 1);
	assert_int_equal(bad, 0);
	assert_int_equal(count, 6);
	assert_int_equal(memory_audit(f->m, 999, &ok, &bad, &count, &err), AGENTD_ENOTFOUND);

	/* Someone edits a stored argument with plain SQL. */
	{
		char sql[256];

		snprintf(sql, sizeof(sql), "UPDATE events SET data='{\"i\":3,\"tool\":\"rm -rf\"}' "
		    "WHERE run_id=%lld AND seq=3", (long long)run);
		raw_exec(f->path, sql);
	}
	assert_int_equal(memory_audit(f->m, run, &ok, &bad, &count, &err), AGENTD_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(bad, 3);
	assert_int_equal(count, 6);
	/* The other run's chain is untouched. */
	assert_int_equal(memory_audit(f->m, run2, &ok, &bad, &count, &err), AGENTD_OK);
	assert_int_equal(ok, 1);
	/* Forging the row's own hash too moves the break to the next row; deleting
	 * a row breaks the chain where it was. */
	{
		char sql[256];

		snprintf(sql, sizeof(sql), "UPDATE events SET hash='%064d' WHERE run_id=%lld AND seq=3",
		    0, (long long)run);
		raw_exec(f->path, sql);
		snprintf(sql, sizeof(sql), "DELETE FROM events WHERE run_id=%lld AND seq=2",
		    (long long)run2);
		raw_exec(f->path, sql);
	}
	assert_int_equal(memory_audit(f->m, run2, &ok, &bad, &count, &err), AGENTD_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(bad, 3);
	assert_int_equal(count, 5);
}

static void
test_sha256_vectors(void **state)
{
	struct memory_sha256 c;
	char hex[65];
	char million[1000];
	int i;

	(void)state;
	memory_sha256_init(&c);
	memory_sha256_hex(&c, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	memory_sha256_init(&c);
	memory_sha256_update(&c, "abc", 3);
	memory_sha256_hex(&c, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	memory_sha256_init(&c);
	memory_sha256_update(&c, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	memory_sha256_hex(&c, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', sizeof(million));
	memory_sha256_init(&c);
	for (i = 0; i < 1000; i++)
		memory_sha256_update(&c, million, sizeof(million));
	memory_sha256_hex(&c, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* ---- recall ---- */

static void
test_search(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	static const char *const hostile[] = {
		"foo-bar", "a\"b", "\"", "(", ")", "*", "AND", "OR NOT", "NEAR(", "content:foo",
		"^x", "'", "a:b:c", "{x y}", "\"unterminated", "+", "-", "x AND (", "col : *",
	};
	json_t *list = NULL, *h;
	int64_t s1, s2, r1, r2;
	size_t i;
	sqlite3_stmt *st = NULL;

	s1 = new_session(f->m, "/repo/one");
	s2 = new_session(f->m, "/repo/two");
	r1 = new_run(f->m, s1, 0);
	r2 = new_run(f->m, s2, 0);
	add_msg(f->m, s1, r1, "system", "the zebracorn system prompt", NULL);
	add_msg(f->m, s1, r1, "user", "please fix the flaky frobnicator test", NULL);
	add_msg(f->m, s1, r1, "assistant", "the frobnicator uses a foo-bar lock", NULL);
	add_msg(f->m, s2, r2, "user", "the frobnicator again, in repo two", NULL);
	/* A tool output that never went back as a message (a crash in between). */
	assert_int_equal(memory_tool_add(f->m, r2, "k1", "shell", "{}", 1, 1, &err), AGENTD_OK);
	assert_int_equal(memory_tool_finished(f->m, r2, "k1", "segfault in quuxdriver.c line 42", 0,
	    &err), AGENTD_OK);
	/* A tool output that did: found once, through its message. */
	assert_int_equal(memory_tool_add(f->m, r1, "k2", "shell", "{}", 1, 1, &err), AGENTD_OK);
	assert_int_equal(memory_tool_finished(f->m, r1, "k2", "wibblewobble output", 1, &err),
	    AGENTD_OK);
	add_msg(f->m, s1, r1, "tool", "wibblewobble output", "k2");

	assert_int_equal(memory_search(f->m, "frobnicator", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 3);
	h = json_array_get(list, 0);
	assert_non_null(strstr(json_string_value(json_object_get(h, "snippet")), "[frobnicator]"));
	assert_true(json_real_value(json_object_get(h, "rank")) <=
	    json_real_value(json_object_get(json_array_get(list, 2), "rank")));
	json_decref(list);
	assert_int_equal(memory_search(f->m, "frobnicator", "/repo/two", 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	h = json_array_get(list, 0);
	assert_int_equal(json_integer_value(json_object_get(h, "session_id")), s2);
	assert_string_equal(json_string_value(json_object_get(h, "workspace")), "/repo/two");
	assert_int_equal(json_integer_value(json_object_get(h, "seq")), 1);
	json_decref(list);
	/* Ranking: more occurrences in a text of the same length rank first. */
	add_msg(f->m, s2, r2, "user", "qwertz alpha beta gamma delta", NULL);
	add_msg(f->m, s2, r2, "user", "qwertz qwertz qwertz alpha beta", NULL);
	add_msg(f->m, s2, r2, "user", "qwertz qwertz alpha beta gamma", NULL);
	assert_int_equal(memory_search(f->m, "qwertz", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "seq")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 2), "seq")), 2);
	assert_true(json_real_value(json_object_get(json_array_get(list, 0), "rank")) <
	    json_real_value(json_object_get(json_array_get(list, 1), "rank")));
	json_decref(list);
	/* Porter stemming: "fixing" finds "fix". */
	assert_int_equal(memory_search(f->m, "fixing", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	/* Tool results. */
	assert_int_equal(memory_search(f->m, "quuxdriver.c", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	h = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(h, "role")), "tool");
	assert_string_equal(json_string_value(json_object_get(h, "tool")), "shell");
	assert_int_equal(json_integer_value(json_object_get(h, "run_id")), r2);
	json_decref(list);
	assert_int_equal(memory_search(f->m, "wibblewobble", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	/* System prompts are not recalled. */
	assert_int_equal(memory_search(f->m, "zebracorn", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	/* Punctuation is data, not syntax. */
	assert_int_equal(memory_search(f->m, "foo-bar", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);

	/* Without quoting, these are syntax errors for FTS5 (the test can fail). */
	assert_int_equal(sqlite3_prepare_v2(memory_internal_db(f->m),
	    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, "a\"b", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ERROR);
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, "NEAR(", -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ERROR);
	sqlite3_finalize(st);
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		list = NULL;
		if (memory_search(f->m, hostile[i], NULL, 0, &list, &err) != AGENTD_OK)
			fail_msg("query '%s': %s", hostile[i], err.msg);
		assert_true(json_is_array(list));
		json_decref(list);
	}
	list = NULL;
	assert_int_equal(memory_search(f->m, "   ", NULL, 0, &list, &err), AGENTD_EINVAL);
	assert_int_equal(memory_search(f->m, NULL, NULL, 0, &list, &err), AGENTD_EINVAL);
	assert_null(list);
	{
		char *huge = malloc(5000);

		memset(huge, 'a', 4999);
		huge[4999] = '\0';
		assert_int_equal(memory_search(f->m, huge, NULL, 0, &list, &err), AGENTD_ETOOBIG);
		free(huge);
	}
	/* The limit is capped. */
	for (i = 0; i < 130; i++)
		add_msg(f->m, s1, r1, "assistant", "gronkle result", NULL);
	assert_int_equal(memory_search(f->m, "gronkle", NULL, 100000, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 100);
	json_decref(list);
	assert_int_equal(memory_search(f->m, "gronkle", NULL, 5, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 5);
	json_decref(list);
}

/* Snippets: a window of words around the hits, bounded whatever the text. */
static void
test_search_snippet(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *list = NULL;
	const char *snip;
	struct abuf b;
	char *text;
	int64_t s1, r1;
	int i;

	s1 = new_session(f->m, "/repo/snip");
	r1 = new_run(f->m, s1, 0);
	/* A hit in the middle of a long text: "..." on both sides, the hit
	 * bracketed, its neighbours kept. */
	abuf_init(&b, 1 << 20);
	for (i = 0; i < 500; i++)
		assert_int_equal(abuf_printf(&b, "%s w%d", i == 250 ? " pivotword," : "", i), AGENTD_OK);
	text = abuf_steal(&b);
	add_msg(f->m, s1, r1, "user", text, NULL);
	free(text);
	assert_int_equal(memory_search(f->m, "pivotword", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	snip = json_string_value(json_object_get(json_array_get(list, 0), "snippet"));
	assert_non_null(snip);
	assert_non_null(strstr(snip, "w249 [pivotword], w250"));
	assert_memory_equal(snip, "...", 3);
	assert_string_equal(snip + strlen(snip) - 3, "...");
	json_decref(list);
	/* Two words: the window that holds both wins over one that holds more
	 * of one of them. */
	add_msg(f->m, s1, r1, "user", "kiwi kiwi kiwi kiwi filler filler filler filler filler "
	    "filler filler filler filler filler filler filler mango then kiwi", NULL);
	assert_int_equal(memory_search(f->m, "kiwi mango", NULL, 0, &list, &err), AGENTD_OK);
	snip = json_string_value(json_object_get(json_array_get(list, 0), "snippet"));
	assert_non_null(strstr(snip, "[mango] then [kiwi]"));
	json_decref(list);
	/* One word matched 40,000 times in one message (FTS5's snippet() spent
	 * seconds on it) and a single 200 KB word: short snippets, hits closed. */
	abuf_init(&b, 1 << 20);
	for (i = 0; i < 40000; i++)
		assert_int_equal(abuf_append(&b, "zap ", 4), AGENTD_OK);
	text = abuf_steal(&b);
	add_msg(f->m, s1, r1, "user", text, NULL);
	free(text);
	assert_int_equal(memory_search(f->m, "zap", NULL, 0, &list, &err), AGENTD_OK);
	snip = json_string_value(json_object_get(json_array_get(list, 0), "snippet"));
	assert_string_equal(snip, "[zap] [zap] [zap] [zap] [zap] [zap] [zap] [zap] [zap] [zap] "
	    "[zap] [zap]...");
	json_decref(list);
	text = malloc(200001);
	assert_non_null(text);
	memcpy(text, "longword ", 9);
	memset(text + 9, 'x', 200000 - 9);
	text[200000] = '\0';
	add_msg(f->m, s1, r1, "user", text, NULL);
	free(text);
	assert_int_equal(memory_search(f->m, "longword", NULL, 0, &list, &err), AGENTD_OK);
	snip = json_string_value(json_object_get(json_array_get(list, 0), "snippet"));
	assert_true(strlen(snip) <= 620);
	assert_memory_equal(snip, "[longword] xxx", 14);
	assert_string_equal(snip + strlen(snip) - 3, "...");
	json_decref(list);
}

static void fts_consistent(struct memory *m);

/* Tool calls are found by their tool and arguments, capped at 4,096
 * characters; hits name the run, the step and the tool. */
static void
test_search_calls(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *list = NULL, *h;
	struct abuf b;
	char *args;
	int64_t s1, r1;
	int i;

	s1 = new_session(f->m, "/repo/calls");
	r1 = new_run(f->m, s1, 0);
	assert_int_equal(memory_tool_add(f->m, r1, "k1", "git_commit",
	    "{\"message\":\"Fix the flumoxed parser\"}", 0, 2, &err), AGENTD_OK);
	abuf_init(&b, 1 << 20);
	assert_int_equal(abuf_puts(&b, "{\"path\":\"a.txt\",\"content\":\"early "), AGENTD_OK);
	for (i = 0; i < 1000; i++)
		assert_int_equal(abuf_puts(&b, "filler "), AGENTD_OK);
	assert_int_equal(abuf_puts(&b, "latecomer\"}"), AGENTD_OK);
	args = abuf_steal(&b);
	assert_int_equal(memory_tool_add(f->m, r1, "k2", "write_file", args, 0, 5, &err), AGENTD_OK);
	free(args);
	/* The tool result message of k1 names its tool and step too. */
	add_msg(f->m, s1, r1, "tool", "committed quizzical abc123", "k1");

	assert_int_equal(memory_search(f->m, "flumoxed", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	h = json_array_get(list, 0);
	assert_string_equal(ajson_str(h, "role", ""), "call");
	assert_string_equal(ajson_str(h, "tool", ""), "git_commit");
	assert_int_equal(ajson_int(h, "step", 0), 2);
	assert_int_equal(ajson_int(h, "run_id", 0), r1);
	assert_non_null(strstr(ajson_str(h, "snippet", ""), "[flumoxed]"));
	json_decref(list);
	/* By the tool's name. */
	assert_int_equal(memory_search(f->m, "git_commit", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	/* The start of long arguments is indexed, what lies past 4,096 is not. */
	assert_int_equal(memory_search(f->m, "early", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(ajson_str(json_array_get(list, 0), "tool", ""), "write_file");
	json_decref(list);
	assert_int_equal(memory_search(f->m, "latecomer", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(memory_search(f->m, "quizzical", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 1);
	h = json_array_get(list, 0);
	assert_string_equal(ajson_str(h, "role", ""), "tool");
	assert_string_equal(ajson_str(h, "tool", ""), "git_commit");
	json_decref(list);
	/* The workspace filter applies to calls too. */
	assert_int_equal(memory_search(f->m, "flumoxed", "/repo/other", 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	fts_consistent(f->m);
}

/* ---- deletion and retention ---- */

static void
fts_consistent(struct memory *m)
{
	sqlite3 *db = memory_internal_db(m);

	assert_int_equal(sqlite3_exec(db, "INSERT INTO messages_fts(messages_fts) VALUES('integrity-check');"
	    "INSERT INTO tool_fts(tool_fts) VALUES('integrity-check');"
	    "INSERT INTO call_fts(call_fts) VALUES('integrity-check');", NULL, NULL, NULL), SQLITE_OK);
}

static void
fill_session(struct memory *m, int64_t sid, const char *word)
{
	struct agentd_error err = { 0 };
	json_t *plan = json_pack("{s:[]}", "steps");
	int64_t run = new_run(m, sid, 0);

	add_msg(m, sid, run, "user", word, NULL);
	assert_int_equal(memory_tool_add(m, run, "c", "shell", "{}", 0, 1, &err), AGENTD_OK);
	assert_int_equal(memory_tool_finished(m, run, "c", word, 1, &err), AGENTD_OK);
	assert_int_equal(memory_plan_add(m, run, plan, NULL, &err), AGENTD_OK);
	assert_int_equal(memory_event_add(m, run, "x", plan, NULL, &err), AGENTD_OK);
	assert_int_equal(memory_run_set_status(m, run, "succeeded", NULL, &err), AGENTD_OK);
	json_decref(plan);
}

static void
test_cascade_delete(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *list = NULL;
	int64_t a, b;

	a = new_session(f->m, "/w");
	b = new_session(f->m, "/w");
	fill_session(f->m, a, "alphaword");
	fill_session(f->m, b, "betaword");
	assert_int_equal(memory_session_delete(f->m, a, &err), AGENTD_OK);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM runs"), 1);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM tool_calls"), 1);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM plans"), 1);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM events"), 1);
	assert_int_equal(memory_search(f->m, "alphaword", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(memory_search(f->m, "betaword", NULL, 0, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);	/* the message and the tool output */
	json_decref(list);
	fts_consistent(f->m);
	assert_int_equal(memory_integrity_check(f->m, &err), AGENTD_OK);
}

static void
test_retention(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	int64_t s[6];
	int i, n = -1;
	char sql[128];

	for (i = 0; i < 6; i++) {
		s[i] = new_session(f->m, "/w");
		fill_session(f->m, s[i], "retained");
		/* s[0] oldest ... s[5] newest */
		snprintf(sql, sizeof(sql), "UPDATE sessions SET updated=%d WHERE id=%lld",
		    1000 + i, (long long)s[i]);
		assert_int_equal(sqlite3_exec(memory_internal_db(f->m), sql, NULL, NULL, NULL), SQLITE_OK);
	}
	/* s[1] has a run in progress: never deleted. */
	new_run(f->m, s[1], 0);
	snprintf(sql, sizeof(sql), "UPDATE sessions SET updated=1001 WHERE id=%lld", (long long)s[1]);
	assert_int_equal(sqlite3_exec(memory_internal_db(f->m), sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(memory_retention(f->m, 0, 0, &n, &err), AGENTD_OK);
	assert_int_equal(n, 0);
	assert_int_equal(memory_retention(f->m, -1, 0, &n, &err), AGENTD_EINVAL);
	/* Keep the newest 4: s[0] goes, s[1] stays (busy). */
	assert_int_equal(memory_retention(f->m, 0, 4, &n, &err), AGENTD_OK);
	assert_int_equal(n, 1);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM sessions"), 5);
	/* By age: everything is from 1970 except what we touch now. */
	add_msg(f->m, s[5], 0, "user", "fresh", NULL);
	assert_int_equal(memory_retention(f->m, 3600, 0, &n, &err), AGENTD_OK);
	assert_int_equal(n, 3);	/* s[2], s[3], s[4] */
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM sessions"), 2);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM messages WHERE session_id NOT IN "
	    "(SELECT id FROM sessions)"), 0);
	fts_consistent(f->m);
	assert_int_equal(memory_integrity_check(f->m, &err), AGENTD_OK);
}

/* ---- schedules ---- */

static void
test_jobs(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	json_t *job = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "cron", "*/5 * * * *", "tz",
	    "Europe/Paris", "workspace", "/repo", "task", "triage", "branch", 1, "catchup", "once");
	json_t *o = NULL, *list = NULL, *bad;
	int64_t id = 0, id2 = 0, slot = -1, run;

	assert_int_equal(memory_job_add(f->m, job, &id, &err), AGENTD_OK);
	json_decref(job);
	job = json_pack("{s:s,s:s,s:{s:s}}", "cron", "@daily", "workspace", "/repo", "chore",
	    "prompt", "summarize commits");
	assert_int_equal(memory_job_add(f->m, job, &id2, &err), AGENTD_OK);
	json_decref(job);
	/* Refusals. */
	bad = json_pack("{s:s,s:s}", "cron", "* * * * *", "workspace", "/r");
	assert_int_equal(memory_job_add(f->m, bad, &id2, &err), AGENTD_EINVAL);	/* no task */
	json_object_set_new(bad, "task", json_integer(3));
	assert_int_equal(memory_job_add(f->m, bad, &id2, &err), AGENTD_EINVAL);
	json_object_set_new(bad, "task", json_string("t"));
	json_object_set_new(bad, "catchup", json_string("always"));
	assert_int_equal(memory_job_add(f->m, bad, &id2, &err), AGENTD_EINVAL);
	json_decref(bad);

	assert_int_equal(memory_job_get(f->m, id, &o, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(o, "cron")), "*/5 * * * *");
	assert_string_equal(json_string_value(json_object_get(o, "tz")), "Europe/Paris");
	assert_string_equal(json_string_value(json_object_get(o, "catchup")), "once");
	assert_true(json_is_true(json_object_get(o, "branch")));
	assert_true(json_is_false(json_object_get(o, "paused")));
	assert_true(json_is_null(json_object_get(o, "chore")));
	assert_true(json_is_null(json_object_get(o, "last_status")));
	json_decref(o);

	assert_int_equal(memory_job_last_slot(f->m, id, &slot, &err), AGENTD_OK);
	assert_int_equal(slot, 0);
	assert_int_equal(memory_job_claim(f->m, id, 1700000000, &err), AGENTD_OK);
	assert_int_equal(memory_job_claim(f->m, id, 1700000000, &err), AGENTD_EEXIST);
	assert_int_equal(memory_job_claim(f->m, 999, 1700000000, &err), AGENTD_ENOTFOUND);
	/* Once also across a restart. */
	memory_close(f->m);
	assert_int_equal(memory_open(f->path, &f->m, &err), AGENTD_OK);
	assert_int_equal(memory_job_claim(f->m, id, 1700000000, &err), AGENTD_EEXIST);
	assert_int_equal(memory_job_claim(f->m, id, 1700000300, &err), AGENTD_OK);
	assert_int_equal(memory_job_last_slot(f->m, id, &slot, &err), AGENTD_OK);
	assert_int_equal(slot, 1700000300);
	assert_int_equal(memory_job_last_slot(f->m, 999, &slot, &err), AGENTD_ENOTFOUND);

	run = new_run(f->m, new_session(f->m, "/repo"), id);
	assert_int_equal(memory_job_fired(f->m, id, 1700000300, run, &err), AGENTD_OK);
	assert_int_equal(memory_job_fired(f->m, id, 1234, run, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_run_set_status(f->m, run, "succeeded", NULL, &err), AGENTD_OK);
	assert_int_equal(memory_job_set_paused(f->m, id, 1, &err), AGENTD_OK);
	assert_int_equal(memory_job_set_paused(f->m, 999, 1, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_job_list(f->m, &list, &err), AGENTD_OK);
	assert_int_equal(json_array_size(list), 2);
	o = json_array_get(list, 0);
	assert_int_equal(json_integer_value(json_object_get(o, "last_run_id")), run);
	assert_int_equal(json_integer_value(json_object_get(o, "last_fire")), 1700000300);
	assert_string_equal(json_string_value(json_object_get(o, "last_status")), "succeeded");
	assert_true(json_is_true(json_object_get(o, "paused")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(list, 1),
	    "chore"), "prompt")), "summarize commits");
	json_decref(list);
	{
		struct memory_run_filter flt = { .job_id = id };

		assert_int_equal(memory_run_list(f->m, &flt, &list, &err), AGENTD_OK);
		assert_int_equal(json_array_size(list), 1);
		json_decref(list);
	}
	/* Deleting the job keeps its runs (job_id cleared) and drops its firings. */
	assert_int_equal(memory_job_delete(f->m, id, &err), AGENTD_OK);
	assert_int_equal(memory_job_delete(f->m, id, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_job_get(f->m, id, &o, &err), AGENTD_ENOTFOUND);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM job_fires"), 0);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM runs WHERE job_id IS NULL"), 1);
}

/* ---- transactions and concurrency ---- */

static void
test_transactions(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	int64_t sid = new_session(f->m, "/w");

	assert_int_equal(memory_commit(f->m, &err), AGENTD_EINVAL);
	memory_rollback(f->m);	/* harmless */
	/* Outer rollback undoes everything, inner commits included. */
	assert_int_equal(memory_begin(f->m, &err), AGENTD_OK);
	add_msg(f->m, sid, 0, "user", "one", NULL);
	assert_int_equal(memory_begin(f->m, &err), AGENTD_OK);
	add_msg(f->m, sid, 0, "user", "two", NULL);
	assert_int_equal(memory_commit(f->m, &err), AGENTD_OK);
	memory_rollback(f->m);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM messages"), 0);
	/* Inner rollback undoes only the inner part. */
	assert_int_equal(memory_begin(f->m, &err), AGENTD_OK);
	add_msg(f->m, sid, 0, "user", "one", NULL);
	assert_int_equal(memory_begin(f->m, &err), AGENTD_OK);
	add_msg(f->m, sid, 0, "user", "two", NULL);
	memory_rollback(f->m);
	add_msg(f->m, sid, 0, "user", "three", NULL);
	assert_int_equal(memory_commit(f->m, &err), AGENTD_OK);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM messages"), 2);
	assert_int_equal(raw_int(f->m, "SELECT max(seq) FROM messages"), 2);
	/* A failing call inside a transaction leaves the caller's work alone. */
	assert_int_equal(memory_begin(f->m, &err), AGENTD_OK);
	add_msg(f->m, sid, 0, "user", "four", NULL);
	assert_int_equal(memory_run_set_status(f->m, 999, "running", NULL, &err), AGENTD_ENOTFOUND);
	assert_int_equal(memory_commit(f->m, &err), AGENTD_OK);
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM messages"), 3);
}

struct writer {
	const char *path;
	int64_t sid;
	int64_t run;
	int failures;
	char msg[1100];
};

#define WRITES 150

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct agentd_error err = { 0 };
	struct memory *m = NULL;
	int i;

	if (memory_open(w->path, &m, &err) != AGENTD_OK) {
		w->failures++;
		snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
		return NULL;
	}
	for (i = 0; i < WRITES; i++) {
		struct memory_msg msg = { .run_id = w->run, .role = "assistant", .content = "step" };
		json_t *d = json_pack("{s:i}", "i", i);
		int ret = memory_begin(m, &err);

		if (ret == AGENTD_OK)
			ret = memory_msg_add(m, w->sid, &msg, NULL, &err);
		if (ret == AGENTD_OK)
			ret = memory_event_add(m, w->run, "step", d, NULL, &err);
		ret = ret == AGENTD_OK ? memory_commit(m, &err) : (memory_rollback(m), ret);
		if (ret == AGENTD_OK) {
			json_t *list = NULL;

			/* A reader between writes, too. */
			ret = memory_msg_list(m, w->sid, 0, &list, &err);
			json_decref(list);
		}
		json_decref(d);
		if (ret != AGENTD_OK) {
			w->failures++;
			snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
		}
	}
	memory_close(m);
	return NULL;
}

static void
test_concurrent_writers(void **state)
{
	struct fx *f = *state;
	struct agentd_error err = { 0 };
	struct writer w[2];
	pthread_t t[2];
	int64_t sid = new_session(f->m, "/w");
	int i, ok = 0;
	int64_t bad = 0, count = 0;

	for (i = 0; i < 2; i++) {
		w[i] = (struct writer){ .path = f->path, .sid = sid };
		w[i].run = new_run(f->m, sid, 0);
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 2; i++) {
		if (w[i].failures != 0)
			fail_msg("writer %d: %d failures, last: %s", i, w[i].failures, w[i].msg);
		assert_int_equal(memory_audit(f->m, w[i].run, &ok, &bad, &count, &err), AGENTD_OK);
		assert_int_equal(ok, 1);
		assert_int_equal(count, WRITES);
	}
	/* Both writers shared one session: sequence numbers 1..2N, no gap. */
	assert_int_equal(raw_int(f->m, "SELECT count(*) FROM messages"), 2 * WRITES);
	assert_int_equal(raw_int(f->m, "SELECT max(seq) FROM messages"), 2 * WRITES);
	assert_int_equal(memory_integrity_check(f->m, &err), AGENTD_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test_setup_teardown(test_open_schema_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_more, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_garbage_and_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tool_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_and_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_snippet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v3_indexes_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cascade_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
