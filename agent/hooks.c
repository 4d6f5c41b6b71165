/*
 * hooks.c — the user's hook commands, with Claude Code's contract, so that
 * hook scripts written for it work unchanged.
 *
 * The configuration (`hooks` in the user's config file, never from a
 * repository) maps an event name to a list of {matcher, command, timeout_s}.
 * For an event, every entry whose matcher matches (a regex anchored at both
 * ends, on the tool name for tool events, the source for SessionStart, the
 * notification type for Notification, the end status for SessionEnd;
 * missing, "" or "*" match everything) runs in turn as `/bin/sh -c COMMAND`,
 * as the user running agentd and outside the model's sandbox (it is the
 * user's own code), in the run's workspace, with one JSON object on stdin:
 * session_id, run_id, transcript_path, cwd, hook_event_name and the event's
 * own fields.
 *
 * Exit 0: stdout may be JSON — `continue: false` (+ `stopReason`) stops the
 * run; `decision: "block"` + `reason`; `hookSpecificOutput` with
 * `permissionDecision` (allow/deny/ask), `permissionDecisionReason`,
 * `updatedInput` (PreToolUse) and `additionalContext`. For SessionStart and
 * UserPromptSubmit plain stdout is context for the model. Exit 2: blocking;
 * stderr is the reason given to the model. Any other code: a non-blocking
 * error, recorded. A hook that outlives its timeout is killed with its whole
 * process group; its output is capped; nothing it does can stop the daemon
 * or other runs (it runs on the run's own worker thread). Each hook run is
 * journaled as a `hook` event.
 */
#include "agent/internal.h"
#include "common/buf.h"
#include "common/num.h"
#include "common/json.h"
#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOK_OUTPUT_CAP		(64 * 1024)	/* bytes kept of stdout, and of stderr */
#define HOOK_REASON_CAP		4096		/* bytes of a reason given to the model */
#define HOOK_DEFAULT_TIMEOUT_S	60
#define HOOK_MAX_TIMEOUT_S	3600
#define HOOK_MAX_ENTRIES	32		/* per event */
#define HOOK_MAX_COMMAND	8192

static const char *const hook_events[] = {
	"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure",
	"Stop", "SessionEnd", "Notification", NULL
};

/* Claude Code's names for agentd's tools: a matcher may use either. */
static const struct { const char *ours, *theirs; } tool_aliases[] = {
	{ "shell", "Bash" }, { "read_file", "Read" }, { "write_file", "Write" },
	{ "edit_file", "Edit" }, { "grep", "Grep" }, { "list_dir", "LS" },
	{ "update_plan", "TodoWrite" },
};

static int
known_event(const char *name)
{
	size_t i;

	for (i = 0; hook_events[i] != NULL; i++)
		if (strcmp(hook_events[i], name) == 0)
			return 1;
	return 0;
}

/* Compile a matcher anchored at both ends ("" and "*" match all: *re unset). */
static int
matcher_compile(const char *m, regex_t *re, int *all)
{
	char *pat;
	size_t n;
	int rc;

	*all = m == NULL || m[0] == '\0' || strcmp(m, "*") == 0;
	if (*all)
		return 0;
	n = strlen(m);
	pat = malloc(n + 5);
	if (pat == NULL)
		return REG_ESPACE;
	snprintf(pat, n + 5, "^(%s)$", m);
	rc = regcomp(re, pat, REG_EXTENDED | REG_NOSUB);
	free(pat);
	return rc;
}

/* The entries of one event, each an object {matcher?, command, timeout_s?}
 * or Claude Code's {matcher?, hooks: [{type: "command", command, timeout?}]}. */
static int
check_entry(const char *event, size_t i, const json_t *e, struct agentd_error *err)
{
	const char *k, *m = ajson_str(e, "matcher", NULL);
	json_t *v;
	regex_t re;
	int all, rc;

	if (!json_is_object(e))
		return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu]: expected an object "
		    "{\"matcher\", \"command\", \"timeout_s\"}", event, i);
	json_object_foreach((json_t *)e, k, v) {
		if (strcmp(k, "matcher") == 0 || strcmp(k, "command") == 0 ||
		    strcmp(k, "timeout_s") == 0 || strcmp(k, "hooks") == 0)
			continue;
		return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu]: unknown key '%s' "
		    "(known: matcher, command, timeout_s, hooks)", event, i, k);
	}
	if (json_object_get(e, "matcher") && !json_is_string(json_object_get(e, "matcher")))
		return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu].matcher: expected a string",
		    event, i);
	rc = matcher_compile(m, &re, &all);
	if (rc != 0)
		return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu].matcher: not a valid "
		    "regular expression: %.200s", event, i, m);
	if (!all)
		regfree(&re);
	if ((v = json_object_get(e, "hooks")) != NULL) {
		size_t j;
		json_t *h;

		if (!json_is_array(v) || json_object_get(e, "command"))
			return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu].hooks: expected an "
			    "array of {\"type\": \"command\", \"command\", \"timeout\"} (and no "
			    "\"command\" beside it)", event, i);
		json_array_foreach(v, j, h) {
			const char *t = ajson_str(h, "type", NULL), *c = ajson_str(h, "command", NULL);
			json_t *to = json_object_get(h, "timeout");

			if (!json_is_object(h) || t == NULL || strcmp(t, "command") != 0 || c == NULL ||
			    c[0] == '\0' || strlen(c) > HOOK_MAX_COMMAND ||
			    (to != NULL && (!json_is_integer(to) || json_integer_value(to) < 1 ||
			    json_integer_value(to) > HOOK_MAX_TIMEOUT_S)))
				return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu].hooks[%zu]: "
				    "expected {\"type\": \"command\", \"command\": non-empty string, "
				    "\"timeout\": 1..%d}", event, i, j, HOOK_MAX_TIMEOUT_S);
		}
		return AGENTD_OK;
	}
	v = json_object_get(e, "command");
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > HOOK_MAX_COMMAND)
		return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu].command: expected a "
		    "non-empty string (at most %d bytes)", event, i, HOOK_MAX_COMMAND);
	v = json_object_get(e, "timeout_s");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > HOOK_MAX_TIMEOUT_S))
		return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s[%zu].timeout_s: expected an "
		    "integer from 1 to %d", event, i, HOOK_MAX_TIMEOUT_S);
	return AGENTD_OK;
}

int
agent_hooks_check(const json_t *hooks, struct agentd_error *err)
{
	const char *event;
	json_t *list, *e;
	size_t i;
	int rc;

	if (!json_is_object(hooks))
		return agentd_seterr(err, AGENTD_EINVAL, "hooks: expected an object {EVENT: "
		    "[{\"matcher\", \"command\", \"timeout_s\"}]}");
	json_object_foreach((json_t *)hooks, event, list) {
		if (!known_event(event))
			return agentd_seterr(err, AGENTD_EINVAL, "hooks: unknown event '%s' (known: "
			    "SessionStart, UserPromptSubmit, PreToolUse, PostToolUse, "
			    "PostToolUseFailure, Stop, SessionEnd, Notification)", event);
		if (!json_is_array(list) || json_array_size(list) > HOOK_MAX_ENTRIES)
			return agentd_seterr(err, AGENTD_EINVAL, "hooks.%s: expected an array of at "
			    "most %d entries", event, HOOK_MAX_ENTRIES);
		json_array_foreach(list, i, e) {
			rc = check_entry(event, i, e, err);
			if (rc != AGENTD_OK)
				return rc;
		}
	}
	return AGENTD_OK;
}

/* Does the entry's matcher take `subject` (NULL: events without one)? */
static int
matches(const json_t *entry, const char *subject)
{
	const char *m = ajson_str(entry, "matcher", NULL);
	regex_t re;
	int all, hit = 0;
	size_t i;

	if (matcher_compile(m, &re, &all) != 0)
		return 0;
	if (all)
		return 1;
	if (subject != NULL) {
		hit = regexec(&re, subject, 0, NULL, 0) == 0;
		for (i = 0; !hit && i < sizeof(tool_aliases) / sizeof(tool_aliases[0]); i++)
			if (strcmp(tool_aliases[i].ours, subject) == 0)
				hit = regexec(&re, tool_aliases[i].theirs, 0, NULL, 0) == 0;
	}
	regfree(&re);
	return hit;
}

/* ------------------------------------------------------------------ */
/* the transcript file a hook may read                                */

/*
 * The session's messages as JSON lines in state_dir/transcripts/s<ID>.jsonl
 * (0600 in a 0700 folder): written whole at the first hook of this life of
 * the run, then only what came since. Best effort: a hook still runs when
 * it cannot be written (transcript_path is then omitted).
 */
static const char *
transcript_sync(struct arun *r)
{
	json_t *msgs = NULL, *m;
	struct agentd_error e;
	char dir[PATH_MAX];
	size_t i;
	int fd, first = r->transcript_path[0] == '\0';

	if (r->cfg->state_dir == NULL)
		return NULL;
	if (first) {
		if ((size_t)snprintf(dir, sizeof(dir), "%s/transcripts", r->cfg->state_dir) >= sizeof(dir) ||
		    (size_t)snprintf(r->transcript_path, sizeof(r->transcript_path), "%s/s%lld.jsonl",
		    dir, (long long)r->session_id) >= sizeof(r->transcript_path)) {
			r->transcript_path[0] = '\0';
			return NULL;
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			r->transcript_path[0] = '\0';
			return NULL;
		}
		r->transcript_seq = 0;
	}
	agentd_error_clear(&e);
	if (memory_msg_list(r->m, r->session_id, r->transcript_seq, &msgs, &e) != AGENTD_OK)
		return r->transcript_path;
	fd = open(r->transcript_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
	    (first ? O_TRUNC : 0), 0600);
	if (fd < 0) {
		json_decref(msgs);
		r->transcript_path[0] = '\0';
		return NULL;
	}
	json_array_foreach(msgs, i, m) {
		char *line = json_dumps(m, JSON_COMPACT);
		size_t n;

		if (line == NULL)
			break;
		n = strlen(line);
		line[n] = '\n';	/* the NUL becomes the line's end */
		if (write(fd, line, n + 1) != (ssize_t)(n + 1)) {
			free(line);
			break;
		}
		free(line);
		r->transcript_seq = ajson_int(m, "seq", r->transcript_seq);
	}
	close(fd);
	json_decref(msgs);
	return r->transcript_path;
}

/* ------------------------------------------------------------------ */
/* running one hook                                                   */

struct hook_proc {
	int exit_code;		/* exit status, 128+signal, -1 when it could not start */
	int timed_out;
	double ms;
	char *out;		/* capped stdout */
	char *errout;		/* capped stderr */
};


/* Environment: agentd's own, plus where the hook runs (CLAUDE_PROJECT_DIR
 * as Claude Code sets it, for scripts that use it) and the ids. */
static char **
hook_env(struct arun *r)
{
	char *set[3] = { NULL, NULL, NULL }, **env = NULL;
	int i;

	if (asprintf(&set[0], "CLAUDE_PROJECT_DIR=%s", r->workspace ? r->workspace : "/") < 0)
		set[0] = NULL;
	if (asprintf(&set[1], "AGENTD_RUN_ID=%lld", (long long)r->run_id) < 0)
		set[1] = NULL;
	if (asprintf(&set[2], "AGENTD_SESSION_ID=%lld", (long long)r->session_id) < 0)
		set[2] = NULL;
	if (set[0] && set[1] && set[2])
		env = aspawn_env(set, 3);
	for (i = 0; i < 3; i++)
		free(set[i]);
	return env;
}

/*
 * Run `command` with `input` on stdin, for at most timeout_s, polling the
 * run's cancellation. Fills *p; the caller frees p->out and p->errout.
 */
static void
hook_spawn(struct arun *r, const char *command, const char *input, int timeout_s,
    struct hook_proc *p)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct htbuf hb_out, hb_err;
	char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
	char **env;
	size_t in_len = strlen(input), in_off = 0;
	double t0 = (anum_mono_s() * 1000.0), deadline = t0 + timeout_s * 1000.0;
	pid_t pid = -1;
	int status = 0, open_fds = 2, killed = 0;

	memset(p, 0, sizeof(*p));
	p->exit_code = -1;
	htbuf_init(&hb_out, HOOK_OUTPUT_CAP);
	htbuf_init(&hb_err, HOOK_OUTPUT_CAP);
	env = hook_env(r);
	if (env == NULL || pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
	    pipe2(er, O_CLOEXEC) != 0) {
		htbuf_append(&hb_err, "cannot start the hook: out of resources", 39);
		goto done;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, er[1], 2);
	if (r->workspace != NULL)
		posix_spawn_file_actions_addchdir_np(&fa, r->workspace);
	/* its own session (so a timeout kills the whole tree), no signal blocked
	 * (the daemon blocks the ones it reads), default dispositions (the daemon
	 * ignores SIGPIPE) */
	errno = aspawn_attr_init(&at, POSIX_SPAWN_SETSID);
	if (errno == 0) {
		errno = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
		posix_spawnattr_destroy(&at);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	close(er[1]);
	in[0] = out[1] = er[1] = -1;
	if (errno != 0 || pid <= 0) {
		char msg[200];
		int n = snprintf(msg, sizeof(msg), "cannot start the hook: %s", strerror(errno));

		htbuf_append(&hb_err, msg, (size_t)n);
		pid = -1;
		goto done;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (in_len == 0) {
		close(in[1]);
		in[1] = -1;
	}
	while (open_fds > 0 || in[1] >= 0) {
		struct pollfd pf[3];
		int nf = 0, wait_ms, k;
		double left = deadline - (anum_mono_s() * 1000.0);

		if (left <= 0 || agent_stop_now(r)) {
			p->timed_out = left <= 0;
			kill(-pid, SIGKILL);
			killed = 1;
			break;
		}
		wait_ms = left > 200 ? 200 : (int)left + 1;
		if (out[0] >= 0)
			pf[nf++] = (struct pollfd){ .fd = out[0], .events = POLLIN };
		if (er[0] >= 0)
			pf[nf++] = (struct pollfd){ .fd = er[0], .events = POLLIN };
		if (in[1] >= 0)
			pf[nf++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		if (poll(pf, (nfds_t)nf, wait_ms) < 0 && errno != EINTR)
			break;
		for (k = 0; k < nf; k++) {
			char buf[8192];
			ssize_t got;

			if (pf[k].revents == 0)
				continue;
			if (pf[k].fd == in[1]) {
				got = write(in[1], input + in_off, in_len - in_off);
				if (got > 0)
					in_off += (size_t)got;
				if ((got < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
					close(in[1]);
					in[1] = -1;
				}
				continue;
			}
			got = read(pf[k].fd, buf, sizeof(buf));
			if (got > 0) {
				htbuf_append(pf[k].fd == out[0] ? &hb_out : &hb_err, buf, (size_t)got);
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				if (pf[k].fd == out[0]) {
					close(out[0]);
					out[0] = -1;
				} else {
					close(er[0]);
					er[0] = -1;
				}
				open_fds--;
			}
		}
	}
	/* the hook closed its output: wait for it within the same deadline */
	while (!killed) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if ((anum_mono_s() * 1000.0) >= deadline || agent_stop_now(r)) {
			p->timed_out = (anum_mono_s() * 1000.0) >= deadline;
			kill(-pid, SIGKILL);
			killed = 1;
			break;
		}
		usleep(10000);
	}
	if (killed) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	p->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) :
	    WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
done:
	if (pid > 0 && !killed)
		kill(-pid, SIGKILL);	/* whatever it left running in its group */
	if (in[0] >= 0) close(in[0]);
	if (in[1] >= 0) close(in[1]);
	if (out[0] >= 0) close(out[0]);
	if (out[1] >= 0) close(out[1]);
	if (er[0] >= 0) close(er[0]);
	if (er[1] >= 0) close(er[1]);
	aspawn_env_free(env);
	p->out = htbuf_render(&hb_out, NULL);
	p->errout = htbuf_render(&hb_err, NULL);
	htbuf_free(&hb_out);
	htbuf_free(&hb_err);
	p->ms = (anum_mono_s() * 1000.0) - t0;
}

/* ------------------------------------------------------------------ */
/* one event                                                          */

static void
set_text(char **dst, const char *s)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	free(*dst);
	*dst = strndup(s, n > HOOK_REASON_CAP ? HOOK_REASON_CAP : n);
}

static void
add_context(struct hook_result *h, const char *s)
{
	size_t n, old;
	char *j;

	if (s == NULL || s[0] == '\0')
		return;
	n = strlen(s);
	if (n > HOOK_REASON_CAP)
		n = HOOK_REASON_CAP;
	old = h->context ? strlen(h->context) : 0;
	if (old > 4 * HOOK_REASON_CAP)
		return;
	j = realloc(h->context, old + n + 2);
	if (j == NULL)
		return;
	if (old)
		j[old++] = '\n';
	memcpy(j + old, s, n);
	j[old + n] = '\0';
	h->context = j;
}

static const char *
trimmed(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

/* Read one hook's output into the event's result; returns its outcome word. */
static const char *
take_output(const char *event, const struct hook_proc *p, struct hook_result *h)
{
	json_t *o = NULL, *hso;
	const char *s, *decision;
	int plain_context = strcmp(event, "SessionStart") == 0 ||
	    strcmp(event, "UserPromptSubmit") == 0;

	if (p->exit_code == 2) {
		h->blocked = 1;
		set_text(&h->reason, trimmed(p->errout)[0] ? trimmed(p->errout) :
		    "blocked by a hook (it gave no reason)");
		return "blocked";
	}
	if (p->exit_code != 0)
		return p->timed_out ? "timed out" : "error";
	s = trimmed(p->out);
	if (s[0] == '{')
		o = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		if (plain_context)
			add_context(h, s);
		return "ok";
	}
	if (json_is_false(json_object_get(o, "continue"))) {
		h->stop = 1;
		set_text(&h->stop_reason, ajson_str(o, "stopReason", "stopped by a hook"));
	}
	decision = ajson_str(o, "decision", NULL);
	if (decision != NULL && strcmp(decision, "block") == 0) {
		h->blocked = 1;
		set_text(&h->reason, ajson_str(o, "reason", "blocked by a hook"));
	}
	hso = json_object_get(o, "hookSpecificOutput");
	if (json_is_object(hso)) {
		const char *pd = ajson_str(hso, "permissionDecision", NULL);
		json_t *ui = json_object_get(hso, "updatedInput");

		add_context(h, ajson_str(hso, "additionalContext", NULL));
		if (pd != NULL && strcmp(event, "PreToolUse") == 0) {
			/* the strictest answer of all the hooks wins */
			int rank = strcmp(pd, "deny") == 0 ? 3 : strcmp(pd, "ask") == 0 ? 2 :
			    strcmp(pd, "allow") == 0 ? 1 : 0;
			int have = h->decision == NULL ? 0 : strcmp(h->decision, "deny") == 0 ? 3 :
			    strcmp(h->decision, "ask") == 0 ? 2 : 1;

			if (rank > have) {
				h->decision = rank == 3 ? "deny" : rank == 2 ? "ask" : "allow";
				set_text(&h->reason, ajson_str(hso, "permissionDecisionReason",
				    rank == 3 ? "denied by a hook" : NULL));
			}
		}
		if (json_is_object(ui) && strcmp(event, "PreToolUse") == 0) {
			json_decref(h->updated_input);
			h->updated_input = json_deep_copy(ui);
		}
	}
	json_decref(o);
	if (h->stop)
		return "stopped";
	if (h->blocked || (h->decision && strcmp(h->decision, "deny") == 0))
		return "blocked";
	return "ok";
}

void
hook_result_free(struct hook_result *h)
{
	if (h == NULL)
		return;
	free(h->reason);
	free(h->context);
	free(h->stop_reason);
	json_decref(h->updated_input);
	memset(h, 0, sizeof(*h));
}

int
hooks_fire(struct arun *r, const char *event, const char *subject, json_t *fields,
    struct hook_result *h, struct agentd_error *err)
{
	json_t *list = json_object_get(r->cfg->hooks, event), *e, *input = NULL;
	const char *transcript = NULL;
	char *in_text = NULL;
	size_t i, j;
	int rc = AGENTD_OK, prepared = 0;

	memset(h, 0, sizeof(*h));
	if (!json_is_array(list) || json_array_size(list) == 0) {
		json_decref(fields);
		return AGENTD_OK;
	}
	json_array_foreach(list, i, e) {
		json_t *cmds = json_object_get(e, "hooks");
		size_t ncmd = json_is_array(cmds) ? json_array_size(cmds) : 1;

		if (!matches(e, subject))
			continue;
		if (!prepared) {
			prepared = 1;
			transcript = transcript_sync(r);
			input = fields ? fields : json_object();
			fields = NULL;
			if (input == NULL)
				return agentd_seterr(err, AGENTD_ENOMEM, NULL);
			json_object_set_new(input, "session_id", json_sprintf("%lld",
			    (long long)r->session_id));
			json_object_set_new(input, "run_id", json_integer(r->run_id));
			if (transcript != NULL)
				json_object_set_new(input, "transcript_path", json_string(transcript));
			json_object_set_new(input, "cwd", json_string(r->workspace ? r->workspace : ""));
			json_object_set_new(input, "hook_event_name", json_string(event));
			in_text = json_dumps(input, JSON_COMPACT);
			if (in_text == NULL) {
				json_decref(input);
				return agentd_seterr(err, AGENTD_ENOMEM, NULL);
			}
		}
		for (j = 0; j < ncmd && rc == AGENTD_OK; j++) {
			json_t *one = json_is_array(cmds) ? json_array_get(cmds, j) : e;
			const char *cmd = ajson_str(one, "command", "");
			json_int_t to = ajson_int(one, json_is_array(cmds) ? "timeout" : "timeout_s",
			    HOOK_DEFAULT_TIMEOUT_S);
			struct hook_proc p;
			const char *outcome;
			size_t el;

			hook_spawn(r, cmd, in_text, (int)(to > 0 && to <= HOOK_MAX_TIMEOUT_S ? to :
			    HOOK_DEFAULT_TIMEOUT_S), &p);
			outcome = take_output(event, &p, h);
			el = strlen(p.errout);
			rc = agent_emit(r, "hook", json_pack("{s:s, s:s?, s:s, s:i, s:b, s:I, s:s, s:s%}",
			    "event", event, "subject", subject, "command", cmd, "exit_code",
			    p.exit_code, "timed_out", p.timed_out, "ms", (json_int_t)p.ms, "outcome",
			    outcome, "stderr", p.errout, el > 1024 ? (size_t)1024 : el), EMIT_BOTH, err);
			free(p.out);
			free(p.errout);
		}
		if (rc != AGENTD_OK || h->stop || h->blocked)
			break;
	}
	free(in_text);
	json_decref(input);
	json_decref(fields);
	return rc;
}
