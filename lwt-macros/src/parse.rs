//! Parsing an `lwt!` block into the tree of [`crate::ast`].
//!
//! The parser keeps going after a mistake: each statement that fails to parse is reported and
//! skipped (up to the next `;` at its level), so that one invocation reports every mistake it can
//! find at once. Errors are `syn::Error`s on the user's tokens, worded for the user.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{braced, Attribute, Expr, Ident, Item, Pat, Token, Type};

use crate::ast::*;
use crate::check;

/// The errors found so far.
pub(crate) type Errors = Vec<syn::Error>;

type Result<T> = syn::Result<T>;

/// Macros that are plain statements, not promises: `println!(..);` must be written `do println!(..);`.
/// `dbg!` is not one of them: it returns its argument, so `dbg!(promise);` waits for the promise.
pub(crate) const PLAIN_MACROS: &[&str] = &[
    "print",
    "println",
    "eprint",
    "eprintln",
    "write",
    "writeln",
    "panic",
    "todo",
    "unimplemented",
    "unreachable",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
];

/// Parses the whole input of `lwt!` (after the crate path).
pub(crate) fn parse_top(input: proc_macro2::TokenStream, errors: &mut Errors) -> Block {
    let tokens = input.clone();
    let parser = |stream: ParseStream<'_>| -> Result<Block> {
        if stream.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "empty `lwt!` block: it needs at least one statement or a value; \
                 for a promise of `()` that is already fulfilled, write `lwt::return_unit()`",
            ));
        }
        Ok(block_contents(stream, errors))
    };
    match parser.parse2(input) {
        Ok(block) => block,
        Err(e) => {
            // syn's last check: tokens left over in a bracket ("unexpected token, expected
            // `)`"). Where a statement failed (`f(a b)`), it is reported already, at the same
            // token, and this would only repeat it. Where none did, syn read the bracket's
            // start as a whole: OCaml's `[1; 2; 3]` as `[1; 2]` (reported wherever it is, even
            // beside another mistake), or another habit.
            let leftover = e.to_string().starts_with("unexpected token");
            let lists = crate::ocaml::lists(tokens.clone());
            if !leftover {
                errors.push(e);
            } else if !lists.is_empty() {
                errors.extend(lists);
            } else if errors.is_empty() {
                errors.push(crate::ocaml::habit_anywhere(tokens).unwrap_or(e));
            }
            Block {
                stmts: Vec::new(),
                tail: None,
            }
        }
    }
}

/// After parse errors, what of the top block can still be expanded: the statements before the
/// first one that has an error (skipped or reported), the items of the block that parse without
/// one (an item is visible in its whole block), and a placeholder value, `__lwt::invalid()`.
/// `expand::fallback` expands it beside the errors, so that the names those statements use are
/// resolved: an import they use is not reported unused, and a misspelt name in them is reported.
/// A name bound by the statement in error, or after it, is only visible after it, so nothing
/// kept can refer to what is left out, except an item: `None` when a statement that starts like
/// one has an error, and when nothing would be kept or no statement has an error (the errors
/// came from elsewhere; the fallback is then the placeholder alone).
pub(crate) fn intact_prefix(input: proc_macro2::TokenStream) -> Option<Block> {
    let parser = |stream: ParseStream<'_>| -> Result<Option<Block>> {
        let mut stmts = Vec::new();
        let mut cut = false;
        while !stream.is_empty() {
            let fork = stream.fork();
            let item = fork.call(Attribute::parse_outer).is_ok() && is_item_start(&fork);
            let mut errors = Vec::new();
            match statement(stream, &mut errors) {
                Ok(parsed) if errors.is_empty() => match parsed {
                    Parsed::Stmt(s @ Stmt::Plain(Plain::Item(_))) => stmts.push(s),
                    Parsed::Stmt(s) if !cut => stmts.push(s),
                    // The block's value, or a statement after the cut: left out.
                    _ => {}
                },
                parsed => {
                    if item {
                        return Ok(None);
                    }
                    cut = true;
                    if parsed.is_err() {
                        skip_statement(stream);
                    }
                }
            }
        }
        if !cut || stmts.is_empty() {
            return Ok(None);
        }
        let placeholder: Expr = syn::parse_quote!(__lwt::invalid());
        Ok(Some(Block {
            stmts,
            tail: Some(Box::new(Tail::Expr(placeholder))),
        }))
    };
    parser.parse2(input).ok().flatten()
}

/// What one statement turned out to be.
#[allow(clippy::large_enum_variant)] // short-lived, as `ast`'s enums (see there)
enum Parsed {
    Stmt(Stmt),
    Tail(Tail),
    Nothing,
}

/// Statements until the end of `input`.
fn block_contents(input: ParseStream<'_>, errors: &mut Errors) -> Block {
    let mut stmts = Vec::new();
    let mut tail = None;
    while !input.is_empty() {
        let start = input.cursor();
        match statement(input, errors) {
            Ok(Parsed::Stmt(s)) => stmts.push(s),
            Ok(Parsed::Tail(t)) => tail = Some(Box::new(t)),
            Ok(Parsed::Nothing) => {}
            Err(e) => {
                errors.push(ocaml_habit(e, start, ';'));
                skip_statement(input);
            }
        }
    }
    Block { stmts, tail }
}

/// `e`, a statement's or arm's parse error, or the OCaml habit that caused it, found in the
/// tokens from `start` to the statement's `stop` (see [`crate::ocaml`]).
fn ocaml_habit(e: syn::Error, start: syn::buffer::Cursor<'_>, stop: char) -> syn::Error {
    if !crate::ocaml::is_generic_message(&e) {
        return e;
    }
    crate::ocaml::habit(&crate::ocaml::until(start, stop)).unwrap_or(e)
}

/// A `{ .. }` block of `lwt!` statements.
fn lwt_block(input: ParseStream<'_>, errors: &mut Errors) -> Result<Block> {
    let content;
    braced!(content in input);
    Ok(block_contents(&content, errors))
}

/// Skips the rest of a statement that failed to parse: up to and including the next `;` at this
/// level, or to the end of the block.
fn skip_statement(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ';') {
                break;
            }
        }
        Ok(((), rest))
    });
}

fn peek_ident(input: ParseStream<'_>, name: &str) -> bool {
    input.cursor().ident().is_some_and(|(i, _)| i == name)
}

/// OCaml's `Lwt.return x` / `Lwt.fail e` (the module `Lwt`, then `.`): syn would say "expected
/// identifier" at `return`, a keyword in Rust. Only the names of Lwt's functions that make or
/// reject a promise (`return`, `return_unit`.., `fail`, `fail_with`): `Lwt.go()` is a method
/// call on a value named `Lwt`, which Rust allows.
fn ocaml_lwt_module(input: ParseStream<'_>) -> Result<()> {
    if !(peek_ident(input, "Lwt") && input.peek2(Token![.])) {
        return Ok(());
    }
    let fork = input.fork();
    let lwt = fork.call(Ident::parse_any)?;
    let dot: Token![.] = fork.parse()?;
    let Ok(name) = fork.call(Ident::parse_any) else {
        return Ok(());
    };
    // A call with parentheses or a turbofish is a method of a value named `Lwt` (OCaml's
    // application has neither); `return`, a keyword, cannot be one.
    if name != "return" && (fork.peek(syn::token::Paren) || fork.peek(Token![::])) {
        return Ok(());
    }
    // OCaml applies `fail`, `fail_with` and the `return_*` functions to an argument: without one
    // (`Lwt.fail;`), a field of a value named `Lwt`.
    let applied = fork.peek(Ident) || fork.peek(syn::Lit);
    let message = match name.to_string().as_str() {
        "fail" | "fail_with" | "return_some" | "return_ok" | "return_error" if !applied => {
            return Ok(())
        }
        "return" => "`Lwt.return v` is OCaml's: in Rust, `lwt::ret(v)` (or `do v` as a block's \
            value); `Lwt.fail e` is `lwt::fail(e)`"
            .to_string(),
        "fail" => "`Lwt.fail e` is OCaml's: in Rust, `lwt::fail(e)`; `Lwt.return v` is \
            `lwt::ret(v)`"
            .to_string(),
        "fail_with" => "`Lwt.fail_with msg` is OCaml's: in Rust, `lwt::fail_with(msg)`; \
            `Lwt.return v` is `lwt::ret(v)`"
            .to_string(),
        // Lwt's own `return_*` (a name of another `return_*` is not Lwt's).
        other @ ("return_unit" | "return_none" | "return_nil" | "return_true" | "return_false"
        | "return_some" | "return_ok" | "return_error") => {
            // `Lwt.return_unit` is a value; `Lwt.return_some x`, a function.
            let constant = ["unit", "none", "nil", "true", "false"]
                .iter()
                .any(|c| other == format!("return_{c}"));
            let args = if constant { "()" } else { "(..)" };
            format!(
                "`Lwt.{other}` is OCaml's: in Rust, `lwt::{other}{args}`; `Lwt.return v` is \
                 `lwt::ret(v)`, `Lwt.fail e` is `lwt::fail(e)`"
            )
        }
        _ => return Ok(()),
    };
    Err(syn::Error::new_spanned(
        quote::quote!(#lwt #dot #name),
        message,
    ))
}

/// OCaml's `let open M in` (or `let open M.N in`, `let open! M in`), where a `let`'s pattern
/// should start: a pattern `open` followed by a name, which syn reports as "expected `=`" (or
/// "expected delimiter" after `open!`, read as a macro call).
fn ocaml_let_open(input: ParseStream<'_>) -> Result<()> {
    if !(peek_ident(input, "open") && (input.peek2(Ident) || input.peek2(Token![!]))) {
        return Ok(());
    }
    let fork = input.fork();
    let open = fork.call(Ident::parse_any)?;
    let bang: Option<Token![!]> = fork.parse()?;
    if !fork.peek(Ident::peek_any) {
        return Ok(());
    }
    let mut module = vec![fork.call(Ident::parse_any)?];
    while fork.peek(Token![.]) || fork.peek(Token![::]) {
        if fork.parse::<Option<Token![.]>>()?.is_none() {
            fork.parse::<Token![::]>()?;
        }
        module.push(fork.call(Ident::parse_any)?);
    }
    let in_token = fork.parse::<Option<Token![in]>>()?;
    let names: Vec<String> = module.iter().map(Ident::to_string).collect();
    let form = format!(
        "let open{} {} in",
        if bang.is_some() { "!" } else { "" },
        names.join(".")
    );
    Err(syn::Error::new_spanned(
        quote::quote!(#open #in_token),
        crate::ocaml::open_message(&form, &names, false),
    ))
}

/// OCaml's keyword where a form's body should start (`if c then`, `match e with`, `while c do`):
/// an error that says how Rust writes the form, where syn would say "expected curly braces".
fn ocaml_keyword(input: ParseStream<'_>, keyword: &str, hint: &str) -> Result<()> {
    let found = match keyword {
        "do" => input.peek(Token![do]),
        _ => peek_ident(input, keyword),
    };
    if found {
        Err(input.error(hint))
    } else {
        Ok(())
    }
}

/// A macro call by its name (`println!`), or by its path in the standard library
/// (`std::println!`, `::core::assert!`). Returns its name.
fn peek_macro(input: ParseStream<'_>) -> Option<String> {
    let fork = input.fork();
    let path = fork.call(syn::Path::parse_mod_style).ok()?;
    if !fork.peek(Token![!]) {
        return None;
    }
    check::macro_name(&path)
}

fn is_item_start(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    if fork.parse::<syn::Visibility>().is_err() {
        return false;
    }
    if !matches!(
        input.fork().parse::<syn::Visibility>(),
        Ok(syn::Visibility::Inherited)
    ) {
        return true;
    }
    let la = &fork;
    la.peek(Token![fn])
        || la.peek(Token![struct])
        || la.peek(Token![enum])
        || la.peek(Token![union]) && la.peek2(Ident)
        || la.peek(Token![use])
        || la.peek(Token![static])
        || la.peek(Token![impl])
        || la.peek(Token![trait])
        || la.peek(Token![type])
        || la.peek(Token![mod])
        || la.peek(Token![extern])
        || la.peek(Token![const]) && !la.peek2(syn::token::Brace)
        || la.peek(Token![unsafe])
            && (la.peek2(Token![fn])
                || la.peek2(Token![impl])
                || la.peek2(Token![trait])
                || la.peek2(Token![extern]))
        || la.peek(Token![async]) && la.peek2(Token![fn])
        || peek_ident(la, "macro_rules") && la.peek2(Token![!])
}

/// `%lwt` right after a keyword: lwt_ppx's syntax, which `lwt!` does not need.
fn ppx_suffix(input: ParseStream<'_>, keyword: &str, errors: &mut Errors) {
    if input.peek(Token![%]) {
        let percent: Token![%] = input.parse().expect("peeked");
        let _ = input.call(Ident::parse_any);
        errors.push(syn::Error::new(
            percent.span,
            format!(
                "`{keyword}%lwt` is lwt_ppx's syntax; inside `lwt!` every `{keyword}` already \
                 works on promises: write `{keyword}` without `%lwt`"
            ),
        ));
    }
}

fn statement(input: ParseStream<'_>, errors: &mut Errors) -> Result<Parsed> {
    let attrs = input.call(Attribute::parse_outer)?;
    if input.peek(Token![;]) && attrs.is_empty() {
        input.parse::<Token![;]>()?;
        return Ok(Parsed::Nothing);
    }
    if is_item_start(input) {
        let mut item: Item = input.parse()?;
        if !attrs.is_empty() {
            if let Some(item_attrs) = item_attrs(&mut item) {
                let mut all = attrs;
                all.append(item_attrs);
                *item_attrs = all;
            }
        }
        return Ok(Parsed::Stmt(Stmt::Plain(Plain::Item(item))));
    }
    let mut fail_fast = None;
    for attr in &attrs {
        if attr.path().is_ident("fail_fast") && matches!(attr.meta, syn::Meta::Path(_)) {
            fail_fast = Some(attr.clone());
        } else if is_doc_comment(attr) {
            errors.push(doc_comment_error(attr));
        } else {
            errors.push(syn::Error::new_spanned(
                attr,
                "the only attribute `lwt!` accepts on a statement is `#[fail_fast]`, on a `let` \
                 with `and`; other attributes apply to plain Rust, and go after the `do`: \
                 `do #[allow(unused_mut)] let mut x = value;`",
            ));
        }
    }
    if input.peek(Token![let]) {
        return bind(input, fail_fast, errors).map(|b| Parsed::Stmt(Stmt::Bind(b)));
    }
    if let Some(attr) = fail_fast {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[fail_fast]` applies to a `let` with parallel bindings: \
             `#[fail_fast] let a = p and b = q;`",
        ));
    }
    if input.peek(Token![do]) {
        return plain(input, errors);
    }
    if input.peek(Token![await]) {
        let kw: Token![await] = input.parse()?;
        return Err(syn::Error::new(
            kw.span,
            "`await` is not a prefix keyword, and `lwt!` needs none: `let x = promise;` waits \
             for the promise, `promise;` waits for a `Promise<()>`",
        ));
    }
    if input.peek(syn::Lifetime) {
        let label: syn::Label = input.parse()?;
        let message = if input.peek(syn::token::Brace) {
            BLOCK_LABEL
        } else {
            LABEL
        };
        errors.push(syn::Error::new_spanned(label, message));
    }
    if input.peek(Token![break]) || input.peek(Token![continue]) {
        let jump = jump(input, false)?;
        // As any statement, `;` unless it ends the block (`break` alone is then its last
        // statement, as `break` without `;` is in Rust).
        if !input.is_empty() {
            input.parse::<Token![;]>()?;
        }
        return Ok(Parsed::Stmt(Stmt::Jump(jump)));
    }
    if let Some(form) = form(input, errors)? {
        return Ok(after_form(input, form));
    }
    ocaml_lwt_module(input)?;
    if let Some(name) = peek_macro(input) {
        match name.as_str() {
            "assert" | "assert_eq" | "assert_ne" => {
                return assertion(input, errors).map(|a| Parsed::Stmt(Stmt::Assert(a)))
            }
            diverging
                if check::DIVERGING_MACROS.contains(&diverging) && ends_block_with_semi(input) =>
            {
                // `panic!(..);` as the last statement: as in Rust, where a block ending in a
                // diverging statement can have any type, it is the block's value.
                let (expr, _) = expr_and_semi(input)?;
                check::expr(&expr, errors);
                return Ok(Parsed::Tail(Tail::Expr(expr)));
            }
            plain if PLAIN_MACROS.contains(&plain) && !is_tail_macro(input) => {
                let span = input.span();
                let parsed = expr_statement(input, errors)?;
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "`{plain}!` is a plain statement, not a promise: inside `lwt!` write \
                         `do {plain}!(..);`"
                    ),
                ));
                return Ok(parsed);
            }
            _ => {}
        }
    }
    expr_statement(input, errors)
}

const LABEL: &str = "loop labels are not supported in `lwt!`: `break` and `continue` leave or \
    go on with the innermost loop of the block; to leave an outer loop, set a flag (a \
    `Cell<bool>`) that its condition reads, and `break` the inner one";

const BLOCK_LABEL: &str = "block labels (`'a: { .. break 'a; }`) are not supported in `lwt!`: \
    end the block early with `let .. else`, or with an `if` whose branches are the two outcomes";

/// `break` or `continue` (its `;` or `,` is the caller's): no label, and no value, since a loop of
/// `lwt!` is a `Promise<()>`. In an arm (`in_arm`), what starts the next arm is left for the
/// caller, which reports the missing `,`.
fn jump(input: ParseStream<'_>, in_arm: bool) -> Result<Jump> {
    let (span, kind) = if input.peek(Token![break]) {
        (input.parse::<Token![break]>()?.span, JumpKind::Break)
    } else {
        (input.parse::<Token![continue]>()?.span, JumpKind::Continue)
    };
    if input.peek(syn::Lifetime) {
        let label: syn::Lifetime = input.parse()?;
        return Err(syn::Error::new_spanned(label, LABEL));
    }
    let ends = input.is_empty() || input.peek(Token![;]) || input.peek(Token![,]);
    if ends || (in_arm && starts_arm(input)) {
        return Ok(Jump { span, kind });
    }
    // Whatever else follows is read as the value the user meant it to carry, when it is an
    // expression; otherwise (`break do x;`) the caller's "expected `;`" says what is missing.
    let fork = input.fork();
    if fork.parse::<Expr>().is_err() {
        return Ok(Jump { span, kind });
    }
    let value: Expr = input.parse()?;
    let message = match kind {
        JumpKind::Break => {
            "`break` with a value is not supported in `lwt!`: a loop of `lwt!` is a \
             `Promise<()>`; keep the result in a cell (`Rc<Cell<_>>`) the loop sets before it \
             breaks, and read it after the loop"
        }
        JumpKind::Continue => "expected `;` after `continue`, which takes no value",
    };
    Err(syn::Error::new_spanned(value, message))
}

/// Does a `match` arm start here (a pattern, then `=>` or a guard)? After an arm's body, that
/// means its `,` is missing.
fn starts_arm(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.call(Pat::parse_multi_with_leading_vert).is_ok()
        && (fork.peek(Token![=>]) || fork.peek(Token![if]))
}

/// `/// text` (or `//! text`, `#[doc = ..]`): an attribute, for the parser.
fn is_doc_comment(attr: &Attribute) -> bool {
    attr.path().is_ident("doc")
}

/// A doc comment before a statement: it documents nothing (rustc warns about one on a statement
/// of plain Rust); the attribute message would puzzle whoever wrote no attribute.
fn doc_comment_error(attr: &Attribute) -> syn::Error {
    syn::Error::new_spanned(
        attr,
        "a doc comment (`///`) documents an item, and `lwt!` takes none on a statement or an \
         arm: write a plain comment (`//`)",
    )
}

/// An attribute before a rejection arm (`exception` in a `match`, or in `catch`): a rejection arm
/// is a type test, not a `match` arm of its own, so it takes none.
fn rejection_arm_attr_error(attr: &Attribute, arms: &str) -> syn::Error {
    if is_doc_comment(attr) {
        return doc_comment_error(attr);
    }
    syn::Error::new_spanned(
        attr,
        format!(
            "attributes on {arms} are not supported (a value arm of a `match` may have them, \
             `#[cfg(..)]` say)"
        ),
    )
}

/// A macro call, then `;`, then the end of the block.
fn ends_block_with_semi(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.parse::<syn::Macro>().is_ok() && fork.parse::<Token![;]>().is_ok() && fork.is_empty()
}

/// A macro call that ends the block, with no `;`: a tail (`unreachable!()` as a value is fine).
fn is_tail_macro(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.parse::<syn::Macro>().is_ok() && fork.is_empty()
}

/// The attributes of a plain `let` or item statement.
fn stmt_attrs(stmt: &mut syn::Stmt) -> Option<&mut Vec<Attribute>> {
    match stmt {
        syn::Stmt::Local(local) => Some(&mut local.attrs),
        syn::Stmt::Item(item) => item_attrs(item),
        syn::Stmt::Macro(mac) => Some(&mut mac.attrs),
        syn::Stmt::Expr(..) => None,
    }
}

fn item_attrs(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    Some(match item {
        Item::Const(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::ExternCrate(i) => &mut i.attrs,
        Item::Fn(i) => &mut i.attrs,
        Item::ForeignMod(i) => &mut i.attrs,
        Item::Impl(i) => &mut i.attrs,
        Item::Macro(i) => &mut i.attrs,
        Item::Mod(i) => &mut i.attrs,
        Item::Static(i) => &mut i.attrs,
        Item::Struct(i) => &mut i.attrs,
        Item::Trait(i) => &mut i.attrs,
        Item::TraitAlias(i) => &mut i.attrs,
        Item::Type(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}

/// After a control form: `;` makes it a statement, the end of the block makes it the value.
fn after_form(input: ParseStream<'_>, form: Form) -> Parsed {
    if input.peek(Token![;]) {
        let _ = input.parse::<Token![;]>();
        Parsed::Stmt(Stmt::Form(Box::new(form)))
    } else if input.is_empty() {
        Parsed::Tail(Tail::Form(Box::new(form)))
    } else {
        Parsed::Stmt(Stmt::Form(Box::new(form)))
    }
}

/// An expression in statement position, and whether a `;` follows it (consumed).
fn expr_and_semi(input: ParseStream<'_>) -> Result<(Expr, bool)> {
    let expr = Expr::parse_with_earlier_boundary_rule(input)?;
    let semi: Option<Token![;]> = input.parse()?;
    Ok((expr, semi.is_some()))
}

/// An expression statement (`e;`, sequencing a `Promise<()>`) or the block's value (`e`).
fn expr_statement(input: ParseStream<'_>, errors: &mut Errors) -> Result<Parsed> {
    let (expr, semi) = expr_and_semi(input)?;
    check::expr(&expr, errors);
    check::ocaml_bind(&expr, errors);
    if semi {
        Ok(Parsed::Stmt(Stmt::Seq(expr)))
    } else if input.is_empty() {
        Ok(Parsed::Tail(Tail::Expr(expr)))
    } else if is_block_like(&expr) {
        Ok(Parsed::Stmt(Stmt::Seq(expr)))
    } else if let Some(parsed) = ocaml_begin(&expr, input, errors) {
        Ok(parsed)
    } else if let Some(e) = ocaml_statement(&expr, input) {
        Err(e)
    } else {
        Err(syn::Error::new(
            end_span(&expr),
            "expected `;` after this statement of `lwt!` (only the block's last expression, its \
             value, goes without `;`)",
        ))
    }
}

/// OCaml's `begin .. end` (`expr` is the `begin`, where a `;` was expected after it), when an
/// `end` follows at this level: reported, and skipped up to the `end` and its `;`.
fn ocaml_begin(expr: &Expr, input: ParseStream<'_>, errors: &mut Errors) -> Option<Parsed> {
    let Expr::Path(p) = expr else {
        return None;
    };
    if !(p.qself.is_none() && p.path.is_ident("begin")) {
        return None;
    }
    let fork = input.fork();
    let found = fork
        .step(|cursor| {
            // OCaml's blocks nest: the `end` of this `begin` is the one that closes as many
            // as were opened after it. If they never balance (a variable named `begin` or
            // `end`, say), the first `end` will do: this is only where reading resumes.
            let (mut rest, mut open, mut first_end) = (*cursor, 1_usize, None);
            while let Some((tt, next)) = rest.token_tree() {
                rest = next;
                match &tt {
                    TokenTree::Ident(i) if i == "begin" => open += 1,
                    TokenTree::Ident(i) if i == "end" => {
                        first_end.get_or_insert(rest);
                        open -= 1;
                        if open == 0 {
                            return Ok((true, rest));
                        }
                    }
                    _ => {}
                }
            }
            Ok(match first_end {
                Some(after) => (true, after),
                None => (false, rest),
            })
        })
        .ok()?;
    if !found {
        return None;
    }
    input.advance_to(&fork);
    if input.peek(Token![;]) {
        let _ = input.parse::<Token![;]>();
    }
    errors.push(syn::Error::new_spanned(
        p,
        "`begin .. end` is OCaml's: in Rust, a nested block is `{ .. }`",
    ));
    Some(Parsed::Nothing)
}

/// OCaml that Rust reads as an expression followed by something else, where the generic
/// "expected `;`" would point at a `;` nobody left out: `r := v`, `f x`.
fn ocaml_statement(expr: &Expr, input: ParseStream<'_>) -> Option<syn::Error> {
    if input.peek(Token![:]) && input.peek2(Token![=]) {
        let fork = input.fork();
        let colon: Token![:] = fork.parse().ok()?;
        let eq: Token![=] = fork.parse().ok()?;
        return Some(syn::Error::new_spanned(
            quote::quote!(#colon #eq),
            crate::ocaml::REF_ASSIGNMENT,
        ));
    }
    let Expr::Path(f) = expr else {
        return None;
    };
    // `ret x`: a name, then what can only be its argument (a name or a literal), then the end
    // of the statement or of the block. (A name then a call, `p` then `log(x);`, is a name
    // whose `;` is missing.)
    let fork = input.fork();
    let arg: proc_macro2::TokenStream = if fork.peek(syn::Lit) {
        fork.parse::<syn::Lit>().ok()?.into_token_stream()
    } else if fork.peek(Ident) {
        fork.parse::<Ident>().ok()?.into_token_stream()
    } else {
        return None;
    };
    if !(fork.is_empty() || fork.peek(Token![;]) || peek_ident(&fork, "in")) {
        return None;
    }
    let name = path_text(&f.path);
    let message = crate::ocaml::known_function(&[], &name)
        .unwrap_or_else(|| crate::ocaml::application_message(&name, &arg.to_string()));
    Some(syn::Error::new_spanned(quote::quote!(#f #arg), message))
}

/// Where `e` ends: its last token, where a missing `;` goes. (`e.span()` is its first token on
/// stable Rust; the next token, the other obvious choice, is the statement that is right.)
fn end_span(e: &Expr) -> Span {
    e.to_token_stream()
        .into_iter()
        .last()
        .map_or_else(|| e.span(), |t| t.span())
}

/// The error for a `do let` (at the head of `input`) that lacks its `;`, if it does: syn's own
/// says only "expected `;`", at the next statement, or over the whole `lwt!` call when the
/// `let` ends the input. Looked at on a fork, by the `let`'s grammar: pattern, type, `=`,
/// value, `else` block.
fn do_let_without_semicolon(input: ParseStream<'_>) -> Option<syn::Error> {
    let fork = input.fork();
    let let_token: Token![let] = fork.parse().ok()?;
    Pat::parse_multi_with_leading_vert(&fork).ok()?;
    if fork.peek(Token![:]) {
        fork.parse::<Token![:]>().ok()?;
        fork.parse::<Type>().ok()?;
    }
    fork.parse::<Token![=]>().ok()?;
    let init: Expr = fork.parse().ok()?;
    let mut end = end_span(&init);
    if fork.peek(Token![else]) {
        fork.parse::<Token![else]>().ok()?;
        let els: syn::Block = fork.parse().ok()?;
        end = els.brace_token.span.close();
    }
    if fork.is_empty() {
        Some(syn::Error::new(
            let_token.span,
            "a `do let` cannot end an `lwt!` block: end it with `;` and give the block's value \
             after it (`do let y = x + 1; do y`)",
        ))
    } else if fork.peek(Token![;]) {
        None
    } else {
        Some(syn::Error::new(
            end,
            "expected `;` after this `do let` (only the block's last `do` goes without `;`: its \
             value is the block's value)",
        ))
    }
}

/// Does `e` end a statement without `;`, as in Rust? (A macro called with braces, `m! { .. }`,
/// does too.)
fn is_block_like(e: &Expr) -> bool {
    if let Expr::Macro(m) = e {
        return matches!(m.mac.delimiter, syn::MacroDelimiter::Brace(_));
    }
    matches!(
        e,
        Expr::Block(_)
            | Expr::Unsafe(_)
            | Expr::Const(_)
            | Expr::If(_)
            | Expr::Match(_)
            | Expr::Loop(_)
            | Expr::While(_)
            | Expr::ForLoop(_)
            | Expr::TryBlock(_)
    )
}

/// `do <rust statement>` or `do <value>` at the end.
fn plain(input: ParseStream<'_>, errors: &mut Errors) -> Result<Parsed> {
    let do_token: Token![do] = input.parse()?;
    if input.is_empty() || input.peek(Token![;]) {
        return Err(syn::Error::new(
            do_token.span,
            "expected a plain Rust statement after `do`: `do let x = value;`, `do expr;` or \
             `do { .. }`",
        ));
    }
    // Attributes come before the `let` they apply to (`do #[allow(unused_mut)] let mut x = ..;`).
    let attrs = input.call(Attribute::parse_outer)?;
    if input.peek(Token![let]) {
        if let Some(e) = do_let_without_semicolon(input) {
            return Err(e);
        }
    }
    if input.peek(Token![let]) || is_item_start(input) {
        let mut stmt: syn::Stmt = input.parse()?;
        if let Some(stmt_attrs) = stmt_attrs(&mut stmt) {
            let mut all = attrs;
            all.append(stmt_attrs);
            *stmt_attrs = all;
        }
        check::stmt(&stmt, errors);
        return Ok(Parsed::Stmt(Stmt::Plain(Plain::Stmt(stmt))));
    }
    if let Some(attr) = attrs.first() {
        errors.push(syn::Error::new_spanned(
            attr,
            "attributes after `do` apply to a `let` or an item (`do #[allow(unused_mut)] let mut \
             x = value;`); for an expression, put the statement in a plain block: \
             `do { #[attr] expr; }`",
        ));
    }
    let (expr, semi) = expr_and_semi(input)?;
    check::plain_expr(&expr, errors);
    if input.is_empty() && check::is_diverging_macro(&expr) {
        // `do panic!(..)` last, with or without `;`: the block's value, as `panic!(..);` (see
        // `statement`), not `ret(panic!(..))`, which would warn of an unreachable call.
        return Ok(Parsed::Tail(Tail::Expr(expr)));
    }
    if semi {
        let stmt = syn::Stmt::Expr(expr, Some(Default::default()));
        Ok(Parsed::Stmt(Stmt::Plain(Plain::Stmt(stmt))))
    } else if input.is_empty() {
        Ok(Parsed::Tail(Tail::Plain(expr)))
    } else if is_block_like(&expr) {
        Ok(Parsed::Stmt(Stmt::Plain(Plain::Stmt(syn::Stmt::Expr(
            expr, None,
        )))))
    } else {
        Err(syn::Error::new(
            end_span(&expr),
            "expected `;` after this plain statement (only the block's last `do` goes without \
             `;`: its value is the block's value)",
        ))
    }
}

/// Where the tokens parsed since `from` end (their last token; a group's closing delimiter):
/// where a missing `;` after them goes, rather than at the next token, which starts the statement
/// that is right.
fn end_since(from: syn::buffer::Cursor<'_>, input: ParseStream<'_>) -> Span {
    let (end, mut cursor, mut last) = (input.cursor(), from, input.span());
    while cursor != end {
        let Some((tree, next)) = cursor.token_tree() else {
            break;
        };
        last = match tree {
            proc_macro2::TokenTree::Group(g) => g.span_close(),
            other => other.span(),
        };
        cursor = next;
    }
    last
}

/// `let p [: T] = e [and q = f ...] [else { .. }];`
fn bind(input: ParseStream<'_>, fail_fast: Option<Attribute>, errors: &mut Errors) -> Result<Bind> {
    let start = input.cursor();
    let let_token: Token![let] = input.parse()?;
    ppx_suffix(input, "let", errors);
    if peek_ident(input, "rec") && !input.peek2(Token![=]) && !input.peek2(Token![:]) {
        let rec = input.call(Ident::parse_any)?;
        errors.push(syn::Error::new(
            rec.span(),
            "`let rec` is OCaml: Rust has no recursive `let`; for a recursive promise loop, write \
             a `fn` that returns a promise and calls itself, or use `for`/`while`/`loop` in `lwt!`",
        ));
    }
    // Right after `let` only: `let x = p and open m in` is not OCaml's `let open`.
    ocaml_let_open(input)?;
    let mut bindings = Vec::new();
    let mut span = let_token.span;
    loop {
        bindings.push(binding(input, span, errors)?);
        if input.peek(Token![,]) {
            let comma: Token![,] = input.parse()?;
            errors.push(syn::Error::new(
                comma.span,
                "separate parallel bindings with `and`, as lwt_ppx does: `let a = p and b = q;`",
            ));
            span = comma.span;
            continue;
        }
        if peek_ident(input, "and") {
            span = input.call(Ident::parse_any)?.span();
            continue;
        }
        break;
    }
    let else_block = if input.peek(Token![else]) {
        let else_token: Token![else] = input.parse()?;
        if bindings.len() > 1 {
            errors.push(syn::Error::new(
                else_token.span,
                "`else` applies to a single refutable binding; give each refutable pattern its \
                 own `let .. else { .. };`",
            ));
        }
        Some((else_token.span, lwt_block(input, errors)?))
    } else {
        None
    };
    if input.is_empty() {
        return Err(syn::Error::new(
            let_token.span,
            "a `let` cannot end an `lwt!` block: the block's value comes after it (add the \
             value, e.g. `lwt::ret(x)`, or end the `let` with `;` for a block of `()`)",
        ));
    }
    if input.peek(Token![in]) {
        return Err(input.error(
            "`let .. in` is OCaml's: in `lwt!`, end the `let` with `;` (`let x = promise; rest`)",
        ));
    }
    if !input.peek(Token![;]) {
        // syn's own error says only "expected `;`", at the next statement (rev92).
        return Err(syn::Error::new(
            end_since(start, input),
            "expected `;` after this `let` of `lwt!` (the statements after it, up to the block's \
             value, run once its promise is fulfilled)",
        ));
    }
    input.parse::<Token![;]>()?;
    match (bindings.as_slice(), &else_block) {
        ([single], None) if clearly_refutable(&single.pat) => {
            errors.push(syn::Error::new_spanned(
                &single.pat,
                "this pattern can fail to match, so the `let` needs an `else` block, whose value \
                 (a promise) the block takes when the value does not match, as in Rust's \
                 let-else: `let Some(x) = promise else { lwt::fail_with(\"none\") };`",
            ));
        }
        ([_], _) => {}
        // An `else` with several bindings is reported above.
        (several, None) => {
            for b in several.iter().filter(|b| clearly_refutable(&b.pat)) {
                errors.push(syn::Error::new_spanned(
                    &b.pat,
                    "this pattern can fail to match, and a parallel binding (`let .. and ..`) \
                     has no `else`: bind the value to a name here and match the name in a \
                     `let .. else` of its own after it: \
                     `let v = p and y = q; let Some(x) = lwt::ret(v) else { .. };`",
                ));
            }
        }
        (_, Some(_)) => {}
    }
    if let (Some(attr), 1) = (&fail_fast, bindings.len()) {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[fail_fast]` applies to parallel bindings (`let a = p and b = q;`); a single \
             `let` waits for its one promise either way",
        ));
    }
    Ok(Bind {
        span: let_token.span,
        fail_fast: fail_fast.is_some() && bindings.len() > 1,
        bindings,
        else_block,
    })
}

fn binding(input: ParseStream<'_>, span: Span, errors: &mut Errors) -> Result<Binding> {
    let pat = Pat::parse_single(input)?;
    if input.peek(Token![|]) && !input.peek(Token![||]) {
        return Err(syn::Error::new(
            input.span(),
            "a `let` takes an or-pattern only in parentheses, as in Rust: \
             `let (Ok(x) | Err(x)) = promise;`",
        ));
    }
    let ty = if input.peek(Token![:]) {
        input.parse::<Token![:]>()?;
        let ty: Type = input.parse()?;
        if is_promise_type(&ty) {
            errors.push(syn::Error::new_spanned(
                &ty,
                "the type after `let x:` is the type of the value the promise is fulfilled with: \
                 `let x: T = promise;` binds the `T` of a `Promise<T>` (for the promise itself, \
                 write `do let x: Promise<T> = promise;`)",
            ));
        }
        Some(ty)
    } else {
        None
    };
    if input.peek(Token![<]) && input.peek2(Token![-]) {
        let arrow: proc_macro2::TokenStream = {
            let lt: Token![<] = input.parse()?;
            let minus: Token![-] = input.parse()?;
            quote::quote!(#lt #minus)
        };
        return Err(syn::Error::new_spanned(
            arrow,
            "`<-` is not `lwt!` syntax: `let x = promise;` binds the value of a promise",
        ));
    }
    if input.peek(Token![;]) || input.is_empty() {
        return Err(syn::Error::new_spanned(
            &pat,
            "a `let` in `lwt!` binds a promise, so it needs one: `let x = promise;` \
             (for a variable assigned later, write `do let x;`)",
        ));
    }
    input.parse::<Token![=]>()?;
    let start = input.cursor();
    let init = match form(input, errors)? {
        Some(form) => {
            if !(input.is_empty()
                || input.peek(Token![;])
                || input.peek(Token![else])
                || input.peek(Token![,])
                || peek_ident(input, "and"))
            {
                return Err(syn::Error::new(
                    end_since(start, input),
                    "expected `;` after the form: in `lwt!`, a `let` initializer that starts \
                     with `if`, `match`, `try`, a loop or `{` is that form, as a promise; to \
                     use its value, bind it and work on the variable",
                ));
            }
            Init::Form(Box::new(form))
        }
        None => {
            ocaml_lwt_module(input)?;
            let expr: Expr = input.parse()?;
            check::expr(&expr, errors);
            check::ocaml_bind(&expr, errors);
            Init::Expr(expr)
        }
    };
    Ok(Binding {
        span,
        pat,
        ty,
        init,
    })
}

/// Is `ident` the name of one of Rust's primitive types (`u32`, `str`, `bool`...)?
fn is_primitive_type(ident: &Ident) -> bool {
    const PRIMITIVES: [&str; 17] = [
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    PRIMITIVES.iter().any(|p| ident == p)
}

/// Is `pat` refutable for sure, by its syntax alone? (`Some(x)`, literals, ranges, `1 | 2`.)
/// Other refutable patterns are left to the compiler, which knows the types: the variant of an
/// enum with one variant is irrefutable, and so is `Ok(x)` of a `Result<T, Infallible>` (Rust
/// accepts `let Ok(x) = r;` there).
fn clearly_refutable(pat: &Pat) -> bool {
    /// `Some`, as `Some` or as `Option::Some`. (`None` is too, unless `T` is uninhabited, which
    /// nobody waits for.)
    fn variant_path(path: &syn::Path) -> bool {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let is_variant = |name: &str| matches!(name, "Some" | "None");
        match segments.as_slice() {
            [one] => is_variant(one),
            [.., parent, last] => parent == "Option" && is_variant(last),
            [] => false,
        }
    }
    match pat {
        Pat::Lit(_) | Pat::Range(_) => true,
        // `Ok(x) | Err(x)` or `true | false` covers everything: an or-pattern is refutable for
        // sure only when each case is, and the cases do not name all of a type's variants.
        Pat::Or(p) => p.cases.iter().all(clearly_refutable) && !covers_a_type(&p.cases),
        Pat::TupleStruct(p) => variant_path(&p.path) || p.elems.iter().any(clearly_refutable),
        Pat::Struct(p) => {
            variant_path(&p.path) || p.fields.iter().any(|f| clearly_refutable(&f.pat))
        }
        Pat::Path(p) => variant_path(&p.path),
        Pat::Ident(p) => p
            .subpat
            .as_ref()
            .is_some_and(|(_, sub)| clearly_refutable(sub)),
        Pat::Tuple(p) => p.elems.iter().any(clearly_refutable),
        Pat::Paren(p) => clearly_refutable(&p.pat),
        Pat::Reference(p) => clearly_refutable(&p.pat),
        Pat::Type(p) => clearly_refutable(&p.pat),
        _ => false,
    }
}

/// Do these or-pattern cases name both variants of `Option` or `Result`, or both `bool`s? The
/// cases' inner patterns are not looked at: `Some(1) | None` is refutable, but telling so is
/// left to the compiler.
fn covers_a_type(cases: &Punctuated<Pat, Token![|]>) -> bool {
    let mut names = Vec::new();
    for case in cases {
        let path = match case {
            Pat::TupleStruct(p) => &p.path,
            Pat::Struct(p) => &p.path,
            Pat::Path(p) => &p.path,
            Pat::Lit(syn::PatLit {
                lit: syn::Lit::Bool(b),
                ..
            }) => {
                names.push(b.value.to_string());
                continue;
            }
            _ => continue,
        };
        if let Some(last) = path.segments.last() {
            names.push(last.ident.to_string());
        }
    }
    let has = |name: &str| names.iter().any(|n| n == name);
    has("Some") && has("None") || has("Ok") && has("Err") || has("true") && has("false")
}

fn is_promise_type(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Promise"),
        _ => false,
    }
}

/// `assert!(cond, ..)`, `assert_eq!(a, b, ..)`, `assert_ne!(a, b, ..)`.
fn assertion(input: ParseStream<'_>, errors: &mut Errors) -> Result<Assert> {
    let mac: syn::Macro = input.parse()?;
    let name = check::macro_name(&mac.path).unwrap_or_default();
    let (kind, needed) = match name.as_str() {
        "assert" => (AssertKind::True, 1),
        "assert_eq" => (AssertKind::Eq, 2),
        _ => (AssertKind::Ne, 2),
    };
    let args = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)?;
    let mut args: Vec<Expr> = args.into_iter().collect();
    for a in &args {
        check::expr(a, errors);
    }
    if args.len() < needed {
        return Err(syn::Error::new(
            mac.span(),
            format!(
                "`{name}!` needs {}",
                if needed == 1 {
                    "a condition"
                } else {
                    "two values to compare"
                }
            ),
        ));
    }
    let message = args.split_off(needed);
    if !input.is_empty() {
        input.parse::<Token![;]>()?;
    }
    Ok(Assert {
        span: mac.path.span(),
        kind,
        operands: args,
        message,
    })
}

/// A control form, if one starts here.
fn form(input: ParseStream<'_>, errors: &mut Errors) -> Result<Option<Form>> {
    let form = if input.peek(Token![if]) {
        Form::If(if_form(input, errors)?)
    } else if input.peek(Token![match]) {
        Form::Match(match_form(input, errors)?)
    } else if input.peek(Token![try]) {
        Form::Try(try_form(input, errors)?)
    } else if input.peek(Token![for]) {
        let for_token: Token![for] = input.parse()?;
        ppx_suffix(input, "for", errors);
        let pat = Pat::parse_multi_with_leading_vert(input)?;
        if input.peek(Token![=]) {
            // lwt_ppx's `for%lwt i = a to b do .. done`, which the pattern parser stops before.
            return Err(input.error(
                "`for i = a to b` is OCaml's loop header: write `for i in a..=b { .. }` \
                 (`a downto b`: `for i in (b..=a).rev() { .. }`)",
            ));
        }
        input.parse::<Token![in]>()?;
        let expr = Expr::parse_without_eager_brace(input)?;
        check::expr(&expr, errors);
        ocaml_keyword(
            input,
            "do",
            "`for .. do .. done` is OCaml's: write `for x in e { .. }`",
        )?;
        let body = lwt_block(input, errors)?;
        Form::For(For {
            span: for_token.span,
            pat,
            expr,
            body,
        })
    } else if input.peek(Token![while]) {
        let while_token: Token![while] = input.parse()?;
        ppx_suffix(input, "while", errors);
        if input.peek(Token![let]) {
            input.parse::<Token![let]>()?;
            let pat = Pat::parse_multi_with_leading_vert(input)?;
            input.parse::<Token![=]>()?;
            let expr = Expr::parse_without_eager_brace(input)?;
            check::expr(&expr, errors);
            let (expr, chain) = split_let_chain(expr);
            let body = lwt_block(input, errors)?;
            Form::WhileLet(WhileLet {
                span: while_token.span,
                pat,
                expr,
                chain,
                body,
            })
        } else {
            let cond = Expr::parse_without_eager_brace(input)?;
            check::expr(&cond, errors);
            check::ocaml_equality(&cond, errors);
            ocaml_keyword(
                input,
                "do",
                "`while c do .. done` is OCaml's: write `while c { .. }`",
            )?;
            let body = lwt_block(input, errors)?;
            Form::While(While {
                span: while_token.span,
                cond,
                body,
            })
        }
    } else if input.peek(Token![loop]) {
        let loop_token: Token![loop] = input.parse()?;
        let body = lwt_block(input, errors)?;
        Form::Loop(Loop {
            span: loop_token.span,
            body,
        })
    } else if input.peek(syn::token::Brace) {
        let content;
        let brace = braced!(content in input);
        Form::Block(Nested {
            span: brace.span.open(),
            block: block_contents(&content, errors),
        })
    } else {
        return Ok(None);
    };
    Ok(Some(form))
}

fn if_form(input: ParseStream<'_>, errors: &mut Errors) -> Result<If> {
    let if_token: Token![if] = input.parse()?;
    ppx_suffix(input, "if", errors);
    let cond = if input.peek(Token![let]) {
        input.parse::<Token![let]>()?;
        let pat = Pat::parse_multi_with_leading_vert(input)?;
        input.parse::<Token![=]>()?;
        let expr = Expr::parse_without_eager_brace(input)?;
        check::expr(&expr, errors);
        let (expr, chain) = split_let_chain(expr);
        IfCond::Let(Box::new(pat), expr, chain)
    } else {
        let cond = Expr::parse_without_eager_brace(input)?;
        check::expr(&cond, errors);
        check::ocaml_equality(&cond, errors);
        IfCond::Expr(cond)
    };
    ocaml_keyword(
        input,
        "then",
        "`if c then a else b` is OCaml's: write `if c { a } else { b }`",
    )?;
    let then = lwt_block(input, errors)?;
    let els = if input.peek(Token![else]) {
        input.parse::<Token![else]>()?;
        if input.peek(Token![if]) {
            Some(Else::If(Box::new(if_form(input, errors)?)))
        } else {
            Some(Else::Block(lwt_block(input, errors)?))
        }
    } else {
        None
    };
    Ok(If {
        span: if_token.span,
        cond,
        then,
        els,
    })
}

/// Splits `promise && rest` (as the scrutinee of `if let` it parses as one `&&` expression) into
/// the promise and the rest of the let chain: in Rust, `if let P = a && b` is the chain
/// `(let P = a) && b`, and so it is in `lwt!`, with only `a` waited on.
fn split_let_chain(expr: Expr) -> (Expr, Option<(Token![&&], Expr)>) {
    let Expr::Binary(binary) = expr else {
        return (expr, None);
    };
    let syn::BinOp::And(and) = binary.op else {
        return (Expr::Binary(binary), None);
    };
    // `a && b && c` is `(a && b) && c`: the scrutinee is the leftmost operand.
    let (first, rest) = split_let_chain(*binary.left);
    let rest = match rest {
        None => (and, *binary.right),
        Some((first_and, middle)) => {
            let joined = syn::ExprBinary {
                attrs: binary.attrs,
                left: Box::new(middle),
                op: binary.op,
                right: binary.right,
            };
            (first_and, Expr::Binary(joined))
        }
    };
    (first, Some(rest))
}

fn match_form(input: ParseStream<'_>, errors: &mut Errors) -> Result<Match> {
    let match_token: Token![match] = input.parse()?;
    ppx_suffix(input, "match", errors);
    let expr = Expr::parse_without_eager_brace(input)?;
    if let Expr::TryBlock(t) = &expr {
        // Rust's unstable `try` block, to syn: meant as `lwt!`'s `try`, which a scrutinee (plain
        // Rust) cannot be; without this, the `finally` or `catch` after it reads as a missing
        // `{` of the arms.
        return Err(syn::Error::new(
            t.try_token.span,
            "a `try` form cannot be the promise of a `match` (its scrutinee is a Rust \
             expression): wrap it in a nested block, `match lwt! { try { .. } finally { .. } } \
             { .. }`, whose rejections the `exception` arms then see (lwt_ppx's `match%lwt (e) \
             [%finally f] with`)",
        ));
    }
    check::expr(&expr, errors);
    ocaml_keyword(
        input,
        "with",
        "`match e with p -> ..` is OCaml's: write `match e { p => .., }` (a rejection's arm: \
         `exception E => ..`)",
    )?;
    let content;
    let brace = braced!(content in input);
    let mut arms = Vec::new();
    // An arm that failed to parse may have been a value arm: then "needs at least one arm for the
    // promise's value" would be untrue.
    let mut arm_failed = false;
    if let Some(e) = ocaml_match_layout(&content) {
        // OCaml's `| P -> e` cases, without `,`: one error, and the arms are not read.
        errors.push(e);
        arm_failed = true;
        let _ = content.step(|cursor| {
            let mut rest = *cursor;
            while let Some((_, next)) = rest.token_tree() {
                rest = next;
            }
            Ok(((), rest))
        });
    }
    while !content.is_empty() {
        let start = content.cursor();
        match arm(&content, errors) {
            Ok(a) => arms.push(a),
            Err(e) => {
                errors.push(ocaml_habit(e, start, ','));
                arm_failed = true;
                skip_arm(&content);
            }
        }
    }
    if !arm_failed && !arms.iter().any(|a| matches!(a, Arm::Value { .. })) {
        errors.push(syn::Error::new(
            if arms.is_empty() {
                brace.span.join()
            } else {
                match_token.span
            },
            "`match` in `lwt!` needs at least one arm for the promise's value (as lwt_ppx's \
             `match%lwt`); to handle only rejections, write `try { .. } catch { .. }`",
        ));
    }
    Ok(Match {
        span: match_token.span,
        expr,
        arms,
    })
}

/// OCaml's `|` before the next case, where a Rust arm ends with `,`.
const OCAML_NEXT_CASE: &str = "`|` starts a new case in OCaml; in Rust, end the arm with `,` \
    (`Some(x) => ret(x), None => ret(0)`)";

const OCAML_ARROW: &str = "`->` is OCaml's: the arms of a Rust `match` use `=>` \
    (`Some(x) => ret(x),`)";

/// OCaml's layout of a `match`'s cases, `| Some x -> e | None -> f`: the first arm starts with `|`
/// and its pattern is not followed by `=>` or a guard. (A Rust arm may start with `|` too:
/// `| A | B => ..`.) The error is at the first `|`.
fn ocaml_match_layout(input: ParseStream<'_>) -> Option<syn::Error> {
    let fork = input.fork();
    let _ = fork.call(Attribute::parse_outer);
    let vert: Token![|] = fork.parse().ok()?;
    let rust_arm =
        fork.call(Pat::parse_multi).is_ok() && (fork.peek(Token![=>]) || fork.peek(Token![if]));
    (!rust_arm).then(|| {
        syn::Error::new(
            vert.span,
            "`| P -> e` is OCaml's layout of a match case: a Rust arm is `Some(x) => e,` \
             (a constructor's arguments in parentheses, `=>`, and a `,` after each arm instead \
             of a `|` before it)",
        )
    })
}

/// `Some x =>`: OCaml's constructor applied without parentheses (the pattern `Some`, then its
/// argument, a name or a literal), where syn would say "expected `=>`" at the argument.
fn ocaml_constructor(pat: &Pat, input: ParseStream<'_>) -> Result<()> {
    let path = match pat {
        Pat::Path(p) if p.qself.is_none() => p.path.clone(),
        Pat::Ident(p) if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() => {
            p.ident.clone().into()
        }
        _ => return Ok(()),
    };
    let arg = if input.peek(syn::Lit) {
        input.fork().parse::<syn::Lit>()?.into_token_stream()
    } else if input.peek(Ident) || input.peek(Token![_]) {
        input.fork().call(Ident::parse_any)?.into_token_stream()
    } else {
        return Ok(());
    };
    Err(syn::Error::new_spanned(
        quote::quote!(#path #arg),
        format!(
            "a constructor's arguments go in parentheses in Rust: `{}({})`",
            path_text(&path),
            arg
        ),
    ))
}

/// The `=>` of an arm. OCaml's `->` is reported, and read as `=>`, so that the arm's body is
/// read as usual.
fn fat_arrow(input: ParseStream<'_>, errors: &mut Errors) -> Result<()> {
    if input.peek(Token![->]) {
        let arrow: Token![->] = input.parse()?;
        errors.push(syn::Error::new_spanned(arrow, OCAML_ARROW));
        return Ok(());
    }
    input.parse::<Token![=>]>()?;
    Ok(())
}

/// Skips a match arm that failed to parse: up to the next `,` at this level.
fn skip_arm(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    });
}

fn arm(input: ParseStream<'_>, errors: &mut Errors) -> Result<Arm> {
    // Kept on a value arm (`#[cfg(..)]`, as in Rust); a rejection arm is a type test, not a
    // `match` arm of its own, so it takes none.
    let attrs = input.call(Attribute::parse_outer)?;
    let is_exception = peek_ident(input, "exception")
        && !(input.peek2(Token![=>])
            || input.peek2(Token![if])
            || input.peek2(Token![|])
            || input.peek2(Token![@])
            || input.peek2(Token![,]));
    if is_exception {
        if let Some(attr) = attrs.first() {
            errors.push(rejection_arm_attr_error(
                attr,
                "the `exception` arms of an `lwt!` `match`",
            ));
        }
        input.call(Ident::parse_any)?;
        return catch_arm(input, errors, true).map(Arm::Exception);
    }
    let pat = Pat::parse_multi_with_leading_vert(input)?;
    ocaml_constructor(&pat, input)?;
    let guard = guard(input, errors)?;
    fat_arrow(input, errors)?;
    let body = arm_body(input, errors)?;
    Ok(Arm::Value {
        attrs,
        pat,
        guard,
        body,
    })
}

fn guard(input: ParseStream<'_>, errors: &mut Errors) -> Result<Option<Expr>> {
    let ocaml_when = peek_ident(input, "when") && !input.peek2(Token![=>]);
    if ocaml_when {
        // Reported, and read as `if`, so that the rest of the arm is read as usual.
        let when = input.call(Ident::parse_any)?;
        errors.push(syn::Error::new_spanned(
            when,
            "`when` is OCaml's: a guard in Rust is `if` (`Some(x) if x > 1 => ..`)",
        ));
    }
    if ocaml_when || input.peek(Token![if]) {
        if !ocaml_when {
            input.parse::<Token![if]>()?;
        }
        let g: Expr = match guard_before_ocaml_arrow(input)? {
            Some(g) => g,
            None => input.parse()?,
        };
        check::expr(&g, errors);
        Ok(Some(g))
    } else {
        Ok(None)
    }
}

/// OCaml's `when c -> e` written `if c -> e`: Rust's parser reads `c -` as a subtraction and
/// stops at `>` with "expected an expression". Only when the guard does not parse, the guard is
/// the tokens before the first `->` outside any brackets that leave a whole expression before it
/// (a turbofish's `fn() -> T` holds a `->` of its own, and `<..>` are not brackets to the
/// tokenizer), and that `->` is left to [`fat_arrow`], which reports it.
fn guard_before_ocaml_arrow(input: ParseStream<'_>) -> Result<Option<Expr>> {
    if input.fork().parse::<Expr>().is_ok() {
        return Ok(None);
    }
    input.step(|cursor| {
        let (mut rest, mut tokens) = (*cursor, Vec::new());
        while let Some((tt, next)) = rest.token_tree() {
            let pair = match (&tt, next.token_tree()) {
                (TokenTree::Punct(a), Some((TokenTree::Punct(b), _)))
                    if a.spacing() == proc_macro2::Spacing::Joint && b.as_char() == '>' =>
                {
                    Some(a.as_char())
                }
                _ => None,
            };
            match pair {
                Some('-') => {
                    if let Ok(guard) = syn::parse2::<Expr>(tokens.iter().cloned().collect()) {
                        return Ok((Some(guard), rest));
                    }
                }
                Some('=') => break,
                _ => {}
            }
            tokens.push(tt);
            rest = next;
        }
        Ok((None, *cursor))
    })
}

/// The keyword of an arm body that is an `lwt!` form when braced (`match`, `if`, a loop),
/// without braces around it.
fn unbraced_form(input: ParseStream<'_>) -> Option<&'static str> {
    [
        (input.peek(Token![match]), "match"),
        (input.peek(Token![if]), "if"),
        (input.peek(Token![loop]), "loop"),
        (input.peek(Token![while]), "while"),
        (input.peek(Token![for]), "for"),
    ]
    .into_iter()
    .find_map(|(found, keyword)| found.then_some(keyword))
}

/// Whether `lwt!` reads the `match`/`if`/loop at `input` as its own form, without an error: then
/// bracing the arm makes it parse.
fn parses_as_lwt_form(input: ParseStream<'_>) -> bool {
    let mut errors = Errors::new();
    matches!(form(input, &mut errors), Ok(Some(_))) && errors.is_empty()
}

/// `=> { lwt block }` or `=> expr,`; consumes the comma after it.
fn arm_body(input: ParseStream<'_>, errors: &mut Errors) -> Result<Body> {
    let body = if input.peek(syn::token::Brace) {
        Body::Block(lwt_block(input, errors)?)
    } else if input.peek(Token![do]) {
        // `None => do println!(".."),`: the arm's value is a plain value, as `{ do .. }` is.
        input.parse::<Token![do]>()?;
        let e: Expr = input.parse()?;
        check::plain_expr(&e, errors);
        let tail = if check::is_diverging_macro(&e) {
            Tail::Expr(e)
        } else {
            Tail::Plain(e)
        };
        Body::Block(Block {
            stmts: Vec::new(),
            tail: Some(Box::new(tail)),
        })
    } else if input.peek(Token![break]) || input.peek(Token![continue]) {
        // `None => break,`: the arm's body is the statement alone.
        let jump = jump(input, true)?;
        if !input.is_empty() && !input.peek(Token![,]) && !input.peek(Token![;]) {
            errors.push(syn::Error::new(
                input.span(),
                "expected `,` between these match arms",
            ));
        }
        Body::Block(Block {
            stmts: vec![Stmt::Jump(jump)],
            tail: None,
        })
    } else {
        ocaml_lwt_module(input)?;
        if let Some(e) = ocaml_next_case(input, errors)? {
            return Ok(Body::Expr(e));
        }
        // As Rust reads an arm: a block-like body (`if .. {} else {}`) ends the arm, so a next
        // arm may start with `|` (`| 1 => ..`).
        let keyword = unbraced_form(input);
        let start = input.fork();
        let e = Expr::parse_with_earlier_boundary_rule(input).map_err(|err| match keyword {
            // Written as in a Rust `match`, an arm's `match`/`if`/loop without braces is plain
            // Rust, and syn's "expected an expression" at a `do` inside says nothing of why. The
            // advice is only given when bracing would help, when `lwt!` reads the form cleanly:
            // for a plain syntax error (`if x { 1 + }`) it would send the user the wrong way.
            Some(keyword) if parses_as_lwt_form(&start) => syn::Error::new(
                err.span(),
                format!(
                    "{err}: this arm's `{keyword}` has no braces around it, so it is a plain \
                     Rust expression, where `lwt!`'s own syntax (`do`, `exception` arms, \
                     `try`) does not parse; to make it an `lwt!` `{keyword}`, write the arm as \
                     `=> {{ {keyword} .. }}`"
                ),
            ),
            _ => err,
        })?;
        // `=> try { .. } catch { .. }`: syn reads `try { .. }` as Rust's (unstable) `try` block,
        // which ends the arm, then `catch { .. }` as the next arm's struct pattern, and says
        // only "expected identifier or integer" there.
        if start.peek(Token![try]) {
            if let Some(word) = ["catch", "with", "finally"]
                .into_iter()
                .find(|word| peek_ident(input, word))
            {
                return Err(syn::Error::new(
                    input.span(),
                    format!(
                        "this arm's `try` has no braces around it, so it is Rust's own `try` \
                         block, which takes no `{word}`; to make it an `lwt!` `try`, write the \
                         arm as `=> {{ try .. {word} .. }}`"
                    ),
                ));
            }
        }
        check::expr(&e, errors);
        check::ocaml_bind(&e, errors);
        if let Expr::Binary(syn::ExprBinary {
            left,
            op: syn::BinOp::BitOr(vert),
            ..
        }) = &e
        {
            if input.peek(Token![=>]) || input.peek(Token![->]) {
                // `Some(x) => ret(x) | None => ret(0)`: OCaml's `|` before the next case, read
                // by Rust as `ret(x) | None`. The next arm is read for its errors, and dropped.
                errors.push(syn::Error::new(vert.span, OCAML_NEXT_CASE));
                let left = (**left).clone();
                fat_arrow(input, errors)?;
                arm_body(input, errors)?;
                return Ok(Body::Expr(left));
            }
        }
        // As in Rust, a block-like body (`if`, `match`, a block...) needs no comma after it.
        // The arm itself parsed: report the comma and go on with the next arm, rather than
        // skipping it (which would make a well-formed `match` look armless).
        if !input.is_empty()
            && !input.peek(Token![,])
            && !input.peek(Token![;])
            && !is_block_like(&e)
        {
            // `Some(v) => double v,`: OCaml's application, whose argument the next arm would
            // otherwise start with ("expected `=>`" at `v`). The rest of the arm is skipped.
            let mut tokens: Vec<TokenTree> = e.to_token_stream().into_iter().collect();
            tokens.extend(crate::ocaml::until(input.cursor(), ','));
            if let Some(habit) = crate::ocaml::habit(&tokens) {
                errors.push(habit);
                skip_arm(input);
                return Ok(Body::Expr(e));
            }
            errors.push(syn::Error::new(
                input.span(),
                "expected `,` between these match arms",
            ));
        }
        Body::Expr(e)
    };
    if input.peek(Token![;]) {
        // `Some(x) => ret(x); None => ..`: reported, and read as the `,` it stands for.
        let semi: Token![;] = input.parse()?;
        errors.push(syn::Error::new(
            semi.span,
            "match arms are separated by `,`, not `;`",
        ));
        return Ok(body);
    }
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
    }
    Ok(body)
}

/// `ret(x) | None -> ret(0)`: OCaml's `|` before a case whose arrow is OCaml's too, which Rust
/// cannot read as an expression (`None - > ..`). The body is what comes before the `|`, which is
/// reported; the next case is read as an arm, for its errors, and dropped.
fn ocaml_next_case(input: ParseStream<'_>, errors: &mut Errors) -> Result<Option<Expr>> {
    // The tokens before a `|` at this level, and those between it and a `->` that follows it
    // before the arm's `,`.
    let mut before = proc_macro2::TokenStream::new();
    let mut case = proc_macro2::TokenStream::new();
    let mut cursor = input.cursor();
    let mut vert = None;
    let mut skip = 0;
    let mut previous: Option<TokenTree> = None;
    let mut arrow = false;
    while let Some((tt, next)) = cursor.token_tree() {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => return Ok(None),
            // A `|` alone (not one of `||` or `|=`) right after the end of an operand: a name,
            // a literal or a group (`ret(x) |`). Not after an operator, `move` or nothing,
            // where it opens a closure (`q >> move |v| -> T { .. }`).
            TokenTree::Punct(p)
                if p.as_char() == '|'
                    && vert.is_none()
                    && p.spacing() == proc_macro2::Spacing::Alone
                    && match &previous {
                        Some(TokenTree::Ident(i)) => i != "move",
                        Some(TokenTree::Literal(_)) | Some(TokenTree::Group(_)) => true,
                        _ => false,
                    } =>
            {
                vert = Some(p.span());
                cursor = next;
                continue;
            }
            TokenTree::Punct(p)
                if p.as_char() == '-'
                    && p.spacing() == proc_macro2::Spacing::Joint
                    && vert.is_some()
                    && next.punct().is_some_and(|(q, _)| q.as_char() == '>') =>
            {
                arrow = true;
                break;
            }
            _ => {}
        }
        if vert.is_none() {
            before.extend([tt.clone()]);
            skip += 1;
        } else {
            case.extend([tt.clone()]);
        }
        previous = Some(tt);
        cursor = next;
    }
    let Some(vert) = vert.filter(|_| arrow) else {
        return Ok(None);
    };
    // What lies between the `|` and the `->` must be a pattern, as an OCaml case's is (a
    // closure's parameters, `|v|`, are not), and what lies before it an expression.
    if Pat::parse_multi.parse2(case).is_err() {
        return Ok(None);
    }
    let Ok(body) = syn::parse2::<Expr>(before) else {
        return Ok(None);
    };
    check::expr(&body, errors);
    // Up to and including the `|`.
    input.step(|cursor| {
        let mut rest = *cursor;
        for _ in 0..=skip {
            if let Some((_, next)) = rest.token_tree() {
                rest = next;
            }
        }
        Ok(((), rest))
    })?;
    errors.push(syn::Error::new(vert, OCAML_NEXT_CASE));
    arm(input, errors)?;
    Ok(Some(body))
}

/// A catch arm that is a type path with generic arguments (`Wrap<u8> =>`, `io::Wrap<T> if ..`):
/// consumes and returns the type. Anything else is left to the pattern parser.
fn generic_type_arm(input: ParseStream<'_>) -> Option<Type> {
    let fork = input.fork();
    let path: syn::TypePath = fork.parse().ok()?;
    let generic = path
        .path
        .segments
        .iter()
        .any(|s| matches!(s.arguments, syn::PathArguments::AngleBracketed(_)));
    if path.qself.is_some() || !generic || !(fork.peek(Token![=>]) || fork.peek(Token![if])) {
        return None;
    }
    let ty: syn::TypePath = input.parse().ok()?;
    Some(Type::Path(ty))
}

const CATCH_PATTERN: &str = "a rejection arm matches the error by its type: write `e: MyError` \
    (binds the error), `MyError` (no binding), `e` (any rejection, as an `Exn`) or `_`; to look \
    inside the error, add a guard: `e: MyError if matches!(*e, MyError::NotFound)`";

/// `Enum::Variant` (an OCaml habit: `exception Not_found`) rather than a type path such as
/// `io::Error`: the segment before the last is capitalized (and not `Self`, whose associated
/// types are types). Returns the enum's path.
fn variant_parent(path: &syn::Path) -> Option<String> {
    let n = path.segments.len();
    let parent = &path.segments.iter().nth(n.checked_sub(2)?)?.ident;
    let capitalized = parent.to_string().starts_with(char::is_uppercase);
    (capitalized && parent != "Self").then(|| {
        let enum_path = syn::Path {
            leading_colon: path.leading_colon,
            segments: path.segments.iter().take(n - 1).cloned().collect(),
        };
        path_text(&enum_path)
    })
}

fn path_text(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(" :: ", "::")
        .replace(":: ", "::")
}

/// A rejection arm (after `exception` in a `match`, `in_match`, or in a `catch` block).
fn catch_arm(input: ParseStream<'_>, errors: &mut Errors, in_match: bool) -> Result<CatchArm> {
    let (binding, ty) = if input.peek(Token![_]) {
        let underscore = input.parse::<Token![_]>()?;
        let ty = if input.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            Some(input.parse::<Type>()?)
        } else {
            None
        };
        (CatchBinding::None(underscore.span), ty)
    } else if let Some(ty) = generic_type_arm(input) {
        // `Wrap<u8> =>`: a type with generic arguments, which a pattern cannot express.
        (CatchBinding::None(ty.span()), Some(ty))
    } else {
        let pat = Pat::parse_single(input)?;
        match pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                if input.peek(Token![:]) {
                    input.parse::<Token![:]>()?;
                    let ty = input.parse::<Type>()?;
                    (CatchBinding::Ident(p.mutability, p.ident), Some(ty))
                } else if p.mutability.is_some() {
                    (CatchBinding::Ident(p.mutability, p.ident), None)
                } else if p.ident.to_string().starts_with(char::is_uppercase) {
                    let at = p.ident.span();
                    let ty = Type::Path(syn::TypePath {
                        qself: None,
                        path: p.ident.into(),
                    });
                    (CatchBinding::None(at), Some(ty))
                } else {
                    if is_primitive_type(&p.ident) {
                        errors.push(syn::Error::new_spanned(
                            &p.ident,
                            format!(
                                "`{0}` here is a binding that catches every rejection, not the \
                                 type `{0}` (a lowercase name binds, as in OCaml's `with e ->`); \
                                 no rejection holds a `{0}`, which is not an error type: catch \
                                 an error type, or any rejection with `e => ..`",
                                p.ident
                            ),
                        ));
                    }
                    (CatchBinding::Ident(None, p.ident), None)
                }
            }
            Pat::Path(p) if p.qself.is_none() && !input.peek(Token![:]) => {
                let segments: Vec<String> = p
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                let lwt_exception = match segments.as_slice() {
                    [module, exception] => crate::ocaml::lwt_exception(module, exception),
                    _ => None,
                };
                if let Some(message) = lwt_exception {
                    errors.push(syn::Error::new_spanned(&p, message));
                } else if let Some(enum_path) = variant_parent(&p.path) {
                    errors.push(syn::Error::new_spanned(
                        &p,
                        format!(
                            "a rejection arm matches the error by its type, and `{}` looks like \
                             an enum variant, not a type: match the enum and test the variant \
                             in a guard: `e: {enum_path} if matches!(*e, {})`",
                            path_text(&p.path),
                            path_text(&p.path),
                        ),
                    ));
                }
                let at = p.span();
                let ty = Type::Path(syn::TypePath {
                    qself: None,
                    path: p.path,
                });
                (CatchBinding::None(at), Some(ty))
            }
            other => {
                errors.push(syn::Error::new_spanned(&other, CATCH_PATTERN));
                if input.peek(Token![:]) {
                    input.parse::<Token![:]>()?;
                    input.parse::<Type>()?;
                }
                (CatchBinding::None(other.span()), None)
            }
        }
    };
    if let Some(ty) = ty.as_ref().filter(|ty| is_trait_object(ty)) {
        errors.push(syn::Error::new_spanned(
            ty,
            "a rejection arm catches one concrete error type, not a trait object: to catch every \
             rejection, bind a name without a type: `e => ..` (an `lwt::Exn`, which `Display`s \
             and `downcast_ref`s)",
        ));
    }
    if input.peek(Token![|]) {
        // In a `match`, each rejection arm keeps its `exception`: `A => ..` would be a value arm.
        let kw = if in_match { "exception " } else { "" };
        return Err(syn::Error::new(
            input.span(),
            format!(
                "a rejection arm matches one error type: write one arm per type (`{kw}A => .., \
                 {kw}B => ..`), or catch any rejection and test it in a guard: \
                 `{kw}e if e.is::<A>() || e.is::<B>() => ..`"
            ),
        ));
    }
    let guard = guard(input, errors)?;
    fat_arrow(input, errors)?;
    let body = arm_body(input, errors)?;
    Ok(CatchArm {
        binding,
        ty,
        guard,
        body,
    })
}

/// `dyn Error`, or one in a `Box` or an `Rc`: not a type a rejection arm can test for
/// (`Box<dyn Error>` is no `Error` itself, and rustc would say only that `dyn Error` is not
/// `Sized`). `Arc<dyn Error + Send + Sync>` and `&'static dyn Error` are errors, and may be
/// caught.
fn is_trait_object(ty: &Type) -> bool {
    match ty {
        // `dyn Trait` itself is unsized: no arm can bind it.
        Type::TraitObject(_) => true,
        Type::Paren(p) => is_trait_object(&p.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return false;
            };
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return false;
            };
            matches!(last.ident.to_string().as_str(), "Box" | "Rc")
                && args.args.iter().any(|a| {
                    matches!(a, syn::GenericArgument::Type(Type::TraitObject(t)) if std_error(t))
                })
        }
        _ => false,
    }
}

/// `dyn std::error::Error` (or `core::`, or `error::Error`), with auto traits. A bare `Error` may
/// be a program's own trait (`use app::Error;`), for whose `Box` the program may implement
/// `std::error::Error`: rustc's own error covers it.
fn std_error(t: &syn::TypeTraitObject) -> bool {
    t.bounds.iter().any(|b| {
        let syn::TypeParamBound::Trait(t) = b else {
            return false;
        };
        let names: Vec<String> = t
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        matches!(
            names.as_slice(),
            ["error", "Error"] | ["std" | "core", "error", "Error"]
        )
    })
}

fn try_form(input: ParseStream<'_>, errors: &mut Errors) -> Result<Try> {
    let try_token: Token![try] = input.parse()?;
    ppx_suffix(input, "try", errors);
    if !input.peek(syn::token::Brace) {
        return Err(
            input.error("`try` takes a block: `try { p } catch { .. }` (or `finally { .. }`)")
        );
    }
    let body = lwt_block(input, errors)?;
    let catch = if peek_ident(input, "catch") || peek_ident(input, "with") {
        let keyword = input.call(Ident::parse_any)?;
        let span = keyword.span();
        if keyword == "with" {
            // OCaml's `try .. with`: reported, then read as `catch`, whose arms it has.
            errors.push(syn::Error::new(
                span,
                "`try .. with` is OCaml's: in `lwt!`, the handlers of `try { .. }` go in a \
                 `catch { .. }` block",
            ));
        }
        if !input.peek(syn::token::Brace) {
            return Err(input.error(
                "`catch` takes its arms in braces: `catch { e => .. }` (a name binds any \
                 rejection, `e: MyError => ..` one type)",
            ));
        }
        let content;
        braced!(content in input);
        let mut arms = Vec::new();
        while !content.is_empty() {
            // As on the `exception` arms of a `match`: reported, then the arm is read as usual
            // (rather than failing on the `#` as a pattern, which would skip the whole arm).
            match content.call(Attribute::parse_outer) {
                Ok(attrs) => {
                    if let Some(attr) = attrs.first() {
                        errors.push(rejection_arm_attr_error(attr, "the arms of `catch`"));
                    }
                }
                Err(e) => {
                    errors.push(e);
                    skip_arm(&content);
                    continue;
                }
            }
            if peek_ident(&content, "exception") && !content.peek2(Token![=>]) {
                let kw = content.call(Ident::parse_any)?;
                errors.push(syn::Error::new(
                    kw.span(),
                    "every arm of `catch { .. }` handles a rejection: write the arm without \
                     `exception` (`e: MyError => ..`)",
                ));
            }
            let start = content.cursor();
            match catch_arm(&content, errors, false) {
                Ok(a) => arms.push(a),
                Err(e) => {
                    errors.push(ocaml_habit(e, start, ','));
                    skip_arm(&content);
                }
            }
        }
        Some((span, arms))
    } else {
        None
    };
    let finally = if peek_ident(input, "finally") {
        let span = input.call(Ident::parse_any)?.span();
        Some((span, lwt_block(input, errors)?))
    } else {
        None
    };
    if catch.is_none() && finally.is_none() {
        errors.push(syn::Error::new(
            try_token.span,
            "`try { .. }` needs a `catch { .. }` block, a `finally { .. }` block, or both",
        ));
    }
    Ok(Try {
        span: try_token.span,
        body,
        catch,
        finally,
    })
}
