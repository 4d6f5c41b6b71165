/*
 * test_sandbox.c — unit tests of sandbox/ against the real kernel: option
 * checks, output capture with head+tail caps, exit codes and signals, the
 * wall-clock timeout, cancellation, environment filtering, policies, and
 * concurrent runs from several threads. Escape attempts live in
 * tests/escape/battery.sh; here only what needs sandbox_run's own API.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_filter.h"
#include "sandbox/sandbox_int.h"

struct fx {
	char ws[64];
	char out[64];		/* a directory outside the workspace */
	struct sandbox_opts o;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	/* Under /tmp on purpose: the sandbox hides /tmp and must bring the
	 * workspace back on top of its private one. */
	strcpy(f->ws, "/tmp/test_sandbox.ws.XXXXXX");
	strcpy(f->out, "/tmp/test_sandbox.out.XXXXXX");
	assert_non_null(mkdtemp(f->ws));
	assert_non_null(mkdtemp(f->out));
	sandbox_opts_init(&f->o);
	f->o.workspace = f->ws;
	f->o.timeout_ms = 20000;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", f->ws, f->out);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int
run_sh(struct fx *f, const char *script, struct sandbox_result *r)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct agentd_error err;
	int rc;

	agentd_error_clear(&err);
	rc = sandbox_run(&f->o, argv, r, &err);
	if (rc != AGENTD_OK)
		fprintf(stderr, "sandbox_run: %s\n", agentd_errmsg(&err));
	return rc;
}

static void
test_defaults_and_policies(void **state)
{
	struct sandbox_opts o;
	enum sandbox_policy p = SANDBOX_FULL_ACCESS;

	(void)state;
	sandbox_opts_init(&o);
	assert_int_equal(o.policy, SANDBOX_WORKSPACE_WRITE);
	assert_int_equal(o.network, 0);
	assert_int_equal(o.git_writable, 0);
	assert_int_equal(o.timeout_ms, 120000);
	assert_int_equal(o.memory_mb, 2048);
	assert_int_equal(o.max_procs, 256);
	assert_int_equal(o.max_file_mb, 256);
	assert_int_equal(o.max_open_files, 1024);
	assert_int_equal(o.cpu_s, 600);
	assert_int_equal(o.output_cap, 64 * 1024);
	assert_int_equal(sandbox_policy_parse("read-only", &p), AGENTD_OK);
	assert_int_equal(p, SANDBOX_READ_ONLY);
	assert_int_equal(sandbox_policy_parse("full-access", &p), AGENTD_OK);
	assert_int_equal(p, SANDBOX_FULL_ACCESS);
	assert_int_equal(sandbox_policy_parse("workspace-write", &p), AGENTD_OK);
	assert_int_equal(p, SANDBOX_WORKSPACE_WRITE);
	assert_int_equal(sandbox_policy_parse("yolo", &p), AGENTD_EINVAL);
	assert_int_equal(p, SANDBOX_WORKSPACE_WRITE);	/* untouched on failure */
	assert_int_equal(sandbox_policy_parse(NULL, &p), AGENTD_EINVAL);
	assert_string_equal(sandbox_policy_name(SANDBOX_READ_ONLY), "read-only");
	assert_string_equal(sandbox_policy_name(SANDBOX_FULL_ACCESS), "full-access");
}

static void
test_bad_input(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	struct agentd_error err;
	char *argv[] = { "true", NULL }, *empty[] = { NULL };
	struct sandbox_opts o = f->o;

	memset(&r, 0x5a, sizeof r);
	o.workspace = NULL;
	assert_int_equal(sandbox_run(&o, argv, &r, &err), AGENTD_EINVAL);
	o.workspace = "/nonexistent/agentd";
	assert_int_equal(sandbox_run(&o, argv, &r, &err), AGENTD_ENOTFOUND);
	o.workspace = "/";
	assert_int_equal(sandbox_run(&o, argv, &r, &err), AGENTD_EINVAL);
	o.workspace = f->ws;
	o.workdir = "..";
	assert_int_equal(sandbox_run(&o, argv, &r, &err), AGENTD_EDENIED);
	assert_non_null(strstr(err.msg, "outside the workspace"));
	o.workdir = NULL;
	assert_int_equal(sandbox_run(&o, empty, &r, &err), AGENTD_EINVAL);
	o.timeout_ms = 0;
	assert_int_equal(sandbox_run(&o, argv, &r, &err), AGENTD_EINVAL);
	o.timeout_ms = 1000;
	o.policy = (enum sandbox_policy)7;
	assert_int_equal(sandbox_run(&o, argv, &r, &err), AGENTD_EINVAL);
	/* *r untouched on every failure */
	assert_int_equal(r.exit_code, 0x5a5a5a5a);
	o.policy = SANDBOX_WORKSPACE_WRITE;
	{
		char *nf[] = { "agentd-no-such-command", NULL };

		assert_int_equal(sandbox_run(&o, nf, &r, &err), AGENTD_ENOTFOUND);
	}
}

static void
test_output_and_exit(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;

	assert_int_equal(run_sh(f, "echo hello; echo oops >&2; exit 3", &r), AGENTD_OK);
	assert_string_equal(r.out, "hello\n");
	assert_string_equal(r.err, "oops\n");
	assert_int_equal(r.exit_code, 3);
	assert_int_equal(r.term_signal, 0);
	assert_int_equal(r.timed_out, 0);
	sandbox_result_free(&r);

	assert_int_equal(run_sh(f, "kill -SEGV $$", &r), AGENTD_OK);
	assert_int_equal(r.term_signal, 11);
	assert_int_equal(r.exit_code, 128 + 11);
	sandbox_result_free(&r);

	/* stdin is /dev/null: cat ends at once */
	assert_int_equal(run_sh(f, "cat; echo done", &r), AGENTD_OK);
	assert_string_equal(r.out, "done\n");
	sandbox_result_free(&r);
	sandbox_result_free(NULL);
}

/*
 * sandbox_exec_inherit (agentctl sandbox) runs after run in one process:
 * once the init has reported that nothing of the command is left, the
 * call returns without waiting for the init's exit, whose stack (shared
 * with a single-threaded caller) must not be reused before it is gone.
 * Each status arrives right; a straggler still ends with its run; what is
 * left at the end is at most the last init and the idmap maker, both
 * exited cleanly. In a child process: the call inherits our stdio and
 * blocks signals while it runs.
 */
static void
test_exec_inherit_in_a_row(void **state)
{
	struct fx *f = *state;
	char late[128];
	pid_t pid;
	int st;

	snprintf(late, sizeof late, "%s/late", f->ws);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct agentd_error err;
		char code[64], strag[256];
		char *argv[] = { "sh", "-c", code, NULL };
		int i, status, ended_by, left = 0, bad = 0;

		for (i = 0; i < 24; i++) {
			snprintf(code, sizeof code, i % 6 == 5 ? "kill -9 $$" : "exit %d", i % 6);
			if (sandbox_exec_inherit(&f->o, argv, &status, &ended_by, &err) != AGENTD_OK ||
			    status != (i % 6 == 5 ? 137 : i % 6) || ended_by != 0)
				_exit(10 + i);
		}
		snprintf(strag, sizeof strag, "(sleep 0.3; touch '%s') & exit 4", late);
		argv[2] = strag;
		if (sandbox_exec_inherit(&f->o, argv, &status, &ended_by, &err) != AGENTD_OK ||
		    status != 4)
			_exit(40);
		usleep(600 * 1000);
		if (access(late, F_OK) == 0)
			_exit(41);
		/* The last init and the maker, if still unreaped: clean exits. */
		while ((pid = waitpid(-1, &st, 0)) > 0) {
			left++;
			bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
		}
		_exit(bad ? 42 : left > 2 ? 43 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_yes_is_capped_and_bounded(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	char *argv[] = { "yes", NULL };
	struct agentd_error err;

	f->o.output_cap = 4096;
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_OK);
	assert_true(r.out_dropped > 0);
	assert_true(r.out_len < 4096 + 100);	/* head + marker + tail */
	assert_memory_equal(r.out, "y\ny\n", 4);
	assert_non_null(strstr(r.out, "bytes omitted"));
	assert_int_equal(r.term_signal, 9);	/* killed for flooding, not at the timeout */
	assert_int_equal(r.timed_out, 0);
	assert_non_null(strstr(r.err, "output limit"));
	sandbox_result_free(&r);
}

static void
test_timeout_kills_tree(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	char *argv[] = { "sleep", "1000", NULL };
	struct agentd_error err;

	f->o.timeout_ms = 1000;
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_OK);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.exit_code, 137);
	assert_int_equal(r.term_signal, 9);
	sandbox_result_free(&r);

	/* a background grandchild holding the pipe does not outlive it */
	assert_int_equal(run_sh(f, "sleep 1000 & sleep 1000", &r), AGENTD_OK);
	assert_int_equal(r.timed_out, 1);
	sandbox_result_free(&r);
}

static int
cancel_now(void *ud)
{
	return ++*(int *)ud > 2;
}

static void
test_cancel(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	char *argv[] = { "sleep", "1000", NULL };
	struct agentd_error err;
	int calls = 0;

	f->o.cancelled = cancel_now;
	f->o.cancel_ud = &calls;
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_OK);
	assert_int_equal(r.cancelled, 1);
	assert_int_equal(r.timed_out, 0);
	assert_int_equal(r.exit_code, 137);
	sandbox_result_free(&r);
}

static void
test_environment(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	char *extra[] = { "AGENTD_RUN=7", "X_SECRET=leak", "NOEQUALS", NULL };

	setenv("MY_API_TOKEN", "leak", 1);
	setenv("AGENTD_UNLISTED", "leak", 1);
	setenv("LC_TIME", "C", 1);
	f->o.extra_env = extra;
	/* Shown present outside the sandbox first. */
	assert_non_null(getenv("MY_API_TOKEN"));
	assert_int_equal(run_sh(f, "env", &r), AGENTD_OK);
	assert_null(strstr(r.out, "leak"));
	assert_non_null(strstr(r.out, "AGENTD_RUN=7"));
	assert_non_null(strstr(r.out, "LC_TIME=C"));
	assert_non_null(strstr(r.out, "TMPDIR="));
	assert_non_null(strstr(r.out, "PATH="));
	sandbox_result_free(&r);
	unsetenv("MY_API_TOKEN");
	unsetenv("AGENTD_UNLISTED");
}

/* agentd and agentctl ignore SIGPIPE; the command must not inherit that
 * (a pipeline's writer would get EPIPE errors instead of ending quietly). */
static void
test_sigpipe_default(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	const char *p;
	unsigned long long ign;

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(run_sh(f, "grep SigIgn /proc/self/status; "
	    "yes | head -c 1 >/dev/null; echo yes-done", &r), AGENTD_OK);
	signal(SIGPIPE, SIG_DFL);
	p = strstr(r.out, "SigIgn:");
	assert_non_null(p);
	ign = strtoull(p + 7, NULL, 16);
	assert_int_equal(ign & (1ULL << (SIGPIPE - 1)), 0);
	assert_non_null(strstr(r.out, "yes-done"));
	assert_null(strstr(r.err, "Broken pipe"));
	sandbox_result_free(&r);
}

/* The private /dev: its five nodes work (written, read, /dev/full
 * full), nothing else can be made there, and a node cannot be replaced. */
static void
test_dev_nodes(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;

	assert_int_equal(run_sh(f, "echo x > /dev/null && echo null-ok; "
	    "head -c 4 /dev/zero | od -An -tx1 | tr -d ' \\n'; echo; "
	    "head -c 8 /dev/urandom | wc -c; head -c 8 /dev/random | wc -c; "
	    "(echo x > /dev/full) 2>/dev/null || echo full-refused; "
	    "(echo x > /dev/made) 2>/dev/null || echo make-refused; "
	    "(mkdir /dev/d) 2>/dev/null || echo mkdir-refused; "
	    "(rm -f /dev/null) 2>/dev/null || echo rm-refused; "
	    "(mv /dev/zero /dev/shm/z) 2>/dev/null || echo mv-refused; "
	    "echo y > /dev/shm/s && echo shm-ok; ls /dev | tr '\\n' ' '", &r), AGENTD_OK);
	assert_non_null(strstr(r.out, "null-ok\n00000000\n8\n8\nfull-refused\n"
	    "make-refused\nmkdir-refused\nrm-refused\nmv-refused\nshm-ok\n"));
	assert_non_null(strstr(r.out, "fd full null random shm stderr stdin stdout urandom zero"));
	sandbox_result_free(&r);
}

static void
test_write_confinement(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	char script[512], path[128];
	struct stat st;
	FILE *fp;

	/* Without the sandbox the outside dir is writable... */
	snprintf(path, sizeof path, "%s/bare", f->out);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	/* ...with it, not; the workspace and the private tmp are. */
	snprintf(script, sizeof script,
	    "echo x > '%s/escaped'; echo x > '%s/inside' && echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"",
	    f->out, f->ws);
	assert_int_equal(run_sh(f, script, &r), AGENTD_OK);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "t\n");
	sandbox_result_free(&r);
	snprintf(path, sizeof path, "%s/escaped", f->out);
	assert_int_not_equal(stat(path, &st), 0);
	snprintf(path, sizeof path, "%s/inside", f->ws);
	assert_int_equal(stat(path, &st), 0);

	/* read-only: the workspace is not writable, the private tmp is */
	f->o.policy = SANDBOX_READ_ONLY;
	snprintf(script, sizeof script, "echo x > '%s/ro' ; echo t > \"$TMPDIR/t\" && cat '%s/inside'",
	    f->ws, f->ws);
	assert_int_equal(run_sh(f, script, &r), AGENTD_OK);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "x\n");
	sandbox_result_free(&r);
	snprintf(path, sizeof path, "%s/ro", f->ws);
	assert_int_not_equal(stat(path, &st), 0);
}

/*
 * The command is never uid 0 of the host, under every policy; what it
 * creates in the workspace still belongs to the caller, and the caller's
 * own 0600 files there stay readable and writable.
 */
static void
test_not_root_workspace_owned(void **state)
{
	static const enum sandbox_policy pol[] = { SANDBOX_READ_ONLY, SANDBOX_WORKSPACE_WRITE,
	    SANDBOX_FULL_ACCESS };
	struct fx *f = *state;
	struct sandbox_result r;
	char script[512], path[128];
	struct stat st;
	size_t i;
	FILE *fp;

	snprintf(path, sizeof path, "%s/mine", f->ws);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("mine\n", fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0600), 0);
	for (i = 0; i < sizeof pol / sizeof pol[0]; i++) {
		f->o.policy = pol[i];
		/* prints "U:G", then the caller's file */
		assert_int_equal(run_sh(f, "printf '%s:%s\\n' \"$(id -u)\" \"$(id -g)\"; cat mine",
		    &r), AGENTD_OK);
		assert_int_equal(r.exit_code, 0);
		assert_non_null(strstr(r.out, "mine\n"));
		assert_true(strncmp(r.out, "0:", 2) != 0);
		if (geteuid() != 0) {
			snprintf(script, sizeof script, "%u:", (unsigned)geteuid());
			assert_true(strncmp(r.out, script, strlen(script)) == 0);
		}
		sandbox_result_free(&r);
	}
	f->o.policy = SANDBOX_WORKSPACE_WRITE;
	snprintf(script, sizeof script, "echo more >> mine && mkdir d && echo x > d/new");
	assert_int_equal(run_sh(f, script, &r), AGENTD_OK);
	assert_int_equal(r.exit_code, 0);
	sandbox_result_free(&r);
	snprintf(path, sizeof path, "%s/d/new", f->ws);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_gid, getegid());
	snprintf(path, sizeof path, "%s/d", f->ws);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	snprintf(path, sizeof path, "%s/mine", f->ws);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 10);
}

/* --readable: a folder inside a hidden one (f->out is under /tmp), behind
 * a folder only its owner may search, comes back read-only; nothing beside
 * it does; paths that would bring host IPC back are refused. */
static void
test_readable(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	struct agentd_error err;
	char tools[128], script[1024], cmd[1024];
	char *rd[2] = { tools, NULL }, *bad[2] = { NULL, NULL };
	char *argv[] = { "/bin/true", NULL };

	snprintf(cmd, sizeof cmd, "mkdir -p '%s/closed/tools' && echo t > '%s/closed/tools/t' && "
	    "echo p > '%s/closed/tools/priv' && chmod 600 '%s/closed/tools/priv' && "
	    "chmod 700 '%s/closed' && echo s > '%s/secret'", f->out, f->out, f->out, f->out,
	    f->out, f->out);
	assert_int_equal(system(cmd), 0);
	snprintf(tools, sizeof tools, "%s/closed/tools", f->out);
	snprintf(script, sizeof script, "cat '%s/t'", tools);
	assert_int_equal(run_sh(f, script, &r), AGENTD_OK);
	assert_int_not_equal(r.exit_code, 0);	/* hidden */
	sandbox_result_free(&r);
	f->o.readable = rd;
	snprintf(script, sizeof script, "cat '%s/t' '%s/priv' && ! cat '%s/secret' && "
	    "! touch '%s/new' && echo done", tools, tools, f->out, tools);
	assert_int_equal(run_sh(f, script, &r), AGENTD_OK);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "t\np\ndone"));
	sandbox_result_free(&r);
	f->o.readable = bad;
	bad[0] = "/tmp";
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_EINVAL);
	assert_non_null(strstr(agentd_errmsg(&err), "host IPC"));
	bad[0] = "/";
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_EINVAL);
	bad[0] = "relative/path";
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_EINVAL);
	bad[0] = "/nonexistent/agentd-test";
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_ENOTFOUND);
	f->o.readable = NULL;
}

static void
test_git_readonly_unless_writable(void **state)
{
	struct fx *f = *state;
	struct sandbox_result r;
	char script[512], path[128];

	snprintf(path, sizeof path, "%s/.git", f->ws);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/sub", f->ws);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(script, sizeof script, "echo x > '%s/.git/HEAD'", f->ws);
	assert_int_equal(run_sh(f, script, &r), AGENTD_OK);
	assert_int_not_equal(r.exit_code, 0);
	sandbox_result_free(&r);
	f->o.git_writable = 1;
	assert_int_equal(run_sh(f, script, &r), AGENTD_OK);
	assert_int_equal(r.exit_code, 0);
	sandbox_result_free(&r);
	/* workdir relative to the workspace */
	f->o.workdir = "sub";
	assert_int_equal(run_sh(f, "pwd", &r), AGENTD_OK);
	assert_non_null(strstr(r.out, "/sub\n"));
	sandbox_result_free(&r);
}

static void *
thread_run(void *arg)
{
	struct fx *f = arg;
	struct sandbox_result r;
	char *argv[] = { "echo", "same", NULL };
	struct agentd_error err;
	intptr_t ok = 0;
	int i;

	for (i = 0; i < 5; i++) {
		if (sandbox_run(&f->o, argv, &r, &err) != AGENTD_OK)
			return (void *)0;
		ok += strcmp(r.out, "same\n") == 0 && r.exit_code == 0;
		sandbox_result_free(&r);
	}
	return (void *)ok;
}

static void
test_threads(void **state)
{
	struct fx *f = *state;
	pthread_t t[4];
	void *ret;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_run, f), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_int_equal((intptr_t)ret, 5);
	}
}

/* The programs compiled into the build are what the rules compile to now. */
static void
test_filter_is_current(void **state)
{
	struct agentd_error err;
	struct sock_fprog *p;
	int k;

	(void)state;
	for (k = 0; k < SBX_FILTER_VARIANTS; k++) {
		p = sbx_filter_build(k & 1, (k & 2) != 0, &err);
		assert_non_null(p);
		assert_int_equal(p->len, sbx_filter_progs[k].len);
		assert_memory_equal(p->filter, sbx_filter_progs[k].filter,
		    p->len * sizeof p->filter[0]);
		sbx_filter_free(p);
	}
	/* network on/off and fallback differ */
	assert_int_not_equal(sbx_filter_progs[0].len, sbx_filter_progs[2].len);
	assert_int_not_equal(sbx_filter_progs[0].len, sbx_filter_progs[1].len);
}

/* mkdir -p and write files below the fixture's workspace: "d/" a folder, "f=text" a file. */
static void
mk(struct fx *f, const char *const *spec)
{
	char cmd[8192];
	size_t n = 0;

	n += (size_t)snprintf(cmd + n, sizeof cmd - n, "cd '%s'", f->ws);
	for (; *spec; spec++) {
		const char *eq = strchr(*spec, '=');

		if (eq)
			n += (size_t)snprintf(cmd + n, sizeof cmd - n, " && mkdir -p \"$(dirname '%.*s')\" && "
			    "printf '%%s\\n' '%s' > '%.*s'", (int)(eq - *spec), *spec, eq + 1,
			    (int)(eq - *spec), *spec);
		else
			n += (size_t)snprintf(cmd + n, sizeof cmd - n, " && mkdir -p '%s'", *spec);
		assert_true(n < sizeof cmd);
	}
	assert_int_equal(system(cmd), 0);
}

static int
found(const struct sbx_gitdirs *g, const char *ws, const char *rel)
{
	char p[PATH_MAX * 2];
	size_t i;

	snprintf(p, sizeof p, "%s/%s", ws, rel);
	for (i = 0; i < g->n; i++)
		if (strcmp(g->v[i].path, p) == 0)
			return 1;
	return 0;
}

/* Every kind of git dir is found, none is entered, and the walk is bounded. */
static void
test_gitdirs_find(void **state)
{
	static const char *const tree[] = { ".git/objects/", "a/b/.git/hooks/",
	    "mod/.git=gitdir: ../sep", "sep/HEAD=ref: refs/heads/main", "sep/objects/", "sep/refs/",
	    "bare.git/HEAD=ref: refs/heads/main", "bare.git/objects/x/.git/", "bare.git/refs/",
	    "wt/.git=gitdir: ../.git/worktrees/wt", "src/lib/code.c=x", "outside/.git=gitdir: /nonexistent",
	    NULL };
	struct fx *f = *state;
	struct sbx_gitdirs g, g2;
	char ws[PATH_MAX], p[PATH_MAX * 2], list[256], cmd[PATH_MAX * 4];
	int i;

	mk(f, tree);
	assert_non_null(realpath(f->ws, ws));
	snprintf(p, sizeof p, "%s/ln", ws);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/ln/.git", ws);
	assert_int_equal(symlink("../a/b/.git", p), 0);
	assert_int_equal(sbx_gitdirs_find(ws, &g), 0);
	assert_true(found(&g, ws, ".git"));
	assert_true(found(&g, ws, "a/b/.git"));
	assert_true(found(&g, ws, "mod/.git"));
	assert_true(found(&g, ws, "sep"));		/* named by a .git file, and by content */
	assert_true(found(&g, ws, "bare.git"));		/* by content */
	assert_false(found(&g, ws, "bare.git/objects/x/.git"));	/* never entered */
	assert_true(found(&g, ws, "wt/.git"));
	assert_true(found(&g, ws, ".git/worktrees/wt") == 0);	/* not there: nothing added */
	assert_true(found(&g, ws, "ln/.git"));		/* the symlink itself */
	assert_true(found(&g, ws, "outside/.git"));
	assert_int_equal(g.n, 8);
	assert_false(g.truncated);
	assert_false(g.too_many);

	/* The same tree again: nothing new. A new .git: named. */
	assert_int_equal(sbx_gitdirs_find(ws, &g2), 0);
	assert_int_equal(sbx_gitdirs_new_since(&g, &g2, ws, list, sizeof list), 0);
	sbx_gitdirs_free(&g2);
	snprintf(p, sizeof p, "%s/src/lib/.git", ws);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(sbx_gitdirs_find(ws, &g2), 0);
	assert_int_equal(sbx_gitdirs_new_since(&g, &g2, ws, list, sizeof list), 1);
	assert_string_equal(list, "src/lib/.git");
	sbx_gitdirs_free(&g2);
	sbx_gitdirs_free(&g);

	/* Deeper than SBX_GIT_MAX_DEPTH: not looked at, and said so. */
	snprintf(p, sizeof p, "%s/deep", ws);
	assert_int_equal(mkdir(p, 0755), 0);
	for (i = 0; i <= SBX_GIT_MAX_DEPTH; i++) {
		strcat(p, "/d");
		assert_int_equal(mkdir(p, 0755), 0);
	}
	strcat(p, "/.git");
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(sbx_gitdirs_find(ws, &g), 0);
	assert_true(g.truncated);
	assert_int_equal(g.n, 9);	/* the new src/lib/.git, not the deep one */
	sbx_gitdirs_free(&g);
	sbx_gitdirs_free(NULL);

	/* More than SBX_GIT_MAX_DIRS folders: breadth first, the deepest are
	 * left out, and said so. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s/deep' && mkdir -p '%s/many/x/y/.git' && cd '%s/many' && "
	    "seq 1 %d | xargs mkdir", ws, ws, ws, SBX_GIT_MAX_DIRS);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sbx_gitdirs_find(ws, &g), 0);
	assert_true(g.truncated);
	assert_int_equal(g.dirs_seen, SBX_GIT_MAX_DIRS);
	assert_true(found(&g, ws, "a/b/.git"));
	assert_false(found(&g, ws, "many/x/y/.git"));
	sbx_gitdirs_free(&g);
}

/* Through sandbox_run: nested git dirs read-only and not movable, their
 * work trees writable, a new one named, too many refused. */
static void
test_nested_git_readonly(void **state)
{
	static const char *const tree[] = { ".git/objects/", "sub/.git/config=[core]",
	    "sub/file=x", "src/", NULL };
	struct fx *f = *state;
	struct sandbox_result r;
	struct agentd_error err;
	char path[PATH_MAX], *argv[] = { "/bin/sh", "-c", "true", NULL };
	int i;

	mk(f, tree);
	assert_int_equal(run_sh(f, "echo x >> sub/.git/config", &r), AGENTD_OK);
	assert_int_not_equal(r.exit_code, 0);
	sandbox_result_free(&r);
	assert_int_equal(run_sh(f, "mv sub sub2 || mv sub/.git sub/g", &r), AGENTD_OK);
	assert_int_not_equal(r.exit_code, 0);
	sandbox_result_free(&r);
	assert_int_equal(run_sh(f, "echo y > sub/file && mkdir src/.git", &r), AGENTD_OK);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.err, "made 1 git directory: src/.git"));
	sandbox_result_free(&r);
	f->o.git_writable = 1;
	assert_int_equal(run_sh(f, "echo x >> sub/.git/config", &r), AGENTD_OK);
	assert_int_equal(r.exit_code, 0);
	assert_null(strstr(r.err, "[sandbox:"));	/* not looked for */
	sandbox_result_free(&r);
	f->o.git_writable = 0;
	for (i = 0; i < SBX_GIT_MAX_FOUND; i++) {
		snprintf(path, sizeof path, "%s/r%d", f->ws, i);
		assert_int_equal(mkdir(path, 0755), 0);
		strcat(path, "/.git");
		assert_int_equal(mkdir(path, 0755), 0);
	}
	agentd_error_clear(&err);
	assert_int_equal(sandbox_run(&f->o, argv, &r, &err), AGENTD_ETOOBIG);
	assert_non_null(strstr(agentd_errmsg(&err), "git_writable"));
}

static void
test_explain(void **state)
{
	char *s = sandbox_explain();

	(void)state;
	assert_non_null(s);
	assert_non_null(strstr(s, "landlock:"));
	assert_non_null(strstr(s, "seccomp:"));
	assert_non_null(strstr(s, "mode:"));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_policies),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_and_exit, setup, teardown),
		/* before test_threads: a single-threaded caller shares its memory */
		cmocka_unit_test_setup_teardown(test_exec_inherit_in_a_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yes_is_capped_and_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_confinement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_root_workspace_owned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_git_readonly_unless_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gitdirs_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_git_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigpipe_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_nodes, setup, teardown),
		cmocka_unit_test(test_filter_is_current),
		cmocka_unit_test(test_explain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
