//! A plain `* SEARCH` answer read as it streams: its numbers go to the
//! session's tally (`crate::search::Tally`) as they arrive, so a line of millions of matches
//! (16 MB for two million) costs constant memory instead of meeting the
//! parser's line limit. Only while a SEARCH of ours is out
//! (`Session::search_tally` set); ESEARCH answers are short and parsed
//! whole, then handed to the tally too.

use crate::parser::{Response, Untagged};

use super::{Session, SessionError};

/// `* SEARCH` and the byte after it.
const PREFIX: &[u8] = b"* SEARCH";

impl Session {
    /// The buffer starts with a plain SEARCH response and a tally is
    /// waiting for it.
    pub(super) fn at_plain_search(&self) -> bool {
        self.search_tally.is_some()
            && self.buf.len() > PREFIX.len()
            && self.buf[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
            && matches!(self.buf[PREFIX.len()], b' ' | b'\r' | b'\n')
    }

    /// Counts the SEARCH line at the buffer's start into the tally,
    /// reading until its LF; the response returned stands for it.
    pub(super) fn stream_search(&mut self) -> Result<(Response, Vec<u8>), SessionError> {
        let mut tally = self.search_tally.take().unwrap_or_default();
        let before = tally.count;
        self.buf.drain(..PREFIX.len());
        let result = loop {
            if let Some(used) = tally.feed(&self.buf) {
                self.buf.drain(..used);
                break Ok(());
            }
            self.buf.clear();
            if let Err(e) = self.read_more() {
                break Err(e);
            }
        };
        let counted = tally.count - before;
        self.search_tally = Some(tally);
        result?;
        let shown = format!("* SEARCH <{counted} numbers, counted as they came>");
        let tls = self.transport.is_tls();
        self.transcript.line(tls, "S:", &shown);
        let keyword = "SEARCH".to_string();
        Ok((
            Response::Untagged(Untagged::Other { keyword }),
            shown.into_bytes(),
        ))
    }

    /// Hands an ESEARCH response to the waiting tally.
    pub(super) fn note_esearch(&mut self, resp: &Response, raw: &[u8]) {
        let Some(tally) = self.search_tally.as_mut() else {
            return;
        };
        if let Response::Untagged(Untagged::Other { keyword } | Untagged::Unparsed { keyword, .. }) =
            resp
            && keyword == "ESEARCH"
        {
            tally.esearch(raw);
        }
    }
}
