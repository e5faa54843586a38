//! End-to-end tests: the real server on port 0, real clients, real files.
//!
//! One test binary (each links the whole stack), with a module per area.

mod common;
mod crash;
mod graph;
mod ingest;
mod interop;
mod query;
mod signals;
