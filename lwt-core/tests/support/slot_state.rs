//! The state of a promise slot, as the differential tests over a pool of `i64` promises
//! (`ocaml_diff_sync.rs`, `ocaml_diff_pool.rs`, `ocaml_diff_seq.rs`, `ocaml_diff_stream.rs`)
//! report it on both sides, in their OCaml interpreters' format: `X` (no promise), `P`
//! (pending), `F <value>`, `R <rejection>`. Each test names its rejections itself (`C` for
//! `Canceled`, a failure's number, its own exceptions'), so a rejection is kept as that text.

/// A slot's state after an operation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum St {
    /// No promise in the slot.
    Absent,
    Pending,
    Ful(i64),
    /// The test's name for the rejection: "C" (Canceled), a failure's number, or "?<text>".
    Rej(String),
}

/// The state in the interpreters' format.
pub(crate) fn st_text(s: &St) -> String {
    match s {
        St::Absent => "X".into(),
        St::Pending => "P".into(),
        St::Ful(v) => format!("F {v}"),
        St::Rej(e) => format!("R {e}"),
    }
}

/// A state the interpreter printed, as its kind letter and its argument.
pub(crate) fn parse_st(kind: &str, arg: Option<&str>) -> St {
    match kind {
        "X" => St::Absent,
        "P" => St::Pending,
        "F" => St::Ful(arg.unwrap().parse().unwrap()),
        _ => St::Rej(arg.unwrap().to_string()),
    }
}
