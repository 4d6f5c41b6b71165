#!/bin/sh
# test.sh — the whole test suite from a fresh Debian 12 machine: installs the
# packages, builds with -Werror and runs `make check`, then again with
# AddressSanitizer + UndefinedBehaviorSanitizer, then `make distcheck`.
# Set QUICK=1 to skip the sanitizer and distcheck passes.
set -eu
cd "$(dirname "$0")"
./deps.sh
# Real peers from npm at pinned versions (tests skip what is missing).
if command -v npm >/dev/null 2>&1; then
	( cd tests/acp && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ) ||
		echo "test.sh: npm ci in tests/acp failed: the ACP schema check will be skipped" >&2
	( cd tests/mcp && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ) ||
		echo "test.sh: npm ci in tests/mcp failed: the MCP reference-server test will be skipped" >&2
	( cd tests/mcp-conformance && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ) ||
		echo "test.sh: npm ci in tests/mcp-conformance failed: the MCP conformance test will be skipped" >&2
fi
./autogen.sh >/dev/null 2>&1 || ./autogen.sh
JOBS=$(nproc 2>/dev/null || echo 2)
status=0

run_pass() { # name configure-flags...
	name=$1; shift
	echo "=== $name: configure $*"
	rm -rf "build-$name"
	mkdir -p "build-$name"
	( cd "build-$name" && ../configure -q "$@" && make -j"$JOBS" >/dev/null &&
	  make -j"$JOBS" check ) || {
		status=1
		echo "=== $name: FAILED"
		for f in "build-$name"/tests/unit/*.log "build-$name"/tests/integration/*.log "build-$name"/tests/escape/*.log; do
			[ -f "$f" ] || continue
			grep -qE '^(FAIL|ERROR)|not ok|FAILED|\[  FAILED  \]|[1-9][0-9]* failed' "$f" && { echo "--- $f"; tail -n 60 "$f"; }
		done
	}
	return 0
}

run_pass werror --enable-werror
if [ "${QUICK:-0}" != 1 ]; then
	run_pass sanitizers --enable-werror --enable-sanitizers
	echo "=== distcheck"
	( cd build-werror && make -j"$JOBS" distcheck >distcheck.log 2>&1 ) || {
		status=1; echo "=== distcheck: FAILED"; tail -n 40 build-werror/distcheck.log; }
fi
if [ $status -eq 0 ]; then echo "=== all passes succeeded"; else echo "=== some passes FAILED"; fi
exit $status
