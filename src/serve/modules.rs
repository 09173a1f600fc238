//! Modules: `<dir>/<name>.conf`, each imapcheck's own command-line options,
//! one per line (`--opt value`, `--opt=value`, or a switch alone), with
//! whole-line `#` comments and blank lines. The lines are parsed by the
//! same code as the command line (`cli::Args`, `cli::configure`): the
//! options mean what they mean there. Only `--allow-target` is the
//! module's own (see `allow`). Relative paths are relative to the modules
//! directory; options that make no sense for a probe are an error naming
//! the file and line.

use std::path::Path;

use argh::FromArgs;

use crate::cli::{self, Args, Config};
use crate::transport::{self, TlsSettings};

use super::allow::{AllowList, Pattern};

/// Largest module file: a module is a few dozen lines.
const MAX_MODULE_BYTES: u64 = 64 * 1024;

/// Most modules in the directory: each is a label value of the exporter's
/// own metrics and a line on the landing page.
const MAX_MODULES: usize = 256;

/// The host a module is checked with at load time, before a probe names
/// the real one (`.invalid` never resolves).
const PLACEHOLDER_HOST: &str = "module.invalid";

/// One module, loaded and checked.
pub struct Module {
    pub name: String,
    /// The option words, as the command line would have them (paths
    /// already made absolute); each probe parses them again with its
    /// target, through `cli` like the command line.
    words: Vec<String>,
    /// The configuration with a placeholder host: what the module asks
    /// for (timeout, user, family) without a target.
    pub config: Config,
    pub allow: AllowList,
    /// The TLS context, built once at load and shared by every probe.
    pub tls: TlsSettings,
}

impl Module {
    /// The module sends a password or token: it may probe only what its
    /// allow-list permits.
    pub fn sends_credentials(&self) -> bool {
        self.config.user.is_some()
    }

    /// The configuration of a probe of `host` (and `port`, else the
    /// module's or the default).
    pub fn configure(&self, host: &str, port: Option<u16>) -> Result<Config, String> {
        let words: Vec<&str> = self.words.iter().map(String::as_str).collect();
        let mut args = Args::from_args(&["imapcheck"], &words).map_err(|e| e.output)?;
        args.hostname = Some(host.to_string());
        if port.is_some() {
            args.port = port;
        }
        cli::configure(args, env_password_set(), false)
    }
}

fn env_password_set() -> bool {
    std::env::var_os("IMAPCHECK_PASSWORD").is_some()
}

/// Loads every `*.conf` of `dir`: the modules in name order, and a
/// warning for each module that will refuse every target. `Err` is the
/// first broken file, as `file:line: reason`.
pub fn load_dir(dir: &Path) -> Result<(Vec<Module>, Vec<String>), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: cannot read the modules directory: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "conf") {
            files.push(path);
        }
    }
    files.sort();
    if files.len() > MAX_MODULES {
        return Err(format!(
            "{}: more than {MAX_MODULES} module files",
            dir.display()
        ));
    }
    let mut modules = Vec::new();
    let mut warnings = Vec::new();
    let mut contexts = TlsContexts::default();
    for path in files {
        let module = load_file(dir, &path, &mut contexts)?;
        if module.sends_credentials() && module.allow.is_empty() {
            warnings.push(format!(
                "{}: the module logs in (-u) and has no --allow-target: it refuses every target with 403",
                path.display()
            ));
        }
        modules.push(module);
    }
    Ok((modules, warnings))
}

/// Loads one module file; `contexts` holds the TLS contexts built so far,
/// for modules that trust the same.
pub fn load_file(dir: &Path, path: &Path, contexts: &mut TlsContexts) -> Result<Module, String> {
    let shown = path.display();
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
        .ok_or_else(|| format!("{shown}: a module name is letters, digits, '_', '.' and '-'"))?
        .to_string();
    let text = read_small(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut words = Vec::new();
    let mut allow = AllowList::default();
    for (i, raw) in text.lines().enumerate() {
        let at = format!("{shown}:{}", i + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut line_words = split_line(line).map_err(|e| format!("{at}: {e}"))?;
        if line_words[0] == "--allow-target" {
            let [_, pattern] = &line_words[..] else {
                return Err(format!("{at}: --allow-target takes one pattern"));
            };
            allow
                .patterns
                .push(Pattern::parse(pattern).map_err(|e| format!("{at}: {e}"))?);
            continue;
        }
        let refs: Vec<&str> = line_words.iter().map(String::as_str).collect();
        let args = Args::from_args(&["imapcheck"], &refs)
            .map_err(|e| format!("{at}: {}", e.output.trim()))?;
        if let Some(why) = meaningless(&args) {
            return Err(format!("{at}: {why}"));
        }
        if let [flag, value] = &mut line_words[..]
            && PATH_OPTIONS.contains(&flag.as_str())
            && Path::new(value.as_str()).is_relative()
        {
            *value = dir.join(&*value).to_string_lossy().into_owned();
        }
        words.extend(line_words);
    }
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut args = Args::from_args(&["imapcheck"], &refs)
        .map_err(|e| format!("{shown}: {}", e.output.trim()))?;
    args.hostname = Some(PLACEHOLDER_HOST.into());
    let config =
        cli::configure(args, env_password_set(), false).map_err(|e| format!("{shown}: {e}"))?;
    if config.user.is_some()
        && config.oauth.is_none()
        && config.password_source == crate::password::PasswordSource::Missing
    {
        return Err(format!(
            "{shown}: -u needs --password-file in the module (or IMAPCHECK_PASSWORD in the exporter's environment)"
        ));
    }
    let tls = contexts.get(&config).map_err(|e| format!("{shown}: {e}"))?;
    Ok(Module {
        name,
        words,
        config,
        allow,
        tls,
    })
}

/// Options whose value is a path: relative to the modules directory.
/// Every path option of `cli::Args` but `--output` (which a module may not
/// give); a unit test holds this list against the flags' definitions.
const PATH_OPTIONS: &[&str] = &[
    "--password-file",
    "--ca-file",
    "--oauth-client-secret-file",
    "--oauth-refresh-token-file",
    "--send-password-file",
];

/// Why an option makes no sense in a module, if it does not.
fn meaningless(args: &Args) -> Option<&'static str> {
    if args.host.is_some() || args.hostname.is_some() {
        Some("a module names no host: the target of each probe is the host")
    } else if args.format.is_some() {
        Some("--format has no place in a module: /probe answers with metrics")
    } else if args.output.is_some() {
        Some("--output has no place in a module: /probe answers with the result")
    } else if args.repeat.is_some() || args.interval.is_some() {
        Some("--repeat and --interval have no place in a module: Prometheus repeats the probe")
    } else if args.password_stdin {
        Some("--password-stdin has no place in a module: use --password-file")
    } else if args.verbose {
        Some("-v has no place in a module: add debug=true to the probe's URL")
    } else if args.version {
        Some("-V has no place in a module")
    } else if args.all_addresses {
        Some(
            "--all-addresses has no place in a module: a probe connects to the address its allow-list check resolved",
        )
    } else {
        None
    }
}

/// `--opt value`, `--opt=value` or `-x value`: the option and the rest of
/// the line as its one value (so a folder name may hold spaces).
fn split_line(line: &str) -> Result<Vec<String>, String> {
    if !line.starts_with('-') {
        return Err(format!(
            "'{}' is not an option: a module line is --option [value]",
            line.escape_default()
        ));
    }
    // The option ends at the first blank, or for `--opt=value` at '='.
    let end = line
        .find(|c: char| c.is_whitespace() || (c == '=' && line.starts_with("--")))
        .unwrap_or(line.len());
    let flag = &line[..end];
    let value = match line[end..].strip_prefix('=') {
        Some(v) => Some(v.trim()),
        None => Some(line[end..].trim()).filter(|v| !v.is_empty()),
    };
    let mut words = vec![flag.to_string()];
    words.extend(value.map(str::to_string));
    Ok(words)
}

fn read_small(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_MODULE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_MODULE_BYTES {
        return Err(format!("larger than {MAX_MODULE_BYTES} bytes"));
    }
    Ok(text)
}

/// The TLS contexts of one load, by what they trust (`--ca-file`,
/// `--insecure`): modules that trust the same share one context and its
/// CA store, so memory does not grow with every module.
#[derive(Default)]
pub struct TlsContexts {
    built: Vec<((Option<std::path::PathBuf>, bool), TlsSettings)>,
}

impl TlsContexts {
    /// The settings for `config`, with the context built now, once.
    fn get(&mut self, config: &Config) -> Result<TlsSettings, String> {
        let key = (config.ca_file.clone(), config.insecure);
        if let Some((_, settings)) = self.built.iter().find(|(k, _)| *k == key) {
            return Ok(settings.clone());
        }
        let roots = match &config.ca_file {
            Some(path) => transport::load_ca_file(path)?,
            None => Vec::new(),
        };
        let settings = TlsSettings::new(roots, config.insecure);
        let context = settings
            .connector()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let settings = settings.shared(context);
        self.built.push((key, settings.clone()));
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_path_option_is_relative_to_the_modules_directory() {
        // The flags' definitions: each `Option<PathBuf>` field is a path
        // option, named as argh names it (underscores become dashes).
        let args = include_str!("../cli/args.rs");
        let mut from_args: Vec<String> = args
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub "))
            .filter_map(|l| l.strip_suffix(": Option<PathBuf>,"))
            .map(|field| format!("--{}", field.replace('_', "-")))
            .filter(|flag| flag != "--output")
            .collect();
        from_args.sort();
        let mut listed: Vec<String> = PATH_OPTIONS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(listed, from_args);
    }

    use super::*;
    use std::path::PathBuf;

    #[test]
    fn lines_split() {
        assert_eq!(
            split_line("--folder Sent Items"),
            Ok(vec!["--folder".into(), "Sent Items".into()])
        );
        assert_eq!(
            split_line("--folder=Sent Items"),
            Ok(vec!["--folder".into(), "Sent Items".into()])
        );
        assert_eq!(
            split_line("--timeout=5"),
            Ok(vec!["--timeout".into(), "5".into()])
        );
        assert_eq!(
            split_line("-u alice"),
            Ok(vec!["-u".into(), "alice".into()])
        );
        assert_eq!(split_line("--insecure"), Ok(vec!["--insecure".into()]));
        assert!(split_line("host").is_err());
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn files_load_or_name_their_line() {
        let dir = std::env::temp_dir().join(format!("imapcheck-modules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        write(&dir, "pw", "secret\n");
        let p = write(
            &dir,
            "login.conf",
            "# a comment\n\n--security=none\n-u alice\n--password-file pw\n--allow-target 127.0.0.0/8\n-t 3\n",
        );
        let m = load_file(&dir, &p, &mut TlsContexts::default()).expect("loads");
        assert_eq!(m.name, "login");
        assert!(m.sends_credentials());
        assert_eq!(m.config.timeout, std::time::Duration::from_secs(3));
        let c = m.configure("127.0.0.1", Some(1143)).expect("probe config");
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 1143));
        assert_eq!(
            c.password_source,
            crate::password::PasswordSource::File(dir.join("pw"))
        );
        for (text, line) in [
            ("--security none\n--format json\n", 2),
            ("\n--output x\n", 2),
            ("--repeat 3\n", 1),
            ("--password-stdin\n", 1),
            ("-H serve\n", 1),
            ("--allow-target a b\n", 1),
            ("--no-such-option\n", 1),
            ("-t\n", 1),
        ] {
            let p = write(&dir, "bad.conf", text);
            let err = load_file(&dir, &p, &mut TlsContexts::default())
                .err()
                .expect(text);
            assert!(
                err.contains(&format!("bad.conf:{line}:")),
                "{text:?}: {err}"
            );
        }
        let p = write(&dir, "nopw.conf", "-u bob\n");
        assert!(
            load_file(&dir, &p, &mut TlsContexts::default()).is_err(),
            "-u without a password source"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_module_takes_search_keys_as_the_rest_of_its_line() {
        let dir =
            std::env::temp_dir().join(format!("imapcheck-search-modules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        write(&dir, "pw", "secret\n");
        let p = write(
            &dir,
            "backup.conf",
            "-u alice\n--password-file pw\n--allow-target 127.0.0.0/8\n--search FROM backup@example.org SUBJECT \"nightly report\"\n--search-within 26h\n",
        );
        let m = load_file(&dir, &p, &mut TlsContexts::default()).expect("loads");
        let c = m.configure("127.0.0.1", None).expect("probe config");
        let keys = c.search.expect("search keys");
        assert_eq!(
            keys.text,
            "FROM backup@example.org SUBJECT \"nightly report\""
        );
        assert_eq!(c.search_within, Some(26 * 3600));
        let p = write(
            &dir,
            "typo.conf",
            "-u alice\n--password-file pw\n--search FORM x\n",
        );
        let err = load_file(&dir, &p, &mut TlsContexts::default())
            .err()
            .expect("refused");
        assert!(
            err.contains("typo.conf") && err.contains("unknown search key 'FORM'"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
