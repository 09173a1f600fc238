"""Trust-store benchmark (issue 11), run by bench/run.

One implicit-TLS KB check against the throw-away Dovecot, verified against
the *system* CA store only (no --ca-file), in each layout a host can have:

  hashed   Debian-like: the bundle and its hashed directory, SSL_CERT_FILE unset
  named    the same, with SSL_CERT_FILE naming the system bundle
  rhel     RHEL-like: the bundle file only, no hashed directory

for each imapcheck binary given (release and static, before and after),
side by side with curl (one invocation: login and LIST) and
`openssl s_client` (the handshake alone) using the same store. Each layout
is this host's /etc/ssl/certs with Dovecot's test CA added, bind-mounted
over /etc/ssl/certs in a private mount namespace (`unshare -m`, root): the
host is not touched. Rounds interleave every tool and layout in a rotated
order; medians of wall time and CPU (runwait: the child's own).

Writes a markdown section into the given file, between the markers
<!-- trust-store --> and <!-- /trust-store --> (appended when absent).
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import time

LAYOUTS = [
    ("hashed", "hashed directory, no `SSL_CERT_FILE`"),
    ("named", "`SSL_CERT_FILE` = the system bundle"),
    ("rhel", "RHEL-like: bundle file only"),
]
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MOUNT = 'mount --bind "$0" /etc/ssl/certs && exec "$@"'
BEGIN, END = "<!-- trust-store -->", "<!-- /trust-store -->"


def read_kv(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


def make_layouts(work, ca):
    """The two directories: a copy of /etc/ssl/certs with the test CA in
    the bundle and hashed, and a bundle-only one."""
    with open(BUNDLE) as f:
        system = f.read()
    with open(ca) as f:
        test_ca = f.read()
    hashed = os.path.join(work, "ts-hashed")
    rhel = os.path.join(work, "ts-rhel")
    for d in (hashed, rhel):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    for entry in glob.glob("/etc/ssl/certs/*"):
        name = os.path.basename(entry)
        if name == os.path.basename(BUNDLE):
            continue
        if os.path.islink(entry):
            os.symlink(os.readlink(entry), os.path.join(hashed, name))
        elif os.path.isfile(entry):
            shutil.copy(entry, os.path.join(hashed, name))
    for d in (hashed, rhel):
        with open(os.path.join(d, os.path.basename(BUNDLE)), "w") as f:
            f.write(system + test_ca)
    shutil.copy(ca, os.path.join(hashed, "imapcheck-bench-ca.pem"))
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", ca],
                       capture_output=True, text=True, check=True).stdout.strip()
    os.symlink("imapcheck-bench-ca.pem", os.path.join(hashed, f"{h}.0"))
    return {"hashed": hashed, "named": hashed, "rhel": rhel}


def env_for(layout):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "HOME": os.environ.get("HOME", "/root")}
    if layout == "named":
        env["SSL_CERT_FILE"] = BUNDLE
    return env


def run(runwait, work, layout_dir, env, argv, ok):
    out, err = os.path.join(work, "ts.out"), os.path.join(work, "ts.err")
    p = subprocess.run(["unshare", "-m", "sh", "-c", MOUNT, layout_dir, runwait, out, err, *argv],
                       env=env, capture_output=True, text=True)
    try:
        m = dict(kv.split("=", 1) for kv in p.stdout.split())
        status = int(m["status"])
    except (ValueError, KeyError):
        raise SystemExit(f"trust_store: {argv[0]}: no runwait line: {p.stdout} {p.stderr}")
    if status not in ok:
        with open(err, errors="replace") as f, open(out, errors="replace") as o:
            raise SystemExit(f"trust_store: {' '.join(argv)} exited {status}\n"
                             f"{o.read()[-1500:]}\n{f.read()[-1500:]}")
    return (int(m["wall_ns"]) / 1e6, (int(m["utime_us"]) + int(m["stime_us"])) / 1e3)


def tools(a, dv):
    port = dv["tls_port"]
    pw = dv["pass_file"]
    with open(pw) as f:
        password = f.read().split("\n")[0]
    rc = os.path.join(a.work, "ts.curlrc")
    esc = password.replace("\\", "\\\\").replace('"', '\\"')
    with open(rc, "w") as f:
        f.write(f'user = "alice:{esc}"\n')
    t = {}
    for item in a.bin:
        name, path = item.split("=", 1)
        t[name] = ([path, "127.0.0.1", "--security", "tls", "-p", port, "-u", "alice",
                    "--password-file", pw, "--format", "json"], (0,))
    t["curl"] = (["curl", "-sS", "-K", rc, "-o", "/dev/null", f"imaps://127.0.0.1:{port}/"], (0,))
    t["openssl s_client"] = (["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief",
                              "-verify_return_error", "-verify_ip", "127.0.0.1"], (0,))
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dovecot-kv", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runwait", required=True)
    ap.add_argument("--bin", action="append", default=[], help="NAME=PATH of an imapcheck binary")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--into", required=True, help="markdown file to put the section into")
    ap.add_argument("--after", default="", help="the commit of the current builds")
    ap.add_argument("--before", default="", help="the commit of the 'before' builds")
    a = ap.parse_args()

    dv = read_kv(a.dovecot_kv)
    dirs = make_layouts(a.work, dv["ca"])
    t = tools(a, dv)
    jobs = [(lay, name) for lay, _ in LAYOUTS for name in t]
    samples = {j: [] for j in jobs}
    started = time.monotonic()
    load_start = open("/proc/loadavg").read().split()[:3]
    print(f"trust_store: {len(jobs)} runs a round, {a.warmup}+{a.reps} rounds", file=sys.stderr)
    for r in range(a.warmup + a.reps):
        k = (r * 7) % len(jobs)
        for lay, name in jobs[k:] + jobs[:k]:
            argv, ok = t[name]
            res = run(a.runwait, a.work, dirs[lay], env_for(lay), argv, ok)
            if r >= a.warmup:
                samples[(lay, name)].append(res)
    took = time.monotonic() - started
    load_end = open("/proc/loadavg").read().split()[:3]

    def wall(lay, name):
        return statistics.median(s[0] for s in samples[(lay, name)])

    def cpu(lay, name):
        return statistics.median(s[1] for s in samples[(lay, name)])

    names = list(t)
    lines = [BEGIN, "## Trust store: the cost of the system CAs", ""]
    lines.append(
        f"`bench/trust_store.py` (run by `bench/run`; `bench/run --trust-only` runs it alone), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {a.reps} rounds after "
        f"{a.warmup} warm-up rounds, {took:.0f} s. One implicit-TLS KB check against the "
        "throw-away Dovecot on 127.0.0.1, verified against the system store alone (no "
        "`--ca-file`): this host's `/etc/ssl/certs` with the test CA added to the bundle "
        "and hashed, bind-mounted over `/etc/ssl/certs` in a private mount namespace, per "
        "layout. curl is one invocation (login and LIST) with its default store (the same "
        "bundle and directory); `openssl s_client` does the handshake alone with OpenSSL's "
        "default paths. Every tool and layout ran in each round, in a rotated order. "
        "Medians: wall ms (CPU ms).")
    lines.append("")
    commits = {"after": a.after, "before": a.before}
    for name in names:
        when = name.split()[-1]
        of = f" (commit {commits[when]})" if commits.get(when) else ""
        lines.append(f"- `{name}`{of}: `{t[name][0][0]}`")
    lines.append(f"- Load average (1, 5, 15 min) at the start and the end: {' '.join(load_start)} "
                 f"→ {' '.join(load_end)} (other work shared the machine's "
                 f"{os.cpu_count()} CPUs).")
    lines.append("")
    lines.append("| layout | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    for lay, label in LAYOUTS:
        cells = [f"{wall(lay, n):.1f} ({cpu(lay, n):.1f})" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    def ratio(lay_a, a, lay_b, b):
        """Median over the rounds of the two runs' wall-time ratio: both ran
        in the same round, so load from elsewhere touches both alike."""
        pairs = zip(samples[(lay_a, a)], samples[(lay_b, b)])
        return statistics.median(x[0] / y[0] for x, y in pairs)

    ratios = []
    for build in ("release", "static"):
        after, before = f"{build} after", f"{build} before"
        if after not in t:
            continue
        r_named = ratio("named", after, "hashed", after)
        ratios.append(f"- {build}: `SSL_CERT_FILE` = bundle / unset = {r_named:.2f} "
                      f"(target ≤ 1.10) {'✅' if r_named <= 1.10 else '❌'}")
        if before in t:
            r_rhel = ratio("rhel", after, "rhel", before)
            limit = 0.6 if build == "release" else 1.0
            ratios.append(f"- {build}: RHEL-like after / before = {r_rhel:.2f} "
                          f"(target ≤ {limit:.2f}) {'✅' if r_rhel <= limit else '❌'}")
        for lay, label in LAYOUTS:
            r_curl = ratio(lay, after, lay, "curl")
            ratios.append(f"- {build}: {label}: imapcheck / curl = {r_curl:.2f} "
                          f"(target ≤ 1.00) {'✅' if r_curl <= 1.0 else '❌'}")
    lines += ["Targets (wall time; median over the rounds of each round's ratio):", ""]
    lines += ratios + ["", END]
    section = "\n".join(lines) + "\n"

    text = open(a.into).read() if os.path.exists(a.into) else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(a.into, "w") as f:
        f.write(text)
    print(section)


if __name__ == "__main__":
    main()
