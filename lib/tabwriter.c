/* tabwriter.c - a port of Go's text/tabwriter (without the FilterHTML,
 * StripEscape, DiscardEmptyColumns, TabIndent and Debug flags, and
 * without padding by tabs): what go tool pprof's tags report is aligned
 * with, so memprof's aligns the same. */
#include "tabwriter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define ESCAPE '\xff'	/* Go's tabwriter.Escape: text between two is one cell part */

struct cell {
	size_t size;	/* bytes of text */
	long width;	/* its width, in runes (Go's int: an escape can make it
			 * negative) */
	bool htab;	/* ended by a tab (not a '\v') */
};

struct line {
	struct cell *cell;
	size_t n, cap;
};

struct tabwriter {
	FILE *out;
	long minwidth, padding;
	char padchar;
	bool align_right;

	char *buf;		/* the text of the buffered cells */
	size_t len, cap;
	size_t pos;		/* buf[0..pos) is counted in cell widths */
	struct cell cell;	/* the cell being written */
	char end_char;		/* inside an escape: what ends it, else 0 */
	struct line *lines;	/* the buffered lines; the last one is open */
	size_t n_lines, cap_lines;
	long *widths;		/* column widths of the enclosing blocks */
	size_t n_widths, cap_widths;
	int err;		/* sticky -ENOMEM */
};

size_t tabwriter_width(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t runes = 0, i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t need = 0;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		}
		runes++;
		if (need == 0 || n - i <= need) {	/* ASCII, invalid, or cut short */
			i++;
			continue;
		}
		bool ok = p[i + 1] >= lo && p[i + 1] <= hi;
		for (size_t k = 2; ok && k <= need; k++)
			ok = p[i + k] >= 0x80 && p[i + k] <= 0xbf;
		i += ok ? need + 1 : 1;
	}
	return runes;
}

struct tabwriter *tabwriter_new(FILE *out, int minwidth, int padding, char padchar,
				bool align_right)
{
	struct tabwriter *tw = calloc(1, sizeof(*tw));
	if (!tw)
		return NULL;
	tw->out = out;
	tw->minwidth = minwidth;
	tw->padding = padding;
	tw->padchar = padchar;
	tw->align_right = align_right;
	if (array_grow(&tw->lines, &tw->cap_lines, 0, sizeof(*tw->lines)) < 0) {
		free(tw);
		return NULL;
	}
	memset(&tw->lines[0], 0, sizeof(tw->lines[0]));
	tw->n_lines = 1;
	return tw;
}

static void append_text(struct tabwriter *tw, const char *text, size_t n)
{
	if (tw->err || n == 0)
		return;
	if (tw->len + n > tw->cap) {
		size_t cap = (tw->len + n) * 2;
		char *b = realloc(tw->buf, cap);
		if (!b) {
			tw->err = -ENOMEM;
			return;
		}
		tw->buf = b;
		tw->cap = cap;
	}
	memcpy(tw->buf + tw->len, text, n);
	tw->len += n;
	tw->cell.size += n;
}

static void update_width(struct tabwriter *tw)
{
	if (tw->len > tw->pos)	/* buf is NULL while there is no text */
		tw->cell.width += (long)tabwriter_width(tw->buf + tw->pos, tw->len - tw->pos);
	tw->pos = tw->len;
}

/* Ends the cell being written; returns the number of cells in its line. */
static size_t terminate_cell(struct tabwriter *tw, bool htab)
{
	struct line *l = &tw->lines[tw->n_lines - 1];
	tw->cell.htab = htab;
	if (array_grow(&l->cell, &l->cap, l->n, sizeof(*l->cell)) < 0) {
		tw->err = -ENOMEM;
		return 0;
	}
	l->cell[l->n++] = tw->cell;
	memset(&tw->cell, 0, sizeof(tw->cell));
	return l->n;
}

static void add_line(struct tabwriter *tw)
{
	if (array_grow(&tw->lines, &tw->cap_lines, tw->n_lines, sizeof(*tw->lines)) < 0) {
		tw->err = -ENOMEM;
		return;
	}
	memset(&tw->lines[tw->n_lines++], 0, sizeof(tw->lines[0]));
}

static void write_padding(struct tabwriter *tw, long textw, long cellw)
{
	for (long i = textw; i < cellw; i++)
		fputc(tw->padchar, tw->out);
}

/* Writes buf[pos..pos+n): buf is NULL while there is no text */
static void put(struct tabwriter *tw, size_t pos, size_t n)
{
	if (n)
		fwrite(tw->buf + pos, 1, n, tw->out);
}

static size_t write_lines(struct tabwriter *tw, size_t pos, size_t line0, size_t line1)
{
	for (size_t i = line0; i < line1; i++) {
		const struct line *l = &tw->lines[i];
		for (size_t j = 0; j < l->n; j++) {
			const struct cell *c = &l->cell[j];
			bool in_column = j < tw->n_widths;
			if (c->size == 0) {
				if (in_column)
					write_padding(tw, c->width, tw->widths[j]);
				continue;
			}
			if (!tw->align_right) {
				put(tw, pos, c->size);
				if (in_column)
					write_padding(tw, c->width, tw->widths[j]);
			} else {
				if (in_column)
					write_padding(tw, c->width, tw->widths[j]);
				put(tw, pos, c->size);
			}
			pos += c->size;
		}
		if (i + 1 == tw->n_lines) {	/* the open line: its text so far */
			put(tw, pos, tw->cell.size);
			pos += tw->cell.size;
		} else {
			fputc('\n', tw->out);
		}
	}
	return pos;
}

/* Go's format: the block of lines from line0 that have a cell in the next
 * column sets that column's width; recursively for the columns right of it. */
static size_t format(struct tabwriter *tw, size_t pos, size_t line0, size_t line1)
{
	size_t column = tw->n_widths;
	for (size_t this = line0; this < line1; this++) {
		if (column + 1 >= tw->lines[this].n)
			continue;
		pos = write_lines(tw, pos, line0, this);
		line0 = this;
		long width = tw->minwidth;
		for (; this < line1; this++) {
			const struct line *l = &tw->lines[this];
			if (column + 1 >= l->n)
				break;
			long w = l->cell[column].width + tw->padding;
			if (w > width)
				width = w;
		}
		if (array_grow(&tw->widths, &tw->cap_widths, tw->n_widths, sizeof(*tw->widths)) < 0) {
			tw->err = -ENOMEM;
			return pos;
		}
		tw->widths[tw->n_widths++] = width;
		pos = format(tw, pos, line0, this);
		tw->n_widths--;
		line0 = this;
	}
	return write_lines(tw, pos, line0, line1);
}

static void end_escape(struct tabwriter *tw)
{
	update_width(tw);
	tw->cell.width -= 2;	/* the escape characters take no room */
	tw->pos = tw->len;
	tw->end_char = 0;
}

static void reset(struct tabwriter *tw)
{
	for (size_t i = 0; i < tw->n_lines; i++)
		free(tw->lines[i].cell);
	tw->len = tw->pos = 0;
	memset(&tw->cell, 0, sizeof(tw->cell));
	tw->end_char = 0;
	tw->n_widths = 0;
	memset(&tw->lines[0], 0, sizeof(tw->lines[0]));
	tw->n_lines = 1;
}

static void flush_buffered(struct tabwriter *tw)
{
	if (tw->cell.size > 0) {
		if (tw->end_char)
			end_escape(tw);
		terminate_cell(tw, false);
	}
	if (!tw->err)
		format(tw, 0, 0, tw->n_lines);
	reset(tw);
}

int tabwriter_write(struct tabwriter *tw, const char *text, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len && !tw->err; i++) {
		char ch = text[i];
		if (tw->end_char) {
			if (ch == tw->end_char) {
				append_text(tw, text + n, i + 1 - n);
				n = i + 1;
				end_escape(tw);
			}
			continue;
		}
		if (ch == '\t' || ch == '\v' || ch == '\n' || ch == '\f') {
			append_text(tw, text + n, i - n);
			update_width(tw);
			n = i + 1;
			size_t ncells = terminate_cell(tw, ch == '\t');
			if (ch == '\n' || ch == '\f') {
				add_line(tw);
				if (ch == '\f' || ncells == 1)
					flush_buffered(tw);
			}
		} else if (ch == ESCAPE) {
			append_text(tw, text + n, i - n);
			update_width(tw);
			n = i;
			tw->end_char = ESCAPE;
		}
	}
	append_text(tw, text + n, len - n);
	return tw->err;
}

int tabwriter_printf(struct tabwriter *tw, const char *fmt, ...)
{
	char small[256], *s = small;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(small)) {
		if (!(s = malloc((size_t)n + 1)))
			return tw->err = -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(s, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	int rc = tabwriter_write(tw, s, (size_t)n);
	if (s != small)
		free(s);
	return rc;
}

void tabwriter_flush(struct tabwriter *tw)
{
	flush_buffered(tw);
}

void tabwriter_free(struct tabwriter *tw)
{
	if (!tw)
		return;
	for (size_t i = 0; i < tw->n_lines; i++)
		free(tw->lines[i].cell);
	free(tw->lines);
	free(tw->buf);
	free(tw->widths);
	free(tw);
}
