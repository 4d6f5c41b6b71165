# sandbox/: confine one command (Landlock, seccomp, namespaces, rlimits).
noinst_LIBRARIES += libsandbox.a
libsandbox_a_SOURCES = sandbox/sandbox.c sandbox/sandbox.h
libsandbox_a_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
SANDBOX_LIBS = libsandbox.a libcommon.a $(SECCOMP_LIBS)

check_PROGRAMS += tests/unit/test_sandbox
tests_unit_test_sandbox_SOURCES = tests/unit/test_sandbox.c
tests_unit_test_sandbox_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_sandbox_LDADD = $(SANDBOX_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_sandbox
