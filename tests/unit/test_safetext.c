/* test_safetext.c — terminal-safe text: every control class escaped, the rest untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/safetext.h"
#include "common/error.h"
#include "common/json.h"

static void
expect_dup(const char *in, unsigned flags, const char *want)
{
	char *s = safetext_dup(in, flags);

	assert_non_null(s);
	assert_string_equal(s, want);
	assert_int_equal(safetext_clean(in, strlen(in), flags), strcmp(in, want) == 0);
	free(s);
}

/* No byte of the result may be ESC, BEL, any C0 but \n and \t, DEL, or a C1 byte sequence. */
static void
assert_inert(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;

	for (i = 0; u[i]; i++) {
		assert_false(u[i] < 0x20 && u[i] != '\n' && u[i] != '\t');
		assert_false(u[i] == 0x7f);
		assert_false(u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f);
	}
}

static void
test_controls(void **state)
{
	char *s;

	(void)state;
	expect_dup("# Helo \033]0;PWNED\007\033[2J", 0, "# Helo \\x1b]0;PWNED\\x07\\x1b[2J");
	expect_dup("a\tb\nc\r\n", 0, "a\tb\nc\\x0d\n");
	expect_dup("a\nb", SAFETEXT_ONE_LINE, "a\\x0ab");
	expect_dup("del\x7f", 0, "del\\x7f");
	expect_dup("\x01\x1f", 0, "\\x01\\x1f");
	s = safetext_dup(NULL, 0);
	assert_string_equal(s, "");
	free(s);
}

static void
test_unicode(void **state)
{
	(void)state;
	/* Text in any script passes unchanged. */
	expect_dup("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", 0,
	    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	/* C1 controls as UTF-8: U+009B is an 8-bit CSI. */
	expect_dup("x\xc2\x9b" "2J\xc2\x80\xc2\x9f\xc2\xa0", 0, "x\\u009b2J\\u0080\\u009f\xc2\xa0");
	/* Bidi overrides and isolates; the marks stay. */
	expect_dup("a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\x8f", 0, "a\\u202eb\\u2066c\xe2\x80\x8f");
	/* Bytes that are not UTF-8: lone continuation, C1 as a raw byte, overlong,
	 * surrogate, past U+10FFFF, a cut sequence. */
	expect_dup("\x9b[2J", 0, "\\x9b[2J");
	expect_dup("\xc0\xaf", 0, "\\xc0\\xaf");
	expect_dup("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
	expect_dup("\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80");
	expect_dup("ok\xe2\x82", 0, "ok\\xe2\\x82");
	expect_dup("\xff\xfe", 0, "\\xff\\xfe");
}

static void
test_every_byte(void **state)
{
	char in[3], *s;
	int a, b;

	(void)state;
	/* Every two-byte string: the result is inert. */
	for (a = 1; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			in[0] = (char)a;
			in[1] = (char)b;
			in[2] = '\0';
			s = safetext_dup(in, 0);
			assert_non_null(s);
			assert_inert(s);
			free(s);
		}
	}
}

static void
test_cuts(void **state)
{
	char out[8];
	struct abuf b;

	(void)state;
	/* A fixed buffer is cut before an escape or a character that does not fit. */
	assert_int_equal(safetext_copy(out, sizeof(out), "abcde\033f", 7, 0), 5);
	assert_string_equal(out, "abcde");
	assert_int_equal(safetext_copy(out, sizeof(out), "abcde\xc3\xa9xyz", 10, 0), 7);
	assert_string_equal(out, "abcde\xc3\xa9");
	assert_int_equal(safetext_copy(out, sizeof(out), "abcdef\xc3\xa9", 8, 0), 6);
	assert_string_equal(out, "abcdef");
	assert_int_equal(safetext_copy(out, 1, "abc", 3, 0), 0);
	assert_string_equal(out, "");
	abuf_init(&b, 6);
	assert_int_equal(safetext_append(&b, "ab\033cdef", 7, 0), AGENTD_ETOOBIG);
	assert_string_equal(b.data, "ab\\x1b");
	abuf_free(&b);
}

static void
test_json(void **state)
{
	const char *text = "# Helo \033]0;PWNED\007\033[2J del\x7f c1\xc2\x9b bidi\xe2\x80\xae "
	    "caf\xc3\xa9 \\x1b \"q\"";
	json_t *v = json_pack("{s:s, s:[s]}", "t", text, "a", "\xc2\x85"), *back;
	char *dumped = json_dumps(v, JSON_COMPACT), *safe;
	size_t n;

	(void)state;
	safe = safetext_json(dumped, strlen(dumped), &n);
	assert_non_null(safe);
	assert_int_equal(n, strlen(safe));
	assert_inert(safe);
	assert_null(strchr(safe, '\n'));
	/* The very same value once parsed. */
	back = json_loads(safe, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(v, back));
	assert_string_equal(json_string_value(json_object_get(back, "t")), text);
	/* JSON lines keep their newlines. */
	free(safe);
	safe = safetext_json("{}\n{}\n", 6, NULL);
	assert_string_equal(safe, "{}\n{}\n");
	free(safe);
	safe = safetext_json("\"\xff\"", 3, NULL);
	assert_string_equal(safe, "\"\\ufffd\"");
	free(safe);
	json_decref(back);
	json_decref(v);
	free(dumped);
}

/* common/buf: the one "is this path inside that folder" test. */
static void
test_path_within(void **state)
{
	(void)state;
	assert_true(buf_path_within("/a/b", "/a"));
	assert_true(buf_path_within("/a", "/a"));
	assert_false(buf_path_within("/ab", "/a"));
	assert_false(buf_path_within("/a", "/a/b"));
	assert_true(buf_path_within("/x", "/"));
	assert_false(buf_path_within("/a", NULL));
	assert_false(buf_path_within("/a", ""));
	assert_false(buf_path_within(NULL, "/a"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_unicode),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_cuts),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_path_within),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
