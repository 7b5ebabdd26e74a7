use lwt::{lwt, ret, return_unit, Promise};

fn next_line() -> Promise<Option<String>> {
    ret(None)
}

fn print(_line: String) -> Promise<()> {
    return_unit()
}

// `while let`: wait for each value, stop when the pattern does not match.
fn print_all() -> Promise<()> {
    lwt! {
        while let Some(line) = next_line() {
            print(line);
        }
    }
}

fn main() {
    let _ = print_all();
}
