#!/usr/bin/env python3
"""bench_serve.py - a bounded load on a running `gemcl serve`: N clients send M streamed requests per method
(a long prompt each, ~8K tokens by default) and the script reports requests per second and the p50/p99 time
to first token, full attention against GemFilter. Standard library only.

    gemcl serve -m MODEL -c 8448 -np 2 &
    python3 tools/serve/bench_serve.py --url http://127.0.0.1:8080 --clients 2 --requests 8 --time-limit 300

Bounded in count (--requests per method) and in time (--time-limit seconds for the whole run: requests not
started by then are not sent, and each request has its own timeout). Talks to loopback addresses only. Each
request has its own prompt (a number in front) and sends "cache_prompt": false, so every prefill is real."""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from urllib.parse import urlparse

SENTENCES = [
    "Lily went to the park with her dog Max and they played with a big red ball.",
    "The sun was warm and the birds sang in the tall green trees by the river.",
    "Tom found a small boat and his mother helped him paint it blue and yellow.",
    "After lunch the children sat under the old tree and told each other stories.",
]


def post(url, path, body, timeout):
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return conn, conn.getresponse()


def build_prompt(url, n_tokens):
    """A haystack of story sentences of exactly n_tokens tokens (the server's /tokenize, then /detokenize of
    the first n_tokens ids), then a question."""
    text = " ".join(SENTENCES[i % len(SENTENCES)] for i in range(n_tokens // 8 + 16))
    conn, r = post(url, "/tokenize", {"content": text}, 60)
    ids = json.loads(r.read())["tokens"]
    conn.close()
    if len(ids) < n_tokens:
        sys.exit("could not build a prompt of %d tokens" % n_tokens)
    conn, r = post(url, "/detokenize", {"tokens": ids[:n_tokens]}, 60)
    text = json.loads(r.read())["content"]
    conn.close()
    return text + "\nWhat did Tom paint?"


def one_request(url, prompt, method, args):
    """Streams one completion; returns (ttft_s, total_s, usage) or raises."""
    body = {"prompt": prompt, "max_tokens": args.max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, "cache_prompt": False, "gemcl": {"method": method}}
    if method != "full" and args.budget:
        body["gemcl"]["budget"] = args.budget
    t0 = time.monotonic()
    conn, r = post(url, "/v1/completions", body, args.request_timeout)
    if r.status != 200:
        raise RuntimeError("HTTP %d: %s" % (r.status, r.read()[:200]))
    ttft, usage = None, None
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = json.loads(line[6:])
        if ttft is None and event.get("choices"):
            ttft = time.monotonic() - t0
        usage = event.get("usage") or usage
    conn.close()
    return ttft, time.monotonic() - t0, usage


def run_method(url, prompts, method, args, deadline):
    results, errors, lock = [], [], threading.Lock()
    todo = list(enumerate(prompts))

    def client():
        while True:
            with lock:
                if not todo or time.monotonic() > deadline:
                    return
                _, prompt = todo.pop(0)
            try:
                res = one_request(url, prompt, method, args)
                with lock:
                    results.append(res)
            except Exception as e:  # reported, never retried
                with lock:
                    errors.append(str(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors, time.monotonic() - t0


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * len(v) + 0.5) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--requests", type=int, default=8, help="requests per method")
    ap.add_argument("--time-limit", type=float, default=600, help="seconds for the whole run")
    ap.add_argument("--request-timeout", type=float, default=600)
    ap.add_argument("--prompt-tokens", type=int, default=8192)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--methods", default="full,gemfilter")
    ap.add_argument("--budget", type=int, default=0, help="budget for the compressing methods (0: the server's)")
    args = ap.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("bench_serve.py sends load to loopback servers only")
    if not (1 <= args.clients <= 64 and 1 <= args.requests <= 1000):
        sys.exit("--clients must be 1..64 and --requests 1..1000")
    deadline = time.monotonic() + args.time_limit
    base = build_prompt(args.url, args.prompt_tokens)
    print("prompt: ~%d tokens, %d new tokens per request, %d clients, %d requests per method"
          % (args.prompt_tokens, args.max_tokens, args.clients, args.requests))
    print("%-10s %6s %6s %8s %10s %10s %10s %8s" % ("method", "ok", "failed", "req/s", "ttft p50", "ttft p99",
                                                     "prompt", "kept"))
    for method in args.methods.split(","):
        prompts = ["Story %d. %s" % (i, base) for i in range(args.requests)]
        results, errors, wall = run_method(args.url, prompts, method, args, deadline)
        ttfts = [r[0] for r in results if r[0] is not None]
        usage = results[-1][2] if results and results[-1][2] else {}
        if ttfts:
            print("%-10s %6d %6d %8.3f %9.3fs %9.3fs %10s %8s" % (
                method, len(results), len(errors), len(results) / wall, percentile(ttfts, 50),
                percentile(ttfts, 99), usage.get("prompt_tokens", "?"), usage.get("kept_prompt_tokens", "?")))
        else:
            print("%-10s %6d %6d   (no request finished)" % (method, len(results), len(errors)))
        for e in errors[:3]:
            print("   error: %s" % e)
        if time.monotonic() > deadline:
            print("time limit reached")
            break


if __name__ == "__main__":
    main()
