/* originals.h - the functions the tracker interposes, as the next object
 * in the lookup order (glibc, or the program's own allocator) defines them:
 * one table, resolved at once. */
#ifndef MEMPROF_ORIGINALS_H
#define MEMPROF_ORIGINALS_H

#include <stdbool.h>
#include <stddef.h>

struct dl_phdr_info;

#pragma GCC visibility push(hidden)

struct originals {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void *(*dlopen)(const char *, int);
	int (*dlclose)(void *);
	int (*dl_iterate_phdr)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
	int (*pipe2)(int[2], int);
	void (*exit_)(int) __attribute__((noreturn));
	void (*quick_exit)(int) __attribute__((noreturn));
	void (*abort)(void) __attribute__((noreturn));
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
};

/* Filled in by originals_resolve(); until then malloc and free point at
 * functions that resolve first. Written once, before the program's threads
 * can see the tracker (the first allocation or the constructor). */
extern struct originals real;

/* Resolves the whole table (idempotent). dlsym may allocate meanwhile: that
 * is served from a static pool. */
void originals_resolve(void);

/* Allocation while resolving: a static pool whose blocks are never freed. */
extern bool originals_resolving;
void *boot_alloc(size_t size, size_t align);
extern char boot_pool[64 * 1024];

static inline bool is_boot_block(const void *p)
{
	return (const char *)p >= boot_pool && (const char *)p < boot_pool + sizeof(boot_pool);
}
size_t boot_room(const void *p);	/* bytes from p to the end of the pool */

#pragma GCC visibility pop

#endif
