//go:build !cgo

package main

// cgoAvailable reports whether -mode cgo can run in this build.
const cgoAvailable = false

// nativeAlloc is never called without cgo: main refuses -mode cgo.
func nativeAlloc(int) {}
