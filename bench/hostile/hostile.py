#!/usr/bin/env python3
"""Hostile clients against a running `sipauth serve`, measured (issue 18, item 5).

While one well-behaved client asks GET /healthz every 10 ms and the service's RSS is sampled,
each attack runs in turn: 10,000 idle connections, slowloris (headers dribbled a byte a second),
oversized headers and bodies, and 100,000 requests with distinct unknown paths and methods.
Prints one JSON document: per phase the well-behaved client's p50/p99 latency and failures, the
peak RSS; the idle RSS before and after (the service must come back within 10 %).

Usage: hostile.py HOST PORT PID   (the standard library only; run by bench/hostile/run.sh)
"""

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import time

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def rss_mib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def read_response(reader):
    """Reads one HTTP/1.1 response (headers and a Content-Length body); returns the status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


def watch(stop, out):
    """The well-behaved client and the RSS sampler, in a process of their own (so the
    attackers' event loop cannot delay them): GET /healthz every 10 ms until `stop` is set."""

    async def run():
        latencies, failures, peak = [], 0, 0.0
        reader = writer = None
        next_sample = 0.0
        while not stop.is_set():
            now = time.perf_counter()
            if now >= next_sample:
                peak = max(peak, rss_mib())
                next_sample = now + 0.1
            start = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(HOST, PORT), 2)
                writer.write(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                await writer.drain()
                status = await asyncio.wait_for(read_response(reader), 2)
                if status != 200:
                    failures += 1
                latencies.append((time.perf_counter() - start) * 1000)
            except Exception:
                failures += 1
                writer = None
            await asyncio.sleep(0.01)
        lat = sorted(latencies) or [0.0]
        out.put({
            "requests": len(latencies),
            "failures": failures,
            "p50_ms": round(statistics.median(lat), 2),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
            "peak_rss_mib": round(peak, 1),
        })

    asyncio.run(run())


async def phase(name, attack):
    stop, out = multiprocessing.Event(), multiprocessing.Queue()
    watcher = multiprocessing.Process(target=watch, args=(stop, out))
    watcher.start()
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    detail = await attack()
    # At least 5 s of watching per phase, so a p99 rests on hundreds of requests.
    await asyncio.sleep(max(0.0, 5 - (time.perf_counter() - started)))
    stop.set()
    report = out.get()
    watcher.join()
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["attack"] = detail
    print(f"{name}: {json.dumps(report)}", file=sys.stderr)
    return report


async def idle_connections(n=10_000, hold=15):
    conns, refused = [], 0
    for _ in range(n):
        try:
            conns.append(await asyncio.open_connection(HOST, PORT))
        except OSError:
            refused += 1
    await asyncio.sleep(hold)
    # How many the service had closed by then (its header-read timeout).
    closed = 0
    for reader, writer in conns:
        try:
            writer.write(b"G")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(1), 0.001)
            closed += data == b""
        except Exception:
            closed += 1
        writer.close()
    return {"opened": len(conns), "refused": refused, "closed_by_service": closed}


async def slowloris(n=2_000, seconds=20):
    async def one():
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            return "refused"
        request = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: {'a' * 200}".encode()
        try:
            for i in range(seconds):
                writer.write(request[i:i + 1])
                await writer.drain()
                await asyncio.sleep(1)
            return "held"
        except Exception:
            return "cut"
        finally:
            writer.close()

    results = await asyncio.gather(*(one() for _ in range(n)))
    return {r: results.count(r) for r in set(results)}


async def oversized(headers=2_000, bodies=100):
    statuses = {}

    async def one(request):
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
            writer.write(request)
            await writer.drain()
            status = await asyncio.wait_for(read_response(reader), 10)
            writer.close()
        except Exception as e:
            status = type(e).__name__
        statuses[status] = statuses.get(status, 0) + 1

    big_header = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'b' * 100_000}\r\n\r\n".encode()
    many_headers = (f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n"
                    + "".join(f"X-H{i}: v\r\n" for i in range(500)) + "\r\n").encode()
    body = b"x" * (10 * 1024 * 1024)
    big_body = (f"POST /api/sip/provision HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer x\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    sem = asyncio.Semaphore(200)

    async def limited(request):
        async with sem:
            await one(request)

    await asyncio.gather(*(limited(big_header if i % 2 else many_headers) for i in range(headers)))
    await asyncio.gather(*(limited(big_body) for _ in range(bodies)))
    return {str(k): v for k, v in statuses.items()}


async def unknown_paths_and_methods(total=100_000, connections=50):
    statuses = {}
    per = total // connections

    async def worker(w):
        reader, writer = await asyncio.open_connection(HOST, PORT)
        for i in range(per):
            n = w * per + i
            method = random.choice(["GET", "POST", "DELETE", f"X{n}M", f"PROPFIND{n}"])
            writer.write(f"{method} /nope/{n}/{random.random()} HTTP/1.1\r\nHost: {HOST}\r\n"
                         f"Content-Length: 0\r\n\r\n".encode())
            await writer.drain()
            try:
                status = await read_response(reader)
            except Exception:
                reader, writer = await asyncio.open_connection(HOST, PORT)
                status = "reset"
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(worker(w) for w in range(connections)))
    return {str(k): v for k, v in statuses.items()}


async def quiet(seconds):
    await asyncio.sleep(seconds)
    return {"quiet_seconds": seconds}


async def main():
    result = {"idle_rss_before_mib": round(rss_mib(), 1)}
    result["baseline"] = await phase("baseline", lambda: quiet(10))
    result["idle_connections"] = await phase("idle", idle_connections)
    result["slowloris"] = await phase("slowloris", slowloris)
    result["oversized"] = await phase("oversized", oversized)
    result["unknown_paths_and_methods"] = await phase("unknown", unknown_paths_and_methods)
    result["recovery"] = await phase("recovery", lambda: quiet(30))
    result["idle_rss_after_mib"] = round(rss_mib(), 1)
    worst_p99 = max(result[k]["p99_ms"] for k in
                    ["idle_connections", "slowloris", "oversized", "unknown_paths_and_methods"])
    peak = max(result[k]["peak_rss_mib"] for k in result if isinstance(result[k], dict))
    before, after = result["idle_rss_before_mib"], result["idle_rss_after_mib"]
    result["verdict"] = {
        "worst_p99_ms": worst_p99,
        "p99_under_50_ms": worst_p99 < 50,
        "peak_rss_mib": peak,
        "rss_under_100_mib": peak < 100,
        # Back to its idle RSS or below (an allocator may return more than it held at first).
        "recovered_within_10_percent": after <= 1.1 * before,
    }
    print(json.dumps(result, indent=2))


asyncio.run(main())
