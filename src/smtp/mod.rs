//! A small SMTP submission client for the round trip (`--send-via`):
//! replies read over bytes (`reply`), the session's state machine
//! (`client`) and how it ends (`error`), AUTH (`auth`), echoed secrets
//! masked (`mask`) and the test message (`message`). It runs
//! over the same transport, TLS trust and deadline as the IMAP check.

pub mod auth;
pub mod client;
pub mod error;
mod mask;
pub mod message;
pub mod reply;

#[cfg(test)]
mod client_tests;

pub use auth::{OAuthMechanism, SmtpLogin};
pub use client::{Delivery, Sent, send};
pub use error::{Phase, SmtpError};
pub use reply::{MAX_REPLY_LINE, Reply, ReplyError};
