/* tabwriter.h - Go's text/tabwriter, which go tool pprof's tags report
 * aligns its columns with: text in tab-terminated cells, each column of a
 * block of consecutive lines as wide as its widest cell plus padding. */
#ifndef MEMPROF_TABWRITER_H
#define MEMPROF_TABWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct tabwriter;

/* A writer to out with Go's NewWriter(out, minwidth, 0, padding, padchar,
 * align_right ? AlignRight : 0); padchar must not be a tab. Returns NULL
 * when out of memory. */
struct tabwriter *tabwriter_new(FILE *out, int minwidth, int padding, char padchar,
				bool align_right);

/* Go's Writer.Write: buffers text, writing what a line of one cell lets
 * through (a '\n' or '\f' after no tab flushes). Returns 0 or -ENOMEM. */
int tabwriter_write(struct tabwriter *tw, const char *text, size_t len);

/* tabwriter_write of the formatted text. */
int tabwriter_printf(struct tabwriter *tw, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Go's Writer.Flush: writes out everything buffered. */
void tabwriter_flush(struct tabwriter *tw);

/* Frees tw without flushing. NULL is allowed. */
void tabwriter_free(struct tabwriter *tw);

/* The width Go's fmt and tabwriter give s[0..n): its UTF-8 code points,
 * each byte of an invalid sequence counting one (utf8.RuneCount). */
size_t tabwriter_width(const char *s, size_t n);

#endif
