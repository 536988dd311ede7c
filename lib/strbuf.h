/* strbuf.h - a growable, NUL-terminated byte string, for the pieces of
 * memprof that build text or bytes a piece at a time (URLs, regexes, the
 * timeline's message). After an allocation failure it takes nothing more
 * and says so in failed. */
#ifndef MEMPROF_STRBUF_H
#define MEMPROF_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *s;		/* NULL until something is added; free() it */
	size_t len, cap;
	bool failed;		/* out of memory: s is incomplete */
};

void strbuf_add(struct strbuf *b, const void *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_addc(struct strbuf *b, char c);

#endif
