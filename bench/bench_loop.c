/*
 * bench_loop.c — the plan-act loop's own cost per step.
 *
 * The model answers at once (llm_chat replaced at link time with
 * -Wl,--wrap=llm_chat) with one read_file call of a tiny file, N times,
 * then a final answer. The journal is a real SQLite file. Reports steps per
 * second, CPU per step (getrusage), the same with the tool's own cost
 * (measured apart, by calling it N times directly) taken out, and CPU per
 * step early in the run against late in the run.
 *
 *   bench/bench_loop [STEPS]      (default 2000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "agent/agent.h"
#include "agent/llm.h"
#include "memory/memory.h"
#include "tools/tools.h"
#include "common/json.h"

int __wrap_llm_chat(const struct llm_config *c, const struct llm_request *req,
    const struct llm_callbacks *cb, struct llm_response *resp, struct agentd_error *err);
int __wrap_llm_context_window(const struct llm_config *c, int *n_ctx, struct agentd_error *err);
int __wrap_llm_count_tokens(const struct llm_config *c, const json_t *messages, const json_t *tools,
    int64_t *n, struct agentd_error *err);

static int steps_left;
static int n_calls;
static double *cpu_at;	/* CPU seconds at each model request */

static double
cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
__wrap_llm_chat(const struct llm_config *c, const struct llm_request *req,
    const struct llm_callbacks *cb, struct llm_response *resp, struct agentd_error *err)
{
	(void)c;
	(void)cb;
	(void)err;
	memset(resp, 0, sizeof(*resp));
	resp->prompt_tokens = resp->completion_tokens = -1;
	resp->finish_reason = strdup("stop");
	if (req->tools == NULL) {	/* a summary request */
		resp->content = strdup("Read tiny.txt many times; nothing else happened.");
		return AGENTD_OK;
	}
	cpu_at[n_calls++] = cpu_now();
	if (steps_left-- > 0) {
		resp->content = strdup("");
		resp->tool_calls = json_pack("[{s:s, s:s, s:s}]", "id", "x", "name", "read_file",
		    "arguments", "{\"path\":\"tiny.txt\"}");
	} else {
		resp->content = strdup("done");
		resp->tool_calls = json_array();
	}
	return AGENTD_OK;
}

int
__wrap_llm_count_tokens(const struct llm_config *c, const json_t *messages, const json_t *tools,
    int64_t *n, struct agentd_error *err)
{
	(void)c;
	(void)messages;
	(void)tools;
	(void)n;
	return agentd_seterr(err, AGENTD_ENOTFOUND, "not a llama-server");
}

int
__wrap_llm_context_window(const struct llm_config *c, int *n_ctx, struct agentd_error *err)
{
	(void)c;
	(void)n_ctx;
	return agentd_seterr(err, AGENTD_ENOTFOUND, "not told");
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000, i, k;
	char dir[] = "/tmp/bench_loop.XXXXXX", path[512], cmd[600];
	struct memory *m;
	struct agentd_error err;
	struct agent_config cfg;
	struct memory_run_spec spec;
	struct tool_ctx tctx;
	int64_t sid, id;
	double c0, c1, w0, w1, tool_cpu, early = 0, late = 0;
	FILE *f;
	json_t *args, *res, *run;

	if (n < 200)
		n = 200;
	cpu_at = calloc((size_t)n + 2, sizeof(double));
	if (mkdtemp(dir) == NULL || cpu_at == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/tiny.txt", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return 1;
	fputs("tiny\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/agentd.db", dir);
	if (memory_open(path, &m, &err) != AGENTD_OK) {
		fprintf(stderr, "memory_open: %s\n", agentd_errmsg(&err));
		return 1;
	}
	agent_config_init(&cfg);
	cfg.max_steps = n + 10;
	cfg.max_tokens = INT64_MAX / 2;
	cfg.state_dir = dir;
	memory_session_create(m, "bench", dir, &sid, &err);
	memset(&spec, 0, sizeof(spec));
	spec.session_id = sid;
	spec.workspace = dir;
	spec.task = "Read tiny.txt again and again.";
	if (memory_run_create(m, &spec, &id, &err) != AGENTD_OK)
		return 1;

	/* the tool alone, n times */
	tools_ctx_init(&tctx, dir);
	args = json_pack("{s:s}", "path", "tiny.txt");
	c0 = cpu_now();
	for (i = 0; i < n; i++) {
		if (tools_call(&tctx, "read_file", args, &res, &err) != AGENTD_OK)
			return 1;
		json_decref(res);
	}
	tool_cpu = (cpu_now() - c0) / n;
	json_decref(args);

	steps_left = n;
	w0 = wall_now();
	c0 = cpu_now();
	if (agent_run(m, id, &cfg, NULL, &err) != AGENTD_OK) {
		fprintf(stderr, "agent_run: %s\n", agentd_errmsg(&err));
		return 1;
	}
	c1 = cpu_now();
	w1 = wall_now();
	memory_run_get(m, id, &run, &err);
	for (k = 1; k <= 100; k++) {
		early += cpu_at[k] - cpu_at[k - 1];
		late += cpu_at[n - 100 + k] - cpu_at[n - 100 + k - 1];
	}
	printf("steps: %d (run %s)\n", n + 1, ajson_str(run, "status", "?"));
	printf("steps per second: %.0f\n", (n + 1) / (w1 - w0));
	printf("CPU per step: %.3f ms (tool included)\n", (c1 - c0) * 1e3 / (n + 1));
	printf("read_file alone: %.3f ms CPU per call\n", tool_cpu * 1e3);
	printf("CPU per step, tool excluded: %.3f ms\n", ((c1 - c0) / (n + 1) - tool_cpu) * 1e3);
	printf("CPU per step, steps 1-100: %.3f ms; steps %d-%d: %.3f ms (tool included)\n",
	    early * 10, n - 99, n, late * 10);
	json_decref(run);
	memory_close(m);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	free(cpu_at);
	return 0;
}
