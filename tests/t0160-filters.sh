#!/bin/bash
# pprof's options that pick and shape what a report shows (-focus,
# -ignore, -hide, -show, -show_from, -prune_from, -tagfocus, -tagignore,
# -tagshow, -taghide; -lines, -files, -filefunctions, -addresses,
# -noinlines; -trim, -edgefraction, -relative_percentages; several
# profiles merged; RE2's regex dialect): memprof top, list and top --folded
# print what go tool pprof prints, line for line, on Go's profiles and on
# memprof's own; then a seeded random sweep of option combinations
# (FILTER_SWEEP_N of them, 100 by default; `make sweep` runs more).
. "$(dirname "$0")/test-lib.sh"
G=$SRC/testdata/goprof		# heap, allocs and cpu profiles of one Go program
D=$SRC/testdata/godiff		# before.pb.gz, after.pb.gz: another one
F=$SRC/testdata/fixtures
CC=${CC:-cc}
CXX=${CXX:-c++}

# compare_top "OPTIONS" FILE...: memprof top and go tool pprof -top agree.
compare_top() {
	local opts=$1
	shift
	$MEMPROF top $opts "$@" > memprof.out 2> memprof.err || { cat memprof.err; return 1; }
	go tool pprof -top $opts "$@" > pprof.out 2> pprof.err || { cat pprof.err; return 1; }
	test_cmp pprof.out memprof.out
}

# compare_list REGEX "OPTIONS" FILE...: the same output, or both fail
# (a filter that leaves no function to list).
compare_list() {
	local re=$1 opts=$2 mrc=0 prc=0
	shift 2
	$MEMPROF list $opts "$re" "$@" > memprof.out 2> memprof.err || mrc=$?
	go tool pprof -list "$re" $opts "$@" > pprof.out 2> pprof.err || prc=$?
	if [ $((mrc != 0)) != $((prc != 0)) ]; then
		echo "exit status $mrc, go tool pprof's $prc"
		cat memprof.err pprof.err
		return 1
	fi
	test_cmp pprof.out memprof.out
}

# folded_from_traces "<go tool pprof options>": go tool pprof -traces in raw
# units turned into folded stacks (as in t0120-diff).
folded_from_traces() {
	go tool pprof -traces -unit=B $1 2> /dev/null | awk '
		function flush() {
			if (n) { s = f[n]; for (i = n - 1; i >= 1; i--) s = s ";" f[i]; sum[s] += v }
			n = 0
		}
		/^-----------\+/ { flush(); in_trace = 1; next }
		!in_trace { next }
		n == 0 && /^ *[^ ]+:  / { next }
		{
			if (n == 0) { v = substr($0, 1, 10); gsub(/[ B]/, "", v) }
			name = substr($0, 14); sub(/ \(inline\)$/, "", name)
			f[++n] = name
		}
		END { flush(); for (s in sum) if (sum[s] != 0) printf "%s %.0f\n", s, sum[s] }
	' | sort
}

# based.pb.gz: a diff written by go tool pprof, whose base samples carry the
# string label pprof::base=true (string tags to filter on).
# memprof's own profiles: one process in C and in C++ (every allocation
# and the default rate), and a process tree with pid labels
(cd "$TRASH" && $CC -g -O2 -o known $F/known.c && $CC -g -O2 -o procs $F/procs.c &&
	$CXX -g -O2 -o cxx $F/cxx.cpp &&
	$MEMPROF run -q --rate 1 -o known.pb.gz ./known 2 > /dev/null &&
	$MEMPROF run -q --rate 1 -o known3.pb.gz ./known 3 > /dev/null &&
	$MEMPROF run -q --rate 1 -o procs.pb.gz ./procs both > /dev/null &&
	$MEMPROF run -q --rate 1 -o cxx.pb.gz ./cxx > /dev/null &&
	$MEMPROF run -q -o cxxd.pb.gz ./cxx > /dev/null &&
	go tool pprof -proto -diff_base=$D/before.pb.gz $D/after.pb.gz > based.pb.gz) \
	> "$TRASH/setup.log" 2>&1 ||
	{ echo "FAIL $T: building the fixtures' profiles"; cat "$TRASH/setup.log"; exit 1; }
OWN="$TRASH/known.pb.gz $TRASH/procs.pb.gz $TRASH/cxx.pb.gz $TRASH/cxxd.pb.gz"

# ---- each option on its own --------------------------------------------------

for f in heap allocs cpu; do
	for o in -focus=main -focus=leaf -ignore=leafBig -ignore=runtime -hide=runtime \
		 -hide=main.churn -show=main -show=xxx -show_from=main.main -show_from=churn \
		 -prune_from=runtime -prune_from=main.churn "-focus=main -ignore=leaf" \
		 "-hide=runtime -show=main" -tagshow=bytes -taghide=bytes \
		 -lines -files -filefunctions -addresses -functions -noinlines \
		 "-lines -noinlines" "-addresses -noinlines" "-files -focus=runtime" \
		 "-trim=false -nodecount=5" "-trim=true" -edgefraction=0.2 -edgefraction=0 \
		 "-nodefraction=0.1 -edgefraction=0.05" "-relative_percentages -focus=leaf" \
		 "-relative_percentages -show_from=churn" "-cum -lines" \
		 "-focus=(?i)LEAF" "-focus=\\bleaf" "-hide=\\d" "-focus=\\Qmain.\\E" \
		 "-focus=^main\\.(churn|leaf)" "-ignore=[[:upper:]]" "-focus=\\pL\\.\\p{Lu}" \
		 "-show=(?i:Main)\\." "-focus=runtime\\.[a-m]+\$"; do
		test_expect_success "$f top $o" "compare_top '-nodecount=0 $o' $G/$f.pb.gz"
	done
done
for o in -tagfocus=bytes=1kB:64kB -tagfocus=bytes=4kB: -tagfocus=bytes=:1kB \
	 -tagfocus=bytes=1024B -tagfocus=bytes=1024 -tagfocus=1kB -tagfocus=:512B \
	 -tagignore=bytes=16B:2kB "-tagfocus=bytes=1kB:1MB -tagignore=bytes=32kB" \
	 -tagfocus=bytes=1kB:2s -tagfocus=bytes=xyz; do
	for f in heap allocs; do
		test_expect_success "$f top $o" "compare_top '-nodecount=0 $o' $G/$f.pb.gz"
	done
done
test_expect_success "top -nodecount=4 with filters: the header lists them" "
	compare_top '-nodecount=4 -focus=main -hide=runtime -tagfocus=bytes=1kB:' $G/heap.pb.gz &&
	grep -q '^Active filters:' memprof.out &&
	grep -q '^   tagfocus=bytes=1kB:\$' memprof.out
"
test_expect_success "a filter longer than 80 bytes is cut in the header, as pprof cuts it" "
	compare_top '-nodecount=3 -focus=main|$(printf 'x%.0s' $(seq 100))' $G/heap.pb.gz
"

# string labels: key=regex,regex (any matches a value of the key), or
# regexes that must all match some "key:value"
for o in -tagfocus=pprof::base=true -tagignore=pprof::base=true -tagfocus=base:tr \
	 -tagfocus=pprof::base=x,tru -tagfocus=base,true -tagfocus=nomatch \
	 -tagfocus=pprof::base= "-tagignore=.*" -tagfocus==true -taghide=base -tagshow=bytes \
	 "-tagfocus=(?i)BASE:TRUE\$" "-tagfocus=bytes=1kB: -tagignore=pprof::base=true"; do
	test_expect_success "string tags: top $o" "compare_top '-nodecount=0 $o' $TRASH/based.pb.gz"
done

# a profile of several programs with string labels as memprof writes them
# (program, exe) and numeric ones (pid, bytes), several values for a key
cat > "$TRASH/labels.spec" <<'EOF'
types alloc_objects/count alloc_space/bytes
mapping /usr/bin/make
sample 1 4096 ; main run_job spawn ; program=make ; exe=/usr/bin/make ; pid#100
sample 2 8192 ; main parse expand ; program=make ; exe=/usr/bin/make ; pid#100
sample 3 1000 ; main compile cc1_alloc ; program=cc1 ; exe=/usr/lib/gcc/cc1 ; pid#101 ; bytes#1000:bytes
sample 4 65536 ; main link ld_alloc ; program=ld ; exe=/usr/bin/ld ; pid#102 ; bytes#65536
sample 5 512 ; main compile cc1_alloc ; program=cc1 ; program=cc1plus ; exe=/usr/lib/gcc/cc1 ; pid#103
sample 6 300 ; main hash ; program=Make%20Tool
EOF
/usr/bin/python3 $SRC/testdata/diff/craft.py "$TRASH/labels.pb" < "$TRASH/labels.spec"
for o in -tagfocus=program=make -tagfocus=program=cc1 "-tagfocus=program=^cc1\$" \
	 -tagignore=program=cc -tagfocus=exe=/usr/bin -tagfocus=program:make,exe:make \
	 -tagfocus=program=ld,make -tagfocus=pid=100:101 -tagfocus=pid=101 -tagfocus=:100 \
	 "-tagfocus=(?i)make.tool" -tagfocus=bytes=1kB: -tagfocus=bytes=1000B \
	 "-tagfocus=program=\\bMake\\b" "-tagignore=exe=gcc -tagfocus=pid=100:102" \
	 -tagfocus=1000B -tagshow=program -taghide=pid -tagfocus=program=cc1plus -tagfocus=prog \
	 -tagfocus=program= "-tagignore=program=^cc1\$,^ld\$"; do
	for si in 0 1; do
		test_expect_success "labels: top -sample_index=$si $o" "
			compare_top '-nodecount=0 -sample_index=$si $o' $TRASH/labels.pb"
	done
done

# ---- Go's diff profiles and several profiles -----------------------------------

for o in -focus=main -hide=runtime -lines -files -addresses "-show_from=main.main" \
	 "-tagfocus=bytes=1kB:" "-relative_percentages -focus=alloc"; do
	test_expect_success "godiff top -diff_base $o" "
		compare_top '-nodecount=0 -diff_base=$D/before.pb.gz $o' $D/after.pb.gz"
	test_expect_success "godiff top -base $o" "
		compare_top '-nodecount=0 -sample_index=alloc_space -base=$D/before.pb.gz $o' \
			$D/after.pb.gz"
done
test_expect_success "top of two profiles: merged as pprof merges them" "
	compare_top '-nodecount=0' $G/heap.pb.gz $G/allocs.pb.gz
"
test_expect_success "top of three, one twice, with a filter" "
	compare_top '-nodecount=0 -focus=main' $G/heap.pb.gz $G/heap.pb.gz $G/allocs.pb.gz
"
test_expect_success "top of two runs of one program, -lines" "
	compare_top '-nodecount=0 -lines' $D/before.pb.gz $D/after.pb.gz
"
test_expect_success "top of two memprof runs, -addresses" "
	compare_top '-nodecount=0 -addresses' $TRASH/known.pb.gz $TRASH/known3.pb.gz
"
test_expect_success "list of two profiles" "
	compare_list 'main\\.' '-source_path=$G' $G/heap.pb.gz $G/allocs.pb.gz
"
test_expect_success "profiles of different kinds: one line naming them, exit 1" "
	test_expect_code 1 $MEMPROF top $G/cpu.pb.gz $G/heap.pb.gz 2> err &&
	test_one_line_error err 'cannot merge .*cpu.pb.gz.*period types differ'
"
test_expect_success "a bad profile among several: the error names it" "
	echo junk > bad.pb &&
	test_expect_code 1 $MEMPROF top $G/heap.pb.gz bad.pb 2> err &&
	test_one_line_error err 'bad.pb'
"

# ---- memprof's own profiles ------------------------------------------------------

pid=$(go tool pprof -traces "$TRASH/procs.pb.gz" 2> /dev/null | awk '/pid:/ { print $2; exit }')
for f in $OWN; do
	name=$(basename "$f" .pb.gz)
	for o in -focus=work -focus=site -ignore=libc -hide=libc -hide=_start -show=work \
		 "-show=procs\$" -show_from=main -show_from=libc -prune_from=main \
		 -focus=procs -hide=libc.so -focus=std:: "-focus=(?i)VECTOR" "-show=(?i)vector" \
		 -lines -files -filefunctions -addresses -noinlines "-addresses -noinlines" \
		 "-lines -noinlines" -tagfocus=bytes=1000B -tagfocus=bytes=1kB: \
		 -tagignore=bytes=:2kB -tagfocus=pid=$pid -tagignore=pid=$pid -tagfocus=$pid \
		 -tagfocus=pid: -tagshow=pid "-focus=^\$" "-trim=false" "-edgefraction=0.5" \
		 -tagfocus=program=procs -tagignore=program=procs "-tagfocus=exe=/procs\$" \
		 "-tagfocus=cmdline=leaf" -tagfocus=program:procs,pid -taghide=cmdline; do
		for si in alloc_space alloc_objects inuse_space; do
			test_expect_success "$name top -sample_index=$si $o" "
				compare_top '-nodecount=0 -sample_index=$si $o' $f"
		done
	done
	test_expect_success "$name list with -focus and -hide" "
		compare_list '.' '-focus=main -hide=libc' $f"
done

# ---- list ----------------------------------------------------------------------------

for re in 'main\.' '(?i)CHURN' 'main\.\w+Big$' '\Qmain.churn\E' 'main\.(churn|leaf\p{Lu})'; do
	for o in "" -focus=churn -hide=main.churn -show=main -show_from=main.churn -noinlines \
		 -tagfocus=bytes=1kB: -relative_percentages "-ignore=leafBig -lines"; do
		test_expect_success "allocs list '$re' $o" "
			compare_list '$re' '-source_path=$G $o' $G/allocs.pb.gz"
	done
done
for re in work 'site_m' '^main$'; do
	test_expect_success "memprof's procs list '$re' -tagfocus=pid=$pid" "
		compare_list '$re' '-tagfocus=pid=$pid' $TRASH/procs.pb.gz"
done
test_expect_success "list: a regex RE2 refuses (a backreference) is refused, exit 1" "
	test_expect_code 1 $MEMPROF list '(a)\\1' $G/heap.pb.gz 2> err &&
	test_one_line_error err 'invalid regexp'
"

# ---- top --folded ------------------------------------------------------------------

for args in "-focus=main $G/allocs.pb.gz" "-hide=runtime $G/allocs.pb.gz" \
	    "-show_from=main.main $G/heap.pb.gz" "-lines $G/allocs.pb.gz" \
	    "-sample_index=alloc_space -tagfocus=bytes=1kB: $G/heap.pb.gz" \
	    "-sample_index=alloc_space -noinlines -prune_from=runtime $G/allocs.pb.gz" \
	    "-sample_index=alloc_space -focus=work $TRASH/procs.pb.gz" \
	    "-sample_index=alloc_space -tagfocus=pid=$pid $TRASH/procs.pb.gz" \
	    "-sample_index=alloc_space $G/heap.pb.gz $G/allocs.pb.gz"; do
	test_expect_success "top --folded $args: go tool pprof -traces' stacks" "
		$MEMPROF top --folded $args > memprof.out &&
		folded_from_traces '$args' > pprof.out &&
		test -s pprof.out && test_cmp pprof.out memprof.out
	"
done

# ---- options that conflict, and ones that do not exist ---------------------------

for bad in "-cum -flat" "-lines -files" "-functions -addresses" "-files -filefunctions"; do
	test_expect_success "top $bad: conflicting options, one line, exit 2" "
		test_expect_code 2 $MEMPROF top $bad $G/heap.pb.gz 2> err &&
		head -1 err > first && test_one_line_error first 'conflicting options' &&
		! go tool pprof -top $bad $G/heap.pb.gz > /dev/null 2>&1
	"
done
test_expect_success "-cum=false -flat and -lines=false -files are no conflict" "
	compare_top '-nodecount=5 -cum=false -flat -lines=false -files' $G/heap.pb.gz
"
test_expect_success "several value selections: pprof's pick and its warning" "
	compare_top '-nodecount=5 -inuse_space -alloc_space' $G/heap.pb.gz &&
	grep -q 'ignoring -alloc_space' memprof.err &&
	compare_top '-nodecount=5 -alloc_objects -inuse_objects' $G/heap.pb.gz &&
	compare_top '-nodecount=5 -sample_index=alloc_space -inuse_objects' $G/heap.pb.gz
"
for bad in "-focus=(" "-ignore=a**" "-hide=\\8" "-show=(?<=a)b" "-show_from=[z-a]" \
	   "-tagfocus=x(" "-prune_from=\\C" "-tagfocus=bytes=99999999999999999999"; do
	test_expect_success "top $bad: refused with one line naming the option, exit 2" "
		test_expect_code 2 $MEMPROF top '$bad' $G/heap.pb.gz 2> err &&
		head -1 err > first && test_one_line_error first \"invalid -\" &&
		! go tool pprof -top '$bad' $G/heap.pb.gz > /dev/null 2>&1
	"
done
test_expect_success "an unknown option is named" "
	test_expect_code 2 $MEMPROF top -focsu=main $G/heap.pb.gz 2> err &&
	head -1 err > first && test_one_line_error first \"unknown option '-focsu=main'\"
"
test_expect_success "a pprof option memprof does not have is named as such" "
	test_expect_code 2 $MEMPROF top -http=:8080 $G/heap.pb.gz 2> err &&
	head -1 err > first && test_one_line_error first \"option '-http' is not supported\"
"
test_expect_success "a flag with a value that is not a boolean" "
	test_expect_code 2 $MEMPROF top -trim=maybe $G/heap.pb.gz 2> err &&
	head -1 err > first && test_one_line_error first \"invalid value 'maybe' for option '-trim'\"
"
test_expect_success "a filter that matches nothing: pprof's warning, the empty report" "
	compare_top '-focus=no_such_function' $G/heap.pb.gz &&
	grep -q 'Focus expression matched no samples' memprof.err
"

# ---- the sweep ----------------------------------------------------------------------

# Random combinations of the options above (and -cum, -unit, -nodecount,
# -nodefraction, -sample_index, bases, several profiles), seeded: the seed
# is printed, and a mismatch prints the commands to run again.
SWEEP_N=${FILTER_SWEEP_N:-100}
SEED=${FILTER_SWEEP_SEED:-$(( $(date +%s) % 100000 ))}
echo "# $T: sweep of $SWEEP_N combinations, seed $SEED (FILTER_SWEEP_SEED=$SEED to repeat)"
pick() { local a=("$@"); printf '%s' "${a[RANDOM % ${#a[@]}]}"; }

FOCUS=("" "" "" main leaf runtime work site "(?i)MAIN" "^main\\." "\\bleaf" "\\d" \
       "\\Qmain.\\E" malloc "std::" libc "churn|recurse" "[[:upper:]]")
TAGS=("" "" "" "" bytes=1kB:64kB bytes=4kB: bytes=:1kB bytes=1000B 1kB: bytes=16B:2kB)
sweep_one() {
	local files si o="" re
	case $((RANDOM % 11)) in
	0) files="$G/heap.pb.gz"; si=$(pick "" 0 1 2 3 alloc_space inuse_objects) ;;
	1) files="$G/allocs.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	2) files="$G/cpu.pb.gz"; si=$(pick "" 0 1) ;;
	3) files="$D/after.pb.gz"; si=$(pick "" 0 1 2 3)
	   o="$(pick "" -base=$D/before.pb.gz -diff_base=$D/before.pb.gz)" ;;
	4) files="$G/heap.pb.gz $G/allocs.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	5) files="$TRASH/procs.pb.gz"; si=$(pick "" 0 1 2 3)
	   o="$(pick "" "" -tagfocus=program=procs -tagignore=cmdline=leaf -tagfocus=pid:)" ;;
	6) files="$TRASH/cxx.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	7) files="$TRASH/cxxd.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	8) files="$TRASH/known.pb.gz $TRASH/known3.pb.gz"; si=$(pick "" 0 1 2 3) ;;
	9) files="$TRASH/based.pb.gz"; si=$(pick "" 0 1 2 3)
	   o="$(pick "" -tagfocus=pprof::base=true -tagignore=pprof::base=true -tagfocus=base:t)" ;;
	10) files="$TRASH/labels.pb"; si=$(pick "" 0 1)
	   o="$(pick "" -tagfocus=program=make -tagignore=program=cc1 -tagfocus=exe=/usr/bin \
		     -tagfocus=pid=101: -tagfocus=program:c,exe:gcc)" ;;
	esac
	[ -n "$si" ] && o="$o -sample_index=$si"
	local x
	for opt in focus ignore hide show show_from prune_from; do
		[ $((RANDOM % 4)) = 0 ] || continue
		x=$(pick "${FOCUS[@]}")
		[ -n "$x" ] && o="$o -$opt=$x"
	done
	x=$(pick "${TAGS[@]}"); [ -n "$x" ] && o="$o -tagfocus=$x"
	[ $((RANDOM % 5)) = 0 ] && x=$(pick "${TAGS[@]}") && [ -n "$x" ] && o="$o -tagignore=$x"
	o="$o $(pick "" "" "" -lines -files -filefunctions -addresses -functions)"
	o="$o $(pick "" "" "" "" -noinlines -cum -relative_percentages -trim=false)"
	o="$o $(pick "" "" -unit=kB -unit=B -unit=MB)"
	o="$o -nodecount=$(pick 0 0 3 10 20) $(pick "" "" -nodefraction=0 -nodefraction=0.05)"
	o="$o $(pick "" "" "" -edgefraction=0 -edgefraction=0.1)"
	local mrc=0 prc=0 cmd
	case $((RANDOM % 6)) in
	0)	re=$(pick main "(?i)churn" work site "^main\$" "std::" "\\w+_\\w+")
		o="-source_path=$G $o"
		$MEMPROF list $o "$re" $files > memprof.out 2> memprof.err || mrc=$?
		go tool pprof -list "$re" $o $files > pprof.out 2> pprof.err || prc=$?
		cmd="memprof list $o '$re' $files / go tool pprof -list '$re' $o $files"
		# where a source file is missing, memprof still prints the
		# sampled lines' numbers (t0020-list): not pprof's, left out
		awk '/^ROUTINE|^No source/ { skip = 0 } !skip { print } /^ Error: / { skip = 1 }' \
			memprof.out > memprof.cut && mv memprof.cut memprof.out ;;
	*)	$MEMPROF top $o $files > memprof.out 2> memprof.err || mrc=$?
		go tool pprof -top $o $files > pprof.out 2> pprof.err || prc=$?
		cmd="memprof top $o $files / go tool pprof -top $o $files" ;;
	esac
	if [ $((mrc != 0)) != $((prc != 0)) ] || ! cmp -s pprof.out memprof.out; then
		echo "mismatch (seed $SEED): $cmd"
		echo "exit statuses: memprof $mrc, pprof $prc"
		cat memprof.err pprof.err
		diff -u pprof.out memprof.out | head -30
		return 1
	fi
}
test_expect_success "sweep: $SWEEP_N random combinations agree with go tool pprof" "
	RANDOM=$SEED
	for i in \$(seq $SWEEP_N); do sweep_one || exit 1; done
"
test_done
