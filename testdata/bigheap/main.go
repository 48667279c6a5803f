// Command bigheap writes one large, real Go heap profile: tens of thousands
// of distinct allocation stacks, about 1 MB gzipped, like the profile of a
// big service. leakwatch's performance test copies it into a recording of
// 500 profiles to time `leakwatch analyze`.
//
// Usage: bigheap -out FILE [-depth 6]
//
// Allocations go down a tree of calls: at each level one of eight functions
// is called depending on three bits of the path, so every leaf of the tree
// is reached through a different stack (8^depth of them).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Every allocation is recorded, so every stack appears in the profile.
func init() { runtime.MemProfileRate = 1 }

var keep [][]byte

// Eight functions per level, so a stack of 2·depth frames stays under the
// runtime's 32-frame limit while reaching 8^depth distinct stacks.

//go:noinline
func b0(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func b1(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func b2(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func b3(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func b4(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func b5(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func b6(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func b7(depth, path int) { descend(depth-1, path>>3) }

//go:noinline
func descend(depth, path int) {
	if depth == 0 {
		leaf(path)
		return
	}
	switch path & 7 {
	case 0:
		b0(depth, path)
	case 1:
		b1(depth, path)
	case 2:
		b2(depth, path)
	case 3:
		b3(depth, path)
	case 4:
		b4(depth, path)
	case 5:
		b5(depth, path)
	case 6:
		b6(depth, path)
	default:
		b7(depth, path)
	}
}

//go:noinline
func leaf(path int) { keep = append(keep, make([]byte, 64+path%512)) }

func main() {
	out := flag.String("out", "", "file to write the heap profile to")
	depth := flag.Int("depth", 6, "depth of the call tree (8^depth stacks)")
	flag.Parse()
	if *out == "" || *depth < 1 || *depth > 8 {
		fmt.Fprintln(os.Stderr, "usage: bigheap -out FILE [-depth 1..8]")
		os.Exit(2)
	}
	for p := 0; p < 1<<(3**depth); p++ {
		descend(*depth, p)
	}
	runtime.GC()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
