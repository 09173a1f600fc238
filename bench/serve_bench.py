#!/usr/bin/env python3
"""imapcheck serve benchmark: the exporter against a throw-away Dovecot.

    bench/serve_bench.py [--binary target/release/imapcheck] [--seconds 20]
                         [--probes 10000] [--out FILE]

Starts a throw-away Dovecot (tests/servers/throwaway-dovecot) on loopback
and `imapcheck serve` with four modules: the full check over implicit TLS
(ok), a wrong password (refused login), a closed port (refused
connection) and a server that accepts and never greets (slow; 1 s
deadline). Then measures, reading /proc/<pid> of the exporter:

  1. idle RSS, fds and threads right after the start;
  2. probes per second at 16 concurrent scrapes of the ok module, the RSS
     with 16 probes in flight (sampled), and the exporter's CPU per probe
     beside the CLI's CPU per run of the same check;
  3. RSS, fds and threads after 1,000 and after N (10,000) probes of the
     mix (ok, refused login, refused connection, slow), each read once the
     exporter is idle again.

Prints a Markdown section for bench/BENCHMARKS.md (and writes it to --out).
Nothing here is a timed test: the numbers depend on the machine.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def rss_kib(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def threads(pid):
    return int(proc_status(pid)["Threads"])


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def slow_server():
    """Accepts and never greets; closes when the client does."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)

    def hold(conn):
        try:
            conn.settimeout(30)
            while conn.recv(4096):
                pass
        except OSError:
            pass
        conn.close()

    def loop():
        while True:
            conn, _ = ls.accept()
            threading.Thread(target=hold, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return ls.getsockname()[1]


def wait_idle(base, pid, limit=30):
    end = time.time() + limit
    while time.time() < end:
        _, text = get(f"{base}/metrics")
        if "imapcheck_exporter_probes_in_flight 0" in text:
            return
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/imapcheck"))
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--probes", type=int, default=10000)
    ap.add_argument("--out")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="icsb-")
    os.chmod(work, 0o711)
    dv = os.path.join(work, "dv")
    plain, tls = free_port(), free_port()
    kv = subprocess.run(
        [os.path.join(ROOT, "tests/servers/throwaway-dovecot"), "start", dv,
         "--plain-port", str(plain), "--tls-port", str(tls), "--watch-pid", str(os.getpid())],
        check=True, capture_output=True, text=True).stdout
    inst = dict(line.split("=", 1) for line in kv.splitlines() if "=" in line)
    mods = os.path.join(work, "modules")
    os.mkdir(mods)
    with open(os.path.join(mods, "wrong.pass"), "w") as f:
        f.write("wrong\n")
    common = f"-u alice\n--ca-file {inst['ca']}\n--allow-target 127.0.0.0/8\n"
    modules = {
        "ok": f"--security tls\n--password-file {inst['alice_pass_file']}\n{common}",
        "refused_login": f"--security tls\n--password-file wrong.pass\n{common}",
        "refused_connection": f"--security tls\n--password-file wrong.pass\n{common}",
        "slow": f"--security none\n-t 1\n--password-file wrong.pass\n{common}",
    }
    for name, text in modules.items():
        with open(os.path.join(mods, name + ".conf"), "w") as f:
            f.write(text)
    closed = free_port()
    slow = slow_server()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}",
                              "--modules", mods, "--max-probes", "64"],
                             stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             env={k: v for k, v in os.environ.items() if k != "RUST_LOG"})
    pid = serve.pid
    lines = []
    try:
        for _ in range(100):
            try:
                get(f"{base}/-/ready")
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.5)
        idle = (rss_kib(pid), fds(pid), threads(pid))

        # 2. Throughput at 16 concurrent scrapes of the ok module.
        url_ok = f"{base}/probe?module=ok&target=127.0.0.1:{tls}"
        done = [0]
        failed = [0]
        lock = threading.Lock()
        stop = time.time() + args.seconds

        def scraper():
            while time.time() < stop:
                status, text = get(url_ok)
                with lock:
                    done[0] += 1
                    if status != 200 or "probe_success 1" not in text:
                        failed[0] += 1

        rss_samples = []
        cpu0 = cpu_seconds(pid)
        t0 = time.time()
        workers = [threading.Thread(target=scraper) for _ in range(16)]
        for w in workers:
            w.start()
        while any(w.is_alive() for w in workers):
            rss_samples.append(rss_kib(pid))
            time.sleep(0.05)
        elapsed = time.time() - t0
        serve_cpu = (cpu_seconds(pid) - cpu0) / max(done[0], 1)
        rate = done[0] / elapsed

        # The CLI's CPU per run of the same check.
        cli_runs = 50
        before = os.times()
        for _ in range(cli_runs):
            subprocess.run([args.binary, "127.0.0.1", "-p", str(tls), "--security", "tls",
                            "-u", "alice", "--password-file", inst["alice_pass_file"],
                            "--ca-file", inst["ca"]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        after = os.times()
        cli_cpu = ((after.children_user - before.children_user)
                   + (after.children_system - before.children_system)) / cli_runs

        # 3. The mix: RSS after 1,000 and after N probes.
        urls = [
            url_ok,
            f"{base}/probe?module=refused_login&target=127.0.0.1:{tls}",
            f"{base}/probe?module=refused_connection&target=127.0.0.1:{closed}",
            f"{base}/probe?module=slow&target=127.0.0.1:{slow}",
        ]
        counter = [0]
        marks = {}

        def mixer(limit):
            while True:
                with lock:
                    if counter[0] >= limit:
                        return
                    i = counter[0]
                    counter[0] += 1
                get(urls[i % len(urls)])

        for limit in (1000, args.probes):
            ws = [threading.Thread(target=mixer, args=(limit,)) for _ in range(16)]
            for w in ws:
                w.start()
            for w in ws:
                w.join()
            wait_idle(base, pid)
            time.sleep(1.5)  # resolver and probe threads end
            marks[limit] = (rss_kib(pid), fds(pid), threads(pid))
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        subprocess.run([os.path.join(ROOT, "tests/servers/throwaway-dovecot"), "stop", dv],
                       capture_output=True)

    mib = lambda k: f"{k / 1024:.1f} MiB"
    lines.append("## imapcheck serve (bench/serve_bench.py)")
    lines.append("")
    lines.append("Throw-away Dovecot on loopback (implicit TLS, the full check as alice), release build, "
                 f"{os.cpu_count()} cores; exporter started with --max-probes 64.")
    lines.append("")
    lines.append("| measure | value | target |")
    lines.append("| --- | --- | --- |")
    lines.append(f"| idle RSS | {mib(idle[0])} | ≤ 8 MiB |")
    lines.append(f"| idle fds / threads | {idle[1]} / {idle[2]} | |")
    lines.append(f"| probes/s at 16 concurrent scrapes ({args.seconds:.0f} s) | {rate:.0f} ({done[0]} probes, {failed[0]} not successful) | |")
    lines.append(f"| RSS with 16 probes in flight (max / median of samples) | {mib(max(rss_samples))} / {mib(statistics.median(rss_samples))} | ≤ 32 MiB |")
    lines.append(f"| exporter CPU per probe | {serve_cpu * 1000:.2f} ms | ≤ 1.1 × CLI |")
    lines.append(f"| CLI CPU per run (same check, {cli_runs} runs) | {cli_cpu * 1000:.2f} ms | |")
    lines.append(f"| ratio exporter / CLI | {serve_cpu / cli_cpu:.2f} | ≤ 1.1 |")
    a, b = marks[1000], marks[args.probes]
    lines.append(f"| RSS after 1,000 mixed probes | {mib(a[0])} | |")
    lines.append(f"| RSS after {args.probes:,} mixed probes | {mib(b[0])} (Δ {(b[0] - a[0]) / 1024:+.2f} MiB) | within 1 MiB |")
    lines.append(f"| fds / threads after 1,000 and {args.probes:,} (idle) | {a[1]} / {a[2]} and {b[1]} / {b[2]} | no leak |")
    lines.append("")
    lines.append("The mix: ok, refused login, refused connection (closed port) and a slow "
                 "server (accepts, never greets; 1 s deadline), in turn, 16 at a time.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
