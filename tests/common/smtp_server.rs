// A scripted loopback SMTP server for the round trip's tests, like the
// IMAP one beside it: one connection on 127.0.0.1, a script of moves run
// in a thread, and everything the client sent, returned by `finish`. No
// socket operation blocks longer than IO_TIMEOUT, so a test whose client
// misbehaves still ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use super::server::IO_TIMEOUT;

/// One move of the server.
pub enum SmtpMove {
    /// Write these bytes in one write.
    Say(Vec<u8>),
    /// Read lines until one starts with this (case-sensitive).
    Await(&'static str),
    /// Read the message up to its lone dot.
    AwaitDot,
    Pause(Duration),
    /// Answer nothing more; keep the connection until the client closes.
    Hang,
}

impl SmtpMove {
    pub fn say(text: &str) -> SmtpMove {
        SmtpMove::Say(text.as_bytes().to_vec())
    }
}

pub struct SmtpServer {
    pub port: u16,
    thread: JoinHandle<Vec<u8>>,
}

impl SmtpServer {
    pub fn start(script: Vec<SmtpMove>) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let thread = std::thread::spawn(move || {
            let mut received = Vec::new();
            let Ok((stream, _)) = listener.accept() else {
                return received;
            };
            let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
            let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
            let Ok(mut out) = stream.try_clone() else {
                return received;
            };
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            let mut next_line = |reader: &mut BufReader<TcpStream>, received: &mut Vec<u8>| {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).unwrap_or(0);
                received.extend_from_slice(&line);
                (n, line.clone())
            };
            for m in script {
                match m {
                    SmtpMove::Say(bytes) => {
                        let _ = out.write_all(&bytes);
                    }
                    SmtpMove::Await(prefix) => loop {
                        let (n, l) = next_line(&mut reader, &mut received);
                        if n == 0 || l.starts_with(prefix.as_bytes()) {
                            break;
                        }
                    },
                    SmtpMove::AwaitDot => loop {
                        let (n, l) = next_line(&mut reader, &mut received);
                        if n == 0 || l == b".\r\n" {
                            break;
                        }
                    },
                    SmtpMove::Pause(d) => std::thread::sleep(d),
                    SmtpMove::Hang => break,
                }
            }
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
            received.extend_from_slice(&rest);
            received
        });
        SmtpServer { port, thread }
    }

    /// Everything the client sent, once it closed the connection.
    pub fn finish(self) -> String {
        let received = self.thread.join().unwrap_or_default();
        String::from_utf8_lossy(&received).into_owned()
    }
}
