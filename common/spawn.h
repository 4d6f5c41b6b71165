/*
 * spawn.h — starting a child process from a threaded program. After a
 * fork only async-signal-safe calls are allowed in the child (a lock that
 * another thread held at the fork stays held there forever), so the
 * environment is built before, and the program is started with
 * posix_spawn, which runs nothing but the file actions and exec in the
 * child: execvp's PATH search, done here in the new environment's PATH.
 */
#ifndef AGENTD_COMMON_SPAWN_H
#define AGENTD_COMMON_SPAWN_H

#include <spawn.h>
#include <stddef.h>
#include <sys/types.h>

/* A new environment: the entries of the process's environ whose name
 * none of set[0..nset) ("NAME=VALUE") has, then set's, in order; environ
 * is read under aspawn_environ_lock. Every string is a copy. NULL when out
 * of memory. Free with aspawn_env_free (NULL ok). */
char **aspawn_env(char *const *set, size_t nset);
void aspawn_env_free(char **env);

/* The value of name in env, or NULL (borrowed from env). */
const char *aspawn_getenv(char *const *env, const char *name);

/* Held around a change of the process's environment by a thread of a
 * threaded program (setenv, unsetenv), so that aspawn_env never copies a
 * half-changed or freed environ, nor a value meant to last only a moment. */
void aspawn_environ_lock(void);
void aspawn_environ_unlock(void);

/* The usual attributes of a child: every signal at its default action
 * (a caller may ignore SIGPIPE), none blocked (a caller may block the ones
 * it reads through a signalfd), plus flags (POSIX_SPAWN_SETSID...).
 * Returns 0 or an errno; destroy *at after the spawn. */
int aspawn_attr_init(posix_spawnattr_t *at, short flags);

/* posix_spawn of file as execvp would run it: a name without '/' is
 * looked up in env's PATH (/bin:/usr/bin when it has none); a directory
 * that does not have it or may not run it is passed over; a file that is
 * no executable format (ENOEXEC) runs with /bin/sh. Relative PATH entries
 * are relative to the child's folder (a chdir of fa). Returns 0 and sets
 * *pid, or returns the errno of the failure (EACCES when a file was found
 * that may not run, else the last one). */
int aspawn_path(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *at, char *const argv[], char *const env[]);

#endif
