#!/bin/sh
# test_config_check.sh — every key of the configuration file, at every depth,
# is known or refused with FILE:LINE:COLUMN and its path (llm.idle_timeout);
# every value has its type and range; llm_url is an http(s) URL with a host.
# A bad file on SIGHUP is refused and the old configuration kept.
. "$(dirname "$0")/lib.sh"

refused() { # refused "description" 'file text' expected-substring...
	desc=$1; printf '%s\n' "$2" >"$T/bad.json"; shift 2
	out=$(timeout 20 "$AGENTD" --config "$T/bad.json" --socket "$T/bad.sock" \
		--state-dir "$T/badstate" 2>&1)
	rc=$?
	check "$desc: agentd refuses to start" test $rc -ne 0 -a $rc -ne 124
	for want in "$@"; do
		check "$desc: says '$want'" has "$out" "$want"
	done
}

refused "llm.idle_timeout (unknown nested key)" '{"llm": {"idle_timeout": 5}}' \
	"bad.json:1:10:" "'llm.idle_timeout'" "idle_timeout_ms"
refused "retention.max_age_days as a string" \
	'{
  "retention": {"max_age_days": "90"}
}' "bad.json:2:17:" "'retention.max_age_days' must be a number of days or a duration like"
refused "author.nmae" '{"author": {"nmae": "x"}}' "'author.nmae'" "known: name, email"
refused "author.name not a string" '{"author": {"name": 5}}' "'author.name' must be a string"
refused "llm.max_retries -1" '{"llm": {"max_retries": -1}}' "'llm.max_retries' must be from 0"
refused "an unknown top-level key" '{"max_steps": 3,
 "nope": 1}' "bad.json:2:2:" "unknown key 'nope'"
refused "max_steps -5" '{"max_steps": -5}' "'max_steps' must be from 1 to 1000000, not -5"
refused "max_line_bytes 10" '{"max_line_bytes": 10}' "'max_line_bytes' must be from 1024"
refused "max_wall_s 0" '{"max_wall_s": 0}' "'max_wall_s' must be from"
refused "llm_url not a url" '{"llm_url": "not a url"}' "'llm_url' 'not a url' is not an http"
refused "llm_url without a host" '{"llm_url": ["http://127.0.0.1:9/v1", {"url": "http:///v1"}]}' \
	"'llm_url' 'http:///v1' has no host"
refused "an llm_url entry's unknown key" '{"llm_url": [{"url": "http://h/v1", "modle": "m"}]}' \
	"unknown key 'llm_url[0].modle'"
refused "context_low_water 5" '{"context_low_water": 5}' "'context_low_water' must be from 10 to 100"
refused "llm_url ftp" '{"llm_url": "ftp://h/v1"}' "is not an http:// or https:// URL"

# Durations: a number in the key's unit, or a string with a unit.
refused "max_wall_s \"5 minutes\"" '{"max_wall_s": "5 minutes"}' \
	"'max_wall_s' must be a number of seconds or a duration like \"90s\", \"5m\", \"2h\", not \"5 minutes\""
refused "llm.idle_timeout_ms \"30\" (no unit)" '{"llm": {"idle_timeout_ms": "30"}}' \
	"'llm.idle_timeout_ms' must be a number of milliseconds or a duration"
refused "approval_timeout_s \"1.5s\"" '{"approval_timeout_s": "1.5s"}' \
	"'approval_timeout_s' must be a whole number of seconds, not 1.5"
refused "retention.max_age_days \"200y\"" '{"retention": {"max_age_days": "200y"}}' \
	"'retention.max_age_days' must be a number of days or a duration"
printf '{"max_wall_s": "5m", "approval_timeout_s": "2m", "retention": {"max_age_days": "36h"}, "llm": {"idle_timeout_ms": "90s"}}\n' >"$T/dur.json"
start_agentd --config "$T/dur.json" || exit 1
st=$(ctl status --json)
check "max_wall_s \"5m\" is 300 s" has "$st" '"max_wall_s":300'
stop_agentd

# The documented example starts.
cat >"$T/good.json" <<J
{ "llm_url": ["http://127.0.0.1:9/v1", {"url": "https://h.example:8443/v1", "model": "m"}],
  "max_steps": 9, "retention": {"max_age_days": 90}, "llm": {"idle_timeout_ms": 300000},
  "author": {"name": "A", "email": "a@example.com"} }
J
start_agentd --config "$T/good.json" || exit 1
check "a well-formed nested config starts" ctl status

# SIGHUP with a bad file keeps the old config and says why.
printf '{"max_steps": 4, "llm": {"idle_timeout": 5}}\n' >"$T/good.json"
kill -HUP "$AGENTD_PID"
wait_for grep -q "reload failed" "$T/agentd.log"
check "a bad reload says why, with the key's path" grep -q "reload failed.*'llm.idle_timeout'" "$T/agentd.log"
check "the old configuration is kept" sh -c "'$AGENTCTL' --socket '$SOCK' status --json | grep -q '\"max_steps\":9'"
stop_agentd
finish
