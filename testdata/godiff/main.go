// Command godiff writes two heap profiles of one Go program, before.pb.gz
// and after.pb.gz, for tests/t0120-diff.sh to diff with go tool pprof's
// -base and -diff_base. Between them some call sites grow, one frees what
// it held, one appears and one is inlined into its callers.
// Regenerate with: cd testdata/godiff && go run main.go
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

var kept [][]byte
var cache [][]byte

//go:noinline
func grow(n int) {
	for i := 0; i < n; i++ {
		kept = append(kept, make([]byte, 1024))
	}
}

//go:noinline
func fillCache() {
	for i := 0; i < 300; i++ {
		cache = append(cache, make([]byte, 4096))
	}
}

//go:noinline
func dropCache() { cache = nil }

//go:noinline
func newInPhase2() {
	for i := 0; i < 100; i++ {
		kept = append(kept, make([]byte, 8192))
	}
}

// inlined into its callers
func small(n int) []byte { return make([]byte, n) }

//go:noinline
func callsSmall(n int) {
	for i := 0; i < n; i++ {
		kept = append(kept, small(200))
	}
}

func write(name string) {
	runtime.GC()
	out, err := os.Create(name)
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("heap").WriteTo(out, 0); err != nil {
		panic(err)
	}
	out.Close()
}

func main() {
	runtime.MemProfileRate = 4096
	grow(200)
	fillCache()
	callsSmall(500)
	write("before.pb.gz")
	grow(600)
	dropCache()
	newInPhase2()
	callsSmall(100)
	write("after.pb.gz")
	println(len(kept))
}
