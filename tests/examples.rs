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
