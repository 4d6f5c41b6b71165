/*
 * test_sched.c — the scheduler with an injected clock, a real journal on a
 * temporary file, and fake run callbacks: start_run records each call and
 * creates a real run row (so the journal's foreign keys hold); run_active
 * answers from a table the test controls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/json.h"
#include "daemon/sched.h"

#define MAXRUNS 256

struct fake {
	char dir[64];
	char db[128];
	struct memory *m;
	struct sched *s;
	time_t now;
	int n;			/* start_run calls */
	int64_t job[MAXRUNS], slot[MAXRUNS], run[MAXRUNS];
	int active[MAXRUNS];	/* by run id */
	int nwarn;
	char warn[512];
};

static time_t
fake_now(void *ud)
{
	return ((struct fake *)ud)->now;
}

static int
fake_start(void *ud, json_t *job, int64_t slot, int64_t *run_id, struct agentd_error *err)
{
	struct fake *f = ud;
	struct memory_run_spec spec = { 0 };
	int64_t sid = 0, rid = 0;
	int rc;

	rc = memory_session_create(f->m, "scheduled", "/tmp", &sid, err);
	if (rc)
		return rc;
	spec.session_id = sid;
	spec.workspace = "/tmp";
	spec.task = ajson_str(job, "task", "t");
	spec.job_id = ajson_int(job, "id", 0);
	rc = memory_run_create(f->m, &spec, &rid, err);
	if (rc)
		return rc;
	assert_true(f->n < MAXRUNS && rid < MAXRUNS);
	f->job[f->n] = spec.job_id;
	f->slot[f->n] = slot;
	f->run[f->n] = rid;
	f->n++;
	f->active[rid] = 1;
	*run_id = rid;
	return AGENTD_OK;
}

static int
fake_active(void *ud, int64_t run_id)
{
	struct fake *f = ud;

	return run_id > 0 && run_id < MAXRUNS && f->active[run_id];
}

static void
fake_warn(void *ud, int64_t job_id, const char *msg)
{
	struct fake *f = ud;

	f->nwarn++;
	snprintf(f->warn, sizeof(f->warn), "job %lld: %s", (long long)job_id, msg);
}

static struct sched_ops ops = { fake_now, fake_start, fake_active, fake_warn, NULL };

static void
open_sched(struct fake *f, int max)
{
	struct agentd_error err = { 0 };

	ops.ud = f;
	if (sched_new(f->m, &ops, max, &f->s, &err) != AGENTD_OK)
		fail_msg("sched_new: %s", err.msg);
}

static void
start_sched(struct fake *f)
{
	struct agentd_error err = { 0 };

	if (sched_start(f->s, &err) != AGENTD_OK)
		fail_msg("sched_start: %s", err.msg);
}

/* Close the scheduler and the journal, open both again (a daemon restart). */
static void
restart(struct fake *f, int max)
{
	struct agentd_error err = { 0 };

	sched_free(f->s);
	memory_close(f->m);
	f->s = NULL;
	if (memory_open(f->db, &f->m, &err) != AGENTD_OK)
		fail_msg("memory_open: %s", err.msg);
	open_sched(f, max);
}

static int
setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct agentd_error err = { 0 };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_sched.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/agentd.db", f->dir);
	if (memory_open(f->db, &f->m, &err) != AGENTD_OK)
		fail_msg("memory_open: %s", err.msg);
	/* Jobs are stamped with the real creation time: the test clock starts
	 * just after it. Cron slots are whole minutes; near the end of one,
	 * wait it out so that no slot lies between a job's creation and the
	 * clock's start. */
	while (time(NULL) % 60 >= 55)
		usleep(200 * 1000);
	f->now = time(NULL) + 2;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fake *f = *state;
	char path[256];

	sched_free(f->s);
	memory_close(f->m);
	snprintf(path, sizeof(path), "%s/agentd.db", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/agentd.db-wal", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/agentd.db-shm", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t
add_job(struct fake *f, const char *cron, const char *catchup, int paused)
{
	struct agentd_error err = { 0 };
	json_t *job = json_pack("{s:s, s:s, s:s, s:s, s:b}", "cron", cron, "tz", "UTC",
	    "workspace", "/tmp", "task", "do the chore", "paused", paused);
	int64_t id = 0;

	assert_non_null(job);
	if (catchup != NULL)
		json_object_set_new(job, "catchup", json_string(catchup));
	if (sched_validate_job(job, &err) != AGENTD_OK)
		fail_msg("validate: %s", err.msg);
	if (memory_job_add(f->m, job, &id, &err) != AGENTD_OK)
		fail_msg("memory_job_add: %s", err.msg);
	json_decref(job);
	return id;
}

static time_t
next_hour(time_t t)
{
	return (t / 3600 + 1) * 3600;
}

static time_t
next_minute(time_t t)
{
	return (t / 60 + 1) * 60;
}

/* A job fires at its slot, once, and not before. */
static void
test_fires_at_slot(void **state)
{
	struct fake *f = *state;
	int64_t id = add_job(f, "0 * * * *", NULL, 0);
	time_t h = next_hour(f->now);
	long ms;

	open_sched(f, 2);
	start_sched(f);
	assert_int_equal(f->n, 0);
	ms = sched_tick(f->s);
	assert_true(ms >= 10 && ms <= 60000);
	f->now = h - 1;
	sched_tick(f->s);
	assert_int_equal(f->n, 0);
	f->now = h;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->job[0], id);
	assert_int_equal(f->slot[0], h);
	f->active[f->run[0]] = 0;
	f->now = h + 30;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
}

/* `*\/1 * * * *` fires within the next minute. */
static void
test_every_minute(void **state)
{
	struct fake *f = *state;
	time_t t0 = f->now;
	long ms;

	add_job(f, "*/1 * * * *", NULL, 0);
	open_sched(f, 2);
	start_sched(f);
	ms = sched_tick(f->s);
	assert_true(ms >= 10 && ms <= 60000);
	assert_true(ms <= (next_minute(t0) - t0) * 1000);
	f->now = t0 + 60;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	assert_true(f->slot[0] > t0 && f->slot[0] <= t0 + 60);
	assert_int_equal(f->slot[0] % 60, 0);
}

/* While its run is active, a job's next slots are skipped, not queued. */
static void
test_no_overlap(void **state)
{
	struct fake *f = *state;
	time_t m = next_minute(f->now);
	struct agentd_error err = { 0 };
	int64_t id = add_job(f, "* * * * *", NULL, 0), rid = 0;

	open_sched(f, 4);
	start_sched(f);
	f->now = m;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	f->now = m + 60;
	sched_tick(f->s);
	f->now = m + 90;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	assert_true(f->nwarn >= 1);
	assert_non_null(strstr(f->warn, "still running"));
	/* schedule run ID refuses too */
	assert_int_equal(sched_run_now(f->s, id, &rid, &err), AGENTD_EBUSY);
	assert_non_null(strstr(err.msg, "is still running run"));
	/* The run ends: the next slot fires, the skipped one never does. */
	f->active[f->run[0]] = 0;
	f->now = m + 120;
	sched_tick(f->s);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->slot[1], m + 120);
	f->active[f->run[1]] = 0;
	f->now = m + 150;
	sched_tick(f->s);
	assert_int_equal(f->n, 2);
}

/* max_concurrent: waiting firings start in slot order as runs finish.
 *
 * c and d are created paused and resumed at h: the jobs carry the real
 * creation time, and when the test runs in the first minutes of an hour
 * their :01/:02 slots of that hour would otherwise come due at h too. */
static void
test_max_concurrent(void **state)
{
	struct fake *f = *state;
	struct agentd_error err = { 0 };
	time_t h = next_hour(f->now);
	int64_t a = add_job(f, "0 * * * *", NULL, 0);
	int64_t b = add_job(f, "0 * * * *", NULL, 0);
	int64_t c = add_job(f, "2 * * * *", NULL, 1);
	int64_t d = add_job(f, "1 * * * *", NULL, 1);

	open_sched(f, 2);
	start_sched(f);
	f->now = h;
	sched_tick(f->s);
	assert_int_equal(f->n, 2);
	assert_true((f->job[0] == a && f->job[1] == b) || (f->job[0] == b && f->job[1] == a));
	assert_int_equal(memory_job_set_paused(f->m, c, 0, &err), AGENTD_OK);
	assert_int_equal(memory_job_set_paused(f->m, d, 0, &err), AGENTD_OK);
	sched_tick(f->s);
	assert_int_equal(f->n, 2);
	f->now = h + 60;
	sched_tick(f->s);
	f->now = h + 120;
	sched_tick(f->s);
	assert_int_equal(f->n, 2);	/* c and d wait */
	f->now = h + 130;
	sched_tick(f->s);
	assert_int_equal(f->n, 2);
	f->active[f->run[0]] = 0;	/* one finishes: the earliest slot (d) starts */
	sched_tick(f->s);
	assert_int_equal(f->n, 3);
	assert_int_equal(f->job[2], d);
	assert_int_equal(f->slot[2], h + 60);
	f->active[f->run[1]] = 0;
	sched_tick(f->s);
	assert_int_equal(f->n, 4);
	assert_int_equal(f->job[3], c);
	assert_int_equal(f->slot[3], h + 120);
}

/* A restart does not fire a claimed slot again. */
static void
test_restart_no_refire(void **state)
{
	struct fake *f = *state;
	time_t h = next_hour(f->now);
	struct agentd_error err = { 0 };

	add_job(f, "0 * * * *", "once", 0);
	open_sched(f, 2);
	start_sched(f);
	f->now = h;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	f->active[f->run[0]] = 0;
	restart(f, 2);
	f->now = h + 30;
	start_sched(f);
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	/* A scheduler that tries the same slot again loses the claim. */
	assert_int_equal(memory_job_claim(f->m, f->job[0], h, &err), AGENTD_EEXIST);
	f->now = h + 3600;
	sched_tick(f->s);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->slot[1], h + 3600);
}

/*
 * A kill between the claim and the record of the run on the job: at the next
 * start the run a claim started is recorded (last_run_id names it), and a
 * claim whose run never started is reported; neither fires again.
 */
static void
test_claim_without_run(void **state)
{
	struct fake *f = *state;
	struct agentd_error err = { 0 };
	struct memory_run_spec spec = { 0 };
	int64_t a, b, sid = 0, rid = 0;
	time_t h = next_hour(f->now);
	json_t *job = NULL;

	a = add_job(f, "0 * * * *", "skip", 0);
	b = add_job(f, "30 * * * *", "skip", 0);
	/* Job a: claimed, its run created, then the kill. */
	assert_int_equal(memory_job_claim(f->m, a, h, &err), AGENTD_OK);
	assert_int_equal(memory_session_create(f->m, "scheduled", "/tmp", &sid, &err), AGENTD_OK);
	spec.session_id = sid;
	spec.workspace = "/tmp";
	spec.task = "do the chore";
	spec.job_id = a;
	assert_int_equal(memory_run_create(f->m, &spec, &rid, &err), AGENTD_OK);
	f->active[rid] = 1;
	/* Job b: claimed, then the kill before its run. */
	assert_int_equal(memory_job_claim(f->m, b, h + 1800, &err), AGENTD_OK);
	f->now = h + 1800 + 10;
	open_sched(f, 2);
	start_sched(f);
	assert_int_equal(memory_job_get(f->m, a, &job, &err), AGENTD_OK);
	assert_int_equal(ajson_int(job, "last_run_id", 0), rid);
	json_decref(job);
	assert_non_null(strstr(f->warn, "never started"));
	assert_true(f->nwarn >= 2);
	sched_tick(f->s);
	assert_int_equal(f->n, 0);
	/* Job a's run is still active: its next slot does not overlap it. */
	f->now = h + 3600;
	sched_tick(f->s);
	assert_int_equal(f->n, 0);
	assert_non_null(strstr(f->warn, "still running"));
}

/* Downtime: "skip" jumps to the next slot, "once" runs once for the latest. */
static void
test_catchup(void **state)
{
	struct fake *f = *state;
	time_t h = next_hour(f->now);
	int64_t skip = add_job(f, "0 * * * *", "skip", 0);
	int64_t once = add_job(f, "0 * * * *", "once", 0);
	int i;

	open_sched(f, 4);
	start_sched(f);
	f->now = h;
	sched_tick(f->s);
	assert_int_equal(f->n, 2);
	for (i = 0; i < 2; i++)
		f->active[f->run[i]] = 0;
	/* Down for five and a half hours. */
	restart(f, 4);
	f->now = h + 5 * 3600 + 1800;
	start_sched(f);
	sched_tick(f->s);
	assert_int_equal(f->n, 3);
	assert_int_equal(f->job[2], once);
	assert_int_equal(f->slot[2], h + 5 * 3600);
	f->active[f->run[2]] = 0;
	f->now = h + 6 * 3600;
	sched_tick(f->s);
	assert_int_equal(f->n, 5);
	assert_int_equal(f->slot[3], h + 6 * 3600);
	assert_int_equal(f->slot[4], h + 6 * 3600);
	assert_true((f->job[3] == skip && f->job[4] == once) ||
	    (f->job[3] == once && f->job[4] == skip));
}

/* @reboot fires once per sched_start. */
static void
test_reboot(void **state)
{
	struct fake *f = *state;
	struct agentd_error err = { 0 };
	int64_t id = add_job(f, "@reboot", NULL, 0);
	time_t t0 = f->now;
	json_t *job;

	open_sched(f, 2);
	start_sched(f);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->job[0], id);
	assert_int_equal(f->slot[0], t0);
	f->active[f->run[0]] = 0;
	f->now += 3600;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	assert_int_not_equal(sched_start(f->s, &err), AGENTD_OK);
	assert_int_equal(f->n, 1);
	job = json_pack("{s:s,s:I}", "cron", "@reboot", "id", (json_int_t)id);
	assert_int_equal(sched_next_fire(f->s, job), 0);
	json_decref(job);
	restart(f, 2);
	f->now += 60;
	start_sched(f);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->slot[1], f->now);
}

/* Paused jobs do not fire; resuming does not replay what was missed. */
static void
test_paused(void **state)
{
	struct fake *f = *state;
	struct agentd_error err = { 0 };
	int64_t id = add_job(f, "* * * * *", "once", 1);
	time_t m = next_minute(f->now);
	json_t *job = NULL;

	open_sched(f, 2);
	start_sched(f);
	for (f->now = m; f->now < m + 600; f->now += 60)
		sched_tick(f->s);
	assert_int_equal(f->n, 0);
	assert_int_equal(memory_job_get(f->m, id, &job, &err), AGENTD_OK);
	assert_int_equal(sched_next_fire(f->s, job), 0);
	json_decref(job);
	assert_int_equal(memory_job_set_paused(f->m, id, 0, &err), AGENTD_OK);
	f->now = m + 630;
	sched_tick(f->s);
	assert_int_equal(f->n, 0);
	f->now = m + 660;
	sched_tick(f->s);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->slot[0], m + 660);
	assert_int_equal(memory_job_get(f->m, id, &job, &err), AGENTD_OK);
	assert_int_equal(sched_next_fire(f->s, job), m + 720);
	json_decref(job);
}

/* schedule run ID: fires at once with slot = now, then refuses while active. */
static void
test_run_now(void **state)
{
	struct fake *f = *state;
	struct agentd_error err = { 0 };
	int64_t id = add_job(f, "0 0 1 1 *", NULL, 0), rid = 0, rid2 = 0, slot = 0;

	open_sched(f, 1);
	start_sched(f);
	assert_int_equal(sched_run_now(f->s, id, &rid, &err), AGENTD_OK);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->run[0], rid);
	assert_int_equal(f->slot[0], f->now);
	assert_int_equal(memory_job_last_slot(f->m, id, &slot, &err), AGENTD_OK);
	assert_int_equal(slot, f->now);
	assert_int_equal(sched_run_now(f->s, id, &rid2, &err), AGENTD_EBUSY);
	assert_non_null(strstr(err.msg, "still running run"));
	f->active[rid] = 0;
	f->now += 1;
	assert_int_equal(sched_run_now(f->s, id, &rid2, &err), AGENTD_OK);
	assert_int_not_equal(rid2, rid);
	assert_int_equal(sched_run_now(f->s, 9999, &rid2, &err), AGENTD_ENOTFOUND);
}

struct vcase {
	const char *json;
	const char *fragment;
};

static void
test_validate(void **state)
{
	static const struct vcase bad[] = {
		{ "{\"cron\":\"61 * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\"}",
		  "cron: minute field: 61 is out of range 0-59" },
		{ "{\"workspace\":\"/tmp\",\"task\":\"t\"}", "cron: required" },
		{ "{\"cron\":\"* * * * *\",\"task\":\"t\"}", "workspace: required" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"tmp\",\"task\":\"t\"}",
		  "workspace: 'tmp' is not an absolute path" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/nonexistent/x\",\"task\":\"t\"}",
		  "workspace: '/nonexistent/x' is not a directory" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\"}", "task: a job needs" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"\"}", "task: must be" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\",\"chore\":{\"prompt\":\"p\"}}",
		  "not both" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"chore\":{\"promt\":\"p\"}}",
		  "chore: unknown field 'promt'" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\",\"policy\":\"root\"}",
		  "policy: must be" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\",\"catchup\":\"all\"}",
		  "catchup: must be" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\",\"tz\":\"Mars/Base\"}",
		  "tz: " },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\",\"branch\":\"yes\"}",
		  "'branch' must be a boolean" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\",\"paused\":1}",
		  "'paused' must be a boolean" },
		{ "{\"cron\":\"* * * * *\",\"workspace\":\"/tmp\",\"task\":\"t\",\"crn\":\"x\"}",
		  "unknown field 'crn'" },
		{ "{\"cron\":5,\"workspace\":\"/tmp\",\"task\":\"t\"}", "'cron' must be a string" },
		{ "[]", "must be a JSON object" },
	};
	struct agentd_error err = { 0 };
	json_t *job;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		job = json_loads(bad[i].json, 0, NULL);
		assert_non_null(job);
		if (sched_validate_job(job, &err) == AGENTD_OK)
			fail_msg("accepted: %s", bad[i].json);
		if (strstr(err.msg, bad[i].fragment) == NULL)
			fail_msg("%s: '%s' lacks '%s'", bad[i].json, err.msg, bad[i].fragment);
		json_decref(job);
	}
	/* Defaults are filled in. */
	job = json_loads("{\"cron\":\"@daily\",\"workspace\":\"/tmp/\",\"task\":\"t\"}", 0, NULL);
	assert_int_equal(sched_validate_job(job, &err), AGENTD_OK);
	assert_true(json_is_true(json_object_get(job, "branch")));
	assert_string_equal(ajson_str(job, "catchup", ""), "skip");
	assert_string_equal(ajson_str(job, "policy", ""), "workspace-write");
	assert_string_equal(ajson_str(job, "workspace", ""), "/tmp");
	assert_true(json_is_false(json_object_get(job, "paused")));
	json_decref(job);
	/* A chore supplies the task, schedule, policy and branch. */
	job = json_loads("{\"workspace\":\"/tmp\",\"chore\":{\"prompt\":\"tidy up\","
	    "\"schedule\":\"0 7 * * *\",\"policy\":\"read-only\",\"branch\":\"notes/daily\"}}",
	    0, NULL);
	assert_int_equal(sched_validate_job(job, &err), AGENTD_OK);
	assert_string_equal(ajson_str(job, "task", ""), "tidy up");
	assert_string_equal(ajson_str(job, "cron", ""), "0 7 * * *");
	assert_string_equal(ajson_str(job, "policy", ""), "read-only");
	assert_string_equal(ajson_str(job, "branch_name", ""), "notes/daily");
	assert_true(json_is_true(json_object_get(job, "branch")));
	json_decref(job);
	/* An explicit branch:false is kept. */
	job = json_loads("{\"cron\":\"@daily\",\"workspace\":\"/tmp\",\"task\":\"t\",\"branch\":false}",
	    0, NULL);
	assert_int_equal(sched_validate_job(job, &err), AGENTD_OK);
	assert_true(json_is_false(json_object_get(job, "branch")));
	json_decref(job);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fires_at_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_minute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_no_refire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_without_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catchup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reboot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_now, setup, teardown),
		cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
