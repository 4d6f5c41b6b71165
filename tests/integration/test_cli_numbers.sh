#!/bin/sh
# test_cli_numbers.sh — agentctl reads numbers and durations whole: a count
# that is not one, or a duration without a known unit, exits 2 naming the
# flag before anything is sent to the daemon (none runs here).
. "$(dirname "$0")/lib.sh"

bad() { # bad "description" flag args...
	desc=$1 flag=$2; shift 2
	out=$("$AGENTCTL" --socket "$T/none.sock" "$@" 2>&1)
	rc=$?
	check "$desc exits 2" test $rc -eq 2
	check "$desc names $flag" has "$out" "$flag"
}

bad "run --max-wall 5x" --max-wall run --max-wall 5x task
bad "run --max-wall abc" --max-wall run --max-wall abc task
bad "run --max-wall -5" --max-wall run --max-wall -5 task
bad "run --max-steps abc" --max-steps run --max-steps abc task
bad "run --max-steps -5" --max-steps run --max-steps -5 task
bad "run --max-steps 5m" --max-steps run --max-steps 5m task
bad "run --max-tokens 1e3" --max-tokens run --max-tokens 1e3 task
bad "runs --limit abc" --limit runs --limit abc
bad "runs --limit 0" --limit runs --limit 0
bad "sessions --limit 99999999999999999999" --limit sessions --limit 99999999999999999999
bad "search --limit 3x" --limit search --limit 3x foo

# Well-formed values get past parsing, to the missing daemon.
out=$("$AGENTCTL" --socket "$T/none.sock" run --max-wall 5m --max-steps 3 --max-tokens 9000 task 2>&1)
check "run --max-wall 5m --max-steps 3 --max-tokens 9000 parses" has "$out" "no agentd is answering"
out=$("$AGENTCTL" --socket "$T/none.sock" runs --limit 20 2>&1)
check "runs --limit 20 parses" has "$out" "no agentd is answering"

finish
