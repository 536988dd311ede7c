#!/bin/bash
# A short run of both libFuzzer targets (the profile reader, memprof
# convert's recording reader), as CI's smoke of `make fuzz`; the long runs
# are `make fuzz FUZZ_SECONDS=...` (docs/reliability.md).
. "$(dirname "$0")/test-lib.sh"

if ! command -v clang > /dev/null; then
	test_skip "fuzz smoke" "no clang here"
else
test_expect_success "both fuzz targets build and run 5 s each without a crash, leak or timeout" '
	make -C "$SRC" --no-print-directory BUILD="$BUILD" fuzz FUZZ_SECONDS=5 > log 2>&1 ||
		{ tail -30 log; exit 1; }
	test "$(grep -c "^Done [0-9]* runs" log)" = 2
'
fi
test_done
