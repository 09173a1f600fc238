//! An answer and its bytes on the wire: status line, the few headers, the
//! body (left out for HEAD), all in one write.

use super::http::Method;

/// Which exposition format `/probe` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (the default, as blackbox's).
    Prometheus,
    /// OpenMetrics 1.0, when the Accept header asks for it.
    OpenMetrics,
}

const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra header lines, each without its CRLF.
    pub headers: Vec<String>,
    /// Close the connection after this answer whatever the client asked.
    pub close: bool,
}

impl Answer {
    pub fn text(status: u16, body: String) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into_bytes(),
            headers: Vec::new(),
            close: false,
        }
    }

    /// An error's one-line plain-text reason.
    pub fn error(status: u16, reason: &str) -> Answer {
        Answer::text(status, format!("{reason}\n"))
    }

    pub fn html(body: String) -> Answer {
        Answer {
            content_type: "text/html; charset=utf-8",
            ..Answer::text(200, body)
        }
    }

    pub fn metrics(format: Format, body: String) -> Answer {
        Answer {
            content_type: match format {
                Format::Prometheus => PROMETHEUS_TYPE,
                Format::OpenMetrics => OPENMETRICS_TYPE,
            },
            ..Answer::text(200, body)
        }
    }

    /// The bytes to send; `keep_alive` as decided for this connection.
    pub fn to_bytes(&self, method: Method, keep_alive: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for h in &self.headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str(if keep_alive && !self.close {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        let mut bytes = head.into_bytes();
        if method == Method::Get {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_has_no_body() {
        let a = Answer::error(404, "no module named 'x'");
        let get = String::from_utf8(a.to_bytes(Method::Get, true)).expect("utf8");
        assert!(get.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(
            get.contains("Content-Length: 20\r\n")
                && get.ends_with("\r\n\r\nno module named 'x'\n")
        );
        let head = String::from_utf8(a.to_bytes(Method::Head, false)).expect("utf8");
        assert!(head.ends_with("Connection: close\r\n\r\n"));
    }
}
