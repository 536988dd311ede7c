/* shell.h - command lines written so that a shell reads back the same
 * words: for the profile's "command:" comment and each process's
 * cmdline label, which a user pastes back into a terminal. */
#ifndef MEMPROF_SHELL_H
#define MEMPROF_SHELL_H

#include <stddef.h>

/* argv[0..argc) joined by single spaces, each word quoted only when it must
 * be: as is when made of letters, digits and _./:@%+,- (and = past its
 * first character); else in single quotes, a ' written as '\''; a word
 * holding control characters (a newline, a tab) as bash's $'...' so the
 * line stays one line; an empty word as ''. Returns a malloc'd string, or
 * NULL when out of memory. */
char *shell_join(const char *const *argv, size_t argc);

/* The same for a NUL-separated buffer as /proc/PID/cmdline holds it
 * (len bytes; the last word may lack its NUL). */
char *shell_join_nul(const char *buf, size_t len);

#endif
