//! A broadcast chat server: each line a client sends goes to every other client.
//!
//! ```text
//! cargo run --example chat                     # on 127.0.0.1, a port the system picks
//! cargo run --example chat -- 127.0.0.1:7000   # or on the address given
//! nc 127.0.0.1 7000                            # in a few terminals; `/nick alice` renames
//! ```
//!
//! The first line on stdout is `listening on ADDR` (a test reads the port there), then a line
//! per join and leave. Clients see `* ...` for news of the room and `NAME: LINE` for talk.
//!
//! Everything runs on one thread, as in Lwt, so the room is an `Rc<RefCell<..>>`, not an
//! `Arc<Mutex<..>>`: no other code can run while we hold a borrow, only during a wait, and no
//! borrow here lives across one.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;

use lwt::stream::{self, BoundedPush};
use lwt::{io, lwt, main, wait, Promise};

/// How many lines may wait for a client before we give up on it.
///
/// Why a queue per client at all: writing to a socket waits once the peer stops reading (its
/// kernel buffers and our channel's buffer fill up). If the sender's task wrote to every
/// recipient itself, one stuck reader would stall every sender, then everyone. So the sender
/// only *queues* the line, which never waits, and each client has a writer task of its own that
/// drains its queue at whatever pace its peer reads.
///
/// Why bounded: a client that never reads would make its queue, and the server, grow without
/// end. When the queue is full (the client stopped reading, or reads slower than the room
/// talks for longer than the queue absorbs), we disconnect that client (as Redis does past its
/// output buffer limit) rather than drop lines for it (it would never know what it missed) or
/// wait for room (that is the stall again).
///
/// The bound must stay above what can pile up for a healthy reader within one turn of the
/// loop. The runtime completes at most 128 channel operations in a row (all channels
/// together) before it lets the loop turn, so the readers of all the senders together queue
/// about that many lines a turn; and each writer sends everything queued for its client in one
/// write (see [`writer`]), so it keeps up with any number of senders. (One write per line did
/// not: each writer then sent at most 128 lines a turn while every sender added theirs, and two
/// clients pasting at once got a fast reader disconnected.)
const QUEUE: usize = 512;

struct Member {
    name: String,
    /// The producer side of this client's queue; its writer task holds the reading side.
    outbox: BoundedPush<String>,
    /// Kept to disconnect the client: aborting one channel of a connection closes both.
    conn: io::InputChannel,
}

#[derive(Default)]
struct Room {
    members: BTreeMap<u64, Member>,
    joined: u64,
}

type Shared = Rc<RefCell<Room>>;

/// The server's log, on stdout. Not `println!`, which panics once stdout is gone (its reader
/// quit): the panic would reject that connection's handler halfway through, after `join`
/// registered the member, say, and so leak the entry. A log line is not worth a connection.
fn log(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Queues `line` for one member, or disconnects it if its queue is full.
fn send(outbox: &BoundedPush<String>, conn: &io::InputChannel, line: &str) {
    if outbox.count() < outbox.size() {
        // There is room, so the push is fulfilled at once: nothing to wait for.
        drop(outbox.push(line.to_string()));
    } else {
        // The client's reading task then fails, and its handler removes it (see `serve`).
        // Aborting twice (a second line while it leaves) does nothing more.
        drop(conn.abort());
    }
}

/// Queues `line` for each member whose id `to` accepts.
fn deliver(room: &Shared, to: impl Fn(u64) -> bool, line: &str) {
    // Collect the recipients and release the borrow before sending: a push can run the
    // recipient's writer at once, and an abort its handler's cleanup, which borrows the room.
    let recipients: Vec<_> = (room.borrow().members.iter())
        .filter(|(id, _)| to(**id))
        .map(|(_, m)| (m.outbox.clone(), m.conn.clone()))
        .collect();
    for (outbox, conn) in &recipients {
        send(outbox, conn, line);
    }
}

fn join(room: &Shared, outbox: BoundedPush<String>, conn: io::InputChannel) -> u64 {
    let (id, name, count) = {
        let mut room = room.borrow_mut();
        room.joined += 1;
        let (id, name) = (room.joined, format!("client {}", room.joined));
        let member = Member {
            name: name.clone(),
            outbox,
            conn,
        };
        room.members.insert(id, member);
        (id, name, room.members.len())
    };
    log(format_args!("{name} joined ({count} connected)"));
    let welcome = format!("* welcome, you are {name} ({count} connected)");
    deliver(room, |m| m == id, &welcome);
    deliver(room, |m| m != id, &format!("* {name} joined"));
    id
}

/// Removing the member drops its `outbox`, the last producer of its queue, which closes the
/// queue: its writer sends what is left, then ends.
fn leave(room: &Shared, id: u64) {
    let (member, count) = {
        let mut room = room.borrow_mut();
        (room.members.remove(&id), room.members.len())
    };
    let Some(member) = member else { return };
    log(format_args!("{} left ({count} connected)", member.name));
    let news = format!("* {} left ({count} connected)", member.name);
    deliver(room, |_| true, &news);
}

/// A client's line as text others can be shown: bytes that are not UTF-8 become U+FFFD rather
/// than end the connection (`read_line` would reject them), and so do control characters,
/// which would let one client move the cursor or clear the screen of the others' terminals
/// (and of the server's log).
fn printable(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// One line from member `id`: a command, or talk for the others.
fn said(room: &Shared, id: u64, line: String) {
    let Some(name) = room.borrow().members.get(&id).map(|m| m.name.clone()) else {
        return;
    };
    // `/nick NAME` or a bare `/nick`, but `/nickname` is talk.
    let nick = line
        .strip_prefix("/nick")
        .filter(|r| r.is_empty() || r.starts_with(' '));
    match nick.map(str::trim) {
        Some("") => deliver(room, |m| m == id, "* usage: /nick NAME"),
        Some(nick) => {
            if let Some(m) = room.borrow_mut().members.get_mut(&id) {
                m.name = nick.to_string();
            }
            deliver(room, |m| m == id, &format!("* you are now {nick}"));
            deliver(room, |m| m != id, &format!("* {name} is now {nick}"));
        }
        None => deliver(room, |m| m != id, &format!("{name}: {line}")),
    }
}

/// Sends a client's queued lines as they come: when one is there, it and every line queued
/// behind it go in one write, so that a client falls behind only when its socket does.
fn writer(queue: stream::Stream<String>, oc: io::OutputChannel) -> Promise<()> {
    // Shared: the loop's closure reads it each iteration, and a `Stream` is one cursor.
    let queue = Rc::new(queue);
    lwt! {
        while let Some(first) = queue.get() {
            do let mut batch = first + "\n";
            do for line in queue.get_available() {
                batch.push_str(&line);
                batch.push('\n');
            }
            oc.write(batch);
        }
    }
}

/// A connection's handler: two tasks, one reading the client, one writing to it.
fn serve(room: Shared, ic: io::InputChannel, oc: io::OutputChannel) -> Promise<()> {
    let (queue, outbox) = stream::create_bounded(QUEUE);
    let id = join(&room, outbox, ic.clone());
    // A failed write means the peer is gone or broken: abort the connection so that the reader
    // fails too and the client leaves, instead of lingering until it sends a line.
    let conn = ic.clone();
    let writing = writer(queue, oc).catch(move |_| conn.abort());
    lwt! {
        do let cleanup = room.clone();
        // The reader: until the client closes its side (`None`), or its connection fails or
        // is aborted (a rejection, caught: to a chat server that is just a client leaving).
        try {
            while let Some(line) = ic.read_line_bytes_opt() {
                do said(&room, id, printable(&line));
            }
        } catch {
            e => do log(format_args!("client {id}'s connection ended: {e}")),
        } finally {
            // Whatever ended the loop, the member goes: no entry outlives its connection.
            do leave(&cleanup, id)
        };
        // Return only once the writer is done, so that the lines queued before the client left
        // are sent before the server closes the connection (which it does when we return).
        writing
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let addr: SocketAddr = addr.parse().unwrap_or_else(|_| {
        eprintln!("usage: chat [ADDR]   (default 127.0.0.1:0)");
        std::process::exit(2)
    });
    let room = Shared::default();
    // A line longer than 1 KiB fails that client's read (its connection ends) instead of
    // making us buffer up to the default megabyte. `on_error` keeps the server serving when a
    // connection fails to close, where the default reporter would end the process; a client
    // that left before we were done writing to it (a broken pipe, a reset) is no news.
    let config = io::ServerConfig::new().max_line_length(1024).on_error(|e| {
        use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
        let left = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| matches!(e.kind(), BrokenPipe | ConnectionReset));
        if !left {
            let _ = writeln!(std::io::stderr(), "chat: {e}");
        }
    });
    let server = io::establish_server_with(addr, config, move |_peer, ic, oc| {
        serve(room.clone(), ic, oc)
    });
    let server = main::run(server).unwrap_or_else(|e| {
        eprintln!("chat: {addr}: {e}");
        std::process::exit(1)
    });
    println!(
        "listening on {}",
        server.local_addr().expect("a TCP server")
    );
    // Serve until killed: Lwt's `let forever, _ = Lwt.wait ()`. The resolver is forgotten,
    // not dropped: a dropped resolver rejects its promise, which would end the server at once.
    let (forever, resolver) = wait::<()>();
    resolver.forget();
    let _ = main::run(forever);
}
