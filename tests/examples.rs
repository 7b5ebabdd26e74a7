//! Runs the examples of the seeds (Lwt's manual), the echo server with piped input and
//! `pause_loop`, and checks their exact output.
//!
//! `cargo test --examples` builds examples as test harnesses, not as the programs, so this test
//! builds the programs itself (`cargo build --examples`, once, into the same target directory)
//! and runs `target/debug/examples/NAME`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory of the example programs, built on first use.
fn examples_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // This test runs as <target>/<profile>/deps/examples-<hash>.
        let exe = std::env::current_exe().unwrap();
        let target = exe
            .ancestors()
            .nth(3)
            .expect("the target directory")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--examples", "--target-dir"])
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --examples");
        assert!(status.success(), "cargo build --examples failed");
        target.join("debug").join("examples")
    })
}

fn example(name: &str) -> Command {
    let mut cmd = Command::new(examples_dir().join(name));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs `name` with `args`, `input` piped to its standard input.
fn run_with_input(name: &str, args: &[&str], input: &str) -> Output {
    let mut child = example(name)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run example {name}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn assert_output(out: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (
            out.status.code(),
            text(&out.stdout).as_str(),
            text(&out.stderr).as_str()
        ),
        (Some(code), stdout, stderr)
    );
}

#[test]
fn echo_prints_the_line_it_reads() {
    let out = run_with_input("echo", &[], "hello\nnot read\n");
    assert_output(&out, 0, "hello\n", "");
    let out = run_with_input("echo", &[], "windows line\r\n");
    assert_output(&out, 0, "windows line\n", "");
}

#[test]
fn echo_with_stdin_from_a_file_and_from_dev_null() {
    let path = std::env::temp_dir().join(format!("lwt-example-echo-{}", std::process::id()));
    std::fs::write(&path, "from a file\n").unwrap();
    let out = example("echo")
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_output(&out, 0, "from a file\n", "");

    let out = example("echo").stdin(Stdio::null()).output().unwrap();
    assert_output(&out, 1, "", "echo: end of input\n");
}

fn one_second_ago(style: &str) {
    let start = Instant::now();
    let out = run_with_input("one_second_ago", &[style], "something\n");
    let took = start.elapsed();
    assert_output(&out, 0, "One second ago, you entered something\n", "");
    assert!(took >= Duration::from_secs(1), "{style}: took {took:?}");
    assert!(took < Duration::from_secs(10), "{style}: took {took:?}");
}

#[test]
fn one_second_ago_with_bind() {
    one_second_ago("bind");
}

#[test]
fn one_second_ago_with_the_lwt_macro() {
    one_second_ago("lwt");
}

#[test]
fn one_second_ago_with_infix_operators() {
    one_second_ago("infix");
}

#[test]
fn read_int_maps_the_line_to_an_integer() {
    assert_output(&run_with_input("read_int", &[], "42\n"), 0, "42\n", "");
    assert_output(&run_with_input("read_int", &[], "  -7 \n"), 0, "-7\n", "");
    assert_output(
        &run_with_input("read_int", &[], "forty-two\n"),
        1,
        "",
        "read_int: invalid digit found in string\n",
    );
}

/// The README's main example (found in review, rev74, session 37: nothing checked its output).
#[test]
fn tour_prints_each_step_of_the_engine() {
    let out = example("tour").stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let expected = "\
before wakeup: Promise(pending)
after wakeup:  Promise(fulfilled) = Fulfilled(42)
handled rejection: Fulfilled(\"recovered from \\\"oops\\\"\")
the task was canceled
downstream: Promise(rejected: canceled)
outer while inner pends: Pending
outer now: Fulfilled(\"resolved through the proxy\")
";
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn pipe_walkthrough_shows_the_state_before_and_after_the_write() {
    let out = example("pipe_walkthrough")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let expected = "\
# let (ic, oc) = io::pipe().expect(\"a pipe\");
# let p = io::read_char(&ic);
# p.state()
- : State<char> = Pending   (Lwt: Lwt.Sleep)
# main::run(io::write_char(&oc, 'a').bind(move |()| io::flush(&oc)))
- : Result<(), Exn> = Ok(())
# main::run(main::pause())  // one turn of the loop: the reader wakes up
- : Result<(), Exn> = Ok(())
# p.state()
- : State<char> = Fulfilled('a')   (Lwt: Lwt.Return a)
";
    assert_output(&out, 0, expected, "");
}

#[test]
fn echo_server_and_client_in_one_process() {
    let out = example("echo_server")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let expected = "\
server: listening on 127.0.0.1 (port chosen by the system)
client: sent \"hello\", got \"hello\"
client: sent \"lwt in rust\", got \"lwt in rust\"
client: sent \"bye\", got \"bye\"
server: shutting down
server: stopped after serving 1 connection(s)
";
    assert_output(&out, 0, expected, "");
}

#[test]
fn echo_server_and_clients_in_separate_processes() {
    let mut server = example("echo_server")
        .args(["server", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server_out = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    server_out.read_line(&mut first).unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim()
        .to_string();

    let out = run_with_input("echo_server", &["client", &addr], "one\ntwo words\n");
    assert_output(
        &out,
        0,
        "client: sent \"one\", got \"one\"\nclient: sent \"two words\", got \"two words\"\n",
        "",
    );
    let out = run_with_input("echo_server", &["client", &addr], "three\n");
    assert_output(&out, 0, "client: sent \"three\", got \"three\"\n", "");

    drop(server.stdin.take()); // the server's input ends: it shuts down
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut server_out, &mut rest).unwrap();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest, "stopped after serving 2 connection(s)\n");
}

#[test]
fn the_echo_server_stops_gracefully_on_sigterm() {
    let mut server = example("echo_server")
        .args(["server", "127.0.0.1:0"])
        .stdin(Stdio::piped()) // kept open: only the signal stops it
        .spawn()
        .unwrap();
    let mut server_out = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    server_out.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening on "), "{first:?}");
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut server_out, &mut rest).unwrap();
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        rest,
        "SIGTERM: stopping\nstopped after serving 0 connection(s)\n"
    );
}

#[test]
fn a_client_without_a_server_fails_cleanly() {
    // Find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = run_with_input("echo_server", &["client", &addr], "anyone?\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!("client: {addr}: Connection refused")),
        "{:?}",
        text(&out.stderr)
    );
}

#[test]
fn pause_loop_runs_and_rejects_bad_arguments_with_its_usage() {
    let out = run_with_input("pause_loop", &["3", "0.001"], "");
    assert_output(&out, 0, "3 pauses, then slept 0.001 s\n", "");
    // Found in review: a non-numeric N silently became 1,000,000, and a negative S panicked.
    for (args, complaint) in [
        (&["abc", "-1"][..], "N must be a whole number, not \"abc\""),
        (
            &["5", "-1"][..],
            "S must be a finite number of seconds, 0 or more, not \"-1\"",
        ),
        (
            &["5", "nan"][..],
            "S must be a finite number of seconds, 0 or more, not \"nan\"",
        ),
        (&["1", "2", "3"][..], "too many arguments"),
    ] {
        let out = run_with_input("pause_loop", args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&format!(
                "pause_loop: {complaint}\nusage: pause_loop [N [S]]\n"
            )),
            "{stderr}"
        );
    }
}

/// A client of the `chat` example, over a blocking socket whose reads time out, so that a line
/// that never comes fails the test instead of hanging it.
struct ChatClient {
    reader: BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl ChatClient {
    fn connect(addr: &str) -> ChatClient {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ChatClient {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, line: &str) {
        // One write per line: `writeln!` makes two, and Nagle's algorithm holds the second
        // back until the first is acknowledged (up to 40 ms per line with delayed ACKs).
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// The next line the server sent, without its newline.
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("no line from the server: {e}"));
        assert!(n > 0, "the server closed the connection");
        line.trim_end_matches('\n').to_string()
    }

    fn expect(&mut self, lines: &[&str]) {
        for want in lines {
            assert_eq!(self.line(), *want);
        }
    }
}

/// Starts `chat` on a port the system picks; returns it, its address and its stdout after
/// the first line, read by a thread (a channel of lines, so that reads can time out).
fn start_chat() -> (KillOnDrop, String, std::sync::mpsc::Receiver<String>) {
    let mut server = example("chat").stdin(Stdio::null()).spawn().unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim()
        .to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            // Read on when the test stops listening, so that the server can always print.
            let _ = tx.send(line.unwrap());
        }
    });
    (KillOnDrop(server), addr, rx)
}

/// The chat server, killed when the test ends, also when it fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server_says(log: &std::sync::mpsc::Receiver<String>, want: &str) {
    let line = log
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("the server did not say {want:?}: {e}"));
    assert_eq!(line, want);
}

#[test]
fn chat_broadcasts_lines_nicks_joins_and_leaves() {
    let (server, addr, log) = start_chat();
    // Each client reads its welcome before the next connects, so that the server has
    // registered it and the order of the announcements is known.
    let mut a = ChatClient::connect(&addr);
    a.expect(&["* welcome, you are client 1 (1 connected)"]);
    let mut b = ChatClient::connect(&addr);
    b.expect(&["* welcome, you are client 2 (2 connected)"]);
    a.expect(&["* client 2 joined"]);
    let mut c = ChatClient::connect(&addr);
    c.expect(&["* welcome, you are client 3 (3 connected)"]);
    a.expect(&["* client 3 joined"]);
    b.expect(&["* client 3 joined"]);

    a.send("/nick alice");
    a.send("hello everyone");
    a.expect(&["* you are now alice"]);
    for other in [&mut b, &mut c] {
        other.expect(&["* client 1 is now alice", "alice: hello everyone"]);
    }
    b.send("/nick");
    b.expect(&["* usage: /nick NAME"]);
    b.send("hi alice");
    // alice's next line is bob's: her own line did not come back to her.
    a.expect(&["client 2: hi alice"]);
    c.expect(&["client 2: hi alice"]);

    c.send("/nickname is talk, not a command");
    a.expect(&["client 3: /nickname is talk, not a command"]);
    b.expect(&["client 3: /nickname is talk, not a command"]);

    drop(c); // closes the connection
    a.expect(&["* client 3 left (2 connected)"]);
    b.expect(&["* client 3 left (2 connected)"]);
    b.send("still here");
    a.expect(&["client 2: still here"]);
    drop(a);
    b.expect(&["* alice left (1 connected)"]);
    drop(b);

    for line in [
        "client 1 joined (1 connected)",
        "client 2 joined (2 connected)",
        "client 3 joined (3 connected)",
        "client 3 left (2 connected)",
        "alice left (1 connected)",
        "client 2 left (0 connected)",
    ] {
        server_says(&log, line);
    }
    drop(server);
}

/// A client that never reads is disconnected once its queue is full; the others keep getting
/// every line meanwhile.
#[test]
fn chat_disconnects_a_client_that_does_not_read() {
    let (server, addr, log) = start_chat();
    let mut talker = ChatClient::connect(&addr);
    talker.expect(&["* welcome, you are client 1 (1 connected)"]);
    let mut listener = ChatClient::connect(&addr);
    listener.expect(&["* welcome, you are client 2 (2 connected)"]);
    talker.expect(&["* client 2 joined"]);
    let mut sleeper = ChatClient::connect(&addr);
    sleeper.expect(&["* welcome, you are client 3 (3 connected)"]);
    talker.expect(&["* client 3 joined"]);
    listener.expect(&["* client 3 joined"]);
    drop(log); // its thread keeps reading the server's output, so that it never blocks

    // Far more than the kernel's socket buffers and the server's queue hold for the sleeper.
    // The listener reads it all on a thread of its own, and the talker keeps at most `AHEAD`
    // lines ahead of it, as people talk: a listener slower than the talk for longer than its
    // queue lasts is dropped too, by design, and a debug build reads slower than it writes.
    const LINES: usize = 20_000;
    const AHEAD: usize = 100;
    let line = |i: usize| format!("{i} {}", "x".repeat(500));
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = read.clone();
    let reading = std::thread::spawn(move || {
        let mut dropped = None;
        for i in 0..LINES {
            let mut got = listener.line();
            if got.starts_with("* ") {
                dropped = Some(got);
                got = listener.line();
            }
            assert_eq!(got, format!("client 1: {}", line(i)));
            progress.store(i + 1, std::sync::atomic::Ordering::Relaxed);
        }
        dropped.unwrap_or_else(|| listener.line())
    });
    for i in 0..LINES {
        let deadline = Instant::now() + Duration::from_secs(10);
        while i >= read.load(std::sync::atomic::Ordering::Relaxed) + AHEAD {
            assert!(
                Instant::now() < deadline,
                "the listener is stuck at line {i}"
            );
            assert!(!reading.is_finished(), "the listener failed");
            std::thread::sleep(Duration::from_micros(100));
        }
        talker.send(&line(i));
    }
    let left = reading.join().unwrap();
    assert_eq!(left, "* client 3 left (2 connected)");
    talker.expect(&["* client 3 left (2 connected)"]);
    drop(sleeper);
    drop(server);
}

/// rev86: with two clients pasting at once, a client that read as fast as it could was
/// disconnected (its writer sent one line per channel operation, at most 128 a turn, while
/// both senders queued theirs). Each writer now sends all that is queued in one write.
#[test]
fn chat_keeps_a_fast_reader_when_several_clients_flood_at_once() {
    use std::io::Read;
    let (server, addr, log) = start_chat();
    drop(log);
    let mut listener = ChatClient::connect(&addr);
    listener.expect(&["* welcome, you are client 1 (1 connected)"]);
    let mut talkers = Vec::new();
    for n in [2, 3] {
        let mut talker = ChatClient::connect(&addr);
        talker.expect(&[&format!("* welcome, you are client {n} ({n} connected)")]);
        listener.expect(&[&format!("* client {n} joined")]);
        talkers.push(talker);
    }
    // Each talker reads what it gets on a thread of its own: one that does not read is
    // dropped, by design.
    let drains: Vec<_> = talkers
        .iter()
        .map(|t| {
            let mut socket = t.writer.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = socket.read_to_end(&mut Vec::new());
            })
        })
        .collect();
    const LINES: usize = 2_000;
    let sends: Vec<_> = talkers
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let mut socket = t.writer.try_clone().unwrap();
            let text: String = (0..LINES).map(|i| format!("{k} {i}\n")).collect();
            std::thread::spawn(move || socket.write_all(text.as_bytes()).unwrap())
        })
        .collect();
    let mut next = [0; 2];
    for _ in 0..2 * LINES {
        let line = listener.line();
        let (who, said) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("not talk: {line:?}"));
        let k = match who {
            "client 2" => 0,
            "client 3" => 1,
            _ => panic!("from {who:?}"),
        };
        assert_eq!(said, format!("{k} {}", next[k]), "in order, from each");
        next[k] += 1;
    }
    assert_eq!(next, [LINES, LINES]);
    for send in sends {
        send.join().unwrap();
    }
    drop(server);
    for drain in drains {
        drain.join().unwrap();
    }
}

/// rev86: a line that was not UTF-8 ended its sender's connection without a word, and control
/// characters (an escape that clears the screen) went as they were to the other clients.
#[test]
fn chat_shows_bad_bytes_and_control_characters_as_replacements() {
    let (server, addr, log) = start_chat();
    drop(log);
    let mut a = ChatClient::connect(&addr);
    a.expect(&["* welcome, you are client 1 (1 connected)"]);
    let mut b = ChatClient::connect(&addr);
    b.expect(&["* welcome, you are client 2 (2 connected)"]);
    a.expect(&["* client 2 joined"]);
    a.writer.write_all(b"caf\xe9 \x1b[2J\tok\r\n").unwrap();
    b.expect(&["client 1: caf\u{fffd} \u{fffd}[2J\tok"]);
    a.writer.write_all(b"/nick \x07bell\n").unwrap();
    b.expect(&["* client 1 is now \u{fffd}bell"]);
    a.send("still connected");
    b.expect(&["\u{fffd}bell: still connected"]);
    drop(server);
}

/// The key-value server ported from OCaml (rev136, session 47): its clients check every reply
/// (the program exits 1 on a wrong one), the silent client is timed out, and the switch stops
/// the server with both keys still in the store. Which client's request is served first may
/// vary with the kernel's order of the three connections, so the whole output is not compared.
#[test]
fn kv_server_answers_its_clients_and_shuts_down() {
    let out = example("kv_server").stdin(Stdio::null()).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for line in [
        "alice: GET a -> VALUE 1\n",
        "bob: GET c -> VALUE 3\n",
        "alice: FROB -> ERR unknown command: FROB\n",
        "idler: got ERR timeout\n",
        "log: server stopped\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    assert!(
        stdout.ends_with("done: 0 failure(s), 2 keys left\n"),
        "{stdout}"
    );
}

/// The pub/sub example: subscribers get the messages of their topics, the publisher the count of
/// queues reached and the idle timeout, and a queue nobody reads misses what overflows it. Bob
/// gets `MSG sports goal` only after the publisher's idle timeout: a subscriber as silent meanwhile
/// is not timed out (rev143: it was, and got `ERR idle` instead).
#[test]
fn pubsub_checks_what_each_client_received() {
    let out = example("pubsub").stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "alice: [\"MSG news hello world\", \"BYE\"]\n\
         bob: [\"MSG news hello world\", \"MSG sports goal\", \"BYE\"]\n\
         carol: [\"SENT 2\", \"ERR idle\", \"SENT 1\", \"SENT 0\", \"BYE\"]\n\
         flood: 8 of 10 queued\n\
         all clients got what they expected\n"
    );
}
