# common/: the error enum, bounded buffers, JSON helpers and child-process
# starting every module shares.
noinst_LIBRARIES += libcommon.a
libcommon_a_SOURCES = common/error.c common/error.h common/buf.c common/buf.h \
	common/json.c common/json.h common/num.c common/num.h common/common.h \
	common/safetext.c common/safetext.h \
	common/spawn.c common/spawn.h

check_PROGRAMS += tests/unit/test_safetext
tests_unit_test_safetext_SOURCES = tests/unit/test_safetext.c
tests_unit_test_safetext_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_safetext_LDADD = libcommon.a $(JANSSON_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_safetext
