/*
 * sandbox_child.c — the confined child: everything between clone3 and
 * execve. Runs in a copy of a possibly multithreaded parent, or in the
 * memory of a single-threaded one (CLONE_VM), so it only makes raw system
 * calls on data the parent prepared (no malloc, no locks).
 *
 * Order matters: ids in the run's user namespace (mapped by itself, or as
 * root by the parent: then become the run uid), new session, mounts
 * (private /tmp, /dev, hidden IPC dirs, read-only everything else,
 * workspace back (idmapped as root), git dirs read-only, own /proc), cwd,
 * close fds, rlimits, no_new_privs, Landlock, drop capabilities, then fork
 * the command under a tiny init (pid namespace), seccomp last, execve.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "sandbox/sandbox_int.h"

#ifndef SECBIT_NOROOT
#define SECBIT_NOROOT			(1 << 0)
#define SECBIT_NOROOT_LOCKED		(1 << 1)
#define SECBIT_NO_SETUID_FIXUP		(1 << 2)
#define SECBIT_NO_SETUID_FIXUP_LOCKED	(1 << 3)
#define SECBIT_KEEP_CAPS_LOCKED		(1 << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE	(1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif

struct sbx_ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct sbx_ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

uint64_t
sbx_ll_fs_all(int abi)
{
	uint64_t a = (1ULL << 13) - 1;

	if (abi >= 2)
		a |= SBX_LL_FS_REFER;
	if (abi >= 3)
		a |= SBX_LL_FS_TRUNCATE;
	if (abi >= 5)
		a |= SBX_LL_FS_IOCTL_DEV;
	return a;
}

/* Report "stage: reason" to the parent and die. */
static void __attribute__((noreturn))
child_fail(const struct sbx_plan *p, const char *stage, const char *what, int e)
{
	char msg[PATH_MAX + 256];
	int n;

	n = snprintf(msg, sizeof msg, "%s%s%s: %s", stage, what ? " " : "",
	    what ? what : "", strerrordesc_np(e) ? strerrordesc_np(e) : "error");
	if (n > 0 && p->err_fd >= 0)
		(void)!write(p->err_fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
	_exit(127);
}

static int
write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int
sys_open_tree(const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, AT_FDCWD, path, flags);
}

static int
sys_move_mount(int from, const char *to)
{
	return (int)syscall(SYS_move_mount, from, "", AT_FDCWD, to, MOVE_MOUNT_F_EMPTY_PATH);
}

static int
sys_setattr(int dfd, const char *path, unsigned flags, uint64_t set)
{
	struct mount_attr a;	/* from glibc's <sys/mount.h> */

	memset(&a, 0, sizeof a);
	a.attr_set = set;
	return (int)syscall(SYS_mount_setattr, dfd, path, flags, &a, sizeof a);
}

/* mkdir -p of an absolute path (a stack copy), or with `last` 0 of the
 * folder holding it. */
static int
mkdir_p(const char *path, int last)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);

	if (n >= sizeof buf)
		return -1;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i] == '\0' && !last)
			break;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		buf[i] = path[i];
	}
	return 0;
}

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom" };
static const char *const dev_paths[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
	"/dev/urandom" };
#define N_DEV_NODES (sizeof dev_nodes / sizeof dev_nodes[0])

/*
 * The mount namespace: nothing propagates back; every host mount becomes
 * read-only and nosuid (Landlock has no chmod right: a read-only mount
 * answers chmod, xattrs and utimes outside the workspace); /dev is a fresh
 * tmpfs with the five harmless nodes; IPC and temporary dirs are covered by
 * empty tmpfs; the workspace comes back on top, writable per policy.
 */
static void
setup_mounts(const struct sbx_plan *p)
{
	int wsfd, olddev, showfd[SBX_MAX_PATHS], i;
	uint64_t ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(p, "mount", "/ private", errno);
	/* Root: the parent cloned it already, idmapped (daemon's uid <-> run
	 * uid, so it stays writable and what is created there is the
	 * daemon's on disk) and read-only for that policy: only a process of
	 * the host's user namespace may idmap a mount. */
	wsfd = p->ws_tree_fd >= 0 ? p->ws_tree_fd :
	    sys_open_tree(p->ws, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (wsfd < 0)
		child_fail(p, "open_tree", p->ws, errno);
	/* The host's /dev, to bind its nodes from once ours covers it. */
	olddev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (olddev < 0)
		child_fail(p, "open", "/dev", errno);
	/* Readable paths inside folders hidden below, taken before they are
	 * (as root the parent took them, idmapped). */
	for (i = 0; i < p->n_show; i++) {
		showfd[i] = p->show_fd[i];
		if (showfd[i] >= 0)
			continue;
		showfd[i] = sys_open_tree(p->show[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
		    AT_RECURSIVE);
		if (showfd[i] < 0)
			child_fail(p, "open_tree", p->show[i], errno);
		if (sys_setattr(showfd[i], "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY |
		    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV) < 0)
			child_fail(p, "mount_setattr read-only", p->show[i], errno);
	}
	if (p->policy != 2 && sys_setattr(AT_FDCWD, "/", AT_RECURSIVE, ro) < 0)
		child_fail(p, "mount_setattr", "/ read-only", errno);

	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		child_fail(p, "mount", "/dev", errno);
	/* Bound by name from the covered /dev (our cwd for the moment, until
	 * the chdir to the workdir): a plain bind costs half of
	 * cloning each node as a detached tree and moving it in. The binds
	 * take the read-only flag of the host's copy; a device node is written
	 * through that all the same (only its inode would be read-only). */
	if (fchdir(olddev) < 0)
		child_fail(p, "chdir", "/dev", errno);
	close(olddev);
	for (i = 0; i < (int)N_DEV_NODES; i++) {
		int fd = open(dev_paths[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0666);

		if (fd < 0)
			child_fail(p, "create", dev_paths[i], errno);
		close(fd);
		if (mount(dev_nodes[i], dev_paths[i], NULL, MS_BIND, NULL) < 0)
			child_fail(p, "bind", dev_paths[i], errno);
	}
	if (symlink("/proc/self/fd", "/dev/fd") < 0 ||
	    symlink("/proc/self/fd/0", "/dev/stdin") < 0 ||
	    symlink("/proc/self/fd/1", "/dev/stdout") < 0 ||
	    symlink("/proc/self/fd/2", "/dev/stderr") < 0 ||
	    mkdir("/dev/shm", 01777) < 0)
		child_fail(p, "populate", "/dev", errno);

	for (i = 0; i < p->n_hide; i++) {
		if (mount("tmpfs", p->hide[i], "tmpfs", MS_NOSUID | MS_NODEV, p->tmpfs_opts) < 0)
			child_fail(p, "mount tmpfs on", p->hide[i], errno);
	}
	/* Before the workspace: one that holds it is then covered by it. */
	for (i = 0; i < p->n_show; i++) {
		int fd = -1;

		if (mkdir_p(p->show[i], p->show_dir[i]) < 0 || (!p->show_dir[i] &&
		    (fd = open(p->show[i], O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) < 0))
			child_fail(p, "make the mount point", p->show[i], errno);
		if (fd >= 0)
			close(fd);
		if (sys_move_mount(showfd[i], p->show[i]) < 0)
			child_fail(p, "move_mount", p->show[i], errno);
		close(showfd[i]);
	}

	if (p->policy == 0 && p->ws_tree_fd < 0 && sys_setattr(wsfd, "", AT_EMPTY_PATH | AT_RECURSIVE,
	    MOUNT_ATTR_RDONLY) < 0)
		child_fail(p, "mount_setattr", "workspace read-only", errno);
	if (mkdir_p(p->ws, 1) < 0)
		child_fail(p, "mkdir", p->ws, errno);
	if (sys_move_mount(wsfd, p->ws) < 0)
		child_fail(p, "move_mount", p->ws, errno);
	close(wsfd);
	for (i = 0; i < p->n_git_binds; i++) {
		const char *b = p->git_binds[i].path;

		if (mount(b, b, NULL, MS_BIND | MS_REC, NULL) < 0 || (p->git_binds[i].ro &&
		    sys_setattr(AT_FDCWD, b, AT_RECURSIVE, MOUNT_ATTR_RDONLY) < 0))
			child_fail(p, p->git_binds[i].ro ? "bind read-only" : "bind", b, errno);
	}
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		int e = errno;

		/* In a user namespace the kernel gives a new /proc only where the
		 * host's is fully visible: a container's masked paths (a file
		 * mounted over /proc/keys, /proc/kcore...) refuse it. */
		if (e == EPERM)
			child_fail(p, "mount /proc (refused in the run's user namespace; is part of "
			    "the host's /proc covered, as by a container's masked paths?)", NULL, e);
		child_fail(p, "mount", "/proc", e);
	}
}

#define LL_OPTIONAL 1	/* a path that is gone gets no rule */
#define LL_NOFOLLOW 2	/* never the target of a symlink put there since the plan */

static void
ll_add(const struct sbx_plan *p, int rfd, const char *path, uint64_t access, int flags)
{
	struct sbx_ll_path_beneath pb;
	struct stat st;

	pb.parent_fd = open(path, O_PATH | O_CLOEXEC | (flags & LL_NOFOLLOW ? O_NOFOLLOW : 0));
	if (pb.parent_fd < 0) {
		if (flags & LL_OPTIONAL)
			return;
		child_fail(p, "landlock: open", path, errno);
	}
	if (fstat(pb.parent_fd, &st) < 0)
		child_fail(p, "landlock: stat", path, errno);
	if (S_ISLNK(st.st_mode)) {
		close(pb.parent_fd);	/* O_NOFOLLOW on a symlink: no rule */
		return;
	}
	/* Rights that only make sense on directories are refused on files. */
	if (!S_ISDIR(st.st_mode))
		access &= SBX_LL_FS_EXECUTE | SBX_LL_FS_WRITE_FILE | SBX_LL_FS_READ_FILE |
		    SBX_LL_FS_TRUNCATE | SBX_LL_FS_IOCTL_DEV;
	pb.allowed_access = access & sbx_ll_fs_all(p->landlock_abi);
	if (syscall(SYS_landlock_add_rule, rfd, 1 /* PATH_BENEATH */, &pb, 0) < 0)
		child_fail(p, "landlock: add rule", path, errno);
	close(pb.parent_fd);
}

static void
setup_landlock(const struct sbx_plan *p)
{
	struct sbx_ll_ruleset_attr attr;
	size_t size = 8;
	uint64_t all = sbx_ll_fs_all(p->landlock_abi);
	uint64_t rd = SBX_LL_FS_EXECUTE | SBX_LL_FS_READ_FILE | SBX_LL_FS_READ_DIR;
	uint64_t wr = all & ~(SBX_LL_FS_MAKE_CHAR | SBX_LL_FS_MAKE_BLOCK | SBX_LL_FS_IOCTL_DEV);
	uint64_t dev = rd | SBX_LL_FS_WRITE_FILE | SBX_LL_FS_TRUNCATE | SBX_LL_FS_IOCTL_DEV;
	int rfd, i;

	memset(&attr, 0, sizeof attr);
	attr.handled_access_fs = p->policy == 2 ? 0 : all;
	if (p->landlock_abi >= 4 && !p->network) {
		attr.handled_access_net = SBX_LL_NET_BIND_TCP | SBX_LL_NET_CONNECT_TCP;
		size = 16;
	}
	if (p->landlock_abi >= 6) {
		attr.scoped = SBX_LL_SCOPE_ABSTRACT_UNIX | SBX_LL_SCOPE_SIGNAL;
		size = 24;
	}
	if (size == 8 && attr.handled_access_fs == 0)
		return;
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rfd < 0)
		child_fail(p, "landlock: create ruleset", NULL, errno);
	if (p->policy != 2) {
		if (p->mode == SBX_MODE_FALLBACK) {
			for (i = 0; i < p->n_ro_roots; i++)
				ll_add(p, rfd, p->ro_roots[i], rd, LL_OPTIONAL);
		} else {
			ll_add(p, rfd, "/", rd, 0);
		}
		ll_add(p, rfd, p->tmp, rd | wr, 0);
		if (p->mode != SBX_MODE_FALLBACK) {
			/* Our own /dev holds the five nodes and shm alone: one
			 * rule for it rather than one a node. */
			ll_add(p, rfd, "/dev/shm", rd | wr, 0);
			ll_add(p, rfd, "/dev", dev, 0);
		} else {
			for (i = 0; i < (int)N_DEV_NODES; i++)	/* the host's /dev */
				ll_add(p, rfd, dev_paths[i], dev, LL_OPTIONAL);
		}
		if (p->policy == 1 && p->n_ws_entries > 0) {
			ll_add(p, rfd, p->ws, rd, 0);
			for (i = 0; i < p->n_ws_entries; i++)
				ll_add(p, rfd, p->ws_entries[i], rd | wr, LL_OPTIONAL | LL_NOFOLLOW);
		} else {
			ll_add(p, rfd, p->ws, p->policy == 1 ? rd | wr : rd, 0);
		}
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0)
		child_fail(p, "landlock: restrict_self", NULL, errno);
	close(rfd);
}

/* No capability can come back: bounding set, ambient, effective, securebits. */
static void
drop_caps(const struct sbx_plan *p)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int c;

	if (p->mode == SBX_MODE_FALLBACK && p->uid != 0)
		return;	/* holds none */
	/* Every capability the kernel knows: up to the first it calls
	 * invalid (no file to read for the last one). */
	for (c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			child_fail(p, "drop capability bounding set", NULL, errno);
		}
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
	    SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
	    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0) < 0)
		child_fail(p, "securebits", NULL, errno);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d) < 0)
		child_fail(p, "capset", NULL, errno);
}

static void
set_rlimit(const struct sbx_plan *p, int res, uint64_t v, const char *name)
{
	struct rlimit rl = { v, v };

	if (setrlimit(res, &rl) < 0)
		child_fail(p, "setrlimit", name, errno);
}

/* execvp without malloc: walk PATH with a stack buffer. */
static void __attribute__((noreturn))
exec_cmd(const struct sbx_plan *p, int handoff)
{
	const char *cmd = p->argv[0], *s, *e;
	char buf[PATH_MAX];
	int first = ENOENT;

	/* Set here, in the command's process, not in the init: the init's
	 * vfork may need memory (a sanitizer's bookkeeping) past the limit. */
	set_rlimit(p, RLIMIT_AS, p->rl_as, "as");
	/* Back to the caller's policy (SCHED_FIFO was the init's, for the
	 * hand-off); back to every CPU the caller had, unless the init gives
	 * them back once we have exec'd (the set-up ran on its one). */
	if (handoff) {
		struct sched_param sp = { .sched_priority = p->sched_prio };

		if (sched_setscheduler(0, p->sched_policy, &sp) < 0)
			child_fail(p, "sched_setscheduler", NULL, errno);
	} else if (p->pinned) {
		(void)sched_setaffinity(0, sizeof p->cpus, &p->cpus);
	}
	/* agentd and agentctl ignore SIGPIPE, and an ignored signal stays
	 * ignored across exec: the command gets the default back, or a
	 * pipeline's writer would see EPIPE errors instead of ending. The
	 * table is this process's own copy (no CLONE_SIGHAND). */
	{
		struct sigaction dfl;

		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &dfl, NULL);
	}
	if (p->seccomp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags,
	    p->seccomp) < 0)
		child_fail(p, "seccomp", NULL, errno);
	if (strchr(cmd, '/')) {
		execve(cmd, p->argv, p->envp);
		child_fail(p, "exec", cmd, errno);
	}
	for (s = p->path; *s; s = *e ? e + 1 : e) {
		size_t dl;

		e = strchrnul(s, ':');
		dl = (size_t)(e - s);
		if (dl == 0 || dl + strlen(cmd) + 2 > sizeof buf)
			continue;
		memcpy(buf, s, dl);
		buf[dl] = '/';
		strcpy(buf + dl + 1, cmd);
		execve(buf, p->argv, p->envp);
		if (errno != ENOENT && errno != ENOTDIR && first == ENOENT) {
			struct stat st;
			int en = errno;

			/* A PATH dir we may not search hides nothing from us. */
			if (en != EACCES || stat(buf, &st) == 0)
				first = en;
		}
	}
	child_fail(p, "exec", cmd, first);
}

/* The init's system calls: result or -errno. Raw where they can be (the
 * init of a CLONE_VM child shares the caller's thread pointer, so errno
 * too); elsewhere the child is always a copy and libc's syscall() will do. */
static long
init_sys(long nr, long a, long b, long c)
{
#if SBX_RAW_SYSCALL
	return sbx_raw_syscall(nr, a, b, c, 0);
#else
	long r = syscall(nr, a, b, c, 0L);

	return r < 0 ? -errno : r;
#endif
}

/*
 * The init once the command has exec'd: reap, report, exit. The caller may
 * run again from here on and, when it shares our memory, reuse what the
 * plan pointed to; so only locals and calls that touch no TLS.
 */
static void __attribute__((noreturn))
init_reap(pid_t cmd, int err_fd, int status_fd)
{
	int st = 0, report[2] = { 0, 0 };	/* the command's wait status, none left */
	long w;

	if (err_fd >= 0)
		init_sys(SYS_close, err_fd, 0, 0);
	for (;;) {
		w = init_sys(SYS_wait4, -1, (long)&st, 0);
		if (w == -EINTR)
			continue;
		if (w < 0)
			break;
		if (w == cmd) {
			report[0] = st;
			break;
		}
	}
	/* Is anything else of the command's still running? Then it may still
	 * write to the workspace until our exit kills it. */
	while ((w = init_sys(SYS_wait4, -1, (long)&st, WNOHANG)) > 0 || w == -EINTR)
		;
	report[1] = w == -ECHILD;
	init_sys(SYS_write, status_fd, (long)report, sizeof report);
	for (;;)
		init_sys(SYS_exit_group, 0, 0, 0);
}

/*
 * pid 1 of the namespace: reap everything, report the command's wait
 * status, exit — which makes the kernel kill whatever is left.
 */
static void __attribute__((noreturn))
run_init(const struct sbx_plan *p, int handoff)
{
	int err_fd = p->err_fd, status_fd = p->status_fd, keep_err = p->err_until_exit;
	cpu_set_t cpus = p->cpus;	/* ours: the plan may be reused after the exec */
	struct sched_param sp = { .sched_priority = p->sched_prio };
	int policy = p->sched_policy;
	pid_t cmd;
	sigset_t all;

	/* The init is a copy of the caller (its environment, and in the daemon
	 * its keys): non-dumpable, so the command, which runs as the same uid,
	 * can neither read nor write it through /proc/1 (environ, mem). The
	 * command gets its own dumpable mm at exec. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		child_fail(p, "set non-dumpable", NULL, errno);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	/* vfork, not fork(): glibc's fork takes locks another thread of the
	 * parent may have held when we were cloned, and vfork copies no page
	 * tables (a fork of the caller's address space was about a
	 * millisecond of every start). We wait here until the command has
	 * exec'd; until then it only makes raw calls on its own stack. */
	cmd = vfork();
	if (cmd < 0)
		child_fail(p, "fork", NULL, errno);
	if (cmd == 0) {
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		close(status_fd);
		exec_cmd(p, handoff);
	}
	/*
	 * The hand-off (root): the command exec'd on our one CPU, so the
	 * kernel had no idle CPU to move it to at its exec (waking one, and
	 * a cold cache, cost 3-6 % of a cold start here). Its exec woke us, a
	 * SCHED_FIFO task on that CPU: we run before it can return to user
	 * space, give it every CPU the caller had, and step down to the
	 * caller's policy. No instruction of the command runs pinned.
	 */
	if (handoff) {
		init_sys(SYS_sched_setaffinity, cmd, sizeof cpus, (long)&cpus);
		init_sys(SYS_sched_setscheduler, 0, policy, (long)&sp);
	}
	/* With err_until_exit the caller waits for our exit alone, not for the
	 * exec too: one wake-up less (the fd goes with us). As root we stay on
	 * the caller's CPU, where the set-up ran (the command alone got every
	 * CPU back): all we do is wait, and a cold start measured 6 % faster
	 * than with an init free to follow the command to another CPU. */
	init_reap(cmd, keep_err ? -1 : err_fd, status_fd);
}

/* Close every fd >= 3 except a and b (-1 = none). */
static void
close_others(int a, int b)
{
	unsigned lo = 3, k[2];
	int i;

	k[0] = (unsigned)(a < b ? a : b);
	k[1] = (unsigned)(a < b ? b : a);
	for (i = 0; i < 2; i++) {
		if ((int)k[i] < 3)
			continue;
		if (k[i] > lo)
			syscall(SYS_close_range, lo, k[i] - 1, 0);
		lo = k[i] + 1;
	}
	syscall(SYS_close_range, lo, ~0U, 0);
}

static int
write_maps(uid_t uid, gid_t gid, const char **stage)
{
	char map[64];

	*stage = "write /proc/self/setgroups";
	if (write_file("/proc/self/setgroups", "deny") < 0)
		return -errno;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	*stage = "write /proc/self/uid_map";
	if (write_file("/proc/self/uid_map", map) < 0)
		return -errno;
	snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	*stage = "write /proc/self/gid_map";
	if (write_file("/proc/self/gid_map", map) < 0)
		return -errno;
	return 0;
}

/*
 * Root, first thing: the child is in a user namespace of its own, made by
 * its clone (so RLIMIT_NPROC counts this run's processes alone, though
 * every root run shares the uid, and nothing here holds a capability over
 * the host's namespaces), where the parent maps the run uid and gid to
 * themselves. Become them, without supplementary groups: plain file
 * permissions answer as for anyone else. The namespace's capabilities
 * stay until drop_caps (the namespace's uid 0 is not mapped), as in the
 * user namespace mode; the kernel makes us non-dumpable.
 */
static int
become_run_uid(const struct sbx_plan *p)
{
	char c = 0;
	ssize_t n;

	/* The parent writes one byte once the maps are written (we hold a
	 * copy of the write end: no EOF to wait for), or kills us. */
	while ((n = read(p->maps_fd, &c, 1)) < 0 && errno == EINTR)
		;
	close(p->maps_fd);
	if (n != 1 || (c != 'm' && c != 'r'))
		child_fail(p, "uid/gid maps of the run's user namespace", NULL, EIO);
	/* Raw calls: glibc's set*id would signal every thread of the
	 * (copied) parent, which do not exist here. */
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		child_fail(p, "setgroups", NULL, errno);
	if (syscall(SYS_setresgid, p->run_gid, p->run_gid, p->run_gid) < 0)
		child_fail(p, "setresgid", NULL, errno);
	if (syscall(SYS_setresuid, p->run_uid, p->run_uid, p->run_uid) < 0)
		child_fail(p, "setresuid", NULL, errno);
	return c == 'r';
}

void
sbx_child(const struct sbx_plan *p)
{
	const char *stage;
	int fd, handoff = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (p->mode == SBX_MODE_NS_USER && write_maps(p->uid, p->gid, &stage) < 0)
		child_fail(p, stage, NULL, errno);
	if (p->mode == SBX_MODE_NS_ROOT)
		handoff = become_run_uid(p);
	if (setsid() < 0)
		child_fail(p, "setsid", NULL, errno);
	if (p->mode != SBX_MODE_FALLBACK) {
		sethostname("sandbox", 7);
		setup_mounts(p);
	}
	if (chdir(p->workdir) < 0)
		child_fail(p, "chdir", p->workdir, errno);

	/* Standard streams: stdin /dev/null, capture pipes when asked. */
	if (p->stdin_null) {
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0 || dup2(fd, 0) < 0)
			child_fail(p, "open", "/dev/null", errno);
		if (fd > 2)
			close(fd);
	}
	if (p->out_fd >= 0 && dup2(p->out_fd, 1) < 0)
		child_fail(p, "dup2", "stdout", errno);
	if (p->errout_fd >= 0 && dup2(p->errout_fd, 2) < 0)
		child_fail(p, "dup2", "stderr", errno);
	/*
	 * Every other inherited fd is closed for real, not just CLOEXEC: the
	 * init never execs, and its fds would stay reachable through
	 * /proc/1/fd from the command.
	 */
	close_others(p->err_fd, p->use_init ? p->status_fd : -1);

	set_rlimit(p, RLIMIT_CORE, 0, "core");
	set_rlimit(p, RLIMIT_CPU, p->rl_cpu, "cpu");
	set_rlimit(p, RLIMIT_FSIZE, p->rl_fsize, "fsize");
	set_rlimit(p, RLIMIT_NOFILE, p->rl_nofile, "nofile");
	set_rlimit(p, RLIMIT_NPROC, p->rl_nproc, "nproc");

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(p, "no_new_privs", NULL, errno);
	if (p->landlock_abi > 0)
		setup_landlock(p);
	drop_caps(p);
	if (p->use_init)
		run_init(p, handoff);
	exec_cmd(p, 0);
}
