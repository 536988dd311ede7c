#!/bin/bash
# top and list with --base / --diff-base print what go tool pprof prints
# with -base / -diff_base, on Go's heap profiles and on memprof's own;
# profiles that cannot be compared get one clear line; top --folded writes
# the stacks go tool pprof -traces shows, in the folded format.
. "$(dirname "$0")/test-lib.sh"
D=$SRC/testdata/godiff		# before.pb.gz, after.pb.gz: one Go program
G=$SRC/testdata/goprof		# heap, allocs and cpu profiles of another
F=$SRC/testdata/fixtures
CRAFT="/usr/bin/python3 $SRC/testdata/diff/craft.py"
CC=${CC:-cc}

# compare "<memprof options>" "<go tool pprof options>": top, or list when
# the memprof options start with "list".
compare() {
	case $1 in
	list*) $MEMPROF $1 > memprof.out ;;
	*) $MEMPROF top $1 > memprof.out ;;
	esac
	go tool pprof $2 > pprof.out 2> pprof.err
	test_cmp pprof.out memprof.out
}

# ---- Go's heap profiles ------------------------------------------------------

for mode in base diff_base; do
	for pair in "before after" "after before" "after after"; do
		set -- $pair
		for si in "" alloc_space alloc_objects inuse_objects 3; do
			for n in 0 4; do
				test_expect_success "go: -$mode=$1 $2 -n $n ${si:+--sample-index=$si}" "
					compare '-n $n ${si:+--sample-index=$si} -$mode=$D/$1.pb.gz $D/$2.pb.gz' \
						'-top -nodecount=$n ${si:+-sample_index=$si} -$mode=$D/$1.pb.gz $D/$2.pb.gz'"
			done
		done
	done
	test_expect_success "go: -$mode --cum --unit=kB" "
		compare '--cum --unit=kB -n 7 -$mode $D/before.pb.gz $D/after.pb.gz' \
			'-top -cum -unit=kB -nodecount=7 -$mode=$D/before.pb.gz $D/after.pb.gz'"
	test_expect_success "go: -$mode --nodefraction=0.1 -alloc_space" "
		compare '--nodefraction=0.1 -alloc_space -n 0 -$mode=$D/before.pb.gz $D/after.pb.gz' \
			'-top -nodefraction=0.1 -alloc_space -$mode=$D/before.pb.gz $D/after.pb.gz'"
	for re in 'main\.grow' 'main\.' 'small' 'runtime\.main$'; do
		for si in "" alloc_objects; do
			test_expect_success "go: list '$re' -$mode ${si:+--sample-index=$si}" "
				compare 'list --source-path=$D ${si:+--sample-index=$si} -$mode=$D/before.pb.gz $re $D/after.pb.gz' \
					'-list $re -source_path=$D ${si:+-sample_index=$si} -$mode=$D/before.pb.gz $D/after.pb.gz'"
		done
	done
	test_expect_success "go: -$mode with a base from another program" "
		compare '-n 0 -$mode=$G/heap.pb.gz $D/after.pb.gz' \
			'-top -$mode=$G/heap.pb.gz $D/after.pb.gz'
	"
done

test_expect_success "every spelling of the options" '
	go tool pprof -top -base=$D/before.pb.gz $D/after.pb.gz > base.want 2> /dev/null &&
	go tool pprof -top -diff_base=$D/before.pb.gz $D/after.pb.gz > diff.want 2> /dev/null &&
	! test_cmp base.want diff.want > /dev/null &&
	for opt in "--base=$D/before.pb.gz" "-base=$D/before.pb.gz" "-base $D/before.pb.gz" \
		   "--base $D/before.pb.gz"; do
		$MEMPROF top -n 0 $opt $D/after.pb.gz > out && test_cmp base.want out || return 1
	done &&
	for opt in "--diff-base=$D/before.pb.gz" "-diff_base=$D/before.pb.gz" \
		   "--diff_base=$D/before.pb.gz" "-diff_base $D/before.pb.gz" \
		   "--diff-base $D/before.pb.gz"; do
		$MEMPROF top -n 0 $opt $D/after.pb.gz > out && test_cmp diff.want out || return 1
	done &&
	$MEMPROF top -n 0 $D/after.pb.gz --base=$D/before.pb.gz > out && test_cmp base.want out
'

test_expect_success "several bases are merged first, as pprof merges several sources" '
	go tool pprof -proto $D/before.pb.gz $G/heap.pb.gz > both.pb.gz 2> /dev/null &&
	for mode in base diff_base; do
		go tool pprof -top -$mode=both.pb.gz $D/after.pb.gz > want 2> /dev/null &&
		$MEMPROF top -n 0 -$mode=$D/before.pb.gz -$mode=$G/heap.pb.gz $D/after.pb.gz > out &&
		test_cmp want out || return 1
	done
'

test_expect_success "an empty -base= is ignored, as pprof ignores it" '
	$MEMPROF top -n 0 -base= $D/after.pb.gz > out &&
	go tool pprof -top $D/after.pb.gz > want 2> /dev/null &&
	test_cmp want out
'

# ---- memprof's own profiles -------------------------------------------------

(cd "$TRASH" && $CC -g -O2 -o known $F/known.c &&
	$MEMPROF run -q --rate 1 -o k1.pb.gz ./known 1 > /dev/null &&
	$MEMPROF run -q --rate 1 -o k3.pb.gz ./known 3 > /dev/null) ||
	{ echo "FAIL $T: cannot make memprof profiles of known.c"; exit 1; }

for mode in base diff_base; do
	for pair in "k1 k3" "k3 k1" "k1 k1"; do
		set -- $pair
		for si in alloc_space inuse_objects; do
			test_expect_success "memprof: -$mode=$1 $2 --sample-index=$si" "
				compare '-n 0 --sample-index=$si -$mode=$1.pb.gz $2.pb.gz' \
					'-top -sample_index=$si -$mode=$1.pb.gz $2.pb.gz'"
		done
	done
	test_expect_success "memprof: list 'site_' -$mode" "
		compare 'list --source-path=$F -$mode=k1.pb.gz site_ k3.pb.gz' \
			'-list site_ -source_path=$F -$mode=k1.pb.gz k3.pb.gz'"
done

# known.c's table: at scale 3 each site allocates 3 times what it does at
# scale 1, so 3 - 1 is the table at scale 2 (site alloc_objects alloc_space
# inuse_objects inuse_space).
test_expect_success "memprof: --base leaves exactly the difference at --rate 1" '
	col=2 &&
	for si in alloc_objects alloc_space inuse_objects inuse_space; do
		$MEMPROF top -n 0 --nodefraction=0 --unit=B --sample-index=$si --base=k1.pb.gz \
			k3.pb.gz | awk "\$NF ~ /^site_/ { v = \$1; sub(/B\$/, \"\", v); print \$NF, v }" |
			sort > got &&
		awk -v c=$col "\$c != 0 { print \$1, \$c }" > want <<-EOF &&
		site_aligned 400 76800 400 76800
		site_calloc 1000 80000 0 0
		site_large 40 41943040 0 0
		site_malloc 2000 200000 200 20000
		site_realloc 1200 44800 100 6400
		EOF
		test_cmp want got || return 1
		col=$((col + 1))
	done
'

test_expect_success "memprof: --diff-base percentages are of the base" '
	$MEMPROF top -n 0 --sample-index=alloc_space --unit=B --diff-base=k1.pb.gz k3.pb.gz > out &&
	total=$($MEMPROF top --sample-index=alloc_space --unit=B k1.pb.gz |
		sed -n "s/.* of \([0-9]*\)B total\$/\1/p") &&
	test -n "$total" &&
	grep -q " of ${total}B total\$" out &&
	awk "\$NF == \"site_large\" { print \$1, \$2 }" out > got &&
	awk -v t=$total "BEGIN { printf \"41943040B %.2f%%\n\", 41943040 * 100 / t }" > want &&
	test_cmp want got
'

test_expect_success "a profile without mappings gets pprof's stand-in mapping (no File line)" '
	printf "%s\n" "types alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes" \
		"period space/bytes 524288" "sample 1 100 1 100 ; main.main main.grow" |
		$CRAFT nomap.pb &&
	printf "%s\n" "types alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes peak_objects/count peak_space/bytes" \
		"period space/bytes 524288" "sample 1 100 1 100 1 100 ; main.main main.grow" |
		$CRAFT nomap6.pb &&
	for args in "-base=nomap.pb $D/after.pb.gz" "-diff_base=$D/after.pb.gz nomap.pb" \
		    "-base=k1.pb.gz nomap6.pb"; do
		go tool pprof -top $args > want 2> /dev/null &&
		$MEMPROF top -n 0 $args > got &&
		test_cmp want got || return 1
	done &&
	! grep -q "^File:" got
'

# ---- profiles that cannot be compared -----------------------------------------

# craft NAME TYPES: a profile with those sample types (space-separated
# type/unit) and one sample at main;f.
craft() {
	local name=$1 types=$2 values
	values=$(echo $types | awk "{ for (i = 1; i <= NF; i++) printf \"%d \", i }")
	printf "types %s\nperiod space/bytes 1\nsample %s ; main f\n" "$types" "$values" |
		$CRAFT "$name"
}
FOUR="alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"
SIX="$FOUR peak_objects/count peak_space/bytes"

test_expect_success "a CPU profile as base: one line, exit 1, as pprof refuses it" '
	test_must_fail_pprof() { ! go tool pprof -top "$@" > /dev/null 2>&1; } &&
	test_must_fail_pprof -base=$G/cpu.pb.gz $D/after.pb.gz &&
	test_expect_code 1 $MEMPROF top --base=$G/cpu.pb.gz $D/after.pb.gz > out 2> err &&
	test_one_line_error err "cannot subtract base .*cpu.pb.gz from .*after.pb.gz: period types differ: the profile.s is space/bytes, the base.s cpu/nanoseconds" &&
	test ! -s out &&
	test_expect_code 1 $MEMPROF list --diff-base=$D/after.pb.gz . $G/cpu.pb.gz 2> err &&
	test_one_line_error err "cannot compare .*cpu.pb.gz with base .*after.pb.gz: period types differ"
'

test_expect_success "4 sample types against 6 (peak_*): refused as pprof does, and said why" '
	craft four.pb "$FOUR" && craft six.pb "$SIX" &&
	! go tool pprof -top -base=four.pb six.pb > /dev/null 2>&1 &&
	test_expect_code 1 $MEMPROF top --base=four.pb six.pb 2> err &&
	test_one_line_error err "sample types differ.*the profile has 6 (.*peak_space/bytes), the base 4 (.*); the base has no peak_objects, peak_space (profiles merge only with the same sample types in the same order, as in go tool pprof)\$" &&
	test_expect_code 1 $MEMPROF top --diff-base=six.pb four.pb 2> err &&
	test_one_line_error err "the profile has no peak_objects, peak_space ("
'

test_expect_success "no sample type in common: one line naming both lists" '
	craft cpuish.pb "samples/count cpu/nanoseconds" &&
	test_expect_code 1 $MEMPROF top --base=cpuish.pb $D/after.pb.gz 2> err &&
	test_one_line_error err "the profile has 4 (alloc_objects/count .*), the base 2 (samples/count cpu/nanoseconds)"
'

test_expect_success "types pprof tells apart only by a trailing s: refused, as pprof does" '
	craft plural.pb "alloc_objects/count alloc_spaces/bytes inuse_objects/count inuse_space/bytes" &&
	craft four.pb "$FOUR" &&
	! go tool pprof -top -base=plural.pb four.pb > /dev/null 2>&1 &&
	test_expect_code 1 $MEMPROF top --base=plural.pb four.pb 2> err &&
	test_one_line_error err "the base has no alloc_space, the profile has no alloc_spaces"
'

test_expect_success "units of one kind (kilobytes and bytes) merge in the finer, as in pprof" '
	printf "%s\n" "types alloc_objects/count alloc_space/kilobytes" \
		"period space/kilobytes 1" "sample 1 3 ; main f" "sample 2 2 ; main g; tag=x" |
		$CRAFT kb.pb &&
	printf "%s\n" "types alloc_objects/count alloc_space/bytes" "period space/bytes 512" \
		"sample 2 5000 ; main f" "sample 4 1000 ; main g" | $CRAFT b.pb &&
	for mode in base diff_base; do
		for si in 0 1; do
			go tool pprof -top -sample_index=$si -$mode=kb.pb b.pb > want 2> /dev/null &&
			$MEMPROF top -sample_index=$si -$mode=kb.pb b.pb > got &&
			test_cmp want got || return 1
		done
	done
'

test_expect_success "--base and --diff-base together: a usage error, as in pprof" '
	test_expect_code 2 $MEMPROF top --base=$D/before.pb.gz --diff-base=$D/before.pb.gz \
		$D/after.pb.gz 2> err &&
	grep -q "^memprof: top: --base and --diff-base cannot both be given\$" err
'

test_expect_success "a base that cannot be read: one line naming it" '
	test_expect_code 1 $MEMPROF top --base=missing.pb.gz $D/after.pb.gz 2> err &&
	test_one_line_error err "^memprof: missing.pb.gz: " &&
	test_expect_code 1 $MEMPROF list --diff-base=$SRC/testdata/bad/truncated.pb.gz . \
		$D/after.pb.gz 2> err &&
	test_one_line_error err "^memprof: .*truncated.pb.gz: " &&
	test_expect_code 2 $MEMPROF top --base $D/after.pb.gz 2> err &&
	grep -q "missing profile FILE" err &&
	test_expect_code 2 $MEMPROF top $D/after.pb.gz --base 2> err &&
	grep -q "needs a value" err
'

# ---- folded stacks -------------------------------------------------------------

# folded_from_traces "<go tool pprof options>": go tool pprof -traces in raw
# units turned into folded stacks (the value line, then the frames, leaf
# first), summed by stack, zero sums left out.
folded_from_traces() {
	go tool pprof -traces -unit=B $1 2> /dev/null | awk '
		function flush() {
			if (n) { s = f[n]; for (i = n - 1; i >= 1; i--) s = s ";" f[i]; sum[s] += v }
			n = 0
		}
		/^-----------\+/ { flush(); in_trace = 1; next }
		!in_trace { next }				# the header
		n == 0 && /^ *[^ ]+:  / { next }		# a label
		{
			if (n == 0) { v = substr($0, 1, 10); gsub(/[ B]/, "", v) }
			name = substr($0, 14); sub(/ \(inline\)$/, "", name)
			f[++n] = name
		}
		END { flush(); for (s in sum) if (sum[s] != 0) printf "%s %.0f\n", s, sum[s] }
	' | sort
}

# check_folded FILE: every line is "frame;frame;... VALUE", no frame empty.
check_folded() {
	if grep -v -E "^[^;]+(;[^;]+)* -?[0-9]+\$" "$1" | grep -q .; then
		echo "malformed folded lines:"; grep -v -E "^[^;]+(;[^;]+)* -?[0-9]+\$" "$1"
		return 1
	fi
}

for args in "$D/after.pb.gz" "-sample_index=alloc_objects $D/after.pb.gz" \
	    "$G/allocs.pb.gz" "-sample_index=inuse_space $G/heap.pb.gz" \
	    "-base=$D/before.pb.gz $D/after.pb.gz" \
	    "-sample_index=alloc_space -diff_base=$D/before.pb.gz $D/after.pb.gz" \
	    "-sample_index=alloc_space k3.pb.gz" "-sample_index=inuse_objects -base=k1.pb.gz k3.pb.gz"; do
	test_expect_success "--folded $args: the stacks of go tool pprof -traces" "
		$MEMPROF top --folded $args > folded &&
		check_folded folded &&
		test -s folded &&
		sort folded > got &&
		folded_from_traces '$args' > want &&
		test_cmp want got
	"
done

test_expect_success "--folded: the values add up to the profile's total" '
	for si in alloc_space inuse_objects; do
		$MEMPROF top --folded --sample-index=$si k3.pb.gz > folded &&
		sum=$(awk "{ s += \$NF } END { print s }" folded) &&
		$MEMPROF top --unit=B --sample-index=$si k3.pb.gz > top &&
		grep -q " of ${sum}B\\? total\$" top || { echo "sum $sum"; cat top; return 1; }
	done
'

test_expect_success "--folded: inlined frames are frames of their own" '
	$MEMPROF top --folded $D/after.pb.gz > folded &&
	grep -q "^runtime.main;main.main;main.callsSmall;main.small [0-9]*\$" folded
'

test_expect_success "--folded after --base: what is left, negative where it shrank" '
	$MEMPROF top --folded --base=$D/before.pb.gz $D/after.pb.gz > folded &&
	grep -q "^runtime.main;main.main;main.fillCache -[0-9]*\$" folded &&
	grep -q "^runtime.main;main.main;main.newInPhase2 [0-9]*\$" folded &&
	$MEMPROF top --folded --base=$D/after.pb.gz $D/after.pb.gz > none &&
	test ! -s none
'

test_expect_success "--folded: ';' in a name would split a frame, so it is written ':'" '
	printf "%s\n" "types alloc_space/bytes" "sample 5 ; main a%3Bb" | $CRAFT semi.pb &&
	$MEMPROF top --folded semi.pb > got &&
	echo "main;a:b 5" > want &&
	test_cmp want got
'

if command -v flamegraph.pl > /dev/null; then
	test_expect_success "--folded: flamegraph.pl draws it" '
		$MEMPROF top --folded $D/after.pb.gz | flamegraph.pl > out.svg 2> err &&
		grep -q "main.newInPhase2" out.svg && test ! -s err
	'
else
	test_skip "--folded: flamegraph.pl draws it" "no flamegraph.pl here"
fi

test_expect_success "--folded is top's: list refuses it" '
	test_expect_code 2 $MEMPROF list --folded . $D/after.pb.gz 2> err &&
	grep -q "unknown option" err
'
test_done
