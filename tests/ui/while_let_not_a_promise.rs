use lwt::{lwt, Promise};

fn main() {
    let mut stack = vec![1_u8, 2, 3];
    let _p: Promise<()> = lwt! {
        while let Some(x) = stack.pop() {
            do println!("{x}");
        }
    };
}
