// A `match`, `if let` or `while let` on a method call's plain value: each reported once, at
// the scrutinee (through the trait's method, the `match` was reported a second time).
use lwt::{lwt, ret, Promise};

fn reply(line: Promise<String>) -> Promise<&'static str> {
    lwt! {
        let l = line;
        match l.as_str() {
            "GET" => ret("value"),
            _ => ret("unknown"),
        }
    }
}

fn first(words: Promise<Vec<u8>>) -> Promise<u8> {
    lwt! {
        let w = words;
        if let Some(x) = w.first().copied() {
            ret(x)
        } else {
            ret(0)
        }
    }
}

fn drain(words: Promise<Vec<u8>>) -> Promise<()> {
    lwt! {
        let mut w = words;
        while let Some(_x) = w.pop() {
            do println!("one");
        }
    }
}

fn main() {
    let _ = (reply(ret(String::new())), first(ret(vec![])), drain(ret(vec![])));
}
