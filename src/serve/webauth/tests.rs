//! The users file and the Basic check: the spec's published vectors,
//! hashes made by `openssl passwd -6` at test time, and every way a
//! header or a line can be wrong.

use super::sha512_crypt::{MAX_SALT, MIN_ROUNDS, SPEC_MAX_ROUNDS, encode, sha512_crypt};
use super::*;
use std::process::Command;

/// `$6$[rounds=N$]salt` and the password to the whole crypt string, as the
/// spec's own sample implementation writes it (rounds shown when given).
fn crypt(password: &str, setting: &str) -> String {
    let rest = setting.strip_prefix("$6$").expect("$6$");
    let (rounds, salt) = match rest.strip_prefix("rounds=") {
        Some(r) => {
            let (n, salt) = r.split_once('$').expect("rounds=N$");
            (Some(n.parse::<u32>().expect("rounds")), salt)
        }
        None => (None, rest),
    };
    let salt = &salt.as_bytes()[..salt.len().min(MAX_SALT)];
    let digest = sha512_crypt(password.as_bytes(), salt, rounds.unwrap_or(DEFAULT_ROUNDS));
    let shown = match rounds {
        Some(r) => format!("rounds={}$", r.clamp(MIN_ROUNDS, SPEC_MAX_ROUNDS)),
        None => String::new(),
    };
    format!(
        "$6${shown}{}${}",
        String::from_utf8_lossy(salt),
        String::from_utf8_lossy(&encode(&digest))
    )
}

#[test]
fn the_specs_published_vectors() {
    // From "Unix crypt using SHA-256 and SHA-512" (Drepper), SHA-512 part.
    let vectors = [
        (
            "$6$saltstring",
            "Hello world!",
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        ),
        (
            "$6$rounds=10000$saltstringsaltstring",
            "Hello world!",
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
        ),
        (
            "$6$rounds=5000$toolongsaltstring",
            "This is just a test",
            "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
        ),
        (
            "$6$rounds=1400$anotherlongsaltstring",
            "a very much longer text to encrypt.  This one even stretches over morethan one line.",
            "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
        ),
        (
            "$6$rounds=77777$short",
            "we have a short salt string but not a short password",
            "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
        ),
        (
            "$6$rounds=123456$asaltof16chars..",
            "a short string",
            "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
        ),
        (
            "$6$rounds=10$roundstoolow",
            "the minimum number is still observed",
            "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
        ),
    ];
    for (setting, password, expected) in vectors {
        assert_eq!(crypt(password, setting), expected, "{setting}");
    }
}

/// A users file line for `user` with the hash `openssl passwd -6` makes.
fn openssl_line(user: &str, salt: &str, password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, password])
        .output()
        .expect("openssl passwd (the openssl command-line tool)");
    assert!(out.status.success(), "openssl passwd failed");
    let hash = String::from_utf8(out.stdout).expect("UTF-8");
    format!("{user}:{}", hash.trim())
}

fn basic(user_password: &str) -> Vec<u8> {
    format!("Basic {}", crate::base64::encode(user_password.as_bytes())).into_bytes()
}

fn users(text: &str) -> Users {
    Users::parse(text.as_bytes()).unwrap_or_else(|(l, e)| panic!("line {l:?}: {e}"))
}

#[test]
fn hashes_from_openssl_passwd_verify() {
    let passwords = [
        ("alice", "s3cret", "saltsalt"),
        ("bob", "pass:with:colons", "x"),
        ("carol", "ünïcödé pässwörd", "sixteencharsalt."),
    ];
    let mut text = String::from("# prometheus scrapers\n\n");
    for (user, pw, salt) in passwords {
        text.push_str(&openssl_line(user, salt, pw));
        text.push('\n');
    }
    // OpenSSL 3.0's `passwd` prints <NULL> for an empty password; the
    // system's crypt(3) (through perl) makes that hash instead.
    let out = Command::new("perl")
        .args(["-e", "print crypt(q(), q($6$empty))"])
        .output()
        .expect("perl");
    text.push_str(&format!("dave:{}\n", String::from_utf8_lossy(&out.stdout)));
    let u = users(&text);
    assert_eq!(u.len(), 4);
    assert!(u.allows(Some(&basic("dave:"))), "empty password");
    assert!(!u.allows(Some(&basic("dave:x"))));
    for (user, pw, _) in passwords {
        assert!(u.allows(Some(&basic(&format!("{user}:{pw}")))), "{user}");
        assert!(!u.allows(Some(&basic(&format!("{user}:{pw}x")))), "{user}");
    }
    // One user's password is not another's.
    assert!(!u.allows(Some(&basic("alice:pass:with:colons"))));
    // A password that differs only in case, or is cut short.
    assert!(!u.allows(Some(&basic("alice:S3cret"))));
    assert!(!u.allows(Some(&basic("alice:s3cre"))));
}

#[test]
fn headers_that_do_not_let_in() {
    let u = users(&openssl_line("alice", "saltsalt", "s3cret"));
    assert!(u.allows(Some(&basic("alice:s3cret"))));
    // Scheme in any case, spaces around the value.
    let token = crate::base64::encode(b"alice:s3cret");
    assert!(u.allows(Some(format!("basic {token}").as_bytes())));
    assert!(u.allows(Some(format!("  BASIC   {token} ").as_bytes())));
    let refused: Vec<(&str, Vec<u8>)> = vec![
        ("wrong password", basic("alice:wrong")),
        ("wrong user", basic("mallory:s3cret")),
        ("user differs in case", basic("Alice:s3cret")),
        ("no colon", basic("alices3cret")),
        ("empty credentials", basic("")),
        ("bad base64", b"Basic YWxpY2U6czNjcmV0!".to_vec()),
        (
            "base64 with a space inside",
            b"Basic YWxp Y2U6czNjcmV0".to_vec(),
        ),
        ("other scheme", format!("Bearer {token}").into_bytes()),
        ("scheme only", b"Basic".to_vec()),
        ("scheme and space", b"Basic ".to_vec()),
        ("no space", format!("Basic{token}").into_bytes()),
        ("empty", Vec::new()),
        ("not UTF-8", b"Basic \xff\xfe".to_vec()),
        (
            "password beyond the cap",
            basic(&format!("alice:{}", "s".repeat(MAX_PASSWORD_BYTES + 1))),
        ),
    ];
    for (what, header) in refused {
        assert!(!u.allows(Some(&header)), "{what}");
    }
    assert!(!u.allows(None), "missing header");
}

#[test]
fn an_unknown_user_costs_a_hash() {
    // The dummy hash has the rounds most users have, so a wrong user is
    // as slow as a wrong password: measured, a wrong user takes at least
    // half as long as a wrong password (a skipped hash would take none).
    let mut text = openssl_line("alice", "saltsalt", "s3cret");
    text.push('\n');
    text.push_str("bob:$6$rounds=20000$abc$");
    text.push_str(&"x".repeat(HASH_CHARS));
    text.push('\n');
    text.push_str(&openssl_line("carol", "saltsalt2", "pw"));
    let u = users(&text);
    assert_eq!(u.dummy.rounds, DEFAULT_ROUNDS, "the most common rounds");
    let time = |header: &[u8]| {
        let start = std::time::Instant::now();
        for _ in 0..3 {
            assert!(!u.allows(Some(header)));
        }
        start.elapsed()
    };
    // The fastest of several rounds each, so that a busy machine's pauses
    // do not count.
    let fastest = |header: &[u8]| (0..7).map(|_| time(header)).min().expect("rounds");
    let wrong_password = fastest(&basic("alice:nope"));
    let wrong_user = fastest(&basic("mallory:nope"));
    assert!(
        wrong_user * 2 >= wrong_password,
        "wrong user {wrong_user:?}, wrong password {wrong_password:?}"
    );
}

#[test]
fn malformed_lines_are_refused_with_their_line() {
    let good = openssl_line("alice", "saltsalt", "s3cret");
    let hash = good.split_once(':').expect("colon").1.to_string();
    let h86 = &hash[hash.len() - HASH_CHARS..];
    let cases: Vec<(String, &str)> = vec![
        ("alice".into(), "no ':'"),
        (format!(":{hash}"), "user name is empty"),
        (format!("al ice:{hash}"), "space"),
        (format!("{good}\n{good}"), "given twice"),
        ("alice:plaintext".into(), "SHA-512 crypt"),
        (
            "alice:$5$salt$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq".into(),
            "SHA-512 crypt",
        ),
        (
            "alice:$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy".into(),
            "bcrypt",
        ),
        ("alice:$2y$10$abc".into(), "bcrypt"),
        ("alice:$6$saltsalt".into(), "no '$' after the salt"),
        (format!("{}x", good), "86 characters"),
        (good[..good.len() - 1].to_string(), "86 characters"),
        (
            format!("alice:$6$saltsalt${}", h86.replacen(|_| true, "*", 1)),
            "86 characters",
        ),
        (format!("alice:$6$0123456789abcdefg${h86}"), "at most 16"),
        (format!("alice:$6$rounds=999$s${h86}"), "minimum"),
        (
            format!("alice:$6$rounds=999999999$s${h86}"),
            "at most 200000",
        ),
        (
            format!("alice:$6$rounds=99999999999$s${h86}"),
            "beyond the spec",
        ),
        (format!("alice:$6$rounds=12a$s${h86}"), "not a number"),
        (format!("alice:$6$rounds=${h86}"), "not a number"),
        ("alice:$6$rounds=5000".to_string(), "not followed by '$'"),
    ];
    for (text, why) in cases {
        let text = format!("# users\n\n{text}\n");
        match Users::parse(text.as_bytes()) {
            Ok(_) => panic!("accepted: {text}"),
            Err((line, e)) => {
                assert!(e.contains(why), "{text}: {e}");
                assert!(line >= Some(3), "{text}: line {line:?}");
            }
        }
    }
    // A password written into the file instead of its hash is not
    // repeated in the error, which ends up in a log.
    for (line, says) in [
        ("alice:Sup3rSecret!", "a field that is no crypt hash"),
        ("alice:$1$Sup3rSecret", "$1$ hashes"),
        ("alice:$Sup3rSecret$x", "a field that is no crypt hash"),
    ] {
        let (_, e) = Users::parse(line.as_bytes()).expect_err(line);
        assert!(!e.contains("Sup3rSecret"), "{e}");
        assert!(e.contains(says), "{e}");
    }
    match Users::parse(b"# nobody\n\n") {
        Err((None, e)) => assert!(e.contains("no users"), "{e}"),
        _ => panic!("a file without users is accepted"),
    }
    let mut bytes = format!("{good}\nbob:").into_bytes();
    bytes.push(0xff);
    match Users::parse(&bytes) {
        Err((Some(2), e)) => assert!(e.contains("UTF-8"), "{e}"),
        _ => panic!("non-UTF-8 accepted"),
    }
    // CRLF lines, comments with leading spaces and explicit rounds are fine.
    let rounds = crypt("pw", "$6$rounds=5000$abc");
    let u = users(&format!("  # c\r\n{good}\r\nbob:{rounds}\r\n"));
    assert!(u.allows(Some(&basic("alice:s3cret"))));
    assert!(u.allows(Some(&basic("bob:pw"))));
}

#[test]
fn load_names_the_file_and_refuses_what_is_no_users_file() {
    let dir = std::env::temp_dir().join(format!("imapcheck-webauth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("users");
    std::fs::write(
        &path,
        format!("{}\nbad line\n", openssl_line("a", "s", "p")),
    )
    .expect("write");
    let e = Users::load(&path).expect_err("bad line");
    assert_eq!(
        e,
        format!(
            "{}:2: expected user:hash (no ':'); make the hash with `openssl passwd -6`",
            path.display()
        )
    );
    std::fs::write(&path, openssl_line("a", "s", "p")).expect("write");
    assert_eq!(Users::load(&path).expect("good file").len(), 1);
    let e = Users::load(&dir).expect_err("a directory");
    assert!(e.contains("not a regular file"), "{e}");
    let e = Users::load(Path::new("/dev/null")).expect_err("a device");
    assert!(e.contains("not a regular file"), "{e}");
    let big = dir.join("big");
    std::fs::write(&big, vec![b'#'; MAX_USERS_FILE_BYTES as usize + 1]).expect("write");
    let e = Users::load(&big).expect_err("too large");
    assert!(e.contains("too large"), "{e}");
    let e = Users::load(&dir.join("missing")).expect_err("missing");
    assert!(e.contains("cannot open"), "{e}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn debug_shows_no_hashes() {
    let line = openssl_line("alice", "saltsalt", "s3cret");
    let shown = format!("{:?}", users(&line));
    assert_eq!(shown, "Users(1 users)");
}

#[test]
fn users_are_shared_by_request_threads() {
    // The exporter checks each request on a thread of its own, against
    // one Users loaded at start (and replaced on reload).
    fn shared<T: Send + Sync>(_: &T) {}
    let u = std::sync::Arc::new(users(&openssl_line("alice", "saltsalt", "s3cret")));
    shared(&u);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let u = std::sync::Arc::clone(&u);
            std::thread::spawn(move || {
                let pw = if i % 2 == 0 { "s3cret" } else { "wrong" };
                u.allows(Some(&basic(&format!("alice:{pw}"))))
            })
        })
        .collect();
    let results: Vec<bool> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(results, [true, false, true, false]);
}
