//! Runs the Gherkin features in `features/` against a real app built in process.

mod steps;

use cucumber::World as _;

#[tokio::main]
async fn main() {
    let features = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    steps::World::cucumber().fail_on_skipped().run_and_exit(features).await;
}
