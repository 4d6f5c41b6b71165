# agent/: the model client and the plan-act loop.
noinst_LIBRARIES += libagent.a
libagent_a_SOURCES = agent/llm.h agent/llm.c agent/sse.c agent/toolparse.c \
	agent/agent.h agent/agent.c agent/context.c agent/internal.h
libagent_a_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(SQLITE_CFLAGS)
AGENT_LIBS = libagent.a $(TOOLS_LIBS) libmemory.a $(SQLITE_LIBS) $(CURL_LIBS)

check_PROGRAMS += tests/unit/test_llm tests/unit/test_agent
tests_unit_test_llm_SOURCES = tests/unit/test_llm.c
tests_unit_test_llm_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_llm_LDADD = $(AGENT_LIBS) $(CMOCKA_LIBS)
tests_unit_test_agent_SOURCES = tests/unit/test_agent.c
tests_unit_test_agent_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_agent_LDADD = $(AGENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_llm tests/unit/test_agent
