# daemon/: agentd (event loop, socket server, protocol, runs, scheduler) and agentctl.
bin_PROGRAMS += agentd agentctl
noinst_LIBRARIES += libdaemon.a
libdaemon_a_SOURCES = daemon/rpc.h daemon/rpc.c daemon/log.h daemon/log.c
libdaemon_a_CFLAGS = $(AM_CFLAGS)

agentd_SOURCES = daemon/agentd.c daemon/server.c daemon/server.h daemon/private.c daemon/private.h \
	daemon/notify.c daemon/notify.h \
	daemon/runner.c daemon/runner.h daemon/methods.c daemon/config.h daemon/config.c
agentd_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(LIBGIT2_CFLAGS) $(SQLITE_CFLAGS)
agentd_LDADD = libdaemon.a libsched.a $(AGENT_LIBS) -lpthread

# The client stays light: no libcurl, libgit2 or SQLite. It finds skills
# itself (agent/skills.c needs only libc and jansson).
agentctl_SOURCES = daemon/agentctl.c daemon/ctl.h daemon/ctl_sandbox.c daemon/ctl_acp.c \
	agent/skills.c agent/instructions.c
agentctl_CFLAGS = $(AM_CFLAGS)
agentctl_LDADD = libdaemon.a libsched.a $(SANDBOX_LIBS) $(JANSSON_LIBS)

# How fast agentd is up and down (exec to first answer, SIGTERM to exit).
noinst_PROGRAMS += bench/bench_start
bench_bench_start_SOURCES = bench/bench_start.c bench/bench.h

check_PROGRAMS += tests/unit/test_rpc
tests_unit_test_rpc_SOURCES = tests/unit/test_rpc.c
tests_unit_test_rpc_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_rpc_LDADD = libdaemon.a libcommon.a $(JANSSON_LIBS) $(CMOCKA_LIBS)
TESTS += tests/unit/test_rpc


# Shell completion, written by the built agentctl from its own command table.
bashcompletiondir = $(datadir)/bash-completion/completions
zshcompletiondir = $(datadir)/zsh/site-functions
bashcompletion_DATA = completions/agentctl
zshcompletion_DATA = completions/_agentctl
completions/agentctl: agentctl$(EXEEXT)
	$(MKDIR_P) completions && ./agentctl$(EXEEXT) completion bash > $@
completions/_agentctl: agentctl$(EXEEXT)
	$(MKDIR_P) completions && ./agentctl$(EXEEXT) completion zsh > $@
CLEANFILES += completions/agentctl completions/_agentctl

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
