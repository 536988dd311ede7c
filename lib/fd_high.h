/* fd_high.h - where memprof's descriptors go in a profiled program: as
 * high as the soft RLIMIT_NOFILE allows, never 0-2, and never a number the
 * program would have had. Shared by memprof run (the socket it hands down)
 * and the tracker (a recording file). Header-only: the tracker links
 * nothing of lib/. */
#ifndef MEMPROF_FD_HIGH_H
#define MEMPROF_FD_HIGH_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <unistd.h>

/* Moves fd to the highest free descriptor below the soft RLIMIT_NOFILE
 * that is above 2 and above fd itself (fd is then free again for the
 * program). Returns the new descriptor, close-on-exec as asked, or -1 when
 * there is none (fd is closed either way). */
static inline int fd_move_high(int fd, bool cloexec)
{
	struct rlimit rl;
	long top = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536 : (long)rl.rlim_cur;
	for (long n = top - 1; n > 2 && n > fd; n--) {
		if (fcntl((int)n, F_GETFD) >= 0 || errno != EBADF)
			continue;	/* taken */
		int nfd = fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, (int)n);
		if (nfd < 0)
			break;
		close(fd);
		return nfd;
	}
	close(fd);
	return -1;
}

#endif
