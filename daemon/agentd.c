/*
 * agentd.c — the daemon's entry point: flags, configuration, the journal,
 * the socket server, the run manager and the scheduler, then the loop.
 *
 * Runs in the foreground (no double fork), logs to stderr, tells systemd it
 * is ready when NOTIFY_SOCKET is set, stops gracefully on SIGTERM/SIGINT
 * (runs stopped and recorded, socket removed) and reloads on SIGHUP.
 */
#include "daemon/server.h"
#include "daemon/runner.h"
#include "daemon/sched.h"
#include "daemon/log.h"
#include "daemon/private.h"
#include "daemon/notify.h"
#include "agent/llm.h"
#include "common/json.h"
#include "tools/mcp.h"
#include "common/safetext.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int agentd_start_job_run(struct agentd *d, json_t *job, int64_t slot, int64_t *run_id,
    struct agentd_error *err);

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentd [options]\n"
	    "\n"
	    "Run the agentd daemon in the foreground. Clients talk to it with agentctl.\n"
	    "\n"
	    "  --socket PATH      Unix socket to serve (default $AGENTD_SOCKET, else\n"
	    "                     $XDG_RUNTIME_DIR/agentd.sock)\n"
	    "  --state-dir DIR    where the journal lives (default $XDG_STATE_HOME/agentd,\n"
	    "                     else ~/.local/state/agentd)\n"
	    "  --config FILE      JSON configuration file (default $XDG_CONFIG_HOME/agentd/config.json\n"
	    "                     when it exists; see docs/configuration.md), read after\n"
	    "                     the machine's " AGENTD_SYSCONFDIR "/agentd/config.json\n"
	    "  --llm-url URL      model server base URL, e.g. http://127.0.0.1:8080/v1\n"
	    "                     (default $AGENTD_LLM_URL, else http://127.0.0.1:8080/v1)\n"
	    "  --model NAME       model name sent to the server (default $AGENTD_MODEL)\n"
	    "  --no-stream        ask the model server for whole replies, not streams\n"
	    "  --log-level LEVEL  error, warn, info (default) or debug\n"
	    "  --new-journal      when the journal is refused (empty, damaged, not a\n"
	    "                     journal), move it aside and start a new one\n"
	    "  --version          print the version and exit\n"
	    "  -h, --help         this text\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop gracefully (a tool call already running may finish\n"
	    "for stop_grace_s, 10 s by default; a second one stops at once), SIGHUP reloads\n"
	    "the configuration.\n");
}

/*
 * The state directory: created 0700, refused when another user owns it or
 * may write to it, made private when others may only read it; then held
 * with a lock (agentd.pid, naming our pid and socket) for the daemon's
 * life, so that a second daemon never resumes the first one's runs.
 */
static int
take_state_dir(struct agentd *d, struct private_lock **lock, struct agentd_error *err)
{
	char path[PATH_MAX], text[PATH_MAX + 32], *holder = NULL, *nl;
	int rc, tightened = 0;

	if (private_mkdir_p(d->cfg.state_dir, 0700) != 0)
		return agentd_seterr(err, AGENTD_EIO, "cannot create the state directory %s: %s",
		    d->cfg.state_dir, strerror(errno));
	rc = private_dir_check(d->cfg.state_dir, "the state directory", 1, &tightened, err);
	if (rc != AGENTD_OK)
		return rc;
	if (tightened)
		log_warn("the state directory %s was open to other users; it is now 0700",
		    d->cfg.state_dir);
	if (snprintf(path, sizeof(path), "%s/agentd.pid", d->cfg.state_dir) >= (int)sizeof(path))
		return agentd_seterr(err, AGENTD_EINVAL, "state directory path too long");
	rc = private_lock_take(path, lock, &holder, err);
	if (rc == AGENTD_EBUSY) {
		/* The holder wrote "PID\nSOCKET\n". */
		nl = holder ? strchr(holder, '\n') : NULL;
		if (nl)
			*nl++ = '\0';
		if (nl && strchr(nl, '\n'))
			*strchr(nl, '\n') = '\0';
		rc = agentd_seterr(err, AGENTD_EBUSY, "another agentd (pid %s, socket %s) is using the "
		    "state directory %s (lock %s is held); stop it first, or give this one another "
		    "--state-dir", holder && *holder ? holder : "unknown", nl && *nl ? nl : "unknown",
		    d->cfg.state_dir, path);
		free(holder);
		return rc;
	}
	if (rc != AGENTD_OK)
		return rc;
	snprintf(text, sizeof(text), "%d\n%s\n", (int)getpid(), d->cfg.socket_path);
	return private_lock_write(*lock, text, err);
}

/*
 * The journal, refused rather than replaced: an empty, damaged or foreign
 * agentd.db stops the start with a message, unless --new-journal asks to
 * move it aside (never deleted) and begin a new one. Then the run ends kept
 * beside it (agentd.db-ends) while it could not take them are stored, or
 * shown in its place until it can (server.c retries): a run that failed is
 * never resumed.
 */
static int
open_journal(struct agentd *d, int new_journal)
{
	struct agentd_error err;
	char aside[PATH_MAX];
	int rc, stored = 0;

	agentd_error_clear(&err);
	rc = memory_open(d->db_path, &d->mem, &err);
	if (rc == AGENTD_ECORRUPT && new_journal) {
		log_warn("journal %s: %s", d->db_path, agentd_errmsg(&err));
		agentd_error_clear(&err);
		if ((rc = memory_set_aside(d->db_path, aside, sizeof(aside), &err)) != AGENTD_OK) {
			log_error("--new-journal: %s", agentd_errmsg(&err));
			return rc;
		}
		log_warn("--new-journal: the old journal was moved aside to %s (and its -wal, -shm "
		    "and -ends, when present); starting a new one", aside);
		agentd_error_clear(&err);
		rc = memory_open(d->db_path, &d->mem, &err);
	} else if (rc == AGENTD_OK && new_journal) {
		log_warn("--new-journal: the journal %s opened as it is; it was kept", d->db_path);
	}
	if (rc != AGENTD_OK) {
		log_error("journal %s: %s", d->db_path, agentd_errmsg(&err));
		if (rc == AGENTD_ECORRUPT)
			log_error("nothing was changed; to keep these files aside and start a new, "
			    "empty journal, start agentd once with --new-journal");
		return rc;
	}
	agentd_error_clear(&err);
	if (memory_ends_open(d->db_path, &d->ends, &err) != AGENTD_OK) {
		/* Without it a run whose journal fails could be resumed: refuse. */
		log_error("journal %s: %s", d->db_path, agentd_errmsg(&err));
		return AGENTD_EIO;
	}
	memory_attach_ends(d->mem, d->ends);
	if (memory_ends_pending(d->ends) > 0) {
		agentd_error_clear(&err);
		if (memory_ends_store(d->ends, d->mem, &stored, &err) == AGENTD_OK)
			log_info("stored %d run end(s) the journal could not take before", stored);
		else
			log_warn("%d run end(s) wait beside the journal until it can take them: %s",
			    memory_ends_pending(d->ends), agentd_errmsg(&err));
	}
	return AGENTD_OK;
}

/* ---- scheduler callbacks ---- */

static time_t
sched_now(void *ud)
{
	return time(NULL);
}

static int
sched_start_run(void *ud, json_t *job, int64_t slot, int64_t *run_id, struct agentd_error *err)
{
	return agentd_start_job_run(ud, job, slot, run_id, err);
}

static int
sched_active(void *ud, int64_t run_id)
{
	return agentd_run_pending(ud, run_id);	/* a queued run counts: no overlap */
}

static void
sched_warn(void *ud, int64_t job_id, const char *msg)
{
	log_warn("schedule %lld: %s", (long long)job_id, msg);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "llm-url", required_argument, NULL, 'u' },
		{ "model", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "no-stream", no_argument, NULL, 'S' },
		{ "new-journal", no_argument, NULL, 'N' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct agentd d;
	struct agentd_error err;
	struct sched_ops ops;
	struct private_lock *state_lock = NULL;
	sigset_t mask;
	char path[PATH_MAX];
	int c, rc, status = 1, new_journal = 0;

	memset(&d, 0, sizeof(d));
#ifdef __GLIBC__
	/* Big blocks (replies, pages of the journal) come from mmap and go back
	 * to the system when freed; glibc's moving threshold would otherwise
	 * keep them in the heap after the first big free, and the daemon at its
	 * peak size. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': d.flags.socket_path = optarg; break;
		case 'd': d.flags.state_dir = optarg; break;
		case 'c': d.flags.config_file = optarg; break;
		case 'u': d.flags.llm_url = optarg; break;
		case 'm': d.flags.model = optarg; break;
		case 'l': d.flags.log_level = optarg; break;
		case 'S': d.flags.no_stream = 1; break;
		case 'N': new_journal = 1; break;
		case 'V': printf("agentd %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	agentd_error_clear(&err);
	if (config_load(&d.flags, &d.cfg, &err) != AGENTD_OK) {
		char safe[1024];

		/* The message may quote the file: escaped as every log line is. */
		safetext_copy(safe, sizeof(safe), agentd_errmsg(&err), strlen(agentd_errmsg(&err)), 0);
		fprintf(stderr, "agentd: %s\n", safe);
		return 2;
	}
	log_set_level(d.cfg.log_level);

	/* Signals arrive through the server's signalfd; threads inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	llm_global_init();

	if (take_state_dir(&d, &state_lock, &err) != AGENTD_OK) {
		log_error("%s", agentd_errmsg(&err));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/agentd.db", d.cfg.state_dir);
	d.db_path = strdup(path);
	if (d.db_path == NULL) {
		log_error("out of memory");
		goto out;
	}
	if (server_new(&d, d.cfg.socket_path, d.cfg.max_line, &d.srv, &err) != AGENTD_OK) {
		log_error("%s", agentd_errmsg(&err));
		goto out;
	}
	if (strcmp(server_socket_path(d.srv), d.cfg.socket_path) != 0) {
		/* Socket activation: report and record the socket systemd made. */
		char *p = strdup(server_socket_path(d.srv));

		if (p) {
			free(d.cfg.socket_path);
			d.cfg.socket_path = p;
			snprintf(path, sizeof(path), "%d\n%s\n", (int)getpid(), p);
			if (private_lock_write(state_lock, path, &err) != AGENTD_OK)
				log_warn("%s", agentd_errmsg(&err));
		}
	}
	if (open_journal(&d, new_journal) != AGENTD_OK)
		goto out;
	mcp_servers_init(STDERR_FILENO, runner_mcp_wrap, &d);
	if (mcp_servers_configure(d.cfg.mcp_servers, NULL, &err) != AGENTD_OK)
		log_error("mcp_servers: %s", agentd_errmsg(&err));
	if (runner_new(&d, &d.runner) != AGENTD_OK) {
		log_error("out of memory");
		goto out;
	}
	d.started = ajson_now();
	if (runner_recover(d.runner, &err) != AGENTD_OK)
		log_error("recovering runs: %s", agentd_errmsg(&err));
	agentd_start_queued(&d);
	memset(&ops, 0, sizeof(ops));
	ops.now = sched_now;
	ops.start_run = sched_start_run;
	ops.run_active = sched_active;
	ops.warn = sched_warn;
	ops.ud = &d;
	rc = sched_new(d.mem, &ops, d.cfg.max_concurrent_runs, &d.sched, &err);
	if (rc != AGENTD_OK)
		log_error("scheduler disabled: %s", agentd_errmsg(&err));
	else if (sched_start(d.sched, &err) != AGENTD_OK)
		log_error("scheduler start: %s", agentd_errmsg(&err));
	log_info("agentd %s serving %s (journal %s, model server %s)", PACKAGE_VERSION,
	    d.cfg.socket_path, d.db_path, d.cfg.agent.llm.n_endpoints ?
	    d.cfg.agent.llm.endpoints[0].url : "none");
	snprintf(path, sizeof(path), "READY=1\nSTATUS=serving %s", d.cfg.socket_path);
	notify_send(path);
	status = server_run(d.srv) == AGENTD_OK ? 0 : 1;
	d.stopping = 1;
	notify_send("STOPPING=1\nSTATUS=stopping: recording runs");
out:
	server_stop_listening(d.srv);	/* clients hear of the stop at once */
	/* Stops runs and records them; a tool call in flight may finish first. */
	runner_free(d.runner, d.cfg.stop_grace_s, server_stop_again, d.srv);
	mcp_servers_shutdown();	/* no run is left to use a server */
	if (d.mem != NULL && memory_ends_pending(d.ends) > 0) {
		int stored = 0;

		/* Last chance before the next start: leave the journal whole. */
		agentd_error_clear(&err);
		if (memory_ends_store(d.ends, d.mem, &stored, &err) == AGENTD_OK)
			log_info("the journal took %d run end(s) kept beside it", stored);
		else
			log_warn("%d run end(s) stay beside the journal for the next start: %s",
			    memory_ends_pending(d.ends), agentd_errmsg(&err));
	}
	sched_free(d.sched);
	memory_close(d.mem);
	memory_ends_close(d.ends);
	server_free(d.srv);	/* removes the socket and its lock */
	private_lock_release(state_lock);	/* last: the journal is closed */
	config_free(&d.cfg);
	free(d.db_path);
	if (status == 0)
		log_info("stopped");
	return status;
}
