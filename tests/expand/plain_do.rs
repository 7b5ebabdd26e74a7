use lwt::{lwt, ret, Promise};

// `do` marks plain Rust: a `let`, a statement, a block; a final `do value` fulfils the block.
fn count(words: Promise<Vec<String>>) -> Promise<usize> {
    lwt! {
        let words = words;
        do let mut n = 0;
        do for w in &words {
            n += w.len();
        }
        do println!("{n} letters");
        do n
    }
}

fn main() {
    let _ = count(ret(vec![]));
}
