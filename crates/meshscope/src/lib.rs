//! The `meshscope` binary's library half: configuration and the wiring of storage, receivers,
//! the service-graph aggregation and the API into one server. It owns process concerns (flags,
//! environment, TOML, signals, logging, the metrics recorder) and the live aggregation's I/O
//! (`aggregation`: feeding, storing and reading back `meshscope-graph`'s aggregates); every
//! other behaviour lives in the crates it wires together. Integration tests start [`server::Server`] in-process on port 0.

pub mod aggregation;
pub mod config;
pub mod query_cli;
pub mod server;

pub use config::{Config, DEFAULT_ZIPKIN_ADDR, ServeArgs};
pub use server::Server;
