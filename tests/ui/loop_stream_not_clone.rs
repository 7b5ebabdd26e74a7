use lwt::{lwt, ret, stream, Promise};

// A loop whose body binds runs each iteration on a clone of its captures; a stream is not
// `Clone` (a clone would be a new reader): share it through an `Rc`.
fn main() {
    let (s, _push) = stream::create::<u32>();
    let _p: Promise<()> = lwt! {
        while let Some(x) = s.get() {
            let () = ret(());
            do println!("{x}");
        }
    };
}
