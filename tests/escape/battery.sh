#!/bin/sh
# battery.sh — the sandbox escape battery.
#
# Each case first shows the attack WORKING without the sandbox (so the test
# can fail), then shows it contained by `agentctl sandbox` (or the stand-in
# tests/escape/sbx_driver while agentctl is not built). Run as root it runs
# three times: as root, as uid 65534 with user namespaces, and as uid 65534
# with user namespaces refused (AGENTD_SANDBOX_NO_USERNS=1, the Ubuntu 24.04
# case). Every command is bounded by `timeout`. Ends with "N passed, M failed".
set -u

: "${top_builddir:=$(pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
MODE=${BATTERY_MODE:-top}
ME=$(id -u)

pass=0
fail=0
say() { printf '%s\n' "$*"; }

if [ "$MODE" = top ]; then
	BIN=$(mktemp -d /tmp/agentd-escape-bin.XXXXXX) || exit 99
	chmod 755 "$BIN"
	trap 'rm -rf "$BIN"' EXIT INT TERM
	cp "$top_builddir/tests/escape/attack" "$BIN/attack" || exit 99
	# Prefer the real client when it is built and knows the sub-command.
	if [ -x "$top_builddir/agentctl" ] && "$top_builddir/agentctl" sandbox --help >/dev/null 2>&1; then
		cp "$top_builddir/agentctl" "$BIN/sbx"
	else
		cp "$top_builddir/tests/escape/sbx_driver" "$BIN/sbx" || exit 99
	fi
	cp "$0" "$BIN/battery.sh"
	chmod 755 "$BIN"/*
	mkdir -m 1777 "$BIN/res"
	say "escape battery: sandbox entry point $( [ -x "$top_builddir/agentctl" ] && cmp -s "$top_builddir/agentctl" "$BIN/sbx" && echo 'agentctl sandbox' || echo 'sbx_driver sandbox')"
	total_p=0
	total_f=0
	run_sub() {	# label, then the command prefix
		label=$1
		shift
		"$@" env BATTERY_MODE="$label" BIN="$BIN" sh "$BIN/battery.sh"
		if [ -f "$BIN/res/result.$label" ]; then
			read -r p f < "$BIN/res/result.$label"
		else
			p=0 f=1
			say "FAIL [$label] the battery did not finish"
		fi
		total_p=$((total_p + p))
		total_f=$((total_f + f))
	}
	# Identity cases: a root-owned 0600 file and a setuid-root copy of the
	# helper, where no mode hides them (a fresh dir under /); root only.
	PRIV=""
	if [ "$ME" = 0 ] && PRIV=$(mktemp -d /agentd-escape-priv.XXXXXX 2>/dev/null); then
		chmod 755 "$PRIV"
		echo "root secret" > "$PRIV/secret"
		chmod 600 "$PRIV/secret"
		cp "$BIN/attack" "$PRIV/suid-attack"
		chmod 4755 "$PRIV/suid-attack"
		trap 'rm -rf "$BIN" "$PRIV"' EXIT INT TERM
	fi
	export PRIV
	if [ "$ME" = 0 ]; then
		run_sub root
		run_sub unpriv setpriv --reuid=65534 --regid=65534 --clear-groups
		run_sub fallback setpriv --reuid=65534 --regid=65534 --clear-groups \
			env AGENTD_SANDBOX_NO_USERNS=1
	else
		run_sub user
		run_sub fallback env AGENTD_SANDBOX_NO_USERNS=1
	fi
	rm -rf "$BIN" ${PRIV:+"$PRIV"}
	say "$total_p passed, $total_f failed"
	[ "$total_f" = 0 ]
	exit
fi

# ---- one sub-run: BIN holds attack and sbx, readable by this uid ----------
S="$BIN/sbx"
T=$(mktemp -d /tmp/agentd-escape.XXXXXX) || exit 99
# The workspace and the outside target live where the sandbox does not hide
# them (a fresh dir under / when we may create one; else /var/tmp, hidden).
if B=$(mktemp -d /agentd-escape.XXXXXX 2>/dev/null); then :; else B=$(mktemp -d /var/tmp/agentd-escape.XXXXXX); fi
W=$B/ws
O=$B/out
W2=$B/ws-plain
mkdir -p "$W/.git" "$W/mnt" "$W/src" "$W/bin" "$O" "$W2"
echo "[core]" > "$W/.git/config"
# The attack helper lives in the workspace: the one place every mode shows
# (a private /tmp hides the rest of /tmp, where build trees often are).
cp "$BIN/attack" "$W/bin/attack"
A="$W/bin/attack"
IPC=$T/ipc
mkdir -p "$IPC"
PIDS=""
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T" "$B" /var/tmp/agentd-escape-out.$$ /dev/shm/agentd-escape.$$ 2>/dev/null
}
trap cleanup EXIT

RC=0
base() { timeout 15 "$@" >/dev/null 2>"$T/base.err"; RC=$?; }
sbx() {	# sbx [sandbox options] -- cmd...
	timeout 30 "$S" sandbox --workspace "$W" "$@" >/dev/null 2>"$T/sbx.err"; RC=$?
}
# verdict NAME BASE_OK SBX_OK [privileged]
verdict() {
	name=$1 bok=$2 sok=$3 priv=${4:-}
	if [ "$RC" -ge 125 ] && [ "$RC" -le 127 ]; then
		fail=$((fail + 1)); say "FAIL [$MODE] $name: the sandbox did not run the attack (exit $RC; $(head -c 300 "$T/sbx.err"))"
	elif [ "$bok" = 1 ] && [ "$sok" = 1 ]; then
		pass=$((pass + 1)); say "PASS [$MODE] $name: works without the sandbox, contained with it"
	elif [ "$bok" != 1 ] && [ -n "$priv" ] && [ "$ME" != 0 ] && [ "$sok" = 1 ]; then
		pass=$((pass + 1)); say "PASS [$MODE] $name: contained (uid $ME cannot do it even without the sandbox: $priv; the root run shows it working)"
	elif [ "$bok" != 1 ]; then
		fail=$((fail + 1)); say "FAIL [$MODE] $name: the attack does not work even WITHOUT the sandbox ($(head -c 200 "$T/base.err"))"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] $name: NOT contained by the sandbox (exit $RC; $(head -c 200 "$T/sbx.err"))"
	fi
}
yes_if() { if "$@"; then echo 1; else echo 0; fi; }
new_victim() { sleep 60 & V=$!; PIDS="$PIDS $V"; }

# -- controls: the sandbox still lets the command work in the workspace
control() {	# name file, then the sandbox arguments
	name=$1 file=$2
	shift 2
	timeout 30 "$S" sandbox "$@" >/dev/null 2>"$T/sbx.err"; RC=$?
	if [ "$RC" = 0 ] && [ -f "$file" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: $name"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: $name (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
}
control "write W/inside (workspace without .git)" "$W2/inside" --workspace "$W2" -- sh -c "echo x > '$W2/inside'"
control "write in a workspace with .git" "$W/src/inside" --workspace "$W" -- sh -c "echo x > '$W/src/inside'"
control "private tmp is writable" "$W/src/tmpok" --workspace "$W" -- sh -c "echo x > \"\$TMPDIR/t\" && cp \"\$TMPDIR/t\" '$W/src/tmpok'"
# User namespaces that can be made but cannot mount (an LSM's restriction,
# as on Ubuntu 24.04): the run's set-up fails in the child, and agentctl
# notices and runs it again in the fallback mode.
if [ "$MODE" = unpriv ]; then
	timeout 30 "$A" nomount "$S" sandbox --workspace "$W2" -- sh -c "echo x > '$W2/nomount'" \
	    >/dev/null 2>"$T/sbx.err"; RC=$?
	if [ "$RC" = 0 ] && [ -f "$W2/nomount" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: with mount(2) refused in user namespaces the run falls back and works"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: with mount(2) refused in user namespaces the run did not fall back (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
	rm -f "$W2/nomount"
fi
# The set-up may run on one CPU and, as root, SCHED_FIFO (the hand-off at
# the exec); the command has every CPU the caller may use and the caller's
# policy and nice value from its first instruction, and what it starts
# inherits them (grep reads its own mask, then the shell's; the init,
# which only waits, stays on its CPU). Fields 19 and 41 of stat: nice and
# policy. (The fallback mode has no /proc to look in, and never pins.)
if [ "$MODE" != fallback ]; then
	CPUS=$(grep Cpus_allowed_list /proc/self/status)
	SCHED=$(cut -d' ' -f19,41 /proc/self/stat)
	control "the command and what it starts may use every CPU the caller may, at its policy" \
	    "$W/src/cpus" --workspace "$W" -- sh -c "[ \"\$(grep Cpus_allowed_list /proc/self/status)\" = '$CPUS' ] &&
	    [ \"\$(grep Cpus_allowed_list /proc/\$\$/status)\" = '$CPUS' ] &&
	    [ \"\$(cut -d' ' -f19,41 /proc/\$\$/stat)\" = '$SCHED' ] && touch '$W/src/cpus'"
	rm -f "$W/src/cpus"
fi

# -- filesystem
base "$A" write "$O/f"; b=$(yes_if [ "$RC" = 0 -a -f "$O/f" ]); rm -f "$O/f"
sbx -- "$A" write "$O/f"; s=$(yes_if [ "$RC" != 0 -a ! -f "$O/f" ])
verdict "write outside by absolute path" "$b" "$s"

f=/var/tmp/agentd-escape-out.$$
base sh -c "echo x > $f"; b=$(yes_if [ "$RC" = 0 -a -f "$f" ]); rm -f "$f"
sbx -- sh -c "echo x > $f"; s=$(yes_if [ ! -f "$f" ])
verdict "write /var/tmp" "$b" "$s"

base "$A" write "$W/../out/dd"; b=$(yes_if [ "$RC" = 0 -a -f "$O/dd" ]); rm -f "$O/dd"
sbx -- "$A" write "$W/../out/dd"; s=$(yes_if [ "$RC" != 0 -a ! -f "$O/dd" ])
verdict "write outside through .." "$b" "$s"

base "$A" symlink "$W/ln" "$O/sl"; b=$(yes_if [ "$RC" = 0 -a -f "$O/sl" ]); rm -f "$O/sl" "$W/ln"
sbx -- "$A" symlink "$W/ln" "$O/sl"; s=$(yes_if [ ! -f "$O/sl" ]); rm -f "$W/ln"
verdict "write outside through a symlink" "$b" "$s"

echo orig > "$O/hl"
base "$A" hardlink "$O/hl" "$W/hl"; b=$(yes_if [ "$RC" = 0 ] && grep -q pwned "$O/hl"); rm -f "$W/hl"; echo orig > "$O/hl"
sbx -- "$A" hardlink "$O/hl" "$W/hl"; s=$(yes_if [ "$RC" != 0 ] && grep -q orig "$O/hl"); rm -f "$W/hl"
verdict "write outside through a new hardlink" "$b" "$s"

echo orig > "$O/mv"
base "$A" rename "$O/mv" "$W/mv"; b=$(yes_if [ "$RC" = 0 -a ! -f "$O/mv" ]); rm -f "$W/mv"; echo orig > "$O/mv"
sbx -- "$A" rename "$O/mv" "$W/mv"; s=$(yes_if [ "$RC" != 0 -a -f "$O/mv" ]); rm -f "$W/mv"
verdict "move an outside file in by rename" "$b" "$s"

# --readable (a tool installed where the sandbox hides): read-only, and only
# that folder comes back.
RD=$(mktemp -d /var/tmp/agentd-escape-rd.XXXXXX) && mkdir "$RD/tool" && echo s > "$RD/secret"
base "$A" write "$RD/tool/f"; b=$(yes_if [ "$RC" = 0 -a -f "$RD/tool/f" ]); rm -f "$RD/tool/f"
sbx --readable "$RD/tool" -- "$A" write "$RD/tool/f"; s=$(yes_if [ "$RC" = 1 -a ! -f "$RD/tool/f" ])
verdict "write into a --readable folder" "$b" "$s"
if [ "$MODE" != fallback ]; then	# the fallback mode hides no folder by a mount
	base "$A" read "$RD/secret"; b=$(yes_if [ "$RC" = 0 ])
	sbx --readable "$RD/tool" -- "$A" read "$RD/secret"; s=$(yes_if [ "$RC" = 1 ])
	verdict "read beside a --readable folder in a hidden one" "$b" "$s"
fi
rm -rf "$RD"

base "$A" write "/proc/self/root$O/pr"; b=$(yes_if [ "$RC" = 0 -a -f "$O/pr" ]); rm -f "$O/pr"
sbx -- "$A" write "/proc/self/root$O/pr"; s=$(yes_if [ ! -f "$O/pr" ])
verdict "write outside through /proc/self/root" "$b" "$s"

f=/dev/shm/agentd-escape.$$
base "$A" write "$f"; b=$(yes_if [ "$RC" = 0 -a -f "$f" ]); rm -f "$f"
sbx -- "$A" write "$f"; s=$(yes_if [ ! -f "$f" ])
verdict "write the host /dev/shm" "$b" "$s"

base "$A" write "$W/.git/config"; b=$(yes_if [ "$RC" = 0 ] && grep -q pwned "$W/.git/config"); echo "[core]" > "$W/.git/config"
sbx -- "$A" write "$W/.git/config"; s=$(yes_if [ "$RC" != 0 ] && grep -q core "$W/.git/config")
verdict "write the workspace .git" "$b" "$s"

echo x > "$O/chm"; chmod 600 "$O/chm"
base "$A" chmod "$O/chm"; b=$(yes_if [ "$RC" = 0 ] && [ "$(stat -c %a "$O/chm")" = 777 ]); chmod 600 "$O/chm"
sbx -- "$A" chmod "$O/chm"; s=$(yes_if [ "$(stat -c %a "$O/chm")" = 600 ])
verdict "chmod an outside file (no Landlock right covers it)" "$b" "$s"

: > "$O/fd"
base "$A" writefd 7 7>>"$O/fd"; b=$(yes_if [ "$RC" = 0 -a -s "$O/fd" ]); : > "$O/fd"
sbx -- "$A" writefd 7 7>>"$O/fd"; s=$(yes_if [ "$RC" != 0 -a ! -s "$O/fd" ])
verdict "write through an inherited fd" "$b" "$s"

base env GITHUB_TOKEN=t AWS_SECRET_ACCESS_KEY=k DB_PASSWORD=p "$A" env; b=$(yes_if [ "$RC" = 0 ])
RC=0; timeout 30 env GITHUB_TOKEN=t AWS_SECRET_ACCESS_KEY=k DB_PASSWORD=p "$S" sandbox --workspace "$W" -- "$A" env >/dev/null 2>"$T/sbx.err" || RC=$?
s=$(yes_if [ "$RC" = 1 ])
verdict "read secrets from the environment" "$b" "$s"

# -- network and host IPC (listeners started here, on loopback)
"$A" listen tcp "$T/tcp.port" & PIDS="$PIDS $!"
"$A" listen udp "$T/udp.port" & PIDS="$PIDS $!"
"$A" listen abstract "agentd-escape-$$-$MODE" & PIDS="$PIDS $!"
"$A" listen unix "$IPC/agent.sock" & PIDS="$PIDS $!"
i=0
while [ $i -lt 150 ] && ! { [ -s "$T/tcp.port" ] && [ -s "$T/udp.port" ] && [ -S "$IPC/agent.sock" ]; }; do
	sleep 0.1; i=$((i + 1))
done
tp=$(cat "$T/tcp.port" 2>/dev/null); up=$(cat "$T/udp.port" 2>/dev/null)

base "$A" tcp "$tp"; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" tcp "$tp"; s=$(yes_if [ "$RC" != 0 ])
verdict "connect to a loopback TCP listener" "$b" "$s"
# control: --network really opens it (the cases above do not pass by breaking everything)
sbx --network -- "$A" tcp "$tp"
if [ "$RC" = 0 ]; then
	pass=$((pass + 1)); say "PASS [$MODE] control: --network allows the same TCP connect"
else
	fail=$((fail + 1)); say "FAIL [$MODE] control: --network does not allow TCP (exit $RC; $(head -c 300 "$T/sbx.err"))"
fi
base "$A" udp "$up"; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" udp "$up"; s=$(yes_if [ "$RC" != 0 ])
verdict "talk to a loopback UDP listener" "$b" "$s"
base "$A" abstract "agentd-escape-$$-$MODE"; b=$(yes_if [ "$RC" = 0 ])
sbx -- "$A" abstract "agentd-escape-$$-$MODE"; s=$(yes_if [ "$RC" != 0 ])
verdict "connect to an abstract unix socket" "$b" "$s"
base "$A" abstract "agentd-escape-$$-$MODE"; b=$(yes_if [ "$RC" = 0 ])
sbx --network -- "$A" abstract "agentd-escape-$$-$MODE"; s=$(yes_if [ "$RC" != 0 ])
verdict "connect to an abstract unix socket with --network" "$b" "$s"
base "$A" unix "$IPC/agent.sock"; b=$(yes_if [ "$RC" = 0 ])
sbx -- "$A" unix "$IPC/agent.sock"; s=$(yes_if [ "$RC" != 0 ])
verdict "connect to a host unix socket under /tmp (ssh-agent style)" "$b" "$s"

# -- other processes
new_victim; base "$A" ptrace "$V"; b=$(yes_if [ "$RC" = 0 ])
sbx -- "$A" ptrace "$V"; s=$(yes_if [ "$RC" != 0 ])
verdict "ptrace an outside process" "$b" "$s"
base "$A" vmread "$V"; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" vmread "$V"; s=$(yes_if [ "$RC" != 0 ])
verdict "process_vm_readv an outside process" "$b" "$s"
base "$A" procenv "$V"; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" procenv "$V"; s=$(yes_if [ "$RC" != 0 ])
verdict "read an outside process's environment" "$b" "$s"
# The command's parent in the sandbox (its init, or the client itself) is a
# copy of the caller: reading its memory would undo the environment filter.
base env AGENTD_ESCAPE_MARK=m$$ sh -c "'$A' parentmem m$$; exit \$?"; b=$(yes_if [ "$RC" = 0 ])
RC=0; timeout 30 env AGENTD_ESCAPE_MARK=m$$ "$S" sandbox --workspace "$W" -- "$A" parentmem m$$ >/dev/null 2>"$T/sbx.err" || RC=$?
s=$(yes_if [ "$RC" = 1 ])
verdict "read the caller's environment from the parent's memory" "$b" "$s"
base "$A" seepid "$V"; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" seepid "$V"; s=$(yes_if [ "$RC" != 0 ])
verdict "read an outside process's command line" "$b" "$s"
base "$A" kill "$V"; i=0
while kill -0 "$V" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
b=$(yes_if [ "$RC" = 0 ] && ! kill -0 "$V" 2>/dev/null)
new_victim; sbx -- "$A" kill "$V"; s=$(yes_if [ "$RC" != 0 ] && kill -0 "$V" 2>/dev/null)
verdict "kill an outside process" "$b" "$s"

# -- privilege and kernel attack surface
base "$A" mount "$W/mnt"; b=$(yes_if [ "$RC" = 0 ]); [ "$ME" = 0 ] && umount "$W/mnt" 2>/dev/null
sbx -- "$A" mount "$W/mnt"; s=$(yes_if [ "$RC" != 0 ])
verdict "mount a filesystem" "$b" "$s"
base "$A" unshare; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" unshare; s=$(yes_if [ "$RC" != 0 ])
verdict "unshare a user namespace" "$b" "$s"
base "$A" clone-ns; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" clone-ns; s=$(yes_if [ "$RC" != 0 ])
verdict "clone into a new user namespace" "$b" "$s"
base "$A" chroot; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" chroot; s=$(yes_if [ "$RC" != 0 ])
verdict "chroot" "$b" "$s"
base "$A" caps; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" caps; s=$(yes_if [ "$RC" != 0 ])
verdict "hold any capability" "$b" "$s"
base "$A" keyctl; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" keyctl; s=$(yes_if [ "$RC" != 0 ])
verdict "add a key to a (non-namespaced) keyring" "$b" "$s"
base "$A" bpf; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" bpf; s=$(yes_if [ "$RC" != 0 ])
verdict "bpf" "$b" "$s" "kernel.unprivileged_bpf_disabled"
base "$A" perf; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" perf; s=$(yes_if [ "$RC" != 0 ])
verdict "perf_event_open" "$b" "$s" "kernel.perf_event_paranoid"
base "$A" io_uring; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" io_uring; s=$(yes_if [ "$RC" != 0 ])
verdict "io_uring_setup" "$b" "$s" "kernel.io_uring_disabled"
base "$A" userfaultfd; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" userfaultfd; s=$(yes_if [ "$RC" != 0 ])
verdict "userfaultfd" "$b" "$s" "vm.unprivileged_userfaultfd"
base "$A" tiocsti; b=$(yes_if [ "$RC" = 0 ]); sbx -- "$A" tiocsti; s=$(yes_if [ "$RC" != 0 ])
verdict "inject terminal input with TIOCSTI" "$b" "$s" "dev.tty.legacy_tiocsti"

# -- resources (each bounded by the sandbox, and by timeout around it)
base "$A" forkbomb 200; b=$(yes_if [ "$RC" = 0 ])
sbx --max-procs 50 --timeout 20 -- "$A" forkbomb 200; s=$(yes_if [ "$RC" != 0 ])
verdict "fork bomb (200 processes, limit 50)" "$b" "$s"
base "$A" memhog 512; b=$(yes_if [ "$RC" = 0 ])
sbx --memory 256 -- "$A" memhog 512; s=$(yes_if [ "$RC" != 0 ])
verdict "memory hog (512 MB, limit 256)" "$b" "$s"
base "$A" fsizehog "$W/big" 32; b=$(yes_if [ "$RC" = 0 ]); rm -f "$W/big"
sbx --max-file-size 8 -- "$A" fsizehog "$W/big" 32; s=$(yes_if [ "$RC" != 0 ]); rm -f "$W/big"
verdict "file-size hog (32 MB, limit 8)" "$b" "$s"
RC=0; timeout 1 "$A" spin 5 || RC=$?; b=$(yes_if [ "$RC" = 124 ])
sbx --timeout 1 -- "$A" spin 60; s=$(yes_if [ "$RC" = 137 ])
verdict "CPU spin (killed by the 1 s wall clock)" "$b" "$s"
RC=0; timeout 1 "$A" flood 0 >/dev/null 2>&1 || RC=$?; b=$(yes_if [ "$RC" = 124 ])
sbx --timeout 1 -- "$A" flood 0; s=$(yes_if [ "$RC" = 137 ])
verdict "output flood (killed by the 1 s wall clock)" "$b" "$s"
# (without the sandbox the straggler's write is awaited up to 10 s, so a busy
# machine cannot fail the baseline; with it, 1.5 s is well past its 0.6 s)
base "$A" straggler "$O/strag" 600; i=0
while [ ! -f "$O/strag" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
b=$(yes_if [ -f "$O/strag" ]); rm -f "$O/strag"
sbx -- "$A" straggler "$W/strag" 600; sleep 1.5; s=$(yes_if [ ! -f "$W/strag" ])
verdict "detached straggler outliving the command" "$b" "$s"

# -- identity: the command is never uid 0 of the host, and the workspace
# keeps working as the daemon's user (files it creates are owned by that
# user; a 0600 file of that user stays readable and writable).
identity_cases() {
	if [ -z "${PRIV:-}" ]; then
		say "SKIP [$MODE] identity cases: need the battery to start as root"
		return
	fi
	base "$A" uid0; b=$(yes_if [ "$RC" = 0 ])
	sbx -- "$A" uid0; s=$(yes_if [ "$RC" = 1 ])
	verdict "run as uid 0 of the host" "$b" "$s" "not root"
	base "$A" read "$PRIV/secret"; b=$(yes_if [ "$RC" = 0 ])
	sbx -- "$A" read "$PRIV/secret"; s=$(yes_if [ "$RC" = 1 ])
	verdict "read a root-owned 0600 file outside the workspace" "$b" "$s" "the file is root's"
	base "$PRIV/suid-attack" uid0; b=$(yes_if [ "$RC" = 0 ])
	sbx -- "$PRIV/suid-attack" uid0; s=$(yes_if [ "$RC" = 1 ])
	verdict "become root through a setuid-root binary" "$b" "$s"

	if [ "$MODE" = root ]; then
		# Without user namespaces root cannot idmap the workspace: refused, not run as root.
		RC=0; timeout 30 env AGENTD_SANDBOX_NO_USERNS=1 "$S" sandbox --workspace "$W" -- "$A" uid0 >/dev/null 2>"$T/sbx.err" || RC=$?
		if [ "$RC" = 125 ]; then
			pass=$((pass + 1)); say "PASS [$MODE] control: as root without user namespaces the run is refused"
		else
			fail=$((fail + 1)); say "FAIL [$MODE] control: as root without user namespaces: exit $RC ($(head -c 300 "$T/sbx.err"))"
		fi
	fi
	rm -f "$W/src/owned"
	timeout 30 "$S" sandbox --workspace "$W" -- sh -c "echo x > '$W/src/owned'" >/dev/null 2>"$T/sbx.err"; RC=$?
	if [ "$RC" = 0 ] && [ "$(stat -c %u:%g "$W/src/owned" 2>/dev/null)" = "$(id -u):$(id -g)" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: a file created in the workspace is owned by $(id -u):$(id -g)"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: created file owned by $(stat -c %u:%g "$W/src/owned" 2>/dev/null), not $(id -u):$(id -g) (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
	echo mine > "$W/src/private"; chmod 600 "$W/src/private"
	timeout 30 "$S" sandbox --workspace "$W" -- sh -c "grep -q mine '$W/src/private' && echo more >> '$W/src/private'" >/dev/null 2>"$T/sbx.err"; RC=$?
	if [ "$RC" = 0 ] && grep -q more "$W/src/private" && [ "$(stat -c %u:%a "$W/src/private")" = "$(id -u):600" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: the daemon user's 0600 file in the workspace stays readable and writable"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: the daemon user's 0600 workspace file (exit $RC; $(stat -c %u:%a "$W/src/private"); $(head -c 300 "$T/sbx.err"))"
	fi
}
identity_cases

# -- git dirs below the workspace's top: git runs their config and hooks
# outside any sandbox when the user works there (a nested repository, a
# submodule's .git file, a --separate-git-dir or bare repository found by
# content). Each is written, replaced or moved away directly, then through
# the sandbox. A fresh workspace per case, so no case hides another.
nested_git_ws() {	# a workspace G with one of each
	rm -rf "$B/wsg"
	G=$B/wsg
	mkdir -p "$G/.git/modules/mod" "$G/vendor/lib/.git/hooks" "$G/vendor/lib/.git/objects" \
		"$G/vendor/lib/.git/refs" "$G/mod" "$G/sep" "$G/sepgit/objects" "$G/sepgit/refs" \
		"$G/bare.git/objects" "$G/bare.git/refs" "$G/src"
	for d in "$G/vendor/lib/.git" "$G/sepgit" "$G/bare.git" "$G/.git/modules/mod"; do
		echo "ref: refs/heads/main" > "$d/HEAD"
		echo "[core]" > "$d/config"
	done
	echo "[core]" > "$G/.git/config"
	echo "gitdir: ../.git/modules/mod" > "$G/mod/.git"
	echo "gitdir: ../sepgit" > "$G/sep/.git"
	echo lib > "$G/vendor/lib/file"
	rm -f "$O/viagit"
	ln -s "$O" "$G/link"	# as an earlier run may have left it
	chmod -R a+rwX "$G"	# the sandbox's uid as root is nobody's
}
gsbx() { timeout 30 "$S" sandbox --workspace "$G" "$@" >/dev/null 2>"$T/sbx.err"; RC=$?; }
# git_case NAME CHECK_UNTOUCHED -- COMMAND...: works directly, contained in the sandbox
git_case() {
	name=$1 chk=$2
	shift 3
	nested_git_ws
	base sh -c "cd '$G' && $*"; b=$(yes_if [ "$RC" = 0 ] && ! sh -c "cd '$G' && $chk")
	nested_git_ws
	gsbx -- sh -c "cd '$G' && $*"; s=$(yes_if sh -c "cd '$G' && $chk")
	verdict "$name" "$b" "$s"
}
nested_git_cases() {
	git_case "write a nested repository's config" "! grep -q fsmonitor vendor/lib/.git/config" -- \
		"echo '	fsmonitor = touch /tmp/x' >> vendor/lib/.git/config"
	git_case "plant a hook in a nested repository" "test ! -e vendor/lib/.git/hooks/pre-commit" -- \
		"printf '#!/bin/sh\n' > vendor/lib/.git/hooks/pre-commit"
	git_case "replace a nested repository's .git" "test -f vendor/lib/.git/HEAD -a ! -e vendor/lib/.git.old" -- \
		"mv vendor/lib/.git vendor/lib/.git.old && mkdir vendor/lib/.git"
	git_case "move a nested repository away and make a new one in its place" \
		"test -f vendor/lib/.git/HEAD -a ! -e vendor/lib.old -a ! -e vendor.old" -- \
		"{ mv vendor/lib vendor/lib.old || mv vendor vendor.old; } && mkdir -p vendor/lib/.git"
	git_case "rewrite a submodule's .git file" "grep -qx 'gitdir: ../.git/modules/mod' mod/.git" -- \
		"echo 'gitdir: ../evil' > mod/.git"
	git_case "replace a submodule's .git file" "grep -qx 'gitdir: ../.git/modules/mod' mod/.git" -- \
		"rm -f mod/.git; echo 'gitdir: ../evil' > mod/.git"
	git_case "write the git dir a .git file names (in the workspace)" "! grep -q fsmonitor sepgit/config" -- \
		"echo '	fsmonitor = touch /tmp/x' >> sepgit/config"
	git_case "write a bare repository's config" "! grep -q fsmonitor bare.git/config" -- \
		"echo '	fsmonitor = touch /tmp/x' >> bare.git/config"
	# The fallback grants its write rules per entry of those folders: a
	# symlink among them (left by an earlier run) must not carry one outside.
	git_case "write outside through a symlink beside the git dirs" "test ! -e '$O/viagit'" -- \
		"echo x > link/viagit"
	rm -f "$O/viagit"
	# control: the nested work trees and the rest stay writable
	nested_git_ws
	gsbx -- sh -c "cd '$G' && echo new > vendor/lib/file && echo x > src/f && mkdir src/d && echo x > src/d/f"
	if [ "$RC" = 0 ] && grep -qx new "$G/vendor/lib/file" && [ -f "$G/src/d/f" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: nested work trees stay writable"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: nested work trees (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
	# A new file beside a nested .git: fine with namespaces; the fallback
	# (Landlock alone) cannot grant it without granting the .git (documented).
	gsbx -- sh -c "cd '$G' && echo x > vendor/lib/new"
	if [ "$MODE" != fallback ] && [ "$RC" = 0 ] && [ -f "$G/vendor/lib/new" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: a new file beside a nested .git"
	elif [ "$MODE" = fallback ] && [ "$RC" != 0 ] && [ ! -e "$G/vendor/lib/new" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: a new file beside a nested .git is refused (the fallback's documented cost)"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: a new file beside a nested .git (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
	# A new git dir cannot be stopped (any folder may get a .git); the run
	# names it on stderr, and the next run keeps it read-only.
	gsbx -- sh -c "cd '$G' && mkdir -p src/.git/hooks src/.git/objects src/.git/refs && echo 'ref: refs/heads/main' > src/.git/HEAD"
	if [ "$RC" = 0 ] && grep -q "made 1 git directory: src/.git" "$T/sbx.err"; then
		pass=$((pass + 1)); say "PASS [$MODE] control: a new .git in a subfolder is named on stderr"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: a new .git in a subfolder was not named (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
	gsbx -- sh -c "cd '$G' && printf '#!/bin/sh\n' > src/.git/hooks/pre-commit"
	if [ "$RC" != 0 ] && [ ! -e "$G/src/.git/hooks/pre-commit" ]; then
		pass=$((pass + 1)); say "PASS [$MODE] control: ... and the next run cannot write it"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: the next run wrote the new .git (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
}
nested_git_cases

# -- user namespaces refused only at run time (as under AppArmor's userns
# restriction): a non-dumpable client (an execute-only copy) cannot write
# its child's uid map. The run must still happen, in the fallback mode.
late_fallback_case() {
	[ "$MODE" = unpriv ] || return 0
	cp "$S" "$T/sbx-xonly" && chmod 0111 "$T/sbx-xonly"
	rm -f "$W/src/late"
	timeout 30 "$T/sbx-xonly" sandbox --workspace "$W" -- sh -c "echo x > '$W/src/late'" >/dev/null 2>"$T/sbx.err"; RC=$?
	if [ "$RC" = 0 ] && [ -f "$W/src/late" ] && "$T/sbx-xonly" sandbox --explain | grep -q "mode: no namespaces"; then
		pass=$((pass + 1)); say "PASS [$MODE] control: user namespaces refused at run time -> the run falls back, still confined"
	else
		fail=$((fail + 1)); say "FAIL [$MODE] control: late fallback (exit $RC; $(head -c 300 "$T/sbx.err"))"
	fi
}
late_fallback_case

say "[$MODE] $pass passed, $fail failed (uid $ME)"
echo "$pass $fail" > "$BIN/res/result.$MODE"
[ "$fail" = 0 ]
