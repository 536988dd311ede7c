/* shell.c - command lines quoted for a shell (see shell.h). */
#include "shell.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_safe(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("_./:@%+,-", ch) || (ch == '=' && !first);
}

/* Room one word takes at most: $'\xNN' is 4 bytes a character, plus 3. */
static size_t worst(size_t n)
{
	return 4 * n + 3;
}

/* Writes word w (n bytes) quoted at out; returns the bytes written. */
static size_t quote_word(char *out, const char *w, size_t n)
{
	bool safe = n > 0, control = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)w[i];
		safe = safe && ch && is_safe((char)ch, i == 0);
		control |= ch < 0x20 || ch == 0x7f;
	}
	char *o = out;
	if (safe) {
		memcpy(o, w, n);
		return n;
	}
	if (control) {	/* bash's ANSI-C quoting: one line, every byte kept */
		*o++ = '$';
		*o++ = '\'';
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)w[i];
			if (ch == '\n' || ch == '\t') {
				*o++ = '\\';
				*o++ = ch == '\n' ? 'n' : 't';
			} else if (ch < 0x20 || ch == 0x7f) {
				o += sprintf(o, "\\x%02x", ch);
			} else {
				if (ch == '\'' || ch == '\\')
					*o++ = '\\';
				*o++ = (char)ch;
			}
		}
		*o++ = '\'';
		return (size_t)(o - out);
	}
	*o++ = '\'';
	for (size_t i = 0; i < n; i++) {
		if (w[i] == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = w[i];
		}
	}
	*o++ = '\'';
	return (size_t)(o - out);
}

char *shell_join(const char *const *argv, size_t argc)
{
	size_t room = 1;
	for (size_t i = 0; i < argc; i++)
		room += worst(strlen(argv[i])) + 1;
	char *s = malloc(room), *o = s;
	if (!s)
		return NULL;
	for (size_t i = 0; i < argc; i++) {
		if (i)
			*o++ = ' ';
		o += quote_word(o, argv[i], strlen(argv[i]));
	}
	*o = '\0';
	return s;
}

char *shell_join_nul(const char *buf, size_t len)
{
	if (len && buf[len - 1] == '\0')
		len--;	/* the last word's NUL */
	/* each word of n bytes takes at most worst(n) + 1; words <= len + 1 */
	char *s = malloc(8 * len + 16), *o = s;
	if (!s)
		return NULL;
	for (size_t at = 0; at <= len && len;) {
		const char *end = memchr(buf + at, '\0', len - at);
		size_t n = end ? (size_t)(end - (buf + at)) : len - at;
		if (o != s)
			*o++ = ' ';
		o += quote_word(o, buf + at, n);
		at += n + 1;
	}
	*o = '\0';
	return s;
}
