#!/usr/bin/env python3
"""delay_proxy: a loopback TCP proxy that adds latency, for counting round trips.

    delay_proxy.py --target-port N [--listen-port M] [--delay-ms D]
                   [--watch-pid PID] [--max-seconds S]

Listens on 127.0.0.1 (port M, or an ephemeral one) and forwards every
connection to 127.0.0.1:N. Each chunk read in either direction is held D ms
(default 25, so a round trip costs 2*D = 50 ms) and then written, in the
order it arrived. Both sockets have TCP_NODELAY so the proxy adds no Nagle
delay of its own. This stands in for `tc qdisc ... netem delay`, which this
kernel lacks.

What it cannot delay is the TCP handshake with the client itself: the kernel
completes it when the proxy's listening socket gets the SYN, so connect()
returns at once, and the connection to the server is opened immediately.
A round trip count measured through the proxy therefore excludes the
SYN/SYN-ACK exchange (on a real link: add one).

It prints "port=M" on stdout once listening, then runs until PID (if given)
is gone, or S seconds (default 900) have passed, whichever comes first.
Bounded: at most 64 connections at a time, at most 1024 chunks queued per
direction (a full queue stops reading, so the sender is slowed down by TCP
flow control instead of the proxy buffering without limit), 64 KiB per read.
"""

import argparse
import os
import queue
import socket
import sys
import threading
import time

MAX_CONNECTIONS = 64
MAX_QUEUED_CHUNKS = 1024
CHUNK = 65536
IDLE_TIMEOUT = 300  # seconds without data before a connection is dropped


def pump(src, dst, delay, done):
    """Reads from src, holds each chunk `delay` seconds, writes it to dst."""
    q = queue.Queue(MAX_QUEUED_CHUNKS)

    def writer():
        try:
            while True:
                due, data = q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if data is None:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                dst.sendall(data)
        except OSError:
            # The other side is gone: stop reading too.
            try:
                src.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            # Drain so the reader never blocks on a full queue.
            while True:
                try:
                    _, data = q.get(timeout=IDLE_TIMEOUT)
                except queue.Empty:
                    return
                if data is None:
                    return
        finally:
            done.release()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        while True:
            data = src.recv(CHUNK)
            q.put((time.monotonic() + delay, data if data else None))
            if not data:
                break
    except OSError:
        q.put((time.monotonic() + delay, None))


def handle(client, target_port, delay, slots):
    try:
        try:
            server = socket.create_connection(("127.0.0.1", target_port), timeout=10)
        except OSError:
            client.close()
            return
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(IDLE_TIMEOUT)
        done = threading.Semaphore(0)
        up = threading.Thread(target=pump, args=(client, server, delay, done), daemon=True)
        up.start()
        pump(server, client, delay, done)
        up.join()
        # Both writers finished (each released once).
        done.acquire()
        done.acquire()
        client.close()
        server.close()
    finally:
        slots.release()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=25.0)
    ap.add_argument("--watch-pid", type=int)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    a = ap.parse_args()
    delay = a.delay_ms / 1000.0

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.listen_port))  # loopback only, by design
    ls.listen(64)
    ls.settimeout(0.5)
    print(f"port={ls.getsockname()[1]}", flush=True)

    end = time.monotonic() + a.max_seconds
    slots = threading.Semaphore(MAX_CONNECTIONS)
    while time.monotonic() < end:
        if a.watch_pid:
            try:
                os.kill(a.watch_pid, 0)
            except ProcessLookupError:
                break
        try:
            client, _ = ls.accept()
        except socket.timeout:
            continue
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not slots.acquire(blocking=False):
            client.close()
            continue
        threading.Thread(
            target=handle, args=(client, a.target_port, delay, slots), daemon=True
        ).start()
    ls.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
