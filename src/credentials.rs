//! What a check logs in with, read once before any check starts: the
//! password (or access token) from its source, or the secrets of the OAuth
//! token request that gets one. Each check of `--all-addresses` and
//! `--repeat` takes a copy; every secret in it is wiped on drop.

use crate::oauth::OAuthSecrets;
use crate::password::Secret;

#[derive(Clone, Default)]
pub struct Credentials {
    pub password: Option<Secret>,
    pub oauth: Option<OAuthSecrets>,
}
