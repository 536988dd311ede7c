#!/bin/sh
# demo.sh - make demo: profile the tutorial program and show what pprof shows.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mkdir -p "$BUILD/demo"
${CC:-cc} -g -O2 -o "$BUILD/demo/tutorial" testdata/demo/tutorial.c
set -x
"$BUILD/memprof" run --rate 2048 -o "$BUILD/demo/tutorial.pb.gz" "$BUILD/demo/tutorial"
"$BUILD/memprof" top "$BUILD/demo/tutorial.pb.gz"
"$BUILD/memprof" list generate_data_structures "$BUILD/demo/tutorial.pb.gz"
