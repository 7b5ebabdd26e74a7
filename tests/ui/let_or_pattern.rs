use lwt::{lwt, Promise};

fn main() {
    let _p: Promise<u32> = lwt! {
        let Ok(x) | Err(x) = lwt::ret(Ok::<u32, u32>(2));
        do x
    };
}
