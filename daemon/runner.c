/*
 * runner.c — one worker thread per active run.
 *
 * Each worker opens its own journal connection (memory/'s threading rule)
 * and calls agent_run(). The loop's hooks never touch a socket: events are
 * serialized on the worker and handed to the main loop with server_post(),
 * which publishes them to the run's subscribers. Approvals ("ask") block the
 * worker on a condition variable until a client answers or the timeout
 * passes; with nobody attached the answer is "deny" at once.
 */
#include "daemon/runner.h"
#include "daemon/server.h"
#include "daemon/log.h"
#include "agent/agent.h"
#include "tools/tools.h"
#include "tools/mcp.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/num.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Reason recorded for runs stopped by a graceful shutdown; such runs resume at the next start. */
#define SHUTDOWN_REASON AGENT_INTERRUPTED_REASON
/* tools.call requests running at once (one thread and one sandboxed child each). */
#define MAX_TOOL_CALLS 32

struct slot {
	struct runner *r;
	int64_t run_id;
	pthread_t th;
	atomic_int cancel;
	atomic_int shutdown;
	atomic_int ended;	/* the run's end is recorded (or kept): the thread only tidies up */
	int joined;
	struct agent_config acfg;
	char *s_prompt, *s_state, *s_approval, *s_author, *s_email, *s_config_dir;
	json_t *s_fallbacks, *s_hooks;
	/* approval */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t appr_id;
	int appr_state;		/* 0 waiting, 1 allowed, 2 denied */
	json_t *appr_req;	/* the request while it waits (for approval.list) */
	char *appr_reason;	/* the reason given with a denial, or NULL */
	struct memory *mem;	/* the worker's journal connection (worker thread only) */
	time_t appr_since;
	struct slot *next;
};

struct toolcall;
static void toolcall_free(struct toolcall *t);

struct runner {
	struct agentd *d;
	struct slot *slots;
	atomic_llong next_appr;		/* approval request ids, unique in the daemon */
	atomic_int tool_threads;	/* tools.call threads still running */
	atomic_int stopping;		/* runner_free has begun: tools stop, no hand-over */
	_Atomic double drain_until;	/* anum_mono_s(): runs' tool calls in flight may
					 * finish until then (AGENT_STOP_DRAIN) */
	/* the journal read pool (runner_journal_call) */
	pthread_mutex_t jmu;
	pthread_cond_t jcv;
	struct toolcall *jhead, *jtail;	/* waiting reads, oldest first */
	int jqueued, jbusy, jthreads;
	pthread_t jth[RUNNER_JOURNAL_CALLS];
};

static int
tools_stopping(void *ud)
{
	struct runner *r = ud;

	return atomic_load(&r->stopping);
}

int
runner_new(struct agentd *d, struct runner **out)
{
	struct runner *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return AGENTD_ENOMEM;
	r->d = d;
	pthread_mutex_init(&r->jmu, NULL);
	pthread_cond_init(&r->jcv, NULL);
	*out = r;
	return AGENTD_OK;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void
slot_free(struct slot *s)
{
	if (s == NULL)
		return;
	llm_config_free(&s->acfg.llm);
	free(s->s_prompt);
	free(s->s_state);
	free(s->s_approval);
	free(s->s_author);
	free(s->s_email);
	free(s->s_config_dir);
	json_decref(s->s_fallbacks);
	json_decref(s->s_hooks);
	json_decref(s->appr_req);
	free(s->appr_reason);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* ---- work handed to the main loop ---- */

struct publish {
	struct server *srv;
	int64_t run_id;
	char *line;
};

static void
drop_publish(void *ud)
{
	struct publish *p = ud;

	free(p->line);
	free(p);
}

static void
do_publish(void *ud)
{
	struct publish *p = ud;

	server_publish(p->srv, p->run_id, p->line);
	drop_publish(p);
}

static void
post_line(struct runner *r, int64_t run_id, char *line)
{
	struct publish *p;

	if (line == NULL)
		return;
	p = malloc(sizeof(*p));
	if (p == NULL) {
		free(line);
		return;
	}
	p->srv = r->d->srv;
	p->run_id = run_id;
	p->line = line;
	if (server_post(r->d->srv, do_publish, drop_publish, p) != AGENTD_OK) {
		free(line);
		free(p);
	}
}

struct finished {
	struct runner *r;
	struct slot *slot;
};

static void
do_finished(void *ud)
{
	struct finished *f = ud;
	struct slot **pp;

	for (pp = &f->r->slots; *pp; pp = &(*pp)->next)
		if (*pp == f->slot) {
			*pp = f->slot->next;
			break;
		}
	pthread_join(f->slot->th, NULL);
	log_info("run %lld ended", (long long)f->slot->run_id);
	slot_free(f->slot);
	agentd_start_queued(f->r->d);	/* a slot is free */
	free(f);
}

/* ---- hooks (worker thread) ---- */

static void
hook_event(void *ud, int64_t run_id, int64_t seq, const char *type, json_t *data)
{
	struct slot *s = ud;
	json_t *params = json_pack("{s:I, s:s, s:O?, s:f}", "run_id", (json_int_t)run_id,
	    "type", type, "data", data, "time", ajson_now());

	if (params == NULL)
		return;
	/* seq: a client that read the stored events skips what it has */
	if (seq > 0)
		json_object_set_new(params, "seq", json_integer((json_int_t)seq));
	post_line(s->r, run_id, rpc_notify_line("run.event", params));
}

static int
hook_cancelled(void *ud)
{
	struct slot *s = ud;

	if (atomic_load(&s->cancel))
		return AGENT_STOP_CANCEL;
	if (!atomic_load(&s->shutdown))
		return 0;
	return anum_mono_s() < atomic_load(&s->r->drain_until) ? AGENT_STOP_DRAIN :
	    AGENT_STOP_INTERRUPT;
}

struct appr_post {
	struct slot *slot;
	char *line;
};

static void
drop_ask(void *ud)
{
	struct appr_post *a = ud;

	free(a->line);
	free(a);
}

static void
do_ask(void *ud)
{
	struct appr_post *a = ud;
	struct slot *s = a->slot;

	/* With nobody attached the request still waits: approval.list shows it
	 * and any client may answer it until the timeout. */
	server_publish(s->r->d->srv, s->run_id, a->line);
	free(a->line);
	free(a);
}

static int
hook_approve(void *ud, int64_t run_id, json_t *request, int timeout_s)
{
	struct slot *s = ud;
	struct appr_post *a;
	struct timespec deadline;
	json_t *params, *wait;
	int64_t id;
	int allowed;

	a = malloc(sizeof(*a));
	if (a == NULL)
		return 0;
	pthread_mutex_lock(&s->mu);
	id = s->appr_id = (int64_t)atomic_fetch_add(&s->r->next_appr, 1) + 1;
	s->appr_state = 0;
	json_decref(s->appr_req);
	s->appr_req = json_deep_copy(request);
	free(s->appr_reason);
	s->appr_reason = NULL;
	s->appr_since = time(NULL);
	pthread_mutex_unlock(&s->mu);
	/* The id goes into the request (so the "approval" event names it) and
	 * the wait is journaled: `agentctl show` and later attaches see it. */
	json_object_set_new(request, "request_id", json_integer((json_int_t)id));
	wait = json_pack("{s:s, s:I, s:s, s:s, s:i}", "for", "approval", "request_id",
	    (json_int_t)id, "tool", ajson_str(request, "tool", ""), "reason",
	    ajson_str(request, "reason", ""), "timeout_s", timeout_s > 0 ? timeout_s : 60);
	if (wait != NULL) {
		struct agentd_error err;
		int64_t seq = 0;

		agentd_error_clear(&err);
		if (s->mem != NULL)
			(void)memory_event_add(s->mem, run_id, "waiting", wait, &seq, &err);
		hook_event(s, run_id, seq, "waiting", wait);
		json_decref(wait);
	}
	params = json_pack("{s:I, s:I, s:O, s:i}", "run_id", (json_int_t)run_id,
	    "request_id", (json_int_t)id, "request", request, "timeout_s", timeout_s);
	a->slot = s;
	a->line = params ? rpc_notify_line("approval.request", params) : NULL;
	if (a->line == NULL || server_post(s->r->d->srv, do_ask, drop_ask, a) != AGENTD_OK) {
		free(a->line);
		free(a);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_s > 0 ? timeout_s : 60;
	pthread_mutex_lock(&s->mu);
	while (s->appr_state == 0 && !hook_cancelled(s)) {
		struct timespec slice;

		clock_gettime(CLOCK_REALTIME, &slice);
		if (slice.tv_sec >= deadline.tv_sec)
			break;
		slice.tv_sec += 1;
		pthread_cond_timedwait(&s->cv, &s->mu, &slice);
	}
	allowed = s->appr_state == 1;
	if (!allowed && s->appr_reason != NULL)
		json_object_set_new(request, "deny_reason", json_string(s->appr_reason));
	s->appr_state = 2;	/* late answers are ignored */
	json_decref(s->appr_req);
	s->appr_req = NULL;
	pthread_mutex_unlock(&s->mu);
	return allowed;
}

struct logmsg {
	int level;
	char *text;
};

static void
drop_log(void *ud)
{
	struct logmsg *l = ud;

	free(l->text);
	free(l);
}

static void
do_log(void *ud)
{
	struct logmsg *l = ud;

	log_msg(l->level, "%s", l->text);
	drop_log(l);
}

static void
post_log(struct runner *r, int level, const char *text)
{
	struct logmsg *l = malloc(sizeof(*l));

	if (l == NULL)
		return;
	l->level = level;
	l->text = strdup(text);
	if (l->text == NULL || server_post(r->d->srv, do_log, drop_log, l) != AGENTD_OK) {
		free(l->text);
		free(l);
	}
}

/*
 * The journal could not record the run's end (a full disk, an I/O error):
 * keep it beside the journal, durably, before anyone hears of it, so that
 * the listing, a cancel and a restart all see the run failed and nothing of
 * it runs again. The main loop moves it into the journal when it can.
 * Returns 1 when kept.
 */
static int
keep_end(struct slot *s, const char *status, const char *reason)
{
	struct agentd_error err;
	char msg[1400];

	agentd_error_clear(&err);
	if (memory_ends_add(s->r->d->ends, s->run_id, status, reason, &err) == AGENTD_OK) {
		snprintf(msg, sizeof(msg), "run %lld: the journal could not take its end (%s); "
		    "kept beside it until it can", (long long)s->run_id, status);
		post_log(s->r, LOG_LVL_WARN, msg);
		return 1;
	}
	snprintf(msg, sizeof(msg), "run %lld: its end could not be kept either (%s): the journal "
	    "still says it runs, and a restart would resume it", (long long)s->run_id,
	    agentd_errmsg(&err));
	post_log(s->r, LOG_LVL_ERROR, msg);
	return 0;
}

static void *
worker(void *arg)
{
	struct slot *s = arg;
	struct agent_hooks hooks = { hook_event, hook_cancelled, hook_approve, s };
	struct agentd_error err;
	struct memory *m = NULL;
	struct finished *f;
	json_t *end;
	char msg[1200];
	int kept = 0;

	agentd_error_clear(&err);
	if (memory_open_more(s->r->d->db_path, &m, &err) != AGENTD_OK) {
		snprintf(msg, sizeof(msg), "run %lld: cannot open the journal: %s",
		    (long long)s->run_id, agentd_errmsg(&err));
		post_log(s->r, LOG_LVL_ERROR, msg);
		keep_end(s, "failed", msg);
		atomic_store(&s->ended, 1);
		end = json_pack("{s:s, s:s}", "status", "failed", "reason", msg);
		if (end != NULL)
			hook_event(s, s->run_id, 0, "end", end);
		json_decref(end);
	} else {
		s->mem = m;
		if (agent_run(m, s->run_id, &s->acfg, &hooks, &err) != AGENTD_OK) {
			snprintf(msg, sizeof(msg), "run %lld: %s", (long long)s->run_id,
			    agentd_errmsg(&err));
			post_log(s->r, LOG_LVL_ERROR, msg);
			/* The journal failed (a full disk…): the loop could not record its
			 * end, so record it here, or keep it beside the journal, before
			 * the clients hear it. */
			snprintf(msg, sizeof(msg), "the journal failed: %s", agentd_errmsg(&err));
			if (memory_run_set_status(m, s->run_id, "failed", msg, NULL) != AGENTD_OK)
				kept = keep_end(s, "failed", msg);
			atomic_store(&s->ended, 1);
			end = json_pack("{s:s, s:s}", "status", "failed", "reason", msg);
			if (end != NULL)
				hook_event(s, s->run_id, 0, "end", end);
			json_decref(end);
		}
		atomic_store(&s->ended, 1);
		if (!kept && atomic_load(&s->shutdown) && !atomic_load(&s->cancel)) {
			json_t *run = NULL;

			/* The loop marks a run it stopped as interrupted itself; one it
			 * could not (the journal failed) is marked here. A run that
			 * ended as agentd stopped keeps its end. */
			if (memory_run_get(m, s->run_id, &run, NULL) == AGENTD_OK &&
			    strcmp(ajson_str(run, "status", ""), "running") == 0)
				memory_run_set_status(m, s->run_id, "interrupted", SHUTDOWN_REASON, NULL);
			json_decref(run);
		}
		/* Give the WAL's space back while nothing else runs (best effort). */
		memory_checkpoint(m, NULL);
		memory_close(m);
	}
	/* During shutdown runner_free joins and frees the slot itself. */
	if (atomic_load(&s->r->stopping))
		return NULL;
	f = malloc(sizeof(*f));
	if (f) {
		f->r = s->r;
		f->slot = s;
		if (server_post(s->r->d->srv, do_finished, NULL, f) == AGENTD_OK)
			return NULL;
		free(f);
	}
	/* Could not hand over: the slot stays until runner_free joins it. */
	return NULL;
}

static struct slot *
find_slot(struct runner *r, int64_t run_id)
{
	struct slot *s;

	for (s = r->slots; s; s = s->next)
		if (s->run_id == run_id)
			return s;
	return NULL;
}

int
runner_start(struct runner *r, int64_t run_id, struct agentd_error *err)
{
	const struct agent_config *src = &r->d->cfg.agent;
	struct slot *s;
	int rc;

	if (find_slot(r, run_id))
		return agentd_seterr(err, AGENTD_EBUSY, "run %lld is already active", (long long)run_id);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	s->r = r;
	s->run_id = run_id;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	/* A snapshot of the configuration: SIGHUP may replace it meanwhile. */
	s->acfg = *src;
	memset(&s->acfg.llm, 0, sizeof(s->acfg.llm));
	s->s_prompt = dup_or_null(src->system_prompt_file);
	s->s_state = dup_or_null(src->state_dir);
	s->s_approval = dup_or_null(src->approval);
	s->s_author = dup_or_null(src->author_name);
	s->s_email = dup_or_null(src->author_email);
	s->acfg.system_prompt_file = s->s_prompt;
	s->acfg.state_dir = s->s_state;
	s->acfg.approval = s->s_approval;
	s->acfg.author_name = s->s_author;
	s->acfg.author_email = s->s_email;
	s->s_config_dir = dup_or_null(src->config_dir);
	s->acfg.config_dir = s->s_config_dir;
	/* a copy, not a reference: jansson's counts are not thread-safe */
	s->s_fallbacks = src->project_doc_fallbacks ? json_deep_copy(src->project_doc_fallbacks) : NULL;
	s->acfg.project_doc_fallbacks = s->s_fallbacks;
	s->s_hooks = src->hooks ? json_deep_copy(src->hooks) : NULL;
	s->acfg.hooks = s->s_hooks;
	if ((src->hooks && !s->s_hooks) || (src->project_doc_fallbacks && !s->s_fallbacks)) {
		/* never start a run without the user's hooks (a guard among them) */
		slot_free(s);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if (llm_config_copy(&s->acfg.llm, &src->llm) != AGENTD_OK) {
		slot_free(s);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	rc = pthread_create(&s->th, NULL, worker, s);
	if (rc != 0) {
		slot_free(s);
		return agentd_seterr(err, AGENTD_EIO, "cannot start a worker thread: %s", strerror(rc));
	}
	s->next = r->slots;
	r->slots = s;
	return AGENTD_OK;
}

int
runner_cancel(struct runner *r, int64_t run_id)
{
	struct slot *s = find_slot(r, run_id);

	/* A run whose end is recorded is over, though its thread still tidies up. */
	if (s == NULL || atomic_load(&s->ended))
		return AGENTD_ENOTFOUND;
	atomic_store(&s->cancel, 1);
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return AGENTD_OK;
}

int
runner_active(struct runner *r, int64_t run_id)
{
	struct slot *s = find_slot(r, run_id);

	return s != NULL && !atomic_load(&s->ended);
}

int
runner_count(struct runner *r)
{
	struct slot *s;
	int n = 0;

	for (s = r->slots; s; s = s->next)
		n++;
	return n;
}

int
runner_approve(struct runner *r, int64_t run_id, int64_t request_id, int allow,
    const char *reason)
{
	struct slot *s;
	int rc = AGENTD_ENOTFOUND;

	for (s = r->slots; s != NULL && rc != AGENTD_OK; s = s->next) {
		if (run_id != 0 && s->run_id != run_id)
			continue;
		pthread_mutex_lock(&s->mu);
		if (s->appr_id == request_id && s->appr_state == 0) {
			s->appr_state = allow ? 1 : 2;
			free(s->appr_reason);
			s->appr_reason = !allow && reason ? strdup(reason) : NULL;
			pthread_cond_broadcast(&s->cv);
			rc = AGENTD_OK;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

json_t *
runner_approvals(struct runner *r)
{
	json_t *out = json_array();
	struct slot *s;

	if (out == NULL)
		return NULL;
	for (s = r->slots; s != NULL; s = s->next) {
		pthread_mutex_lock(&s->mu);
		if (s->appr_state == 0 && s->appr_req != NULL)
			json_array_append_new(out, json_pack("{s:I, s:I, s:O, s:I}",
			    "run_id", (json_int_t)s->run_id, "request_id", (json_int_t)s->appr_id,
			    "request", s->appr_req, "since", (json_int_t)s->appr_since));
		pthread_mutex_unlock(&s->mu);
	}
	return out;
}

static void journal_drop_queued(struct runner *r);

void
runner_free(struct runner *r, int grace_s, int (*hurry)(void *ud), void *ud)
{
	struct slot *s, *n;
	int i;

	if (r == NULL)
		return;
	atomic_store(&r->drain_until, anum_mono_s() + (grace_s > 0 ? grace_s : 0));
	if (grace_s > 0 && r->slots)
		log_info("stopping: tool calls in flight may finish (up to %d s; SIGTERM again "
		    "to stop them now)", grace_s);
	atomic_store(&r->stopping, 1);
	/* Tool calls and journal reads see `stopping` and end; they post their
	 * replies first. Reads still waiting are dropped with their clients. */
	while (atomic_load(&r->tool_threads) > 0)
		usleep(10000);
	pthread_mutex_lock(&r->jmu);
	pthread_cond_broadcast(&r->jcv);
	pthread_mutex_unlock(&r->jmu);
	for (i = 0; i < r->jthreads; i++)
		pthread_join(r->jth[i], NULL);
	journal_drop_queued(r);
	pthread_mutex_destroy(&r->jmu);
	pthread_cond_destroy(&r->jcv);
	for (s = r->slots; s; s = s->next) {
		atomic_store(&s->shutdown, 1);
		pthread_mutex_lock(&s->mu);
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	for (s = r->slots; s; s = n) {
		n = s->next;
		for (;;) {	/* what is in flight finishes within the grace */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(s->th, NULL, &ts) != ETIMEDOUT)
				break;
			if (hurry && anum_mono_s() < atomic_load(&r->drain_until) && hurry(ud)) {
				log_info("stopping now: the runs' calls in flight are stopped");
				atomic_store(&r->drain_until, 0.0);
			}
		}
		log_info("run %lld stopped and recorded as interrupted", (long long)s->run_id);
		slot_free(s);
	}
	free(r);
}

int
runner_recover(struct runner *r, struct agentd_error *err)
{
	struct memory_run_filter f = { .limit = 1000 };
	/* Queued runs wait for agentd_start_queued, which respects max_active_runs. */
	const char *statuses[] = { "running", "interrupted" };
	json_t *runs = NULL, *run;
	struct agentd_error e2;
	const char *reason;
	size_t i, k;
	int64_t id;
	int rc;

	for (k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
		f.status = statuses[k];
		rc = memory_run_list(r->d->mem, &f, &runs, err);
		if (rc != AGENTD_OK)
			return rc;
		json_array_foreach(runs, i, run) {
			id = ajson_int(run, "id", 0);
			reason = ajson_str(run, "reason", "");
			if (k == 1 && strcmp(reason, SHUTDOWN_REASON) != 0)
				continue;	/* interrupted for good */
			if (!r->d->cfg.agent.resume) {
				memory_run_set_status(r->d->mem, id, "interrupted",
				    "agentd stopped while the run was active (resume is off)", NULL);
				log_info("run %lld marked interrupted", (long long)id);
				continue;
			}
			if (k == 1)
				memory_run_set_status(r->d->mem, id, "running", NULL, NULL);
			agentd_error_clear(&e2);
			if (runner_start(r, id, &e2) != AGENTD_OK)
				log_error("cannot resume run %lld: %s", (long long)id, agentd_errmsg(&e2));
			else
				log_info("resuming run %lld", (long long)id);
		}
		json_decref(runs);
		runs = NULL;
	}
	return AGENTD_OK;
}

/* ---- tools.call off the loop thread ---- */

struct toolcall {
	struct runner *r;
	uint64_t conn_id;
	json_t *id;
	json_t *params;
	json_t *result;
	int code;
	char msg[1100];
	char workspace[PATH_MAX];
	enum sandbox_policy policy;
	int network;
	int git_writable;
	char *author, *email;
	/* journal reads */
	runner_journal_fn jfn;
	runner_journal_post jpost;
	char *jdb;
	double deadline;	/* anum_mono_s() past which the read is abandoned */
	struct toolcall *jnext;
	char *line;		/* the reply, made on the worker (no post step) */
	/* doctor */
	struct llm_config llm;
	char *db_path, *state_dir;
	int window;
	int kept_ends;	/* run ends waiting beside the journal when asked */
};

static void
toolcall_free(struct toolcall *t)
{
	json_decref(t->id);
	json_decref(t->params);
	json_decref(t->result);
	free(t->author);
	free(t->email);
	llm_config_free(&t->llm);
	free(t->db_path);
	free(t->state_dir);
	free(t->jdb);
	free(t->line);
	free(t);
}

static void
drop_toolcall(void *ud)
{
	toolcall_free(ud);
}

static void
do_tool_reply(void *ud)
{
	struct toolcall *t = ud;

	if (t->code == 0 && t->jpost != NULL)
		t->jpost(t->r->d, t->conn_id, t->params, t->result);
	if (t->code == 0 && t->line != NULL) {
		server_reply_line(t->r->d->srv, t->conn_id, t->line);
		t->line = NULL;
	} else if (t->code == 0) {
		server_reply(t->r->d->srv, t->conn_id, t->id, t->result);
		t->result = NULL;
	} else {
		server_reply_error(t->r->d->srv, t->conn_id, t->id, t->code, t->msg);
	}
	toolcall_free(t);
}

/* *out: a call for a detached thread, in workspace ws (an existing folder);
 * else an error: too many running, out of memory, a bad workspace. Only
 * the main thread adds to tool_threads: the check cannot race. */
static int
toolcall_new(struct runner *r, const char *ws, struct toolcall **out, struct agentd_error *err)
{
	struct toolcall *t;
	struct stat st;

	if (atomic_load(&r->tool_threads) >= MAX_TOOL_CALLS)
		return agentd_seterr(err, AGENTD_EBUSY, "%d tool calls are already running; try "
		    "again when one ends", MAX_TOOL_CALLS);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if (ws == NULL || realpath(ws, t->workspace) == NULL || stat(t->workspace, &st) != 0 ||
	    !S_ISDIR(st.st_mode)) {
		free(t);
		return agentd_seterr(err, AGENTD_EINVAL, "workspace '%s' is not an existing "
		    "directory", ws ? ws : "");
	}
	*out = t;
	return AGENTD_OK;
}

/* The end of a detached thread's work: its answer goes to the loop (an
 * internal error when it made none), and the thread stops counting. */
static void *
answer_and_end(struct toolcall *t)
{
	struct runner *r = t->r;

	if (t->code == 0 && t->result == NULL && t->line == NULL) {
		t->code = RPC_INTERNAL_ERROR;
		snprintf(t->msg, sizeof(t->msg), "out of memory");
	}
	if (server_post(r->d->srv, do_tool_reply, drop_toolcall, t) != AGENTD_OK)
		toolcall_free(t);
	atomic_fetch_sub(&r->tool_threads, 1);
	return NULL;
}

/*
 * What a call by hand asks in its arguments, against what the call was
 * given. More (the network, a stronger policy) is denied the way a run with
 * approval "never" denies it — here the person grants it with the call's
 * own `network` / `policy` parameters: sets *result and returns 1. A weaker
 * policy is used as asked (*policy lowered); returns 0.
 */
static int
by_hand_denied(const struct toolcall *t, json_t *args, enum sandbox_policy *policy,
    json_t **result)
{
	const char *asked = ajson_str(args, "policy", NULL);
	enum sandbox_policy want = t->policy;
	char msg[512];

	if (asked != NULL && sandbox_policy_parse(asked, &want) != AGENTD_OK)
		want = t->policy;	/* the schema check names the bad value */
	if (json_is_true(json_object_get(args, "network")) && !t->network)
		snprintf(msg, sizeof(msg), "Denied: the call asks for network access and this "
		    "call has none (give the call network: agentctl tool --network).");
	else if (want > t->policy)
		snprintf(msg, sizeof(msg), "Denied: the call asks for the %s policy and this call "
		    "has %s (give it to the call: agentctl tool --policy %s).",
		    sandbox_policy_name(want), sandbox_policy_name(t->policy),
		    sandbox_policy_name(want));
	else {
		*policy = want;
		return 0;
	}
	*result = json_pack("{s:b, s:s, s:s}", "ok", 0, "output", msg, "error", "denied");
	return 1;
}

static void *
tool_worker(void *arg)
{
	struct toolcall *t = arg;
	struct tool_ctx ctx;
	struct agentd_error err;
	json_t *args = json_object_get(t->params, "args");
	json_t *empty = json_object();
	const char *name = ajson_str(t->params, "name", "");
	int rc;

	tools_ctx_init(&ctx, t->workspace);
	ctx.cancelled = tools_stopping;
	ctx.cancel_ud = t->r;
	ctx.sandbox.cancelled = tools_stopping;
	ctx.sandbox.cancel_ud = t->r;
	ctx.sandbox.policy = t->policy;
	ctx.sandbox.network = t->network;
	ctx.sandbox.git_writable = t->git_writable;
	ctx.author_name = t->author;
	ctx.author_email = t->email;
	agentd_error_clear(&err);
	rc = by_hand_denied(t, args, &ctx.sandbox.policy, &t->result) ? AGENTD_OK :
	    tools_call(&ctx, name, args ? args : empty, &t->result, &err);
	if (rc == AGENTD_ENOTFOUND && strncmp(name, "mcp__", 5) == 0) {
		/* An MCP tool is known once its server listed it: start the
		 * enabled servers for this workspace, then look again. */
		json_t *defs = NULL;

		if (mcp_servers_tools(t->workspace, NULL, &defs, NULL, &err) == AGENTD_OK) {
			json_decref(defs);
			agentd_error_clear(&err);
			rc = by_hand_denied(t, args, &ctx.sandbox.policy, &t->result) ? AGENTD_OK :
			    tools_call(&ctx, name, args ? args : empty, &t->result, &err);
		}
	}
	json_decref(empty);
	if (rc == AGENTD_ENOTFOUND) {
		t->code = RPC_NOT_FOUND;
		snprintf(t->msg, sizeof(t->msg), "no tool named '%s' (agentctl tools lists them)", name);
	} else if (rc == AGENTD_EINVAL) {
		t->result = json_pack("{s:b, s:s, s:s}", "ok", 0, "output", agentd_errmsg(&err),
		    "error", "invalid arguments");
	} else if (rc != AGENTD_OK) {
		t->result = json_pack("{s:b, s:s, s:s}", "ok", 0, "output", agentd_errmsg(&err),
		    "error", agentd_strerror(rc));
	}
	if (t->code == 0 && t->result == NULL) {
		t->code = RPC_INTERNAL_ERROR;
		snprintf(t->msg, sizeof(t->msg), "tool '%s' returned no result", name);
	}
	return answer_and_end(t);
}

/* Run fn(t) on a detached thread counted in tool_threads (runner_free waits
 * for them); t is freed here when the thread cannot start. */
static int
start_detached(struct runner *r, void *(*fn)(void *), struct toolcall *t,
    struct agentd_error *err)
{
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&r->tool_threads, 1);
	rc = pthread_create(&th, &attr, fn, t);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		atomic_fetch_sub(&r->tool_threads, 1);
		toolcall_free(t);
		return agentd_seterr(err, AGENTD_EIO, "cannot start a thread: %s", strerror(rc));
	}
	return AGENTD_OK;
}

/* The journal as the doctor sees it: sizes, free disk, a fresh integrity
 * check on a connection of its own. */
static json_t *
doctor_journal(const struct toolcall *t)
{
	char wal[PATH_MAX + 8];
	struct stat st;
	struct statvfs vfs;
	struct memory *m = NULL;
	struct agentd_error e;
	json_t *j = json_pack("{s:s, s:s}", "path", t->db_path, "state_dir", t->state_dir);

	if (j == NULL)
		return NULL;
	if (stat(t->db_path, &st) == 0)
		json_object_set_new(j, "bytes", json_integer((json_int_t)st.st_size));
	snprintf(wal, sizeof(wal), "%s-wal", t->db_path);
	if (stat(wal, &st) == 0)
		json_object_set_new(j, "wal_bytes", json_integer((json_int_t)st.st_size));
	if (statvfs(t->state_dir, &vfs) == 0)
		json_object_set_new(j, "free_bytes",
		    json_integer((json_int_t)vfs.f_bavail * (json_int_t)vfs.f_frsize));
	agentd_error_clear(&e);
	if (memory_open_more(t->db_path, &m, &e) == AGENTD_OK)
		memory_integrity_check(m, &e);
	memory_close(m);
	json_object_set_new(j, "integrity", json_string(e.code == AGENTD_OK ? "ok" : agentd_errmsg(&e)));
	json_object_set_new(j, "kept_ends", json_integer(t->kept_ends));
	return j;
}

static void *
doctor_worker(void *arg)
{
	struct toolcall *t = arg;
	struct runner *r = t->r;
	json_t *eps = json_array(), *rep;
	int i;

	for (i = 0; eps != NULL && i < t->llm.n_endpoints; i++) {
		struct agentd_error e;
		int64_t fixed;
		int n_ctx;

		if (atomic_load(&r->stopping))
			break;
		agentd_error_clear(&e);
		rep = NULL;
		if (llm_probe_endpoint(&t->llm, i, &rep, &e) != AGENTD_OK)
			continue;
		n_ctx = (int)ajson_int(rep, "n_ctx", 0);
		if (t->window > 0 && (n_ctx <= 0 || t->window < n_ctx))
			n_ctx = t->window;
		fixed = agent_fixed_prompt_tokens(n_ctx > 0 ? n_ctx : 8192);
		json_object_set_new(rep, "fixed_prompt_tokens", json_integer(fixed));
		json_object_set_new(rep, "window", json_integer(n_ctx));
		/* the fixed part, a reserve for the answer and room for a task */
		if (n_ctx > 0)
			json_object_set_new(rep, "fits", json_boolean(fixed + n_ctx / 8 + 512 <= n_ctx));
		json_array_append_new(eps, rep);
	}
	t->result = json_pack("{s:o?, s:o?}", "journal", doctor_journal(t), "endpoints", eps);
	return answer_and_end(t);
}

int
runner_doctor(struct runner *r, uint64_t conn_id, json_t *id, struct agentd_error *err)
{
	struct toolcall *t;

	if (atomic_load(&r->tool_threads) >= MAX_TOOL_CALLS)
		return agentd_seterr(err, AGENTD_EBUSY,
		    "%d tool calls are already running; try again when one ends", MAX_TOOL_CALLS);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	t->r = r;
	t->conn_id = conn_id;
	t->id = json_incref(id);
	t->window = r->d->cfg.agent.context_window;
	t->kept_ends = memory_ends_pending(r->d->ends);
	t->db_path = dup_or_null(r->d->db_path);
	t->state_dir = dup_or_null(r->d->cfg.state_dir);
	if (t->db_path == NULL || t->state_dir == NULL ||
	    llm_config_copy(&t->llm, &r->d->cfg.agent.llm) != AGENTD_OK) {
		toolcall_free(t);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	return start_detached(r, doctor_worker, t, err);
}

int
runner_tool_call(struct runner *r, uint64_t conn_id, json_t *id, json_t *params,
    struct agentd_error *err)
{
	struct toolcall *t = NULL;
	const char *pol;
	int rc;

	if ((rc = toolcall_new(r, ajson_str(params, "workspace", NULL), &t, err)) != AGENTD_OK)
		return rc;
	t->policy = r->d->cfg.agent.policy;
	pol = ajson_str(params, "policy", NULL);
	if (pol && sandbox_policy_parse(pol, &t->policy) != AGENTD_OK) {
		free(t);
		return agentd_seterr(err, AGENTD_EINVAL,
		    "policy must be read-only, workspace-write or full-access");
	}
	t->network = ajson_bool(params, "network", r->d->cfg.agent.network);
	t->git_writable = r->d->cfg.agent.git_writable;
	t->author = dup_or_null(r->d->cfg.author_name);
	t->email = dup_or_null(r->d->cfg.author_email);
	t->r = r;
	t->conn_id = conn_id;
	t->id = json_incref(id);
	t->params = json_incref(params);
	return start_detached(r, tool_worker, t, err);
}

/* ---- journal reads off the loop thread ---- */

/* At shutdown: reads never started are dropped (their clients go too). */
static void
journal_drop_queued(struct runner *r)
{
	while (r->jhead != NULL) {
		struct toolcall *t = r->jhead;

		r->jhead = t->jnext;
		toolcall_free(t);
	}
	r->jtail = NULL;
	r->jqueued = 0;
}


static int
journal_stop(void *ud)
{
	struct toolcall *t = ud;

	return atomic_load(&t->r->stopping) || anum_mono_s() > t->deadline;
}

/* One read on a pool thread's connection (m NULL: it could not open). */
static void
journal_run(struct toolcall *t, struct memory *m, const struct agentd_error *open_err)
{
	struct agentd_error err;
	int rc;

	agentd_error_clear(&err);
	if (m == NULL) {
		rc = open_err->code != AGENTD_OK ? open_err->code : AGENTD_EIO;
		err = *open_err;
	} else {
		t->deadline = anum_mono_s() + RUNNER_JOURNAL_MAX_S;
		memory_set_interrupt(m, journal_stop, t);
		rc = t->jfn(m, t->params, &t->result, &err);
		memory_set_interrupt(m, NULL, NULL);
		if (rc == AGENTD_ECANCELLED)
			agentd_seterr(&err, rc, "%s (the journal read took over %d s, or agentd is "
			    "stopping)", agentd_errmsg(&err), RUNNER_JOURNAL_MAX_S);
	}
	if (rc != AGENTD_OK) {
		json_decref(t->result);
		t->result = NULL;
		t->code = rpc_code_for_err(rc);
		snprintf(t->msg, sizeof(t->msg), "%s", agentd_errmsg(&err));
	} else if (t->result == NULL) {
		t->code = RPC_INTERNAL_ERROR;
		snprintf(t->msg, sizeof(t->msg), "out of memory");
	} else if (t->jpost == NULL) {
		/* Serialized here: a reply of megabytes costs the loop a copy only. */
		t->line = rpc_result_line(t->id, t->result);
		t->result = NULL;
		if (t->line != NULL && strlen(t->line) > RPC_MAX_REPLY) {
			free(t->line);
			t->line = NULL;
		}
		if (t->line == NULL) {
			t->code = RPC_INTERNAL_ERROR;
			snprintf(t->msg, sizeof(t->msg), "the reply could not be made (too large, "
			    "over %u bytes, or out of memory)", RPC_MAX_REPLY);
		}
	}
	if (server_post(t->r->d->srv, do_tool_reply, drop_toolcall, t) != AGENTD_OK)
		toolcall_free(t);
}

/* A pool thread: its own journal connection, reads taken from the queue
 * oldest first until agentd stops. */
static void *
journal_worker(void *arg)
{
	struct runner *r = arg;
	struct memory *m = NULL;
	struct agentd_error err;
	struct toolcall *t;

	/* The loop answers first: a big read yields the CPU to it (Linux
	 * gives a thread its own nice value). */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5) != 0)
		log_debug("journal reads keep the loop's priority: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&r->jmu);
		while (r->jhead == NULL && !atomic_load(&r->stopping))
			pthread_cond_wait(&r->jcv, &r->jmu);
		if (atomic_load(&r->stopping)) {
			pthread_mutex_unlock(&r->jmu);
			break;
		}
		t = r->jhead;
		r->jhead = t->jnext;
		if (r->jhead == NULL)
			r->jtail = NULL;
		r->jqueued--;
		r->jbusy++;
		pthread_mutex_unlock(&r->jmu);
		agentd_error_clear(&err);
		if (m == NULL && memory_open_more(t->jdb, &m, &err) != AGENTD_OK)
			m = NULL;
		/* Reads show run ends kept beside the journal, as the main
		 * connection's do. */
		if (m != NULL)
			memory_attach_ends(m, r->d->ends);
		journal_run(t, m, &err);
		pthread_mutex_lock(&r->jmu);
		r->jbusy--;
		pthread_mutex_unlock(&r->jmu);
	}
	memory_close(m);
	return NULL;
}

int
runner_journal_call(struct runner *r, uint64_t conn_id, json_t *id, json_t *params,
    runner_journal_fn fn, runner_journal_post post, struct agentd_error *err)
{
	struct toolcall *t;
	int rc = AGENTD_OK;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	t->r = r;
	t->conn_id = conn_id;
	/* copies, not references: the thread must not share the request's refcounts */
	t->id = json_deep_copy(id);
	t->params = json_deep_copy(params);
	t->jfn = fn;
	t->jpost = post;
	t->jdb = dup_or_null(r->d->db_path);
	if (t->id == NULL || t->params == NULL || t->jdb == NULL) {
		toolcall_free(t);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	pthread_mutex_lock(&r->jmu);
	if (r->jqueued >= RUNNER_JOURNAL_QUEUE) {
		rc = agentd_seterr(err, AGENTD_EBUSY, "%d journal reads are already waiting; try "
		    "again when they are answered", RUNNER_JOURNAL_QUEUE);
	} else {
		/* Another thread while all are busy, up to the pool's size. */
		if (r->jthreads < RUNNER_JOURNAL_CALLS && r->jbusy + r->jqueued >= r->jthreads) {
			int e = pthread_create(&r->jth[r->jthreads], NULL, journal_worker, r);

			if (e == 0)
				r->jthreads++;
			else if (r->jthreads == 0)
				rc = agentd_seterr(err, AGENTD_EIO, "cannot start a thread: %s", strerror(e));
		}
		if (rc == AGENTD_OK) {
			if (r->jtail)
				r->jtail->jnext = t;
			else
				r->jhead = t;
			r->jtail = t;
			r->jqueued++;
			pthread_cond_signal(&r->jcv);
		}
	}
	pthread_mutex_unlock(&r->jmu);
	if (rc != AGENTD_OK)
		toolcall_free(t);
	return rc;
}

/* ---- MCP servers: started in the sandbox of their workspace ---- */

static char launcher[PATH_MAX];
static pthread_once_t launcher_once = PTHREAD_ONCE_INIT;

static void
launcher_find(void)
{
	char self[PATH_MAX - 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	snprintf(launcher, sizeof(launcher), "%s/agentctl", self);
	if (access(launcher, X_OK) != 0)
		launcher[0] = '\0';
}

/*
 * An MCP stdio server runs as `agentctl sandbox --workspace W -- CMD ARGS`
 * (the agentctl installed beside agentd): the shell tool's sandbox, its
 * "policy" (default workspace-write) on W, the network only with
 * "network": true, its "env"
 * passed with --env; stdin and stdout pass through to the server, and a
 * SIGTERM to the supervisor ends the whole tree.
 */
/* A path of the server's command line that lies in a folder the sandbox
 * hides, outside the workspace and its readable paths: named if the server
 * cannot start (its own words say only "no such file"). */
static void
hidden_hint(const char *name, const json_t *cfg, const char *workspace, json_t *c)
{
	int all = strcmp(ajson_str(cfg, "policy", ""), "full-access") != 0;	/* else /tmp alone */
	const char *hidden[] = { "/tmp", all ? getenv("HOME") : NULL,
	    all && geteuid() == 0 ? "/root" : NULL, all ? "/var/tmp" : NULL, all ? "/run" : NULL,
	    all ? "/dev/shm" : NULL };
	json_t *args = json_object_get(cfg, "args"), *v;
	size_t i, k, n = json_array_size(args);
	char hint[512];

	for (i = 0; i <= n; i++) {
		const char *p = i == 0 ? ajson_str(cfg, "command", "") :
		    json_string_value(json_array_get(args, i - 1));
		int shown = 0;

		if (p == NULL || p[0] != '/' || buf_path_within(p, workspace))
			continue;
		json_array_foreach(json_object_get(cfg, "readable"), k, v)
			shown |= buf_path_within(p, json_string_value(v));
		for (k = 0; !shown && k < sizeof(hidden) / sizeof(hidden[0]); k++) {
			/* the sandbox never hides "/" (a HOME of "/") */
			if (!hidden[k] || strcmp(hidden[k], "/") == 0 || !buf_path_within(p, hidden[k]))
				continue;
			snprintf(hint, sizeof(hint), "%s is in %s, which the sandbox hides: list its "
			    "folder in mcp_servers.%s.readable", p, hidden[k], name);
			json_object_set_new(c, "start_hint", json_string(hint));
			return;
		}
	}
}

int
runner_mcp_wrap(const char *name, const json_t *cfg, const char *workspace, void *ud,
    json_t **out, struct agentd_error *err)
{
	json_t *c, *args, *v;
	const char *k;
	size_t i;

	(void)ud;
	if (json_object_get(cfg, "url") != NULL)	/* nothing runs here */
		return (*out = json_deep_copy(cfg)) ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	pthread_once(&launcher_once, launcher_find);
	if (launcher[0] == '\0')
		return agentd_seterr(err, AGENTD_EUNAVAIL, "mcp %s: agentctl (the sandbox for MCP "
		    "servers) is not installed beside agentd", name);
	c = json_deep_copy(cfg);
	args = json_pack("[s, s, s, s, s, s, s]", "sandbox", "--workspace", workspace, "--policy",
	    ajson_str(cfg, "policy", "workspace-write"), "--timeout", "86400");
	if (c == NULL || args == NULL) {
		json_decref(c);
		json_decref(args);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if (json_is_true(json_object_get(cfg, "network")))
		json_array_append_new(args, json_string("--network"));
	json_object_foreach((json_t *)json_object_get(cfg, "env"), k, v) {
		char *kv = NULL;

		if (asprintf(&kv, "%s=%s", k, json_string_value(v)) < 0)
			kv = NULL;
		json_array_append_new(args, json_string("--env"));
		json_array_append_new(args, kv ? json_string(kv) : json_null());
		free(kv);
	}
	json_array_foreach(json_object_get(cfg, "readable"), i, v) {
		json_array_append_new(args, json_string("--readable"));
		json_array_append(args, v);
	}
	json_array_append_new(args, json_string("--"));
	json_array_append_new(args, json_string(ajson_str(cfg, "command", "")));
	json_array_foreach(json_object_get(cfg, "args"), i, v)
		json_array_append(args, v);
	json_object_set_new(c, "command", json_string(launcher));
	json_object_set_new(c, "args", args);
	json_object_del(c, "env");
	json_object_del(c, "cwd");	/* the sandbox starts it in the workspace */
	hidden_hint(name, cfg, workspace, c);
	*out = c;
	return AGENTD_OK;
}

static void *
mcp_worker(void *arg)
{
	struct toolcall *t = arg;
	struct agentd_error e;
	const char *what = ajson_str(t->params, "what", "");
	json_t *defs = NULL, *report = NULL;
	int rc;

	agentd_error_clear(&e);
	if (strcmp(what, "test") == 0) {
		rc = mcp_servers_test(ajson_str(t->params, "name", ""), t->workspace, &t->result, &e);
		if (rc != AGENTD_OK) {
			t->code = rc == AGENTD_ENOTFOUND ? RPC_NOT_FOUND : RPC_UNAVAILABLE;
			snprintf(t->msg, sizeof(t->msg), "%s", agentd_errmsg(&e));
		}
	} else {	/* tools.list: the built-in tools and those of the servers */
		rc = mcp_servers_tools(t->workspace, NULL, &defs, &report, &e);
		t->result = tools_list_json();
		if (rc == AGENTD_OK && t->result != NULL) {
			size_t i;
			json_t *d;

			json_array_foreach(defs, i, d) {
				const struct tool_entry *te = tools_find(ajson_str(d, "name", ""));
				json_t *fl = json_array();

				json_array_append_new(fl, json_string("mcp"));
				if (json_is_true(json_object_get(d, "read_only")))
					json_array_append_new(fl, json_string("read_only"));
				if (te && (te->flags & TOOL_APPROVE))
					json_array_append_new(fl, json_string("approve"));
				json_array_append_new(t->result, json_pack("{s:O, s:O, s:O, s:o}", "name",
				    json_object_get(d, "name"), "description", json_object_get(d,
				    "description"), "parameters", json_object_get(d, "parameters"),
				    "flags", fl));
			}
		}
		t->result = json_pack("{s:o?, s:o?}", "tools", t->result, "mcp", report);
		json_decref(defs);
	}
	return answer_and_end(t);
}

int
runner_mcp(struct runner *r, uint64_t conn_id, json_t *id, json_t *params,
    struct agentd_error *err)
{
	struct toolcall *t = NULL;
	int rc;

	if ((rc = toolcall_new(r, ajson_str(params, "workspace", "/"), &t, err)) != AGENTD_OK)
		return rc;
	t->r = r;
	t->conn_id = conn_id;
	/* copies, not references: the thread must not share the request's refcounts */
	t->id = json_deep_copy(id);
	t->params = json_deep_copy(params);
	if (t->id == NULL || t->params == NULL) {
		toolcall_free(t);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	return start_detached(r, mcp_worker, t, err);
}
