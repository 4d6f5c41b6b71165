/*
 * test_tools.c — the tool registry, argument validation, the file tools and
 * their confinement (a table of escape paths tried for reads and writes,
 * each shown to work with a plain open() first), the shell tool and the
 * agent-side entries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/helpers.h"
#include "tools/tools.h"
#include "tools/internal.h"

extern int tpath_no_openat2;

static char base[PATH_MAX];	/* /tmp/agentd-tools-XXXXXX (resolved) */
static char ws[PATH_MAX + 8];	/* base/ws */
static char outside[PATH_MAX + 8];	/* base/out */
static struct tool_ctx ctx;

static char *
slurp(const char *dir, const char *rel)
{
	char p[PATH_MAX * 2];
	static char buf[1 << 16];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "r");
	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Run a tool with JSON text args; returns the tools_call code. */
static int
call(const char *name, const char *json, json_t **res, struct agentd_error *err)
{
	json_t *args = json_loads(json, JSON_ALLOW_NUL, NULL);
	int rc;

	assert_non_null(args);
	*res = NULL;
	rc = tools_call(&ctx, name, args, res, err);
	json_decref(args);
	return rc;
}

static int
ok_of(json_t *r)
{
	return json_is_true(json_object_get(r, "ok"));
}

static const char *
out_of(json_t *r)
{
	return json_string_value(json_object_get(r, "output"));
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/agentd-tools-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, base));
	snprintf(ws, sizeof(ws), "%s/ws", base);
	snprintf(outside, sizeof(outside), "%s/out", base);
	assert_int_equal(mkdir(ws, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	put(outside, "secret", "TOP SECRET\n");
	tools_ctx_init(&ctx, ws);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX * 2];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- registry and validation ---- */

static void
test_registry(void **state)
{
	static const char *names[] = { "read_file", "write_file", "edit_file", "list_dir", "grep",
		"git_status", "git_diff", "git_log", "git_show", "git_add", "git_commit",
		"git_branch", "git_checkout", "git_restore", "shell", "update_plan", "recall" };
	static const char *ro[] = { "read_file", "list_dir", "grep", "git_status", "git_diff",
		"git_log", "git_show", "recall", "update_plan" };
	json_t *list = tools_list_json(), *oa = tools_openai_json();
	size_t i, n = sizeof(names) / sizeof(names[0]);
	const struct tool_entry *t;

	assert_non_null(list);
	assert_non_null(oa);
	assert_int_equal(json_array_size(list), n);
	assert_int_equal(json_array_size(oa), n);
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);

		assert_string_equal(json_string_value(json_object_get(e, "name")), names[i]);
		assert_true(json_is_object(json_object_get(e, "parameters")));
		assert_true(strlen(json_string_value(json_object_get(e, "description"))) > 20);
		assert_string_equal(json_string_value(json_object_get(json_object_get(
		    json_array_get(oa, i), "function"), "name")), names[i]);
		assert_string_equal(json_string_value(json_object_get(json_array_get(oa, i),
		    "type")), "function");
	}
	for (i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		assert_true(tools_find(ro[i])->flags & TOOL_READ_ONLY);
	assert_false(tools_find("shell")->flags & TOOL_READ_ONLY);
	assert_false(tools_find("write_file")->flags & TOOL_READ_ONLY);
	assert_false(tools_find("git_commit")->flags & TOOL_READ_ONLY);
	assert_true(tools_find("update_plan")->flags & TOOL_AGENT);
	assert_true(tools_find("recall")->flags & TOOL_AGENT);
	assert_true(tools_find("git_add")->flags & TOOL_GIT);
	assert_null(tools_find("nope"));
	for (t = tools_table(), i = 0; t->name; t++, i++)
		;
	assert_int_equal(i, n);
	json_decref(list);
	json_decref(oa);
}

static void
test_unknown_tool(void **state)
{
	struct agentd_error err;
	json_t *r;

	assert_int_equal(call("rm_rf", "{}", &r, &err), AGENTD_ENOTFOUND);
	assert_null(r);
	assert_non_null(strstr(err.msg, "read_file"));
}

static void
expect_invalid(const char *tool, const char *args, const char *needle)
{
	struct agentd_error err;
	json_t *r;

	agentd_error_clear(&err);
	assert_int_equal(call(tool, args, &r, &err), AGENTD_EINVAL);
	assert_null(r);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void
test_validation(void **state)
{
	expect_invalid("read_file", "{}", "missing required argument 'path'");
	expect_invalid("read_file", "{\"path\":42}", "argument 'path': expected type string, got an integer");
	expect_invalid("read_file", "{\"path\":\"a\",\"offset\":0}", "'offset': 0 is too small; the minimum is 1");
	expect_invalid("read_file", "{\"path\":\"a\",\"limit\":1e9}", "'limit'");
	expect_invalid("read_file", "{\"path\":\"a\",\"colour\":1}", "unknown argument 'colour'; the allowed arguments are: path, offset, limit");
	expect_invalid("read_file", "{\"path\":\"\"}", "argument 'path': the string is empty");
	expect_invalid("update_plan", "{\"steps\":[{\"step\":\"a\",\"status\":\"done\"}]}",
	    "argument 'steps[0].status': \"done\" is not allowed; use one of [\"pending\",\"in_progress\",\"completed\"]");
	expect_invalid("update_plan", "{\"steps\":[{\"step\":\"a\",\"status\":\"pending\"},{\"status\":\"pending\"}]}",
	    "missing required argument 'steps[1].step'");
	expect_invalid("update_plan", "{\"steps\":\"do it\"}", "'steps': expected type array, got a string");
	expect_invalid("git_add", "{\"paths\":[]}", "'paths': the list has 0 items; it needs at least 1");
	expect_invalid("shell", "{\"command\":\"true\",\"timeout_s\":99999}", "the maximum is 3600");
}

static void
test_validate_direct(void **state)
{
	struct agentd_error err;
	json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"x\":{\"type\":[\"string\",\"null\"]},"
	    "\"n\":{\"type\":\"integer\",\"maximum\":5},\"s\":{\"type\":\"string\",\"minLength\":2}},"
	    "\"additionalProperties\":false}", 0, NULL);
	json_t *a;

	assert_non_null(schema);
	a = json_loads("{\"x\":null,\"n\":5,\"s\":\"ab\"}", 0, NULL);
	assert_int_equal(tools_validate(schema, a, &err), AGENTD_OK);
	json_decref(a);
	a = json_loads("{\"x\":1}", 0, NULL);
	assert_int_equal(tools_validate(schema, a, &err), AGENTD_EINVAL);
	assert_non_null(strstr(err.msg, "expected one of the types string or null, got an integer"));
	json_decref(a);
	a = json_loads("{\"n\":6}", 0, NULL);
	assert_int_equal(tools_validate(schema, a, &err), AGENTD_EINVAL);
	assert_non_null(strstr(err.msg, "'n': 6 is too large; the maximum is 5"));
	json_decref(a);
	a = json_loads("{\"s\":\"a\"}", 0, NULL);
	assert_int_equal(tools_validate(schema, a, &err), AGENTD_EINVAL);
	assert_non_null(strstr(err.msg, "at least 2 characters"));
	json_decref(a);
	a = json_loads("[1]", 0, NULL);
	assert_int_equal(tools_validate(schema, a, &err), AGENTD_EINVAL);
	assert_non_null(strstr(err.msg, "arguments must be a JSON object"));
	json_decref(a);
	json_decref(schema);
}

/* ---- file tools ---- */

static void
test_read_file(void **state)
{
	struct agentd_error err;
	json_t *r;

	put(ws, "hello.txt", "alpha\nbeta\ngamma\n");
	assert_int_equal(call("read_file", "{\"path\":\"hello.txt\"}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_string_equal(out_of(r), "     1\talpha\n     2\tbeta\n     3\tgamma\n");
	assert_int_equal(json_integer_value(json_object_get(r, "total_lines")), 3);
	json_decref(r);

	assert_int_equal(call("read_file", "{\"path\":\"hello.txt\",\"offset\":2,\"limit\":1}", &r, &err),
	    AGENTD_OK);
	assert_true(ok_of(r));
	assert_non_null(strstr(out_of(r), "     2\tbeta\n"));
	assert_null(strstr(out_of(r), "alpha"));
	assert_non_null(strstr(out_of(r), "continue with offset 3"));
	assert_int_equal(json_integer_value(json_object_get(r, "next_offset")), 3);
	json_decref(r);

	assert_int_equal(call("read_file", "{\"path\":\"hello.txt\",\"offset\":9}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "past the end"));
	json_decref(r);

	/* An absolute path inside the workspace is fine. */
	{
		char args[PATH_MAX * 2];

		snprintf(args, sizeof(args), "{\"path\":\"%s/hello.txt\"}", ws);
		assert_int_equal(call("read_file", args, &r, &err), AGENTD_OK);
		assert_true(ok_of(r));
		json_decref(r);
	}
	assert_int_equal(call("read_file", "{\"path\":\"../x\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_string_equal(out_of(r), "refused: path '../x' is outside the workspace ('..' leads "
	    "above the workspace); use a path relative to the workspace, like 'src/main.c'");
	json_decref(r);
	assert_int_equal(call("read_file", "{\"path\":\"missing.txt\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "no such file"));
	json_decref(r);

	assert_int_equal(call("read_file", "{\"path\":\".\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "is a directory"));
	json_decref(r);
}

static void
test_read_binary_and_big(void **state)
{
	struct agentd_error err;
	json_t *r;
	char p[PATH_MAX * 2];
	int fd;

	snprintf(p, sizeof(p), "%s/bin.dat", ws);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "ab\0cd\n", 6), 6);
	close(fd);
	assert_int_equal(call("read_file", "{\"path\":\"bin.dat\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "binary"));
	json_decref(r);

	/* Invalid UTF-8 all over (no NUL). */
	{
		char junk[512];
		size_t i;

		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(0x80 + (i % 60));
		snprintf(p, sizeof(p), "%s/junk.dat", ws);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
	}
	assert_int_equal(call("read_file", "{\"path\":\"junk.dat\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "binary"));
	json_decref(r);

	/* Over the size cap (sparse). */
	snprintf(p, sizeof(p), "%s/big.txt", ws);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(ftruncate(fd, 17 * 1024 * 1024), 0);
	close(fd);
	assert_int_equal(call("read_file", "{\"path\":\"big.txt\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "MiB limit"));
	json_decref(r);
	unlink(p);
}

static void
test_output_cap(void **state)
{
	struct agentd_error err;
	json_t *r;
	char p[PATH_MAX * 2];
	FILE *f;
	int i;

	snprintf(p, sizeof(p), "%s/long.txt", ws);
	f = fopen(p, "w");
	for (i = 0; i < 3000; i++)
		fprintf(f, "line number %d of a long file\n", i);
	fclose(f);
	ctx.output_cap = 1000;
	/* read_file stops at the cap and says where to continue. */
	assert_int_equal(call("read_file", "{\"path\":\"long.txt\",\"limit\":3000}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_true(strlen(out_of(r)) <= 1000);
	assert_non_null(strstr(out_of(r), "     1\tline number 0 "));
	assert_non_null(strstr(out_of(r), "continue with offset"));
	assert_true(json_is_true(json_object_get(r, "truncated")));
	json_decref(r);
	/* Other tools are cut in the middle, keeping head and tail. */
	assert_int_equal(call("grep", "{\"pattern\":\"line number\",\"path\":\"long.txt\"}", &r, &err),
	    AGENTD_OK);
	ctx.output_cap = TOOLS_DEFAULT_OUTPUT_CAP;
	assert_true(ok_of(r));
	assert_true(strlen(out_of(r)) <= 1000 + 64);
	assert_non_null(strstr(out_of(r), "long.txt:1:line number 0 "));
	assert_non_null(strstr(out_of(r), "bytes omitted"));
	assert_non_null(strstr(out_of(r), "stopped at 200 matches"));
	json_decref(r);
}

static void
test_write_file(void **state)
{
	struct agentd_error err;
	json_t *r;
	struct stat st;
	char p[PATH_MAX * 2];

	assert_int_equal(call("write_file", "{\"path\":\"new/deep/dir/f.txt\",\"content\":\"one\\n\"}",
	    &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_true(json_is_true(json_object_get(r, "created")));
	json_decref(r);
	assert_string_equal(slurp(ws, "new/deep/dir/f.txt"), "one\n");

	/* Overwrite keeps the mode, leaves no temp file. */
	snprintf(p, sizeof(p), "%s/new/deep/dir/f.txt", ws);
	assert_int_equal(chmod(p, 0751), 0);
	assert_int_equal(call("write_file", "{\"path\":\"new/deep/dir/f.txt\",\"content\":\"two\"}",
	    &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_false(json_is_true(json_object_get(r, "created")));
	json_decref(r);
	assert_string_equal(slurp(ws, "new/deep/dir/f.txt"), "two");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751);
	sh("test -z \"$(ls -A '%s/new/deep/dir' | grep agentd-tmp)\"", ws);

	/* A symlink inside the workspace writes to its target. */
	put(ws, "target.txt", "old");
	snprintf(p, sizeof(p), "%s/alias.txt", ws);
	assert_int_equal(symlink("target.txt", p), 0);
	assert_int_equal(call("write_file", "{\"path\":\"alias.txt\",\"content\":\"via link\"}", &r, &err),
	    AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(r);
	assert_string_equal(slurp(ws, "target.txt"), "via link");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));

	/* Writing over a folder fails cleanly. */
	assert_int_equal(call("write_file", "{\"path\":\"new\",\"content\":\"x\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "directory"));
	json_decref(r);
}

static void
test_edit_file(void **state)
{
	struct agentd_error err;
	json_t *r;

	put(ws, "e.c", "int a = 1;\nint b = 1;\nint c = 2;\n");
	assert_int_equal(call("edit_file", "{\"path\":\"e.c\",\"old\":\"int c = 2;\",\"new\":\"int c = 3;\"}",
	    &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(r);
	assert_string_equal(slurp(ws, "e.c"), "int a = 1;\nint b = 1;\nint c = 3;\n");

	assert_int_equal(call("edit_file", "{\"path\":\"e.c\",\"old\":\"= 1;\",\"new\":\"= 9;\"}",
	    &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "found 2 times"));
	json_decref(r);
	assert_string_equal(slurp(ws, "e.c"), "int a = 1;\nint b = 1;\nint c = 3;\n");

	assert_int_equal(call("edit_file", "{\"path\":\"e.c\",\"old\":\"int z\",\"new\":\"x\"}",
	    &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "0 matches"));
	json_decref(r);

	assert_int_equal(call("edit_file", "{\"path\":\"e.c\",\"old\":\"= 1;\",\"new\":\"= 9;\","
	    "\"replace_all\":true}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "replacements")), 2);
	json_decref(r);
	assert_string_equal(slurp(ws, "e.c"), "int a = 9;\nint b = 9;\nint c = 3;\n");

	/* A CRLF file edited with the LF text read_file shows. */
	put(ws, "dos.txt", "first\r\nsecond\r\nthird\r\n");
	assert_int_equal(call("edit_file", "{\"path\":\"dos.txt\",\"old\":\"first\\nsecond\",\"new\":\"1\\n2\"}",
	    &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(r);
	assert_string_equal(slurp(ws, "dos.txt"), "1\r\n2\r\nthird\r\n");
}

static void
test_list_dir(void **state)
{
	struct agentd_error err;
	json_t *r;
	char p[PATH_MAX * 2];
	int i;

	sh("mkdir -p '%s/ld/b/inner' '%s/ld/.git/objects' && touch '%s/ld/c.txt' '%s/ld/a.txt' "
	    "'%s/ld/b/inner/x' '%s/ld/.git/HEAD'", ws, ws, ws, ws, ws, ws);
	assert_int_equal(call("list_dir", "{\"path\":\"ld\"}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_string_equal(out_of(r), "ld/a.txt\nld/b/\nld/c.txt\n");
	json_decref(r);
	assert_int_equal(call("list_dir", "{\"path\":\"ld\",\"depth\":3}", &r, &err), AGENTD_OK);
	assert_string_equal(out_of(r), "ld/a.txt\nld/b/\nld/b/inner/\nld/b/inner/x\nld/c.txt\n");
	json_decref(r);

	snprintf(p, sizeof(p), "%s/many", ws);
	mkdir(p, 0755);
	for (i = 0; i < 1005; i++) {
		char name[64];

		snprintf(name, sizeof(name), "many/f%04d", i);
		put(ws, name, "");
	}
	assert_int_equal(call("list_dir", "{\"path\":\"many\"}", &r, &err), AGENTD_OK);
	assert_true(json_is_true(json_object_get(r, "truncated")));
	assert_int_equal(json_integer_value(json_object_get(r, "entries")), 1000);
	json_decref(r);
	sh("rm -rf '%s/many'", ws);

	assert_int_equal(call("list_dir", "{\"path\":\"hello.txt\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	json_decref(r);
}

static void
test_grep(void **state)
{
	struct agentd_error err;
	json_t *r;
	char p[PATH_MAX * 2];
	int fd;

	sh("mkdir -p '%s/g/sub' '%s/g/.git'", ws, ws);
	put(ws, "g/a.c", "int main(void)\n{\n\treturn 0;\n}\n");
	put(ws, "g/sub/b.h", "int helper(int x);\nint main2;\n");
	put(ws, "g/.git/config", "int main in git\n");
	snprintf(p, sizeof(p), "%s/g/bin.o", ws);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, "int main\0\1\2", 11), 11);
	close(fd);
	assert_int_equal(call("grep", "{\"pattern\":\"int main[0-9]?\",\"path\":\"g\"}", &r, &err),
	    AGENTD_OK);
	assert_true(ok_of(r));
	assert_string_equal(out_of(r), "g/a.c:1:int main(void)\ng/sub/b.h:2:int main2;\n");
	json_decref(r);
	assert_int_equal(call("grep", "{\"pattern\":\"^int\",\"path\":\"g\",\"glob\":\"*.h\"}", &r, &err),
	    AGENTD_OK);
	assert_string_equal(out_of(r), "g/sub/b.h:1:int helper(int x);\ng/sub/b.h:2:int main2;\n");
	json_decref(r);
	assert_int_equal(call("grep", "{\"pattern\":\"nothing-here\",\"path\":\"g\"}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "matches")), 0);
	json_decref(r);
	assert_int_equal(call("grep", "{\"pattern\":\"(unclosed\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "invalid regular expression"));
	json_decref(r);
	assert_int_equal(call("grep", "{\"pattern\":\"SECRET\",\"path\":\"../out\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "outside the workspace"));
	json_decref(r);
}

/* ---- confinement ---- */

struct escape {
	const char *name;
	const char *path;	/* %O = outside dir, %W = workspace */
	int plain_escapes;	/* a plain open(ws/path) reaches the outside file */
	int schema_refusal;	/* refused by validation (AGENTD_EINVAL from tools_call) */
	const char *needle;	/* in the message */
};

static const struct escape escapes[] = {
	{ "dotdot", "../out/secret", 1, 0, "outside the workspace" },
	{ "dotdot-deep", "a/../../out/secret", 1, 0, "outside the workspace" },
	{ "dot-dotdot", "./../out/secret", 1, 0, "outside the workspace" },
	{ "parent-itself", "..", 0, 0, "outside the workspace" },
	{ "absolute-outside", "%O/secret", 1, 0, "outside the workspace" },
	{ "absolute-with-dotdot", "%W/../out/secret", 1, 0, "outside the workspace" },
	{ "absolute-prefix-sibling", "%W-evil/secret", 0, 0, "outside the workspace" },
	{ "etc-passwd", "/etc/passwd", 0, 0, "outside the workspace" },
	{ "symlink-to-etc", "etclink/passwd", 1, 0, "outside the workspace" },
	{ "symlink-to-file", "pwlink", 1, 0, "outside the workspace" },
	{ "symlink-chain", "chain1", 1, 0, "outside the workspace" },
	{ "symlinked-folder", "outlink/secret", 1, 0, "outside the workspace" },
	{ "relative-symlink-folder", "reloutlink/secret", 1, 0, "outside the workspace" },
	{ "symlinked-folder-new-file", "outlink/brand-new", 0, 0, "outside the workspace" },
	{ "symlinked-folder-new-subdir", "reloutlink/newdir/f", 0, 0, "outside the workspace" },
	{ "absolute-new-outside", "%O/brand-new-abs", 0, 0, "outside the workspace" },
	{ "dangling-absolute", "dangling", 0, 0, "outside the workspace" },
	{ "dangling-relative", "dangling-rel", 0, 0, "outside the workspace" },
	{ "proc-root", "/proc/self/root/etc/passwd", 1, 0, "outside the workspace" },
	{ "proc-cwd-up", "/proc/self/cwd/..", 0, 0, "outside the workspace" },
	{ "proc-fd", "/proc/self/fd/0", 0, 0, "outside the workspace" },
	{ "symlink-to-proc-root", "procroot/etc/passwd", 1, 0, "outside the workspace" },
	{ "symlink-loop", "loop1", 0, 0, "outside the workspace" },
	{ "nul-in-path", "ok.txt\\u0000../../out/secret", 0, 0, "NUL" },
	{ "very-long", "LONG", 0, 0, "too long" },
	{ "empty", "", 0, 1, "empty" },
};

static void
escape_fixture(void)
{
	char p[PATH_MAX * 2], t[PATH_MAX * 2];

#define LINK(target, name) do { \
	snprintf(p, sizeof(p), "%s/%s", ws, name); \
	unlink(p); \
	assert_int_equal(symlink(target, p), 0); \
} while (0)
	mkdir(strcat(strcpy(p, ws), "/a"), 0755);
	LINK("/etc", "etclink");
	LINK("/etc/passwd", "pwlink");
	snprintf(t, sizeof(t), "%s/secret", outside);
	LINK("chain2", "chain1");
	LINK("chain3", "chain2");
	LINK(t, "chain3");
	LINK(outside, "outlink");
	LINK("../out", "reloutlink");
	snprintf(t, sizeof(t), "%s/created-by-dangling", outside);
	LINK(t, "dangling");
	LINK("../out/created-by-dangling-rel", "dangling-rel");
	LINK("/proc/self/root", "procroot");
	LINK("loop2", "loop1");
	LINK("loop1", "loop2");
	put(ws, "ok.txt", "fine\n");
#undef LINK
}

static void
expand(const char *pat, char *out, size_t n)
{
	size_t o = 0;

	if (strcmp(pat, "LONG") == 0) {
		while (o + 3 < n && o < 6000) {
			memcpy(out + o, "ab/", 3);
			o += 3;
		}
		memcpy(out + o, "x", 2);
		return;
	}
	for (; *pat && o + 1 < n; pat++) {
		if (pat[0] == '%' && (pat[1] == 'O' || pat[1] == 'W')) {
			o += (size_t)snprintf(out + o, n - o, "%s", pat[1] == 'O' ? outside : ws);
			pat++;
		} else
			out[o++] = *pat;
	}
	out[o] = '\0';
}

static void
run_escapes(int no_openat2)
{
	char path[8192], args[12000], plain[PATH_MAX * 4];
	struct agentd_error err;
	size_t i;
	json_t *r;
	int rc, fd;

	escape_fixture();
	tpath_no_openat2 = no_openat2;
	for (i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		const struct escape *x = &escapes[i];

		expand(x->path, path, sizeof(path));
		/* The attack works without confinement. */
		if (x->plain_escapes && !no_openat2) {
			if (path[0] == '/')
				snprintf(plain, sizeof(plain), "%s", path);
			else
				snprintf(plain, sizeof(plain), "%s/%s", ws, path);
			fd = open(plain, O_RDONLY);
			if (fd < 0)
				fail_msg("%s: plain open of %s failed: %s", x->name, plain, strerror(errno));
			close(fd);
		}
		/* Read. */
		snprintf(args, sizeof(args), "{\"path\":\"%s\"}", path);
		rc = call("read_file", args, &r, &err);
		if (x->schema_refusal) {
			assert_int_equal(rc, AGENTD_EINVAL);
			assert_non_null(strstr(err.msg, x->needle));
		} else {
			assert_int_equal(rc, AGENTD_OK);
			if (ok_of(r) || strstr(out_of(r), x->needle) == NULL)
				fail_msg("%s (openat2 %s): read gave ok=%d '%s'", x->name,
				    no_openat2 ? "off" : "on", ok_of(r), out_of(r));
			assert_null(strstr(out_of(r), "TOP SECRET"));
			assert_null(strstr(out_of(r), "root:"));
			json_decref(r);
		}
		/* Write. */
		snprintf(args, sizeof(args), "{\"path\":\"%s\",\"content\":\"PWNED\"}", path);
		rc = call("write_file", args, &r, &err);
		if (x->schema_refusal)
			assert_int_equal(rc, AGENTD_EINVAL);
		else {
			assert_int_equal(rc, AGENTD_OK);
			if (ok_of(r) || strstr(out_of(r), x->needle) == NULL)
				fail_msg("%s (openat2 %s): write gave ok=%d '%s'", x->name,
				    no_openat2 ? "off" : "on", ok_of(r), out_of(r));
			json_decref(r);
		}
		/* Edit is a read and a write. */
		snprintf(args, sizeof(args), "{\"path\":\"%s\",\"old\":\"TOP\",\"new\":\"X\"}", path);
		rc = call("edit_file", args, &r, &err);
		if (rc == AGENTD_OK) {
			assert_false(ok_of(r));
			json_decref(r);
		}
		assert_string_equal(slurp(outside, "secret"), "TOP SECRET\n");
		assert_false(exists(outside, "created-by-dangling"));
		assert_false(exists(outside, "created-by-dangling-rel"));
		assert_false(exists(ws, "ok.txt/..") && 0);
	}
	tpath_no_openat2 = 0;
	/* Nothing was created outside: the outside folder holds only the secret. */
	{
		char cmd[PATH_MAX * 2];
		FILE *p;
		char got[256];
		size_t n;

		snprintf(cmd, sizeof(cmd), "ls -A '%s'", outside);
		p = popen(cmd, "r");
		n = fread(got, 1, sizeof(got) - 1, p);
		pclose(p);
		got[n] = '\0';
		assert_string_equal(got, "secret\n");
	}
	/* Nothing was written through into the workspace's parent either. */
	assert_false(exists(base, "PWNED"));
}

static void
test_escapes_openat2(void **state)
{
	run_escapes(0);
}

static void
test_escapes_walk(void **state)
{
	run_escapes(1);
}

static void
test_inside_symlinks_allowed(void **state)
{
	struct agentd_error err;
	json_t *r;
	char p[PATH_MAX * 2];

	tpath_no_openat2 = 0;
	sh("mkdir -p '%s/real/dir'", ws);
	put(ws, "real/dir/file.txt", "inside\n");
	snprintf(p, sizeof(p), "%s/dirlink", ws);
	unlink(p);
	assert_int_equal(symlink("real/dir", p), 0);
	assert_int_equal(call("read_file", "{\"path\":\"dirlink/file.txt\"}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_non_null(strstr(out_of(r), "inside"));
	json_decref(r);
	assert_int_equal(call("write_file", "{\"path\":\"dirlink/new.txt\",\"content\":\"n\"}", &r, &err),
	    AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(r);
	assert_string_equal(slurp(ws, "real/dir/new.txt"), "n");
}

static void
test_fifo_refused(void **state)
{
	struct agentd_error err;
	json_t *r;
	char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/fifo", ws);
	assert_int_equal(mkfifo(p, 0644), 0);
	/* Would block forever without O_NONBLOCK + the regular-file check. */
	assert_int_equal(call("read_file", "{\"path\":\"fifo\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "not a regular file"));
	json_decref(r);
	assert_int_equal(call("write_file", "{\"path\":\"fifo\",\"content\":\"x\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "not a regular file"));
	json_decref(r);
	unlink(p);
}

/*
 * Known limit: a hard link in the workspace to an outside file is the same
 * inode; reads see it. Writes replace the link and leave the outside file alone.
 */
static void
test_hardlink_limit(void **state)
{
	struct agentd_error err;
	json_t *r;
	char a[PATH_MAX * 2], b[PATH_MAX * 2];

	put(outside, "hard", "OUTSIDE HARD\n");
	snprintf(a, sizeof(a), "%s/hard", outside);
	snprintf(b, sizeof(b), "%s/hardlink", ws);
	assert_int_equal(link(a, b), 0);
	assert_int_equal(call("read_file", "{\"path\":\"hardlink\"}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));	/* documented limit */
	assert_non_null(strstr(out_of(r), "OUTSIDE HARD"));
	json_decref(r);
	assert_int_equal(call("write_file", "{\"path\":\"hardlink\",\"content\":\"mine\"}", &r, &err),
	    AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(r);
	assert_string_equal(slurp(outside, "hard"), "OUTSIDE HARD\n");
	assert_string_equal(slurp(ws, "hardlink"), "mine");
}

/* ---- agent entries ---- */

static int
fake_recall(void *ud, const char *query, int limit, json_t **result)
{
	*(int *)ud = limit;
	*result = json_pack("[{s:s}]", "text", query);
	return AGENTD_OK;
}

static void
test_agent_entries(void **state)
{
	struct agentd_error err;
	json_t *r;
	int seen = 0;

	assert_int_equal(call("update_plan", "{\"steps\":[{\"step\":\"read\",\"status\":\"in_progress\"}]}",
	    &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_string_equal(out_of(r), "plan recorded");
	json_decref(r);
	assert_int_equal(call("recall", "{\"query\":\"parser\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_string_equal(out_of(r), "recall is not available here");
	json_decref(r);
	ctx.recall = fake_recall;
	ctx.recall_ud = &seen;
	assert_int_equal(call("recall", "{\"query\":\"parser\",\"limit\":3}", &r, &err), AGENTD_OK);
	ctx.recall = NULL;
	assert_true(ok_of(r));
	assert_int_equal(seen, 3);
	assert_non_null(strstr(out_of(r), "parser"));
	json_decref(r);
}

/* ---- shell (needs the real sandbox) ---- */

static void
test_shell(void **state)
{
	struct agentd_error err;
	json_t *r;

	agentd_error_clear(&err);
	assert_int_equal(call("shell", "{\"command\":\"echo hello; echo oops >&2\"}", &r, &err), AGENTD_OK);
	if (!ok_of(r))
		fail_msg("shell: %s", out_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "exit_code")), 0);
	assert_string_equal(json_string_value(json_object_get(r, "stdout")), "hello\n");
	assert_string_equal(json_string_value(json_object_get(r, "stderr")), "oops\n");
	assert_non_null(strstr(out_of(r), "hello"));
	assert_non_null(strstr(out_of(r), "[exit code 0]"));
	json_decref(r);

	assert_int_equal(call("shell", "{\"command\":\"exit 3\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_int_equal(json_integer_value(json_object_get(r, "exit_code")), 3);
	json_decref(r);

	sh("mkdir -p '%s/wd'", ws);
	assert_int_equal(call("shell", "{\"command\":\"pwd\",\"workdir\":\"wd\"}", &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_non_null(strstr(json_string_value(json_object_get(r, "stdout")), "/wd"));
	json_decref(r);

	assert_int_equal(call("shell", "{\"command\":\"pwd\",\"workdir\":\"../out\"}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(out_of(r), "outside the workspace"));
	json_decref(r);

	assert_int_equal(call("shell", "{\"command\":\"sleep 30\",\"timeout_s\":1}", &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_true(json_is_true(json_object_get(r, "timed_out")));
	json_decref(r);
}

/*
 * Git directories: git runs a repository's config (core.fsmonitor, filters)
 * and hooks outside the sandbox on the next `git status`, so no file tool
 * may create, change or remove anything in one, whatever the path form.
 * Each existing target is first shown writable with a plain open().
 */
struct gitdir_case {
	const char *name;
	const char *path;	/* %W = the repository's work tree (the workspace) */
	int exists;		/* a plain open(O_WRONLY) reaches it */
};

static const struct gitdir_case gitdir_cases[] = {
	{ "plain", ".git/config", 1 },
	{ "dot-slash", "./.git/config", 1 },
	{ "through-dotdot", "src/../.git/config", 1 },
	{ "git-dotdot-git", ".git/../.git/config", 1 },
	{ "git-dot", ".git/./config", 1 },
	{ "absolute", "%W/.git/config", 1 },
	{ "existing-hook", ".git/hooks/pre-commit", 1 },
	{ "new-hook", ".git/hooks/post-checkout", 0 },
	{ "new-folder-in-git", ".git/newdir/f", 0 },
	{ "symlinked-git-folder", "gl/config", 1 },
	{ "symlinked-git-folder-new", "gl/hooks/post-merge", 0 },
	{ "absolute-symlink-to-git", "abslink/config", 1 },
	{ "symlink-to-config", "cfglink", 1 },
	{ "symlink-to-hook", "hooklink", 1 },
	{ "case-variant", ".GIT/config", 0 },
	{ "case-variant-mixed", ".Git/hooks/pre-commit", 0 },
	{ "ntfs-trailing-dot", ".git./config", 0 },
	{ "ntfs-short-name", "GIT~1/config", 0 },
	{ "new-gitfile", "src/.git", 0 },
	{ "new-nested-git-folder", "src/.git/config", 0 },
	{ "nested-repo", "nested/.git/config", 1 },
	{ "nested-repo-hook", "nested/.git/hooks/pre-commit", 0 },
	{ "gitfile-itself", "sub/.git", 1 },
	{ "gitfile-target", "realgit/config", 1 },
	{ "gitfile-target-hook", "realgit/hooks/pre-commit", 0 },
	{ "bare-repo", "bare.git/config", 1 },
	{ "worktree-gitfile", "wt/.git", 1 },
};

/* Everything in the fixture's git dirs, with sizes and modes, as one string. */
static char *
gitdir_snapshot(const char *g)
{
	return capture("cd '%s' && find .git nested/.git realgit bare.git sub/.git wt/.git "
	    "-printf '%%p %%s %%m %%y\\n' | sort && cat .git/config .git/hooks/pre-commit "
	    "nested/.git/config realgit/config bare.git/config sub/.git wt/.git", g);
}

static void
run_gitdir(int no_openat2)
{
	char g[PATH_MAX + 16], path[PATH_MAX * 2], args[PATH_MAX * 3], *before, *after;
	struct tool_ctx gctx;
	struct agentd_error err;
	json_t *args_j, *r;
	size_t i;
	int fd;

	snprintf(g, sizeof(g), "%s/g", base);
	sh("rm -rf '%s' && mkdir -p '%s/src' && cd '%s' && git init -q . && "
	    "printf '#!/bin/sh\\nexit 0\\n' > .git/hooks/pre-commit && chmod 755 .git/hooks/pre-commit && "
	    "ln -s .git gl && ln -s '%s/.git' abslink && ln -s .git/config cfglink && "
	    "ln -s .git/hooks/pre-commit hooklink && git init -q nested && "
	    "git init -q --separate-git-dir='%s/realgit' sub && git init -q --bare bare.git && "
	    "git -c user.name=t -c user.email=t@e commit -q --allow-empty -m i && "
	    "git worktree add -q wt 2>/dev/null", g, g, g, g, g);
	before = gitdir_snapshot(g);
	tools_ctx_init(&gctx, g);
	tpath_no_openat2 = no_openat2;
	for (i = 0; i < sizeof(gitdir_cases) / sizeof(gitdir_cases[0]); i++) {
		const struct gitdir_case *x = &gitdir_cases[i];
		const char *p = x->path;
		const char *tools[] = { "write_file", "edit_file" };
		size_t k;

		if (strncmp(p, "%W", 2) == 0)
			snprintf(path, sizeof(path), "%s%s", g, p + 2);
		else
			snprintf(path, sizeof(path), "%s", p);
		/* The target is reachable without the check. */
		if (x->exists) {
			char plain[PATH_MAX * 3];

			snprintf(plain, sizeof(plain), "%s/%s", g, p);
			if (path[0] == '/')
				snprintf(plain, sizeof(plain), "%s", path);
			fd = open(plain, O_WRONLY | O_APPEND);
			if (fd < 0)
				fail_msg("%s: plain open of %s failed: %s", x->name, plain, strerror(errno));
			close(fd);
		}
		for (k = 0; k < 2; k++) {
			if (k == 0)
				snprintf(args, sizeof(args), "{\"path\":\"%s\",\"content\":"
				    "\"[core]\\n\\tfsmonitor = touch /tmp/pwned\\n\"}", path);
			else
				snprintf(args, sizeof(args), "{\"path\":\"%s\",\"replace_all\":true,\"old\":\"\\n\","
				    "\"new\":\"\\n[core]\\n\\tfsmonitor = touch /tmp/pwned\\n\"}", path);
			args_j = json_loads(args, 0, NULL);
			assert_non_null(args_j);
			r = NULL;
			assert_int_equal(tools_call(&gctx, tools[k], args_j, &r, &err), AGENTD_OK);
			json_decref(args_j);
			/* An absolute symlink, and without openat2 every symlink, is
			 * refused as leading outside before the git check. */
			if (ok_of(r) || (strstr(out_of(r), "git directory") == NULL &&
			    !(k == 1 && !x->exists && strstr(out_of(r), "no such file")) &&
			    !((no_openat2 || strncmp(x->path, "abslink", 7) == 0) &&
			    strstr(out_of(r), "symlink on the way"))))
				fail_msg("%s (%s, openat2 %s): ok=%d '%s'", x->name, tools[k],
				    no_openat2 ? "off" : "on", ok_of(r), out_of(r));
			json_decref(r);
		}
	}
	tpath_no_openat2 = 0;
	after = gitdir_snapshot(g);
	assert_string_equal(after, before);
	/* Nothing named like a git dir was made by the attempts either. */
	assert_false(exists(g, ".GIT"));
	assert_false(exists(g, ".Git"));
	assert_false(exists(g, ".git."));
	assert_false(exists(g, "GIT~1"));
	assert_false(exists(g, "src/.git"));
	free(before);
	free(after);
}

static void
test_gitdir_openat2(void **state)
{
	run_gitdir(0);
}

static void
test_gitdir_walk(void **state)
{
	run_gitdir(1);
}

/*
 * What stays allowed around git dirs: reading them (the sandboxed shell reads
 * them too; reading runs nothing), ordinary files whose names start with
 * .git, and a hard link to .git/config: written as a new file (temp +
 * rename), so the config itself is untouched.
 */
static void
test_gitdir_allowed(void **state)
{
	char g[PATH_MAX + 16], *cfg;
	struct tool_ctx gctx;
	struct agentd_error err;
	json_t *args_j, *r;

	snprintf(g, sizeof(g), "%s/ga", base);
	sh("rm -rf '%s' && mkdir -p '%s' && cd '%s' && git init -q . && ln .git/config cfghard", g, g, g);
	tools_ctx_init(&gctx, g);
	cfg = capture("cat '%s/.git/config'", g);
#define CALL(tool, json) do { \
	args_j = json_loads(json, 0, NULL); \
	assert_non_null(args_j); \
	r = NULL; \
	assert_int_equal(tools_call(&gctx, tool, args_j, &r, &err), AGENTD_OK); \
	json_decref(args_j); \
} while (0)
	CALL("read_file", "{\"path\":\".git/HEAD\"}");
	assert_true(ok_of(r));
	assert_non_null(strstr(out_of(r), "ref: refs/heads/"));
	json_decref(r);
	CALL("write_file", "{\"path\":\".gitignore\",\"content\":\"b/\\n\"}");
	assert_true(ok_of(r));
	json_decref(r);
	CALL("write_file", "{\"path\":\".gitattributes\",\"content\":\"*.c text\\n\"}");
	assert_true(ok_of(r));
	json_decref(r);
	CALL("write_file", "{\"path\":\"src/.github/x.yml\",\"content\":\"x\\n\"}");
	assert_true(ok_of(r));
	json_decref(r);
	CALL("edit_file", "{\"path\":\"cfghard\",\"old\":\"[core]\",\"new\":\"[core]\\n\\tfsmonitor = x\"}");
	assert_true(ok_of(r));
	json_decref(r);
#undef CALL
	assert_non_null(strstr(slurp(g, "cfghard"), "fsmonitor"));
	assert_string_equal(slurp(g, ".git/config"), cfg);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_unknown_tool),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_validate_direct),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_read_binary_and_big),
		cmocka_unit_test(test_output_cap),
		cmocka_unit_test(test_write_file),
		cmocka_unit_test(test_edit_file),
		cmocka_unit_test(test_list_dir),
		cmocka_unit_test(test_grep),
		cmocka_unit_test(test_escapes_openat2),
		cmocka_unit_test(test_escapes_walk),
		cmocka_unit_test(test_inside_symlinks_allowed),
		cmocka_unit_test(test_fifo_refused),
		cmocka_unit_test(test_hardlink_limit),
		cmocka_unit_test(test_gitdir_openat2),
		cmocka_unit_test(test_gitdir_walk),
		cmocka_unit_test(test_gitdir_allowed),
		cmocka_unit_test(test_agent_entries),
		cmocka_unit_test(test_shell),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
