// Command blockgen parks goroutines in several distinct ways and contends
// on mutexes and channels, then writes Go's goroutine, mutex and block
// profiles, so that leakwatch's reading of Go's text forms can be checked
// against `go tool pprof` on real runtime output.
//
// Usage: blockgen -out DIR
//
// Build it with inlining off (-gcflags=all=-l): pprof names the addresses
// of a text profile from the binary by the function containing them, so
// an inlined frame would get its caller's name there and its own in Go's
// comment lines.
//
// It writes, for NAME in goroutine, mutex and block, DIR/NAME.txt (the
// legacy text form, /debug/pprof/NAME?debug=1) and DIR/NAME.pb.gz (the
// protobuf form, as served without debug).
//
// Every mutex and block event is recorded (fraction and rate 1), so the
// profiles hold every event rather than a sample.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// Each parked goroutine waits here until the process exits.
var (
	never    = make(chan int)
	full     = make(chan int)
	held     sync.Mutex
	cond     = sync.NewCond(&sync.Mutex{})
	group    sync.WaitGroup
	everyone sync.WaitGroup
)

// The parking sites differ in how many goroutines use them, so that the
// flat values differ and the sort order is not decided by ties.

//go:noinline
func recvForever() { everyone.Done(); <-never }

//go:noinline
func sendForever() { everyone.Done(); full <- 1 }

//go:noinline
func selectForever() {
	everyone.Done()
	select {
	case <-never:
	case full <- 2:
	}
}

//go:noinline
func lockForever() { everyone.Done(); held.Lock() }

//go:noinline
func waitForever() {
	cond.L.Lock()
	everyone.Done()
	cond.Wait()
}

//go:noinline
func groupForever() { everyone.Done(); group.Wait() }

//go:noinline
func sleepForever() { everyone.Done(); time.Sleep(time.Hour) }

func park(n int, f func()) {
	for i := 0; i < n; i++ {
		everyone.Add(1)
		go f()
	}
}

// contend makes `workers` goroutines take one mutex `rounds` times each
// through `hold`, so that mutex and block profiles have a record per
// caller of hold.
//
//go:noinline
func contend(hold func(*sync.Mutex), workers, rounds int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				hold(&mu)
			}
		}()
	}
	wg.Wait()
}

//go:noinline
func holdLong(mu *sync.Mutex) {
	mu.Lock()
	time.Sleep(40 * time.Microsecond)
	mu.Unlock()
}

//go:noinline
func holdShort(mu *sync.Mutex) {
	mu.Lock()
	time.Sleep(10 * time.Microsecond)
	mu.Unlock()
}

// pingPong blocks on unbuffered channel sends and receives.
//
//go:noinline
func pingPong(rounds int) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			time.Sleep(10 * time.Microsecond)
			pong <- v
		}
	}()
	for i := 0; i < rounds; i++ {
		ping <- i
		<-pong
	}
	close(ping)
}

//go:noinline
func contendA() { contend(holdLong, 4, 50) }

//go:noinline
func contendB() { contend(holdShort, 3, 40) }

func write(dir, name string, debug int) {
	ext := ".pb.gz"
	if debug > 0 {
		ext = ".txt"
	}
	f, err := os.Create(filepath.Join(dir, name+ext))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.Lookup(name).WriteTo(f, debug); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	out := flag.String("out", ".", "directory to write the profiles to")
	flag.Parse()
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)

	held.Lock()
	group.Add(1)
	park(7, recvForever)
	park(5, sendForever)
	park(4, selectForever)
	park(3, lockForever)
	park(2, waitForever)
	park(6, groupForever)
	park(1, sleepForever)
	everyone.Wait()
	contendA()
	contendB()
	pingPong(40)
	// Let the parked goroutines reach their parking calls.
	time.Sleep(100 * time.Millisecond)

	for _, name := range []string{"goroutine", "mutex", "block"} {
		write(*out, name, 1)
		write(*out, name, 0)
	}
}
