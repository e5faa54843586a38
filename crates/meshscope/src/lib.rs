//! The `meshscope` binary's library half: configuration and the wiring of storage, receivers
//! and the API into one server. It owns process concerns (flags, environment, TOML, signals,
//! logging, the metrics recorder) and nothing else; every behaviour lives in the crates it
//! wires together. Integration tests start [`server::Server`] in-process on port 0.

pub mod config;
pub mod query_cli;
pub mod server;

pub use config::{Config, ServeArgs};
pub use server::Server;
