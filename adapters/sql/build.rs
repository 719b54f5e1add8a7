//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the folders' files,
//! but cargo only tracks files it was told about.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
    println!("cargo:rerun-if-changed=../../migrations/mysql");
}
