#!/usr/bin/env python3
"""imapcheck benchmark harness (run through bench/run, which sets things up).

Measures, against one throw-away Dovecot on loopback, side by side:
  1. wall time, CPU (user+sys) and peak RSS of the full KB sequence over
     implicit TLS and STARTTLS, for imapcheck (release and static builds),
     Python's imaplib and curl (two invocations);
  2. round trips through a delaying proxy (RTT 50 ms);
  3. peak RSS of --body on a ~100 MB message and of LIST over 50,000 folders;
  4. start-up time (--version, closed port);
  5. binary sizes;
and writes bench/BENCHMARKS.md (tables) and bench/results.json (raw samples).

Every child runs under `runwait` (bench/runwait.c), a tiny static program
that forks, execs and wait4()s it: its wall time, CPU and ru_maxrss are the
child's own and not inflated by this (much larger) Python process.
"""

import argparse
import base64
import json
import os
import platform
import random
import re
import select
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)

# The environment of an admin's host: this sandbox sets SSL_CERT_FILE and
# SSL_CERT_DIR globally, which no ordinary host does and which changes how
# OpenSSL-based tools load CAs.
ENV = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
ENV["LC_ALL"] = "C"

RTT_DELAY_MS = 25.0  # per direction; RTT = 50 ms


# ---------------------------------------------------------------------------
# Running things
# ---------------------------------------------------------------------------


class Runner:
    def __init__(self, runwait, work):
        self.runwait = runwait
        self.work = work
        self.out = os.path.join(work, "child.out")
        self.err = os.path.join(work, "child.err")

    def run(self, argv, ok=(0,), out=None):
        """Runs argv under runwait. Returns dict(wall, cpu, rss, status, out)."""
        out_path = out or self.out
        p = subprocess.run(
            [self.runwait, out_path, self.err] + list(argv),
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        line = p.stdout.decode().strip()
        m = dict(kv.split("=", 1) for kv in line.split())
        status = int(m["status"])
        if ok is not None and status not in ok:
            err = open(self.err, errors="replace").read()[-2000:]
            o = ""
            if out_path != "/dev/null":
                o = open(out_path, errors="replace").read()[-2000:]
            raise SystemExit(
                f"bench: {' '.join(argv)}\n  exited {status} (expected {ok})\n"
                f"  stdout: {o}\n  stderr: {err}"
            )
        return {
            "wall": int(m["wall_ns"]) / 1e6,  # ms
            "cpu": (int(m["utime_us"]) + int(m["stime_us"])) / 1e3,  # ms
            "rss": int(m["maxrss_kb"]),  # KiB
            "status": status,
        }

    def read_out(self):
        with open(self.out, "rb") as f:
            return f.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def q(xs, p):
    """Simple quantile (nearest rank) for spread columns."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    i = min(len(s) - 1, max(0, int(round(p * (len(s) - 1)))))
    return s[i]


# ---------------------------------------------------------------------------
# The tools
# ---------------------------------------------------------------------------


SERVERS = ["dovecot", "cyrus", "courier"]
SERVER_NAME = {"dovecot": "Dovecot", "cyrus": "Cyrus", "courier": "Courier"}


class Tools:
    def __init__(self, a, dv, servers):
        self.a = a
        self.dv = dv
        self.servers = servers  # name -> the key=value lines of its start
        self.python = a.python
        self.bins = {"imapcheck": a.release}
        if a.static:
            self.bins["imapcheck-static"] = a.static

    def names(self):
        return list(self.bins) + ["imaplib", "curl"]

    def port(self, mode, ports):
        return ports["tls"] if mode == "tls" else ports["plain"]

    def kb(self, tool, mode, ports, user="alice", extra=(), srv="dovecot"):
        """The argv list(s) of one full KB check against server srv."""
        dv = self.servers[srv]
        port = self.port(mode, ports)
        pw = pass_path(dv, user)
        if tool in self.bins:
            return [[
                self.bins[tool], "127.0.0.1", "--security", mode, "-p", str(port),
                "--ca-file", dv["ca"], "-u", user, "--password-file", pw,
                "--format", "json", *extra,
            ]]
        if tool == "imaplib":
            return [[
                self.python, os.path.join(BENCH, "peer_imaplib.py"), "127.0.0.1",
                str(port), mode, dv["ca"], user, pw,
            ]]
        if tool == "curl":
            rc = os.path.join(dv["dir"], f"{user}.curlrc")
            if mode == "tls":
                base, extra = f"imaps://127.0.0.1:{port}/", []
            else:
                base, extra = f"imap://127.0.0.1:{port}/", ["--ssl-reqd"]
            common = ["curl", "-sS", *extra, "--cacert", dv["ca"], "-K", rc]
            # The newest message, as imapcheck and imaplib fetch it.
            newest = dv.get("inbox_exists", "5") if user == "alice" else "1"
            return [
                common + [base],
                common + [base + f"INBOX;MAILINDEX={newest};SECTION=HEADER"],
            ]
        raise ValueError(tool)


def pass_path(srv, user):
    if user == srv.get("user", "alice") and srv.get("pass_file"):
        return srv["pass_file"]
    return os.path.join(srv["dir"], f"{user}.pass")


def run_tool(runner, argvs, check_json=False, ok=(0,)):
    """Runs one tool's argv list(s); sums wall and CPU, takes the max RSS."""
    total = {"wall": 0.0, "cpu": 0.0, "rss": 0, "parts": [], "status": 0}
    report = None
    for argv in argvs:
        r = runner.run(argv, ok=ok)
        if r["status"]:
            total["status"] = r["status"]
            with open(runner.err, errors="replace") as f:
                total["error"] = f.read().strip()[-300:]
        total["wall"] += r["wall"]
        total["cpu"] += r["cpu"]
        total["rss"] = max(total["rss"], r["rss"])
        total["parts"].append(r["wall"])
        if check_json:
            report = json.loads(runner.read_out())
            if report.get("status") != "ok":
                raise SystemExit(f"bench: imapcheck reported {report.get('status')}: "
                                 f"{json.dumps(report.get('error'))}")
    if report is not None:
        total["steps"] = {s["step"]: s["elapsed_ms"] for s in report["steps"]}
        total["internal_ms"] = report["elapsed_ms"]
        total["report"] = report
    return total


# ---------------------------------------------------------------------------
# Test data: a ~100 MB message and big folder trees
# ---------------------------------------------------------------------------


def add_user(dv, name, password, mail_uid, mail_gid):
    home = os.path.join(dv["dir"], "home", name)
    md = os.path.join(home, "Maildir")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, d), exist_ok=True)
    pw_file = os.path.join(dv["dir"], f"{name}.pass")
    with open(pw_file, "w") as f:
        f.write(password)
    os.chmod(pw_file, 0o600)
    b64 = base64.b64encode(password.encode()).decode()
    with open(os.path.join(dv["dir"], "users"), "a") as f:
        f.write(f"{name}:{{PLAIN.b64}}{b64}:{mail_uid}:{mail_gid}::{home}::\n")
    return md


def write_curlrc(dv, user):
    with open(pass_path(dv, user), "rb") as f:
        pw = f.read().split(b"\n")[0].decode()
    esc = pw.replace("\\", "\\\\").replace('"', '\\"')
    path = os.path.join(dv["dir"], f"{user}.curlrc")
    with open(path, "w") as f:
        f.write(f'user = "{user}:{esc}"\n')
    os.chmod(path, 0o600)


def big_message(path, mb):
    """A deterministic message of about mb MB (10^6 bytes): headers and
    base64 lines."""
    rnd = random.Random(20260101)
    # 57 raw bytes make one 76-column base64 line (77 bytes with LF).
    block = base64.encodebytes(rnd.randbytes(57 * 16384))
    header = (
        "From: Backup <backup@example.org>\nTo: Big <big@example.org>\n"
        "Subject: A 100 MB message\nDate: Mon, 01 Jun 2026 12:00:00 +0000\n"
        "Message-ID: <big100@example.org>\nMIME-Version: 1.0\n"
        "Content-Type: application/octet-stream; name=\"big.bin\"\n"
        "Content-Transfer-Encoding: base64\n\n"
    ).encode()
    target = mb * 1000 * 1000
    with open(path, "wb") as f:
        f.write(header)
        written = len(header)
        while written + len(block) <= target:
            f.write(block)
            written += len(block)
        rest = target - written
        f.write(block[: rest - (rest % 77)])
        written += rest - (rest % 77)
    return written


def chown_tree(path, uid, gid):
    if os.geteuid() != 0:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, gid)
        for n in filenames:
            os.chown(os.path.join(dirpath, n), uid, gid)


def prepare_data(dv, a):
    st = os.stat(os.path.join(dv["dir"], "home", "alice", "Maildir"))
    uid, gid = st.st_uid, st.st_gid
    info = {}
    t0 = time.monotonic()
    # big: one ~100 MiB message in INBOX (delivered into new/).
    md = add_user(dv, "big", "bench-big-pass", uid, gid)
    fname = f"{int(time.time())}.M1P1.bench"
    path = os.path.join(md, "new", fname)
    info["big_bytes"] = big_message(path, a.big_mb)
    with open(path, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    info["big_size"] = info["big_bytes"] + lines  # RFC822.SIZE counts CRLF
    chown_tree(os.path.join(dv["dir"], "home", "big"), uid, gid)
    # Folder trees: Maildir++ ".Name" directories (like carol's 2,000).
    info["trees"] = {}
    for user, n in (("mid", a.mid_folders), ("many", a.many_folders)):
        md = add_user(dv, user, f"bench-{user}-pass", uid, gid)
        for i in range(1, n + 1):
            os.mkdir(os.path.join(md, f".Folder{i:05d}"))
        chown_tree(os.path.join(dv["dir"], "home", user), uid, gid)
        info["trees"][user] = n
    for user in ("alice", "big", "carol", "mid", "many"):
        write_curlrc(dv, user)
    # Dovecot re-reads the passwd-file when its mtime changes.
    os.utime(os.path.join(dv["dir"], "users"))
    info["setup_s"] = time.monotonic() - t0
    return info


# ---------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------


def kb_section(runner, tools, targets, reps, warmup, label, ref=False):
    """Interleaved rounds: every server, every tool, both modes, once per
    round. targets: [(server, ports)]. Returns {server: {(tool, mode):
    [sample]}} and, with ref, the reference client's step times
    {server: {(variant, mode): [steps]}}."""
    names = tools.names()
    modes = ["tls", "starttls"]
    samples = {srv: {(t, m): [] for t in names for m in modes} for srv, _ in targets}
    refs = {srv: {} for srv, _ in targets}
    for r in range(warmup + reps):
        # Rotate the order each round so no tool (and no server) always runs first.
        order = names[r % len(names):] + names[: r % len(names)]
        k = r % len(targets)
        for srv, ports in targets[k:] + targets[:k]:
            for m in modes:
                for t in order:
                    s = run_tool(runner, tools.kb(t, m, ports, srv=srv),
                                 check_json=t.startswith("imapcheck"))
                    s.pop("report", None)
                    if r >= warmup:
                        samples[srv][(t, m)].append(s)
                if ref:
                    for variant in REF_VARIANTS:
                        steps = ref_session(tools.servers[srv], m, variant == "quickack")
                        if r >= warmup:
                            refs[srv].setdefault((variant, m), []).append(steps)
        print(f"  {label}: round {r + 1}/{warmup + reps}", file=sys.stderr, flush=True)
    return (samples, refs) if ref else samples


# ---------------------------------------------------------------------------
# A reference client: the same exchanges, timed from inside the harness
# ---------------------------------------------------------------------------

# Linux's TCP_QUICKACK (netinet/tcp.h); Python names it only on some builds.
TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)
REF_VARIANTS = ["quickack", "default"]


class RefConn:
    """Line reader over a (TLS) socket. With quickack, TCP_QUICKACK is set
    before every recv (Linux clears it by itself), as imapcheck does; without,
    the kernel's default delayed ACKs apply, as for imaplib."""

    def __init__(self, sock, quickack):
        self.sock, self.quickack, self.buf = sock, quickack, b""

    def fill(self):
        if self.quickack:
            self.sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("the server closed the connection")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        while True:
            m = re.search(rb"\{(\d+)\+?\}$", line)
            if not m:
                return line
            n = int(m.group(1))
            while len(self.buf) < n:
                self.fill()
            lit, self.buf = self.buf[:n], self.buf[n:]
            while b"\r\n" not in self.buf:
                self.fill()
            rest, self.buf = self.buf.split(b"\r\n", 1)
            line += lit + rest

    def until(self, tag):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return lines


def _handshake(ctx, raw, quickack):
    """The TLS handshake on raw; with quickack, TCP_QUICKACK is set again
    before every read of it too (the handshake is several reads)."""
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1", do_handshake_on_connect=False)
    sock.setblocking(False)
    deadline = time.monotonic() + 10
    while True:
        if quickack:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
        try:
            sock.do_handshake()
            break
        except ssl.SSLWantReadError:
            r, _, _ = select.select([sock], [], [], max(0, deadline - time.monotonic()))
        except ssl.SSLWantWriteError:
            _, r, _ = select.select([], [sock], [], max(0, deadline - time.monotonic()))
        if not r:
            raise TimeoutError("TLS handshake")
    sock.settimeout(10)
    return sock


def _caps(lines):
    """Capabilities from a CAPABILITY response or a [CAPABILITY ...] code."""
    caps = set()
    for line in lines:
        m = re.search(rb"\[CAPABILITY ([^\]]*)\]", line) or re.match(rb"\* CAPABILITY (.*)", line)
        if m:
            caps |= {c.upper() for c in m.group(1).decode(errors="replace").split()}
    return caps


def _quoted(s):
    if any(ord(c) < 0x20 or ord(c) > 0x7e for c in s):
        raise ValueError("the reference client sends only ASCII passwords (as a quoted string)")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ref_session(srv, mode, quickack):
    """One KB check by a minimal client (Python's ssl, no imaplib) that makes
    the exchanges imapcheck makes and waits for nothing else: the step times
    are the server's answer times plus Python's small overhead. Steps:
    connect; tls (handshake) or starttls (STARTTLS, handshake, CAPABILITY);
    greeting; login (LOGIN, plus CAPABILITY when its answer carries none);
    list; examine (EXAMINE and, when QUOTA is announced, GETQUOTAROOT in the
    same write); fetch; logout. ms per step."""
    port = int(srv["tls_port"] if mode == "tls" else srv["plain_port"])
    with open(pass_path(srv, "alice"), "rb") as f:
        password = f.read().split(b"\n")[0].decode()
    ctx = ssl.create_default_context(cafile=srv["ca"])
    now = time.perf_counter
    st = {}
    t0 = now()
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    st["connect"] = now() - t0
    try:
        if mode == "tls":
            t0 = now()
            sock = _handshake(ctx, raw, quickack)
            st["tls"] = now() - t0
            c = RefConn(sock, quickack)
            t0 = now()
            greeting = c.line()
            st["greeting"] = now() - t0
            caps = _caps([greeting])
        else:
            c = RefConn(raw, quickack)
            t0 = now()
            c.line()
            st["greeting"] = now() - t0
            t0 = now()
            raw.sendall(b"s1 STARTTLS\r\n")
            c.until(b"s1")
            sock = _handshake(ctx, raw, quickack)
            c = RefConn(sock, quickack)
            sock.sendall(b"s2 CAPABILITY\r\n")
            caps = _caps(c.until(b"s2"))
            st["starttls"] = now() - t0
        t0 = now()
        sock.sendall(f"a1 LOGIN {_quoted(srv.get('user', 'alice'))} {_quoted(password)}\r\n".encode())
        answer = c.until(b"a1")
        if _caps(answer[-1:]):
            caps = _caps(answer[-1:])
        else:
            sock.sendall(b"a2 CAPABILITY\r\n")
            caps = _caps(c.until(b"a2"))
        st["login"] = now() - t0
        t0 = now()
        sock.sendall(b'a3 LIST "" "*"\r\n')
        c.until(b"a3")
        st["list"] = now() - t0
        t0 = now()
        if "QUOTA" in caps:
            sock.sendall(b"a4 EXAMINE INBOX\r\na5 GETQUOTAROOT INBOX\r\n")
            lines = c.until(b"a4")
            c.until(b"a5")
        else:
            sock.sendall(b"a4 EXAMINE INBOX\r\n")
            lines = c.until(b"a4")
        st["examine"] = now() - t0
        exists = max([int(m.group(1)) for m in
                      (re.match(rb"\* (\d+) EXISTS", x) for x in lines) if m] or [0])
        if exists:
            t0 = now()
            sock.sendall(f"a6 FETCH {exists} (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)\r\n".encode())
            c.until(b"a6")
            st["fetch"] = now() - t0
        t0 = now()
        sock.sendall(b"a7 LOGOUT\r\n")
        c.until(b"a7")
        st["logout"] = now() - t0
    finally:
        raw.close()
    return {k: v * 1000 for k, v in st.items()}


# ---------------------------------------------------------------------------
# Probes that explain a number: the TLS handshake, imapcheck's transcript
# ---------------------------------------------------------------------------


def hello_retry_probe(srv):
    """openssl s_client with OpenSSL's default groups (what imapcheck, curl
    and Python offer: one X25519 key share): does the server answer the
    ClientHello with a HelloRetryRequest (a second ClientHello, one more
    round trip)?"""
    res = {}
    for mode in ("tls", "starttls"):
        port = srv["tls_port"] if mode == "tls" else srv["plain_port"]
        argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", srv["ca"],
                "-msg"]
        if mode == "starttls":
            argv += ["-starttls", "imap"]
        try:
            p = subprocess.run(argv, input=b"", capture_output=True, timeout=15, env=ENV)
            text = p.stdout.decode(errors="replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            res[mode] = {"error": str(e)}
            continue
        hellos = len(re.findall(r"^>>> .*ClientHello", text, re.M))
        group = re.search(r"^(?:Server Temp Key|Negotiated TLS1\.3 group): (.*)$", text, re.M)
        proto = re.search(r"^\s*Protocol\s*: (.*)$", text, re.M) or re.search(
            r"^New, (TLSv[0-9.]+)", text, re.M)
        res[mode] = {"client_hellos": hellos, "hello_retry": hellos > 1,
                     "group": group.group(1).strip() if group else None,
                     "protocol": proto.group(1).strip() if proto else None}
    return res


def transcript_probe(runner, tools, srv, ports):
    """imapcheck -v once per mode on loopback: the commands it sends, and
    after LOGIN whether the answer carried [CAPABILITY] and whether a
    CAPABILITY went out on its own (its answer awaited before the next
    command was sent: one round trip of its own)."""
    res = {}
    for mode in ("tls", "starttls"):
        argv = tools.kb("imapcheck", mode, ports, srv=srv)[0]
        argv = [x for x in argv if x not in ("--format", "json")] + ["-v"]
        runner.run(argv, ok=None)
        with open(runner.err, errors="replace") as f:
            text = f.read()
        events = []  # ("C", tag, command) / ("S", tag, text) for tagged lines
        for line in text.splitlines():
            m = re.match(r"^(?:\[\w+\] )?([CS]): (\S+) (\S+)(.*)$", line)
            if m and m.group(2) != "*" and m.group(2) != "+":
                events.append((m.group(1), m.group(2), m.group(3).upper() if m.group(1) == "C"
                               else (m.group(3) + m.group(4))[:120]))
        sent = [e[2] for e in events if e[0] == "C"]
        login_answer, alone = None, False
        tags = {e[1]: e[2] for e in events if e[0] == "C"}
        for i, (kind, tag, what) in enumerate(events):
            if kind == "S" and tags.get(tag) == "LOGIN" and login_answer is None:
                login_answer = f"{tag} {what}"
                rest = events[i + 1:]
                if rest and rest[0][0] == "C" and rest[0][2] == "CAPABILITY":
                    # Alone when its tagged answer comes before the next command.
                    cap_tag = rest[0][1]
                    nxt = [j for j, e in enumerate(rest[1:]) if e[0] == "C"]
                    ans = [j for j, e in enumerate(rest[1:]) if e[0] == "S" and e[1] == cap_tag]
                    alone = bool(ans) and (not nxt or ans[0] < nxt[0])
        res[mode] = {
            "sent": sent,
            "login_answer": login_answer,
            "login_answer_has_capability": bool(login_answer and "[CAPABILITY" in login_answer.upper()),
            "capability_alone_after_login": alone,
        }
    return res


def pair_ratio(samples, a, b, mode, key):
    """Median of the per-round ratios a/b (samples of one server)."""
    xs = samples[(a, mode)]
    ys = samples[(b, mode)]
    return med([x[key] / y[key] for x, y in zip(xs, ys) if y[key]])


def start_proxy(a, target_port):
    p = subprocess.Popen(
        [a.python, os.path.join(BENCH, "delay_proxy.py"), "--target-port", str(target_port),
         "--delay-ms", str(RTT_DELAY_MS), "--watch-pid", str(os.getpid()),
         "--max-seconds", "1200"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True, env=ENV,
    )
    line = p.stdout.readline().decode().strip()
    if not line.startswith("port="):
        raise SystemExit("bench: delay_proxy did not start")
    return p, int(line.split("=")[1])


def body_section(runner, tools, dv, ports, info, reps):
    res = {}
    port = str(ports["tls"])
    def ic(binary, user, msg, timeout):
        return [[binary, "127.0.0.1", "--security", "tls", "-p", port, "--ca-file", dv["ca"],
                 "-u", user, "--password-file", os.path.join(dv["dir"], f"{user}.pass"),
                 "--format", "json", "--body", "--message", str(msg), "-t", str(timeout)]]
    cases = []
    for name, binary in tools.bins.items():
        cases.append((name, "KB check, no --body", tools.kb(name, "tls", ports)))
        cases.append((name, "--body, 267-byte message", ic(binary, "alice", 5, 10)))
        cases.append((name, "--body, 20 MB message", ic(binary, "alice", 4, 60)))
        cases.append((name, f"--body, {info['big_bytes'] / 1e6:.0f} MB message",
                      ic(binary, "big", 1, 120)))
    # Warm the server's caches (the first access reads the 100 MB file to
    # compute its size) before timing anything.
    run_tool(runner, cases[-1][2], check_json=True)
    for r in range(reps):
        for name, what, argvs in cases:
            s = run_tool(runner, argvs, check_json=True)
            rep = s.pop("report")
            msg = rep.get("message") or {}
            if "--body" in argvs[0] and msg.get("body_bytes") != msg.get("size"):
                raise SystemExit(f"bench: --body returned {msg.get('body_bytes')} of {msg.get('size')}")
            s["body_bytes"] = msg.get("body_bytes")
            res.setdefault((name, what), []).append(s)
        print(f"  body: round {r + 1}/{reps}", file=sys.stderr, flush=True)
    # Peers fetching the same 100 MB body, for context.
    peers = {}
    ca = dv["ca"]
    peer_cases = [
        ("imaplib", [[tools.python, os.path.join(BENCH, "peer_imaplib.py"), "127.0.0.1", port,
                      "tls", ca, "big", os.path.join(dv["dir"], "big.pass"), "--body", "1"]]),
        ("curl", [["curl", "-sS", "--cacert", ca, "-K", os.path.join(dv["dir"], "big.curlrc"),
                   "-o", "/dev/null", f"imaps://127.0.0.1:{port}/INBOX;MAILINDEX=1"]]),
    ]
    for r in range(max(2, reps // 2)):
        for name, argvs in peer_cases:
            peers.setdefault(name, []).append(run_tool(runner, argvs))
    return res, peers


def list_section(runner, tools, dv, ports, info, reps):
    users = [("big", 1), ("alice", 6), ("carol", int(dv.get("carol_folders", 2000)) + 1),
             ("mid", info["trees"]["mid"] + 1), ("many", info["trees"]["many"] + 1)]
    res = {}
    long = ("-t", "120")  # Dovecot needs seconds to list 50,000 folders
    probe = quota_probe(runner, tools, dv, ports, long)
    for user, _ in users:  # warm Dovecot (directory cache, first LIST)
        run_tool(runner, tools.kb("imapcheck", "tls", ports, user=user, extra=long), check_json=True)
    for r in range(reps):
        for user, n in users:
            for name in tools.bins:
                s = run_tool(runner, tools.kb(name, "tls", ports, user=user, extra=long),
                             check_json=True)
                rep = s.pop("report")
                s["folder_count"] = rep.get("folder_count")
                res.setdefault((name, user, n), []).append(s)
        print(f"  list: round {r + 1}/{reps}", file=sys.stderr, flush=True)
    # Peers listing the 50,000 folders (context).
    peers = {}
    port = str(ports["tls"])
    many = os.path.join(dv["dir"], "many")
    for r in range(max(2, reps // 2)):
        peers.setdefault("imaplib", []).append(run_tool(runner, tools.kb("imaplib", "tls", ports, user="many")))
        peers.setdefault("curl (LIST only)", []).append(run_tool(runner, [[
            "curl", "-sS", "--cacert", dv["ca"], "-K", many + ".curlrc", "-o", "/dev/null",
            f"imaps://127.0.0.1:{port}/"]], ok=None))
    return res, peers, probe


def dovecot_panics(dv):
    try:
        with open(dv["log"], errors="replace") as f:
            return [line.strip() for line in f if "Panic:" in line]
    except OSError:
        return []


def quota_probe(runner, tools, dv, ports, extra):
    """The first check of the 50,000-folder user, before Dovecot has a
    maildirsize file: GETQUOTAROOT (sent with EXAMINE) makes Dovecot count
    the quota over every folder. Recorded once, then maildirsize is written
    (if Dovecot could not) so the LIST measurements do not depend on it."""
    md = os.path.join(dv["dir"], "home", "many", "Maildir")
    before = len(dovecot_panics(dv))
    s = run_tool(runner, tools.kb("imapcheck", "tls", ports, user="many", extra=extra),
                 ok=None)
    try:
        rep = json.loads(runner.read_out())
    except ValueError:
        rep = {}
    panics = dovecot_panics(dv)[before:]
    probe = {
        "wall": s["wall"], "status": rep.get("status"),
        "steps": {x["step"]: (x["status"], x["elapsed_ms"]) for x in rep.get("steps", [])},
        "error": (rep.get("error") or {}).get("message"),
        "panic": re.sub(r"^.*?Panic: ", "", panics[0])[:160] if panics else None,
        "maildirsize_written_by_dovecot": os.path.exists(os.path.join(md, "maildirsize")),
    }
    # The same EXAMINE on its own, on the same still-uncounted account.
    try:
        import imaplib
        import ssl
        m = imaplib.IMAP4_SSL("127.0.0.1", ports["tls"],
                              ssl_context=ssl.create_default_context(cafile=dv["ca"]))
        with open(os.path.join(dv["dir"], "many.pass")) as f:
            m.login("many", f.read())
        t0 = time.monotonic()
        typ, _ = m.select("INBOX", readonly=True)
        probe["examine_alone"] = (typ, (time.monotonic() - t0) * 1000)
        m.logout()
    except Exception as e:  # noqa: BLE001 - reported as found
        probe["examine_alone"] = (f"{type(e).__name__}: {e}", 0.0)
    if not probe["maildirsize_written_by_dovecot"]:
        st = os.stat(md)
        path = os.path.join(md, "maildirsize")
        with open(path, "w") as f:
            f.write("1073741824S\n0 0\n")  # the 1 GiB storage rule, empty
        if os.geteuid() == 0:
            os.chown(path, st.st_uid, st.st_gid)
    return probe


def startup_section(runner, tools, dv, reps):
    closed = free_port()
    cases = []
    for name, binary in tools.bins.items():
        cases.append((name, "--version", [binary, "--version"], (0,)))
    for name, binary in tools.bins.items():
        cases.append((name, "closed port (tls)", [
            binary, "127.0.0.1", "--security", "tls", "-p", str(closed), "--ca-file", dv["ca"],
            "-u", "alice", "--password-file", os.path.join(dv["dir"], "alice.pass")], (2,)))
    cases.append(("curl", "--version", ["curl", "--version"], (0,)))
    cases.append(("curl", "closed port (tls)", [
        "curl", "-sS", "--cacert", dv["ca"], "-K", os.path.join(dv["dir"], "alice.curlrc"),
        f"imaps://127.0.0.1:{closed}/"], (7,)))
    cases.append(("imaplib", "closed port (tls)", [
        tools.python, os.path.join(BENCH, "peer_imaplib.py"), "127.0.0.1", str(closed), "tls",
        dv["ca"], "alice", os.path.join(dv["dir"], "alice.pass")], (1,)))
    cases.append(("baseline", "/bin/true", ["/bin/true"], (0,)))
    res = {}
    for r in range(reps + 2):
        for name, what, argv, ok in cases:
            s = runner.run(argv, ok=ok)
            if r >= 2:
                res.setdefault((name, what), []).append(s)
    return res, closed


def first_connect_section(runner, tools, dv, reps):
    """Time from spawning a tool to its TCP connection arriving at a local
    listening socket: everything a tool does before its first packet (loading,
    TLS set-up on the critical path) delays every check by that much."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(5)
    port = str(ls.getsockname()[1])
    ca, pw = dv["ca"], os.path.join(dv["dir"], "alice.pass")
    cases = []
    for name, binary in tools.bins.items():
        for mode, with_ca in (("tls", True), ("starttls", True), ("none", False),
                              ("tls", False), ("none", True)):
            argv = [binary, "127.0.0.1", "--security", mode, "-p", port, "-u", "alice",
                    "--password-file", pw, "-t", "5"]
            if with_ca:
                argv += ["--ca-file", ca]
            cases.append((name, f"--security {mode}" + (" --ca-file" if with_ca else ""), argv))
    if shutil.which("taskset"):
        # One CPU (a small VM or a container with a CPU quota of 1): the
        # background TLS thread and the main thread must take turns.
        for name, binary in tools.bins.items():
            for mode, with_ca in (("tls", True), ("none", False)):
                argv = ["taskset", "-c", "0", binary, "127.0.0.1", "--security", mode, "-p",
                        port, "-u", "alice", "--password-file", pw, "-t", "5"]
                if with_ca:
                    argv += ["--ca-file", ca]
                cases.append((name, f"--security {mode}" + (" --ca-file" if with_ca else "")
                              + ", 1 CPU (taskset -c 0)", argv))
    cases.append(("curl", "imaps://", ["curl", "-sS", "--cacert", ca, "-K",
                                       os.path.join(dv["dir"], "alice.curlrc"),
                                       f"imaps://127.0.0.1:{port}/"]))
    cases.append(("imaplib", "IMAP4_SSL", [tools.python, os.path.join(BENCH, "peer_imaplib.py"),
                                           "127.0.0.1", port, "tls", ca, "alice", pw]))
    res = {}
    try:
        for r in range(reps + 2):
            for name, what, argv in cases:
                t0 = time.monotonic()
                p = subprocess.Popen([runner.runwait, "/dev/null", "/dev/null"] + argv, env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     close_fds=True)
                try:
                    conn, _ = ls.accept()
                except socket.timeout:
                    p.kill()
                    p.wait()
                    res.setdefault(("(no connection)", f"{name} {what}"), []).append(0.0)
                    continue
                t1 = time.monotonic()
                # Reset at once: the tool fails and exits.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
                p.wait()
                if r >= 2:
                    res.setdefault((name, what), []).append((t1 - t0) * 1000)
    finally:
        ls.close()
    return res


# ---------------------------------------------------------------------------
# Environment description
# ---------------------------------------------------------------------------


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, env=ENV, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception as e:  # noqa: BLE001 - informative only
        return f"({e})"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def busy_processes(interval=1.0):
    """Processes that used at least 10% of a CPU during `interval` seconds
    just before the bench starts (the harness itself excluded)."""
    def snap():
        out = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            comm = st[st.index("(") + 1:st.rindex(")")]
            rest = st[st.rindex(")") + 2:].split()
            out[pid] = (comm, int(rest[11]) + int(rest[12]), int(rest[16]))  # utime+stime, nice
        return out
    hz = os.sysconf("SC_CLK_TCK")
    a = snap()
    time.sleep(interval)
    b = snap()
    rows = []
    for pid, (comm, t, nice) in b.items():
        if pid in a:
            pct = 100.0 * (t - a[pid][1]) / hz / interval
            if pct >= 10:
                rows.append((pct, f"{comm} (nice {nice}, {pct:.0f}% CPU)"))
    return [r for _, r in sorted(rows, reverse=True)]


def environment(a, dv, servers):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = {
        "nproc": sh("nproc"),
        "cpu": cpu,
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "imapcheck": sh(f"'{a.release}' --version"),
        "imapcheck_static": sh(f"'{a.static}' --version") if a.static else "not built",
        "python": sh(f"'{a.python}' -c 'import sys, ssl; print(\"Python\", sys.version.split()[0], \"/\", ssl.OPENSSL_VERSION)'"),
        "python_path": a.python,
        "curl": sh("curl --version | head -1"),
        "dovecot": sh("PATH=$PATH:/usr/sbin dovecot --version"),
        "servers": {k: v.get("version", "") + (f" ({v['variant']})" if v.get("variant") else "")
                    for k, v in servers.items() if k != "dovecot"},
        "openssl": sh("openssl version"),
        "rustc": sh("rustc --version"),
        "git": sh(f"cd '{ROOT}' && git rev-parse --short HEAD && "
                  "(git diff --quiet HEAD -- src Cargo.toml Cargo.lock && echo clean || echo 'src modified')"),
    }
    return env


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def f1(x):
    return f"{x:.1f}"


def f2(x):
    return f"{x:.2f}"


def mib(kb):
    return f"{kb / 1024:.1f}"


STEP_LIMIT_MS = 5.0  # the target: no step above 5 ms besides TLS
DELACK_MS = 35.0  # a delayed-ACK stall on Linux lasts at least 40 ms
TLS_STEPS = ("tls", "starttls")
CYRUS_SESSION_NOTE = (
    " Cyrus stores every new TLS session in `tls_sessions.db` (a twoskip database, synced "
    "with about a dozen fsync/fdatasync calls) before it writes the session tickets and the "
    "greeting, so this step is as fast as the disk under the instance directory: fast when "
    "the disk is idle, tens of ms while something else writes to it.")
MINIMUM = {"tls": 7.0, "starttls": 8.5}


def step_table_data(kb_all, refs, b="imapcheck"):
    """Per server and mode: imapcheck's steps (median, p90, max, runs at or
    above DELACK_MS) and the reference client's medians."""
    out = {}
    for srv, kb in kb_all.items():
        for m in ("tls", "starttls"):
            ss = kb[(b, m)]
            steps = []
            for s in ss:
                for st in s["steps"]:
                    if st not in steps:
                        steps.append(st)
            rows = []
            for st in steps:
                v = [s["steps"][st] for s in ss if st in s["steps"]]
                ref = {var: [r[st] for r in refs.get(srv, {}).get((var, m), []) if st in r]
                       for var in REF_VARIANTS}
                rows.append({
                    "step": st, "median": med(v), "p90": q(v, .9), "max": max(v),
                    "slow": sum(1 for x in v if x >= DELACK_MS), "n": len(v),
                    "ref": {var: med(x) if x else None for var, x in ref.items()},
                    "ref_slow": {var: sum(1 for y in x if y >= DELACK_MS)
                                 for var, x in ref.items()},
                    "ref_n": {var: len(x) for var, x in ref.items()},
                    "ref_max": {var: max(x) if x else None for var, x in ref.items()},
                    "flag": st not in TLS_STEPS and med(v) > STEP_LIMIT_MS,
                })
            out[(srv, m)] = rows
    return out


def write_report(a, dv, env, info, kb_all, rtt_all, refs, probes, servers, body, body_peers,
                 lst, lst_peers, startup, closed_port, sizes, timing, loads, busy, probe, first):
    L = []
    w = L.append
    kb = kb_all["dovecot"]
    rtt = rtt_all["dovecot"]
    srvs = list(kb_all)
    names = [n for n in ["imapcheck", "imapcheck-static", "imaplib", "curl"]
             if any(k[0] == n for k in kb)]
    bins = [n for n in names if n.startswith("imapcheck")]
    peers = ["imaplib", "curl"]
    modes = ["tls", "starttls"]
    mode_name = {"tls": "implicit TLS", "starttls": "STARTTLS"}
    steps_data = step_table_data(kb_all, refs)

    w("# imapcheck benchmarks")
    w("")
    w("Generated by `bench/run` on " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
      + f" (total run {timing['total_s']:.0f} s). Re-run with `bench/run` (see *Re-running*"
      " below); every number here comes from that one run. No test asserts a time.")
    w("")
    w("## Machine and versions")
    w("")
    w(f"- Machine: {env['nproc']} CPUs, {env['cpu']}, Linux {env['kernel']} ({env['os']})")
    w(f"- Load: the bench ran at normal priority. Load average (1, 5, 15 min) at the start, "
      f"at each phase and at the end: {' → '.join(x.split()[0] for x in loads)} "
      f"(start {loads[0]}, end {loads[-1]})." + (f" Other busy processes at the start: {'; '.join(busy)} — "
                        "they share the CPUs, caches and memory bandwidth, so absolute numbers "
                        "carry some noise; the pair-by-pair ratios cancel most of it." if busy else ""))
    w(f"- imapcheck (release, `target/release/imapcheck`): "
      + env["imapcheck"].replace("\n", "; "))
    w(f"- imapcheck (static musl, `target/x86_64-unknown-linux-musl/release/imapcheck`): "
      + env["imapcheck_static"].replace("\n", "; "))
    w(f"- Source: commit {env['git'].replace(chr(10), ', ')}; {env['rustc']}")
    w(f"- Python: {env['python']} (`{env['python_path']}`, imaplib from its standard library)")
    w(f"- curl: {env['curl']}")
    w(f"- Dovecot: {env['dovecot']} (the throw-away instance of `tests/servers/throwaway-dovecot`)")
    for k, v in env.get("servers", {}).items():
        w(f"- {SERVER_NAME[k]}: {v} (the throw-away instance of `tests/servers/throwaway-{k}`"
          + (", Debian's namespace: `INBOX.` prefix, `.` separator" if k == "cyrus" else "")
          + (", stock configuration: no quota, no ID" if k == "courier" else "") + ")")
    w(f"- OpenSSL (system): {env['openssl']}")
    w("")
    w("Every tool runs with `SSL_CERT_FILE` and `SSL_CERT_DIR` removed from its environment "
      "(`env -u SSL_CERT_FILE -u SSL_CERT_DIR`): this sandbox sets both globally, an admin's "
      "host does not, and with them unset imapcheck looks system CAs up on demand in "
      "`/etc/ssl/certs` instead of parsing the whole bundle. The servers are on 127.0.0.1; "
      "every tool verifies the certificate against the server's test CA (`--ca-file` / "
      "`--cacert` / `ssl.create_default_context(cafile=...)`).")
    w("")
    w("Each process is started by `runwait` (`bench/runwait.c`, built static with musl), "
      "which forks, execs and `wait4()`s it: wall time is fork to reap, CPU is the child's "
      "user+sys (all threads), peak RSS is the child's `ru_maxrss`. A child spawned straight "
      "from the Python harness would report the harness's RSS (exec records the old address "
      "space's high-water mark); through runwait `/bin/true` reports "
      f"{med([s['rss'] for s in startup[('baseline', '/bin/true')]]):.0f} KiB, so the figures "
      "below are the tools' own.")
    w("")

    summary_at = len(L)

    # ---------------- KB sequence
    w("## 1. Full KB sequence on loopback: wall time, CPU, peak RSS")
    w("")
    desc = []
    for srv in srvs:
        n = servers[srv].get("inbox_exists", "5")
        if srv == "dovecot":
            desc.append(f"Dovecot: INBOX {n} messages, 6 folders")
        else:
            desc.append(f"{SERVER_NAME[srv]}: INBOX {n} messages, 5 folders under `INBOX.`")
    w(f"Login, LIST, EXAMINE, FETCH of the newest message's envelope, LOGOUT as alice "
      f"({'; '.join(desc)}). {a.reps} rounds after {a.warmup} warm-up rounds; each round runs "
      f"every tool once per mode on every server ({', '.join(SERVER_NAME[x] for x in srvs)}), "
      "tools and servers in an order rotated round by round. Medians; `p10–p90` gives the "
      "spread. curl = both invocations summed (wall, CPU), peak RSS = the larger of the two.")
    w("")
    for srv in srvs:
        for m in modes:
            w(f"### {SERVER_NAME[srv]}, {mode_name[m]}")
            w("")
            w("| tool | wall ms (median) | wall p10–p90 | CPU ms (user+sys) | peak RSS MiB |")
            w("|---|---:|---:|---:|---:|")
            for t in names:
                ss = kb_all[srv][(t, m)]
                wall = [s["wall"] for s in ss]
                w(f"| {t} | {f1(med(wall))} | {f1(q(wall, .1))}–{f1(q(wall, .9))} | "
                  f"{f1(med([s['cpu'] for s in ss]))} | {mib(med([s['rss'] for s in ss]))} |")
            w("")
    w("### Ratios imapcheck / peer (median of the per-round ratios; below 1 = imapcheck is better)")
    w("")
    w("| server | imapcheck build | peer | mode | wall | CPU | peak RSS |")
    w("|---|---|---|---|---:|---:|---:|")
    for srv in srvs:
        for b in bins:
            for p in peers:
                for m in modes:
                    kk = kb_all[srv]
                    w(f"| {SERVER_NAME[srv]} | {b} | {p} | {mode_name[m]} | "
                      f"{f2(pair_ratio(kk, b, p, m, 'wall'))} | "
                      f"{f2(pair_ratio(kk, b, p, m, 'cpu'))} | {f2(pair_ratio(kk, b, p, m, 'rss'))} |")
        if "imapcheck-static" in bins:
            for m in modes:
                kk = kb_all[srv]
                w(f"| {SERVER_NAME[srv]} | imapcheck-static | imapcheck (release) | {mode_name[m]} | "
                  f"{f2(pair_ratio(kk, 'imapcheck-static', 'imapcheck', m, 'wall'))} | "
                  f"{f2(pair_ratio(kk, 'imapcheck-static', 'imapcheck', m, 'cpu'))} | "
                  f"{f2(pair_ratio(kk, 'imapcheck-static', 'imapcheck', m, 'rss'))} |")
    w("")

    # ---------------- per step
    w("### imapcheck's step times on each server")
    w("")
    w(f"From imapcheck's JSON (`elapsed_ms` of each step) in the rounds above: the release "
      f"build, median over {a.reps} runs per server and mode. **Bold**: a median above "
      f"{STEP_LIMIT_MS:.0f} ms in a step other than `tls`/`starttls` (the issue's target: no "
      "step of a loopback check waits on a delayed ACK, none above 5 ms besides TLS). "
      "`quota` is 0 because GETQUOTAROOT rides in EXAMINE's write: its wait is in `examine`; "
      "`capability` is 0 where the greeting carries the capabilities.")
    w("")
    allsteps = []
    for rows in steps_data.values():
        for r in rows:
            if r["step"] not in allsteps:
                allsteps.append(r["step"])
    w("| server | mode | " + " | ".join(allsteps) + " | elapsed_ms | process wall |")
    w("|---|---|" + "---:|" * (len(allsteps) + 2))
    for srv in srvs:
        for m in modes:
            rows = {r["step"]: r for r in steps_data[(srv, m)]}
            cells = []
            for st in allsteps:
                r = rows.get(st)
                if not r:
                    cells.append("–")
                else:
                    cells.append(f"**{f1(r['median'])}**" if r["flag"] else f1(r["median"]))
            ss = kb_all[srv][("imapcheck", m)]
            w(f"| {SERVER_NAME[srv]} | {mode_name[m]} | " + " | ".join(cells) +
              f" | {f1(med([s['internal_ms'] for s in ss]))} | {f1(med([s['wall'] for s in ss]))} |")
    w("")
    w("Each step in detail, next to a *reference client* run in the same rounds: a few lines "
      "of Python in the harness (`ref_session` in `bench/bench.py`, Python's `ssl`, no imaplib) "
      "that makes the same exchanges — the TLS handshake; the greeting; LOGIN (plus "
      "CAPABILITY when its answer carries none); LIST; EXAMINE with GETQUOTAROOT in the same "
      "write when QUOTA is announced; FETCH; LOGOUT; for STARTTLS: STARTTLS, handshake, "
      "CAPABILITY — and waits for nothing else, timing each answer from inside the process. "
      "With `TCP_QUICKACK` set before every read, as imapcheck does, its times are the "
      "server's answer times (plus well under 0.1 ms of Python); with the kernel's default "
      "delayed ACKs, as imaplib runs, they show where a delayed-ACK stall would be. "
      f"*≥ {DELACK_MS:.0f} ms* counts the runs of the step that took that long: a delayed-ACK "
      "stall on Linux lasts at least 40 ms, so a step that never gets there never waited on "
      "one. The reference client sends no ID (imapcheck's ID rides with LIST or with the "
      "CAPABILITY after login).")
    w("")
    for srv in srvs:
        for m in modes:
            rows = steps_data[(srv, m)]
            w(f"#### {SERVER_NAME[srv]}, {mode_name[m]}")
            w("")
            w(f"| step | imapcheck median ms | p90 | max | imapcheck runs ≥ {DELACK_MS:.0f} ms | "
              f"reference, QUICKACK | reference, default ACKs (runs ≥ {DELACK_MS:.0f} ms) |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                rq, rd = r["ref"]["quickack"], r["ref"]["default"]
                md_ = f"**{f1(r['median'])}**" if r["flag"] else f1(r["median"])
                w(f"| {r['step']} | {md_} | {f1(r['p90'])} | {f1(r['max'])} | "
                  f"{r['slow']} of {r['n']} | {'–' if rq is None else f1(rq)} | "
                  + ("–" if rd is None else f"{f1(rd)} ({r['ref_slow']['default']} of "
                     f"{r['ref_n']['default']})") + " |")
            w("")

    # ---------------- RTT
    rtt_ms = 2 * RTT_DELAY_MS
    w(f"## 2. Round trips at RTT {rtt_ms:.0f} ms")
    w("")
    w(f"Through `bench/delay_proxy.py` (127.0.0.1, holds every chunk {RTT_DELAY_MS:.0f} ms in "
      f"each direction, order kept, TCP_NODELAY on both sides), one proxy per server port, "
      f"{a.rtt_reps} rounds interleaved as in section 1. "
      "*wall ÷ RTT* is the median wall time divided by 50 ms; *round trips* subtracts the "
      "tool's own median wall time on loopback without the proxy (section 1, same server) "
      "first, so local CPU time (Python start-up, TLS crypto, the servers' login processes) "
      "is not counted as network round trips. The subtraction undercounts a tool whose "
      "loopback run itself waits on delayed ACKs (imaplib and curl on Cyrus and Courier, "
      "section 1's reference client shows where): at RTT 50 ms most of such a 40 ms stall "
      "overlaps a round trip that is counted anyway.")
    w("")
    w("How round trips are counted. The proxy cannot delay the TCP handshake: the kernel "
      "completes it on the proxy's listening socket, so `connect()` returns at once — the "
      "SYN/SYN-ACK round trip is *not* in these figures (on a real link add 1 for every "
      "connection: 1 for imapcheck and imaplib, 2 for curl). The issue's list for implicit TLS "
      "counts the same way: TLS 1.3 handshake 1 (ClientHello → ServerHello…Finished), "
      "greeting 1 (the servers write it only after reading the client's Finished), LOGIN 1, "
      "LIST 1, EXAMINE 1, FETCH 1, LOGOUT 1 = **7**. For STARTTLS the plain greeting is "
      "sent as soon as the connection opens, so it arrives after half a round trip: "
      "greeting 0.5, STARTTLS 1, TLS handshake 1, LOGIN, LIST, EXAMINE, FETCH, LOGOUT 5 = "
      "**7.5** when the client logs in right after the handshake; **8.5** (the issue's "
      "figure) when it re-issues CAPABILITY after TLS first, as RFC 3501 6.2.1 says it "
      "SHOULD (the greeting's and LOGIN's [CAPABILITY] codes make every other CAPABILITY "
      "free). The same minimum applies to every server; where a server's stock "
      "configuration costs a client more, the findings say so.")
    w("")
    w("| server | tool | mode | wall ms | wall ÷ RTT | round trips (wall − loopback wall) ÷ RTT | protocol minimum (issue) | excess over the issue's minimum |")
    w("|---|---|---|---:|---:|---:|---:|---:|")
    for srv in srvs:
        for t in names:
            for m in modes:
                ss = rtt_all[srv][(t, m)]
                wall = med([s["wall"] for s in ss])
                base = med([s["wall"] for s in kb_all[srv][(t, m)]])
                n = (wall - base) / rtt_ms
                w(f"| {SERVER_NAME[srv]} | {t} | {mode_name[m]} | {f1(wall)} | {f2(wall / rtt_ms)} | "
                  f"{f2(n)} | {MINIMUM[m]:.1f} | {n - MINIMUM[m]:+.2f} |")
    w("")

    def curl_parts(srv, m, i):
        return (med([s["parts"][i] for s in rtt_all[srv][("curl", m)]]) -
                med([s["parts"][i] for s in kb_all[srv][("curl", m)]])) / rtt_ms
    w("Per invocation for curl (median wall ÷ RTT, loopback wall subtracted): " + "; ".join(
        f"{SERVER_NAME[srv]}, {mode_name[m]}: LIST {f2(curl_parts(srv, m, 0))}, "
        f"FETCH {f2(curl_parts(srv, m, 1))}" for srv in srvs for m in modes) + ".")
    w("")
    w("imapcheck per step at RTT 50 ms (median of its JSON step times ÷ RTT):")
    w("")
    for srv in srvs:
        for b in bins:
            for m in modes:
                ss = rtt_all[srv][(b, m)]
                parts = []
                for st in ss[0]["steps"]:
                    v = med([s["steps"][st] for s in ss])
                    parts.append(f"{st} {f2(v / rtt_ms)}")
                w(f"- {SERVER_NAME[srv]}, {b}, {mode_name[m]}: " + ", ".join(parts) +
                  f"; total {f2(med([s['internal_ms'] for s in ss]) / rtt_ms)}")
    w("")

    # ---------------- memory
    w("## 3. Peak memory")
    w("")
    w("### `--body`: streamed, not buffered")
    w("")
    w(f"alice's message 5 (267 bytes) and 4 (20 MB), and a {info['big_bytes'] / 1e6:.0f} MB "
      f"message (RFC822.SIZE {info['big_size']:,}) that the bench delivers to the extra user "
      f"`big`, fetched with `--body --message N` over implicit TLS; {a.mem_reps} rounds.")
    w("")
    w("| build | what | peak RSS MiB | Δ vs 267-byte --body | wall ms | CPU ms | throughput |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for b in bins:
        small = med([s["rss"] for s in body[(b, "--body, 267-byte message")]])
        for (bb, what), ss in body.items():
            if bb != b:
                continue
            rss = med([s["rss"] for s in ss])
            wall = med([s["wall"] for s in ss])
            bytes_ = ss[0].get("body_bytes") or 0
            tp = f"{bytes_ / 1e6 / (wall / 1e3):.0f} MB/s" if bytes_ > 1e6 else ""
            w(f"| {b} | {what} | {mib(rss)} | {(rss - small) / 1024:+.2f} MiB | {f1(wall)} | "
              f"{f1(med([s['cpu'] for s in ss]))} | {tp} |")
    for p, ss in body_peers.items():
        rss = med([s["rss"] for s in ss])
        wall = med([s["wall"] for s in ss])
        w(f"| {p} (context) | {info['big_bytes'] / 1e6:.0f} MB body | {mib(rss)} | | {f1(wall)} | "
          f"{f1(med([s['cpu'] for s in ss]))} | {info['big_size'] / 1e6 / (wall / 1e3):.0f} MB/s |")
    w("")
    w("### LIST over many folders")
    w("")
    w(f"The KB check (implicit TLS) as users with 1, 6, 2,001 (carol), "
      f"{info['trees']['mid'] + 1:,} and {info['trees']['many'] + 1:,} folders (Maildir++ "
      "`.FolderNNNNN` directories; `mailbox_list_index = no`, so Dovecot lists the "
      f"directory); {a.mem_reps} rounds. Most of the wall time is Dovecot producing the list.")
    w("")
    w("| build | folders | peak RSS MiB | Δ vs 1 folder | bytes per folder | wall ms | CPU ms |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    fits = {}
    for b in bins:
        rows = sorted([(n, user, ss) for (bb, user, n), ss in lst.items() if bb == b])
        base = med([s["rss"] for s in rows[0][2]])
        pts = []
        for n, user, ss in rows:
            rss = med([s["rss"] for s in ss])
            per = (rss - base) * 1024 / (n - rows[0][0]) if n >= 1000 else None
            pts.append((n, rss))
            w(f"| {b} | {n:,} | {mib(rss)} | {(rss - base) / 1024:+.2f} MiB | "
              f"{'' if per is None else f'{per:.0f}'} | {f1(med([s['wall'] for s in ss]))} | "
              f"{f1(med([s['cpu'] for s in ss]))} |")
        # least-squares slope and the largest deviation from the line
        xs = [p[0] for p in pts]
        ys = [p[1] * 1024 for p in pts]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        icpt = my - slope * mx
        dev = max(abs(y - (icpt + slope * x)) for x, y in zip(xs, ys))
        fits[b] = (slope, icpt, dev)
    for p, ss in lst_peers.items():
        failed = [s for s in ss if s["status"]]
        note = ""
        if failed:
            note = f" (failed {len(failed)}/{len(ss)}: exit {failed[0]['status']}, `{failed[0].get('error', '')}`)"
        w(f"| {p} (context){note} | {info['trees']['many'] + 1:,} | {mib(med([s['rss'] for s in ss]))} | | | "
          f"{f1(med([s['wall'] for s in ss]))} | {f1(med([s['cpu'] for s in ss]))} |")
    w("")
    for b, (slope, icpt, dev) in fits.items():
        w(f"- {b}: least-squares fit {slope:.0f} bytes per folder + {icpt / 1048576:.1f} MiB; "
          f"largest deviation of a measured point from that line {dev / 1024:.0f} KiB (linear).")
    w("")
    w("Full-check peak RSS is in section 1's tables.")
    w("")

    # ---------------- start-up
    w("## 4. Start-up")
    w("")
    w(f"Median wall time over {a.startup_reps} runs each (interleaved). The closed port is "
      f"127.0.0.1:{closed_port} (nothing listens; `connect()` gets ECONNREFUSED); imapcheck "
      "exits 2 (CRITICAL) there, curl 7, the imaplib script 1.")
    w("")
    w("| tool | what | wall ms (median) | p10–p90 | CPU ms | peak RSS MiB |")
    w("|---|---|---:|---:|---:|---:|")
    for (t, what), ss in startup.items():
        wall = [s["wall"] for s in ss]
        w(f"| {t} | {what} | {f2(med(wall))} | {f2(q(wall, .1))}–{f2(q(wall, .9))} | "
          f"{f2(med([s['cpu'] for s in ss]))} | {mib(med([s['rss'] for s in ss]))} |")
    w("")

    w("Time to the first connection: from spawning the tool (through runwait) to its TCP "
      "connection being accepted by a listening socket of the harness, which then resets it. "
      "Everything a tool does before it connects — loading libraries, initialising OpenSSL, "
      "reading the CA file — is added to every check's wall time, before the first packet. "
      f"Median over {a.startup_reps} runs.")
    w("")
    w("| tool | mode | ms to connect (median) | p10–p90 |")
    w("|---|---|---:|---:|")
    for (t, what), xs in first.items():
        w(f"| {t} | {what} | {f2(med(xs))} | {f2(q(xs, .1))}–{f2(q(xs, .9))} |")
    w("")

    # ---------------- sizes
    w("## 5. Binary size")
    w("")
    w("| build | bytes | MiB | file(1) |")
    w("|---|---:|---:|---|")
    for name, (path, size, desc) in sizes.items():
        w(f"| {name} (`{os.path.relpath(path, ROOT)}`) | {size:,} | {size / 1048576:.2f} | {desc} |")
    w("")

    # ---------------- commands
    w("## Commands")
    w("")
    w("Ports and the temporary directory change from run to run; `$D` is a throw-away "
      "server's directory, `$TLS`/`$PLAIN` its ports, `$P` a delay proxy's port. The KB "
      "commands run against each server alike (for Cyrus and Courier the password file is "
      "their `pass_file` and curl fetches `MAILINDEX=3`, their newest message).")
    w("")
    w("```")
    w("tests/deps cyrus courier   # installs what is missing, beside Dovecot (root)")
    w("tests/servers/throwaway-dovecot start $D --plain-port $PLAIN --tls-port $TLS --watch-pid <bench/run's pid>")
    w("tests/servers/throwaway-cyrus start $D --plain-port $PLAIN --tls-port $TLS --namespace debian --watch-pid <bench/run's pid>")
    w("tests/servers/throwaway-courier start $D --plain-port $PLAIN --tls-port $TLS --watch-pid <bench/run's pid>")
    w("# every command below runs as: runwait OUT ERR env -u SSL_CERT_FILE -u SSL_CERT_DIR <command>")
    w("imapcheck 127.0.0.1 --security tls -p $TLS --ca-file $D/ca.pem -u alice --password-file $D/alice.pass --format json")
    w("imapcheck 127.0.0.1 --security starttls -p $PLAIN --ca-file $D/ca.pem -u alice --password-file $D/alice.pass --format json")
    w(f"{env['python_path']} bench/peer_imaplib.py 127.0.0.1 $TLS tls $D/ca.pem alice $D/alice.pass")
    w(f"{env['python_path']} bench/peer_imaplib.py 127.0.0.1 $PLAIN starttls $D/ca.pem alice $D/alice.pass")
    w("curl -sS --cacert $D/ca.pem -K $D/alice.curlrc imaps://127.0.0.1:$TLS/")
    w("curl -sS --cacert $D/ca.pem -K $D/alice.curlrc 'imaps://127.0.0.1:$TLS/INBOX;MAILINDEX=5;SECTION=HEADER'")
    w("curl -sS --ssl-reqd --cacert $D/ca.pem -K $D/alice.curlrc imap://127.0.0.1:$PLAIN/")
    w("curl -sS --ssl-reqd --cacert $D/ca.pem -K $D/alice.curlrc 'imap://127.0.0.1:$PLAIN/INBOX;MAILINDEX=5;SECTION=HEADER'")
    w("#   ($D/alice.curlrc holds `user = \"alice:<password>\"`, so no secret is on curl's argv)")
    w("imapcheck 127.0.0.1 --security tls|starttls ... -v   # once per server and mode: the transcript the findings quote")
    w("openssl s_client -connect 127.0.0.1:$TLS -CAfile $D/ca.pem -msg [-starttls imap] </dev/null   # HelloRetryRequest or not")
    w(f"python3 bench/delay_proxy.py --target-port $TLS --delay-ms {RTT_DELAY_MS:.0f}   # then the same commands against port $P")
    w("imapcheck 127.0.0.1 --security tls -p $TLS --ca-file $D/ca.pem -u alice --password-file $D/alice.pass --format json --body --message 5 -t 10")
    w("imapcheck 127.0.0.1 --security tls -p $TLS --ca-file $D/ca.pem -u big --password-file $D/big.pass --format json --body --message 1 -t 120")
    w("imapcheck 127.0.0.1 --security tls -p $TLS --ca-file $D/ca.pem -u many --password-file $D/many.pass --format json -t 120   # also -u big, alice, carol, mid")
    w("#   the first of these runs before `many` has a maildirsize: the quota probe of the findings")
    w("imapcheck --version")
    w("imapcheck 127.0.0.1 --security tls -p <closed port> --ca-file $D/ca.pem -u alice --password-file $D/alice.pass")
    w("imapcheck 127.0.0.1 --security tls|starttls|none -p <listening port of the harness> [--ca-file $D/ca.pem] -u alice --password-file $D/alice.pass -t 5   # time to the first connection")
    w("```")
    w("")
    w("The extra users `big`, `mid` and `many` are added to the throw-away instance's "
      "passwd-file by the bench (mail owned by the instance's mail uid, 65534 as root); the "
      f"100 MB message is written into `big`'s `Maildir/new/`, the {info['trees']['mid']:,} and "
      f"{info['trees']['many']:,} folders are empty `.FolderNNNNN` directories (setup took "
      f"{info['setup_s']:.1f} s). Raw samples of this run: `bench/results.json`.")
    w("")
    L[summary_at:summary_at] = summary(a, info, kb_all, rtt_all, refs, probes, steps_data, body,
                                       lst, startup, probe, bins, peers, modes, mode_name, fits,
                                       first)

    w("## Re-running")
    w("")
    w("```")
    w("bench/run                      # builds and installs what is missing, ~" +
      f"{timing['total_s'] / 60:.0f} min, rewrites bench/BENCHMARKS.md and bench/results.json")
    w("bench/run --servers dovecot    # Dovecot alone (no Cyrus or Courier install; no root needed)")
    w("bench/run --release PATH --static PATH   # measure prebuilt binaries (--static none: skip it)")
    w("bench/run --quick              # fewer repetitions, for a smoke test (writes to /tmp instead)")
    w("bench/run --help               # all options")
    w("```")
    w("")
    w("Needs: cargo (and for the static build musl-tools plus `rustup target add "
      "x86_64-unknown-linux-musl`), dovecot-imapd, openssl, python3, curl, a C compiler "
      "(musl-gcc preferred, for runwait), and for Cyrus and Courier root on Debian "
      "(`tests/deps cyrus courier`, which bench/run calls). Phase timings of this run: " +
      ", ".join(f"{k} {v:.0f} s" for k, v in timing.items() if k != "total_s") + ".")
    w("")
    return "\n".join(L)


def summary(a, info, kb_all, rtt_all, refs, probes, steps_data, body, lst, startup, probe, bins,
            peers, modes, mode_name, fits, first):
    """The headline numbers and the findings, computed from this run."""
    L = []
    w = L.append
    rtt_ms = 2 * RTT_DELAY_MS
    kb = kb_all["dovecot"]
    rtt = rtt_all["dovecot"]
    srvs = list(kb_all)

    def rtts(t, m, srv="dovecot"):
        wall = med([s["wall"] for s in rtt_all[srv][(t, m)]])
        return (wall - med([s["wall"] for s in kb_all[srv][(t, m)]])) / rtt_ms

    def ratio(srv, p, m, key, b="imapcheck"):
        return pair_ratio(kb_all[srv], b, p, m, key)

    def step_rtt(srv, m, st, b="imapcheck"):
        return med([s["steps"].get(st, 0) for s in rtt_all[srv][(b, m)]]) / rtt_ms

    w("## Summary")
    w("")
    w("imapcheck (release build) against each peer on each server, median of per-round "
      "ratios (below 1 = imapcheck better):")
    w("")
    w("| server | peer | mode | wall | CPU | peak RSS |")
    w("|---|---|---|---:|---:|---:|")
    for srv in srvs:
        for p in peers:
            for m in modes:
                w(f"| {SERVER_NAME[srv]} | {p} | {mode_name[m]} | {f2(ratio(srv, p, m, 'wall'))} | "
                  f"{f2(ratio(srv, p, m, 'cpu'))} | {f2(ratio(srv, p, m, 'rss'))} |")
    w("")
    worst = {k: max(ratio(srv, p, m, k, b) for srv in srvs for b in bins for p in peers
                    for m in modes) for k in ("wall", "cpu", "rss")}
    verdict = all(v < 1 for v in worst.values())
    w(f"Worst ratio over both imapcheck builds, every server, both peers and both modes: wall "
      f"{f2(worst['wall'])}, CPU {f2(worst['cpu'])}, peak RSS {f2(worst['rss'])} — "
      + ("imapcheck is below every peer on all three." if verdict
         else "**imapcheck is not below every peer on all three.**"))
    w("")

    # ---- the targets, server by server
    w("### The targets, server by server")
    w("")
    w("From issue 9: no step of a loopback check above 5 ms besides TLS (no delayed-ACK "
      "waits); the full check at most 0.6× curl's two runs and 0.3× imaplib (wall time; CPU "
      "beside it); round trips at RTT 50 ms within half a round trip of the protocol minimum "
      "(7 for implicit TLS, 8.5 for STARTTLS). imapcheck release build; ✅ met, ❌ missed.")
    w("")
    w("| target | " + " | ".join(SERVER_NAME[x] for x in srvs) + " |")
    w("|---|" + "---|" * len(srvs))

    def mark(ok):
        return "✅" if ok else "❌"

    for m in modes:
        cells = []
        for srv in srvs:
            rows = [r for r in steps_data[(srv, m)] if r["step"] not in TLS_STEPS]
            top = max(rows, key=lambda r: r["median"])
            flagged = [r for r in rows if r["flag"]]
            slow = sum(r["slow"] for r in rows)
            cells.append(f"{mark(not flagged)} slowest {top['step']} {f1(top['median'])} ms"
                         + (f" (over 5: {', '.join(r['step'] for r in flagged)})" if flagged else "")
                         + f"; runs ≥ {DELACK_MS:.0f} ms: {slow}")
        w(f"| steps ≤ 5 ms besides TLS (median), {mode_name[m]} | " + " | ".join(cells) + " |")
    for p, limit in (("curl", 0.6), ("imaplib", 0.3)):
        cells = []
        for srv in srvs:
            wl = [ratio(srv, p, m, "wall") for m in modes]
            cp = [ratio(srv, p, m, "cpu") for m in modes]
            cells.append(f"{mark(max(wl) <= limit)} wall {f2(wl[0])} / {f2(wl[1])}; "
                         f"CPU {f2(cp[0])} / {f2(cp[1])}")
        w(f"| wall ≤ {limit}× {p} (implicit TLS / STARTTLS) | " + " | ".join(cells) + " |")
    for m in modes:
        cells = []
        for srv in srvs:
            n = rtts("imapcheck", m, srv)
            cells.append(f"{mark(n - MINIMUM[m] <= 0.5)} {f2(n)} ({n - MINIMUM[m]:+.2f})")
        w(f"| round trips ≤ {MINIMUM[m]} + 0.5, {mode_name[m]} | " + " | ".join(cells) + " |")
    w("")
    stalls, ic_slow, rq_slow = [], 0, 0
    for srv in srvs:
        for m in modes:
            for r in steps_data[(srv, m)]:
                rd, k, nn = r["ref"]["default"], r["ref_slow"]["default"], r["ref_n"]["default"]
                if rd is not None and k:
                    stalls.append(f"{SERVER_NAME[srv]} {mode_name[m]} `{r['step']}` "
                                  f"{f1(rd)} ms ({k} of {nn} runs ≥ {DELACK_MS:.0f} ms)")
                    ic_slow += r["slow"]
                    rq_slow += r["ref_slow"]["quickack"]
    if stalls:
        w("The stalls are there for a client that leaves ACKs to the kernel: the reference "
          "client of section 1 with default delayed ACKs waits (median) " + "; ".join(stalls) +
          ". With TCP_QUICKACK set before every read, the same steps reached "
          f"{DELACK_MS:.0f} ms in {ic_slow} runs of imapcheck and {rq_slow} of the reference "
          "client's other variant.")
    else:
        w("In this run even the reference client with default delayed ACKs met no stall "
          f"of {DELACK_MS:.0f} ms or more, so the run cannot show that QUICKACK avoids them.")
    w("")
    w("Round trips at RTT 50 ms (TCP handshake excluded, see section 2):")
    w("")
    w("| tool | " + " | ".join(f"{SERVER_NAME[x]} {mode_name[m]}" for x in srvs for m in modes) + " |")
    w("|---|" + "---:|" * (len(srvs) * len(modes)))
    w("| protocol minimum as the issue states it | " + " | ".join(
        f"{MINIMUM[m]:g}" for _ in srvs for m in modes) + " |")
    w("| strict minimum (no CAPABILITY after STARTTLS) | " + " | ".join(
        "7" if m == "tls" else "7.5" for _ in srvs for m in modes) + " |")
    for t in bins + peers:
        w(f"| {t} | " + " | ".join(f2(rtts(t, m, x)) for x in srvs for m in modes) + " |")
    w("")
    big = [k for k in body if k[0] == "imapcheck" and k[1].endswith("MB message")
           and not k[1].startswith("--body, 20 MB")]
    small = med([s["rss"] for s in body[("imapcheck", "--body, 267-byte message")]])
    for k in big:
        d = (med([s["rss"] for s in body[k]]) - small) / 1024
        w(f"- `--body` on the {info['big_bytes'] / 1e6:.0f} MB message: peak RSS {d:+.2f} MiB "
          f"against `--body` on a 267-byte message (limit: 2 MiB) — "
          + ("streamed." if abs(d) <= 2 else "**over the limit.**"))
    slope = fits["imapcheck"][0]
    w(f"- LIST: {slope:.0f} bytes of peak RSS per folder (linear fit over 1 to "
      f"{info['trees']['many'] + 1:,} folders), i.e. "
      f"{slope * (info['trees']['many'] + 1) / 1048576:.1f} MiB for "
      f"{info['trees']['many'] + 1:,} folders.")
    v = med([s["wall"] for s in startup[("imapcheck", "--version")]])
    c = med([s["wall"] for s in startup[("imapcheck", "closed port (tls)")]])
    w(f"- Start-up: `--version` {v:.1f} ms, closed port {c:.1f} ms (release build).")
    w("")

    w("## Findings: where imapcheck spends time or memory it need not")
    w("")
    n = 0
    share = {"tls": 1.0, "greeting": 1.0, "login": 1.0, "list": 1.0, "examine": 1.0,
             "fetch": 1.0, "logout": 1.0, "starttls": 3.0}
    for srv in srvs:
        for m in modes:
            ex = {b: rtts(b, m, srv) - MINIMUM[m] for b in bins}
            if max(ex.values()) <= 0.5:
                continue
            n += 1
            over = []
            for st, want in share.items():
                if st == "greeting" and m == "starttls":
                    want = 0.5
                got = step_rtt(srv, m, st)
                if got - want > 0.5:
                    over.append((st, got, want))
            why = []
            hr = probes.get(srv, {}).get("hello_retry", {}).get(m, {})
            tr = probes.get(srv, {}).get("transcript", {}).get(m, {})
            if any(st in TLS_STEPS for st, _, _ in over) and hr.get("hello_retry"):
                why.append(
                    f"the TLS handshake takes two round trips: {SERVER_NAME[srv]} answers the "
                    "ClientHello with a HelloRetryRequest (`openssl s_client -msg` shows "
                    f"{hr['client_hellos']} ClientHellos; negotiated: {hr.get('group')}). "
                    "OpenSSL's default ClientHello, which imapcheck, curl and Python all send, "
                    "carries a key share for X25519 only"
                    + (", and Cyrus accepts only the curve of its `tls_eccurve` setting "
                       "(default prime256v1), so every client of a stock Cyrus pays this round "
                       "trip" if srv == "cyrus" else "")
                    + ". Offering a P-256 key share up front (P-256 first in the client's "
                    "groups list, or both key shares with OpenSSL 3.5's `*` prefix) would "
                    "save it; imaplib and curl pay it too (section 2)")
            if any(st == "login" for st, _, _ in over) and tr.get("capability_alone_after_login"):
                why.append(
                    f"the LOGIN answer carries no [CAPABILITY] (`{tr.get('login_answer')}`), "
                    "so imapcheck sends CAPABILITY on its own and waits for it before LIST: "
                    "one round trip of its own. Plain `LIST \"\" \"*\"` does not depend on the "
                    "capabilities; the CAPABILITY (with ID, when announced) could ride in "
                    "LIST's write, as ID already does where the login answer carries the "
                    "capabilities, and the capabilities would still be known before EXAMINE "
                    "decides on GETQUOTAROOT")
            w(f"{n}. **{SERVER_NAME[srv]}, {mode_name[m]}: imapcheck "
              + ", ".join(f"{'' if b == 'imapcheck' else b + ' '}{ex[b]:+.2f}" for b in bins)
              + " round trips over the issue's minimum** (limit +0.5; "
              f"{f2(rtts('imapcheck', m, srv))} against {MINIMUM[m]:g}). Steps over their "
              "share at RTT 50 ms: "
              + (", ".join(f"`{st}` {f2(got)} RTT (expected {want:g})" for st, got, want in over)
                 or "none alone (the excess is spread)")
              + ". " + ("Why: " + "; and ".join(why) + "." if why else
                        "No probe of the bench explains it: see the per-step lines in section 2."))
    for srv in srvs:
        for m in modes:
            for r in steps_data[(srv, m)]:
                if not r["flag"]:
                    continue
                n += 1
                rq, rd = r["ref"]["quickack"], r["ref"]["default"]
                text = (f"{n}. **{SERVER_NAME[srv]}, {mode_name[m]}: `{r['step']}` takes "
                        f"{f1(r['median'])} ms on loopback** (median; p90 {f1(r['p90'])}, max "
                        f"{f1(r['max'])}; {r['slow']} of {r['n']} runs ≥ {DELACK_MS:.0f} ms), "
                        f"above the {STEP_LIMIT_MS:.0f} ms target.")
                if r["slow"] == 0:
                    text += (f" No run came near a delayed-ACK stall (≥ 40 ms), so it is no "
                             "such wait.")
                if rq is not None:
                    text += (f" The reference client waits {f1(rq)} ms for the same answer with "
                             f"QUICKACK ({f1(rd)} ms with default ACKs).")
                    if rq >= 0.7 * r["median"] or r["median"] - rq < 1.5:
                        text += (" The time is the server's: it answers any client that "
                                 "late.")
                    else:
                        text += (f" imapcheck spends {f1(r['median'] - rq)} ms more than the "
                                 "reference client for it: that part is imapcheck's own.")
                text += CYRUS_SESSION_NOTE if srv == "cyrus" and r["step"] == "greeting" \
                    and m == "tls" else ""
                w(text)
    for srv in srvs:
        for m in modes:
            for r in steps_data[(srv, m)]:
                if r["flag"] or r["step"] in TLS_STEPS or not r["slow"]:
                    continue
                n += 1
                kq, nq = r["ref_slow"]["quickack"], r["ref_n"]["quickack"]
                kd, nd = r["ref_slow"]["default"], r["ref_n"]["default"]
                text = (f"{n}. **{SERVER_NAME[srv]}, {mode_name[m]}: `{r['step']}` took "
                        f"{DELACK_MS:.0f} ms or more in {r['slow']} of {r['n']} runs** (median "
                        f"{f1(r['median'])}, p90 {f1(r['p90'])}, max {f1(r['max'])} ms), within "
                        "the target by its median.")
                if nq:
                    text += (f" The reference client with QUICKACK got there in {kq} of {nq} "
                             f"runs (max {f1(r['ref_max']['quickack'])} ms), with default ACKs "
                             f"in {kd} of {nd} (median {f1(r['ref']['default'])} ms).")
                    if kq and kd > 2 * kq:
                        text += (" Both clients that ACK at once see the same occasional tail, "
                                 "while a delayed-ACK stall comes in nearly every run of the "
                                 "client that does not: the tail is the server's time, not a "
                                 "wait for an ACK.")
                    elif not kq and r["slow"] == 1:
                        extra = (r["max"] - r["median"]) / 2
                        hits = []
                        for p in peers:
                            pw = [s["wall"] for s in kb_all[srv][(p, m)]]
                            k = sum(1 for x in pw if x > med(pw) + extra)
                            hits.append(f"{p} {k} of {len(pw)}")
                        text += (" A single run: a delayed-ACK stall lasts about 40 ms and "
                                 f"recurs, so a lone outlier of {f1(r['max'])} ms is a pause of "
                                 "the server or the machine. Runs of the peers on the same "
                                 f"server and mode that took {f1(extra)} ms or more over their "
                                 f"median: {', '.join(hits)}.")
                text += CYRUS_SESSION_NOTE if srv == "cyrus" and r["step"] == "greeting" \
                    and m == "tls" else ""
                w(text)
    for srv in srvs:
        for p, limit in (("curl", 0.6), ("imaplib", 0.3)):
            for m in modes:
                rw = ratio(srv, p, m, "wall")
                if rw <= limit:
                    continue
                n += 1
                ic = med([s["wall"] for s in kb_all[srv][("imapcheck", m)]])
                peer = med([s["wall"] for s in kb_all[srv][(p, m)]])
                refq = refs.get(srv, {}).get(("quickack", m), [])
                waits = sum(med([x[k] for x in refq if k in x]) for k in refq[0]) if refq else None
                text = (f"{n}. **{SERVER_NAME[srv]}, {mode_name[m]}: imapcheck's wall time is "
                        f"{f2(rw)}× {p}'s (target {limit}×).** imapcheck {f1(ic)} ms, {p} "
                        f"{f1(peer)} ms (medians); CPU ratio {f2(ratio(srv, p, m, 'cpu'))}.")
                if waits is not None:
                    text += (f" The reference client's answer times add up to {f1(waits)} ms: "
                             "that much of any client's wall time is the server's (and the TLS "
                             "handshake's), so a client that took no time of its own would "
                             f"still be at {f2(waits / peer)}× {p}; imapcheck's own share is "
                             f"about {f1(max(0, ic - waits))} ms (process start-up, TLS set-up, "
                             "parsing).")
                w(text)
    st = med([s["steps"].get("starttls", 0) for s in rtt[("imapcheck", "starttls")]]) / rtt_ms
    if st > 2.5:
        n += 1
        w(f"{n}. **STARTTLS costs one round trip more than necessary.** imapcheck's `starttls` "
          f"step takes {st:.2f} RTT: STARTTLS (1), the TLS handshake (1) and a CAPABILITY "
          f"re-issued after the handshake (1), {st * rtt_ms:.0f} ms in all at RTT 50 ms. "
          "RFC 3501 6.2.1 makes the CAPABILITY a SHOULD, and the issue's 8.5 counts it, so "
          f"imapcheck meets the stated bound ({f2(rtts('imapcheck', 'starttls'))} vs 8.5) — but "
          "Dovecot's LOGIN answer carries [CAPABILITY] anyway, and sending CAPABILITY in the "
          "same write as LOGIN (+ ID) would make STARTTLS 7.5. The catch: the post-TLS "
          "capabilities currently decide, before the password is sent, whether LOGIN is "
          "allowed (LOGINDISABLED), which AUTH= mechanisms exist and whether a literal "
          "password may use LITERAL+; pipelining means deciding that from the pre-TLS list "
          "(still over TLS to a verified server, so the secret is not exposed). imaplib and "
          "curl re-issue CAPABILITY too (and also after the greeting).")
    if probe and probe.get("status") != "ok":
        n += 1
        ex = probe["steps"].get("examine", ("?", 0))
        ls = probe["steps"].get("list", ("?", 0))
        w(f"{n}. **GETQUOTAROOT riding with EXAMINE can take EXAMINE down with it.** The first "
          f"check of the {info['trees']['many'] + 1:,}-folder account (no `maildirsize` yet) "
          f"ended `{probe['status']}` after {probe['wall'] / 1000:.1f} s: LIST {ls[1] / 1000:.1f} s "
          f"({ls[0]}), then examine {ex[0]} after {ex[1] / 1000:.1f} s — “{probe['error']}”."
          + (f" Dovecot's log: `{probe['panic']}`." if probe.get("panic") else "")
          + " GETQUOTAROOT goes out in the same write as EXAMINE; Dovecot's maildir++ quota "
          "recount over every folder ran out of its data stack and the imap process died "
          "before flushing the EXAMINE answer, so imapcheck reports EXAMINE as failed and "
          "skips FETCH, although EXAMINE alone succeeds: sent on its own right afterwards "
          f"(imaplib, same account, still uncounted) it answered {probe['examine_alone'][0]} "
          f"in {probe['examine_alone'][1]:.0f} ms. (The bench then writes a `maildirsize` "
          "so the LIST numbers below do not depend on this.) The "
          "same pairing puts the quota recount's seconds into the `examine` step time on the "
          "first check of any large account. A Dovecot bug, but imapcheck's pairing turns a "
          "quota failure into a folder failure.")
    def one_cpu(b):
        k1, k0 = ((b, "--security tls --ca-file, 1 CPU (taskset -c 0)"),
                  (b, "--security none, 1 CPU (taskset -c 0)"))
        if k1 not in first:
            return ""
        d = med(first[k1]) - med(first[k0])
        return (f" Confined to one CPU (`taskset -c 0`, like a 1-vCPU VM) the connection "
                f"arrives {f2(d)} ms later than with `--security none` "
                f"({f2(med(first[k1]))} vs {f2(med(first[k0]))} ms; p90 "
                f"{f2(q(first[k1], .9))} ms): there the thread and the main thread can only "
                "take turns, so whatever the thread does first comes before the SYN.")

    def upfirst(t):
        return t[:1].upper() + t[1:]

    def conn_steps(b, m):
        return [x["steps"]["connect"] for x in kb[(b, m)]]

    for b in bins:
        none = med(first[(b, "--security none")])
        ca_part = med(first[(b, "--security none --ca-file")]) - none
        for m in ("tls", "starttls"):
            with_ca = med(first[(b, f"--security {m} --ca-file")])
            delay = with_ca - none
            if delay <= 1.0:
                continue
            n += 1
            parts = []
            if ca_part > 0.3:
                parts.append(f"reading `--ca-file` before connecting costs {f2(ca_part)} ms "
                             "(`none --ca-file` vs `none`)")
            if m == "tls":
                thread_part = med(first[(b, "--security tls")]) - none
                if thread_part > 0.3:
                    parts.append(
                        f"starting the TLS-context thread before `connect()` costs "
                        f"{f2(thread_part)} ms (`tls` without `--ca-file` vs `none`): the "
                        "thread's OpenSSL work takes the CPU from the main thread before "
                        "it has sent its SYN (this machine has "
                        f"{os.cpu_count()} CPUs, shared with whatever else runs)")
            cs = conn_steps(b, m)
            w(f"{n}. **{b}, {mode_name[m]}: TLS set-up delays the first packet by "
              f"{f2(delay)} ms.** With `--security {m} --ca-file` the TCP connection reaches "
              f"the server {f2(with_ca)} ms after start, with `--security none` {f2(none)} ms, "
              "although the TLS context is meant to be built while the network is busy. "
              + (upfirst("; ".join(parts)) + ". " if parts else "")
              + ("The loopback runs of section 1 agree: imapcheck's own `connect` step there "
                 f"has median {f1(med(cs))} ms, p90 {f1(q(cs, .9))} ms, against "
                 f"{f1(min(cs))} ms when nothing gets in its way. "
                 if med(cs) - min(cs) > 0.5 else "")
              + "On a real link the delay is "
              "added to every check's wall time (the SYN leaves later; the context would "
              "have been ready within the round trip anyway). Sending the SYN first "
              "(non-blocking connect, then start the thread, then wait for the "
              "connection) or running the thread at a lower priority (so it only gets the "
              "CPU while the main thread waits) would hide it."
              + (one_cpu(b) if m == "tls" else ""))
    if n == 0:
        w("None in this run: every imapcheck figure is at its protocol minimum.")
    w("")
    return L


# ---------------------------------------------------------------------------


def read_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v
    return kv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dovecot-kv", required=True)
    ap.add_argument("--server-kv", action="append", default=[],
                    help="NAME=FILE: the key=value lines of another throw-away server")
    ap.add_argument("--work", required=True)
    ap.add_argument("--runwait", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--static")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rtt-reps", type=int, default=9)
    ap.add_argument("--mem-reps", type=int, default=5)
    ap.add_argument("--startup-reps", type=int, default=30)
    ap.add_argument("--big-mb", type=int, default=100)
    ap.add_argument("--mid-folders", type=int, default=10000)
    ap.add_argument("--many-folders", type=int, default=50000)
    ap.add_argument("--out", default=os.path.join(BENCH, "BENCHMARKS.md"))
    ap.add_argument("--raw", default=os.path.join(BENCH, "results.json"))
    a = ap.parse_args()

    dv = read_kv(a.dovecot_kv)
    servers = {"dovecot": dv}
    for item in a.server_kv:
        name, path = item.split("=", 1)
        servers[name] = read_kv(path)
    servers = {k: servers[k] for k in SERVERS if k in servers}
    sports = {k: {"tls": int(v["tls_port"]), "plain": int(v["plain_port"])}
              for k, v in servers.items()}
    ports = sports["dovecot"]
    t_start = time.monotonic()
    timing = {}
    loads = [loadavg()]
    busy = busy_processes()
    env = environment(a, dv, servers)
    runner = Runner(a.runwait, a.work)
    tools = Tools(a, dv, servers)

    print("bench: preparing the 100 MB message and the folder trees", file=sys.stderr)
    t = time.monotonic()
    info = prepare_data(dv, a)
    for name, srv in servers.items():
        if name != "dovecot":
            write_curlrc(srv, srv.get("user", "alice"))
    timing["setup"] = time.monotonic() - t

    loads.append(loadavg())
    print("bench: 1. full KB sequence on loopback, " + ", ".join(SERVER_NAME[k] for k in servers),
          file=sys.stderr)
    t = time.monotonic()
    kb_all, refs = kb_section(runner, tools, list(sports.items()), a.reps, a.warmup, "loopback",
                              ref=True)
    kb = kb_all["dovecot"]
    probes = {}
    for name, srv in servers.items():
        probes[name] = {"hello_retry": hello_retry_probe(srv),
                        "transcript": transcript_probe(runner, tools, name, sports[name])}
    timing["KB sequence"] = time.monotonic() - t

    loads.append(loadavg())
    print("bench: 2. round trips through the delay proxy", file=sys.stderr)
    t = time.monotonic()
    proxies = []
    try:
        targets = []
        for name, pp in sports.items():
            ptls, port_tls = start_proxy(a, pp["tls"])
            proxies.append(ptls)
            pplain, port_plain = start_proxy(a, pp["plain"])
            proxies.append(pplain)
            targets.append((name, {"tls": port_tls, "plain": port_plain}))
        rtt_all = kb_section(runner, tools, targets, a.rtt_reps, 1, "RTT 50 ms")
    finally:
        for p in proxies:
            p.terminate()
            p.wait()
    timing["round trips"] = time.monotonic() - t

    loads.append(loadavg())
    print("bench: 3. memory: --body and LIST", file=sys.stderr)
    t = time.monotonic()
    body, body_peers = body_section(runner, tools, dv, ports, info, a.mem_reps)
    lst, lst_peers, probe = list_section(runner, tools, dv, ports, info, a.mem_reps)
    timing["memory"] = time.monotonic() - t

    loads.append(loadavg())
    print("bench: 4. start-up", file=sys.stderr)
    t = time.monotonic()
    startup, closed = startup_section(runner, tools, dv, a.startup_reps)
    first = first_connect_section(runner, tools, dv, a.startup_reps)
    timing["start-up"] = time.monotonic() - t

    sizes = {}
    for name, path in tools.bins.items():
        sizes[name] = (path, os.path.getsize(path),
                       sh(f"file -b '{path}'").split(", BuildID")[0] if shutil.which("file") else "")
    loads.append(loadavg())
    timing["total_s"] = time.monotonic() - t_start

    md = write_report(a, dv, env, info, kb_all, rtt_all, refs, probes, servers, body,
                      body_peers, lst, lst_peers, startup, closed, sizes, timing, loads, busy,
                      probe, first)
    with open(a.out, "w") as f:
        f.write(md)

    def keyed(d):
        return {" | ".join(map(str, k)): v for k, v in d.items()}

    def keyed_all(d):
        return {f"{srv} | {' | '.join(map(str, k))}": v for srv, dd in d.items()
                for k, v in dd.items()}
    raw = {
        "env": env, "info": info, "timing": timing, "loads": loads,
        "servers": {k: {x: v[x] for x in ("server", "variant", "version", "inbox_exists")
                        if x in v} for k, v in servers.items()},
        "kb_loopback": keyed_all(kb_all), "kb_rtt50": keyed_all(rtt_all),
        "reference_client_loopback": keyed_all(refs), "probes": probes,
        "body": keyed(body),
        "body_peers": body_peers, "list": keyed(lst), "list_peers": lst_peers,
        "startup": keyed(startup), "sizes": {k: v[1] for k, v in sizes.items()},
        "quota_probe": probe, "first_connect": keyed(first),
    }
    with open(a.raw, "w") as f:
        json.dump(raw, f, indent=1)
    print(f"bench: wrote {a.out} and {a.raw} ({timing['total_s']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
