/*
 * file_tools.c — read_file, write_file, edit_file, list_dir and grep, every
 * open confined to the workspace through path.c. Writes are atomic (a
 * temporary file in the same folder, fsync, rename) and keep the mode of the
 * file they replace.
 */
#include "tools/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"

#define FILE_MAX		(16u * 1024u * 1024u)	/* largest file read or edited */
#define READ_DEFAULT_LINES	2000
#define LINE_CUT		2000	/* bytes shown of one line by read_file */
#define LIST_MAX		1000
#define GREP_MAX_MATCHES	200
#define GREP_LINE_CUT		300
#define GREP_MAX_FILES		20000
#define WALK_MAX_DEPTH		64

/* Bytes of a UTF-8 sequence at p (n left), 0 when invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return n < 4 ? (size_t)-1 : 0;	/* cut at the end of the sample */
	for (i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

int
tools_looks_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, k, bad = 0, sample = n < 8192 ? n : 8192;

	if (memchr(s, '\0', sample) != NULL)
		return 0;
	for (i = 0; i < sample; i += k) {
		k = utf8_len(p + i, sample - i);
		if (k == (size_t)-1)
			break;
		if (k == 0) {
			bad++;
			k = 1;
		}
	}
	/* A few stray bytes (Latin-1 in a comment) still read as text. */
	return bad * 50 <= sample && bad < 64;
}

/* Read a whole regular file (at most max bytes) from fd into a malloc'd buffer. */
static int
read_all(int fd, size_t max, char **out, size_t *outlen, const char *shown,
    struct agentd_error *err)
{
	struct stat st;
	char *buf;
	size_t n = 0, cap;
	ssize_t r;

	if (fstat(fd, &st) < 0)
		return agentd_seterr(err, AGENTD_EIO, "'%.300s': %s", shown, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return agentd_seterr(err, AGENTD_EINVAL,
		    "'%.300s' is a directory; use list_dir to see what it holds", shown);
	if (!S_ISREG(st.st_mode))
		return agentd_seterr(err, AGENTD_EDENIED,
		    "refused: '%.300s' is not a regular file (a fifo, socket or device)", shown);
	if ((size_t)st.st_size > max)
		return agentd_seterr(err, AGENTD_ETOOBIG,
		    "'%.300s' is %lld bytes, more than the %zu MiB limit; use grep or shell "
		    "(head, sed -n) to look at parts of it", shown, (long long)st.st_size,
		    max >> 20);
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (buf == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	for (;;) {
		if (n == cap) {
			/* The file grew while we read it: stop at the cap. */
			char *nb;

			if (cap >= max + 1)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				free(buf);
				return agentd_seterr(err, AGENTD_ENOMEM, NULL);
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			return agentd_seterr(err, AGENTD_EIO, "reading '%.300s': %s", shown,
			    strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		return agentd_seterr(err, AGENTD_ETOOBIG, "'%.300s' is larger than %zu MiB",
		    shown, max >> 20);
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return AGENTD_OK;
}

/* Clean and open a path argument for reading; on refusal fills *result. */
static int
open_read(const struct tool_ctx *ctx, const char *path, size_t plen, char **rel, int *fd,
    struct agentd_error *e)
{
	int rc = tpath_clean(ctx->workspace, path, plen, rel, e);

	if (rc != AGENTD_OK)
		return rc;
	rc = tpath_open(ctx->workspace, *rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, fd, path, e);
	if (rc != AGENTD_OK) {
		free(*rel);
		*rel = NULL;
	}
	return rc;
}

/* Tool failures become ok:false results; only ENOMEM is the function's own error. */
static int
finish_fail(int rc, struct agentd_error *e, json_t **result, struct agentd_error *err)
{
	if (rc == AGENTD_ENOMEM)
		return agentd_seterr(err, rc, NULL);
	*result = tools_fail(e);
	return *result ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

int
tool_read_file(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	size_t plen = 0, n = 0, line, first, limit, shown_lines = 0, total, budget;
	const char *path = tpath_arg(args, "path", &plen);
	char *rel = NULL, *buf = NULL, *p, *end, *nl;
	struct abuf out;
	int fd = -1, rc, more = 0;
	json_t *res;

	agentd_error_clear(&e);
	rc = open_read(ctx, path, plen, &rel, &fd, &e);
	if (rc == AGENTD_OK) {
		rc = read_all(fd, FILE_MAX, &buf, &n, path, &e);
		close(fd);
	}
	if (rc == AGENTD_OK && !tools_looks_text(buf, n))
		rc = agentd_seterr(&e, AGENTD_EINVAL,
		    "refused: '%.300s' looks like a binary file (%zu bytes); read_file shows "
		    "text only — use shell (e.g. 'file', 'xxd | head') to inspect it", path, n);
	if (rc != AGENTD_OK) {
		free(rel);
		free(buf);
		return finish_fail(rc, &e, result, err);
	}
	first = (size_t)ajson_int(args, "offset", 1);
	limit = (size_t)ajson_int(args, "limit", READ_DEFAULT_LINES);
	/* Count lines (a last line without '\n' counts). */
	total = 0;
	for (p = buf, end = buf + n; p < end; total++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : end;
	}
	if (first > 1 && first > total) {
		json_t *r = tools_failf("offset %zu is past the end of '%.300s', which has %zu line%s",
		    first, path, total, total == 1 ? "" : "s");

		free(rel);
		free(buf);
		*result = r;
		return r ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	/* Stop near the output cap with a "continue with offset" hint rather
	 * than letting the cap cut lines out of the middle. */
	budget = tools_cap(ctx) > 400 ? tools_cap(ctx) - 200 : 200;
	abuf_init(&out, budget + 400);
	rc = AGENTD_OK;
	for (p = buf, end = buf + n, line = 1; p < end && rc == AGENTD_OK; line++) {
		size_t ll;

		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (line >= first) {
			if (shown_lines == limit) {
				more = 1;
				break;
			}
			if (ll > 0 && p[ll - 1] == '\r')
				ll--;
			if (shown_lines > 0 && out.len + 32 + (ll > LINE_CUT ? LINE_CUT : ll) > budget) {
				more = 1;
				break;
			}
			rc = abuf_printf(&out, "%6zu\t%.*s%s\n", line,
			    (int)(ll > LINE_CUT ? LINE_CUT : ll), p,
			    ll > LINE_CUT ? " [... line cut ...]" : "");
			if (rc == AGENTD_ETOOBIG) {
				rc = AGENTD_OK;
				more = 1;
				break;
			}
			shown_lines++;
		}
		p = nl ? nl + 1 : end;
	}
	free(buf);
	if (rc != AGENTD_OK) {
		abuf_free(&out);
		free(rel);
		return agentd_seterr(err, rc, NULL);
	}
	if (n == 0)
		abuf_puts(&out, "(empty file)\n");
	else if (more)
		abuf_printf(&out, "[... more lines: continue with offset %zu; %zu lines in all ...]\n",
		    first + shown_lines, total);
	res = json_object();
	if (res != NULL) {
		json_object_set_new(res, "ok", json_true());
		json_object_set_new(res, "output", ajson_string_lossy(out.data ? out.data : "",
		    out.len));
		ajson_set_str(res, "path", rel);
		ajson_set_int(res, "total_lines", (json_int_t)total);
		ajson_set_bool(res, "truncated", more);
		if (more)
			ajson_set_int(res, "next_offset", (json_int_t)(first + shown_lines));
	}
	abuf_free(&out);
	free(rel);
	*result = res;
	return res ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

/*
 * Write data to rel atomically: a temporary file in the target's folder
 * (created confined, folders made as needed), fsync, rename. A path that is
 * a symlink inside the workspace writes to the file it names; a symlink to a
 * missing file or outside is refused. *created says whether it is new.
 */
static int
atomic_write(const char *ws, const char *rel0, const char *shown, const char *data, size_t n,
    int *created, struct agentd_error *e)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char *rel = NULL, tmp[80];
	const char *base;
	struct stat st;
	int fd = -1, dfd = -1, tfd = -1, rc, have_mode = 0, i, try;
	mode_t mode = 0;
	size_t off;

	rc = tpath_open(ws, rel0, O_PATH, 0, &fd, shown, e);
	if (rc == AGENTD_OK) {
		if (fstat(fd, &st) < 0)
			rc = agentd_seterr(e, AGENTD_EIO, "'%.300s': %s", shown, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = agentd_seterr(e, AGENTD_EINVAL, "'%.300s' is a directory", shown);
		else if (!S_ISREG(st.st_mode))
			rc = agentd_seterr(e, AGENTD_EDENIED,
			    "refused: '%.300s' is not a regular file (a fifo, socket or device)",
			    shown);
		else {
			mode = st.st_mode & 07777;
			have_mode = 1;
			rc = tpath_fd_rel(ws, fd, &rel, shown, e);
		}
		close(fd);
		if (rc != AGENTD_OK)
			return rc;
	} else if (rc == AGENTD_ENOTFOUND) {
		/* New file — unless the name is a dangling symlink. */
		rc = tpath_open_parent(ws, rel0, 0, &dfd, &base, shown, e);
		if (rc == AGENTD_OK) {
			int islnk = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode);

			close(dfd);
			dfd = -1;
			if (islnk)
				return tpath_refuse(e, shown,
				    "it is a symlink to a file that does not exist; write to a real path");
		} else if (rc != AGENTD_ENOTFOUND)
			return rc;
		rel = strdup(rel0);
		if (rel == NULL)
			return agentd_seterr(e, AGENTD_ENOMEM, NULL);
	} else
		return rc;

	*created = !have_mode;
	rc = tpath_open_parent(ws, rel, 1, &dfd, &base, shown, e);
	if (rc != AGENTD_OK) {
		free(rel);
		return rc;
	}
	for (try = 0; try < 100; try++) {
		unsigned long r = (unsigned long)random() ^ ((unsigned long)getpid() << 8);

		snprintf(tmp, sizeof(tmp), ".agentd-tmp-");
		off = strlen(tmp);
		for (i = 0; i < 10; i++, r /= 36)
			tmp[off++] = chars[r % 36];
		tmp[off] = '\0';
		rc = tpath_openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, have_mode ? 0600 : 0666,
		    &tfd, shown, e);
		if (rc != AGENTD_EEXIST)
			break;
	}
	if (rc != AGENTD_OK)
		goto out;
	for (off = 0; off < n;) {
		ssize_t w = write(tfd, data + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = agentd_seterr(e, errno == ENOSPC || errno == EDQUOT ? AGENTD_ENOSPC :
			    AGENTD_EIO, "writing '%.300s': %s", shown, strerror(errno));
			goto out_unlink;
		}
		off += (size_t)w;
	}
	if ((have_mode && fchmod(tfd, mode) < 0) || fsync(tfd) < 0) {
		rc = agentd_seterr(e, AGENTD_EIO, "writing '%.300s': %s", shown, strerror(errno));
		goto out_unlink;
	}
	if (close(tfd) < 0) {
		tfd = -1;
		rc = agentd_seterr(e, AGENTD_EIO, "writing '%.300s': %s", shown, strerror(errno));
		goto out_unlink;
	}
	tfd = -1;
	if (renameat(dfd, tmp, dfd, base) < 0) {
		rc = agentd_seterr(e, errno == EISDIR ? AGENTD_EINVAL : AGENTD_EIO,
		    "replacing '%.300s': %s", shown, strerror(errno));
		goto out_unlink;
	}
	/* Make the rename durable. */
	{
		int d = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (d >= 0) {
			(void)fsync(d);
			close(d);
		}
	}
	rc = AGENTD_OK;
	goto out;
out_unlink:
	if (tfd >= 0)
		close(tfd);
	tfd = -1;
	(void)unlinkat(dfd, tmp, 0);
out:
	if (tfd >= 0)
		close(tfd);
	close(dfd);
	free(rel);
	return rc;
}

int
tool_write_file(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	size_t plen = 0;
	const char *path = tpath_arg(args, "path", &plen);
	json_t *content = json_object_get(args, "content");
	char *rel = NULL, msg[512];
	int rc, created = 0;

	agentd_error_clear(&e);
	rc = tpath_clean(ctx->workspace, path, plen, &rel, &e);
	if (rc == AGENTD_OK)
		rc = atomic_write(ctx->workspace, rel, path, json_string_value(content),
		    json_string_length(content), &created, &e);
	free(rel);
	if (rc != AGENTD_OK)
		return finish_fail(rc, &e, result, err);
	snprintf(msg, sizeof(msg), "%s '%.300s' (%zu bytes)", created ? "created" : "wrote", path,
	    json_string_length(content));
	*result = tools_result(1, msg);
	if (*result == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	ajson_set_int(*result, "bytes", (json_int_t)json_string_length(content));
	ajson_set_bool(*result, "created", created);
	return AGENTD_OK;
}

/* Non-overlapping occurrences of pat in buf. */
static size_t
count_matches(const char *buf, size_t n, const char *pat, size_t plen)
{
	const char *p = buf, *q;
	size_t count = 0;

	while (plen > 0 && (size_t)(p - buf) + plen <= n) {
		q = memmem(p, n - (size_t)(p - buf), pat, plen);
		if (q == NULL)
			break;
		count++;
		p = q + plen;
	}
	return count;
}

/* Copy of s with every "\n" turned into "\r\n" (malloc'd). */
static char *
to_crlf(const char *s, size_t n, size_t *outlen)
{
	char *out = malloc(n * 2 + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = s[i];
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

int
tool_edit_file(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	size_t plen = 0, n = 0, count = 0, olen, nlen, i;
	const char *path = tpath_arg(args, "path", &plen);
	json_t *jold = json_object_get(args, "old"), *jnew = json_object_get(args, "new");
	const char *old = json_string_value(jold), *new = json_string_value(jnew), *p, *q;
	int replace_all = ajson_bool(args, "replace_all", 0), fd = -1, rc, created = 0;
	char *rel = NULL, *buf = NULL, *nb = NULL, msg[512], *crlf_old = NULL, *crlf_new = NULL;
	struct abuf out;

	olen = json_string_length(jold);
	nlen = json_string_length(jnew);
	agentd_error_clear(&e);
	rc = open_read(ctx, path, plen, &rel, &fd, &e);
	if (rc == AGENTD_OK) {
		rc = read_all(fd, FILE_MAX, &buf, &n, path, &e);
		close(fd);
	}
	if (rc != AGENTD_OK) {
		free(rel);
		return finish_fail(rc, &e, result, err);
	}
	count = count_matches(buf, n, old, olen);
	if (count == 0 && memmem(buf, n, "\r\n", 2) != NULL && memchr(old, '\n', olen) &&
	    !memchr(old, '\r', olen)) {
		/* A CRLF file edited with LF text (read_file shows lines without \r). */
		crlf_old = to_crlf(old, olen, &olen);
		crlf_new = to_crlf(new, nlen, &nlen);
		if (crlf_old == NULL || crlf_new == NULL) {
			free(crlf_old);
			free(crlf_new);
			free(rel);
			free(buf);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		old = crlf_old;
		new = crlf_new;
		count = count_matches(buf, n, old, olen);
	}
	if (count == 0 || (count > 1 && !replace_all)) {
		if (count == 0)
			rc = agentd_seterr(&e, AGENTD_ENOTFOUND,
			    "'old' text was not found in '%.300s' (0 matches); read the file again "
			    "and copy the text exactly, with its spaces and indentation, without the "
			    "line numbers", path);
		else
			rc = agentd_seterr(&e, AGENTD_EINVAL,
			    "'old' text was found %zu times in '%.300s'; include more surrounding "
			    "lines so it matches once, or set replace_all to true", count, path);
		free(rel);
		free(buf);
		free(crlf_old);
		free(crlf_new);
		return finish_fail(rc, &e, result, err);
	}
	abuf_init(&out, n + count * (nlen > olen ? nlen - olen : 0) + 1);
	for (p = buf, i = 0; i < count; i++) {
		q = memmem(p, n - (size_t)(p - buf), old, olen);
		abuf_append(&out, p, (size_t)(q - p));
		abuf_append(&out, new, nlen);
		p = q + olen;
	}
	rc = abuf_append(&out, p, n - (size_t)(p - buf));
	free(buf);
	free(crlf_old);
	free(crlf_new);
	if (rc != AGENTD_OK) {
		abuf_free(&out);
		free(rel);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	nb = out.data ? out.data : (char *)"";
	rc = atomic_write(ctx->workspace, rel, path, nb, out.len, &created, &e);
	abuf_free(&out);
	free(rel);
	if (rc != AGENTD_OK)
		return finish_fail(rc, &e, result, err);
	snprintf(msg, sizeof(msg), "replaced %zu occurrence%s in '%.300s'", count,
	    count == 1 ? "" : "s", path);
	*result = tools_result(1, msg);
	if (*result == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	ajson_set_int(*result, "replacements", (json_int_t)count);
	return AGENTD_OK;
}

/* ---- directory walking shared by list_dir and grep ---- */

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of a directory fd (not . and ..); *names malloc'd array of malloc'd. */
static int
read_names(int dfd, char ***names, size_t *count)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;
	int fd = dup(dfd);

	if (fd < 0)
		return AGENTD_EIO;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return AGENTD_EIO;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_names);
	*names = v;
	*count = n;
	return AGENTD_OK;
}

static void
free_names(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char *
join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *s;

	if (strcmp(dir, ".") == 0)
		return strdup(name);
	s = malloc(a + b + 2);
	if (s) {
		memcpy(s, dir, a);
		s[a] = '/';
		memcpy(s + a + 1, name, b + 1);
	}
	return s;
}

struct list_state {
	struct abuf out;
	size_t entries;
	int truncated;
};

static void
list_walk(struct list_state *ls, int dfd, const char *rel, int depth)
{
	char **names = NULL;
	size_t n = 0, i;
	struct stat st;

	if (read_names(dfd, &names, &n) != AGENTD_OK)
		return;
	for (i = 0; i < n && !ls->truncated; i++) {
		char *child;

		if (strcmp(names[i], ".git") == 0)
			continue;
		if (ls->entries >= LIST_MAX) {
			ls->truncated = 1;
			break;
		}
		child = join(rel, names[i]);
		if (child == NULL)
			break;
		ls->entries++;
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			abuf_printf(&ls->out, "%s\n", child);
		else if (S_ISDIR(st.st_mode)) {
			abuf_printf(&ls->out, "%s/\n", child);
			if (depth > 1) {
				int cfd = openat(dfd, names[i],
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

				if (cfd >= 0) {
					list_walk(ls, cfd, child, depth - 1);
					close(cfd);
				}
			}
		} else if (S_ISLNK(st.st_mode)) {
			char tgt[512];
			ssize_t k = readlinkat(dfd, names[i], tgt, sizeof(tgt) - 1);

			tgt[k > 0 ? k : 0] = '\0';
			abuf_printf(&ls->out, "%s -> %s\n", child, tgt);
		} else
			abuf_printf(&ls->out, "%s\n", child);
		free(child);
	}
	free_names(names, n);
}

int
tool_list_dir(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	size_t plen = 1;
	const char *path = tpath_arg(args, "path", &plen);
	char *rel = NULL;
	int fd = -1, rc, depth = (int)ajson_int(args, "depth", 1);
	struct list_state ls;
	struct stat st;
	json_t *res;

	if (path == NULL)
		path = ".";
	agentd_error_clear(&e);
	rc = tpath_clean(ctx->workspace, path, plen, &rel, &e);
	if (rc == AGENTD_OK)
		rc = tpath_open(ctx->workspace, rel, O_RDONLY | O_NONBLOCK, 0, &fd, path, &e);
	if (rc == AGENTD_OK && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)))
		rc = agentd_seterr(&e, AGENTD_EINVAL,
		    "'%.300s' is not a directory; use read_file for files", path);
	if (rc != AGENTD_OK) {
		if (fd >= 0)
			close(fd);
		free(rel);
		return finish_fail(rc, &e, result, err);
	}
	memset(&ls, 0, sizeof(ls));
	abuf_init(&ls.out, 4u * 1024u * 1024u);
	list_walk(&ls, fd, rel, depth);
	close(fd);
	if (ls.entries == 0)
		abuf_puts(&ls.out, "(empty folder)\n");
	if (ls.truncated)
		abuf_printf(&ls.out, "[... stopped at %d entries; list a subfolder or use a "
		    "smaller depth ...]\n", LIST_MAX);
	res = json_object();
	if (res != NULL) {
		json_object_set_new(res, "ok", json_true());
		json_object_set_new(res, "output", ajson_string_lossy(ls.out.data ? ls.out.data : "",
		    ls.out.len));
		ajson_set_int(res, "entries", (json_int_t)ls.entries);
		ajson_set_bool(res, "truncated", ls.truncated);
	}
	abuf_free(&ls.out);
	free(rel);
	*result = res;
	return res ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}

struct grep_state {
	const struct tool_ctx *ctx;
	regex_t re;
	const char *glob;
	struct abuf out;
	size_t matches, files;
	int truncated, cancelled;
};

static void
grep_buf(struct grep_state *gs, const char *rel, char *buf, size_t n)
{
	char *p = buf, *end = buf + n, *nl;
	size_t line = 1;

	for (; p < end && !gs->truncated; line++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl)
			*nl = '\0';
		if (regexec(&gs->re, p, 0, NULL, 0) == 0) {
			size_t ll = strlen(p);

			if (gs->matches >= GREP_MAX_MATCHES) {
				gs->truncated = 1;
				break;
			}
			gs->matches++;
			if (ll > 0 && p[ll - 1] == '\r')
				ll--;
			abuf_printf(&gs->out, "%s:%zu:%.*s%s\n", rel, line,
			    (int)(ll > GREP_LINE_CUT ? GREP_LINE_CUT : ll), p,
			    ll > GREP_LINE_CUT ? " [...]" : "");
		}
		p = nl ? nl + 1 : end;
	}
}

static int
glob_ok(const struct grep_state *gs, const char *rel, const char *name)
{
	if (gs->glob == NULL)
		return 1;
	if (strchr(gs->glob, '/'))
		return fnmatch(gs->glob, rel, 0) == 0;
	return fnmatch(gs->glob, name, 0) == 0;
}

static void
grep_file(struct grep_state *gs, int fd, const char *rel)
{
	struct agentd_error e;
	char *buf = NULL;
	size_t n = 0;

	gs->files++;
	if (read_all(fd, FILE_MAX, &buf, &n, rel, &e) != AGENTD_OK)
		return;
	if (tools_looks_text(buf, n))
		grep_buf(gs, rel, buf, n);
	free(buf);
}

static void
grep_walk(struct grep_state *gs, int dfd, const char *rel, int depth)
{
	char **names = NULL;
	size_t n = 0, i;
	struct stat st;

	if (depth > WALK_MAX_DEPTH || read_names(dfd, &names, &n) != AGENTD_OK)
		return;
	for (i = 0; i < n && !gs->truncated && !gs->cancelled; i++) {
		char *child;
		int cfd;

		if (strcmp(names[i], ".git") == 0)
			continue;
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			continue;	/* symlinks, fifos, devices: never followed or opened */
		if (gs->files >= GREP_MAX_FILES) {
			gs->truncated = 1;
			break;
		}
		if (tools_is_cancelled(gs->ctx)) {
			gs->cancelled = 1;
			break;
		}
		child = join(rel, names[i]);
		if (child == NULL)
			break;
		if (S_ISDIR(st.st_mode)) {
			cfd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				grep_walk(gs, cfd, child, depth + 1);
				close(cfd);
			}
		} else if (glob_ok(gs, child, names[i]) && (size_t)st.st_size <= FILE_MAX) {
			cfd = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (cfd >= 0) {
				grep_file(gs, cfd, child);
				close(cfd);
			}
		}
		free(child);
	}
	free_names(names, n);
}

int
tool_grep(const struct tool_ctx *ctx, json_t *args, json_t **result,
    struct agentd_error *err)
{
	struct agentd_error e;
	size_t plen = 1;
	const char *path = tpath_arg(args, "path", &plen);
	const char *pattern = ajson_str(args, "pattern", "");
	struct grep_state gs;
	struct stat st;
	char *rel = NULL, ebuf[256];
	int fd = -1, rc;
	json_t *res;

	if (path == NULL)
		path = ".";
	memset(&gs, 0, sizeof(gs));
	gs.ctx = ctx;
	gs.glob = ajson_str(args, "glob", NULL);
	agentd_error_clear(&e);
	rc = regcomp(&gs.re, pattern, REG_EXTENDED | REG_NEWLINE);
	if (rc != 0) {
		regerror(rc, &gs.re, ebuf, sizeof(ebuf));
		res = tools_failf("invalid regular expression '%.200s': %s (POSIX extended syntax: "
		    "no \\d or lookaround; use [0-9] and escape ( ) { } | + ? with a backslash "
		    "to match them literally)", pattern, ebuf);
		*result = res;
		return res ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	rc = tpath_clean(ctx->workspace, path, plen, &rel, &e);
	if (rc == AGENTD_OK)
		rc = tpath_open(ctx->workspace, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, &fd, path,
		    &e);
	if (rc == AGENTD_OK && fstat(fd, &st) < 0)
		rc = agentd_seterr(&e, AGENTD_EIO, "'%.300s': %s", path, strerror(errno));
	if (rc == AGENTD_OK && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		rc = agentd_seterr(&e, AGENTD_EDENIED,
		    "refused: '%.300s' is not a regular file or folder", path);
	if (rc != AGENTD_OK) {
		regfree(&gs.re);
		if (fd >= 0)
			close(fd);
		free(rel);
		return finish_fail(rc, &e, result, err);
	}
	abuf_init(&gs.out, 4u * 1024u * 1024u);
	if (S_ISDIR(st.st_mode))
		grep_walk(&gs, fd, rel, 0);
	else
		grep_file(&gs, fd, rel);
	close(fd);
	regfree(&gs.re);
	free(rel);
	if (gs.cancelled) {
		abuf_free(&gs.out);
		return agentd_seterr(err, AGENTD_ECANCELLED, "grep was cancelled");
	}
	if (gs.matches == 0)
		abuf_printf(&gs.out, "no matches (%zu file%s searched)\n", gs.files,
		    gs.files == 1 ? "" : "s");
	if (gs.truncated)
		abuf_printf(&gs.out, "[... stopped at %zu matches; narrow the pattern, path or glob ...]\n",
		    gs.matches);
	res = json_object();
	if (res != NULL) {
		json_object_set_new(res, "ok", json_true());
		json_object_set_new(res, "output", ajson_string_lossy(gs.out.data ? gs.out.data : "",
		    gs.out.len));
		ajson_set_int(res, "matches", (json_int_t)gs.matches);
		ajson_set_bool(res, "truncated", gs.truncated);
	}
	abuf_free(&gs.out);
	*result = res;
	return res ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}
