/*
 * server.c — agentd's event loop and Unix socket server.
 *
 * One poll() loop on the main thread owns the listening socket, every
 * client connection, a wake-up eventfd for work posted by other threads,
 * the signalfd, and the scheduler's timer. Connections are non-blocking;
 * each has a capped input framer and a capped output buffer, so a slow or
 * hostile client can block nobody. Peers are checked with SO_PEERCRED: only
 * the daemon's own uid and root are served.
 */
#include "daemon/server.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/private.h"
#include "daemon/runner.h"
#include "daemon/sched.h"
#include "common/buf.h"
#include "common/num.h"
#include "common/json.h"
#include "tools/mcp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define OUT_CAP		(2 * RPC_MAX_REPLY)	/* a client that reads nothing is dropped past this */
#define READ_CHUNK	65536
#define MAX_CONNS	1024
/*
 * Memory for clients is bounded in total, not only per connection: when
 * the replies queued for all clients together pass OUT_TOTAL_CAP, the
 * client with the most unread output (the slowest reader) is dropped, and
 * again until the total is under the cap; partial request lines are capped
 * the same way (in_total_cap: IN_TOTAL_CAP, or two of the longest lines
 * allowed when max_line_bytes is larger).
 */
#define OUT_TOTAL_CAP	(4 * RPC_MAX_REPLY)
#define IN_TOTAL_CAP	(64u * 1024 * 1024)
/* A buffer that grew past this is freed once drained instead of kept. */
#define KEEP_BUF	65536
/* After freeing this much, hand the heap's free pages back (malloc_trim). */
#define TRIM_AFTER	(8u * 1024 * 1024)
/* ...and any amount after this long without events. */
#define IDLE_TRIM_MS	500

struct conn {
	uint64_t id;
	int fd;
	uid_t uid;
	pid_t pid;
	struct rpc_framer in;
	struct abuf out;
	size_t out_off;		/* bytes of out already sent */
	size_t in_counted;	/* partial input counted in the server's in_total */
	int closing;		/* 1: close once the output is flushed and nothing is pending; 2: now */
	int pending;		/* deferred calls not answered yet */
	double last_in;		/* when it last sent us something (mono_now) */
	int64_t *subs;
	size_t nsubs;
	struct conn *next;
};

struct posted {
	void (*fn)(void *ud);
	void (*drop)(void *ud);
	void *ud;
	struct posted *next;
};

struct server {
	struct agentd *d;
	char *path;
	int lfd;
	struct private_lock *lock;	/* <socket>.lock, held while we serve */
	int wakefd;
	int sigfd;
	int stop;
	int owns_socket;	/* we created the socket file: unlink on exit */
	size_t max_line;
	uint64_t next_id;
	struct conn *conns;
	int nconns;
	pthread_mutex_t qlock;
	struct posted *qhead, *qtail;
	double retention_due;
	double ends_due;	/* next try to store the run ends kept beside the journal */
	int ends_warned;	/* the failure to store them was logged */
	int max_conns;		/* MAX_CONNS, less when the fd limit is lower */
	double accept_paused;	/* out of fds: leave the listener alone until then */
	size_t out_total;	/* unsent reply bytes of all connections */
	size_t in_total;	/* partial request bytes of all connections */
	size_t freed;		/* big buffers freed since the last malloc_trim */
	uint64_t dropped;	/* clients dropped for the caps */
};


static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Make room for our socket at path: nothing there, or a socket nobody
 * answers on (connect() refused: its daemon died) which is removed.
 * Anything else is left alone and refused.
 */
static int
clear_stale_socket(const char *path, struct agentd_error *err)
{
	struct sockaddr_un sa;
	struct stat sb;
	int fd, rc, e;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return AGENTD_OK;
		return agentd_seterr(err, AGENTD_EIO, "%s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(sb.st_mode))
		return agentd_seterr(err, AGENTD_EDENIED, "%s exists and is not a socket; not deleting "
		    "it (move it away or choose another --socket)", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return agentd_seterr(err, AGENTD_EIO, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (rc == 0)
		return agentd_seterr(err, AGENTD_EBUSY,
		    "another process is already serving %s; not touching it", path);
	if (e != ECONNREFUSED)
		return agentd_seterr(err, AGENTD_EIO, "cannot tell whether %s is in use (%s); not "
		    "deleting it", path, strerror(e));
	if (unlink(path) != 0 && errno != ENOENT)
		return agentd_seterr(err, AGENTD_EIO, "cannot remove the stale socket %s: %s", path,
		    strerror(errno));
	log_info("removed stale socket %s left by a previous run", path);
	return AGENTD_OK;
}

/*
 * The socket's folder: created 0700 when missing (e.g. /tmp/agentd-UID),
 * refused when another user owns it or may write to it (they could put
 * their own socket or lock file in our place).
 */
static int
socket_dir(const char *path, struct agentd_error *err)
{
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (private_mkdir_p(dir, 0700) != 0)
		return agentd_seterr(err, AGENTD_EIO, "cannot create the socket directory %s: %s", dir,
		    strerror(errno));
	return private_dir_check(dir, "the socket directory", 0, NULL, err);
}

/* A whole decimal number, or -1. */
static long
env_num(const char *s)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end ? -1 : v;
}

/*
 * systemd socket activation: LISTEN_FDS with our pid hands us fd 3. It must
 * be a listening Unix stream socket; its bound path is the one we serve (and
 * report), and it stays systemd's: we never unlink it.
 */
static int
activated_fd(char **path, struct agentd_error *err)
{
	long pid = env_num(getenv("LISTEN_PID")), n = env_num(getenv("LISTEN_FDS"));
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int type = 0, listening = 0;
	socklen_t ol = sizeof(int);

	if (pid != (long)getpid() || n < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > 1)
		log_warn("socket activation passed %ld sockets; serving the first only", n);
	memset(&sa, 0, sizeof(sa));
	if (getsockname(3, (struct sockaddr *)&sa, &len) != 0 || sa.sun_family != AF_UNIX ||
	    getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &ol) != 0 || type != SOCK_STREAM ||
	    getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) != 0 || !listening)
		return agentd_seterr(err, AGENTD_EINVAL, "socket activation: fd 3 is not a listening "
		    "Unix stream socket (ListenStream= in the .socket unit must be a path)"), -2;
	fcntl(3, F_SETFD, FD_CLOEXEC);
	if (len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] != '\0') {
		char *p = strndup(sa.sun_path, sizeof(sa.sun_path));

		if (p) {
			free(*path);
			*path = p;
		}
	}
	return 3;
}

static int
open_listener(struct server *s, const char *path, struct agentd_error *err)
{
	struct sockaddr_un sa;
	char lockpath[sizeof(sa.sun_path) + 8], pid[32], *holder = NULL;
	mode_t old;
	int fd, rc;

	if ((fd = activated_fd(&s->path, err)) == -2)
		return AGENTD_EINVAL;
	if (fd >= 0) {
		s->lfd = fd;
		return set_nonblock(fd) == 0 ? AGENTD_OK :
		    agentd_seterr(err, AGENTD_EIO, "activated socket: %s", strerror(errno));
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return agentd_seterr(err, AGENTD_EINVAL, "socket path too long (max %zu bytes): %s",
		    sizeof(sa.sun_path) - 1, path);
	if ((rc = socket_dir(path, err)) != AGENTD_OK)
		return rc;
	/* One daemon per socket: the lock decides, the socket file is checked too. */
	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	rc = private_lock_take(lockpath, &s->lock, &holder, err);
	if (rc == AGENTD_EBUSY) {
		rc = agentd_seterr(err, AGENTD_EBUSY, "another agentd%s%.*s%s is already serving %s "
		    "(lock %s is held); not touching it", holder && *holder ? " (pid " : "",
		    holder ? (int)strcspn(holder, "\n") : 0, holder ? holder : "",
		    holder && *holder ? ")" : "", path, lockpath);
		free(holder);
		return rc;
	}
	if (rc != AGENTD_OK)
		return rc;
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if ((rc = private_lock_write(s->lock, pid, err)) != AGENTD_OK)
		return rc;
	if ((rc = clear_stale_socket(path, err)) != AGENTD_OK)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return agentd_seterr(err, AGENTD_EIO, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		close(fd);
		return agentd_seterr(err, AGENTD_EIO, "bind %s: %s", path, strerror(errno));
	}
	umask(old);
	chmod(path, 0600);
	if (listen(fd, 128) != 0) {
		close(fd);
		unlink(path);
		return agentd_seterr(err, AGENTD_EIO, "listen %s: %s", path, strerror(errno));
	}
	s->lfd = fd;
	s->owns_socket = 1;
	return AGENTD_OK;
}

/* Connections may use at most half the descriptors: runs need the rest. */
static int
conn_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur / 2 >= MAX_CONNS)
		return MAX_CONNS;
	return rl.rlim_cur / 2 > 8 ? (int)(rl.rlim_cur / 2) : 8;
}

int
server_new(struct agentd *d, const char *path, size_t max_line, struct server **out,
    struct agentd_error *err)
{
	struct server *s = calloc(1, sizeof(*s));
	sigset_t mask;
	int rc;

	if (s == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	s->d = d;
	s->lfd = s->wakefd = s->sigfd = -1;
	s->max_line = max_line;
	s->next_id = 1;
	s->max_conns = conn_limit();
	pthread_mutex_init(&s->qlock, NULL);
	s->path = strdup(path);
	if (s->path == NULL) {
		server_free(s);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	rc = open_listener(s, path, err);
	if (rc != AGENTD_OK) {
		server_free(s);
		return rc;
	}
	s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	s->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->wakefd < 0 || s->sigfd < 0) {
		rc = agentd_seterr(err, AGENTD_EIO, "eventfd/signalfd: %s", strerror(errno));
		server_free(s);
		return rc;
	}
	*out = s;
	return AGENTD_OK;
}

/* Unsent output of a connection. */
static size_t
conn_queued(const struct conn *c)
{
	return c->out.len - c->out_off;
}

/* Free a connection's output now (it is being dropped), keeping the count. */
static void
conn_drop_output(struct server *s, struct conn *c)
{
	s->out_total -= conn_queued(c);
	s->freed += c->out.cap;
	abuf_free(&c->out);
	c->out_off = 0;
}

/* Forget a connection's partial input in the count (it is being freed). */
static void
conn_uncount_input(struct server *s, struct conn *c)
{
	s->in_total -= c->in_counted;
	s->freed += c->in.buf.cap;
	c->in_counted = 0;
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	rpc_framer_free(&c->in);
	abuf_free(&c->out);
	free(c->subs);
	free(c);
}

const char *
server_socket_path(struct server *s)
{
	return s->path;
}

void
server_free(struct server *s)
{
	struct conn *c, *n;
	struct posted *p, *pn;

	if (s == NULL)
		return;
	for (c = s->conns; c; c = n) {
		n = c->next;
		conn_free(c);
	}
	for (p = s->qhead; p; p = pn) {
		pn = p->next;
		/* Work that never ran is released, not run: what it refers to may be gone. */
		if (p->drop)
			p->drop(p->ud);
		else
			free(p->ud);
		free(p);
	}
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->owns_socket && s->path)
		unlink(s->path);
	private_lock_release(s->lock);	/* removed while still held, then released */
	if (s->wakefd >= 0)
		close(s->wakefd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	pthread_mutex_destroy(&s->qlock);
	free(s->path);
	free(s);
}

void
server_stop(struct server *s)
{
	s->stop = 1;
}

void
server_set_max_line(struct server *s, size_t max_line)
{
	struct conn *c;

	s->max_line = max_line;
	for (c = s->conns; c; c = c->next) {
		c->in.max_line = max_line;
		c->in.buf.max = max_line + 1;	/* the framer's buffer holds a line and its NUL */
	}
}

uint64_t
server_conn_id(void *conn)
{
	return conn ? ((struct conn *)conn)->id : 0;
}

uid_t
server_conn_uid(void *conn)
{
	return conn ? ((struct conn *)conn)->uid : (uid_t)-1;
}

static struct conn *
find_conn(struct server *s, uint64_t id)
{
	struct conn *c;

	for (c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/*
 * Past the daemon-wide cap, drop the connections with the most unread
 * output (never `keep` while another one holds more) until under it.
 */
static void
enforce_out_cap(struct server *s)
{
	struct conn *c, *victim;

	while (s->out_total > OUT_TOTAL_CAP) {
		victim = NULL;
		for (c = s->conns; c; c = c->next)
			if (c->closing != 2 && (victim == NULL || conn_queued(c) > conn_queued(victim)))
				victim = c;
		if (victim == NULL)
			return;
		log_warn("dropping client %llu (pid %d): it is not reading its replies (%zu bytes "
		    "unread) and all clients together had %zu bytes queued, over the cap of %u",
		    (unsigned long long)victim->id, (int)victim->pid, conn_queued(victim),
		    s->out_total, (unsigned)OUT_TOTAL_CAP);
		victim->closing = 2;
		s->dropped++;
		conn_drop_output(s, victim);
	}
}

static void
conn_queue(struct server *s, struct conn *c, const char *line, size_t n)
{
	if (c->closing == 2)
		return;
	/* Sent bytes at the front go before the buffer grows for more. */
	if (c->out_off > 0 && c->out.len + n >= c->out.cap) {
		memmove(c->out.data, c->out.data + c->out_off, conn_queued(c));
		c->out.len -= c->out_off;
		c->out.data[c->out.len] = '\0';
		c->out_off = 0;
	}
	if (abuf_append(&c->out, line, n) != AGENTD_OK) {
		log_warn("dropping client %llu (pid %d): it is not reading its replies (over %u "
		    "bytes queued)", (unsigned long long)c->id, (int)c->pid, OUT_CAP);
		c->closing = 2;	/* drop without flushing */
		s->dropped++;
		conn_drop_output(s, c);
		return;
	}
	s->out_total += n;
	enforce_out_cap(s);
}

void
server_send(struct server *s, uint64_t conn_id, char *line)
{
	struct conn *c = find_conn(s, conn_id);
	size_t n = line ? strlen(line) : 0;

	if (c && line)
		conn_queue(s, c, line, n);
	if (n > KEEP_BUF)
		s->freed += n;
	free(line);
}

/* A deferred call is answered: the connection waits for one less. */
static void
answered(struct server *s, uint64_t conn_id)
{
	struct conn *c = find_conn(s, conn_id);

	if (c != NULL && c->pending > 0)
		c->pending--;
}

void
server_reply(struct server *s, uint64_t conn_id, json_t *id, json_t *result)
{
	char *line = rpc_result_line(id, result);

	if (line == NULL || strlen(line) > RPC_MAX_REPLY) {
		free(line);
		line = rpc_error_line(id, RPC_INTERNAL_ERROR, "the reply could not be made (over "
		    "the reply cap, or out of memory); ask for less", NULL);
	}
	answered(s, conn_id);
	server_send(s, conn_id, line);
}

void
server_reply_line(struct server *s, uint64_t conn_id, char *line)
{
	answered(s, conn_id);
	server_send(s, conn_id, line);
}

void
server_reply_error(struct server *s, uint64_t conn_id, json_t *id, int code, const char *msg)
{
	answered(s, conn_id);
	server_send(s, conn_id, rpc_error_line(id, code, msg, NULL));
}

void
server_subscribe(struct server *s, uint64_t conn_id, int64_t run_id)
{
	struct conn *c = find_conn(s, conn_id);
	int64_t *n;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsubs; i++)
		if (c->subs[i] == run_id)
			return;
	n = realloc(c->subs, (c->nsubs + 1) * sizeof(*n));
	if (n == NULL)
		return;
	c->subs = n;
	c->subs[c->nsubs++] = run_id;
}

static int
conn_subscribed(const struct conn *c, int64_t run_id)
{
	size_t i;

	for (i = 0; i < c->nsubs; i++)
		if (c->subs[i] == run_id)
			return 1;
	return 0;
}

int
server_publish(struct server *s, int64_t run_id, const char *line)
{
	struct conn *c;
	size_t n = strlen(line);
	int count = 0;

	for (c = s->conns; c; c = c->next)
		if (conn_subscribed(c, run_id) && !c->closing) {
			conn_queue(s, c, line, n);
			count++;
		}
	return count;
}

int
server_subscribers(struct server *s, int64_t run_id)
{
	struct conn *c;
	int count = 0;

	for (c = s->conns; c; c = c->next)
		if (conn_subscribed(c, run_id) && !c->closing)
			count++;
	return count;
}

int
server_conn_count(struct server *s)
{
	return s->nconns;
}

void
server_stats(struct server *s, struct server_stats *out)
{
	out->queued_out = s->out_total;
	out->queued_in = s->in_total;
	out->dropped = s->dropped;
}

int
server_post(struct server *s, void (*fn)(void *ud), void (*drop)(void *ud), void *ud)
{
	struct posted *p = malloc(sizeof(*p));
	uint64_t one = 1;

	if (p == NULL)
		return AGENTD_ENOMEM;
	p->fn = fn;
	p->drop = drop;
	p->ud = ud;
	p->next = NULL;
	pthread_mutex_lock(&s->qlock);
	if (s->qtail)
		s->qtail->next = p;
	else
		s->qhead = p;
	s->qtail = p;
	pthread_mutex_unlock(&s->qlock);
	/*
	 * The work is queued and now belongs to the loop whatever happens here:
	 * a failed wake-up (the counter is full: a wake-up is pending anyway)
	 * must not make the caller free what the loop will run.
	 */
	if (write(s->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("eventfd write: %s", strerror(errno));
	return AGENTD_OK;
}

static void
drain_posted(struct server *s)
{
	struct posted *p, *n;
	uint64_t v;

	if (read(s->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&s->qlock);
	p = s->qhead;
	s->qhead = s->qtail = NULL;
	pthread_mutex_unlock(&s->qlock);
	for (; p; p = n) {
		n = p->next;
		p->fn(p->ud);
		free(p);
	}
}

/*
 * At the connection limit, make room by closing the client that has been
 * silent longest, if it waits for nothing: no run it follows, no deferred
 * answer, no output still queued, and silent for IDLE_EVICT_S at least (a
 * client that just connected is about to speak). 1 when one was closed.
 */
#define IDLE_EVICT_S 5.0

static int
evict_idle(struct server *s)
{
	struct conn **pp, **victim = NULL, *c;
	double now = anum_mono_s();

	for (pp = &s->conns; (c = *pp) != NULL; pp = &c->next) {
		if (c->closing || c->nsubs > 0 || c->pending > 0 || conn_queued(c) > 0 ||
		    now - c->last_in < IDLE_EVICT_S)
			continue;
		if (victim == NULL || c->last_in < (*victim)->last_in)
			victim = pp;
	}
	if (victim == NULL)
		return 0;
	c = *victim;
	*victim = c->next;
	s->nconns--;
	conn_uncount_input(s, c);
	log_info("%d connections (the limit): closed client %llu (pid %d), silent for %.0f s, "
	    "to serve a new one", s->max_conns, (unsigned long long)c->id, (int)c->pid,
	    now - c->last_in);
	conn_free(c);
	return 1;
}

static void
accept_conns(struct server *s)
{
	struct ucred cred;
	socklen_t len;
	struct conn *c;
	int fd;

	for (;;) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The pending connection stays readable: polling it again
				 * now would spin. Serve the others and retry in a second. */
				log_warn("accept: %s; not accepting for a second (%d clients)",
				    strerror(errno), s->nconns);
				s->accept_paused = anum_mono_s() + 1;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
			log_warn("SO_PEERCRED: %s; refusing the connection", strerror(errno));
			close(fd);
			continue;
		}
		if (cred.uid != geteuid() && cred.uid != 0) {
			log_warn("refused a connection from uid %u (pid %d): only uid %u and root are served",
			    (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
			close(fd);
			continue;
		}
		if (s->nconns >= s->max_conns && !evict_idle(s)) {
			log_warn("too many connections (%d); refusing pid %d", s->nconns, (int)cred.pid);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->id = s->next_id++;
		c->fd = fd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->last_in = anum_mono_s();
		rpc_framer_init(&c->in, s->max_line);
		abuf_init(&c->out, OUT_CAP);
		c->next = s->conns;
		s->conns = c;
		s->nconns++;
		log_debug("client %llu connected (pid %d, uid %u)", (unsigned long long)c->id,
		    (int)cred.pid, (unsigned)cred.uid);
	}
}

struct line_ctx {
	struct server *s;
	struct conn *c;
};

static int
handle_line(void *ud, char *line, size_t len)
{
	struct line_ctx *lc = ud;
	json_t *deferred = NULL;
	char *out;

	out = rpc_handle_line(agentd_methods, lc->s->d, lc->c, line, len, &deferred);
	if (deferred != NULL)
		lc->c->pending++;
	json_decref(deferred);
	if (out) {
		conn_queue(lc->s, lc->c, out, strlen(out));
		free(out);
	}
	return lc->c->closing ? 1 : 0;
}

/*
 * Keep the count of partial request bytes; past the daemon-wide cap drop
 * the clients holding the most (a line that never ends is not a request).
 */
static void
count_input(struct server *s, struct conn *c)
{
	size_t cap = 2 * (size_t)s->max_line > IN_TOTAL_CAP ? 2 * (size_t)s->max_line : IN_TOTAL_CAP;
	struct conn *v, *victim;

	s->in_total = s->in_total - c->in_counted + c->in.buf.len;
	c->in_counted = c->in.buf.len;
	if (c->in.buf.len == 0 && c->in.buf.cap > KEEP_BUF) {
		s->freed += c->in.buf.cap;
		rpc_framer_shrink(&c->in);
	}
	while (s->in_total > cap) {
		victim = NULL;
		for (v = s->conns; v; v = v->next)
			if (v->closing != 2 && (victim == NULL || v->in_counted > victim->in_counted))
				victim = v;
		if (victim == NULL)
			return;
		log_warn("dropping client %llu (pid %d): %zu bytes of an unfinished request, and "
		    "all clients together had %zu, over the cap of %zu", (unsigned long long)victim->id,
		    (int)victim->pid, victim->in_counted, s->in_total, cap);
		victim->closing = 2;
		s->dropped++;
		conn_uncount_input(s, victim);
		rpc_framer_shrink(&victim->in);
	}
}

static void
conn_read(struct server *s, struct conn *c)
{
	char buf[READ_CHUNK];
	struct line_ctx lc = { s, c };
	ssize_t n;
	char *out, msg[128];
	int rc;

	for (;;) {
		n = read(c->fd, buf, sizeof(buf));
		if (n == 0) {
			/* The client is done sending (it may only have shut down its
			 * writing side): what it asked is still answered. */
			c->closing = c->pending > 0 || conn_queued(c) > 0 ? 1 : 2;
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				c->closing = 2;
			return;
		}
		c->last_in = anum_mono_s();
		rc = rpc_framer_feed(&c->in, buf, (size_t)n, handle_line, &lc);
		count_input(s, c);
		if (rc == AGENTD_ETOOBIG) {
			snprintf(msg, sizeof(msg), "invalid request: line exceeds %zu bytes; closing",
			    c->in.max_line);
			log_warn("client %llu sent a line over %zu bytes; closing it",
			    (unsigned long long)c->id, c->in.max_line);
			out = rpc_error_line(NULL, RPC_INVALID_REQUEST, msg, NULL);
			if (out)
				conn_queue(s, c, out, strlen(out));
			free(out);
			c->closing = 1;
			return;
		} else if (rc == AGENTD_ENOMEM) {
			c->closing = 2;
			return;
		}
		if (c->closing || (size_t)n < sizeof(buf))
			return;
	}
}

static void
conn_write(struct server *s, struct conn *c)
{
	ssize_t n;

	while (conn_queued(c) > 0) {
		n = send(c->fd, c->out.data + c->out_off, conn_queued(c), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				c->closing = 2;
				conn_drop_output(s, c);
			}
			return;
		}
		/* An offset, not a memmove of the rest after every send: a 64 MiB
		 * reply sent in socket-buffer pieces stays linear. */
		c->out_off += (size_t)n;
		s->out_total -= (size_t)n;
	}
	if (c->out.cap > KEEP_BUF) {
		s->freed += c->out.cap;
		abuf_free(&c->out);	/* drained: a big buffer is given back */
	} else {
		abuf_reset(&c->out);
	}
	c->out_off = 0;
}

static void
reap_conns(struct server *s)
{
	struct conn **pp = &s->conns, *c;

	while ((c = *pp) != NULL) {
		if (c->closing == 2 || (c->closing == 1 && conn_queued(c) == 0 && c->pending == 0)) {
			*pp = c->next;
			s->nconns--;
			log_debug("client %llu disconnected", (unsigned long long)c->id);
			conn_drop_output(s, c);
			conn_uncount_input(s, c);
			conn_free(c);
			continue;
		}
		pp = &c->next;
	}
}

/* Give the heap's free pages back once big buffers were freed (glibc keeps
 * them otherwise: a daemon that served a burst would stay at its peak). */
static void
maybe_trim(struct server *s)
{
	if (s->freed < TRIM_AFTER)
		return;
	s->freed = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Servers whose entry changed or went away stop; new ones start on use. */
static void
reload_mcp(const json_t *servers)
{
	struct agentd_error err;
	json_t *ch = NULL;
	char *txt;

	agentd_error_clear(&err);
	if (mcp_servers_configure(servers, &ch, &err) != AGENTD_OK) {
		log_error("mcp_servers: %s", agentd_errmsg(&err));
		return;
	}
	if (json_array_size(json_object_get(ch, "added")) || json_array_size(json_object_get(ch,
	    "removed")) || json_array_size(json_object_get(ch, "changed"))) {
		txt = ajson_dumps(ch);
		log_info("mcp servers: %s", txt ? txt : "changed");
		free(txt);
	}
	json_decref(ch);
}

void
server_stop_listening(struct server *s)
{
	struct conn *c;

	if (s == NULL)
		return;
	if (s->lfd >= 0)
		close(s->lfd);
	s->lfd = -1;
	for (c = s->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
}

int
server_stop_again(void *ud)
{
	struct server *s = ud;
	struct signalfd_siginfo si;
	int again = 0;

	if (s == NULL || s->sigfd < 0)
		return 0;
	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si))
		again |= si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
	return again;
}

static void
handle_signal(struct server *s)
{
	struct signalfd_siginfo si;
	struct agentd_error err;
	struct config nc;

	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			notify_reloading();
			agentd_error_clear(&err);
			if (config_load(&s->d->flags, &nc, &err) != AGENTD_OK) {
				log_error("reload failed, keeping the old configuration: %s", err.msg);
				notify_send("READY=1\nSTATUS=reload failed, kept the old configuration");
				continue;
			}
			/* The socket and the state dir keep their values. */
			free(nc.socket_path);
			nc.socket_path = s->d->cfg.socket_path;
			s->d->cfg.socket_path = NULL;
			free(nc.state_dir);
			nc.state_dir = s->d->cfg.state_dir;
			s->d->cfg.state_dir = NULL;
			nc.agent.state_dir = nc.state_dir;
			config_free(&s->d->cfg);
			s->d->cfg = nc;
			reload_mcp(nc.mcp_servers);
			log_set_level(nc.log_level);
			server_set_max_line(s, nc.max_line);
			sched_set_max_concurrent(s->d->sched, nc.max_concurrent_runs);
			log_info("configuration reloaded%s%s%s%s",
			    nc.system_config_file ? " from " : "",
			    nc.system_config_file ? nc.system_config_file : "",
			    nc.config_file ? (nc.system_config_file ? " and " : " from ") : "",
			    nc.config_file ? nc.config_file : "");
			notify_send("READY=1\nSTATUS=configuration reloaded");
		} else {
			log_info("%s received; shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
			notify_send("STOPPING=1");
			s->stop = 1;
		}
	}
}

static void
apply_retention(struct server *s)
{
	struct agentd_error err;
	int deleted = 0;

	if (s->d->cfg.retention_max_age_s <= 0 && s->d->cfg.retention_max_count <= 0)
		return;
	agentd_error_clear(&err);
	if (memory_retention(s->d->mem, s->d->cfg.retention_max_age_s,
	    s->d->cfg.retention_max_count, &deleted, &err) != AGENTD_OK)
		log_warn("retention: %s", agentd_errmsg(&err));
	else if (deleted > 0)
		log_info("retention: deleted %d old session(s)", deleted);
}

/* Run ends kept beside the journal (a full disk…) go into it once it takes
 * them; tried every ENDS_RETRY_S seconds while any wait. */
#define ENDS_RETRY_S 2
static void
store_kept_ends(struct server *s)
{
	struct agentd_error err;
	int stored = 0;

	agentd_error_clear(&err);
	if (memory_ends_store(s->d->ends, s->d->mem, &stored, &err) == AGENTD_OK) {
		if (stored > 0)
			log_info("the journal took %d run end(s) kept beside it", stored);
		s->ends_warned = 0;
	} else if (!s->ends_warned) {
		log_warn("%d run end(s) wait beside the journal: %s", memory_ends_pending(s->d->ends),
		    agentd_errmsg(&err));
		s->ends_warned = 1;
	}
}

int
server_run(struct server *s)
{
	struct pollfd *pfd = NULL;
	struct conn *c, **idx = NULL;
	size_t cap = 0, n, i;
	long timeout;
	int rc, status = AGENTD_OK;

	s->retention_due = anum_mono_s();
	while (!s->stop) {
		n = 3 + (size_t)s->nconns;
		if (n > cap) {
			struct pollfd *np = realloc(pfd, n * sizeof(*pfd));
			struct conn **ni = realloc(idx, n * sizeof(*idx));

			if (np)
				pfd = np;
			if (ni)
				idx = ni;
			if (np == NULL || ni == NULL) {
				log_error("out of memory in the event loop");
				sleep(1);
				continue;
			}
			cap = n;
		}
		pfd[0] = (struct pollfd){ .fd = s->lfd,
		    .events = anum_mono_s() >= s->accept_paused ? POLLIN : 0 };
		pfd[1] = (struct pollfd){ .fd = s->wakefd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = s->sigfd, .events = POLLIN };
		for (i = 3, c = s->conns; c; c = c->next, i++) {
			pfd[i].fd = c->fd;
			pfd[i].events = (c->closing ? 0 : POLLIN) | (conn_queued(c) ? POLLOUT : 0);
			pfd[i].revents = 0;
			idx[i] = c;
		}
		timeout = 60000;
		if (s->d->sched)
			timeout = sched_tick(s->d->sched);
		if (pfd[0].events == 0 && (timeout < 0 || timeout > 1000))
			timeout = 1000;
		if (anum_mono_s() >= s->retention_due) {
			apply_retention(s);
			s->retention_due = anum_mono_s() + 3600;
		}
		if (memory_ends_pending(s->d->ends) > 0) {
			if (anum_mono_s() >= s->ends_due) {
				store_kept_ends(s);
				s->ends_due = anum_mono_s() + ENDS_RETRY_S;
			}
			if (timeout < 0 || timeout > ENDS_RETRY_S * 1000)
				timeout = ENDS_RETRY_S * 1000;
		}
		/* Memory freed since the last trim goes back once things are
		 * quiet, even under TRIM_AFTER: a burst leaves no plateau. */
		if (s->freed > 0 && (timeout < 0 || timeout > IDLE_TRIM_MS))
			timeout = IDLE_TRIM_MS;
		rc = poll(pfd, n, (int)timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			status = AGENTD_EIO;
			break;
		}
		if (rc == 0 && s->freed > 0) {
			s->freed = TRIM_AFTER;
			maybe_trim(s);
		}
		if (pfd[2].revents)
			handle_signal(s);
		if (pfd[1].revents)
			drain_posted(s);
		for (i = 3; i < n; i++) {
			c = idx[i];
			if (c->closing && (pfd[i].revents & (POLLHUP | POLLERR))) {
				/* Gone both ways while an answer was pending: nobody to answer. */
				c->closing = 2;
				conn_drop_output(s, c);
			} else if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				conn_read(s, c);
			}
			if (conn_queued(c) && c->closing != 2)
				conn_write(s, c);
		}
		if (pfd[0].revents & POLLIN)
			accept_conns(s);
		reap_conns(s);
		maybe_trim(s);
	}
	/* Flush what we can before leaving. */
	for (c = s->conns; c; c = c->next)
		if (conn_queued(c) && c->closing != 2)
			conn_write(s, c);
	free(pfd);
	free(idx);
	return status;
}
