// Command gen writes two large Go heap profiles for leakwatch's benchmark:
// a base with BASE distinct allocation stacks and a new one with NEW
// (the first BASE plus NEW-BASE more), as one process that keeps growing
// would produce hours apart.
//
// Usage: gen -out DIR [-base 300000] [-new 600000]
//
// Every allocation is recorded (MemProfileRate = 1) and kept alive, so each
// stack is one sample of the profile. A stack is a walk of `levels`
// steps through 32 functions chosen by the base-4 digits of the
// allocation's number: distinct numbers give distinct stacks of about 25
// frames, like a real service's.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

func init() { runtime.MemProfileRate = 1 }

const (
	levels = 10 // 4^10 > 1M distinct stacks
	fanout = 4
)

var (
	keep [][]byte
	fns  [32]func(i, d int)
	// current is the number of the allocation being made: its slot in keep.
	current int
)

// step goes one level deeper through the function picked by the next digit.
//
//go:noinline
func step(i, d int) {
	if d == 0 {
		leaf(i)
		return
	}
	k := levels - d
	fns[(fanout*k+i%fanout)%len(fns)](i/fanout, d-1)
}

// leaf allocates; sizes vary so that values differ between stacks.
//
//go:noinline
func leaf(i int) {
	keep[current] = make([]byte, 16+8*(current%7))
}

//go:noinline
func f00(i, d int) { step(i, d) }

//go:noinline
func f01(i, d int) { step(i, d) }

//go:noinline
func f02(i, d int) { step(i, d) }

//go:noinline
func f03(i, d int) { step(i, d) }

//go:noinline
func f04(i, d int) { step(i, d) }

//go:noinline
func f05(i, d int) { step(i, d) }

//go:noinline
func f06(i, d int) { step(i, d) }

//go:noinline
func f07(i, d int) { step(i, d) }

//go:noinline
func f08(i, d int) { step(i, d) }

//go:noinline
func f09(i, d int) { step(i, d) }

//go:noinline
func f10(i, d int) { step(i, d) }

//go:noinline
func f11(i, d int) { step(i, d) }

//go:noinline
func f12(i, d int) { step(i, d) }

//go:noinline
func f13(i, d int) { step(i, d) }

//go:noinline
func f14(i, d int) { step(i, d) }

//go:noinline
func f15(i, d int) { step(i, d) }

//go:noinline
func f16(i, d int) { step(i, d) }

//go:noinline
func f17(i, d int) { step(i, d) }

//go:noinline
func f18(i, d int) { step(i, d) }

//go:noinline
func f19(i, d int) { step(i, d) }

//go:noinline
func f20(i, d int) { step(i, d) }

//go:noinline
func f21(i, d int) { step(i, d) }

//go:noinline
func f22(i, d int) { step(i, d) }

//go:noinline
func f23(i, d int) { step(i, d) }

//go:noinline
func f24(i, d int) { step(i, d) }

//go:noinline
func f25(i, d int) { step(i, d) }

//go:noinline
func f26(i, d int) { step(i, d) }

//go:noinline
func f27(i, d int) { step(i, d) }

//go:noinline
func f28(i, d int) { step(i, d) }

//go:noinline
func f29(i, d int) { step(i, d) }

//go:noinline
func f30(i, d int) { step(i, d) }

//go:noinline
func f31(i, d int) { step(i, d) }

func init() {
	fns = [32]func(i, d int){f00, f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30, f31}
}

func snapshot(path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func main() {
	out := flag.String("out", ".", "directory for base.pb.gz and new.pb.gz")
	base := flag.Int("base", 300000, "distinct stacks in the base profile")
	n := flag.Int("new", 600000, "distinct stacks in the new profile")
	flag.Parse()
	if *base > *n || *n > 1<<(2*levels) {
		fmt.Fprintln(os.Stderr, "gen: need base <= new <= 4^10")
		os.Exit(2)
	}
	keep = make([][]byte, *n)
	for current = 0; current < *n; current++ {
		if current == *base {
			snapshot(filepath.Join(*out, "base.pb.gz"))
		}
		step(current, levels)
	}
	snapshot(filepath.Join(*out, "new.pb.gz"))
	runtime.KeepAlive(keep)
}
