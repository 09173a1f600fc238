//! imapcheck as a library: the engine behind the binary, public so the
//! fuzz targets and benchmarks can drive the parser and codecs directly.
//!
//! Data flows one way: flags → configuration (`cli`) → `runner` → the
//! steps of `check` → `session` → `transport`; results flow back into one
//! `report`, which a renderer (`report::text`, `nagios`, `json`,
//! `openmetrics`) writes to `output`. `serve` runs checks for Prometheus
//! at scrape time, above the runner.

pub mod age;
pub mod base64;
pub mod check;
pub mod cli;
pub mod credentials;
pub mod der;
pub mod json;
pub mod mutf7;
pub mod oauth;
pub mod output;
pub mod parser;
pub mod password;
pub mod range;
pub mod report;
pub mod rfc2047;
pub mod runner;
pub mod sasl;
pub mod search;
pub mod serve;
pub mod session;
mod signals;
pub mod smtp;
#[cfg(test)]
mod test_input;
pub mod transcript;
pub mod transport;
