/* private.c — private directories and lock files of agentd (see private.h). */
#include "daemon/private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_RETRIES	64	/* holders that remove the file as we open it */
#define HOLDER_MAX	1024	/* what we read of a holder's lock file */

struct private_lock {
	int fd;
	char *path;
};

int
private_mkdir_p(const char *path, int mode)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
private_dir_check(const char *path, const char *what, int tighten, int *tightened,
    struct agentd_error *err)
{
	struct stat sb;
	uid_t me = geteuid();

	if (stat(path, &sb) != 0)
		return agentd_seterr(err, AGENTD_EIO, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return agentd_seterr(err, AGENTD_EIO, "%s %s is not a directory", what, path);
	if (sb.st_uid != me)
		return agentd_seterr(err, AGENTD_EDENIED, "%s %s belongs to uid %u, not to uid %u "
		    "that runs agentd: its owner could replace what agentd keeps there; refusing it "
		    "(use a directory of your own, or: chown %u %s)", what, path, (unsigned)sb.st_uid,
		    (unsigned)me, (unsigned)me, path);
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return agentd_seterr(err, AGENTD_EDENIED, "%s %s is writable by other users (mode %04o): "
		    "they could replace what agentd keeps there; refusing it (run: chmod %s %s)", what,
		    path, (unsigned)(sb.st_mode & 07777), tighten ? "700" : "go-w", path);
	if (tighten && (sb.st_mode & (S_IRWXG | S_IRWXO))) {
		if (chmod(path, 0700) != 0)
			return agentd_seterr(err, AGENTD_EDENIED, "%s %s is readable by other users "
			    "(mode %04o) and cannot be made private: %s (run: chmod 700 %s)", what, path,
			    (unsigned)(sb.st_mode & 07777), strerror(errno), path);
		if (tightened)
			*tightened = 1;
	}
	return AGENTD_OK;
}

/* What the holder of the lock on fd wrote (malloc'd; "" when nothing). */
static char *
read_holder(int fd)
{
	char buf[HOLDER_MAX];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return strdup(buf);
}

int
private_lock_take(const char *path, struct private_lock **out, char **holder,
    struct agentd_error *err)
{
	struct private_lock *l;
	struct stat fsb, psb;
	int fd, tries;

	for (tries = 0; tries < LOCK_RETRIES; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0 && errno == ELOOP)
			return agentd_seterr(err, AGENTD_EDENIED, "%s is a symbolic link: not following it "
			    "(remove it: rm %s)", path, path);
		if (fd < 0)
			return agentd_seterr(err, AGENTD_EIO, "cannot open %s: %s", path, strerror(errno));
		if (fstat(fd, &fsb) != 0) {
			close(fd);
			return agentd_seterr(err, AGENTD_EIO, "%s: %s", path, strerror(errno));
		}
		if (!S_ISREG(fsb.st_mode) || fsb.st_uid != geteuid() || fsb.st_nlink != 1) {
			close(fd);
			return agentd_seterr(err, AGENTD_EDENIED, "%s is not a lock file of ours (%s); not "
			    "using it (remove it: rm %s)", path, !S_ISREG(fsb.st_mode) ?
			    "not a regular file" : fsb.st_uid != geteuid() ? "another user's file" :
			    "it has other hard links", path);
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int e = errno;

			if (e == EWOULDBLOCK && holder)
				*holder = read_holder(fd);
			close(fd);
			if (e == EWOULDBLOCK)
				return agentd_seterr(err, AGENTD_EBUSY, "%s is held by another process", path);
			return agentd_seterr(err, AGENTD_EIO, "cannot lock %s: %s", path, strerror(e));
		}
		/* Still the file at path? A holder that stopped may have removed it
		 * between our open and our lock: then take the one there now. */
		if (lstat(path, &psb) != 0 || psb.st_dev != fsb.st_dev || psb.st_ino != fsb.st_ino) {
			close(fd);
			continue;
		}
		if ((fsb.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0) {
			close(fd);
			return agentd_seterr(err, AGENTD_EIO, "chmod %s: %s", path, strerror(errno));
		}
		l = calloc(1, sizeof(*l));
		if (l == NULL || (l->path = strdup(path)) == NULL) {
			free(l);
			close(fd);
			return agentd_seterr(err, AGENTD_ENOMEM, NULL);
		}
		l->fd = fd;
		*out = l;
		return AGENTD_OK;
	}
	return agentd_seterr(err, AGENTD_EBUSY, "%s keeps being replaced; not using it", path);
}

int
private_lock_write(struct private_lock *l, const char *text, struct agentd_error *err)
{
	size_t n = strlen(text);

	/* Written before the cut, so that a reader never sees it empty. */
	if (pwrite(l->fd, text, n, 0) != (ssize_t)n || ftruncate(l->fd, (off_t)n) != 0)
		return agentd_seterr(err, AGENTD_EIO, "cannot write %s: %s", l->path, strerror(errno));
	return AGENTD_OK;
}

void
private_lock_release(struct private_lock *l)
{
	if (l == NULL)
		return;
	/* Unlinked while held: a daemon starting now either fails on our lock
	 * or sees that the file it locked is gone and makes a new one. */
	unlink(l->path);
	close(l->fd);
	free(l->path);
	free(l);
}
