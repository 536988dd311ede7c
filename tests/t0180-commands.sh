#!/bin/bash
# memprof traces, peek, tree and tags print what go tool pprof -traces,
# -peek=REGEX, -tree and -tags print, line for line, with top's options, on
# Go's profiles, on pprof's own diffs (pprof::base) and on memprof's (C,
# C++, several processes); samples repeated with opposite signs total as
# pprof totals them (top too); list finds sources under relative
# --source-path entries as pprof does; bad input gets one line and a
# non-zero status; then a seeded random sweep (CMDS_SWEEP_N, 100 by default).
. "$(dirname "$0")/test-lib.sh"
G=$SRC/testdata/goprof		# heap, allocs and cpu profiles of one Go program
D=$SRC/testdata/godiff		# before.pb.gz, after.pb.gz: another one
F=$SRC/testdata/fixtures
CRAFT=$SRC/testdata/diff/craft.py
CC=${CC:-cc}
CXX=${CXX:-c++}

# pprof's flag for a memprof command: traces -> -traces, "peek RE" -> -peek=RE
pprof_flag() {
	case $1 in
	peek) printf -- '-peek=%s' "$2" ;;
	*) printf -- '-%s' "$1" ;;
	esac
}

# compare CMD "OPTIONS" FILE...: memprof CMD and go tool pprof -CMD print the
# same and both succeed or both fail. CMD is "peek REGEX" for peek. Where
# pprof's own order is not fixed (rows whose values differ only in sign
# tie in its sort, left in Go's random map order), runs of go tool pprof
# that disagree with each other settle it: then the same lines suffice.
compare() {
	local cmd=$1 opts=$2 mrc=0 prc=0 re=
	shift 2
	case $cmd in "peek "*) re=${cmd#peek }; cmd=peek ;; esac
	if [ -n "$re" ]; then
		$MEMPROF peek $opts "$re" "$@" > memprof.out 2> memprof.err || mrc=$?
	else
		$MEMPROF $cmd $opts "$@" > memprof.out 2> memprof.err || mrc=$?
	fi
	go tool pprof "$(pprof_flag $cmd "$re")" $opts "$@" > pprof.out 2> pprof.err || prc=$?
	if [ $((mrc != 0)) != $((prc != 0)) ]; then
		echo "exit status $mrc, go tool pprof's $prc"
		cat memprof.err pprof.err
		return 1
	fi
	cmp -s pprof.out memprof.out && return 0
	untie < pprof.out > pprof.untied && untie < memprof.out > memprof.untied &&
		cmp -s pprof.untied memprof.untied && return 0
	test_cmp pprof.out memprof.out
}

# untie: sorts each run of consecutive lines whose first fields are one
# value of both signs ("1MB" and "-1MB"): rows pprof's sorts leave in Go's
# random map order (tree's callers and callees, tags' values).
untie() {
	awk 'function flush(   i, j, t) {
		if (mixed)
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && l[j - 1] > l[j]; j--) {
					t = l[j]; l[j] = l[j - 1]; l[j - 1] = t
				}
		for (i = 1; i <= n; i++) print l[i]
		n = 0
	}
	{
		a = $1; neg = sub(/^-/, "", a)
		if (n && a == cur && a ~ /^[0-9]/) { l[++n] = $0; if (neg != sign) mixed = 1 }
		else { flush(); cur = a; sign = neg; mixed = 0; l[n = 1] = $0 }
	}
	END { flush() }'
}

# memprof's own profiles: one process in C and in C++ (every allocation
# and the default rate), and a process tree with pid labels; a diff written
# by go tool pprof (its base's samples labelled pprof::base=true); a
# profile whose samples repeat with opposite signs; one with labels of
# every kind (several values, units, UTF-8, tabs)
(cd "$TRASH" && $CC -g -O2 -o known $F/known.c && $CC -g -O2 -o procs $F/procs.c &&
	$CXX -g -O2 -o cxx $F/cxx.cpp &&
	$MEMPROF run -q --rate 1 -o known.pb.gz ./known 2 > /dev/null &&
	$MEMPROF run -q --rate 1 -o known3.pb.gz ./known 3 > /dev/null &&
	$MEMPROF run -q --rate 1 -o procs.pb.gz ./procs both > /dev/null &&
	$MEMPROF run -q --rate 1 -o cxx.pb.gz ./cxx > /dev/null &&
	$MEMPROF run -q -o cxxd.pb.gz ./cxx > /dev/null &&
	go tool pprof -proto -diff_base=$D/before.pb.gz $D/after.pb.gz > based.pb.gz &&
	printf '%s\n' 'types alloc_space/bytes inuse_space/bytes' 'mapping /usr/bin/prog' \
		'sample 100 10 ; main f' 'sample -100 -10 ; main f' 'sample 50 5 ; main g' \
		'sample 30 -30 ; main h ; k=v' 'sample -30 30 ; main h ; k=v' \
		'sample 7 0 ; main h ; k=w' 'sample 0 0 ; main z' | python3 $CRAFT opposite.pb &&
	printf '%s\n' 'types alloc_objects/count alloc_space/bytes' 'mapping /usr/bin/prog' \
		'sample 1 100 ; main f ; größe=groß ; größe=klein ; bytes#100 ; request#3000 ; lat#1500:ms' \
		'sample 2 4096 ; main g ; größe=mittel ; bytes#4096 ; bytes#8192 ; kind=a b' \
		'sample 3 64 ; main g ; 名前=値 ; bytes#64 ; request#64:kilobytes ; x#7' \
		'sample 4 10 ; main h>i ; k=v' 'sample -2 -50 ; main h ; k=v' \
		"$(printf 'sample 1 1 ; main h ; k=a\tb ; t=x\ty\tz')" \
		'sample 5 5 ; main@m.c:3 j@j.c:9 ; lat#2:s' | python3 $CRAFT labels.pb) \
	> "$TRASH/setup.log" 2>&1 ||
	{ echo "FAIL $T: building the fixtures' profiles"; cat "$TRASH/setup.log"; exit 1; }
OWN="$TRASH/known.pb.gz $TRASH/procs.pb.gz $TRASH/cxx.pb.gz $TRASH/cxxd.pb.gz"

# ---- each command on Go's profiles, with top's options -------------------------

for f in heap allocs cpu; do
	for cmd in traces tree tags "peek main" "peek runtime" "peek (?i)LEAF" "peek ."; do
		test_expect_success "$f $cmd" "compare '$cmd' '' $G/$f.pb.gz"
	done
	for o in -sample_index=0 -sample_index=1 -unit=kB -unit=B -nodecount=3 -nodecount=0 \
		 -nodefraction=0 -nodefraction=0.1 -edgefraction=0 -edgefraction=0.2 -cum \
		 -trim=false -focus=churn -ignore=leafBig -hide=runtime -show=main \
		 -show_from=main.main -prune_from=main.churn -tagfocus=bytes=1kB:64kB \
		 -tagignore=bytes=:1kB -tagshow=bytes -taghide=bytes -lines -files \
		 -filefunctions -addresses -noinlines "-lines -noinlines" \
		 "-relative_percentages -focus=leaf" "-nodecount=4 -focus=main -hide=runtime"; do
		for cmd in traces tree tags "peek main\\.(churn|leaf)"; do
			test_expect_success "$f $cmd $o" "compare '$cmd' '$o' $G/$f.pb.gz"
		done
	done
done
test_expect_success "tree: pprof's 80 nodes at most by default (cpu: 13, -nodecount=5)" "
	compare tree -nodecount=5 $G/cpu.pb.gz &&
	grep -q '^Showing top 5 nodes out of 13\$' memprof.out
"
test_expect_success "peek: never trimmed, whatever -nodecount says (as pprof's)" "
	compare 'peek .' '-nodecount=2 -nodefraction=0.5' $G/heap.pb.gz &&
	! grep -q '^Dropped\\|^Showing top' memprof.out
"
test_expect_success "tags: a value per size, its share of the key's total" "
	compare tags '-sample_index=alloc_space' $G/allocs.pb.gz &&
	grep -q '^ bytes: Total ' memprof.out
"

# ---- bases, several profiles, pprof::base ---------------------------------------

for o in "" -sample_index=0 -sample_index=alloc_space -lines -focus=main -unit=kB \
	 -tagfocus=pprof::base=true -tagignore=pprof::base=true -taghide=base; do
	for cmd in traces tree tags "peek main"; do
		test_expect_success "pprof's diff (pprof::base) $cmd $o" "
			compare '$cmd' '$o' $TRASH/based.pb.gz"
		test_expect_success "godiff $cmd -diff_base $o" "
			compare '$cmd' '-diff_base=$D/before.pb.gz $o' $D/after.pb.gz"
		test_expect_success "godiff $cmd -base $o" "
			compare '$cmd' '-base=$D/before.pb.gz $o' $D/after.pb.gz"
	done
done
for si in 0 1 2 3; do
	test_expect_success "top on pprof's diff (pprof::base), -sample_index=$si: the base's total" "
		$MEMPROF top -nodecount=0 -sample_index=$si $TRASH/based.pb.gz > memprof.out &&
		go tool pprof -top -sample_index=$si $TRASH/based.pb.gz > pprof.out 2> /dev/null &&
		test_cmp pprof.out memprof.out
	"
done
for cmd in traces tree tags "peek main"; do
	test_expect_success "$cmd of two profiles, merged as pprof merges them" "
		compare '$cmd' '' $G/heap.pb.gz $G/allocs.pb.gz"
	test_expect_success "$cmd of two memprof runs, -addresses" "
		compare '$cmd' -addresses $TRASH/known.pb.gz $TRASH/known3.pb.gz"
done

# ---- samples repeated with opposite signs -------------------------------------------

for si in 0 1; do
	for cmd in traces tree tags "peek ."; do
		test_expect_success "opposite signs: $cmd -sample_index=$si" "
			compare '$cmd' '-sample_index=$si' $TRASH/opposite.pb"
	done
	test_expect_success "opposite signs: top -sample_index=$si totals as pprof does" "
		$MEMPROF top -sample_index=$si $TRASH/opposite.pb > memprof.out &&
		go tool pprof -top -sample_index=$si $TRASH/opposite.pb > pprof.out 2> /dev/null &&
		test_cmp pprof.out memprof.out
	"
done
test_expect_success "opposite signs: +100 and -100 for one stack count 0, not 200" "
	$MEMPROF top -sample_index=0 $TRASH/opposite.pb > out &&
	grep -q 'of 57B total\$' out &&
	compare 'peek ^f\$' '-sample_index=0' $TRASH/opposite.pb
"

# ---- labels -------------------------------------------------------------------------

for o in "" -sample_index=0 -unit=kB -unit=MB -tagfocus=bytes=4kB: -tagshow=lat -lines; do
	for cmd in traces tags; do
		test_expect_success "labels of every kind: $cmd $o" "
			compare '$cmd' '$o' $TRASH/labels.pb"
	done
done
test_expect_success "tags: UTF-8 keys and tabs in values aligned as Go's tabwriter does" "
	compare tags '' $TRASH/labels.pb &&
	grep -q '^ größe: Total ' memprof.out && grep -q '^ 名前: Total ' memprof.out
"

# ---- memprof's own profiles ------------------------------------------------------------

pid=$(go tool pprof -traces "$TRASH/procs.pb.gz" 2> /dev/null | awk '/pid:/ { print $2; exit }')
for f in $OWN; do
	name=$(basename "$f" .pb.gz)
	for o in "" -sample_index=alloc_space -sample_index=alloc_objects -lines -files \
		 -addresses -noinlines -focus=main -hide=libc -show_from=main \
		 -tagfocus=bytes=1kB: -tagfocus=pid=$pid "-cum -nodecount=5" -unit=B \
		 "-nodefraction=0 -edgefraction=0"; do
		for cmd in traces tree tags "peek main|work|vector"; do
			test_expect_success "$name $cmd $o" "compare '$cmd' '$o' $f"
		done
	done
done
test_expect_success "procs: traces shows each sample's pid and size labels" "
	compare traces -sample_index=alloc_space $TRASH/procs.pb.gz &&
	grep -q '^       pid:  $pid\$' memprof.out && grep -q '^     bytes:  ' memprof.out
"

# ---- list: relative source paths, as pprof's openSourceFile looks ---------------------

# where the profile says main.go is: trimmed, the name is relative
TP=-trim_path=$(go tool pprof -raw $G/heap.pb.gz 2> /dev/null |
	sed -n 's|.* main\.leafBig \(/[^ ]*\)/main\.go:.*|\1|p' | head -1)
for o in "-source_path=a/b" "-source_path=a/b/c" "-source_path=a/b/" "-source_path=a/b:" \
	 "-source_path=:a" "-source_path=../srcs/a" "-source_path=."; do
	test_expect_success "list $TP $o: looked up to the current directory" "
		mkdir -p srcs/a/b/c && cp $G/main.go srcs/ && cd srcs &&
		$MEMPROF list $TP $o main.leafBig $G/heap.pb.gz > memprof.out &&
		go tool pprof -list=main.leafBig $TP $o $G/heap.pb.gz > pprof.out 2> /dev/null &&
		test_cmp pprof.out memprof.out && grep -q 'func leafBig' memprof.out
	"
done
test_expect_success "list: -source_path=DIR/goprof trims up to goprof, then looks" "
	mkdir -p srcs/q/goprof && cp $G/main.go srcs/ && cd srcs &&
	$MEMPROF list -source_path=q/goprof main.leafBig $G/heap.pb.gz > memprof.out &&
	go tool pprof -list=main.leafBig -source_path=q/goprof $G/heap.pb.gz > pprof.out 2> /dev/null &&
	test_cmp pprof.out memprof.out && grep -q 'func leafBig' memprof.out
"
test_expect_success "list: a directory where the source should be reads as empty, as in pprof" "
	mkdir -p srcs/a/main.go && cd srcs &&
	$MEMPROF list $TP -source_path=a main.leafBig $G/heap.pb.gz > memprof.out &&
	go tool pprof -list=main.leafBig $TP -source_path=a $G/heap.pb.gz > pprof.out 2> /dev/null &&
	test_cmp pprof.out memprof.out && test \$(wc -l < memprof.out) = 3
"
test_expect_success "list: a missing absolute file: Go's error text" "
	printf '%s\n' 'types space/bytes' 'sample 1 ; main@/nonexistent/src/m.c:3' |
		python3 $CRAFT abs.pb &&
	$MEMPROF list main abs.pb > memprof.out &&
	go tool pprof -list=main abs.pb > pprof.out 2> /dev/null &&
	grep '^ Error: ' memprof.out > m.err && grep '^ Error: ' pprof.out > p.err &&
	test_cmp p.err m.err && grep -q 'no such file or directory\$' m.err
"

# ---- bad input ---------------------------------------------------------------------

for cmd in traces tree tags; do
	test_expect_success "$cmd: an unknown option is named, exit 2" "
		test_expect_code 2 $MEMPROF $cmd -focsu=main $G/heap.pb.gz 2> err &&
		head -1 err > first && test_one_line_error first \"unknown option '-focsu=main'\" &&
		grep -q '^usage: memprof $cmd' err
	"
	test_expect_success "$cmd: a bad filter regex names the option, exit 2" "
		test_expect_code 2 $MEMPROF $cmd '-focus=(' $G/heap.pb.gz 2> err &&
		head -1 err > first && test_one_line_error first 'invalid -focus'
	"
	test_expect_success "$cmd: not a profile, one line naming it, exit 1" "
		echo 'not a profile' > text.pb &&
		test_expect_code 1 $MEMPROF $cmd text.pb 2> err &&
		test_one_line_error err '^memprof: text.pb: '
	"
	test_expect_success "$cmd: no profile, exit 2" "
		test_expect_code 2 $MEMPROF $cmd 2> err && grep -q 'missing profile FILE' err
	"
	test_expect_success "$cmd --help" "
		$MEMPROF $cmd --help > out && grep -q '^usage: memprof $cmd' out &&
		grep -q -- '-sample_index\\|--sample-index' out
	"
done
# every crafted bad file: what top says (one line, exit 1), or a report
for f in $SRC/testdata/bad/*.pb* $SRC/testdata/bad/random.bin $SRC/testdata/bad/text.txt \
	 $SRC/testdata/bad/empty; do
	test_expect_success "$(basename $f): the four commands fail or report as top does" "
		trc=0 && $MEMPROF top $f > /dev/null 2> top.err || trc=\$?
		for cmd in traces tree tags 'peek .'; do
			rc=0 && $MEMPROF \$cmd $f > out 2> err || rc=\$?
			test \$rc = \$trc || { echo \"\$cmd: \$rc, top: \$trc\"; cat err; exit 1; }
			if [ \$rc != 0 ]; then test_one_line_error err '^memprof: ' && test_cmp top.err err; fi
		done
	"
done
test_expect_success "peek: a regex that does not compile, one line, exit 1" "
	test_expect_code 1 $MEMPROF peek '(a)\\1' $G/heap.pb.gz > out 2> err &&
	test_one_line_error err 'invalid regexp' && test ! -s out
"
test_expect_success "peek: a regex that matches nothing: pprof's message, nothing printed" "
	test_expect_code 1 $MEMPROF peek no_such_function $G/heap.pb.gz > out 2> err &&
	test_one_line_error err 'no matches found for regexp: no_such_function' && test ! -s out &&
	! go tool pprof -peek=no_such_function $G/heap.pb.gz > /dev/null 2>&1
"
test_expect_success "peek: no regex, exit 2" "
	test_expect_code 2 $MEMPROF peek $G/heap.pb.gz 2> err && grep -q 'needs a REGEX' err
"
test_expect_success "peek: not a profile, exit 1" "
	echo 'not a profile' > text.pb &&
	test_expect_code 1 $MEMPROF peek main text.pb 2> err && test_one_line_error err 'text.pb'
"
for flag in -traces -peek=main -tree -tags -list=main -top -text; do
	test_expect_success "top $flag: pprof's report flag names memprof's command, exit 2" "
		test_expect_code 2 $MEMPROF top $flag $G/heap.pb.gz 2> err &&
		head -1 err > first &&
		test_one_line_error first \"is a report of its own: memprof \\(traces\\|peek\\|tree\\|tags\\|list\\|top\\)\$\"
	"
done
test_expect_success "traces: --folded is top's, refused" "
	test_expect_code 2 $MEMPROF traces --folded $G/heap.pb.gz 2> err &&
	head -1 err > first && test_one_line_error first 'unknown option'
"
test_expect_success "tree > /dev/full fails with a write error" "
	test_expect_code 1 $MEMPROF tree $G/heap.pb.gz > /dev/full 2> err &&
	grep -q 'write error' err
"

# ---- the sweep ----------------------------------------------------------------------

SWEEP_N=${CMDS_SWEEP_N:-100}
SEED=${CMDS_SWEEP_SEED:-$(( $(date +%s) % 100000 ))}
echo "# $T: sweep of $SWEEP_N combinations, seed $SEED (CMDS_SWEEP_SEED=$SEED to repeat)"
pick() { local a=("$@"); printf '%s' "${a[RANDOM % ${#a[@]}]}"; }
FOCUS=("" "" "" main leaf runtime work site "(?i)MAIN" "^main\\." "\\bleaf" "\\d" malloc
       "std::" libc "churn|recurse")
TAGS=("" "" "" "" bytes=1kB:64kB bytes=4kB: bytes=:1kB bytes=1000B 1kB: bytes=16B:2kB)
sweep_one() {
	local files si o="" x cmd
	case $((RANDOM % 11)) in
	0) files="$G/heap.pb.gz"; si=$(pick "" 0 1 2 3 alloc_space inuse_objects) ;;
	1) files="$G/allocs.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	2) files="$G/cpu.pb.gz"; si=$(pick "" 0 1) ;;
	3) files="$D/after.pb.gz"; si=$(pick "" 0 1 2 3)
	   o="$(pick "" -base=$D/before.pb.gz -diff_base=$D/before.pb.gz)" ;;
	4) files="$G/heap.pb.gz $G/allocs.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	5) files="$TRASH/procs.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	6) files="$TRASH/cxx.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	7) files="$TRASH/cxxd.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	8) files="$TRASH/known.pb.gz $TRASH/known3.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	9) files="$TRASH/based.pb.gz"; si=$(pick "" 0 1 2 3)
	   o="$(pick "" -tagfocus=pprof::base=true -tagignore=pprof::base=true)" ;;
	10) files="$TRASH/labels.pb $TRASH/opposite.pb"; files=$(pick $files); si=$(pick "" 0 1) ;;
	esac
	[ -n "$si" ] && o="$o -sample_index=$si"
	for opt in focus ignore hide show show_from prune_from; do
		[ $((RANDOM % 5)) = 0 ] || continue
		x=$(pick "${FOCUS[@]}")
		[ -n "$x" ] && o="$o -$opt=$x"
	done
	x=$(pick "${TAGS[@]}"); [ -n "$x" ] && o="$o -tagfocus=$x"
	o="$o $(pick "" "" "" -lines -files -filefunctions -addresses -functions)"
	o="$o $(pick "" "" "" "" -noinlines -cum -relative_percentages -trim=false)"
	o="$o $(pick "" "" -unit=kB -unit=B -unit=MB)"
	o="$o $(pick "" "" -nodecount=0 -nodecount=3 -nodecount=10)"
	o="$o $(pick "" "" -nodefraction=0 -nodefraction=0.05) $(pick "" "" -edgefraction=0 -edgefraction=0.1)"
	cmd=$(pick traces tree tags "peek $(pick main leaf '(?i)churn' work site 'std::' runtime .)")
	if ! compare "$cmd" "$o" $files; then
		echo "mismatch (seed $SEED): memprof $cmd $o $files"
		return 1
	fi
}
test_expect_success "sweep: $SWEEP_N random combinations agree with go tool pprof" "
	RANDOM=$SEED
	for i in \$(seq $SWEEP_N); do sweep_one || exit 1; done
"
test_done
