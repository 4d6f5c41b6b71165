#!/bin/sh
# test_journal_open.sh — journals agentd must refuse at start instead of
# replacing or crashing on: a 0-byte agentd.db (alone, and beside a WAL that
# still holds the commits, as a kill -9 and a truncated copy leave it), which
# SQLite would silently take for a new database, deleting the WAL; and an
# agentd.db-shm agentd cannot write (immutable: root only). --new-journal
# starts afresh on purpose, keeping the old files aside.
. "$(dirname "$0")/lib.sh"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
DB="$STATE/agentd.db"

# refused FLAGS...: agentd exits non-zero by itself (within 20 s), log in $T/refused.log
refused() {
	: > "$T/refused.log"
	timeout 20 "$AGENTD" --socket "$SOCK" --state-dir "$STATE" "$@" > "$T/refused.log" 2>&1
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -lt 128 ]
}

# A journal with something in it, then agentd killed -9: the WAL holds the commits.
start_agentd || exit 1
W="$T/ws"; mkdir -p "$W"
check "something is committed" ctl schedule add --paused --cron @daily --workspace "$W" "keep me"
kill9_agentd
check "the kill left a WAL with the commits" test -s "$DB-wal"
wal_sum=$(md5sum < "$DB-wal")

# 0-byte database beside that WAL
: > "$DB"
check "a 0-byte agentd.db beside a WAL is refused" refused
check "the refusal names the file and the way out" sh -c "grep -q 'agentd.db' '$T/refused.log' && grep -q -- '--new-journal' '$T/refused.log'"
check "the refusal says the file is empty" grep -qi "empty\|0 bytes" "$T/refused.log"
check "the WAL is kept untouched" test "$(md5sum < "$DB-wal")" = "$wal_sum"
check "the database is still 0 bytes" test ! -s "$DB"

# 0-byte database alone
mv "$DB-wal" "$T/saved-wal"; rm -f "$DB-shm"
check "a 0-byte agentd.db alone is refused" refused
check "it is still 0 bytes (not made a new journal)" test ! -s "$DB"

# --new-journal: starts on a new journal, the old files kept aside
mv "$T/saved-wal" "$DB-wal"
start_agentd --new-journal || exit 1
check "--new-journal starts a new journal" ctl status
check "--new-journal says where the old files went" grep -q "aside\|moved" "$T/agentd.log"
check "the old WAL is kept aside" sh -c "cat '$STATE'/agentd.db.*-wal 2>/dev/null | md5sum | grep -q '$(echo "$wal_sum" | cut -d' ' -f1)'"
stop_agentd

# a new state directory: agentd never leaves a 0-byte journal itself
STATE2="$T/state2"
"$AGENTD" --socket "$T/s2.sock" --state-dir "$STATE2" > "$T/s2.log" 2>&1 &
P2=$!
wait_for test -S "$T/s2.sock"
kill -9 "$P2"; wait "$P2" 2>/dev/null
check "a new journal is never left at 0 bytes" sh -c "[ ! -e '$STATE2/agentd.db' ] || [ -s '$STATE2/agentd.db' ]"

# an agentd.db-shm that cannot be written
if [ "$(id -u)" = 0 ] && command -v chattr >/dev/null; then
	start_agentd || exit 1
	kill9_agentd
	if [ -e "$DB-shm" ] && chattr +i "$DB-shm" 2>/dev/null; then
		check "an immutable agentd.db-shm is refused at start (no crash)" refused
		check "the refusal names agentd.db-shm and the fix" sh -c "grep -q 'agentd.db-shm' '$T/refused.log' && grep -q 'chattr -i' '$T/refused.log'"
		chattr -i "$DB-shm"
		start_agentd || exit 1
		check "once writable again agentd starts" ctl status
		stop_agentd
	else
		echo "# SKIP: the file system here takes no immutable flag"
	fi
else
	echo "# SKIP: an immutable agentd.db-shm needs root and chattr"
fi
finish
