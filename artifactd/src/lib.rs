//! artifactd: a multi-format artifact repository server.
//!
//! The crate is the server: configuration, metadata store, object storage,
//! publishing and HTTP. It knows no package format; formats are providers
//! (crates under `providers/`) registered in [`registry`]. See
//! `ARCHITECTURE.md` for how a request flows through these modules.

pub mod app;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod copy;
pub mod db;
pub mod error;
pub mod gc;
pub mod health;
pub mod history;
pub mod http;
pub mod manifest;
pub mod publish;
pub mod registry;
pub mod signing;
pub mod state;
pub mod storage;
pub mod tree;
pub mod upload;
