//go:build cgo

package main

/*
#include <stdlib.h>
#include <string.h>

// leak_native allocates n bytes outside Go's heap, touches them so they
// count in RSS, and chains them on a list nothing ever frees. The chain keeps
// the compiler from eliding an allocation whose pointer is otherwise dropped.
static void *leaked_head;

static void leak_native(size_t n) {
	if (n < sizeof(void *)) {
		n = sizeof(void *);
	}
	void **p = malloc(n);
	if (p != NULL) {
		memset(p, 0xA5, n);
		*p = leaked_head;
		leaked_head = p;
	}
}
*/
import "C"

// cgoAvailable reports whether -mode cgo can run in this build.
const cgoAvailable = true

// nativeAlloc leaks n bytes of C memory, outside Go's heap.
//
//go:noinline
func nativeAlloc(n int) {
	C.leak_native(C.size_t(n))
}
