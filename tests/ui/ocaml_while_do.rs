use lwt::{lwt, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        do let mut i = 0;
        while i < 3 do {
            do i += 1;
        }
    };
    let _q: Promise<()> = lwt! {
        for x in 0..3 do {
            do println!("{x}");
        }
    };
}
