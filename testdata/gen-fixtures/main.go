// Command gen-fixtures writes the small Go profiles under testdata/profiles:
// a heap profile and a goroutine profile, each as protobuf (debug=0) and as
// legacy text (debug=1), taken from one process at one moment so the two
// forms describe the same data.
//
// Regenerate with:
//
//	cd testdata/gen-fixtures && GOTOOLCHAIN=local go run . -out ../profiles
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
)

type entry struct {
	key     string
	payload []byte
}

type cache struct{ m map[string]*entry }

//go:noinline
func (c *cache) get(k string) *entry {
	if e, ok := c.m[k]; ok {
		return e
	}
	e := newEntry(k)
	c.m[k] = e
	return e
}

//go:noinline
func newEntry(k string) *entry {
	return &entry{key: k, payload: make([]byte, 1024)}
}

// newBuf is small enough to be inlined: its allocations carry an inlined
// frame, which the text and protobuf forms represent differently.
func newBuf(n int) []byte { return make([]byte, n) }

//go:noinline
func fillBuffers(n int) [][]byte {
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, newBuf(256+i%7*64))
	}
	return out
}

var (
	sink    [][]byte
	garbage []byte
	block   = make(chan struct{})
)

//go:noinline
func churn(n int) {
	for i := 0; i < n; i++ {
		garbage = make([]byte, 4096)
	}
}

func waiter(wg *sync.WaitGroup) {
	wg.Done()
	<-block
}

func write(dir, name, profile string, debugLevel int) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.Lookup(profile).WriteTo(f, debugLevel); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func main() {
	runtime.MemProfileRate = 4096
	out := flag.String("out", ".", "directory to write the profiles to")
	scale := flag.Int("scale", 1, "multiplies the number of allocations")
	flag.Parse()

	c := &cache{m: map[string]*entry{}}
	for i := 0; i < 3000**scale; i++ {
		c.get(fmt.Sprintf("key-%d", i%(2000**scale)))
	}
	sink = fillBuffers(2000 * *scale)
	churn(1000 * *scale)

	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go waiter(&wg)
	}
	wg.Wait()

	// With the collector off after one full cycle, the heap profile (which
	// reflects the last completed GC) is identical in both writes.
	debug.SetGCPercent(-1)
	runtime.GC()
	write(*out, "heap.pb.gz", "heap", 0)
	write(*out, "heap.txt", "heap", 1)
	write(*out, "goroutine.pb.gz", "goroutine", 0)
	write(*out, "goroutine.txt", "goroutine", 1)
	runtime.KeepAlive(c)
	fmt.Println("wrote", *out)
}
