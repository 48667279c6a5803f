// Command heapgen allocates from many distinct call sites and writes Go heap
// profiles at two points in time, so that leakwatch's `top` and `diff` can be
// checked against `go tool pprof` on real runtime output.
//
// Usage: heapgen -out DIR
//
// It writes DIR/heap1.pb.gz and DIR/heap2.pb.gz (protobuf, as served by
// /debug/pprof/heap) and DIR/heap1.txt and DIR/heap2.txt (the legacy text
// form, /debug/pprof/heap?debug=1) of the same moments, and
// DIR/goroutine.pb.gz.
//
// MemProfileRate is 1, so every allocation is recorded and the profile's
// numbers are exact rather than sampled estimates.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
)

// Record every allocation: the oracle tests compare exact numbers.
func init() { runtime.MemProfileRate = 1 }

// keep retains allocations so that they stay in the in-use part of the
// profile; dropping entries from it makes them show up as freed.
var keep [][]byte

// The sites below differ in size and count so that the flat values differ
// and the sort order is not decided by ties.

//go:noinline
func allocSmall() { keep = append(keep, make([]byte, 96)) }

//go:noinline
func allocMedium() { keep = append(keep, make([]byte, 4000)) }

//go:noinline
func allocLarge() { keep = append(keep, make([]byte, 70000)) }

// newBuf is small enough to be inlined into its callers: its allocation is
// attributed to an inlined frame, which pprof shows as a node of its own.
func newBuf(n int) []byte { return make([]byte, n) }

//go:noinline
func viaInlined(n int) { keep = append(keep, newBuf(n)) }

//go:noinline
func viaInlinedToo(n int) { keep = append(keep, newBuf(n+8)) }

// recurse allocates at every level, so a node appears several times in one
// stack and its cumulative value must be counted once per sample.
//
//go:noinline
func recurse(depth, size int) {
	keep = append(keep, make([]byte, size))
	if depth > 0 {
		recurse(depth-1, size+16)
	}
}

// ping and pong recurse mutually.
//
//go:noinline
func ping(n int) {
	keep = append(keep, make([]byte, 200+n))
	if n > 0 {
		pong(n - 1)
	}
}

//go:noinline
func pong(n int) {
	keep = append(keep, make([]byte, 300+n))
	if n > 0 {
		ping(n - 1)
	}
}

// cache is a map that only grows: the leak of the seed story in miniature.
type cache struct{ m map[int][]byte }

//go:noinline
func (c *cache) get(k int) []byte {
	if v, ok := c.m[k]; ok {
		return v
	}
	v := make([]byte, 512+k%7)
	c.m[k] = v
	return v
}

//go:noinline
func handle(c *cache, k int) { _ = c.get(k) }

// worker calls the same sites from another caller, so a function's cum
// differs from its flat and the stacks differ.
//
//go:noinline
func worker(round int) {
	for i := 0; i < 3+round; i++ {
		allocSmall()
	}
	viaInlined(1000 + round)
}

// phase allocates one round's worth; round 1 and 2 differ so that the diff
// between the two profiles has growth, shrinkage and new sites.
func phase(c *cache, round int) {
	for i := 0; i < 40*round; i++ {
		allocSmall()
	}
	for i := 0; i < 11; i++ {
		allocMedium()
	}
	for i := 0; i < 2*round; i++ {
		allocLarge()
	}
	for i := 0; i < 25; i++ {
		viaInlined(2048)
		viaInlinedToo(100 * round)
	}
	recurse(4+round, 64)
	ping(5)
	for k := 0; k < 300*round; k++ {
		handle(c, k)
	}
	for i := 0; i < 5; i++ {
		worker(round)
	}
}

func write(dir, name string, debug int) {
	profile := "heap"
	if strings.HasPrefix(name, "goroutine") {
		profile = "goroutine"
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		fmt.Fprintln(os.Stderr, "heapgen:", err)
		os.Exit(1)
	}
	if err := pprof.Lookup(profile).WriteTo(f, debug); err != nil {
		fmt.Fprintln(os.Stderr, "heapgen:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "heapgen:", err)
		os.Exit(1)
	}
}

// snapshot writes both forms right after a GC, so that the in-use numbers
// reflect the current state and the two forms describe the same moment.
func snapshot(dir string, n int) {
	runtime.GC()
	write(dir, fmt.Sprintf("heap%d.pb.gz", n), 0)
	write(dir, fmt.Sprintf("heap%d.txt", n), 1)
}

func main() {
	out := flag.String("out", ".", "directory to write the profiles to")
	flag.Parse()

	c := &cache{m: map[int][]byte{}}
	phase(c, 1)
	snapshot(*out, 1)

	// Free part of the first phase's allocations, then grow.
	keep = keep[len(keep)/3:]
	phase(c, 2)
	snapshot(*out, 2)
	// A profile of another kind, which must not be diffed against a heap.
	write(*out, "goroutine.pb.gz", 0)
	runtime.KeepAlive(c)
}
