use lwt::{lwt, return_unit, Promise};
fn serve_one() -> Promise<()> {
    return_unit()
}
fn serve() -> Promise<()> {
    {
        use ::lwt::control as __lwt;
        __lwt::forever(move || __lwt::loop_body(serve_one()))
    }
}
fn main() {
    let _ = serve();
}
