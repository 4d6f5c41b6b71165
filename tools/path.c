/*
 * path.c — confinement of every file a tool opens to the run's workspace.
 *
 * Paths are first cleaned lexically (absolute paths inside the workspace
 * made relative, ".." resolved, NUL and overlong paths refused), then every
 * open goes through openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) from a
 * descriptor of the workspace, so symlinks — chains, symlinked folders,
 * dangling links — and /proc magic links cannot lead outside. Where the
 * kernel has no openat2 we walk component by component with O_NOFOLLOW,
 * which refuses every symlink (stricter, never weaker).
 *
 * Writes (tpath_open_parent with `create`) are also kept out of every git
 * directory: git runs what a repository's config and hooks say (an
 * fsmonitor, a filter, a hook) outside any sandbox, so a file tool must not
 * create, replace or remove anything there. The check is on the folder the
 * write really lands in — its path as the kernel resolved it — at every
 * component, so no spelling of the path (./, dir/.., absolute, a symlink to
 * .git) gets past it.
 *
 * Known limit: a hard link inside the workspace to a file outside it is the
 * same inode and cannot be told apart; reads see that file, writes replace
 * the link (temp file + rename) and leave the outside file untouched. The
 * same holds for a hard link to a file of a git directory.
 */
#include "tools/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#ifndef RESOLVE_BENEATH
struct open_how {
	unsigned long long flags;
	unsigned long long mode;
	unsigned long long resolve;
};
#define RESOLVE_NO_MAGICLINKS	0x02
#define RESOLVE_BENEATH		0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Set by tests to exercise the O_NOFOLLOW walk used where openat2 is missing. */
int tpath_no_openat2;

int
tpath_refuse(struct agentd_error *err, const char *shown, const char *why)
{
	return agentd_seterr(err, AGENTD_EDENIED,
	    "refused: path '%.300s' is outside the workspace (%s); "
	    "use a path relative to the workspace, like 'src/main.c'",
	    shown ? shown : "", why);
}

const char *
tpath_arg(json_t *args, const char *key, size_t *len)
{
	json_t *v = json_object_get(args, key);

	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

/* Append component c (n bytes) to the component stack in out (len *o). */
static int
push_comp(char *out, size_t *o, const char *c, size_t n, int *depth, int abs)
{
	if (n == 0 || (n == 1 && c[0] == '.'))
		return 0;
	if (n == 2 && c[0] == '.' && c[1] == '.') {
		if (*depth == 0)
			return abs ? 0 : -1;	/* "/.." is "/" */
		while (*o > 0 && out[*o - 1] != '/')
			(*o)--;
		if (*o > 0)
			(*o)--;
		(*depth)--;
		return 0;
	}
	if (*o > 0)
		out[(*o)++] = '/';
	memcpy(out + *o, c, n);
	*o += n;
	(*depth)++;
	return 0;
}

/* Lexically clean p into out (capacity > strlen(p)), without a leading '/';
 * -1 if ".." goes above a relative path's start. */
static int
clean_lexical(const char *p, char *out)
{
	int abs = p[0] == '/';
	size_t o = 0;
	int depth = 0;
	const char *s = p, *e;

	while (*s) {
		e = strchr(s, '/');
		if (e == NULL)
			e = s + strlen(s);
		if (push_comp(out, &o, s, (size_t)(e - s), &depth, abs) < 0)
			return -1;
		s = *e ? e + 1 : e;
	}
	out[o] = '\0';
	return 0;
}

int
tpath_clean(const char *workspace, const char *path, size_t len, char **rel,
    struct agentd_error *err)
{
	char *buf, *ws;
	const char *r;
	size_t wl;

	if (path == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "path is missing");
	if (strlen(path) != len)
		return agentd_seterr(err, AGENTD_EDENIED,
		    "refused: path contains a NUL byte; give a plain path like 'src/main.c'");
	if (len == 0)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "path is empty; give a path relative to the workspace, like 'src/main.c' (or '.')");
	if (len > TOOLS_PATH_MAX)
		return agentd_seterr(err, AGENTD_EINVAL,
		    "path is too long (%zu bytes; at most %d)", len, TOOLS_PATH_MAX);
	buf = malloc(len + 1);
	ws = malloc(strlen(workspace) + 2);
	if (buf == NULL || ws == NULL) {
		free(buf);
		free(ws);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if (path[0] == '/') {
		/* Absolute: must be the workspace or below it (lexically). */
		(void)clean_lexical(path, buf);	/* never fails for absolute paths */
		(void)clean_lexical(workspace, ws);
		wl = strlen(ws);
		if (strcmp(buf, ws) == 0)
			r = ".";
		else if (wl == 0)
			r = buf;
		else if (strncmp(buf, ws, wl) == 0 && buf[wl] == '/')
			r = buf + wl + 1;
		else {
			free(buf);
			free(ws);
			return tpath_refuse(err, path, "absolute path not under the workspace");
		}
		memmove(buf, r, strlen(r) + 1);
	} else if (clean_lexical(path, buf) < 0) {
		free(buf);
		free(ws);
		return tpath_refuse(err, path, "'..' leads above the workspace");
	}
	free(ws);
	if (buf[0] == '\0')
		strcpy(buf, ".");
	*rel = buf;
	return AGENTD_OK;
}

/* Map an errno from a confined open to our error, with a clear message. */
static int
open_errno(int e, const char *shown, struct agentd_error *err)
{
	switch (e) {
	case EXDEV:
		return tpath_refuse(err, shown, "it or a symlink on the way resolves outside");
	case ELOOP:
		return tpath_refuse(err, shown,
		    "a symlink on the way is a loop, a /proc magic link or cannot be followed safely");
	case ENOENT:
		return agentd_seterr(err, AGENTD_ENOTFOUND,
		    "no such file or directory: '%.300s'", shown);
	case ENOTDIR:
		return agentd_seterr(err, AGENTD_ENOTFOUND,
		    "'%.300s': a component of the path is not a directory", shown);
	case EISDIR:
		return agentd_seterr(err, AGENTD_EINVAL, "'%.300s' is a directory", shown);
	case EACCES:
	case EPERM:
		return agentd_seterr(err, AGENTD_EDENIED, "'%.300s': permission denied", shown);
	case ENAMETOOLONG:
		return agentd_seterr(err, AGENTD_EINVAL, "'%.300s': path too long", shown);
	case ENOSPC:
	case EDQUOT:
		return agentd_seterr(err, AGENTD_ENOSPC, "'%.300s': no space left on device", shown);
	case EEXIST:
		return agentd_seterr(err, AGENTD_EEXIST, "'%.300s' already exists", shown);
	default:
		return agentd_seterr(err, AGENTD_EIO, "'%.300s': %s", shown, strerror(e));
	}
}

/* Component walk with O_NOFOLLOW: every symlink is refused. */
static int
walk_open(int rootfd, const char *rel, int flags, mode_t mode)
{
	char comp[NAME_MAX + 1];
	const char *s = rel, *e;
	int fd, nfd;
	size_t n;

	fd = dup(rootfd);
	if (fd < 0)
		return -1;
	if (strcmp(rel, ".") == 0) {
		nfd = openat(fd, ".", flags | O_NOFOLLOW | O_CLOEXEC, mode);
		close(fd);
		return nfd;
	}
	for (;;) {
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, s, n);
		comp[n] = '\0';
		if (strcmp(comp, "..") == 0) {
			close(fd);
			errno = EXDEV;
			return -1;
		}
		if (e == NULL) {
			struct stat st;

			nfd = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
			close(fd);
			/* O_PATH|O_NOFOLLOW opens a symlink itself: refuse it too. */
			if (nfd >= 0 && fstat(nfd, &st) == 0 && S_ISLNK(st.st_mode)) {
				close(nfd);
				errno = ELOOP;
				return -1;
			}
			return nfd;
		}
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int e2 = errno;
			struct stat st;

			if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
				e2 = ELOOP;
			close(fd);
			errno = e2;
			return -1;
		}
		close(fd);
		fd = nfd;
		s = e + 1;
	}
}

static int
confined_open(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	long r;

	if (!tpath_no_openat2) {
		memset(&how, 0, sizeof(how));
		how.flags = (unsigned long long)(flags | O_CLOEXEC);
		how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		do
			r = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
		while (r < 0 && (errno == EAGAIN || errno == EINTR));
		if (r >= 0 || errno != ENOSYS)
			return (int)r;
	}
	return walk_open(dirfd, rel, flags, mode);
}

int
tpath_openat(int dirfd, const char *name, int flags, mode_t mode, int *fd,
    const char *shown, struct agentd_error *err)
{
	int f = confined_open(dirfd, name, flags, mode);

	if (f < 0)
		return open_errno(errno, shown, err);
	*fd = f;
	return AGENTD_OK;
}

int
tpath_open(const char *workspace, const char *rel, int flags, mode_t mode, int *fd,
    const char *shown, struct agentd_error *err)
{
	int root, rc;

	root = open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return agentd_seterr(err, AGENTD_EIO, "cannot open the workspace '%.300s': %s",
		    workspace, strerror(errno));
	rc = tpath_openat(root, rel, flags, mode, fd, shown, err);
	close(root);
	return rc;
}

/* Decode one UTF-8 sequence at p (n bytes left); 0 when invalid. */
static size_t
utf8_cp(const unsigned char *p, size_t n, unsigned *cp)
{
	size_t len, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, *cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, *cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, *cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3f);
	}
	return len;
}

/* Code points HFS+ ignores in names (git's is_hfs_dotgit list). */
static int
hfs_ignorable(unsigned cp)
{
	return (cp >= 0x200c && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x206a && cp <= 0x206f) || cp == 0xfeff;
}

/*
 * Does a file system that folds case, drops trailing dots and spaces (NTFS,
 * vfat), keeps 8.3 short names or ignores some code points (HFS+) take name
 * (n bytes) for ".git"? git refuses the same spellings in paths it checks
 * out; on Linux they matter on such mounts, and a new one is never needed.
 */
static int
is_dotgit_name(const char *name, size_t n)
{
	char folded[8];
	size_t i = 0, k = 0, len;
	unsigned cp;

	if (n == 5 && strncasecmp(name, "git~1", 5) == 0)
		return 1;
	while (i < n) {
		len = utf8_cp((const unsigned char *)name + i, n - i, &cp);
		if (len == 0)
			return 0;
		i += len;
		if (hfs_ignorable(cp))
			continue;
		if (cp >= 0x80 || k == sizeof(folded))
			return 0;
		folded[k++] = (char)cp;
	}
	while (k > 4 && (folded[k - 1] == '.' || folded[k - 1] == ' '))
		k--;
	return k == 4 && strncasecmp(folded, ".git", 4) == 0;
}

/* Is the folder dfd what git takes for a git directory (HEAD, and objects/
 * with refs/, or a worktree's commondir)? */
static int
is_git_dir(int dfd)
{
	struct stat st;

	if (fstatat(dfd, "HEAD", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
		return 0;
	if (fstatat(dfd, "commondir", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		return 1;
	return fstatat(dfd, "objects", &st, 0) == 0 && S_ISDIR(st.st_mode) &&
	    fstatat(dfd, "refs", &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static int
refuse_git(struct agentd_error *err, const char *shown, const char *where)
{
	return agentd_seterr(err, AGENTD_EDENIED,
	    "refused: '%.300s' is in or would make a git directory (%.300s); file tools "
	    "never change a repository's .git, whose config and hooks git runs outside the "
	    "sandbox. Use the git tools (git_add, git_commit, git_branch, git_checkout) "
	    "for repository changes", shown ? shown : "", where);
}

int
tpath_check_git(int dirfd, const char *name, const char *shown, struct agentd_error *err)
{
	char proc[64], real[PATH_MAX + 1], why[PATH_MAX + 64];
	ssize_t n;
	size_t i, start;
	int fd, gd;

	if (name != NULL && is_dotgit_name(name, strlen(name))) {
		snprintf(why, sizeof(why), "a '.git' file or folder named '%.200s'", name);
		return refuse_git(err, shown, why);
	}
	/* Where the kernel has this folder: every component of that path. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n <= 0 || real[0] != '/')
		return agentd_seterr(err, AGENTD_EIO, "cannot resolve the folder of '%.300s': %s",
		    shown ? shown : "", n < 0 ? strerror(errno) : "not a path");
	real[n] = '\0';
	for (i = 1, start = 1; i <= (size_t)n; i++) {
		if (i < (size_t)n && real[i] != '/')
			continue;
		if (is_dotgit_name(real + start, i - start)) {
			snprintf(why, sizeof(why), "the folder '%.*s'", (int)i, real);
			return refuse_git(err, shown, why);
		}
		start = i + 1;
	}
	/* Git dirs by content (a --separate-git-dir target, a bare repository,
	 * a worktree's gitdir): this folder and each one above it. */
	fd = dup(dirfd);
	if (fd < 0)
		return agentd_seterr(err, AGENTD_EIO, "'%.300s': %s", shown ? shown : "",
		    strerror(errno));
	for (i = (size_t)n;;) {
		struct stat st, up;
		int pfd;

		gd = is_git_dir(fd);
		if (gd) {
			close(fd);
			snprintf(why, sizeof(why), "the folder '%.*s' is one", (int)(i ? i : 1), real);
			return refuse_git(err, shown, why);
		}
		pfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0 || fstat(fd, &st) < 0 || fstat(pfd, &up) < 0 ||
		    (st.st_dev == up.st_dev && st.st_ino == up.st_ino)) {
			if (pfd >= 0)
				close(pfd);
			break;	/* at / */
		}
		close(fd);
		fd = pfd;
		while (i > 0 && real[i - 1] != '/')
			i--;
		if (i > 0)
			i--;
	}
	close(fd);
	return AGENTD_OK;
}

int
tpath_open_parent(const char *workspace, const char *rel, int create, int *dirfd,
    const char **base, const char *shown, struct agentd_error *err)
{
	const char *slash = strrchr(rel, '/');
	char *dir;
	size_t i, dl;
	int fd = -1, pfd = -1, rc;

	if (strcmp(rel, ".") == 0)
		return agentd_seterr(err, AGENTD_EINVAL, "'%.300s' is the workspace folder itself", shown);
	if (slash == NULL) {
		rc = tpath_open(workspace, ".", O_PATH | O_DIRECTORY, 0, &fd, shown, err);
		if (rc == AGENTD_OK && create && (rc = tpath_check_git(fd, rel, shown, err)) != AGENTD_OK)
			close(fd);
		if (rc == AGENTD_OK) {
			*dirfd = fd;
			*base = rel;
		}
		return rc;
	}
	dl = (size_t)(slash - rel);
	dir = strndup(rel, dl);
	if (dir == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	/* Open each prefix from the workspace root; create what is missing. */
	rc = tpath_open(workspace, ".", O_PATH | O_DIRECTORY, 0, &pfd, shown, err);
	for (i = 0; rc == AGENTD_OK && i <= dl; i++) {
		if (i < dl && dir[i] != '/')
			continue;
		dir[i] = '\0';
		rc = tpath_open(workspace, dir, O_PATH | O_DIRECTORY, 0, &fd, shown, err);
		if (rc == AGENTD_ENOTFOUND && create) {
			const char *comp = strrchr(dir, '/');

			comp = comp ? comp + 1 : dir;
			rc = tpath_check_git(pfd, comp, shown, err);
			if (rc != AGENTD_OK)
				;
			else if (mkdirat(pfd, comp, 0777) < 0 && errno != EEXIST)
				rc = open_errno(errno, shown, err);
			else
				rc = tpath_open(workspace, dir, O_PATH | O_DIRECTORY, 0, &fd,
				    shown, err);
		}
		if (i < dl)
			dir[i] = '/';
		if (rc == AGENTD_OK) {
			close(pfd);
			pfd = fd;
		}
	}
	if (rc != AGENTD_OK && pfd >= 0)
		close(pfd);
	free(dir);
	if (rc == AGENTD_OK && create && (rc = tpath_check_git(pfd, slash + 1, shown, err)) != AGENTD_OK)
		close(pfd);
	if (rc != AGENTD_OK)
		return rc;
	*dirfd = pfd;
	*base = slash + 1;
	return AGENTD_OK;
}

int
tpath_fd_rel(const char *workspace, int fd, char **rel, const char *shown,
    struct agentd_error *err)
{
	char proc[64], real[PATH_MAX], ws[PATH_MAX];
	ssize_t n;
	size_t wl;
	const char *r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n < 0)
		return agentd_seterr(err, AGENTD_EIO, "cannot resolve '%.300s': %s", shown,
		    strerror(errno));
	real[n] = '\0';
	if (realpath(workspace, ws) == NULL)
		return agentd_seterr(err, AGENTD_EIO, "cannot resolve the workspace: %s",
		    strerror(errno));
	wl = strlen(ws);
	if (strcmp(real, ws) == 0)
		r = ".";
	else if (wl == 1 && ws[0] == '/')
		r = real + 1;
	else if (strncmp(real, ws, wl) == 0 && real[wl] == '/')
		r = real + wl + 1;
	else
		return tpath_refuse(err, shown, "it resolves outside");
	*rel = strdup(r);
	if (*rel == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	return AGENTD_OK;
}
