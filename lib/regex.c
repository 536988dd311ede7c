/* regex.c - RE2's dialect on PCRE2: a pattern is checked as Go's
 * regexp/syntax parses it (Perl flags, as regexp.Compile uses) and
 * rewritten where PCRE2 would read the same text differently, then
 * compiled by PCRE2. */
#include "hex.h"
#include "regex.h"
#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct regex {
	pcre2_code *code;
	pcre2_match_data *md;
	char *pattern;
};

/* The rewritten pattern, grown as it is written. */
/* A code point as PCRE2 reads it literally anywhere, in a class or not. */
static void put_rune(struct strbuf *o, uint32_t c)
{
	char buf[16];
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		snprintf(buf, sizeof(buf), "%c", (char)c);
	else if (c > 0x20 && c < 0x7f)
		snprintf(buf, sizeof(buf), "\\%c", (char)c);	/* punctuation: literal */
	else
		snprintf(buf, sizeof(buf), "\\x{%x}", (unsigned)c);
	strbuf_puts(o, buf);
}

struct parse {
	const char *pattern;
	const char *t;		/* what is left to read */
	char *msg;
	size_t msg_size;
	struct strbuf out;
	/* "(?i)" read but not yet written: Go lets a repetition after it
	 * repeat what came before it, PCRE2 does not, so it is written after
	 * that repetition */
	char pending[24];
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, p->msg_size, fmt, ap);
	va_end(ap);
	return -1;
}

static bool is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One UTF-8 code point (Go refuses patterns that are not UTF-8). */
static int next_rune(struct parse *p, uint32_t *out)
{
	const unsigned char *s = (const unsigned char *)p->t;
	uint32_t c = s[0];
	size_t n = 1;
	if (c >= 0x80) {
		uint32_t min;
		if (c >= 0xc2 && c <= 0xdf)
			n = 2, c &= 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3, c &= 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4, c &= 0x07, min = 0x10000;
		else
			return fail(p, "invalid UTF-8");
		for (size_t i = 1; i < n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return fail(p, "invalid UTF-8");
			c = c << 6 | (s[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return fail(p, "invalid UTF-8");
	}
	p->t += n;
	*out = c;
	return 0;
}

/* Go's parseEscape: p->t is at the backslash. Gives the code point. */
static int parse_escape(struct parse *p, uint32_t *out)
{
	const char *start = p->t;
	p->t++;
	if (!*p->t)
		return fail(p, "trailing backslash at end of expression");
	uint32_t c;
	if (next_rune(p, &c) < 0)
		return -1;
	switch (c) {
	case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		/* a single non-zero digit would be a backreference: not in RE2 */
		if (*p->t < '0' || *p->t > '7')
			break;
		/* fall through */
	case '0': {
		uint32_t v = c - '0';
		for (int i = 0; i < 2 && *p->t >= '0' && *p->t <= '7'; i++)
			v = v * 8 + (uint32_t)(*p->t++ - '0');
		*out = v;
		return 0;
	}
	case 'x': {
		if (*p->t == '{') {
			p->t++;
			uint32_t v = 0;
			int digits = 0;
			while (hex_digit(*p->t) >= 0) {
				v = v * 16 + (uint32_t)hex_digit(*p->t++);
				if (v > 0x10ffff)
					break;
				digits++;
			}
			if (digits == 0 || *p->t != '}' || v > 0x10ffff)
				break;
			p->t++;
			*out = v;
			return 0;
		}
		int hi = hex_digit(p->t[0]), lo = hi >= 0 ? hex_digit(p->t[1]) : -1;
		if (lo < 0)
			break;
		p->t += 2;
		*out = (uint32_t)(hi * 16 + lo);
		return 0;
	}
	case 'a': *out = 7; return 0;
	case 'f': *out = '\f'; return 0;
	case 'n': *out = '\n'; return 0;
	case 'r': *out = '\r'; return 0;
	case 't': *out = '\t'; return 0;
	case 'v': *out = '\v'; return 0;
	default:
		if (c < 0x80 && !is_alnum((int)c)) {
			*out = c;
			return 0;
		}
	}
	return fail(p, "invalid escape sequence: `%.*s`", (int)(p->t - start), start);
}

/* \d \D \s \S \w \W at p->t: writes the class (RE2's \s has no \v, PCRE2's
 * has) and returns 1, or returns 0 when p->t is something else. */
static int perl_class(struct parse *p, bool in_class)
{
	if (p->t[0] != '\\')
		return 0;
	switch (p->t[1]) {
	case 'd': case 'D': case 'w': case 'W':
		strbuf_add(&p->out, p->t, 2);
		break;
	case 's':
		strbuf_puts(&p->out, in_class ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]");
		break;
	case 'S':
		strbuf_puts(&p->out, in_class ? "\\x{0}-\\x{8}\\x{b}\\x{e}-\\x{1f}\\x{21}-\\x{10ffff}"
					: "[^\\t\\n\\f\\r ]");
		break;
	default:
		return 0;
	}
	p->t += 2;
	return 1;
}

/* \pL, \p{Greek}, \P{^Greek} at p->t: copied (PCRE2 knows Go's names);
 * returns 1, 0 when p->t is something else, -1 on error. */
static int unicode_class(struct parse *p)
{
	if (p->t[0] != '\\' || (p->t[1] != 'p' && p->t[1] != 'P'))
		return 0;
	const char *start = p->t;
	p->t += 2;
	if (!*p->t)
		return fail(p, "invalid character class range: `%s`", start);
	if (*p->t == '{') {
		const char *end = strchr(p->t, '}');
		if (!end)
			return fail(p, "invalid character class range: `%s`", start);
		p->t = end + 1;
	} else {
		uint32_t c;
		if (next_rune(p, &c) < 0)
			return -1;
	}
	strbuf_add(&p->out, start, (size_t)(p->t - start));
	return 1;
}

static const char *const posix_names[] = {
	"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print",
	"punct", "space", "upper", "word", "xdigit",
};

/* [:alpha:] or [:^alpha:] at p->t inside a class: copied; returns 1, 0 when
 * p->t is not one, -1 for an unknown name. */
static int posix_class(struct parse *p)
{
	if (p->t[0] != '[' || p->t[1] != ':')
		return 0;
	const char *end = strstr(p->t + 2, ":]");
	if (!end)
		return 0;
	const char *name = p->t + 2;
	if (*name == '^')
		name++;
	for (size_t i = 0; i < sizeof(posix_names) / sizeof(posix_names[0]); i++)
		if ((size_t)(end - name) == strlen(posix_names[i]) &&
		    strncmp(name, posix_names[i], (size_t)(end - name)) == 0) {
			strbuf_add(&p->out, p->t, (size_t)(end + 2 - p->t));
			p->t = end + 2;
			return 1;
		}
	return fail(p, "invalid character class range: `%.*s`", (int)(end + 2 - p->t), p->t);
}

static int class_char(struct parse *p, uint32_t *c)
{
	if (!*p->t)
		return fail(p, "missing closing ]: `%s`", p->pattern);
	if (*p->t == '\\')
		return parse_escape(p, c);
	return next_rune(p, c);
}

/* Go's parseClass: p->t is at '['. */
static int parse_class(struct parse *p)
{
	const char *start = p->t;
	p->t++;
	strbuf_puts(&p->out, "[");
	if (*p->t == '^') {
		strbuf_puts(&p->out, "^");
		p->t++;
	}
	for (bool first = true; first || *p->t != ']'; first = false) {
		if (!*p->t)
			return fail(p, "missing closing ]: `%s`", start);
		int r;
		if ((r = posix_class(p)) != 0 || (r = unicode_class(p)) != 0 ||
		    (r = perl_class(p, true)) != 0) {
			if (r < 0)
				return -1;
			continue;
		}
		const char *range = p->t;
		uint32_t lo, hi;
		if (class_char(p, &lo) < 0)
			return -1;
		hi = lo;
		if (p->t[0] == '-' && p->t[1] && p->t[1] != ']') {
			p->t++;
			if (class_char(p, &hi) < 0)
				return -1;
			if (hi < lo)
				return fail(p, "invalid character class range: `%.*s`",
					    (int)(p->t - range), range);
		}
		put_rune(&p->out, lo);
		if (hi != lo) {
			strbuf_puts(&p->out, "-");
			put_rune(&p->out, hi);
		}
	}
	p->t++;
	strbuf_puts(&p->out, "]");
	return 0;
}

/* Go's parseRepeat: {n}, {n,} or {n,m} at p->t. Returns 1 with the counts
 * (max -1 for none), 0 when it is not a repeat (then '{' is a literal). */
static int parse_repeat(const char *t, long *min, long *max, const char **after)
{
	if (*t++ != '{')
		return 0;
	char *end;
	if (*t < '0' || *t > '9')
		return 0;
	*min = strtol(t, &end, 10);
	if (end - t > 8)
		*min = 100000;	/* too big, whatever it is */
	t = end;
	*max = *min;
	if (*t == ',') {
		t++;
		if (*t == '}') {
			*max = -1;
		} else {
			if (*t < '0' || *t > '9')
				return 0;
			*max = strtol(t, &end, 10);
			if (end - t > 8)
				*max = 100000;
			t = end;
		}
	}
	if (*t != '}')
		return 0;
	*after = t + 1;
	return 1;
}

static void flush_flags(struct parse *p)
{
	strbuf_puts(&p->out, p->pending);
	p->pending[0] = '\0';
}

/* Go's parsePerlFlags: p->t is at "(?". */
static int perl_flags(struct parse *p, bool *opens)
{
	const char *start = p->t;
	if (p->t[2] == 'P' && p->t[3] == '<') {
		const char *end = strchr(p->t, '>');
		if (!end)
			return fail(p, "invalid named capture: `%s`", start);
		const char *name = p->t + 4;
		if (name == end)
			return fail(p, "invalid named capture: `%.*s`", (int)(end + 1 - start), start);
		for (const char *c = name; c < end; c++)
			if (!is_alnum(*c) && *c != '_')
				return fail(p, "invalid named capture: `%.*s`",
					    (int)(end + 1 - start), start);
		p->t = end + 1;
		flush_flags(p);
		strbuf_puts(&p->out, "(");	/* names do not matter to a match */
		*opens = true;
		return 0;
	}
	/* the flags set, then those cleared, each once: "(?is-mU" at most */
	const char *names = "imsU";
	bool on[4] = { false }, off[4] = { false }, neg = false, saw = false;
	for (p->t += 2; *p->t; p->t++) {
		char c = *p->t;
		const char *f = strchr(names, c);
		if (c && f) {
			(neg ? off : on)[f - names] = true;
			saw = true;
		} else if (c == '-') {
			if (neg)
				break;
			neg = true;
			saw = false;
		} else if (c == ':' || c == ')') {
			if (neg && !saw)
				break;
			p->t++;
			*opens = c == ':';
			char flags[12];
			size_t n = 0;
			for (int i = 0; i < 4; i++)
				if (on[i])
					flags[n++] = names[i];
			if (neg)
				flags[n++] = '-';
			for (int i = 0; i < 4; i++)
				if (off[i])
					flags[n++] = names[i];
			flags[n] = '\0';
			if (c == ':') {
				flush_flags(p);
				strbuf_puts(&p->out, "(?");
				strbuf_puts(&p->out, flags);
				strbuf_puts(&p->out, ":");
			} else if (n) {
				size_t at = strlen(p->pending);
				if (at + n + 4 > sizeof(p->pending))
					return fail(p, "too many flag groups in a row");
				snprintf(p->pending + at, sizeof(p->pending) - at, "(?%s)", flags);
			}
			return 0;
		} else {
			break;
		}
	}
	return fail(p, "invalid or unsupported Perl syntax: `%.*s`",
		    (int)(p->t - start + (*p->t ? 1 : 0)), start);
}

/* Checks and rewrites the whole pattern into p->out. */
static int translate(struct parse *p)
{
	bool atom = false;		/* something before that can repeat */
	bool last_repeat = false;	/* and it is itself a repetition */
	while (*p->t) {
		bool repeat = false;
		const char *before = p->t;
		if (!strchr("*+?{", *p->t) && strncmp(p->t, "(?", 2) != 0)
			flush_flags(p);
		switch (*p->t) {
		case '(':
			if (p->t[1] == '?') {
				bool opens = false;
				if (perl_flags(p, &opens) < 0)
					return -1;
				if (!opens) {	/* (?i): the state stays */
					repeat = last_repeat;
					break;
				}
			} else {
				strbuf_puts(&p->out, "(");
				p->t++;
			}
			atom = false;
			break;
		case '|':
			strbuf_puts(&p->out, "|");
			p->t++;
			atom = false;
			break;
		case ')': case '.':
			strbuf_add(&p->out, p->t, 1);
			p->t++;
			atom = true;
			break;
		case '^': case '$':	/* PCRE2 repeats no bare assertion */
			strbuf_puts(&p->out, "(?:");
			strbuf_add(&p->out, p->t, 1);
			strbuf_puts(&p->out, ")");
			p->t++;
			atom = true;
			break;
		case '[':
			if (parse_class(p) < 0)
				return -1;
			atom = true;
			break;
		case '*': case '+': case '?': case '{': {
			long min = 0, max = 0;
			const char *after = p->t + 1;
			if (*p->t == '{') {
				if (!parse_repeat(p->t, &min, &max, &after)) {
					strbuf_puts(&p->out, "\\{");	/* a literal */
					p->t++;
					atom = true;
					break;
				}
				if (min > 1000 || max > 1000 || (max >= 0 && min > max))
					return fail(p, "invalid repeat count: `%.*s`",
						    (int)(after - p->t), p->t);
			}
			if (*after == '?')
				after++;
			if (last_repeat)
				return fail(p, "invalid nested repetition operator: `%.*s`",
					    (int)(after - p->t), p->t);
			if (!atom)
				return fail(p, "missing argument to repetition operator: `%.*s`",
					    (int)(after - p->t), p->t);
			strbuf_add(&p->out, p->t, (size_t)(after - p->t));
			p->t = after;
			repeat = true;
			break;
		}
		case '\\': {
			char c = p->t[1];
			if (c == 'A' || c == 'b' || c == 'B' || c == 'z') {
				strbuf_puts(&p->out, "(?:");
				strbuf_add(&p->out, p->t, 2);
				strbuf_puts(&p->out, ")");
				p->t += 2;
				atom = true;
				break;
			}
			if (c == 'C')
				return fail(p, "invalid escape sequence: `\\C`");
			if (c == 'Q') {
				const char *lit = p->t + 2, *end = strstr(lit, "\\E");
				size_t n = end ? (size_t)(end - lit) : strlen(lit);
				p->t = lit + n + (end ? 2 : 0);
				if (n) {
					const char *save = p->t;
					p->t = lit;	/* checked as UTF-8 */
					while (p->t < lit + n) {
						uint32_t r;
						if (next_rune(p, &r) < 0)
							return -1;
						put_rune(&p->out, r);
					}
					p->t = save;
					atom = true;
				}
				break;
			}
			int r = unicode_class(p);
			if (r == 0)
				r = perl_class(p, false);
			if (r < 0)
				return -1;
			if (r == 0) {
				uint32_t ch;
				if (parse_escape(p, &ch) < 0)
					return -1;
				put_rune(&p->out, ch);
			}
			atom = true;
			break;
		}
		case '}':
			strbuf_puts(&p->out, "\\}");
			p->t++;
			atom = true;
			break;
		default: {
			uint32_t ch;
			if (next_rune(p, &ch) < 0)
				return -1;
			if (ch < 0x80)
				strbuf_add(&p->out, before, 1);
			else
				strbuf_add(&p->out, before, (size_t)(p->t - before));
			atom = true;
		}
		}
		last_repeat = repeat;
	}
	flush_flags(p);
	return 0;
}

struct regex *regex_compile(const char *pattern, char *msg, size_t msg_size)
{
	struct parse p = { pattern, pattern, msg, msg_size, { NULL, 0, 0, false }, "" };
	struct regex *re = NULL;

	if (translate(&p) < 0)
		goto out;
	strbuf_puts(&p.out, "");
	if (p.out.failed || !(re = calloc(1, sizeof(*re))) || !(re->pattern = strdup(pattern))) {
		snprintf(msg, msg_size, "%s", strerror(ENOMEM));
		goto out_free;
	}
	int err;
	PCRE2_SIZE off;
	re->code = pcre2_compile((PCRE2_SPTR)p.out.s, PCRE2_ZERO_TERMINATED,
				 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
				 PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
	if (!re->code) {
		PCRE2_UCHAR buf[256];
		pcre2_get_error_message(err, buf, sizeof(buf));
		snprintf(msg, msg_size, "%s", (const char *)buf);
		goto out_free;
	}
	/* no JIT: PCRE2 10.42's JIT gets \W wrong on non-ASCII text under
	 * PCRE2_MATCH_INVALID_UTF, and names are short */
	if (!(re->md = pcre2_match_data_create_from_pattern(re->code, NULL))) {
		snprintf(msg, msg_size, "%s", strerror(ENOMEM));
		goto out_free;
	}
	goto out;
out_free:
	regex_free(re);
	re = NULL;
out:
	free(p.out.s);
	return re;
}

int regex_match(struct regex *re, const char *s)
{
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, strlen(s), 0, 0, re->md, NULL);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_NOMEMORY)
		return -ENOMEM;
	return -E2BIG;
}

const char *regex_pattern(const struct regex *re)
{
	return re->pattern;
}

void regex_free(struct regex *re)
{
	if (!re)
		return;
	pcre2_match_data_free(re->md);
	pcre2_code_free(re->code);
	free(re->pattern);
	free(re);
}
