#!/usr/bin/env python3
"""Server memory per in-flight stream: RSS of servelab-server holding N
concurrent /v1/completions streams, minus its RSS before them, divided by N.

  bench/stream_rss.py BUILD_DIR [--streams 1000] [--max-tokens 300] [--mode fast|paused]

fast: every client reads as fast as it can (all N streams generate at once);
paused: clients read only the first event, so every stream ends up paused
by backpressure with its buffer full (the worst case the buffer bound allows).
Loopback only; every wait is bounded. Prints one line per measurement.
"""
import argparse, asyncio, os, re, resource, subprocess, sys, tempfile, time, urllib.request


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def metric(url, name):
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def client(port, body, mode, first_event, stop):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    await writer.drain()
    seen = b""
    while b"data: " not in seen:
        chunk = await asyncio.wait_for(reader.read(4096), 30)
        if not chunk:
            break
        seen += chunk
    first_event.release()
    if mode == "fast":
        while not stop.is_set():
            chunk = await asyncio.wait_for(reader.read(65536), 60)
            if not chunk or b"[DONE]" in chunk:
                break
    else:
        await stop.wait()
    writer.close()


async def run(args, port, pid, url):
    body = ('{"model":"tokens-0","prompt":"Once upon a time","max_tokens":%d,"stream":true}' % args.max_tokens)
    first = asyncio.Semaphore(0)
    stop = asyncio.Event()
    before = rss_kb(pid)
    tasks = [asyncio.create_task(client(port, body, args.mode, first, stop)) for _ in range(args.streams)]
    for _ in range(args.streams):
        await asyncio.wait_for(first.acquire(), 60)
    peak, active = 0, 0
    for _ in range(20):  # sample while the streams are in flight
        active = max(active, metric(url, "servelab_streams_active"))
        peak = max(peak, rss_kb(pid))
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 120)
    t0 = time.monotonic()  # every client has closed: each stream must cancel itself
    while metric(url, "servelab_streams_active") > 0 and time.monotonic() - t0 < 30:
        await asyncio.sleep(0.05)
    left = metric(url, "servelab_streams_active")
    cancelled = metric(url, "servelab_completions_cancelled_total")
    completed = metric(url, "servelab_completions_total")
    held = metric(url, "servelab_stream_max_held_bytes")
    bp = metric(url, "servelab_stream_backpressure_events_total")
    print(f"mode={args.mode} streams={args.streams} max_tokens={args.max_tokens} active_seen={int(active)} "
          f"rss_before={before}KB rss_peak={peak}KB per_stream={(peak - before) * 1024 / args.streams / 1024:.1f}KB "
          f"max_held_bytes={int(held)} backpressure_events={int(bp)} completed={int(completed)} cancelled={int(cancelled)} "
          f"still_active_after_close={int(left)} ({time.monotonic() - t0:.2f}s)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--max-tokens", type=int, default=300)
    p.add_argument("--mode", choices=["fast", "paused"], default="fast")
    p.add_argument("--server-args", default="--threads 2")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        models = os.path.join(tmp, "models")
        subprocess.run([f"{args.build}/bin/servelab", "models", "make", models, "--kind", "tokens"], check=True,
                       stdout=subprocess.DEVNULL)
        server = subprocess.Popen([f"{args.build}/bin/servelab-server", "--models", models] + args.server_args.split(),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = server.stdout.readline()
            url = re.search(r"(http://\S+)", line).group(1)
            port = int(url.rsplit(":", 1)[1])
            asyncio.run(run(args, port, server.pid, url))
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
