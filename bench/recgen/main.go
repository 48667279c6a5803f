// Command recgen writes a leakwatch recording of a real Go process whose
// heap leaks: N heap profiles of a program with hundreds of thousands of
// distinct allocation stacks, each profile taken after the program has
// allocated more, so that no two are alike. bench/analyze times
// `leakwatch analyze` on it.
//
// Usage: recgen -out DIR [-profiles 1000] [-steady 260000] [-per 300]
//
// Every allocation is recorded (MemProfileRate = 1) and kept alive. At the
// start, -steady allocations go down a tree of calls (eight functions per
// level, chosen by the bits of the allocation's number, so every one has a
// stack of its own) to steadyLeaf; then, before each profile, -per more go
// down the same tree to leakLeaf, and a few steady ones are freed and
// allocated again. The profiles grow from about 1 MB to 3 MB gzipped.
//
// DIR gets meta.json, profiles.jsonl (with each profile's totals, as
// `leakwatch watch` writes them), samples.jsonl and profiles/heap-N.pb.gz;
// the profiles are 10 s apart in the recording's clock.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

func init() { runtime.MemProfileRate = 1 }

var (
	steadySet [][]byte
	leaked    [][]byte
	// depth is the number of levels of the call tree: 8^depth stacks of
	// 2·depth+4 frames, under the runtime's 32-frame limit.
	depth = 10
)

// path scatters allocation numbers over the tree, so that stacks written
// side by side share little, as in a real program, rather than all but
// their last frame.
func path(i int) int { return int((uint64(i) * 0x9E3779B97F4A7C15) >> 34) }

//go:noinline
func b0(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func b1(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func b2(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func b3(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func b4(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func b5(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func b6(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func b7(d, path int, leak bool) { descend(d-1, path>>3, leak) }

//go:noinline
func descend(d, path int, leak bool) {
	if d == 0 {
		if leak {
			leakLeaf(path)
		} else {
			steadyLeaf(path)
		}
		return
	}
	switch path & 7 {
	case 0:
		b0(d, path, leak)
	case 1:
		b1(d, path, leak)
	case 2:
		b2(d, path, leak)
	case 3:
		b3(d, path, leak)
	case 4:
		b4(d, path, leak)
	case 5:
		b5(d, path, leak)
	case 6:
		b6(d, path, leak)
	default:
		b7(d, path, leak)
	}
}

// current is the slot of steadySet being (re)allocated.
var current int

//go:noinline
func steadyLeaf(path int) { steadySet[current] = make([]byte, 64+path%256) }

//go:noinline
func leakLeaf(path int) { leaked = append(leaked, make([]byte, 128+path%512)) }

type entry struct {
	Op    string `json:"op"`
	Seq   int    `json:"seq"`
	Kind  string `json:"kind"`
	Time  string `json:"time"`
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
	URL   string `json:"url"`
}

func main() {
	out := flag.String("out", "", "recording directory to write")
	profiles := flag.Int("profiles", 1000, "heap profiles to write")
	steady := flag.Int("steady", 260000, "allocations (stacks) made once at the start")
	per := flag.Int("per", 300, "allocations (new stacks) leaked before each profile")
	flag.IntVar(&depth, "depth", depth, "levels of the call tree (1..13)")
	flag.Parse()
	if *out == "" || *profiles < 2 || *steady < 1 || *per < 1 || depth < 1 || depth > 13 {
		fmt.Fprintln(os.Stderr, "usage: recgen -out DIR [-profiles N>=2] [-steady N] [-per N]")
		os.Exit(2)
	}
	if err := run(*out, *profiles, *steady, *per); err != nil {
		fmt.Fprintln(os.Stderr, "recgen:", err)
		os.Exit(1)
	}
}

func run(dir string, profiles, steady, per int) error {
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		return err
	}
	start := time.Unix(1_790_000_000, 0).UTC()
	at := func(s int) string { return start.Add(time.Duration(s) * time.Second).Format(time.RFC3339Nano) }
	url := "http://127.0.0.1:6060/debug/pprof/heap"
	meta := map[string]any{
		"format": "leakwatch.recording/1", "leakwatch_version": "recgen", "start": at(0),
		"command_line": []string{"recgen"},
		"target":       map[string]any{"mode": "pid", "pid": os.Getpid(), "cgroup": nil},
		"pprof": map[string]any{"heap_url": url, "goroutine_url": nil,
			"runtime_stats_url": url + "?debug=1", "gc": false},
		"settings": map[string]any{"interval_seconds": 1.0, "profile_interval_seconds": 10.0,
			"duration_seconds": nil, "max_profiles": profiles, "max_body_bytes": 67108864,
			"scrape_timeout_seconds": 30.0, "restart": false, "stop_grace_seconds": 5.0},
	}
	if err := writeJSON(filepath.Join(dir, "meta.json"), meta); err != nil {
		return err
	}
	index, err := os.Create(filepath.Join(dir, "profiles.jsonl"))
	if err != nil {
		return err
	}
	samples, err := os.Create(filepath.Join(dir, "samples.jsonl"))
	if err != nil {
		return err
	}

	steadySet = make([][]byte, steady)
	for current = 0; current < steady; current++ {
		descend(depth, path(current), false)
	}
	next := steady
	for i := 0; i < profiles; i++ {
		for k := 0; k < per; k++ {
			descend(depth, path(next), true)
			next++
		}
		// Churn: a few steady objects freed and made again.
		for k := 0; k < per; k++ {
			current = (i*per + k) * 7919 % steady
			descend(depth, path(current), false)
		}
		// Profiling is off while the profile is written: otherwise every
		// allocation of the writer is recorded too, which takes most of
		// the time. A rate of 0, like 1, means no scaling.
		runtime.MemProfileRate = 0
		file := fmt.Sprintf("profiles/heap-%06d.pb.gz", i+1)
		size, err := writeProfile(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		runtime.MemProfileRate = 1
		t := i * 10
		e := entry{Op: "add", Seq: i + 1, Kind: "heap", Time: at(t), File: file,
			Bytes: size, URL: url}
		if err := writeLine(index, e); err != nil {
			return err
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		for s := 0; s < 10; s++ {
			line := map[string]any{"time": at(t + s), "pid": os.Getpid(), "vm_rss": ms.Sys - ms.HeapReleased}
			if err := writeLine(samples, line); err != nil {
				return err
			}
		}
		if (i+1)%50 == 0 {
			fmt.Fprintf(os.Stderr, "recgen: %d/%d profiles, last %d KiB\n", i+1, profiles, size>>10)
		}
	}
	if err := index.Close(); err != nil {
		return err
	}
	return samples.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func writeLine(f *os.File, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return err
}

func writeProfile(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
