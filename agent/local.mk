# agent/: the model client and the plan-act loop.
noinst_LIBRARIES += libagent.a
libagent_a_SOURCES = agent/llm.h agent/llm.c agent/sse.c agent/toolparse.c agent/llm_internal.h \
	agent/llm_probe.c \
	agent/agent.h agent/agent.c agent/context.c agent/instructions.c agent/hooks.c agent/skills.c agent/toolsearch.c agent/internal.h
libagent_a_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS)
AGENT_LIBS = libagent.a $(TOOLS_LIBS) libmemory.a $(SQLITE_LIBS) $(CURL_LIBS)

check_PROGRAMS += tests/unit/test_llm tests/unit/test_agent
# test_llm builds the client's own sources so it runs before the loop links.
tests_unit_test_llm_SOURCES = tests/unit/test_llm.c agent/llm.c agent/sse.c \
	agent/toolparse.c agent/llm_internal.h
tests_unit_test_llm_CPPFLAGS = $(AM_CPPFLAGS) -DTEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_llm_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_llm_LDADD = libcommon.a $(CURL_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
EXTRA_DIST += tests/fixtures/llama-server
tests_unit_test_agent_SOURCES = tests/unit/test_agent.c tests/unit/helpers.h
tests_unit_test_agent_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_agent_LDADD = $(AGENT_LIBS) libcommon.a $(CMOCKA_LIBS)
# The model is scripted: llm_chat and llm_context_window are replaced at link time.
tests_unit_test_agent_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=llm_chat -Wl,--wrap=llm_context_window \
	-Wl,--wrap=llm_count_tokens
TESTS += tests/unit/test_llm tests/unit/test_agent

check_PROGRAMS += tests/unit/test_instructions
tests_unit_test_instructions_SOURCES = tests/unit/test_instructions.c tests/unit/helpers.h \
	agent/instructions.c agent/skills.c
tests_unit_test_instructions_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_instructions_LDADD = libcommon.a $(JANSSON_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_instructions

# The loop's own cost per step (model answering at once): bench/bench_loop.
noinst_PROGRAMS += bench/bench_loop
bench_bench_loop_SOURCES = bench/bench_loop.c
bench_bench_loop_LDADD = $(AGENT_LIBS) libcommon.a
bench_bench_loop_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=llm_chat -Wl,--wrap=llm_context_window \
	-Wl,--wrap=llm_count_tokens
