//! A TCP echo server and a client that guards each request with a timeout (`pick`), as in
//! Lwt's README.
//!
//! ```text
//! cargo run --example echo_server                      # both in one process, then a clean stop
//! cargo run --example echo_server -- server 127.0.0.1:7000   # until its input ends, or Ctrl-C
//! cargo run --example echo_server -- client 127.0.0.1:7000   # sends its input's lines
//! ```
//!
//! The server answers each line with the same line. Its replies are not flushed by hand: the
//! channel's automatic flush sends them at the next turn of the loop. The client sends a line
//! and waits for the reply or for a 5 s timeout, whichever comes first:
//!
//! ```text
//! let timeout = let%lwt () = Lwt_unix.sleep 5. in Lwt.return None in
//! match Lwt_main.run (Lwt.pick [request; timeout]) with
//! | Some response -> print_string response
//! | None -> prerr_endline "Request timed out"; exit 1
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use lwt::unix::{self, signal};
use lwt::{io, main, pick, wait, Promise};

/// How long the client waits for each reply.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one connection: each line read is written back, until the client closes its side.
fn echo(ic: io::InputChannel, oc: io::OutputChannel) -> Promise<()> {
    ic.read_line_opt().bind(move |line| match line {
        None => Promise::ret(()),
        Some(line) => {
            let ic = ic.clone();
            let out = oc.clone();
            oc.write_line(line).bind(move |()| echo(ic, out))
        }
    })
}

fn start_server(addr: SocketAddr) -> Promise<io::Server> {
    let config =
        io::ServerConfig::new().on_error(|e| eprintln!("server: a connection failed: {e}"));
    io::establish_server_with(addr, config, |_peer, ic, oc| echo(ic, oc))
}

/// One request: send `line`, wait for the reply, unless [`TIMEOUT`] passes first.
fn request(ic: &io::InputChannel, oc: &io::OutputChannel, line: String) -> Promise<Option<String>> {
    let (ic, out) = (ic.clone(), oc.clone());
    let answer = oc
        .write_line(line)
        .bind(move |()| out.flush())
        .bind(move |()| ic.read_line())
        .map(Some);
    let timeout = unix::sleep(TIMEOUT).map(|()| None);
    pick([answer, timeout])
}

/// Sends the lines one after the other, printing each reply.
fn converse(
    ic: io::InputChannel,
    oc: io::OutputChannel,
    mut lines: std::vec::IntoIter<String>,
) -> Promise<()> {
    let Some(line) = lines.next() else {
        return Promise::ret(());
    };
    let sent = line.clone();
    request(&ic, &oc, line).bind(move |reply| match reply {
        Some(reply) => lwt::printlf!("client: sent {sent:?}, got {reply:?}")
            .bind(move |()| converse(ic, oc, lines)),
        None => Promise::fail_with("request timed out"),
    })
}

fn client(addr: SocketAddr, lines: Vec<String>) -> Promise<()> {
    io::with_connection(addr, move |ic, oc| converse(ic, oc, lines.into_iter()))
}

/// Prints a line through `io` (mixing it with `println!` would work too: both write through to
/// the descriptor by the time they return).
fn say(line: String) {
    main::run(io::printl(line)).unwrap_or_else(|e| fail("stdout", e));
}

fn fail(context: &str, e: lwt::Exn) -> ! {
    eprintln!("{context}: {e}");
    std::process::exit(1)
}

/// Server and client in one process, then a graceful shutdown.
fn demo() {
    let server = main::run(start_server("127.0.0.1:0".parse().unwrap()))
        .unwrap_or_else(|e| fail("server", e));
    say("server: listening on 127.0.0.1 (port chosen by the system)".into());
    let addr = server.local_addr().expect("a TCP server");
    let lines = ["hello", "lwt in rust", "bye"].map(String::from).to_vec();
    main::run(client(addr, lines)).unwrap_or_else(|e| fail("client", e));
    say("server: shutting down".into());
    main::run(server.shutdown()).unwrap_or_else(|e| fail("server", e));
    main::run(server.drained()).unwrap_or_else(|e| fail("server", e));
    let n = server.connections_accepted();
    say(format!("server: stopped after serving {n} connection(s)"));
}

/// A promise fulfilled by the first SIGINT (Ctrl-C) or SIGTERM, with the signal's name
/// (Lwt_unix's `on_signal`), and the handlers, to disable once it is no longer awaited: a
/// second Ctrl-C then ends the process, during the drain too.
fn stop_signal() -> (Promise<&'static str>, Vec<signal::SignalHandler>) {
    let (stopped, r) = wait::<&'static str>();
    // Either handler may resolve it: the first signal wins, a later one does nothing.
    let r = r.share();
    let handlers = [(signal::SIGINT, "SIGINT"), (signal::SIGTERM, "SIGTERM")]
        .into_iter()
        .map(|(signum, name)| {
            let r = r.clone();
            signal::on_signal(signum, move |_| {
                r.wakeup(name);
            })
            .unwrap_or_else(|e| fail("server", e.into()))
        })
        .collect();
    (stopped, handlers)
}

/// The server alone, until its standard input ends or it is asked to stop by a signal.
fn serve(addr: SocketAddr) {
    let server = main::run(start_server(addr)).unwrap_or_else(|e| fail("server", e));
    let local = server.local_addr().expect("a TCP server");
    // Handled from before the server says it listens: a signal sent as soon as it does stops
    // it gracefully rather than killing it.
    let (stop, handlers) = stop_signal();
    say(format!("listening on {local}"));
    // Wait until the input ends, or a signal comes (the connections are served meanwhile).
    let input_ended = io::stdin().read_to_end().map(|_| "the end of input");
    let why = main::run(pick([input_ended, stop])).unwrap_or_else(|e| fail("server", e));
    handlers
        .into_iter()
        .for_each(signal::SignalHandler::disable);
    if why != "the end of input" {
        say(format!("{why}: stopping"));
    }
    main::run(server.shutdown()).unwrap_or_else(|e| fail("server", e));
    main::run(server.drained()).unwrap_or_else(|e| fail("server", e));
    let n = server.connections_accepted();
    main::run(lwt::printlf!("stopped after serving {n} connection(s)")).unwrap();
}

/// The client alone: sends the lines of its standard input.
fn connect(addr: SocketAddr) {
    let input = main::run(io::stdin().read_to_end()).unwrap_or_else(|e| fail("client", e));
    let lines = String::from_utf8_lossy(&input)
        .lines()
        .map(String::from)
        .collect();
    main::run(client(addr, lines)).unwrap_or_else(|e| fail("client", e));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = |i: usize| -> SocketAddr {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            eprintln!("usage: echo_server [server|client ADDR]");
            std::process::exit(2)
        })
    };
    match args.first().map(String::as_str) {
        None => demo(),
        Some("server") => serve(addr(1)),
        Some("client") => connect(addr(1)),
        Some(_) => {
            eprintln!("usage: echo_server [server|client ADDR]");
            std::process::exit(2)
        }
    }
}
