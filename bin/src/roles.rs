//! The roles the binary can run. Only `serve` (every role in one process, on the embedded
//! default) exists yet; `api`, `worker` and `scheduler` come with the production adapters.

pub mod serve;
