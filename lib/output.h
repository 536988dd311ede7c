/* output.h - where a profile may be written, and writing it there without
 * harming whatever the path names: a device, a FIFO, a symlink, stdout. */
#ifndef MEMPROF_OUTPUT_H
#define MEMPROF_OUTPUT_H

#include <limits.h>
#include <stddef.h>

/* How a path is written; output_check decides, output_write does it. */
enum output_kind {
	OUTPUT_FILE,	/* a regular file or nothing: temporary file, then rename */
	OUTPUT_DEVICE,	/* a character device: opened without O_CREAT/O_TRUNC */
	OUTPUT_FIFO,	/* a FIFO: opened likewise, waiting for a reader */
	OUTPUT_FD,	/* "-", /dev/stdout, /dev/fd/N: our own descriptor N */
};

struct output_target {
	enum output_kind kind;
	int fd;			/* OUTPUT_FD: the descriptor */
	char path[PATH_MAX];	/* otherwise: path with every symlink resolved */
};

/* Decides how path can be written without harming what is there:
 *   ""                   refused (-ENOENT)
 *   "-"                  descriptor 1, which must be open for writing
 *   /dev/stdout, /dev/fd/N, /proc/self/fd/N (any path that resolves to
 *                        this process's /proc/PID/fd/N): descriptor N
 *   nothing or a regular file: OUTPUT_FILE; its directory must be writable
 *   a character device, a FIFO: written in place, if writable
 *   a directory, a socket, a block device: refused
 * Symlinks, at the end of the path or in the middle, are followed as the
 * kernel's protected_symlinks rule allows whatever the sysctl says: not in a
 * sticky world-writable directory unless the link's owner is us or that
 * directory's owner (-EACCES). A link to a regular file stands for its
 * target; a dangling link stands for the file it would create, except in
 * a sticky directory (-EACCES). Fills *t when t is not NULL. Returns 0, or
 * a negative errno with a reason in err (no path, no trailing period, e.g.
 * "is a directory"). Touches nothing: a FIFO is not opened. */
int output_check(const char *path, struct output_target *t, char *err, size_t errlen);

/* Writes len bytes of data to path as output_check decides at this moment
 * (so a path that changed since it was checked is judged again, never
 * written the old way): OUTPUT_FILE goes to "<path>.tmp.XXXXXX" (mkostemp:
 * O_EXCL, 0600) beside the resolved target, is fsync'ed, given the mode
 * 0666 & ~umask and renamed over it, so readers never see part of it and
 * the link, if any, stays; the others are written in place (a FIFO waits
 * for a reader, as `cat > fifo` does, until a handled signal interrupts the
 * wait: -EINTR). Returns 0 or a negative errno; no temporary file is left
 * behind either way. */
int output_write(const char *path, const void *data, size_t len);

#endif
