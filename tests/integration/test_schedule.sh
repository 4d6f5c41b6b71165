#!/bin/sh
# test_schedule.sh — scheduled runs through the real daemon: a '*/1' job
# fires within the next minute and shows in `runs --job`, a bad expression is
# refused naming its field, and list/pause/resume/run/rm work end to end.
. "$(dirname "$0")/lib.sh"
command -v "$PYTHON3" >/dev/null || skip_all "python3 is needed for the scripted model server"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T/home"
mkdir -p "$HOME"
S="$(dirname "$0")/scenarios"
W="$T/repo"
make_repo "$W"
start_mock "$S/answer.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1

ctl schedule add --cron '61 * * * *' --workspace "$W" "check things" > "$T/bad.out" 2>&1
check "a bad minute is refused" test $? -ne 0
check "the refusal names the minute field" grep -q "minute" "$T/bad.out"
ctl schedule add --cron '* * * * * *' --workspace "$W" "check" > "$T/bad2.out" 2>&1
check "six fields are refused" grep -q "5 fields" "$T/bad2.out"

out=$(ctl schedule add --json --cron '*/1 * * * *' --workspace "$W" "check the repository")
check "schedule add succeeds" has "$out" '"cron":"*/1 * * * *"'
job=$(json_get "$out" 'j["id"]')
check "the job has a next fire time" test "$(json_get "$out" 'j["next_fire"] is not None')" = True
check "schedule list shows it" sh -c "'$AGENTCTL' --socket '$SOCK' schedule list | grep -q '\*/1'"

# Within the next minute (plus slack) a run appears for the job and ends.
found=
for k in $(seq 1 75); do
	runs=$(ctl runs --job "$job" --json)
	if [ "$(json_get "$runs" 'len(j)')" -ge 1 ] && \
	   [ "$(json_get "$runs" 'j[-1]["status"]')" = succeeded ]; then found=1; break; fi
	sleep 1
done
check "a run for the job started within the minute and succeeded" test -n "$found"
runs=$(ctl runs --job "$job" --json)
rid=$(json_get "$runs" 'j[-1]["id"]')
check "the scheduled run worked on its own branch" has "$(ctl show "$rid" --json)" '"branch":"agentd/'
check "the user's checkout was not touched" test "$(git -C "$W" branch --show-current)" = main
check "schedule list reports the last result" sh -c "'$AGENTCTL' --socket '$SOCK' schedule list | grep -q succeeded"

br=$(json_get "$(ctl show "$rid" --json)" 'j["branch"]')
check "undo deletes the scheduled run's branch" ctl undo "$rid"
check "the branch is gone" sh -c "! git -C '$W' rev-parse --verify -q '$br'"
check "schedule pause" ctl schedule pause "$job"
check "paused jobs show paused" sh -c "'$AGENTCTL' --socket '$SOCK' schedule list | grep -q paused"
# (A run the schedule fired a moment ago may still be going: the job never
# overlaps itself, so wait for it.)
r2=
for k in $(seq 1 100); do
	r2=$(ctl schedule run "$job" 2>"$T/runnow.err") && break
	grep -q "still running\|try again" "$T/runnow.err" || break
	sleep 0.2
done
check "schedule run fires now" test -n "$r2"
check "schedule resume" ctl schedule resume "$job"
check "schedule rm" ctl schedule rm "$job"
check "the job is gone" sh -c "! '$AGENTCTL' --socket '$SOCK' schedule list | grep -q '\*/1'"
stop_agentd
stop_mock

# A chore shipped in chores/ and one carried by the repository, run by hand.
W2="$T/repo-chore"
make_repo "$W2"
printf '/* TODO fix this */\n' > "$W2/main.c"
git -C "$W2" add main.c && git -C "$W2" commit -q -m "add main"
STATE="$T/state-chore"
start_mock "$S/todo.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W2" --chore "$top_srcdir/chores/todo-tracker.json" > "$T/chore.out" 2> "$T/chore.err"
check "run --chore FILE succeeds" test $? -eq 0
rid=$(json_get "$(ctl runs --json)" 'j[0]["id"]')
br=$(json_get "$(ctl show "$rid" --json)" 'j["branch"]')
check "the chore committed TODO.md on its own branch" \
	test "$(git -C "$W2" log -1 --format=%s "$br")" = "todo: update TODO.md from code comments"
check "the chore's tool list was applied" has "$(ctl show "$rid" --json)" '"tools":["update_plan","grep"'
stop_agentd
stop_mock
mkdir -p "$W2/.agentd/chores"
cp "$top_srcdir/chores/todo-tracker.json" "$W2/.agentd/chores/todo.json"
STATE="$T/state-chore2"
start_mock "$S/todo.json" || exit 1
start_agentd --llm-url "$MOCK_URL" || exit 1
ctl run --workspace "$W2" --chore todo > "$T/chore2.out" 2>&1
check "run --chore NAME finds .agentd/chores/NAME.json" test $? -eq 0
ctl run --workspace "$W2" --chore nosuch > "$T/chore3.out" 2>&1
check "an unknown chore is a usage error" test $? -eq 2
finish
