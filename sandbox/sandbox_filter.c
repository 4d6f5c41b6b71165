/*
 * sandbox_filter.c — the seccomp deny-list of the sandbox (libseccomp).
 * Compiled into the build-time generator (gen_filter.c), which turns each
 * variant into raw BPF in sandbox_filter_bpf.c, so that neither agentd nor
 * agentctl links libseccomp or compiles a filter at run time; the unit
 * test rebuilds every variant here and compares.
 *
 * Default allow, with EPERM for: ptrace and process_vm_*, the mount family,
 * unshare/setns and clone with namespace flags (clone3 answers ENOSYS so libc
 * falls back to clone, whose flags we can see), bpf, perf_event_open, the
 * keyring calls (keyrings are not namespaced), kexec and module loading,
 * userfaultfd, io_uring, TIOCSTI/TIOCLINUX ioctls, and sockets of any family
 * but AF_UNIX unless the network is allowed. Other architectures' system
 * calls (int 0x80, x32) kill the process. In fallback mode (no mount
 * namespace) it also denies socket(AF_UNIX) (host IPC cannot be hidden),
 * chmod and xattr writes (Landlock has no right for them), and
 * setsid/setpgid (so the process group stays a complete handle on the tree).
 */

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <seccomp.h>

#include "sandbox/sandbox_filter.h"

static const char *const denied[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise",
	"mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount",
	"fspick", "open_tree", "move_mount", "mount_setattr",
	"unshare", "setns", "bpf", "perf_event_open",
	"keyctl", "add_key", "request_key",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"open_by_handle_at", "quotactl", "swapon", "swapoff", "reboot", "acct", "syslog",
	"iopl", "ioperm", "vhangup", "lookup_dcookie", "uselib", "personality",
};

static const char *const denied_fallback[] = {
	"chmod", "fchmod", "fchmodat", "setxattr", "lsetxattr", "fsetxattr",
	"removexattr", "lremovexattr", "fremovexattr", "setsid", "setpgid",
};

#ifdef __x86_64__
/* Newer than libseccomp 2.5's tables; numbers are the same on every arch
 * that uses the generic table since 5.x, checked for x86_64 here. */
static const int denied_fallback_nr[] = { 452 /* fchmodat2 */, 463 /* setxattrat */,
	466 /* removexattrat */ };
#endif

static int
deny_name(scmp_filter_ctx ctx, const char *name, int e)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;	/* this architecture has no such call */
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(e), nr, 0);
}

struct sock_fprog *
sbx_filter_build(int network, int fallback, struct agentd_error *err)
{
	static const unsigned long ns_flags[] = { CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS,
	    CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, 0x80 /* CLONE_NEWTIME */ };
	scmp_filter_ctx ctx;
	struct sock_fprog *prog = NULL;
	size_t i;
	int rc = 0, fd = -1;
	off_t len;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		agentd_seterr(err, AGENTD_EUNAVAIL, "seccomp_init failed");
		return NULL;
	}
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* A binary tree of system call numbers rather than a list: a dozen
	 * comparisons instead of up to ninety, for every call the command
	 * makes and for the kernel's per-number cache built when the filter
	 * is loaded (that load is part of every sandbox start). */
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (i = 0; i < sizeof denied / sizeof denied[0]; i++)
		rc |= deny_name(ctx, denied[i], EPERM);
	for (i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	rc |= deny_name(ctx, "clone3", ENOSYS);
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCSTI));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TIOCLINUX));
	if (!network) {
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_NE, AF_UNIX));
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
		    SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	}
	if (fallback) {
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
		for (i = 0; i < sizeof denied_fallback / sizeof denied_fallback[0]; i++)
			rc |= deny_name(ctx, denied_fallback[i], EPERM);
#ifdef __x86_64__
		for (i = 0; i < sizeof denied_fallback_nr / sizeof denied_fallback_nr[0]; i++)
			rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied_fallback_nr[i], 0);
#endif
	}
	if (rc != 0) {
		agentd_seterr(err, AGENTD_EUNAVAIL, "seccomp: cannot add a rule (%d)", rc);
		goto out;
	}
	fd = memfd_create("agentd-seccomp", MFD_CLOEXEC);
	if (fd < 0 || seccomp_export_bpf(ctx, fd) != 0 || (len = lseek(fd, 0, SEEK_END)) <= 0 ||
	    len % (off_t)sizeof(struct sock_filter) != 0) {
		agentd_seterr(err, AGENTD_EUNAVAIL, "seccomp: cannot export the filter");
		goto out;
	}
	prog = calloc(1, sizeof *prog);
	if (!prog || !(prog->filter = malloc((size_t)len))) {
		free(prog);
		prog = NULL;
		agentd_seterr(err, AGENTD_ENOMEM, NULL);
		goto out;
	}
	prog->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	if (pread(fd, prog->filter, (size_t)len, 0) != (ssize_t)len) {
		free(prog->filter);
		free(prog);
		prog = NULL;
		agentd_seterr(err, AGENTD_EIO, "seccomp: cannot read the filter back");
	}
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return prog;
}

void
sbx_filter_free(struct sock_fprog *p)
{
	if (p)
		free(p->filter);
	free(p);
}
