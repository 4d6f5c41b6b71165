/*
 * test_mcp.c — the MCP client's configuration checks and tool naming.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
