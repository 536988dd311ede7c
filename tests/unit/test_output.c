/* test_output.c - output paths: what is refused, what is replaced, what is
 * written in place, and that a failed write leaves nothing behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "lib/output.h"

static const char payload[] = "\x1f\x8b not really a profile";
#define PAYLOAD_LEN (sizeof(payload) - 1)

/* Each test runs in a fresh directory under $TMPDIR (mode 0700, so not
 * sticky), which is its current directory until scratch_end. */
static char scratch[PATH_MAX];
static int saved_cwd = -1;

static void scratch_begin(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(scratch, sizeof(scratch), "%s/memprof-output.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!mkdtemp(scratch) || chdir(scratch) < 0) {
		CHECK(!"cannot make a scratch directory");
		scratch[0] = '\0';
	}
}

static void scratch_end(void)
{
	char cmd[PATH_MAX + 16];
	if (saved_cwd >= 0 && fchdir(saved_cwd) == 0 && scratch[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
		CHECK(system(cmd) == 0);
	}
	if (saved_cwd >= 0)
		close(saved_cwd);
	saved_cwd = -1;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* The whole file at path, NUL-terminated (at most size - 1 bytes). */
static size_t get(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* output_check refuses path with rc and a reason containing why, and
 * output_write refuses it too, creating nothing in the scratch directory. */
static void check_refused(const char *path, int rc, const char *why)
{
	char err[256];
	int before = entries(".");
	int got = output_check(path, NULL, err, sizeof(err));
	if (got != rc || !strstr(err, why)) {
		fprintf(stderr, "    '%s': got %d \"%s\", want %d \"%s\"\n", path, got, err, rc, why);
		harness_failures++;
	}
	CHECK(output_write(path, payload, PAYLOAD_LEN) == rc);
	CHECK(entries(".") == before);
}

static void check_kind(const char *path, enum output_kind kind, const char *resolved)
{
	struct output_target t;
	char err[256] = "";
	int rc = output_check(path, &t, err, sizeof(err));
	if (rc != 0 || t.kind != kind || (resolved && strcmp(t.path, resolved))) {
		fprintf(stderr, "    '%s': got %d kind %d path \"%s\" (%s), want kind %d path \"%s\"\n",
			path, rc, rc ? -1 : (int)t.kind, rc ? "" : t.path, err, (int)kind,
			resolved ? resolved : "");
		harness_failures++;
	}
}

static void test_refused(void)
{
	scratch_begin();
	mkdir("d", 0755);
	put("file", "x");
	check_refused("", -ENOENT, "empty path");
	check_refused(".", -EISDIR, "is a directory");
	check_refused("/", -EISDIR, "is a directory");
	check_refused("d", -EISDIR, "is a directory");
	check_refused("d/", -EISDIR, "is a directory");
	check_refused("d/..", -EISDIR, "is a directory");
	check_refused("new/", -EISDIR, "ends with '/'");
	check_refused("file/", -ENOTDIR, "not a directory");
	check_refused("file/x", -ENOTDIR, "cannot write here");
	check_refused("no/such/dir/x", -ENOENT, "cannot write here");
	symlink("loop", "loop");
	check_refused("loop", -ELOOP, "Too many levels");
	symlink("d", "dirlink");
	check_refused("dirlink", -EISDIR, "is a directory");

	struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "sock" };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	check_refused("sock", -ENXIO, "is a socket");
	close(s);

	if (geteuid() == 0 && mknod("blk", S_IFBLK | 0600, makedev(7, 200)) == 0)
		check_refused("blk", -EPERM, "is a block device");

	/* a descriptor that is not open, or not for writing */
	char path[64];
	int fd = open("file", O_RDONLY);
	snprintf(path, sizeof(path), "/dev/fd/%d", fd);
	check_refused(path, -EBADF, "not open for writing");
	close(fd);
	check_refused(path, -EBADF, "is not open");
	check_refused("/dev/fd/99999999999", -EBADF, "is not open");
	check_refused("/proc/self/fd/x", -EACCES, "no new files in /proc");
	scratch_end();
}

static void test_regular_file(void)
{
	char buf[256];
	struct stat a, b;
	scratch_begin();
	mode_t old = umask(022);
	check_kind("new.pb.gz", OUTPUT_FILE, "new.pb.gz");
	CHECK(output_write("new.pb.gz", payload, PAYLOAD_LEN) == 0);
	CHECK(get("new.pb.gz", buf, sizeof(buf)) == PAYLOAD_LEN && !memcmp(buf, payload, PAYLOAD_LEN));
	CHECK(stat("new.pb.gz", &a) == 0 && (a.st_mode & 07777) == 0644);

	/* replaced by rename: a new inode, the mode from the umask, no temporary */
	umask(027);
	put("old", "precious");
	CHECK(chmod("old", 0600) == 0 && stat("old", &a) == 0);
	CHECK(output_write("old", payload, PAYLOAD_LEN) == 0);
	CHECK(stat("old", &b) == 0 && a.st_ino != b.st_ino && (b.st_mode & 07777) == 0640);
	CHECK(get("old", buf, sizeof(buf)) == PAYLOAD_LEN);
	CHECK(entries(".") == 2);
	umask(old);

	/* paths are resolved as the kernel would: "..", absolute, "//" */
	mkdir("d", 0755);
	check_kind("d/../x", OUTPUT_FILE, "x");
	check_kind("./d//x", OUTPUT_FILE, "d/x");
	char abs[PATH_MAX + 8];
	snprintf(abs, sizeof(abs), "%s/d/x", scratch);
	check_kind(abs, OUTPUT_FILE, abs);
	scratch_end();
}

static void test_symlinks(void)
{
	char buf[256];
	scratch_begin();
	mkdir("d", 0755);
	put("d/target", "precious");
	/* a link to a regular file stands for its target: renamed over, link kept */
	symlink("d/target", "link");
	symlink("link", "link2");
	check_kind("link2", OUTPUT_FILE, "d/target");
	CHECK(output_write("link2", payload, PAYLOAD_LEN) == 0);
	struct stat st;
	CHECK(lstat("link", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(lstat("link2", &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(get("d/target", buf, sizeof(buf)) == PAYLOAD_LEN);
	CHECK(entries("d") == 1);
	/* a link in the middle, relative to its own directory */
	symlink("../d", "d/up");
	check_kind("d/up/new", OUTPUT_FILE, "d/new");
	/* a dangling link outside sticky directories creates its target */
	symlink("made", "d/dangling");
	check_kind("d/dangling", OUTPUT_FILE, "d/made");
	CHECK(output_write("d/dangling", payload, PAYLOAD_LEN) == 0);
	CHECK(get("d/made", buf, sizeof(buf)) == PAYLOAD_LEN);
	CHECK(lstat("d/dangling", &st) == 0 && S_ISLNK(st.st_mode));
	scratch_end();
}

/* protected_symlinks: in a sticky world-writable directory, only our own
 * links and the directory owner's are followed. */
static void test_sticky(void)
{
	char buf[256];
	scratch_begin();
	mkdir("t", 0755);
	CHECK(chmod("t", 01777) == 0);
	put("target", "precious");
	symlink("../target", "t/mine");
	check_kind("t/mine", OUTPUT_FILE, "target");
	symlink("../nowhere", "t/dangling");
	check_refused("t/dangling", -EACCES, "dangling symlink in a sticky directory");
	if (geteuid() == 0) {
		symlink("../target", "t/theirs");
		CHECK(lchown("t/theirs", 65534, 65534) == 0);
		check_refused("t/theirs", -EACCES, "owned by another user: not followed");
		mkdir("t/sub", 0755);
		symlink("sub", "t/theirdir");
		CHECK(lchown("t/theirdir", 65534, 65534) == 0);
		check_refused("t/theirdir/x", -EACCES, "goes through t/theirdir");
		CHECK(get("target", buf, sizeof(buf)) && !strcmp(buf, "precious"));
		/* the directory owner's links are followed */
		CHECK(chown("t", 65534, 65534) == 0);
		check_kind("t/theirs", OUTPUT_FILE, "target");
		/* a link that is ours, in a sticky directory that is not world-writable */
		CHECK(chmod("t", 01775) == 0 && chown("t", 0, 0) == 0);
		check_kind("t/theirs", OUTPUT_FILE, "target");
	}
	scratch_end();
}

static void test_in_place(void)
{
	char buf[256];
	struct stat st;
	scratch_begin();
	/* as root, private copies of /dev/null and /dev/full: a regression
	 * must not replace the system's */
	const char *null = "/dev/null", *full = "/dev/full";
	if (geteuid() == 0) {
		CHECK(mknod("null", S_IFCHR | 0666, makedev(1, 3)) == 0);
		CHECK(mknod("full", S_IFCHR | 0666, makedev(1, 7)) == 0);
		null = "null";
		full = "full";
	}
	check_kind(null, OUTPUT_DEVICE, null);
	CHECK(output_write(null, payload, PAYLOAD_LEN) == 0);
	CHECK(stat(null, &st) == 0 && S_ISCHR(st.st_mode));
	CHECK(output_write(full, payload, PAYLOAD_LEN) == -ENOSPC);
	CHECK(stat(full, &st) == 0 && S_ISCHR(st.st_mode));
	if (geteuid() == 0)
		CHECK(unlink("null") == 0 && unlink("full") == 0);

	/* a FIFO with a reader gets the bytes and stays a FIFO */
	CHECK(mkfifo("fifo", 0600) == 0);
	symlink("fifo", "fifolink");
	check_kind("fifolink", OUTPUT_FIFO, "fifo");
	int r = open("fifo", O_RDONLY | O_NONBLOCK);
	CHECK(r >= 0);
	CHECK(output_write("fifolink", payload, PAYLOAD_LEN) == 0);
	CHECK(read(r, buf, sizeof(buf)) == (ssize_t)PAYLOAD_LEN && !memcmp(buf, payload, PAYLOAD_LEN));
	close(r);
	CHECK(lstat("fifo", &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK(entries(".") == 2);
	scratch_end();
}

/* "-", /dev/stdout, /dev/fd/N: our descriptor, written where it stands. */
static void test_descriptors(void)
{
	char buf[256], path[64];
	int p[2];
	scratch_begin();
	CHECK(pipe2(p, O_NONBLOCK) == 0);	/* a failed check must not hang the reads */
	snprintf(path, sizeof(path), "/dev/fd/%d", p[1]);
	check_kind(path, OUTPUT_FD, NULL);
	CHECK(output_write(path, payload, PAYLOAD_LEN) == 0);
	CHECK(read(p[0], buf, sizeof(buf)) == (ssize_t)PAYLOAD_LEN);
	snprintf(path, sizeof(path), "/proc/thread-self/fd/%d", p[1]);
	check_kind(path, OUTPUT_FD, NULL);

	/* stdout a pipe, then a regular file that already holds the program's
	 * output: the profile follows it, in the same file */
	fflush(stdout);
	int saved = dup(1);
	CHECK(dup2(p[1], 1) == 1);
	struct output_target t;
	CHECK(output_check("-", &t, NULL, 0) == 0 && t.kind == OUTPUT_FD && t.fd == 1);
	CHECK(output_write("-", payload, PAYLOAD_LEN) == 0);
	CHECK(read(p[0], buf, sizeof(buf)) == (ssize_t)PAYLOAD_LEN);
	int f = open("out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct stat a, b;
	CHECK(f >= 0 && write(f, "hi\n", 3) == 3 && fstat(f, &a) == 0);
	CHECK(dup2(f, 1) == 1);
	close(f);
	/* /dev/stdout's own link, made here so a regression cannot replace it */
	CHECK(symlink("/proc/self/fd/1", "stdout") == 0);
	CHECK(output_write("stdout", payload, PAYLOAD_LEN) == 0);
	CHECK(dup2(saved, 1) == 1);
	close(saved);
	CHECK(stat("out", &b) == 0 && a.st_ino == b.st_ino);
	CHECK(lstat("stdout", &b) == 0 && S_ISLNK(b.st_mode));
	CHECK(get("out", buf, sizeof(buf)) == 3 + PAYLOAD_LEN && !memcmp(buf, "hi\n", 3) &&
	      !memcmp(buf + 3, payload, PAYLOAD_LEN));
	close(p[0]);
	close(p[1]);
	scratch_end();
}

/* A write that fails (the file size limit, as a full disk would) leaves the
 * old file as it was and no temporary file. */
static void test_failed_write(void)
{
	char buf[256];
	struct rlimit old, small = { 4, 4 };
	scratch_begin();
	put("keep", "precious");
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	small.rlim_max = old.rlim_max;
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	int rc = output_write("keep", payload, PAYLOAD_LEN);
	int rc2 = output_write("new", payload, PAYLOAD_LEN);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, oldsig);
	CHECK(rc == -EFBIG && rc2 == -EFBIG);
	CHECK(get("keep", buf, sizeof(buf)) && !strcmp(buf, "precious"));
	CHECK(entries(".") == 1);
	if (geteuid() != 0) {
		mkdir("ro", 0555);
		check_refused("ro/x", -EACCES, "cannot write here");
	}
	scratch_end();
}

const struct unit_test output_tests[] = {
	{ "output: refused paths", test_refused },
	{ "output: regular files replaced atomically, mode from the umask", test_regular_file },
	{ "output: symlinks stand for their targets", test_symlinks },
	{ "output: protected_symlinks in sticky directories", test_sticky },
	{ "output: devices and FIFOs written in place", test_in_place },
	{ "output: -, /dev/stdout and /dev/fd/N are our descriptors", test_descriptors },
	{ "output: a failed write leaves nothing behind", test_failed_write },
	{ NULL, NULL },
};
