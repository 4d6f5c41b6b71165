#!/bin/sh
# test_answer_once.sh — agentctl streams the model's text to stderr and
# prints the final answer on stdout. When both lead to the same file (2>&1
# into a file or one pipe, a CI log, >>f 2>>f, a terminal) the answer must
# be there once; when they lead to different files, stdout still gets the
# whole answer. The --json and --output-format json outputs do not change.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export HOME="$T/home"
mkdir -p "$HOME" "$T/ws"
start_mock "$(dirname "$0")/scenarios/answer_once.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
KEY=ANSWER-ZEBRA-7Q4
count() { grep -o "$KEY" "$1" | wc -l; }
run() { "$AGENTCTL" --socket "$SOCK" run --workspace "$T/ws" "$@"; }

run "say it" > "$T/all.out" 2>&1
n=$(count "$T/all.out")
check "2>&1 into a file: the answer once (got $n)" test "$n" -eq 1
check "2>&1 into a file: the whole answer, its last line too" grep -q "^Last line of it.$" "$T/all.out"
check "2>&1 into a file: the text before the tool call is there" grep -q "PRELUDE-Q8" "$T/all.out"

run "say it" > "$T/sep.out" 2> "$T/sep.err"
n=$(count "$T/sep.out")
check "> out 2> err: the answer once on stdout (got $n)" test "$n" -eq 1
check "> out 2> err: stdout is exactly the answer" "$PYTHON3" -c '
import sys
sys.exit(open(sys.argv[1]).read() != "Here it is:\nANSWER-ZEBRA-7Q4 is the unique answer.\nLast line of it.\n")' "$T/sep.out"
n=$(count "$T/sep.err")
check "> out 2> err: the streamed answer once on stderr (got $n)" test "$n" -eq 1

run "say it" 2>&1 | cat > "$T/pipe.out"
n=$(count "$T/pipe.out")
check "2>&1 | cat: the answer once (got $n)" test "$n" -eq 1

: > "$T/app.out"
run "say it" >> "$T/app.out" 2>> "$T/app.out"
n=$(count "$T/app.out")
check ">>f 2>>f (two opens of one file): the answer once (got $n)" test "$n" -eq 1

run --continue "say it again" > "$T/cont.out" 2>&1
n=$(count "$T/cont.out")
check "run --continue 2>&1: the answer once (got $n)" test "$n" -eq 1

run -q "say it" > "$T/q.out" 2>&1
n=$(count "$T/q.out")
check "-q 2>&1: the answer once (got $n)" test "$n" -eq 1

rid=$("$AGENTCTL" --socket "$SOCK" runs --json | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$AGENTCTL" --socket "$SOCK" attach "$rid" > "$T/att.out" 2>&1
n=$(count "$T/att.out")
check "attach 2>&1: the answer once (got $n)" test "$n" -eq 1
"$AGENTCTL" --socket "$SOCK" attach "$rid" > "$T/att2.out" 2> "$T/att2.err"
n=$(count "$T/att2.out")
check "attach > out 2> err: the answer once on stdout (got $n)" test "$n" -eq 1

# --json: one event per line on stdout, the text as it streamed and the
# answer in the end event; nothing else, whatever stderr is.
run --json "say it" > "$T/j.out" 2>&1
check "--json 2>&1: every line is a JSON event, one end with the answer, text deltas as streamed" \
	"$PYTHON3" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
end = [e for e in ev if e.get("type") == "end"]
assert len(end) == 1 and "ANSWER-ZEBRA-7Q4" in end[0]["data"]["answer"], end
text = "".join(e["data"]["delta"] for e in ev if e.get("type") == "text")
assert text.count("ANSWER-ZEBRA-7Q4") == 1, text
assert ev[0]["type"] == "start"
' "$T/j.out"
run --json "say it" > "$T/j2.out" 2> "$T/j2.err"
check "--json > out 2> err: nothing on stderr" test ! -s "$T/j2.err"
check "--json: the same lines whether stderr is stdout or not" test \
	"$(wc -l < "$T/j.out")" -eq "$(wc -l < "$T/j2.out")"

run --output-format json "say it" > "$T/r.out" 2>&1
check "--output-format json 2>&1: one JSON object with the answer" "$PYTHON3" -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["answer"] == "Here it is:\nANSWER-ZEBRA-7Q4 is the unique answer.\nLast line of it.", o
' "$T/r.out"

# attach in the middle of an answer sees only its end stream: the answer
# is then printed whole, also where stderr is stdout (a terminal, 2>&1).
# The model stops for 3 s after the answer's first line; a first client
# (run --json) shows when that line has streamed. Were the machine so slow
# that the run ended before attach came, the answer would still be printed
# once: no wrong failure, only a weaker check.
stop_agentd
stop_mock
start_mock "$(dirname "$0")/scenarios/answer_mid.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
mid_run() { # NAME: start a run, wait for its first streamed text; sets rid and bg
	run --json "say it in two parts" > "$T/$1.json" 2>/dev/null &
	bg=$!
	wait_for grep -q '"type":"text"' "$T/$1.json"
	rid=$("$PYTHON3" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["run_id"])' "$T/$1.json")
}
if command -v script >/dev/null; then
	mid_run tty
	script -qec "'$AGENTCTL' --socket '$SOCK' attach $rid" /dev/null > "$T/mid-tty.out" 2>&1 </dev/null
	wait $bg
	n=$(count "$T/mid-tty.out")
	check "attach mid-answer on a terminal: the answer whole, once (got $n)" test "$n" -eq 1
else
	echo "# script(1) not found: attach mid-answer on a terminal not checked"
fi
mid_run file
"$AGENTCTL" --socket "$SOCK" attach "$rid" > "$T/mid-file.out" 2>&1
wait $bg
n=$(count "$T/mid-file.out")
check "attach mid-answer 2>&1: the answer whole, once (got $n)" test "$n" -eq 1
check "attach mid-answer 2>&1: the whole answer, printed after the end it saw stream" "$PYTHON3" -c '
import sys
o = open(sys.argv[1]).read()
sys.exit(not o.endswith("And this line ends it.\nANSWER-ZEBRA-7Q4 opens the answer.\nAnd this line ends it.\n"))' "$T/mid-file.out"

stop_agentd
stop_mock
finish
