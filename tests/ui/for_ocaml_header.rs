use lwt::{lwt, Promise};

fn main() {
    let _p: Promise<()> = lwt! {
        for i = 1 to 3 {
            do println!("{i}");
        }
    };
}
