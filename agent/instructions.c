/*
 * instructions.c — repository instructions for the model (AGENTS.md).
 *
 * Finds the files users already write for coding agents, with the discovery
 * rules Codex documents, and joins them into one text that the loop puts
 * right after the system prompt:
 *
 *   1. the global file in agentd's config dir: AGENTS.override.md if it is
 *      there and not empty, else AGENTS.md;
 *   2. from the repository root (the nearest folder up from the workspace
 *      that holds a .git folder or file; without one, only the workspace)
 *      down to the workspace folder, at most one file per folder: the first
 *      non-empty one of AGENTS.override.md, AGENTS.md, then the configured
 *      fallback names (e.g. CLAUDE.md);
 *   3. joined root first, so deeper files come later and take precedence,
 *      under one total cap in bytes; a file that runs past it is cut there
 *      with a marker, and the files after it are not read.
 *
 * Only regular files are read, opened without following a symlink, so a
 * repository cannot make agentd hand the model a file from elsewhere
 * (~/.ssh/id_rsa behind an AGENTS.md link). The text is for the model only:
 * nothing here changes the sandbox, approvals, tools or limits.
 */
#include "agent/internal.h"
#include "common/buf.h"
#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INSTR_MAX_DEPTH	64	/* folders from the root down to the workspace */

static const char *const primary_names[] = { "AGENTS.override.md", "AGENTS.md" };

/* Whitespace only (or nothing)? */
static int
blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' &&
		    s[i] != '\f' && s[i] != '\v')
			return 0;
	return 1;
}

char *
agent_read_nofollow(int dirfd, const char *name, size_t max, size_t *len, int *more,
    const char **why)
{
	struct stat st;
	char *buf;
	size_t n = 0;
	ssize_t k;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		*why = errno == ELOOP ? "a symbolic link (not followed)" :
		    errno == ENOENT || errno == ENOTDIR ? "missing" : "not readable";
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = "not a regular file";
		return NULL;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		close(fd);
		*why = "out of memory";
		return NULL;
	}
	while (n < max && (k = read(fd, buf + n, max - n)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		n += (size_t)k;
	}
	*more = 0;
	if (n == max) {
		char c;

		*more = read(fd, &c, 1) == 1;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Read dir/name for the instructions, at most `max` bytes (*more set when
 * the file is longer). Returns 1 with *out when the file exists and has
 * text, 0 when it is absent, empty or refused (*why says why when it
 * exists), -1 on ENOMEM.
 */
static int
read_doc(const char *dir, const char *name, size_t max, char **out, size_t *len,
    int *more, const char **why)
{
	char path[PATH_MAX];
	char *buf;
	size_t n = 0;

	*why = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return 0;
	buf = agent_read_nofollow(AT_FDCWD, path, max, &n, more, why);
	if (buf == NULL) {
		if (*why != NULL && strcmp(*why, "missing") == 0)
			*why = NULL;
		return *why != NULL && strcmp(*why, "out of memory") == 0 ? -1 : 0;
	}
	if (blank(buf, n)) {
		free(buf);
		*why = "empty";
		return 0;
	}
	*out = buf;
	*len = n;
	return 1;
}

/* Bytes of s[0, n) that end on a whole UTF-8 sequence. */
static size_t
utf8_floor(const char *s, size_t n)
{
	size_t i = n, back = 0;

	while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
		i--;
		back++;
	}
	if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
		unsigned char lead = (unsigned char)s[i - 1];
		size_t want = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 :
		    (lead & 0xF8) == 0xF0 ? 4 : 1;

		if (back + 1 < want)
			return i - 1;
	}
	return n;
}

struct gather {
	struct abuf text;
	json_t *files;
	json_t *skipped;
	size_t max;		/* the cap on all the files' text */
	size_t left;		/* bytes of the cap still free */
	int full;		/* the cap was reached: read no more */
};

/* Add one file's text under a heading naming `shown`. */
static int
add_doc(struct gather *g, const char *shown, const char *path, char *body, size_t len,
    int more)
{
	size_t take = len < g->left ? len : g->left;
	int cut = more || take < len;
	json_t *f;

	take = utf8_floor(body, take);
	if (abuf_printf(&g->text, "%s## %s\n\n", g->text.len ? "\n\n" : "", shown) ||
	    abuf_append(&g->text, body, take))
		return AGENTD_ENOMEM;
	if (cut && abuf_printf(&g->text, "\n[... %s was cut here: the instructions are "
	    "limited to %zu bytes in all ...]", shown, g->max) != AGENTD_OK)
		return AGENTD_ENOMEM;
	g->left -= take;
	if (cut)
		g->full = 1;
	f = json_pack("{s:s, s:I, s:b}", "path", path, "bytes", (json_int_t)take,
	    "truncated", cut);
	if (f == NULL || json_array_append_new(g->files, f) != 0)
		return AGENTD_ENOMEM;
	return AGENTD_OK;
}

static int
note_skip(struct gather *g, const char *path, const char *why)
{
	if (why == NULL)
		return AGENTD_OK;
	return json_array_append_new(g->skipped, json_pack("{s:s, s:s}", "path", path,
	    "why", why)) == 0 ? AGENTD_OK : AGENTD_ENOMEM;
}

/*
 * The first non-empty candidate of `dir`, added under `shown_dir` (the
 * folder as shown to the model: "" for the root, "sub/dir/" below it).
 */
static int
take_dir(struct gather *g, const char *dir, const char *shown_dir, const char *const *names,
    size_t n_names, const json_t *fallbacks)
{
	size_t i, nf = json_is_array(fallbacks) ? json_array_size(fallbacks) : 0;

	for (i = 0; i < n_names + nf && !g->full; i++) {
		const char *name = i < n_names ? names[i] :
		    json_string_value(json_array_get(fallbacks, i - n_names));
		char shown[PATH_MAX + 64], full[PATH_MAX];
		const char *why;
		char *body = NULL;
		size_t len = 0;
		int more = 0, rc;

		if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL)
			continue;
		snprintf(shown, sizeof(shown), "%s%s", shown_dir, name);
		snprintf(full, sizeof(full), "%s/%s", dir, name);
		rc = read_doc(dir, name, g->left, &body, &len, &more, &why);
		if (rc < 0)
			return AGENTD_ENOMEM;
		if (rc == 0) {
			if (note_skip(g, full, why) != AGENTD_OK)
				return AGENTD_ENOMEM;
			continue;
		}
		rc = add_doc(g, shown, full, body, len, more);
		free(body);
		return rc;
	}
	return AGENTD_OK;
}

/* Is there a .git folder or file in ws[0, n) ("/" when n is 0)? */
static int
has_git(const char *ws, size_t n)
{
	char probe[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(probe, sizeof(probe), "%.*s/.git", (int)n, ws) >= sizeof(probe))
		return 0;
	return lstat(probe, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode));
}

long
agent_repo_root_len(const char *ws)
{
	size_t n = strlen(ws);

	for (;;) {
		if (has_git(ws, n))
			return (long)n;
		if (n == 0)
			return -1;
		while (n > 0 && ws[n - 1] != '/')
			n--;
		if (n > 0)
			n--;	/* the slash: ws[0, n) is the parent ("" = "/") */
	}
}

int
agent_instructions_load(const char *global_dir, const char *workspace, size_t max_bytes,
    const json_t *fallbacks, char **text, json_t **files, struct agentd_error *err)
{
	struct gather g;
	char ws[PATH_MAX], dir[PATH_MAX];
	size_t ends[INSTR_MAX_DEPTH + 1], nends = 0, i, wlen;
	long root;
	json_t *result;
	int rc = AGENTD_OK;

	if (workspace == NULL || realpath(workspace, ws) == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "cannot resolve the workspace %.400s: %s",
		    workspace ? workspace : "(none)", strerror(errno));
	memset(&g, 0, sizeof(g));
	abuf_init(&g.text, max_bytes + 64 * 1024);
	g.files = json_array();
	g.skipped = json_array();
	g.max = g.left = max_bytes;
	if (g.files == NULL || g.skipped == NULL) {
		rc = AGENTD_ENOMEM;
		goto out;
	}
	if (global_dir != NULL && global_dir[0] != '\0' && max_bytes > 0) {
		char shown[PATH_MAX + 16];

		snprintf(shown, sizeof(shown), "%s/", global_dir);
		rc = take_dir(&g, global_dir, shown, primary_names, 2, NULL);
		if (rc != AGENTD_OK)
			goto out;
	}
	/* the folders from the root down to the workspace, as prefix lengths */
	wlen = strlen(ws);
	root = agent_repo_root_len(ws);
	if (root < 0)
		root = (long)wlen;
	ends[nends++] = (size_t)root;
	for (i = (size_t)root + 1; i <= wlen && nends < INSTR_MAX_DEPTH; i++)
		if (ws[i] == '/' || ws[i] == '\0')
			ends[nends++] = i;
	for (i = 0; i < nends && !g.full && g.left > 0; i++) {
		char shown[PATH_MAX];
		size_t from = (size_t)root + 1;

		if (ends[i] == 0)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)ends[i], ws);
		if (ends[i] > (size_t)root)
			snprintf(shown, sizeof(shown), "%.*s/", (int)(ends[i] - from), ws + from);
		else
			shown[0] = '\0';
		rc = take_dir(&g, dir, shown, primary_names, 2, fallbacks);
		if (rc != AGENTD_OK)
			goto out;
	}
out:
	if (rc != AGENTD_OK) {
		abuf_free(&g.text);
		json_decref(g.files);
		json_decref(g.skipped);
		return agentd_seterr(err, rc, NULL);
	}
	result = json_pack("{s:o, s:o}", "files", g.files, "skipped", g.skipped);
	if (result == NULL) {
		abuf_free(&g.text);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	*files = result;
	*text = g.text.len ? abuf_steal(&g.text) : NULL;
	abuf_free(&g.text);
	return AGENTD_OK;
}
