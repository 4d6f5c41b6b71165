# daemon/sched.mk — the scheduler, cron evaluator and chores (libsched.a).
# The scheduler: cron jobs in the journal, started through callbacks.
noinst_LIBRARIES += libsched.a
libsched_a_SOURCES = daemon/sched.h daemon/sched.c daemon/chore.h daemon/chore.c \
	daemon/cron.h daemon/cron.c daemon/tzone.h daemon/tzone.c
libsched_a_CFLAGS = $(AM_CFLAGS)
check_PROGRAMS += tests/unit/test_sched tests/unit/test_cron
tests_unit_test_sched_SOURCES = tests/unit/test_sched.c
tests_unit_test_sched_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_sched_LDADD = libsched.a $(MEMORY_LIBS) $(CMOCKA_LIBS) -lpthread
tests_unit_test_cron_SOURCES = tests/unit/test_cron.c
tests_unit_test_cron_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_cron_LDADD = libsched.a libcommon.a $(JANSSON_LIBS) $(CMOCKA_LIBS) -lpthread
TESTS += tests/unit/test_sched tests/unit/test_cron
check_PROGRAMS += tests/unit/test_tzone
tests_unit_test_tzone_SOURCES = tests/unit/test_tzone.c
tests_unit_test_tzone_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tzone_LDADD = libsched.a libcommon.a $(JANSSON_LIBS) $(CMOCKA_LIBS) -lpthread
TESTS += tests/unit/test_tzone
check_PROGRAMS += tests/unit/test_chore
tests_unit_test_chore_SOURCES = tests/unit/test_chore.c
tests_unit_test_chore_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_chore_LDADD = libsched.a libcommon.a $(JANSSON_LIBS) $(CMOCKA_LIBS) -lpthread
TESTS += tests/unit/test_chore
