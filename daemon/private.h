/*
 * private.h — what agentd keeps to its own user: the state directory and
 * the socket's directory (refused when another user could write to them),
 * and the lock files that make one daemon per state directory and per
 * socket. A lock is a flock() on a file that names its holder; the kernel
 * releases it when the process dies, and a clean stop removes the file.
 */
#ifndef AGENTD_PRIVATE_H
#define AGENTD_PRIVATE_H

#include "common/error.h"

struct private_lock;

/* mkdir -p with `mode` for each folder it creates. 0 or -1 (errno). */
int private_mkdir_p(const char *path, int mode);

/*
 * Check that the directory `path` (called `what` in messages) belongs to
 * the daemon's uid and that no other user may write to it; otherwise
 * AGENTD_EDENIED with a message that says what to run. With `tighten`, a
 * directory that others may only read or enter is made 0700 (and logged
 * by the caller through *tightened = 1; may be NULL).
 */
int private_dir_check(const char *path, const char *what, int tighten, int *tightened,
    struct agentd_error *err);

/*
 * Take the exclusive lock on `path` without waiting: the file is created
 * 0600 when missing, never opened through a symbolic link, and must be a
 * regular file of ours with one link. A file removed by a holder on its
 * way out between our open and our lock is noticed (its inode is no longer
 * the path's) and the lock taken on the new file.
 * AGENTD_EBUSY when someone holds it: *holder (may be NULL) then gets what
 * the holder wrote in it (malloc'd, maybe ""). Other failures: AGENTD_EIO or
 * AGENTD_EDENIED with a message.
 */
int private_lock_take(const char *path, struct private_lock **out, char **holder,
    struct agentd_error *err);
/* Replace the lock file's contents with `text` (who holds it). */
int private_lock_write(struct private_lock *l, const char *text, struct agentd_error *err);
/* Remove the file while still holding the lock, then release it. NULL ok. */
void private_lock_release(struct private_lock *l);

#endif
