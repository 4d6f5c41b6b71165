/*
 * sandbox.c — the parent side of the sandbox: probe what this kernel allows,
 * pick a mode, build the plan (paths, environment, seccomp program),
 * clone3 the child with its namespaces, then watch it: capture
 * output head+tail, enforce the wall-clock timeout and cancellation, and
 * kill the whole tree. The child side is sandbox_child.c; the seccomp
 * program is sandbox_filter.c (compiled at build time). Design notes: docs/sandbox.md.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#ifdef HAVE_SYS_SINGLE_THREADED_H
#include <sys/single_threaded.h>
#endif

#include "common/buf.h"
#include "common/num.h"
#include "common/spawn.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"
#include "sandbox/sandbox_filter.h"

extern char **environ;

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
/* Past this many bytes on one stream the command is killed: output is kept
 * head+tail anyway, and a flood must not run until the timeout. */
#define FLOOD_MIN ((size_t)16 << 20)

/* What this machine allows, probed once. */
static struct {
	pthread_once_t once;
	int euid_root;
	int landlock_abi;
	int ns_ok;		/* namespaces usable (as root, or through a userns) */
	char ns_why[160];	/* why not */
	int userns_disabled;	/* AGENTD_SANDBOX_NO_USERNS=1 */
	int idmap_fd;		/* root: userns mapping euid -> run uid, for the workspace mount */
	pid_t idmap_pid;	/* its maker, exiting; reaped after the first spawn */
	char idmap_why[160];	/* why there is none */
	uid_t run_uid;		/* root: the uid (and gid) the command runs as */
} probe = { PTHREAD_ONCE_INIT, 0, 0, 0, "", 0, -1, 0, "", 0 };

/* probe_ns, run at most once: by --explain, or when a run failed to set up. */
static pthread_once_t explain_once = PTHREAD_ONCE_INIT;


static pid_t
sys_clone3(uint64_t flags, int *pidfd)
{
	struct clone_args ca;

	memset(&ca, 0, sizeof ca);
	ca.flags = flags | (pidfd ? CLONE_PIDFD : 0);
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	ca.exit_signal = SIGCHLD;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
}

static int
write_small_at(int dfd, const char *path, const char *s)
{
	int fd = openat(dfd, path, O_WRONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = write(fd, s, strlen(s));
	close(fd);
	return r == (ssize_t)strlen(s) ? 0 : -1;
}

static int
write_small(const char *path, const char *s)
{
	return write_small_at(AT_FDCWD, path, s);
}

/* Can this process build the namespaces? One throw-away child, once. */
static int
probe_ns_check(void)
{
	uint64_t flags = NS_FLAGS | (probe.landlock_abi < 6 ? CLONE_NEWNET : 0);
	uid_t uid = geteuid();
	gid_t gid = getegid();
	pid_t pid;
	int st;

	if (probe.userns_disabled) {
		snprintf(probe.ns_why, sizeof probe.ns_why,
		    "user namespaces disabled by AGENTD_SANDBOX_NO_USERNS");
		return 0;
	}
	flags |= CLONE_NEWUSER;	/* as root too: every run makes one */
	pid = sys_clone3(flags, NULL);
	if (pid < 0) {
		snprintf(probe.ns_why, sizeof probe.ns_why, "clone3 with user, mount and pid "
		    "namespaces: %s", strerror(errno));
		return 0;
	}
	if (pid == 0) {
		char m[64];

		if (!probe.euid_root) {
			snprintf(m, sizeof m, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
			if (write_small("/proc/self/setgroups", "deny") < 0 ||
			    write_small("/proc/self/uid_map", m) < 0)
				_exit(2);
			snprintf(m, sizeof m, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
			if (write_small("/proc/self/gid_map", m) < 0)
				_exit(2);
		}
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(3);
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			_exit(4);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	snprintf(probe.ns_why, sizeof probe.ns_why, "%s",
	    !WIFEXITED(st) ? "namespace probe crashed" :
	    WEXITSTATUS(st) == 2 ? "cannot write uid/gid maps in a new user namespace" :
	    WEXITSTATUS(st) == 3 ? "cannot make mounts private in a new mount namespace" :
	    "cannot mount /proc in a new pid namespace");
	return 0;
}

static void
probe_ns(void)
{
	int ok = probe_ns_check();

	__atomic_store_n(&probe.ns_ok, ok, __ATOMIC_RELEASE);
}

/* Root: one uid and one gid map line ("inside outside 1") for the new
 * user namespace of process `pid` (only a process of the parent namespace
 * may map an id other than its own), and with `userns` its namespace
 * opened. One lookup of /proc/PID for all (each is a fresh inode for a new
 * process). -1 with errno. */
static int
write_pid_maps(pid_t pid, uid_t uin, uid_t uout, gid_t gin, gid_t gout, int *userns)
{
	char path[64], m[64];
	int dfd, rc = -1, e;

	snprintf(path, sizeof path, "/proc/%ld", (long)pid);
	if ((dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	snprintf(m, sizeof m, "%u %u 1\n", (unsigned)uin, (unsigned)uout);
	if (write_small_at(dfd, "uid_map", m) == 0) {
		snprintf(m, sizeof m, "%u %u 1\n", (unsigned)gin, (unsigned)gout);
		rc = write_small_at(dfd, "gid_map", m);
	}
	if (rc == 0 && userns && (*userns = openat(dfd, "ns/user", O_RDONLY | O_CLOEXEC)) < 0)
		rc = -1;
	e = errno;
	close(dfd);
	errno = e;
	return rc;
}

/* The maker: holds the namespace until the pipe closes. It shares our
 * memory (CLONE_VM: no page tables to copy, a tenth of a fork's cost on
 * this machine), runs on its own stack and touches nothing else. */
static int
idmap_maker(void *arg)
{
	const int *pp = arg;
	char c;

	/* Raw calls: glibc's read is a cancellation point that would flip
	 * bits in the thread descriptor we share with the caller. */
	syscall(SYS_close, pp[1]);	/* our copy of the write end: EOF when the caller closes its own */
	syscall(SYS_read, pp[0], &c, 1);
	return 0;
}

/*
 * Root only, made once: a user namespace whose map sends our euid (the
 * workspace owner's id as the daemon sees it) to the unprivileged uid the
 * command runs as; the workspace is mounted idmapped through it, so the
 * command reads and writes the daemon's files as their owner while files
 * it creates keep the daemon's uid on disk. The maker process is not
 * waited for here: its exit runs alongside the first run's set-up, and
 * reap_idmap_maker collects it after that run's clone if it is gone by
 * then, or after the run.
 */
static void
probe_root_userns(void)
{
	static char stack[16384] __attribute__((aligned(16)));
	static int maker_pp[2];
	int pp[2], ufd = -1;
	pid_t pid;

	if (probe.userns_disabled) {
		snprintf(probe.idmap_why, sizeof probe.idmap_why,
		    "user namespaces disabled by AGENTD_SANDBOX_NO_USERNS");
		return;
	}
	if (pipe2(pp, O_CLOEXEC) < 0) {
		snprintf(probe.idmap_why, sizeof probe.idmap_why, "pipe: %s", strerror(errno));
		return;
	}
	maker_pp[0] = pp[0];
	maker_pp[1] = pp[1];
	pid = clone(idmap_maker, stack + sizeof stack, CLONE_VM | CLONE_NEWUSER | SIGCHLD,
	    maker_pp);
	close(pp[0]);
	if (pid < 0) {
		snprintf(probe.idmap_why, sizeof probe.idmap_why, "clone3 with a user namespace: %s",
		    strerror(errno));
		close(pp[1]);
		return;
	}
	if (write_pid_maps(pid, geteuid(), probe.run_uid, getegid(), (gid_t)probe.run_uid,
	    &ufd) < 0)
		ufd = -1;
	if (ufd < 0)
		snprintf(probe.idmap_why, sizeof probe.idmap_why, "cannot map uid %u in a user "
		    "namespace: %s", (unsigned)probe.run_uid, strerror(errno));
	close(pp[1]);		/* the maker exits */
	probe.idmap_fd = ufd;
	probe.idmap_pid = pid;
}

/* Collect the idmap namespace's maker, once, whoever gets here first;
 * without `wait` only if it has exited already (else it is left for a
 * later call: waiting for it to be scheduled and exit would put a
 * wake-up of its own on a run's way under load). */
static void
reap_idmap_maker(int wait)
{
	pid_t pid = __atomic_exchange_n(&probe.idmap_pid, 0, __ATOMIC_ACQ_REL), r, none = 0;
	int st;

	if (pid <= 0)
		return;
	while ((r = waitpid(pid, &st, wait ? 0 : WNOHANG)) < 0 && errno == EINTR)
		;
	if (r == 0)	/* still running: put it back */
		__atomic_compare_exchange_n(&probe.idmap_pid, &none, pid, 0, __ATOMIC_ACQ_REL,
		    __ATOMIC_ACQUIRE);
}

static void
probe_once(void)
{
	const char *e = getenv("AGENTD_SANDBOX_NO_USERNS");
	long abi;

	probe.euid_root = geteuid() == 0;
	probe.userns_disabled = e && *e && strcmp(e, "0") != 0;
	probe.run_uid = SBX_RUN_UID;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* VERSION */);
	probe.landlock_abi = abi > 0 ? (int)abi : 0;
	/*
	 * Root can always make these namespaces unless something odd (a
	 * seccomp'd container) says no; a run then fails at set-up naming the
	 * step, and --explain probes for real. Unprivileged, user namespaces
	 * are assumed until a run's set-up fails: then ns_refused() probes,
	 * and if they are refused the run is retried in the fallback mode, as
	 * is every later one. Not probing up front saves a clone of every
	 * namespace on each cold start.
	 */
	if (probe.euid_root || !probe.userns_disabled)
		probe.ns_ok = 1;	/* unprivileged: checked if the first run fails */
	else
		probe_ns();
	if (probe.euid_root && probe.ns_ok)
		probe_root_userns();
}

static void
probe_init(void)
{
	pthread_once(&probe.once, probe_once);
}

void
sandbox_opts_init(struct sandbox_opts *o)
{
	memset(o, 0, sizeof *o);
	o->policy = SANDBOX_WORKSPACE_WRITE;
	o->timeout_ms = 120000;
	o->memory_mb = 2048;
	o->max_procs = 256;
	o->max_file_mb = 256;
	o->max_open_files = 1024;
	o->cpu_s = 600;
	o->output_cap = 64 * 1024;
}

int
sandbox_policy_parse(const char *s, enum sandbox_policy *p)
{
	if (!s)
		return AGENTD_EINVAL;
	if (strcmp(s, "read-only") == 0)
		*p = SANDBOX_READ_ONLY;
	else if (strcmp(s, "workspace-write") == 0)
		*p = SANDBOX_WORKSPACE_WRITE;
	else if (strcmp(s, "full-access") == 0)
		*p = SANDBOX_FULL_ACCESS;
	else
		return AGENTD_EINVAL;
	return AGENTD_OK;
}

const char *
sandbox_policy_name(enum sandbox_policy p)
{
	switch (p) {
	case SANDBOX_READ_ONLY: return "read-only";
	case SANDBOX_WORKSPACE_WRITE: return "workspace-write";
	case SANDBOX_FULL_ACCESS: return "full-access";
	}
	return "unknown";
}

static enum sbx_mode
pick_mode(void)
{
	if (__atomic_load_n(&probe.ns_ok, __ATOMIC_ACQUIRE))
		return probe.euid_root ? SBX_MODE_NS_ROOT : SBX_MODE_NS_USER;
	return SBX_MODE_FALLBACK;
}

/* ---- environment ---------------------------------------------------- */

static int
looks_secret(const char *name, size_t n)
{
	static const char *const bad[] = { "TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD",
	    "CREDENTIAL", "AUTH", "COOKIE", "SESSION" };
	char up[128];
	size_t i;

	if (n >= sizeof up)
		return 1;
	for (i = 0; i < n; i++)
		up[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
	up[n] = '\0';
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (strstr(up, bad[i]))
			return 1;
	return 0;
}

static int
allowed_name(const char *name, size_t n)
{
	static const char *const ok[] = { "PATH", "LANG", "LANGUAGE", "TERM", "TZ", "USER",
	    "LOGNAME", "NO_COLOR", "COLORTERM", "SOURCE_DATE_EPOCH" };
	size_t i;

	if (n > 3 && strncmp(name, "LC_", 3) == 0)
		return 1;
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strlen(ok[i]) == n && strncmp(name, ok[i], n) == 0)
			return 1;
	return 0;
}

struct strv {
	char **v;
	size_t n, cap;
};

static int
strv_add(struct strv *s, char *str)
{
	if (!str)
		return -1;
	if (s->n + 2 > s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 32;
		char **nv = realloc(s->v, nc * sizeof *nv);

		if (!nv) {
			free(str);
			return -1;
		}
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
	return 0;
}

static void
strv_free(struct strv *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* The allowlist, then HOME/TMPDIR, then the caller's extras (secrets never). */
static int
build_env(const struct sandbox_opts *o, const char *tmp, struct strv *env, const char **path)
{
	char **e;
	char *const *x;
	int have_path = 0;

	*path = "/usr/local/bin:/usr/bin:/bin";
	aspawn_environ_lock();	/* a thread of the caller may be changing it */
	for (e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t n;

		if (!eq)
			continue;
		n = (size_t)(eq - *e);
		if (!allowed_name(*e, n) || looks_secret(*e, n))
			continue;
		if (strv_add(env, strdup(*e)) < 0) {
			aspawn_environ_unlock();
			return -1;
		}
		if (n == 4 && strncmp(*e, "PATH", 4) == 0) {
			have_path = 1;
			*path = strchr(env->v[env->n - 1], '=') + 1;	/* our copy */
		}
	}
	aspawn_environ_unlock();
	if (!have_path && strv_add(env, xasprintf("PATH=%s", *path)) < 0)
		return -1;
	if (strv_add(env, xasprintf("HOME=%s", tmp)) < 0 ||
	    strv_add(env, xasprintf("TMPDIR=%s", tmp)) < 0)
		return -1;
	for (x = o->extra_env; x && *x; x++) {
		const char *eq = strchr(*x, '=');

		if (!eq || eq == *x || looks_secret(*x, (size_t)(eq - *x)))
			continue;
		if (strv_add(env, strdup(*x)) < 0)
			return -1;
	}
	return 0;
}

/* ---- plan ----------------------------------------------------------- */

struct prep {
	struct sbx_plan p;
	struct strv env;
	struct strv strs;	/* owned strings the plan points to */
	const struct sandbox_opts *o;	/* borrowed, to plan again */
	char *const *argv;
	char ws[PATH_MAX];
	char workdir[PATH_MAX];
	char tmpdir[PATH_MAX];	/* fallback private tmp, "" = none */
	struct sbx_gitdirs git;	/* the workspace's git dirs before the run */
	int git_walked;		/* looked for (workspace-write, git dirs read-only) */
	struct sbx_bind *binds;	/* p.git_binds, owned */
	const char **rw;	/* p.ws_entries, owned (the strings are in strs) */
};

static const char *
keep(struct prep *pp, char *s)
{
	if (strv_add(&pp->strs, s) < 0)
		return NULL;
	return s;
}

static int
is_dir(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
is_link(const char *p)
{
	struct stat st;

	return lstat(p, &st) < 0 || S_ISLNK(st.st_mode);
}

static int
add_hide(struct prep *pp, const char *dir, struct agentd_error *err)
{
	char rp[PATH_MAX];
	int i;

	if (!dir || dir[0] != '/' || !is_dir(dir) || !realpath(dir, rp) || strcmp(rp, "/") == 0)
		return 0;
	if (buf_path_within(rp, pp->ws) && strcmp(rp, pp->ws) != 0)
		return 0;	/* inside the workspace: the workspace wins */
	for (i = 0; i < pp->p.n_hide; i++)
		if (buf_path_within(rp, pp->p.hide[i]))
			return 0;	/* already hidden by a parent (e.g. $HOME under /tmp) */
	if (pp->p.n_hide >= SBX_MAX_PATHS)
		return agentd_seterr(err, AGENTD_ETOOBIG, "too many hidden dirs");
	if (!(pp->p.hide[pp->p.n_hide] = keep(pp, strdup(rp))))
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	pp->p.n_hide++;
	return 0;
}

/*
 * Root: the command's uid owns nothing on the host, so a workspace (or a
 * readable path) below a directory that "other" may not search (/srv/x
 * under a 0700 /srv) would be out of its reach. The topmost such ancestor
 * of `target` is covered by an empty tmpfs (its contents were unreadable to
 * that uid anyway) and the target is mounted back at its own path inside.
 */
static int
hide_closed_ancestor_of(struct prep *pp, const char *target, struct agentd_error *err)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(target);

	if (n >= sizeof path)
		return agentd_seterr(err, AGENTD_ETOOBIG, "path too long: %s", target);
	memcpy(path, target, n + 1);
	for (i = 1; i < n; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (stat(path, &st) == 0 && !(st.st_mode & S_IXOTH))
			return add_hide(pp, path, err);
		path[i] = '/';
	}
	return 0;
}

/*
 * The caller's readable paths. Where one lies inside a hidden folder
 * (namespace modes) it is bound back read-only, before the workspace is
 * mounted; anywhere else "/" is readable already (read-only mounts,
 * Landlock's read rights), and the fallback mode hides nothing by mounts.
 * One that would bring a hidden folder back (it holds one, or is /tmp,
 * /var/tmp, /run or /dev/shm, where host IPC sockets live) is refused.
 */
static int
plan_readable(struct prep *pp, struct agentd_error *err)
{
	static const char *const ipc[] = { "/tmp", "/var/tmp", "/run", "/dev/shm" };
	struct sbx_plan *p = &pp->p;
	char rp[PATH_MAX];
	struct stat st;
	char *const *r;
	size_t k;
	int i, inside, rc;

	for (r = pp->o->readable; r && *r; r++) {
		if ((*r)[0] != '/')
			return agentd_seterr(err, AGENTD_EINVAL, "readable path %s is not absolute", *r);
		if (!realpath(*r, rp) || stat(rp, &st) < 0)
			return agentd_seterr(err, AGENTD_ENOTFOUND, "readable path %s: %s", *r,
			    strerror(errno));
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			return agentd_seterr(err, AGENTD_EINVAL, "readable path %s is neither a folder "
			    "nor a file", *r);
		for (k = 0; k < sizeof ipc / sizeof ipc[0]; k++)
			if (strcmp(rp, ipc[k]) == 0 || buf_path_within(ipc[k], rp))
				return agentd_seterr(err, AGENTD_EINVAL, "readable path %s would show "
				    "%s, which the sandbox hides (host IPC sockets live there)", *r, ipc[k]);
		for (i = 0; i < p->n_hide; i++)
			if (buf_path_within(p->hide[i], rp) && strcmp(p->hide[i], rp) != 0)
				return agentd_seterr(err, AGENTD_EINVAL, "readable path %s holds %s, "
				    "which the sandbox hides", *r, p->hide[i]);
		if (buf_path_within(rp, pp->ws))
			continue;	/* the workspace shows it */
		/* Root: always bound, idmapped, so root's own files there read as
		 * the run uid's; an ancestor that uid may not search is hidden
		 * first, as for the workspace. */
		if (p->idmap_fd >= 0 && (rc = hide_closed_ancestor_of(pp, rp, err)))
			return rc;
		for (i = 0, inside = p->idmap_fd >= 0; i < p->n_hide; i++)
			inside |= buf_path_within(rp, p->hide[i]);
		if (!inside)
			continue;	/* readable as it is */
		for (i = 0; i < p->n_show && !buf_path_within(rp, p->show[i]); i++)
			;
		if (i < p->n_show)
			continue;	/* inside one shown already */
		if (p->n_show >= SBX_MAX_PATHS)
			return agentd_seterr(err, AGENTD_ETOOBIG, "more than %d readable paths",
			    SBX_MAX_PATHS);
		if (!(p->show[p->n_show] = keep(pp, strdup(rp))))
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		p->show_dir[p->n_show] = S_ISDIR(st.st_mode);
		p->show_fd[p->n_show++] = -1;
	}
	return 0;
}

/* List dir entries as absolute paths, skipping `skip`. */
static int
list_dir(struct prep *pp, const char *dir, const char *skip, const char **out, int max,
    int *n, struct agentd_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return agentd_seterr(err, AGENTD_EIO, "cannot list %s: %s", dir, strerror(errno));
	*n = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (skip && strcmp(de->d_name, skip) == 0))
			continue;
		if (*n >= max) {
			closedir(d);
			return agentd_seterr(err, AGENTD_ETOOBIG,
			    "%s has more than %d entries; the fallback sandbox cannot keep .git "
			    "read-only here (set git_writable or use user namespaces)", dir, max);
		}
		if (!(out[*n] = keep(pp, xasprintf("%s%s%s", dir,
		    strcmp(dir, "/") == 0 ? "" : "/", de->d_name)))) {
			closedir(d);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		(*n)++;
	}
	closedir(d);
	return 0;
}

/* ---- git dirs ------------------------------------------------------- */

/* Is i of the git dirs below (or equal to) another one? It is covered then. */
static int
git_covered(const struct sbx_gitdirs *g, size_t i)
{
	size_t j;

	for (j = 0; j < g->n; j++)
		if (j != i && buf_path_within(g->v[i].path, g->v[j].path) &&
		    (strcmp(g->v[i].path, g->v[j].path) != 0 || j < i))
			return 1;
	return 0;
}

/* Every folder strictly between the workspace and a git dir (uncovered
 * ones), each once; with_ws adds the workspace itself. Strings in pp->strs. */
static int
git_ancestors(struct prep *pp, int with_ws, const char ***out, int *n)
{
	const struct sbx_gitdirs *g = &pp->git;
	size_t i, k, wl = strlen(pp->ws), cap = 0;
	const char **v = NULL;
	int m = 0, j;

	for (i = 0; i < g->n; i++) {
		const char *gp = g->v[i].path;

		if (git_covered(g, i))
			continue;
		for (k = wl; gp[k]; k++) {
			char *a;

			if (gp[k] != '/' || (k == wl && !with_ws))
				continue;
			for (j = 0; j < m; j++)
				if (strlen(v[j]) == k && strncmp(v[j], gp, k) == 0)
					break;
			if (j < m)
				continue;
			if ((size_t)m == cap) {
				const char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *nv);

				if (!nv)
					goto nomem;
				v = nv;
			}
			if (!(a = strndup(gp, k)) || !keep(pp, a))
				goto nomem;
			v[m++] = a;
		}
	}
	*out = v;
	*n = m;
	return 0;
nomem:
	free(v);
	return -1;
}

static int
bind_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sbx_bind *)a)->path, ((const struct sbx_bind *)b)->path);
}

/*
 * Namespace modes: each git dir (folder or .git file) is bound read-only
 * onto itself, and every folder between it and the workspace is bound onto
 * itself too: a mount point cannot be renamed or removed, so the command
 * cannot move a nested repository aside and put a new one in its place.
 * Sorted, so a folder is mounted before what lies below it.
 */
static int
plan_git_binds(struct prep *pp, struct agentd_error *err)
{
	const struct sbx_gitdirs *g = &pp->git;
	const char **anc = NULL;
	int n_anc = 0, n = 0, i;
	size_t k;

	if (git_ancestors(pp, 0, &anc, &n_anc) < 0 ||
	    !(pp->binds = calloc(g->n + (size_t)n_anc + 1, sizeof *pp->binds))) {
		free(anc);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	for (i = 0; i < n_anc; i++)
		pp->binds[n++].path = anc[i];
	free(anc);
	for (k = 0; k < g->n; k++) {
		/* A symlinked .git cannot be a mount point (its target, when in
		 * the workspace, is in the list itself). */
		if (git_covered(g, k) || !(S_ISDIR(g->v[k].mode) || S_ISREG(g->v[k].mode)))
			continue;
		pp->binds[n].path = g->v[k].path;
		pp->binds[n++].ro = 1;
	}
	qsort(pp->binds, (size_t)n, sizeof *pp->binds, bind_cmp);
	pp->p.git_binds = pp->binds;
	pp->p.n_git_binds = n;
	return 0;
}

/*
 * Fallback: a Landlock rule on a folder covers everything below it, and no
 * rule can take a path back out. So the workspace and every folder on the
 * way to a git dir get read rights only, and each of their other entries
 * gets the write rights: the git dirs get none, and nothing can be
 * created, removed or renamed directly in the folders on the way (the cost:
 * new files go one level down, docs/sandbox.md).
 */
static int
plan_git_landlock(struct prep *pp, struct agentd_error *err)
{
	const struct sbx_gitdirs *g = &pp->git;
	const char **anc = NULL;
	int n_anc = 0, n = 0, cap = 0, i, j;
	size_t k;

	if (git_ancestors(pp, 1, &anc, &n_anc) < 0)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	for (i = 0; i < n_anc; i++) {
		DIR *d = opendir(anc[i]);
		struct dirent *de;

		if (!d) {
			int rc = agentd_seterr(err, AGENTD_EIO, "cannot list %s: %s", anc[i],
			    strerror(errno));

			free(anc);
			return rc;
		}
		while ((de = readdir(d))) {
			char *c;
			int skip = 0;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (!(c = xasprintf("%s/%s", anc[i], de->d_name)))
				goto nomem;
			/* A rule is made on what its path opens: through a symlink,
			 * that would be its target, anywhere. It gets no rule; it
			 * cannot be replaced either (its folder has none). */
			if (de->d_type == DT_LNK || (de->d_type == DT_UNKNOWN && is_link(c)))
				skip = 1;
			for (k = 0; k < g->n && !skip; k++)
				skip = strcmp(g->v[k].path, c) == 0;
			for (j = 0; j < n_anc && !skip; j++)
				skip = strcmp(anc[j], c) == 0;
			if (skip) {
				free(c);
				continue;
			}
			if (n >= SBX_GIT_MAX_RULES) {
				free(c);
				closedir(d);
				free(anc);
				return agentd_seterr(err, AGENTD_ETOOBIG, "the folders leading to the "
				    "workspace's git directories hold more than %d entries; without "
				    "namespaces (%s) the sandbox cannot keep those git directories "
				    "read-only here (set git_writable, or use user namespaces)",
				    SBX_GIT_MAX_RULES, probe.ns_why);
			}
			if (n + 1 >= cap) {
				const char **nv = realloc(pp->rw, (size_t)(cap = cap ? cap * 2 : 64) *
				    sizeof *nv);

				if (!nv) {
					free(c);
					goto nomem;
				}
				pp->rw = nv;
			}
			if (!keep(pp, c))
				goto nomem;
			pp->rw[n++] = c;
		}
		closedir(d);
		continue;
nomem:
		closedir(d);
		free(anc);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	free(anc);
	if (n == 0) {	/* nothing writable: still take the per-entry path */
		if (!(pp->rw = calloc(1, sizeof *pp->rw)))
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		pp->rw[n++] = "/nonexistent";
	}
	pp->p.ws_entries = pp->rw;
	pp->p.n_ws_entries = n;
	return 0;
}

/* Workspace-write with git dirs read-only: find them (bounded walk). */
static int
find_git_dirs(struct prep *pp, struct agentd_error *err)
{
	if (sbx_gitdirs_find(pp->ws, &pp->git) < 0)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	pp->git_walked = 1;
	if (pp->git.too_many)
		return agentd_seterr(err, AGENTD_ETOOBIG, "the workspace holds more than %d git "
		    "directories (nested repositories, submodules); the sandbox keeps each one "
		    "read-only and will not run with that many (set git_writable to let commands "
		    "write them)", SBX_GIT_MAX_FOUND);
	return 0;
}

/* After the run: the git dirs that were not there before (a `git init`, a
 * planted .git), and whether the walk saw everything, as one note. */
static int
git_note(struct prep *pp, char *out, size_t cap)
{
	struct sbx_gitdirs after;
	char list[1024];
	int n, len = 0;

	out[0] = '\0';
	if (!pp->git_walked)
		return 0;
	if (pp->git.truncated)
		len = snprintf(out, cap, "\n[sandbox: only the first %d folders of the workspace, "
		    "%d levels deep, were searched for git directories; any beyond are not kept "
		    "read-only]\n", SBX_GIT_MAX_DIRS, SBX_GIT_MAX_DEPTH);
	if (len < 0 || (size_t)len >= cap || sbx_gitdirs_find(pp->ws, &after) < 0)
		return len > 0;
	n = sbx_gitdirs_new_since(&pp->git, &after, pp->ws, list, sizeof list);
	sbx_gitdirs_free(&after);
	if (n > 0)
		snprintf(out + len, cap - (size_t)len, "%s[sandbox: this command made %d git "
		    "director%s: %s. git runs their hooks and config outside any sandbox when "
		    "used there; they are read-only to later commands]\n", len ? "" : "\n", n,
		    n == 1 ? "y" : "ies", list);
	return out[0] != '\0';
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	remove(path);
	return 0;
}

static void
prep_free(struct prep *pp)
{
	if (pp->tmpdir[0])
		nftw(pp->tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	pp->tmpdir[0] = '\0';
	strv_free(&pp->env);
	strv_free(&pp->strs);
	sbx_gitdirs_free(&pp->git);
	pp->git_walked = 0;
	free(pp->binds);
	free(pp->rw);
	pp->binds = NULL;
	pp->rw = NULL;
}

static int
prep_plan(struct prep *pp, const struct sandbox_opts *o, char *const argv[],
    struct agentd_error *err)
{
	struct sbx_plan *p = &pp->p;
	char buf[PATH_MAX * 2];
	const char *home;
	int rc;

	memset(pp, 0, sizeof *pp);
	pp->o = o;
	pp->argv = argv;
	p->idmap_fd = p->ws_tree_fd = p->maps_fd = -1;
	p->err_fd = p->status_fd = p->out_fd = p->errout_fd = -1;
	if (!o || !argv || !argv[0] || !argv[0][0])
		return agentd_seterr(err, AGENTD_EINVAL, "no command to run");
	if (!o->workspace || !o->workspace[0])
		return agentd_seterr(err, AGENTD_EINVAL, "a workspace is required");
	if (o->policy != SANDBOX_READ_ONLY && o->policy != SANDBOX_WORKSPACE_WRITE &&
	    o->policy != SANDBOX_FULL_ACCESS)
		return agentd_seterr(err, AGENTD_EINVAL, "unknown sandbox policy %d", (int)o->policy);
	if (o->timeout_ms == 0 || o->memory_mb == 0 || o->max_procs == 0 ||
	    o->max_file_mb == 0 || o->max_open_files < 16 || o->cpu_s == 0 || o->output_cap < 2)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "sandbox limits must be positive (did you call sandbox_opts_init?)");
	if (!realpath(o->workspace, pp->ws) || !is_dir(pp->ws))
		return agentd_seterr(err, AGENTD_ENOTFOUND, "workspace %s is not a directory",
		    o->workspace);
	if (strcmp(pp->ws, "/") == 0)
		return agentd_seterr(err, AGENTD_EINVAL, "the workspace cannot be /");
	if (o->workdir && o->workdir[0]) {
		if (o->workdir[0] == '/')
			snprintf(buf, sizeof buf, "%s", o->workdir);
		else
			snprintf(buf, sizeof buf, "%s/%s", pp->ws, o->workdir);
		if (!realpath(buf, pp->workdir) || !is_dir(pp->workdir))
			return agentd_seterr(err, AGENTD_ENOTFOUND, "workdir %s is not a directory",
			    o->workdir);
		if (!buf_path_within(pp->workdir, pp->ws))
			return agentd_seterr(err, AGENTD_EDENIED, "workdir %s is outside the workspace",
			    o->workdir);
	} else {
		memcpy(pp->workdir, pp->ws, sizeof pp->ws);
	}

	probe_init();
	p->mode = pick_mode();
	p->policy = (int)o->policy;
	p->network = !!o->network;
	p->ws = pp->ws;
	p->workdir = pp->workdir;
	p->landlock_abi = probe.landlock_abi;
	p->uid = p->run_uid = geteuid();
	p->gid = p->run_gid = getegid();
	p->argv = argv;
	p->rl_cpu = o->cpu_s;
	p->rl_as = (uint64_t)o->memory_mb << 20;
	p->rl_nproc = o->max_procs;
	p->rl_fsize = (uint64_t)o->max_file_mb << 20;
	p->rl_nofile = o->max_open_files;
	if (o->policy == SANDBOX_WORKSPACE_WRITE && !o->git_writable &&
	    (rc = find_git_dirs(pp, err)) != 0)
		return rc;

	/* Refuse rather than run weaker. */
	if (p->mode == SBX_MODE_FALLBACK) {
		if (o->policy != SANDBOX_FULL_ACCESS && probe.landlock_abi < 1)
			return agentd_seterr(err, AGENTD_EUNAVAIL,
			    "sandbox unavailable: no namespaces (%s) and no Landlock to confine "
			    "the filesystem", probe.ns_why);
		if (probe.landlock_abi < 6)
			return agentd_seterr(err, AGENTD_EUNAVAIL,
			    "sandbox unavailable: no pid namespace (%s) and Landlock ABI %d < 6 "
			    "cannot stop signals to outside processes", probe.ns_why,
			    probe.landlock_abi);
	}
	if (probe.euid_root) {
		/* Never uid 0: the command runs as SBX_RUN_UID, and the
		 * workspace is mounted idmapped so it stays the daemon's. */
		if (p->mode == SBX_MODE_FALLBACK)
			return agentd_seterr(err, AGENTD_EUNAVAIL,
			    "sandbox unavailable as root: no namespaces (%s), so the command could "
			    "not run as an unprivileged uid with the workspace still writable; run "
			    "agentd as an ordinary user", probe.ns_why);
		if (probe.idmap_fd < 0)
			return agentd_seterr(err, AGENTD_EUNAVAIL,
			    "sandbox unavailable as root: %s; it is needed to run the command as "
			    "uid %u with an idmapped workspace (run agentd as an ordinary user, or "
			    "allow user namespaces)", probe.idmap_why, (unsigned)probe.run_uid);
		p->run_uid = probe.run_uid;
		p->run_gid = (gid_t)probe.run_uid;
		p->idmap_fd = probe.idmap_fd;
	}

	if (p->mode == SBX_MODE_FALLBACK) {
		const char *base = getenv("TMPDIR");

		if (!base || base[0] != '/' || !is_dir(base))
			base = "/tmp";
		snprintf(pp->tmpdir, sizeof pp->tmpdir, "%s/agentd-sandbox.XXXXXX", base);
		if (!mkdtemp(pp->tmpdir)) {
			rc = errno;
			pp->tmpdir[0] = '\0';
			return agentd_seterr(err, AGENTD_EIO, "cannot create a private tmp: %s",
			    strerror(rc));
		}
		p->tmp = pp->tmpdir;
		if ((rc = list_dir(pp, "/", "proc", p->ro_roots, SBX_MAX_PATHS, &p->n_ro_roots, err)))
			return rc;
		if ((rc = plan_readable(pp, err)))	/* checked; nothing to show */
			return rc;
		if (pp->git.n > 0 && (rc = plan_git_landlock(pp, err)))
			return rc;
	} else {
		p->tmp = "/tmp";
		p->use_init = 1;
		snprintf(p->tmpfs_opts, sizeof p->tmpfs_opts, "mode=1777,size=%um",
		    o->memory_mb < 16 ? 16 : o->memory_mb);
		if (o->policy != SANDBOX_FULL_ACCESS) {
			home = getenv("HOME");
			if ((rc = add_hide(pp, "/tmp", err)) || (rc = add_hide(pp, "/var/tmp", err)) ||
			    (rc = add_hide(pp, "/run", err)) || (rc = add_hide(pp, "/dev/shm", err)) ||
			    (rc = add_hide(pp, home, err)) ||
			    (rc = add_hide(pp, probe.euid_root ? "/root" : NULL, err)))
				return rc;
		} else if ((rc = add_hide(pp, "/tmp", err))) {
			return rc;
		}
		if (p->idmap_fd >= 0 && (rc = hide_closed_ancestor_of(pp, pp->ws, err)))
			return rc;
		if ((rc = plan_readable(pp, err)))
			return rc;
		if (pp->git.n > 0 && (rc = plan_git_binds(pp, err)))
			return rc;
	}
	p->seccomp = &sbx_filter_progs[SBX_FILTER_INDEX(p->network, p->mode == SBX_MODE_FALLBACK)];
	p->seccomp_flags = o->debug ? 2U /* SECCOMP_FILTER_FLAG_LOG */ : 0;
	if (build_env(o, p->tmp, &pp->env, &p->path) < 0)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	p->envp = pp->env.v;
	return 0;
}

/* ---- running -------------------------------------------------------- */

struct proc {
	pid_t pid;
	int pidfd;
	int status_r;		/* init reports the command's status here */
	int fallback;
	int share_vm;		/* set by the caller: clone with CLONE_VM if this build can */
	void *stack;		/* the CLONE_VM child's stack, given back once it is reaped */
	size_t stack_len;
	int lazy;		/* set by the caller: spawn returns at the clone; the caller
				 * reads err_r (EOF at the init's exit) while it waits */
	int err_r;		/* lazy: the error pipe, until EOF; else -1 */
	int have_status;	/* status_r was read already: the command's wait status */
	int status;
	int alone;		/* ... and nothing else of it was left running then */
	int status_eof;		/* status_r ended without one (the init was killed) */
	ssize_t got;		/* bytes of a set-up or exec error in msg */
	char msg[PATH_MAX + 300];
};

/* The CLONE_VM child's stack: the set-up, the init and the command until
 * its exec run on it (a few pages are touched; PATH_MAX buffers and
 * snprintf are the deepest), with a guard page below. */
#define CHILD_STACK ((size_t)256 << 10)

/*
 * One stack is kept for the next run instead of unmapped: only a
 * single-threaded caller shares its memory with the child, so one is all
 * it can use at a time, and an unmap (a TLB flush of the caller's memory,
 * which the child has run in on another CPU) cost about 0.1 ms of every
 * run here. It goes with the process.
 */
static void *stack_kept;
static size_t stack_kept_len;

static void
proc_free_stack(struct proc *pr)
{
	if (pr->stack && !stack_kept) {
		stack_kept = pr->stack;
		stack_kept_len = pr->stack_len;
	} else if (pr->stack) {
		munmap(pr->stack, pr->stack_len);
	}
	pr->stack = NULL;
}

/*
 * An init left to exit on its own (leave_init): collected by the next run
 * or at the process's exit. Its stack stays out of reuse until then: it
 * still runs on it for the few instructions up to its exit.
 */
static struct {
	pid_t pid;
	void *stack;
	size_t stack_len;
} left;

static void
collect_left(void)
{
	pid_t pid = __atomic_exchange_n(&left.pid, 0, __ATOMIC_ACQ_REL);
	struct proc pr;
	int st;

	if (pid <= 0)
		return;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	pr.stack = left.stack;
	pr.stack_len = left.stack_len;
	left.stack = NULL;
	proc_free_stack(&pr);
}

/* The child's stack with a guard page below, or NULL (then it is copied). */
static void *
proc_take_stack(size_t *len)
{
	void *s = stack_kept;

	if (s) {
		stack_kept = NULL;
		*len = stack_kept_len;
		return s;
	}
	*len = CHILD_STACK + 4096;
	s = mmap(NULL, *len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (s == MAP_FAILED)
		return NULL;
	if (mprotect(s, 4096, PROT_NONE) < 0) {
		munmap(s, *len);
		return NULL;
	}
	return s;
}

static int
child_entry(void *arg)
{
	sbx_child(arg);
}

/*
 * Root: a tree as the child will mount it (the workspace, a readable path),
 * cloned here in the host's mount namespace and idmapped (only a process of
 * the host's user namespace may idmap a mount) with `attrs` besides.
 * Returns the detached tree.
 */
static int
root_tree(const struct sbx_plan *p, const char *path, uint64_t attrs,
    struct agentd_error *err)
{
	struct mount_attr a;
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path,
	    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);

	if (fd < 0)
		return agentd_seterr(err, AGENTD_EUNAVAIL, "sandbox setup failed: open_tree %s: %s",
		    path, strerror(errno)), -1;
	memset(&a, 0, sizeof a);
	a.attr_set = MOUNT_ATTR_IDMAP | attrs;
	a.userns_fd = (uint64_t)p->idmap_fd;
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) {
		agentd_seterr(err, AGENTD_EUNAVAIL, "sandbox setup failed: idmapped mount of %s "
		    "(needs a filesystem that supports idmapped mounts): %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Root: the readable paths' trees, read-only; the child moves them in. */
static int
root_show_trees(struct sbx_plan *p, struct agentd_error *err)
{
	int i;

	for (i = 0; i < p->n_show; i++) {
		p->show_fd[i] = root_tree(p, p->show[i], MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
		    MOUNT_ATTR_NODEV, err);
		if (p->show_fd[i] < 0) {
			while (i-- > 0) {
				close(p->show_fd[i]);
				p->show_fd[i] = -1;
			}
			return -1;
		}
	}
	return 0;
}

/* The command has exec'd (or the clone failed): the fds the child took
 * are no longer the plan's. */
static void
plan_fds_done(struct sbx_plan *p)
{
	int i;

	p->err_fd = p->status_fd = p->ws_tree_fd = p->maps_fd = -1;
	for (i = 0; i < p->n_show; i++)
		p->show_fd[i] = -1;
}

static void
close_show_trees(struct sbx_plan *p)
{
	int i;

	for (i = 0; i < p->n_show; i++)
		if (p->show_fd[i] >= 0) {
			close(p->show_fd[i]);
			p->show_fd[i] = -1;
		}
}

/*
 * Unprivileged, after a run in the user namespace mode failed to set up:
 * are user namespaces refused here (probed once)? Then every run from now
 * on uses the fallback mode.
 */
static int
ns_refused(void)
{
	if (probe.euid_root)
		return 0;
	pthread_once(&explain_once, probe_ns);
	return !__atomic_load_n(&probe.ns_ok, __ATOMIC_ACQUIRE);
}

static int spawn_once(struct prep *pp, struct proc *pr, struct agentd_error *err);

/* Did a run fail to set up because user namespaces are refused here?
 * Then it is planned again in the fallback mode (replan_fallback). */
static int
fallback_retry(const struct prep *pp, int rc)
{
	return rc == AGENTD_EUNAVAIL && pp->p.mode == SBX_MODE_NS_USER && ns_refused();
}

static int
replan_fallback(struct prep *pp, struct agentd_error *err)
{
	int rc, out_fd = pp->p.out_fd, errout_fd = pp->p.errout_fd, stdin_null = pp->p.stdin_null;

	prep_free(pp);
	if ((rc = prep_plan(pp, pp->o, pp->argv, err)) != AGENTD_OK)
		return rc;
	pp->p.out_fd = out_fd;
	pp->p.errout_fd = errout_fd;
	pp->p.stdin_null = stdin_null;
	return AGENTD_OK;
}

/* Start the child; retried once in the fallback mode when the user
 * namespace mode turns out to be refused on this machine. */
static int
spawn(struct prep *pp, struct proc *pr, struct agentd_error *err)
{
	int rc = spawn_once(pp, pr, err);

	if (rc == AGENTD_OK || !fallback_retry(pp, rc))
		return rc;
	if ((rc = replan_fallback(pp, err)) != AGENTD_OK)
		return rc;
	return spawn_once(pp, pr, err);
}

/* The child reported a set-up or exec error (pr->msg): end it, free what
 * the run holds and turn the message into the error. */
static int
spawn_failed(struct proc *pr, struct agentd_error *err)
{
	int st;

	pr->msg[pr->got < (ssize_t)sizeof pr->msg ? pr->got : (ssize_t)sizeof pr->msg - 1] = '\0';
	kill(pr->pid, SIGKILL);
	while (waitpid(pr->pid, &st, 0) < 0 && errno == EINTR)
		;
	close(pr->pidfd);
	proc_free_stack(pr);
	reap_idmap_maker(1);
	if (pr->status_r >= 0)
		close(pr->status_r);
	if (pr->err_r >= 0)
		close(pr->err_r);
	pr->status_r = pr->err_r = -1;
	if (strncmp(pr->msg, "exec ", 5) == 0)
		return agentd_seterr(err, strstr(pr->msg, "No such file") ? AGENTD_ENOTFOUND :
		    AGENTD_EDENIED, "%s", pr->msg);
	return agentd_seterr(err, AGENTD_EUNAVAIL, "sandbox setup failed: %s", pr->msg);
}

static int
spawn_once(struct prep *pp, struct proc *pr, struct agentd_error *err)
{
	struct sbx_plan *p = &pp->p;
	uint64_t flags = 0;
	int ep[2] = { -1, -1 }, sp[2] = { -1, -1 }, mp[2] = { -1, -1 }, tree = -1, maps_ok = 1;
	ssize_t n;
	int i;

	collect_left();
	pr->stack = NULL;
	pr->err_r = pr->status_r = -1;
	pr->got = pr->have_status = pr->status_eof = pr->alone = 0;
	p->err_until_exit = pr->lazy;
	if (p->mode != SBX_MODE_FALLBACK) {
		flags = NS_FLAGS;
		/* Without the network, seccomp leaves only AF_UNIX sockets and
		 * Landlock (ABI >= 6) scopes abstract ones to the sandbox: an
		 * empty netns would add nothing but its ~0.5 ms. Older Landlock
		 * cannot scope abstract sockets, which live per netns. */
		if (!p->network && p->landlock_abi < 6)
			flags |= CLONE_NEWNET;
		/* Every namespace mode makes the run's user namespace in the
		 * same clone; as root the parent writes its maps. */
		flags |= CLONE_NEWUSER;
	}
	if (p->mode == SBX_MODE_NS_ROOT) {
		if ((tree = root_tree(p, p->ws, p->policy == SANDBOX_READ_ONLY ?
		    MOUNT_ATTR_RDONLY : 0, err)) < 0)
			return AGENTD_EUNAVAIL;
		if (root_show_trees(p, err) < 0) {
			close(tree);
			return AGENTD_EUNAVAIL;
		}
		if (pipe2(mp, O_CLOEXEC) < 0) {
			close(tree);
			close_show_trees(p);
			return agentd_seterr(err, AGENTD_EIO, "pipe: %s", strerror(errno));
		}
	}
	if (pipe2(ep, O_CLOEXEC) < 0 || (p->use_init && pipe2(sp, O_CLOEXEC) < 0)) {
		n = errno;
		if (ep[0] >= 0) {
			close(ep[0]);
			close(ep[1]);
		}
		if (tree >= 0) {
			close(tree);
			close(mp[0]);
			close(mp[1]);
		}
		close_show_trees(p);
		return agentd_seterr(err, AGENTD_EIO, "pipe: %s", strerror((int)n));
	}
	p->err_fd = ep[1];
	p->status_fd = sp[1];
	p->ws_tree_fd = tree;
	p->maps_fd = mp[0];
	pr->pidfd = -1;
#if SBX_RAW_SYSCALL
	/* A single-threaded caller (agentctl) shares its memory with the
	 * child instead of having it copied: no page tables to copy, no
	 * copy-on-write faults on either side (about a millisecond of every
	 * cold start). From here until the command's exec the plan is the
	 * child's: we only wait. */
	if (pr->share_vm)
		pr->stack = proc_take_stack(&pr->stack_len);
	/* Root: the child on our CPU. It can do nothing before we have written
	 * its maps and wait for it, and waking an idle CPU for it (and for the
	 * init and the command after it, which follow it there) took up to a
	 * tenth of a millisecond each on a VM: 2-5 % of a cold start. The
	 * command gets the mask back before its exec, or, when we may make the
	 * child SCHED_FIFO (below), from the init right after it (the hand-off,
	 * sandbox_child.c: run_init). (Unprivileged, the child maps itself at
	 * once: no gain measured there.) */
	p->pinned = 0;
	p->sched_policy = -1;
	if (pr->stack && mp[1] >= 0 && sched_getaffinity(0, sizeof p->cpus, &p->cpus) == 0 &&
	    CPU_COUNT(&p->cpus) > 1) {
		cpu_set_t one;
		int cpu = sched_getcpu();

		CPU_ZERO(&one);
		if (cpu >= 0 && cpu < CPU_SETSIZE) {
			CPU_SET(cpu, &one);
			p->pinned = sched_setaffinity(0, sizeof one, &one) == 0;
		}
		if (p->pinned) {
			struct sched_param cur;
			int pol = sched_getscheduler(0);

			if ((pol == SCHED_OTHER || pol == SCHED_BATCH || pol == SCHED_IDLE) &&
			    sched_getparam(0, &cur) == 0) {
				p->sched_policy = pol;
				p->sched_prio = cur.sched_priority;
			}
		}
	}
	if (pr->stack)
		pr->pid = clone(child_entry, (char *)pr->stack + pr->stack_len,
		    (int)flags | CLONE_VM | CLONE_PIDFD | SIGCHLD, p, &pr->pidfd);
	else
#endif
	{
		pr->pid = sys_clone3(flags, &pr->pidfd);
		if (pr->pid == 0)
			sbx_child(p);
	}
	n = errno;
	if (p->pinned)
		(void)sched_setaffinity(0, sizeof p->cpus, &p->cpus);
	if (pr->pid > 0 && mp[1] >= 0) {
		/* One byte once they are written: the child holds a copy of
		 * the write end too, so it cannot wait for EOF. 'r': the child
		 * is SCHED_FIFO for the hand-off, unless the caller already
		 * runs at a real-time policy (its child then does too) or we
		 * may not (a container without CAP_SYS_NICE, a cgroup with no
		 * real-time budget): 'm', the command takes its mask back
		 * itself. */
		char go = 'm';

		if (p->sched_policy >= 0) {	/* set only when pinned */
			struct sched_param sp1 = { .sched_priority = 1 };

			if (sched_setscheduler(pr->pid, SCHED_FIFO, &sp1) == 0)
				go = 'r';
		}
		maps_ok = write_pid_maps(pr->pid, p->run_uid, p->run_uid, p->run_gid,
		    p->run_gid, NULL) == 0 && write(mp[1], &go, 1) == 1;
		if (!maps_ok) {
			pr->got = snprintf(pr->msg, sizeof pr->msg, "uid/gid maps of the run's user "
			    "namespace: %s", strerror(errno));
			kill(pr->pid, SIGKILL);
		}
	}
	reap_idmap_maker(0);
	close(ep[1]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (tree >= 0) {
		close(tree);
		close(mp[0]);
		close(mp[1]);	/* the child goes on (or was killed) */
	}
	for (i = 0; i < p->n_show; i++)	/* the child has its copies; the */
		if (p->show_fd[i] >= 0)	/* plan stays as it is until the exec */
			close(p->show_fd[i]);
	if (pr->pid < 0) {
		close(ep[0]);
		if (sp[0] >= 0)
			close(sp[0]);
		proc_free_stack(pr);
		plan_fds_done(p);
		return agentd_seterr(err, AGENTD_EUNAVAIL, "clone3: %s", strerror((int)n));
	}
	pr->status_r = sp[0];
	pr->fallback = p->mode == SBX_MODE_FALLBACK;
	if (pr->lazy && maps_ok) {
		/* The caller reads the error pipe while it waits: the plan stays
		 * the child's until the init has exited (plan_fds_done then). */
		pr->err_r = ep[0];
		return 0;
	}
	/* Setup errors arrive here; EOF means the command was exec'd. */
	for (;;) {
		if (!maps_ok)
			break;
		n = read(ep[0], pr->msg + pr->got, sizeof pr->msg - 1 - (size_t)pr->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (pr->got += n) >= (ssize_t)sizeof pr->msg - 1)
			break;
	}
	close(ep[0]);
	/* The command runs: the plan is ours again. */
	plan_fds_done(p);
	if (pr->got > 0)
		return spawn_failed(pr, err);
	return 0;
}

/* The init's report of the command's wait status, if it has come: 1. */
static int
read_status(struct proc *pr)
{
	int report[2];
	ssize_t n;

	while ((n = read(pr->status_r, report, sizeof report)) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof report) {
		pr->status = report[0];
		pr->alone = report[1];
		pr->have_status = 1;
		return 1;
	}
	pr->status_eof = 1;
	return 0;
}

/*
 * Lazy spawn: read what the error pipe has (a set-up or exec error, or
 * EOF once the init has exited). Returns 1 while the pipe stays open.
 */
static int
read_err_pipe(struct proc *pr)
{
	ssize_t n;

	if (pr->err_r < 0)
		return 0;
	n = read(pr->err_r, pr->msg + pr->got, sizeof pr->msg - 1 - (size_t)pr->got);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n > 0 && (pr->got += n) < (ssize_t)sizeof pr->msg - 1)
		return 1;
	close(pr->err_r);
	pr->err_r = -1;
	return 0;
}

static void
kill_tree(struct proc *pr)
{
	if (pr->fallback)
		kill(-pr->pid, SIGKILL);	/* setsid/setpgid are denied inside */
	kill(pr->pid, SIGKILL);		/* pid 1 of the namespace: takes all with it */
}

/* A wait status (or the signal we killed the run with) as an exit code. */
static void
exit_code(int st, int killed_sig, int *code, int *sig)
{
	if (killed_sig) {
		*sig = killed_sig;
		*code = 128 + killed_sig;
	} else if (WIFSIGNALED(st)) {
		*sig = WTERMSIG(st);
		*code = 128 + *sig;
	} else {
		*sig = 0;
		*code = WEXITSTATUS(st);
	}
}

/*
 * The command's status is in and the init reported nothing else of it
 * left: only the init's exit and the kernel's teardown of the namespaces
 * remain (a third of a millisecond here), and nothing in them can touch
 * the workspace any more. The caller goes on without waiting for them, as
 * bwrap does not wait for its pid 1 (which, unlike ours, may still be
 * reaping stragglers then).
 */
static void
leave_init(struct proc *pr, int *code, int *sig)
{
	collect_left();		/* at most one left at a time */
	left.stack = pr->stack;
	left.stack_len = pr->stack_len;
	pr->stack = NULL;
	__atomic_store_n(&left.pid, pr->pid, __ATOMIC_RELEASE);
	close(pr->status_r);
	pr->status_r = -1;
	if (pr->err_r >= 0)
		close(pr->err_r);
	pr->err_r = -1;
	close(pr->pidfd);
	exit_code(pr->status, 0, code, sig);
}

/* Wait for the direct child and turn what happened into an exit code. */
static void
reap(struct proc *pr, int killed_sig, int *code, int *sig)
{
	int st = 0;

	while (waitpid(pr->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (pr->fallback)
		kill(-pr->pid, SIGKILL);
	if (pr->status_r >= 0) {
		if (pr->have_status || read_status(pr))
			st = pr->status;
		else if (WIFEXITED(st))
			st = SIGKILL;	/* init ended without a report: it was killed */
		close(pr->status_r);
		pr->status_r = -1;
	}
	close(pr->pidfd);
	proc_free_stack(pr);
	reap_idmap_maker(1);	/* if it was still there at the clone */
	exit_code(st, killed_sig, code, sig);
}

int
sandbox_run(const struct sandbox_opts *o, char *const argv[], struct sandbox_result *r,
    struct agentd_error *err)
{
	struct prep pp;
	struct proc pr;
	struct htbuf hb[2];
	int pipes[2][2] = { { -1, -1 }, { -1, -1 } };
	int open_fds = 2, rc, i, timed_out = 0, cancelled = 0, flood = 0, child_done = 0;
	double t0 = (anum_mono_s() * 1000.0), deadline, drain_until = 0;
	size_t flood_cap;
	int code = 0, sig = 0;
	char *out, *errs;
	size_t out_len, err_len;

	if (!r)
		return agentd_seterr(err, AGENTD_EINVAL, "no result");
	if ((rc = prep_plan(&pp, o, argv, err)) != 0) {
		prep_free(&pp);
		return rc;
	}
	if (htbuf_init(&hb[0], o->output_cap) != 0 || htbuf_init(&hb[1], o->output_cap) != 0 ||
	    pipe2(pipes[0], O_CLOEXEC) < 0 || pipe2(pipes[1], O_CLOEXEC) < 0) {
		rc = agentd_seterr(err, AGENTD_EIO, "cannot set up output capture");
		goto out;
	}
	pp.p.out_fd = pipes[0][1];
	pp.p.errout_fd = pipes[1][1];
	pp.p.stdin_null = 1;
	memset(&pr, 0, sizeof pr);	/* copied child: the daemon has threads */
	rc = spawn(&pp, &pr, err);
	close(pipes[0][1]);
	close(pipes[1][1]);
	pipes[0][1] = pipes[1][1] = -1;
	if (rc != 0)
		goto out;
	for (i = 0; i < 2; i++)
		fcntl(pipes[i][0], F_SETFL, O_NONBLOCK);
	deadline = t0 + o->timeout_ms;
	flood_cap = o->output_cap * 16 > FLOOD_MIN ? o->output_cap * 16 : FLOOD_MIN;

	while (open_fds > 0 || !child_done) {
		struct pollfd pf[3];
		double now = (anum_mono_s() * 1000.0), wait;
		int nf = 0, k;

		if (!child_done) {
			if (now >= deadline && !timed_out) {
				timed_out = 1;
				kill_tree(&pr);
			}
			if (!timed_out && !cancelled && !flood && o->cancelled &&
			    o->cancelled(o->cancel_ud)) {
				cancelled = 1;
				kill_tree(&pr);
			}
			wait = deadline - now;
			if (o->cancelled && wait > 100)
				wait = 100;
		} else {
			/* Child gone: drain what is buffered, but not forever. */
			if (now >= drain_until)
				break;
			wait = drain_until - now;
		}
		if (wait < 0)
			wait = 0;
		for (i = 0; i < 2; i++)
			if (pipes[i][0] >= 0) {
				pf[nf].fd = pipes[i][0];
				pf[nf++].events = POLLIN;
			}
		if (!child_done) {
			pf[nf].fd = pr.pidfd;
			pf[nf++].events = POLLIN;
		}
		k = poll(pf, (nfds_t)nf, (int)wait + 1);
		if (k < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			char buf[65536];
			ssize_t n;

			if (pipes[i][0] < 0)
				continue;
			n = read(pipes[i][0], buf, sizeof buf);
			if (n > 0) {
				htbuf_append(&hb[i], buf, (size_t)n);
				if (hb[i].total > flood_cap && !flood && !child_done) {
					flood = 1;
					kill_tree(&pr);
				}
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(pipes[i][0]);
				pipes[i][0] = -1;
				open_fds--;
			}
		}
		if (!child_done && nf > 0 && (pf[nf - 1].revents & POLLIN)) {
			reap(&pr, timed_out || cancelled || flood ? SIGKILL : 0, &code, &sig);
			child_done = 1;
			drain_until = (anum_mono_s() * 1000.0) + 1000;
		}
	}
	if (!child_done) {
		kill_tree(&pr);
		reap(&pr, SIGKILL, &code, &sig);
	}
	if (flood) {
		const char note[] = "\n[sandbox: output limit reached, command killed]\n";

		htbuf_append(&hb[1], note, sizeof note - 1);
	}
	{
		char gn[1536];

		if (git_note(&pp, gn, sizeof gn))
			htbuf_append(&hb[1], gn, strlen(gn));
	}
	out = htbuf_render(&hb[0], &out_len);
	errs = htbuf_render(&hb[1], &err_len);
	if (!out || !errs) {
		free(out);
		free(errs);
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
		goto out;
	}
	memset(r, 0, sizeof *r);
	r->exit_code = code;
	r->term_signal = sig;
	r->timed_out = timed_out;
	r->cancelled = cancelled;
	r->out = out;
	r->out_len = out_len;
	r->out_dropped = htbuf_dropped(&hb[0]);
	r->err = errs;
	r->err_len = err_len;
	r->err_dropped = htbuf_dropped(&hb[1]);
	r->wall_ms = (anum_mono_s() * 1000.0) - t0;
	rc = AGENTD_OK;
out:
	for (i = 0; i < 2; i++) {
		if (pipes[i][0] >= 0)
			close(pipes[i][0]);
		if (pipes[i][1] >= 0)
			close(pipes[i][1]);
		htbuf_free(&hb[i]);
	}
	prep_free(&pp);
	return rc;
}

#if defined(__SANITIZE_ADDRESS__)
#define SBX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SBX_ASAN 1
#endif
#endif

/* Whether the caller has no other thread that could run while the child
 * shares its memory (and its thread pointer). Never under AddressSanitizer:
 * its run-time does not know the child's stack and the child crashes. */
static int
single_threaded(void)
{
#if defined(HAVE_SYS_SINGLE_THREADED_H) && !defined(SBX_ASAN)
	return __libc_single_threaded;
#else
	return 0;
#endif
}

int
sandbox_exec_inherit(const struct sandbox_opts *o, char *const argv[], int *status,
    int *ended_by, struct agentd_error *err)
{
	struct prep pp;
	struct proc pr;
	sigset_t mask, old;
	int sfd, rc, got_sig = 0, code = 0, sig = 0, noted = 0;
	double deadline;
	char gn[1536];

	if (!status)
		return agentd_seterr(err, AGENTD_EINVAL, "no status");
	if ((rc = prep_plan(&pp, o, argv, err)) != 0) {
		prep_free(&pp);
		return rc;
	}
	/* A ^C or kill of the caller takes the whole tree with it. */
	memset(&pr, 0, sizeof pr);
	pr.share_vm = single_threaded();
	/* We wake once, when the init exits, rather than also at the exec. */
	pr.lazy = 1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	rc = spawn(&pp, &pr, err);
	if (rc != 0)
		goto out;
run:
	deadline = (anum_mono_s() * 1000.0) + o->timeout_ms;
	for (;;) {
		struct pollfd pf[4] = { { pr.pidfd, POLLIN, 0 }, { sfd, POLLIN, 0 },
		    { pr.err_r, POLLIN, 0 },	/* a negative fd is skipped */
		    { pr.status_eof ? -1 : pr.status_r, POLLIN, 0 } };
		double wait = deadline - (anum_mono_s() * 1000.0);
		int k;

		if (wait <= 0) {
			kill_tree(&pr);
			got_sig = SIGKILL;
			break;
		}
		k = poll(pf, 4, (int)wait + 1);
		if (k < 0 && errno != EINTR)
			break;
		if (pf[2].revents & (POLLIN | POLLHUP))
			read_err_pipe(&pr);
		if ((pf[3].revents & (POLLIN | POLLHUP)) && read_status(&pr))
			break;	/* the command is done; the init is on its way out */
		if (pf[0].revents & POLLIN)
			break;
		if (sfd >= 0 && (pf[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				kill_tree(&pr);
				got_sig = (int)si.ssi_signo;
				break;
			}
		}
	}
	if (pr.have_status && pr.alone && !got_sig) {
		struct pollfd ep1 = { pr.err_r, POLLIN, 0 };

		/* An exec error was written before the status; without one the
		 * command ran, and nothing of it is left to write to the
		 * workspace: look at it while the init exits (its namespaces'
		 * teardown), not after. */
		while (pr.err_r >= 0 && poll(&ep1, 1, 0) > 0 && read_err_pipe(&pr))
			ep1.fd = pr.err_r;
		if (pr.got == 0) {
			noted = 1 + git_note(&pp, gn, sizeof gn);
			leave_init(&pr, &code, &sig);
			plan_fds_done(&pp.p);
			goto done;
		}
	}
	/* The init is gone (or going): the rest of the pipe, then did the
	 * set-up or the exec fail? */
	while (read_err_pipe(&pr))
		;
	if (pr.got > 0 && !got_sig) {
		rc = spawn_failed(&pr, err);
		plan_fds_done(&pp.p);
		if (!fallback_retry(&pp, rc) || (rc = replan_fallback(&pp, err)) != AGENTD_OK ||
		    (rc = spawn(&pp, &pr, err)) != AGENTD_OK)
			goto out;
		goto run;
	}
	plan_fds_done(&pp.p);
	reap(&pr, got_sig, &code, &sig);
	if (!noted)
		noted = 1 + git_note(&pp, gn, sizeof gn);
done:
	if (noted > 1)	/* the command's stderr is ours */
		(void)!write(STDERR_FILENO, gn + 1, strlen(gn + 1));
	*status = code;
	if (ended_by)
		*ended_by = got_sig;
out:
	if (sfd >= 0)
		close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	prep_free(&pp);
	return rc;
}

void
sandbox_result_free(struct sandbox_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* ---- explain -------------------------------------------------------- */

char *
sandbox_explain(void)
{
	struct abuf b;
	enum sbx_mode m;
	int abi;

	probe_init();
	reap_idmap_maker(1);
	if (!probe.userns_disabled || probe.euid_root)
		pthread_once(&explain_once, probe_ns);
	m = pick_mode();
	abi = probe.landlock_abi;
	abuf_init(&b, 16384);
	abuf_printf(&b, "agentd sandbox on this machine (euid %u):\n", (unsigned)geteuid());
	abuf_printf(&b, "  mode: %s\n", m == SBX_MODE_NS_ROOT ?
	    "namespaces as root (the command runs as an unprivileged uid, workspace idmapped)" :
	    m == SBX_MODE_NS_USER ? "user namespace (mapped to your own uid)" :
	    "no namespaces: Landlock + seccomp fallback");
	if (!probe.ns_ok)
		abuf_printf(&b, "  namespaces: unavailable (%s)\n", probe.ns_why);
	if (probe.euid_root && probe.idmap_fd >= 0)
		abuf_printf(&b, "  identity: uid/gid %u, no supplementary groups; the workspace is "
		    "mounted idmapped (uid %u <-> %u) so its files stay yours\n",
		    (unsigned)probe.run_uid, (unsigned)geteuid(), (unsigned)probe.run_uid);
	else if (probe.euid_root)
		abuf_printf(&b, "  identity: no way to run as an unprivileged uid with the workspace "
		    "writable (%s) -> runs refused\n", probe.ns_ok ? probe.idmap_why : probe.ns_why);
	else
		abuf_printf(&b, "  identity: your own uid %u (never root)\n", (unsigned)geteuid());
	abuf_printf(&b, "  no_new_privs: active\n");
	if (abi >= 1)
		abuf_printf(&b, "  landlock: active, ABI %d (filesystem%s%s%s%s)\n", abi,
		    abi >= 3 ? ", truncate" : "", abi >= 4 ? ", TCP bind/connect" : "",
		    abi >= 5 ? ", device ioctls" : "",
		    abi >= 6 ? ", abstract unix socket and signal scoping" : "");
	else
		abuf_printf(&b, "  landlock: unavailable%s\n", m == SBX_MODE_FALLBACK ?
		    " -> workspace-write and read-only policies are refused" :
		    " (filesystem confined by read-only mounts only)");
	abuf_printf(&b, "  seccomp: active, compiled at build time (ptrace, process_vm_*, mount family, unshare/"
		    "setns/namespace clone, bpf, perf_event_open, keyrings, kexec, modules, "
		    "userfaultfd, io_uring, TIOCSTI/TIOCLINUX, non-AF_UNIX sockets unless "
		    "network%s)\n", m == SBX_MODE_FALLBACK ? "; also AF_UNIX sockets, chmod, "
		    "xattrs, setsid/setpgid" : "");
	if (m == SBX_MODE_FALLBACK) {
		abuf_printf(&b, "  processes: no pid namespace; Landlock signal scoping%s, "
		    "/proc not readable, tree killed by process group\n",
		    abi >= 6 ? "" : " MISSING -> runs refused");
		abuf_printf(&b, "  network: seccomp socket filter%s\n",
		    abi >= 4 ? " + Landlock TCP rules" : "");
		abuf_printf(&b, "  host IPC: socket(AF_UNIX) denied (socketpair still works)\n");
		abuf_printf(&b, "  private tmp: fresh directory as TMPDIR and HOME\n");
		abuf_printf(&b, "  git dirs (every .git, nested, submodule, bare): read-only by leaving "
		    "them out of Landlock write rules (nothing new can be created directly in the "
		    "folders that lead to them)\n");
	} else {
		abuf_printf(&b, "  namespaces: mount, pid (own /proc), ipc, uts, user (%s)\n",
		    m == SBX_MODE_NS_USER ? "mapping your uid to itself" :
		    "per run, for the process count; the workspace through the idmap one");
		abuf_printf(&b, "  network namespace: %s\n", abi >= 6 ?
		    "none (seccomp leaves only AF_UNIX sockets, Landlock scopes abstract ones)" :
		    "a fresh empty one per run (Landlock cannot scope abstract sockets here)");
		abuf_printf(&b, "  filesystem: every host mount read-only and nosuid, fresh /dev, "
		    "workspace writable per policy, every git dir in it a read-only bind (nested "
		    "repositories and submodules too, their folders pinned)\n");
		abuf_printf(&b, "  host IPC and tmp: empty tmpfs over /tmp /var/tmp /run /dev/shm "
		    "$HOME%s\n", probe.euid_root ? " /root" : "");
	}
	abuf_printf(&b, "  process count: RLIMIT_NPROC%s\n", m == SBX_MODE_FALLBACK ?
	    " (counts all your processes)" : " (counted in the run's own user namespace)");
	abuf_printf(&b, "  capabilities: all dropped (bounding set, ambient, locked securebits)\n");
	abuf_printf(&b, "  rlimits: CPU, address space, processes, file size, open files, core=0\n");
	abuf_printf(&b, "  also: every fd but 0-2 closed, stdin /dev/null (shell tool), new session, "
	    "environment allowlist, wall-clock timeout killing the tree\n");
	return abuf_steal(&b);
}
