/* faultmalloc.c - fault injection for the end-to-end tests: an LD_PRELOAD
 * that makes the FAULT_AT-th allocation (malloc, calloc, realloc) fail with
 * ENOMEM, once; with FAULT_COUNT set it prints, at exit, how many
 * allocations the program made. Not for sanitizer builds (their runtime
 * must come first). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

static long count, at;

__attribute__((constructor)) static void init(void)
{
	const char *s = getenv("FAULT_AT");
	at = s ? atol(s) : 0;
	count = 0;
}

__attribute__((destructor)) static void fini(void)
{
	if (getenv("FAULT_COUNT")) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%ld\n", count);
		(void)!write(2, buf, (size_t)n);
	}
}

static int fail(void)
{
	if (++count == at) {
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

void *malloc(size_t n)
{
	return fail() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	return fail() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	return fail() ? NULL : __libc_realloc(p, n);
}
