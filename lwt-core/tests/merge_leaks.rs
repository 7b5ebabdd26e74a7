//! The `mem::forget`s of `resolve_root`, `absorb` and `pending_in_place` forget
//! only states that own nothing. Every shape of callback list and every kind of cancel link a
//! merged or resolved node can hold, made and freed many times: live bytes come back to where
//! they were. (One test in this binary: the allocator's counts are global.)

use std::cell::RefCell;
use std::rc::Rc;

use lwt_core::sync::Mvar;
use lwt_core::{task, wait, Promise};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

fn callbacks(p: &Promise<u32>, n: usize, hits: &Rc<RefCell<u32>>) {
    for i in 0..n {
        let h = hits.clone();
        if i % 2 == 1 {
            p.on_cancel(move || *h.borrow_mut() += 1);
        } else {
            // A capture bigger than the inline buffer: boxed.
            let big = [0u64; 8];
            p.on_any(move |_| *h.borrow_mut() += big.len() as u32, |_| ());
        }
    }
}

/// How the returned promise (the one merged into the bind's result) ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Fulfilled,
    CanceledThroughResult,
    Abandoned,
    /// Everything dropped while still pending (no resolution at all). Not measured: a pending
    /// bind and its source form a cycle (source -> continuation -> result -> cancel link ->
    /// source) that only a resolution breaks, at b1d617f as at HEAD (the same bytes).
    #[allow(dead_code)]
    DroppedPending,
}

fn merge_once(inner_n: usize, outer_n: usize, end: End, put: bool) {
    let hits = Rc::new(RefCell::new(0));
    let (s, rs) = wait::<u32>();
    let m = Mvar::create(0u32);
    let (t, rt) = if put {
        // `CancelThisAndTell`: a weak link, whose count must be given back.
        (m.put(7).map(|()| 7), None)
    } else {
        let (t, rt) = task::<u32>();
        (t, Some(rt))
    };
    let t_handle = t.clone();
    let r = s.bind(move |x| t.map(move |y| x + y));
    callbacks(&t_handle, inner_n, &hits);
    callbacks(&r, outer_n, &hits);
    let r2 = r.clone().map(|x| x + 1); // a bind on the result too (pending_in_place)
    match end {
        End::DroppedPending => {
            rs.forget();
            if let Some(rt) = rt {
                rt.forget();
            }
        }
        _ => {
            rs.wakeup(1);
            match end {
                End::Fulfilled => match rt {
                    Some(rt) => rt.wakeup(2),
                    None => {
                        let _ = m.take_available();
                    }
                },
                End::CanceledThroughResult => r.cancel(),
                End::Abandoned => drop(rt),
                End::DroppedPending => unreachable!(),
            }
        }
    }
    drop((r, r2, t_handle, m));
}

#[test]
fn merges_and_resolutions_free_everything() {
    let ends = [End::Fulfilled, End::CanceledThroughResult, End::Abandoned];
    // Warm-up: thread-locals (the schedule's queue, key storage...) allocate once.
    for &end in &ends {
        for put in [false, true] {
            merge_once(3, 3, end, put);
        }
    }
    for &end in &ends {
        for put in [false, true] {
            for inner_n in [0, 1, 2, 5] {
                for outer_n in [0, 1, 2, 5] {
                    let base = counting_alloc::live();
                    for _ in 0..200 {
                        merge_once(inner_n, outer_n, end, put);
                    }
                    let leaked = counting_alloc::live() as isize - base as isize;
                    assert!(
                        leaked <= 0,
                        "{leaked} bytes left by 200 merges: inner {inner_n}, outer {outer_n}, \
                         {end:?}, put {put}"
                    );
                }
            }
        }
    }
}
