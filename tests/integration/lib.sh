# lib.sh — shared helpers for the integration tests: a temporary state dir
# and socket, the real agentd, the scripted model server, and assertions.
# Sourced by each tests/integration/test_*.sh. Every wait is bounded.

set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${PYTHON3:=python3}"
AGENTD="$top_builddir/agentd"
AGENTCTL="$top_builddir/agentctl"
MOCK="$top_srcdir/tests/mock/mock_llm.py"
export NO_COLOR=1
unset AGENTD_SOCKET AGENTD_LLM_URL AGENTD_MODEL AGENTD_API_KEY
# Never pick up the developer's own configuration file.
export XDG_CONFIG_HOME=/nonexistent/agentd-tests
# Nor the machine's (an installed /etc/agentd/config.json).
export AGENTD_SYSTEM_CONFIG=

T=$(mktemp -d /tmp/agentd-it.XXXXXX)
SOCK="$T/agentd.sock"
STATE="$T/state"
PASS=0
FAIL=0
AGENTD_PID=
MOCK_PID=

cleanup() {
	[ -n "$AGENTD_PID" ] && kill -9 "$AGENTD_PID" 2>/dev/null
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
	wait 2>/dev/null
	if [ "$FAIL" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { # check "description" command...
	local d="$1"; shift
	if "$@" >>"$T/check.out" 2>&1; then ok "$d"; else not_ok "$d"; fi
}
# has TEXT PATTERN: grep a fixed string in text
has() { printf '%s\n' "$1" | grep -qF -- "$2"; }
lacks() { ! has "$1" "$2"; }
finish() {
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
		not_ok "a sanitizer reported a problem:"
		grep -hE -A 12 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/*.log | head -60
	fi
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
skip_all() {
	echo "# SKIP: $*"
	echo "0 passed, 0 failed"
	exit 77
}

# wait_for CMD... : retry until CMD succeeds, for up to 30 s of wall time
# (generous: CI machines are shared and the sanitizer build is slow; a
# passing check never waits longer than it needs)
wait_for() {
	local end=$(($(date +%s) + 30))
	while :; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# small_disk DIR SIZE: a tmpfs of SIZE (e.g. 4m) mounted on DIR for the
# test (root only: skips otherwise), unmounted at exit after agentd is
# killed; umount_small_disk does it earlier.
small_disk() {
	command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed"
	[ "$(id -u)" = 0 ] || skip_all "needs root to mount a small tmpfs"
	SMALL_DISK=$1
	mkdir -p "$SMALL_DISK"
	mount -t tmpfs -o "size=$2" tmpfs "$SMALL_DISK" 2>/dev/null || skip_all "cannot mount a tmpfs here"
	trap 'umount_small_disk; cleanup' EXIT
}
umount_small_disk() {
	[ -n "$AGENTD_PID" ] && kill -9 "$AGENTD_PID" 2>/dev/null && wait "$AGENTD_PID" 2>/dev/null
	AGENTD_PID=
	umount "$SMALL_DISK" 2>/dev/null || umount -l "$SMALL_DISK" 2>/dev/null
}

# start_mock SCENARIO-FILE: sets MOCK_URL and MOCK_PID
start_mock() {
	rm -f "$T/mock.port"
	"$PYTHON3" "$MOCK" --scenario "$1" --port 0 --port-file "$T/mock.port" \
		--log "$T/mock.log" >"$T/mock.out" 2>&1 &
	MOCK_PID=$!
	wait_for test -s "$T/mock.port" || { echo "# mock server did not start"; cat "$T/mock.out"; return 1; }
	MOCK_URL="http://127.0.0.1:$(cat "$T/mock.port")/v1"
	MOCK_ROOT="http://127.0.0.1:$(cat "$T/mock.port")"
}
stop_mock() {
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
	MOCK_PID=
}

# start_agentd [extra flags...]: sets AGENTD_PID; logs to $T/agentd.log
start_agentd() {
	"$AGENTD" --socket "$SOCK" --state-dir "$STATE" --log-level debug "$@" \
		>>"$T/agentd.log" 2>&1 &
	AGENTD_PID=$!
	wait_for "$AGENTCTL" --socket "$SOCK" status || {
		echo "# agentd did not start"; tail -20 "$T/agentd.log"; return 1; }
}
stop_agentd() {
	local rc
	if [ -n "$AGENTD_PID" ]; then
		kill -TERM "$AGENTD_PID" 2>/dev/null
		wait "$AGENTD_PID" 2>/dev/null
		rc=$?
		# A graceful stop exits 0; sanitizer reports (leaks at exit) make it fail.
		[ $rc -eq 0 ] || not_ok "agentd exited $rc after SIGTERM (see $T/agentd.log)"
	fi
	AGENTD_PID=
}
kill9_agentd() {
	[ -n "$AGENTD_PID" ] && kill -9 "$AGENTD_PID" 2>/dev/null && wait "$AGENTD_PID" 2>/dev/null
	AGENTD_PID=
}
ctl() { "$AGENTCTL" --socket "$SOCK" "$@"; }

# rpc LINE: send one raw line, print the first reply line (needs socat)
rpc() { printf '%s\n' "$1" | timeout 10 socat -t 5 - "UNIX-CONNECT:$SOCK" | head -n 1; }

# make_repo DIR: a git repository with one commit
make_repo() {
	mkdir -p "$1"
	git -C "$1" init -q -b main
	git -C "$1" config user.name "Test User"
	git -C "$1" config user.email "test@example.com"
	printf 'hello\n' > "$1/README.md"
	git -C "$1" add README.md
	git -C "$1" commit -q -m "initial commit"
}

# json_get JSON EXPR: evaluate a python expression on parsed JSON `j`
json_get() { "$PYTHON3" -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
