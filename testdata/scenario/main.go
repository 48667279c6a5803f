// Command scenario is a small Go service whose memory behaves in one known
// way, chosen with -mode. It is the ground truth leakwatch's tests watch:
// every mode either leaks (and the leak has a known allocation site) or does
// not. It serves net/http/pprof on -addr and drives its own load, so it needs
// nothing else to run.
//
// Usage:
//
//	scenario -mode mapcache [-addr 127.0.0.1:0] [-rate 200] [-keys 2000] [-size 1024] [-exit-after 0] [-warmup 3m]
//
// -exit-after DURATION (e.g. 12s) makes the process exit with code 137 that
// long after it starts listening: a stand-in for the seed's OOM kill, so a
// watcher started with --restart sees the grow-then-die sawtooth. 0, the
// default, never exits.
//
// Once listening it prints exactly one line on stdout:
//
//	listening on http://127.0.0.1:PORT
//
// Load: a goroutine (main.drive) calls main.handle -rate times per second.
// Each call is one "request" with a unique sequence number.
//
// Modes, what each request does, and what a verdict should say:
//
//	mapcache    cache.get(key) with a unique key per request; misses call
//	            newEntry, which allocates the entry (~-size bytes) and the
//	            entry is never deleted. This is the seed's bug.
//	            Leak: heap, site main.newEntry <- main.(*cache).get <- main.handle.
//	lru         the same keys and entries through main.(*lruCache).get, a
//	            bounded LRU of -keys entries. No leak.
//	plateau     cache.get with key = request % -keys: the cache fills to
//	            -keys entries (10 s at the defaults) and then stays flat.
//	            No leak (warm-up, then plateau).
//	churn       main.churnWork allocates and touches 64 KiB per request and
//	            keeps nothing. Heavy GC activity, no leak.
//	slice       main.appendRecord appends a -size record to a global slice
//	            that only grows. Leak: heap, site main.appendRecord.
//	goroutines  each request starts a goroutine blocked forever on a channel
//	            in main.awaitReply. Leak: goroutines, site main.awaitReply.
//	cgo         each request C.malloc's -size bytes (touched, never freed)
//	            through main.nativeAlloc. Invisible to Go's heap profile;
//	            RSS grows. Leak: native.
//	idle        no load at all. No leak.
//	slowleak    a 24 MiB resident table, bursty GC-heavy load (main.burst
//	            holds 0-4 MiB of buffers for a moment every half second,
//	            each request throws away 64 KiB), and every 10th request
//	            keeps a -size session record in main.rememberSession:
//	            about 1.3 MiB a minute at the defaults, 5% of the heap.
//	            Leak: heap, site main.rememberSession.
//	warmup      cache.get with a key space that widens over -warmup (3
//	            minutes): the cache fills with -keys entries of 4x-size
//	            bytes (about 24 MiB) as slowly as a real cache warms, then
//	            stays flat. No leak (a long warm-up, then plateau).
//
// At the default rate (200/s) and size (1 KiB) a leaking mode grows about
// 200-300 KiB/s, clearly visible within 20-40 s while small enough that
// many instances run side by side. Raise -rate for faster growth.
//
// Only the standard library is used. The cgo mode lives in native_cgo.go and
// needs a C compiler and CGO_ENABLED=1; built without cgo, -mode cgo exits
// with an error saying so (native_nocgo.go).
package main

import (
	"container/list"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var (
	addr      = flag.String("addr", "127.0.0.1:0", "address to serve net/http/pprof on")
	mode      = flag.String("mode", "mapcache", "behaviour: mapcache, lru, plateau, churn, slice, goroutines, cgo, idle, slowleak, warmup")
	rate      = flag.Int("rate", 200, "requests per second driven internally")
	keys      = flag.Int("keys", 2000, "capacity of the lru mode and key count of the plateau and warmup modes (warmup: 6000 unless set)")
	size      = flag.Int("size", 1024, "bytes per leaked entry/record/allocation")
	exitAfter = flag.Duration("exit-after", 0, "exit with code 137 after this long, standing in for an OOM kill (0: never)")
	warmup    = flag.Duration("warmup", 3*time.Minute, "how long the warmup mode's cache takes to fill")
)

// oomExitCode is what a shell reports for a process killed by SIGKILL, the
// kernel OOM killer's signal; a real kill cannot be asked of the kernel, so
// -exit-after exits with this code instead.
const oomExitCode = 137

// entry is what the cache holds per key.
type entry struct {
	key     string
	payload []byte
}

// cache is the seed's unbounded map: nothing ever deletes from it.
type cache struct {
	mu sync.Mutex
	m  map[string]*entry
}

//go:noinline
func newEntry(key string) *entry {
	p := make([]byte, *size)
	for i := range p {
		p[i] = byte(i)
	}
	return &entry{key: key, payload: p}
}

//go:noinline
func (c *cache) get(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		return e
	}
	e := newEntry(key)
	c.m[key] = e
	return e
}

// lruCache is the fix: the same work, bounded to cap entries.
type lruCache struct {
	mu    sync.Mutex
	cap   int
	order *list.List
	m     map[string]*list.Element
}

//go:noinline
func (c *lruCache) get(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*entry)
	}
	e := newEntry(key)
	c.m[key] = c.order.PushFront(e)
	if c.order.Len() > c.cap {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.m, last.Value.(*entry).key)
	}
	return e
}

var (
	theCache = &cache{m: make(map[string]*entry)}
	theLRU   *lruCache
	records  [][]byte
	sink     byte
	blocked  = make(chan struct{})
)

//go:noinline
func appendRecord(n int) {
	rec := make([]byte, *size)
	rec[0] = byte(n)
	records = append(records, rec)
}

//go:noinline
func churnWork(n int) {
	buf := make([]byte, 64<<10)
	for i := 0; i < len(buf); i += 512 {
		buf[i] = byte(n + i)
	}
	sink ^= buf[n%len(buf)]
}

// sessions is the slowleak mode's bug: records kept per session and never
// expired. base is its legitimate resident table.
var (
	sessions [][]byte
	base     [][]byte
	started  time.Time
)

//go:noinline
func rememberSession(n int) {
	rec := make([]byte, *size)
	rec[0] = byte(n)
	sessions = append(sessions, rec)
}

//go:noinline
func loadBase() {
	for i := 0; i < 24<<20/(64<<10); i++ {
		b := make([]byte, 64<<10)
		for j := 0; j < len(b); j += 4096 {
			b[j] = byte(i)
		}
		base = append(base, b)
	}
}

// burst holds mib MiB of buffers for hold: the working set of a spike of
// requests, live at some collections and not at others.
//
//go:noinline
func burst(mib float64, hold time.Duration) {
	held := make([][]byte, int(mib*16))
	for i := range held {
		held[i] = make([]byte, 64<<10)
		held[i][0] = byte(i)
	}
	time.Sleep(hold)
	runtime.KeepAlive(held)
}

// bursts starts a burst every half second or so: 0-4 MiB (most small, a
// few large) held for 0.1-1 s.
func bursts() {
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	for {
		time.Sleep(time.Duration(250+r.Intn(500)) * time.Millisecond)
		mib := r.ExpFloat64() * 0.75
		if mib > 4 {
			mib = 4
		}
		go burst(mib, time.Duration(100+r.Intn(900))*time.Millisecond)
	}
}

//go:noinline
func throwAway(n int) {
	buf := make([]byte, 64<<10)
	buf[n%len(buf)] = byte(n)
	sink ^= buf[(n*7)%len(buf)]
}

// warmKey is the warmup mode's key: the key space widens from 1 to -keys
// over -warmup, so the cache fills at the pace a real one warms.
func warmKey(n int) string {
	active := *keys
	if f := time.Since(started).Seconds() / warmup.Seconds(); f < 1 {
		active = 1 + int(f*float64(*keys))
	}
	return "warm-" + strconv.Itoa(n%active)
}

//go:noinline
func awaitReply(reply chan struct{}) {
	<-reply
}

// handle is one request.
//
//go:noinline
func handle(n int) {
	switch *mode {
	case "mapcache":
		theCache.get("req-" + strconv.Itoa(n))
	case "lru":
		theLRU.get("req-" + strconv.Itoa(n))
	case "plateau":
		theCache.get("key-" + strconv.Itoa(n%*keys))
	case "churn":
		churnWork(n)
	case "slice":
		appendRecord(n)
	case "goroutines":
		go awaitReply(blocked)
	case "cgo":
		nativeAlloc(*size)
	case "slowleak":
		throwAway(n)
		if n%10 == 0 {
			rememberSession(n)
		}
	case "warmup":
		theCache.get(warmKey(n))
		throwAway(n)
	}
}

// drive calls handle rate times per second, catching up in batches so that
// high rates do not depend on timer resolution.
func drive() {
	if *mode == "idle" || *rate <= 0 {
		return
	}
	start := time.Now()
	done := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		due := int(time.Since(start).Seconds() * float64(*rate))
		for ; done < due; done++ {
			handle(done)
		}
	}
}

func main() {
	flag.Parse()
	switch *mode {
	case "mapcache", "lru", "plateau", "churn", "slice", "goroutines", "cgo", "idle", "slowleak", "warmup":
	default:
		fmt.Fprintf(os.Stderr, "scenario: unknown -mode %q\n", *mode)
		os.Exit(2)
	}
	if *mode == "cgo" && !cgoAvailable {
		fmt.Fprintln(os.Stderr, "scenario: -mode cgo needs a build with cgo (CGO_ENABLED=1 and a C compiler)")
		os.Exit(2)
	}
	if *keys < 1 || *size < 1 {
		fmt.Fprintln(os.Stderr, "scenario: -keys and -size must be positive")
		os.Exit(2)
	}
	if *warmup <= 0 {
		fmt.Fprintln(os.Stderr, "scenario: -warmup must be positive")
		os.Exit(2)
	}
	if *exitAfter < 0 {
		fmt.Fprintln(os.Stderr, "scenario: -exit-after must not be negative")
		os.Exit(2)
	}
	theLRU = &lruCache{cap: *keys, order: list.New(), m: make(map[string]*list.Element)}
	if *mode == "warmup" {
		keysSet := false
		flag.Visit(func(f *flag.Flag) { keysSet = keysSet || f.Name == "keys" })
		if !keysSet {
			*keys = 6000
		}
		// Entries of 4x-size bytes: 6000 x 4 KiB, about 24 MiB when full.
		*size *= 4
	}
	if *mode == "slowleak" {
		loadBase()
		go bursts()
	}
	started = time.Now()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("scenario: listen on %s: %v", *addr, err)
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s\n", *mode)
	})
	fmt.Printf("listening on http://%s\n", ln.Addr())
	os.Stdout.Sync()
	go drive()
	if *exitAfter > 0 {
		time.AfterFunc(*exitAfter, func() {
			fmt.Fprintf(os.Stderr, "scenario: -exit-after %s elapsed, exiting with code %d\n", *exitAfter, oomExitCode)
			os.Exit(oomExitCode)
		})
	}
	log.Fatal(http.Serve(ln, nil))
}
