# sandbox/: confine one command (Landlock, seccomp, namespaces, rlimits).
noinst_LIBRARIES += libsandbox.a
libsandbox_a_SOURCES = sandbox/sandbox.c sandbox/sandbox.h sandbox/sandbox_int.h \
	sandbox/sandbox_child.c sandbox/sandbox_git.c sandbox/sandbox_filter.h
nodist_libsandbox_a_SOURCES = sandbox/sandbox_filter_bpf.c
SANDBOX_LIBS = libsandbox.a libcommon.a -lpthread

# The seccomp rules are compiled to raw BPF at build time (libseccomp is a
# build dependency only): sandbox/gen_filter prints sandbox_filter_bpf.c.
noinst_PROGRAMS += sandbox/gen_filter
sandbox_gen_filter_SOURCES = sandbox/gen_filter.c sandbox/sandbox_filter.c sandbox/sandbox_filter.h
sandbox_gen_filter_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
sandbox_gen_filter_LDADD = libcommon.a $(SECCOMP_LIBS)
sandbox/sandbox_filter_bpf.c: sandbox/gen_filter$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) sandbox && ./sandbox/gen_filter$(EXEEXT) > $@.tmp && mv $@.tmp $@
CLEANFILES += sandbox/sandbox_filter_bpf.c

check_PROGRAMS += tests/unit/test_sandbox
tests_unit_test_sandbox_SOURCES = tests/unit/test_sandbox.c sandbox/sandbox_filter.c
tests_unit_test_sandbox_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SECCOMP_CFLAGS)
tests_unit_test_sandbox_LDADD = $(SANDBOX_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS) $(SECCOMP_LIBS)
TESTS += tests/unit/test_sandbox

# The escape battery: a syscall attack helper, a stand-in for `agentctl
# sandbox` while agentctl is not built, and the script (root + unprivileged).
check_PROGRAMS += tests/escape/attack tests/escape/sbx_driver
tests_escape_attack_SOURCES = tests/escape/attack.c
# Never sanitized: ASan's shadow reservation cannot live under the sandbox's
# RLIMIT_AS, and LeakSanitizer would fail the baselines that leak on purpose.
tests_escape_attack_CPPFLAGS = $(AM_CPPFLAGS)
tests_escape_attack_CFLAGS = -std=c11 $(WARN_CFLAGS)
tests_escape_attack_LDFLAGS = -Wl,-O1
tests_escape_sbx_driver_SOURCES = tests/escape/sbx_driver.c client/ctl_sandbox.c
tests_escape_sbx_driver_LDADD = $(SANDBOX_LIBS) $(JANSSON_LIBS)
TESTS += tests/escape/battery.sh
EXTRA_DIST += tests/escape/battery.sh

# Start-up latency against plain fork/exec and bwrap (not a test).
noinst_PROGRAMS += bench/bench_sandbox
bench_bench_sandbox_SOURCES = bench/bench_sandbox.c bench/bench.h
bench_bench_sandbox_LDADD = $(SANDBOX_LIBS) $(JANSSON_LIBS)

# `agentctl sandbox` as a whole process against bwrap (not a test).
noinst_PROGRAMS += bench/bench_ctl_sandbox
bench_bench_ctl_sandbox_SOURCES = bench/bench_ctl_sandbox.c bench/bench.h
