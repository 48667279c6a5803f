//! The allocator of a binary that may or may not be the demo service.
//!
//! `leakwatch demo` runs the service by starting its own executable again
//! (`leakwatch __demo-service`), because `cargo run` builds only the
//! `leakwatch` binary and the demo must work from a fresh clone. The service
//! needs jemalloc with heap profiling; leakwatch itself should keep the
//! system allocator. The choice must be made before the first allocation and
//! never change (memory must be freed by the allocator that gave it out), so
//! it is read once from the environment, which the parent sets for the child.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

use tikv_jemallocator::Jemalloc;

/// The environment variable that selects jemalloc; its value must be
/// [`USE_JEMALLOC`].
pub const ALLOCATOR_ENV: &str = "LEAKWATCH_DEMO_ALLOCATOR";
/// The value of [`ALLOCATOR_ENV`] that selects jemalloc.
pub const USE_JEMALLOC: &str = "jemalloc";

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const JEMALLOC: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// A global allocator that is jemalloc when [`ALLOCATOR_ENV`] says so at
/// start-up, and the system allocator otherwise.
pub struct DemoAllocator;

impl DemoAllocator {
    #[inline]
    fn use_jemalloc() -> bool {
        match CHOICE.load(Ordering::Relaxed) {
            SYSTEM => false,
            JEMALLOC => true,
            _ => decide(),
        }
    }
}

// Cold and out of line: it runs once per process.
#[cold]
#[inline(never)]
fn decide() -> bool {
    // getenv does not allocate, which matters inside the allocator. Two
    // threads racing here read the same environment and agree.
    // SAFETY: both strings are NUL-terminated literals.
    let value = unsafe { libc::getenv(c"LEAKWATCH_DEMO_ALLOCATOR".as_ptr()) };
    let jemalloc = !value.is_null()
        // SAFETY: getenv returned a non-null, NUL-terminated string.
        && unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes() == USE_JEMALLOC.as_bytes();
    CHOICE.store(if jemalloc { JEMALLOC } else { SYSTEM }, Ordering::Relaxed);
    jemalloc
}

/// Whether this process allocates with jemalloc.
pub fn is_jemalloc() -> bool {
    DemoAllocator::use_jemalloc()
}

// SAFETY: every call is forwarded to one allocator, the same one for the
// whole life of the process, which upholds GlobalAlloc's contract.
unsafe impl GlobalAlloc for DemoAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::use_jemalloc() {
            unsafe { Jemalloc.alloc(layout) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::use_jemalloc() {
            unsafe { Jemalloc.alloc_zeroed(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::use_jemalloc() {
            unsafe { Jemalloc.dealloc(ptr, layout) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::use_jemalloc() {
            unsafe { Jemalloc.realloc(ptr, layout, new_size) }
        } else {
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}
