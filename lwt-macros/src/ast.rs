//! The syntax tree of an `lwt!` block, as the parser builds it and the expander reads it.
//!
//! Every node keeps the user's tokens (and so their spans): errors and expansions point at them.

// syn's nodes are large (an `Expr` is 240 bytes once spans carry their lines, see `ocaml.rs`),
// so the variants that hold one are much larger than the others. A tree lives for one
// expansion; boxing those variants would only add allocations and `Box::new`s to the parser.
#![allow(clippy::large_enum_variant)]

use proc_macro2::Span;
use syn::{Expr, Ident, Item, Pat, Stmt as RustStmt, Token, Type};

/// A sequence of statements, optionally ending with a value (`tail`).
pub(crate) struct Block {
    pub(crate) stmts: Vec<Stmt>,
    pub(crate) tail: Option<Box<Tail>>,
}

/// One statement of a block.
pub(crate) enum Stmt {
    /// `let p = e [and q = f ...] [else { .. }];`: binds promises (`let%lwt`).
    Bind(Bind),
    /// `do ...`: plain Rust (a `let`, an expression statement, a block), or an item.
    Plain(Plain),
    /// `e;`: waits for a `Promise<()>` (`e;%lwt`).
    Seq(Expr),
    /// `if`/`match`/`try`/`for`/`while`/`loop`/`{ .. }` as a statement: a `Promise<()>`.
    Form(Box<Form>),
    /// `assert!(..);`, `assert_eq!(..);`, `assert_ne!(..);` (`assert%lwt`).
    Assert(Assert),
    /// `break;` or `continue;` in a loop body: the last statement of its block.
    Jump(Jump),
}

/// `break` or `continue`, as a statement of a loop body (or an arm's body: `None => break,`).
pub(crate) struct Jump {
    pub(crate) span: Span,
    pub(crate) kind: JumpKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum JumpKind {
    Break,
    Continue,
}

impl JumpKind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            JumpKind::Break => "break",
            JumpKind::Continue => "continue",
        }
    }
}

/// Plain Rust inside a block.
pub(crate) enum Plain {
    /// `do <stmt>`: a Rust statement, emitted as is.
    Stmt(RustStmt),
    /// An item (`fn`, `struct`, `use`...), emitted as is.
    Item(Item),
}

/// The value of a block.
pub(crate) enum Tail {
    /// An expression that evaluates to the block's promise.
    Expr(Expr),
    /// `do <expr>`: a plain value; the block's promise is fulfilled with it.
    Plain(Expr),
    /// A control form.
    Form(Box<Form>),
}

/// `let` with one or more bindings.
pub(crate) struct Bind {
    /// Where the `let` is: the expansion records this location on rejections.
    pub(crate) span: Span,
    /// `#[fail_fast]`: wait for the bindings with `both` (reject as soon as one rejects).
    pub(crate) fail_fast: bool,
    pub(crate) bindings: Vec<Binding>,
    /// `else { .. }` after a single refutable binding, with where its `else` is.
    pub(crate) else_block: Option<(Span, Block)>,
}

/// `pattern [: type] = expr`.
pub(crate) struct Binding {
    /// The `let` or `and` keyword that introduces the binding.
    pub(crate) span: Span,
    pub(crate) pat: Pat,
    pub(crate) ty: Option<Type>,
    pub(crate) init: Init,
}

/// The right side of a binding.
pub(crate) enum Init {
    /// A Rust expression that evaluates to a promise.
    Expr(Expr),
    /// A control form (`let x = match p { .. };`), whose promise is bound.
    Form(Box<Form>),
}

/// `assert!`-style statements.
pub(crate) struct Assert {
    pub(crate) span: Span,
    pub(crate) kind: AssertKind,
    /// `assert!(cond)`: `[cond]`; `assert_eq!(a, b)`: `[a, b]`.
    pub(crate) operands: Vec<Expr>,
    /// The optional message: format string and arguments.
    pub(crate) message: Vec<Expr>,
}

/// Which assertion.
#[derive(Clone, Copy)]
pub(crate) enum AssertKind {
    True,
    Eq,
    Ne,
}

/// A control form.
pub(crate) enum Form {
    If(If),
    Match(Match),
    Try(Try),
    For(For),
    While(While),
    WhileLet(WhileLet),
    Loop(Loop),
    Block(Nested),
}

/// `{ .. }` as a statement, a value or a `let` initializer: an `lwt!` block.
pub(crate) struct Nested {
    /// The opening brace: errors about the block's promise, and its rejections, point there.
    pub(crate) span: Span,
    pub(crate) block: Block,
}

/// `if cond { .. } [else ..]` or `if let pat = promise { .. } [else ..]`.
pub(crate) struct If {
    pub(crate) span: Span,
    pub(crate) cond: IfCond,
    pub(crate) then: Block,
    pub(crate) els: Option<Else>,
}

pub(crate) enum IfCond {
    /// A `bool` or a `Promise<bool>`.
    Expr(Expr),
    /// `let pat = promise`, and the rest of a let chain (`&& cond ..`), which is Rust's own: it is
    /// checked once the promise's value is there, with `pat`'s bindings in scope.
    Let(Box<Pat>, Expr, Option<(Token![&&], Expr)>),
}

pub(crate) enum Else {
    Block(Block),
    If(Box<If>),
}

/// `match promise { arms }`, arms for the value and `exception` arms for rejections.
pub(crate) struct Match {
    pub(crate) span: Span,
    pub(crate) expr: Expr,
    pub(crate) arms: Vec<Arm>,
}

pub(crate) enum Arm {
    Value {
        /// `#[cfg(..)]` and other attributes, emitted on the arm as written.
        attrs: Vec<syn::Attribute>,
        pat: Pat,
        guard: Option<Expr>,
        body: Body,
    },
    Exception(CatchArm),
}

/// A rejection handler: `e: Type`, `Type`, `e`, `_`, with an optional guard.
pub(crate) struct CatchArm {
    pub(crate) binding: CatchBinding,
    /// The error type to match, if any (none: every rejection).
    pub(crate) ty: Option<Type>,
    pub(crate) guard: Option<Expr>,
    pub(crate) body: Body,
}

pub(crate) enum CatchBinding {
    /// `e` or `mut e`: bound to the `Exn` (no type) or to a `Caught<Type>`.
    Ident(Option<Token![mut]>, Ident),
    /// `_` or a bare type: nothing bound. At the `_` or the type, for the lints rustc
    /// reports on the arm's pattern.
    None(proc_macro2::Span),
}

impl CatchArm {
    /// Does this arm handle every rejection (so no pass-through arm is needed after it)?
    pub(crate) fn catches_all(&self) -> bool {
        self.ty.is_none() && self.guard.is_none()
    }
}

/// The body of an arm: `{ lwt block }` or an expression that evaluates to a promise.
pub(crate) enum Body {
    Block(Block),
    Expr(Expr),
}

/// `try { .. } [catch { arms }] [finally { .. }]`.
pub(crate) struct Try {
    pub(crate) span: Span,
    pub(crate) body: Block,
    pub(crate) catch: Option<(Span, Vec<CatchArm>)>,
    pub(crate) finally: Option<(Span, Block)>,
}

/// `for pat in iterable { .. }`.
pub(crate) struct For {
    pub(crate) span: Span,
    pub(crate) pat: Pat,
    pub(crate) expr: Expr,
    pub(crate) body: Block,
}

/// `while cond { .. }`.
pub(crate) struct While {
    pub(crate) span: Span,
    pub(crate) cond: Expr,
    pub(crate) body: Block,
}

/// `while let pat = promise { .. }`.
pub(crate) struct WhileLet {
    pub(crate) span: Span,
    pub(crate) pat: Pat,
    pub(crate) expr: Expr,
    /// The rest of a let chain, as in [`IfCond::Let`].
    pub(crate) chain: Option<(Token![&&], Expr)>,
    pub(crate) body: Block,
}

/// `loop { .. }`.
pub(crate) struct Loop {
    pub(crate) span: Span,
    pub(crate) body: Block,
}
