use lwt::{lwt, Promise};

// An iterable whose type the context would fix (`.into()`): `for` fixes none, so this is "type
// annotations needed", at `into`, with rustc's fully qualified help. (A first version of
// `__lwt::iterable` moved it to `for`, blaming the driver's generic parameter.)
struct Wrap;

impl From<Wrap> for Vec<u8> {
    fn from(_: Wrap) -> Vec<u8> {
        vec![]
    }
}

fn main() {
    let _p: Promise<()> = lwt! {
        for x in Wrap.into() {
            do println!("{x}");
        }
    };
}
