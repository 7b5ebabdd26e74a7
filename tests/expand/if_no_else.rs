use lwt::{lwt, ret, return_unit, Promise};

fn log(_msg: &str) -> Promise<()> {
    return_unit()
}

// Without `else`, the branch is a `Promise<()>`; `if let` matches a promise's value.
fn maybe_log(verbose: Promise<bool>, name: Promise<Option<String>>) -> Promise<()> {
    lwt! {
        if verbose {
            log("verbose");
        }
        if let Some(name) = name {
            log(&name);
        }
    }
}

fn main() {
    let _ = maybe_log(ret(false), ret(None));
}
