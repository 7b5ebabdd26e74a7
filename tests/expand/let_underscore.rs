use lwt::{io, lwt, unix, Promise};

// `_name` bindings the rest of the block never uses are held until the block's promise is
// resolved (`keep_alive`), as Rust holds `let _guard` to the end of its scope: the connection
// stays open through the sleep.
fn hold(addr: std::net::SocketAddr) -> Promise<()> {
    lwt! {
        let (_ic, _oc) = io::open_connection(addr);
        unix::sleep_secs(0.1);
    }
}

fn main() {
    let _ = hold("127.0.0.1:1".parse().unwrap());
}
