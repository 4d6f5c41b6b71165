# tests/fuzz.mk — the deterministic parser fuzz test (tests/unit/test_fuzz.c):
# JSON-RPC lines and framing, SSE, model replies, tool calls in text and their
# arguments, tool schemas, cron, chores and lossy UTF-8, from real seeds plus
# mutations. FUZZ_ITERS and FUZZ_SEED tune and repeat a run.
check_PROGRAMS += tests/unit/test_fuzz
tests_unit_test_fuzz_SOURCES = tests/unit/test_fuzz.c
tests_unit_test_fuzz_CPPFLAGS = $(AM_CPPFLAGS) -DTEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_fuzz_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_fuzz_LDADD = libdaemon.a libsched.a $(AGENT_LIBS) libcommon.a \
	$(JANSSON_LIBS) $(CMOCKA_LIBS) -lpthread -lm
TESTS += tests/unit/test_fuzz
