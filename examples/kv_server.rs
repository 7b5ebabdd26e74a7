//! A key-value server and its clients in one process, ported from an OCaml Lwt program written
//! with `let%lwt`: a line protocol on loopback, a store behind a mutex, a per-connection idle
//! timeout, a stream of log events read by a logger task, and a switch that shuts it all down.
//!
//! ```text
//! cargo run --example kv_server      # exits 1 if a reply is not the one expected
//! ```
//!
//! The protocol, one request a line: `GET k` (`VALUE v` or `NOTFOUND`), `SET k v` (`OK`),
//! `DEL k` (`DELETED` or `NOTFOUND`), `QUIT` (`BYE`, then the server closes the connection).
//! A connection that sends nothing for [`IDLE`] gets `ERR timeout` and is closed.
//!
//! | OCaml Lwt | here |
//! |---|---|
//! | `Lwt_mutex.with_lock m f` | [`Mutex::with_lock`] |
//! | `Lwt_stream.create ()`, `push (Some x)`, `push None` | [`stream::create`], [`Push::push`], [`Push::close`] |
//! | `Lwt_unix.with_timeout d f`, `exception Lwt_unix.Timeout` | [`unix::with_timeout`], `exception Timeout =>` in a `match` of `lwt!` |
//! | `Lwt_io.establish_server_with_client_address` | [`io::establish_server`] |
//! | `Lwt_switch.add_hook (Some sw) f`, `turn_off sw` | [`Switch::add_hook`], [`Switch::turn_off`] |
//! | `let%lwt () = a and () = b in` | `let () = a and () = b;` (both run at once, as with lwt_ppx) |
//!
//! Two things an OCaml port does not need here: the recursive `let rec loop () = ..` of a
//! handler is a `loop { .. }` of `lwt!` (stack-safe however many lines are already buffered),
//! and the handler's replies need no `Lwt_io.flush` before it returns: the server's close
//! writes the output out (Lwt's close of the input channel closes the socket first, and the
//! buffered `BYE` is lost).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use lwt::stream::{self, Push, Stream};
use lwt::switch::Switch;
use lwt::sync::Mutex;
use lwt::unix::{self, Timeout};
use lwt::{io, lwt, main, ret, Promise};

/// How long a connection may stay silent before the server gives up on it.
const IDLE: Duration = Duration::from_millis(300);

/// The server's state. One thread runs everything, as in Lwt, so the map is an `Rc<RefCell<..>>`:
/// the [`Mutex`] is not there against data races but to keep a `SET`, which waits in the middle,
/// whole against the requests of other connections.
#[derive(Clone)]
struct Store {
    map: Rc<RefCell<HashMap<String, String>>>,
    lock: Mutex,
    log: Push<String>,
}

impl Store {
    /// Logs an event. The logger may be gone when the switch is off: a late event is dropped.
    fn log(&self, event: String) {
        let _ = self.log.push(event);
    }
}

/// Answers one request.
fn handle(store: &Store, cmd: &str) -> Promise<String> {
    let s = store.clone();
    match *cmd.split(' ').collect::<Vec<_>>() {
        ["GET", k] => {
            let k = k.to_string();
            store.lock.with_lock(move || {
                ret(match s.map.borrow().get(&k) {
                    Some(v) => format!("VALUE {v}"),
                    None => "NOTFOUND".to_string(),
                })
            })
        }
        ["SET", k, v] => {
            let (k, v) = (k.to_string(), v.to_string());
            store.lock.with_lock(move || {
                lwt! {
                    // A slow write: without the lock, a GET could come in between.
                    unix::sleep(Duration::from_millis(10));
                    do s.map.borrow_mut().insert(k.clone(), v);
                    do s.log(format!("set {k}"));
                    do "OK".to_string()
                }
            })
        }
        ["DEL", k] => {
            let k = k.to_string();
            store.lock.with_lock(move || {
                if s.map.borrow_mut().remove(&k).is_some() {
                    s.log(format!("del {k}"));
                    ret("DELETED".to_string())
                } else {
                    ret("NOTFOUND".to_string())
                }
            })
        }
        _ => ret(format!("ERR unknown command: {cmd}")),
    }
}

/// Serves one connection until the peer quits, closes its side, or stays silent too long.
fn serve(store: Store, id: u32, ic: io::InputChannel, oc: io::OutputChannel) -> Promise<()> {
    store.log(format!("conn {id} open"));
    lwt! {
        loop {
            // The timeout cancels the read, and a canceled read loses nothing it had read.
            match unix::with_timeout(IDLE, || ic.read_line_opt()) {
                None => {
                    do store.log(format!("conn {id} closed by peer"));
                    break;
                }
                Some(cmd) if cmd == "QUIT" => {
                    oc.write_line("BYE");
                    do store.log(format!("conn {id} quit"));
                    break;
                }
                Some(cmd) => {
                    let reply = handle(&store, &cmd);
                    oc.write_line(reply);
                }
                exception Timeout => {
                    do store.log(format!("conn {id} idle timeout"));
                    oc.write_line("ERR timeout");
                    break;
                }
            }
        }
    }
}

/// Sends each request of `script` and checks its reply, counting the wrong ones.
fn client(
    name: &'static str,
    addr: SocketAddr,
    script: Vec<(&'static str, &'static str)>,
    failures: Rc<Cell<u32>>,
) -> Promise<()> {
    io::with_connection(addr, move |ic, oc| {
        lwt! {
            for (request, expected) in script {
                oc.write_line(request);
                let reply = ic.read_line();
                do let ok = reply == expected;
                do if !ok {
                    failures.set(failures.get() + 1);
                }
                do let note = if ok { String::new() } else { format!(" (expected {expected})") };
                lwt::printlf!("{name}: {request} -> {reply}{note}");
            }
        }
    })
}

/// Connects and says nothing: the server's idle timeout must end the connection.
fn idler(addr: SocketAddr, failures: Rc<Cell<u32>>) -> Promise<()> {
    io::with_connection(addr, move |ic, _oc| {
        lwt! {
            let reply = ic.read_line();
            do if reply != "ERR timeout" {
                failures.set(failures.get() + 1);
            }
            lwt::printlf!("idler: got {reply}")
        }
    })
}

/// Prints each log event, until the stream is closed.
fn logger(events: Stream<String>) -> Promise<()> {
    events.iter_s(|event| lwt::printlf!("log: {event}"))
}

fn program() -> Promise<()> {
    let (events, log) = stream::create();
    let store = Store {
        map: Rc::default(),
        lock: Mutex::new(),
        log,
    };
    let sw = Switch::new();
    let failures = Rc::new(Cell::new(0));
    let next_id = Cell::new(0);
    let s = store.clone();
    let handler = move |_peer, ic, oc| {
        next_id.set(next_id.get() + 1);
        serve(s.clone(), next_id.get(), ic, oc)
    };
    lwt! {
        let server = io::establish_server(("127.0.0.1", 0), handler);
        do let addr = server.local_addr().expect("a TCP server");
        do let logging = logger(events);
        do let hook_store = store.clone();
        // Turning the switch off stops accepting, then ends the log: the logger prints what is
        // queued and returns.
        do sw
            .add_hook(move || {
                lwt! {
                    server.shutdown();
                    do hook_store.log("server stopped".into());
                    do hook_store.log.close();
                }
            })
            .expect("the switch is on");
        io::printl("server: listening");
        let () = client(
            "alice",
            addr,
            vec![
                ("SET a 1", "OK"),
                ("GET a", "VALUE 1"),
                ("GET z", "NOTFOUND"),
                ("DEL a", "DELETED"),
                ("DEL a", "NOTFOUND"),
                ("FROB", "ERR unknown command: FROB"),
                ("QUIT", "BYE"),
            ],
            failures.clone(),
        ) and () = client(
            "bob",
            addr,
            vec![("SET b 2", "OK"), ("SET c 3", "OK"), ("GET c", "VALUE 3"), ("QUIT", "BYE")],
            failures.clone(),
        ) and () = idler(addr, failures.clone());
        sw.turn_off();
        logging;
        do let keys = store.map.borrow().len();
        lwt::printlf!("done: {} failure(s), {keys} keys left", failures.get());
        // `main::exit` rather than `std::process::exit`: it runs the exit hooks and flushes.
        do if failures.get() > 0 {
            main::exit(1)
        };
    }
}

fn main() {
    if let Err(e) = main::run(program()) {
        eprintln!("kv_server: {e}");
        std::process::exit(1);
    }
}
