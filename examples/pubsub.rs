//! A pub/sub server and three clients in one process, written the way a tokio programmer would
//! write it with lwt: `async` blocks next to promises, a bounded stream per subscriber.
//!
//! ```text
//! cargo run --example pubsub      # exits 1 if a client did not get what it expected
//! ```
//!
//! The protocol, one request a line: `SUB topic` (`OK`), `PUB topic msg` (`SENT n`, the number
//! of subscribers it reached), `QUIT` (`BYE`). A subscriber gets `MSG topic msg` lines through a
//! bounded stream of its own, written out by a writer task; a subscriber whose stream is full
//! misses the message (as a tokio `try_send` would) instead of holding the publisher up. A client
//! that has not subscribed and is silent for [`IDLE`] gets `ERR idle` and is disconnected (a
//! subscriber is silent by design, waiting for messages). Turning the [`Switch`] off stops the
//! server and closes every subscriber's stream.
//!
//! | tokio | here |
//! |---|---|
//! | `tokio::spawn`, `spawn_local` | nothing for a promise, which runs once made; [`future::spawn_local`] for an `async` block |
//! | `mpsc::channel(n)`, `try_send`, `recv` | [`stream::create_bounded`], [`BoundedPush::push`] then `cancel` if pending, [`stream::Stream::get`] |
//! | `tokio::time::timeout(d, f).await` | [`unix::with_timeout`]`(d, \|\| f)`, rejected with [`Timeout`] |
//! | `CancellationToken` | [`Switch`] and its hooks |
//! | `#[tokio::main]` | [`main::run`] of the program's promise |

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use lwt::stream::{self, BoundedPush};
use lwt::switch::Switch;
use lwt::unix::{self, Timeout};
use lwt::{future, io, lwt, main, ret, wait, Exn, Promise};

/// How long a client may stay silent before the server disconnects it.
const IDLE: Duration = Duration::from_millis(300);

/// How many messages a subscriber may have queued before it misses some.
const QUEUE: usize = 8;

/// Subscribers by topic: the producer side of each one's queue.
type Topics = Rc<RefCell<HashMap<String, Vec<BoundedPush<String>>>>>;

/// Sends a message to every subscriber of `topic`, and says how many queues took it.
fn publish(topics: &Topics, topic: &str, msg: &str) -> usize {
    let mut topics = topics.borrow_mut();
    let Some(subs) = topics.get_mut(topic) else {
        return 0;
    };
    // A closed queue (its client is gone) is dropped from the topic.
    subs.retain(|push| !push.is_closed());
    let mut sent = 0;
    for push in subs.iter() {
        // tokio's `try_send`: a push that would wait for room is canceled, which withdraws it.
        let pushed = push.push(format!("MSG {topic} {msg}"));
        if pushed.is_pending() {
            pushed.cancel();
        } else if pushed.is_fulfilled() {
            sent += 1;
        }
    }
    sent
}

/// A client's request.
enum Request {
    Sub(String),
    Pub(String, String),
    Quit,
    Bad(String),
}

impl Request {
    fn parse(line: &str) -> Request {
        match *line.splitn(3, ' ').collect::<Vec<_>>() {
            ["SUB", topic] => Request::Sub(topic.to_string()),
            ["PUB", topic, msg] => Request::Pub(topic.to_string(), msg.to_string()),
            ["QUIT"] => Request::Quit,
            _ => Request::Bad(line.to_string()),
        }
    }
}

/// The client's next line, `None` at the end of its input. A subscriber waits for messages,
/// silent for as long as none comes, so only a client that has not subscribed has an idle
/// timeout.
fn next_line(ic: &io::InputChannel, subscribed: bool) -> Promise<Option<String>> {
    if subscribed {
        ic.read_line_opt()
    } else {
        unix::with_timeout(IDLE, || ic.read_line_opt())
    }
}

/// Serves one client: its requests, with an idle timeout, and a writer task for its queue.
fn serve(topics: Topics, ic: io::InputChannel, oc: io::OutputChannel) -> Promise<()> {
    let (queue, push) = stream::create_bounded::<String>(QUEUE);
    let subscribed = Rc::new(Cell::new(false));
    let out = oc.clone();
    // The writer task: it runs as soon as it is made, no spawn needed.
    let writer = queue.iter_s(move |line| out.write_line(line));
    let closer = push.clone();
    lwt! {
        loop {
            match next_line(&ic, subscribed.get()) {
                None => break,
                // Braced: unbraced, an arm's `match` is plain Rust, where `do` is no statement.
                Some(line) => { match ret(Request::parse(&line)) {
                    Request::Sub(topic) => {
                        do topics.borrow_mut().entry(topic).or_default().push(push.clone());
                        do subscribed.set(true);
                        oc.write_line("OK")
                    }
                    Request::Pub(topic, msg) => {
                        oc.write_line(format!("SENT {}", publish(&topics, &topic, &msg)))
                    }
                    Request::Quit => {
                        oc.write_line("BYE");
                        break;
                    }
                    Request::Bad(line) => oc.write_line(format!("ERR bad request: {line}")),
                } }
                exception Timeout => {
                    oc.write_line("ERR idle");
                    break;
                }
            }
        }
        // The queue ends with the client: the writer writes what is queued and returns.
        do closer.close();
        writer
    }
}

/// A subscriber: subscribes to `subs`, says it is ready, then reads `n` messages and quits.
async fn subscriber(
    addr: SocketAddr,
    subs: Vec<&'static str>,
    n: usize,
    ready: lwt::Resolver<()>,
) -> Result<Vec<String>, Exn> {
    let (ic, oc) = io::open_connection(addr).await?;
    for topic in subs {
        oc.write_line(format!("SUB {topic}")).await?;
        let reply = ic.read_line().await?;
        assert_eq!(reply, "OK");
    }
    ready.wakeup(());
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(ic.read_line().await?);
    }
    oc.write_line("QUIT").await?;
    got.push(ic.read_line().await?);
    Ok(got)
}

/// The publisher: waits until the subscribers are ready and publishes, then stays silent until
/// the server's idle timeout ends its connection. The subscribers were as silent meanwhile and
/// are still there: it publishes the rest on a new connection, and quits.
async fn publisher(addr: SocketAddr, ready: Promise<()>) -> Result<Vec<String>, Exn> {
    ready.await?;
    let (ic, oc) = io::open_connection(addr).await?;
    let mut got = Vec::new();
    oc.write_line("PUB news hello world").await?;
    got.push(ic.read_line().await?);
    got.push(ic.read_line().await?);
    let (ic, oc) = io::open_connection(addr).await?;
    for req in ["PUB sports goal", "PUB weather rain", "QUIT"] {
        oc.write_line(req).await?;
        got.push(ic.read_line().await?);
    }
    Ok(got)
}

fn program() -> Promise<bool> {
    let topics = Topics::default();
    let t = topics.clone();
    let handler = move |_peer, ic, oc| serve(t.clone(), ic, oc);
    future::spawn_local(async move {
        // A failed handler (a client gone while its writer writes) is logged: by default it
        // would end the process, where tokio would only drop the task.
        let config = io::ServerConfig::new().on_error(|e| eprintln!("server: {e}"));
        let server = io::establish_server_with(("127.0.0.1", 0), config, handler).await?;
        let addr = server.local_addr().expect("a TCP server");
        let sw = Switch::new();
        let s = server.clone();
        sw.add_hook(move || s.shutdown()).unwrap();
        // Shutting down ends every subscriber's queue, so that its writer task returns.
        let queues = topics.clone();
        sw.add_hook(move || {
            queues
                .borrow()
                .values()
                .flatten()
                .for_each(BoundedPush::close);
            ret(())
        })
        .unwrap();

        let (ready_a, ra) = wait();
        let (ready_b, rb) = wait();
        let alice = future::spawn_local(subscriber(addr, vec!["news"], 1, ra));
        let bob = future::spawn_local(subscriber(addr, vec!["news", "sports"], 2, rb));
        let carol = future::spawn_local(publisher(addr, lwt::join(vec![ready_a, ready_b])));
        let got = lwt::all(vec![alice, bob, carol]).await?;

        sw.turn_off().await?;
        server.drained().await?;
        let expected = [
            vec!["MSG news hello world", "BYE"],
            vec!["MSG news hello world", "MSG sports goal", "BYE"],
            vec!["SENT 2", "ERR idle", "SENT 1", "SENT 0", "BYE"],
        ];
        let mut ok = true;
        for ((name, got), expected) in ["alice", "bob", "carol"].iter().zip(got).zip(expected) {
            let got = got?;
            println!("{name}: {got:?}");
            ok &= got == expected;
        }
        // A subscriber that reads nothing misses what does not fit in its queue.
        let (_unread, slow) = stream::create_bounded(QUEUE);
        topics
            .borrow_mut()
            .entry("flood".into())
            .or_default()
            .push(slow);
        let sent: usize = (0..QUEUE + 2)
            .map(|i| publish(&topics, "flood", &i.to_string()))
            .sum();
        println!("flood: {sent} of {} queued", QUEUE + 2);
        ok &= sent == QUEUE;
        Ok::<_, Exn>(ok)
    })
    .bind(Promise::of_result)
}

fn main() {
    match main::run(program()) {
        Ok(true) => println!("all clients got what they expected"),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:?}");
            std::process::exit(2);
        }
    }
}
