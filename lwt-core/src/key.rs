//! Implicit callback arguments (Lwt's `new_key`, `get`, `with_value`).
//!
//! A key names a slot of per-"thread of promises" storage, for things like a request id that every
//! callback of one request should see without passing it around. The rule is Lwt's: a callback
//! sees the values that were current *when it was registered*, whenever it runs.
//!
//! ```
//! use lwt_core::{key, wait};
//!
//! let request_id = key::new_key::<u32>();
//! let (p, r) = wait::<()>();
//! let seen = key::with_value(&request_id, Some(7), || p.map(move |()| key::get(&request_id)));
//! assert_eq!(key::get(&request_id), None); // outside with_value
//! r.wakeup(());
//! assert_eq!(seen.state(), lwt_core::State::Fulfilled(Some(7)));
//! ```
//!
//! The storage is an immutable linked list, so taking a snapshot at registration costs one
//! reference-count increment (and nothing at all when no key is set). As in Lwt, whose storage is
//! a map, it holds each key at most once: `with_value` replaces (or, given `None`, removes) the
//! key's binding rather than shadowing it, so a loop that sets a key at every step keeps one
//! binding, not one per step.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// A key for a value of type `T` (Lwt's `'a key`). Copyable, so callbacks can capture it.
pub struct Key<T> {
    id: u64,
    _value: PhantomData<fn() -> T>,
}

// A key is a name: copying it copies the name, whatever `T` is.
impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

/// Keys are equal when they are copies of one key (made by one [`new_key`]).
///
/// ```
/// let (a, b) = (lwt_core::key::new_key::<u8>(), lwt_core::key::new_key::<u8>());
/// assert!(a == a.clone() && a != b);
/// ```
impl<T> PartialEq for Key<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Eq for Key<T> {}

impl<T> std::hash::Hash for Key<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl<T> std::fmt::Debug for Key<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

pub(crate) struct Frame {
    id: u64,
    value: Rc<dyn Any>,
    next: Storage,
}

/// A snapshot of the storage: cheap to clone, immutable.
pub(crate) type Storage = Option<Rc<Frame>>;

/// Has any thread ever made a storage? Until one does, every storage is empty, and the callbacks'
/// snapshot and restore (one per callback registered on a pending promise, and one per run) skip
/// the thread-local access. Relaxed is enough: a thread's own storage can only be non-empty after
/// its own `with_value`, whose store it sees in program order.
static KEYS_USED: AtomicBool = AtomicBool::new(false);

/// The next key's id. Global, not per thread: a `Key` is `Send`, so keys made on different
/// threads meet, and must not share an id (one would read the other's value).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CURRENT: RefCell<Storage> = const { RefCell::new(None) };
}

/// Lwt's `new_key`: a fresh key, distinct from every other.
///
/// ```
/// let a = lwt_core::key::new_key::<String>();
/// let b = lwt_core::key::new_key::<String>();
/// lwt_core::key::with_value(&a, Some("x".to_string()), || {
///     assert_eq!(lwt_core::key::get(&b), None);
/// });
/// ```
pub fn new_key<T: 'static>() -> Key<T> {
    let id = NEXT_ID.fetch_add(1, Relaxed);
    Key {
        id,
        _value: PhantomData,
    }
}

/// Lwt's `get`: the value of `key` in the current storage.
///
/// ```
/// let k = lwt_core::key::new_key::<u8>();
/// assert_eq!(lwt_core::key::get(&k), None);
/// ```
pub fn get<T: Clone + 'static>(key: &Key<T>) -> Option<T> {
    CURRENT.with(|current| {
        let mut frame = current.borrow().clone();
        while let Some(f) = frame {
            if f.id == key.id {
                return f.value.downcast_ref::<T>().cloned();
            }
            frame = f.next.clone();
        }
        None
    })
}

/// Lwt's `with_value`: runs `f` with `key` set to `value` (`None` unsets it), then restores the
/// storage, even if `f` panics.
///
/// ```
/// let k = lwt_core::key::new_key::<u8>();
/// let inner = lwt_core::key::with_value(&k, Some(1), || lwt_core::key::get(&k));
/// assert_eq!(inner, Some(1));
/// assert_eq!(lwt_core::key::get(&k), None);
/// ```
pub fn with_value<T: 'static, R>(key: &Key<T>, value: Option<T>, f: impl FnOnce() -> R) -> R {
    KEYS_USED.store(true, Relaxed);
    // As in Lwt, whose storage is a map: the key's binding is replaced (or removed), not
    // shadowed, so a loop that sets a key at every step keeps one binding, not one per step.
    let rest = without(snapshot(), key.id);
    let storage = match value {
        Some(v) => Some(Rc::new(Frame {
            id: key.id,
            value: Rc::new(v) as Rc<dyn Any>,
            next: rest,
        })),
        None => rest,
    };
    with_storage(storage, f)
}

/// `storage` without the binding of `id`: the frames above it copied, those below shared. A list
/// holds each key at most once, so it is never longer than the number of keys bound at once, and
/// this copies at most that many frames.
fn without(storage: Storage, id: u64) -> Storage {
    let mut above: Vec<Rc<Frame>> = Vec::new();
    let mut cursor = storage.clone();
    while let Some(frame) = cursor {
        if frame.id == id {
            let mut rest = frame.next.clone();
            for copy in above.into_iter().rev() {
                rest = Some(Rc::new(Frame {
                    id: copy.id,
                    value: copy.value.clone(),
                    next: rest,
                }));
            }
            return rest;
        }
        cursor = frame.next.clone();
        above.push(frame);
    }
    storage
}

/// The current storage, to restore around a callback registered now.
// Inlined (with the thread-local read out of line), so that registering a callback in a crate
// that never uses keys costs one load: as a call into this crate it cost more than the check.
#[inline]
pub(crate) fn snapshot() -> Storage {
    if !KEYS_USED.load(Relaxed) {
        return None; // no storage was ever made: every thread's is empty
    }
    snapshot_current()
}

#[inline(never)]
fn snapshot_current() -> Storage {
    CURRENT.with(|c| c.borrow().clone())
}

/// Puts the storage that was current back when dropped.
struct Restore(Storage);

impl Drop for Restore {
    fn drop(&mut self) {
        let saved = self.0.take();
        // The storage put aside may hold the last reference to a value, whose `drop` may use
        // the keys: it is dropped once the cell's borrow has ended.
        let replaced = CURRENT.try_with(|c| c.replace(saved));
        drop(replaced);
    }
}

/// Runs `f` with `storage` current. When neither `storage` nor the current storage holds anything
/// (the usual case) this is one thread-local read.
// Inlined, with the swap out of line and `f` called from one place: this runs once per callback
// of every pending promise, and the call cost more than its usual work, the `KEYS_USED` check.
#[inline]
pub(crate) fn with_storage<R>(storage: Storage, f: impl FnOnce() -> R) -> R {
    let _restore = enter(storage);
    f()
}

/// Makes `storage` current until the guard it gives is dropped: [`with_storage`] for a job that
/// runs its work in place, without moving it into a closure. `None` when neither `storage` nor
/// the current storage holds anything (the usual case), at the cost of one load.
#[inline]
#[must_use = "the storage is current only while the guard lives"]
pub(crate) fn enter(storage: Storage) -> Option<impl Drop> {
    if storage.is_none() && !KEYS_USED.load(Relaxed) {
        None
    } else {
        swap_in(storage)
    }
}

/// Makes `storage` current; gives what to restore, unless both it and the current one are empty.
#[inline(never)]
fn swap_in(storage: Storage) -> Option<Restore> {
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        if storage.is_none() && current.is_none() {
            None
        } else {
            Some(Restore(std::mem::replace(&mut *current, storage)))
        }
    })
}
