/* hooks.c - the functions libmemprof.so interposes: the malloc family
 * (fast paths here, inline), and the few process events the recording file
 * must flush for (exec, _exit, quick_exit, abort). dlopen is a tail call to
 * the real one, so the loader sees the program as the caller (its RUNPATH
 * and $ORIGIN); module changes are found by the sampler. */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lifecycle.h"
#include "modules.h"
#include "originals.h"
#include "sampler.h"
#include "tables.h"
#include "tracker.h"
#include "unwind.h"

static inline void *on_alloc(void *p, size_t size)
{
	if (countdown_expired(size))
		return sample_slow(p, size);
	return p;
}

#if defined(__x86_64__)
/* The slow path of malloc, entered through memprof_malloc_slow
 * (stack_switch.S), which saves the program's registers as they are at
 * malloc's return address: the unwinder starts in the program's frame
 * instead of walking the tracker's own. */
void *memprof_malloc_slow(size_t size);
__attribute__((used)) void *memprof_malloc_slow_from(size_t size, const struct unwind_regs *from);
void *memprof_malloc_slow_from(size_t size, const struct unwind_regs *from)
{
	return sample_slow_from(real.malloc(size), size, from);
}
#define malloc_slow memprof_malloc_slow
#else
static __attribute__((noinline)) void *malloc_slow(size_t size)
{
	return sample_slow(real.malloc(size), size);
}
#endif

/* This runs on every malloc: both calls are tail calls, the fast path has
 * no frame. */
EXPORT void *malloc(size_t size)
{
	if (countdown_expired(size))
		return malloc_slow(size);
	return real.malloc(size);
}

/* This runs on every free: one load of the filter byte and a branch. */
EXPORT void free(void *p)
{
	if (unlikely(filter_maybe(p))) {
		if (!p || is_boot_block(p))
			return;
		free_slow(p);
	}
	real.free(p);	/* free(NULL) is the allocator's business: a no-op */
}

EXPORT void *calloc(size_t n, size_t size)
{
	if (unlikely(!real.calloc)) {
		if (originals_resolving) {
			if (size && n > SIZE_MAX / size)
				return NULL;
			return boot_alloc(n * size, 16);
		}
		originals_resolve();
	}
	void *p = real.calloc(n, size);
	return p ? on_alloc(p, n * size) : NULL;
}

EXPORT void *realloc(void *old, size_t size)
{
	if (unlikely(!real.realloc))
		originals_resolve();
	if (unlikely(old && is_boot_block(old))) {
		size_t room = boot_room(old);
		void *p = malloc(size);
		if (p)
			memcpy(p, old, size < room ? size : room);
		return p;
	}
	void *p = old && unlikely(filter_maybe(old)) ? realloc_sampled(old, size)
						      : real.realloc(old, size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, n * size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (unlikely(!real.posix_memalign))
		originals_resolve();
	int rc = real.posix_memalign(out, align, size);
	if (rc == 0)
		on_alloc(*out, size);
	return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (unlikely(!real.aligned_alloc))
		originals_resolve();
	void *p = real.aligned_alloc(align, size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *memalign(size_t align, size_t size)
{
	if (unlikely(!real.memalign)) {
		if (originals_resolving)
			return boot_alloc(size, align < 16 ? 16 : align);
		originals_resolve();
	}
	void *p = real.memalign(align, size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *valloc(size_t size)
{
	if (unlikely(!real.valloc))
		originals_resolve();
	void *p = real.valloc(size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *pvalloc(size_t size)
{
	if (unlikely(!real.pvalloc))
		originals_resolve();
	void *p = real.pvalloc(size);
	return p ? on_alloc(p, size) : NULL;
}

/* ---- dlopen: a tail call ------------------------------------------------------ */

/* glibc resolves RUNPATH and $ORIGIN against the object that called dlopen
 * (its return address): a tail call leaves that the program's. The
 * optimize attribute keeps the sibling call in a -O0 build. */
__attribute__((optimize("optimize-sibling-calls")))
EXPORT void *dlopen(const char *file, int mode)
{
	if (unlikely(!real.dlopen))
		originals_resolve();
	if (unlikely(mode & RTLD_DEEPBIND))
		sampler_note_deepbind(file);
	return real.dlopen(file, mode);
}

/* dlclose: the segments of what it unloads must no longer be read by the
 * unwinder (sampler.c reads loaded objects directly): the copy of the
 * loader's list is marked stale before the real call, and after it marked
 * again (a copy made meanwhile may still hold what it unloads) and made
 * anew, here, in the program's own call to the loader (see "the loader's
 * lock" in stream.h). */
EXPORT int dlclose(void *handle)
{
	if (unlikely(!real.dlclose))
		originals_resolve();
	modules_going();
	int r = real.dlclose(handle);
	modules_after_dlclose();	/* copied anew here, not by the next sample */
	return r;
}

/* dl_iterate_phdr: the program's calls go to the loader as they would
 * without memprof. While the tracker walks a stack with its lock held,
 * libunwind's calls (and any a signal handler makes meanwhile) are served
 * from the tracker's copy of the loader's list, so that the tracker never
 * waits for the loader's lock while holding its own (stream.h). */
EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
	if (unlikely(ts.in_walk))
		return modules_iterate(cb, data);
	if (unlikely(!real.dl_iterate_phdr))
		originals_resolve();
	int r = real.dl_iterate_phdr(cb, data);
	modules_loader_ok();	/* its lock works here (a forked child) */
	return r;
}

/* libunwind keeps a pipe for good (it checks that memory is readable by
 * writing from it): its two ends are moved to the top of the descriptor
 * range, out of the program's way, or refused when there is no room there
 * (libunwind then stops at a frame it cannot check). */
EXPORT int pipe2(int fds[2], int flags)
{
	if (unlikely(!real.pipe2))
		originals_resolve();
	if (unlikely(lifecycle_is_unwinder((uintptr_t)__builtin_return_address(0))))
		return lifecycle_unwinder_pipe(fds, flags);
	return real.pipe2(fds, flags);
}

/* ---- the end of an image ---------------------------------------------------------- */

EXPORT void _exit(int status)
{
	lifecycle_end();
	if (unlikely(!real.exit_))
		originals_resolve();
	real.exit_(status);
}

EXPORT void _Exit(int status)
{
	_exit(status);
}

EXPORT void quick_exit(int status)
{
	lifecycle_end();
	if (unlikely(!real.quick_exit))
		originals_resolve();
	real.quick_exit(status);
}

EXPORT void abort(void)
{
	lifecycle_end();
	if (unlikely(!real.abort))
		originals_resolve();
	real.abort();
}

/* ---- exec ---------------------------------------------------------------------- */

/* exec replaces the image (the new one, with LD_PRELOAD and MEMPROF_*
 * inherited, starts a new incarnation of the same pid); if it fails, the
 * image goes on. Nothing here allocates: a vfork child runs it. */
#define EXEC_WRAP(call)                     \
	do {                                \
		if (unlikely(!real.execve)) \
			originals_resolve(); \
		lifecycle_exec_begin();     \
		int rc_ = (call);           \
		int e_ = errno;             \
		lifecycle_exec_failed();    \
		errno = e_;                 \
		return rc_;                 \
	} while (0)

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_WRAP(real.execve(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
	extern char **environ;
	EXEC_WRAP(real.execve(path, argv, environ));
}

EXPORT int execvp(const char *file, char *const argv[])
{
	EXEC_WRAP(real.execvp(file, argv));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_WRAP(real.execvpe(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_WRAP(real.fexecve(fd, argv, envp));
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		    int flags)
{
	EXEC_WRAP(real.execveat(dirfd, path, argv, envp, flags));
}

/* The execl family builds an argv without the heap: on the stack for up to
 * 256 arguments (glibc's own limit is the stack too), else in a mapping. */
#define ARGS_ON_STACK 256

static size_t count_args(va_list ap)
{
	size_t n = 1;
	va_list c;
	va_copy(c, ap);
	while (va_arg(c, char *))
		n++;
	va_end(c);
	return n;
}

static char **args_room(char **stack, size_t n, size_t *mapped)
{
	*mapped = 0;
	if (n + 1 <= ARGS_ON_STACK)
		return stack;
	size_t bytes = (n + 1) * sizeof(char *);
	char **a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		errno = E2BIG;
		return NULL;
	}
	*mapped = bytes;
	return a;
}

enum execl_kind { EXECL, EXECLP, EXECLE };

static int execl_common(enum execl_kind kind, const char *path, const char *arg, va_list ap)
{
	char *stack[ARGS_ON_STACK];
	size_t mapped, n = count_args(ap);
	char **argv = args_room(stack, n, &mapped);
	if (!argv)
		return -1;
	argv[0] = (char *)arg;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, char *);	/* the last one read is the NULL */
	int rc;
	if (kind == EXECLE) {
		char **envp = va_arg(ap, char **);
		rc = execve(path, argv, envp);
	} else if (kind == EXECLP) {
		rc = execvp(path, argv);
	} else {
		rc = execv(path, argv);
	}
	int e = errno;
	if (mapped)
		munmap(argv, mapped);
	errno = e;
	return rc;
}

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = execl_common(EXECL, path, arg, ap);
	va_end(ap);
	return rc;
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = execl_common(EXECLP, file, arg, ap);
	va_end(ap);
	return rc;
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = execl_common(EXECLE, path, arg, ap);
	va_end(ap);
	return rc;
}
