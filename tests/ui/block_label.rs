// A labelled block (rev96 #16) is not a loop: its own message, not the loop labels' one.
use lwt::{lwt, ret, Promise};

fn main() {
    let x = 1_u8;
    let _p: Promise<()> = lwt! {
        'a: {
            do println!("{x}");
        }
    };
    let _ = ret(());
}
