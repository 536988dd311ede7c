#!/bin/bash
# -o: what memprof writes where (docs/reliability.md "Output files"). A
# regular file or nothing is replaced atomically; devices, FIFOs and stdout
# are written in place; symlinks are followed as protected_symlinks would;
# anything else is refused before the program starts.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
cd "$TRASH"
$CC -g -O2 -o known $F/known.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

# refused_before_run OUT PATTERN [run|convert]: memprof exits 1 with one line
# naming OUT and matching PATTERN, and the program never ran.
refused_before_run() {
	rm -f marker err
	test_expect_code 1 $MEMPROF run -o "$1" sh -c 'touch marker; echo hi' > /dev/null 2> err &&
	test_one_line_error err "^memprof: ${3:-$1}: $2" && test ! -e marker
}

# As root, a memprof that replaced what -o names would replace the system's
# /dev/null and /dev/stdout: private copies are tried first, the real ones
# only when those came through.
test_expect_success "-o /dev/null leaves /dev/null a character device" '
	if [ "$(id -u)" = 0 ]; then
		mknod null c 1 3 && chmod 666 null &&
		$MEMPROF run -q --rate 1 -o null ./known > out && test -c null
	fi &&
	$MEMPROF run -q --rate 1 -o /dev/null ./known > out &&
	test "$(stat -c %F /dev/null)" = "character special file" &&
	test -c /dev/null && test "$(cat out)" = "kept 350 blocks"
'
if [ "$(id -u)" != 0 ]; then
	test_skip "-o /dev/null as root" "not root: rename over /dev/null was never possible"
fi

test_expect_success "-o - writes the profile to stdout" '
	$MEMPROF run -q --rate 1 -o - sh -c "exec ./known >&2" > prof.gz 2> err &&
	grep -q "^kept 350 blocks\$" err &&
	go tool pprof -top prof.gz > top 2>&1 && grep -q site_large top
'
test_expect_success "-o -: the program shares stdout, its output comes first" '
	$MEMPROF run -q --rate 1 -o - ./known > both &&
	test "$(head -n 1 both)" = "kept 350 blocks" && n=$(head -n 1 both | wc -c) &&
	tail -c +$((n + 1)) both > prof.gz && go tool pprof -top prof.gz > top 2>&1 &&
	grep -q site_large top &&
	$MEMPROF run -q --rate 1 -o - ./known | tail -c +$((n + 1)) > piped.gz &&
	go tool pprof -top piped.gz 2>&1 | grep -q site_large
'
test_expect_success "-o /dev/stdout to a file: written into it, as > expects, not renamed over" '
	ln -s /proc/self/fd/1 stdout && : > out && ino=$(stat -c %i out) &&
	$MEMPROF run -q --rate 1 -o stdout sh -c "exec ./known >&2" > out 2> err &&
	test -L stdout && test "$(stat -c %i out)" = "$ino" &&
	go tool pprof -top out 2>&1 | grep -q site_large &&
	: > out &&
	$MEMPROF run -q --rate 1 -o /dev/stdout sh -c "exec ./known >&2" > out 2> err &&
	test "$(stat -c %i out)" = "$ino" && test -f out && test -L /dev/stdout &&
	go tool pprof -top out 2>&1 | grep -q site_large &&
	echo first > app && $MEMPROF run -q --rate 1 -o /dev/stdout sh -c "exec ./known >&2" >> app 2> err &&
	test "$(head -n 1 app)" = first && tail -c +7 app > p.gz &&
	go tool pprof -top p.gz 2>&1 | grep -q site_large &&
	test -z "$(ls | grep tmp)"
'
test_expect_success "-o FIFO: a reader gets the profile, the FIFO stays a FIFO" '
	mkfifo fifo &&
	{ timeout 60 cat fifo > got & } &&
	timeout 60 $MEMPROF run -q --rate 1 -o fifo ./known > out &&
	wait &&
	test -p fifo && go tool pprof -top got 2>&1 | grep -q site_large
'
test_expect_success "-o FIFO with no reader: memprof waits, a signal after the program ends stops it" '
	mkfifo lonely &&
	{ $MEMPROF run -q --rate 1 -o lonely sh -c "touch ran" 2> err & } && p=$! &&
	for i in $(seq 100); do [ -e ran ] && break; sleep 0.1; done &&
	sleep 0.5 && kill -0 $p &&
	for i in $(seq 20); do kill -INT $p 2> /dev/null || break; sleep 0.5; done &&
	if kill -0 $p 2> /dev/null; then
		kill -KILL $p; wait $p || :; echo "still waiting after SIGINT"; exit 1
	fi &&
	rc=0 && wait $p || rc=$? &&
	test "$rc" = 1 && test -p lonely && test_one_line_error err "^memprof: lonely: Interrupted"
'
test_expect_success "-o /dev/fd/N (process substitution) gets the profile" '
	exec 3> fd3.gz &&
	$MEMPROF run -q --rate 1 -o /dev/fd/3 ./known > out &&
	exec 3>&- &&
	go tool pprof -top fd3.gz 2>&1 | grep -q site_large
'
test_expect_success "a symlink in a sticky world-writable dir, not ours: refused before the run" '
	[ "$(id -u)" = 0 ] || exit 0
	mkdir sticky && chmod 1777 sticky && echo precious > target &&
	ln -s "$PWD/target" sticky/link && chown -h nobody sticky/link &&
	refused_before_run sticky/link "is a symlink in a sticky world-writable directory" &&
	test "$(cat target)" = precious && test -L sticky/link &&
	mkdir sticky/sub && ln -s sub sticky/dirlink && chown -h nobody sticky/dirlink &&
	refused_before_run sticky/dirlink/x.pb.gz "goes through sticky/dirlink" &&
	ln -s "$PWD/nowhere" sticky/dangling &&
	refused_before_run sticky/dangling "is a dangling symlink in a sticky directory" &&
	test ! -e nowhere
'
if [ "$(id -u)" != 0 ]; then
	test_skip "a symlink owned by another user" "not root: cannot chown a link to nobody"
fi
test_expect_success "our own symlink in a sticky dir is followed" '
	mkdir sticky2 && chmod 1777 sticky2 && echo old > target2 &&
	ln -s ../target2 sticky2/mine &&
	$MEMPROF run -q --rate 1 -o sticky2/mine ./known > out &&
	test -L sticky2/mine && go tool pprof -top target2 2>&1 | grep -q site_large
'
test_expect_success "-o \"\", a directory, a socket, a block device: refused before the run" '
	refused_before_run "" "an empty path names no file" "'\'''\''" &&
	mkdir somedir &&
	refused_before_run somedir/ "is a directory" &&
	refused_before_run somedir "is a directory" &&
	refused_before_run newdir/ "names a directory" &&
	python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")" &&
	test -S sock && refused_before_run sock "is a socket" && test -S sock &&
	refused_before_run /dev/fd/9 "descriptor 9 is not open" &&
	if [ "$(id -u)" = 0 ]; then
		mknod blk b 7 200 && refused_before_run blk "is a block device" && test -b blk
	fi
'
test_expect_success "memprof convert checks -o before reading the recording" '
	head -c 100 /dev/urandom > bad.rec &&
	test_expect_code 1 $MEMPROF convert -o "" bad.rec 2> err &&
	test_one_line_error err "^memprof: '\'''\'': an empty path names no file" &&
	mkdir cdir && test_expect_code 1 $MEMPROF convert -o cdir bad.rec 2> err &&
	test_one_line_error err "^memprof: cdir: is a directory" &&
	test_expect_code 1 $MEMPROF convert bad.rec 2> err &&
	test_one_line_error err "not a memprof recording"
'
test_expect_success "a regular file is replaced atomically, mode from the umask" '
	echo old > prof.pb.gz && chmod 600 prof.pb.gz && ino=$(stat -c %i prof.pb.gz) &&
	(umask 027 && $MEMPROF run -q --rate 1 -o prof.pb.gz ./known > out) &&
	test "$(stat -c %i prof.pb.gz)" != "$ino" && test "$(stat -c %a prof.pb.gz)" = 640 &&
	go tool pprof -top prof.pb.gz 2>&1 | grep -q site_large &&
	test -z "$(ls | grep tmp)"
'
test_expect_success "a symlink to a regular file: its target is replaced, the link stays" '
	echo precious > real.pb.gz && ln -s real.pb.gz link.pb.gz &&
	$MEMPROF run -q --rate 1 -o link.pb.gz ./known > out &&
	test -L link.pb.gz && test "$(readlink link.pb.gz)" = real.pb.gz &&
	go tool pprof -top real.pb.gz 2>&1 | grep -q site_large &&
	ln -s made.pb.gz dangling.pb.gz &&
	$MEMPROF run -q --rate 1 -o dangling.pb.gz ./known > out &&
	test -L dangling.pb.gz && test -f made.pb.gz
'
test_done
