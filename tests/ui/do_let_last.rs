use lwt::{lwt, ret, Promise};

// A `do let` written as the block's last item, as if `do` gave the value: told at the `let`,
// with the fix, not syn's bare "expected `;`" over the whole call.
fn main() {
    let _p: Promise<u8> = lwt! {
        let x = ret(1_u8);
        do let y = x + 1
    };
}
