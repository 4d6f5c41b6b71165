#!/bin/sh
# test_private_state.sh — the state directory and the socket belong to the
# daemon's user alone: private modes whatever the umask, unsafe directories
# refused with the command that fixes them, nothing at the socket path or
# its lock followed or deleted unless proven stale, and one daemon per state
# directory (a second one names the first; kill -9 frees it; a clean stop
# leaves no lock files).
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
mode() { stat -c %a "$1"; }

# Private modes even under umask 000, for every file of the journal.
W="$T/ws"
make_repo "$W"
start_mock "$(dirname "$0")/scenarios/answer.json" || exit 1
umask 000
start_agentd --llm-url "$MOCK_URL" || exit 1
umask 022
ctl run --workspace "$W" "look around" > /dev/null 2>&1
check "a run succeeds" test $? -eq 0
check "the state dir is 0700" test "$(mode "$STATE")" = 700
for f in agentd.db agentd.db-wal agentd.db-shm agentd.pid; do
	check "$f exists" test -f "$STATE/$f"
	check "$f is 0600 under umask 000" test "$(mode "$STATE/$f")" = 600
done
check "nothing in the state dir is open to others" \
	test -z "$(find "$STATE" -maxdepth 1 -perm /077 -print)"

# One daemon per state directory: a second one, on another socket, refuses
# and names the first.
timeout 20 "$AGENTD" --socket "$T/other.sock" --state-dir "$STATE" --llm-url "$MOCK_URL" > "$T/second.log" 2>&1
rc=$?
check "a second agentd on the same state dir exits non-zero" test $rc -ne 0
check "it names the first daemon's pid" grep -q "pid $AGENTD_PID" "$T/second.log"
check "it names the first daemon's socket" grep -qF "$SOCK" "$T/second.log"
check "it did not serve" test ! -e "$T/other.sock"
check "the first keeps serving" ctl status
kill9_agentd
check "kill -9 leaves the socket behind" test -S "$SOCK"
start_agentd --llm-url "$MOCK_URL" || exit 1
check "the next start after kill -9 succeeds" ctl status
stop_agentd
check "a clean stop removes the socket" test ! -e "$SOCK"
check "a clean stop leaves no lock file by the socket" test ! -e "$SOCK.lock"
check "a clean stop leaves no lock in the state dir" test ! -e "$STATE/agentd.pid"
check "a clean stop leaves no *.lock file" test -z "$(find "$T" -name '*.lock' -print)"

# Unsafe state and socket directories are refused with the fix.
mkdir -p "$T/open-state" && chmod 0777 "$T/open-state"
timeout 20 "$AGENTD" --socket "$T/a.sock" --state-dir "$T/open-state" > "$T/open.log" 2>&1
check "a state dir writable by others is refused" test $? -ne 0
check "the refusal says what to run" grep -qF "chmod 700 $T/open-state" "$T/open.log"
check "nothing was created in it" test -z "$(ls -A "$T/open-state")"
check "nothing was served" test ! -e "$T/a.sock"
mkdir -p "$T/read-state" && chmod 0755 "$T/read-state"
start_agentd_at() { # SOCKET STATE: start and wait for it, or fail
	"$AGENTD" --socket "$1" --state-dir "$2" --llm-url "$MOCK_URL" >> "$T/agentd.log" 2>&1 &
	AGENTD_PID=$!
	wait_for "$AGENTCTL" --socket "$1" status
}
start_agentd_at "$T/r.sock" "$T/read-state"
check "a state dir only readable by others is taken" test $? -eq 0
check "and made private" test "$(mode "$T/read-state")" = 700
stop_agentd
mkdir -p "$T/open-sock" && chmod 0777 "$T/open-sock"
timeout 20 "$AGENTD" --socket "$T/open-sock/s.sock" --state-dir "$T/s2" > "$T/opensock.log" 2>&1
check "a socket dir writable by others is refused" test $? -ne 0
check "the refusal says what to run" grep -qF "chmod go-w $T/open-sock" "$T/opensock.log"
check "no socket was made there" test -z "$(ls -A "$T/open-sock")"
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/theirs-state" "$T/theirs-sock"
	chmod 0700 "$T/theirs-state" "$T/theirs-sock"
	chown 65534:65534 "$T/theirs-state" "$T/theirs-sock"
	timeout 20 "$AGENTD" --socket "$T/b.sock" --state-dir "$T/theirs-state" > "$T/theirs.log" 2>&1
	check "a state dir owned by another uid is refused" test $? -ne 0
	check "the refusal names the owner" grep -q "uid 65534" "$T/theirs.log"
	timeout 20 "$AGENTD" --socket "$T/theirs-sock/s.sock" --state-dir "$T/s3" > "$T/theirs2.log" 2>&1
	check "a socket dir owned by another uid is refused" test $? -ne 0
	check "the refusal names the owner" grep -q "uid 65534" "$T/theirs2.log"
else
	echo "# skipping the other-uid checks: not root"
fi

# A regular file at the socket path is never deleted.
mkdir -p "$T/run" && chmod 0700 "$T/run"
printf 'precious\n' > "$T/run/file.sock"
timeout 20 "$AGENTD" --socket "$T/run/file.sock" --state-dir "$T/s4" > "$T/file.log" 2>&1
check "a regular file at the socket path is refused" test $? -ne 0
check "the file survives" test "$(cat "$T/run/file.sock")" = precious
check "the refusal says why" grep -q "not a socket" "$T/file.log"

# A symlink at <socket>.lock is never followed.
ln -s "$T/victim" "$T/run/v.sock.lock"
timeout 20 "$AGENTD" --socket "$T/run/v.sock" --state-dir "$T/s5" > "$T/victim.log" 2>&1
check "a symlink at the socket's lock is refused" test $? -ne 0
check "the missing victim is not created" test ! -e "$T/victim"
printf 'keep\n' > "$T/victim"
chmod 0644 "$T/victim"
before=$(stat -c '%a %s %Y %i' "$T/victim")
timeout 20 "$AGENTD" --socket "$T/run/v.sock" --state-dir "$T/s5" > "$T/victim2.log" 2>&1
check "a symlink to an existing victim is refused" test $? -ne 0
check "the victim is untouched" test "$(stat -c '%a %s %Y %i' "$T/victim")" = "$before"
check "the refusal says why" grep -q "symbolic link" "$T/victim2.log"
check "the symlink itself is left alone" test -L "$T/run/v.sock.lock"
# ... nor a symlink standing in for the state dir's lock.
mkdir -p "$T/s6" && chmod 0700 "$T/s6"
ln -s "$T/victim2" "$T/s6/agentd.pid"
timeout 20 "$AGENTD" --socket "$T/run/w.sock" --state-dir "$T/s6" > "$T/victim3.log" 2>&1
check "a symlink at the state lock is refused" test $? -ne 0
check "its victim is not created" test ! -e "$T/victim2"

stop_mock
finish
