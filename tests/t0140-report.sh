#!/bin/bash
# memprof report: one self-contained HTML page. Generated from a real
# program's profile, from Go's, from a crafted one (names with markup, two
# processes and their heap over time) and a 100k-stack synthetic one; loaded
# in headless Chromium when it is installed: the DOM after the page's script
# ran has the summary values, the flame graph frames, the top table rows and
# the source listing, and the page made no request. Bad input: one line, exit 1.
. "$(dirname "$0")/test-lib.sh"
F=$SRC/testdata/fixtures
G=$SRC/testdata/goprof
cd "$TRASH"
${CC:-cc} -g -O2 -o known $F/known.c || { echo "FAIL $T: cannot build fixtures"; exit 1; }
$MEMPROF run -q --rate 1 -o known.pb.gz ./known 1 > /dev/null ||
	{ echo "FAIL $T: cannot profile the fixture"; exit 1; }
cd - > /dev/null

CHROME=
for c in chromium chromium-browser google-chrome; do
	command -v $c > /dev/null && { CHROME=$c; break; }
done

# dom HTML OUT: the DOM of the page after its script ran, from a browser
# that may resolve no host name; a page that did not finish fails.
dom() {
	local url="file://$(readlink -f "${1%%#*}")${1##*.html}"
	timeout 120 $CHROME --headless --no-sandbox --disable-gpu --user-data-dir="$TRASH/chrome" \
		--host-resolver-rules="MAP * ~NOTFOUND" --window-size=1400,1000 \
		--dump-dom "$url" > "$2" 2> "$2.err" || { cat "$2.err"; return 1; }
	# the page's script marks <body> when done: how long it took, what
	# was fetched, and any request the content security policy refused
	grep -o "<body[^>]*>" "$2" > "$2.body"
	grep -q 'data-ready="1"' "$2.body" || { echo "the page's script did not finish"; return 1; }
	grep -q 'data-resources="0"' "$2.body" || { echo "the page fetched something"; return 1; }
	! grep -q 'data-csp-violations' "$2.body" || { echo "the page tried to fetch something"; return 1; }
}

# no_urls HTML: the page names no http(s) URL at all (it has nothing to fetch)
no_urls() {
	if grep -o 'https\?://[^"< ]*' "$1"; then
		echo "the page holds URLs"
		return 1
	fi
}

test_expect_success "report writes FILE.html by default, with the data inline" '
	cp known.pb.gz k.pb.gz &&
	$MEMPROF report k.pb.gz 2> err &&
	test -s k.html &&
	grep -q "^memprof: wrote k.html: .* flame graph of [0-9]* frames" err &&
	grep -q "<script type=\"application/json\" id=\"data\">{" k.html &&
	! grep -q "<script[^>]* src=" k.html && ! grep -q "<link" k.html &&
	no_urls k.html
'

test_expect_success "-o - writes the page to stdout; -q says nothing" '
	$MEMPROF report -q -o - known.pb.gz > out.html 2> err &&
	test ! -s err && head -1 out.html | grep -q "^<!DOCTYPE html>" &&
	tail -1 out.html | grep -q "^</html>$"
'

test_expect_success "a profile without .pb.gz gets .html added" '
	cp known.pb.gz prof && $MEMPROF report -q prof && test -s prof.html
'

if [ -z "$CHROME" ]; then
	test_skip "the page in a browser" "no chromium: apt-get install chromium"
else
	test_expect_success "in Chromium: summary, flame graph, top table, source of a real program" '
		$MEMPROF report -q -o known.html known.pb.gz &&
		dom known.html known.dom &&
		total=$($MEMPROF top --unit=B --sample-index=alloc_space known.pb.gz |
			sed -n "s/.* of \([0-9]*\)B total\$/\1/p") &&
		test -n "$total" &&
		grep -q "<tr id=\"sum-allocated\"><th>Total allocated</th><td class=\"num\" data-value=\"$total\">" known.dom &&
		grep -q "<tr id=\"sum-processes\"><th>Processes</th><td class=\"num\" data-value=\"1\">pid [0-9]*</td>" known.dom &&
		grep -q "<tr id=\"sum-rate\"><th>Sampling rate</th><td class=\"num\" data-value=\"1\">every allocation" known.dom &&
		grep -q "<tr id=\"sum-command\"><th>Command</th><td class=\"num\">./known 1</td>" known.dom &&
		leaks=$($MEMPROF leaks known.pb.gz | sed -n "s/^SUMMARY: memprof: \([0-9]*\) byte(s) in use at exit.*/\1/p") &&
		test -n "$leaks" &&
		grep -q "<tr id=\"sum-leaks\"><th>Leaks</th><td class=\"num\" data-value=\"$leaks\">.* after the default suppressions" known.dom &&
		peak=$($MEMPROF top --unit=B --sample-index=peak_space known.pb.gz |
			sed -n "s/.* of \([0-9]*\)B total\$/\1/p") &&
		grep -q "<tr id=\"sum-peak\"><th>Peak heap in use</th><td class=\"num\" data-value=\"$peak\">" known.dom &&
		grep -q "id=\"peak-label\">peak [0-9.]*[kM]\?B at [0-9.]*m\?s</text>" known.dom &&
		test "$(grep -o "class=\"band\" data-pid=" known.dom | wc -l)" = 1 &&
		grep -q "<div class=\"fr[^>]*>site_large</div>" known.dom &&
		grep -q "<div class=\"fr[^>]*>main</div>" known.dom &&
		for site in site_malloc site_calloc site_realloc site_aligned site_large; do
			want=$(flat known.pb.gz alloc_space $site) &&
			grep -q "<tr [^>]*data-fn=\"$site\" data-flat=\"$want\"" known.dom ||
				{ echo "top row $site: want flat $want"; exit 1; }
		done &&
		grep -q "<span id=\"source-name\">site_large</span>" known.dom &&
		grep -q "ROUTINE ======================== site_large in .*known.c" known.dom
	'

	test_expect_success "in Chromium: a run of several programs lists each with its command line" '
		$MEMPROF run -q --rate 1 -o procs.pb.gz -- sh -c "./known 1 > /dev/null; ./known 2 > /dev/null" &&
		$MEMPROF report -q -o procs.html procs.pb.gz && dom procs.html procs.dom &&
		grep -o "<table class=\"procs\".*</table>" procs.dom | sed "s/<tr>/\n<tr>/g" > rows &&
		cat rows &&
		grep -q "<td>known</td><td class=\"num\">[0-9.]*MB</td><td class=\"cmd\">./known 2</td>" rows &&
		grep -q "<td>known</td><td class=\"num\">[0-9.]*MB</td><td class=\"cmd\">./known 1</td>" rows &&
		test "$(grep -c "<td class=\"num\">[0-9]*</td>" rows)" -ge 2 &&
		grep -q "id=\"sum-processes\"" procs.dom
	'

	test_expect_success "in Chromium: the view in the fragment: type, search share, zoom, function" '
		dom "known.html#type=alloc_objects&search=^site_&zoom=main&fn=site_calloc" view.dom &&
		grep -q "id=\"match\" data-value=\"2320\">Matched: 2320 of [0-9]* (" view.dom &&
		grep -q "id=\"crumbs\">Zoomed: total › .* › main " view.dom &&
		grep -q "<span id=\"source-name\">site_calloc</span>" view.dom &&
		grep -q "As memprof list --sample-index=alloc_objects prints it" view.dom &&
		grep -q "<span class=\"hot\"> *500 *500 *41:.*calloc(10, 8)" view.dom &&
		dom "known.html#fn=no_such_function" nofn.dom &&
		grep -q "for this one run: memprof list .\^no_such_function\$. known.pb.gz" nofn.dom
	'

	test_expect_success "in Chromium: the heap over time, two processes, names with markup" '
		$BUILD/test-unit report-demo demo.html &&
		no_urls demo.html &&
		dom demo.html demo.dom &&
		grep -q "id=\"peak-label\">peak 64MB at 1s</text>" demo.dom &&
		test "$(grep -o "class=\"band\" data-pid=\"10[12]\"" demo.dom | wc -l)" = 2 &&
		grep -q "class=\"rss\"" demo.dom &&
		grep -q "pid 101 demo: peak 64MB at 1s" demo.dom &&
		grep -q "pid 102 demo-child: peak 24MB at 2s" demo.dom &&
		grep -q "<tr id=\"sum-peak\"><th>Peak heap in use</th><td class=\"num\" data-value=\"96473088\">92MB in 108 blocks   (the sum of each process" demo.dom &&
		grep -q "<tr id=\"sum-peak-time\"><th>Peak reached</th><td class=\"num\" data-value=\"1000000000\">at 1s" demo.dom &&
		grep -q ">parse&lt;/script&gt;&lt;b&gt;x</div>" demo.dom &&
		grep -q "data-fn=\"parse&lt;/script&gt;&lt;b&gt;x\"" demo.dom &&
		grep -q ">std::vector&lt;int, std::allocator&lt;int&gt; &gt;::push_back</td>" demo.dom &&
		grep -q ">cache_put&amp;evict</div>" demo.dom &&
		grep -q "<title>memprof report: demo&lt;/title&gt;.pb.gz</title>" demo.dom &&
		! grep -q "<b>x" demo.dom &&
		grep -q "<option value=\"5\">peak_space (bytes in use at the peak)</option>" demo.dom &&
		grep -q "class=\"fr inl\"[^>]*>bucket_alloc</div>" demo.dom
	'

	test_expect_success "in Chromium: a base colours the frames and shows the changes" '
		$BUILD/test-unit report-demo base.html --base &&
		dom base.html base.dom &&
		grep -q "<label id=\"side-label\">" base.dom &&
		grep -q "(compared with base.pb.gz, --base)" base.dom &&
		grep -q "background: rgb(2[0-9][0-9], [0-9]*, [0-9]*);[^>]*>cache_put&amp;evict</div>" base.dom &&
		grep -q "data-fn=\"std::vector&lt;int, std::allocator&lt;int&gt; &gt;::push_back\" data-flat=\"33554432\"" base.dom
	'

	test_expect_success "in Chromium: Go's heap profile (no heap over time)" '
		$MEMPROF report -q -o go.html $G/heap.pb.gz &&
		dom go.html go.dom &&
		grep -q "data-empty=\"1\">This profile has no heap-over-time data" go.dom &&
		grep -q ">main.leafBig</div>" go.dom &&
		grep -q "data-fn=\"main.leafBig\"" go.dom &&
		grep -q "<tr id=\"sum-processes\"><th>Processes</th><td class=\"num\" data-value=\"1\">" go.dom &&
		grep -q "<tr id=\"sum-leaks\"><th>Leaks</th>" go.dom
	'

	test_expect_success "in Chromium: a 100k-stack profile is drawn, the page stays small" '
		$BUILD/synth-profile 100000 50000 synth.pb.gz tree &&
		$MEMPROF report -o synth.html synth.pb.gz 2> err &&
		size=$(stat -c %s synth.html) && test "$size" -lt 4000000 &&
		dom synth.html synth.dom &&
		ms=$(sed -n "s/.*data-render-ms=\"\([0-9]*\)\".*/\1/p" synth.dom.body) &&
		echo "page $size bytes, drawn in $ms ms" && test "$ms" -lt 10000 &&
		grep -q ">module0::function_0</div>" synth.dom
	'

	test_expect_success "in Chromium: a screenshot" '
		timeout 120 $CHROME --headless --no-sandbox --disable-gpu --user-data-dir="$TRASH/chrome" \
			--host-resolver-rules="MAP * ~NOTFOUND" --window-size=1400,1000 \
			--screenshot="$TRASH/shot.png" "file://$TRASH/known.html" 2> /dev/null &&
		test "$(head -c 4 shot.png | od -An -c | tr -d " ")" = "211PNG" &&
		test "$(stat -c %s shot.png)" -gt 20000
	'
fi

test_expect_success "not a profile: one line, exit 1, nothing written" '
	test_expect_code 1 $MEMPROF report -o x.html $SRC/testdata/bad/text.txt 2> err &&
	test_one_line_error err "^memprof: .*text.txt: not a pprof profile" &&
	test ! -e x.html
'

test_expect_success "a missing profile: one line, exit 1" '
	test_expect_code 1 $MEMPROF report -o x.html nosuch.pb.gz 2> err &&
	test_one_line_error err "^memprof: nosuch.pb.gz: " && test ! -e x.html
'

test_expect_success "an output that cannot be written: one line, exit 1, before reading" '
	test_expect_code 1 $MEMPROF report -o /nonexistent/dir/x.html known.pb.gz 2> err &&
	test_one_line_error err "^memprof: /nonexistent/dir/x.html: " &&
	test_expect_code 1 $MEMPROF report -o known.pb.gz/x.html known.pb.gz 2> err &&
	test_one_line_error err "^memprof: known.pb.gz/x.html: " &&
	mkdir d && test_expect_code 1 $MEMPROF report -o d known.pb.gz 2> err &&
	test_one_line_error err "^memprof: d: is a directory" &&
	test_expect_code 1 $MEMPROF report -o /nonexistent/x.html $SRC/testdata/bad/text.txt 2> err &&
	test_one_line_error err "^memprof: /nonexistent/x.html: "
'

test_expect_success "a failed write (a full device): one line, exit 1" '
	test -w /dev/full || exit 0
	test_expect_code 1 $MEMPROF report -o /dev/full known.pb.gz 2> err &&
	test_one_line_error err "^memprof: /dev/full: No space left on device"
'

# Every allocation memprof report makes fails in turn: each run writes the
# whole page or fails with one line and writes nothing; never a crash.
if ldd "$BUILD/memprof" | grep -q libasan; then
	test_skip "report with each allocation failing" "a sanitizer build"
else
	test_expect_success "report with each allocation failing in turn: the page or one line" '
		${CC:-cc} -O2 -shared -fPIC -o fault.so $SRC/tests/faultmalloc.c &&
		total=$(FAULT_COUNT=1 LD_PRELOAD=./fault.so $BUILD/memprof report -q -o ref.html \
			known.pb.gz 2>&1 >/dev/null) &&
		test "$total" -gt 100 && failed=0 &&
		for n in $(seq 1 $((total + 5))); do
			rm -f o.html && rc=0 &&
			FAULT_AT=$n LD_PRELOAD=./fault.so $BUILD/memprof report -q -o o.html \
				known.pb.gz > out 2> err || rc=$?
			case $rc in
			0) tail -1 o.html | grep -q "^</html>\$" ||
				{ echo "allocation $n failed: the page is not whole"; exit 1; } ;;
			1) test_one_line_error err "^memprof: " && test ! -e o.html ||
				{ echo "allocation $n failed: a page or not one line"; exit 1; }
			   failed=$((failed + 1)) ;;
			*) echo "allocation $n failed: exit status $rc"; cat err; exit 1 ;;
			esac
		done &&
		echo "$failed of $total runs failed cleanly" && test "$failed" -gt 100
	'
fi

test_expect_success "a base of another kind: one line, exit 1" '
	test_expect_code 1 $MEMPROF report -o x.html --base=$G/cpu.pb.gz $G/heap.pb.gz 2> err &&
	test_one_line_error err "^memprof: cannot subtract base .*cpu.pb.gz from .*heap.pb.gz: period types differ" &&
	test_expect_code 1 $MEMPROF report -o x.html --diff-base=$G/cpu.pb.gz $G/heap.pb.gz 2> err &&
	test_one_line_error err "^memprof: cannot compare .*heap.pb.gz with base .*cpu.pb.gz: period types differ" &&
	test_expect_code 1 $MEMPROF report -o x.html -diff_base=$SRC/testdata/bad/empty known.pb.gz 2> err &&
	test_one_line_error err "^memprof: .*empty: empty file" &&
	test ! -e x.html
'

test_expect_success "--suppressions: used in the summary; a malformed file names its line" '
	echo "leak:site_aligned" > supp.txt &&
	$MEMPROF report -q -o s.html --suppressions=supp.txt known.pb.gz &&
	grep -q "\"suppressions\":\"the default suppressions, supp.txt\"" s.html &&
	printf "# ok\nbogus line\n" > bad.txt &&
	test_expect_code 1 $MEMPROF report -o x.html --suppressions=bad.txt known.pb.gz 2> err &&
	test_one_line_error err "^memprof: bad.txt:2: " && test ! -e x.html &&
	test_expect_code 2 $MEMPROF report --fail-on-leak known.pb.gz 2> err
'

test_expect_success "usage errors: exit 2" '
	test_expect_code 2 $MEMPROF report 2> err && grep -q "missing profile FILE" err &&
	test_expect_code 2 $MEMPROF report --frobnicate known.pb.gz 2> err &&
	test_expect_code 2 $MEMPROF report --min-frame=2 known.pb.gz 2> err &&
	test_expect_code 2 $MEMPROF report --max-frames=5 known.pb.gz 2> err &&
	test_expect_code 2 $MEMPROF report --base=a --diff-base=b known.pb.gz 2> err &&
	test_expect_code 2 $MEMPROF report a.pb.gz b.pb.gz 2> err &&
	test_expect_code 1 $MEMPROF report --sample-index=nosuch -o x.html known.pb.gz 2> err &&
	test_one_line_error err "sample index .nosuch. is not one of" &&
	$MEMPROF report --help | grep -q "^usage: memprof report"
'
test_done
