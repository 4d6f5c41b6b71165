/*
 * bench_ctl_sandbox.c — `agentctl sandbox` as users run it: one whole
 * process per command, cold (the sandbox's per-process set-up paid every
 * time), against bubblewrap with the equivalent command line, plain
 * fork/exec of `true` and `agentctl --version` (the loader's share). The
 * launchers take turns (one of each per round), so a noisy neighbour
 * slows them alike, in an order shuffled every round: what one leaves to
 * the kernel (deferred frees, RCU callbacks, a namespace's teardown) slows
 * whichever runs next, and in a fixed order two copies of one client
 * measured 3-4 % apart. Medians and the ratio to bwrap come from one run.
 *
 *   bench/bench_ctl_sandbox [ROUNDS [NESTED]]
 *     ROUNDS default 300; run from the build dir, or set AGENTCTL; BWRAP to
 *     point at bwrap, skipped if absent. NESTED > 0 gives the workspace a
 *     .git and NESTED nested repositories (vendor/rN/.git), whose git dirs
 *     the sandbox finds and binds read-only. BENCH_WS=DIR runs in DIR
 *     instead of an empty temporary workspace. AGENTCTL_BEFORE=PATH adds
 *     that client (a previous build) to the turns, for before/after ratios
 *     measured in one run.
 * Not a test.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bench/bench.h"

extern char **environ;

#define N_LAUNCHERS 5

/* xorshift32, fixed seed: the same orders every run. */
static unsigned
next_rand(void)
{
	static unsigned x = 2463534242u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static double
run_once(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	double t0 = bench_now_ms();
	pid_t pid;
	int rc, st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "bench_ctl_sandbox: %s: %s\n", argv[0], strerror(rc));
		exit(1);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_ctl_sandbox: %s ... failed (status %d)\n", argv[0], st);
		exit(1);
	}
	return bench_now_ms() - t0;
}

int
main(int argc, char **argv)
{
	const char *ctl = getenv("AGENTCTL") ? getenv("AGENTCTL") : "./agentctl";
	const char *bw = getenv("BWRAP") ? getenv("BWRAP") : "/usr/bin/bwrap";
	const char *before = getenv("AGENTCTL_BEFORE");
	int n = argc > 1 ? atoi(argv[1]) : 300, nested = argc > 2 ? atoi(argv[2]) : 0, i, k, have_bw;
	char tmpws[] = "/var/tmp/bench_ctl_sandbox.XXXXXX", cmd[256];
	char *ws = getenv("BENCH_WS") ? getenv("BENCH_WS") : tmpws;
	static const char *const names[N_LAUNCHERS] = { "fork/exec /bin/true",
	    "agentctl --version", "agentctl sandbox --workspace W -- true",
	    "bwrap ... --bind W W ... true", "before: agentctl sandbox ... true" };
	double *t[N_LAUNCHERS], med[N_LAUNCHERS], mean[N_LAUNCHERS];

	if (n < 1)
		return 2;
	if (access(ctl, X_OK) != 0) {
		fprintf(stderr, "bench_ctl_sandbox: run from the build directory (or set AGENTCTL)\n");
		return 2;
	}
	if (ws == tmpws && !mkdtemp(ws)) {
		perror("mkdtemp");
		return 1;
	}
	for (i = 0; i < nested && ws == tmpws; i++) {
		snprintf(cmd, sizeof cmd, "cd %s && for d in .git vendor/r%d/.git; do mkdir -p $d/objects "
		    "$d/refs $d/hooks && echo 'ref: refs/heads/main' > $d/HEAD; done", ws, i);
		if (system(cmd) != 0)
			return 1;
	}
	have_bw = access(bw, X_OK) == 0;
	{
		char *tv[] = { "/bin/true", NULL };
		char *vv[] = { (char *)ctl, "--version", NULL };
		char *sv[] = { (char *)ctl, "sandbox", "--workspace", ws, "--", "/bin/true", NULL };
		char *bv[] = { (char *)bw, "--unshare-all", "--die-with-parent", "--new-session",
			"--ro-bind", "/", "/", "--bind", ws, ws, "--dev", "/dev", "--proc", "/proc",
			"/bin/true", NULL };
		char *ov[] = { (char *)before, "sandbox", "--workspace", ws, "--", "/bin/true", NULL };
		char *const *av[N_LAUNCHERS] = { tv, vv, sv, bv, ov };

		for (k = 0; k < N_LAUNCHERS; k++)
			if (!(t[k] = calloc((size_t)n, sizeof(double))))
				return 1;
		for (i = -5; i < n; i++) {	/* 5 warm-up rounds */
			int order[N_LAUNCHERS], j;

			for (j = 0; j < N_LAUNCHERS; j++)
				order[j] = j;
			for (j = N_LAUNCHERS - 1; j > 0; j--) {	/* Fisher-Yates */
				int r = (int)(next_rand() % (unsigned)(j + 1)), x = order[j];

				order[j] = order[r];
				order[r] = x;
			}
			for (j = 0; j < N_LAUNCHERS; j++) {
				double d;

				k = order[j];
				if ((k == 3 && !have_bw) || (k == 4 && !before))
					continue;
				d = run_once(av[k]);
				if (i >= 0)
					t[k][i] = d;
			}
		}
	}
	printf("bench_ctl_sandbox: %d rounds, uid %u, workspace %s with %d nested repositories "
	    "(median / mean ms)\n", n, (unsigned)geteuid(), ws == tmpws ? "(temporary)" : ws, nested);
	for (k = 0; k < N_LAUNCHERS; k++) {
		if (k == 3 && !have_bw) {
			printf("%-40s (no %s)\n", names[k], bw);
			continue;
		}
		if (k == 4 && !before)
			continue;
		mean[k] = 0;
		for (i = 0; i < n; i++)
			mean[k] += t[k][i];
		mean[k] /= n;
		qsort(t[k], (size_t)n, sizeof(double), bench_cmp_double);
		med[k] = t[k][n / 2];
		printf("%-40s %7.2f / %7.2f\n", names[k], med[k], mean[k]);
	}
	if (have_bw)
		printf("agentctl sandbox / bwrap (medians)       %7.2f\n", med[2] / med[3]);
	if (before)
		printf("agentctl sandbox / before (medians)      %7.2f\n", med[2] / med[4]);
	for (k = 0; k < N_LAUNCHERS; k++)
		free(t[k]);
	if (ws == tmpws) {
		snprintf(cmd, sizeof cmd, "rm -rf %s", ws);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
