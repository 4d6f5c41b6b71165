/*
 * test_mcp.c — the MCP client's configuration checks, tool naming, and the
 * stdio client against a scripted server (tests/mcp/fake_server.py).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "tools/mcp.h"

static int
check(const char *text, struct agentd_error *err)
{
	json_t *v = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(v);
	agentd_error_clear(err);
	rc = mcp_config_check(v, err);
	json_decref(v);
	return rc;
}

static void
test_config(void **state)
{
	struct agentd_error err;

	(void)state;
	assert_int_equal(check("{\"everything\":{\"command\":\"npx\",\"args\":[\"a\"],"
	    "\"env\":{\"A\":\"b\"},\"startup_timeout_s\":10,\"tool_timeout_s\":60,\"enabled\":true,"
	    "\"enabled_tools\":[\"echo\"],\"disabled_tools\":[]}}", &err), AGENTD_OK);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"bogus\":1}}", &err), AGENTD_EINVAL);
	assert_non_null(strstr(agentd_errmsg(&err), "mcp_servers.s.bogus"));
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"args\":[1]}}", &err), AGENTD_EINVAL);
	assert_non_null(strstr(agentd_errmsg(&err), "mcp_servers.s.args"));
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"env\":{\"A\":1}}}", &err), AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"tool_timeout_s\":-1}}", &err), AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{}}", &err), AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"url\":\"http://127.0.0.1/\"}}", &err),
	    AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{\"url\":\"http://127.0.0.1/\",\"bearer_token_env\":\"T\","
	    "\"network\":true,\"approve\":\"always\"}}", &err), AGENTD_OK);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"approve\":\"sometimes\"}}", &err),
	    AGENTD_EINVAL);
	assert_int_equal(check("[]", &err), AGENTD_EINVAL);
}

static void
test_names(void **state)
{
	char a[MCP_NAME_MAX + 1], b[MCP_NAME_MAX + 1];
	char longt[200];

	(void)state;
	mcp_tool_name("everything", "echo", a);
	assert_string_equal(a, "mcp__everything__echo");
	mcp_tool_name("my.server", "get/thing é", a);
	assert_string_equal(a, "mcp__my_server__get_thing___");	/* per byte */
	memset(longt, 'x', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	mcp_tool_name("s", longt, a);
	assert_int_equal(strlen(a), MCP_NAME_MAX);
	mcp_tool_name("s", longt, b);
	assert_string_equal(a, b);		/* stable */
	longt[150] = 'y';			/* same prefix, other tool: other name */
	mcp_tool_name("s", longt, b);
	assert_int_equal(strlen(b), MCP_NAME_MAX);
	assert_string_not_equal(a, b);
}

static int
start(const char *mode, const char *extra, struct mcp_client **c, struct agentd_error *err)
{
	char text[1024];
	json_t *cfg;
	int rc;

	/* Only the hanging server is meant to time out: the others get a start-up
	 * time that a loaded machine (a python start under a parallel build) meets. */
	snprintf(text, sizeof(text), "{\"command\":\"python3\",\"args\":[\"%s/tests/mcp/fake_server.py\","
	    "\"%s\"],\"startup_timeout_s\":%d%s}", TEST_SRCDIR, mode,
	    strcmp(mode, "hang") == 0 ? 1 : 60, extra);
	cfg = json_loads(text, 0, NULL);
	assert_non_null(cfg);
	agentd_error_clear(err);
	rc = mcp_client_start("fake", cfg, -1, c, err);
	json_decref(cfg);
	return rc;
}

static void
test_client(void **state)
{
	struct agentd_error err;
	struct mcp_client *c = NULL;
	json_t *tools = NULL, *args;
	char *text = NULL;
	int is_err = -1;

	(void)state;
	assert_int_equal(start("ok", "", &c, &err), AGENTD_OK);
	assert_int_equal(mcp_client_list_tools(c, &tools, &err), AGENTD_OK);
	assert_int_equal(json_array_size(tools), 3);	/* two pages */
	json_decref(tools);
	args = json_pack("{s:s}", "message", "hi");
	assert_int_equal(mcp_client_call(c, "echo", args, 100, &text, &is_err, &err), AGENTD_OK);
	assert_string_equal(text, "hi");
	assert_int_equal(is_err, 0);
	free(text);
	assert_int_equal(mcp_client_call(c, "fail", args, 100, &text, &is_err, &err), AGENTD_OK);
	assert_string_equal(text, "nope");
	assert_int_equal(is_err, 1);
	free(text);
	assert_int_equal(mcp_client_call(c, "pic", args, 100, &text, &is_err, &err), AGENTD_OK);
	assert_string_equal(text, "[image: image/png, 3 bytes]");
	free(text);
	json_decref(args);
	mcp_client_free(c);

	c = NULL;
	assert_int_equal(start("ok", ",\"disabled_tools\":[\"fail\"]", &c, &err), AGENTD_OK);
	assert_int_equal(mcp_client_list_tools(c, &tools, &err), AGENTD_OK);
	assert_int_equal(json_array_size(tools), 2);
	json_decref(tools);
	mcp_client_free(c);

	c = NULL;
	assert_int_equal(start("hang", "", &c, &err), AGENTD_ETIMEOUT);
	assert_null(c);
	assert_int_equal(start("garbage", "", &c, &err), AGENTD_EPROTO);
	assert_non_null(strstr(agentd_errmsg(&err), "not JSON"));
	assert_int_equal(start("badversion", "", &c, &err), AGENTD_EPROTO);
	assert_non_null(strstr(agentd_errmsg(&err), "1999-01-01"));
	mcp_client_free(NULL);
}

static void
test_no_command(void **state)
{
	struct agentd_error err;
	struct mcp_client *c = NULL;
	json_t *cfg = json_pack("{s:s}", "command", "/nonexistent/mcp-server");

	(void)state;
	agentd_error_clear(&err);
	assert_int_not_equal(mcp_client_start("x", cfg, -1, &c, &err), AGENTD_OK);
	assert_null(c);
	json_decref(cfg);
	cfg = json_pack("{s:s}", "url", "http://127.0.0.1:1/mcp");
	assert_int_equal(mcp_client_start("x", cfg, -1, &c, &err), AGENTD_ENOTIMPL);
	json_decref(cfg);
}

/* The reference server, installed by test.sh (npm ci in tests/mcp). */
static void
test_everything(void **state)
{
	char bin[1024];
	struct agentd_error err;
	struct mcp_client *c = NULL;
	json_t *cfg, *tools = NULL, *args;
	char *text = NULL;
	int is_err = -1;
	size_t i;
	int found = 0;

	(void)state;
	snprintf(bin, sizeof(bin), "%s/tests/mcp/node_modules/.bin/mcp-server-everything", TEST_SRCDIR);
	if (access(bin, X_OK) != 0) {
		print_message("skipped: %s is missing (test.sh runs npm ci in tests/mcp)\n", bin);
		skip();
	}
	cfg = json_pack("{s:s,s:[s],s:i}", "command", bin, "args", "stdio", "startup_timeout_s", 30);
	agentd_error_clear(&err);
	assert_int_equal(mcp_client_start("everything", cfg, -1, &c, &err), AGENTD_OK);
	assert_int_equal(mcp_client_list_tools(c, &tools, &err), AGENTD_OK);
	for (i = 0; i < json_array_size(tools); i++)
		found |= strcmp(json_string_value(json_object_get(json_array_get(tools, i), "name")),
		    "echo") == 0;
	assert_true(found);
	json_decref(tools);
	args = json_pack("{s:s}", "message", "hi");
	assert_int_equal(mcp_client_call(c, "echo", args, 1000, &text, &is_err, &err), AGENTD_OK);
	assert_non_null(strstr(text, "hi"));
	assert_int_equal(is_err, 0);
	free(text);
	json_decref(args);
	mcp_client_free(c);
	json_decref(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_no_command),
		cmocka_unit_test(test_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
