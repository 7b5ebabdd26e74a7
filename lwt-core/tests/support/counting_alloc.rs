//! A global allocator that counts: live bytes, the peak of live bytes, and allocation calls.
#![allow(dead_code)] // each test binary uses a different subset
//!
//! Used by the tests that pin memory guarantees (memory is measured, never time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Wraps the system allocator and keeps the counts below.
pub(crate) struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are plain atomics and never influence the allocation itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            CALLS.fetch_add(1, Relaxed);
            ALLOCATED.fetch_add(layout.size(), Relaxed);
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CALLS.fetch_add(1, Relaxed);
            ALLOCATED.fetch_add(new_size, Relaxed);
            let live = LIVE.fetch_add(new_size, Relaxed) + new_size;
            LIVE.fetch_sub(layout.size(), Relaxed);
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }
}

/// Bytes currently allocated.
pub(crate) fn live() -> usize {
    LIVE.load(Relaxed)
}

/// The highest `live()` since the last `reset_peak`.
pub(crate) fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// Starts a new peak measurement from the current live bytes.
pub(crate) fn reset_peak() {
    PEAK.store(LIVE.load(Relaxed), Relaxed);
}

/// Allocation calls so far.
pub(crate) fn calls() -> usize {
    CALLS.load(Relaxed)
}

/// Bytes allocated so far, freed or not (a reallocation counts its new size): the work of
/// copying, where `live` and `peak` show what is kept.
pub(crate) fn allocated() -> usize {
    ALLOCATED.load(Relaxed)
}
