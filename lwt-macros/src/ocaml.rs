//! OCaml's operators, lists, applications and local opens in a statement that failed to parse.
//!
//! An OCaml programmer writes `x <> y`, `not ok`, `n mod 2`, `r := v`, `fun x -> e`, `p >|= f`,
//! `[1; 2; 3]`, `print_endline "hi"` or `Lwt_io.( .. )` out of habit. None of them is Rust, and
//! syn stops at them with "expected an expression" or "expected `=>`", at a token that is often
//! not the one to change. When a statement (or a `match` arm) fails to parse, its tokens are
//! searched for these habits, and the first one found replaces syn's message. (`[1; 2; 3]` does
//! not fail its statement: syn reads `[1; 2]` and reports the rest at the end, as "unexpected
//! token", when the whole block is searched.)
//!
//! Only a failed parse is searched, so a valid program never meets these messages. Each pattern
//! is also one that no valid Rust has (`not x`, two operands side by side; `M.(e)`, a `.` before
//! parentheses), so that the message does not blame a token that is fine while the mistake is
//! elsewhere: a unit test searches all of this project's Rust and must find nothing. The search
//! of a statement does not enter `{ .. }` (a nested `lwt!` block reports its own statements),
//! and no search enters a macro call's arguments (any tokens are valid there).

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use quote::quote;

/// The message for OCaml's `r := v`.
pub(crate) const REF_ASSIGNMENT: &str = "`:=` is OCaml's assignment of a ref: in Rust, keep the \
    value in a `Cell` and write `r.set(v)` (as a statement of `lwt!`, `do r.set(v);`)";

/// Whether `e` says only what token was expected ("expected `=>`", syn's, or "expected `;` after
/// this statement", the macro's own), which a habit found in the same statement replaces. The
/// macro's other messages already name the mistake they report.
pub(crate) fn is_generic_message(e: &syn::Error) -> bool {
    let message = e.to_string();
    message.starts_with("expected ") || message.starts_with("unexpected ")
}

/// The first OCaml habit among `tokens`, the statement or arm that failed to parse (up to its
/// `;` or `,`).
pub(crate) fn habit(tokens: &[TokenTree]) -> Option<syn::Error> {
    for i in 0..tokens.len() {
        let before = i.checked_sub(1).map(|j| &tokens[j]);
        let rest = &tokens[i..];
        if let Some(e) = infix(rest)
            .or_else(|| inequality(before, rest))
            .or_else(|| word_operator(&tokens[..i], rest))
            .or_else(|| ref_assignment(rest))
            .or_else(|| closure(before, rest))
            .or_else(|| local_open(&tokens[..=i], &tokens[i + 1..]))
            .or_else(|| list(before, rest))
            .or_else(|| application(&tokens[..i], rest))
            .or_else(|| lwt_async(&tokens[..i], rest))
        {
            return Some(e);
        }
        if let TokenTree::Group(g) = &tokens[i] {
            let is_macro_call = matches!(before, Some(TokenTree::Punct(p)) if p.as_char() == '!');
            if g.delimiter() != Delimiter::Brace && !is_macro_call {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                if let Some(e) = habit(&inner) {
                    return Some(e);
                }
            }
        }
    }
    None
}

/// The first OCaml habit anywhere in `tokens`, a whole `lwt!` input that parsed but left
/// tokens over inside a bracket: syn reads `[1; 2; 3]` as `[1; 2]` and reports the `; 3` only
/// at the end, as "unexpected token", when no statement failed.
pub(crate) fn habit_anywhere(tokens: TokenStream) -> Option<syn::Error> {
    let mut all = Vec::new();
    pieces(tokens, &mut all);
    all.iter().find_map(|piece| habit(piece))
}

/// Every statement, arm or argument of `tokens` (split at `;` and `,`, inside every group
/// but a macro's, whose tokens are not Rust's: `m!(..)`, `macro_rules! m { .. }`).
pub(crate) fn pieces(tokens: TokenStream, out: &mut Vec<Vec<TokenTree>>) {
    let mut piece: Vec<TokenTree> = Vec::new();
    for tt in tokens {
        if let TokenTree::Group(g) = &tt {
            let bang = |tt: Option<&TokenTree>| matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == '!');
            let n = piece.len();
            let macro_body = bang(piece.last())
                || (n >= 2
                    && matches!(piece.last(), Some(TokenTree::Ident(_)))
                    && bang(piece.get(n - 2)));
            if !macro_body {
                pieces(g.stream(), out);
            }
        }
        if matches!(&tt, TokenTree::Punct(p) if matches!(p.as_char(), ';' | ',')) {
            out.push(std::mem::take(&mut piece));
        } else {
            piece.push(tt);
        }
    }
    out.push(piece);
}

/// The tokens from `cursor` up to (not including) the first `stop` punctuation at its level.
pub(crate) fn until(cursor: syn::buffer::Cursor<'_>, stop: char) -> Vec<TokenTree> {
    let mut tokens = Vec::new();
    let mut rest = cursor;
    while let Some((tt, next)) = rest.token_tree() {
        if matches!(&tt, TokenTree::Punct(p) if p.as_char() == stop) {
            break;
        }
        tokens.push(tt);
        rest = next;
    }
    tokens
}

/// Lwt.Infix's `>|=`, `<&>` and `<?>`, which Rust reads as `>` followed by `|=` (or `<` and
/// `&`..): none is ever Rust.
fn infix(rest: &[TokenTree]) -> Option<syn::Error> {
    let [TokenTree::Punct(a), TokenTree::Punct(b), TokenTree::Punct(c), ..] = rest else {
        return None;
    };
    let joint = a.spacing() == Spacing::Joint && b.spacing() == Spacing::Joint;
    let message = match (a.as_char(), b.as_char(), c.as_char()) {
        ('>', '|', '=') => {
            "`>|=` is Lwt.Infix's map: inside `lwt!`, write `let v = p;` and use `v` after it \
             (outside `lwt!`, `p | f` is map and `p >> |v| ..` is bind)"
        }
        ('<', '&', '>') => {
            "`<&>` is Lwt.Infix's join: in Rust, `p & q` (of two `Promise<()>`), or \
             `lwt::join(vec![p, q])`"
        }
        ('<', '?', '>') => {
            "`<?>` is Lwt.Infix's choose: in Rust, `p ^ q`, or `lwt::choose(vec![p, q])`"
        }
        _ => return None,
    };
    if !joint {
        return None;
    }
    Some(syn::Error::new_spanned(quote!(#a #b #c), message))
}

/// `[a; b; c]`, OCaml's list: a `;` between elements. Rust's `[x; n]` has one.
fn list(before: Option<&TokenTree>, rest: &[TokenTree]) -> Option<syn::Error> {
    let Some(TokenTree::Group(g)) = rest.first() else {
        return None;
    };
    // `#[..]` and `m![..]` hold any tokens.
    let after_punct =
        matches!(before, Some(TokenTree::Punct(p)) if matches!(p.as_char(), '#' | '!'));
    if g.delimiter() != Delimiter::Bracket || after_punct {
        return None;
    }
    let semicolons = g
        .stream()
        .into_iter()
        .filter(|tt| matches!(tt, TokenTree::Punct(p) if p.as_char() == ';'))
        .count();
    if semicolons < 2 {
        return None;
    }
    Some(syn::Error::new_spanned(
        g,
        "`[a; b; c]` is OCaml's list: in Rust, `vec![a, b, c]` (or the array `[a, b, c]`); \
         `[x; n]` is `n` copies of `x`",
    ))
}

/// `f x`, OCaml's application: a function's name, then its argument, a literal.
/// Not a lifetime (`&'a str`), nor a keyword or a word that is one in its place (`union U`,
/// `auto trait`, `extern "C"`; `lwt!`'s `let a = p and b = q` and `exception e`), nor an OCaml
/// operator that is a word (`n mod 2`, reported as such).
///
/// After a module (`Lwt_unix.sleep 1.0`), the message names the function by its Rust path
/// (`lwt::unix::sleep(1.0)`). `earlier`: the tokens before the name.
fn application(earlier: &[TokenTree], rest: &[TokenTree]) -> Option<syn::Error> {
    let [TokenTree::Ident(f), arg, ..] = rest else {
        return None;
    };
    let before = earlier.last();
    let lifetime = matches!(before, Some(TokenTree::Punct(p)) if p.as_char() == '\'');
    let word = |w: &str| {
        is_keyword(w)
            || matches!(
                w,
                "union"
                    | "auto"
                    | "default"
                    | "raw"
                    | "safe"
                    | "macro_rules"
                    | "true"
                    | "false"
                    | "and"
                    | "exception"
                    | "not"
                    | "land"
                    | "lor"
                    | "lxor"
                    | "lsl"
                    | "lsr"
                    | "asr"
                    | "fun"
            )
    };
    // A literal only: `f x` with a name is as often a missing `,` or `;` (`g(a b)`).
    let is_arg = matches!(arg, TokenTree::Literal(_));
    let name = f.to_string();
    if lifetime || word(&name) || !is_arg {
        return None;
    }
    let (path, shown) = match module_before(earlier) {
        Some((module, start)) => (
            format!("{}::{name}", rust_path(&module)),
            earlier[start..].iter().cloned().collect(),
        ),
        None => (name, TokenStream::new()),
    };
    Some(syn::Error::new_spanned(
        quote!(#shown #f #arg),
        application_message(&path, &arg.to_string()),
    ))
}

/// `Lwt.async f`: `async` is a keyword in Rust, and no valid Rust has `.async`.
fn lwt_async(earlier: &[TokenTree], rest: &[TokenTree]) -> Option<syn::Error> {
    let [TokenTree::Ident(word), ..] = rest else {
        return None;
    };
    let (module, start) = module_before(earlier)?;
    if word != "async" || module != ["Lwt"] {
        return None;
    }
    let shown: TokenStream = earlier[start..].iter().cloned().collect();
    Some(syn::Error::new_spanned(
        quote!(#shown #word),
        "`Lwt.async f` is OCaml's: in Rust, `lwt::async_(f)` (`async` is a keyword)",
    ))
}

/// The module path `A.B.` that `earlier` ends with (each `.` alone, so not a `..` range), and
/// where it starts.
fn module_before(earlier: &[TokenTree]) -> Option<(Vec<String>, usize)> {
    let mut names = Vec::new();
    let mut end = earlier.len();
    while let [.., TokenTree::Ident(name), TokenTree::Punct(dot)] = &earlier[..end] {
        if dot.as_char() != '.' || dot.spacing() != Spacing::Alone {
            break;
        }
        names.push(name.to_string());
        end -= 2;
    }
    if names.is_empty() {
        return None;
    }
    names.reverse();
    Some((names, end))
}

/// The Rust path of OCaml's module `names`: `Lwt` is `lwt`, Lwt's `Lwt_*` modules their
/// counterparts in `lwt` (`Lwt_unix` is `lwt::unix`), anything else the same names.
fn rust_path(names: &[String]) -> String {
    match names {
        [lwt] if lwt == "Lwt" => "lwt".to_string(),
        [module] if module.starts_with("Lwt_") => match lwt_counterpart(module) {
            Some(rust) => format!("lwt::{rust}"),
            None => module.clone(),
        },
        _ => names.join("::"),
    }
}

/// The message for OCaml's `f x`.
pub(crate) fn application_message(f: &str, arg: &str) -> String {
    format!(
        "function application needs parentheses in Rust: `{f}({arg})`; if these are two \
         statements, end the first with `;`"
    )
}

/// `x <> y`, OCaml's structural inequality. A type's empty generic arguments (`Vec<>`,
/// `f::<>()`) are followed by `=`, `::`, `(`.. or preceded by `::`, never by an operand.
fn inequality(before: Option<&TokenTree>, rest: &[TokenTree]) -> Option<syn::Error> {
    let [TokenTree::Punct(lt), TokenTree::Punct(gt), operand, ..] = rest else {
        return None;
    };
    let is_pair = lt.as_char() == '<' && lt.spacing() == Spacing::Joint && gt.as_char() == '>';
    let after_path = matches!(before, Some(TokenTree::Punct(p)) if p.as_char() == ':');
    if !is_pair || after_path || !starts_operand(operand) {
        return None;
    }
    Some(syn::Error::new_spanned(
        quote!(#lt #gt),
        "`<>` is OCaml's structural inequality: in Rust, `!=` (`x != y`)",
    ))
}

/// OCaml's operators that are words: `not x`, `a mod b`, `a land b`.. A word between two
/// operands, or `not` before one, is two expressions side by side to Rust. `earlier`: the
/// tokens before the word.
fn word_operator(earlier: &[TokenTree], rest: &[TokenTree]) -> Option<syn::Error> {
    let [TokenTree::Ident(word), operand, ..] = rest else {
        return None;
    };
    let before = earlier.last();
    let name = word.to_string();
    let rust = match name.as_str() {
        "not" => {
            // `x.not()` and `ops::not` are Rust's; `not (c)` is a call, which rustc reports if
            // there is no function `not`.
            let after_path =
                matches!(before, Some(TokenTree::Punct(p)) if matches!(p.as_char(), '.' | ':'));
            if after_path || !matches!(operand, TokenTree::Ident(_) | TokenTree::Literal(_)) {
                return None;
            }
            if let TokenTree::Ident(i) = operand {
                if is_keyword(&i.to_string()) {
                    return None;
                }
            }
            return Some(syn::Error::new_spanned(
                word,
                "`not` is OCaml's: in Rust, a boolean is negated with `!` (`!ok`)",
            ));
        }
        "mod" => "%",
        "land" => "&",
        "lor" => "|",
        "lxor" => "^",
        "lsl" => "<<",
        "lsr" | "asr" => ">>",
        _ => return None,
    };
    // An item after `pub(crate)` or an attribute (`#[cfg(test)] mod tests`, `#![doc = ".."]
    // mod io`), which are not operands.
    let item = match earlier {
        [.., TokenTree::Ident(p), TokenTree::Group(_)] => p == "pub",
        [.., TokenTree::Punct(hash), TokenTree::Punct(bang), TokenTree::Group(g)]
            if hash.as_char() == '#' && bang.as_char() == '!' =>
        {
            g.delimiter() == Delimiter::Bracket
        }
        [.., TokenTree::Punct(hash), TokenTree::Group(g)] => {
            hash.as_char() == '#' && g.delimiter() == Delimiter::Bracket
        }
        _ => false,
    };
    let after_operand = before.is_some_and(ends_operand);
    if item || !after_operand || !starts_operand(operand) {
        return None;
    }
    Some(syn::Error::new_spanned(
        word,
        format!("`{name}` is OCaml's: in Rust, the operator is `{rust}` (`a {rust} b`)"),
    ))
}

/// `r := v`, OCaml's assignment to a `ref`: Rust has no `:=` at all.
fn ref_assignment(rest: &[TokenTree]) -> Option<syn::Error> {
    let [TokenTree::Punct(colon), TokenTree::Punct(eq), ..] = rest else {
        return None;
    };
    if colon.as_char() != ':' || colon.spacing() != Spacing::Joint || eq.as_char() != '=' {
        return None;
    }
    Some(syn::Error::new_spanned(quote!(#colon #eq), REF_ASSIGNMENT))
}

/// `fun x -> e`, OCaml's anonymous function: a word `fun`, its parameters (names, `_`,
/// parenthesized patterns), then `->` at once. Not a function named `fun` (`fn fun(x: u8) ->
/// u8`, `s.fun(x)`), whose name follows `fn`, `.` or `::`.
fn closure(before: Option<&TokenTree>, rest: &[TokenTree]) -> Option<syn::Error> {
    let named = match before {
        Some(TokenTree::Ident(i)) => i == "fn",
        Some(TokenTree::Punct(p)) => matches!(p.as_char(), '.' | ':'),
        _ => false,
    };
    let [TokenTree::Ident(fun), params @ ..] = rest else {
        return None;
    };
    if named || fun != "fun" {
        return None;
    }
    let is_param = |tt: &TokenTree| match tt {
        TokenTree::Ident(i) => !is_keyword(&i.to_string()),
        TokenTree::Group(g) => g.delimiter() == Delimiter::Parenthesis,
        _ => false,
    };
    let count = params.iter().take_while(|tt| is_param(tt)).count();
    let arrow = match &params[count..] {
        [TokenTree::Punct(a), TokenTree::Punct(b), ..] => {
            a.as_char() == '-' && a.spacing() == Spacing::Joint && b.as_char() == '>'
        }
        _ => false,
    };
    if count == 0 || !arrow {
        return None;
    }
    Some(syn::Error::new_spanned(
        fun,
        "`fun x -> e` is OCaml's: a Rust closure is `|x| e` (`move |x| e` to own what it uses)",
    ))
}

/// `M.(e)` or `M.N.(e)`, OCaml's local open: `last` ends with the `.`'s left-hand side, and
/// `after` starts with the `.`. No valid Rust has `.` before parentheses.
fn local_open(upto: &[TokenTree], after: &[TokenTree]) -> Option<syn::Error> {
    let [TokenTree::Punct(dot), TokenTree::Group(group), ..] = after else {
        return None;
    };
    if dot.as_char() != '.' || dot.spacing() != Spacing::Alone {
        return None;
    }
    if group.delimiter() != Delimiter::Parenthesis {
        return None;
    }
    // The module path, read backwards: `A . B` (each `.` alone, so not a `..` range).
    let mut names = Vec::new();
    let mut j = upto.len() - 1;
    while let TokenTree::Ident(name) = &upto[j] {
        names.push(name.clone());
        match (j.checked_sub(1).map(|k| &upto[k]), j.checked_sub(2)) {
            (Some(TokenTree::Punct(p)), Some(k))
                if p.as_char() == '.' && p.spacing() == Spacing::Alone =>
            {
                j = k;
            }
            _ => break,
        }
    }
    if names.is_empty() {
        return None;
    }
    names.reverse();
    let strings: Vec<String> = names.iter().map(ToString::to_string).collect();
    let first = &names[0];
    let form = format!("{}.( .. )", strings.join("."));
    let message = open_message(&form, &strings, true);
    Some(syn::Error::new_spanned(quote!(#first #dot #group), message))
}

/// What to write instead of opening the module `names` (`["Lwt_io"]`, `["Lwt", "Infix"]`..),
/// for the OCaml `form` (`let open Lwt_io in`, `Lwt_io.( .. )`). `local`: a local open, whose
/// items can also be named by their path.
pub(crate) fn open_message(form: &str, names: &[String], local: bool) -> String {
    let path_note = |path: &str| {
        if local {
            format!(", or name each item by its path (`{path}::item`)")
        } else {
            String::new()
        }
    };
    let scope = "(as a statement of the block, or before the `lwt!` call)";
    match names {
        [lwt, infix] if lwt == "Lwt" && (infix == "Infix" || infix == "Syntax") => format!(
            "`{form}` is OCaml's: `lwt` needs no import for its operators, which `Promise` \
             implements (`p >> f` is `>>=`, `p | f` is `>|=`), and `lwt!`'s `let x = p;` is \
             `let*`"
        ),
        [lwt] if lwt == "Lwt" => format!(
            "`{form}` is OCaml's: in Rust, `use lwt::*;` brings Lwt's functions into scope \
             {scope}{}",
            path_note("lwt")
        ),
        [module] if module.starts_with("Lwt_") => match lwt_counterpart(module) {
            Some(rust) => format!(
                "`{form}` is OCaml's: in Rust, `use lwt::{rust}::*;` brings the names of \
                 `lwt::{rust}`, `{module}`'s counterpart, into scope {scope}{}",
                path_note(&format!("lwt::{rust}"))
            ),
            None => format!(
                "`{form}` is OCaml's: `lwt` has no module of that name (its modules are listed in \
                 the crate's documentation); in Rust, `use path::*;` brings a module's names into \
                 scope"
            ),
        },
        _ => {
            let path = names.join("::");
            format!(
                "`{form}` is OCaml's: in Rust, `use {path}::*;` brings the module's names into \
                 scope {scope}{}",
                path_note(&path)
            )
        }
    }
}

/// The module of `lwt` that stands for Lwt's `Lwt_*` module `module`.
fn lwt_counterpart(module: &str) -> Option<&'static str> {
    match &module["Lwt_".len()..] {
        "unix" => Some("unix"),
        "io" => Some("io"),
        "list" => Some("list"),
        "stream" => Some("stream"),
        "pool" => Some("pool"),
        "switch" => Some("switch"),
        "main" => Some("main"),
        "preemptive" => Some("preemptive"),
        "seq" => Some("seq"),
        "result" => Some("result"),
        "mutex" | "condition" | "mvar" => Some("sync"),
        _ => None,
    }
}

/// Whether `tt` can start an operand: a name, a literal, a parenthesized or bracketed
/// expression, or a prefix operator.
fn starts_operand(tt: &TokenTree) -> bool {
    match tt {
        TokenTree::Ident(i) => !is_keyword(&i.to_string()),
        TokenTree::Literal(_) => true,
        TokenTree::Group(g) => g.delimiter() != Delimiter::Brace,
        TokenTree::Punct(p) => matches!(p.as_char(), '-' | '!' | '&' | '*'),
    }
}

/// Whether `tt` can end an operand: a name, a literal, or a closing bracket.
fn ends_operand(tt: &TokenTree) -> bool {
    match tt {
        TokenTree::Ident(i) => !is_keyword(&i.to_string()),
        TokenTree::Literal(_) => true,
        TokenTree::Group(g) => g.delimiter() != Delimiter::Brace,
        TokenTree::Punct(_) => false,
    }
}

/// Rust's keywords, except the ones that are values (`true`, `false`, `self`, `Self`).
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "as" | "async"
            | "await"
            | "break"
            | "const"
            | "continue"
            | "crate"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "yield"
            | "do"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                // `tests/ui` holds programs that do not compile, OCaml's habits among them.
                if !matches!(name.as_str(), "target" | "ui" | ".git") {
                    rust_files(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }

    /// The search only ever runs on a statement that failed to parse, but a statement may fail
    /// for another reason than an OCaml habit: then nothing Rust has may be taken for one. The
    /// project's own Rust (the runtime, its tests, examples and benches: valid programs, each
    /// statement of which could sit beside a mistake) is searched here, and must have none.
    #[test]
    fn no_habit_in_the_projects_own_rust() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut files = Vec::new();
        rust_files(root, &mut files);
        assert!(files.len() > 100, "found only {} files", files.len());
        let mut found = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let tokens: TokenStream = text.parse().unwrap();
            let mut all = Vec::new();
            pieces(tokens, &mut all);
            for piece in all {
                if let Some(e) = habit(&piece) {
                    let shown: proc_macro2::TokenStream = piece.into_iter().collect();
                    let shown: String = shown.to_string().chars().take(300).collect();
                    found.push(format!("{}: {e}: {shown}", file.display()));
                }
            }
        }
        assert!(found.is_empty(), "{}", found.join("\n"));
    }

    #[test]
    fn each_habit_is_found() {
        for (ocaml, word) in [
            ("if x <> 1", "`<>`"),
            ("if not ok", "`not`"),
            ("ret(n mod 2)", "`mod`"),
            ("ret(n lsr 2)", "`lsr`"),
            ("r := 1", "`:=`"),
            ("p >|= f", "`>|=`"),
            ("p <&> q", "`<&>`"),
            ("p <?> q", "`<?>`"),
            ("ret([1; 2; 3])", "`[a; b; c]`"),
            ("print_endline \"x\"", "function application"),
            (
                "Lwt_unix.sleep 1.0",
                "function application needs parentheses in Rust: `lwt::unix::sleep(1.0)`",
            ),
            ("Lwt.async (fun () -> p)", "`Lwt.async f`"),
            ("do Lwt.async(|| p)", "`Lwt.async f`"),
            ("iter_s(fun x -> ret(x), xs)", "`fun x -> e`"),
            ("let x = Lwt_io.(read_line(ic))", "`Lwt_io.( .. )`"),
            ("let x = A.B.(f())", "`A.B.( .. )`"),
        ] {
            let tokens: Vec<TokenTree> = ocaml
                .parse::<proc_macro2::TokenStream>()
                .unwrap()
                .into_iter()
                .collect();
            let e = habit(&tokens).unwrap_or_else(|| panic!("nothing found in {ocaml}"));
            assert!(e.to_string().starts_with(word), "{ocaml}: {e}");
        }
    }
}
