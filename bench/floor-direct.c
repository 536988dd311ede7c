/* floor-direct.c - the true interposition floor: malloc and free tail-call
 * glibc's exported __libc_malloc and __libc_free (a jump and the PLT's, 2
 * instructions a call), with no pointer to test. Only valid where glibc's
 * allocator is the one underneath; bench/run measures memprof against it. */
#include <stddef.h>

void *__libc_malloc(size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
	return __libc_malloc(n);
}

void free(void *p)
{
	__libc_free(p);
}
