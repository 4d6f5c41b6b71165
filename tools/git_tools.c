/*
 * git_tools.c — the git tools (status, diff, log, show, add, commit, branch,
 * checkout, restore) through libgit2 on the workspace repository, and the
 * plumbing the daemon uses for runs on their own branch and worktree.
 *
 * Output mirrors the git command line where the model knows it:
 * git_status prints `git status --porcelain` (v1) lines, git_diff unified
 * diffs as `git diff` does. No tool talks to a remote. libgit2's own error
 * text is passed on to the model. Each call opens its own repository
 * object, so calls from several threads do not share libgit2 state.
 */
#include "tools/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

/* libgit2's documented *_INIT macros leave trailing fields to zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "common/buf.h"
#include "common/json.h"

#define GIT_OUT_MAX	(8u * 1024u * 1024u)	/* text built before the output cap */
#define LOG_DEFAULT	20

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void
git_init(void)
{
	git_libgit2_init();
}

/* AGENTD_EGIT with "what: libgit2's message". */
static int
gerr(struct agentd_error *e, const char *what)
{
	const git_error *ge = git_error_last();

	return agentd_seterr(e, AGENTD_EGIT, "%s: %s", what,
	    ge && ge->message ? ge->message : "unknown libgit2 error");
}

struct grepo {
	git_repository *repo;
	char prefix[PATH_MAX];	/* workspace relative to the work tree, "" or "sub/dir/" */
};

/*
 * The work tree (or, for a bare repository, the git dir) git would find for
 * path — a folder holding .git, or one that is a git dir itself, from path
 * upward — and its owner, or that of its git dir when that differs from ours.
 * 0 when one is found.
 */
static int
find_repo_owner(const char *path, char *top, size_t tlen, uid_t *owner)
{
	char d[PATH_MAX], gd[PATH_MAX + 8];
	struct stat st, gst;
	char *slash;

	if (realpath(path, d) == NULL)
		return -1;
	for (;;) {
		int found = 0;

		snprintf(gd, sizeof(gd), "%s/.git", strcmp(d, "/") ? d : "");
		if (lstat(gd, &gst) == 0)
			found = 1;
		else {
			char h[PATH_MAX + 16], o[PATH_MAX + 16], r[PATH_MAX + 16];
			struct stat x;

			snprintf(h, sizeof(h), "%s/HEAD", d);
			snprintf(o, sizeof(o), "%s/objects", d);
			snprintf(r, sizeof(r), "%s/refs", d);
			if (lstat(h, &x) == 0 && stat(o, &x) == 0 && S_ISDIR(x.st_mode) &&
			    stat(r, &x) == 0 && S_ISDIR(x.st_mode))
				found = 2;
		}
		if (found) {
			if (stat(d, &st) < 0)
				return -1;
			snprintf(top, tlen, "%s", d);
			*owner = st.st_uid;
			if (found == 1 && st.st_uid == geteuid() && S_ISDIR(gst.st_mode))
				*owner = gst.st_uid;
			return 0;
		}
		if (strcmp(d, "/") == 0)
			return -1;
		slash = strrchr(d, '/');
		if (slash == d)
			d[1] = '\0';
		else
			*slash = '\0';
	}
}

/*
 * Why a repository did not open, for the model and the user. A repository
 * owned by another user is refused by libgit2 (git's safe.directory check:
 * its config could run commands as us); say so, and how the user opts in.
 * agentd never opts in by itself.
 */
static int
open_failed(const char *path, const char *what, struct agentd_error *e)
{
	const git_error *ge = git_error_last();
	char top[PATH_MAX];
	uid_t owner;

	if (find_repo_owner(path, top, sizeof(top), &owner) == 0 && owner != geteuid())
		return agentd_seterr(e, AGENTD_EDENIED,
		    "the repository at %.1000s is owned by uid %lu, not by uid %lu that agentd "
		    "runs as; git's safe.directory check refuses repositories owned by someone "
		    "else, since their config and hooks could run commands as this user. If you "
		    "trust it, opt in as uid %lu: git config --global --add safe.directory %.1000s",
		    top, (unsigned long)owner, (unsigned long)geteuid(), (unsigned long)geteuid(),
		    top);
	if (what == NULL)
		return agentd_seterr(e, AGENTD_EGIT,
		    "the workspace is not in a git repository (%s); run 'git init' with the "
		    "shell tool first if one is wanted", ge && ge->message ? ge->message : "");
	return gerr(e, what);
}

/* Open the repository that contains `workspace`. */
static int
grepo_open(const char *workspace, struct grepo *g, struct agentd_error *e)
{
	char ws[PATH_MAX], wd[PATH_MAX];
	const char *workdir;
	size_t wl;

	pthread_once(&git_once, git_init);
	memset(g, 0, sizeof(*g));
	if (git_repository_open_ext(&g->repo, workspace, 0, NULL) < 0)
		return open_failed(workspace, NULL, e);
	workdir = git_repository_workdir(g->repo);
	if (workdir == NULL) {
		git_repository_free(g->repo);
		g->repo = NULL;
		return agentd_seterr(e, AGENTD_EGIT, "the repository is bare: it has no work tree");
	}
	if (realpath(workspace, ws) != NULL && realpath(workdir, wd) != NULL) {
		wl = strlen(wd);
		if (strncmp(ws, wd, wl) == 0 && ws[wl] == '/')
			snprintf(g->prefix, sizeof(g->prefix), "%s/", ws + wl + 1);
	}
	return AGENTD_OK;
}

static void
grepo_close(struct grepo *g)
{
	git_repository_free(g->repo);
	g->repo = NULL;
}

/*
 * Turn a path argument into a path relative to the work tree, confined to
 * the workspace like the file tools (lexically, and no folder on the way may
 * lead outside). "" stands for the whole workspace. malloc'd.
 */
static int
gpath(const char *workspace, const struct grepo *g, const char *path, size_t len, char **out,
    struct agentd_error *e)
{
	char *rel = NULL, *s;
	const char *base;
	int rc, dfd;

	rc = tpath_clean(workspace, path, len, &rel, e);
	if (rc != AGENTD_OK)
		return rc;
	if (strcmp(rel, ".") != 0) {
		rc = tpath_open_parent(workspace, rel, 0, &dfd, &base, path, e);
		if (rc == AGENTD_OK)
			close(dfd);
		else if (rc != AGENTD_ENOTFOUND) {
			free(rel);
			return rc;
		}
	}
	if (strcmp(rel, ".") == 0) {
		s = strdup(g->prefix);
		if (s && s[0])
			s[strlen(s) - 1] = '\0';
	} else {
		s = malloc(strlen(g->prefix) + strlen(rel) + 1);
		if (s)
			sprintf(s, "%s%s", g->prefix, rel);
	}
	free(rel);
	if (s == NULL)
		return agentd_seterr(e, AGENTD_ENOMEM, NULL);
	*out = s;
	return AGENTD_OK;
}

/* The tool ran and failed: ok:false with the message. */
static int
gfail(const struct agentd_error *e, json_t **result, struct agentd_error *err)
{
	if (e->code == AGENTD_ENOMEM)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	*result = tools_fail(e);
	return *result ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/* ok:true with output text (lossy UTF-8) and the rest filled by the caller. */
static json_t *
gok(const char *text, size_t n)
{
	json_t *r = json_object();

	if (r == NULL)
		return NULL;
	json_object_set_new(r, "ok", json_true());
	json_object_set_new(r, "output", ajson_string_lossy(text ? text : "", n));
	return r;
}

/* ---- git_status ---- */

/* Append a path quoted the way git's status does (C-style when needed). */
static void
put_path(struct abuf *b, const char *p)
{
	const unsigned char *s;
	int need = 0;

	for (s = (const unsigned char *)p; *s; s++)
		if (*s < 0x20 || *s == '"' || *s == '\\' || *s >= 0x80 || *s == ' ' || *s == 0x7f)
			need = 1;
	if (!need) {
		abuf_puts(b, p);
		return;
	}
	abuf_puts(b, "\"");
	for (s = (const unsigned char *)p; *s; s++) {
		switch (*s) {
		case '"': abuf_puts(b, "\\\""); break;
		case '\\': abuf_puts(b, "\\\\"); break;
		case '\a': abuf_puts(b, "\\a"); break;
		case '\b': abuf_puts(b, "\\b"); break;
		case '\t': abuf_puts(b, "\\t"); break;
		case '\n': abuf_puts(b, "\\n"); break;
		case '\v': abuf_puts(b, "\\v"); break;
		case '\f': abuf_puts(b, "\\f"); break;
		case '\r': abuf_puts(b, "\\r"); break;
		default:
			if (*s < 0x20 || *s >= 0x7f)
				abuf_printf(b, "\\%03o", *s);
			else
				abuf_append(b, s, 1);
		}
	}
	abuf_puts(b, "\"");
}

struct sline {
	const char *key;	/* sort key: the (new) path */
	char xy[3];
	const char *old;	/* rename source, or NULL */
};

/* Like git: changes to tracked paths first, then untracked, each by path. */
static int
cmp_sline(const void *a, const void *b)
{
	const struct sline *x = a, *y = b;
	int ux = x->xy[0] == '?', uy = y->xy[0] == '?';

	if (ux != uy)
		return ux - uy;
	return strcmp(x->key, y->key);
}

/* XY of an unmerged path, from which stages the index holds. */
static void
conflict_xy(git_index *idx, const char *path, char xy[3])
{
	const git_index_entry *anc = NULL, *ours = NULL, *theirs = NULL;
	int a, o, t;

	git_index_conflict_get(&anc, &ours, &theirs, idx, path);
	a = anc != NULL;
	o = ours != NULL;
	t = theirs != NULL;
	if (a && o && t)
		strcpy(xy, "UU");
	else if (!a && o && t)
		strcpy(xy, "AA");
	else if (a && o)
		strcpy(xy, "UD");
	else if (a && t)
		strcpy(xy, "DU");
	else if (o)
		strcpy(xy, "AU");
	else if (t)
		strcpy(xy, "UA");
	else
		strcpy(xy, "DD");
}

/* Porcelain v1 text of the repository's status into b. */
static int
porcelain(git_repository *repo, struct abuf *b, size_t *count, struct agentd_error *e)
{
	git_status_options so = GIT_STATUS_OPTIONS_INIT;
	git_status_list *sl = NULL;
	git_index *idx = NULL;
	struct sline *v;
	size_t n, i, k = 0;

	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RENAMES_HEAD_TO_INDEX |
	    GIT_STATUS_OPT_SORT_CASE_SENSITIVELY | GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&sl, repo, &so) < 0)
		return gerr(e, "cannot read the status");
	if (git_repository_index(&idx, repo) < 0) {
		git_status_list_free(sl);
		return gerr(e, "cannot read the index");
	}
	n = git_status_list_entrycount(sl);
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL) {
		git_index_free(idx);
		git_status_list_free(sl);
		return agentd_seterr(e, AGENTD_ENOMEM, NULL);
	}
	for (i = 0; i < n; i++) {
		const git_status_entry *se = git_status_byindex(sl, i);
		unsigned s = se->status;
		const git_diff_delta *hi = se->head_to_index, *iw = se->index_to_workdir;
		struct sline *l = &v[k];

		if (s == GIT_STATUS_CURRENT || (s & GIT_STATUS_IGNORED))
			continue;
		l->key = hi ? hi->new_file.path : iw->old_file.path;
		if (s & GIT_STATUS_CONFLICTED) {
			conflict_xy(idx, l->key, l->xy);
			k++;
			continue;
		}
		if (s & GIT_STATUS_WT_NEW && !(s & (GIT_STATUS_INDEX_NEW | GIT_STATUS_INDEX_MODIFIED |
		    GIT_STATUS_INDEX_RENAMED | GIT_STATUS_INDEX_TYPECHANGE))) {
			strcpy(l->xy, "??");
			k++;
			continue;
		}
		l->xy[0] = s & GIT_STATUS_INDEX_NEW ? 'A' : s & GIT_STATUS_INDEX_MODIFIED ? 'M' :
		    s & GIT_STATUS_INDEX_DELETED ? 'D' : s & GIT_STATUS_INDEX_RENAMED ? 'R' :
		    s & GIT_STATUS_INDEX_TYPECHANGE ? 'T' : ' ';
		l->xy[1] = s & GIT_STATUS_WT_MODIFIED ? 'M' : s & GIT_STATUS_WT_DELETED ? 'D' :
		    s & GIT_STATUS_WT_TYPECHANGE ? 'T' : s & GIT_STATUS_WT_RENAMED ? 'R' : ' ';
		l->xy[2] = '\0';
		if ((s & GIT_STATUS_INDEX_RENAMED) && hi)
			l->old = hi->old_file.path;
		k++;
	}
	qsort(v, k, sizeof(*v), cmp_sline);
	for (i = 0; i < k; i++) {
		abuf_printf(b, "%s ", v[i].xy);
		if (v[i].old) {
			put_path(b, v[i].old);
			abuf_puts(b, " -> ");
		}
		put_path(b, v[i].key);
		abuf_puts(b, "\n");
	}
	if (count)
		*count = k;
	free(v);
	git_index_free(idx);
	git_status_list_free(sl);
	return AGENTD_OK;
}

static void
head_branch(git_repository *repo, char *out, size_t n)
{
	git_reference *h = NULL;
	const char *t;

	out[0] = '\0';
	if (git_reference_lookup(&h, repo, "HEAD") < 0)
		return;
	if (git_reference_type(h) == GIT_REFERENCE_SYMBOLIC) {
		t = git_reference_symbolic_target(h);
		if (strncmp(t, "refs/heads/", 11) == 0)
			t += 11;
		snprintf(out, n, "%s", t);
	}
	git_reference_free(h);
}

int
tool_git_status(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	struct abuf b;
	size_t count = 0;
	char branch[256];
	json_t *r;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	abuf_init(&b, GIT_OUT_MAX);
	if (porcelain(g.repo, &b, &count, &e) != AGENTD_OK) {
		abuf_free(&b);
		grepo_close(&g);
		return gfail(&e, result, err);
	}
	head_branch(g.repo, branch, sizeof(branch));
	r = count ? gok(b.data, b.len) : gok("nothing to commit, working tree clean", 37);
	if (r != NULL) {
		json_object_set_new(r, "porcelain", ajson_string_lossy(b.data ? b.data : "", b.len));
		ajson_set_str(r, "branch", branch[0] ? branch : NULL);
		ajson_set_bool(r, "clean", count == 0);
		ajson_set_bool(r, "detached", git_repository_head_detached(g.repo) == 1);
	}
	abuf_free(&b);
	grepo_close(&g);
	*result = r;
	return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/* ---- diffs ---- */

static int
print_line(const git_diff_delta *d, const git_diff_hunk *h, const git_diff_line *l, void *ud)
{
	struct abuf *b = ud;

	if (l->origin == GIT_DIFF_LINE_CONTEXT || l->origin == GIT_DIFF_LINE_ADDITION ||
	    l->origin == GIT_DIFF_LINE_DELETION) {
		char o = l->origin;

		if (abuf_append(b, &o, 1) != AGENTD_OK)
			return 1;
	}
	return abuf_append(b, l->content, l->content_len) == AGENTD_OK ? 0 : 1;
}

/* Print a diff in patch form; *cut set when it did not fit. */
static int
diff_text(git_diff *diff, struct abuf *b, int *cut, struct agentd_error *e)
{
	git_diff_find_options fo = GIT_DIFF_FIND_OPTIONS_INIT;
	int rc;

	fo.flags = GIT_DIFF_FIND_RENAMES;
	if (git_diff_find_similar(diff, &fo) < 0)
		return gerr(e, "rename detection failed");
	rc = git_diff_print(diff, GIT_DIFF_FORMAT_PATCH, print_line, b);
	if (rc == 1) {
		*cut = 1;
		git_error_clear();
		return AGENTD_OK;
	}
	if (rc < 0)
		return gerr(e, "cannot print the diff");
	return AGENTD_OK;
}

/* Resolve a revision and peel it to `type` (a commit, or a tree). */
static int
peel_rev(git_repository *repo, const char *rev, git_object_t type, git_object **out,
    struct agentd_error *e)
{
	git_object *o = NULL;

	if (git_revparse_single(&o, repo, rev) < 0)
		return agentd_seterr(e, AGENTD_EGIT, "unknown revision '%.200s': %s", rev,
		    git_error_last() ? git_error_last()->message : "");
	if (git_object_peel(out, o, type) < 0) {
		git_object_free(o);
		return gerr(e, type == GIT_OBJECT_TREE ? "not a commit or tree" : "not a commit");
	}
	git_object_free(o);
	return AGENTD_OK;
}

/* Tree of a revision (NULL *tree for an unborn HEAD when allow_unborn). */
static int
rev_tree(git_repository *repo, const char *rev, git_tree **tree, int allow_unborn,
    struct agentd_error *e)
{
	if (allow_unborn && strcmp(rev, "HEAD") == 0 && git_repository_head_unborn(repo) == 1) {
		*tree = NULL;
		return AGENTD_OK;
	}
	return peel_rev(repo, rev, GIT_OBJECT_TREE, (git_object **)tree, e);
}

int
tool_git_diff(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	git_diff_options dopts = GIT_DIFF_OPTIONS_INIT;
	git_diff *diff = NULL;
	git_tree *tree = NULL;
	int staged = ajson_bool(args, "staged", 0), cut = 0, rc;
	const char *rev = ajson_str(args, "rev", NULL);
	size_t plen = 0;
	const char *path = tpath_arg(args, "path", &plen);
	char *gp = NULL;
	struct abuf b;
	json_t *r;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	rc = AGENTD_OK;
	if (path != NULL)
		rc = gpath(ctx->workspace, &g, path, plen, &gp, &e);
	else if (g.prefix[0])
		rc = gpath(ctx->workspace, &g, ".", 1, &gp, &e);
	if (rc == AGENTD_OK && gp != NULL && gp[0]) {
		dopts.pathspec.strings = &gp;
		dopts.pathspec.count = 1;
	}
	if (rc == AGENTD_OK && (staged || rev))
		rc = rev_tree(g.repo, rev ? rev : "HEAD", &tree, rev == NULL, &e);
	if (rc == AGENTD_OK) {
		int grc;

		if (staged)
			grc = git_diff_tree_to_index(&diff, g.repo, tree, NULL, &dopts);
		else if (rev)
			grc = git_diff_tree_to_workdir_with_index(&diff, g.repo, tree, &dopts);
		else
			grc = git_diff_index_to_workdir(&diff, g.repo, NULL, &dopts);
		if (grc < 0)
			rc = gerr(&e, "cannot compute the diff");
	}
	abuf_init(&b, GIT_OUT_MAX);
	if (rc == AGENTD_OK)
		rc = diff_text(diff, &b, &cut, &e);
	git_diff_free(diff);
	git_tree_free(tree);
	free(gp);
	grepo_close(&g);
	if (rc != AGENTD_OK) {
		abuf_free(&b);
		return gfail(&e, result, err);
	}
	r = b.len ? gok(b.data, b.len) : gok("no differences", 14);
	if (r != NULL) {
		ajson_set_bool(r, "empty", b.len == 0);
		ajson_set_bool(r, "truncated", cut);
	}
	abuf_free(&b);
	*result = r;
	return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/* ---- log and show ---- */

static void
fmt_date(const git_time *t, char *out, size_t n, int iso)
{
	time_t s = (time_t)t->time + (time_t)t->offset * 60;
	struct tm tm;
	int off = t->offset < 0 ? -t->offset : t->offset;

	gmtime_r(&s, &tm);
	if (iso)
		strftime(out, n, "%Y-%m-%d", &tm);
	else {
		char d[64];

		strftime(d, sizeof(d), "%a %b %-d %H:%M:%S %Y", &tm);
		snprintf(out, n, "%s %c%02d%02d", d, t->offset < 0 ? '-' : '+', off / 60, off % 60);
	}
}

/* Blob id of path in commit c's tree (zero oid when absent). */
static void
path_id(git_commit *c, const char *path, git_oid *out)
{
	git_tree *t = NULL;
	git_tree_entry *te = NULL;

	memset(out, 0, sizeof(*out));
	if (git_commit_tree(&t, c) < 0)
		return;
	if (path[0] == '\0')
		git_oid_cpy(out, git_tree_id(t));
	else if (git_tree_entry_bypath(&te, t, path) == 0) {
		git_oid_cpy(out, git_tree_entry_id(te));
		git_tree_entry_free(te);
	}
	git_tree_free(t);
	git_error_clear();
}

/*
 * The commits `git log -- path` walks, by git's default history
 * simplification: a commit whose version of path equals a parent's
 * (TREESAME) is not listed and only that parent is followed — so a merge
 * that kept one side's version hides the other side's changes; any other
 * commit is listed and all its parents are followed. The walk hands out
 * commits children first; `wanted` holds the ids still to be followed.
 */
struct oidset {
	git_oid *v;
	unsigned char *used;
	size_t n, cap;		/* cap: a power of two */
};

static size_t
oidset_slot(const struct oidset *s, const git_oid *id)
{
	size_t h;

	memcpy(&h, id->id, sizeof(h));
	for (h &= s->cap - 1; s->used[h] && !git_oid_equal(&s->v[h], id); h = (h + 1) & (s->cap - 1))
		;
	return h;
}

static int
oidset_has(const struct oidset *s, const git_oid *id)
{
	return s->cap > 0 && s->used[oidset_slot(s, id)];
}

/* 0, or -1 when out of memory. */
static int
oidset_add(struct oidset *s, const git_oid *id)
{
	size_t i, h;

	if ((s->n + 1) * 2 > s->cap) {
		struct oidset g = { NULL, NULL, 0, s->cap ? s->cap * 2 : 64 };

		g.v = malloc(g.cap * sizeof(*g.v));
		g.used = calloc(g.cap, 1);
		if (g.v == NULL || g.used == NULL) {
			free(g.v);
			free(g.used);
			return -1;
		}
		for (i = 0; i < s->cap; i++)
			if (s->used[i]) {
				h = oidset_slot(&g, &s->v[i]);
				g.used[h] = 1;
				git_oid_cpy(&g.v[h], &s->v[i]);
				g.n++;
			}
		free(s->v);
		free(s->used);
		*s = g;
	}
	h = oidset_slot(s, id);
	if (!s->used[h]) {
		s->used[h] = 1;
		git_oid_cpy(&s->v[h], id);
		s->n++;
	}
	return 0;
}

static void
oidset_free(struct oidset *s)
{
	free(s->v);
	free(s->used);
}

/* 1: list commit c; 0: skip it. Adds the parents to follow to `wanted`;
 * -1 when out of memory. */
static int
simplify(git_commit *c, const char *path, struct oidset *wanted)
{
	git_oid mine, theirs, zero;
	unsigned i, np = git_commit_parentcount(c);

	path_id(c, path, &mine);
	memset(&zero, 0, sizeof(zero));
	if (np == 0)
		return !git_oid_equal(&mine, &zero);
	for (i = 0; i < np; i++) {
		git_commit *p = NULL;

		if (git_commit_parent(&p, c, i) < 0)
			continue;
		path_id(p, path, &theirs);
		git_commit_free(p);
		if (git_oid_equal(&mine, &theirs))
			return oidset_add(wanted, git_commit_parent_id(c, i)) < 0 ? -1 : 0;
	}
	for (i = 0; i < np; i++)
		if (oidset_add(wanted, git_commit_parent_id(c, i)) < 0)
			return -1;
	return 1;
}

int
tool_git_log(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	git_revwalk *w = NULL;
	git_oid oid;
	size_t plen = 0, shown = 0, max = (size_t)ajson_int(args, "max", LOG_DEFAULT);
	const char *path = tpath_arg(args, "path", &plen);
	char *gp = NULL, branch[256];
	struct abuf b;
	struct oidset wanted = { NULL, NULL, 0, 0 };
	json_t *commits, *r;
	int rc = AGENTD_OK;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	if (path != NULL && (rc = gpath(ctx->workspace, &g, path, plen, &gp, &e)) != AGENTD_OK) {
		grepo_close(&g);
		return gfail(&e, result, err);
	}
	if (git_repository_head_unborn(g.repo) == 1) {
		head_branch(g.repo, branch, sizeof(branch));
		snprintf(e.msg, sizeof(e.msg), "no commits yet (branch '%s' has none)", branch);
		r = gok(e.msg, strlen(e.msg));
		if (r)
			json_object_set_new(r, "commits", json_array());
		free(gp);
		grepo_close(&g);
		*result = r;
		return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	commits = json_array();
	abuf_init(&b, GIT_OUT_MAX);
	if (git_revwalk_new(&w, g.repo) < 0 || git_revwalk_sorting(w, GIT_SORT_TIME) < 0 ||
	    git_revwalk_push_head(w) < 0)
		rc = gerr(&e, "cannot walk the history");
	else if (gp && gp[0] && (git_reference_name_to_id(&oid, g.repo, "HEAD") < 0 ||
	    oidset_add(&wanted, &oid) < 0))
		rc = gerr(&e, "cannot read HEAD");
	while (rc == AGENTD_OK && shown < max && git_revwalk_next(&oid, w) == 0) {
		git_commit *c = NULL;
		const git_signature *a;
		char id[GIT_OID_HEXSZ + 1], date[64];
		const char *subj;

		if (tools_is_cancelled(ctx)) {
			rc = AGENTD_ECANCELLED;
			break;
		}
		if (git_commit_lookup(&c, g.repo, &oid) < 0)
			continue;
		if (gp && gp[0]) {
			int keep = oidset_has(&wanted, &oid) ? simplify(c, gp, &wanted) : 0;

			if (keep < 0)
				rc = agentd_seterr(&e, AGENTD_ENOMEM, NULL);
			if (keep <= 0) {
				git_commit_free(c);
				continue;
			}
		}
		git_oid_tostr(id, sizeof(id), &oid);
		a = git_commit_author(c);
		subj = git_commit_summary(c);
		fmt_date(&a->when, date, sizeof(date), 1);
		abuf_printf(&b, "%.7s %s %s: %s\n", id, date, a->name, subj ? subj : "");
		json_array_append_new(commits, json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", id,
		    "subject", subj ? subj : "", "author", a->name, "date", date,
		    "parents", (json_int_t)git_commit_parentcount(c)));
		git_commit_free(c);
		shown++;
	}
	git_revwalk_free(w);
	oidset_free(&wanted);
	free(gp);
	grepo_close(&g);
	if (rc == AGENTD_ECANCELLED) {
		abuf_free(&b);
		json_decref(commits);
		return agentd_seterr(err, rc, "git_log was cancelled");
	}
	if (rc != AGENTD_OK) {
		abuf_free(&b);
		json_decref(commits);
		return gfail(&e, result, err);
	}
	r = shown ? gok(b.data, b.len) : gok("no commits match", 16);
	if (r)
		json_object_set_new(r, "commits", commits);
	else
		json_decref(commits);
	abuf_free(&b);
	*result = r;
	return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

static int
show_commit(git_repository *repo, git_commit *c, struct abuf *b, int *cut,
    struct agentd_error *e)
{
	char id[GIT_OID_HEXSZ + 1], date[96];
	const git_signature *a = git_commit_author(c);
	const char *msg = git_commit_message(c), *p, *nl;
	git_tree *t = NULL, *pt = NULL;
	git_commit *parent = NULL;
	git_diff *diff = NULL;
	unsigned i, np = git_commit_parentcount(c);
	int rc;

	git_oid_tostr(id, sizeof(id), git_commit_id(c));
	abuf_printf(b, "commit %s\n", id);
	if (np > 1) {
		abuf_puts(b, "Merge:");
		for (i = 0; i < np; i++) {
			git_oid_tostr(id, sizeof(id), git_commit_parent_id(c, i));
			abuf_printf(b, " %.7s", id);
		}
		abuf_puts(b, "\n");
	}
	fmt_date(&a->when, date, sizeof(date), 0);
	abuf_printf(b, "Author: %s <%s>\nDate:   %s\n\n", a->name, a->email, date);
	for (p = msg ? msg : ""; *p; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		if (nl && nl[1] == '\0' && nl == p)
			break;
		abuf_printf(b, "    %.*s\n", (int)(nl ? nl - p : (long)strlen(p)), p);
	}
	if (git_commit_tree(&t, c) < 0)
		return gerr(e, "cannot read the commit's tree");
	if (np > 0) {
		if (git_commit_parent(&parent, c, 0) < 0 || git_commit_tree(&pt, parent) < 0) {
			git_commit_free(parent);
			git_tree_free(t);
			return gerr(e, "cannot read the parent commit");
		}
	}
	if (np > 1)
		abuf_puts(b, "\n(changes against the first parent)\n");
	if (git_diff_tree_to_tree(&diff, repo, pt, t, NULL) < 0)
		rc = gerr(e, "cannot compute the diff");
	else {
		size_t before = b->len;

		abuf_puts(b, "\n");
		rc = diff_text(diff, b, cut, e);
		if (rc == AGENTD_OK && b->len == before + 1)
			b->data[--b->len] = '\0';
	}
	git_diff_free(diff);
	git_tree_free(pt);
	git_tree_free(t);
	git_commit_free(parent);
	return rc;
}

int
tool_git_show(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	const char *rev = ajson_str(args, "rev", "HEAD");
	git_object *o = NULL, *peeled = NULL;
	struct abuf b;
	int rc = AGENTD_OK, cut = 0;
	json_t *r;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	abuf_init(&b, GIT_OUT_MAX);
	if (git_revparse_single(&o, g.repo, rev) < 0)
		rc = agentd_seterr(&e, AGENTD_EGIT, "unknown revision '%.200s': %s", rev,
		    git_error_last() ? git_error_last()->message : "");
	else if (git_object_type(o) == GIT_OBJECT_TAG ?
	    git_object_peel(&peeled, o, GIT_OBJECT_ANY) < 0 : git_object_dup(&peeled, o) < 0)
		rc = gerr(&e, "cannot read the object");
	if (rc == AGENTD_OK) {
		switch (git_object_type(peeled)) {
		case GIT_OBJECT_COMMIT:
			rc = show_commit(g.repo, (git_commit *)peeled, &b, &cut, &e);
			break;
		case GIT_OBJECT_BLOB: {
			const char *raw = git_blob_rawcontent((git_blob *)peeled);
			size_t n = (size_t)git_blob_rawsize((git_blob *)peeled);

			if (!tools_looks_text(raw, n))
				abuf_printf(&b, "(binary file, %zu bytes)\n", n);
			else if (abuf_append(&b, raw, n) != AGENTD_OK)
				cut = 1;
			break;
		}
		case GIT_OBJECT_TREE: {
			git_tree *t = (git_tree *)peeled;
			size_t i;

			abuf_printf(&b, "tree %s\n\n", rev);
			for (i = 0; i < git_tree_entrycount(t); i++) {
				const git_tree_entry *te = git_tree_entry_byindex(t, i);

				abuf_printf(&b, "%s%s\n", git_tree_entry_name(te),
				    git_tree_entry_type(te) == GIT_OBJECT_TREE ? "/" : "");
			}
			break;
		}
		default:
			rc = agentd_seterr(&e, AGENTD_EGIT, "'%.200s' is not a commit or a file", rev);
		}
	}
	git_object_free(peeled);
	git_object_free(o);
	grepo_close(&g);
	if (rc != AGENTD_OK) {
		abuf_free(&b);
		return gfail(&e, result, err);
	}
	r = gok(b.data, b.len);
	if (r)
		ajson_set_bool(r, "truncated", cut);
	abuf_free(&b);
	*result = r;
	return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/* ---- add, commit, restore ---- */

/*
 * Paths that differ from HEAD in the index or the work tree (untracked files
 * too, ignored ones not), as work-tree paths. Appends up to `cap` of them to
 * `out`; *total gets how many there are. `only`, when not NULL, limits the
 * list to paths that are keys of that object.
 */
static int
dirty_paths(git_repository *repo, json_t *only, json_t *out, size_t cap, size_t *total,
    struct agentd_error *e)
{
	git_status_options so = GIT_STATUS_OPTIONS_INIT;
	git_status_list *sl = NULL;
	size_t i, n, k = 0;

	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
	    GIT_STATUS_OPT_SORT_CASE_SENSITIVELY | GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&sl, repo, &so) < 0)
		return gerr(e, "cannot read the status");
	n = git_status_list_entrycount(sl);
	for (i = 0; i < n; i++) {
		const git_status_entry *se = git_status_byindex(sl, i);
		const char *p;

		if (se->status == GIT_STATUS_CURRENT || (se->status & GIT_STATUS_IGNORED))
			continue;
		p = se->head_to_index ? se->head_to_index->new_file.path :
		    se->index_to_workdir->old_file.path;
		if (only != NULL && json_object_get(only, p) == NULL)
			continue;
		if (k++ < cap && json_array_append_new(out, json_string(p)) < 0) {
			git_status_list_free(sl);
			return agentd_seterr(e, AGENTD_ENOMEM, NULL);
		}
	}
	git_status_list_free(sl);
	*total = k;
	return AGENTD_OK;
}

/* "a, b, c and N more" from a JSON array of strings, into out[n]. */
static void
list_some(json_t *paths, size_t total, size_t show, char *out, size_t n)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < json_array_size(paths) && i < show && used < n; i++)
		used += (size_t)snprintf(out + used, n - used, "%s%.200s", i ? ", " : "",
		    json_string_value(json_array_get(paths, i)));
	if (total > i && used < n)
		snprintf(out + used, n - used, " and %zu more", total - i);
}

/* Is gp (work-tree path) a file in the index, or a folder holding some? */
static int
in_index(git_index *idx, const char *gp)
{
	size_t i, n = git_index_entrycount(idx), l = strlen(gp);

	if (l == 0)
		return n > 0;
	for (i = 0; i < n; i++) {
		const git_index_entry *ie = git_index_get_byindex(idx, i);

		if (strncmp(ie->path, gp, l) == 0 && (ie->path[l] == '\0' || ie->path[l] == '/'))
			return 1;
	}
	return 0;
}

/* Does gp exist in the work tree (without following a final symlink)? */
static int
in_workdir(const struct grepo *g, const char *gp)
{
	const char *wd = git_repository_workdir(g->repo);
	char *full = malloc(strlen(wd) + strlen(gp) + 1);
	struct stat st;
	int r;

	if (full == NULL)
		return 0;
	sprintf(full, "%s%s", wd, gp);
	r = lstat(full, &st) == 0;
	free(full);
	return r;
}

/* Convert a "paths" argument to work-tree paths; refuses escapes. */
static int
gpaths(const struct tool_ctx *ctx, const struct grepo *g, json_t *arr, git_strarray *out,
    struct agentd_error *e)
{
	size_t i, n = json_array_size(arr);
	char **v = calloc(n ? n : 1, sizeof(char *));
	int rc = AGENTD_OK;

	if (v == NULL)
		return agentd_seterr(e, AGENTD_ENOMEM, NULL);
	for (i = 0; i < n && rc == AGENTD_OK; i++) {
		json_t *s = json_array_get(arr, i);

		rc = gpath(ctx->workspace, g, json_string_value(s), json_string_length(s), &v[i], e);
	}
	if (rc != AGENTD_OK) {
		for (i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	out->strings = v;
	out->count = n;
	return AGENTD_OK;
}

static void
gpaths_free(git_strarray *a)
{
	size_t i;

	for (i = 0; i < a->count; i++)
		free(a->strings[i]);
	free(a->strings);
	a->strings = NULL;
	a->count = 0;
}

/* A result whose output is a message followed by the status. */
static json_t *
with_status(git_repository *repo, const char *msg)
{
	struct agentd_error e;
	struct abuf b;
	json_t *r;

	abuf_init(&b, GIT_OUT_MAX);
	abuf_printf(&b, "%s\n", msg);
	if (porcelain(repo, &b, NULL, &e) != AGENTD_OK)
		abuf_printf(&b, "(status unavailable: %s)\n", e.msg);
	r = gok(b.data, b.len);
	abuf_free(&b);
	return r;
}

/* End of a tool that changed the index: the failure, or msg and the status. Closes g. */
static int
finish_index_change(struct grepo *g, int rc, struct agentd_error *e, const char *msg,
    json_t **result, struct agentd_error *err)
{
	json_t *r;

	if (rc != AGENTD_OK) {
		grepo_close(g);
		return gfail(e, result, err);
	}
	r = with_status(g->repo, msg);
	grepo_close(g);
	if (r == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	*result = r;
	return AGENTD_OK;
}

/*
 * The paths a commit leaves out: those the run's start state lists as dirty,
 * less the ones the call names in `paths` (exactly, as work-tree paths).
 * An object with the paths as keys (new reference).
 */
static json_t *
left_out_set(const struct tool_ctx *ctx, const git_strarray *named)
{
	json_t *set = json_object(), *dirty = json_object_get(ctx->start_state, "dirty"), *p;
	size_t i, k;

	if (set == NULL)
		return NULL;
	json_array_foreach(dirty, i, p) {
		const char *s = json_string_value(p);
		int keep = s != NULL;

		for (k = 0; keep && k < named->count; k++)
			if (strcmp(named->strings[k], s) == 0)
				keep = 0;
		if (keep)
			json_object_set_new(set, s, json_true());
	}
	return set;
}

/* git_index_update_all callback: skip (1) the paths in the set. */
static int
skip_left_out(const char *path, const char *matched, void *ud)
{
	(void)matched;
	return json_object_get(ud, path) != NULL;
}

int
tool_git_add(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	git_strarray ps = { NULL, 0 };
	git_index *idx = NULL;
	json_t *out_set = NULL;
	size_t i;
	int rc, kept;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	rc = gpaths(ctx, &g, json_object_get(args, "paths"), &ps, &e);
	if (rc == AGENTD_OK && (out_set = left_out_set(ctx, &ps)) == NULL)
		rc = agentd_seterr(&e, AGENTD_ENOMEM, NULL);
	if (rc == AGENTD_OK && git_repository_index(&idx, g.repo) < 0)
		rc = gerr(&e, "cannot read the index");
	for (i = 0; rc == AGENTD_OK && i < ps.count; i++)
		if (ps.strings[i][0] && !in_workdir(&g, ps.strings[i]) &&
		    !in_index(idx, ps.strings[i]))
			rc = agentd_seterr(&e, AGENTD_ENOTFOUND,
			    "pathspec '%.300s' did not match any files",
			    json_string_value(json_array_get(json_object_get(args, "paths"), i)));
	if (rc == AGENTD_OK) {
		/* "" (the whole work tree) means every path. */
		git_strarray all = { NULL, 0 }, *use = &ps;

		for (i = 0; i < ps.count; i++)
			if (ps.strings[i][0] == '\0')
				use = &all;
		/* Files with changes from before the run began are staged only when
		 * named themselves. */
		if (git_index_add_all(idx, use, GIT_INDEX_ADD_CHECK_PATHSPEC, skip_left_out,
		    out_set) < 0 || git_index_update_all(idx, use, skip_left_out, out_set) < 0)
			rc = gerr(&e, "git add failed");
		else if (git_index_write(idx) < 0)
			rc = gerr(&e, "cannot write the index");
	}
	kept = json_object_size(out_set) > 0;
	git_index_free(idx);
	gpaths_free(&ps);
	json_decref(out_set);
	return finish_index_change(&g, rc, &e, kept ?
	    "staged (files that had uncommitted changes before the run began are staged only "
	    "when named themselves); status now:" : "staged; status now:", result, err);
}

struct mh_ctx {
	git_repository *repo;
	git_commit **parents;
	size_t n, cap;
};

static int
merge_head_cb(const git_oid *oid, void *ud)
{
	struct mh_ctx *m = ud;

	if (m->n >= m->cap)
		return 0;
	if (git_commit_lookup(&m->parents[m->n], m->repo, oid) < 0)
		return -1;
	m->n++;
	return 0;
}

static int
signature(git_repository *repo, const struct tool_ctx *ctx, git_signature **sig)
{
	if (git_signature_default(sig, repo) == 0)
		return 0;
	git_error_clear();
	if (ctx->author_name && ctx->author_name[0] && ctx->author_email &&
	    git_signature_now(sig, ctx->author_name, ctx->author_email) == 0)
		return 0;
	return git_signature_now(sig, "agentd", "agentd@localhost");
}

/*
 * *tree_id with every path of `out_set` as it is in HEAD's tree (`ht`, NULL
 * when unborn) instead of as staged.
 */
static int
tree_without(git_repository *repo, git_index *idx, git_tree *ht, json_t *out_set,
    git_oid *tree_id, struct agentd_error *e)
{
	git_tree_update *up;
	git_tree *base = NULL;
	git_tree_entry **held;
	const char *path;
	json_t *v;
	size_t n = 0, i, cap = json_object_size(out_set);
	int rc = AGENTD_OK;

	if (cap == 0)
		return AGENTD_OK;
	up = calloc(cap, sizeof(*up));
	held = calloc(cap, sizeof(*held));
	if (up == NULL || held == NULL) {
		free(up);
		free(held);
		return agentd_seterr(e, AGENTD_ENOMEM, NULL);
	}
	json_object_foreach(out_set, path, v) {
		const git_index_entry *ie = git_index_get_bypath(idx, path, 0);
		git_tree_entry *te = NULL;

		if (ht != NULL && git_tree_entry_bypath(&te, ht, path) < 0) {
			git_error_clear();
			te = NULL;
		}
		if (te == NULL && ie == NULL)
			continue;
		if (te != NULL && ie != NULL && git_oid_equal(&ie->id, git_tree_entry_id(te)) &&
		    ie->mode == (uint32_t)git_tree_entry_filemode(te)) {
			git_tree_entry_free(te);
			continue;
		}
		up[n].path = path;
		if (te != NULL) {
			up[n].action = GIT_TREE_UPDATE_UPSERT;
			git_oid_cpy(&up[n].id, git_tree_entry_id(te));
			up[n].filemode = git_tree_entry_filemode(te);
			held[n] = te;
		} else {
			up[n].action = GIT_TREE_UPDATE_REMOVE;
		}
		n++;
	}
	if (n > 0 && (git_tree_lookup(&base, repo, tree_id) < 0 ||
	    git_tree_create_updated(tree_id, repo, base, n, up) < 0))
		rc = gerr(e, "cannot write the tree without the changes from before the run");
	git_tree_free(base);
	for (i = 0; i < n; i++)
		git_tree_entry_free(held[i]);
	free(held);
	free(up);
	return rc;
}

int
tool_git_commit(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	git_index *idx = NULL;
	git_oid tree_id, cid;
	git_tree *tree = NULL;
	git_commit *parents[16];
	struct mh_ctx mh;
	git_signature *sig = NULL;
	git_buf msg = GIT_BUF_INIT;
	git_strarray ps = { NULL, 0 };
	int all = ajson_bool(args, "all", 0), rc = AGENTD_OK, merging;
	size_t i, nleft = 0;
	char id[GIT_OID_HEXSZ + 1], branch[256], text[1800], some[1200];
	json_t *r, *out_set = NULL, *left = json_array();

	agentd_error_clear(&e);
	memset(parents, 0, sizeof(parents));
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	mh.repo = g.repo;
	mh.parents = parents;
	mh.n = 0;
	mh.cap = sizeof(parents) / sizeof(parents[0]);
	if (git_message_prettify(&msg, ajson_str(args, "message", ""), 0, '#') < 0)
		rc = gerr(&e, "bad commit message");
	else if (msg.size == 0)
		rc = agentd_seterr(&e, AGENTD_EINVAL,
		    "the commit message is empty; write a one-line summary of the change");
	if (rc == AGENTD_OK && left == NULL)
		rc = agentd_seterr(&e, AGENTD_ENOMEM, NULL);
	if (rc == AGENTD_OK && json_object_get(args, "paths") != NULL)
		rc = gpaths(ctx, &g, json_object_get(args, "paths"), &ps, &e);
	if (rc == AGENTD_OK && (out_set = left_out_set(ctx, &ps)) == NULL)
		rc = agentd_seterr(&e, AGENTD_ENOMEM, NULL);
	if (rc == AGENTD_OK && all && ajson_int(ctx->start_state, "dirty_count", 0) >
	    (json_int_t)json_array_size(json_object_get(ctx->start_state, "dirty")))
		rc = agentd_seterr(&e, AGENTD_EINVAL, "all:true is refused: the checkout had too "
		    "many uncommitted changes when the run began to keep them apart; stage the "
		    "run's files with git_add (or name them in paths) and commit without all");
	if (rc == AGENTD_OK && git_repository_index(&idx, g.repo) < 0)
		rc = gerr(&e, "cannot read the index");
	/* Before staging with all: `git commit -a` refuses unmerged paths too. */
	if (rc == AGENTD_OK && git_index_has_conflicts(idx))
		rc = agentd_seterr(&e, AGENTD_EGIT,
		    "there are unresolved conflicts (status 'UU' and the like); fix the files, "
		    "git_add them, then commit");
	for (i = 0; rc == AGENTD_OK && i < ps.count; i++)
		if (ps.strings[i][0] && !in_workdir(&g, ps.strings[i]) &&
		    !in_index(idx, ps.strings[i]))
			rc = agentd_seterr(&e, AGENTD_ENOTFOUND,
			    "pathspec '%.300s' did not match any files",
			    json_string_value(json_array_get(json_object_get(args, "paths"), i)));
	if (rc == AGENTD_OK && ps.count > 0 &&
	    (git_index_add_all(idx, &ps, GIT_INDEX_ADD_CHECK_PATHSPEC, skip_left_out, out_set) < 0 ||
	    git_index_update_all(idx, &ps, skip_left_out, out_set) < 0))
		rc = gerr(&e, "cannot stage the paths");
	/* Changes that were there before the run began are not staged by `all`. */
	if (rc == AGENTD_OK && all && git_index_update_all(idx, NULL, skip_left_out, out_set) < 0)
		rc = gerr(&e, "cannot stage the changes");
	if (rc == AGENTD_OK && (all || ps.count > 0) && git_index_write(idx) < 0)
		rc = gerr(&e, "cannot write the index");
	if (rc == AGENTD_OK && git_index_write_tree(&tree_id, idx) < 0)
		rc = gerr(&e, "cannot write the tree");
	if (rc == AGENTD_OK && git_repository_head_unborn(g.repo) != 1) {
		git_object *h = NULL;

		if (git_revparse_single(&h, g.repo, "HEAD^{commit}") < 0)
			rc = gerr(&e, "cannot read HEAD");
		else
			parents[mh.n++] = (git_commit *)h;
	}
	/* ...nor committed when staged (by the user, or a git_add of a folder). */
	if (rc == AGENTD_OK && json_object_size(out_set) > 0) {
		git_tree *ht = NULL;

		if (mh.n > 0 && git_commit_tree(&ht, parents[0]) < 0)
			rc = gerr(&e, "cannot read HEAD's tree");
		else
			rc = tree_without(g.repo, idx, ht, out_set, &tree_id, &e);
		git_tree_free(ht);
		/* What is left out: those of them that still have changes. */
		if (rc == AGENTD_OK)
			rc = dirty_paths(g.repo, out_set, left, 100, &nleft, &e);
	}
	if (nleft > 0)
		list_some(left, nleft, 8, some, sizeof(some));
	merging = rc == AGENTD_OK && git_repository_state(g.repo) == GIT_REPOSITORY_STATE_MERGE;
	if (merging && git_repository_mergehead_foreach(g.repo, merge_head_cb, &mh) < 0)
		rc = gerr(&e, "cannot read MERGE_HEAD");
	if (rc == AGENTD_OK && !merging) {
		int empty = mh.n == 0 ? git_index_entrycount(idx) == 0 :
		    git_oid_equal(&tree_id, git_commit_tree_id(parents[0]));

		if (empty && nleft > 0)
			rc = agentd_seterr(&e, AGENTD_EINVAL, "nothing to commit: no changes of "
			    "the run%s; %zu file(s) that already had uncommitted changes before the "
			    "run began are left out (%s); to commit one, name it in paths",
			    all ? " (even with all)" : " staged", nleft, some);
		else if (empty)
			rc = agentd_seterr(&e, AGENTD_EINVAL,
			    "nothing to commit: no staged changes%s; use git_add first, or set "
			    "all:true to include changes to tracked files", all ? " (even with all)" : "");
	}
	if (rc == AGENTD_OK && git_tree_lookup(&tree, g.repo, &tree_id) < 0)
		rc = gerr(&e, "cannot read the tree");
	if (rc == AGENTD_OK && signature(g.repo, ctx, &sig) < 0)
		rc = gerr(&e, "cannot make the author signature");
	if (rc == AGENTD_OK)
		tools_test_pause("git-commit");
	if (rc == AGENTD_OK && git_commit_create(&cid, g.repo, "HEAD", sig, sig, NULL, msg.ptr,
	    tree, mh.n, (const git_commit **)parents) < 0)
		rc = gerr(&e, "commit failed");
	if (rc == AGENTD_OK && merging)
		git_repository_state_cleanup(g.repo);
	for (i = 0; i < mh.n; i++)
		git_commit_free(parents[i]);
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(idx);
	gpaths_free(&ps);
	json_decref(out_set);
	if (rc != AGENTD_OK) {
		json_decref(left);
		git_buf_dispose(&msg);
		grepo_close(&g);
		return gfail(&e, result, err);
	}
	git_oid_tostr(id, sizeof(id), &cid);
	head_branch(g.repo, branch, sizeof(branch));
	{
		const char *nl = strchr(msg.ptr, '\n');

		int n = snprintf(text, sizeof(text), "[%s %.7s] %.*s",
		    branch[0] ? branch : "detached HEAD", id,
		    (int)(nl ? nl - msg.ptr : (long)strlen(msg.ptr)), msg.ptr);

		if (nleft > 0 && n > 0 && (size_t)n < sizeof(text))
			snprintf(text + n, sizeof(text) - (size_t)n, "\nLeft out of the commit: %zu "
			    "file(s) that already had uncommitted changes before the run began (%s); "
			    "they stay as they are. To commit one, name it in paths.", nleft, some);
	}
	git_buf_dispose(&msg);
	r = gok(text, strlen(text));
	if (r) {
		ajson_set_str(r, "commit", id);
		ajson_set_str(r, "branch", branch[0] ? branch : NULL);
		if (nleft > 0)
			json_object_set(r, "left_out", left);
	}
	json_decref(left);
	grepo_close(&g);
	*result = r;
	return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

int
tool_git_restore(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	git_strarray ps = { NULL, 0 };
	git_index *idx = NULL;
	git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
	size_t i;
	int rc;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	rc = gpaths(ctx, &g, json_object_get(args, "paths"), &ps, &e);
	if (rc == AGENTD_OK && git_repository_index(&idx, g.repo) < 0)
		rc = gerr(&e, "cannot read the index");
	for (i = 0; rc == AGENTD_OK && i < ps.count; i++)
		if (!in_index(idx, ps.strings[i]))
			rc = agentd_seterr(&e, AGENTD_ENOTFOUND,
			    "pathspec '%.300s' did not match any file(s) known to git",
			    json_string_value(json_array_get(json_object_get(args, "paths"), i)));
	if (rc == AGENTD_OK) {
		int whole = 0;

		for (i = 0; i < ps.count; i++)
			whole |= ps.strings[i][0] == '\0';
		co.checkout_strategy = GIT_CHECKOUT_FORCE;
		if (!whole)
			co.paths = ps;
		if (git_checkout_index(g.repo, idx, &co) < 0)
			rc = gerr(&e, "restore failed");
	}
	git_index_free(idx);
	gpaths_free(&ps);
	return finish_index_change(&g, rc, &e, "restored from the index; status now:", result, err);
}

/* ---- branches and checkout ---- */

static int
checkout_commit(git_repository *repo, git_commit *c, const char *refname, int force,
    struct agentd_error *e)
{
	git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;

	co.checkout_strategy = force ? GIT_CHECKOUT_FORCE : GIT_CHECKOUT_SAFE;
	if (git_checkout_tree(repo, (git_object *)c, &co) < 0) {
		const git_error *ge = git_error_last();

		return agentd_seterr(e, AGENTD_EGIT,
		    "checkout refused: %s — uncommitted changes would be overwritten; commit "
		    "them (git_commit), discard them (git_restore), or pass force:true to "
		    "throw them away", ge && ge->message ? ge->message : "conflict");
	}
	if (refname ? git_repository_set_head(repo, refname) < 0 :
	    git_repository_set_head_detached(repo, git_commit_id(c)) < 0)
		return gerr(e, "cannot move HEAD");
	return AGENTD_OK;
}

static int
lookup_commit(git_repository *repo, const char *rev, git_commit **c, struct agentd_error *e)
{
	return peel_rev(repo, rev, GIT_OBJECT_COMMIT, (git_object **)c, e);
}

int
tool_git_branch(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	const char *name = ajson_str(args, "name", ""), *from = ajson_str(args, "from", "HEAD");
	int checkout = ajson_bool(args, "checkout", 0), valid = 0, rc = AGENTD_OK;
	git_commit *c = NULL;
	git_reference *ref = NULL;
	char text[600], id[GIT_OID_HEXSZ + 1];
	json_t *r;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	if (git_branch_name_is_valid(&valid, name) < 0 || !valid || name[0] == '-')
		rc = agentd_seterr(&e, AGENTD_EINVAL,
		    "'%.200s' is not a valid branch name (no spaces, '..', '~', '^', ':', '?', '*', "
		    "'[' or leading '-'); try something like 'fix/parser-crash'", name);
	if (rc == AGENTD_OK && strcmp(from, "HEAD") == 0 && git_repository_head_unborn(g.repo) == 1)
		rc = agentd_seterr(&e, AGENTD_EGIT,
		    "HEAD has no commit yet; make a first commit before creating a branch");
	if (rc == AGENTD_OK)
		rc = lookup_commit(g.repo, from, &c, &e);
	if (rc == AGENTD_OK && git_branch_create(&ref, g.repo, name, c, 0) < 0)
		rc = gerr(&e, "cannot create the branch");
	if (rc == AGENTD_OK && checkout)
		rc = checkout_commit(g.repo, c, git_reference_name(ref), 0, &e);
	if (rc == AGENTD_OK) {
		git_oid_tostr(id, sizeof(id), git_commit_id(c));
		snprintf(text, sizeof(text), "created branch '%s' at %.7s%s", name, id,
		    checkout ? " and switched to it" : "");
	}
	git_reference_free(ref);
	git_commit_free(c);
	grepo_close(&g);
	if (rc != AGENTD_OK)
		return gfail(&e, result, err);
	r = gok(text, strlen(text));
	*result = r;
	return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

int
tool_git_checkout(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	struct grepo g;
	const char *target = ajson_str(args, "target", "");
	int force = ajson_bool(args, "force", 0), rc;
	git_reference *br = NULL;
	git_commit *c = NULL;
	char text[600], id[GIT_OID_HEXSZ + 1];
	json_t *r;

	agentd_error_clear(&e);
	if (grepo_open(ctx->workspace, &g, &e) != AGENTD_OK)
		return gfail(&e, result, err);
	if (git_branch_lookup(&br, g.repo, target, GIT_BRANCH_LOCAL) == 0) {
		git_object *o = NULL;

		rc = git_reference_peel(&o, br, GIT_OBJECT_COMMIT) < 0 ?
		    gerr(&e, "cannot read the branch") : AGENTD_OK;
		c = (git_commit *)o;
		if (rc == AGENTD_OK)
			rc = checkout_commit(g.repo, c, git_reference_name(br), force, &e);
		if (rc == AGENTD_OK)
			snprintf(text, sizeof(text), "switched to branch '%s'", target);
	} else {
		git_error_clear();
		rc = lookup_commit(g.repo, target, &c, &e);
		if (rc == AGENTD_OK)
			rc = checkout_commit(g.repo, c, NULL, force, &e);
		if (rc == AGENTD_OK) {
			git_oid_tostr(id, sizeof(id), git_commit_id(c));
			snprintf(text, sizeof(text), "HEAD is now at %.7s %s (detached HEAD; create a "
			    "branch with git_branch to keep commits)", id, git_commit_summary(c));
		}
	}
	git_reference_free(br);
	git_commit_free(c);
	grepo_close(&g);
	if (rc != AGENTD_OK)
		return gfail(&e, result, err);
	r = gok(text, strlen(text));
	*result = r;
	return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/* ---- plumbing for the daemon ---- */

static int
open_plain(const char *path, git_repository **repo, struct agentd_error *err)
{
	pthread_once(&git_once, git_init);
	if (git_repository_open_ext(repo, path, 0, NULL) < 0)
		return open_failed(path, "cannot open the repository", err);
	return AGENTD_OK;
}

int
tools_git_head(const char *workspace, char oid[41], char *branch, size_t blen,
    struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_reference *h = NULL;
	git_object *o = NULL;
	char name[256];
	int rc;

	if ((rc = open_plain(workspace, &repo, err)) != AGENTD_OK)
		return rc;
	head_branch(repo, name, sizeof(name));
	if (git_repository_head_detached(repo) == 1)
		name[0] = '\0';
	if (git_repository_head_unborn(repo) == 1) {
		/* No commit yet: a zero id and no branch, as for a detached HEAD. */
		memset(oid, '0', 40);
		oid[40] = '\0';
		if (branch && blen)
			branch[0] = '\0';
		git_repository_free(repo);
		return AGENTD_OK;
	}
	if (git_revparse_single(&o, repo, "HEAD^{commit}") < 0) {
		rc = gerr(err, "cannot read HEAD");
		git_repository_free(repo);
		return rc;
	}
	git_oid_tostr(oid, 41, git_object_id(o));
	if (branch && blen)
		snprintf(branch, blen, "%s", name);
	git_object_free(o);
	git_reference_free(h);
	git_repository_free(repo);
	return AGENTD_OK;
}

int
tools_git_start_state(const char *workspace, json_t **out, struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_object *h = NULL;
	json_t *st = json_object(), *dirty = json_array();
	char oid[GIT_OID_HEXSZ + 1];
	size_t total = 0;
	int rc;

	if (st == NULL || dirty == NULL) {
		json_decref(st);
		json_decref(dirty);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if ((rc = open_plain(workspace, &repo, err)) == AGENTD_OK)
		rc = dirty_paths(repo, NULL, dirty, TOOLS_START_DIRTY_MAX, &total, err);
	if (rc == AGENTD_OK && git_repository_head_unborn(repo) != 1) {
		if (git_revparse_single(&h, repo, "HEAD^{commit}") < 0)
			rc = gerr(err, "cannot read HEAD");
		else
			git_oid_tostr(oid, sizeof(oid), git_object_id(h));
	}
	if (rc == AGENTD_OK) {
		json_object_set_new(st, "head", h ? json_string(oid) : json_null());
		json_object_set(st, "dirty", dirty);
		json_object_set_new(st, "dirty_count", json_integer((json_int_t)total));
		*out = json_incref(st);
	}
	git_object_free(h);
	git_repository_free(repo);
	json_decref(dirty);
	json_decref(st);
	return rc;
}

int
tools_git_prefix(const char *workspace, char *prefix, size_t plen, struct agentd_error *err)
{
	struct grepo g;
	int rc;

	if ((rc = grepo_open(workspace, &g, err)) != AGENTD_OK)
		return rc;
	if (strlen(g.prefix) >= plen)
		rc = agentd_seterr(err, AGENTD_EINVAL, "the workspace's path is too long");
	else
		snprintf(prefix, plen, "%s", g.prefix);
	grepo_close(&g);
	return rc;
}

int
tools_worktree_add(const char *repo_path, const char *wt_path, const char *branch,
    char base_oid[41], struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_object *head = NULL;
	git_reference *ref = NULL;
	git_worktree *wt = NULL;
	git_worktree_add_options wo = GIT_WORKTREE_ADD_OPTIONS_INIT;
	const char *name;
	struct stat st;
	int rc = AGENTD_OK, valid = 0;

	if (lstat(wt_path, &st) == 0)
		return agentd_seterr(err, AGENTD_EGIT, "worktree path '%.300s' already exists", wt_path);
	pthread_once(&git_once, git_init);	/* the first git call of a run may be this one */
	if (git_branch_name_is_valid(&valid, branch) < 0 || !valid)
		return agentd_seterr(err, AGENTD_EGIT, "'%.200s' is not a valid branch name", branch);
	if ((rc = open_plain(repo_path, &repo, err)) != AGENTD_OK)
		return rc;
	name = strrchr(wt_path, '/');
	name = name ? name + 1 : wt_path;
	if (git_revparse_single(&head, repo, "HEAD^{commit}") < 0)
		rc = gerr(err, "HEAD has no commit to start the branch from");
	else if (git_branch_create(&ref, repo, branch, (git_commit *)head, 0) < 0)
		rc = gerr(err, "cannot create the branch");
	else {
		tools_test_pause("worktree-add");
		wo.ref = ref;
		if (git_worktree_add(&wt, repo, name, wt_path, &wo) < 0) {
			rc = gerr(err, "cannot add the worktree");
			/* Leave nothing half made: the branch was new. */
			git_reference_delete(ref);
		}
	}
	if (rc == AGENTD_OK)
		git_oid_tostr(base_oid, 41, git_object_id(head));
	git_worktree_free(wt);
	git_reference_free(ref);
	git_object_free(head);
	git_repository_free(repo);
	return rc;
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return (flag == FTW_DP ? rmdir(p) : unlink(p)) < 0 && errno != ENOENT ? -1 : 0;
}

int
tools_worktree_remove(const char *repo_path, const char *wt_path, struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_strarray names = { NULL, 0 };
	git_worktree *found = NULL;
	git_worktree_prune_options po = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
	char want[PATH_MAX], have[PATH_MAX];
	size_t i;
	int rc;

	if ((rc = open_plain(repo_path, &repo, err)) != AGENTD_OK)
		return rc;
	if (realpath(wt_path, want) == NULL)
		snprintf(want, sizeof(want), "%s", wt_path);
	if (git_worktree_list(&names, repo) < 0) {
		rc = gerr(err, "cannot list worktrees");
		git_repository_free(repo);
		return rc;
	}
	for (i = 0; i < names.count && found == NULL; i++) {
		git_worktree *wt = NULL;
		const char *p;

		if (git_worktree_lookup(&wt, repo, names.strings[i]) < 0)
			continue;
		p = git_worktree_path(wt);
		if (p && (strcmp(p, wt_path) == 0 || strcmp(p, want) == 0 ||
		    (realpath(p, have) && strcmp(have, want) == 0)))
			found = wt;
		else
			git_worktree_free(wt);
	}
	git_strarray_dispose(&names);
	git_error_clear();
	if (found == NULL) {
		git_repository_free(repo);
		return agentd_seterr(err, AGENTD_EGIT, "no worktree of this repository at '%.300s'",
		    wt_path);
	}
	/* Remove the files without following symlinks, then the record. */
	if (nftw(want, rm_entry, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		rc = agentd_seterr(err, AGENTD_EGIT, "cannot remove '%.300s': %s", want,
		    strerror(errno));
	po.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED;
	if (rc == AGENTD_OK && git_worktree_prune(found, &po) < 0)
		rc = gerr(err, "cannot prune the worktree");
	git_worktree_free(found);
	git_repository_free(repo);
	return rc;
}

/*
 * The branch's config section (upstream settings). git_branch_delete would
 * do this, but libgit2 1.5 leaks a regex match block there, so the known
 * keys are removed one by one.
 */
static void
drop_branch_config(git_repository *repo, const char *branch)
{
	static const char *keys[] = { "remote", "merge", "rebase", "pushRemote",
		"description", NULL };
	git_config *cfg = NULL;
	char key[512];
	size_t i;

	if (git_repository_config(&cfg, repo) < 0) {
		git_error_clear();
		return;
	}
	for (i = 0; keys[i]; i++) {
		snprintf(key, sizeof(key), "branch.%s.%s", branch, keys[i]);
		(void)git_config_delete_entry(cfg, key);
	}
	git_error_clear();
	git_config_free(cfg);
}

int
tools_git_branch_exists(const char *repo_path, const char *branch, struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	int rc;

	if ((rc = open_plain(repo_path, &repo, err)) != AGENTD_OK)
		return -rc;
	rc = git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL);
	if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC)
		rc = 0;
	else if (rc < 0)
		rc = -gerr(err, "cannot look the branch up");
	else
		rc = 1;
	git_error_clear();
	git_reference_free(ref);
	git_repository_free(repo);
	return rc;
}

static int open_by_someone(const char *path);

/* Remove `path` (a file or a folder, symlinks not followed) if it exists. */
static int
rm_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT ? -1 : 0;
}

/*
 * What a kill inside git_worktree_add or git_branch_create can leave that
 * the worktree's record does not lead to: git's folder for the worktree
 * (.git/worktrees/NAME, NAME the folder's name) before its gitdir file
 * points anywhere, and the branch's ref lock.
 */
static int
discard_leftovers(const char *repo_path, const char *wt_path, const char *branch,
    struct agentd_error *err)
{
	git_repository *repo = NULL;
	const char *name = strrchr(wt_path, '/'), *cd;
	char p[PATH_MAX + 512], link[PATH_MAX];
	FILE *f;
	int rc, ours = 1;

	if ((rc = open_plain(repo_path, &repo, err)) != AGENTD_OK)
		return rc;
	cd = git_repository_commondir(repo);
	name = name ? name + 1 : wt_path;
	snprintf(p, sizeof(p), "%sworktrees/%s/gitdir", cd, name);
	if ((f = fopen(p, "r")) != NULL) {
		/* Only the folder of this worktree: its gitdir names wt_path. */
		if (fgets(link, sizeof(link), f) != NULL)
			ours = strncmp(link, wt_path, strlen(wt_path)) == 0;
		fclose(f);
	}
	snprintf(p, sizeof(p), "%sworktrees/%s", cd, name);
	if (ours && strcmp(name, "") != 0 && rm_tree(p) < 0)
		rc = agentd_seterr(err, AGENTD_EGIT, "cannot remove '%.300s': %s", p,
		    strerror(errno));
	if (rc == AGENTD_OK && branch != NULL && branch[0] != '\0' &&
	    strstr(branch, "..") == NULL) {
		snprintf(p, sizeof(p), "%srefs/heads/%s.lock", cd, branch);
		if (!open_by_someone(p) && unlink(p) < 0 && errno != ENOENT)
			rc = agentd_seterr(err, AGENTD_EGIT, "cannot remove '%.300s': %s", p,
			    strerror(errno));
	}
	git_repository_free(repo);
	return rc;
}

int
tools_worktree_discard(const char *repo_path, const char *wt_path, const char *branch,
    struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	struct agentd_error e2;
	struct stat st;
	int rc;

	/* A registered worktree goes with its record; a folder git never
	 * recorded (the crash came before) is removed as files. */
	agentd_error_clear(&e2);
	if (tools_worktree_remove(repo_path, wt_path, &e2) != AGENTD_OK &&
	    lstat(wt_path, &st) == 0 &&
	    nftw(wt_path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return agentd_seterr(err, AGENTD_EGIT, "cannot remove '%.300s': %s", wt_path,
		    strerror(errno));
	if ((rc = discard_leftovers(repo_path, wt_path, branch, err)) != AGENTD_OK)
		return rc;
	if (branch == NULL || branch[0] == '\0')
		return AGENTD_OK;
	if ((rc = open_plain(repo_path, &repo, err)) != AGENTD_OK)
		return rc;
	if (git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL) < 0)
		git_error_clear();	/* never made */
	else if (git_branch_is_checked_out(ref) == 1)
		rc = agentd_seterr(err, AGENTD_EBUSY, "branch '%.200s' is checked out elsewhere; "
		    "not deleting it", branch);
	else if (git_reference_delete(ref) < 0)
		rc = gerr(err, "cannot delete the branch");
	else
		drop_branch_config(repo, branch);
	git_reference_free(ref);
	git_repository_free(repo);
	return rc;
}

/* Does any process we can see have `path` open? */
static int
open_by_someone(const char *path)
{
	char fdpath[300], target[PATH_MAX];
	DIR *proc = opendir("/proc"), *fds;
	struct dirent *p, *f;
	ssize_t n;
	int found = 0;

	if (proc == NULL)
		return 1;	/* cannot tell: assume so */
	while (!found && (p = readdir(proc)) != NULL) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(fdpath, sizeof(fdpath), "/proc/%s/fd", p->d_name);
		if ((fds = opendir(fdpath)) == NULL)
			continue;
		while (!found && (f = readdir(fds)) != NULL) {
			snprintf(fdpath, sizeof(fdpath), "/proc/%s/fd/%.20s", p->d_name, f->d_name);
			n = readlink(fdpath, target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				found = strcmp(target, path) == 0;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

/* Remove dir/name when it is a stale lock (see tools_git_clear_stale_locks). */
static void
clear_lock(const char *dir, const char *name, double since, char *removed, size_t n)
{
	char path[PATH_MAX + 300];
	struct stat st;
	double mt;
	size_t used = strlen(removed);

	if ((size_t)snprintf(path, sizeof(path), "%s%s", dir, name) >= sizeof(path) ||
	    lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	mt = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9;
	if (mt < since - 2 || mt > since + 300 || open_by_someone(path))
		return;
	if (unlink(path) == 0 && used < n)
		snprintf(removed + used, n - used, "%s%s", used ? ", " : "", path);
}

int
tools_git_clear_stale_locks(const char *workspace, double since, char *removed, size_t n,
    struct agentd_error *err)
{
	git_repository *repo = NULL;
	const char *gd, *cd;
	char ref[300];
	int rc;

	if (n > 0)
		removed[0] = '\0';
	if ((rc = open_plain(workspace, &repo, err)) != AGENTD_OK)
		return rc;
	gd = git_repository_path(repo);
	cd = git_repository_commondir(repo);
	clear_lock(gd, "index.lock", since, removed, n);
	clear_lock(gd, "HEAD.lock", since, removed, n);
	clear_lock(cd, "packed-refs.lock", since, removed, n);
	head_branch(repo, ref + 11, sizeof(ref) - 16);
	if (ref[11] != '\0' && strstr(ref + 11, "..") == NULL) {
		memcpy(ref, "refs/heads/", 11);
		strcat(ref, ".lock");
		clear_lock(cd, ref, since, removed, n);
	}
	git_repository_free(repo);
	return AGENTD_OK;
}

void
tools_test_pause(const char *point)
{
	const char *v = getenv("AGENTD_TEST_PAUSE"), *colon;
	long ms;

	if (v == NULL || (colon = strchr(v, ':')) == NULL ||
	    strlen(point) != (size_t)(colon - v) || strncmp(v, point, strlen(point)) != 0)
		return;
	ms = strtol(colon + 1, NULL, 10);
	if (ms > 0)
		usleep((useconds_t)(ms > 60000 ? 60000 : ms) * 1000);
}

int
tools_git_branch_delete(const char *repo_path, const char *branch, struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	int rc;

	if ((rc = open_plain(repo_path, &repo, err)) != AGENTD_OK)
		return rc;
	if (git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL) < 0)
		rc = gerr(err, "no such branch");
	else if (git_branch_is_checked_out(ref) == 1)
		rc = agentd_seterr(err, AGENTD_EGIT,
		    "branch '%.200s' is checked out; switch away from it first", branch);
	else if (git_reference_delete(ref) < 0)
		rc = gerr(err, "cannot delete the branch");
	else
		drop_branch_config(repo, branch);
	git_reference_free(ref);
	git_repository_free(repo);
	return rc;
}

/*
 * `git reset --keep to` on the checked-out branch `ref`: refused, changing
 * nothing, when a file that differs between HEAD and `to` has local changes
 * (staged, unstaged or an untracked file in the way); otherwise the files
 * that differ are updated, every other local change stays in the work tree,
 * the index is `to`'s and the branch moves.
 */
static int
reset_keep(git_repository *repo, git_reference *ref, git_commit *to, struct agentd_error *err)
{
	git_object *head = NULL;
	git_tree *ht = NULL, *tt = NULL;
	git_diff *diff = NULL;
	git_index *idx = NULL;
	git_reference *nref = NULL;
	git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
	json_t *moved = json_object(), *hit = json_array();
	size_t i, total = 0;
	int rc = AGENTD_OK;
	char some[1200];

	if (moved == NULL || hit == NULL)
		rc = agentd_seterr(err, AGENTD_ENOMEM, NULL);
	else if (git_revparse_single(&head, repo, "HEAD^{commit}") < 0 ||
	    git_commit_tree(&ht, (git_commit *)head) < 0 || git_commit_tree(&tt, to) < 0)
		rc = gerr(err, "cannot read the trees to reset between");
	else if (git_diff_tree_to_tree(&diff, repo, ht, tt, NULL) < 0)
		rc = gerr(err, "cannot compare HEAD with the commit to reset to");
	for (i = 0; rc == AGENTD_OK && i < git_diff_num_deltas(diff); i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);

		json_object_set_new(moved, d->old_file.path, json_true());
		json_object_set_new(moved, d->new_file.path, json_true());
	}
	if (rc == AGENTD_OK)
		rc = dirty_paths(repo, moved, hit, 10, &total, err);
	if (rc == AGENTD_OK && total > 0) {
		list_some(hit, total, 10, some, sizeof(some));
		rc = agentd_seterr(err, AGENTD_EBUSY, "not undone: %zu file(s) that the undo would "
		    "change have uncommitted changes: %s; commit or stash them first "
		    "(nothing was changed)", total, some);
	}
	if (rc == AGENTD_OK) {
		co.checkout_strategy = GIT_CHECKOUT_SAFE;
		co.baseline = ht;
		if (git_checkout_tree(repo, (git_object *)to, &co) < 0)
			rc = gerr(err, "cannot update the work tree");
	}
	if (rc == AGENTD_OK && (git_repository_index(&idx, repo) < 0 ||
	    git_index_read_tree(idx, tt) < 0 || git_index_write(idx) < 0))
		rc = gerr(err, "cannot reset the index");
	if (rc == AGENTD_OK && git_reference_set_target(&nref, ref, git_commit_id(to),
	    "agentd: undo") < 0)
		rc = gerr(err, "cannot move the branch");
	git_reference_free(nref);
	git_index_free(idx);
	git_diff_free(diff);
	git_tree_free(tt);
	git_tree_free(ht);
	git_object_free(head);
	json_decref(moved);
	json_decref(hit);
	return rc;
}

int
tools_git_branch_reset(const char *repo_path, const char *branch, const char *to_oid,
    const char *expect_oid, struct agentd_error *err)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL, *nref = NULL;
	git_object *to = NULL;
	git_oid want, expect;
	int rc;

	if (git_oid_fromstr(&want, to_oid) < 0 || git_oid_fromstr(&expect, expect_oid) < 0)
		return agentd_seterr(err, AGENTD_EGIT, "bad commit id");
	if ((rc = open_plain(repo_path, &repo, err)) != AGENTD_OK)
		return rc;
	if (git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL) < 0)
		rc = gerr(err, "no such branch");
	else if (git_reference_target(ref) == NULL ||
	    !git_oid_equal(git_reference_target(ref), &expect))
		rc = agentd_seterr(err, AGENTD_EBUSY,
		    "branch '%.200s' has moved since (someone committed on top); not resetting it",
		    branch);
	else if (git_object_lookup(&to, repo, &want, GIT_OBJECT_COMMIT) < 0)
		rc = gerr(err, "cannot find the commit to reset to");
	else if (git_branch_is_head(ref) == 1)
		rc = reset_keep(repo, ref, (git_commit *)to, err);
	else if (git_branch_is_checked_out(ref) == 1)
		rc = agentd_seterr(err, AGENTD_EBUSY,
		    "branch '%.200s' is checked out in another worktree", branch);
	else if (git_reference_set_target(&nref, ref, &want, "agentd: undo") < 0)
		rc = gerr(err, "cannot move the branch");
	git_reference_free(nref);
	git_object_free(to);
	git_reference_free(ref);
	git_repository_free(repo);
	return rc;
}
