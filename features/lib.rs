//! The BDD suite lives in `tests/bdd/` and the `*.feature` files beside this one; this crate
//! has no library code. Run it alone with `cargo test -p microdash-bdd`.
