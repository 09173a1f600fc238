#!/usr/bin/env python3
"""The KB check done with Python's imaplib, as an admin's script would.

    peer_imaplib.py HOST PORT tls|starttls CA_FILE USER PASSWORD_FILE [--body N]

Connects (IMAP4_SSL, or IMAP4 + STARTTLS) with an SSL context that trusts
CA_FILE, logs in, lists all folders, opens INBOX read-only (EXAMINE), fetches
FLAGS INTERNALDATE RFC822.SIZE ENVELOPE of the newest message and logs out.
With --body N it instead fetches BODY.PEEK[] of message N (kept in memory,
as imaplib always does). Prints one summary line; exit 0 on success.
"""

import imaplib
import ssl
import sys


def main():
    host, port, mode, ca, user, pass_file = sys.argv[1:7]
    body = None
    if len(sys.argv) > 7 and sys.argv[7] == "--body":
        body = sys.argv[8]
    with open(pass_file, "rb") as f:
        password = f.read().split(b"\n")[0].decode("utf-8")
    ctx = ssl.create_default_context(cafile=ca)
    if mode == "tls":
        m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
    else:
        m = imaplib.IMAP4(host, int(port))
        m.starttls(ssl_context=ctx)
    typ, _ = m.login(user, password)
    assert typ == "OK"
    typ, folders = m.list()
    assert typ == "OK"
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK"
    exists = int(data[0])
    size = None
    if body is None and exists == 0:
        typ = "OK"  # nothing to fetch in an empty folder
    elif body is None:
        typ, msg = m.fetch(str(exists), "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
    else:
        typ, msg = m.fetch(body, "(BODY.PEEK[])")
        size = len(msg[0][1])
    assert typ == "OK"
    m.logout()
    print(f"ok folders={len(folders)} exists={exists}" + (f" body={size}" if size else ""))


if __name__ == "__main__":
    main()
