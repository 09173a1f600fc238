//! The token request and what its answer means: the form for the grant,
//! the POST, the JSON read for `access_token`, `token_type`,
//! `expires_in`, `refresh_token`, `error`, `error_description` and
//! `error_codes`, and a rotated refresh token written back to its file.
//! Every secret stays a [`Secret`]; what is shown or put into an error has
//! each of them replaced by `***`.

use std::path::{Path, PathBuf};

use crate::transport::TlsContext;

use crate::json::Json;
use crate::password::Secret;
use crate::transcript::Transcript;
use crate::transport::Deadline;

use super::http::{self, HttpError, Response};
use super::{Grant, OAuthConfig, OAuthSecrets, form_pair};
use crate::json::read as json_read;

/// Members of the answer whose values are secrets.
const SECRET_MEMBERS: [&str; 3] = ["access_token", "refresh_token", "id_token"];

/// How much of an answer goes into a message or the transcript.
const EXCERPT: usize = 300;

/// The token, and what became of a rotated refresh token.
#[derive(Debug)]
pub struct Token {
    pub access_token: Secret,
    pub token_type: Option<String>,
    pub expires_in: Option<i64>,
    pub rotation: Rotation,
}

/// What the answer did to the refresh token.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// No new refresh token came (or the grant has none).
    None,
    /// The same refresh token came back.
    Same,
    /// A new one came and replaced the file's.
    Saved(PathBuf),
    /// A new one came but could not be written: the file still holds the
    /// old one, which the provider may already have revoked.
    NotSaved { path: PathBuf, error: String },
}

/// Why no token came.
#[derive(Debug)]
pub enum TokenError {
    /// No TLS context for the endpoint.
    Setup(String),
    /// No complete HTTP answer.
    Http(HttpError),
    /// A 3xx, not followed.
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// The endpoint's OAuth error (RFC 6749 section 5.2).
    OAuth {
        status: u16,
        error: String,
        description: Option<String>,
        codes: Vec<i64>,
    },
    /// The body is not JSON: `why`, and the start of it (escaped, cut
    /// short, secrets masked).
    NotJson {
        status: u16,
        reason: String,
        content_type: Option<String>,
        why: String,
        excerpt: String,
    },
    /// JSON without an error but without an access token either (also
    /// any other status than 200 without `error`).
    NoToken {
        status: u16,
        reason: String,
        excerpt: String,
    },
}

/// Asks the endpoint for a token with the grant `cfg` chooses.
pub fn fetch(
    cfg: &OAuthConfig,
    secrets: &OAuthSecrets,
    connector: &TlsContext,
    deadline: Deadline,
    transcript: Transcript,
) -> Result<Token, TokenError> {
    let (form, shown) = request_form(cfg, secrets);
    let mask = Mask::new(secrets);
    let answer = http::post_form(
        &cfg.url,
        &form,
        &shown,
        connector,
        deadline,
        transcript,
        &|bytes| mask.apply(bytes),
    )
    .map_err(|e| match e {
        HttpError::Malformed { what, got } => TokenError::Http(HttpError::Malformed {
            what,
            got: mask.apply(&got),
        }),
        other => TokenError::Http(other),
    })?;
    drop(form);
    interpret(cfg, secrets, answer, &mask, transcript)
}

/// The form of the request, and the same with its secrets as `***`.
fn request_form(cfg: &OAuthConfig, secrets: &OAuthSecrets) -> (Secret, String) {
    let mut form = Vec::with_capacity(4096);
    let mut shown = Vec::new();
    let mut add = |key: &str, value: &[u8], secret: bool| {
        form_pair(&mut form, key, value);
        form_pair(&mut shown, key, if secret { b"***" } else { value });
    };
    let grant = cfg.grant();
    add("grant_type", grant.as_str().as_bytes(), false);
    if grant == Grant::RefreshToken
        && let Some(token) = &secrets.refresh_token
    {
        add("refresh_token", token.expose(), true);
    }
    add("client_id", cfg.client_id.as_bytes(), false);
    if let Some(secret) = &secrets.client_secret {
        add("client_secret", secret.expose(), true);
    }
    if let Some(scope) = &cfg.scope {
        add("scope", scope.as_bytes(), false);
    }
    // `***` is form-encoded as `%2A%2A%2A`; the transcript shows it plain.
    let shown = String::from_utf8_lossy(&shown).replace("%2A%2A%2A", "***");
    (Secret::new(form), shown)
}

/// Replaces every secret of the request, as is and form-encoded, by `***`
/// in text about to be shown: an endpoint that echoes the request (a
/// debugging proxy, a misconfigured gateway) must not put it on screen.
struct Mask {
    secrets: Vec<Vec<u8>>,
}

impl Mask {
    fn new(secrets: &OAuthSecrets) -> Mask {
        let mut list = Vec::new();
        for s in [&secrets.client_secret, &secrets.refresh_token]
            .into_iter()
            .flatten()
        {
            let mut encoded = Vec::new();
            form_pair(&mut encoded, "", s.expose());
            list.push(encoded[1..].to_vec());
            list.push(s.expose().to_vec());
        }
        // Longest first, so that a secret inside another is masked whole.
        list.retain(|s| !s.is_empty());
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Mask { secrets: list }
    }

    /// The request's secrets, then the values of secret members in the
    /// answer (which masked_json hides only when the answer parses).
    fn apply(&self, text: &[u8]) -> Vec<u8> {
        hide_members(&self.apply_request(text))
    }

    fn apply_request(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        'next: while i < text.len() {
            for s in &self.secrets {
                if text[i..].starts_with(s) {
                    out.extend_from_slice(b"***");
                    i += s.len();
                    continue 'next;
                }
            }
            out.push(text[i]);
            i += 1;
        }
        out
    }

    /// `text` masked, escaped and cut to EXCERPT.
    fn excerpt(&self, text: &[u8]) -> String {
        crate::report::escape_cut(&self.apply(text), EXCERPT)
    }
}

impl Drop for Mask {
    fn drop(&mut self) {
        for s in &mut self.secrets {
            s.fill(0);
        }
    }
}

/// The values of secret members (`access_token`, ...) in an answer that
/// did not parse as JSON (a byte-order mark, trailing junk, a form-encoded
/// answer, a broken chunk): whatever follows the member's name and its
/// `":` or `=`, up to the end of the value, becomes `***`.
fn hide_members(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let Some(name) = SECRET_MEMBERS
            .iter()
            .find(|m| text[i..].starts_with(m.as_bytes()))
        else {
            out.push(text[i]);
            i += 1;
            continue;
        };
        out.extend_from_slice(name.as_bytes());
        i += name.len();
        // Only a name followed by `:` or `=` has a value: "Invalid
        // refresh_token provided" in an error description stays readable.
        let mut assigned = false;
        while let Some(&b) = text.get(i).filter(|b| b"\" :=\t\r\n".contains(b)) {
            assigned |= b == b':' || b == b'=';
            out.push(b);
            i += 1;
        }
        if !assigned {
            continue;
        }
        let start = i;
        while let Some(&b) = text.get(i) {
            if b"\"&,}; \t\r\n".contains(&b) {
                break;
            }
            // An escaped character stays inside the value.
            i += if b == b'\\' { 2 } else { 1 };
        }
        i = i.min(text.len());
        if i > start {
            out.extend_from_slice(b"***");
        }
    }
    out
}

/// The JSON answer, with the values of secret members as `***`.
fn masked_json(value: &Json) -> Json {
    match value {
        Json::Obj(fields) => Json::Obj(
            fields
                .iter()
                .map(|(k, v)| {
                    let v = if SECRET_MEMBERS.contains(&k.as_str()) {
                        Json::str("***")
                    } else {
                        masked_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Json::Arr(items) => Json::Arr(items.iter().map(masked_json).collect()),
        other => other.clone(),
    }
}

fn interpret(
    cfg: &OAuthConfig,
    secrets: &OAuthSecrets,
    answer: Response,
    mask: &Mask,
    transcript: Transcript,
) -> Result<Token, TokenError> {
    let (status, reason) = (answer.status, answer.reason.clone());
    if (300..400).contains(&status) {
        transcript.https("S:", &mask.excerpt(answer.body.expose()));
        return Err(TokenError::Redirect {
            status,
            location: answer
                .header("Location")
                .map(|l| mask.excerpt(l.as_bytes())),
        });
    }
    let mut json = match json_read::parse(answer.body.expose()) {
        Ok(j) => j,
        Err(why) => {
            let excerpt = mask.excerpt(answer.body.expose());
            transcript.https("S:", &excerpt);
            return Err(TokenError::NotJson {
                status,
                reason: mask.excerpt(reason.as_bytes()),
                content_type: answer
                    .header("Content-Type")
                    .map(|t| mask.excerpt(t.as_bytes())),
                why,
                excerpt,
            });
        }
    };
    let shown = mask.excerpt(masked_json(&json).render().as_bytes());
    transcript.https("S:", &shown);
    if let Some(error) = json_read::get_str(&json, "error") {
        let codes = match json_read::member(&json, "error_codes") {
            Some(Json::Arr(items)) => items
                .iter()
                .filter_map(|c| match c {
                    Json::Int(n) => Some(*n),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        return Err(TokenError::OAuth {
            status,
            error: mask.excerpt(error.as_bytes()),
            description: json_read::get_str(&json, "error_description")
                .map(|d| mask.excerpt(d.as_bytes())),
            codes,
        });
    }
    let access =
        json_read::take_str(&mut json, "access_token").map(|s| Secret::new(s.into_bytes()));
    let refresh =
        json_read::take_str(&mut json, "refresh_token").map(|s| Secret::new(s.into_bytes()));
    let (Some(access_token), 200..=299) = (access.filter(|t| !t.expose().is_empty()), status)
    else {
        return Err(TokenError::NoToken {
            status,
            reason,
            excerpt: shown,
        });
    };
    let expires_in = match json_read::member(&json, "expires_in") {
        Some(Json::Int(n)) => Some(*n),
        Some(Json::Str(s)) => s.parse().ok(),
        _ => None,
    };
    let rotation = match (&cfg.refresh_token_file, refresh, &secrets.refresh_token) {
        // Saving an empty token, or one with a line break, would lose the
        // only one that works: the file keeps the old one.
        (Some(path), Some(new), Some(_)) if !usable_refresh_token(new.expose()) => {
            Rotation::NotSaved {
                path: path.clone(),
                error: "the endpoint sent an empty refresh token, one with control characters or one longer than the 16 KiB a refresh token file may hold; the old one is kept".into(),
            }
        }
        (Some(path), Some(new), Some(old)) if new.expose() != old.expose() => {
            save_refresh_token(path, &new)
        }
        (Some(_), Some(_), _) => Rotation::Same,
        _ => Rotation::None,
    };
    Ok(Token {
        access_token,
        token_type: json_read::get_str(&json, "token_type").map(|t| mask.excerpt(t.as_bytes())),
        expires_in,
        rotation,
    })
}

/// A refresh token worth saving: one line, not empty, and one the next
/// run can read back (see `password::MAX_TOKEN_LINE`).
fn usable_refresh_token(token: &[u8]) -> bool {
    !token.is_empty()
        && token.len() <= crate::password::MAX_TOKEN_LINE
        && !token.iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// Replaces the refresh token file with `token` atomically, keeping its
/// mode and owner (see `output::replace_atomically`, which also refuses
/// what no rename may replace). A file this process may not write is left
/// alone even where the directory would allow the rename: its owner made
/// it read-only. A symbolic link is not written through: run as root from
/// cron, imapcheck would otherwise replace whatever file a user who can
/// write the link's directory points it at. Anything but a regular file
/// (a FIFO, a device put there since it was read) is left alone too, and
/// is not even opened: opening a FIFO to write waits for a reader.
fn save_refresh_token(path: &Path, token: &Secret) -> Rotation {
    use std::os::unix::fs::OpenOptionsExt;
    let not_saved = |error: String| Rotation::NotSaved {
        path: path.to_path_buf(),
        error,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return not_saved(
                "it is a symbolic link, which is not written through: name the file itself".into(),
            );
        }
        Ok(meta) if !meta.file_type().is_file() => {
            return not_saved("it is no longer a regular file".into());
        }
        Ok(_) => {}
        Err(e) => return not_saved(e.to_string()),
    }
    // O_NONBLOCK | O_NOCTTY: should it have become a FIFO or a terminal
    // in the meantime, the probe neither waits nor adopts it.
    let probe_flags = if cfg!(target_os = "linux") {
        0o4000 | 0o400
    } else {
        0
    };
    if let Err(e) = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(probe_flags)
        .open(path)
    {
        return not_saved(e.to_string());
    }
    let mut bytes = Secret::new(Vec::with_capacity(token.expose().len() + 1));
    bytes.extend(token.expose());
    bytes.extend(b"\n");
    match crate::output::replace_atomically(path, bytes.expose()) {
        Ok(()) => Rotation::Saved(path.to_path_buf()),
        Err(e) => not_saved(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::TokenUrl;

    fn config(refresh: Option<&str>) -> OAuthConfig {
        OAuthConfig {
            url: TokenUrl::parse("https://login.example/t").expect("url"),
            client_id: "app id".into(),
            scope: Some("https://outlook.office365.com/.default".into()),
            client_secret_file: None,
            refresh_token_file: refresh.map(PathBuf::from),
        }
    }

    fn secrets(client: Option<&str>, refresh: Option<&str>) -> OAuthSecrets {
        OAuthSecrets {
            client_secret: client.map(|s| Secret::new(s.as_bytes().to_vec())),
            refresh_token: refresh.map(|s| Secret::new(s.as_bytes().to_vec())),
        }
    }

    #[test]
    fn forms_show_no_secret() {
        let (form, shown) = request_form(&config(None), &secrets(Some("s3cr&t"), None));
        assert_eq!(
            form.expose(),
            b"grant_type=client_credentials&client_id=app+id&client_secret=s3cr%26t&scope=https%3A%2F%2Foutlook.office365.com%2F.default"
        );
        assert_eq!(
            shown,
            "grant_type=client_credentials&client_id=app+id&client_secret=***&scope=https%3A%2F%2Foutlook.office365.com%2F.default"
        );
        let (form, shown) = request_form(&config(Some("f")), &secrets(None, Some("1//rt")));
        assert!(
            form.expose()
                .starts_with(b"grant_type=refresh_token&refresh_token=1%2F%2Frt&client_id=")
        );
        assert!(shown.starts_with("grant_type=refresh_token&refresh_token=***&client_id="));
        assert!(!shown.contains("client_secret"));
    }

    #[test]
    fn mask_hides_secrets_plain_and_encoded() {
        let mask = Mask::new(&secrets(Some("s3cr&t"), Some("1//rt")));
        assert_eq!(
            mask.apply(b"echo: client_secret=s3cr%26t refresh=1//rt raw s3cr&t"),
            b"echo: client_secret=*** refresh=*** raw ***"
        );
    }

    #[test]
    fn rotation_keeps_mode_and_owner_and_never_writes_through_a_symlink() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = std::env::temp_dir().join(format!("imapcheck-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("real");
        std::fs::write(&file, "old\n").expect("file");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        // As root (the tests' usual user) the owner is kept too.
        let owned = std::os::unix::fs::chown(&file, Some(4321), Some(4322)).is_ok();
        // A link, as a user who can write the directory would plant it.
        let link = dir.join("link");
        symlink(&file, &link).expect("symlink");
        let refused = save_refresh_token(&link, &Secret::new(b"new".to_vec()));
        assert!(
            matches!(&refused, Rotation::NotSaved { error, .. } if error.contains("symbolic link")),
            "{refused:?}"
        );
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "old\n");
        let saved = save_refresh_token(&file, &Secret::new(b"new".to_vec()));
        assert_eq!(saved, Rotation::Saved(file.clone()));
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "new\n");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        if owned {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(&file).expect("meta");
            assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
        }
        let missing = dir.join("missing");
        assert!(matches!(
            save_refresh_token(&missing, &Secret::new(b"x".to_vec())),
            Rotation::NotSaved { path, .. } if path == missing
        ));
        // A FIFO put where the file was: neither opened (no reader, the
        // open would wait forever) nor replaced.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let refused = save_refresh_token(&fifo, &Secret::new(b"new".to_vec()));
        assert!(
            matches!(&refused, Rotation::NotSaved { error, .. } if error.contains("regular file")),
            "{refused:?}"
        );
        use std::os::unix::fs::FileTypeExt;
        let kind = std::fs::symlink_metadata(&fifo).expect("meta").file_type();
        assert!(kind.is_fifo(), "the FIFO is still there");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn token_members_are_hidden_in_answers_that_do_not_parse() {
        for (answer, shown) in [
            (
                "\u{feff}{\"token_type\":\"Bearer\",\"access_token\":\"ya29.SECRET\",\"expires_in\":3599}",
                "\u{feff}{\"token_type\":\"Bearer\",\"access_token\":\"***\",\"expires_in\":3599}",
            ),
            (
                "{\"refresh_token\" : \"1//R\\\"x\", \"id_token\":\"J\"} junk",
                "{\"refresh_token\" : \"***\", \"id_token\":\"***\"} junk",
            ),
            (
                "access_token=AT&refresh_token=RT&x=1",
                "access_token=***&refresh_token=***&x=1",
            ),
            (
                "cut short: access_token\":\"ABC",
                "cut short: access_token\":\"***",
            ),
            ("no secret here", "no secret here"),
            (
                "Invalid refresh_token provided",
                "Invalid refresh_token provided",
            ),
        ] {
            assert_eq!(
                String::from_utf8_lossy(&hide_members(answer.as_bytes())),
                shown
            );
        }
    }

    #[test]
    fn only_a_one_line_refresh_token_is_worth_saving() {
        assert!(usable_refresh_token(b"1//0gAbC-xyz"));
        let huge = vec![b'a'; crate::password::MAX_TOKEN_LINE + 1];
        for bad in [&b""[..], b"a\nb", b"a\r", b"\x00", &huge] {
            assert!(!usable_refresh_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn secret_members_are_masked() {
        let j =
            json_read::parse(br#"{"access_token":"A","x":{"refresh_token":"R"},"expires_in":1}"#)
                .expect("json");
        assert_eq!(
            masked_json(&j).render(),
            r#"{"access_token":"***","x":{"refresh_token":"***"},"expires_in":1}"#
        );
    }
}
