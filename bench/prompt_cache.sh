#!/bin/sh
# prompt_cache.sh — how much of each request the model server can serve from
# its prompt cache over a long run on a small window.
#
# Runs the real agentd against the scripted model server (which records
# every request body) for a STEPS-step scripted run (default 50) on a
# WINDOW-token window (default 4096), reading files of a few hundred bytes to
# 2 KB, twice: with context_low_water 100 (elide just enough on each step:
# how agentd did it before) and with the default 60 (elide in rare large
# blocks). For each pair of consecutive requests it measures the common
# prefix of what a chat template would render (tools, then each message),
# and prints, over steps 2..N, the share of request bytes in that prefix,
# how many requests rewrote the history before their end, and the
# server-side view (the scripted server's cached_tokens / prompt_tokens).
#
# "appends only" is the ceiling: the share if no request rewrote the one
# before (the messages each step adds — the reply and its tool output — are
# new to any cache; a real server may still hold the reply it generated). LINES (default 7) sets the files' size: file k has 6 + LINES*k
# lines of about 40 bytes.
#
# With LLM_URL=http://127.0.0.1:PORT/v1 (a real llama-server started with
# -c WINDOW -np 1, loopback only) the runs go to that server instead: the
# model decides what to call (the scenario is not used), the same failing
# call may repeat (repeat_fail_limit is raised) and the numbers are the
# server's own cached_tokens / prompt_tokens per step, from the run's events.
#
# usage: [LINES=N] [LLM_URL=URL] bench/prompt_cache.sh [STEPS] [WINDOW]   (from a build directory
# holding agentd and agentctl, or with AGENTD_BUILD=DIR)
# BEFORE_LW and AFTER_LW (default 100 and 60) set the two runs' context_low_water.
# The recorded requests stay in $OUT (default: a temporary folder, printed).
set -eu
STEPS=${1:-50}
WINDOW=${2:-4096}
LINES=${LINES:-7}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
B=${AGENTD_BUILD:-$PWD}
[ -x "$B/agentd" ] || { echo "no agentd in $B: run from the build directory or set AGENTD_BUILD" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/agentd-cache.XXXXXX)}
export XDG_CONFIG_HOME="$OUT/xdg" NO_COLOR=1 GIT_CONFIG_NOSYSTEM=1 HOME="$OUT/home"
mkdir -p "$HOME" "$XDG_CONFIG_HOME"

python3 - "$OUT/scenario.json" "$STEPS" "$WINDOW" <<'PY'
import json, sys
path, steps, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
turns = [{"tool_calls": [{"name": "update_plan", "arguments": {"steps": [
    {"step": "Read the sources", "status": "in_progress"},
    {"step": "Report", "status": "pending"}]}}]}]
for i in range(steps - 3):
    k = i % 8
    if i % 5 == 4:
        call = {"name": "grep", "arguments": {"pattern": "line %d" % (i % 30), "glob": "*.txt"}}
    else:
        call = {"name": "read_file", "arguments": {"path": "src/file%d.txt" % k}}
    turns.append({"content": "", "tool_calls": [call]})
turns.append({"tool_calls": [{"name": "update_plan", "arguments": {"steps": [
    {"step": "Read the sources", "status": "completed"},
    {"step": "Report", "status": "completed"}]}}]})
turns.append({"content": "I read the sources."})
json.dump({"n_ctx": window, "turns": turns}, open(path, "w"))
PY

run_once() { # NAME LOW_WATER
	d="$OUT/$1"
	mkdir -p "$d/repo/src"
	git -C "$d/repo" init -q -b main
	for k in 0 1 2 3 4 5 6 7; do
		python3 -c "import sys; k=int(sys.argv[1]); print('\n'.join('line %d of file %d: some text to read' % (i, k) for i in range(6 + int(sys.argv[2]) * k)))" $k "$LINES" > "$d/repo/src/file$k.txt"
	done
	git -C "$d/repo" add -A && git -C "$d/repo" -c user.name=b -c user.email=b@example.org commit -qm init
	if [ -n "${LLM_URL:-}" ]; then
		printf '{"context_low_water": %s, "max_steps": %s, "repeat_fail_limit": 1000}\n' \
			"$2" "$STEPS" > "$d/config.json"
		url=$LLM_URL
		mpid=
	else
		printf '{"context_low_water": %s, "max_steps": %s}\n' "$2" "$((STEPS + 5))" > "$d/config.json"
		python3 "$top/tests/mock/mock_llm.py" --scenario "$OUT/scenario.json" --port 0 \
			--port-file "$d/port" --log "$d/requests.jsonl" > "$d/mock.out" 2>&1 &
		mpid=$!
		i=0; while [ ! -s "$d/port" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
		url="http://127.0.0.1:$(cat "$d/port")/v1"
	fi
	"$B/agentd" --config "$d/config.json" --socket "$d/s.sock" --state-dir "$d/state" \
		--llm-url "$url" > "$d/agentd.log" 2>&1 &
	apid=$!
	i=0; while ! "$B/agentctl" --socket "$d/s.sock" status > /dev/null 2>&1 && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	"$B/agentctl" --socket "$d/s.sock" run --workspace "$d/repo" "Read every file under src/ and report" \
		> "$d/run.out" 2>&1 || true
	"$B/agentctl" --socket "$d/s.sock" show 1 > "$d/show.out" 2>&1 || true
	"$B/agentctl" --socket "$d/s.sock" attach 1 --json > "$d/events.jsonl" 2>/dev/null || true
	kill "$apid" $mpid 2>/dev/null; wait "$apid" $mpid 2>/dev/null || true
}
run_once before "${BEFORE_LW:-100}"
run_once after "${AFTER_LW:-60}"

if [ -n "${LLM_URL:-}" ]; then
	python3 - "$OUT" <<'PY'
import json, sys
for name in ("before", "after"):
    steps = []
    for line in open("%s/%s/events.jsonl" % (sys.argv[1], name)):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        u = (e.get("data") or {}).get("usage") if e.get("type") == "message" else None
        if isinstance(u, dict) and isinstance(u.get("cached_tokens"), int):
            steps.append((u["cached_tokens"], u["prompt_tokens"],
                          u.get("completion_tokens") or 0))
    c = sum(s[0] for s in steps[1:])
    p = sum(s[1] for s in steps[1:])
    print("%-7s %3d steps  server cached/prompt over steps 2..N %.3f (%d of %d)  "
          "steps under half cached: %d" % (name, len(steps), c / max(1, p), c, p,
                                          sum(1 for s in steps[1:] if s[0] * 2 < s[1])))
    # What each step appended (its growth; on a step that cut the history,
    # the median growth) is new to any cache: "appends only" is the share
    # if nothing were ever rewritten. The reply the server generated may be
    # in its cache still: "replies cached" also counts the previous step's
    # completion tokens as served (the most a server can do).
    grow = [b[1] - a[1] for a, b in zip(steps, steps[1:])]
    pos = sorted(g for g in grow if g > 0) or [0]
    med = pos[len(pos) // 2]
    app = [g if g > 0 else med for g in grow]
    new = [max(0, g - a[2]) for g, a in zip(app, steps)]
    print("        average prompt %d tokens, median growth %d, median reply %d; "
          "appends only %.3f, replies cached %.3f, cuts %d" % (
              p / max(1, len(grow)), med, sorted(s[2] for s in steps)[len(steps) // 2],
              1 - sum(app) / max(1, p), 1 - sum(new) / max(1, p),
              sum(1 for g in grow if g <= 0)))
PY
	exit 0
fi

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]

def text(body):
    return json.dumps(body.get("tools") or [], sort_keys=True) + "".join(
        json.dumps(m, sort_keys=True) for m in body["messages"])

def common(a, b):
    n, i = min(len(a), len(b)), 0
    while i < n and a[i] == b[i]:
        i += 1
    return i

rows = {}
for name in ("before", "after"):
    reqs = []
    for line in open("%s/%s/requests.jsonl" % (out, name)):
        r = json.loads(line)
        if r.get("path", "").endswith("/chat/completions") and r.get("status") == 200 \
                and isinstance(r.get("body"), dict) and r["body"].get("tools"):
            reqs.append(r)
    same = total = rewrites = ceil = 0
    ctok = ptok = 0
    for prev, cur in zip(reqs, reqs[1:]):
        a, b = text(prev["body"]), text(cur["body"])
        c = common(a, b)
        same += c
        total += len(b)
        pm, cm = prev["body"]["messages"], cur["body"]["messages"]
        ceil += len(b) - sum(len(json.dumps(m, sort_keys=True)) for m in cm[len(pm):])
        rewrites += c < len(a)
        ctok += cur.get("cached_tokens", 0)
        ptok += json.dumps(cur["body"]["messages"]).__len__() // 4 + json.dumps(cur["body"]["tools"]).__len__() // 4 + 2
    rows[name] = (len(reqs), same / max(1, total), ceil / max(1, total), rewrites,
                  ctok / max(1, ptok))
    print("%-7s %3d requests  prefix share (bytes, steps 2..N) %.3f (appends only: %.3f)  "
          "history rewritten %2d times  server cached/prompt %.3f" % ((name,) + rows[name]))
print("requests recorded in %s/{before,after}/requests.jsonl" % out)
PY
