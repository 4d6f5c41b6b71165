/*
 * skills.c — skills in the open Agent Skills format (SKILL.md folders).
 *
 * A skill is a folder holding SKILL.md: YAML front matter (`name`, at most
 * 64 lowercase letters, digits and single hyphens, the folder's own name;
 * `description`, 1 to 1,024 characters; optional `license`, `compatibility`,
 * `metadata`, `allowed-tools`) then Markdown instructions, and optionally
 * scripts/, references/ and assets/. Skills are found in `.agents/skills`
 * of every folder from the workspace up to its repository root (nearest
 * first), then in `skills/` of agentd's config dir; the first of a name
 * wins. Only names and descriptions are offered to the model at first (a
 * catalog within a small budget); the `skill` tool loads one.
 *
 * Nothing here follows a symbolic link: a skill folder, its SKILL.md and
 * the files the model reads through the tool are opened without following
 * one, so a repository cannot point a skill at ~/.ssh. Files that are
 * refused are listed with the reason (`agentctl skills`).
 *
 * Used by the loop (agent.c) and by `agentctl skills`; needs only libc and
 * jansson.
 */
#include "agent/internal.h"
#include "common/buf.h"
#include "common/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKILL_FILE_MAX		(256 * 1024)	/* a SKILL.md, and a file read through the tool */
#define SKILLS_PER_ROOT		64
#define SKILLS_MAX		200
#define SKILL_LIST_MAX		100		/* files listed for one skill */
#define SKILL_LIST_DEPTH	3

/* A regular file at dirfd/name, never through a link, refused past max. */
static char *
read_at(int dirfd, const char *name, size_t max, size_t *len, const char **why)
{
	int more = 0;
	char *buf = agent_read_nofollow(dirfd, name, max, len, &more, why);

	if (buf != NULL && more) {
		free(buf);
		*why = "too large";
		return NULL;
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* the front matter: the small part of YAML that SKILL.md files use   */

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* A scalar value: quotes removed ('' and \" kept simple). malloc'd. */
static char *
scalar(const char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && ((v[0] == '"' && v[n - 1] == '"') || (v[0] == '\'' && v[n - 1] == '\'')))
		return strndup(v + 1, n - 2);
	return strdup(v);
}

/*
 * Parse "---\n…\n---\n" at the start of text into a JSON object of the
 * top-level keys (strings; a block scalar `|`/`>` joined; a nested map or
 * list kept as its raw lines under the key). *body points after it.
 * NULL when there is no front matter.
 */
static json_t *
front_matter(char *text, const char **body)
{
	json_t *o;
	char *p = text, *line, *next, *key = NULL;
	struct abuf block;
	int block_mode = 0;	/* 0 none, '|' literal, '>' folded, 'r' raw nested */

	if (strncmp(p, "---", 3) != 0 || (p[3] != '\n' && !(p[3] == '\r' && p[4] == '\n')))
		return NULL;
	p += p[3] == '\n' ? 4 : 5;
	o = json_object();
	if (o == NULL)
		return NULL;
	abuf_init(&block, 64 * 1024);
	for (line = p; line != NULL && *line != '\0'; line = next) {
		char *nl = strchr(line, '\n'), *colon, *v;
		int indented;

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		if (strcmp(trim(line), "---") == 0 && (line[0] == '-')) {
			if (key != NULL && block.len) {
				json_object_set_new(o, key, json_string(block.data));
				abuf_reset(&block);
			}
			free(key);
			abuf_free(&block);
			*body = next ? next : line + strlen(line);
			return o;
		}
		indented = line[0] == ' ' || line[0] == '\t';
		if (indented || (line[0] == '-' && key != NULL && block_mode == 'r') ||
		    (line[0] == '\0' && block_mode)) {
			if (key != NULL && block_mode) {
				char *t = trim(line);

				if (block.len)
					abuf_puts(&block, block_mode == '>' && t[0] ? " " : "\n");
				abuf_puts(&block, block_mode == 'r' ? line : t);
			}
			continue;
		}
		if (key != NULL && block_mode) {
			json_object_set_new(o, key, json_string(block.data ? block.data : ""));
			abuf_reset(&block);
		}
		free(key);
		key = NULL;
		block_mode = 0;
		if (line[0] == '#' || trim(line)[0] == '\0')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		key = strdup(trim(line));
		v = trim(colon + 1);
		if (key == NULL)
			break;
		if (v[0] == '|' || v[0] == '>') {
			block_mode = v[0];
		} else if (v[0] == '\0') {
			block_mode = 'r';	/* a nested map or list follows */
		} else {
			char *s = scalar(v);

			json_object_set_new(o, key, json_string(s ? s : ""));
			free(s);
			free(key);
			key = NULL;
		}
	}
	/* no closing line: not front matter */
	free(key);
	abuf_free(&block);
	json_decref(o);
	return NULL;
}

/* The Agent Skills rules for a name. NULL when valid, else why not. */
static const char *
name_problem(const char *name, const char *folder)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 64)
		return "the name must be 1 to 64 characters";
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-'))
			return "the name may hold only lowercase letters, digits and hyphens";
	if (name[0] == '-' || name[n - 1] == '-' || strstr(name, "--") != NULL)
		return "the name may not start or end with a hyphen or hold two in a row";
	if (strcmp(name, folder) != 0)
		return "the name must be the folder's name";
	return NULL;
}

static int
refuse(json_t *refused, const char *path, const char *why)
{
	return json_array_append_new(refused, json_pack("{s:s, s:s}", "path", path, "why",
	    why)) == 0 ? AGENTD_OK : AGENTD_ENOMEM;
}

static int
have_name(const json_t *skills, const char *name, const char **where)
{
	size_t i;
	json_t *s;

	json_array_foreach(skills, i, s)
		if (strcmp(ajson_str(s, "name", ""), name) == 0) {
			*where = ajson_str(s, "dir", "");
			return 1;
		}
	return 0;
}

/* One skill folder `root/name`: add it to skills or say why not. */
static int
take_skill(const char *root, int rootfd, const char *folder, json_t *skills, json_t *refused)
{
	char path[PATH_MAX];
	const char *why = NULL, *body = NULL, *name, *desc, *other;
	char *text;
	size_t len = 0;
	json_t *fm, *s;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", root, folder);
	fd = openat(rootfd, folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return refuse(refused, path, errno == ELOOP || errno == ENOTDIR ?
		    "not a folder (symbolic links are not followed)" : "not readable");
	text = read_at(fd, "SKILL.md", SKILL_FILE_MAX, &len, &why);
	close(fd);
	snprintf(path, sizeof(path), "%s/%s/SKILL.md", root, folder);
	if (text == NULL)
		return refuse(refused, path, why);
	if (memchr(text, '\0', len) != NULL) {
		free(text);
		return refuse(refused, path, "not text");
	}
	fm = front_matter(text, &body);
	if (fm == NULL) {
		free(text);
		return refuse(refused, path, "no YAML front matter (--- … ---) at the top");
	}
	name = ajson_str(fm, "name", "");
	desc = ajson_str(fm, "description", "");
	why = name_problem(name, folder);
	if (why == NULL && (desc[0] == '\0' || strlen(desc) > 1024))
		why = "the description must be 1 to 1,024 characters";
	if (why == NULL && strlen(ajson_str(fm, "compatibility", "")) > 500)
		why = "compatibility must be at most 500 characters";
	if (why == NULL && have_name(skills, name, &other))
		why = "the same name is found nearer the workspace";
	if (why != NULL) {
		rc = refuse(refused, path, why);
		json_decref(fm);
		free(text);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", root, folder);
	s = json_pack("{s:s, s:s, s:s, s:s?, s:I}", "name", name, "description", desc, "dir",
	    path, "allowed_tools", ajson_str(fm, "allowed-tools", NULL), "body_bytes",
	    (json_int_t)strlen(body));
	json_decref(fm);
	free(text);
	if (s == NULL || json_array_append_new(skills, s) != 0)
		return AGENTD_ENOMEM;
	return AGENTD_OK;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every skill folder in root (a `.agents/skills` or the config dir's), in
 * name order. A missing root is no error. */
static int
scan_root(const char *root, json_t *skills, json_t *refused)
{
	char *names[SKILLS_PER_ROOT + 1];
	size_t n = 0, i, more = 0;
	struct dirent *de;
	DIR *d;
	int fd, rc = AGENTD_OK;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			return refuse(refused, root, "not a folder (symbolic links are not followed)");
		return AGENTD_OK;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return AGENTD_OK;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == SKILLS_PER_ROOT) {
			more++;
			continue;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++) {
		if (rc == AGENTD_OK && json_array_size(skills) < SKILLS_MAX)
			rc = take_skill(root, dirfd(d), names[i], skills, refused);
		free(names[i]);
	}
	closedir(d);
	if (rc == AGENTD_OK && more > 0) {
		char why[100];

		snprintf(why, sizeof(why), "%zu more folders not read (at most %d per folder)",
		    more, SKILLS_PER_ROOT);
		rc = refuse(refused, root, why);
	}
	return rc;
}

int
agent_skills_discover(const char *config_dir, const char *workspace, json_t **skills,
    json_t **refused, struct agentd_error *err)
{
	char ws[PATH_MAX], root[PATH_MAX];
	json_t *sk = json_array(), *rf = json_array();
	size_t n;
	long top;
	int rc = AGENTD_OK;

	if (sk == NULL || rf == NULL) {
		json_decref(sk);
		json_decref(rf);
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	if (workspace == NULL || realpath(workspace, ws) == NULL) {
		json_decref(sk);
		json_decref(rf);
		return agentd_seterr(err, AGENTD_EINVAL, "cannot resolve the workspace %.400s: %s",
		    workspace ? workspace : "(none)", strerror(errno));
	}
	/* from the workspace up to the repository root (the folder with .git);
	 * outside a repository, the workspace only */
	n = strlen(ws);
	top = agent_repo_root_len(ws);
	if (top < 0)
		top = (long)n;
	for (;;) {
		if (n == 0)
			snprintf(root, sizeof(root), "/.agents/skills");
		else
			snprintf(root, sizeof(root), "%.*s/.agents/skills", (int)n, ws);
		rc = scan_root(root, sk, rf);
		if (rc != AGENTD_OK || (long)n <= top)
			break;
		while (n > 0 && ws[n - 1] != '/')
			n--;
		if (n > 0)
			n--;
	}
	if (rc == AGENTD_OK && config_dir != NULL && config_dir[0] != '\0') {
		snprintf(root, sizeof(root), "%s/skills", config_dir);
		rc = scan_root(root, sk, rf);
	}
	if (rc != AGENTD_OK) {
		json_decref(sk);
		json_decref(rf);
		return agentd_seterr(err, rc, NULL);
	}
	*skills = sk;
	*refused = rf;
	return AGENTD_OK;
}

char *
agent_skills_catalog(const json_t *skills, size_t max_bytes)
{
	static const char head[] = "# Skills\nA skill holds instructions (and sometimes "
	    "scripts) for one kind of task. When the task matches a skill's description, "
	    "call `skill` with its name first, and follow what it says.\n";
	struct abuf b;
	size_t i, shown = 0, total = json_array_size(skills);
	int pass;
	json_t *s;

	if (total == 0)
		return NULL;
	/* full descriptions; else each cut to 100 bytes; else names only */
	for (pass = 0; pass < 3; pass++) {
		abuf_init(&b, (size_t)1 << 20);
		abuf_puts(&b, head);
		shown = 0;
		json_array_foreach(skills, i, s) {
			const char *d = ajson_str(s, "description", "");
			size_t before = b.len;

			if (pass == 0)
				abuf_printf(&b, "- %s: %s\n", ajson_str(s, "name", ""), d);
			else if (pass == 1)
				abuf_printf(&b, "- %s: %.100s%s\n", ajson_str(s, "name", ""), d,
				    strlen(d) > 100 ? "…" : "");
			else
				abuf_printf(&b, "- %s\n", ajson_str(s, "name", ""));
			if (b.len > max_bytes && pass == 2) {
				b.len = before;
				b.data[b.len] = '\0';
				break;
			}
			shown++;
		}
		if (b.len <= max_bytes || pass == 2)
			break;
		abuf_free(&b);
	}
	if (shown < total)
		abuf_printf(&b, "(%zu more: call `skill` with any name to list them all)\n",
		    total - shown);
	return abuf_steal(&b);
}

const json_t *
agent_skills_find(const json_t *skills, const char *name)
{
	size_t i;
	json_t *s;

	json_array_foreach(skills, i, s)
		if (strcmp(ajson_str(s, "name", ""), name) == 0)
			return s;
	return NULL;
}

/* List the skill's files (relative to its folder), links and all refused. */
static void
list_files(struct abuf *b, int dirfd, const char *rel, int depth, size_t *count)
{
	struct dirent *de;
	DIR *d;
	int fd = openat(dirfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char *names[SKILL_LIST_MAX];
	size_t n = 0, i;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL && n < SKILL_LIST_MAX) {
		if (de->d_name[0] == '.' || (depth == 0 && strcmp(de->d_name, "SKILL.md") == 0))
			continue;
		names[n] = strdup(de->d_name);
		if (names[n] != NULL)
			n++;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (i = 0; i < n; i++) {
		char sub[PATH_MAX];
		struct stat st;

		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
		if (*count < SKILL_LIST_MAX && fstatat(dirfd, sub, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISDIR(st.st_mode) && depth < SKILL_LIST_DEPTH) {
				list_files(b, dirfd, sub, depth + 1, count);
			} else if (S_ISREG(st.st_mode)) {
				abuf_printf(b, "- %s (%lld bytes)\n", sub, (long long)st.st_size);
				(*count)++;
			}
		}
		free(names[i]);
	}
	closedir(d);
}

/* Open `file` below the skill folder one component at a time, never
 * through a link; "" or NULL = SKILL.md. */
static char *
read_skill_file(const char *dir, const char *file, size_t *len, const char **why)
{
	char rel[PATH_MAX], *p, *slash;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), next;
	char *text;

	if (fd < 0) {
		*why = "the skill's folder cannot be opened";
		return NULL;
	}
	snprintf(rel, sizeof(rel), "%s", file && file[0] ? file : "SKILL.md");
	p = rel;
	if (p[0] == '/' || strstr(p, "..") != NULL) {
		close(fd);
		*why = "give a path inside the skill's folder, e.g. references/api.md";
		return NULL;
	}
	while ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		next = p[0] ? openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(fd);
		close(fd);
		if (next < 0) {
			*why = "no such folder in the skill (symbolic links are not followed)";
			return NULL;
		}
		fd = next;
		p = slash + 1;
	}
	text = read_at(fd, p, SKILL_FILE_MAX, len, why);
	close(fd);
	return text;
}

int
agent_skill_load(const json_t *skill, const char *file, char **out, struct agentd_error *err)
{
	const char *dir = ajson_str(skill, "dir", ""), *why = NULL, *body;
	char *text;
	size_t len = 0, count = 0;
	struct abuf b;
	json_t *fm;
	int fd;

	text = read_skill_file(dir, file, &len, &why);
	if (text == NULL)
		return agentd_seterr(err, AGENTD_ENOTFOUND, "%s", why ? why : "cannot read it");
	if (memchr(text, '\0', len) != NULL) {
		free(text);
		return agentd_seterr(err, AGENTD_EINVAL, "%s is not a text file", file);
	}
	abuf_init(&b, (size_t)SKILL_FILE_MAX + 64 * 1024);
	if (file != NULL && file[0] != '\0') {
		abuf_append(&b, text, len);
		free(text);
		*out = abuf_steal(&b);
		return *out ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
	}
	fm = front_matter(text, &body);
	abuf_printf(&b, "Skill %s (folder %s)\n\n%s", ajson_str(skill, "name", ""), dir,
	    fm ? body : text);
	json_decref(fm);
	free(text);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		size_t mark = b.len;

		abuf_printf(&b, "\n\nFiles of this skill (read one with skill {\"name\": \"%s\", "
		    "\"file\": PATH}; run its scripts with the shell tool as %s/PATH):\n",
		    ajson_str(skill, "name", ""), dir);
		list_files(&b, fd, "", 0, &count);
		close(fd);
		if (count == 0) {
			b.len = mark;
			b.data[b.len] = '\0';
		}
	}
	*out = abuf_steal(&b);
	return *out ? AGENTD_OK : agentd_seterr(err, AGENTD_ENOMEM, NULL);
}
