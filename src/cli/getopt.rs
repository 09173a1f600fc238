//! getopt's argument forms, rewritten into the one form argh parses.
//! Monitoring plugins and their configurations (Debian's
//! /etc/nagios-plugins/config/mail.cfg passes `'$ARG1$'` as one argument)
//! write `--port=993`, `-p993`, `'-p 993'` as one argument, `-4v`, and an
//! empty argument where nothing was configured. check_imap takes all of
//! them through getopt; argh takes none. `normalize` turns them into
//! `--port 993`, `-p 993`, `-4 -v` and drops the empty positional, before
//! argh sees the list.
//!
//! Which options take a value comes from argh's own metadata (`ArgsInfo`
//! on `Args`), so a new option is known here the moment it exists. What is
//! not understood (an unknown letter, `--switch=value`) is left as it was,
//! for argh to report in its own words.

use argh::{ArgsInfo, FlagInfoKind};

use super::Args;

/// The first argument that names a subcommand with flags of its own: the
/// list is then left entirely to that subcommand's parser.
const SUBCOMMANDS: [&str; 1] = ["serve"];

/// What the flags are: long names (with `--`) and short letters, each
/// taking a value or not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Spec {
    long_values: Vec<String>,
    long_switches: Vec<String>,
    short_values: Vec<char>,
    short_switches: Vec<char>,
}

impl Spec {
    /// The flags of imapcheck's `Args`, read from argh's metadata.
    pub fn of_args() -> Spec {
        let mut spec = Spec::default();
        for flag in Args::get_args_info().flags {
            let takes_value = matches!(flag.kind, FlagInfoKind::Option { .. });
            let long = flag.long.to_string();
            match (takes_value, flag.short) {
                (true, Some(c)) => spec.short_values.push(c),
                (false, Some(c)) => spec.short_switches.push(c),
                (_, None) => {}
            }
            if takes_value {
                spec.long_values.push(long);
            } else {
                spec.long_switches.push(long);
            }
        }
        // argh's help triggers (`-h`, `--help`) are switches too.
        for c in ['h'] {
            if !spec.short_switches.contains(&c) {
                spec.short_switches.push(c);
            }
        }
        spec
    }

    fn long_takes_value(&self, name: &str) -> bool {
        self.long_values.iter().any(|l| l == name)
    }

    /// `Some(true)` for a letter with a value, `Some(false)` for a switch,
    /// `None` for a letter no flag has.
    fn short_takes_value(&self, c: char) -> Option<bool> {
        if self.short_values.contains(&c) {
            Some(true)
        } else if self.short_switches.contains(&c) {
            Some(false)
        } else {
            None
        }
    }
}

/// The arguments (without the program name) in the forms argh parses.
pub fn normalize(args: Vec<String>) -> Vec<String> {
    normalize_with(&Spec::of_args(), args)
}

/// `normalize` for the flags of `spec`.
pub fn normalize_with(spec: &Spec, args: Vec<String>) -> Vec<String> {
    if args
        .first()
        .is_some_and(|a| SUBCOMMANDS.contains(&a.as_str()))
    {
        return args;
    }
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut rest = args.into_iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            // End of options: everything after it is positional, as is.
            out.push(arg);
            out.extend(rest);
            break;
        }
        if arg.is_empty() {
            // An unset '$ARG1$' where the host or nothing would go:
            // check_imap ignores it, and so do we.
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) if spec.long_takes_value(&format!("--{name}")) => {
                    out.push(format!("--{name}"));
                    out.push(value.to_string());
                }
                _ => {
                    let value_follows = spec.long_takes_value(&arg);
                    out.push(arg);
                    if value_follows {
                        out.extend(rest.next());
                    }
                }
            }
            continue;
        }
        if arg.len() > 1 && arg.starts_with('-') {
            match split_short(spec, &arg) {
                Some((flags, value_follows)) => {
                    out.extend(flags);
                    if value_follows {
                        out.extend(rest.next());
                    }
                }
                // A letter no flag has: argh says so about the argument.
                None => out.push(arg),
            }
            continue;
        }
        out.push(arg);
    }
    out
}

/// `-4v` → `-4 -v`; `-p993` and `-p 993` (one argument) → `-p 993`; `-vp`
/// → `-v -p` with the value in the next argument (the bool). `None` when a
/// letter is not a flag.
fn split_short(spec: &Spec, arg: &str) -> Option<(Vec<String>, bool)> {
    let mut flags = Vec::new();
    let body = &arg[1..];
    for (i, c) in body.char_indices() {
        match spec.short_takes_value(c)? {
            false => flags.push(format!("-{c}")),
            true => {
                flags.push(format!("-{c}"));
                let attached = &body[i + c.len_utf8()..];
                if attached.is_empty() {
                    return Some((flags, true));
                }
                // `'-p 993'` as one argument: getopt's value is " 993",
                // which check_imap's atoi reads as 993.
                flags.push(attached.trim_start_matches([' ', '\t']).to_string());
                return Some((flags, false));
            }
        }
    }
    Some((flags, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argh::FromArgs;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn getopt_forms_become_argh_forms() {
        let table: &[(&[&str], &[&str])] = &[
            // Already argh's form: untouched.
            (&["-H", "mail", "-p", "993"], &["-H", "mail", "-p", "993"]),
            (&["mail", "--port", "993"], &["mail", "--port", "993"]),
            // --name=value, for every option with a value.
            (&["mail", "--port=993"], &["mail", "--port", "993"]),
            (&["mail", "--folder=a=b"], &["mail", "--folder", "a=b"]),
            (&["mail", "--folder="], &["mail", "--folder", ""]),
            // The value attached to the letter, or in the same argument
            // after a space (mail.cfg's '$ARG1$').
            (&["-Hmail", "-p993"], &["-H", "mail", "-p", "993"]),
            (&["-H", "mail", "-p 24200"], &["-H", "mail", "-p", "24200"]),
            (&["-H", "mail", "-t 5.5"], &["-H", "mail", "-t", "5.5"]),
            // Clustered switches, and a cluster ending in an option.
            (&["mail", "-4v"], &["mail", "-4", "-v"]),
            (&["mail", "-4Sv"], &["mail", "-4", "-S", "-v"]),
            (&["mail", "-vp", "993"], &["mail", "-v", "-p", "993"]),
            (&["mail", "-vp993"], &["mail", "-v", "-p", "993"]),
            (&["-vH", "mail"], &["-v", "-H", "mail"]),
            // An empty argument where the host would go is ignored.
            (&["-H", "mail", ""], &["-H", "mail"]),
            (&["", "-H", "mail"], &["-H", "mail"]),
            // ...but an empty value stays a value.
            (&["mail", "--folder", ""], &["mail", "--folder", ""]),
            (&["mail", "-u", ""], &["mail", "-u", ""]),
            // A value that looks like a flag is a value.
            (&["mail", "--folder", "-x"], &["mail", "--folder", "-x"]),
            (&["mail", "--folder", "--"], &["mail", "--folder", "--"]),
            (&["mail", "-u", "-4v"], &["mail", "-u", "-4v"]),
            (&["mail", "--folder", ""], &["mail", "--folder", ""]),
            // After `--` everything is positional, as it was.
            (&["--", "-4v", ""], &["--", "-4v", ""]),
            (&["-4", "--", "--port=1"], &["-4", "--", "--port=1"]),
            // What is not understood is left for argh to report.
            (&["mail", "-4x"], &["mail", "-4x"]),
            (&["mail", "--ipv4=yes"], &["mail", "--ipv4=yes"]),
            (&["mail", "--nope=1"], &["mail", "--nope=1"]),
            (&["mail", "-"], &["mail", "-"]),
            // Help stays help.
            (&["-h"], &["-h"]),
            (&["--help"], &["--help"]),
            (&["-vh"], &["-v", "-h"]),
            // A subcommand with its own flags is left alone entirely.
            (&["serve", "--listen=x", ""], &["serve", "--listen=x", ""]),
            // ...but only as the first argument.
            (&["mail", "serve", ""], &["mail", "serve"]),
        ];
        for (given, want) in table {
            assert_eq!(norm(given), *want, "normalize({given:?})");
        }
    }

    /// Every option's value forms, from argh's metadata: nothing can be
    /// added to `Args` without these forms working for it.
    #[test]
    fn every_flag_of_args_accepts_getopts_forms() {
        let spec = Spec::of_args();
        assert!(spec.long_values.contains(&"--port".to_string()), "{spec:?}");
        assert!(
            spec.long_switches.contains(&"--ipv4".to_string()),
            "{spec:?}"
        );
        for long in &spec.long_values {
            assert_eq!(norm(&[&format!("{long}=v")]), [long.as_str(), "v"]);
        }
        for c in &spec.short_values {
            let flag = format!("-{c}");
            assert_eq!(norm(&[&format!("-{c}v")]), [flag.as_str(), "v"]);
            assert_eq!(norm(&[&format!("-{c} v")]), [flag.as_str(), "v"]);
        }
        for c in &spec.short_switches {
            let flag = format!("-{c}");
            assert_eq!(norm(&[&format!("-{c}{c}")]), [flag.as_str(), flag.as_str()]);
        }
    }

    /// The metadata agrees with `--help`'s usage line: each flag it shows
    /// (`[-p <port>]`, `[--security <security>]`, `[-S]`) is in the spec,
    /// with or without a value alike; the options list pairs the letters
    /// with their long names.
    #[test]
    fn the_spec_matches_the_help_text() {
        let spec = Spec::of_args();
        let help = match Args::from_args(&["imapcheck"], &["--help"]) {
            Err(e) => e.output,
            Ok(_) => panic!("--help parsed as a check"),
        };
        let usage = help.lines().next().unwrap_or_default();
        let mut seen = 0;
        for group in usage.split('[').skip(1) {
            let group = group.split(']').next().unwrap_or_default();
            let mut words = group.split_whitespace();
            let flag = words.next().unwrap_or_default();
            let takes_value = words.next().is_some_and(|w| w.starts_with('<'));
            if flag == "--" {
                continue;
            }
            if let Some(long) = flag.strip_prefix("--").filter(|l| !l.is_empty()) {
                assert_eq!(
                    spec.long_takes_value(&format!("--{long}")),
                    takes_value,
                    "{group}"
                );
                seen += 1;
            } else if let Some(c) = flag.strip_prefix('-').and_then(|l| l.chars().next()) {
                assert_eq!(spec.short_takes_value(c), Some(takes_value), "{group}");
                seen += 1;
            }
        }
        assert!(seen > 30, "only {seen} flags in the usage line:\n{help}");
        // "-p, --port    TCP port ...": the letter and the name agree.
        for line in help.lines().map(str::trim_start) {
            let Some((short, rest)) = line.split_once(", --") else {
                continue;
            };
            let Some(c) = short.strip_prefix('-').and_then(|l| l.chars().next()) else {
                continue;
            };
            let long = format!("--{}", rest.split_whitespace().next().unwrap_or_default());
            assert_eq!(
                spec.short_takes_value(c),
                Some(spec.long_takes_value(&long)),
                "{line}"
            );
        }
    }
}
