/*
 * sandbox_int.h — what sandbox.c (the parent side) hands to sandbox_child.c
 * (the code that runs between clone3 and execve). Private to sandbox/.
 *
 * The plan is computed entirely in the parent; the child only reads it and
 * makes raw system calls (no malloc: the caller may be multithreaded).
 *
 * The child may share the caller's memory (CLONE_VM, a single-threaded
 * caller: agentctl): then the parent leaves the plan untouched until the
 * command has exec'd, and the init, which lives on after that in the
 * shared address space, touches only its own stack and locals from then on.
 */
#ifndef AGENTD_SANDBOX_INT_H
#define AGENTD_SANDBOX_INT_H

#include <sched.h>
#include <stdint.h>
#include <linux/filter.h>
#include <sys/types.h>

/* How the confinement is built on this machine. */
enum sbx_mode {
	SBX_MODE_NS_ROOT = 1,	/* caller is root: namespaces, the command as SBX_RUN_UID, idmapped workspace */
	SBX_MODE_NS_USER = 2,	/* unprivileged with user namespaces */
	SBX_MODE_FALLBACK = 3	/* unprivileged, no user namespaces: Landlock + seccomp only */
};

#define SBX_MAX_PATHS 64

/*
 * As root the command runs as this uid and gid, never as 0: an id no
 * account uses (not in the passwd database, outside the ranges of
 * distributions, systemd's dynamic users and the usual subuid blocks),
 * so it owns nothing on the host and reads only what "other" may read.
 */
#define SBX_RUN_UID 2147483000u

struct sbx_plan {
	enum sbx_mode mode;
	int policy;			/* enum sandbox_policy */
	int network;
	const struct sbx_bind *git_binds;	/* ns: git dirs read-only, their ancestors pinned */
	int n_git_binds;
	const char *ws;			/* realpath of the workspace */
	const char *workdir;		/* realpath of the cwd, inside ws */
	const char *tmp;		/* private tmp: "/tmp" (ns) or a fresh dir (fallback) */
	const char *hide[SBX_MAX_PATHS];	/* dirs covered by an empty tmpfs (ns) */
	int n_hide;
	const char *show[SBX_MAX_PATHS];	/* ns: readable paths inside a hidden dir, bound
						 * back read-only before the workspace */
	unsigned char show_dir[SBX_MAX_PATHS];	/* 1 = a folder, 0 = a file */
	int show_fd[SBX_MAX_PATHS];	/* root: cloned, idmapped and read-only by the parent;
					 * -1 = the child clones it */
	int n_show;
	const char *ro_roots[SBX_MAX_PATHS];	/* fallback: Landlock read roots ("/" minus /proc) */
	int n_ro_roots;
	const char **ws_entries;	/* fallback, git dirs present: the only writable paths of the
					 * workspace (all but the git dirs and their ancestors) */
	int n_ws_entries;
	char tmpfs_opts[64];
	int landlock_abi;
	const struct sock_fprog *seccomp;	/* filter to load last (NULL = none) */
	unsigned seccomp_flags;
	char *const *argv;
	char *const *envp;
	const char *path;		/* PATH used to find argv[0] */
	uint64_t rl_cpu, rl_as, rl_nproc, rl_fsize, rl_nofile;
	uid_t uid;			/* caller's ids, mapped to themselves in a userns */
	gid_t gid;
	uid_t run_uid;			/* the ids the command runs as: uid/gid, or SBX_RUN_UID as root */
	gid_t run_gid;
	int idmap_fd;			/* root: userns mapping uid -> run_uid for the workspace mount; -1 = none */
	int ws_tree_fd;			/* root: the workspace cloned (open_tree) and idmapped by the
					 * parent, moved into place by the child; -1 = the child clones it */
	int maps_fd;			/* root: one byte here once the parent has written the child's
					 * uid/gid maps (run_uid to itself); -1 = none */
	int err_fd;			/* CLOEXEC pipe: setup errors "stage: reason" */
	int pinned;			/* the child and the init run on our CPU; `cpus` is
					 * the mask the command gets back */
	cpu_set_t cpus;
	int sched_policy;		/* pinned: the caller's policy and priority, which the */
	int sched_prio;			/* command and the init get back after a hand-off */
	int err_until_exit;		/* the init keeps err_fd until it exits (its EOF then
					 * says the run is over, not that the command exec'd) */
	int status_fd;			/* init writes the command's wait status here */
	int out_fd, errout_fd;		/* capture pipes, -1 = inherit */
	int stdin_null;
	int use_init;			/* pid ns: a tiny init forks the command and reaps */
};

/*
 * The git dirs of a workspace (sandbox_git.c): `.git` folders, files and
 * symlinks at any level, where a `.git` file or symlink leads when that is
 * in the workspace, and folders that are git dirs by content. Bounded:
 * SBX_GIT_MAX_DIRS folders, SBX_GIT_MAX_DEPTH levels (past them: truncated),
 * SBX_GIT_MAX_FOUND git dirs (past it: too_many).
 */
#define SBX_GIT_MAX_DIRS 4096
#define SBX_GIT_MAX_DEPTH 64
#define SBX_GIT_MAX_FOUND 256
#define SBX_GIT_MAX_RULES 4096	/* fallback: writable entries beside them */

struct sbx_gitdir {
	char *path;		/* absolute, owned */
	dev_t dev;
	ino_t ino;
	mode_t mode;		/* lstat's: folder, file or symlink */
};

struct sbx_gitdirs {
	struct sbx_gitdir *v;
	size_t n, cap;
	size_t dirs_seen;
	int truncated;		/* folders past the caps, or unreadable, not looked at */
	int too_many;		/* more than SBX_GIT_MAX_FOUND */
};

/* Walk ws (a realpath) and fill *g; -1 on out of memory (*g then empty). */
int sbx_gitdirs_find(const char *ws, struct sbx_gitdirs *g);
void sbx_gitdirs_free(struct sbx_gitdirs *g);
/* How many git dirs of after were not in before (same path and inode);
 * their paths, relative to ws, comma-separated into out (cap bytes). */
int sbx_gitdirs_new_since(const struct sbx_gitdirs *before, const struct sbx_gitdirs *after,
    const char *ws, char *out, size_t cap);

/* One bind of the git dirs' set-up (namespace modes): the folder onto
 * itself, made read-only when ro; without ro it only pins the folder (a
 * mount point cannot be renamed or removed). Ancestors come first. */
struct sbx_bind {
	const char *path;
	int ro;
};

/* Runs in the clone3 child; never returns. */
void sbx_child(const struct sbx_plan *p) __attribute__((noreturn));

/*
 * A system call that never touches errno or anything else in the thread's
 * TLS (the init of a CLONE_VM child shares the caller's thread pointer):
 * returns the result or -errno. SBX_RAW_SYSCALL is 0 where it has no
 * implementation; the child is then always a copy (clone3 without CLONE_VM).
 */
#if defined(__x86_64__) || defined(__aarch64__)
#define SBX_RAW_SYSCALL 1
static inline long
sbx_raw_syscall(long nr, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	long ret;

	__asm__ volatile ("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
	    : "rcx", "r11", "memory");
	return ret;
#else
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;

	__asm__ volatile ("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
#endif
}
#else
#define SBX_RAW_SYSCALL 0
#endif

/* Landlock constants newer than the system headers (ABI 1..7). */
#define SBX_LL_FS_EXECUTE	(1ULL << 0)
#define SBX_LL_FS_WRITE_FILE	(1ULL << 1)
#define SBX_LL_FS_READ_FILE	(1ULL << 2)
#define SBX_LL_FS_READ_DIR	(1ULL << 3)
#define SBX_LL_FS_REMOVE_DIR	(1ULL << 4)
#define SBX_LL_FS_REMOVE_FILE	(1ULL << 5)
#define SBX_LL_FS_MAKE_CHAR	(1ULL << 6)
#define SBX_LL_FS_MAKE_DIR	(1ULL << 7)
#define SBX_LL_FS_MAKE_REG	(1ULL << 8)
#define SBX_LL_FS_MAKE_SOCK	(1ULL << 9)
#define SBX_LL_FS_MAKE_FIFO	(1ULL << 10)
#define SBX_LL_FS_MAKE_BLOCK	(1ULL << 11)
#define SBX_LL_FS_MAKE_SYM	(1ULL << 12)
#define SBX_LL_FS_REFER		(1ULL << 13)	/* ABI 2 */
#define SBX_LL_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#define SBX_LL_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#define SBX_LL_NET_BIND_TCP	(1ULL << 0)	/* ABI 4 */
#define SBX_LL_NET_CONNECT_TCP	(1ULL << 1)
#define SBX_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)	/* ABI 6 */
#define SBX_LL_SCOPE_SIGNAL	(1ULL << 1)

/* Every filesystem right this ABI knows. */
uint64_t sbx_ll_fs_all(int abi);

#endif
