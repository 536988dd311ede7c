#!/bin/bash
# The Debian package: make deb builds it; its control data, its files, and
# lintian's verdict; unpacked into a scratch root (dpkg -x, the host's
# packages untouched), its memprof runs a program with its own tracker,
# its header builds through its pkg-config file, and its bash completion
# completes. Installing it with apt on a fresh
# bookworm is ../shared/tools/fresh-check's part (docs/packaging.md).
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
CC=${CC:-cc}
TRIPLET=$($CC -print-multiarch)
DEB=
if ! command -v dpkg-buildpackage > /dev/null || ! [ -e /usr/share/perl5/Debian/Debhelper/Dh_Lib.pm ]; then
	test_skip "make deb" "no dpkg-dev or debhelper: scripts/install-deps --deb"
	test_done
	exit
fi
cd "$TRASH"
$CC -g -O2 -o known $F/known.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
cd - > /dev/null

test_expect_success "make deb builds one .deb, named for memprof's version" '
	make -C $SRC -s deb BUILD=$TRASH/debbuild > out 2>&1 || { cat out; exit 1; }
	version=$($MEMPROF version | sed "s/^memprof //") &&
	ls debbuild/*.deb > debs && test "$(wc -l < debs)" = 1 &&
	test "$(cat debs)" = "debbuild/memprof_${version}_$(dpkg --print-architecture).deb"
'
DEB=$(ls "$TRASH"/debbuild/*.deb 2>/dev/null | head -1)

test_expect_success "control: the package, its version, Depends from dpkg-shlibdeps" '
	dpkg-deb -f $DEB Package > pkg && echo memprof > want && test_cmp want pkg &&
	test "$(dpkg-deb -f $DEB Version)" = "$($MEMPROF version | sed "s/^memprof //")" &&
	dpkg-deb -f $DEB Depends | tr "," "\n" | sed "s/^ *//; s/ .*//" | sort > deps &&
	for lib in libc6 libdw1 libelf1 libpcre2-8-0 libprotobuf-c1 libunwind8 zlib1g; do
		grep -qx $lib deps || { echo "no $lib in Depends"; cat deps; exit 1; }
	done &&
	! grep -q -- -dev deps
'

test_expect_success "files: memprof in /usr/bin, the tracker in /usr/lib/$TRIPLET/memprof, man pages, completion" '
	dpkg-deb -c $DEB | awk "{ print \$NF }" | sed "s|^\./|/|" > files &&
	for f in /usr/bin/memprof /usr/lib/$TRIPLET/memprof/libmemprof.so \
		/usr/share/bash-completion/completions/memprof /usr/share/doc/memprof/copyright; do
		grep -qx $f files || { echo "missing $f"; exit 1; }
	done &&
	for m in $SRC/docs/man/*.1; do
		grep -qx /usr/share/man/man1/$(basename $m).gz files || { echo "missing man page $m"; exit 1; }
	done &&
	grep -qx /usr/include/memprof.h files &&
	grep -qx /usr/lib/$TRIPLET/pkgconfig/memprof.pc files &&
	! grep -q "^/usr/local" files &&
	dpkg-deb -c $DEB | grep " ./usr/lib/$TRIPLET/memprof/libmemprof.so\$" | grep -q "^-rw-r--r--"
'

test_expect_success "lintian: no error, no warning (overrides explained in docs/packaging.md)" '
	command -v lintian > /dev/null || { echo "no lintian: scripts/install-deps --test"; exit 1; }
	lintian --pedantic $DEB > lint 2>&1 || true
	grep -v "running with root privileges" lint > lint2 || true
	test ! -s lint2 || { cat lint2; exit 1; }
'

test_expect_success "unpacked (dpkg -x): its memprof runs a program with its own tracker, exactly" '
	dpkg -x $DEB root &&
	root/usr/bin/memprof run -q --rate 1 -o k.pb.gz ./known > out &&
	expect k.pb.gz alloc_objects site_malloc 1000 &&
	expect k.pb.gz inuse_space site_aligned 38400 &&
	root/usr/bin/memprof run -q -o sh.pb.gz -- sh -c "echo \$LD_PRELOAD" > pre &&
	test "$(cat pre)" = "$TRASH/root/usr/lib/$TRIPLET/memprof/libmemprof.so" &&
	go tool pprof -top k.pb.gz > /dev/null 2>&1
'

test_expect_success "unpacked: its pkg-config file and header build a program against memprof.h" '
	command -v pkg-config > /dev/null || { echo "no pkg-config: scripts/install-deps --test"; exit 1; }
	PKG_CONFIG_SYSROOT_DIR=$TRASH/root PKG_CONFIG_LIBDIR=$TRASH/root/usr/lib/$TRIPLET/pkgconfig \
		pkg-config --cflags memprof > cflags &&
	grep -qx -- "-I$TRASH/root/usr/include *" cflags &&
	test "$(PKG_CONFIG_LIBDIR=$TRASH/root/usr/lib/$TRIPLET/pkgconfig pkg-config --modversion memprof)" = \
		"$($MEMPROF version | sed "s/^memprof //")" &&
	printf "#include <memprof.h>\nint main(void) { return 0; }\n" > h.c &&
	$CC -Wall -Werror $(cat cflags) -o h h.c && ./h
'

test_expect_success "installed, memprof looks for its tracker in /usr/lib/$TRIPLET/memprof" '
	grep -q "/usr/lib/$TRIPLET/memprof" root/usr/bin/memprof &&
	[ ! -e /usr/lib/$TRIPLET/memprof/libmemprof.so ] || exit 0	# installed on this host
	mkdir -p elsewhere && cp root/usr/bin/memprof elsewhere/ &&
	test_expect_code 1 elsewhere/memprof run -o x.pb.gz ./known 2> err &&
	grep -q "cannot find libmemprof.so" err
'

test_expect_success "the man pages render without a groff warning" '
	for m in root/usr/share/man/man1/*.1.gz; do
		zcat $m | groff -man -Tutf8 -ww -z 2> warn && test ! -s warn || { echo $m; cat warn; exit 1; }
	done
'

test_expect_success "bash completion: commands, options read from memprof help, the program after run" '
	[ -e /usr/share/bash-completion/bash_completion ] || { echo "no bash-completion: scripts/install-deps --test"; exit 1; }
	cat > comp.sh <<-EOF
	. /usr/share/bash-completion/bash_completion
	. root/usr/share/bash-completion/completions/memprof
	PATH=$TRASH/root/usr/bin:\$PATH
	t() {
		COMP_WORDS=("\$@"); COMP_CWORD=\$((\${#COMP_WORDS[@]} - 1))
		COMP_LINE="\$*"; COMP_POINT=\${#COMP_LINE}; COMPREPLY=()
		_memprof memprof "\${COMP_WORDS[-1]}" "\${COMP_WORDS[-2]}" 2> /dev/null
		printf "%s\n" "\${COMPREPLY[@]}" | sort -u | tr "\n" " "; echo
	}
	t memprof ""
	t memprof t
	t memprof run --ra
	t memprof top --sample
	t memprof help le
	t memprof run -q -o x.pb.gz -- ech
	EOF
	bash comp.sh > got &&
	cat > want <<-EOF &&
	--help --version agent convert help leaks list peek report run symbolize tags timeline top traces tree version 
	tags timeline top traces tree 
	--rate= 
	--sample-index= 
	leaks 
	echo 
	EOF
	test_cmp want got
'

test_done
