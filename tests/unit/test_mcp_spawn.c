/*
 * test_mcp_spawn.c — how the MCP client starts a stdio server: what the
 * server gets (the caller's environment with the configured `env` over it,
 * its `cwd`, a PATH search in that environment, default signals, none
 * blocked, a session of its own whose whole group goes with it), a clear
 * error for a program that is not there, and a start
 * that does not hang while another thread of the caller holds a lock of
 * the C library (glibc's environment lock, held for real by a setenv that
 * is stopped inside malloc): a library in another thread may call setenv
 * (the daemon's scheduler did, for TZ, until it read zone files itself).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "tools/mcp.h"
#include "common/json.h"

extern char **environ;

#if defined(__SANITIZE_ADDRESS__)
#define STALL_MALLOC 0	/* the sanitizer owns malloc */
#else
#define STALL_MALLOC 1
/* A malloc that stops the one thread that asks for it, inside whatever
 * libc call it is making, until told to go on. */
extern void *__libc_malloc(size_t n);
static __thread int stall_me;
static sem_t stalled, go_on;

void *malloc(size_t n);
void *
malloc(size_t n)
{
	if (stall_me) {
		stall_me = 0;
		sem_post(&stalled);
		while (sem_wait(&go_on) != 0)
			;
	}
	return __libc_malloc(n);
}
#endif

static char tmpdir[] = "/tmp/mcpspawn.XXXXXX";
/* Debian's python3 when it is there: a pyenv shim changes the folder. */
static const char *python;

static int
start(const char *text, struct mcp_client **c, struct agentd_error *err)
{
	json_t *cfg = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(cfg);
	agentd_error_clear(err);
	*c = NULL;
	rc = mcp_client_start("spawn", cfg, -1, c, err);
	json_decref(cfg);
	return rc;
}

/* What the server reports of itself (the fake server's env tool). */
static json_t *
server_self(struct mcp_client *c)
{
	struct agentd_error err;
	json_t *args = json_object(), *self;
	char *text = NULL;
	int is_err = -1;

	agentd_error_clear(&err);
	assert_int_equal(mcp_client_call(c, "env", args, 1 << 20, &text, &is_err, &err), AGENTD_OK);
	assert_int_equal(is_err, 0);
	self = json_loads(text, 0, NULL);
	if (self == NULL)
		print_error("not JSON: %.300s\n", text);
	assert_non_null(self);
	free(text);
	json_decref(args);
	return self;
}

static void
test_environment(void **state)
{
	struct agentd_error err;
	struct mcp_client *c;
	json_t *self, *env, *v;
	const char *k;
	char text[1024], **e;

	(void)state;
	setenv("MCPT_KEEP", "kept", 1);
	setenv("MCPT_OVER", "old", 1);
	unsetenv("MCPT_ADD");
	snprintf(text, sizeof(text), "{\"command\":\"%s\",\"args\":[\"%s/tests/mcp/fake_server.py\","
	    "\"ok\"],\"startup_timeout_s\":60,\"cwd\":\"%s\",\"env\":{\"MCPT_OVER\":\"new\","
	    "\"MCPT_ADD\":\"a=b c\",\"MCPT_EMPTY\":\"\"}}", python, TEST_SRCDIR, tmpdir);
	assert_int_equal(start(text, &c, &err), AGENTD_OK);
	self = server_self(c);
	mcp_client_free(c);
	env = json_object_get(self, "env");
	assert_string_equal(json_string_value(json_object_get(env, "MCPT_KEEP")), "kept");
	assert_string_equal(json_string_value(json_object_get(env, "MCPT_OVER")), "new");
	assert_string_equal(json_string_value(json_object_get(env, "MCPT_ADD")), "a=b c");
	assert_string_equal(json_string_value(json_object_get(env, "MCPT_EMPTY")), "");
	/* all of ours, nothing of its own but what python adds (a locale) */
	for (e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		char name[256];

		if (eq == NULL || (size_t)(eq - *e) >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
		if (strcmp(name, "MCPT_OVER") == 0 || strcmp(name, "LC_CTYPE") == 0)
			continue;
		v = json_object_get(env, name);
		assert_non_null(v);
		assert_string_equal(json_string_value(v), eq + 1);
	}
	json_object_foreach(env, k, v)
		if (strcmp(k, "LC_CTYPE") != 0 && strcmp(k, "MCPT_ADD") != 0 &&
		    strcmp(k, "MCPT_EMPTY") != 0 && getenv(k) == NULL)
			fail_msg("the server has %s, which nobody gave it", k);
	assert_string_equal(json_string_value(json_object_get(self, "cwd")), tmpdir);
	json_decref(self);
	unsetenv("MCPT_KEEP");
	unsetenv("MCPT_OVER");
}

/* Started by a caller that blocks signals (agentd reads SIGTERM, SIGINT and
 * SIGHUP through a signalfd) and ignores SIGPIPE, the server has none
 * blocked and SIGPIPE at its default. Python ignores SIGPIPE itself, so a
 * shell before it writes down what it got (a shell unblocks all, so
 * python says what is blocked). */
static void
test_signals(void **state)
{
	struct agentd_error err;
	struct mcp_client *c;
	sigset_t daemons, old;
	char text[1024], line[128], blk[64] = "", ign[64] = "";
	json_t *self;
	FILE *f;

	(void)state;
	sigemptyset(&daemons);
	sigaddset(&daemons, SIGTERM);
	sigaddset(&daemons, SIGINT);
	sigaddset(&daemons, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &daemons, &old);
	signal(SIGPIPE, SIG_IGN);
	snprintf(text, sizeof(text), "{\"command\":\"%s\",\"args\":[\"%s/tests/mcp/fake_server.py\","
	    "\"ok\"],\"startup_timeout_s\":60}", python, TEST_SRCDIR);
	assert_int_equal(start(text, &c, &err), AGENTD_OK);
	self = server_self(c);
	mcp_client_free(c);
	assert_string_equal(json_string_value(json_object_get(self, "sigblk")), "0000000000000000");
	json_decref(self);
	/* Read by the shell's own builtins: while it waits for a command it
	 * runs (grep), dash blocks every signal, and a grep could see that. */
	snprintf(text, sizeof(text), "{\"command\":\"/bin/sh\",\"args\":[\"-c\",\"while read -r l; "
	    "do case $l in Sig*) echo $l;; esac; done </proc/$$/status >'%s/sig'; "
	    "exec %s '%s/tests/mcp/fake_server.py' ok\"],"
	    "\"startup_timeout_s\":60}", tmpdir, python, TEST_SRCDIR);
	assert_int_equal(start(text, &c, &err), AGENTD_OK);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_DFL);
	mcp_client_free(c);
	snprintf(text, sizeof(text), "%s/sig", tmpdir);
	f = fopen(text, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "SigBlk: %63s", blk);
		sscanf(line, "SigIgn: %63s", ign);
	}
	fclose(f);
	assert_string_equal(blk, "0000000000000000");	/* as a shell sees it */
	assert_int_equal(strtoull(ign, NULL, 16) & (1ULL << (SIGPIPE - 1)), 0);
}

/* Is process pid gone (or a zombie waiting for its new parent)? */
static int
gone(long pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

/* The server has a session (so a process group) of its own: a terminal's
 * ^C to agentd's group does not reach it. When the client lets it go,
 * what it started goes with it (a `sleep` it left in the background). */
static void
test_own_session(void **state)
{
	struct agentd_error err;
	struct mcp_client *c;
	char text[1024];
	json_t *self;
	long strag = 0;
	FILE *f;
	int i;

	(void)state;
	snprintf(text, sizeof(text), "{\"command\":\"%s\",\"args\":[\"%s/tests/mcp/fake_server.py\","
	    "\"ok\"],\"startup_timeout_s\":60}", python, TEST_SRCDIR);
	assert_int_equal(start(text, &c, &err), AGENTD_OK);
	self = server_self(c);
	mcp_client_free(c);
	assert_true(json_integer_value(json_object_get(self, "pid")) > 0);
	assert_int_equal(json_integer_value(json_object_get(self, "sid")),
	    json_integer_value(json_object_get(self, "pid")));
	assert_true(json_integer_value(json_object_get(self, "sid")) != getsid(0));
	json_decref(self);
	snprintf(text, sizeof(text), "{\"command\":\"/bin/sh\",\"args\":[\"-c\",\"sleep 300 & "
	    "echo $! >'%s/strag'; exec %s '%s/tests/mcp/fake_server.py' ok\"],"
	    "\"startup_timeout_s\":60}", tmpdir, python, TEST_SRCDIR);
	assert_int_equal(start(text, &c, &err), AGENTD_OK);
	mcp_client_free(c);
	snprintf(text, sizeof(text), "%s/strag", tmpdir);
	f = fopen(text, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld", &strag), 1);
	fclose(f);
	for (i = 0; i < 100 && !gone(strag); i++)
		usleep(20000);
	if (!gone(strag)) {
		kill((pid_t)strag, SIGKILL);
		fail_msg("the server's background sleep (%ld) outlived it", strag);
	}
}

/* write_script NAME SHEBANG: an executable in tmpdir/bin that starts the fake server */
static void
write_script(const char *name, int shebang)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/bin/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%sPATH='%s' exec python3 '%s/tests/mcp/fake_server.py' ok\n",
	    shebang ? "#!/bin/sh\n" : "", getenv("PATH"), TEST_SRCDIR);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

/* A bare command is looked up in the PATH the server gets (its `env`
 * may set one), as execvp does; a file without "#!" runs with /bin/sh. */
static void
test_path_search(void **state)
{
	struct agentd_error err;
	struct mcp_client *c;
	char text[1024], bin[512], noexec[512];
	json_t *self;
	FILE *f;

	(void)state;
	snprintf(bin, sizeof(bin), "%s/bin", tmpdir);
	mkdir(bin, 0755);
	write_script("mcpt-only-here", 1);
	write_script("mcpt-no-shebang", 0);
	/* a file of that name that is not executable, earlier in PATH: skipped */
	snprintf(noexec, sizeof(noexec), "%s/mcpt-only-here", tmpdir);
	f = fopen(noexec, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(text, sizeof(text), "{\"command\":\"mcpt-only-here\",\"startup_timeout_s\":60,"
	    "\"env\":{\"PATH\":\"/nonexistent:%s:%s\"}}", tmpdir, bin);
	assert_int_equal(start(text, &c, &err), AGENTD_OK);
	self = server_self(c);
	mcp_client_free(c);
	json_decref(self);
	snprintf(text, sizeof(text), "{\"command\":\"mcpt-no-shebang\",\"startup_timeout_s\":60,"
	    "\"env\":{\"PATH\":\"%s\"}}", bin);
	assert_int_equal(start(text, &c, &err), AGENTD_OK);
	mcp_client_free(c);
	/* not on the caller's PATH: found only through the server's */
	assert_int_not_equal(start("{\"command\":\"mcpt-only-here\",\"startup_timeout_s\":60}",
	    &c, &err), AGENTD_OK);
	assert_null(c);
	/* found, but not executable, and nothing better after it: execvp's EACCES */
	snprintf(text, sizeof(text), "{\"command\":\"mcpt-only-here\",\"startup_timeout_s\":60,"
	    "\"env\":{\"PATH\":\"%s:/nonexistent\"}}", tmpdir);
	assert_int_not_equal(start(text, &c, &err), AGENTD_OK);
	assert_non_null(strstr(agentd_errmsg(&err), "cannot run mcpt-only-here: Permission denied"));
	unlink(noexec);
}

/* A program that is not there: an error of the start naming it and why. */
static void
test_missing(void **state)
{
	struct agentd_error err;
	struct mcp_client *c;

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	assert_int_not_equal(start("{\"command\":\"/nonexistent/mcp-server\"}", &c, &err), AGENTD_OK);
	assert_null(c);
	assert_non_null(strstr(agentd_errmsg(&err), "cannot run /nonexistent/mcp-server: "
	    "No such file or directory"));
	assert_int_not_equal(start("{\"command\":\"mcpt-no-such-program\"}", &c, &err), AGENTD_OK);
	assert_null(c);
	assert_non_null(strstr(agentd_errmsg(&err), "cannot run mcpt-no-such-program: "
	    "No such file or directory"));
}

#if STALL_MALLOC
static void *
setenv_thread(void *arg)
{
	(void)arg;
	stall_me = 1;	/* stops in the malloc of the new value, the lock held */
	setenv("MCPT_BUSY", "a value nobody has set before", 1);
	return NULL;
}
#endif

/* Another thread is inside setenv (so holds glibc's environment lock) when
 * a server starts with an `env`: the start must not wait on that lock in
 * the new process, where no thread will ever release it. */
static void
test_lock_held_elsewhere(void **state)
{
#if STALL_MALLOC
	struct agentd_error err;
	struct mcp_client *c;
	pthread_t t;
	char text[1024];
	json_t *self;
	int rc;

	(void)state;
	setenv("MCPT_BUSY", "x", 1);	/* replaced in place: environ stays where it is */
	sem_init(&stalled, 0, 0);
	sem_init(&go_on, 0, 0);
	assert_int_equal(pthread_create(&t, NULL, setenv_thread, NULL), 0);
	while (sem_wait(&stalled) != 0)
		;
	snprintf(text, sizeof(text), "{\"command\":\"%s\",\"args\":[\"%s/tests/mcp/fake_server.py\","
	    "\"ok\"],\"startup_timeout_s\":20,\"env\":{\"MCPT_SET\":\"yes\"}}", python, TEST_SRCDIR);
	rc = start(text, &c, &err);
	if (rc != AGENTD_OK)
		print_error("start: %s\n", agentd_errmsg(&err));
	assert_int_equal(rc, AGENTD_OK);
	self = server_self(c);
	assert_string_equal(ajson_str(json_object_get(self, "env"), "MCPT_SET", ""), "yes");
	json_decref(self);
	mcp_client_free(c);
	sem_post(&go_on);
	pthread_join(t, NULL);
	unsetenv("MCPT_BUSY");
#else
	(void)state;
	print_message("skipped: the sanitizers own malloc, which this test stops\n");
	skip();
#endif
}

static int
setup(void **state)
{
	(void)state;
	python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_own_session),
		cmocka_unit_test(test_path_search),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_lock_held_elsewhere),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
