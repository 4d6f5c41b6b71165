/*
 * sandbox_git.c — find the git directories of a workspace, so that the
 * sandbox keeps them read-only (bind mounts in the namespace modes, Landlock
 * rules in the fallback) and can say which ones a command made.
 *
 * git runs what a git dir's config and hooks say (core.fsmonitor on every
 * `git status`, hooks on commit...) as the user, outside any sandbox, when
 * the user works in that repository; a top-level `git status` enters the
 * submodules. So every git dir in the workspace matters, not only the top
 * one: `.git` folders of nested repositories, `.git` files (submodules,
 * worktrees, --separate-git-dir) and the folder they name when it lies in
 * the workspace, and folders that are git dirs by content (a bare
 * repository, a separate git dir: HEAD with objects/ and refs/, or a
 * worktree's commondir).
 *
 * The walk is breadth-first, follows no symlink, does not enter a git dir,
 * and stops after SBX_GIT_MAX_DIRS folders or below SBX_GIT_MAX_DEPTH
 * levels: what lies past that is not looked at (docs/sandbox.md says so and
 * the run's stderr names it). Runs in the parent, before the clone.
 */

#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "sandbox/sandbox_int.h"

struct walk_dir {
	char *path;
	int depth;
};

static int
add(struct sbx_gitdirs *g, const char *path, size_t len, const struct stat *st)
{
	struct sbx_gitdir *v;
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strlen(g->v[i].path) == len && memcmp(g->v[i].path, path, len) == 0)
			return 0;
	if (g->n >= SBX_GIT_MAX_FOUND) {
		g->too_many = 1;
		return 0;
	}
	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 16;

		if (!(v = realloc(g->v, nc * sizeof *v)))
			return -1;
		g->v = v;
		g->cap = nc;
	}
	v = &g->v[g->n];
	if (!(v->path = strndup(path, len)))
		return -1;
	v->dev = st ? st->st_dev : 0;
	v->ino = st ? st->st_ino : 0;
	v->mode = st ? st->st_mode : 0;
	g->n++;
	return 0;
}

/* Is p (len bytes) ws itself or below it? */
static int
in_ws(const char *ws, size_t wl, const char *p)
{
	return strncmp(p, ws, wl) == 0 && p[wl] == '/';
}

/* Where a .git file ("gitdir: X") or a .git symlink leads: kept when that
 * lies in the workspace. */
static int
add_target(struct sbx_gitdirs *g, const char *ws, int dfd, const char *dir, const char *name,
    int is_link)
{
	char buf[PATH_MAX + 16], tgt[PATH_MAX * 2 + 2], real[PATH_MAX];
	struct stat st;
	ssize_t n;
	char *nl;
	int fd;

	if (is_link) {
		snprintf(tgt, sizeof tgt, "%s/%s", dir, name);
	} else {
		if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
			return 0;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 8 || strncmp(buf, "gitdir: ", 8) != 0)
			return 0;
		buf[n] = '\0';
		if ((nl = strpbrk(buf, "\r\n")))
			*nl = '\0';
		if (buf[8] == '/')
			snprintf(tgt, sizeof tgt, "%s", buf + 8);
		else
			snprintf(tgt, sizeof tgt, "%s/%s", dir, buf + 8);
	}
	if (!realpath(tgt, real) || !in_ws(ws, strlen(ws), real) || lstat(real, &st) < 0)
		return 0;
	return add(g, real, strlen(real), &st);
}

/* Is the listed folder a git dir by content? (HEAD, and objects/ with refs/,
 * or a worktree's commondir; symlinks taken as what they may point to.) */
static int
by_content(int head, int objects, int refs, int commondir)
{
	return head && (commondir || (objects && refs));
}

static int
is_dotgit(const char *name)
{
	/* Case-folding file systems (vfat, ext4 casefold) open .GIT for .git. */
	return strcasecmp(name, ".git") == 0;
}

/* What getdents64 fills (struct linux_dirent64). */
struct lx_dirent {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static int
push(struct walk_dir **q, size_t *qt, size_t *qcap, const char *dir, const char *nm, int depth)
{
	size_t dl = strlen(dir), nl = strlen(nm);
	char *c;

	if (*qt == *qcap) {
		struct walk_dir *nq = realloc(*q, *qcap * 2 * sizeof *nq);

		if (!nq)
			return -1;
		*q = nq;
		*qcap *= 2;
	}
	if (!(c = malloc(dl + nl + 2)))
		return -1;
	memcpy(c, dir, dl);
	c[dl] = '/';
	memcpy(c + dl + 1, nm, nl + 1);
	(*q)[*qt].path = c;
	(*q)[(*qt)++].depth = depth;
	return 0;
}

int
sbx_gitdirs_find(const char *ws, struct sbx_gitdirs *g)
{
	struct walk_dir *q = NULL;
	size_t qh = 0, qt = 0, qcap = 64;
	char buf[32768] __attribute__((aligned(8)));
	int rc = -1;

	memset(g, 0, sizeof *g);
	if (!(q = malloc(qcap * sizeof *q)))
		return -1;
	if (!(q[qt].path = strdup(ws)))
		goto out;
	q[qt++].depth = 0;
	/* Breadth first: past the cap, what is left out is the deepest. */
	while (qh < qt) {
		struct walk_dir cur = q[qh++];
		int dfd, head = 0, objects = 0, refs = 0, commondir = 0;
		size_t first_sub = qt, k;
		long n;

		if (g->dirs_seen >= SBX_GIT_MAX_DIRS) {
			g->truncated = 1;
			free(cur.path);
			continue;
		}
		g->dirs_seen++;
		/* Raw getdents64: opendir/readdir cost three more calls a folder. */
		dfd = open(cur.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0) {
			if (errno == EACCES)
				g->truncated = 1;	/* a folder we may not list */
			free(cur.path);
			continue;
		}
		while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
			long off;

			for (off = 0; off < n; off += ((struct lx_dirent *)(buf + off))->reclen) {
				struct lx_dirent *de = (struct lx_dirent *)(buf + off);
				const char *nm = de->name;
				unsigned char t = de->type;
				struct stat st;

				if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
					continue;
				if (t == DT_UNKNOWN) {
					if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
						continue;
					t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK :
					    S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
				}
				if (strcmp(nm, "HEAD") == 0 && (t == DT_REG || t == DT_LNK))
					head = 1;
				else if (strcmp(nm, "objects") == 0 && (t == DT_DIR || t == DT_LNK))
					objects = 1;
				else if (strcmp(nm, "refs") == 0 && (t == DT_DIR || t == DT_LNK))
					refs = 1;
				else if (strcmp(nm, "commondir") == 0 && t == DT_REG)
					commondir = 1;
				if (is_dotgit(nm)) {
					char p[PATH_MAX];
					int pl = snprintf(p, sizeof p, "%s/%s", cur.path, nm);

					if (pl < 0 || (size_t)pl >= sizeof p ||
					    fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
						continue;
					if (add(g, p, (size_t)pl, &st) < 0)
						goto out_dir;
					/* A .git file, or a symlink: where it leads, if in the workspace. */
					if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
					    add_target(g, ws, dfd, cur.path, nm, S_ISLNK(st.st_mode)) < 0)
						goto out_dir;
					continue;	/* never entered */
				}
				if (t != DT_DIR)
					continue;
				if (cur.depth + 1 > SBX_GIT_MAX_DEPTH)
					g->truncated = 1;
				else if (push(&q, &qt, &qcap, cur.path, nm, cur.depth + 1) < 0)
					goto out_dir;
			}
		}
		close(dfd);
		if (cur.depth > 0 && by_content(head, objects, refs, commondir)) {
			/* A git dir itself: kept, and none of its folders entered. */
			struct stat st;

			if (lstat(cur.path, &st) == 0 && add(g, cur.path, strlen(cur.path), &st) < 0) {
				free(cur.path);
				goto out;
			}
			for (k = first_sub; k < qt; k++)
				free(q[k].path);
			qt = first_sub;
		}
		free(cur.path);
		continue;
out_dir:
		close(dfd);
		free(cur.path);
		goto out;
	}
	rc = 0;
out:
	while (qh < qt)
		free(q[qh++].path);
	free(q);
	if (rc < 0)
		sbx_gitdirs_free(g);
	return rc;
}

void
sbx_gitdirs_free(struct sbx_gitdirs *g)
{
	size_t i;

	if (!g)
		return;
	for (i = 0; i < g->n; i++)
		free(g->v[i].path);
	free(g->v);
	memset(g, 0, sizeof *g);
}

int
sbx_gitdirs_new_since(const struct sbx_gitdirs *before, const struct sbx_gitdirs *after,
    const char *ws, char *out, size_t cap)
{
	size_t i, j, wl = strlen(ws), len = 0;
	int n = 0;

	if (cap)
		out[0] = '\0';
	for (i = 0; i < after->n; i++) {
		const struct sbx_gitdir *a = &after->v[i];
		int seen = 0;

		for (j = 0; j < before->n && !seen; j++)
			seen = strcmp(before->v[j].path, a->path) == 0 &&
			    before->v[j].dev == a->dev && before->v[j].ino == a->ino;
		if (seen)
			continue;
		n++;
		if (len < cap) {
			int k = snprintf(out + len, cap - len, "%s%s", len ? ", " : "",
			    in_ws(ws, wl, a->path) ? a->path + wl + 1 : a->path);

			len += k > 0 ? (size_t)k : 0;
			if (len >= cap)
				len = cap;
		}
	}
	return n;
}
