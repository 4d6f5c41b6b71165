/*
 * mcp_probe.c — a small MCP client over tools/mcp.c for the tests: connects
 * to one server (a url, or a command after --), settles the protocol, lists
 * the tools and calls one; prints what it saw; exits 0 on success, 1 on
 * failure, 2 on bad usage. The conformance suite runs it with the server's
 * url appended (tests/mcp-conformance/client.sh).
 *
 *   mcp_probe [--call TOOL] [--args JSON] [--bearer-env VAR] [--timeout S] URL
 *   mcp_probe [options] -- COMMAND [ARG...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "tools/mcp.h"

static int
usage(void)
{
	fprintf(stderr, "usage: mcp_probe [--call TOOL] [--args JSON] [--bearer-env VAR] "
	    "[--timeout S] (URL | -- COMMAND [ARG...])\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *call = NULL, *args = "{}", *bearer = NULL;
	double timeout = 20;
	struct agentd_error err;
	struct mcp_client *c = NULL;
	json_t *cfg, *tools = NULL, *a;
	char *text = NULL;
	int i, is_err = 0, rc = 1;
	size_t k;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--call") == 0)
			call = argv[i + 1];
		else if (strcmp(argv[i], "--args") == 0)
			args = argv[i + 1];
		else if (strcmp(argv[i], "--bearer-env") == 0)
			bearer = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = atof(argv[i + 1]);
		else
			return usage();
	}
	if (i >= argc || timeout <= 0)
		return usage();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cfg = json_pack("{s:f,s:f}", "startup_timeout_s", timeout, "tool_timeout_s", timeout);
	if (strcmp(argv[i], "--") == 0) {
		json_t *av = json_array();

		if (++i >= argc)
			return usage();
		json_object_set_new(cfg, "command", json_string(argv[i]));
		for (i++; i < argc; i++)
			json_array_append_new(av, json_string(argv[i]));
		json_object_set_new(cfg, "args", av);
	} else {
		json_object_set_new(cfg, "url", json_string(argv[i]));
	}
	if (bearer)
		json_object_set_new(cfg, "bearer_token_env", json_string(bearer));
	agentd_error_clear(&err);
	if (mcp_client_start("probe", cfg, 2, &c, &err) != AGENTD_OK) {
		fprintf(stderr, "mcp_probe: %s\n", agentd_errmsg(&err));
		goto out;
	}
	printf("protocol %s\n", mcp_client_protocol(c));
	if (mcp_client_list_tools(c, &tools, &err) != AGENTD_OK) {
		fprintf(stderr, "mcp_probe: %s\n", agentd_errmsg(&err));
		goto out;
	}
	for (k = 0; k < json_array_size(tools); k++)
		printf("tool %s\n", json_string_value(json_object_get(json_array_get(tools, k), "name")));
	if (call) {
		if ((a = json_loads(args, 0, NULL)) == NULL) {
			fprintf(stderr, "mcp_probe: --args is not JSON\n");
			goto out;
		}
		if (mcp_client_call(c, call, a, 4096, &text, &is_err, &err) != AGENTD_OK) {
			fprintf(stderr, "mcp_probe: %s\n", agentd_errmsg(&err));
			json_decref(a);
			goto out;
		}
		json_decref(a);
		printf("%s %s\n", is_err ? "error" : "result", text);
		free(text);
		if (is_err)
			goto out;
	}
	rc = 0;
out:
	json_decref(tools);
	mcp_client_free(c);
	json_decref(cfg);
	curl_global_cleanup();
	return rc;
}
