//! `GET /`: the landing page, as blackbox_exporter has one: the modules
//! (by name only: a module's options, and so its secrets' file names and
//! user, are never shown), and the last probes with a link to each one's
//! text report (`/logs?id=N`). Everything from a request (targets) is
//! HTML-escaped; the reports are the CLI's text, which holds no secret.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Probes remembered for the landing page: enough to find the one that
/// just failed, few enough that the history stays small.
const HISTORY: usize = 64;

/// Longest report kept per probe: a text report is about a kilobyte;
/// a debug probe's transcript is cut to this.
const MAX_KEPT: usize = 32 * 1024;

pub struct Entry {
    pub id: u64,
    pub module: String,
    pub target: String,
    pub success: bool,
    /// The text report (and with debug=true the transcript).
    pub text: String,
}

#[derive(Default)]
pub struct History {
    entries: Mutex<(u64, VecDeque<Entry>)>,
}

impl History {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, VecDeque<Entry>)> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn add(&self, module: &str, target: &str, success: bool, mut text: String) {
        if text.len() > MAX_KEPT {
            let mut end = MAX_KEPT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("\n(cut short)\n");
        }
        let mut guard = self.lock();
        guard.0 += 1;
        let id = guard.0;
        if guard.1.len() == HISTORY {
            guard.1.pop_front();
        }
        guard.1.push_back(Entry {
            id,
            module: module.to_string(),
            target: target.to_string(),
            success,
            text,
        });
    }

    /// The text of probe `id`, while it is remembered.
    pub fn text(&self, id: u64) -> Option<String> {
        self.lock()
            .1
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.text.clone())
    }

    /// The landing page.
    pub fn page(&self, modules: &[String]) -> String {
        let mut html = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>imapcheck exporter</title></head>\n<body>\n<h1>imapcheck exporter</h1>\n\
             <p><a href=\"/metrics\">Metrics</a> &middot; <code>/probe?module=&lt;name&gt;&amp;target=&lt;host&gt;[:&lt;port&gt;]</code> (add <code>&amp;debug=true</code> for the transcript)</p>\n<h2>Modules</h2>\n<ul>\n",
        );
        for m in modules {
            let _ = writeln!(html, "<li>{}</li>", escape(m));
        }
        html.push_str("</ul>\n<h2>Recent probes</h2>\n<table>\n<tr><th>Module</th><th>Target</th><th>Result</th><th>Report</th></tr>\n");
        for e in self.lock().1.iter().rev() {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/logs?id={}\">report</a></td></tr>",
                escape(&e.module),
                escape(&e.target),
                if e.success { "success" } else { "failure" },
                e.id
            );
        }
        html.push_str("</table>\n</body></html>\n");
        html
    }
}

/// HTML-escapes text for an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_and_escaped() {
        let h = History::default();
        for i in 0..(HISTORY + 5) {
            h.add(
                "imap",
                &format!("<b>{i}"),
                i % 2 == 0,
                "x".repeat(MAX_KEPT + 10),
            );
        }
        assert!(h.text(1).is_none(), "the oldest is forgotten");
        let last = h.text((HISTORY + 5) as u64).expect("newest kept");
        assert!(last.len() < MAX_KEPT + 20 && last.ends_with("(cut short)\n"));
        let page = h.page(&["imap".into()]);
        assert!(page.contains("&lt;b&gt;68") && !page.contains("<b>"));
    }
}
