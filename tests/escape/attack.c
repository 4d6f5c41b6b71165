/*
 * attack.c — one escape attempt per invocation, for the sandbox battery.
 *
 *   attack CASE [ARGS...]
 *
 * Exit 0: the attack worked. Exit 1: it was blocked (the reason on stderr).
 * Exit 2: usage error. Also `attack listen ...` starts the loopback
 * listeners the network cases aim at, and `attack nomount PROG ARGS...`
 * runs PROG where user namespaces can be made but nothing mounted in them
 * (mount(2) refused, as an LSM's user namespace restriction does). Every
 * case is bounded in time.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

static int
blocked(const char *what)
{
	fprintf(stderr, "attack: %s: %s\n", what, strerror(errno));
	return 1;
}

static int
do_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return blocked(path);
	if (write(fd, "pwned\n", 6) != 6)
		return blocked("write");
	close(fd);
	return 0;
}

static int
write_small(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* Become root of a fresh user namespace (what an unprivileged escape would try). */
static int
enter_userns(void)
{
	char m[64];
	uid_t u = geteuid();
	gid_t g = getegid();

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	write_small("/proc/self/setgroups", "deny");
	snprintf(m, sizeof m, "0 %u 1", (unsigned)u);
	if (write_small("/proc/self/uid_map", m) < 0)
		return -1;
	snprintf(m, sizeof m, "0 %u 1", (unsigned)g);
	return write_small("/proc/self/gid_map", m);
}

static int
tcp_connect(int port, int type)
{
	struct sockaddr_in a;
	struct timeval tv = { 2, 0 };
	char c;
	int s = socket(AF_INET, type, 0);

	if (s < 0)
		return blocked("socket(AF_INET)");
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		return blocked("connect");
	if (type == SOCK_DGRAM && send(s, "?", 1, 0) != 1)
		return blocked("send");
	if (recv(s, &c, 1, 0) != 1)
		return blocked("recv");
	return 0;
}

static int
unix_connect(const char *name, int abstract)
{
	struct sockaddr_un a;
	socklen_t len;
	char c;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	if (s < 0)
		return blocked("socket(AF_UNIX)");
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strncpy(a.sun_path + abstract, name, sizeof a.sun_path - 2);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + abstract + strlen(name));
	if (connect(s, (struct sockaddr *)&a, len) < 0)
		return blocked("connect");
	if (recv(s, &c, 1, 0) != 1)
		return blocked("recv");
	return 0;
}

/* attack listen tcp|udp PORTFILE  |  listen abstract|unix NAME */
static int
do_listen(const char *kind, const char *arg)
{
	int s, type = strcmp(kind, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;

	alarm(120);
	if (strcmp(kind, "tcp") == 0 || strcmp(kind, "udp") == 0) {
		struct sockaddr_in a;
		socklen_t l = sizeof a;
		FILE *f;

		s = socket(AF_INET, type, 0);
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
		    getsockname(s, (struct sockaddr *)&a, &l) < 0)
			return blocked("bind");
		if (!(f = fopen(arg, "w")))
			return blocked(arg);
		fprintf(f, "%d\n", ntohs(a.sin_port));
		fclose(f);
	} else {
		struct sockaddr_un a;
		int ab = strcmp(kind, "abstract") == 0;

		s = socket(AF_UNIX, SOCK_STREAM, 0);
		memset(&a, 0, sizeof a);
		a.sun_family = AF_UNIX;
		strncpy(a.sun_path + ab, arg, sizeof a.sun_path - 2);
		if (s < 0 || bind(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un,
		    sun_path) + ab + strlen(arg) + !ab)) < 0)
			return blocked("bind");
		chmod(arg, 0777);
	}
	if (type == SOCK_STREAM && listen(s, 16) < 0)
		return blocked("listen");
	for (;;) {
		if (type == SOCK_DGRAM) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof from;
			char c;

			if (recvfrom(s, &c, 1, 0, (struct sockaddr *)&from, &fl) == 1)
				sendto(s, "k", 1, 0, (struct sockaddr *)&from, fl);
		} else {
			int c = accept(s, NULL, NULL);

			if (c >= 0) {
				(void)!write(c, "k", 1);
				close(c);
			}
		}
	}
}

static int
forkbomb(int n)
{
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	int i, got = 0;

	if (!pids)
		return 2;
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			alarm(20);
			pause();
			_exit(0);
		}
		if (pids[i] < 0)
			break;
		got++;
	}
	for (i = 0; i < got; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	fprintf(stderr, "attack: forked %d of %d\n", got, n);
	if (got < n) {
		errno = EAGAIN;
		return blocked("fork");
	}
	return 0;
}

static int
tiocsti(void)
{
	int m, s;
	char c = 'x';

	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		return blocked("posix_openpt");
	s = open(ptsname(m), O_RDWR);
	if (s < 0)
		return blocked("open pts");
	if (setsid() < 0 && getsid(0) != getpid())
		return blocked("setsid");
	if (ioctl(s, TIOCSCTTY, 0) < 0)
		return blocked("TIOCSCTTY");
	if (ioctl(s, TIOCSTI, &c) < 0)
		return blocked("TIOCSTI");
	return 0;
}

static int
caps(void)
{
	char line[256];
	FILE *f;
	unsigned long long eff = 0;
	int round;

	for (round = 0; round < 2; round++) {
		if (!(f = fopen("/proc/self/status", "r")))
			return blocked("/proc/self/status");
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "CapEff: %llx", &eff) == 1)
				break;
		fclose(f);
		if (eff)
			return 0;
		if (round == 0 && enter_userns() < 0)
			return blocked("unshare(CLONE_NEWUSER)");
	}
	errno = EPERM;
	return blocked("no capabilities");
}

static int
straggler(const char *file, int ms)
{
	pid_t p = fork();

	if (p < 0)
		return blocked("fork");
	if (p > 0)
		return 0;
	setsid();
	if (fork() != 0)
		_exit(0);
	usleep((useconds_t)ms * 1000);
	do_write(file);
	_exit(0);
}

int
main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	const char *a = argc > 2 ? argv[2] : "";
	const char *b = argc > 3 ? argv[3] : "";

	alarm(30);
	if (!strcmp(c, "write"))
		return do_write(a);
	if (!strcmp(c, "symlink")) {		/* symlink LINK TARGET, then write via LINK */
		if (symlink(b, a) < 0)
			return blocked("symlink");
		return do_write(a);
	}
	if (!strcmp(c, "hardlink")) {		/* hardlink OUTSIDE_FILE NEWLINK, write via it */
		if (link(a, b) < 0)
			return blocked("link");
		return do_write(b);
	}
	if (!strcmp(c, "rename"))
		return rename(a, b) < 0 ? blocked("rename") : 0;
	if (!strcmp(c, "chmod"))
		return chmod(a, 0777) < 0 ? blocked("chmod") : 0;
	if (!strcmp(c, "read")) {		/* read FILE: one byte of it */
		char ch;
		int fd = open(a, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return blocked("open for reading");
		if (read(fd, &ch, 1) != 1) {
			close(fd);
			return blocked("read");
		}
		close(fd);
		return 0;
	}
	if (!strcmp(c, "uid0")) {		/* any of the ids is 0 (setuid-root copy: euid) */
		uid_t r, e, s;

		if (getresuid(&r, &e, &s) < 0)
			return blocked("getresuid");
		if (r == 0 || e == 0 || s == 0)
			return 0;
		errno = EPERM;
		fprintf(stderr, "attack: uids %u/%u/%u\n", (unsigned)r, (unsigned)e, (unsigned)s);
		return 1;
	}
	if (!strcmp(c, "writefd"))
		return write(atoi(a), "pwned\n", 6) != 6 ? blocked("write fd") : 0;
	if (!strcmp(c, "tcp"))
		return tcp_connect(atoi(a), SOCK_STREAM);
	if (!strcmp(c, "udp"))
		return tcp_connect(atoi(a), SOCK_DGRAM);
	if (!strcmp(c, "abstract"))
		return unix_connect(a, 1);
	if (!strcmp(c, "unix"))
		return unix_connect(a, 0);
	if (!strcmp(c, "listen"))
		return do_listen(a, b);
	if (!strcmp(c, "ptrace")) {
		pid_t p = (pid_t)atoi(a);

		if (ptrace(PTRACE_SEIZE, p, 0, 0) < 0)
			return blocked("ptrace");
		ptrace(PTRACE_DETACH, p, 0, 0);
		return 0;
	}
	if (!strcmp(c, "vmread")) {
		char buf[8], maps[64], line[256];
		unsigned long addr = 0;
		struct iovec l = { buf, sizeof buf }, r;
		FILE *f;

		snprintf(maps, sizeof maps, "/proc/%s/maps", a);
		if (!(f = fopen(maps, "r")))
			return blocked(maps);
		if (fgets(line, sizeof line, f))
			addr = strtoul(line, NULL, 16);
		fclose(f);
		r.iov_base = (void *)addr;
		r.iov_len = sizeof buf;
		return process_vm_readv(atoi(a), &l, 1, &r, 1, 0) < 0 ? blocked("process_vm_readv") : 0;
	}
	if (!strcmp(c, "kill"))
		return kill(atoi(a), SIGKILL) < 0 ? blocked("kill") : 0;
	if (!strcmp(c, "procenv")) {
		char p[64], buf[256];
		int fd;

		snprintf(p, sizeof p, "/proc/%s/environ", a);
		fd = open(p, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof buf) <= 0)
			return blocked(p);
		return 0;
	}
	if (!strcmp(c, "parentmem")) {	/* the parent's memory: its environment, then its stack */
		char p[64], line[512], *buf;
		size_t cap = 1 << 20, n;
		unsigned long lo, hi;
		ssize_t r;
		FILE *m;
		int fd;

		if (!(buf = malloc(cap)))
			return 2;
		snprintf(p, sizeof p, "/proc/%ld/environ", (long)getppid());
		fd = open(p, O_RDONLY);
		if (fd >= 0) {
			for (n = 0; n < cap && (r = read(fd, buf + n, cap - n)) > 0; n += (size_t)r)
				;
			close(fd);
			if (memmem(buf, n, a, strlen(a)))
				return 0;
		}
		snprintf(p, sizeof p, "/proc/%ld/maps", (long)getppid());
		if (!(m = fopen(p, "r")))
			return blocked(p);
		snprintf(p, sizeof p, "/proc/%ld/mem", (long)getppid());
		fd = open(p, O_RDONLY);
		while (fd >= 0 && fgets(line, sizeof line, m))
			if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
			    hi - lo <= cap && (r = pread(fd, buf, hi - lo, (off_t)lo)) > 0 &&
			    memmem(buf, (size_t)r, a, strlen(a)))
				return 0;
		return blocked(fd < 0 ? p : "the parent's environment and stack");
	}
	if (!strcmp(c, "seepid")) {	/* what an outside process runs */
		char p[64], buf[256];
		int fd;

		snprintf(p, sizeof p, "/proc/%s/cmdline", a);
		fd = open(p, O_RDONLY);
		if (fd < 0 || read(fd, buf, sizeof buf) <= 0)
			return blocked(p);
		return 0;
	}
	if (!strcmp(c, "mount")) {
		if (mount("none", a, "tmpfs", 0, NULL) == 0)
			return 0;
		if (enter_userns() < 0)
			return blocked("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
		return mount("none", a, "tmpfs", 0, NULL) < 0 ? blocked("mount") : 0;
	}
	if (!strcmp(c, "unshare"))
		return unshare(CLONE_NEWUSER) < 0 ? blocked("unshare") : 0;
	if (!strcmp(c, "clone-ns")) {
		pid_t p = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);

		if (p < 0)
			return blocked("clone(CLONE_NEWUSER)");
		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		return 0;
	}
	if (!strcmp(c, "chroot")) {
		if (chroot("/") == 0)
			return 0;
		if (enter_userns() < 0)
			return blocked("unshare(CLONE_NEWUSER)");
		return chroot("/") < 0 ? blocked("chroot") : 0;
	}
	if (!strcmp(c, "keyctl"))
		return syscall(SYS_add_key, "user", "agentd-escape", "x", 1,
		    -2 /* KEY_SPEC_PROCESS_KEYRING */) < 0 ? blocked("add_key") : 0;
	if (!strcmp(c, "bpf")) {
		unsigned attr[32] = { 2 /* BPF_MAP_TYPE_ARRAY */, 4, 4, 1 };

		return syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr) < 0 ?
		    blocked("bpf") : 0;
	}
	if (!strcmp(c, "perf")) {
		struct perf_event_attr pa;

		memset(&pa, 0, sizeof pa);
		pa.size = sizeof pa;
		pa.type = PERF_TYPE_SOFTWARE;
		pa.config = PERF_COUNT_SW_TASK_CLOCK;
		pa.exclude_kernel = 1;
		pa.exclude_hv = 1;
		return syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0) < 0 ?
		    blocked("perf_event_open") : 0;
	}
	if (!strcmp(c, "io_uring")) {
		unsigned params[32];

		memset(params, 0, sizeof params);
		return syscall(SYS_io_uring_setup, 1, params) < 0 ? blocked("io_uring_setup") : 0;
	}
	if (!strcmp(c, "userfaultfd"))
		return syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */) < 0 ?
		    blocked("userfaultfd") : 0;
	if (!strcmp(c, "tiocsti"))
		return tiocsti();
	if (!strcmp(c, "caps"))
		return caps();
	if (!strcmp(c, "env")) {
		extern char **environ;
		char **e;

		for (e = environ; *e; e++)
			if (strstr(*e, "TOKEN") || strstr(*e, "SECRET") || strstr(*e, "PASSWORD") ||
			    strstr(*e, "_KEY")) {
				fprintf(stderr, "attack: found %.*s\n", (int)strcspn(*e, "="), *e);
				return 0;
			}
		errno = ENOENT;
		return blocked("no secret in the environment");
	}
	if (!strcmp(c, "forkbomb"))
		return forkbomb(atoi(a));
	if (!strcmp(c, "memhog")) {
		size_t n = (size_t)atoi(a) << 20;
		char *p = malloc(n);

		if (!p)
			return blocked("malloc");
		memset(p, 1, n);
		return 0;
	}
	if (!strcmp(c, "fsizehog")) {
		static char buf[1 << 20];
		int i, fd, n = atoi(b);

		signal(SIGXFSZ, SIG_IGN);
		fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return blocked(a);
		for (i = 0; i < n; i++)
			if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
				return blocked("write");
		return 0;
	}
	if (!strcmp(c, "spin")) {
		time_t end = time(NULL) + atoi(a);
		volatile unsigned long x = 0;

		alarm(0);
		while (time(NULL) < end)
			x++;
		return 0;
	}
	if (!strcmp(c, "flood")) {
		static char buf[65536];
		long long want = atoll(a), done = 0;

		memset(buf, 'y', sizeof buf);
		alarm(0);
		while (want == 0 || done < want) {
			if (write(1, buf, sizeof buf) != (ssize_t)sizeof buf)
				return blocked("write");
			done += (long long)sizeof buf;
		}
		return 0;
	}
	if (!strcmp(c, "straggler"))
		return straggler(a, atoi(b));
	if (!strcmp(c, "nomount") && argc > 2) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog fp = { sizeof f / sizeof f[0], f };

		alarm(0);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0)
			return blocked("seccomp");
		execv(argv[2], argv + 2);
		return blocked("exec");
	}
	fprintf(stderr, "usage: attack CASE [ARGS...]\n");
	return 2;
}
