use lwt::{lwt, ret, Promise};

fn main() {
    // Every mistake is reported at once, and nothing else (no cascade of type errors).
    let _p: Promise<u8> = lwt! {
        let a = ret(1_u8).await;
        do let b: u8 = "2".parse()?;
        eprintln!("a = {a}");
        for i in 0..3 {
            do if i == 1 { break; }
        }
        ret(a + b)
    };
}
