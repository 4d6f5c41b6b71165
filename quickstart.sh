#!/bin/sh
# quickstart.sh — from a fresh Debian 12 machine to a finished run:
# installs the packages, builds agentd, starts it (if it is not running yet),
# checks that a model server answers and that a run can work (agentctl
# doctor), and runs a task on a repository.
#
#   ./quickstart.sh [REPO] [TASK...]
#
# REPO defaults to this folder; TASK to a read-only summary of the repository.
# The model server comes from AGENTD_LLM_URL (default http://127.0.0.1:8080/v1,
# llama-server's default); AGENTD_MODEL names the model if the server needs it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=${1:-$here}
[ $# -gt 0 ] && shift
task=${*:-"Give a short overview of this repository: what it is for, its main folders, and how to build it. Do not change any file."}
url=${AGENTD_LLM_URL:-http://127.0.0.1:8080/v1}

"$here/deps.sh"
cd "$here"
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
mkdir -p build
( cd build && { [ -f Makefile ] || ../configure -q; } && make -j"$(nproc)" >/dev/null )
AGENTD="$here/build/agentd"
AGENTCTL="$here/build/agentctl"

if ! curl -sf -m 5 "$url/models" >/dev/null 2>&1; then
	cat >&2 <<MSG
agentd is built, but no model server answers at $url.
Start one that speaks the OpenAI Chat Completions API with tool calling, e.g.:

  llama.cpp:  llama-server -m qwen2.5-7b-instruct-q4_k_m.gguf --jinja -c 16384 --port 8080
  Ollama:     ollama serve & ollama pull qwen2.5:7b
              AGENTD_LLM_URL=http://127.0.0.1:11434/v1 AGENTD_MODEL=qwen2.5:7b $0 $repo
  vLLM:       vllm serve Qwen/Qwen2.5-7B-Instruct --enable-auto-tool-choice --tool-call-parser hermes
              AGENTD_LLM_URL=http://127.0.0.1:8000/v1 $0 $repo

then run this command again (docs/models.md has more).
MSG
	exit 3
fi

if ! "$AGENTCTL" status >/dev/null 2>&1; then
	state=${XDG_STATE_HOME:-$HOME/.local/state}/agentd
	mkdir -p -m 700 "$state"	# private from the start (agentd would tighten it, with a warning)
	echo "starting agentd (log: $state/agentd.log)" >&2
	AGENTD_LLM_URL=$url nohup "$AGENTD" >>"$state/agentd.log" 2>&1 &
	i=0
	until "$AGENTCTL" status >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "agentd did not start; see $state/agentd.log" >&2; exit 1; }
		sleep 0.1
	done
fi
# What a run needs, checked end to end (daemon, journal, sandbox, the model
# server's window and tool calling); stop with its fixes when a run cannot work.
if ! "$AGENTCTL" doctor > "${TMPDIR:-/tmp}/agentd-doctor.$$" 2>&1; then
	cat "${TMPDIR:-/tmp}/agentd-doctor.$$" >&2
	rm -f "${TMPDIR:-/tmp}/agentd-doctor.$$"
	exit 3
fi
rm -f "${TMPDIR:-/tmp}/agentd-doctor.$$"
exec "$AGENTCTL" run --workspace "$repo" "$task"
