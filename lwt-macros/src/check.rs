//! Rejects what cannot work inside `lwt!`: `return`, Rust's `break`/`continue` out of a loop body
//! (the macro's own `break;` statements are placed by `jumps`), `?` and `.await`, in the user's
//! expressions (and in the arguments of the standard macros that take
//! expressions, such as `println!`). The code of a block runs in callbacks (one per bind),
//! so these would jump out of a callback rather than out of the block, and the compiler's own
//! errors would talk about closures the user never wrote.

use proc_macro2::Span;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::Token;

pub(crate) const RETURN: &str = "`return` cannot be used in `lwt!`: the code after a `let` runs \
    later, in a callback, so there is no function to return from; end the block with its value \
    (a promise) instead, e.g. `if done { lwt::ret(x) } else { .. }`";
pub(crate) const BREAK: &str = "this `break` is Rust's own, inside an expression, and cannot \
    leave a loop of `lwt!` (each iteration's body runs as callbacks): write `break;` as a \
    statement of the block (`if cond { break; }`, not `do if cond { break; }`) or as a `match` \
    arm (`None => break,`)";
pub(crate) const CONTINUE: &str = "this `continue` is Rust's own, inside an expression, and \
    cannot reach a loop of `lwt!` (each iteration's body runs as callbacks): write `continue;` \
    as a statement of the block (`if cond { continue; }`, not `do if cond { continue; }`) or \
    as a `match` arm (`None => continue,`)";
pub(crate) const QUESTION: &str = "the `?` operator cannot be used in `lwt!`: the code runs in \
    callbacks that return promises; turn the `Result` into a promise and bind it: \
    `let x = lwt::of_result(expr);` (an `Err` rejects the block)";
pub(crate) const YIELD: &str = "`yield` cannot be used in `lwt!`: a block is a promise, not a \
    generator; to produce several values over time, use a stream, or call a function per value";
pub(crate) const OCAML_BIND: &str = "`>>=` is Lwt.Infix's bind, but Rust reads it as a shift \
    assignment: inside `lwt!`, write `let v = p;` and use `v` after it (outside `lwt!`, \
    `p >> |v| ..` is bind and `p | f` is map)";
pub(crate) const AWAIT: &str = "`.await` cannot be used in `lwt!`: `let x = promise;` already \
    waits for the promise (use `.await` in `async` code, outside `lwt!`)";

/// Reports forbidden constructs in one user expression or statement.
pub(crate) struct Forbidden<'e> {
    errors: &'e mut Vec<syn::Error>,
    /// The loops and labeled blocks the walk is inside, with their labels: `break`/`continue`
    /// that stay within them are plain Rust and fine.
    scopes: Vec<(ScopeKind, Option<String>)>,
    /// In plain Rust (`do` code), where `x >>= f` is Rust's own shift assignment (a type may
    /// implement `ShrAssign` for a closure): OCaml's bind is looked for elsewhere only.
    plain: bool,
    /// How many blocks deep the walk is: OCaml's `>>=` is looked for at the top of an
    /// expression only (`let x = p >>= f;`), not in Rust code nested in it.
    blocks: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Loop,
    Block,
}

impl<'e> Forbidden<'e> {
    pub(crate) fn new(errors: &'e mut Vec<syn::Error>) -> Forbidden<'e> {
        Forbidden {
            errors,
            scopes: Vec::new(),
            plain: false,
            blocks: 0,
        }
    }

    fn error(&mut self, span: Span, message: &str) {
        self.errors.push(syn::Error::new(span, message));
    }

    fn scoped(&mut self, kind: ScopeKind, label: Option<&syn::Label>, f: impl FnOnce(&mut Self)) {
        self.scopes
            .push((kind, label.map(|l| l.name.ident.to_string())));
        f(self);
        self.scopes.pop();
    }

    /// Does a `break`/`continue` with this label (or none) stay inside the walked expression?
    fn target_inside(&self, label: Option<&syn::Lifetime>, is_continue: bool) -> bool {
        match label {
            None => self.scopes.iter().any(|(kind, _)| *kind == ScopeKind::Loop),
            Some(label) => {
                let name = label.ident.to_string();
                self.scopes.iter().any(|(kind, l)| {
                    l.as_deref() == Some(name.as_str())
                        && (!is_continue || *kind == ScopeKind::Loop)
                })
            }
        }
    }
}

impl<'ast> Visit<'ast> for Forbidden<'_> {
    // Closures, async blocks and items are their own functions: anything goes inside.
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}

    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.blocks += 1;
        visit::visit_block(self, b);
        self.blocks -= 1;
    }

    // The compiler sees what a macro's arguments expand to, but through the callbacks, so its
    // error about `?` in `println!("{}", x?)` would talk about closures: look inside the standard
    // macros whose arguments are expressions, and report it as anywhere else.
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        if let Some(args) = std_macro_args(m) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }

    // `p >>= |v| ..` where the block waits on a promise: Lwt's bind, not a shift assignment.
    fn visit_expr_binary(&mut self, e: &'ast syn::ExprBinary) {
        if let syn::BinOp::ShrAssign(op) = &e.op {
            if !self.plain && self.blocks == 0 && matches!(&*e.right, syn::Expr::Closure(_)) {
                self.errors.push(syn::Error::new_spanned(op, OCAML_BIND));
            }
        }
        visit::visit_expr_binary(self, e);
    }

    fn visit_expr_return(&mut self, e: &'ast syn::ExprReturn) {
        self.error(e.return_token.span, RETURN);
        visit::visit_expr_return(self, e);
    }

    fn visit_expr_try(&mut self, e: &'ast syn::ExprTry) {
        self.error(e.question_token.span(), QUESTION);
        visit::visit_expr_try(self, e);
    }

    fn visit_expr_await(&mut self, e: &'ast syn::ExprAwait) {
        self.error(e.await_token.span(), AWAIT);
        visit::visit_expr_await(self, e);
    }

    fn visit_expr_yield(&mut self, e: &'ast syn::ExprYield) {
        self.error(e.yield_token.span, YIELD);
        visit::visit_expr_yield(self, e);
    }

    fn visit_expr_break(&mut self, e: &'ast syn::ExprBreak) {
        if !self.target_inside(e.label.as_ref(), false) {
            self.error(e.break_token.span, BREAK);
        }
        visit::visit_expr_break(self, e);
    }

    fn visit_expr_continue(&mut self, e: &'ast syn::ExprContinue) {
        if !self.target_inside(e.label.as_ref(), true) {
            self.error(e.continue_token.span, CONTINUE);
        }
        visit::visit_expr_continue(self, e);
    }

    fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
        self.scoped(ScopeKind::Loop, e.label.as_ref(), |v| {
            visit::visit_expr_loop(v, e)
        });
    }

    fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
        self.scoped(ScopeKind::Loop, e.label.as_ref(), |v| {
            visit::visit_expr_while(v, e)
        });
    }

    fn visit_expr_for_loop(&mut self, e: &'ast syn::ExprForLoop) {
        self.scoped(ScopeKind::Loop, e.label.as_ref(), |v| {
            visit::visit_expr_for_loop(v, e)
        });
    }

    fn visit_expr_block(&mut self, e: &'ast syn::ExprBlock) {
        if e.label.is_some() {
            self.scoped(ScopeKind::Block, e.label.as_ref(), |v| {
                visit::visit_expr_block(v, e)
            });
        } else {
            visit::visit_expr_block(self, e);
        }
    }
}

/// Standard macros whose arguments are expressions separated by commas (a format string is an
/// expression too): the plain-statement macros of the parser, and these.
const EXPRESSION_MACROS: &[&str] = &[
    "format",
    "format_args",
    "assert",
    "assert_eq",
    "assert_ne",
    "dbg",
    "vec",
];

/// The arguments of a call to one of [`EXPRESSION_MACROS`] or of the parser's plain-statement
/// macros, by its name or its path in `std` or `core` (`vec![x; n]` too). `None` for other
/// macros, whose syntax only they know.
pub(crate) fn std_macro_args(m: &syn::Macro) -> Option<Vec<syn::Expr>> {
    let name = macro_name(&m.path)?;
    if !(EXPRESSION_MACROS.contains(&name.as_str())
        || crate::parse::PLAIN_MACROS.contains(&name.as_str()))
    {
        return None;
    }
    let listed = m.parse_body_with(Punctuated::<syn::Expr, Token![,]>::parse_terminated);
    if let Ok(args) = listed {
        return Some(args.into_iter().collect());
    }
    // `vec![value; count]`
    m.parse_body_with(|input: ParseStream<'_>| {
        let value: syn::Expr = input.parse()?;
        input.parse::<Token![;]>()?;
        let count: syn::Expr = input.parse()?;
        Ok(vec![value, count])
    })
    .ok()
}

/// The name of a macro called by `path`, if the path is a bare name or a path into the standard
/// library (`std`, `core` or `alloc`): `println`, `std::println`, `::core::assert`.
pub(crate) fn macro_name(path: &syn::Path) -> Option<String> {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    match segments.as_slice() {
        [name] if path.leading_colon.is_none() => Some(name.clone()),
        [krate, name] if matches!(krate.as_str(), "std" | "core" | "alloc") => Some(name.clone()),
        _ => None,
    }
}

/// Macros that never return: the last statement of a block may be one, with its `;`.
pub(crate) const DIVERGING_MACROS: &[&str] = &["panic", "todo", "unimplemented", "unreachable"];

/// A call of one of [`DIVERGING_MACROS`].
pub(crate) fn is_diverging_macro(e: &syn::Expr) -> bool {
    matches!(e, syn::Expr::Macro(m)
        if macro_name(&m.mac.path).is_some_and(|n| DIVERGING_MACROS.contains(&n.as_str())))
}

/// Standard macros whose expansion is a value, never `!`.
const VALUE_MACROS: &[&str] = &[
    "format",
    "vec",
    "concat",
    "stringify",
    "matches",
    "line",
    "column",
    "file",
    "module_path",
    "env",
    "option_env",
    "include_str",
    "include_bytes",
    "cfg",
];

/// Whether `e` surely has a type other than `!` and needs no type from its context, so that
/// checking it against a trait cannot turn a call that never returns (`std::process::exit(1)`,
/// a user's `fn fail() -> !` or method `o.fail()`, a macro that panics) into an error, nor
/// leave `x.into()` without the type it would infer from the promise expected: a literal, a
/// name, an operator, a field, a constructor (`Some(x)`, a path whose last segment starts with
/// a capital letter), one of [`VALUE_MACROS`]. A call of a function, a method or another macro
/// may be `!`.
pub(crate) fn cannot_diverge(e: &syn::Expr) -> bool {
    use syn::Expr;
    match e {
        Expr::Lit(_)
        | Expr::Path(_)
        | Expr::Binary(_)
        | Expr::Unary(_)
        | Expr::Field(_)
        | Expr::Tuple(_)
        | Expr::Array(_)
        | Expr::Repeat(_)
        | Expr::Struct(_)
        | Expr::Reference(_)
        | Expr::Cast(_)
        | Expr::Index(_)
        | Expr::Range(_)
        | Expr::Closure(_) => true,
        Expr::Paren(p) => cannot_diverge(&p.expr),
        Expr::Call(c) => matches!(&*c.func, Expr::Path(p) if is_constructor(&p.path)),
        Expr::Macro(m) => {
            macro_name(&m.mac.path).is_some_and(|n| VALUE_MACROS.contains(&n.as_str()))
        }
        _ => false,
    }
}

/// A path whose last segment starts with a capital letter: a tuple struct or an enum variant
/// (`Some`, `Ok`, `Wrapper`), by Rust's naming conventions.
fn is_constructor(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| {
        s.ident
            .to_string()
            .starts_with(|c: char| c.is_ascii_uppercase())
    })
}

/// Checks one expression.
pub(crate) fn expr(e: &syn::Expr, errors: &mut Vec<syn::Error>) {
    Forbidden::new(errors).visit_expr(e);
}

/// OCaml's `p >>= f` as a whole `let` value, statement, block value or arm body outside `do`
/// code, whatever `f` is: Rust's `>>=` is an assignment, whose type is `()`, never the promise
/// these positions wait on, so no valid program has one there. (A closure after `>>=` is
/// reported by [`expr`]'s walk, anywhere at the top of an expression.)
///
/// A shift by a literal (`n >>= 1;`) is Rust's, written without `do`: it keeps the message of
/// a statement that is not a promise, which says to write `do`.
pub(crate) fn ocaml_bind(e: &syn::Expr, errors: &mut Vec<syn::Error>) {
    if let syn::Expr::Binary(syn::ExprBinary {
        op: syn::BinOp::ShrAssign(op),
        right,
        ..
    }) = e
    {
        if !matches!(&**right, syn::Expr::Closure(_) | syn::Expr::Lit(_)) {
            let message =
                format!("{OCAML_BIND}; for Rust's own shift assignment, write `do x >>= n;`");
            errors.push(syn::Error::new_spanned(op, message));
        }
    }
}

/// OCaml's `=` test as the condition of an `lwt!` `if` or `while`: in Rust an assignment,
/// whose `()` is neither a `bool` nor a `Promise<bool>`, so no valid program has one there (the
/// trait's own message would say only that `()` is not a condition).
pub(crate) fn ocaml_equality(cond: &syn::Expr, errors: &mut Vec<syn::Error>) {
    let mut cond = cond;
    while let syn::Expr::Paren(p) = cond {
        cond = &p.expr;
    }
    if let syn::Expr::Assign(assign) = cond {
        errors.push(syn::Error::new_spanned(
            assign.eq_token,
            "`=` is OCaml's equality test: in Rust, `==` (`=` assigns)",
        ));
    }
}

/// Checks one plain statement (`do let ..`, an item).
pub(crate) fn stmt(s: &syn::Stmt, errors: &mut Vec<syn::Error>) {
    let mut check = Forbidden::new(errors);
    check.plain = true;
    check.visit_stmt(s);
}

/// Checks the expression of a plain statement (`do expr;`).
pub(crate) fn plain_expr(e: &syn::Expr, errors: &mut Vec<syn::Error>) {
    let mut check = Forbidden::new(errors);
    check.plain = true;
    check.visit_expr(e);
}
