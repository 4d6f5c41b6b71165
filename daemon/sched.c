/*
 * sched.c — the scheduler: turns cron jobs kept in the journal into runs.
 *
 * Each tick reads the jobs, finds the slots that came due since the job's
 * cursor (its last claimed slot, or its creation time), and queues at most
 * one firing per job. Queued firings start in slot order while fewer than
 * max_concurrent scheduled runs are active; each is claimed in the database
 * (memory_job_claim) just before it starts, so a slot never fires twice,
 * also across restarts. A slot that comes due while the job's previous run
 * is still active is skipped (not queued) and reported through ops->warn.
 * Nothing here blocks: runs start through ops->start_run and their ends are
 * observed by polling ops->run_active.
 */
#include "daemon/sched.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json.h"
#include "daemon/chore.h"
#include "daemon/cron.h"

#define SCHED_MAX_WAKE_MS 60000L
#define SCHED_MIN_WAKE_MS 10L
#define SCHED_POLL_MS 1000L	/* while firings wait for a free run slot */
#define SCHED_MAX_TASK (64 * 1024)

struct job_state {
	int64_t id;
	time_t cursor;		/* slots <= cursor are done with */
	int64_t last_run;	/* last run this scheduler started (0 = none) */
	int init;		/* cursor set */
	int queued;		/* a firing waits in the queue */
	int seen;		/* present in the latest job list */
	int bad;		/* its cron was reported unusable */
	int paused;		/* seen paused at the last look */
};

struct pending {
	int64_t job_id;
	time_t slot;
};

struct sched {
	struct memory *m;
	struct sched_ops ops;
	int max;
	struct job_state *js;
	size_t njs, capjs;
	struct pending *q;	/* sorted by slot */
	size_t nq, capq;
	int64_t *running;	/* scheduled runs believed active */
	size_t nrun, caprun;
	int started;
};

static void
sched_warn(struct sched *s, int64_t job_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sched_warn(struct sched *s, int64_t job_id, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (s->ops.warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->ops.warn(s->ops.ud, job_id, msg);
}

static time_t
sched_now(struct sched *s)
{
	return s->ops.now(s->ops.ud);
}

static time_t
job_time(const json_t *job, const char *key)
{
	double v = ajson_num(job, key, 0);

	return v > 0 && v < 1e15 ? (time_t)v : 0;
}

static struct job_state *
state_find(struct sched *s, int64_t id)
{
	size_t i;

	for (i = 0; i < s->njs; i++)
		if (s->js[i].id == id)
			return &s->js[i];
	return NULL;
}

static struct job_state *
state_get(struct sched *s, int64_t id)
{
	struct job_state *st = state_find(s, id), *n;

	if (st != NULL)
		return st;
	if (s->njs == s->capjs) {
		size_t cap = s->capjs ? s->capjs * 2 : 16;

		n = realloc(s->js, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		s->js = n;
		s->capjs = cap;
	}
	st = &s->js[s->njs++];
	memset(st, 0, sizeof(*st));
	st->id = id;
	return st;
}

static int
running_add(struct sched *s, int64_t run)
{
	size_t i;
	int64_t *n;

	for (i = 0; i < s->nrun; i++)
		if (s->running[i] == run)
			return AGENTD_OK;
	if (s->nrun == s->caprun) {
		size_t cap = s->caprun ? s->caprun * 2 : 8;

		n = realloc(s->running, cap * sizeof(*n));
		if (n == NULL)
			return AGENTD_ENOMEM;
		s->running = n;
		s->caprun = cap;
	}
	s->running[s->nrun++] = run;
	return AGENTD_OK;
}

static void
running_prune(struct sched *s)
{
	size_t i = 0;

	while (i < s->nrun) {
		if (s->ops.run_active(s->ops.ud, s->running[i]))
			i++;
		else
			s->running[i] = s->running[--s->nrun];
	}
}

/* The job's last run, as the journal or this scheduler knows it. */
static int64_t
job_last_run(const json_t *job, const struct job_state *st)
{
	int64_t r = ajson_int(job, "last_run_id", 0);

	if (st != NULL && st->last_run > r)
		r = st->last_run;
	return r;
}

static int
queue_push(struct sched *s, int64_t job_id, time_t slot)
{
	struct pending *n;
	size_t i;

	if (s->nq == s->capq) {
		size_t cap = s->capq ? s->capq * 2 : 8;

		n = realloc(s->q, cap * sizeof(*n));
		if (n == NULL)
			return AGENTD_ENOMEM;
		s->q = n;
		s->capq = cap;
	}
	i = s->nq;
	while (i > 0 && s->q[i - 1].slot > slot) {
		s->q[i] = s->q[i - 1];
		i--;
	}
	s->q[i].job_id = job_id;
	s->q[i].slot = slot;
	s->nq++;
	return AGENTD_OK;
}

static void
queue_drop_job(struct sched *s, int64_t job_id)
{
	size_t i = 0;

	while (i < s->nq) {
		if (s->q[i].job_id == job_id) {
			memmove(&s->q[i], &s->q[i + 1], (s->nq - i - 1) * sizeof(s->q[0]));
			s->nq--;
		} else
			i++;
	}
}

/* Parse a job's cron; NULL (and a warning once) when it is unusable. */
static struct cron_expr *
job_cron(struct sched *s, const json_t *job, struct job_state *st)
{
	struct cron_expr *c = NULL;
	struct agentd_error err = { 0 };
	const char *tz = ajson_str(job, "tz", NULL);

	if (cron_parse(ajson_str(job, "cron", ""), &c, &err) != AGENTD_OK ||
	    cron_check_tz(tz, &err) != AGENTD_OK) {
		if (st == NULL || !st->bad)
			sched_warn(s, ajson_int(job, "id", 0), "job cannot be scheduled: %s",
			    err.msg);
		if (st != NULL)
			st->bad = 1;
		cron_free(c);
		return NULL;
	}
	if (st != NULL)
		st->bad = 0;
	return c;
}

/*
 * The latest slot in (base, now], if any. Jumps near `now` first so that a
 * frequent job idle for a long time does not walk every missed slot.
 */
static int
latest_due(const struct cron_expr *c, const char *tz, time_t base, time_t now, time_t *latest)
{
	static const time_t windows[] = { 3600, 86400, 32 * 86400, 367 * 86400 };
	time_t t, u, from = base, last = 0;
	size_t i;
	int guard = 0;

	if (cron_next(c, tz, base, &t, NULL) != AGENTD_OK || t > now)
		return 0;
	for (i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		if (now - windows[i] <= base)
			break;
		if (cron_next(c, tz, now - windows[i], &u, NULL) == AGENTD_OK && u <= now) {
			from = now - windows[i];
			break;
		}
	}
	t = from;
	while (guard++ < 200000 && cron_next(c, tz, t, &u, NULL) == AGENTD_OK && u <= now) {
		last = u;
		t = u;
	}
	if (last == 0)
		return 0;
	*latest = last;
	return 1;
}

/* Queue a firing of job for slot, unless it would overlap. */
static void
enqueue(struct sched *s, const json_t *job, struct job_state *st, time_t slot)
{
	int64_t run = job_last_run(job, st);

	if (st->queued) {
		sched_warn(s, st->id, "slot %lld skipped: an earlier firing still waits for a "
		    "free run slot", (long long)slot);
		return;
	}
	if (run > 0 && s->ops.run_active(s->ops.ud, run)) {
		sched_warn(s, st->id, "slot %lld skipped: run %lld is still running",
		    (long long)slot, (long long)run);
		return;
	}
	if (queue_push(s, st->id, slot) != AGENTD_OK) {
		sched_warn(s, st->id, "slot %lld skipped: out of memory", (long long)slot);
		return;
	}
	st->queued = 1;
}

/* Claim (job, slot) and start its run. */
static int
fire(struct sched *s, json_t *job, struct job_state *st, time_t slot, int64_t *run_id,
    struct agentd_error *err)
{
	int64_t id = ajson_int(job, "id", 0), run = 0;
	struct agentd_error ferr = { 0 };
	int rc;

	rc = memory_job_claim(s->m, id, (int64_t)slot, err);
	if (rc != AGENTD_OK)
		return rc;
	rc = s->ops.start_run(s->ops.ud, job, (int64_t)slot, &run, err);
	if (rc != AGENTD_OK)
		return rc;
	if (memory_job_fired(s->m, id, (int64_t)slot, run, &ferr) != AGENTD_OK)
		sched_warn(s, id, "run %lld started but not recorded on the job: %s",
		    (long long)run, ferr.msg);
	if (st != NULL)
		st->last_run = run;
	if (running_add(s, run) != AGENTD_OK)
		sched_warn(s, id, "run %lld not tracked: out of memory", (long long)run);
	if (run_id != NULL)
		*run_id = run;
	return AGENTD_OK;
}

/* Start queued firings in slot order while there is room. */
static void
start_queued(struct sched *s)
{
	running_prune(s);
	while (s->nq > 0 && s->nrun < (size_t)s->max) {
		struct pending p = s->q[0];
		struct job_state *st = state_find(s, p.job_id);
		struct agentd_error err = { 0 };
		json_t *job = NULL;
		int64_t run;
		int rc;

		memmove(&s->q[0], &s->q[1], (s->nq - 1) * sizeof(s->q[0]));
		s->nq--;
		if (st != NULL)
			st->queued = 0;
		if (memory_job_get(s->m, p.job_id, &job, &err) != AGENTD_OK)
			continue;	/* removed meanwhile */
		if (ajson_bool(job, "paused", 0)) {
			json_decref(job);
			continue;
		}
		run = job_last_run(job, st);
		if (run > 0 && s->ops.run_active(s->ops.ud, run)) {
			sched_warn(s, p.job_id, "slot %lld skipped: run %lld is still running",
			    (long long)p.slot, (long long)run);
			json_decref(job);
			continue;
		}
		rc = fire(s, job, st, p.slot, NULL, &err);
		if (rc == AGENTD_EEXIST)
			;	/* fired before: never twice */
		else if (rc != AGENTD_OK)
			sched_warn(s, p.job_id, "slot %lld did not start: %s", (long long)p.slot,
			    agentd_errmsg(&err));
		json_decref(job);
	}
}

/* Where a job's schedule resumes from when first seen: its last claimed
 * slot, else its creation time. */
static time_t
job_base(struct sched *s, const json_t *job)
{
	int64_t id = ajson_int(job, "id", 0), slot = 0;
	time_t created = job_time(job, "created");
	struct agentd_error err = { 0 };

	if (memory_job_last_slot(s->m, id, &slot, &err) != AGENTD_OK)
		sched_warn(s, id, "cannot read the last slot: %s", err.msg);
	return (time_t)slot > created ? (time_t)slot : created;
}

int
sched_new(struct memory *m, const struct sched_ops *ops, int max_concurrent,
    struct sched **out, struct agentd_error *err)
{
	struct sched *s;

	if (m == NULL || ops == NULL || ops->now == NULL || ops->start_run == NULL ||
	    ops->run_active == NULL)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "sched_new needs a journal and now/start_run/run_active callbacks");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	s->m = m;
	s->ops = *ops;
	s->max = max_concurrent > 0 ? max_concurrent : 2;
	*out = s;
	return AGENTD_OK;
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	free(s->js);
	free(s->q);
	free(s->running);
	free(s);
}

/*
 * Claims a stop left without their run recorded: the run a claim started
 * is recorded on the job now (so last_run_id names it and overlap is
 * checked against it); a claim whose run never started is reported. Neither
 * fires again.
 */
static void
repair_claims(struct sched *s)
{
	json_t *open = NULL, *o;
	struct agentd_error err = { 0 };
	size_t i;

	if (memory_job_open_fires(s->m, &open, &err) != AGENTD_OK) {
		sched_warn(s, 0, "cannot check the claimed firings: %s", err.msg);
		return;
	}
	json_array_foreach(open, i, o) {
		int64_t job = ajson_int(o, "job_id", 0), slot = ajson_int(o, "slot", 0);
		int64_t run = ajson_int(o, "run_id", 0);

		if (run > 0 && memory_job_fired(s->m, job, slot, run, &err) == AGENTD_OK)
			sched_warn(s, job, "slot %lld: run %lld was started but not recorded on the "
			    "job (agentd stopped in between); recorded now", (long long)slot,
			    (long long)run);
		else if (run > 0)
			sched_warn(s, job, "slot %lld: run %lld was started but cannot be recorded "
			    "on the job: %s", (long long)slot, (long long)run, err.msg);
		else
			sched_warn(s, job, "slot %lld was claimed but its run never started (agentd "
			    "stopped in between); it is not retried", (long long)slot);
	}
	json_decref(open);
}

int
sched_start(struct sched *s, struct agentd_error *err)
{
	json_t *jobs = NULL, *job;
	time_t now;
	size_t i;
	int rc;

	if (s == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no scheduler");
	if (s->started)
		return agentd_seterr(err, AGENTD_EINVAL, "the scheduler was already started");
	repair_claims(s);
	rc = memory_job_list(s->m, &jobs, err);
	if (rc != AGENTD_OK)
		return rc;
	s->started = 1;
	now = sched_now(s);
	json_array_foreach(jobs, i, job) {
		int64_t id = ajson_int(job, "id", 0), run = ajson_int(job, "last_run_id", 0);
		struct job_state *st = state_get(s, id);
		struct cron_expr *c;
		const char *tz = ajson_str(job, "tz", NULL);
		time_t base, latest;

		if (st == NULL) {
			json_decref(jobs);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		st->init = 1;
		st->cursor = now;
		/* Runs of a previous life that are still going count against the limit. */
		if (run > 0 && s->ops.run_active(s->ops.ud, run))
			running_add(s, run);
		if (ajson_bool(job, "paused", 0)) {
			st->paused = 1;
			continue;
		}
		c = job_cron(s, job, st);
		if (c == NULL)
			continue;
		if (cron_is_reboot(c)) {
			enqueue(s, job, st, now);
			cron_free(c);
			continue;
		}
		base = job_base(s, job);
		st->cursor = base;
		if (latest_due(c, tz, base, now, &latest)) {
			st->cursor = latest;
			if (strcmp(ajson_str(job, "catchup", "skip"), "once") == 0) {
				enqueue(s, job, st, latest);
			} else {
				sched_warn(s, id, "firings missed since %lld while the daemon was "
				    "down are skipped (catchup skip)", (long long)base);
			}
		}
		cron_free(c);
	}
	json_decref(jobs);
	start_queued(s);
	return AGENTD_OK;
}

long
sched_tick(struct sched *s)
{
	json_t *jobs = NULL, *job;
	struct agentd_error err = { 0 };
	long wake = SCHED_MAX_WAKE_MS;
	time_t now;
	size_t i;

	if (s == NULL)
		return SCHED_MAX_WAKE_MS;
	if (memory_job_list(s->m, &jobs, &err) != AGENTD_OK) {
		sched_warn(s, 0, "cannot list jobs: %s", err.msg);
		return SCHED_POLL_MS * 5;
	}
	now = sched_now(s);
	for (i = 0; i < s->njs; i++)
		s->js[i].seen = 0;
	json_array_foreach(jobs, i, job) {
		int64_t id = ajson_int(job, "id", 0);
		struct job_state *st = state_get(s, id);
		const char *tz = ajson_str(job, "tz", NULL);
		struct cron_expr *c;
		time_t latest, next;

		if (st == NULL)
			continue;
		st->seen = 1;
		if (ajson_bool(job, "paused", 0)) {
			st->init = 1;
			st->paused = 1;
			continue;
		}
		if (st->paused) {
			/* Resumed since the last look: what came due while it was
			 * paused is not replayed. */
			st->paused = 0;
			if (st->cursor < now)
				st->cursor = now;
		}
		c = job_cron(s, job, st);
		if (c == NULL)
			continue;
		if (cron_is_reboot(c)) {
			cron_free(c);
			continue;
		}
		if (!st->init) {
			st->cursor = job_base(s, job);
			st->init = 1;
		}
		if (latest_due(c, tz, st->cursor, now, &latest)) {
			time_t first = 0;

			if (cron_next(c, tz, st->cursor, &first, NULL) == AGENTD_OK &&
			    first < latest)
				sched_warn(s, id, "several slots came due at once (the daemon was "
				    "busy or suspended); firing only the latest, %lld",
				    (long long)latest);
			st->cursor = latest;
			enqueue(s, job, st, latest);
		}
		if (cron_next(c, tz, st->cursor > now ? st->cursor : now, &next, NULL) ==
		    AGENTD_OK) {
			long ms = next - now > SCHED_MAX_WAKE_MS / 1000 ? SCHED_MAX_WAKE_MS :
			    (long)(next - now) * 1000;

			if (ms < wake)
				wake = ms;
		}
		cron_free(c);
	}
	json_decref(jobs);
	/* Forget jobs that were removed. */
	i = 0;
	while (i < s->njs) {
		if (!s->js[i].seen) {
			queue_drop_job(s, s->js[i].id);
			s->js[i] = s->js[--s->njs];
		} else
			i++;
	}
	start_queued(s);
	if (s->nq > 0 && wake > SCHED_POLL_MS)
		wake = SCHED_POLL_MS;
	if (wake < SCHED_MIN_WAKE_MS)
		wake = SCHED_MIN_WAKE_MS;
	return wake;
}

int
sched_run_now(struct sched *s, int64_t job_id, int64_t *run_id, struct agentd_error *err)
{
	json_t *job = NULL;
	struct job_state *st;
	int64_t run, rid = 0;
	time_t now;
	int rc;

	if (s == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "no scheduler");
	rc = memory_job_get(s->m, job_id, &job, err);
	if (rc != AGENTD_OK)
		return rc;
	st = state_get(s, job_id);
	if (st == NULL) {
		json_decref(job);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	run = job_last_run(job, st);
	if (run > 0 && s->ops.run_active(s->ops.ud, run)) {
		json_decref(job);
		return agentd_seterr(err, AGENTD_EBUSY, "job %lld is still running run %lld",
		    (long long)job_id, (long long)run);
	}
	now = sched_now(s);
	rc = fire(s, job, st, now, &rid, err);
	json_decref(job);
	if (rc == AGENTD_EEXIST)
		return agentd_seterr(err, AGENTD_EBUSY,
		    "job %lld already fired at this second; try again", (long long)job_id);
	if (rc != AGENTD_OK)
		return rc;
	/* A scheduled slot at this same second finds its claim taken and is
	 * covered by this run. */
	if (run_id != NULL)
		*run_id = rid;
	return AGENTD_OK;
}

time_t
sched_next_fire(struct sched *s, json_t *job)
{
	struct job_state *st;
	struct cron_expr *c;
	time_t after, next = 0;

	if (s == NULL || job == NULL || ajson_bool(job, "paused", 0))
		return 0;
	st = state_find(s, ajson_int(job, "id", 0));
	c = job_cron(s, job, NULL);
	if (c == NULL)
		return 0;
	after = sched_now(s) - 1;
	if (st != NULL && st->init && st->cursor > after)
		after = st->cursor;
	if (cron_is_reboot(c) ||
	    cron_next(c, ajson_str(job, "tz", NULL), after, &next, NULL) != AGENTD_OK)
		next = 0;
	cron_free(c);
	return next;
}

static const char *const job_keys[] = { "cron", "tz", "workspace", "task", "chore", "branch",
	"branch_name", "policy", "catchup", "paused", NULL };

static int
valid_policy(const char *p)
{
	return strcmp(p, "read-only") == 0 || strcmp(p, "workspace-write") == 0 ||
	    strcmp(p, "full-access") == 0;
}

/* Set obj[key] = string when obj has no such key (or null). */
static int
default_str(json_t *obj, const char *key, const char *val)
{
	json_t *v = json_object_get(obj, key);

	if (v != NULL && !json_is_null(v))
		return AGENTD_OK;
	return json_object_set_new(obj, key, val ? json_string(val) : json_null()) == 0 ?
	    AGENTD_OK : AGENTD_ENOMEM;
}

int
sched_validate_job(json_t *job, struct agentd_error *err)
{
	const char *key, *s, *cron = NULL, *tz = NULL, *task = NULL, *policy = NULL;
	struct agentd_error e = { 0 };
	struct cron_expr *c = NULL;
	json_t *v, *chore;
	struct stat st;
	char *real;
	int rc, b, branch = -1;

	if (!json_is_object(job))
		return agentd_seterr(err, AGENTD_EINVAL, "a job must be a JSON object");
	json_object_foreach(job, key, v) {
		size_t i;
		int known = 0;

		for (i = 0; job_keys[i] != NULL; i++)
			known |= strcmp(job_keys[i], key) == 0;
		if (!known)
			return agentd_seterr(err, AGENTD_EINVAL,
			    "unknown field '%.64s' (known: cron, tz, workspace, task, chore, "
			    "branch, branch_name, policy, catchup, paused)", key);
	}
	/* chore: validated; it may supply the task, cron, tz, policy and branch. */
	chore = json_object_get(job, "chore");
	if (chore != NULL && json_is_null(chore))
		chore = NULL;
	if (chore != NULL) {
		if (!json_is_object(chore))
			return agentd_seterr(err, AGENTD_EINVAL, "chore: must be an object");
		if (chore_validate(chore, &e) != AGENTD_OK)
			return agentd_seterr(err, AGENTD_EINVAL, "chore: %s", e.msg);
	}
	if ((rc = ajson_opt_str(job, "task", &task, err)) != AGENTD_OK && rc != AGENTD_ENOTFOUND)
		return rc;
	if (task != NULL && chore != NULL)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "task: give either 'task' or 'chore', not both");
	if (task == NULL && chore == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "task: a job needs a 'task' or a 'chore'");
	if (task != NULL && (task[0] == '\0' || strlen(task) > SCHED_MAX_TASK))
		return agentd_seterr(err, AGENTD_EINVAL,
		    "task: must be a non-empty string of at most %d bytes", SCHED_MAX_TASK);
	/* cron */
	if ((rc = ajson_opt_str(job, "cron", &cron, err)) != AGENTD_OK && rc != AGENTD_ENOTFOUND)
		return rc;
	if (cron == NULL && chore != NULL)
		cron = ajson_str(chore, "schedule", NULL);
	if (cron == NULL)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "cron: required (a 5-field expression such as '0 7 * * *', or @daily…)");
	if (cron_parse(cron, &c, &e) != AGENTD_OK)
		return agentd_seterr(err, AGENTD_EINVAL, "cron: %s", e.msg);
	cron_free(c);
	/* tz */
	if ((rc = ajson_opt_str(job, "tz", &tz, err)) != AGENTD_OK && rc != AGENTD_ENOTFOUND)
		return rc;
	if (tz == NULL && chore != NULL)
		tz = ajson_str(chore, "tz", NULL);
	if (cron_check_tz(tz, &e) != AGENTD_OK)
		return agentd_seterr(err, AGENTD_EINVAL, "tz: %s", e.msg);
	/* workspace */
	if ((rc = ajson_opt_str(job, "workspace", &s, err)) != AGENTD_OK) {
		if (rc == AGENTD_ENOTFOUND)
			return agentd_seterr(err, AGENTD_EINVAL, "workspace: required");
		return rc;
	}
	if (s[0] != '/')
		return agentd_seterr(err, AGENTD_EINVAL, "workspace: '%.200s' is not an absolute path",
		    s);
	if (stat(s, &st) != 0 || !S_ISDIR(st.st_mode))
		return agentd_seterr(err, AGENTD_EINVAL, "workspace: '%.200s' is not a directory", s);
	/* branch */
	if ((rc = ajson_opt_bool(job, "branch", &b, err)) == AGENTD_OK)
		branch = b;
	else if (rc != AGENTD_ENOTFOUND)
		return rc;
	if ((rc = ajson_opt_str(job, "branch_name", &s, err)) == AGENTD_OK) {
		if (s[0] == '\0' || s[0] == '-' || strstr(s, "..") != NULL || strlen(s) > 200 ||
		    strpbrk(s, " ~^:?*[\\") != NULL)
			return agentd_seterr(err, AGENTD_EINVAL,
			    "branch_name: '%.64s' is not a valid branch name", s);
	} else if (rc != AGENTD_ENOTFOUND)
		return rc;
	/* policy, catchup, paused */
	if ((rc = ajson_opt_str(job, "policy", &policy, err)) != AGENTD_OK &&
	    rc != AGENTD_ENOTFOUND)
		return rc;
	if (policy == NULL && chore != NULL)
		policy = ajson_str(chore, "policy", NULL);
	if (policy != NULL && !valid_policy(policy))
		return agentd_seterr(err, AGENTD_EINVAL,
		    "policy: must be read-only, workspace-write or full-access, not '%.64s'", policy);
	if ((rc = ajson_opt_str(job, "catchup", &s, err)) == AGENTD_OK) {
		if (strcmp(s, "skip") != 0 && strcmp(s, "once") != 0)
			return agentd_seterr(err, AGENTD_EINVAL,
			    "catchup: must be \"skip\" or \"once\", not '%.64s'", s);
	} else if (rc != AGENTD_ENOTFOUND)
		return rc;
	if ((rc = ajson_opt_bool(job, "paused", &b, err)) != AGENTD_OK && rc != AGENTD_ENOTFOUND)
		return rc;

	/* All valid: fill the defaults. */
	if (branch < 0 && chore != NULL) {
		v = json_object_get(chore, "branch");
		if (json_is_boolean(v))
			branch = json_is_true(v);
		else if (json_is_string(v)) {
			branch = 1;
			if (default_str(job, "branch_name", json_string_value(v)) != AGENTD_OK)
				return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
	}
	real = realpath(ajson_str(job, "workspace", ""), NULL);
	if (real == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "workspace: %s", strerror(errno));
	rc = ajson_set_str(job, "workspace", real);
	free(real);
	if (rc != AGENTD_OK ||
	    default_str(job, "cron", cron) != AGENTD_OK ||
	    default_str(job, "tz", tz) != AGENTD_OK ||
	    (chore != NULL && default_str(job, "task", ajson_str(chore, "prompt", NULL)) !=
	    AGENTD_OK) ||
	    default_str(job, "policy", policy ? policy : "workspace-write") != AGENTD_OK ||
	    default_str(job, "catchup", "skip") != AGENTD_OK ||
	    ajson_set_bool(job, "branch", branch < 0 ? 1 : branch) != AGENTD_OK ||
	    ajson_set_bool(job, "paused", ajson_bool(job, "paused", 0)) != AGENTD_OK)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	return AGENTD_OK;
}

void
sched_set_max_concurrent(struct sched *s, int max_concurrent)
{
	if (s != NULL)
		s->max = max_concurrent > 0 ? max_concurrent : 2;
}
