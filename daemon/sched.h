/*
 * sched.h — the scheduler: persistent cron jobs that start runs.
 *
 * Jobs live in memory/ (memory_job_*). The daemon's event loop calls
 * sched_tick() whenever its timer fires; the scheduler claims each due
 * firing once in the database (job, slot), never lets a job overlap itself,
 * respects a global limit on concurrent scheduled runs (the rest queued in
 * slot order), and applies each job's catch-up choice for slots missed while
 * the daemon was down ("skip", or "once": run once on start). It starts runs
 * only through ops->start_run, so it knows nothing of threads or sockets;
 * the clock is ops->now, so tests inject time.
 */
#ifndef AGENTD_SCHED_H
#define AGENTD_SCHED_H

#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "common/error.h"
#include "memory/memory.h"

struct sched_ops {
	/* Current time (seconds since the epoch). */
	time_t (*now)(void *ud);
	/* Start a run for job (borrowed JSON job object) fired for `slot`;
	 * return the run id in *run_id. Must not block. */
	int (*start_run)(void *ud, json_t *job, int64_t slot, int64_t *run_id,
	    struct agentd_error *err);
	/* 1 while run_id has not reached a final status. */
	int (*run_active)(void *ud, int64_t run_id);
	/* Report a problem (the daemon logs it). May be NULL. */
	void (*warn)(void *ud, int64_t job_id, const char *msg);
	void *ud;
};

struct sched;

/* m is borrowed and used only from the caller's thread. max_concurrent <= 0 means 2. */
int sched_new(struct memory *m, const struct sched_ops *ops, int max_concurrent,
    struct sched **out, struct agentd_error *err);
void sched_free(struct sched *s);
/* Change the limit on concurrent scheduled runs (on reload). */
void sched_set_max_concurrent(struct sched *s, int max_concurrent);

/* Called once after start: fires @reboot jobs and applies catch-up. */
int sched_start(struct sched *s, struct agentd_error *err);
/* Fire what is due; returns milliseconds until the next time worth waking
 * (capped at 60000). */
long sched_tick(struct sched *s);
/* Fire a job now (schedule run ID), outside its schedule: same overlap rule. */
int sched_run_now(struct sched *s, int64_t job_id, int64_t *run_id, struct agentd_error *err);
/* Next fire time of a job (0 when paused or @reboot); for schedule list. */
time_t sched_next_fire(struct sched *s, json_t *job);

/* Validate a job object from schedule.add (cron, tz, workspace, task or
 * chore, policy, catchup) and fill defaults; AGENTD_EINVAL naming the field. */
int sched_validate_job(json_t *job, struct agentd_error *err);

#endif
