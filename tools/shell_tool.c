/*
 * shell_tool.c — the `shell` tool: /bin/sh -c COMMAND through sandbox_run
 * under ctx->sandbox. `network` in the arguments is only a request the loop
 * has already weighed; the tool itself uses ctx->sandbox.network.
 */
#include "tools/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"

#define SHELL_MAX_TIMEOUT_S	3600

int
tool_shell(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct sandbox_opts o = ctx->sandbox;
	struct sandbox_result r;
	const char *command = ajson_str(args, "command", "");
	size_t wlen = 0, cap = tools_cap(ctx), n;
	const char *workdir = tpath_arg(args, "workdir", &wlen);
	json_int_t timeout_s = ajson_int(args, "timeout_s", 0);
	char *rel = NULL, *text, *cut;
	char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
	struct abuf out;
	json_t *res;
	int rc;

	agentd_error_clear(&e);
	if (memchr(command, '\0', json_string_length(json_object_get(args, "command"))) != NULL) {
		*result = tools_failf("refused: the command contains a NUL byte");
		return *result ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	o.workspace = ctx->workspace;
	if (workdir != NULL) {
		int fd;
		struct stat st;

		rc = tpath_clean(ctx->workspace, workdir, wlen, &rel, &e);
		if (rc == AGENTD_OK)
			rc = tpath_open(ctx->workspace, rel, O_PATH | O_DIRECTORY, 0, &fd, workdir, &e);
		if (rc == AGENTD_OK) {
			if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
				rc = agentd_seterr(&e, AGENTD_EINVAL,
				    "workdir '%.300s' is not a folder", workdir);
			close(fd);
		}
		if (rc != AGENTD_OK) {
			free(rel);
			*result = tools_fail(&e);
			return *result ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		o.workdir = rel;
	}
	if (timeout_s > 0)
		o.timeout_ms = (unsigned)(timeout_s > SHELL_MAX_TIMEOUT_S ? SHELL_MAX_TIMEOUT_S :
		    timeout_s) * 1000u;
	if (o.cancelled == NULL) {
		o.cancelled = ctx->cancelled;
		o.cancel_ud = ctx->cancel_ud;
	}
	if (o.output_cap == 0 || o.output_cap > cap)
		o.output_cap = cap;
	memset(&r, 0, sizeof(r));
	rc = sandbox_run(&o, argv, &r, &e);
	free(rel);
	if (rc == AGENTD_ENOMEM)
		return agentd_seterr(err, rc, NULL);
	if (rc != AGENTD_OK) {
		/* The sandbox could not start the command: tell the model why. */
		struct agentd_error e2;

		agentd_seterr(&e2, rc, "the command could not be started: %s", agentd_errmsg(&e));
		*result = tools_fail(&e2);
		return *result ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if (r.cancelled) {
		sandbox_result_free(&r);
		return agentd_seterr(err, AGENTD_ECANCELLED, "the command was cancelled");
	}
	abuf_init(&out, (cap > 1024 ? cap : 1024) * 3);
	if (r.out_len > 0) {
		abuf_append(&out, r.out, r.out_len);
		if (r.out[r.out_len - 1] != '\n')
			abuf_puts(&out, "\n");
	}
	if (r.err_len > 0) {
		abuf_puts(&out, "[stderr]\n");
		abuf_append(&out, r.err, r.err_len);
		if (r.err[r.err_len - 1] != '\n')
			abuf_puts(&out, "\n");
	}
	if (r.timed_out)
		abuf_printf(&out, "[timed out after %u s and was killed]\n", o.timeout_ms / 1000u);
	else if (r.term_signal)
		abuf_printf(&out, "[killed by signal %d]\n", r.term_signal);
	else
		abuf_printf(&out, "[exit code %d]\n", r.exit_code);
	text = out.data ? out.data : (char *)"";
	n = out.len;
	cut = buf_cut_middle(text, n, cap, &n);
	res = json_object();
	if (res != NULL && cut != NULL) {
		json_object_set_new(res, "ok", json_boolean(r.exit_code == 0 && !r.timed_out &&
		    !r.term_signal));
		json_object_set_new(res, "output", ajson_string_lossy(cut, n));
		ajson_set_int(res, "exit_code", r.exit_code);
		json_object_set_new(res, "stdout", ajson_string_lossy(r.out ? r.out : "", r.out_len));
		json_object_set_new(res, "stderr", ajson_string_lossy(r.err ? r.err : "", r.err_len));
		ajson_set_bool(res, "timed_out", r.timed_out);
		ajson_set_int(res, "signal", r.term_signal);
		if (r.out_dropped || r.err_dropped)
			ajson_set_int(res, "omitted_bytes", (json_int_t)(r.out_dropped + r.err_dropped));
	} else {
		json_decref(res);
		res = NULL;
	}
	free(cut);
	abuf_free(&out);
	sandbox_result_free(&r);
	*result = res;
	return res ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}
