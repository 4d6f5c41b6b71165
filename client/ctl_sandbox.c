/*
 * ctl_sandbox.c — `agentctl sandbox`: run one command locally under exactly
 * the shell tool's sandbox (same defaults), without the daemon, so that
 * users can check a policy and tests can attack it. Exit status: the
 * command's, 128+signal when it was killed, 2 on a usage error, 125 when the
 * sandbox cannot be set up, 126/127 when the command cannot be run.
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ctl.h"
#include "sandbox/sandbox.h"

static void
usage(FILE *f)
{
	fputs("usage: agentctl sandbox --workspace DIR [--policy P] [--network]\n"
	    "                        [--timeout S] [--memory MB] [--max-procs N]\n"
	    "                        [--max-file-size MB] [--env NAME=VALUE]...\n"
	    "                        [--readable PATH]... -- CMD [ARG...]\n"
	    "       agentctl sandbox --explain\n"
	    "\n"
	    "Run CMD confined exactly as the shell tool runs commands: writes only in\n"
	    "DIR and a private tmp, no network unless --network, no view of outside\n"
	    "processes, no privileges, bounded in time, memory, processes and file size.\n"
	    "CMD is never root: run as root, it runs as an unprivileged uid and DIR is\n"
	    "mounted idmapped, so files it creates there still belong to you. Every git\n"
	    "directory in DIR (.git, nested repositories, submodules) stays read-only;\n"
	    "one CMD makes is named on stderr when it ends.\n"
	    "\n"
	    "  --workspace DIR      the folder the command may write (required)\n"
	    "  --policy P           read-only | workspace-write (default) | full-access\n"
	    "  --network            allow network access\n"
	    "  --timeout S          wall-clock seconds for the whole tree (default 120)\n"
	    "  --memory MB          address-space limit (default 2048)\n"
	    "  --max-procs N        processes (default 256)\n"
	    "  --max-file-size MB   largest file written (default 256)\n"
	    "  --env NAME=VALUE     one more environment variable (names that look like\n"
	    "                       secrets are dropped, as for every sandboxed command)\n"
	    "  --readable PATH      keep PATH readable (read-only) though the sandbox hides\n"
	    "                       the folder holding it ($HOME, /root, /tmp...): a tool\n"
	    "                       installed there\n"
	    "  --explain            say which confinement layers work on this machine\n"
	    "\n"
	    "Exit status: CMD's own; 128+N when killed by signal N (timeout: 137);\n"
	    "2 usage error; 125 sandbox unavailable; 126 cannot execute; 127 not found.\n", f);
}

/* Parse a positive integer option value bounded by max. */
static int
num(const char *opt, const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!s) {
		fprintf(stderr, "agentctl sandbox: %s needs a value\n", opt);
		return -1;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max || s[0] == '-') {
		fprintf(stderr, "agentctl sandbox: %s: expected a whole number from 1 to %lu, got '%s'\n",
		    opt, max, s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int
ctl_sandbox_main(int argc, char **argv)
{
	struct sandbox_opts o;
	struct agentd_error err;
	struct stat st;
	unsigned v;
	int i, status = 0, rc, ended_by = 0, nenv = 0;
	static char **env;	/* the --env strings (borrowed from argv); lives until exit */
	static char **readable;	/* the --readable paths, likewise */
	int nread = 0;

	env = calloc((size_t)argc + 1, sizeof(*env));
	readable = calloc((size_t)argc + 1, sizeof(*readable));
	if (env == NULL || readable == NULL)
		return 125;
	sandbox_opts_init(&o);
	o.extra_env = env;
	o.readable = readable;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--explain") == 0) {
			char *s = sandbox_explain();

			if (!s)
				return 1;
			fputs(s, stdout);
			free(s);
			return 0;
		} else if (strcmp(a, "--workspace") == 0) {
			if (++i >= argc) {
				fputs("agentctl sandbox: --workspace needs a directory\n", stderr);
				return 2;
			}
			o.workspace = argv[i];
		} else if (strcmp(a, "--policy") == 0) {
			enum sandbox_policy p;

			if (++i >= argc || sandbox_policy_parse(argv[i], &p) != AGENTD_OK) {
				fprintf(stderr, "agentctl sandbox: --policy: expected read-only, "
				    "workspace-write or full-access, got '%s'\n",
				    i < argc ? argv[i] : "");
				return 2;
			}
			o.policy = p;
		} else if (strcmp(a, "--network") == 0) {
			o.network = 1;
		} else if (strcmp(a, "--env") == 0) {
			if (++i >= argc || strchr(argv[i], '=') == NULL || argv[i][0] == '=') {
				fputs("agentctl sandbox: --env needs NAME=VALUE\n", stderr);
				return 2;
			}
			env[nenv++] = argv[i];
		} else if (strcmp(a, "--readable") == 0) {
			if (++i >= argc || argv[i][0] != '/') {
				fputs("agentctl sandbox: --readable needs an absolute path\n", stderr);
				return 2;
			}
			if (stat(argv[i], &st) != 0) {
				fprintf(stderr, "agentctl sandbox: --readable %s: %s\n", argv[i],
				    strerror(errno));
				return 2;
			}
			readable[nread++] = argv[i];
		} else if (strcmp(a, "--timeout") == 0) {
			if (num(a, i + 1 < argc ? argv[++i] : NULL, 86400, &v) < 0)
				return 2;
			o.timeout_ms = v * 1000;
		} else if (strcmp(a, "--memory") == 0) {
			if (num(a, i + 1 < argc ? argv[++i] : NULL, 1UL << 20, &v) < 0)
				return 2;
			o.memory_mb = v;
		} else if (strcmp(a, "--max-procs") == 0) {
			if (num(a, i + 1 < argc ? argv[++i] : NULL, 1UL << 22, &v) < 0)
				return 2;
			o.max_procs = v;
		} else if (strcmp(a, "--max-file-size") == 0) {
			if (num(a, i + 1 < argc ? argv[++i] : NULL, 1UL << 22, &v) < 0)
				return 2;
			o.max_file_mb = v;
		} else {
			fprintf(stderr, "agentctl sandbox: unknown option '%s' (see --help)\n", a);
			return 2;
		}
	}
	if (!o.workspace) {
		fputs("agentctl sandbox: --workspace DIR is required (see --help)\n", stderr);
		return 2;
	}
	if (i >= argc) {
		fputs("agentctl sandbox: no command given after -- (see --help)\n", stderr);
		return 2;
	}
	/* A workspace that is not there is the user's input, not a missing
	 * command (127). */
	if (stat(o.workspace, &st) != 0) {
		fprintf(stderr, "agentctl sandbox: --workspace %s: %s\n", o.workspace,
		    errno == ENOENT ? "no such directory" : strerror(errno));
		return 2;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "agentctl sandbox: --workspace %s: not a directory\n", o.workspace);
		return 2;
	}
	fflush(stdout);
	rc = sandbox_exec_inherit(&o, argv + i, &status, &ended_by, &err);
	if (rc != AGENTD_OK) {
		fprintf(stderr, "agentctl sandbox: %s\n", agentd_errmsg(&err));
		return rc == AGENTD_ENOTFOUND ? 127 : rc == AGENTD_EDENIED ? 126 :
		    rc == AGENTD_EINVAL ? 2 : 125;
	}
	if (ended_by == SIGKILL)
		fprintf(stderr, "agentctl sandbox: %s timed out after %u s; its processes were "
		    "killed (--timeout S to allow more)\n", argv[i], o.timeout_ms / 1000);
	else if (ended_by != 0)
		fprintf(stderr, "agentctl sandbox: %s stopped: agentctl got %s and killed its "
		    "processes\n", argv[i], strsignal(ended_by));
	return status;
}
