//! Keys seen by callbacks registered before any key was ever set in the process.
//!
//! Until a first `key::with_value`, the runtime skips the snapshot and restore of the key storage
//! around callbacks (every storage is empty). This file is its own process, and its one test sets
//! the first key, so it covers the switch from that fast path to the full one: a callback
//! registered before must still run with the (empty) storage of its registration, not the storage
//! current when it runs.

use lwt_core::{key, wait, State};

#[test]
fn callbacks_keep_their_registration_storage_across_the_first_key_ever_set() {
    let k = key::new_key::<u32>();
    // Registered while no key was ever set.
    let (p, r) = wait::<()>();
    let before = p.clone().map(move |()| key::get(&k));
    // Registered inside the first key's scope.
    let (q, s) = wait::<()>();
    let inside = key::with_value(&k, Some(7), || q.map(move |()| key::get(&k)));
    // Both run inside another value's scope: each sees its own registration's storage.
    key::with_value(&k, Some(9), || {
        r.wakeup(());
        s.wakeup(());
    });
    assert_eq!(before.state(), State::Fulfilled(None));
    assert_eq!(inside.state(), State::Fulfilled(Some(7)));
    assert_eq!(key::get(&k), None, "the scope ended");
}
