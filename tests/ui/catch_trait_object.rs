// A rejection arm typed with a trait object (rev96 #8): rustc would say only that `dyn Error` is
// not `Sized`; a name without a type catches every rejection. (`Arc<dyn Error + Send + Sync>` is
// an `Error`, and not reported.)
use lwt::{lwt, ret, Promise};

fn boxed() -> Promise<u8> {
    lwt! {
        try { ret(1_u8) } catch { e: Box<dyn std::error::Error> => ret(0) }
    }
}

fn bare() -> Promise<u8> {
    lwt! {
        match ret(1_u8) {
            n => ret(n),
            exception _: dyn std::error::Error => ret(0),
        }
    }
}

fn main() {
    let _ = (boxed(), bare());
}
