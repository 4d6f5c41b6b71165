/*
 * spawn.c — a child's environment built in the parent, and execvp's PATH
 * search done with posix_spawn (see spawn.h for why).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/spawn.h"

extern char **environ;

static pthread_mutex_t environ_mu = PTHREAD_MUTEX_INITIALIZER;

void
aspawn_environ_lock(void)
{
	pthread_mutex_lock(&environ_mu);
}

void
aspawn_environ_unlock(void)
{
	pthread_mutex_unlock(&environ_mu);
}

static size_t
name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int
in_set(const char *entry, char *const *set, size_t nset)
{
	size_t n = name_len(entry), i;

	for (i = 0; i < nset; i++)
		if (name_len(set[i]) == n && strncmp(set[i], entry, n) == 0)
			return 1;
	return 0;
}

void
aspawn_env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

char **
aspawn_env(char *const *set, size_t nset)
{
	size_t n = 0, k = 0, i;
	char **env;

	aspawn_environ_lock();
	while (environ != NULL && environ[n] != NULL)
		n++;
	env = calloc(n + nset + 1, sizeof(*env));
	for (i = 0; env != NULL && i < n; i++) {
		if (in_set(environ[i], set, nset))
			continue;
		if ((env[k++] = strdup(environ[i])) == NULL) {
			aspawn_env_free(env);
			env = NULL;
		}
	}
	aspawn_environ_unlock();
	for (i = 0; env != NULL && i < nset; i++)
		if ((env[k++] = strdup(set[i])) == NULL) {
			aspawn_env_free(env);
			env = NULL;
		}
	return env;
}

const char *
aspawn_getenv(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env != NULL && *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

int
aspawn_attr_init(posix_spawnattr_t *at, short flags)
{
	sigset_t none, all;
	int e;

	if ((e = posix_spawnattr_init(at)) != 0)
		return e;
	sigemptyset(&none);
	sigfillset(&all);
	if ((e = posix_spawnattr_setsigmask(at, &none)) != 0 ||
	    (e = posix_spawnattr_setsigdefault(at, &all)) != 0 ||
	    (e = posix_spawnattr_setflags(at, (short)(flags | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF))) != 0)
		posix_spawnattr_destroy(at);
	return e;
}

/* One candidate; a file of no executable format runs as a shell script,
 * as execvp does (argv[0] becomes /bin/sh, the file comes next). */
static int
spawn_one(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *at, char *const argv[], char *const env[])
{
	size_t n = 0, i;
	char **sh;
	int e = posix_spawn(pid, path, fa, at, argv, env);

	if (e != ENOEXEC)
		return e;
	while (argv[n] != NULL)
		n++;
	if ((sh = calloc(n + 2, sizeof(*sh))) == NULL)
		return ENOMEM;
	sh[0] = (char *)"/bin/sh";
	sh[1] = (char *)path;
	for (i = 1; i < n; i++)
		sh[i + 1] = argv[i];
	e = posix_spawn(pid, "/bin/sh", fa, at, sh, env);
	free(sh);
	return e;
}

int
aspawn_path(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *at, char *const argv[], char *const env[])
{
	const char *path, *p, *end;
	size_t flen;
	char *buf;
	int e, eacces = 0, last = ENOENT;

	if (file == NULL || *file == '\0')
		return ENOENT;
	if (strchr(file, '/') != NULL)
		return spawn_one(pid, file, fa, at, argv, env);
	if ((flen = strlen(file)) > NAME_MAX)
		return ENAMETOOLONG;
	if ((path = aspawn_getenv(env, "PATH")) == NULL)
		path = "/bin:/usr/bin";	/* confstr(_CS_PATH), as execvp */
	if ((buf = malloc(strlen(path) + flen + 2)) == NULL)
		return ENOMEM;
	for (p = path;; p = end + 1) {
		size_t dl;

		end = strchrnul(p, ':');
		dl = (size_t)(end - p);
		memcpy(buf, p, dl);
		if (dl > 0)
			buf[dl++] = '/';	/* an empty entry is the child's folder */
		memcpy(buf + dl, file, flen + 1);
		/* a folder that lacks it costs no process; a relative one is
		 * looked at from the child's folder, so only there */
		if (buf[0] == '/' && access(buf, X_OK) != 0 &&
		    (errno == ENOENT || errno == ENOTDIR || errno == EACCES))
			e = errno;
		else
			e = spawn_one(pid, buf, fa, at, argv, env);
		if (e == 0)
			break;
		switch (e) {
		case EACCES:
			eacces = 1;
			/* fall through */
		case ENOENT: case ESTALE: case ENOTDIR: case ENODEV: case ETIMEDOUT:
			last = e;
			break;
		default:
			free(buf);
			return e;
		}
		if (*end == '\0')
			break;
	}
	free(buf);
	if (e == 0)
		return 0;
	return eacces ? EACCES : last;
}
