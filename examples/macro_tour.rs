//! A tour of `lwt!` on the real run loop: timers, parallel `let .. and`, `match` with rejection
//! arms, `try`/`catch`/`finally`, loops (with `continue`), `assert!`, and the trail of
//! locations a rejection collects on its way up.
//!
//! `cargo run --example macro_tour`

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use lwt::{lwt, main, ret, unix, Promise};

#[derive(Debug)]
struct NotFound(String);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "404 {}", self.0)
    }
}

impl std::error::Error for NotFound {}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A pretend download: takes `len` milliseconds, fails for paths that start with `/missing`.
fn fetch(path: &'static str) -> Promise<String> {
    let delay = path.len() as u64;
    lwt! {
        unix::sleep(ms(delay));
        if path.starts_with("/missing") {
            Promise::fail(NotFound(path.to_string()))
        } else {
            ret(format!("<html>{path}</html>"))
        }
    }
}

/// Fetches with a deadline; a missing page or a timeout becomes `None`.
fn fetch_opt(path: &'static str, limit: Duration) -> Promise<Option<String>> {
    lwt! {
        match unix::with_timeout(limit, || fetch(path)) {
            page => ret(Some(page)),
            exception e: NotFound => {
                do println!("  {e}");
                ret(None)
            }
            exception unix::Timeout => {
                do println!("  {path}: timed out after {limit:?}");
                ret(None)
            }
        }
    }
}

/// Two downloads at once (`let .. and ..`), then a crawl of a list, one page at a time.
fn crawl(paths: Vec<&'static str>) -> Promise<usize> {
    lwt! {
        do let start = Instant::now();
        let home = fetch("/") and about = fetch("/about");
        do println!("home and about in {:?} (in parallel)", start.elapsed());
        do let bytes = Rc::new(Cell::new(home.len() + about.len()));
        do let total = bytes.clone();
        for path in paths {
            // `fetch_opt` has said why a page is missing: go on with the next one.
            let Some(page) = fetch_opt(path, ms(15)) else {
                continue;
            };
            do println!("  {path}: {} bytes", page.len());
            do bytes.set(bytes.get() + page.len());
        }
        assert!(total.get() > 0, "nothing downloaded");
        do total.get()
    }
}

/// `try`/`catch`/`finally` around a download that fails, and a `while` loop with pauses.
fn cleanup_demo() -> Promise<()> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    lwt! {
        let size = try {
            let page = fetch("/missing/page");
            ret(page.len())
        } catch {
            NotFound => ret(0),
        } finally {
            do l1.borrow_mut().push("closed the connection");
        };
        do println!("size {size}, log {:?}", l2.borrow());
        do let ticks = Rc::new(Cell::new(0));
        do let counted = ticks.clone(); // the loop takes `ticks`: keep a handle for after it
        while ticks.get() < 3 {
            main::pause();
            do ticks.set(ticks.get() + 1);
        }
        do println!("{} turns of the loop", counted.get());
    }
}

/// A rejection that nobody handles, passing through two `let`s, one in each function (`outer`'s
/// `let m` is never reached: the rejection of `n` skips the rest of the block).
fn inner() -> Promise<usize> {
    lwt! {
        let page = fetch("/missing/deep");
        ret(page.len())
    }
}

fn outer() -> Promise<usize> {
    lwt! {
        let n = inner();
        let m = ret(n + 1);
        ret(m)
    }
}

fn main() {
    println!("crawling:");
    let total = main::run(crawl(vec![
        "/a",
        "/missing/b",
        "/a/very/long/path/that/times/out",
    ]));
    println!("crawled {} bytes", total.expect("the crawl"));

    main::run(cleanup_demo()).expect("the cleanup demo");

    let e = main::run(outer()).unwrap_err();
    println!("an unhandled rejection, with where it passed:\n{e:?}");
}
