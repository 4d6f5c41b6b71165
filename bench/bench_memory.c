/*
 * bench_memory.c — speed of the durable journal (memory/): the cost of
 * committing one loop step, whether a step's cost grows with the session
 * (step 10 against step 1,000, loading only the new tail of the history),
 * and FTS recall over a large store (p50/p99). Results go to
 * docs/benchmarks.md ("Memory"). Not a test: numbers depend on the disk.
 *
 *   bench/bench_memory [--messages N] [--steps N] [--queries N] [--dir DIR]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#include "bench/bench.h"
#include "memory/internal.h"
#include "memory/memory.h"

static double
pct(double *v, int n, double p)
{
	int i;

	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	i = (int)ceil(p / 100.0 * n) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void
die(const char *what, const struct agentd_error *err)
{
	fprintf(stderr, "bench_memory: %s: %s\n", what, agentd_errmsg(err));
	exit(1);
}

/* xorshift64*: a fixed seed makes every run store the same data. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

/* ---- vocabulary: common developer words, then generated identifiers, with
 * Zipf-distributed frequencies (rank r has weight 1/r). ---- */
static const char *const base_words[] = {
	"the", "to", "a", "of", "and", "in", "is", "it", "for", "file", "test", "error", "function",
	"build", "run", "fix", "line", "return", "value", "code", "change", "make", "commit", "branch",
	"config", "read", "write", "path", "string", "list", "check", "failed", "output", "input",
	"module", "update", "use", "add", "remove", "call", "tool", "result", "step", "plan", "git",
	"diff", "status", "log", "null", "pointer", "memory", "buffer", "size", "length", "index",
	"array", "object", "json", "parse", "server", "client", "socket", "request", "response",
	"timeout", "retry", "thread", "lock", "mutex", "queue", "event", "loop", "signal", "process",
	"child", "exit", "warning", "compile", "link", "library", "header", "include", "struct",
	"type", "int", "char", "const", "static", "free", "malloc", "leak", "crash", "segfault",
	"stack", "trace", "debug", "release", "version", "tag", "merge", "rebase", "conflict",
	"README", "docs", "comment", "TODO", "FIXME", "refactor", "rename", "delete", "create",
	"directory", "workspace", "sandbox", "policy", "network", "permission", "denied", "user",
	"root", "config.json", "Makefile", "main.c", "util.c", "parser", "lexer", "token", "cache",
	"database", "query", "table", "schema", "migration", "index", "transaction", "commit",
	"rollback", "journal", "session", "history", "summary", "context", "window", "model",
	"prompt", "assistant", "message", "reasoning", "answer", "question", "please", "should",
	"could", "would", "because", "then", "when", "after", "before", "while", "every", "each",
	"first", "last", "next", "previous", "new", "old", "small", "large", "fast", "slow",
};

#define GEN_WORDS 30000

static char **vocab;
static double *vcum;
static int nvocab;

static void
vocab_init(void)
{
	static const char *const syl[] = { "ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe",
		"qu", "sha", "dr", "ex", "io", "un", "br", "st", "el", "or", "an" };
	int nbase = (int)(sizeof(base_words) / sizeof(base_words[0]));
	double sum = 0;
	int i;

	nvocab = nbase + GEN_WORDS;
	vocab = calloc((size_t)nvocab, sizeof(*vocab));
	vcum = calloc((size_t)nvocab, sizeof(*vcum));
	for (i = 0; i < nbase; i++)
		vocab[i] = strdup(base_words[i]);
	for (; i < nvocab; i++) {
		char w[48];
		int k, n = 2 + (int)(rnd() % 3), len = 0;

		for (k = 0; k < n; k++)
			len += snprintf(w + len, sizeof(w) - (size_t)len, "%s", syl[rnd() % 20]);
		if (rnd() % 4 == 0)
			snprintf(w + len, sizeof(w) - (size_t)len, "_%d", (int)(rnd() % 100));
		vocab[i] = strdup(w);
	}
	for (i = 0; i < nvocab; i++) {
		sum += 1.0 / (i + 1);
		vcum[i] = sum;
	}
	for (i = 0; i < nvocab; i++)
		vcum[i] /= sum;
}

static int
zipf_rank(void)
{
	double u = (double)(rnd() >> 11) / 9007199254740992.0;
	int lo = 0, hi = nvocab - 1;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (vcum[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
sentence(char *buf, size_t n, int words)
{
	size_t len = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < words && len + 50 < n; i++)
		len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? " " : "", vocab[zipf_rank()]);
}

/* ---- helpers ---- */

static int
rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static struct memory *
open_db(const char *dir, const char *name, const char *sync)
{
	struct agentd_error err = { 0 };
	struct memory *m = NULL;
	char path[512], sql[64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (memory_open(path, &m, &err) != AGENTD_OK)
		die("open", &err);
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", sync);
	sqlite3_exec(memory_internal_db(m), sql, NULL, NULL, NULL);
	return m;
}

/* One loop step, as the brief defines it: in one transaction, the
 * assistant message with its tool call, the tool row started and finished,
 * the tool message, and two events. */
static void
one_step(struct memory *m, int64_t sid, int64_t run, int step)
{
	struct agentd_error err = { 0 };
	char id[32], text[400];
	json_t *calls, *ev;
	struct memory_msg a = { .run_id = run, .role = "assistant", .step = step };
	struct memory_msg t = { .run_id = run, .role = "tool", .step = step };

	snprintf(id, sizeof(id), "call_%d", step);
	calls = json_pack("[{s:s,s:s,s:{s:s,s:s}}]", "id", id, "type", "function", "function",
	    "name", "read_file", "arguments", "{\"path\":\"src/main.c\"}");
	ev = json_pack("{s:s,s:s}", "tool", "read_file", "id", id);
	sentence(text, sizeof(text), 40);
	a.tool_calls = calls;
	a.content = "Let me read the file.";
	t.tool_call_id = id;
	t.content = text;
	if (memory_begin(m, &err) != AGENTD_OK ||
	    memory_msg_add(m, sid, &a, NULL, &err) != AGENTD_OK ||
	    memory_tool_add(m, run, id, "read_file", "{\"path\":\"src/main.c\"}", 1, step, &err) ||
	    memory_tool_started(m, run, id, &err) != AGENTD_OK ||
	    memory_tool_finished(m, run, id, text, 1, &err) != AGENTD_OK ||
	    memory_msg_add(m, sid, &t, NULL, &err) != AGENTD_OK ||
	    memory_event_add(m, run, "tool.call", ev, NULL, &err) != AGENTD_OK ||
	    memory_event_add(m, run, "tool.result", ev, NULL, &err) != AGENTD_OK ||
	    memory_commit(m, &err) != AGENTD_OK)
		die("step", &err);
	json_decref(calls);
	json_decref(ev);
}

static void
new_session_run(struct memory *m, int64_t *sid, int64_t *run, const char *ws)
{
	struct agentd_error err = { 0 };
	struct memory_run_spec spec = { .workspace = ws, .task = "bench" };

	if (memory_session_create(m, "bench", ws, sid, &err) != AGENTD_OK)
		die("session", &err);
	spec.session_id = *sid;
	if (memory_run_create(m, &spec, run, &err) != AGENTD_OK)
		die("run", &err);
}

/* Part 1: per-step commit cost. */
static void
bench_commit(const char *dir, const char *sync, int steps)
{
	struct memory *m = open_db(dir, sync, sync);
	double *t = calloc((size_t)steps, sizeof(*t)), sum = 0;
	int64_t sid, run;
	int i;

	new_session_run(m, &sid, &run, "/bench");
	for (i = 0; i < steps; i++) {
		double t0 = bench_now_ms();

		one_step(m, sid, run, i + 1);
		t[i] = bench_now_ms() - t0;
		sum += t[i];
	}
	printf("step commit, synchronous=%-6s  mean %.3f ms  p50 %.3f ms  p99 %.3f ms  (%d steps)\n",
	    sync, sum / steps, pct(t, steps, 50), pct(t, steps, 99), steps);
	free(t);
	memory_close(m);
}

/* Part 2: a step as the session grows: commit the step, then load what the
 * loop needs (the tail after the last seq it saw). Full reloads shown for
 * contrast. */
static void
bench_growth(const char *dir, const char *sync, int contrast)
{
	struct agentd_error err = { 0 };
	char name[64];
	struct memory *m;
	enum { N = 1010, W = 20 };
	static double tail[N], full[N], commit[N];
	double a[W], b[W], c[W], d[W], e[W], f[W];
	int64_t sid, run, last = 0;
	int i;

	snprintf(name, sizeof(name), "growth-%s-%d.db", sync, contrast);
	m = open_db(dir, name, sync);
	new_session_run(m, &sid, &run, "/bench");
	for (i = 0; i < N; i++) {
		json_t *list = NULL;
		double t0 = bench_now_ms(), t1, t2;

		one_step(m, sid, run, i + 1);
		t1 = bench_now_ms();
		if (memory_msg_list(m, sid, last, &list, &err) != AGENTD_OK)
			die("tail", &err);
		last = json_integer_value(json_object_get(json_array_get(list,
		    json_array_size(list) - 1), "seq"));
		json_decref(list);
		t2 = bench_now_ms();
		commit[i] = t1 - t0;
		tail[i] = t2 - t0;
		full[i] = 0;
		if (!contrast)
			continue;
		/* Own pass: building 2,000 objects evicts the caches the next
		 * commit would use, which would blur the numbers above. */
		t0 = bench_now_ms();
		if (memory_msg_list(m, sid, 0, &list, &err) != AGENTD_OK)
			die("full", &err);
		json_decref(list);
		full[i] = bench_now_ms() - t0;
	}
	/* Windows of W steps around step 10 (1..20) and step 1,000 (991..1010). */
	for (i = 0; i < W; i++) {
		a[i] = tail[i];
		b[i] = tail[990 + i];
		c[i] = full[i];
		d[i] = full[990 + i];
		e[i] = commit[i];
		f[i] = commit[990 + i];
	}
	{
		double ta = pct(a, W, 50), tb = pct(b, W, 50);
		double fa = pct(c, W, 50), fb = pct(d, W, 50);

		if (contrast)
			printf("for contrast, reloading the whole history each step: step 10: %.3f ms  "
			    "step 1000: %.3f ms  ratio %.1f\n", fa, fb, fb / fa);
		else
			printf("step + tail load, synchronous=%-6s  step 10: %.3f ms  step 1000: %.3f ms  "
			    "ratio %.2f  (commit alone %.3f / %.3f ms)\n", sync, ta, tb, tb / ta,
			    pct(e, W, 50), pct(f, W, 50));
	}
	memory_close(m);
}

/* Part 3: recall over a large store. */
/* Opening the journal: the daemon's own open (integrity check and all)
 * against a run worker's extra connection, on the same (warm) file. */
static void
bench_open(const char *dir, const char *name)
{
	struct agentd_error err = { 0 };
	struct memory *m = NULL;
	char path[512];
	double t0, full = 0, more = 0;
	int i, n = 5;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (i = 0; i < n; i++) {
		t0 = bench_now_ms();
		if (memory_open(path, &m, &err) != AGENTD_OK)
			die("open", &err);
		full += bench_now_ms() - t0;
		memory_close(m);
		t0 = bench_now_ms();
		if (memory_open_more(path, &m, &err) != AGENTD_OK)
			die("open more", &err);
		more += bench_now_ms() - t0;
		memory_close(m);
	}
	printf("opening the store: memory_open %.1f ms, memory_open_more (a run's connection) "
	    "%.2f ms; ratio %.0f\n", full / n, more / n, more > 0 ? full / more : 0);
}

static void
bench_search(const char *dir, long messages, int queries)
{
	struct agentd_error err = { 0 };
	struct memory *m = open_db(dir, "search.db", "NORMAL");
	double *t = calloc((size_t)queries, sizeof(*t)), t0, load;
	double worst_common = 0;
	int64_t sid = 0, run = 0;
	long i;
	int q, hits = 0, nws = 0;
	char text[600], ws[64];

	t0 = bench_now_ms();
	if (memory_begin(m, &err) != AGENTD_OK)
		die("begin", &err);
	for (i = 0; i < messages; i++) {
		struct memory_msg msg = { 0 };

		if (i % 200 == 0) {
			snprintf(ws, sizeof(ws), "/repo/%ld", (i / 200) % 50);
			new_session_run(m, &sid, &run, ws);
		}
		sentence(text, sizeof(text), 8 + (int)(rnd() % 40));
		msg.run_id = run;
		msg.role = i % 3 == 0 ? "user" : i % 3 == 1 ? "assistant" : "tool";
		msg.tool_call_id = i % 3 == 2 ? "c" : NULL;
		msg.content = text;
		if (memory_msg_add(m, sid, &msg, NULL, &err) != AGENTD_OK)
			die("load", &err);
		if (i % 20000 == 19999) {
			if (memory_commit(m, &err) != AGENTD_OK || memory_begin(m, &err) != AGENTD_OK)
				die("commit", &err);
		}
	}
	if (memory_commit(m, &err) != AGENTD_OK)
		die("commit", &err);
	load = bench_now_ms() - t0;
	printf("search store: %ld messages loaded in %.1f s (%.0f msg/s)\n", messages, load / 1e3,
	    messages / (load / 1e3));
	/* Queries drawn from the same Zipf vocabulary: one to three words,
	 * every fourth restricted to a workspace. */
	for (q = 0; q < queries; q++) {
		json_t *list = NULL;
		char query[200];
		int k, n = 1 + (int)(rnd() % 3), len = 0;

		for (k = 0; k < n; k++)
			len += snprintf(query + len, sizeof(query) - (size_t)len, "%s%s", k ? " " : "",
			    vocab[zipf_rank()]);
		if (q % 4 == 0) {
			snprintf(ws, sizeof(ws), "/repo/%d", (int)(rnd() % 50));
			nws++;
		}
		t0 = bench_now_ms();
		if (memory_search(m, query, q % 4 == 0 ? ws : NULL, 20, &list, &err) != AGENTD_OK)
			die("search", &err);
		t[q] = bench_now_ms() - t0;
		if (getenv("BENCH_SLOW") != NULL && t[q] > 10)
			fprintf(stderr, "slow: %.1f ms '%s' %s\n", t[q], query, q % 4 == 0 ? ws : "");
		hits += (int)json_array_size(list);
		json_decref(list);
	}
	{
		double p50 = pct(t, queries, 50), p99 = pct(t, queries, 99);

		printf("search (%d queries, %d with a workspace filter, limit 20, %d hits): "
		    "p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", queries, nws, hits, p50, p99,
		    t[queries - 1]);
	}
	/* The worst case: the most frequent words of the vocabulary alone. */
	for (q = 0; q < 5; q++) {
		json_t *list = NULL;

		t0 = bench_now_ms();
		if (memory_search(m, vocab[q], NULL, 20, &list, &err) != AGENTD_OK)
			die("search", &err);
		t0 = bench_now_ms() - t0;
		if (t0 > worst_common)
			worst_common = t0;
		json_decref(list);
	}
	printf("search for each of the 5 most frequent words alone (\"%s\" ... \"%s\"): "
	    "worst %.2f ms\n", vocab[0], vocab[4], worst_common);
	free(t);
	memory_close(m);
	bench_open(dir, "search.db");
}

int
main(int argc, char **argv)
{
	long messages = 1000000;
	int steps = 1000, queries = 1000, i;
	char dir[256] = "";
	const char *base = "/var/tmp";

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			messages = atol(argv[++i]);
		else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
			steps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc)
			queries = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			base = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--messages N] [--steps N] [--queries N] [--dir DIR]\n",
			    argv[0]);
			return 2;
		}
	}
	if (messages < 1 || steps < 1 || queries < 1)
		return 2;
	snprintf(dir, sizeof(dir), "%s/bench_memory.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	vocab_init();
	printf("bench_memory: SQLite %s, databases under %s\n", sqlite3_libversion(), dir);
	bench_commit(dir, "FULL", steps);
	bench_commit(dir, "NORMAL", steps);
	bench_growth(dir, "FULL", 0);
	bench_growth(dir, "NORMAL", 0);
	bench_growth(dir, "FULL", 1);
	bench_search(dir, messages, queries);
	if (getenv("BENCH_KEEP") == NULL)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < nvocab; i++)
		free(vocab[i]);
	free(vocab);
	free(vcum);
	return 0;
}
