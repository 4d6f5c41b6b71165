# tools/: the tool registry, workspace-confined file tools, libgit2 git tools, shell.
noinst_LIBRARIES += libtools.a
libtools_a_SOURCES = tools/tools.h tools/registry.c tools/schema.c tools/path.c \
	tools/file_tools.c tools/git_tools.c tools/shell_tool.c tools/internal.h \
	tools/mcp.h tools/mcp.c tools/mcp_internal.h tools/mcp_http.c tools/mcp_servers.c
libtools_a_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS) $(CURL_CFLAGS)
TOOLS_LIBS = libtools.a $(SANDBOX_LIBS) $(LIBGIT2_LIBS) $(JANSSON_LIBS) $(CURL_LIBS)

check_PROGRAMS += tests/unit/test_tools tests/unit/test_git
tests_unit_test_tools_SOURCES = tests/unit/test_tools.c tests/unit/helpers.h
tests_unit_test_tools_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tools_LDADD = $(TOOLS_LIBS) $(CMOCKA_LIBS)
tests_unit_test_git_SOURCES = tests/unit/test_git.c tests/unit/helpers.h
tests_unit_test_git_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBGIT2_CFLAGS)
tests_unit_test_git_LDADD = $(TOOLS_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_tools tests/unit/test_git

check_PROGRAMS += tests/unit/test_mcp
tests_unit_test_mcp_SOURCES = tests/unit/test_mcp.c
tests_unit_test_mcp_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_mcp_CPPFLAGS = $(AM_CPPFLAGS) -DTEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_mcp_LDADD = $(TOOLS_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_mcp
check_PROGRAMS += tests/unit/test_mcp_spawn
tests_unit_test_mcp_spawn_SOURCES = tests/unit/test_mcp_spawn.c
tests_unit_test_mcp_spawn_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_mcp_spawn_CPPFLAGS = $(AM_CPPFLAGS) -DTEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_mcp_spawn_LDADD = $(TOOLS_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_mcp_spawn
EXTRA_DIST += tests/mcp/fake_server.py tests/mcp/fake_http_server.py tests/mcp/fault_server.py \
	tests/mcp/package.json tests/mcp/package-lock.json

# The official MCP conformance suite against the client, through a small
# client program it runs (tests/mcp-conformance/run.sh skips when npm ci in
# tests/mcp-conformance has not run).
check_PROGRAMS += tests/mcp/mcp_probe
tests_mcp_mcp_probe_SOURCES = tests/mcp/mcp_probe.c
tests_mcp_mcp_probe_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
tests_mcp_mcp_probe_LDADD = $(TOOLS_LIBS)
TESTS += tests/mcp-conformance/run.sh
EXTRA_DIST += tests/mcp-conformance/run.sh tests/mcp-conformance/client.sh \
	tests/mcp-conformance/package.json tests/mcp-conformance/package-lock.json
