//! What the tests against real OCaml Lwt share (`ocaml_diff.rs`, `ocaml_diff_io.rs`,
//! `ocaml_diff_io_out.rs`, `io_numbers.rs`, `ocaml_diff_sync.rs`, `ocaml_diff_loop.rs`,
//! `ocaml_diff_list.rs`, `ocaml_diff_pool.rs`, `ocaml_diff_seq.rs`, `ocaml_diff_stream.rs`):
//! compiling an interpreter of `tests/ocaml/<name>.ml` once per test process, running a batch of
//! programs through it, and shrinking a differing program.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Compiles `tests/ocaml/<name>.ml` with `ocamlfind ocamlopt -package <package>` (`lwt`, or
/// `lwt.unix` for an interpreter that runs Lwt's loop) into the target's temp dir, once per
/// process; `None` if `ocamlfind` or the package is missing.
pub(crate) fn interpreter(name: &'static str, package: &'static str) -> Option<PathBuf> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static BUILT: Mutex<Option<HashMap<&'static str, Option<PathBuf>>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    built
        .get_or_insert_with(HashMap::new)
        .entry(name)
        .or_insert_with(|| compile(name, package))
        .clone()
}

fn compile(name: &str, package: &str) -> Option<PathBuf> {
    let have_lwt = Command::new("ocamlfind")
        .args(["query", package])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_lwt {
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/ocaml/{name}.ml"));
    std::fs::copy(&src, dir.join(format!("{name}.ml"))).unwrap();
    let exe = dir.join(name);
    // `lwt.unix` needs the threads library on OCaml 4.
    let threads: &[&str] = if package == "lwt" { &[] } else { &["-thread"] };
    let out = Command::new("ocamlfind")
        .current_dir(&dir)
        .args(["ocamlopt", "-package", package])
        .args(threads)
        .arg("-linkpkg")
        .arg(format!("{name}.ml"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compiling {name}.ml failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

/// How an interpreter run failed: its exit status (a signal when Lwt itself crashed) and what it
/// wrote on standard error.
pub(crate) struct Failed {
    pub(crate) status: ExitStatus,
    pub(crate) stderr: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.stderr)
    }
}

/// Feeds `input` to the interpreter `exe`: its standard output, or how it failed.
pub(crate) fn run(exe: &Path, input: String) -> Result<String, Failed> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(Failed {
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Removes operations one at a time while `differs` still holds.
pub(crate) fn shrink<O: Clone>(mut ops: Vec<O>, differs: impl Fn(&[O]) -> bool) -> Vec<O> {
    let mut i = 0;
    while i < ops.len() {
        let mut fewer = ops.clone();
        fewer.remove(i);
        if differs(&fewer) {
            ops = fewer;
        } else {
            i += 1;
        }
    }
    ops
}

/// [`shrink`] with `check` the whole comparison: the smaller operations, and what `check` says
/// of them (the difference to report).
pub(crate) fn shrink_explained<O: Clone>(
    ops: Vec<O>,
    check: impl Fn(&[O]) -> Result<(), String>,
) -> (Vec<O>, String) {
    let ops = shrink(ops, |ops| check(ops).is_err());
    let why = check(&ops).err().unwrap_or_default();
    (ops, why)
}

/// The report of a case on which the two sides differ: the test's name, the case and its seed
/// (enough to run it again), the first line of the difference and the shrunk program. Printed at
/// once, so that a long run with `keep_going` shows it before it ends, and returned for the
/// run's final assertion.
pub(crate) fn differing_case(
    test: &str,
    case: impl std::fmt::Display,
    seed: impl std::fmt::Display,
    difference: &str,
    shrunk: &str,
    why: &str,
) -> String {
    let first = difference.lines().next().unwrap_or("");
    let msg = format!("{test}: case {case} (seed {seed}): {first}\nshrunk to:\n{shrunk}{why}");
    eprintln!("{msg}");
    msg
}
