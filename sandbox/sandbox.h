/*
 * sandbox.h — run one command confined to a workspace.
 *
 * Stands alone: depends only on common/ and the kernel. Used by the shell
 * tool (tools/) and by `agentctl sandbox`. The confined child can write only
 * inside the workspace and a private temporary folder, cannot reach the
 * network unless allowed, cannot see or signal processes outside it, cannot
 * gain privileges, and is bounded in time, memory, processes, file size and
 * output. Layers: no_new_privs, Landlock, seccomp (libseccomp), namespaces
 * where the kernel allows them, rlimits, a cgroup-free process-tree timeout.
 * Where a layer is missing the sandbox keeps the guarantee another way or
 * refuses with AGENTD_EUNAVAIL naming what is missing — never silently weaker.
 *
 * Thread-safety: sandbox_run may be called from several threads at once.
 */
#ifndef AGENTD_SANDBOX_H
#define AGENTD_SANDBOX_H

#include <stddef.h>
#include "common/error.h"

enum sandbox_policy {
	SANDBOX_READ_ONLY = 0,		/* no writes but the private tmp */
	SANDBOX_WORKSPACE_WRITE = 1,	/* default: workspace + private tmp */
	SANDBOX_FULL_ACCESS = 2		/* explicit opt-in; still bounded */
};

struct sandbox_opts {
	const char *workspace;	/* borrowed; required; absolute or relative */
	const char *workdir;	/* borrowed; cwd, relative to or inside the workspace; NULL = workspace */
	enum sandbox_policy policy;
	int network;		/* 1 = network allowed */
	int git_writable;	/* 1 = the workspace's git dirs writable (default 0: every
				 * one found, nested repositories and submodules too,
				 * is read-only; see docs/sandbox.md) */
	unsigned timeout_ms;	/* wall clock for the whole tree */
	unsigned memory_mb;	/* address-space limit */
	unsigned max_procs;	/* processes */
	unsigned max_file_mb;	/* largest file the child may write */
	unsigned max_open_files;
	unsigned cpu_s;		/* CPU seconds */
	size_t output_cap;	/* bytes kept per stream (head + tail) */
	/* Polled while the child runs; returning non-zero kills the tree. */
	int (*cancelled)(void *ud);
	void *cancel_ud;
	/* NULL-terminated "NAME=value" extra variables (borrowed), added after the allowlist. */
	char *const *extra_env;
	/* NULL-terminated absolute paths (borrowed) that stay readable, read-only,
	 * where a folder the sandbox hides holds them ($HOME, /root, /tmp, ...):
	 * a tool installed there. A path holding a hidden folder, or one of
	 * /tmp /var/tmp /run /dev/shm itself, is refused (host IPC lives there). */
	char *const *readable;
	int debug;		/* report denied syscalls (SECCOMP_RET_LOG) */
};

/* Fill defaults: workspace-write, no network, 120 s, 2048 MB, 256 procs,
 * 256 MB files, 1024 fds, 600 s CPU, 64 KiB output per stream. */
void sandbox_opts_init(struct sandbox_opts *o);

struct sandbox_result {
	int exit_code;		/* exit status, or 128+signal when killed */
	int term_signal;	/* signal that ended it, 0 if none */
	int timed_out;		/* killed by the wall-clock timeout */
	int cancelled;		/* killed because cancelled() said so */
	char *out;		/* owned; stdout head+tail, NUL-terminated */
	size_t out_len;
	size_t out_dropped;	/* bytes omitted from the middle */
	char *err;		/* owned; stderr likewise */
	size_t err_len;
	size_t err_dropped;
	double wall_ms;
};

/*
 * Run argv[0] (looked up in PATH) with argv under the policy. Blocks until
 * the whole process tree has ended. Returns AGENTD_OK when the command ran
 * (whatever its exit status) and fills *r (free with sandbox_result_free);
 * otherwise an error with the detail in err and *r untouched. With the
 * git dirs read-only, r->err ends with a "[sandbox: ...]" note when the
 * command made a new git dir, or when the workspace was too large to search
 * whole; AGENTD_ETOOBIG when it holds more git dirs than the sandbox binds.
 */
int sandbox_run(const struct sandbox_opts *o, char *const argv[],
    struct sandbox_result *r, struct agentd_error *err);

/* Run with stdin/stdout/stderr inherited (for `agentctl sandbox`): no
 * capture (the note naming git dirs the command made, which sandbox_run
 * appends to r->err, goes to our stderr); returns the exit status (128+signal) in *status, and in
 * *ended_by (may be NULL) 0, or SIGKILL when the timeout killed the tree,
 * or the signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) that the caller got and
 * passed on by killing it. */
int sandbox_exec_inherit(const struct sandbox_opts *o, char *const argv[],
    int *status, int *ended_by, struct agentd_error *err);

void sandbox_result_free(struct sandbox_result *r);

/* Human-readable report of which layers are active on this machine (malloc'd). */
char *sandbox_explain(void);

int sandbox_policy_parse(const char *s, enum sandbox_policy *p);
const char *sandbox_policy_name(enum sandbox_policy p);

#endif
