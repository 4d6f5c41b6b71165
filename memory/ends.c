/*
 * ends.c — run ends kept beside the journal when the journal cannot take
 * them (memory.h, "run ends kept beside the journal").
 *
 * The file PATH-ends holds MEMORY_ENDS_SLOTS fixed slots of ENDS_SLOT bytes,
 * allocated when it is opened, so that keeping an end rewrites bytes the file
 * already owns: it needs no new space on a full disk. A slot is
 *   magic "agentdE1" | run id (int64, this machine's byte order) |
 *   status (16 bytes, NUL-padded) | reason (NUL-terminated) | FNV-1a of the rest
 * and an all-zero slot is free. A slot whose check does not match (a write
 * torn by a crash, before anyone was told of the end) is taken for free.
 * The records are also kept in memory, under a mutex: run workers add, the
 * main thread stores them into the journal and reads them through
 * memory_ends_lookup.
 */
#include "memory/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"

#define ENDS_SLOT 512
#define ENDS_MAGIC "agentdE1"
#define ENDS_STATUS 16
#define ENDS_REASON (ENDS_SLOT - 8 - 8 - ENDS_STATUS - 4)

struct end_rec {
	int used;
	int64_t run_id;
	char status[ENDS_STATUS];
	char reason[ENDS_REASON];
};

struct memory_ends {
	pthread_mutex_t mu;
	int fd;
	char path[PATH_MAX];
	struct end_rec rec[MEMORY_ENDS_SLOTS];
};

static uint32_t
fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

static void
slot_encode(const struct end_rec *r, unsigned char buf[ENDS_SLOT])
{
	uint32_t sum;

	memset(buf, 0, ENDS_SLOT);
	memcpy(buf, ENDS_MAGIC, 8);
	memcpy(buf + 8, &r->run_id, 8);
	memcpy(buf + 16, r->status, ENDS_STATUS);
	memcpy(buf + 16 + ENDS_STATUS, r->reason, ENDS_REASON);
	buf[16 + ENDS_STATUS + ENDS_REASON - 1] = '\0';
	sum = fnv1a(buf, ENDS_SLOT - 4);
	memcpy(buf + ENDS_SLOT - 4, &sum, 4);
}

/* 1 when buf holds a whole record (copied into r), else 0. */
static int
slot_decode(const unsigned char buf[ENDS_SLOT], struct end_rec *r)
{
	uint32_t sum;

	if (memcmp(buf, ENDS_MAGIC, 8) != 0)
		return 0;
	memcpy(&sum, buf + ENDS_SLOT - 4, 4);
	if (sum != fnv1a(buf, ENDS_SLOT - 4))
		return 0;
	memset(r, 0, sizeof(*r));
	r->used = 1;
	memcpy(&r->run_id, buf + 8, 8);
	memcpy(r->status, buf + 16, ENDS_STATUS);
	r->status[ENDS_STATUS - 1] = '\0';
	memcpy(r->reason, buf + 16 + ENDS_STATUS, ENDS_REASON);
	r->reason[ENDS_REASON - 1] = '\0';
	return r->run_id > 0 && r->status[0] != '\0';
}

/* Write slot i (a record, or zeros when rec is NULL) and make it durable. */
static int
slot_write(struct memory_ends *e, int i, const struct end_rec *rec, struct agentd_error *err)
{
	unsigned char buf[ENDS_SLOT];
	ssize_t n;

	if (rec != NULL)
		slot_encode(rec, buf);
	else
		memset(buf, 0, sizeof(buf));
	n = pwrite(e->fd, buf, sizeof(buf), (off_t)i * ENDS_SLOT);
	if (n != (ssize_t)sizeof(buf) || fdatasync(e->fd) != 0) {
		int code = n >= 0 && n != (ssize_t)sizeof(buf) ? ENOSPC : errno;

		return agentd_seterr(err, code == ENOSPC ? AGENTD_ENOSPC : AGENTD_EIO,
		    "%s: %s", e->path, strerror(code));
	}
	return AGENTD_OK;
}

int
memory_ends_open(const char *db_path, struct memory_ends **out, struct agentd_error *err)
{
	unsigned char buf[ENDS_SLOT];
	struct memory_ends *e;
	struct stat sb;
	int i;

	if (db_path == NULL || out == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_ends_open: bad arguments");
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return agentd_seterr(err, AGENTD_ENOMEM, NULL);
	if ((size_t)snprintf(e->path, sizeof(e->path), "%s-ends", db_path) >= sizeof(e->path)) {
		free(e);
		return agentd_seterr(err, AGENTD_EINVAL, "database path too long");
	}
	e->fd = open(e->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (e->fd < 0 || fstat(e->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		int code = e->fd < 0 ? errno : EINVAL;

		if (e->fd >= 0)
			close(e->fd);
		agentd_seterr(err, AGENTD_EIO, "cannot open %s: %s", e->path, strerror(code));
		free(e);
		return AGENTD_EIO;
	}
	for (i = 0; i < MEMORY_ENDS_SLOTS; i++) {
		ssize_t n = pread(e->fd, buf, sizeof(buf), (off_t)i * ENDS_SLOT);

		if (n != (ssize_t)sizeof(buf))
			break;
		if (!slot_decode(buf, &e->rec[i]))
			memset(&e->rec[i], 0, sizeof(e->rec[i]));
	}
	/* Own every slot's bytes now (best effort: a disk already full keeps
	 * what the file has), and the file's name: a new file is made durable
	 * in its directory. */
	if (sb.st_size < (off_t)MEMORY_ENDS_SLOTS * ENDS_SLOT) {
		(void)posix_fallocate(e->fd, 0, (off_t)MEMORY_ENDS_SLOTS * ENDS_SLOT);
		(void)fsync(e->fd);
		(void)memory_sync_parent(e->path);	/* best effort */
	}
	pthread_mutex_init(&e->mu, NULL);
	*out = e;
	return AGENTD_OK;
}

void
memory_ends_close(struct memory_ends *e)
{
	if (e == NULL)
		return;
	close(e->fd);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

int
memory_ends_add(struct memory_ends *e, int64_t run_id, const char *status, const char *reason,
    struct agentd_error *err)
{
	struct end_rec r;
	int i, free_slot = -1, ret;

	if (e == NULL || run_id <= 0 || status == NULL || (strcmp(status, "failed") != 0 &&
	    strcmp(status, "succeeded") != 0 && strcmp(status, "cancelled") != 0 &&
	    strcmp(status, "interrupted") != 0))
		return agentd_seterr(err, AGENTD_EINVAL, "memory_ends_add: bad arguments");
	memset(&r, 0, sizeof(r));
	r.used = 1;
	r.run_id = run_id;
	snprintf(r.status, sizeof(r.status), "%s", status);
	snprintf(r.reason, sizeof(r.reason), "%s", reason != NULL ? reason : "");
	pthread_mutex_lock(&e->mu);
	for (i = 0; i < MEMORY_ENDS_SLOTS; i++) {
		if (e->rec[i].used && e->rec[i].run_id == run_id) {
			free_slot = i;	/* a newer end of the same run replaces it */
			break;
		}
		if (!e->rec[i].used && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0) {
		pthread_mutex_unlock(&e->mu);
		return agentd_seterr(err, AGENTD_ENOSPC, "%s: all %d slots hold ends the journal "
		    "has not taken yet", e->path, MEMORY_ENDS_SLOTS);
	}
	ret = slot_write(e, free_slot, &r, err);
	if (ret == AGENTD_OK)
		e->rec[free_slot] = r;
	pthread_mutex_unlock(&e->mu);
	return ret;
}

int
memory_ends_pending(struct memory_ends *e)
{
	int i, n = 0;

	if (e == NULL)
		return 0;
	pthread_mutex_lock(&e->mu);
	for (i = 0; i < MEMORY_ENDS_SLOTS; i++)
		n += e->rec[i].used;
	pthread_mutex_unlock(&e->mu);
	return n;
}

int
memory_ends_lookup(struct memory_ends *e, int64_t run_id, char status[16], char *reason,
    size_t reason_len)
{
	int i, found = 0;

	if (e == NULL)
		return 0;
	pthread_mutex_lock(&e->mu);
	for (i = 0; i < MEMORY_ENDS_SLOTS && !found; i++) {
		if (!e->rec[i].used || e->rec[i].run_id != run_id)
			continue;
		found = 1;
		snprintf(status, 16, "%s", e->rec[i].status);
		if (reason != NULL && reason_len > 0)
			snprintf(reason, reason_len, "%s", e->rec[i].reason);
	}
	pthread_mutex_unlock(&e->mu);
	return found;
}

size_t
memory_ends_ids(struct memory_ends *e, const char *status, int64_t *ids, size_t max)
{
	size_t n = 0;
	int i;

	if (e == NULL)
		return 0;
	pthread_mutex_lock(&e->mu);
	for (i = 0; i < MEMORY_ENDS_SLOTS && n < max; i++)
		if (e->rec[i].used && strcmp(e->rec[i].status, status) == 0)
			ids[n++] = e->rec[i].run_id;
	pthread_mutex_unlock(&e->mu);
	return n;
}

int
memory_ends_store(struct memory_ends *e, struct memory *m, int *stored, struct agentd_error *err)
{
	static const char sql[] = "UPDATE runs SET status=?2, reason=?3, finished=?4 "
	    "WHERE id=?1 AND status IN ('queued','running','interrupted')";
	struct end_rec snap[MEMORY_ENDS_SLOTS];
	sqlite3_stmt *st = NULL;
	int i, n = 0, rc, ret;

	if (e == NULL || m == NULL)
		return agentd_seterr(err, AGENTD_EINVAL, "memory_ends_store: bad arguments");
	pthread_mutex_lock(&e->mu);
	memcpy(snap, e->rec, sizeof(snap));
	pthread_mutex_unlock(&e->mu);
	for (i = 0; i < MEMORY_ENDS_SLOTS; i++)
		n += snap[i].used;
	if (n == 0) {
		if (stored != NULL)
			*stored = 0;
		return AGENTD_OK;
	}
	if ((ret = memory_begin(m, err)) != AGENTD_OK)
		return ret;
	rc = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		ret = memory_sqlerr(m->db, rc, "storing kept run ends", err);
	for (i = 0; i < MEMORY_ENDS_SLOTS && ret == AGENTD_OK; i++) {
		if (!snap[i].used)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, snap[i].run_id);
		sqlite3_bind_text(st, 2, snap[i].status, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, snap[i].reason, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 4, ajson_now());
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			ret = memory_sqlerr(m->db, rc, "storing kept run ends", err);
		} else if (sqlite3_changes(m->db) == 1) {
			/* The run's one end event, in its hash chain: the loop could
			 * not store it (its transaction failed with the status). */
			json_t *ev = json_pack("{s:s, s:s}", "status", snap[i].status, "reason",
			    snap[i].reason);

			ret = ev ? memory_event_add(m, snap[i].run_id, "end", ev, NULL, err) :
			    agentd_seterr(err, AGENTD_ENOMEM, NULL);
			json_decref(ev);
		}
	}
	sqlite3_finalize(st);
	if (ret == AGENTD_OK)
		ret = memory_commit(m, err);
	else
		memory_rollback(m);
	if (ret != AGENTD_OK)
		return ret;
	/* In the journal now: free the slots (an end added meanwhile for the
	 * same run, in the same slot, is kept). */
	pthread_mutex_lock(&e->mu);
	for (i = 0; i < MEMORY_ENDS_SLOTS && ret == AGENTD_OK; i++) {
		if (!snap[i].used || memcmp(&snap[i], &e->rec[i], sizeof(snap[i])) != 0)
			continue;
		ret = slot_write(e, i, NULL, err);
		if (ret == AGENTD_OK)
			memset(&e->rec[i], 0, sizeof(e->rec[i]));
	}
	pthread_mutex_unlock(&e->mu);
	if (ret == AGENTD_OK && stored != NULL)
		*stored = n;
	return ret;
}

void
memory_attach_ends(struct memory *m, struct memory_ends *e)
{
	if (m != NULL)
		m->ends = e;
}
