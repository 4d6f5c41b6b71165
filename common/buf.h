/*
 * buf.h — bounded byte buffers.
 *
 * Every buffer filled by a client, a model or a child process has a cap
 * given when it is created:
 *   - struct abuf grows up to `max` bytes and refuses more (AGENTD_ETOOBIG);
 *     it is always NUL-terminated when data != NULL.
 *   - struct htbuf keeps the first and last `cap/2` bytes of a stream of any
 *     length and counts what it dropped in between (for command output and
 *     long tool results).
 */
#ifndef AGENTD_COMMON_BUF_H
#define AGENTD_COMMON_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct abuf {
	char *data;	/* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;	/* hard cap on len */
};

/* Start empty with a cap of `max` bytes. Allocates nothing. */
void abuf_init(struct abuf *b, size_t max);
/* Append n bytes; AGENTD_ETOOBIG (buffer unchanged) past the cap. */
int abuf_append(struct abuf *b, const void *p, size_t n);
int abuf_puts(struct abuf *b, const char *s);
int abuf_printf(struct abuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int abuf_vprintf(struct abuf *b, const char *fmt, va_list ap);
/* Drop the first n bytes (n <= len). */
void abuf_consume(struct abuf *b, size_t n);
void abuf_reset(struct abuf *b);
/* Hand the data to the caller (malloc'd, NUL-terminated, "" when empty) and reset. */
char *abuf_steal(struct abuf *b);
void abuf_free(struct abuf *b);

struct htbuf {
	char *head;	/* first half, owned */
	size_t head_len;
	char *tail;	/* ring of the last half, owned */
	size_t tail_len;
	size_t tail_pos;
	size_t half;	/* cap / 2 */
	size_t total;	/* bytes offered in all */
};

/* Keep at most `cap` bytes: cap/2 of head and cap/2 of tail. */
int htbuf_init(struct htbuf *h, size_t cap);
void htbuf_append(struct htbuf *h, const void *p, size_t n);
/* Bytes dropped between head and tail. */
size_t htbuf_dropped(const struct htbuf *h);
/*
 * Render as one malloc'd NUL-terminated string: head, then (when anything
 * was dropped) a line "[... N bytes omitted ...]", then tail. *len may be NULL.
 */
char *htbuf_render(const struct htbuf *h, size_t *len);
void htbuf_free(struct htbuf *h);

/*
 * Cut a string to at most `cap` bytes keeping head and tail with the same
 * marker as htbuf_render. Returns a malloc'd copy (NULL on ENOMEM).
 */
char *buf_cut_middle(const char *s, size_t len, size_t cap, size_t *out_len);

/* 1 when `path` is `dir` or lies below it, as strings (both canonical,
 * absolute); "/" holds every path, a NULL or empty dir none. */
int buf_path_within(const char *path, const char *dir);

#endif
