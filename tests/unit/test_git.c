/*
 * test_git.c — the git tools checked against the git command line on
 * repositories built with `git` itself: the same status as
 * `git status --porcelain`, the same diff hunks as `git diff`, the same log
 * as `git log`, commits that `git log` shows; renames, binary files, a merge
 * commit, a conflict, an unborn HEAD, a detached HEAD, a subfolder; and the
 * worktree/branch plumbing checked with `git worktree list` and `git branch`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "tests/unit/helpers.h"
#include "tools/tools.h"
#include "common/json.h"

static char base[PATH_MAX];
static char home[PATH_MAX + 16];
static int date_counter;

/* git with a distinct, increasing date for each commit so the order is certain. */
static void
git(const char *repo, const char *fmt, ...)
{
	char args[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	date_counter++;
	sh("cd '%s' && GIT_AUTHOR_DATE='2026-01-01T00:%02d:%02d' "
	    "GIT_COMMITTER_DATE='2026-01-01T00:%02d:%02d' git %s >/dev/null 2>&1",
	    repo, date_counter / 60, date_counter % 60, date_counter / 60, date_counter % 60, args);
}

static json_t *
tool(const char *ws, const char *name, const char *json)
{
	struct tool_ctx ctx;
	struct agentd_error err;
	json_t *args = json_loads(json, 0, NULL), *r = NULL;
	int rc;

	assert_non_null(args);
	tools_ctx_init(&ctx, ws);
	rc = tools_call(&ctx, name, args, &r, &err);
	json_decref(args);
	if (rc != AGENTD_OK)
		fail_msg("%s %s: %s", name, json, err.msg);
	return r;
}

static int
ok_of(json_t *r)
{
	return json_is_true(json_object_get(r, "ok"));
}

static const char *
str_of(json_t *r, const char *k)
{
	const char *s = json_string_value(json_object_get(r, k));

	return s ? s : "";
}

/* A fresh repository under base with one commit of a few files. */
static void
new_repo(char *out, size_t n, const char *name, int commit)
{
	snprintf(out, n, "%s/%s", base, name);
	sh("rm -rf '%s' && mkdir -p '%s' && cd '%s' && git init -q -b main .", out, out, out);
	if (!commit)
		return;
	sh("mkdir -p '%s/sub/deep'", out);
	put(out, "a.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n");
	put(out, "b.txt", "bee\n");
	put(out, "gone.txt", "to be deleted\n");
	put(out, "old-name.txt", "a file that will be renamed\nwith two lines\n");
	put(out, "sub/s.c", "int s(void)\n{\n\treturn 1;\n}\n");
	put(out, "sub/deep/d.txt", "deep\n");
	sh("printf 'bin\\000\\001\\002' > '%s/blob.bin'", out);
	git(out, "add -A");
	git(out, "commit -q -m 'first commit'");
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/agentd-git-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, base));
	snprintf(home, sizeof(home), "%s/home", base);
	mkdir(home, 0755);
	setenv("HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("XDG_CONFIG_HOME", home, 1);
	put(home, ".gitconfig", "[user]\n\tname = Test Person\n\temail = test@example.org\n"
	    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static void
assert_status_matches(const char *ws, const char *gitdir)
{
	json_t *r = tool(ws, "git_status", "{}");
	char *want = capture("cd '%s' && git status --porcelain", gitdir);

	assert_true(ok_of(r));
	if (strcmp(str_of(r, "porcelain"), want) != 0)
		fail_msg("status differs\n--- git:\n%s--- tool:\n%s", want, str_of(r, "porcelain"));
	if (want[0])
		assert_string_equal(str_of(r, "output"), want);
	free(want);
	json_decref(r);
}

/* Diff text without "index" lines (abbreviation length may differ). */
static char *
strip_index(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	const char *p = s, *nl;

	assert_non_null(out);
	while (*p) {
		nl = strchr(p, '\n');
		nl = nl ? nl + 1 : p + strlen(p);
		if (strncmp(p, "index ", 6) != 0) {
			memcpy(o, p, (size_t)(nl - p));
			o += nl - p;
		}
		p = nl;
	}
	*o = '\0';
	return out;
}

static void
assert_diff_matches(const char *ws, const char *args, const char *gitargs)
{
	json_t *r = tool(ws, "git_diff", args);
	char *want = capture("cd '%s' && git diff %s", ws, gitargs);
	char *a = strip_index(want), *b;

	assert_true(ok_of(r));
	b = strip_index(json_is_true(json_object_get(r, "empty")) ? "" : str_of(r, "output"));
	if (strcmp(a, b) != 0)
		fail_msg("diff %s differs\n--- git:\n%s--- tool:\n%s", gitargs, a, b);
	free(a);
	free(b);
	free(want);
	json_decref(r);
}

/* ---- status and diff ---- */

static void
test_status_and_diff(void **state)
{
	char repo[PATH_MAX * 2];

	new_repo(repo, sizeof(repo), "st", 1);
	assert_status_matches(repo, repo);	/* clean */
	{
		json_t *r = tool(repo, "git_status", "{}");

		assert_true(json_is_true(json_object_get(r, "clean")));
		assert_string_equal(str_of(r, "branch"), "main");
		json_decref(r);
	}
	/* Every kind of change at once. */
	put(repo, "a.txt", "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n");
	put(repo, "b.txt", "bee staged\n");
	git(repo, "add b.txt");
	put(repo, "b.txt", "bee staged\nthen changed\n");
	put(repo, "new.txt", "new file\n");
	git(repo, "add new.txt");
	put(repo, "new.txt", "new file\nmodified after add\n");
	sh("rm '%s/gone.txt'", repo);
	git(repo, "mv old-name.txt new-name.txt");
	put(repo, "untracked.txt", "u\n");
	sh("mkdir -p '%s/newdir' && echo x > '%s/newdir/f'", repo, repo);
	put(repo, "sub/s.c", "int s(void)\n{\n\treturn 2;\n}\n");
	put(repo, "with space.txt", "spaced\n");
	sh("printf 'bin\\000\\003' > '%s/blob.bin'", repo);
	git(repo, "rm -q --cached sub/deep/d.txt");
	assert_status_matches(repo, repo);

	assert_diff_matches(repo, "{}", "");
	assert_diff_matches(repo, "{\"staged\":true}", "--cached");
	assert_diff_matches(repo, "{\"rev\":\"HEAD\"}", "HEAD");
	assert_diff_matches(repo, "{\"path\":\"sub\"}", "-- sub");
	assert_diff_matches(repo, "{\"path\":\"a.txt\"}", "-- a.txt");
	assert_diff_matches(repo, "{\"path\":\"blob.bin\"}", "-- blob.bin");
	{
		json_t *r = tool(repo, "git_diff", "{\"path\":\"blob.bin\"}");

		assert_non_null(strstr(str_of(r, "output"), "Binary files a/blob.bin and b/blob.bin differ"));
		json_decref(r);
		r = tool(repo, "git_diff", "{\"staged\":true}");
		assert_non_null(strstr(str_of(r, "output"), "rename from old-name.txt"));
		json_decref(r);
		r = tool(repo, "git_diff", "{\"rev\":\"no-such-rev\"}");
		assert_false(ok_of(r));
		assert_non_null(strstr(str_of(r, "output"), "no-such-rev"));
		json_decref(r);
		r = tool(repo, "git_diff", "{\"path\":\"../st\"}");
		assert_false(ok_of(r));
		assert_non_null(strstr(str_of(r, "output"), "outside the workspace"));
		json_decref(r);
	}
}

static void
test_subfolder_workspace(void **state)
{
	char repo[PATH_MAX * 2], sub[PATH_MAX * 3];

	new_repo(repo, sizeof(repo), "subws", 1);
	snprintf(sub, sizeof(sub), "%s/sub", repo);
	put(repo, "sub/s.c", "int s(void)\n{\n\treturn 3;\n}\n");
	put(repo, "a.txt", "changed outside sub\n");
	assert_status_matches(sub, sub);
	assert_diff_matches(sub, "{\"path\":\"s.c\"}", "-- s.c");
	{
		/* The diff of a subfolder workspace stays inside it. */
		json_t *r = tool(sub, "git_diff", "{}");
		char *want = capture("cd '%s' && git diff -- .", sub);

		assert_null(strstr(str_of(r, "output"), "a.txt"));
		assert_non_null(strstr(str_of(r, "output"), "+\treturn 3;"));
		assert_non_null(strstr(want, "+\treturn 3;"));
		free(want);
		json_decref(r);
		r = tool(sub, "git_add", "{\"paths\":[\"s.c\"]}");
		assert_true(ok_of(r));
		json_decref(r);
		want = capture("cd '%s' && git diff --cached --name-only", repo);
		assert_string_equal(want, "sub/s.c\n");
		free(want);
	}
}

static void
test_conflict_status(void **state)
{
	char repo[PATH_MAX * 2];
	json_t *r;

	new_repo(repo, sizeof(repo), "conf", 1);
	git(repo, "checkout -q -b other");
	put(repo, "b.txt", "other side\n");
	put(repo, "added-both.txt", "other\n");
	git(repo, "commit -q -am 'other change'");
	git(repo, "add added-both.txt");
	git(repo, "commit -q -m 'add on other'");
	git(repo, "checkout -q main");
	put(repo, "b.txt", "main side\n");
	put(repo, "added-both.txt", "main\n");
	git(repo, "add added-both.txt");
	git(repo, "commit -q -am 'main change'");
	sh("cd '%s' && git merge other >/dev/null 2>&1; true", repo);
	assert_status_matches(repo, repo);
	r = tool(repo, "git_status", "{}");
	assert_non_null(strstr(str_of(r, "output"), "UU b.txt"));
	assert_non_null(strstr(str_of(r, "output"), "AA added-both.txt"));
	json_decref(r);
	/* Committing with conflicts is refused; after resolving, a merge commit. */
	r = tool(repo, "git_commit", "{\"message\":\"merge\",\"all\":true}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "conflict"));
	json_decref(r);
	put(repo, "b.txt", "resolved\n");
	put(repo, "added-both.txt", "resolved\n");
	r = tool(repo, "git_add", "{\"paths\":[\"b.txt\",\"added-both.txt\"]}");
	if (!ok_of(r))
		fail_msg("git_add: %s", str_of(r, "output"));
	json_decref(r);
	r = tool(repo, "git_commit", "{\"message\":\"Merge branch other\"}");
	assert_true(ok_of(r));
	json_decref(r);
	{
		char *parents = capture("cd '%s' && git log -1 --format=%%P | wc -w", repo);
		char *st = capture("cd '%s' && git status --porcelain && test ! -e .git/MERGE_HEAD && echo clean",
		    repo);

		assert_int_equal(atoi(parents), 2);
		assert_string_equal(st, "clean\n");
		free(parents);
		free(st);
	}
}

/* ---- log and show ---- */

static void
assert_log_matches(const char *repo, const char *args, const char *gitargs)
{
	json_t *r = tool(repo, "git_log", args), *c = json_object_get(r, "commits");
	char *want = capture("cd '%s' && git log --format=%%H%%x09%%s %s", repo, gitargs);
	char got[65536];
	size_t i, o = 0;

	assert_true(ok_of(r));
	got[0] = '\0';
	for (i = 0; i < json_array_size(c); i++)
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s\t%s\n",
		    str_of(json_array_get(c, i), "id"), str_of(json_array_get(c, i), "subject"));
	if (strcmp(got, want) != 0)
		fail_msg("log %s differs\n--- git:\n%s--- tool:\n%s", gitargs, want, got);
	free(want);
	json_decref(r);
}

static void
test_log_and_show(void **state)
{
	char repo[PATH_MAX * 2];
	json_t *r;
	char *head;

	new_repo(repo, sizeof(repo), "log", 1);
	put(repo, "a.txt", "changed on main\n");
	git(repo, "commit -q -am 'second on main'");
	git(repo, "checkout -q -b feature HEAD~1");
	put(repo, "sub/s.c", "feature\n");
	git(repo, "commit -q -am 'feature touches sub'");
	put(repo, "b.txt", "feature b\n");
	git(repo, "commit -q -am 'feature touches b'");
	git(repo, "checkout -q main");
	put(repo, "a.txt", "third\n");
	git(repo, "commit -q -am 'third on main'");
	git(repo, "merge -q --no-ff -m 'Merge feature' feature");
	put(repo, "a.txt", "after merge\n");
	git(repo, "commit -q -am 'after merge'");

	assert_log_matches(repo, "{}", "");
	assert_log_matches(repo, "{\"max\":3}", "-n 3");
	assert_log_matches(repo, "{\"path\":\"a.txt\"}", "-- a.txt");
	assert_log_matches(repo, "{\"path\":\"sub\"}", "-- sub");

	r = tool(repo, "git_show", "{\"rev\":\"HEAD\"}");
	assert_true(ok_of(r));
	head = capture("cd '%s' && git rev-parse HEAD", repo);
	head[40] = '\0';
	assert_non_null(strstr(str_of(r, "output"), head));
	assert_non_null(strstr(str_of(r, "output"), "Author: Test Person <test@example.org>"));
	assert_non_null(strstr(str_of(r, "output"), "    after merge"));
	assert_non_null(strstr(str_of(r, "output"), "-third\n+after merge\n"));
	free(head);
	json_decref(r);
	r = tool(repo, "git_show", "{\"rev\":\"HEAD~1\"}");
	assert_true(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "Merge: "));
	json_decref(r);
	r = tool(repo, "git_show", "{\"rev\":\"HEAD:a.txt\"}");
	assert_true(ok_of(r));
	assert_string_equal(str_of(r, "output"), "after merge\n");
	json_decref(r);
	r = tool(repo, "git_show", "{\"rev\":\"HEAD:blob.bin\"}");
	assert_true(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "binary file"));
	json_decref(r);
	r = tool(repo, "git_show", "{\"rev\":\"nope\"}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "unknown revision 'nope'"));
	json_decref(r);

	/* History simplification as git does it: a merge that kept one
	 * parent's version of the path follows only that parent, so a side
	 * branch's discarded change is not listed. */
	git(repo, "checkout -q -b side HEAD");
	put(repo, "a.txt", "side change, discarded\n");
	git(repo, "commit -q -am 'side touches a'");
	git(repo, "checkout -q main");
	put(repo, "c.txt", "main c\n");
	git(repo, "add c.txt");
	git(repo, "commit -q -m 'main touches c'");
	git(repo, "merge -q -s ours -m 'Merge side, keeping main' side");
	assert_log_matches(repo, "{\"path\":\"a.txt\"}", "-- a.txt");
	assert_log_matches(repo, "{\"path\":\"c.txt\"}", "-- c.txt");
	/* ...and one that took the second parent's version follows that side. */
	put(repo, "d.txt", "base d\n");
	git(repo, "add d.txt");
	git(repo, "commit -q -m 'add d'");
	git(repo, "checkout -q -b side2");
	put(repo, "d.txt", "side2 d\n");
	git(repo, "commit -q -am 'side2 touches d'");
	git(repo, "checkout -q main");
	put(repo, "d.txt", "main d, discarded\n");
	git(repo, "commit -q -am 'main touches d'");
	git(repo, "merge -q side2 || true");	/* a conflict on d.txt */
	git(repo, "checkout -q --theirs d.txt");
	git(repo, "add d.txt");
	git(repo, "commit -q -m 'Merge side2, taking its d'");
	assert_log_matches(repo, "{\"path\":\"d.txt\"}", "-- d.txt");
	assert_log_matches(repo, "{}", "");
}

/* ---- add, commit, restore ---- */

static void
test_add_commit(void **state)
{
	char repo[PATH_MAX * 2];
	json_t *r;
	char *s;

	new_repo(repo, sizeof(repo), "commit", 1);
	/* Empty commit refused. */
	r = tool(repo, "git_commit", "{\"message\":\"nothing\"}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "nothing to commit"));
	json_decref(r);
	r = tool(repo, "git_commit", "{\"message\":\"nothing\",\"all\":true}");
	assert_false(ok_of(r));
	json_decref(r);

	/* all:true picks up modified and deleted tracked files, not untracked. */
	put(repo, "a.txt", "rewritten\n");
	sh("rm '%s/gone.txt'", repo);
	put(repo, "untracked.txt", "u\n");
	r = tool(repo, "git_commit", "{\"message\":\"m\",\"all\":true}");
	assert_true(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "[main "));
	json_decref(r);
	s = capture("cd '%s' && git log -1 --format='%%s|%%an|%%ae' && git status --porcelain", repo);
	assert_string_equal(s, "m|Test Person|test@example.org\n?? untracked.txt\n");
	free(s);

	/* git_add: new file, deletion, folder; then status matches git. */
	sh("rm '%s/b.txt' && mkdir -p '%s/nd' && echo 1 > '%s/nd/x' && echo 2 > '%s/nd/y'",
	    repo, repo, repo, repo);
	r = tool(repo, "git_add", "{\"paths\":[\"untracked.txt\",\"b.txt\",\"nd\"]}");
	assert_true(ok_of(r));
	json_decref(r);
	s = capture("cd '%s' && git status --porcelain", repo);
	assert_string_equal(s, "D  b.txt\nA  nd/x\nA  nd/y\nA  untracked.txt\n");
	free(s);
	assert_status_matches(repo, repo);
	r = tool(repo, "git_add", "{\"paths\":[\"does-not-exist\"]}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "did not match"));
	json_decref(r);
	r = tool(repo, "git_add", "{\"paths\":[\"../log\"]}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "outside the workspace"));
	json_decref(r);
	r = tool(repo, "git_commit", "{\"message\":\"\\n\\nsecond  \\n\\nbody line\\n\\n\\n\"}");
	assert_true(ok_of(r));
	json_decref(r);
	s = capture("cd '%s' && git log --format=%%B -1", repo);
	assert_string_equal(s, "second\n\nbody line\n\n");
	free(s);

	/* git_restore brings back the index version. */
	put(repo, "a.txt", "scribbled\n");
	r = tool(repo, "git_restore", "{\"paths\":[\"a.txt\"]}");
	assert_true(ok_of(r));
	json_decref(r);
	s = capture("cat '%s/a.txt'; cd '%s' && git status --porcelain", repo, repo);
	assert_string_equal(s, "rewritten\n");
	free(s);
	r = tool(repo, "git_restore", "{\"paths\":[\"nothing-here.txt\"]}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "did not match"));
	json_decref(r);
}

static void
test_unborn(void **state)
{
	char repo[PATH_MAX * 2];
	json_t *r;
	char *s;

	new_repo(repo, sizeof(repo), "unborn", 0);
	r = tool(repo, "git_log", "{}");
	assert_true(ok_of(r));
	assert_int_equal(json_array_size(json_object_get(r, "commits")), 0);
	{
		char oid[41], branch[64];
		struct agentd_error err;

		assert_int_equal(tools_git_head(repo, oid, branch, sizeof(branch), &err), AGENTD_OK);
		assert_string_equal(oid, "0000000000000000000000000000000000000000");
		assert_string_equal(branch, "");
	}
	json_decref(r);
	r = tool(repo, "git_commit", "{\"message\":\"empty\"}");
	assert_false(ok_of(r));
	json_decref(r);
	put(repo, "first.txt", "hello\n");
	put(repo, "second.txt", "world\n");
	git(repo, "add second.txt");
	assert_status_matches(repo, repo);
	assert_diff_matches(repo, "{\"staged\":true}", "--cached");
	r = tool(repo, "git_add", "{\"paths\":[\"first.txt\"]}");
	assert_true(ok_of(r));
	json_decref(r);
	r = tool(repo, "git_commit", "{\"message\":\"root commit\"}");
	assert_true(ok_of(r));
	json_decref(r);
	s = capture("cd '%s' && git log --format=%%s && git ls-files", repo);
	assert_string_equal(s, "root commit\nfirst.txt\nsecond.txt\n");
	free(s);
	r = tool(repo, "git_branch", "{\"name\":\"x\"}");
	assert_true(ok_of(r));
	json_decref(r);
}

static void
test_author_fallback(void **state)
{
	char repo[PATH_MAX * 2], empty[PATH_MAX * 2];
	struct tool_ctx ctx;
	struct agentd_error err;
	json_t *args, *r = NULL;
	char *s;

	new_repo(repo, sizeof(repo), "author", 1);
	snprintf(empty, sizeof(empty), "%s/emptyhome", base);
	mkdir(empty, 0755);
	/* No user in any config libgit2 reads now. */
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, empty);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, empty);
	put(repo, "a.txt", "by ctx\n");
	tools_ctx_init(&ctx, repo);
	ctx.author_name = "Ctx Author";
	ctx.author_email = "ctx@example.org";
	args = json_pack("{s:s, s:b}", "message", "ctx author", "all", 1);
	assert_int_equal(tools_call(&ctx, "git_commit", args, &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(r);
	put(repo, "a.txt", "by default\n");
	ctx.author_name = NULL;
	assert_int_equal(tools_call(&ctx, "git_commit", args, &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(r);
	json_decref(args);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, home);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, home);
	s = capture("cd '%s' && git log -2 --format='%%an <%%ae>'", repo);
	assert_string_equal(s, "agentd <agentd@localhost>\nCtx Author <ctx@example.org>\n");
	free(s);
}

/* ---- branches and checkout ---- */

static void
test_branch_checkout(void **state)
{
	char repo[PATH_MAX * 2];
	json_t *r;
	char *s;

	new_repo(repo, sizeof(repo), "br", 1);
	r = tool(repo, "git_branch", "{\"name\":\"topic\",\"checkout\":true}");
	assert_true(ok_of(r));
	json_decref(r);
	s = capture("cd '%s' && git branch --show-current", repo);
	assert_string_equal(s, "topic\n");
	free(s);
	put(repo, "a.txt", "topic version\n");
	r = tool(repo, "git_commit", "{\"message\":\"on topic\",\"all\":true}");
	assert_true(ok_of(r));
	json_decref(r);
	r = tool(repo, "git_branch", "{\"name\":\"bad name..\"}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "not a valid branch name"));
	json_decref(r);
	r = tool(repo, "git_branch", "{\"name\":\"topic\"}");
	assert_false(ok_of(r));
	json_decref(r);

	/* An uncommitted change that the switch would overwrite: refused. */
	put(repo, "a.txt", "precious uncommitted work\n");
	r = tool(repo, "git_checkout", "{\"target\":\"main\"}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "force"));
	json_decref(r);
	s = capture("cat '%s/a.txt'; cd '%s' && git branch --show-current", repo, repo);
	assert_string_equal(s, "precious uncommitted work\ntopic\n");
	free(s);
	/* Forced: switches and discards. */
	r = tool(repo, "git_checkout", "{\"target\":\"main\",\"force\":true}");
	assert_true(ok_of(r));
	json_decref(r);
	s = capture("cd '%s' && git branch --show-current && git status --porcelain && head -1 a.txt", repo);
	assert_string_equal(s, "main\none\n");
	free(s);

	/* A change that does not conflict travels along, like git. */
	put(repo, "b.txt", "carried\n");
	r = tool(repo, "git_checkout", "{\"target\":\"topic\"}");
	assert_true(ok_of(r));
	json_decref(r);
	assert_status_matches(repo, repo);

	/* Detached HEAD. */
	r = tool(repo, "git_checkout", "{\"target\":\"main~0\"}");
	assert_true(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "detached"));
	json_decref(r);
	s = capture("cd '%s' && git symbolic-ref -q HEAD || echo detached; git rev-parse HEAD; git rev-parse main", repo);
	assert_memory_equal(s, "detached\n", 9);
	assert_memory_equal(s + 9, s + 50, 40);
	free(s);
	r = tool(repo, "git_status", "{}");
	assert_true(json_is_true(json_object_get(r, "detached")));
	json_decref(r);
	assert_status_matches(repo, repo);
	r = tool(repo, "git_commit", "{\"message\":\"detached commit\",\"all\":true}");
	assert_true(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "detached HEAD"));
	json_decref(r);
	s = capture("cd '%s' && git log -1 --format=%%s HEAD && git log -1 --format=%%s main", repo);
	assert_string_equal(s, "detached commit\nfirst commit\n");
	free(s);
	assert_log_matches(repo, "{}", "");
	r = tool(repo, "git_checkout", "{\"target\":\"no-such-thing\"}");
	assert_false(ok_of(r));
	json_decref(r);
}

static void
test_not_a_repo(void **state)
{
	char dir[PATH_MAX * 2];
	json_t *r;

	snprintf(dir, sizeof(dir), "%s/plain", base);
	mkdir(dir, 0755);
	r = tool(dir, "git_status", "{}");
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "not in a git repository"));
	json_decref(r);
}

/* ---- plumbing ---- */

static void
test_worktree_plumbing(void **state)
{
	char repo[PATH_MAX * 2], wt[PATH_MAX * 3], oid[41], base_oid[41], branch[64], tip[41];
	struct agentd_error err;
	struct stat st;
	char *s;

	new_repo(repo, sizeof(repo), "plumb", 1);
	assert_int_equal(tools_git_head(repo, oid, branch, sizeof(branch), &err), AGENTD_OK);
	assert_string_equal(branch, "main");
	s = capture("cd '%s' && git rev-parse HEAD", repo);
	assert_memory_equal(s, oid, 40);
	free(s);

	snprintf(wt, sizeof(wt), "%s/wt-run1", base);
	assert_int_equal(tools_worktree_add(repo, wt, "agentd/run1", base_oid, &err), AGENTD_OK);
	assert_string_equal(base_oid, oid);
	s = capture("cd '%s' && git worktree list --porcelain | grep -c '^worktree ' && "
	    "git branch --list 'agentd/*' && git -C '%s' branch --show-current && "
	    "git -C '%s' status --porcelain", repo, wt, wt);
	assert_string_equal(s, "2\n+ agentd/run1\nagentd/run1\n");
	free(s);
	/* Adding at the same path again fails, as does the same branch. */
	assert_int_equal(tools_worktree_add(repo, wt, "agentd/run2", base_oid, &err), AGENTD_EGIT);
	{
		char wt2[PATH_MAX * 3];

		snprintf(wt2, sizeof(wt2), "%s/wt-run1b", base);
		assert_int_equal(tools_worktree_add(repo, wt2, "agentd/run1", base_oid, &err),
		    AGENTD_EGIT);
		assert_int_not_equal(stat(wt2, &st), 0);
	}

	/* Work in the worktree, with the tools. */
	put(wt, "a.txt", "from the run\n");
	{
		json_t *r = tool(wt, "git_commit", "{\"message\":\"run work\",\"all\":true}");

		assert_true(ok_of(r));
		json_decref(r);
	}
	s = capture("cd '%s' && git log -1 --format=%%s agentd/run1 && git log -1 --format=%%s main", repo);
	assert_string_equal(s, "run work\nfirst commit\n");
	free(s);
	assert_int_equal(tools_git_head(wt, tip, branch, sizeof(branch), &err), AGENTD_OK);
	assert_string_equal(branch, "agentd/run1");

	/* The checked-out branch cannot be deleted. */
	assert_int_equal(tools_git_branch_delete(repo, "agentd/run1", &err), AGENTD_EGIT);

	assert_int_equal(tools_worktree_remove(repo, wt, &err), AGENTD_OK);
	assert_int_not_equal(stat(wt, &st), 0);
	s = capture("cd '%s' && git worktree list --porcelain | grep -c '^worktree '; "
	    "git branch --list 'agentd/*'", repo);
	assert_string_equal(s, "1\n  agentd/run1\n");
	free(s);
	assert_int_equal(tools_worktree_remove(repo, wt, &err), AGENTD_EGIT);

	/* Reset only when nobody moved the branch. */
	assert_int_equal(tools_git_branch_reset(repo, "agentd/run1", oid, oid, &err), AGENTD_EBUSY);
	assert_int_equal(tools_git_branch_reset(repo, "agentd/run1", oid, tip, &err), AGENTD_OK);
	s = capture("cd '%s' && git rev-parse agentd/run1", repo);
	assert_memory_equal(s, oid, 40);
	free(s);

	/* Reset of the checked-out branch resets the work tree too. */
	put(repo, "b.txt", "committed in place\n");
	git(repo, "commit -q -am 'in place'");
	s = capture("cd '%s' && git rev-parse HEAD", repo);
	memcpy(tip, s, 40);
	tip[40] = '\0';
	free(s);
	assert_int_equal(tools_git_branch_reset(repo, "main", oid, tip, &err), AGENTD_OK);
	s = capture("cd '%s' && git rev-parse HEAD && git status --porcelain && cat b.txt", repo);
	assert_memory_equal(s, oid, 40);
	assert_string_equal(s + 41, "bee\n");
	free(s);

	sh("cd '%s' && git config branch.agentd/run1.remote origin", repo);
	assert_int_equal(tools_git_branch_delete(repo, "agentd/run1", &err), AGENTD_OK);
	s = capture("cd '%s' && git branch --list 'agentd/*'; git config --get branch.agentd/run1.remote", repo);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(tools_git_branch_delete(repo, "agentd/run1", &err), AGENTD_EGIT);
}

/* Run `git reset --keep REV` in a copy of repo; its status, HEAD and file
 * contents, to compare with what the plumbing left. */
static char *
git_state(const char *dir)
{
	return capture("cd '%s' && git rev-parse HEAD && git status --porcelain && "
	    "for f in a.txt b.txt sub/s.c new.txt; do echo \"== $f\"; cat \"$f\" 2>&1; done", dir);
}

/* Undo of an in-place run keeps what the user changed since, as
 * `git reset --keep` does, and refuses (changing nothing) when a file the run
 * committed has local changes. */
static void
test_undo_keeps_local_changes(void **state)
{
	char repo[PATH_MAX * 2], twin[PATH_MAX * 2], oid[41], tip[41], branch[64];
	struct agentd_error err;
	char *s, *want, *have;

	new_repo(repo, sizeof(repo), "undo-keep", 1);
	assert_int_equal(tools_git_head(repo, oid, branch, sizeof(branch), &err), AGENTD_OK);
	/* The run's commit changes a.txt. */
	put(repo, "a.txt", "changed by the run\n");
	git(repo, "commit -q -am 'run work'");
	assert_int_equal(tools_git_head(repo, tip, branch, sizeof(branch), &err), AGENTD_OK);
	/* Then the user edits other files, stages one, adds a new one. */
	put(repo, "b.txt", "the user's edit, not committed\n");
	put(repo, "sub/s.c", "int s(void) { return 2; }\n");
	git(repo, "add sub/s.c");
	put(repo, "new.txt", "a new file of the user\n");
	snprintf(twin, sizeof(twin), "%s/undo-keep-twin", base);
	sh("rm -rf '%s' && cp -a '%s' '%s'", twin, repo, twin);
	sh("cd '%s' && git update-index -q --refresh; git reset -q --keep %s", twin, oid);
	assert_int_equal(tools_git_branch_reset(repo, "main", oid, tip, &err), AGENTD_OK);
	want = git_state(twin);
	have = git_state(repo);
	assert_string_equal(have, want);
	assert_non_null(strstr(have, "the user's edit, not committed"));
	assert_non_null(strstr(have, "a new file of the user"));
	assert_non_null(strstr(have, "return 2;"));
	free(want);
	free(have);

	/* A file the run changed has local changes: refused, as git refuses. */
	put(repo, "a.txt", "changed by the run\n");
	git(repo, "commit -q -am 'run work again'");
	assert_int_equal(tools_git_head(repo, tip, branch, sizeof(branch), &err), AGENTD_OK);
	put(repo, "a.txt", "the user kept editing a.txt\n");
	sh("rm -rf '%s' && cp -a '%s' '%s'", twin, repo, twin);
	s = capture("cd '%s' && git update-index -q --refresh; "
	    "git reset -q --keep %s >/dev/null 2>&1 || echo refused", twin, oid);
	assert_string_equal(s, "refused\n");
	free(s);
	want = git_state(repo);
	agentd_error_clear(&err);
	assert_int_equal(tools_git_branch_reset(repo, "main", oid, tip, &err), AGENTD_EBUSY);
	assert_non_null(strstr(err.msg, "a.txt"));
	have = git_state(repo);
	assert_string_equal(have, want);
	free(want);
	free(have);
}

/* git_commit with the run's start state: the user's changes from before the
 * run stay out of the run's commits (all:true, a staged file, a git_add of
 * the whole tree), unless named in paths. Checked with git show and status. */
static void
test_commit_leaves_out_preexisting(void **state)
{
	char repo[PATH_MAX * 2];
	struct tool_ctx ctx;
	struct agentd_error err;
	json_t *start = NULL, *args, *r;
	char *s;

	new_repo(repo, sizeof(repo), "preexisting", 1);
	put(repo, "b.txt", "the user's edit\n");
	put(repo, "sub/s.c", "int s(void) { return 2; }\n");
	git(repo, "add sub/s.c");
	put(repo, "user-new.txt", "untracked, the user's\n");
	assert_int_equal(tools_git_start_state(repo, &start, &err), AGENTD_OK);
	assert_int_equal(ajson_int(start, "dirty_count", 0), 3);
	s = json_dumps(json_object_get(start, "dirty"), 0);
	assert_string_equal(s, "[\"b.txt\", \"sub/s.c\", \"user-new.txt\"]");
	free(s);

	/* The run's own change, then the sweeping calls. */
	put(repo, "a.txt", "the run's change\n");
	put(repo, "run-new.txt", "the run's new file\n");
	tools_ctx_init(&ctx, repo);
	ctx.start_state = start;
	args = json_pack("{s:[s]}", "paths", ".");
	assert_int_equal(tools_call(&ctx, "git_add", args, &r, &err), AGENTD_OK);
	json_decref(args);
	json_decref(r);
	args = json_pack("{s:s, s:b}", "message", "run work", "all", 1);
	assert_int_equal(tools_call(&ctx, "git_commit", args, &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "Left out of the commit: 3 file(s)"));
	assert_int_equal(json_array_size(json_object_get(r, "left_out")), 3);
	json_decref(args);
	json_decref(r);
	s = capture("cd '%s' && git show --format= --name-only HEAD && git status --porcelain && "
	    "cat b.txt", repo);
	assert_string_equal(s, "a.txt\nrun-new.txt\n M b.txt\nM  sub/s.c\n?? user-new.txt\n"
	    "the user's edit\n");
	free(s);

	/* Nothing else to commit: said, and nothing committed. */
	args = json_pack("{s:s, s:b}", "message", "more", "all", 1);
	assert_int_equal(tools_call(&ctx, "git_commit", args, &r, &err), AGENTD_OK);
	assert_false(ok_of(r));
	assert_non_null(strstr(str_of(r, "output"), "before the run began"));
	json_decref(args);
	json_decref(r);

	/* Named in paths: committed (and only that one). */
	args = json_pack("{s:s, s:[s]}", "message", "the user's b", "paths", "b.txt");
	assert_int_equal(tools_call(&ctx, "git_commit", args, &r, &err), AGENTD_OK);
	assert_true(ok_of(r));
	json_decref(args);
	json_decref(r);
	s = capture("cd '%s' && git show --format= --name-only HEAD && git status --porcelain",
	    repo);
	assert_string_equal(s, "b.txt\nM  sub/s.c\n?? user-new.txt\n");
	free(s);
	json_decref(start);
}

/* What a kill inside worktree creation leaves is undone, and the same
 * worktree can be made again (checked with git worktree list, git branch). */
static void
test_worktree_discard(void **state)
{
	char repo[PATH_MAX * 2], wt[PATH_MAX * 3], oid[41];
	struct agentd_error err;
	char *s;

	new_repo(repo, sizeof(repo), "discard", 1);
	snprintf(wt, sizeof(wt), "%s/wt-run-7", base);
	/* Killed inside git_branch_create and git_worktree_add: the ref lock, and
	 * git's folder for the worktree without its gitdir file. */
	sh("mkdir -p '%s/.git/refs/heads/agentd' '%s/.git/worktrees/wt-run-7' && "
	    "echo partial > '%s/.git/refs/heads/agentd/7.lock'", repo, repo, repo);
	assert_int_equal(tools_worktree_add(repo, wt, "agentd/7", oid, &err), AGENTD_EGIT);
	assert_int_equal(tools_worktree_discard(repo, wt, "agentd/7", &err), AGENTD_OK);
	assert_false(exists(repo, ".git/refs/heads/agentd/7.lock"));
	assert_false(exists(repo, ".git/worktrees/wt-run-7"));
	assert_int_equal(tools_worktree_add(repo, wt, "agentd/7", oid, &err), AGENTD_OK);
	/* A complete one goes too: files, record and branch. */
	assert_int_equal(tools_worktree_discard(repo, wt, "agentd/7", &err), AGENTD_OK);
	s = capture("cd '%s' && git worktree list --porcelain | grep -c '^worktree '; "
	    "git branch --list 'agentd/*'; git status --porcelain", repo);
	assert_string_equal(s, "1\n");
	free(s);
	assert_false(exists(base, "wt-run-7"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_and_diff),
		cmocka_unit_test(test_subfolder_workspace),
		cmocka_unit_test(test_conflict_status),
		cmocka_unit_test(test_log_and_show),
		cmocka_unit_test(test_add_commit),
		cmocka_unit_test(test_unborn),
		cmocka_unit_test(test_author_fallback),
		cmocka_unit_test(test_branch_checkout),
		cmocka_unit_test(test_not_a_repo),
		cmocka_unit_test(test_worktree_plumbing),
		cmocka_unit_test(test_undo_keeps_local_changes),
		cmocka_unit_test(test_commit_leaves_out_preexisting),
		cmocka_unit_test(test_worktree_discard),
	};

	/* Before libgit2 reads HOME: tests never see the machine's git config. */
	setup(NULL);
	{
		int rc = cmocka_run_group_tests(tests, NULL, NULL);

		teardown(NULL);
		return rc;
	}
}
