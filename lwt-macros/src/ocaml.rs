//! OCaml's operators, lists, applications, comments and local opens in an `lwt!` block that
//! failed to parse.
//!
//! An OCaml programmer writes `x <> y`, `not ok`, `n mod 2`, `r := v`, `fun x -> e`,
//! `function | p -> e`, `p >|= f`, `x |> f`, `[1; 2; 3]`, `print_endline "hi"`, `(* .. *)` or
//! `Lwt_io.( .. )` out of habit.
//! None of them is Rust, and syn stops at them with "expected an expression" or "expected
//! `=>`", at a token that is often not the one to change. When a statement (or a `match` arm)
//! fails to parse, its tokens are searched for these habits ([`habit`]), and the first one
//! found replaces syn's message. A list does not fail its statement: syn reads `[1; 2; 3]` as
//! `[1; 2]` and reports the rest only at the end of the block, as "unexpected token", so lists
//! are looked for in the whole block then ([`lists`]).
//!
//! Only a failed parse is searched, so a valid program never meets these messages. Each pattern
//! is also one that no valid Rust has (`not x`, two operands side by side; `M.(e)`, a `.` before
//! parentheses), so that the message does not blame a token that is fine while the mistake is
//! elsewhere: unit tests search all of this project's Rust and a list of lookalikes (`fn h<>()`,
//! `&'not str`, `#[attr(a not b)]`) and must find nothing. The search of a statement stops at
//! the end of its first `{ .. }` not followed by `else` (a form that ends with a block takes no
//! `;`, and the next statement's mistakes are its own), and does not enter `{ .. }` (a nested
//! `lwt!` block reports its own statements); no search enters a macro's or an attribute's
//! arguments (any tokens are valid there).

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

/// The first OCaml habit among `tokens`, the statement or arm that failed to parse (see
/// [`until`]). Lists are not looked for here (see [`lists`]).
pub(crate) fn habit(tokens: &[TokenTree]) -> Option<syn::Error> {
    search(tokens, true)
}

/// [`habit`] in `tokens`, one bracket level of the statement (`top`: its outermost).
fn search(tokens: &[TokenTree], top: bool) -> Option<syn::Error> {
    for i in 0..tokens.len() {
        let at = At { tokens, i, top };
        let found = infix(&at)
            .or_else(|| inequality(&at))
            .or_else(|| float_operator(&at))
            .or_else(|| word_operator(&at))
            .or_else(|| ref_assignment(&at))
            .or_else(|| closure(&at))
            .or_else(|| function(&at))
            .or_else(|| dot_paren(&at))
            .or_else(|| string_index(&at))
            .or_else(|| comment(&at))
            .or_else(|| label(&at))
            .or_else(|| lwt_async(&at))
            .or_else(|| application(&at));
        if found.is_some() {
            return found;
        }
        if let TokenTree::Group(g) = &tokens[i] {
            if g.delimiter() != Delimiter::Brace && !at.opaque_group() {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                if let Some(e) = search(&inner, false) {
                    return Some(e);
                }
            }
        }
    }
    None
}

/// The first OCaml habit anywhere in `tokens`, a whole `lwt!` input that parsed but left
/// tokens over inside a bracket, when no statement failed.
pub(crate) fn habit_anywhere(tokens: TokenStream) -> Option<syn::Error> {
    let mut all = Vec::new();
    pieces(tokens, &mut all);
    all.iter().find_map(|piece| habit(piece))
}

/// OCaml's lists (`[1; 2; 3]`) anywhere in `tokens`, a whole `lwt!` input. syn reads
/// `[1; 2; 3]` as Rust's `[1; 2]`, so that no statement fails there: it reports the `; 3` only
/// at the end, as "unexpected token". Rust's `[x; n]` has one `;`; two are never Rust.
pub(crate) fn lists(tokens: TokenStream) -> Vec<syn::Error> {
    let mut found = Vec::new();
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    lists_in(&tokens, &mut found);
    found
}

fn lists_in(tokens: &[TokenTree], found: &mut Vec<syn::Error>) {
    for i in 0..tokens.len() {
        let TokenTree::Group(g) = &tokens[i] else {
            continue;
        };
        if (At {
            tokens,
            i,
            top: false,
        })
        .opaque_group()
        {
            continue;
        }
        let inner: Vec<TokenTree> = g.stream().into_iter().collect();
        let semicolons = inner
            .iter()
            .filter(|tt| matches!(tt, TokenTree::Punct(p) if p.as_char() == ';'))
            .count();
        if g.delimiter() == Delimiter::Bracket && semicolons >= 2 {
            found.push(syn::Error::new_spanned(
                g,
                "`[a; b; c]` is OCaml's list: in Rust, `vec![a, b, c]` (or the array \
                 `[a, b, c]`); `[x; n]` is `n` copies of `x`",
            ));
        } else {
            lists_in(&inner, found);
        }
    }
}

/// Every statement, arm or argument of `tokens` (split at `;` and `,`, inside every group
/// but a macro's or an attribute's, whose tokens are not Rust's: `m!(..)`,
/// `macro_rules! m { .. }`, `#[attr(..)]`).
pub(crate) fn pieces(tokens: TokenStream, out: &mut Vec<Vec<TokenTree>>) {
    let mut piece: Vec<TokenTree> = Vec::new();
    for tt in tokens {
        if let TokenTree::Group(g) = &tt {
            let at = At {
                tokens: &piece,
                i: piece.len(),
                top: false,
            };
            if !at.opaque_group() {
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

/// The tokens of the statement or arm at `cursor`: up to its `stop` (`;` or `,`) at its level,
/// or to the end of its first `{ .. }` not followed by `else`. A form that ends with a block
/// (`if`, `match`, `while`..) takes no `;`: what follows is the next statement, whose own
/// mistakes must not be blamed for this one's.
pub(crate) fn until(cursor: syn::buffer::Cursor<'_>, stop: char) -> Vec<TokenTree> {
    let mut tokens = Vec::new();
    let mut rest = cursor;
    while let Some((tt, next)) = rest.token_tree() {
        if matches!(&tt, TokenTree::Punct(p) if p.as_char() == stop) {
            break;
        }
        let block = matches!(&tt, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace);
        tokens.push(tt);
        rest = next;
        let else_follows = rest.ident().is_some_and(|(i, _)| i == "else");
        if block && !else_follows {
            break;
        }
    }
    tokens
}

/// A position in one bracket level of tokens, for the checks below.
struct At<'a> {
    tokens: &'a [TokenTree],
    i: usize,
    /// The statement's outermost level (not inside parentheses or brackets).
    top: bool,
}

impl At<'_> {
    /// The tokens from here on.
    fn rest(&self) -> &[TokenTree] {
        &self.tokens[self.i..]
    }

    /// The tokens before here.
    fn earlier(&self) -> &[TokenTree] {
        &self.tokens[..self.i]
    }

    /// The token `k` places before here.
    fn back(&self, k: usize) -> Option<&TokenTree> {
        self.i.checked_sub(k).map(|j| &self.tokens[j])
    }

    /// Whether the token before here is the punctuation `c`.
    fn after_punct(&self, c: char) -> bool {
        matches!(self.back(1), Some(TokenTree::Punct(p)) if p.as_char() == c)
    }

    /// Whether the token before here is the word `w`.
    fn after_word(&self, w: &str) -> bool {
        matches!(self.back(1), Some(TokenTree::Ident(i)) if i == w)
    }

    /// Whether a group here holds tokens that need not be Rust's: a macro's arguments (`m!(..)`,
    /// `macro_rules! m { .. }`) or an attribute's (`#[attr(..)]`, `#![..]`).
    fn opaque_group(&self) -> bool {
        let punct = |tt: Option<&TokenTree>, c: char| matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c);
        let macro_body = punct(self.back(1), '!')
            || (matches!(self.back(1), Some(TokenTree::Ident(_))) && punct(self.back(2), '!'));
        let attribute = punct(self.back(1), '#');
        macro_body || attribute
    }

    /// Whether the word here is a lifetime's or a label's name (`'a`).
    fn in_lifetime(&self) -> bool {
        self.after_punct('\'')
    }
}

/// Lwt.Infix's `>|=`, `<&>` and `<?>`, which Rust reads as `>` followed by `|=` (or `<` and
/// `&`..), and OCaml's `|>` and `@@`: none is ever Rust.
fn infix(at: &At<'_>) -> Option<syn::Error> {
    let rest = at.rest();
    let (a, b) = match rest {
        [TokenTree::Punct(a), TokenTree::Punct(b), ..] if a.spacing() == Spacing::Joint => (a, b),
        _ => return None,
    };
    let two = match (a.as_char(), b.as_char()) {
        ('|', '>') => Some(
            "`x |> f` is OCaml's pipe: in Rust, `f(x)` (or a method call, `x.f()`; a promise is \
             mapped with `p | f`)",
        ),
        ('@', '@') => Some("`f @@ x` is OCaml's application: in Rust, `f(x)`"),
        _ => None,
    };
    if let Some(message) = two {
        return Some(syn::Error::new_spanned(quote!(#a #b), message));
    }
    let [_, _, TokenTree::Punct(c), ..] = rest else {
        return None;
    };
    let message = match (a.as_char(), b.as_char(), c.as_char()) {
        ('>', '|', '=') => {
            "`>|=` is Lwt.Infix's map: `Promise` implements it as `p | f`; in `lwt!`, \
             `let v = p;` and use `v` after it"
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
    if b.spacing() != Spacing::Joint {
        return None;
    }
    Some(syn::Error::new_spanned(quote!(#a #b #c), message))
}

/// `x <> y`, OCaml's structural inequality. Not a type's or an item's empty generics
/// (`Vec<>`, `f::<>()`, `fn h<>()`, `impl<> T for S`, `struct W<>(u32)`): those follow `::`,
/// `impl` or an item's name, or are followed by `=`, `::`, `>`.., never by an operand.
fn inequality(at: &At<'_>) -> Option<syn::Error> {
    let [TokenTree::Punct(lt), TokenTree::Punct(gt), operand, ..] = at.rest() else {
        return None;
    };
    let is_pair = lt.as_char() == '<' && lt.spacing() == Spacing::Joint && gt.as_char() == '>';
    let item_name = matches!(
        at.back(2),
        Some(TokenTree::Ident(i)) if matches!(
            i.to_string().as_str(),
            "fn" | "struct" | "enum" | "union" | "trait" | "type"
        )
    );
    let generics = at.after_punct(':') || at.after_word("impl") || item_name;
    if !is_pair || generics || !starts_operand(operand) {
        return None;
    }
    Some(syn::Error::new_spanned(
        quote!(#lt #gt),
        "`<>` is OCaml's structural inequality: in Rust, `!=` (`x != y`)",
    ))
}

/// `a +. b` (`-.`, `*.`, `/.`), OCaml's float arithmetic: no Rust operator is followed by a
/// lone `.`.
fn float_operator(at: &At<'_>) -> Option<syn::Error> {
    let [TokenTree::Punct(op), TokenTree::Punct(dot), ..] = at.rest() else {
        return None;
    };
    let is_float_op = matches!(op.as_char(), '+' | '-' | '*' | '/')
        && op.spacing() == Spacing::Joint
        && dot.as_char() == '.'
        && dot.spacing() == Spacing::Alone;
    if !is_float_op || !at.back(1).is_some_and(ends_operand) {
        return None;
    }
    let rust = op.as_char();
    Some(syn::Error::new_spanned(
        quote!(#op #dot),
        format!("`{rust}.` is OCaml's float operator: in Rust, `{rust}` works on floats too"),
    ))
}

/// OCaml's operators that are words: `not x`, `a mod b`, `a land b`.. A word between two
/// operands, or `not` before one, is two expressions side by side to Rust. Not a lifetime
/// (`&'not str`), nor an item after `pub(crate)` or an attribute (`#[cfg(test)] mod tests`).
fn word_operator(at: &At<'_>) -> Option<syn::Error> {
    let [TokenTree::Ident(word), operand, ..] = at.rest() else {
        return None;
    };
    if at.in_lifetime() {
        return None;
    }
    let name = word.to_string();
    let message = match name.as_str() {
        "not" => {
            // `x.not()` and `ops::not` are Rust's; `not (c)` is a call, which rustc reports if
            // there is no function `not`.
            let after_path = at.after_punct('.') || at.after_punct(':');
            let is_operand = match operand {
                TokenTree::Ident(i) => !is_keyword(&i.to_string()),
                TokenTree::Literal(_) => true,
                _ => false,
            };
            if after_path || !is_operand {
                return None;
            }
            return Some(syn::Error::new_spanned(
                word,
                "`not` is OCaml's: in Rust, a boolean is negated with `!` (`!ok`)",
            ));
        }
        "mod" => "`mod` is OCaml's: in Rust, the remainder is `%` (`a % b`)",
        "land" => "`land` is OCaml's: in Rust, the operator is `&` (`a & b`)",
        "lor" => "`lor` is OCaml's: in Rust, the operator is `|` (`a | b`)",
        "lxor" => "`lxor` is OCaml's: in Rust, the operator is `^` (`a ^ b`)",
        "lsl" => "`lsl` is OCaml's: in Rust, the operator is `<<` (`a << b`)",
        "lsr" => {
            "`lsr` is OCaml's logical shift: in Rust, `>>` on an unsigned integer (`a >> b`; \
             on a signed one, `>>` shifts the sign in, as `asr`)"
        }
        "asr" => "`asr` is OCaml's arithmetic shift: in Rust, `>>` on a signed integer (`a >> b`)",
        _ => return None,
    };
    let item = match at.earlier() {
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
    let after_operand = at.back(1).is_some_and(ends_operand);
    if item || !after_operand || !starts_operand(operand) {
        return None;
    }
    Some(syn::Error::new_spanned(word, message))
}

/// `r := v`, OCaml's assignment to a `ref`: Rust has no `:=` at all.
fn ref_assignment(at: &At<'_>) -> Option<syn::Error> {
    let [TokenTree::Punct(colon), TokenTree::Punct(eq), ..] = at.rest() else {
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
fn closure(at: &At<'_>) -> Option<syn::Error> {
    let (fun, params) = ocaml_word(at, "fun")?;
    let is_param = |tt: &TokenTree| match tt {
        TokenTree::Ident(i) => !is_keyword(&i.to_string()),
        TokenTree::Group(g) => g.delimiter() == Delimiter::Parenthesis,
        _ => false,
    };
    let count = params.iter().take_while(|tt| is_param(tt)).count();
    if count == 0 || !starts_with_arrow(&params[count..]) {
        return None;
    }
    Some(syn::Error::new_spanned(
        fun,
        "`fun x -> e` is OCaml's: a Rust closure is `|x| e` (`move |x| e` to own what it uses)",
    ))
}

/// `function | p -> e | q -> f`, OCaml's anonymous function that matches its argument: a word
/// `function`, an optional `|`, then a pattern (names, literals, `_`, parenthesized or bracketed
/// patterns, `|` between alternatives, `::` of a list) and `->` at once, or after a guard
/// (`when c`). Valid Rust can have `function | x` (a bitwise or of a variable) but no `->`
/// after an operand; the one Rust `->` that follows `|` is a closure's return type
/// (`function | |x| -> u8 { x }`), so the pattern may neither start nor end with `|`. Not a
/// function named `function` (`fn function() -> u8`).
fn function(at: &At<'_>) -> Option<syn::Error> {
    let (word, after) = ocaml_word(at, "function")?;
    let bar = |tt: &TokenTree| matches!(tt, TokenTree::Punct(p) if p.as_char() == '|' && p.spacing() == Spacing::Alone);
    let pattern = match after {
        [first, rest @ ..] if bar(first) => rest,
        _ => after,
    };
    // `::` is OCaml's list constructor (`x :: rest`), one `:` of it at a time.
    let cons = |i: usize| {
        let colon =
            |j: usize| matches!(pattern.get(j), Some(TokenTree::Punct(p)) if p.as_char() == ':');
        colon(i) && (colon(i + 1) || i > 0 && colon(i - 1))
    };
    let is_pattern = |i: usize, tt: &TokenTree| match tt {
        TokenTree::Ident(w) => {
            w != "when" && !is_keyword(&w.to_string()) || w == "ref" || w == "mut"
        }
        TokenTree::Literal(_) => true,
        TokenTree::Group(g) => g.delimiter() != Delimiter::Brace,
        TokenTree::Punct(p) => bar(tt) || p.as_char() == '_' || cons(i),
    };
    let count = (pattern.iter().enumerate())
        .take_while(|(i, tt)| is_pattern(*i, tt))
        .count();
    // OCaml's guard, `p when c -> e`: `when` after a pattern is never Rust.
    let arrow = match &pattern[count..] {
        [TokenTree::Ident(w), guard @ ..] if w == "when" => {
            (0..guard.len()).any(|i| starts_with_arrow(&guard[i..]))
        }
        after => starts_with_arrow(after),
    };
    if count == 0 || !arrow || bar(&pattern[0]) || bar(&pattern[count - 1]) {
        return None;
    }
    Some(syn::Error::new_spanned(
        word,
        "`function | p -> e | ..` is OCaml's: in Rust, a closure that matches its argument is \
         `|x| match x { p => e, .. }`",
    ))
}

/// The word `w` here, as OCaml's keyword, and the tokens after it: not a name that follows
/// `fn`, `.` or `::` (`fn fun(x: u8)`, `s.function()`), nor a trait's after `dyn` or `impl`
/// (`dyn function(u8) -> u8`, the `Fn` traits' sugar on a trait so named), nor a lifetime's.
fn ocaml_word<'a>(at: &At<'a>, w: &str) -> Option<(&'a proc_macro2::Ident, &'a [TokenTree])> {
    let [TokenTree::Ident(word), after @ ..] = &at.tokens[at.i..] else {
        return None;
    };
    let named = at.after_word("fn")
        || at.after_word("dyn")
        || at.after_word("impl")
        || at.after_punct('.')
        || at.after_punct(':');
    (!named && !at.in_lifetime() && word == w).then_some((word, after))
}

/// Whether `tokens` start with `->`.
fn starts_with_arrow(tokens: &[TokenTree]) -> bool {
    match tokens {
        [TokenTree::Punct(a), TokenTree::Punct(b), ..] => {
            a.as_char() == '-' && a.spacing() == Spacing::Joint && b.as_char() == '>'
        }
        _ => false,
    }
}

/// A lone `.` (not a `..` range) here, followed by a group in `delimiter`.
fn dot_then<'a>(
    at: &At<'a>,
    delimiter: Delimiter,
) -> Option<(&'a proc_macro2::Punct, &'a proc_macro2::Group)> {
    let [TokenTree::Punct(dot), TokenTree::Group(group), ..] = &at.tokens[at.i..] else {
        return None;
    };
    let lone = dot.as_char() == '.' && dot.spacing() == Spacing::Alone;
    (lone && group.delimiter() == delimiter).then_some((dot, group))
}

/// `M.(e)` (OCaml's local open, of a module: capitalized) or `a.(i)` (OCaml's array indexing),
/// here at the `.`. No valid Rust has `.` before parentheses.
fn dot_paren(at: &At<'_>) -> Option<syn::Error> {
    let (dot, group) = dot_then(at, Delimiter::Parenthesis)?;
    let (names, start) = path_before(at.earlier())?;
    let shown: TokenStream = at.tokens[start..at.i].iter().cloned().collect();
    let capitalized = names[0].starts_with(|c: char| c.is_ascii_uppercase());
    let message = if capitalized {
        let form = format!("{}.( .. )", names.join("."));
        open_message(&form, &names, true)
    } else {
        let array = names.join(".");
        format!(
            "`{array}.(i)` is OCaml's array indexing: in Rust, `{array}[i]` (a local open of a \
             module, `M.( .. )`, is `use M::*;`)"
        )
    };
    Some(syn::Error::new_spanned(quote!(#shown #dot #group), message))
}

/// `s.[i]`, OCaml's string indexing: no valid Rust has `.` before brackets.
fn string_index(at: &At<'_>) -> Option<syn::Error> {
    let (dot, group) = dot_then(at, Delimiter::Bracket)?;
    if !at.back(1).is_some_and(ends_operand) {
        return None;
    }
    Some(syn::Error::new_spanned(
        quote!(#dot #group),
        "`s.[i]` is OCaml's string indexing: in Rust, `s.as_bytes()[i]` (a byte) or \
         `s.chars().nth(i)` (a character)",
    ))
}

/// `(* .. *)`, an OCaml comment: parentheses that end with `*` hold no Rust expression.
fn comment(at: &At<'_>) -> Option<syn::Error> {
    let TokenTree::Group(g) = &at.tokens[at.i] else {
        return None;
    };
    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
    let star =
        |tt: Option<&TokenTree>| matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == '*');
    if g.delimiter() != Delimiter::Parenthesis || !star(inner.first()) || !star(inner.last()) {
        return None;
    }
    Some(syn::Error::new_spanned(
        g,
        "`(* .. *)` is an OCaml comment: in Rust, `// ..` or `/* .. */`",
    ))
}

/// `~label:v`, OCaml's labelled argument: Rust has no `~` at all.
fn label(at: &At<'_>) -> Option<syn::Error> {
    let [TokenTree::Punct(tilde), TokenTree::Ident(name), ..] = at.rest() else {
        return None;
    };
    if tilde.as_char() != '~' {
        return None;
    }
    Some(syn::Error::new_spanned(
        quote!(#tilde #name),
        format!(
            "`~{name}` is OCaml's labelled argument: Rust has none; pass the value in its place \
             among the arguments"
        ),
    ))
}

/// `Lwt.async f`: `async` is a keyword in Rust, and no valid Rust has `.async`.
fn lwt_async(at: &At<'_>) -> Option<syn::Error> {
    let [TokenTree::Ident(word), ..] = at.rest() else {
        return None;
    };
    if word != "async" {
        return None;
    }
    let (module, start) = module_before(at.earlier())?;
    if module != ["Lwt"] {
        return None;
    }
    let shown: TokenStream = at.tokens[start..at.i].iter().cloned().collect();
    Some(syn::Error::new_spanned(
        quote!(#shown #word),
        "`Lwt.async f` is OCaml's: in Rust, `lwt::async_(f)` (`async` is a keyword)",
    ))
}

/// `f x`, OCaml's application, at the start of a statement or a value (after `=`, `=>`, `do`,
/// `in`), outside any bracket: a function's name (or `M.f`), then its arguments (names,
/// literals, and parenthesized expressions).
/// It is reported when the first argument is a literal (`print_endline "hi"`,
/// `Lwt_unix.sleep 1.0`), for OCaml's printing and failing functions (`failwith msg`), or when
/// the arguments run to the end of the statement (`let n = List.length xs;`, `g x y` as the
/// block's value). No Rust has a name or a literal right after a name, so the message never
/// blames a valid pair; the one Rust reading of such a statement, two statements whose `;` is
/// missing (`let x = p` then `y;`), is named in the message. A parenthesized group right after
/// a name is an argument only when spaced as OCaml spaces one (see [`spaced`]: `f x (y + 1)`,
/// and `f (x) y`, with another argument after it). Otherwise it is Rust's call (`x(y)`, `f(x)
/// y`, `done` then `ret(1)` on the next line) and ends the arguments, keeping syn's message.
/// Elsewhere, or with a name first (`g(a b)`, `x as u32 1`), two operands side by side are as
/// often a missing `,` or `;`.
fn application(at: &At<'_>) -> Option<syn::Error> {
    let TokenTree::Ident(f) = &at.tokens[at.i] else {
        return None;
    };
    let name = f.to_string();
    if !at.top || at.in_lifetime() || is_word(&name) {
        return None;
    }
    let (module, start) = module_before(at.earlier()).unwrap_or((Vec::new(), at.i));
    let starts_value = match start.checked_sub(1).map(|j| &at.tokens[j]) {
        None => true,
        Some(TokenTree::Punct(p)) => matches!(p.as_char(), '=' | '>'),
        Some(TokenTree::Ident(i)) => matches!(i.to_string().as_str(), "do" | "in"),
        Some(_) => false,
    };
    let after = &at.tokens[at.i + 1..];
    let count = (0..after.len())
        .take_while(|&k| match &after[k] {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis => match k {
                // `f (x) y`: spaced as OCaml spaces its arguments, and followed by another.
                0 => spaced(f, &after[0]) && after.get(1).is_some_and(is_plain_argument),
                // On `f`'s line: `done` then `ret (1)` on the next is a missing `;`.
                _ if !same_line(f, &after[k]) => false,
                _ => match &after[k - 1] {
                    // `f x (y)`, where `x(y)` would be Rust's call.
                    TokenTree::Ident(x) => spaced(x, &after[k]),
                    _ => true,
                },
            },
            other => is_plain_argument(other),
        })
        .count();
    let (args, rest) = after.split_at(count);
    let known = known_function(&module, &name);
    let first_literal = matches!(args.first(), Some(TokenTree::Literal(_)));
    let ends_statement = match rest {
        [] => true,
        [TokenTree::Ident(i), ..] => i == "in",
        _ => false,
    };
    if !starts_value || args.is_empty() || !(first_literal || known.is_some() || ends_statement) {
        return None;
    }
    let shown: TokenStream = at.tokens[start..at.i + 1 + count].iter().cloned().collect();
    let args: Vec<String> = args
        .iter()
        .map(|a| match a {
            // `f 1 (y + 1)` is `f(1, y + 1)`: the parentheses were OCaml's only.
            TokenTree::Group(g) => g.stream().to_string(),
            _ => a.to_string(),
        })
        .collect();
    let message = match known {
        Some(message) => message,
        None => {
            let path = if module.is_empty() {
                name
            } else {
                format!("{}::{name}", rust_path(&module))
            };
            application_message(&path, &args.join(", "))
        }
    };
    Some(syn::Error::new_spanned(shown, message))
}

/// A name or a literal that may be an argument of `f x` (not a Rust word).
fn is_plain_argument(tt: &TokenTree) -> bool {
    match tt {
        TokenTree::Literal(_) => true,
        TokenTree::Ident(i) => !is_word(&i.to_string()),
        _ => false,
    }
}

/// Is `group` on the same line as the name before it, with a space between them? That is how
/// OCaml spaces an argument (`f x (y + 1)`), and never how Rust writes a call (`x(y + 1)`,
/// which rustfmt keeps together). A call on the next line (`done` then `ret(1)`) is a
/// statement whose `;` is missing, not an argument. Without real spans (all of them at one
/// place), nothing is spaced and the group stays Rust's call.
fn spaced(name: &proc_macro2::Ident, group: &TokenTree) -> bool {
    same_line(name, group) && group.span().start().column > name.span().end().column
}

/// Does `tt` start on the line where `name` ends?
fn same_line(name: &proc_macro2::Ident, tt: &TokenTree) -> bool {
    name.span().end().line == tt.span().start().line
}

/// What to write for OCaml's printing and failing functions, which have no Rust function of
/// the same name.
pub(crate) fn known_function(module: &[String], name: &str) -> Option<String> {
    let module: Vec<&str> = module.iter().map(String::as_str).collect();
    let message = match (module.as_slice(), name) {
        ([], "print_endline") => {
            "`print_endline s` is OCaml's: in Rust, `println!(\"{s}\")` (in `lwt!`, as a plain \
             statement: `do println!(..);`), or `lwt::io::printl(s)`, a promise"
        }
        ([], "print_string") => {
            "`print_string s` is OCaml's: in Rust, `print!(\"{s}\")` (in `lwt!`: `do print!(..);`), \
             or `lwt::io::print(s)`, a promise"
        }
        ([], "prerr_endline") => {
            "`prerr_endline s` is OCaml's: in Rust, `eprintln!(\"{s}\")` (in `lwt!`: `do \
             eprintln!(..);`), or `lwt::io::eprintl(s)`, a promise"
        }
        (["Printf"], "printf") => {
            "`Printf.printf` is OCaml's: in Rust, `print!` with `{}` where OCaml has `%d`, `%s`.. \
             (in `lwt!`: `do print!(\"{}\\n\", x);`), or `lwt::printf!`, a promise"
        }
        (["Printf"], "eprintf") => {
            "`Printf.eprintf` is OCaml's: in Rust, `eprint!` with `{}` where OCaml has `%d`, `%s`.. \
             (in `lwt!`: `do eprint!(..);`), or `lwt::eprintf!`, a promise"
        }
        (["Printf"], "sprintf") => {
            "`Printf.sprintf` is OCaml's: in Rust, `format!` with `{}` where OCaml has `%d`, `%s`.."
        }
        ([], "failwith") => {
            "`failwith msg` is OCaml's: in `lwt!`, `lwt::fail_with(msg)` rejects the promise \
             (`panic!` would unwind)"
        }
        ([], "raise") => {
            "`raise e` is OCaml's: in `lwt!`, `lwt::fail(e)` rejects the promise (`panic!` would \
             unwind)"
        }
        _ => return None,
    };
    Some(message.to_string())
}

/// Words that are not a function's name or argument in `f x`: Rust's keywords and the words
/// that are keywords in their place (`union U`, `auto trait`, `macro_rules! m`), `lwt!`'s own
/// (`let a = p and b = q`, `exception e`), and OCaml's operators that are words (reported as
/// such).
fn is_word(w: &str) -> bool {
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
                | "mod"
                | "land"
                | "lor"
                | "lxor"
                | "lsl"
                | "lsr"
                | "asr"
                | "fun"
                // Reserved in Rust, or `lwt!`'s and OCaml's own words between expressions.
                | "box"
                | "become"
                | "final"
                | "macro"
                | "override"
                | "priv"
                | "typeof"
                | "unsized"
                | "virtual"
                | "abstract"
                | "gen"
                | "try"
                | "when"
                | "with"
                | "then"
                | "catch"
                | "finally"
                | "begin"
                | "end"
                | "rec"
                | "open"
        )
}

/// The module path `A.B.` (OCaml's) or `A::B::` that `earlier` ends with, and where it starts.
fn module_before(earlier: &[TokenTree]) -> Option<(Vec<String>, usize)> {
    let mut names = Vec::new();
    let mut end = earlier.len();
    loop {
        match &earlier[..end] {
            // `A.`, each `.` alone (not a `..` range).
            [.., TokenTree::Ident(name), TokenTree::Punct(dot)]
                if dot.as_char() == '.' && dot.spacing() == Spacing::Alone =>
            {
                names.push(name.to_string());
                end -= 2;
            }
            // `A::`.
            [.., TokenTree::Ident(name), TokenTree::Punct(c1), TokenTree::Punct(c2)]
                if c1.as_char() == ':' && c1.spacing() == Spacing::Joint && c2.as_char() == ':' =>
            {
                names.push(name.to_string());
                end -= 3;
            }
            _ => break,
        }
    }
    if names.is_empty() {
        return None;
    }
    names.reverse();
    Some((names, end))
}

/// The path `A.B` that `upto` ends with (its last token a name), and where it starts.
fn path_before(upto: &[TokenTree]) -> Option<(Vec<String>, usize)> {
    let (last, earlier) = upto.split_last()?;
    let TokenTree::Ident(last) = last else {
        return None;
    };
    let (mut names, start) = module_before(earlier).unwrap_or((Vec::new(), earlier.len()));
    names.push(last.to_string());
    Some((names, start))
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
pub(crate) fn application_message(f: &str, args: &str) -> String {
    format!(
        "function application needs parentheses in Rust: `{f}({args})`; if these are two \
         statements, end the first with `;`"
    )
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

/// The message for a rejection arm that names one of Lwt's exceptions by its OCaml module,
/// `Lwt_unix::Timeout` for `Lwt_unix.Timeout`, or `None` if `module` is not one of Lwt's.
/// Without it the arm got the message of an enum variant, `e: Lwt_unix if matches!(..)`, which
/// names a module as a type (rev136's trial).
pub(crate) fn lwt_exception(module: &str, exception: &str) -> Option<String> {
    let rust_module = match module {
        "Lwt" => None,
        m if m.starts_with("Lwt_") => Some(lwt_counterpart(m)),
        _ => return None,
    };
    let known = match (module, exception) {
        ("Lwt", "Canceled") => Some("lwt::Canceled"),
        ("Lwt_unix", "Timeout") => Some("lwt::unix::Timeout"),
        ("Lwt_stream", "Empty") => Some("lwt::stream::Empty"),
        ("Lwt_stream", "Closed") => Some("lwt::stream::Closed"),
        ("Lwt_stream", "Full") => Some("lwt::stream::Full"),
        ("Lwt_switch", "Off") => Some("lwt::switch::Off"),
        ("Lwt_io", "Channel_closed") => Some("lwt::io::ChannelClosed"),
        _ => None,
    };
    let ocaml = format!("`{module}::{exception}` is OCaml's exception `{module}.{exception}`");
    Some(match (known, rust_module) {
        (Some(ty), _) => {
            let name = ty.rsplit("::").next().unwrap_or(ty);
            format!(
                "{ocaml}: in Rust it is the error type `{ty}`, and a rejection arm matches the \
                 error by its type: name it `{ty}` (or `use {ty};` and name it `{name}`)"
            )
        }
        (None, Some(Some(rust))) => format!(
            "{ocaml}: `lwt` has no error type of that name; Lwt's exceptions are error types in \
             Rust, those of `{module}` in `lwt::{rust}` (see its documentation), and a rejection \
             arm matches the error by its type"
        ),
        (None, _) => format!(
            "{ocaml}: `lwt` has no error type of that name; Lwt's exceptions are error types in \
             Rust (`lwt::Canceled`, `lwt::Failure`, ...), and a rejection arm matches the error \
             by its type"
        ),
    })
}

/// The module of `lwt` that stands for Lwt's `Lwt_*` module `module`.
pub(crate) fn lwt_counterpart(module: &str) -> Option<&'static str> {
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
            ("ret(n lsr 2)", "`lsr` is OCaml's logical shift"),
            ("r := 1", "`:=`"),
            ("p >|= f", "`>|=`"),
            ("p <&> q", "`<&>`"),
            ("p <?> q", "`<?>`"),
            ("x |> f", "`x |> f`"),
            ("f @@ g x", "`f @@ x`"),
            ("ret(a +. b)", "`+.`"),
            ("ret(s.[0])", "`s.[i]`"),
            ("ret(a.(0))", "`a.(i)` is OCaml's array indexing"),
            ("(* note *) ret(1)", "`(* .. *)`"),
            ("f ~count:1", "`~count`"),
            ("print_endline \"x\"", "`print_endline s`"),
            ("do Printf.printf \"%d\" x", "`Printf.printf`"),
            ("failwith msg", "`failwith msg`"),
            (
                "let x = ret 1",
                "function application needs parentheses in Rust: `ret(1)`",
            ),
            (
                "Lwt_unix.sleep 1.0",
                "function application needs parentheses in Rust: `lwt::unix::sleep(1.0)`",
            ),
            (
                "Array.make 3 0",
                "function application needs parentheses in Rust: `Array::make(3, 0)`",
            ),
            (
                "char::from 'a'",
                "function application needs parentheses in Rust: `char::from('a')`",
            ),
            (
                "let x = double y",
                "function application needs parentheses in Rust: `double(y)`",
            ),
            (
                "let n = List.length xs in",
                "function application needs parentheses in Rust: `List::length(xs)`",
            ),
            (
                "g x y",
                "function application needs parentheses in Rust: `g(x, y)`",
            ),
            (
                "do f x 1 (y + 1) (z)",
                "function application needs parentheses in Rust: `f(x, 1, y + 1, z)`",
            ),
            (
                "Some(v) => double v",
                "function application needs parentheses in Rust: `double(v)`",
            ),
            (
                "let z = add x (y + 1)",
                "function application needs parentheses in Rust: `add(x, y + 1)`",
            ),
            (
                "let z = add (x) y",
                "function application needs parentheses in Rust: `add(x, y)`",
            ),
            (
                "let z = add (x) 1 (y)",
                "function application needs parentheses in Rust: `add(x, 1, y)`",
            ),
            ("Lwt.async (fun () -> p)", "`Lwt.async f`"),
            ("do Lwt.async(|| p)", "`Lwt.async f`"),
            ("iter_s(fun x -> ret(x), xs)", "`fun x -> e`"),
            (
                "iter_s(function | Some x -> ret(x) | None -> ret(0), xs)",
                "`function | p",
            ),
            ("let f = function 0 -> 1 | _ -> 2", "`function | p"),
            ("let f = function A | B -> 1 | C -> 2", "`function | p"),
            ("let f = function x :: rest -> x | [] -> 0", "`function | p"),
            (
                "let f = function n when n > 0 -> 1 | _ -> 0",
                "`function | p",
            ),
            ("let x = Lwt_io.(read_line(ic))", "`Lwt_io.( .. )`"),
            ("let x = A.B.(f())", "`A.B.( .. )`"),
        ] {
            let tokens: Vec<TokenTree> =
                ocaml.parse::<TokenStream>().unwrap().into_iter().collect();
            let e = habit(&tokens).unwrap_or_else(|| panic!("nothing found in {ocaml}"));
            assert!(e.to_string().starts_with(word), "{ocaml}: {e}");
        }
        let list = lists("ret([1; 2; 3].len())".parse().unwrap());
        assert_eq!(list.len(), 1);
        assert!(list[0].to_string().starts_with("`[a; b; c]`"));
    }

    /// Rust that looks like a habit, beside a real mistake (rev113), and Rust's own
    /// two-operands-side-by-side that is a missing `,` rather than an application.
    #[test]
    fn lookalikes_are_not_habits() {
        for rust in [
            "fn h<>(a: u32) -> u32 { a }",
            "impl<> Clone for S { }",
            "struct W<>(u32)",
            "fn h<'not>(s: &'not str) -> &'not str { s }",
            "#[my_attr(a not b)] fn h() {}",
            "m!(a <> b, not x, [1; 2; 3], f @@ x)",
            "let v: Vec<> = f(x)",
            "ret(f(x 1))",
            "ret(Some(x 1))",
            "ret((x 1))",
            "ret(x as u32 1)",
            "let r = ..(x)",
            "'not: loop { break 'not; }",
            "let y = function | mask x",
            "let y = function | |x: u8| -> u8 { x } y",
            "fn function() -> u8 { 1 } x",
            "let g = |function: u8| -> u8 { function } x",
            "let g = |function: Option<u8>| -> u8 { 1 } x",
            "let g = |function::X(a): X| -> u8 { a } x",
            "let g: Box<dyn function(u8) -> u8> = f(x y)",
            "let g: Box<dyn fun(u8) -> u8> = f(x y)",
            "let g: &impl function(u8) -> u8 = f(x y)",
            // Not `f x`: a call after a name (a missing `;`: unspaced, or on the next line),
            // Rust's words, a macro, a label, a struct literal, a name that does not end the
            // statement.
            "done ret(1)",
            "done\n ret (1)",
            "let z = add x(y + 1)",
            "let z = add x\n (y + 1)",
            "let z = add(x) y",
            "let z = add (x)",
            "let z = add (x) (y)",
            "let x = f(y) z",
            "let z = x as u16 y",
            "let x = ref y",
            "let mut x = y",
            "let f = move |x| x",
            "let b = box x",
            "let x = m! y",
            "let x = 'a: loop { break 'a y; }",
            "let s = S { x } y",
            "let x = p.await y",
            "let x = f y.z",
            "let x = if c { a } else { b }",
            "let x = match y { _ => z }",
            "for x in xs { }",
            "let Some(x) = f y else { return }",
            "Some(x) when x > 0 => y",
        ] {
            let tokens: TokenStream = rust.parse().unwrap();
            let statement: Vec<TokenTree> = tokens.clone().into_iter().collect();
            if let Some(e) = habit(&statement) {
                panic!("{rust}: {e}");
            }
            assert!(lists(tokens).is_empty(), "{rust}");
        }
    }
}
