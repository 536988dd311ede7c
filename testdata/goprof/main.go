// Command goprof writes the Go-runtime profiles memprof's reports are checked
// against: heap.pb.gz (MemProfileRate 4096), allocs.pb.gz and cpu.pb.gz.
// Regenerate with: cd testdata/goprof && go run main.go
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

var keep [][]byte
var sink []map[int]int

//go:noinline
func leafSmall(n int) []byte { return make([]byte, n) }

//go:noinline
func leafBig() []byte { return make([]byte, 256<<10) }

// inlined into its callers
func smallInline(n int) []byte { return make([]byte, n+1) }

//go:noinline
func recurse(depth int) {
	if depth == 0 {
		keep = append(keep, leafSmall(512))
		return
	}
	keep = append(keep, smallInline(64))
	recurse(depth - 1)
}

//go:noinline
func generateDataStructures() {
	for i := 0; i < 20000; i++ {
		m := make(map[int]int, 5)
		for j := 0; j < 5; j++ {
			m[j] = i * j
		}
		sink = append(sink, m)
	}
}

//go:noinline
func churn() {
	for i := 0; i < 3000; i++ {
		b := leafSmall(100 + i%900)
		if i%10 == 0 {
			keep = append(keep, b)
		}
	}
	for i := 0; i < 40; i++ {
		keep = append(keep, leafBig())
	}
	for i := 0; i < 200; i++ {
		recurse(4)
	}
}

//go:noinline
func spin(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x += i * i % 7
	}
	return x
}

//go:noinline
func busy() int {
	s := 0
	for i := 0; i < 40; i++ {
		s += spin(10000000)
	}
	return s
}

func write(name string, f func(*os.File) error) {
	out, err := os.Create(name)
	if err != nil {
		panic(err)
	}
	if err := f(out); err != nil {
		panic(err)
	}
	out.Close()
}

func main() {
	runtime.MemProfileRate = 4096
	cpu, err := os.Create("cpu.pb.gz")
	if err != nil {
		panic(err)
	}
	pprof.StartCPUProfile(cpu)
	generateDataStructures()
	churn()
	println(busy())
	pprof.StopCPUProfile()
	cpu.Close()
	runtime.GC()
	write("heap.pb.gz", func(f *os.File) error { return pprof.Lookup("heap").WriteTo(f, 0) })
	write("allocs.pb.gz", func(f *os.File) error { return pprof.Lookup("allocs").WriteTo(f, 0) })
	println(len(keep), len(sink))
}
