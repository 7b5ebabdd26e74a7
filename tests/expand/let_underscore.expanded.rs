use lwt::{io, lwt, unix, Promise};
fn hold(addr: std::net::SocketAddr) -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        __lwt::bind(
            io::open_connection(addr),
            move |(_ic, _oc)| __lwt::keep_alive(
                __lwt::last(unix::sleep_secs(0.1)),
                (_ic, _oc),
            ),
        )
    }
}
fn main() {
    let _ = hold("127.0.0.1:1".parse().unwrap());
}
