use lwt::{lwt, ret, Promise};

// `assert!` (assert%lwt): a failed assertion rejects the block, it never panics.
fn checked(p: Promise<u32>) -> Promise<u32> {
    lwt! {
        let n = p;
        assert!(n > 0);
        assert_eq!(n % 2, 0, "{} is odd", n);
        ret(n / 2)
    }
}

fn main() {
    let _ = checked(ret(2));
}
