use lwt::{lwt, Promise};

struct S {
    x: u32,
}

fn main() {
    // Destructuring assignments and assignments inside `println!`'s arguments are lost as any
    // other: each iteration's body has its own copy of the variables.
    let _p: Promise<u32> = lwt! {
        do let mut n = 0_u32;
        do let mut arr = [0_u32; 1];
        do let mut t = 0_u32;
        do let mut a = 0_u32;
        for i in 1..=3_u32 {
            do println!("{}", { n += i; n });
            do [arr[0]] = [i];
            do S { x: t } = S { x: i };
            do (a, _) = (a + i, 1);
        }
        do n + arr[0] + t + a
    };
}
