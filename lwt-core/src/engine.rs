//! The event loop's state, one per thread: the OS reactor (`mio`), the timers, the paused
//! promises, the file descriptors being waited on, and the queue of work posted by other threads.
//!
//! [`main::run`](crate::main::run) drives it one [`iteration`](Engine::iteration) at a time. It is
//! created on first use, so a program that only chains promises never opens an epoll instance.
//!
//! Nothing here holds a `RefCell` borrow while it resolves a promise: resolutions run user
//! callbacks, and those come straight back here to sleep, pause or wait on a descriptor.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::node::{CancelListener, HowToCancel, Node};
use crate::promise::Promise;
use crate::readiness::Readiness;
use crate::resolver::{self, task_telling, Resolver};
use crate::timers::{CancelCounter, Timers};

const WAKER: Token = Token(usize::MAX);

/// How long the loop blocks, at most, when all it waits for is `spawn_local` tasks whose wakers
/// something else holds: another thread that drops its waker without waking it runs no code the
/// loop could see, so the loop counts the holders again this often, and `run` then reports that
/// nothing can resolve its promise instead of waiting for ever.
const WAKER_RECOUNT: Duration = Duration::from_secs(1);

/// Work posted to the loop from another thread.
pub(crate) type Posted = Box<dyn FnOnce() + Send>;

/// The part of the engine other threads can reach.
pub(crate) struct Remote {
    queue: Mutex<VecDeque<Posted>>,
    /// `queue.len()`, kept beside it so that the loop's thread can see "nothing posted" with one
    /// atomic load instead of a lock per iteration. Written only under the lock.
    queued: AtomicUsize,
    /// The loop's thread exited ([`Remote::close`]): nothing posted will ever run. Read and
    /// written only under the queue's lock.
    closed: AtomicBool,
    waker: Waker,
    /// The loop's thread: a thread that blocks until its loop answers must not be that one.
    owner: std::thread::ThreadId,
    /// How many [`MainHandle`](crate::preemptive::MainHandle)s are alive: a thread holding one
    /// may still post work that resolves what `run` waits for, so the loop does not report
    /// `Stuck` while one is out.
    handles: AtomicUsize,
}

impl Remote {
    /// Is the calling thread the loop's own?
    pub(crate) fn is_loop_thread(&self) -> bool {
        std::thread::current().id() == self.owner
    }

    /// A `MainHandle` was made (or cloned).
    pub(crate) fn handle_made(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A `MainHandle` was dropped. Release: what it posted before is seen by the loop that sees
    /// it gone (see `nothing_can_wake`).
    pub(crate) fn handle_dropped(&self) {
        self.handles.fetch_sub(1, Ordering::Release);
    }

    /// Runs `f` on the loop's thread, at its next iteration; drops it if that thread has exited.
    pub(crate) fn post(&self, f: Posted) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Ordering::Relaxed) {
            drop(queue);
            drop(f);
            return;
        }
        queue.push_back(f);
        self.queued.store(queue.len(), Ordering::Release);
        drop(queue);
        // Waking can only fail if the epoll instance is gone, i.e. the loop's thread exited.
        let _ = self.waker.wake();
    }

    /// The loop's thread is exiting: drops the work posted and not run, and any posted from now
    /// on. Other threads hold the `Remote` (a worker running a detached job, a future's waker), so
    /// without this what they posted stayed queued forever: a `run_in_main` waiting for its
    /// answer blocked its worker for good (a thread of the pool every loop shares), where
    /// dropping the request tells it the loop is gone. The closures are `Send`: they hold no
    /// promise or resolver of this thread, so dropping them runs no callback during teardown.
    fn close(&self) {
        let posted = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            self.closed.store(true, Ordering::Relaxed);
            self.queued.store(0, Ordering::Release);
            std::mem::take(&mut *queue)
        };
        drop(posted);
    }
}

/// An operation that retries itself when its descriptor becomes ready: `Fd::retry` files one
/// after `WouldBlock`, in place of a `wait_read().bind(retry)` chain (one allocation and one
/// promise fewer per blocked read or write, and no bind machinery on the way back).
pub(crate) trait IoJob {
    /// Does anybody still want the result (its promise was not canceled)?
    fn is_pending(&self) -> bool;
    /// The descriptor is ready (or in error): try the operation again.
    fn ready(self: Box<Self>);
    /// The descriptor cannot be waited on: reject the operation with `error`.
    fn fail(self: Box<Self>, error: io::Error);
}

/// A registered descriptor, as the reactor sees it (held weakly: the reactor never keeps a
/// descriptor open).
pub(crate) trait Descriptor {
    /// Would a read not block now? One poll(2) that does not wait; `true` when it cannot tell.
    ///
    /// Asked only of an event that reports TCP urgent data (`EPOLLPRI`): mio counts that as
    /// readable, with or without ordinary data (`EPOLLIN`), and urgent data alone leaves nothing
    /// a read can take, so a `wait_read` woken by it would be fulfilled with nothing to read
    /// (Lwt's stays pending) and a read would fail and wait again.
    fn readable_now(&self) -> bool;
    /// The thread is ending with waits on this descriptor, which the engine forgets (see
    /// `Drop for Engine`): closes it without resolving anything, or it would stay open for good.
    fn close_at_exit(&self);
}

/// Something waiting on a descriptor: a `wait_read`/`wait_write` promise, or an operation to
/// retry.
pub(crate) enum IoWaiter {
    Wake(Resolver<()>),
    Job(Box<dyn IoJob>),
}

impl IoWaiter {
    fn is_pending(&self) -> bool {
        match self {
            IoWaiter::Wake(r) => r.is_pending(),
            IoWaiter::Job(job) => job.is_pending(),
        }
    }

    fn ready(self) {
        match self {
            IoWaiter::Wake(r) => r.wakeup(()),
            IoWaiter::Job(job) => job.ready(),
        }
    }

    /// Rejects the wait with `error` (a no-op on a canceled one).
    pub(crate) fn fail(self, error: io::Error) {
        match self {
            IoWaiter::Wake(r) => r.wakeup_exn(error),
            IoWaiter::Job(job) => job.fail(error),
        }
    }
}

struct Waiters {
    readers: Vec<IoWaiter>,
    writers: Vec<IoWaiter>,
    /// Shared with the descriptor's `Fd`: what its short transfers showed, which an event
    /// clears for each direction it reports (see `readiness`).
    readiness: Rc<Readiness>,
    /// The descriptor, asked whether it is readable when an event is ambiguous.
    descriptor: Weak<dyn Descriptor>,
    /// Waiters reported dead (canceled, given up) since the lists were last pruned: see
    /// `take_dead_waiters`.
    dead: usize,
    /// Where the next waiter refiled after the last event of each direction goes (see
    /// `refile_io_job`): the waiters that event woke keep their places, ahead of those filed
    /// since.
    refile_readers: usize,
    refile_writers: usize,
}

/// Keeps only the waiters whose promise still waits (a canceled wait leaves a dead waiter).
fn push_waiter(list: &mut Vec<IoWaiter>, w: IoWaiter) {
    if list.len() >= 16 && list.len().is_power_of_two() {
        list.retain(IoWaiter::is_pending);
    }
    list.push(w);
}

/// Hooks run around each iteration (Lwt_main's enter/leave iteration hooks).
pub(crate) type Hook = Box<dyn FnMut()>;

/// A list of iteration hooks, in running order: keyed by [`HookKey`], so that adding at either
/// end and removing by id take O(log n), as Lwt's sequence nodes take O(1) (a vector searched
/// and shifted made 100,000 hooks cost 34 µs a removal).
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) list: RefCell<BTreeMap<HookKey, Hook>>,
    /// Every hook of this list with a smaller id was removed (`remove_all`), those taken out to
    /// run included.
    pub(crate) cleared_below: Cell<u64>,
}

/// Where a hook goes in its list: hooks added first run newest first, then hooks added last run
/// oldest first. With ids numbered in order of addition, that is the order of `-(id + 1)` for
/// those added first and `id + 1` for the others, so the key is the position and the id at
/// once, and hooks added while the list was taken out to run (a hook adding hooks) fall into
/// place when it is put back.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HookKey(i64);

impl HookKey {
    pub(crate) fn new(id: u64, first: bool) -> HookKey {
        let n = i64::try_from(id).expect("fewer than 2^63 hooks") + 1;
        HookKey(if first { -n } else { n })
    }

    /// The two keys a hook of this id may have.
    pub(crate) fn both(id: u64) -> [HookKey; 2] {
        [HookKey::new(id, false), HookKey::new(id, true)]
    }

    pub(crate) fn id(self) -> u64 {
        self.0.unsigned_abs() - 1
    }
}

/// A paused list of more entries than this gives its memory back once woken (see
/// [`Engine::give_back_paused_memory`]).
const KEEP_PAUSED: usize = 4096;

/// An entry of the paused list: a paused promise to wake, or runtime work that runs at the same
/// point a pause's bind continuation would (see [`Engine::pause_then`]).
enum Paused {
    Promise(Resolver<()>),
    Call(Rc<dyn PausedWork>),
}

/// Runtime work for the next turn of the loop, filed with [`Engine::pause_then`]: a runtime
/// structure that is in an `Rc` already files itself, which costs no allocation (a boxed
/// closure cost one per automatic flush).
pub(crate) trait PausedWork {
    /// Runs the work (once per filing).
    fn run_paused(self: Rc<Self>);
}

impl Paused {
    /// Still to run? A canceled pause is not; runtime work always is.
    #[inline]
    fn is_live(&self) -> bool {
        match self {
            Paused::Promise(r) => r.is_pending(),
            Paused::Call(_) => true,
        }
    }

    /// Runs the entry; gives back a woken pause's node, which the next pause may reuse (see
    /// [`Engine::keep_spare_node`]).
    #[inline]
    fn wake(self) -> Option<Rc<Node<()>>> {
        match self {
            Paused::Promise(r) => Some(r.wake_pause_giving_node()),
            // As a callback of the pause's resolution would run: the resolutions `f` makes with
            // `wakeup_later` (the `flushed()` waiters of an automatic flush) wait until it
            // returns, so their callbacks never run in the middle of its work (holding a
            // channel's lock, with a burst half written). `settle` is what `wakeup` does, but
            // past the nesting limit, where a wakeup would queue the callback, it runs at once.
            Paused::Call(work) => {
                crate::schedule::settle(|| crate::hook::guard(|| work.run_paused()));
                None
            }
        }
    }
}

pub(crate) struct Engine {
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    remote: Arc<Remote>,
    timers: RefCell<Timers>,
    /// The cancel link every sleep points to (see `timers::CancelCounter`).
    timer_cancels: Rc<CancelCounter>,
    paused: RefCell<Vec<Paused>>,
    /// The promises paused before the current iteration, being woken (see `wake_paused`); empty
    /// between iterations, its buffer kept (no allocation per iteration).
    paused_spare: RefCell<VecDeque<Paused>>,
    /// The node of the last woken pause that nothing held any more, renewed to a fresh pending
    /// task: the next pause takes it instead of allocating. One is enough: a pause made while
    /// the pauses of an iteration are woken (a coroutine pausing again) takes the node of the
    /// pause woken before it, and gives its own back when it is woken. (Timers do not take
    /// part: renewing the node of every timer that fires cost the timers row 1.5 % more
    /// instructions, to save an allocation only in a loop that sleeps, where a sleep dwarfs it.)
    spare_node: Cell<Option<Rc<Node<()>>>>,
    /// The I/O waiters a poll found ready, being woken (see `wake_ready`); empty between
    /// iterations, its buffer kept (no allocation per poll).
    ready: RefCell<VecDeque<(Token, IoWaiter)>>,
    io: RefCell<Vec<Option<Waiters>>>,
    free_tokens: RefCell<Vec<usize>>,
    /// Resolvers in the waiter lists of `io` (some may belong to canceled waits).
    io_waiters: Cell<usize>,
    /// Waiters `take_dead_waiters` looked at (a test's measure of its work).
    #[cfg(test)]
    pub(crate) dead_scan: Cell<usize>,
    /// Work to run at the next iteration (async tasks woken on this thread).
    soon: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// The work of `soon` taken for the current iteration, being run (see `run_soon`); empty
    /// between iterations, its buffer kept.
    soon_spare: RefCell<VecDeque<Box<dyn FnOnce()>>>,
    /// Async tasks alive on this loop: they may be woken from another thread.
    live_tasks: Cell<usize>,
    /// Jobs started on other threads whose completion has not come back yet.
    outstanding: Cell<usize>,
    pub(crate) enter_hooks: Hooks,
    pub(crate) leave_hooks: Hooks,
    pub(crate) next_hook_id: Cell<u64>,
    /// Ids removed while their list was taken out to run: `run_hooks` skips them and does not
    /// put them back.
    pub(crate) removed_hooks: RefCell<Vec<u64>>,
    /// Is a list of hooks running (taken out of the engine)?
    pub(crate) hooks_running: Cell<bool>,
}

thread_local! {
    static ENGINE: Engine = Engine::new().expect("lwt: cannot create the OS event reactor (epoll)");
}

impl Drop for Engine {
    /// When the thread exits, promises still waiting on its loop (a pause, a timer, an I/O wait)
    /// stay pending: dropping their resolvers would reject them and run callbacks while the
    /// thread's other thread-locals are being destroyed, which aborts the process. The OS takes
    /// the memory back, but not the descriptors: those still registered with this loop (every
    /// `Fd` of the thread's that an I/O wait was once on and that is still open, a wait pending
    /// on it or not) are closed here, with nothing resolved (a signal handler's pipe, which the
    /// program never sees, was left open by every thread that ended with a handler). An `Fd`
    /// of the thread's kept past its end (leaked on purpose) is closed too. Work other threads posted, or will post, is
    /// dropped (see [`Remote::close`]).
    fn drop(&mut self) {
        self.remote.close();
        std::mem::forget(std::mem::take(self.paused.get_mut()));
        // Pauses left by an iteration that a panicking hook interrupted while it woke them.
        std::mem::forget(std::mem::take(self.paused_spare.get_mut()));
        self.timers.get_mut().forget_all();
        for waiters in self.io.get_mut().iter().flatten() {
            if let Some(descriptor) = waiters.descriptor.upgrade() {
                descriptor.close_at_exit();
            }
        }
        std::mem::forget(std::mem::take(self.io.get_mut()));
        std::mem::forget(std::mem::take(self.ready.get_mut()));
        std::mem::forget(std::mem::take(self.soon.get_mut()));
        std::mem::forget(std::mem::take(self.soon_spare.get_mut()));
        std::mem::forget(std::mem::take(self.enter_hooks.list.get_mut()));
        std::mem::forget(std::mem::take(self.leave_hooks.list.get_mut()));
    }
}

/// Runs `f` with this thread's engine.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&Engine) -> R) -> R {
    ENGINE.with(f)
}

/// Runs `f` with this thread's engine, unless the thread is being torn down (or never made one).
pub(crate) fn try_with(f: impl FnOnce(&Engine)) {
    let _ = ENGINE.try_with(f);
}

/// Why an iteration could not make progress.
pub(crate) struct Stuck;

impl Engine {
    fn new() -> io::Result<Engine> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        Ok(Engine {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(256)),
            remote: Arc::new(Remote {
                queue: Mutex::new(VecDeque::new()),
                queued: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                waker,
                owner: std::thread::current().id(),
                handles: AtomicUsize::new(0),
            }),
            timers: RefCell::new(Timers::default()),
            timer_cancels: Rc::new(CancelCounter),
            paused: RefCell::new(Vec::new()),
            paused_spare: RefCell::new(VecDeque::new()),
            spare_node: Cell::new(None),
            ready: RefCell::new(VecDeque::new()),
            io: RefCell::new(Vec::new()),
            free_tokens: RefCell::new(Vec::new()),
            io_waiters: Cell::new(0),
            #[cfg(test)]
            dead_scan: Cell::new(0),
            soon: RefCell::new(Vec::new()),
            soon_spare: RefCell::new(VecDeque::new()),
            live_tasks: Cell::new(0),
            outstanding: Cell::new(0),
            enter_hooks: Hooks::default(),
            leave_hooks: Hooks::default(),
            next_hook_id: Cell::new(0),
            removed_hooks: RefCell::new(Vec::new()),
            hooks_running: Cell::new(false),
        })
    }

    pub(crate) fn remote(&self) -> Arc<Remote> {
        self.remote.clone()
    }

    /// A job was started elsewhere; the loop must wait for its completion.
    pub(crate) fn job_started(&self) {
        self.outstanding.set(self.outstanding.get() + 1);
    }

    /// A job's completion arrived.
    pub(crate) fn job_finished(&self) {
        self.outstanding.set(self.outstanding.get() - 1);
    }

    /// Runs `f` at the next iteration, without blocking before it.
    pub(crate) fn soon(&self, f: Box<dyn FnOnce()>) {
        self.soon.borrow_mut().push(f);
    }

    /// An async task started (`+1`) or ended (`-1`) on this loop.
    pub(crate) fn task_alive(&self, alive: bool) {
        let n = self.live_tasks.get();
        self.live_tasks.set(if alive { n + 1 } else { n - 1 });
    }

    // ---- timers ----

    pub(crate) fn sleep_until(&self, deadline: Instant) -> Promise<()> {
        // Canceling the sleep rejects `p` and tells the timers, which sweep canceled entries
        // lazily (see `timers`).
        let (p, r) = task_telling(Rc::downgrade(&self.timer_cancels) as Weak<dyn CancelListener>);
        self.timers.borrow_mut().add(deadline, r);
        p
    }

    /// A sleep was canceled (see `timers::CancelCounter`). Not counted if the timers are
    /// borrowed: only the loop's own brief uses borrow them, and no user code runs in those.
    pub(crate) fn timer_canceled(&self) {
        if let Ok(mut timers) = self.timers.try_borrow_mut() {
            timers.note_canceled();
        }
    }

    pub(crate) fn timer_count(&self) -> usize {
        self.timers.borrow().live()
    }

    // ---- pause ----

    // Inlined into `main::pause`, itself inlined into the user's crate: a `yield` is two calls
    // fewer (a non-generic function is never inlined across crates without `#[inline]` or LTO).
    #[inline]
    pub(crate) fn pause(&self) -> Promise<()> {
        // A task, as in Lwt (`add_task_r`): canceling a pause rejects it at once. On the spare
        // node if there is one.
        let node = self.spare_node.take();
        let node = node.unwrap_or_else(|| Node::pending(HowToCancel::CancelThis));
        let (p, r) = resolver::from_node(node);
        self.push_paused(Paused::Promise(r));
        p
    }

    /// Keeps the node of a woken pause for the next pause, if the spare slot is free and nothing
    /// else holds the node any more. With the slot taken (a burst of pauses woken together, none
    /// pausing again) the node is dropped as it comes, without the work of renewing it.
    #[inline]
    fn keep_spare_node(&self, node: Rc<Node<()>>) {
        let spare = self.spare_node.take();
        match spare {
            None => {
                // Put in over the `None` just taken, without the drop glue `set` runs on what it
                // replaces (a test of the slot read again after `renew`: yield-loop, 4
                // instructions a pause). Nothing fills the slot meanwhile: `renew` drops at most
                // a pause's outcome, `Ok(())` or a `Canceled` rejection, or, for a pause merged
                // into a bind's result (a proxy), that proxy and the root it may be the last to
                // hold, whose outcome is the pause's too and whose callbacks have all run: no
                // user code (tests/pause_node_reuse.rs).
                let renewed = Node::renew(node, HowToCancel::CancelThis);
                let empty = self.spare_node.replace(renewed);
                debug_assert!(empty.is_none(), "the slot was emptied above");
                std::mem::forget(empty);
            }
            spare => {
                self.spare_node.set(spare);
                drop(node);
            }
        }
    }

    /// `pause().bind(f)` for the runtime's own work that nobody waits for (an output channel's
    /// automatic flush): `work` runs where the pause's continuation would, in the same order among
    /// the pauses, without a promise for the pause or for the bind. It counts as a paused
    /// promise (`paused_count`), as Lwt's `Lwt.pause` does. A panic in `work` goes to the async
    /// exception hook.
    pub(crate) fn pause_then(&self, work: Rc<dyn PausedWork>) {
        self.push_paused(Paused::Call(work));
    }

    // Always inlined: `pause` is on the path of every yield-loop iteration, and as a call this
    // cost it 18 instructions (callgrind).
    #[inline(always)]
    fn push_paused(&self, entry: Paused) {
        let mut paused = self.paused.borrow_mut();
        // Canceled pauses are swept as the list doubles, so pausing and canceling in a loop
        // within one iteration keeps the list within twice its live pauses.
        if paused.len() >= 16 && paused.len().is_power_of_two() {
            paused.retain(Paused::is_live);
        }
        paused.push(entry);
    }

    /// Is a pause in the lists, canceled or not?
    #[inline]
    fn any_listed_pause(&self) -> bool {
        !self.paused.borrow().is_empty() || !self.paused_spare.borrow().is_empty()
    }

    /// Is a pause still waiting to be woken? A canceled pause stays in the lists until the
    /// iteration that wakes them drops it, but does not keep that iteration from blocking, as a
    /// canceled `Lwt_main.yield` leaves Lwt's queue at once. Stops at the first live pause (the
    /// usual case: the first one), and a canceled one is looked at in at most one iteration (the
    /// next one takes the lists), so this costs O(1) amortized per pause.
    #[inline(never)]
    fn any_live_pause(&self) -> bool {
        self.paused.borrow().iter().any(Paused::is_live)
            || self.paused_spare.borrow().iter().any(Paused::is_live)
    }

    /// Pauses still waiting (a canceled one no longer counts), those left in `paused_spare` by
    /// an iteration a panicking hook interrupted included.
    pub(crate) fn paused_count(&self) -> usize {
        let (paused, spare) = (self.paused.borrow(), self.paused_spare.borrow());
        paused
            .iter()
            .chain(spare.iter())
            .filter(|p| p.is_live())
            .count()
    }

    // ---- file descriptors ----

    /// Registers `fd` for readiness events, with the readiness flags its `Fd` shares with the
    /// reactor (an event clears the flag of each direction it reports). Fails with the OS error
    /// (EPERM for regular files, which epoll refuses: callers treat those as always ready).
    pub(crate) fn register(
        &self,
        fd: RawFd,
        readiness: Rc<Readiness>,
        descriptor: Weak<dyn Descriptor>,
    ) -> io::Result<Token> {
        let index = self.free_tokens.borrow_mut().pop().unwrap_or_else(|| {
            let mut io = self.io.borrow_mut();
            io.push(None);
            io.len() - 1
        });
        let token = Token(index);
        let registered = self.poll.borrow().registry().register(
            &mut SourceFd(&fd),
            token,
            // PRIORITY: TCP urgent data, which ends a read short of data that is still there
            // (see `readiness`).
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        );
        match registered {
            Ok(()) => {
                self.io.borrow_mut()[index] = Some(Waiters {
                    readers: Vec::new(),
                    writers: Vec::new(),
                    readiness,
                    descriptor,
                    dead: 0,
                    refile_readers: 0,
                    refile_writers: 0,
                });
                Ok(token)
            }
            Err(e) => {
                self.free_tokens.borrow_mut().push(index);
                Err(e)
            }
        }
    }

    /// Forgets `fd`, and gives back its waiters for the caller to reject (or drop: `Abandoned`)
    /// once it holds no borrow of the engine.
    pub(crate) fn deregister(&self, fd: RawFd, token: Token) -> Vec<IoWaiter> {
        let _ = self.poll.borrow().registry().deregister(&mut SourceFd(&fd));
        let waiters = self.io.borrow_mut()[token.0].take();
        self.free_tokens.borrow_mut().push(token.0);
        // The waiters the last poll found ready but that are not woken yet (a waiter woken
        // before them closed the descriptor): they must see the close too, not be fulfilled on
        // a descriptor that is gone. They were filed first, so they come first.
        let mut gone = self.take_ready_of(token);
        if let Some(Waiters {
            readers, writers, ..
        }) = waiters
        {
            self.io_waiters
                .set(self.io_waiters.get() - readers.len() - writers.len());
            gone.extend(readers);
            gone.extend(writers);
        }
        gone
    }

    /// Takes `token`'s waiters out of the ready list (usually empty when a descriptor closes).
    fn take_ready_of(&self, token: Token) -> Vec<IoWaiter> {
        let mut ready = self.ready.borrow_mut();
        if !ready.iter().any(|(t, _)| *t == token) {
            return Vec::new();
        }
        let (mine, rest): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut *ready)
            .into_iter()
            .partition(|(t, _)| *t == token);
        *ready = rest;
        mine.into_iter().map(|(_, w)| w).collect()
    }

    /// A promise fulfilled when `token`'s descriptor becomes readable (or writable). Canceling
    /// it tells `listener` (the descriptor), which takes the waiter out of the lists at once: a
    /// canceled waiter left counted would keep the loop blocking in the poll for an event that
    /// nothing waits for, where it should report that nothing can resolve `run`'s promise.
    pub(crate) fn wait_io(
        &self,
        token: Token,
        write: bool,
        listener: Weak<dyn CancelListener>,
    ) -> Promise<()> {
        let (p, r) = task_telling(listener);
        self.add_io_waiter(token, write, IoWaiter::Wake(r), false);
        p
    }

    /// Takes out the waiters of `token` whose promise no longer waits (canceled ones), for the
    /// caller to drop once no borrow is held: a canceled read's job holds its descriptor, which
    /// must not stay open until the next readiness prunes it.
    ///
    /// Called once per waiter that dies. The lists are pruned once the waiters reported dead
    /// since the last pruning are half of them, which makes each call O(1) amortized: pruned at
    /// every call, canceling n waits on one descriptor cost O(n²) (50,000: 7.9 s). Nothing is
    /// kept that matters meanwhile: the live waiters left keep the loop polling, and the
    /// descriptor open, as much as the dead ones do, and when the last of them dies every one
    /// is pruned.
    pub(crate) fn take_dead_waiters(&self, token: Token) -> Vec<IoWaiter> {
        let mut io = self.io.borrow_mut();
        let Some(w) = io.get_mut(token.0).and_then(Option::as_mut) else {
            return Vec::new();
        };
        w.dead += 1;
        if 2 * w.dead < w.readers.len() + w.writers.len() {
            return Vec::new();
        }
        w.dead = 0;
        #[cfg(test)]
        self.dead_scan
            .set(self.dead_scan.get() + w.readers.len() + w.writers.len());
        let mut dead = Vec::new();
        for list in [&mut w.readers, &mut w.writers] {
            if list.iter().all(IoWaiter::is_pending) {
                continue;
            }
            // Kept in order: waiters on one descriptor are served first come, first served.
            let (live, gone): (Vec<_>, Vec<_>) = std::mem::take(list)
                .into_iter()
                .partition(IoWaiter::is_pending);
            *list = live;
            dead.extend(gone);
        }
        self.io_waiters.set(self.io_waiters.get() - dead.len());
        dead
    }

    /// Runs `job` when `token`'s descriptor becomes readable (or writable).
    pub(crate) fn wait_io_job(&self, token: Token, write: bool, job: Box<dyn IoJob>) {
        self.add_io_waiter(token, write, IoWaiter::Job(job), false);
    }

    /// [`wait_io_job`](Self::wait_io_job) for a job that an event woke and whose try met
    /// `EAGAIN` all the same: it goes back where it was, ahead of the waiters filed since the
    /// event (a read that the continuation of a waiter woken before it started, say), as a
    /// waiter of Lwt keeps its place in its descriptor's sequence. Filed at the end, a reader
    /// looping on the descriptor went ahead of another reader at every event, and starved it.
    pub(crate) fn refile_io_job(&self, token: Token, write: bool, job: Box<dyn IoJob>) {
        self.add_io_waiter(token, write, IoWaiter::Job(job), true);
    }

    /// [`wait_io_job`](Self::wait_io_job) that never runs the job before returning: false (the
    /// job dropped unrun) when `token` is not registered, where `wait_io_job` would fail it at
    /// once. For a job whose continuation must not run inside its caller.
    pub(crate) fn file_io_job(&self, token: Token, write: bool, job: Box<dyn IoJob>) -> bool {
        let registered = matches!(self.io.borrow().get(token.0), Some(Some(_)));
        if registered {
            self.add_io_waiter(token, write, IoWaiter::Job(job), false);
        }
        registered
    }

    fn add_io_waiter(&self, token: Token, write: bool, waiter: IoWaiter, refile: bool) {
        let mut io = self.io.borrow_mut();
        match io.get_mut(token.0).and_then(Option::as_mut) {
            Some(w) => {
                let (list, at) = if write {
                    (&mut w.writers, &mut w.refile_writers)
                } else {
                    (&mut w.readers, &mut w.refile_readers)
                };
                let before = list.len();
                if refile {
                    // Pruning may have shortened the list since the event.
                    let i = (*at).min(list.len());
                    list.insert(i, waiter);
                    *at = i + 1;
                } else {
                    push_waiter(list, waiter);
                }
                self.io_waiters
                    .set(self.io_waiters.get() + list.len() - before);
            }
            None => {
                drop(io);
                waiter.fail(io::Error::from(io::ErrorKind::NotConnected));
            }
        }
    }

    // ---- one iteration ----

    /// Is there anything the loop could wait for or run: a live pause, work queued for the
    /// loop, a timer, an I/O wait, a background job or an async task? What
    /// [`iteration`](Self::iteration) looks at before it reports [`Stuck`]; `run` asks again
    /// after the leave hooks, which run after that report and may have made such work.
    pub(crate) fn has_work(&self) -> bool {
        self.any_live_pause()
            || self.queued_work()
            || self.io_waiters.get() > 0
            || (self.remote_work() || self.handles_out()) && !self.nothing_can_wake()
            || self.timers.borrow_mut().next_deadline().is_some()
    }

    /// Work queued for the loop on this thread: the `soon` closures, ready I/O waiters.
    #[inline]
    fn queued_work(&self) -> bool {
        !self.soon.borrow().is_empty()
            || !self.soon_spare.borrow().is_empty()
            || !self.ready.borrow().is_empty()
    }

    /// Nothing another thread holds can make progress here any more: no background job, no
    /// `MainHandle` out, no `spawn_local` task that anything can wake (see
    /// `future::any_task_may_be_woken`), and nothing posted. Waiting then would block for
    /// ever. Looked at only when the loop would otherwise block with no timeout.
    fn nothing_can_wake(&self) -> bool {
        if self.outstanding.get() > 0
            || self.handles_out()
            || (self.live_tasks.get() > 0 && crate::future::any_task_may_be_woken())
        {
            return false;
        }
        // The wakers and handles were counted first. A thread that wakes a task, or posts
        // through a handle, posts before it drops its waker or handle, and the fence orders
        // that drop (a release) before the look at the posted work: one seen gone means what
        // it posted is seen.
        std::sync::atomic::fence(Ordering::Acquire);
        self.remote.queued.load(Ordering::Acquire) == 0
    }

    /// Is a `MainHandle` on this loop alive (on whatever thread: the loop cannot tell which)?
    /// Asked only where the loop would otherwise report `Stuck`: the iterations that have other
    /// work never look.
    fn handles_out(&self) -> bool {
        self.remote.handles.load(Ordering::Acquire) > 0
    }

    /// Work another thread may finish or wake: background jobs, async tasks, posted work.
    #[inline]
    fn remote_work(&self) -> bool {
        self.outstanding.get() > 0
            || self.live_tasks.get() > 0
            || self.remote.queued.load(Ordering::Acquire) > 0
    }

    /// Polls the reactor once and resolves what became ready: I/O waiters, posted work, due
    /// timers, then the promises paused before this iteration. Blocks only when no pause waits
    /// (canceled ones do not count) and no timer is due. Fires only the timers made before it
    /// first looked at them. Returns `Err(Stuck)` when nothing at all could ever make progress.
    pub(crate) fn iteration(&self) -> Result<(), Stuck> {
        // When only pauses wait, every phase before theirs would find nothing to do: no timer
        // (so none fired and `mark` is 0), no descriptor, job, task or posted work (so the poll
        // is skipped, a pause being listed), nothing ready and nothing queued.
        if self.only_pauses_to_wake() {
            self.only_wake_paused()
        } else {
            self.all_phases()
        }
    }

    /// [`iteration`](Self::iteration) when only pauses wait. Out of line, as is `all_phases`:
    /// each keeps its own copy of `wake_paused` inlined (one shared call of it cost tcp-echo 42
    /// instructions per round trip), and a loop that only yields skips `all_phases`'s frame.
    #[inline(never)]
    fn only_wake_paused(&self) -> Result<(), Stuck> {
        self.wake_paused();
        Ok(())
    }

    /// Is waking the pauses all an iteration has to do? The state of a loop that only yields:
    /// its checks made once, up front, instead of each phase's own (yield-loop: about 20 small
    /// checks in one large function per turn).
    #[inline(always)]
    fn only_pauses_to_wake(&self) -> bool {
        (self.outstanding.get() | self.live_tasks.get() | self.io_waiters.get()) == 0
            && self.remote.queued.load(Ordering::Acquire) == 0
            && self.timers.borrow().is_empty()
            && self.ready.borrow().is_empty()
            && self.soon.borrow().is_empty()
            && self.soon_spare.borrow().is_empty()
            && self.any_listed_pause()
    }

    /// [`iteration`](Self::iteration) with every phase.
    #[inline(never)]
    fn all_phases(&self) -> Result<(), Stuck> {
        // Timers fired here may have resolved what `run` waits for, and `run` looks only between
        // iterations: do not block in the poll then (as with promises paused).
        // The timers made from here on (by a timer's callback, say) wait for the next iteration.
        let (fired, mark) = self.fire_timers_first();
        // (A nested loop, from a callback of this pass, also has the rest of the outer pass's
        // ready waiters, pauses and work to run.)
        let remote_work = self.remote_work();
        let io_waiting = self.io_waiters.get() > 0;
        // A canceled pause does not keep the iteration from waiting (see `any_live_pause`). With
        // nothing to wait for (no descriptor, no job, and no timer when this iteration began:
        // `mark` is 0), the pauses are not looked at: there is no wait to keep, and a loop that
        // only pauses pays nothing for this.
        let other_work = || self.queued_work();
        let paused = fired
            || if self.any_listed_pause() {
                !(io_waiting || remote_work || mark != 0) || self.any_live_pause() || other_work()
            } else {
                other_work()
            };
        if paused && !io_waiting && !remote_work {
            // Nothing the OS could tell us: skip the syscall (Lwt issue #622).
        } else {
            // Work posted and not yet run does not wait for the poll: its wake may have been
            // taken already, by the iteration of an outer loop whose posted closure runs this
            // one (the exit hooks, run by `main::exit` in a callback of a job's completion);
            // that nested loop blocked for ever beside it.
            let timeout = if paused || self.remote.queued.load(Ordering::Acquire) > 0 {
                Some(Duration::ZERO)
            } else if let Some(d) = self.timers.borrow_mut().next_deadline() {
                Some(d.saturating_duration_since(Instant::now()))
            } else if io_waiting || self.outstanding.get() > 0 {
                None
            } else if (remote_work || self.handles_out()) && !self.nothing_can_wake() {
                self.wait_for_task_wakes()?;
                // Woken: what came is collected by a poll that does not wait.
                Some(Duration::ZERO)
            } else {
                return Err(Stuck);
            };
            self.poll_once(timeout);
        }
        self.wake_ready();
        self.run_posted();
        self.fire_timers(mark);
        self.run_soon();
        self.wake_paused();
        Ok(())
    }

    /// Blocks while all the loop waits for is `spawn_local` tasks whose wakers something else
    /// holds, counting the holders again every [`WAKER_RECOUNT`]: `Err(Stuck)` once nothing
    /// can wake any of them, `Ok` once work was posted (a wake). The recounts stay inside one
    /// iteration, so that the hooks do not run once a second while the loop waits.
    #[cold]
    fn wait_for_task_wakes(&self) -> Result<(), Stuck> {
        loop {
            self.poll_once(Some(WAKER_RECOUNT));
            if self.remote.queued.load(Ordering::Acquire) > 0 || self.queued_work() {
                return Ok(());
            }
            if self.nothing_can_wake() {
                return Err(Stuck);
            }
        }
    }

    /// Runs the work queued for this iteration, one closure at a time from the engine's own list
    /// (`soon_spare`), as `wake_paused` does: an async task that turns the loop itself (exit
    /// hooks) leaves the polls of the tasks woken with it to the nested loop, which goes on with
    /// them. Taken into a local list, they were out of its reach until the task returned.
    fn run_soon(&self) {
        {
            let mut soon = self.soon.borrow_mut();
            if soon.is_empty() && self.soon_spare.borrow().is_empty() {
                return;
            }
            // One `push_back` at a time, as in `poll_once` (cheaper than `extend` from a `Drain`).
            let mut spare = self.soon_spare.borrow_mut();
            for f in soon.drain(..) {
                spare.push_back(f);
            }
        }
        loop {
            let next = self.soon_spare.borrow_mut().pop_front();
            match next {
                Some(f) => f(),
                None => return,
            }
        }
    }

    /// Resolves the promises paused before this iteration. They are woken one at a time from the
    /// engine's own list (`paused_spare`), so that a callback that turns the loop itself (exit
    /// hooks) goes on with the rest of them before the pauses made since.
    #[inline(always)]
    fn wake_paused(&self) {
        {
            let mut paused = self.paused.borrow_mut();
            if self.paused_spare.borrow().is_empty() {
                match paused.len() {
                    // Nothing paused (an I/O loop): no `Drain` of an empty list, which the
                    // compiler does not always inline (tcp-echo: 60 instructions per round trip).
                    0 => return,
                    // The usual case of a loop that yields: nothing else to go on with.
                    1 => {
                        let entry = paused.pop().expect("one paused");
                        drop(paused);
                        if let Some(node) = entry.wake() {
                            self.keep_spare_node(node);
                        }
                        return;
                    }
                    _ => {}
                }
            }
            self.paused_spare.borrow_mut().extend(paused.drain(..));
        }
        loop {
            let next = self.paused_spare.borrow_mut().pop_front();
            match next {
                Some(entry) => {
                    if let Some(node) = entry.wake() {
                        self.keep_spare_node(node);
                    }
                }
                None => {
                    self.give_back_paused_memory();
                    return;
                }
            }
        }
    }

    /// After a wake of several pauses: lists grown by a burst (a `map_p` of 1,000,000 pausing
    /// functions) past [`KEEP_PAUSED`] entries and four times the pauses made for the next
    /// iteration give their memory back, where they kept 49 to 64 B an entry for good (rev71,
    /// session 37). A loop that pauses as many tasks every iteration keeps its lists (rev76:
    /// dropping the spare list whatever its use reallocated it every iteration). Off the path of
    /// a loop that pauses once per iteration.
    fn give_back_paused_memory(&self) {
        let mut paused = self.paused.borrow_mut();
        let next = paused.len();
        let keep = KEEP_PAUSED.max(4 * next);
        if paused.capacity() > keep {
            paused.shrink_to(2 * next);
        }
        let mut spare = self.paused_spare.borrow_mut();
        if spare.capacity() > keep {
            spare.shrink_to(2 * next);
        }
    }

    /// Polls the reactor, and moves the waiters of the descriptors it reports ready to `ready`,
    /// for `wake_ready` (no callback runs here).
    fn poll_once(&self, timeout: Option<Duration>) {
        let mut ready = self.ready.borrow_mut();
        let before = ready.len();
        {
            let mut events = self.events.borrow_mut();
            let polled = self.poll.borrow_mut().poll(&mut events, timeout);
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    panic!("lwt: polling the OS reactor failed: {e}");
                }
                return;
            }
            let mut io = self.io.borrow_mut();
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let Some(Some(w)) = io.get_mut(event.token().0) else {
                    continue;
                };
                // A report of a direction ends what a short transfer in it showed: the reactor is
                // edge-triggered, so this event is the only news of what arrived since.
                w.readiness.note_event(event);
                // One `push_back` at a time, and none for an empty list: `VecDeque::extend` from a
                // `Drain` cost tcp-echo 160 instructions per round trip.
                if !w.readers.is_empty() && reports_input(event, &w.descriptor) {
                    move_waiters(&mut w.readers, &mut ready, event.token());
                    w.refile_readers = 0;
                }
                let writing = event.is_writable() || event.is_write_closed() || event.is_error();
                if writing && !w.writers.is_empty() {
                    move_waiters(&mut w.writers, &mut ready, event.token());
                    w.refile_writers = 0;
                }
            }
        }
        self.io_waiters
            .set(self.io_waiters.get() - (ready.len() - before));
    }

    /// Wakes the I/O waiters the poll found ready, one at a time from the engine's own list, as
    /// `wake_paused` does: a waiter's callback that turns the loop itself (exit hooks) leaves the
    /// rest of them to the nested loop, which goes on with them. Taken into a local list, they
    /// were out of its reach, and the reactor, edge-triggered, does not report their descriptors
    /// again.
    fn wake_ready(&self) {
        loop {
            let next = self.ready.borrow_mut().pop_front();
            match next {
                Some((_, w)) => w.ready(),
                None => return,
            }
        }
    }

    fn run_posted(&self) {
        // A post that lands after the load below is not lost: its `wake` makes the next poll
        // return at once, and the next iteration runs it.
        while self.remote.queued.load(Ordering::Acquire) > 0 {
            let next = {
                let mut queue = self.remote.queue.lock().unwrap_or_else(|e| e.into_inner());
                let next = queue.pop_front();
                self.remote.queued.store(queue.len(), Ordering::Release);
                next
            };
            match next {
                Some(f) => f(),
                None => return,
            }
        }
    }

    /// An iteration's first look at its timers: fires those that are due, and returns whether it
    /// fired any and the mark of the timers made from then on (`Timers::mark`), which neither
    /// look fires in this iteration. Inlined up to the emptiness check: a loop with no timer
    /// (every `pause` iteration of a busy loop) pays a load and a branch here, not two calls.
    /// With no timer at all, the mark is 0: every timer is made since.
    #[inline(always)]
    fn fire_timers_first(&self) -> (bool, u64) {
        if self.timers.borrow().is_empty() {
            return (false, 0);
        }
        self.fire_timers_from_now()
    }

    #[inline(never)]
    fn fire_timers_from_now(&self) -> (bool, u64) {
        let mark = self.timers.borrow().mark();
        (self.fire_due_timers(mark), mark)
    }

    /// The second look, after the poll: fires the timers due and made before `mark`.
    #[inline(always)]
    fn fire_timers(&self, mark: u64) {
        if mark != 0 && !self.timers.borrow().is_empty() {
            self.fire_due_timers(mark);
        }
    }

    /// Wakes the timers that are due and made before `mark`; did it wake any? One at a time,
    /// with no borrow held while one's callbacks run (see `Timers::pop_due`, which also says why
    /// a due timer made since `mark` but before this pass ends it).
    #[inline(never)]
    fn fire_due_timers(&self, mark: u64) -> bool {
        let (now, pass) = {
            let timers = self.timers.borrow();
            (timers.ticks(Instant::now()), timers.mark())
        };
        let mut fired = false;
        loop {
            let next = self.timers.borrow_mut().pop_due(now, mark, pass);
            match next {
                Some(r) => {
                    fired = true;
                    r.wakeup(());
                }
                None => return fired,
            }
        }
    }
}

/// Does `event` wake the readers of `descriptor`? Urgent data alone is no input (see
/// [`Descriptor::readable_now`]); the ordinary data that comes after it is a new edge.
#[inline]
fn reports_input(event: &mio::event::Event, descriptor: &Weak<dyn Descriptor>) -> bool {
    // The common case first: readable, no urgent data.
    (event.is_readable() && (!event.is_priority() || readable_now(descriptor)))
        || event.is_read_closed()
        || event.is_error()
}

/// Out of line: urgent data is rare, and the poll loop stays small (its first version, inline,
/// cost tcp-echo 60 instructions per round trip through what the inliner then did elsewhere).
#[cold]
#[inline(never)]
fn readable_now(descriptor: &Weak<dyn Descriptor>) -> bool {
    descriptor.upgrade().is_none_or(|d| d.readable_now())
}

/// Moves the waiters of one direction of a descriptor to the ready list, in order.
fn move_waiters(from: &mut Vec<IoWaiter>, to: &mut VecDeque<(Token, IoWaiter)>, token: Token) {
    // One waiter is the usual case: popped, without the `Drain` whose drop cost tcp-echo about
    // 40 instructions per round trip.
    if from.len() == 1 {
        if let Some(waiter) = from.pop() {
            to.push_back((token, waiter));
        }
        return;
    }
    for waiter in from.drain(..) {
        to.push_back((token, waiter));
    }
}

#[cfg(test)]
mod tests {
    use super::{with, KEEP_PAUSED};
    use crate::{list, main};

    /// Found in review (rev71, session 37): after a burst of pauses, the paused lists kept
    /// their peak capacity for good (49 to 64 B an entry after a `map_p` of 1,000,000).
    #[test]
    fn a_burst_of_pauses_gives_its_memory_back() {
        main::run(list::iter_p(|_| main::pause(), 0..20_000)).unwrap();
        let (spare, paused) = with(|e| {
            (
                e.paused_spare.borrow().capacity(),
                e.paused.borrow().capacity(),
            )
        });
        assert!(
            spare <= KEEP_PAUSED && paused <= KEEP_PAUSED,
            "{spare}, {paused}"
        );
    }

    /// Found in review (rev76, session 37): the first version dropped the spare list whenever
    /// it was above the limit, so a loop of 5,000 tasks that each pause every iteration
    /// reallocated it every iteration. A list about the size of the next wake stays.
    #[test]
    fn a_steady_loop_of_many_pauses_keeps_its_lists() {
        use std::{cell::RefCell, rc::Rc};
        let seen = Rc::new(RefCell::new(Vec::new()));
        let log = seen.clone();
        let hook = main::add_enter_hook(move || {
            log.borrow_mut()
                .push(with(|e| e.paused_spare.borrow().capacity()));
        });
        let pause_thrice = |_| {
            main::pause()
                .bind(|()| main::pause())
                .bind(|()| main::pause())
        };
        main::run(list::iter_p(pause_thrice, 0..5000)).unwrap();
        main::remove_hook(hook);
        // The iterations between the first wake and the last: the list is still there.
        let seen = seen.borrow();
        assert!(seen.len() >= 3, "{seen:?}");
        assert!(seen[1..3].iter().all(|&c| c >= 5000), "{seen:?}");
    }
}
