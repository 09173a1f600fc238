//! The one escaping rule for terminals and logs (src/report/escape.rs) on
//! arbitrary bytes: `escape_cut`, `terminal` and the text renderer's lines
//! never let a control character (C0, DEL, C1), a line or paragraph
//! separator or a bidi mark through; escaping is idempotent; a line
//! written through `Lines` is exactly one line; and text without anything
//! to escape is left as it is.
//!
//! Input: byte 0 picks the cut for `escape_cut`; the rest is the text,
//! where 0x00 separates the lines given to `Lines` and the fields of a
//! failed step rendered by `--format text`.

#![no_main]

use std::time::Duration;

use imapcheck::report::{Failure, Lines, Renderer, StepResult, StepStatus, Text};
use imapcheck::report::{escape_cut, is_unsafe, terminal};
use libfuzzer_sys::fuzz_target;

fn assert_safe(what: &str, text: &str, newlines: bool) {
    if let Some(c) = text
        .chars()
        .find(|&c| is_unsafe(c) && !(newlines && c == '\n'))
    {
        panic!("{what}: {c:?} in {text:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, text)) = data.split_first() else {
        return;
    };
    // The cut may fall inside a UTF-8 sequence: its bytes are then \xNN.
    let max = usize::from(cut) * 4;
    let cut_out = escape_cut(text, max);
    assert_safe("escape_cut", &cut_out, false);
    assert_eq!(terminal(&cut_out), cut_out, "escape_cut is not final");
    let whole = escape_cut(text, text.len());
    assert_safe("escape_cut whole", &whole, false);

    let lossy = String::from_utf8_lossy(text);
    let shown = terminal(&lossy);
    assert_safe("terminal", &shown, false);
    assert_eq!(terminal(&shown), shown, "terminal is not idempotent");
    if !lossy.chars().any(is_unsafe) {
        assert_eq!(shown, lossy, "safe text altered");
    }

    let fields: Vec<&str> = lossy.split('\0').collect();
    let mut lines = Lines::new();
    for f in &fields {
        lines.line(f);
    }
    let out = lines.finish();
    assert_safe("Lines", &out, true);
    assert_eq!(
        out.split('\n').count(),
        fields.len(),
        "a line broke: {out:?}"
    );

    let field = |i: usize| fields.get(i).copied().unwrap_or("").to_string();
    let step = StepResult {
        name: "list",
        status: StepStatus::Failed,
        elapsed: Duration::from_millis(1),
        detail: field(0),
        reason: None,
        failure: Some(Failure {
            message: field(1),
            expected: field(2),
            got: Some(field(3)),
            hint: format!("closest folder names from LIST: {}", field(4)),
        }),
    };
    let rendered = Text.step(&step).unwrap_or_default();
    assert_safe("text step", &rendered, true);
    assert_eq!(rendered.lines().count(), 4, "{rendered:?}");
    if let Some(failure) = &step.failure {
        let start = Text.not_started(failure).unwrap_or_default();
        assert_safe("text not_started", &start, true);
        assert_eq!(start.lines().count(), 2, "{start:?}");
    }
});
