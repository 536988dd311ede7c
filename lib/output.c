/* output.c - classifying an output path (see output.h for the rules) and
 * writing a profile there: atomically over a regular file or nothing, in
 * place to a device, a FIFO or one of our descriptors. */
#include "output.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* Symlinks followed before giving up, as the kernel's MAXSYMLINKS. */
#define OUTPUT_MAX_LINKS 40

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* Whether dir, a path with no symlink in it, is this process's descriptor
 * directory in procfs: /proc/PID/fd or /proc/PID/task/TID/fd. Its entries
 * are "magic" links whose text ("pipe:[123]", a deleted file) is no path
 * to follow: the descriptor itself is the output. */
static bool own_fd_dir(const char *dir)
{
	char want[32];
	int n = snprintf(want, sizeof(want), "/proc/%d/", (int)getpid());
	if (strncmp(dir, want, (size_t)n))
		return false;
	const char *p = dir + n;
	if (!strncmp(p, "task/", 5)) {
		p += 5;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p++ != '/')
			return false;
	}
	struct statfs sf;
	return !strcmp(p, "fd") && statfs("/proc", &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

/* Our descriptor fd: written where it stands, as `>` redirection users
 * expect (after what the program wrote there, at the end with `>>`). */
static int check_fd(int fd, struct output_target *t, char *err, size_t errlen)
{
	static const char *names[] = { "stdin", "stdout", "stderr" };
	char name[32];
	if (fd <= 2)
		snprintf(name, sizeof(name), "%s", names[fd]);
	else
		snprintf(name, sizeof(name), "descriptor %d", fd);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return fail(err, errlen, -EBADF, "%s is not open", name);
	if ((fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH))
		return fail(err, errlen, -EBADF, "%s is not open for writing", name);
	t->kind = OUTPUT_FD;
	t->fd = fd;
	t->path[0] = '\0';
	return 0;
}

/* A regular file or nothing at path, in dir: replaced by rename, so dir must
 * let us create and rename. st is the existing file's, or NULL. */
static int check_file(const char *dir, const char *path, const struct stat *st,
		      struct output_target *t, char *err, size_t errlen)
{
	struct statfs sf;
	struct stat dst;
	if (statfs(dir, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC)
		return fail(err, errlen, -EACCES, "cannot write here: no new files in /proc");
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0 || stat(dir, &dst) < 0)
		return fail(err, errlen, -errno, "cannot write here: %s", strerror(errno));
	/* rename over another user's file in a sticky directory fails (EPERM);
	 * say so now rather than after the program has run */
	if (st && (dst.st_mode & S_ISVTX) && geteuid() != 0 && st->st_uid != geteuid() &&
	    dst.st_uid != geteuid())
		return fail(err, errlen, -EPERM,
			    "cannot replace another user's file in a sticky directory");
	t->kind = OUTPUT_FILE;
	t->fd = -1;
	snprintf(t->path, sizeof(t->path), "%s", path);
	return 0;
}

/* What exists at path (no symlink in it, lstat'ed into st). */
static int check_existing(const char *dir, const char *path, const struct stat *st,
			  bool want_dir, struct output_target *t, char *err, size_t errlen)
{
	if (S_ISDIR(st->st_mode))
		return fail(err, errlen, -EISDIR, "is a directory");
	if (want_dir)
		return fail(err, errlen, -ENOTDIR, "is not a directory (the path ends with '/')");
	if (S_ISREG(st->st_mode))
		return check_file(dir, path, st, t, err, errlen);
	if (S_ISSOCK(st->st_mode))
		return fail(err, errlen, -ENXIO, "is a socket: a profile cannot be written to it");
	if (S_ISBLK(st->st_mode))
		return fail(err, errlen, -EPERM, "is a block device: refusing to write a profile over it");
	if (!S_ISCHR(st->st_mode) && !S_ISFIFO(st->st_mode))
		return fail(err, errlen, -EPERM, "is not a file memprof can write");
	if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) < 0)
		return fail(err, errlen, -errno, "%s", strerror(errno));
	t->kind = S_ISCHR(st->st_mode) ? OUTPUT_DEVICE : OUTPUT_FIFO;
	t->fd = -1;
	snprintf(t->path, sizeof(t->path), "%s", path);
	return 0;
}

/* "a/b" + "c": "a/b/c"; "" is the current directory, "/" the root. */
static int join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s%s%s", dir, *dir && strcmp(dir, "/") ? "/" : "", name);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* res ("" = current directory) up one level: lexical, which is right since
 * every component of res is a directory, not a symlink. */
static int parent(char *res)
{
	if (!strcmp(res, "/"))
		return 0;
	size_t n = strlen(res);
	if (!n || !strcmp(res, "..") || (n >= 3 && !strcmp(res + n - 3, "/.."))) {
		const char *up = n ? "/.." : "..";
		if (n + strlen(up) >= PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(res + n, up, strlen(up) + 1);
		return 0;
	}
	char *slash = strrchr(res, '/');
	if (!slash)
		res[0] = '\0';
	else if (slash == res)
		res[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

/* The kernel's protected_symlinks rule (fs/namei.c may_follow_link): a link
 * in a sticky world-writable directory is followed only when it is ours or
 * the directory owner's. */
static bool may_follow(const struct stat *dir, const struct stat *link)
{
	if ((dir->st_mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH))
		return true;
	return link->st_uid == geteuid() || link->st_uid == dir->st_uid;
}

/* Walks path a component at a time, as the kernel would, following
 * symlinks only where may_follow allows, until it names our descriptor,
 * something that exists, or the file a write would create. */
static int resolve(const char *path, struct output_target *t, char *err, size_t errlen)
{
	char res[PATH_MAX], rest[PATH_MAX], cand[PATH_MAX], tmp[PATH_MAX];
	size_t plen = strlen(path);
	bool want_dir = path[plen - 1] == '/';
	bool dangling_sticky = false;	/* the last component came from a link in a sticky dir */
	int links = 0;

	if (plen >= sizeof(rest))
		return fail(err, errlen, -ENAMETOOLONG, "%s", strerror(ENAMETOOLONG));
	memcpy(rest, path, plen + 1);
	snprintf(res, sizeof(res), "%s", path[0] == '/' ? "/" : "");
	for (;;) {
		char *p = rest;
		while (*p == '/')
			p++;
		if (!*p)	/* ended on "/", "." or "..": a directory */
			return fail(err, errlen, -EISDIR, "is a directory");
		char *e = strchr(p, '/');
		char *next = e ? e : p + strlen(p);
		while (*next == '/')
			next++;
		bool last = !*next;
		if (e)
			*e = '\0';
		const char *name = p;
		if (!strcmp(name, ".") || !strcmp(name, "..")) {
			if (name[1] && parent(res) < 0)
				return fail(err, errlen, -ENAMETOOLONG, "%s", strerror(ENAMETOOLONG));
			memmove(rest, next, strlen(next) + 1);
			continue;
		}
		if (join(cand, res, name) < 0)
			return fail(err, errlen, -ENAMETOOLONG, "%s", strerror(ENAMETOOLONG));
		const char *dir = *res ? res : ".";
		if (all_digits(name) && own_fd_dir(res)) {
			if (!last)
				return fail(err, errlen, -ENOTDIR, "%s is a descriptor, not a directory",
					    cand);
			long fd = strtol(name, NULL, 10);
			if (fd > INT_MAX)
				return fail(err, errlen, -EBADF, "descriptor %s is not open", name);
			return check_fd((int)fd, t, err, errlen);
		}
		struct stat st, dst;
		if (lstat(cand, &st) < 0) {
			int e2 = errno;
			if (e2 != ENOENT || !last)
				return fail(err, errlen, -e2, "cannot write here: %s", strerror(e2));
			if (dangling_sticky)
				return fail(err, errlen, -EACCES,
					    "is a dangling symlink in a sticky directory: not followed");
			if (want_dir)
				return fail(err, errlen, -EISDIR,
					    "names a directory (ends with '/') that does not exist");
			return check_file(dir, cand, NULL, t, err, errlen);
		}
		if (S_ISLNK(st.st_mode)) {
			if (stat(dir, &dst) < 0)
				return fail(err, errlen, -errno, "cannot write here: %s", strerror(errno));
			if (!may_follow(&dst, &st)) {
				if (last && !links)
					return fail(err, errlen, -EACCES, "is a symlink in a sticky "
						    "world-writable directory, owned by another user: "
						    "not followed");
				return fail(err, errlen, -EACCES, "goes through %s, a symlink in a "
					    "sticky world-writable directory, owned by another user: "
					    "not followed", cand);
			}
			if (++links > OUTPUT_MAX_LINKS)
				return fail(err, errlen, -ELOOP, "%s", strerror(ELOOP));
			ssize_t n = readlink(cand, tmp, sizeof(tmp));
			if (n < 0)
				return fail(err, errlen, -errno, "%s", strerror(errno));
			if (n == 0 || (size_t)n >= sizeof(tmp))
				return fail(err, errlen, n ? -ENAMETOOLONG : -ENOENT, "%s",
					    strerror(n ? ENAMETOOLONG : ENOENT));
			tmp[n] = '\0';
			if (last) {
				dangling_sticky |= (dst.st_mode & S_ISVTX) != 0;
				want_dir |= tmp[n - 1] == '/';
			}
			if (tmp[0] == '/')
				snprintf(res, sizeof(res), "/");
			/* rest becomes the link's text, then what followed the link */
			size_t tl = (size_t)n, nl = strlen(next);
			if (tl + 1 + nl >= sizeof(rest))
				return fail(err, errlen, -ENAMETOOLONG, "%s", strerror(ENAMETOOLONG));
			memmove(rest + tl + 1, next, nl + 1);
			memcpy(rest, tmp, tl);
			rest[tl] = '/';
			continue;
		}
		if (last)
			return check_existing(dir, cand, &st, want_dir, t, err, errlen);
		if (!S_ISDIR(st.st_mode))
			return fail(err, errlen, -ENOTDIR, "cannot write here: %s", strerror(ENOTDIR));
		memcpy(res, cand, strlen(cand) + 1);
		memmove(rest, next, strlen(next) + 1);
	}
}

int output_check(const char *path, struct output_target *t, char *err, size_t errlen)
{
	struct output_target scratch;
	if (!t)
		t = &scratch;
	if (errlen)
		err[0] = '\0';
	if (!*path)
		return fail(err, errlen, -ENOENT, "an empty path names no file");
	if (!strcmp(path, "-"))
		return check_fd(1, t, err, errlen);
	return resolve(path, t, err, errlen);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *d = data;
	while (len) {
		ssize_t w = write(fd, d, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		d += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The process umask, read without setting it (umask(2) cannot only read,
 * and setting it for a moment would race with other threads' creat). */
static mode_t current_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned int mask;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &mask) == 1) {
			fclose(f);
			return (mode_t)mask;
		}
	if (f)
		fclose(f);
	mode_t m = umask(0);
	umask(m);
	return m;
}

/* Opens the FIFO at path for writing once a reader has it open. Polls
 * (O_NONBLOCK fails with ENXIO until then) rather than block in open, so
 * that a signal memprof handles, such as Ctrl-C once the program has ended,
 * ends the wait: nanosleep is never restarted. Returns the descriptor, in
 * blocking mode, or a negative errno (-EINTR for that signal). */
static int open_fifo(const char *path)
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };
	for (;;) {
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			int fl = fcntl(fd, F_GETFL);
			if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
				int e = errno;
				close(fd);
				return -e;
			}
			return fd;
		}
		if (errno != ENXIO)
			return -errno;
		if (nanosleep(&tick, NULL) < 0)
			return -errno;
	}
}

/* A device or FIFO at path, as checked: opened without O_CREAT or O_TRUNC
 * and without following a symlink someone put there since. */
static int write_in_place(const struct output_target *t, const void *data, size_t len)
{
	int fd = t->kind == OUTPUT_FIFO ? open_fifo(t->path)
		 : open(t->path, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return t->kind == OUTPUT_FIFO ? fd : -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (t->kind == OUTPUT_DEVICE ? !S_ISCHR(st.st_mode) : !S_ISFIFO(st.st_mode))
		rc = -EAGAIN;	/* replaced since the check; nothing written */
	if (rc == 0)
		rc = write_all(fd, data, len);
	if (close(fd) < 0 && rc == 0 && errno != EINTR)
		rc = -errno;
	return rc;
}

/* A regular file or nothing at path: a private temporary file beside it,
 * renamed over it once complete. */
static int write_replace(const char *path, const void *data, size_t len)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof(".tmp.XXXXXX"));
	if (!tmp)
		return -ENOMEM;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", sizeof(".tmp.XXXXXX"));
	int rc = 0, fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	/* as readable as any file the user creates, not mkostemp's 0600 */
	if (rc == 0 && fchmod(fd, 0666 & ~current_umask()) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
out_free:
	free(tmp);
	return rc;
}

int output_write(const char *path, const void *data, size_t len)
{
	struct output_target t;
	int rc = output_check(path, &t, NULL, 0);
	if (rc < 0)
		return rc;
	switch (t.kind) {
	case OUTPUT_FD:
		return write_all(t.fd, data, len);
	case OUTPUT_DEVICE:
	case OUTPUT_FIFO:
		return write_in_place(&t, data, len);
	case OUTPUT_FILE:
		break;
	}
	return write_replace(t.path, data, len);
}
