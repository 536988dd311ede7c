/* regex.h - regular expressions in RE2's dialect, as go tool pprof reads
 * them (Go's regexp package: -focus, -ignore, list's REGEX, ...), matched
 * with PCRE2. */
#ifndef MEMPROF_REGEX_H
#define MEMPROF_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct regex;

/* Compiles pattern as Go's regexp.Compile does: RE2's syntax (Perl
 * classes \d \w \s \b, (?i) (?s) (?m) (?U) flags, \Q...\E, \pL and
 * \p{Greek}, [[:alpha:]], octal and \x{...} escapes); what RE2 refuses
 * (backreferences, lookaround, atomic groups, possessive or nested
 * repetition, counts over 1000, escapes it does not know) is refused too.
 * $ matches only at the end of the text and ^ at its start unless (?m)
 * says otherwise; UTF-8 text is matched by code point. Returns the regex
 * (free with regex_free), or NULL with one line in msg saying why
 * (-ENOMEM's message when out of memory). */
struct regex *regex_compile(const char *pattern, char *msg, size_t msg_size);

/* Whether re matches somewhere in s (Go's MatchString). Returns 1 or 0, or
 * a negative errno when the match could not be completed (-ENOMEM, or
 * -E2BIG when PCRE2's backtracking limit was hit). Not thread-safe: a
 * regex has one match buffer. */
int regex_match(struct regex *re, const char *s);

/* The pattern as given to regex_compile. */
const char *regex_pattern(const struct regex *re);

void regex_free(struct regex *re);

#endif
