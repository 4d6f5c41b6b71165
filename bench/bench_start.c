/*
 * bench_start.c — how fast agentd is up and down: from exec to the first
 * answered daemon.status on its socket (a new state dir, and a kept one
 * whose journal is opened and checked), from SIGTERM to exit, and an
 * `agentctl status` round trip; against a plain fork/exec of /bin/true and
 * `agentd --version` (the dynamic loader's share)
 * measured in the same run, so the ratios compare like with like.
 *
 *   bench/bench_start [ITERATIONS]     (default 100; run from the build dir,
 *                                       or set AGENTD and AGENTCTL)
 *
 * The model URL points at a closed port: nothing here talks to a model.
 * Not a test.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "bench/bench.h"

extern char **environ;

static void
die(const char *what)
{
	fprintf(stderr, "bench_start: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Spawn argv with stdout/stderr to /dev/null. */
static pid_t
spawn_quiet(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		die(argv[0]);
	}
	return pid;
}

static int
wait_ok(pid_t pid)
{
	int st;

	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Connect (retrying while the socket is not there yet), ask daemon.status,
 * read the answer line. 0 when it answered a result. */
static int
status_when_up(const char *sock, double deadline)
{
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.status\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(fd);
		if (bench_now_ms() > deadline)
			return -1;
		usleep(100);
	}
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		if (memchr(buf, '\n', got) != NULL)
			break;
	}
	close(fd);
	buf[got] = '\0';
	return strstr(buf, "\"result\"") != NULL ? 0 : -1;
}

struct stat_ms {
	double med, mean;
};

static struct stat_ms
summarize(double *t, int n)
{
	struct stat_ms s = { 0, 0 };
	int i;

	for (i = 0; i < n; i++)
		s.mean += t[i];
	s.mean /= n;
	qsort(t, (size_t)n, sizeof(*t), bench_cmp_double);
	s.med = t[n / 2];
	return s;
}

int
main(int argc, char **argv)
{
	const char *agentd = getenv("AGENTD") ? getenv("AGENTD") : "./agentd";
	const char *agentctl = getenv("AGENTCTL") ? getenv("AGENTCTL") : "./agentctl";
	int n = argc > 1 ? atoi(argv[1]) : 100, i, k;
	char dir[] = "/var/tmp/bench_start.XXXXXX", sock[256], state[256], cmd[300];
	double *up_new, *up_old, *down, *ctl, *base, *ver, t0;
	struct stat_ms s_base, s_ver, s_new, s_old, s_down, s_ctl;

	if (n < 1)
		return 2;
	if (access(agentd, X_OK) != 0 || access(agentctl, X_OK) != 0) {
		fprintf(stderr, "bench_start: run from the build directory (or set AGENTD and "
		    "AGENTCTL): %s, %s\n", agentd, agentctl);
		return 2;
	}
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	up_new = calloc((size_t)n, sizeof(double));
	up_old = calloc((size_t)n, sizeof(double));
	down = calloc((size_t)n, sizeof(double));
	ctl = calloc((size_t)n, sizeof(double));
	base = calloc((size_t)n, sizeof(double));
	ver = calloc((size_t)n, sizeof(double));
	if (!up_new || !up_old || !down || !ctl || !base || !ver)
		die("calloc");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);

	for (i = 0; i < n; i++) {
		char *tv[] = { "/bin/true", NULL };

		t0 = bench_now_ms();
		if (!wait_ok(spawn_quiet(tv)))
			die("/bin/true");
		base[i] = bench_now_ms() - t0;
	}
	for (i = 0; i < n; i++) {
		char *vv[] = { (char *)agentd, "--version", NULL };

		t0 = bench_now_ms();
		if (!wait_ok(spawn_quiet(vv)))
			die("agentd --version");
		ver[i] = bench_now_ms() - t0;
	}
	/* new: a state dir of its own each time (the journal is created);
	 * kept: the same state dir each time (the journal is opened and checked). */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < n; i++) {
			char *av[] = { (char *)agentd, "--socket", sock, "--state-dir", state,
				"--llm-url", "http://127.0.0.1:9/v1", NULL };
			pid_t pid;

			if (k == 0)
				snprintf(state, sizeof(state), "%s/new-%d", dir, i);
			else
				snprintf(state, sizeof(state), "%s/old", dir);
			t0 = bench_now_ms();
			pid = spawn_quiet(av);
			if (status_when_up(sock, t0 + 10000) != 0) {
				kill(pid, SIGKILL);
				fprintf(stderr, "bench_start: agentd did not answer within 10 s\n");
				return 1;
			}
			(k == 0 ? up_new : up_old)[i] = bench_now_ms() - t0;
			if (k == 1) {
				char *cv[] = { (char *)agentctl, "--socket", sock, "status", NULL };

				t0 = bench_now_ms();
				if (!wait_ok(spawn_quiet(cv)))
					die("agentctl status");
				ctl[i] = bench_now_ms() - t0;
			}
			t0 = bench_now_ms();
			kill(pid, SIGTERM);
			if (!wait_ok(pid)) {
				fprintf(stderr, "bench_start: agentd did not exit 0 on SIGTERM\n");
				return 1;
			}
			if (k == 1)
				down[i] = bench_now_ms() - t0;
		}
	}
	s_base = summarize(base, n);
	s_ver = summarize(ver, n);
	s_new = summarize(up_new, n);
	s_old = summarize(up_old, n);
	s_down = summarize(down, n);
	s_ctl = summarize(ctl, n);
	printf("bench_start: %d iterations each (median / mean ms)\n", n);
	printf("fork/exec /bin/true                     %7.2f / %7.2f\n", s_base.med, s_base.mean);
	printf("agentd --version (loading its libraries) %7.2f / %7.2f   (%.1f x true)\n",
	    s_ver.med, s_ver.mean, s_ver.med / s_base.med);
	printf("agentd exec -> status answered, new dir %7.2f / %7.2f   (%.1f x true)\n",
	    s_new.med, s_new.mean, s_new.med / s_base.med);
	printf("agentd exec -> status answered, kept    %7.2f / %7.2f   (%.1f x true)\n",
	    s_old.med, s_old.mean, s_old.med / s_base.med);
	printf("agentctl status round trip              %7.2f / %7.2f   (%.1f x true)\n",
	    s_ctl.med, s_ctl.mean, s_ctl.med / s_base.med);
	printf("SIGTERM -> agentd exited                %7.2f / %7.2f   (%.1f x true)\n",
	    s_down.med, s_down.mean, s_down.med / s_base.med);
	free(up_new);
	free(up_old);
	free(down);
	free(ctl);
	free(base);
	free(ver);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_start: could not remove %s\n", dir);
	return 0;
}
