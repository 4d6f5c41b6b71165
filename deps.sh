#!/bin/sh
# deps.sh — install the Debian 12 packages agentd needs to build, test and run.
# Used by quickstart.sh and test.sh; safe to run again (apt-get skips what is there).
set -e
PKGS="build-essential autoconf automake libtool pkg-config git ca-certificates curl \
libcurl4-openssl-dev libjansson-dev libgit2-dev libsqlite3-dev libseccomp-dev libcmocka-dev \
python3 socat tzdata util-linux procps nodejs systemd zsh"
# systemd and zsh are for the tests: test_systemd.sh checks the units with
# systemd-analyze and starts agentd with systemd-socket-activate (no running
# systemd needed), test_completion.sh has zsh parse the zsh completion. A
# Debian 12 VM has systemd already; a container (CI) has neither, and those
# checks were skipped there.
# The reference MCP servers the tests run (tests/mcp, npm ci) need Node and
# npm. NodeSource's nodejs carries its own npm and conflicts with Debian's.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps.sh: installing:$missing" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
