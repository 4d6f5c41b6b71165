#!/bin/sh
# bench_rss.sh — agentd's memory: resident set (anonymous and file-backed
# pages) at idle, its peak during one 5-step run, and during 8 runs at once,
# against the scripted model server. Linux /proc only; numbers in KiB.
#
#   bench/bench_rss.sh BUILD_DIR        (e.g. ./bench/bench_rss.sh build)
set -eu
B=$(cd "${1:-.}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/agentd-rss.XXXXXX)
trap 'kill $AP $MP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
export HOME="$T/home" XDG_CONFIG_HOME="$T/cfg" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
for i in 1 2 3 4 5 6 7 8; do
	mkdir -p "$T/ws$i" && printf 'hello\n' > "$T/ws$i/README.md"
	git -C "$T/ws$i" init -q && git -C "$T/ws$i" add README.md &&
		git -C "$T/ws$i" -c user.name=b -c user.email=b@b commit -qm i
done
python3 "$SRC/tests/mock/mock_llm.py" --scenario "$SRC/bench/rss_scenario.json" --port 0 \
	--port-file "$T/port" >/dev/null 2>&1 &
MP=$!
while [ ! -s "$T/port" ]; do sleep 0.05; done
"$B/agentd" --socket "$T/s" --state-dir "$T/st" --llm-url "http://127.0.0.1:$(cat "$T/port")/v1" \
	2>"$T/log" &
AP=$!
until "$B/agentctl" --socket "$T/s" status >/dev/null 2>&1; do sleep 0.05; done
sleep 0.3
mem() { # what: VmRSS RssAnon RssFile VmHWM of agentd
	awk -v w="$1" '/^VmRSS|^RssAnon|^RssFile|^VmHWM/ {v[$1]=$2}
	END {printf "%-22s rss %6d  anon %6d  file %6d  peak(hwm) %6d\n", w,
	     v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["VmHWM:"]}' "/proc/$AP/status"
}
mem "idle"
"$B/agentctl" --socket "$T/s" run --workspace "$T/ws1" "How long is the README?" >/dev/null 2>&1 ||
	echo "(the run failed: see $T/log)"
mem "after 1 run"
for i in 1 2 3 4 5 6 7 8; do
	"$B/agentctl" --socket "$T/s" run --workspace "$T/ws$i" "How long is the README?" >/dev/null 2>&1 &
done
sleep 0.2
while pgrep -P $$ agentctl >/dev/null 2>&1; do sleep 0.1; done
mem "after 8 runs at once"
sleep 1
mem "idle again"
