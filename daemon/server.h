/*
 * server.h — agentd's inside: the event loop, the socket server and the
 * daemon context shared by the method handlers (methods.c) and the run
 * manager (runner.c). Everything here runs on the main thread except
 * server_post(), which any thread may call to hand work to the loop.
 */
#ifndef AGENTD_SERVER_H
#define AGENTD_SERVER_H

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "common/error.h"
#include "daemon/config.h"
#include "daemon/rpc.h"
#include "memory/memory.h"

struct server;
struct runner;
struct sched;

/* The daemon: one per process, owned by main(). */
struct agentd {
	struct config cfg;
	struct config_flags flags;	/* as given on the command line (for SIGHUP) */
	struct memory *mem;		/* the main thread's journal connection */
	struct memory_ends *ends;	/* run ends the journal could not take (any thread) */
	char *db_path;
	struct server *srv;
	struct runner *runner;
	struct sched *sched;
	double started;
	int stopping;
};

/* The method table (methods.c). */
extern const struct rpc_method agentd_methods[];
/* Start queued runs while fewer than max_active_runs are active (methods.c). */
void agentd_start_queued(struct agentd *d);
/* 1 while a run is active or queued (methods.c). */
int agentd_run_pending(struct agentd *d, int64_t id);

/* Create the server; listens on path (0600), one daemon per socket. */
int server_new(struct agentd *d, const char *path, size_t max_line,
    struct server **out, struct agentd_error *err);
void server_free(struct server *s);
/* The path served: under socket activation, the one systemd bound (borrowed). */
const char *server_socket_path(struct server *s);
/* Run the loop until server_stop (or a signal asks it to stop). */
int server_run(struct server *s);
void server_stop(struct server *s);
/* After server_run has returned: has a SIGTERM or SIGINT come since?
 * (The runs then stop at once rather than finish their calls.) NULL-safe;
 * the signature fits runner_free's `hurry`. */
int server_stop_again(void *s);
/* After server_run has returned: accept no one and end every connection,
 * so that clients hear it at once rather than wait while the runs stop
 * (their calls in flight may take stop_grace_s). With socket activation
 * systemd keeps the socket and new clients wait for the next start. */
void server_stop_listening(struct server *s);
void server_set_max_line(struct server *s, size_t max_line);

/* The connection an rpc call came from (call->conn) → its id (never 0). */
uint64_t server_conn_id(void *conn);
uid_t server_conn_uid(void *conn);
/* Queue a line (takes ownership) for a connection; dropped if it is gone. */
void server_send(struct server *s, uint64_t conn_id, char *line);
/* Answer a deferred call (steals result) / fail it. id borrowed. */
void server_reply(struct server *s, uint64_t conn_id, json_t *id, json_t *result);
void server_reply_error(struct server *s, uint64_t conn_id, json_t *id, int code, const char *msg);
/* Answer a deferred call with a line already made (takes ownership; may be
 * made on another thread, so that a big reply is not serialized here). */
void server_reply_line(struct server *s, uint64_t conn_id, char *line);
/* Subscribe a connection to a run's notifications. */
void server_subscribe(struct server *s, uint64_t conn_id, int64_t run_id);
/* Send a line (borrowed) to every subscriber of run_id; returns how many. */
int server_publish(struct server *s, int64_t run_id, const char *line);
/* Number of connections subscribed to run_id. */
int server_subscribers(struct server *s, int64_t run_id);
int server_conn_count(struct server *s);
/* Memory held for clients: unsent replies and partial requests of all
 * connections, and how many clients were dropped for the caps. */
struct server_stats {
	size_t queued_out, queued_in;
	uint64_t dropped;
};
void server_stats(struct server *s, struct server_stats *out);

/*
 * Thread-safe: run fn(ud) on the loop's thread soon. If the server is freed
 * before that, drop(ud) is called instead (drop releases ud without touching
 * anything else; NULL means free(ud)).
 */
int server_post(struct server *s, void (*fn)(void *ud), void (*drop)(void *ud), void *ud);

#endif
