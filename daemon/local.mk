# daemon/: agentd (event loop, socket server, protocol, runs, scheduler).
# rpc.c (framing) and log.c are shared with the client in client/.
bin_PROGRAMS += agentd
noinst_LIBRARIES += libdaemon.a
libdaemon_a_SOURCES = daemon/rpc.h daemon/rpc.c daemon/log.h daemon/log.c
libdaemon_a_CFLAGS = $(AM_CFLAGS)

agentd_SOURCES = daemon/agentd.c daemon/server.c daemon/server.h daemon/private.c daemon/private.h \
	daemon/notify.c daemon/notify.h \
	daemon/runner.c daemon/runner.h daemon/methods.c daemon/config.h daemon/config.c
agentd_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(LIBGIT2_CFLAGS) $(SQLITE_CFLAGS)
agentd_LDADD = libdaemon.a libsched.a $(AGENT_LIBS) -lpthread

# How fast agentd is up and down (exec to first answer, SIGTERM to exit).
noinst_PROGRAMS += bench/bench_start
bench_bench_start_SOURCES = bench/bench_start.c bench/bench.h

check_PROGRAMS += tests/unit/test_rpc
tests_unit_test_rpc_SOURCES = tests/unit/test_rpc.c
tests_unit_test_rpc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_rpc_LDADD = libdaemon.a libcommon.a $(JANSSON_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_rpc


# systemd: a user service and socket, and a system-wide pair for a dedicated
# user. @bindir@ is filled in at make time so that it is fully expanded.
systemduserunit_DATA = daemon/systemd/agentd.service daemon/systemd/agentd.socket
systemdsystemunit_DATA = daemon/systemd/system/agentd.service daemon/systemd/system/agentd.socket
sysusers_DATA = daemon/systemd/agentd.conf
EXTRA_DIST += daemon/systemd/agentd.service.in daemon/systemd/agentd.socket \
	daemon/systemd/system/agentd.service.in daemon/systemd/system/agentd.socket \
	daemon/systemd/agentd.sysusers
daemon/systemd/agentd.service: $(srcdir)/daemon/systemd/agentd.service.in Makefile
	$(MKDIR_P) daemon/systemd && sed -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' $(srcdir)/daemon/systemd/agentd.service.in > $@
daemon/systemd/system/agentd.service: $(srcdir)/daemon/systemd/system/agentd.service.in Makefile
	$(MKDIR_P) daemon/systemd/system && sed -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' $(srcdir)/daemon/systemd/system/agentd.service.in > $@
daemon/systemd/agentd.conf: $(srcdir)/daemon/systemd/agentd.sysusers
	$(MKDIR_P) daemon/systemd && cp $(srcdir)/daemon/systemd/agentd.sysusers $@
CLEANFILES += daemon/systemd/agentd.service daemon/systemd/system/agentd.service \
	daemon/systemd/agentd.conf

# The shipped chores, found by name (agentctl run --chore todo-tracker).
choresdir = $(pkgdatadir)/chores
chores_DATA = chores/daily-commit-notes.json chores/test-report.json chores/todo-tracker.json \
	chores/README.md
