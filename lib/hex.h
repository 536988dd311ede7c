/* hex.h - hexadecimal digits read and written, for every place that does
 * (URL escapes, regex escapes, build ids): one reader, one writer. */
#ifndef MEMPROF_HEX_H
#define MEMPROF_HEX_H

#include <stddef.h>

/* The value of the hex digit c (0-9, a-f, A-F), or -1 when c is none:
 * ASCII only, whatever the locale (isxdigit's answer may follow it). */
static inline int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* n bytes as 2 * n lowercase hex digits and a NUL, in out (2 * n + 1
 * bytes); returns out. */
static inline char *hex_encode(char *out, const void *bytes, size_t n)
{
	const unsigned char *b = bytes;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = "0123456789abcdef"[b[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

#endif
