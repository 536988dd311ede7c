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

static inline bool fd_is_free(long n)
{
	return fcntl((int)n, F_GETFD) < 0 && errno == EBADF;
}

/* Moves fd to the highest free descriptor below the soft RLIMIT_NOFILE
 * (fd itself stays where it is if it is that high already), never 0-2, and
 * only if a lower number above 2 stays free for the program: it keeps the
 * next number it would have had. Returns the descriptor, close-on-exec as
 * asked, or -1 when there is no such place (fd is closed then). */
static inline int fd_move_high(int fd, bool cloexec)
{
	struct rlimit rl;
	long top = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536 : (long)rl.rlim_cur;
	for (long n = top - 1; n > 2; n--) {
		if (n == fd) {
			/* already at the top: stay, if the program has a number below */
			long k = 3;
			while (k < fd && !fd_is_free(k))
				k++;
			if (k == fd)
				break;
			if (fcntl(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0) < 0)
				break;
			return fd;
		}
		if (!fd_is_free(n))
			continue;
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
