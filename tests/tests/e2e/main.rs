//! End-to-end tests against the real `artifactd` binary, each on SQLite +
//! local storage and on MariaDB + S3 (except `readme`, the README's
//! examples: SQLite and local storage only).

mod apt;
mod bad_input;
mod copy;
mod deletion;
mod faults;
mod gc;
mod history;
mod hostile;
mod instances;
mod multi_instance;
mod promotion;
mod pypi;
mod readme;
mod roundtrip;
mod rpcli;
mod rpm;
mod snapshots;
mod storage;
mod tokens;
mod ui;
