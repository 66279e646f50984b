//! A counting global allocator that enforces allocation caps on the thread that runs an oracle.
//!
//! Every fuzz target and `tests/codec/corpus_replay.rs` install [`CapAlloc`] as their
//! `#[global_allocator]`. It forwards to the system allocator and keeps, per thread, the bytes
//! live and the largest single request. Outside [`with_caps`] the limits are
//! [`MAX_ONE_ALLOCATION`] and [`MAX_LIVE_BYTES`]; an oracle narrows them around the decoder call
//! to what the decoder's own caps allow. A request past a limit prints what was asked and
//! aborts: unwinding out of an allocator is undefined behaviour, and an abort is a crash both to
//! libFuzzer (an artifact is written) and to `cargo test`.

// The only unsafe code: the allocator trait forwarding to `System` (the crate denies unsafe code
// elsewhere; this file is built only into the fuzz targets and the corpus replay test).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

/// Largest single allocation allowed anywhere in a fuzz run (64 MiB).
pub(crate) const MAX_ONE_ALLOCATION: usize = 64 << 20;
/// Most bytes one thread may hold at once anywhere in a fuzz run (256 MiB).
pub(crate) const MAX_LIVE_BYTES: usize = 256 << 20;

/// The counting allocator (see the module docs).
pub(crate) struct CapAlloc;

#[derive(Clone, Copy)]
struct Caps {
    one: usize,
    live: isize,
    what: &'static str,
}

thread_local! {
    static CAPS: Cell<Caps> = const {
        Cell::new(Caps { one: MAX_ONE_ALLOCATION, live: MAX_LIVE_BYTES as isize, what: "fuzz run" })
    };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn over(what: &str, kind: &str, size: usize, limit: isize) -> ! {
    // No allocation here: `write!` of integers into the unbuffered stderr.
    let _ = writeln!(
        std::io::stderr(),
        "allocation cap exceeded in {what}: {kind} of {size} bytes, limit {limit} bytes"
    );
    std::process::abort();
}

fn grow(size: usize, old: usize) {
    let _ = CAPS.try_with(|caps| {
        let c = caps.get();
        if size > c.one {
            over(c.what, "one allocation", size, c.one as isize);
        }
        let live = LIVE.get() + size as isize - old as isize;
        if live > c.live {
            over(c.what, "live bytes", live as usize, c.live);
        }
        LIVE.set(live);
        PEAK.set(PEAK.get().max(live));
        LARGEST.set(LARGEST.get().max(size));
    });
}

fn shrink(size: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get() - size as isize));
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for CapAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size(), 0);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size(), 0);
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size, layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

/// What a call under [`with_caps`] allocated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// The largest single request.
    pub(crate) largest: usize,
    /// The most bytes live at once, over what was live when the call started.
    pub(crate) peak: usize,
}

struct Restore(Caps, isize, usize);

impl Drop for Restore {
    fn drop(&mut self) {
        CAPS.set(self.0);
        PEAK.set(PEAK.get().max(self.1));
        LARGEST.set(LARGEST.get().max(self.2));
    }
}

/// Runs `f` with this thread's allocations capped at `one` bytes each and `live` bytes held at
/// once beyond what is live now; `what` names the call in the abort message. Returns what `f`
/// returned and what it allocated.
pub(crate) fn with_caps<R>(
    what: &'static str,
    one: usize,
    live: usize,
    f: impl FnOnce() -> R,
) -> (R, Usage) {
    let base = LIVE.get();
    let restore = Restore(CAPS.get(), PEAK.get(), LARGEST.get());
    CAPS.set(Caps {
        one: one.min(MAX_ONE_ALLOCATION),
        live: base.saturating_add(live.min(MAX_LIVE_BYTES) as isize),
        what,
    });
    PEAK.set(base);
    LARGEST.set(0);
    let r = f();
    let usage = Usage {
        largest: LARGEST.get(),
        peak: (PEAK.get() - base).max(0) as usize,
    };
    drop(restore);
    (r, usage)
}
