package main

// /metrics in Prometheus' text format, with the names client_golang's
// process and Go collectors give (process_resident_memory_bytes,
// process_start_time_seconds, go_memstats_*, go_goroutines), so that a real
// Prometheus can scrape the scenario services as it scrapes any Go service,
// and a watch without a PID can read the memory they serve.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

// processStart is when the process started, as process_start_time_seconds.
var processStart = time.Now()

func init() {
	http.HandleFunc("/metrics", serveMetrics)
}

func serveMetrics(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n",
			name, help, name, name, strconv.FormatFloat(v, 'g', -1, 64))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if rss, ok := residentBytes(); ok {
		gauge("process_resident_memory_bytes", "Resident memory size in bytes.", rss)
	}
	gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
		float64(processStart.UnixNano())/1e9)
	gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and still in use.", float64(ms.HeapAlloc))
	gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys))
	gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased))
	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
}

// residentBytes reads the process's resident set size from /proc/self/statm
// (its second field, in pages), as client_golang's process collector does.
func residentBytes() (float64, bool) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	fields := bytes.Fields(data)
	if len(fields) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseFloat(string(fields[1]), 64)
	if err != nil {
		return 0, false
	}
	return pages * float64(os.Getpagesize()), true
}
