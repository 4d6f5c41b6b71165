/*
 * test_chore.c — chore files: the shipped chores load and validate, and bad
 * chores are refused with a message naming the file, field, line and column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/chore.h"

static const char *
srcdir(void)
{
	const char *d = getenv("top_srcdir");

	return d != NULL && d[0] != '\0' ? d : ".";
}

static void
test_shipped(void **state)
{
	static const char *const files[] = { "daily-commit-notes", "test-report",
		"todo-tracker", NULL };
	size_t i;

	(void)state;
	for (i = 0; files[i] != NULL; i++) {
		char path[4096];
		struct agentd_error err = { 0 };
		json_t *c = NULL;

		snprintf(path, sizeof(path), "%s/chores/%s.json", srcdir(), files[i]);
		if (chore_load(path, NULL, &c, &err) != AGENTD_OK)
			fail_msg("%s", err.msg);
		assert_string_equal(json_string_value(json_object_get(c, "name")), files[i]);
		assert_non_null(json_object_get(c, "schedule"));
		assert_true(json_is_true(json_object_get(c, "branch")));
		assert_true(json_array_size(json_object_get(c, "tools")) > 0);
		json_decref(c);
	}
}

struct bad {
	const char *json;
	const char *fragment;
};

static const struct bad bads[] = {
	{ "{}", "'prompt' is required" },
	{ "[]", "must be a JSON object" },
	{ "{\"prompt\":\"\"}", "'prompt' must be a non-empty string" },
	{ "{\"prompt\":\"x\",\"promt\":\"y\"}", "unknown field 'promt'" },
	{ "{\"prompt\":\"x\",\"tools\":\"grep\"}", "'tools' must be an array" },
	{ "{\"prompt\":\"x\",\"tools\":[\"grep\",1]}", "'tools'[1] must be a string" },
	{ "{\"prompt\":\"x\",\"tools\":[\"rm -rf\"]}", "'tools'[0]: 'rm -rf' is not a tool name" },
	{ "{\"prompt\":\"x\",\"tools\":[\"grep\",\"grep\"]}", "lists 'grep' twice" },
	{ "{\"prompt\":\"x\",\"policy\":\"root\"}", "'policy' must be read-only" },
	{ "{\"prompt\":\"x\",\"network\":\"yes\"}", "'network' must be a boolean" },
	{ "{\"prompt\":\"x\",\"limits\":{\"max_steps\":0}}", "'limits'.max_steps must be a positive" },
	{ "{\"prompt\":\"x\",\"limits\":{\"steps\":3}}", "'limits': unknown field 'steps'" },
	{ "{\"prompt\":\"x\",\"branch\":\"../x\"}", "'branch': '../x' is not a valid branch name" },
	{ "{\"prompt\":\"x\",\"branch\":3}", "'branch' must be true, false or a branch name" },
	{ "{\"prompt\":\"x\",\"schedule\":\"61 * * * *\"}", "'schedule': minute field: 61" },
	{ "{\"prompt\":\"x\",\"tz\":\"Mars/Base\"}", "'tz': " },
	{ "{\"prompt\":\"x\",\"name\":\"a b\"}", "'name' must be" },
};

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_bad(void **state)
{
	char dir[] = "/tmp/test_chore.XXXXXX", path[256];
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.json", dir);
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct agentd_error err = { 0 };
		json_t *c = (json_t *)0x1;

		write_text(path, bads[i].json);
		if (chore_load(path, NULL, &c, &err) == AGENTD_OK)
			fail_msg("accepted: %s", bads[i].json);
		assert_ptr_equal(c, (json_t *)0x1);
		if (strstr(err.msg, bads[i].fragment) == NULL || strstr(err.msg, path) == NULL)
			fail_msg("%s: message '%s' lacks '%s' or the file name", bads[i].json,
			    err.msg, bads[i].fragment);
	}
	/* Malformed JSON: file, line and column. */
	{
		struct agentd_error err = { 0 };
		json_t *c = NULL;

		write_text(path, "{\n  \"prompt\": \"x\",\n  \"tools\": [\"grep\",]\n}\n");
		assert_int_equal(chore_load(path, NULL, &c, &err), AGENTD_EINVAL);
		assert_non_null(strstr(err.msg, path));
		assert_non_null(strstr(err.msg, "line 3"));
		assert_non_null(strstr(err.msg, "column"));
	}
	unlink(path);
	rmdir(dir);
}

/* A bare name is looked up in WORKSPACE/.agentd/chores/NAME.json. */
static void
test_bare_name(void **state)
{
	char dir[] = "/tmp/test_chore.XXXXXX", path[512];
	struct agentd_error err = { 0 };
	json_t *c = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/.agentd", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.agentd/chores", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/.agentd/chores/notes.json", dir);
	write_text(path, "{\"prompt\":\"write notes\",\"branch\":\"agentd/notes\"}");
	assert_int_equal(chore_load("notes", dir, &c, &err), AGENTD_OK);
	assert_string_equal(json_string_value(json_object_get(c, "name")), "notes");
	json_decref(c);
	c = NULL;
	assert_int_equal(chore_load("notes.json", dir, &c, &err), AGENTD_OK);
	json_decref(c);
	assert_int_not_equal(chore_load("missing", dir, &c, &err), AGENTD_OK);
	assert_int_not_equal(chore_load("notes", NULL, &c, &err), AGENTD_OK);
	assert_int_not_equal(chore_load("..", dir, &c, &err), AGENTD_OK);
	assert_int_not_equal(chore_load(".hidden", dir, &c, &err), AGENTD_OK);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.agentd/chores", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/.agentd", dir);
	rmdir(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_bare_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
