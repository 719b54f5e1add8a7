//! The World of the BDD suite and its steps. Steps stay thin: they call the shared harness
//! in `microdash::testing`.

mod ingest;

use std::collections::HashMap;
use std::fmt;

use microdash::testing::TestApp;
use serde_json::Value;

/// State of one scenario.
#[derive(Default, cucumber::World)]
pub struct World {
    app: Option<TestApp>,
    /// Tokens by tenant slug.
    tokens: HashMap<String, String>,
    /// Status and body of the last reply.
    last: Option<(u16, Value)>,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World").field("tenants", &self.tokens.keys()).field("last", &self.last).finish()
    }
}

impl World {
    fn app(&self) -> &TestApp {
        self.app.as_ref().expect("the scenario starts with 'Given a running microdash'")
    }

    fn token(&self, tenant: &str) -> String {
        self.tokens.get(tenant).cloned().unwrap_or_else(|| panic!("no tenant '{tenant}' in this scenario"))
    }
}
