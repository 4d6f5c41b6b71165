/*
 * bench_sandbox.c — start-up latency of a sandboxed `true`, against plain
 * fork/exec, `unshare -Urmpfn` and bubblewrap with an equivalent policy
 * (when installed), measured in one run so the ratios compare like with like.
 *
 *   bench/bench_sandbox [ITERATIONS]     (default 300)
 *
 * Prints the median and mean per launch and the ratios. Not a test.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bench/bench.h"
#include "sandbox/sandbox.h"

extern char **environ;

static int
spawn_wait(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

struct sample {
	const char *name;
	double med, mean;
	int ok;
};

static void
measure(struct sample *s, int n, int (*fn)(void *), void *ud)
{
	double *t = calloc((size_t)n, sizeof *t), sum = 0;
	int i;

	s->ok = 0;
	if (!t)
		return;
	for (i = 0; i < 5; i++)		/* warm up (probes, page cache) */
		if (fn(ud) != 0) {
			free(t);
			return;
		}
	for (i = 0; i < n; i++) {
		double t0 = bench_now_ms();

		if (fn(ud) != 0) {
			free(t);
			return;
		}
		t[i] = bench_now_ms() - t0;
		sum += t[i];
	}
	qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
	s->med = t[n / 2];
	s->mean = sum / n;
	s->ok = 1;
	free(t);
}

static int
run_argv(void *ud)
{
	return spawn_wait(ud);
}

static int
run_sandbox(void *ud)
{
	struct sandbox_opts *o = ud;
	struct sandbox_result r;
	char *argv[] = { "true", NULL };
	struct agentd_error err;

	if (sandbox_run(o, argv, &r, &err) != AGENTD_OK) {
		fprintf(stderr, "sandbox_run: %s\n", agentd_errmsg(&err));
		return -1;
	}
	sandbox_result_free(&r);
	return r.exit_code == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 300;
	char ws[] = "/var/tmp/bench_sandbox.XXXXXX";
	char *plain[] = { "true", NULL };
	char *unsh[] = { "unshare", "-Urmpfn", "--mount-proc", "true", NULL };
	char *bw[] = { "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
	    "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
	    "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", "/var/tmp", "--bind", ws, ws,
	    "--chdir", ws, "--", "true", NULL };
	struct sandbox_opts o;
	struct sample s[4] = { { "plain fork/exec of true", 0, 0, 0 },
	    { "agentd sandbox_run(true)", 0, 0, 0 }, { "unshare -Urmpfn --mount-proc true", 0, 0, 0 },
	    { "bwrap (equivalent policy) true", 0, 0, 0 } };
	int i;

	if (n < 10)
		n = 10;
	if (!mkdtemp(ws)) {
		perror("mkdtemp");
		return 1;
	}
	sandbox_opts_init(&o);
	o.workspace = ws;
	o.network = getenv("BENCH_NETWORK") != NULL;	/* isolate the netns cost */
	measure(&s[0], n, run_argv, plain);
	measure(&s[1], n, run_sandbox, &o);
	measure(&s[2], n, run_argv, unsh);
	measure(&s[3], n, run_argv, bw);
	printf("%d launches each, euid %u\n", n, (unsigned)geteuid());
	for (i = 0; i < 4; i++) {
		if (s[i].ok)
			printf("  %-36s median %7.3f ms  mean %7.3f ms\n", s[i].name, s[i].med, s[i].mean);
		else
			printf("  %-36s unavailable\n", s[i].name);
	}
	if (s[0].ok && s[1].ok)
		printf("  sandbox / plain = %.2fx\n", s[1].med / s[0].med);
	if (s[1].ok && s[3].ok)
		printf("  sandbox / bwrap = %.2fx (target <= 0.50)\n", s[1].med / s[3].med);
	rmdir(ws);
	return s[1].ok ? 0 : 1;
}
