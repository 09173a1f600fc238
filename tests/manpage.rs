//! The man page and the binary cannot drift apart.
//!
//! - Every option `imapcheck --help` lists has an entry in the OPTIONS
//!   section of man/imapcheck.1, and every entry there is an option the
//!   binary has; the short forms too.
//! - The SYNOPSIS names every option, and the OUTPUT section every
//!   top-level JSON field (and those of `error` and `steps[]`), and every
//!   field name the JSON renderer writes, nested ones such as `quota[]`'s.
//! - `mandoc -Tlint` reports nothing, and the page fits 80 columns.
//!
//! mandoc is required: without it these tests fail (tests/run installs it
//! when run as root), they never pass by skipping.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The short options the CLI contract fixes (issue 2).
const SHORT_FLAGS: [&str; 13] = [
    "-p", "-4", "-6", "-t", "-u", "-v", "-w", "-c", "-H", "-S", "-D", "-V", "-h",
];

const MANDOC_MISSING: &str = "mandoc is not installed; install it with: apt-get install -y mandoc \
     (tests/run does that itself when run as root)";

fn man_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/imapcheck.1")
}

fn man_source() -> String {
    let path = man_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn help_text() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_imapcheck"))
        .arg("--help")
        .output()
        .expect("run imapcheck --help");
    assert!(
        out.status.success(),
        "imapcheck --help exited with {}",
        out.status
    );
    String::from_utf8(out.stdout).expect("--help output is UTF-8")
}

fn mandoc(args: &[&str]) -> Output {
    match Command::new("mandoc").args(args).arg(man_path()).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MANDOC_MISSING}"),
        Err(e) => panic!("cannot run mandoc: {e}"),
    }
}

/// The option names of each entry in the "Options:" part of `--help`, e.g.
/// `["-p", "--port"]`, `["--help", "help"]`.
fn help_entries(help: &str) -> Vec<Vec<String>> {
    let options = help
        .split_once("\nOptions:\n")
        .map(|(_, rest)| rest)
        .expect("--help has an Options: section");
    options
        .lines()
        // Entries are indented by two spaces; continuation lines by more.
        .filter(|l| l.starts_with("  -") && !l.starts_with("   "))
        // `-x, --name` then the text; a long name (`-D, --certificate`)
        // leaves a single space before it.
        .map(|l| {
            let mut names = Vec::new();
            for word in l.split_whitespace() {
                let name = word.strip_suffix(',').unwrap_or(word);
                if !(name.starts_with('-') || (name == "help" && !names.is_empty())) {
                    break;
                }
                names.push(name.to_string());
                if !word.ends_with(',') {
                    break;
                }
            }
            names
        })
        .collect()
}

/// Roff text to plain text, as far as option names need: `\-` is a dash,
/// font escapes and quotes go.
fn unroff(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('-') => out.push('-'),
                Some('f') => {
                    chars.next();
                }
                Some('e') => out.push('\\'),
                Some('&') | Some('%') | Some('c') => {}
                Some(other) => out.push(other),
                None => {}
            },
            '"' => {}
            c => out.push(c),
        }
    }
    out
}

/// Option names in plain text: `--word-word` and `-x` (a single letter or
/// digit standing alone).
fn flags_in(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !word(bytes[i - 1]);
        if bytes[i] == b'-' && starts_word {
            let mut end = i + 1;
            while end < bytes.len() && word(bytes[end]) {
                end += 1;
            }
            let token = &text[i..end];
            let long = token.len() > 2
                && token.starts_with("--")
                && token.as_bytes()[2].is_ascii_alphanumeric();
            let short = token.len() == 2 && token.as_bytes()[1].is_ascii_alphanumeric();
            if long || short {
                found.insert(token.to_string());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// The lines of one `.SH` section (without the `.SH` line).
fn section<'a>(man: &'a str, name: &str) -> Vec<&'a str> {
    let heading = format!(".SH {name}");
    let mut lines = man.lines().skip_while(|l| l.trim() != heading);
    assert!(
        lines.next().is_some(),
        "man/imapcheck.1 has no \"{heading}\" section"
    );
    lines.take_while(|l| !l.starts_with(".SH ")).collect()
}

/// The tag line of every `.TP` entry in OPTIONS, as written in roff.
fn option_tags(man: &str) -> Vec<&str> {
    let lines = section(man, "OPTIONS");
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == ".TP")
        .filter_map(|(i, _)| lines.get(i + 1).copied())
        .collect()
}

fn split_long_short(flags: &BTreeSet<String>) -> (BTreeSet<String>, BTreeSet<String>) {
    flags.iter().cloned().partition(|f| f.starts_with("--"))
}

#[test]
fn help_and_man_page_list_the_same_options() {
    let help = help_text();
    let entries = help_entries(&help);
    assert!(
        entries.len() >= 20,
        "parsed only {} option entries from --help:\n{help}",
        entries.len()
    );
    let help_flags: BTreeSet<String> = entries
        .iter()
        .flatten()
        .filter(|n| n.starts_with('-'))
        .cloned()
        .collect();
    let (help_long, help_short) = split_long_short(&help_flags);

    let man = man_source();
    let tags = option_tags(&man);
    let man_flags: BTreeSet<String> = tags.iter().flat_map(|t| flags_in(&unroff(t))).collect();
    let (man_long, man_short) = split_long_short(&man_flags);

    let undocumented: Vec<&String> = help_long.difference(&man_long).collect();
    assert!(
        undocumented.is_empty(),
        "options in --help without an entry in the man page's OPTIONS: {undocumented:?}"
    );
    let unknown: Vec<&String> = man_long.difference(&help_long).collect();
    assert!(
        unknown.is_empty(),
        "options in the man page's OPTIONS that --help does not list: {unknown:?}"
    );
    assert_eq!(
        help_short, man_short,
        "short options differ between --help and the man page"
    );
}

#[test]
fn man_page_option_entries_use_roff_dashes() {
    let man = man_source();
    let tags = option_tags(&man);
    let help = help_text();
    for names in help_entries(&help) {
        for name in names.iter().filter(|n| n.starts_with("--")) {
            let roff = name.replace('-', "\\-");
            let entry = tags.iter().find(|t| {
                flags_in(&unroff(t)).contains(name.as_str()) && t.contains(roff.as_str())
            });
            assert!(
                entry.is_some(),
                "no OPTIONS entry in the man page whose tag has {roff} (for {name})"
            );
        }
    }
    for tag in &tags {
        let bare = tag
            .char_indices()
            .any(|(i, c)| c == '-' && !tag[..i].ends_with('\\'));
        assert!(
            !bare,
            "OPTIONS tag {tag:?} has a bare '-': write option dashes as \\- in roff"
        );
    }
}

#[test]
fn the_contract_short_options_are_in_help_and_man_page() {
    let help = help_text();
    let help_flags: BTreeSet<String> = help_entries(&help).into_iter().flatten().collect();
    let man = man_source();
    let man_flags: BTreeSet<String> = option_tags(&man)
        .iter()
        .flat_map(|t| flags_in(&unroff(t)))
        .collect();
    for short in SHORT_FLAGS {
        assert!(help_flags.contains(short), "--help lacks {short}");
        assert!(
            man_flags.contains(short),
            "the man page's OPTIONS lack {short}"
        );
    }
}

#[test]
fn synopsis_names_every_option() {
    let man = man_source();
    let synopsis = section(&man, "SYNOPSIS");
    let named: BTreeSet<String> = synopsis
        .iter()
        .filter(|l| l.starts_with(".OP ") || l.starts_with(".B "))
        .flat_map(|l| flags_in(&unroff(l)))
        .collect();
    for names in help_entries(&help_text()) {
        assert!(
            names.iter().any(|n| named.contains(n)),
            "the SYNOPSIS names none of {names:?}"
        );
    }
}

/// Words set in bold (`.B`, `.BR`) in the man page's `--format json`
/// subsection: the documented field names.
fn json_field_names(man: &str) -> BTreeSet<String> {
    let lines = section(man, "OUTPUT");
    let start = lines
        .iter()
        .position(|l| l.starts_with(".SS") && unroff(l).contains("--format json"))
        .expect("OUTPUT has a --format json subsection");
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with(".SS"))
        .filter(|l| l.starts_with(".B ") || l.starts_with(".BR "))
        .flat_map(|l| {
            unroff(l)
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn json_fields_are_documented() {
    // A run that stops before the network (no password, stdin not a
    // terminal) still prints the whole object with every top-level field.
    let out = Command::new(env!("CARGO_BIN_EXE_imapcheck"))
        .args(["127.0.0.1", "-u", "nobody", "--format", "json"])
        .env_remove("IMAPCHECK_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run imapcheck");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let documented = json_field_names(&man_source());
    let mut keys: Vec<String> = Vec::new();
    for (object, path) in [
        (&v, ""),
        (&v["error"], "error."),
        (&v["steps"][0], "steps[]."),
    ] {
        let map = object
            .as_object()
            .unwrap_or_else(|| panic!("{path} is not an object in {v}"));
        keys.extend(map.keys().map(|k| format!("{path}{k}")));
    }
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !documented.contains(k.rsplit('.').next().unwrap_or(k)))
        .collect();
    assert!(
        missing.is_empty(),
        "JSON fields not documented in the man page's --format json: {missing:?}"
    );
}

/// The JSON renderer: the one file that writes the JSON object.
const JSON_RENDERER: &str = "src/report/json.rs";

/// Every field name the JSON renderer writes (`.field("name", ...)` in
/// its file, before its unit tests), nested ones included: `quota[]`'s,
/// `message`'s and `tls`'s fields are null or absent in the run above, so
/// they are read from the source instead.
fn json_fields_in_source() -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(JSON_RENDERER);
    let src = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        src.contains("impl Renderer for"),
        "{JSON_RENDERER} is not the JSON renderer any more: point JSON_RENDERER at it"
    );
    let body = src.split("#[cfg(test)]").next().unwrap_or_default();
    // rustfmt may break the line after `.field(`.
    body.split(".field(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn every_json_field_the_code_writes_is_documented() {
    let fields = json_fields_in_source();
    for expected in [
        "server_id",
        "quota",
        "root",
        "resource",
        "used",
        "limit",
        "subject_raw",
        "days_left",
        "uidvalidity",
        "body_bytes",
        "response",
    ] {
        assert!(
            fields.contains(expected),
            "the scan of {JSON_RENDERER} missed {expected:?}: {fields:?}"
        );
    }
    let documented = json_field_names(&man_source());
    let missing: Vec<&String> = fields.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "JSON fields written by {JSON_RENDERER} but not documented in the man page's --format json: {missing:?}"
    );
}

#[test]
fn man_page_header_names_this_version() {
    let man = man_source();
    let th = man
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH line");
    let version = format!("\"imapcheck {}\"", env!("CARGO_PKG_VERSION"));
    assert!(
        th.contains(&version),
        "{th:?} does not name {version}: update .TH in man/imapcheck.1"
    );
}

#[test]
fn mandoc_lint_reports_nothing() {
    let out = mandoc(&["-Tlint"]);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "mandoc -Tlint man/imapcheck.1 ({}):\n{report}",
        out.status
    );
}

#[test]
fn man_page_fits_80_columns() {
    let out = mandoc(&["-Tascii", "-Owidth=80"]);
    assert!(
        out.status.success(),
        "mandoc -Tascii failed: {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Bold and underline are "c\bc" and "_\bc": keep the last character.
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    assert!(plain.lines().count() > 300, "the page rendered too short");
    let wide: Vec<String> = plain
        .lines()
        .filter(|l| l.chars().count() > 80)
        .map(|l| format!("{:3}: {l}", l.chars().count()))
        .collect();
    assert!(
        wide.is_empty(),
        "lines wider than 80 columns in `mandoc -Tascii -Owidth=80`:\n{}",
        wide.join("\n")
    );
}

#[test]
fn flag_scanner_finds_long_and_short_options() {
    let found = flags_in(&unroff(
        r#".BI "\-p, \-\-port " port and \-\-ca\-file, not a\-b or \-\- or \-xy"#,
    ));
    let expected: BTreeSet<String> = ["-p", "--port", "--ca-file"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, expected);
}
