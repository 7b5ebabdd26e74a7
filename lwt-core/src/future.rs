//! `Promise<T>` is a [`Future`]: await it from any executor's task.
//!
//! The output is `Result<T, Exn>`. A pending promise remembers the task's waker (once per task,
//! however often it is polled) and wakes it when it resolves, whoever resolves it.
//!
//! ```
//! use lwt_core::wait;
//!
//! let (p, r) = wait::<u32>();
//! let mut pool = futures::executor::LocalPool::new();
//! let handle = {
//!     use futures::task::LocalSpawnExt;
//!     pool.spawner().spawn_local_with_handle(async move { p.await.unwrap() + 1 }).unwrap()
//! };
//! pool.run_until_stalled(); // the task is now waiting on `p`
//! r.wakeup(41);
//! assert_eq!(pool.run_until(handle), 42);
//! ```
//!
//! A promise must not be polled again after it returned `Ready` (the `Future` contract); if it
//! is, it answers with a rejection saying so.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::exn::Exn;
use crate::node::Phase;
use crate::promise::{Promise, Repr};

fn polled_after_completion() -> Exn {
    Exn::invalid_argument("a promise was polled again after it completed")
}

impl<T: 'static> Future for Promise<T> {
    type Output = Result<T, Exn>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcome = match &this.0 {
            Repr::Ready(_) => None,
            Repr::Node(node) => {
                let root = node.root();
                if root.phase() != Phase::Idle {
                    root.add_waker(cx.waker());
                    return Poll::Pending;
                }
                Some(root.take_or_clone())
            }
        };
        let spent = Repr::Ready(Err(polled_after_completion()));
        match (outcome, std::mem::replace(&mut this.0, spent)) {
            (Some(outcome), _) | (None, Repr::Ready(outcome)) => Poll::Ready(outcome),
            (None, Repr::Node(_)) => unreachable!("a node always yields an outcome above"),
        }
    }
}
