#![deny(unused_must_use)]

use lwt::{seq, stream, wait};

fn main() {
    let (_p, r) = wait::<u32>();
    // Consumes the resolver: the dropped `SharedResolver` rejects `_p` with `Abandoned`.
    r.share();

    // Lazy: neither runs `f` unless read.
    let s = stream::of_list(vec![1, 2]);
    s.map(|x| x + 1);
    seq::of_list(vec![1]).map(|x: i32| x + 1);
}
