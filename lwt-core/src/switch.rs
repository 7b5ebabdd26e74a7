//! Switches (Lwt's `Lwt_switch`): turn off a group of resources at once.
//!
//! A switch collects hooks (closing a connection, stopping a server...). Turning it off runs them
//! all and waits for them. Functions that allocate resources take an optional switch and add
//! their cleanup to it, with the free functions [`check`], [`add_hook`] and [`add_hook_or_exec`],
//! which take an `Option<&Switch>` as Lwt's take a `t option`.
//!
//! `tests/ocaml_diff_list.rs` runs random programs of switches, hooks (returning at once,
//! failing, panicking, pending, turning switches off, adding hooks) and `with_switch` on this
//! crate and on Lwt 5.6.1 and compares the hooks they run, in order, and every promise's state.
//!
//! ```
//! use std::{cell::Cell, rc::Rc};
//! use lwt_core::{main, switch::{self, Switch}, Promise};
//!
//! let closed = Rc::new(Cell::new(0));
//! let c = closed.clone();
//! let result = switch::with_switch(move |sw| {
//!     for _ in 0..3 {
//!         let c = c.clone();
//!         sw.add_hook(move || { c.set(c.get() + 1); Promise::ret(()) }).unwrap();
//!     }
//!     Promise::ret("done")
//! });
//! assert_eq!(main::run(result).unwrap(), "done");
//! assert_eq!(closed.get(), 3);
//! ```

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;

use crate::combinators::join;
use crate::promise::Promise;

/// The error of operations on a switch that is off (Lwt's `Lwt_switch.Off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Off;

impl fmt::Display for Off {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the switch is off")
    }
}

impl Error for Off {}

type SwitchHook = Box<dyn FnOnce() -> Promise<()>>;

/// Lwt's `Lwt_switch.t`. Clones share the switch.
///
/// It stands in for tokio's `CancellationToken` the other way round: the switch runs the hooks
/// added to it, and [`turn_off`](Switch::turn_off) waits for them, where a token's tasks await
/// `cancelled()`. For that future, add a hook that wakes a resolver:
///
/// ```
/// use lwt_core::{main, switch::Switch, wait, Promise};
/// let sw = Switch::new();
/// let (off, r) = wait::<()>();
/// sw.add_hook(move || { r.wakeup(()); Promise::ret(()) }).unwrap(); // `token.cancelled()`
/// assert!(off.is_pending());
/// main::run(sw.turn_off()).unwrap(); // `token.cancel()`
/// assert!(off.is_fulfilled());
/// ```
#[derive(Clone)]
#[doc(alias = "CancellationToken")]
pub struct Switch(Rc<RefCell<Option<Vec<SwitchHook>>>>);

impl Default for Switch {
    fn default() -> Self {
        Switch::new()
    }
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch").field("on", &self.is_on()).finish()
    }
}

impl Switch {
    /// A switch that is on (Lwt's `create`).
    pub fn new() -> Switch {
        Switch(Rc::new(RefCell::new(Some(Vec::new()))))
    }

    /// Is the switch on?
    ///
    /// ```
    /// use lwt_core::{main, switch::Switch};
    /// let sw = Switch::new();
    /// assert!(sw.is_on());
    /// main::run(sw.turn_off()).unwrap();
    /// assert!(!sw.is_on());
    /// ```
    pub fn is_on(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// Lwt's `check`: `Err(Off)` if the switch is off.
    ///
    /// ```
    /// let sw = lwt_core::switch::Switch::new();
    /// assert!(sw.check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), Off> {
        if self.is_on() {
            Ok(())
        } else {
            Err(Off)
        }
    }

    /// Lwt's `add_hook`: `hook` runs when the switch is turned off. `Err(Off)` if it is already
    /// off (the hook is not run).
    pub fn add_hook(&self, hook: impl FnOnce() -> Promise<()> + 'static) -> Result<(), Off> {
        match &mut *self.0.borrow_mut() {
            Some(hooks) => {
                hooks.push(Box::new(hook));
                Ok(())
            }
            None => Err(Off),
        }
    }

    /// Lwt's `add_hook_or_exec`: like `add_hook`, but on a switch that is off the hook runs now
    /// (and its promise is returned). A panic in the hook is the rejection of that promise; Lwt
    /// calls the hook there without `Lwt.apply`, so its exception escapes `add_hook_or_exec`.
    ///
    /// ```
    /// use lwt_core::{main, switch::Switch, Promise};
    /// let sw = Switch::new();
    /// main::run(sw.turn_off()).unwrap();
    /// let ran = sw.add_hook_or_exec(|| Promise::ret(()));
    /// assert!(ran.is_fulfilled());
    /// ```
    pub fn add_hook_or_exec(&self, hook: impl FnOnce() -> Promise<()> + 'static) -> Promise<()> {
        if self.is_on() {
            let _ = self.add_hook(hook);
            Promise::ret(())
        } else {
            crate::bind::catch(hook, Promise::fail)
        }
    }

    /// Lwt's `turn_off`: turns the switch off and runs every hook, all at once and the last
    /// registered first (as in Lwt: what was set up last is torn down first). Fulfilled when they
    /// all are; if some fail, rejected with the failure of the last registered one among them
    /// (Lwt's `join` takes the first failure in time instead, those of the hooks that failed at
    /// once first, the last registered first: README, `join`). Turning off a switch that is off
    /// does nothing. Hooks that cancel work, turned off from inside a callback, can miss a step
    /// that a hook before them handed over (a pool element, a lock): see
    /// [A step handed over but not yet run](mod@crate::cancel#a-step-handed-over-but-not-yet-run).
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use lwt_core::{main, switch::Switch, Promise};
    ///
    /// let sw = Switch::new();
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// for name in ["connection", "session"] {
    ///     let order = order.clone();
    ///     sw.add_hook(move || { order.borrow_mut().push(name); Promise::ret(()) }).unwrap();
    /// }
    /// main::run(sw.turn_off()).unwrap();
    /// assert_eq!(*order.borrow(), ["session", "connection"]);
    /// ```
    pub fn turn_off(&self) -> Promise<()> {
        let hooks = self.0.borrow_mut().take().unwrap_or_default();
        join(
            hooks
                .into_iter()
                .rev()
                .map(|h| crate::bind::catch(h, Promise::fail)),
        )
    }
}

/// Lwt's `with_switch`: runs `f` with a fresh switch and turns it off when `f`'s promise
/// resolves, either way, waiting for the hooks. A failure of the hooks replaces `f`'s outcome,
/// a fulfilment or a rejection alike, as Lwt's `finalize` does: the hooks' failure is the later
/// news, and `f`'s value is no use once what it was made with failed to close.
///
/// ```
/// use lwt_core::{main, switch, Promise};
///
/// let r = switch::with_switch(|sw| {
///     sw.add_hook(|| Promise::fail_with("close failed")).unwrap();
///     Promise::<()>::fail_with("request failed")
/// });
/// assert_eq!(main::run(r).unwrap_err().to_string(), "close failed");
/// ```
pub fn with_switch<T: 'static>(f: impl FnOnce(Switch) -> Promise<T>) -> Promise<T> {
    let sw = Switch::new();
    let off = sw.clone();
    crate::bind::catch(|| f(sw), Promise::fail).finalize(move || off.turn_off())
}

/// Lwt's `check` on an optional switch (`None`: always on), for a function that takes one.
///
/// ```
/// use lwt_core::{main, switch::{self, Off, Switch}};
/// assert_eq!(switch::check(None), Ok(()));
/// let sw = Switch::new();
/// main::run(sw.turn_off()).unwrap();
/// assert_eq!(switch::check(Some(&sw)), Err(Off));
/// ```
pub fn check(switch: Option<&Switch>) -> Result<(), Off> {
    switch.map_or(Ok(()), Switch::check)
}

/// Lwt's `add_hook` on an optional switch: with `None`, the hook is dropped unrun, as in Lwt (a
/// resource made without a switch is closed by whoever holds it).
///
/// ```
/// use lwt_core::{switch, Promise};
/// assert_eq!(switch::add_hook(None, || Promise::ret(())), Ok(()));
/// ```
pub fn add_hook(
    switch: Option<&Switch>,
    hook: impl FnOnce() -> Promise<()> + 'static,
) -> Result<(), Off> {
    switch.map_or(Ok(()), |s| s.add_hook(hook))
}

/// Lwt's `add_hook_or_exec` on an optional switch: with `None`, the hook is dropped unrun and
/// the promise is fulfilled, as in Lwt.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use lwt_core::{main, switch::{self, Switch}, Promise};
///
/// // A function that opens something and closes it with the caller's switch, if any.
/// fn open(sw: Option<&Switch>, closed: Rc<Cell<bool>>) -> Promise<()> {
///     switch::add_hook_or_exec(sw, move || { closed.set(true); Promise::ret(()) })
/// }
/// let closed = Rc::new(Cell::new(false));
/// let sw = Switch::new();
/// main::run(sw.turn_off()).unwrap();
/// main::run(open(Some(&sw), closed.clone())).unwrap(); // off already: closed at once
/// assert!(closed.get());
/// ```
pub fn add_hook_or_exec(
    switch: Option<&Switch>,
    hook: impl FnOnce() -> Promise<()> + 'static,
) -> Promise<()> {
    switch.map_or_else(|| Promise::ret(()), |s| s.add_hook_or_exec(hook))
}
