#!/bin/sh
# test_system_config.sh — the machine's configuration file (SYSCONFDIR/
# agentd/config.json, /etc/agentd/config.json on a distribution build) is
# read before the user's: the user's keys win one by one, the machine's
# others stay; a bad machine file is refused naming it; SIGHUP reloads both.
. "$(dirname "$0")/lib.sh"

sysdir=$(sed -n 's/^sysconfdir = //p' "$top_builddir/Makefile")
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
sysdir=$(printf '%s' "$sysdir" | sed "s|\${prefix}|$prefix|")
out=$("$AGENTD" --help 2>&1)
check "agentd --help names the machine's file" has "$out" "$sysdir/agentd/config.json"

cat >"$T/system.json" <<J
{ "max_steps": 7, "context_window": 5000, "retention": {"max_count": 50},
  "llm": {"max_retries": 1} }
J
cat >"$T/user.json" <<J
{ "max_steps": 9, "llm": {"idle_timeout_ms": 300000} }
J
export AGENTD_SYSTEM_CONFIG="$T/system.json"
start_agentd --config "$T/user.json" || exit 1
st=$(ctl status --json)
check "the user's key wins" has "$st" '"max_steps":9'
check "the machine's other keys stay" has "$st" '"context_window":5000'
check "status names both files" has "$st" "\"system_config_file\":\"$T/system.json\""
check "... and the user's" has "$st" "\"config_file\":\"$T/user.json\""

# SIGHUP reads both again.
printf '{"max_steps": 7, "context_window": 6000}\n' >"$T/system.json"
kill -HUP "$AGENTD_PID"
wait_for sh -c "'$AGENTCTL' --socket '$SOCK' status --json | grep -q '\"context_window\":6000'"
st=$(ctl status --json)
check "SIGHUP rereads the machine's file" has "$st" '"context_window":6000'
check "... and keeps the user's on top" has "$st" '"max_steps":9'
check "the reload names both files" grep -q "reloaded from $T/system.json and $T/user.json" "$T/agentd.log"
stop_agentd

# A bad machine file is refused, naming it, even when the user's is fine.
printf '{"max_stpes": 3}\n' >"$T/system.json"
out=$(timeout 20 "$AGENTD" --config "$T/user.json" --socket "$T/b.sock" --state-dir "$T/b" 2>&1)
rc=$?
check "a bad machine file: agentd refuses to start" test $rc -ne 0 -a $rc -ne 124
check "... naming the file and the key" has "$out" "$T/system.json:1:2: unknown key 'max_stpes'"

# AGENTD_SYSTEM_CONFIG set to a missing file is an error; empty means none.
out=$(AGENTD_SYSTEM_CONFIG="$T/missing.json" timeout 20 "$AGENTD" --config "$T/user.json" \
	--socket "$T/b.sock" --state-dir "$T/b" 2>&1)
check "a named machine file that is missing is refused" has "$out" "$T/missing.json"
AGENTD_SYSTEM_CONFIG= start_agentd --config "$T/user.json" || exit 1
st=$(ctl status --json)
check "AGENTD_SYSTEM_CONFIG empty: no machine file" lacks "$st" "system_config_file\":\""
stop_agentd
finish
