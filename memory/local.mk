# memory/: the durable SQLite journal.
noinst_LIBRARIES += libmemory.a
libmemory_a_SOURCES = memory/memory.c memory/ends.c memory/memory.h memory/schema.c memory/sha256.c memory/internal.h
libmemory_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
MEMORY_LIBS = libmemory.a libcommon.a $(SQLITE_LIBS) $(JANSSON_LIBS) -lm

check_PROGRAMS += tests/unit/test_memory
tests_unit_test_memory_SOURCES = tests/unit/test_memory.c
tests_unit_test_memory_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_memory_LDADD = $(MEMORY_LIBS) $(CMOCKA_LIBS) -lpthread
TESTS += tests/unit/test_memory

# The journal's benchmark (docs/benchmarks.md, "Memory").
noinst_PROGRAMS += bench/bench_memory
bench_bench_memory_SOURCES = bench/bench_memory.c bench/bench.h
bench_bench_memory_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
bench_bench_memory_LDADD = $(MEMORY_LIBS) -lm
