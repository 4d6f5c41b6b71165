/*
 * safetext.h — text from the outside, made safe to show on a terminal.
 *
 * What a model, a tool, a file, a repository or a task wrote may hold
 * terminal control sequences (ESC ] 0 ; title BEL sets the window title,
 * ESC [ 2 J clears the screen, ...). Everything agentctl prints as text and
 * every line agentd logs passes through here first. One representation,
 * chosen so that it can never drive a terminal and stays readable:
 *   - C0 controls (0x00-0x1f) except newline and tab, and DEL (0x7f):
 *     "\xNN" (two lowercase hex digits), e.g. ESC -> \x1b, BEL -> \x07,
 *     CR -> \x0d;
 *   - C1 controls U+0080-U+009F written as UTF-8: "\u0080".."\u009f";
 *   - the bidirectional embeddings, overrides and isolates U+202A-U+202E
 *     and U+2066-U+2069 (they can make a line read differently from what
 *     it is): "\u202e" etc.;
 *   - every byte that is not part of valid UTF-8 (stray continuation bytes,
 *     overlong forms, surrogates, past U+10FFFF, a cut sequence): "\xNN".
 * Newline and tab stay, unless SAFETEXT_ONE_LINE (a log record is one
 * line) escapes the newline too. Backslashes are not doubled: the result
 * is for reading, not for parsing back; exact text is what --json is for.
 */
#ifndef AGENTD_COMMON_SAFETEXT_H
#define AGENTD_COMMON_SAFETEXT_H

#include <stddef.h>

#include "common/buf.h"

#define SAFETEXT_ONE_LINE	1u	/* escape newlines too */

/* Append s[0..n) escaped to b. AGENTD_ETOOBIG past b's cap: b then holds
 * what fitted, cut at a whole character or escape. */
int safetext_append(struct abuf *b, const char *s, size_t n, unsigned flags);
/* An escaped malloc'd copy of the NUL-terminated s (NULL: "");
 * NULL when out of memory. */
char *safetext_dup(const char *s, unsigned flags);
/* Escape s[0..n) into out (outlen > 0, always NUL-terminated), cut at a
 * whole character or escape when it does not fit; returns the length. */
size_t safetext_copy(char *out, size_t outlen, const char *s, size_t n, unsigned flags);
/* 1 when s[0..n) comes out unchanged. */
int safetext_clean(const char *s, size_t n, unsigned flags);
/*
 * JSON text (as jansson writes it: valid UTF-8, C0 controls already
 * escaped inside strings) with DEL, C1 controls and the bidi controls
 * above also written as \uXXXX escapes: the same JSON value once parsed,
 * byte for byte, but nothing in it can drive a terminal. Raw C0 controls
 * other than JSON's whitespace become \u00XX; bytes that are not UTF-8
 * (never in jansson's output) become \ufffd. Returns a malloc'd string
 * (NULL when out of memory); *out_len may be NULL.
 */
char *safetext_json(const char *json, size_t n, size_t *out_len);

#endif
