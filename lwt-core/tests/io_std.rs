//! The standard channels, in child processes: this test binary runs itself again with
//! `LWT_IO_CHILD` set to a scenario, with its standard streams redirected, and checks what the
//! child printed. The child ends with `process::exit` right after `main::run` returns, so
//! anything not written by then would be missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};

use lwt_core::{io, join, main, unix, Promise};

const CHILD: &str = "LWT_IO_CHILD";

/// The child's side: runs the scenario named in `LWT_IO_CHILD`, if any, then exits.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(CHILD) else {
        return; // an ordinary test run
    };
    let code = match scenario.as_str() {
        "printl" => {
            main::run(io::printl("MARK printed before run returned")).unwrap();
            0
        }
        "burst" => {
            let prints = vec![
                io::printl("MARK one"),
                io::print("MARK two"),
                io::printf(format_args!(" and {}\n", "three")),
                io::eprintl("MARK to stderr"),
                io::eprintf(format_args!("MARK {}\n", 42)),
                io::eprint("MARK e\n"),
                lwt_core::printf!("MARK {} ", "four"),
                lwt_core::printlf!("and {}", 5),
                lwt_core::eprintf!("MARK {}", 6),
                lwt_core::eprintlf!(" and {}", "seven"),
            ];
            main::run(join(prints)).unwrap();
            0
        }
        "echo" => match main::run(io::read_line(&io::stdin()).bind(io::printl)) {
            Ok(()) => 0,
            Err(e) if e.is::<io::EndOfFile>() => {
                main::run(io::eprintl("MARK end of input")).unwrap();
                1
            }
            Err(e) => panic!("{e:?}"),
        },
        "read_into" => {
            // A blocking-mode Fd: the read runs on the thread pool, with the buffer moved there
            // and back.
            let fd = unix::stdin().unwrap();
            let (buf, n) = main::run(fd.read_into(b"MARK ..........".to_vec(), 5..15)).unwrap();
            assert!(main::run(fd.read_into(buf.clone(), 0..99)).is_err());
            let line = String::from_utf8(buf).unwrap();
            main::run(io::printf(format_args!("{line} ({n} bytes)\n"))).unwrap();
            0
        }
        "hook_exits" => {
            // A detached failure with the default hook: the write made before it still comes
            // out, as with Lwt's `exit 2`.
            let failed = std::io::Error::other("disk on fire");
            let exn = lwt_core::Exn::from(failed).with_location(std::panic::Location::caller());
            let failing = io::stdout()
                .write("MARK written before the failure\n")
                .bind(move |()| {
                    lwt_core::async_(move || Promise::fail(exn));
                    unix::sleep(std::time::Duration::from_secs(5))
                });
            main::run(failing).unwrap();
            main::run(io::printl("MARK not reached")).unwrap();
            0
        }
        "read_error" => {
            // Standard input is a directory: the reads fail with the system's error, whole.
            let e = main::run(unix::stdin().unwrap().read(8)).unwrap_err();
            let kind = e.downcast_ref::<std::io::Error>().map(|e| e.kind());
            let ic = io::stdin();
            let e2 = main::run(ic.read_line()).unwrap_err();
            let kind2 = e2.downcast_ref::<std::io::Error>().map(|e| e.kind());
            main::run(io::printf(format_args!("MARK {kind:?} {kind2:?}\n"))).unwrap();
            0
        }
        "count" => {
            let n = main::run(count_lines(io::stdin(), 0)).unwrap();
            main::run(io::printf(format_args!("MARK {n} lines\n"))).unwrap();
            0
        }
        "epipe" => {
            // The parent reads MARK ready, closes our stdout, and then sends a line.
            main::run(io::printl("MARK ready")).unwrap();
            main::run(io::read_line(&io::stdin())).unwrap();
            // Another test's child, forked while the parent still had our pipe open, may hold
            // its read end for a moment (until it execs): writes then still succeed. Once no
            // process holds it, a write fails.
            let start = std::time::Instant::now();
            let e = loop {
                match main::run(io::printl("into a closed pipe")) {
                    Err(e) => break e,
                    Ok(()) => {
                        assert!(start.elapsed().as_secs() < 20, "the pipe never closed");
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
            };
            let kind = e.downcast_ref::<std::io::Error>().map(|e| e.kind());
            main::run(io::eprintf(format_args!("MARK {kind:?}\n"))).unwrap();
            3
        }
        "exit_flushes" => {
            // A plain write (not print): flushed by the exit hooks.
            main::run(io::stdout().write_line("MARK flushed at exit")).unwrap();
            main::exit(0)
        }
        "exit_inside_run" => {
            // An exit hook that needs the loop (a sleep, then a print), and an exit decided by a
            // callback while the loop runs.
            main::at_exit(|| {
                unix::sleep_secs(0.001).bind(|()| io::printl("MARK the hook ran in the loop"))
            });
            main::run(io::stdout().write_line("MARK buffered before exit")).unwrap();
            let _ = main::run(main::pause().map(|()| main::exit(4)));
            0
        }
        "close_stdin" => {
            // The parent keeps our stdin open and never writes to it.
            let ic = io::stdin();
            let pending = ic.read_line();
            main::run(unix::sleep_secs(0.05)).unwrap(); // the read is on the thread pool now
            main::run(ic.close()).unwrap();
            let outcome = main::run(unix::with_timeout(
                std::time::Duration::from_secs(5),
                move || pending,
            ));
            let closed = matches!(&outcome, Err(e) if e.is::<io::ChannelClosed>());
            main::run(io::printf(format_args!("MARK closed={closed}\n"))).unwrap();
            0
        }
        "timed_out_reads" => {
            // Nine reads of the (blocking) standard input given up by a timeout before any
            // input: more than the thread pool's default bound of 8. Plain `println!`, so that
            // the report does not itself need the pool.
            let fd = unix::stdin().unwrap();
            let ms = std::time::Duration::from_millis;
            // A read of nothing does not wait for input (as on a pollable descriptor).
            let f = fd.clone();
            let empty = main::run(unix::with_timeout(ms(2000), move || f.read(0)));
            assert_eq!(empty.unwrap(), b"");
            for _ in 0..9 {
                let f = fd.clone();
                let r = main::run(unix::with_timeout(ms(20), move || f.read(64)));
                assert!(matches!(&r, Err(e) if e.is::<unix::Timeout>()), "{r:?}");
            }
            let detached = lwt_core::preemptive::detach(|| 7);
            let pool = main::run(unix::with_timeout(ms(5000), move || detached));
            println!("MARK ready pool={:?}", pool.map_err(|e| e.to_string()));
            // The parent now sends a line: the next read gets it.
            let r = main::run(unix::with_timeout(ms(5000), move || fd.read(64)));
            let r = r.map(|b| String::from_utf8_lossy(&b).into_owned());
            println!("MARK second read {:?}", r.map_err(|e| e.to_string()));
            0
        }
        "sleep_then_print" => {
            let p = unix::sleep_secs(0.05).bind(|()| io::printl("MARK after sleep"));
            main::run(p).unwrap();
            0
        }
        "stdout_stalled" => {
            // The parent does not read our stdout for a while: 1 MiB does not fit in the pipe.
            let start = std::time::Instant::now();
            let timer = unix::sleep_secs(0.1).map(move |()| {
                eprintln!("MARK timer fired after {} ms", start.elapsed().as_millis());
            });
            let out = io::stdout();
            let flushed = out.clone();
            let _written = out
                .write(vec![b'x'; 1 << 20])
                .bind(move |()| flushed.flush());
            main::run(timer).unwrap();
            0
        }
        "fd_stdout_stalled" => {
            // The same through the `Fd` itself, with `write_all` and then `write`.
            let start = std::time::Instant::now();
            let timer = unix::sleep_secs(0.1).map(move |()| {
                eprintln!("MARK timer fired after {} ms", start.elapsed().as_millis());
            });
            let out = unix::stdout().unwrap();
            let again = out.clone();
            let written = out
                .write_all(vec![b'x'; 1 << 20])
                .bind(move |()| again.write(b"MARK end\n".to_vec()));
            main::run(timer).unwrap();
            assert_eq!(main::run(written).unwrap(), 9);
            0
        }
        "fd_stdout_back_to_back" => {
            // Writes issued without waiting for one another, each a job of the thread pool.
            let out = unix::stdout().unwrap();
            let writes: Vec<_> = (0..500)
                .map(|i| {
                    let line = format!("MARK {i:03} {}\n", "-".repeat(i % 7 * 300));
                    out.write_all(line.into_bytes())
                })
                .collect();
            main::run(join(writes)).unwrap();
            0
        }
        "end_stdout" => {
            let out = io::stdout();
            let closing = out.clone();
            main::run(
                out.write_line("MARK result")
                    .bind(move |()| closing.close()),
            )
            .unwrap();
            // Descriptor 1 is /dev/null now: this goes nowhere, and does not fail.
            println!("MARK println after the close");
            // The parent closes our stdin once it has seen the end of our stdout.
            let r = main::run(io::stdin().read_line_opt());
            eprintln!("MARK stdin {:?}", r.map_err(|e| e.to_string()));
            0
        }
        "end_stdin" => {
            main::run(io::stdin().close()).unwrap();
            println!("MARK stdin closed");
            // The parent writes to our stdin now, then kills us.
            std::thread::sleep(std::time::Duration::from_secs(20));
            0
        }
        other => panic!("unknown scenario {other}"),
    };
    std::process::exit(code);
}

fn count_lines(ic: io::InputChannel, n: usize) -> Promise<usize> {
    let reader = ic.clone();
    reader.read_line_opt().bind(move |line| match line {
        Some(_) => count_lines(ic, n + 1),
        None => Promise::ret(n),
    })
}

fn child_command(scenario: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The lines of `bytes` that the scenario printed (the test harness prints its own, and
/// `test child ... ` before the scenario's first line).
fn marked(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| l.find("MARK").map(|i| l[i..].to_string()))
        .collect()
}

fn run_child(scenario: &str, stdin: Stdio) -> Output {
    child_command(scenario)
        .stdin(stdin)
        .output()
        .expect("run the child")
}

fn with_input(scenario: &str, input: &str) -> Output {
    let mut child = child_command(scenario)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Found in review (session 31): the default hook ended the process with `process::exit(2)`,
/// which runs no exit hook, so what the program had written to `io::stdout()` was lost (Lwt's
/// `exit 2` flushes it); and it printed the error's `Debug`, not its message.
#[test]
fn the_default_hook_flushes_the_output_and_prints_the_message() {
    let out = run_child("hook_exits", Stdio::null());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(marked(&out.stdout), ["MARK written before the failure"]);
    assert!(
        stderr.contains("lwt: unhandled error in a detached callback: disk on fire\n")
            && stderr.contains("    passed through lwt-core/tests/io_std.rs:"),
        "stderr: {stderr}"
    );
}

/// Found in review (session 31): a failed read of a blocking-mode descriptor (the standard
/// input) was a `Failure` holding the error's text, so `is::<io::Error>()` was false and the
/// kind lost, against the `io` docs (Lwt: `Unix_error (EISDIR, "read", "")`).
#[test]
fn a_failed_stdin_read_is_the_systems_io_error() {
    let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
    let out = run_child("read_error", Stdio::from(dir));
    assert_eq!(
        marked(&out.stdout),
        ["MARK Some(IsADirectory) Some(IsADirectory)"],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn printl_has_printed_when_run_returns() {
    let out = run_child("printl", Stdio::null());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK printed before run returned"]);
}

#[test]
fn print_printf_eprint_and_the_macros_in_one_burst_keep_their_order() {
    let out = run_child("burst", Stdio::null());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        marked(&out.stdout),
        ["MARK one", "MARK two and three", "MARK four and 5"]
    );
    assert_eq!(
        marked(&out.stderr),
        ["MARK to stderr", "MARK 42", "MARK e", "MARK 6 and seven"]
    );
}

#[test]
fn stdin_from_a_pipe() {
    let out = with_input("echo", "MARK from a pipe\r\nsecond line\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK from a pipe"]);
}

#[test]
fn stdin_from_a_file() {
    let path = std::env::temp_dir().join(format!("lwt-io-std-{}", std::process::id()));
    std::fs::write(&path, "MARK from a file\n").unwrap();
    let out = run_child("echo", Stdio::from(std::fs::File::open(&path).unwrap()));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK from a file"]);

    let lines: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&path, lines).unwrap();
    let out = run_child("count", Stdio::from(std::fs::File::open(&path).unwrap()));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK 10000 lines"]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn read_into_on_blocking_stdin_fills_the_range() {
    let out = with_input("read_into", "from stdin");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK from stdin (10 bytes)"]);
}

#[test]
fn stdin_from_dev_null_is_end_of_file() {
    let out = run_child("echo", Stdio::null());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(marked(&out.stderr), ["MARK end of input"]);
}

#[test]
fn printing_to_a_closed_stdout_is_broken_pipe_not_sigpipe() {
    let mut child = child_command("epipe")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("MARK ready") {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "no MARK ready");
    }
    drop(stdout); // nobody reads the child's output any more
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "killed? {status:?} {stderr}");
    assert_eq!(marked(stderr.as_bytes()), ["MARK Some(BrokenPipe)"]);
}

#[test]
fn main_exit_flushes_the_standard_channels() {
    let out = run_child("exit_flushes", Stdio::null());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK flushed at exit"]);
}

#[test]
fn printing_after_a_sleep() {
    let out = run_child("sleep_then_print", Stdio::null());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK after sleep"]);
}

#[test]
fn main_exit_from_a_callback_runs_the_exit_hooks_in_the_loop() {
    // Found in review: the exit hooks were run with `main::run`, which refuses a nested call, so
    // an exit from a callback skipped them (and exited with status 2). Lwt runs them.
    let out = run_child("exit_inside_run", Stdio::null());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(
        marked(&out.stdout),
        ["MARK buffered before exit", "MARK the hook ran in the loop"]
    );
}

#[test]
fn closing_stdin_ends_the_read_waiting_on_it() {
    // Found in review: the read of a blocking descriptor runs on the thread pool, where closing
    // the channel did not reach it, so the read waited for input that never came. Lwt rejects it
    // with Channel_closed.
    let mut child = child_command("close_stdin")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let _kept_open = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(marked(&out.stdout), ["MARK closed=true"]);
}

/// Found by a dogfood (rev51, session 35): the standard channels hold a duplicate of their
/// descriptor, and closing `io::stdout()` closed only that, so the process reading the pipe saw
/// the end of input only when the whole process exited (after 3.0 s in the dogfood; 0.003 s
/// with Lwt, whose close closes descriptor 1).
#[test]
fn closing_stdout_ends_it_for_the_reader() {
    use std::sync::mpsc;
    use std::time::Duration;
    let mut child = child_command("end_stdout")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    // The child waits for its stdin to end: only the end of its stdout lets this go on.
    let seen = rx.recv_timeout(Duration::from_secs(10));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = seen.expect("the end of the child's stdout while it still runs");
    assert_eq!(marked(&stdout), ["MARK result"], "{stderr}");
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("MARK stdin Ok(None)"), "{stderr}");
}

/// The same for the standard input: once the child closed `io::stdin()`, a write to its stdin
/// fails (`EPIPE`), as with Lwt, where it used to fill the pipe unread.
#[test]
fn closing_stdin_ends_it_for_the_writer() {
    let mut child = child_command("end_stdin")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The harness prints lines of its own first.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("MARK") && stdout.read_line(&mut line).unwrap() > 0 {}
    let written = stdin.write_all(b"nobody reads this\n");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("MARK stdin closed"), "{line:?}");
    let e = written.expect_err("a write to a closed standard input");
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn a_stalled_stdout_does_not_stop_the_loop() {
    // Found in review (session 23): the standard output was written on the loop's own thread,
    // in blocking mode, so a reader that did not keep up froze the loop (its 100 ms timer fired
    // only once the parent read). Lwt writes to a blocking descriptor from its thread pool: its
    // timer fires after about 0.1 s.
    stalled_stdout_leaves_the_loop_running("stdout_stalled");
}

#[test]
fn a_stalled_stdout_written_through_its_fd_does_not_stop_the_loop() {
    // Found in review (rev66, session 36): the channels' writes had gone to the thread pool,
    // but `unix::stdout()`'s own `write` and `write_all` still blocked the loop (a 100 ms timer
    // fired after 1.0 s, when the reader began; Lwt's after 0.1 s).
    let sink = stalled_stdout_leaves_the_loop_running("fd_stdout_stalled");
    assert!(
        sink.ends_with(b"xMARK end\n"),
        "the writes came out whole and in order"
    );
    assert_eq!(sink.iter().filter(|&&b| b == b'x').count(), 1 << 20);
}

#[test]
fn writes_to_stdout_issued_back_to_back_come_out_in_order() {
    // Found in review (session 36) of the fix above: each write of the blocking stdout is a job
    // of the thread pool, and two jobs may run on two of its threads at once; writes issued
    // without waiting could overtake one another. They wait for the one before.
    let out = run_child("fd_stdout_back_to_back", Stdio::null());
    assert!(out.status.success(), "{out:?}");
    let numbers: Vec<usize> = marked(&out.stdout)
        .iter()
        .map(|l| l[5..8].parse().unwrap())
        .collect();
    let first_out_of_place = numbers.iter().enumerate().find(|&(at, &n)| n != at);
    assert_eq!(first_out_of_place, None, "{} lines", numbers.len());
    assert_eq!(numbers.len(), 500);
}

/// Runs `scenario`, which fills its stdout while a 100 ms timer runs, without reading the
/// child's stdout until the timer's line came on its stderr (or 10 s passed); returns what the
/// child wrote on stdout.
fn stalled_stdout_leaves_the_loop_running(scenario: &str) -> Vec<u8> {
    let mut child = child_command(scenario).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("MARK") {
                let _ = tx.send(line);
            }
        }
    });
    // Nobody reads the child's stdout for up to 10 s, or until its timer fired.
    let fired = rx.recv_timeout(std::time::Duration::from_secs(10));
    let mut sink = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut sink).unwrap();
    let status = child.wait().unwrap();
    let line = fired.expect("the child's 100 ms timer did not fire while its stdout was full");
    assert!(line.contains("MARK timer fired"), "{line}");
    assert!(status.success(), "{status:?}");
    sink
}

#[test]
fn a_stdin_read_given_up_before_input_takes_neither_the_input_nor_a_thread() {
    // Found in review (session 30): a read of the blocking standard input went to the thread
    // pool at once, where nothing could stop it. Given up by a timeout, it kept its pool thread
    // until input came, then read that input for nobody: nine such reads left `detach` stuck
    // behind them, and the line sent next was lost. Lwt waits for input first (a wait that can
    // be canceled), and reads on a thread only then: its second read gets "hello\n".
    let mut child = child_command("timed_out_reads")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        seen.extend(marked(line.as_bytes()));
        if line.contains("MARK ready") {
            break;
        }
        line.clear();
    }
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    seen.extend(marked(&rest));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        seen,
        ["MARK ready pool=Ok(7)", "MARK second read Ok(\"hello\\n\")"]
    );
}
