#!/usr/bin/env python3
"""client.py - drives a running `gemcl serve` with the `openai` package (a client nobody here wrote) and
checks what it answers. tests/test_serve.c starts the server on a free loopback port and runs one scenario:

    python3 client.py SCENARIO http://127.0.0.1:PORT

Each scenario prints one line per check and exits 0 only when every check held. Only loopback URLs are
accepted, and every wait is bounded in count."""
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import openai
from prometheus_client.parser import text_string_to_metric_families

MODEL = "any"  # the server serves one model and ignores the name, as llama-server does
STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with "
         "her dog Max. One day, she saw a big red ball under a tree. ")

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def client(base, **kw):
    # no retries: a 503 must reach the test, not be retried away
    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120, **kw)


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return r.status, r.headers, r.read().decode()


def post_raw(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def metrics(base):
    """The server's metrics as {name: value} for unlabelled samples and {(name, labels...): value} otherwise,
    parsed by prometheus_client (which rejects malformed exposition text)."""
    out = {}
    for fam in text_string_to_metric_families(get(base, "/metrics")[2]):
        for s in fam.samples:
            key = s.name if not s.labels else (s.name,) + tuple(sorted(s.labels.items()))
            out[key] = s.value
    return out


def chat(c, content, **kw):
    return c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}], **kw)


# ---- scenarios ----

def basics(base):
    c = client(base)
    status, _, body = get(base, "/health")
    check(status == 200 and json.loads(body) == {"status": "ok"}, "/health answers 200 {status: ok}")
    models = c.models.list().data
    check(len(models) == 1 and models[0].id, "/v1/models lists the one model: %s" % [m.id for m in models])

    no_cache = {"cache_prompt": False}  # compare like with like: both prefill the whole prompt
    r = chat(c, STORY, max_tokens=24, temperature=0, extra_body=no_cache)
    text = r.choices[0].message.content
    check(r.object == "chat.completion" and r.choices[0].message.role == "assistant", "chat reply shape")
    check(len(text) > 0 and r.usage.completion_tokens > 0, "chat generates text: %r" % text[:60])
    check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage adds up")
    check(r.choices[0].finish_reason in ("stop", "length"), "finish_reason %s" % r.choices[0].finish_reason)

    pieces, chunks, usage = [], 0, None
    for ch in chat(c, STORY, max_tokens=24, temperature=0, stream=True, stream_options={"include_usage": True},
                   extra_body=no_cache):
        chunks += 1
        if ch.usage:
            usage = ch.usage
        for choice in ch.choices:
            pieces.append(choice.delta.content or "")
    check(chunks > 2, "stream arrives in %d chunks" % chunks)
    check("".join(pieces) == text, "stream chunks reassemble to the non-stream text at temperature 0")
    check(usage is not None and usage.completion_tokens == r.usage.completion_tokens, "stream usage matches")

    cr = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=12, temperature=0)
    check(cr.object == "text_completion" and len(cr.choices[0].text) > 0,
          "completion: %r" % cr.choices[0].text)
    streamed = "".join(ch.choices[0].text for ch in c.completions.create(
        model=MODEL, prompt="Once upon a time", max_tokens=12, temperature=0, stream=True) if ch.choices)
    check(streamed == cr.choices[0].text, "completion stream reassembles to the same text")

    s = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=40, temperature=0,
                             stop=["Lily"])
    check(cr.choices[0].text.startswith(s.choices[0].text) and "Lily" not in s.choices[0].text
          and s.choices[0].finish_reason == "stop", "a stop string ends the text before it: %r" % s.choices[0].text)

    m = metrics(base)
    check(m.get(("gemcl_requests_total", ("route", "/v1/chat/completions"), ("status", "200")), 0) >= 2,
          "metrics count the chat requests by status")
    check(m.get("gemcl_generated_tokens_total", 0) > 0 and m.get("gemcl_prompt_tokens_total", 0) > 0,
          "metrics count prompt and generated tokens")
    check(m.get("gemcl_time_to_first_token_seconds_count", 0) >= 4, "time-to-first-token histogram observed")
    check("gemcl_slots_busy" in m and "gemcl_queue_length" in m, "slot and queue gauges exported")


def gemfilter(base):
    c = client(base)
    long_prompt = STORY * 6
    r = chat(c, long_prompt, max_tokens=8, temperature=0,
             extra_body={"gemcl": {"method": "gemfilter", "filter_layer": 1, "budget": 32}})
    u = r.usage.model_dump()
    check(u["prompt_tokens"] > 32, "the prompt is longer than the budget (%d tokens)" % u["prompt_tokens"])
    check(u.get("kept_prompt_tokens") == 32, "gemfilter kept the budget: kept_prompt_tokens = %s"
          % u.get("kept_prompt_tokens"))
    extra = r.model_dump().get("gemcl", {})
    check(extra.get("method") == "gemfilter" and extra.get("filter_layer") == 1, "reply names the method: %s" % extra)
    full = chat(c, long_prompt, max_tokens=8, temperature=0, extra_body={"gemcl": {"method": "full"}})
    check(full.usage.model_dump().get("kept_prompt_tokens") == full.usage.prompt_tokens,
          "full attention keeps every prompt token")
    m = metrics(base)
    check(m.get("gemcl_prompt_tokens_dropped_total", 0) >= u["prompt_tokens"] - 32,
          "metrics count the dropped prompt tokens")


def cache(base):
    c = client(base)
    system = {"role": "system", "content": STORY * 3}
    first = c.chat.completions.create(model=MODEL, max_tokens=8, temperature=0,
                                      messages=[system, {"role": "user", "content": "Where was Lily?"}])
    second = c.chat.completions.create(model=MODEL, max_tokens=8, temperature=0,
                                       messages=[system, {"role": "user", "content": "Who was Max?"}])
    cached1 = first.usage.prompt_tokens_details.cached_tokens
    cached2 = second.usage.prompt_tokens_details.cached_tokens
    check(cached2 > cached1 and cached2 > 100, "second request with the same prefix takes %d tokens from the "
          "cache (first: %d of %d)" % (cached2, cached1, first.usage.prompt_tokens))
    check(second.usage.prompt_tokens - cached2 < first.usage.prompt_tokens - cached1,
          "so it prefills fewer tokens")
    check(metrics(base).get("gemcl_prompt_tokens_cached_total", 0) >= cached2, "metrics count cached tokens")


def concurrency(base, n_clients=8, n_requests=4):
    """8 clients x 4 requests, each its own prompt and sampling seed: every reply must be the reply that
    request gets alone (sampling makes the replies distinct, the seed makes each one reproducible)."""
    c = client(base)
    names = ["Lily", "Max", "Tom", "Sue", "Ben", "Amy", "Sam", "Mia"]
    things = ["ball", "cat", "tree", "boat"]
    prompts = {(i, j): "Once upon a time, %s found a %s." % (names[i], things[j])
               for i in range(n_clients) for j in range(n_requests)}
    no_cache = {"cache_prompt": False}

    def ask(cl, k):
        return cl.completions.create(model=MODEL, prompt=prompts[k], max_tokens=16, temperature=1.0,
                                     seed=100 + 10 * k[0] + k[1], extra_body=no_cache).choices[0].text

    alone = {k: ask(c, k) for k in prompts}
    check(len(set(alone.values())) >= len(alone) // 2, "the prompts give distinct replies (%d of %d)"
          % (len(set(alone.values())), len(alone)))
    got, errors = {}, []

    def run(i):
        cl = client(base)
        for j in range(n_requests):
            try:
                got[(i, j)] = ask(cl, (i, j))
            except Exception as e:  # every failure is reported, none stops the others
                errors.append("%s: %s" % ((i, j), e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    check(not errors, "all %d requests answered (%s)" % (n_clients * n_requests, errors[:3]))
    mixed = [k for k in prompts if got.get(k) != alone[k]]
    check(not mixed, "each reply is its own prompt's reply (mixed up: %s)" % mixed[:4])


def queue(base):
    """-np 1 --queue 1: one stream runs, one waits, the next gets 503; closing the running stream cancels
    it and the waiting one is served."""
    c = client(base)
    long_job = dict(model=MODEL, prompt="Once upon a time", max_tokens=100000, temperature=0, stream=True,
                    extra_body={"ignore_eos": True})
    a = c.completions.create(**long_job)
    first_a = next(iter(a))
    check(first_a.choices[0].text is not None, "stream A runs in the only slot")
    b_first, b_stream = [], []

    def run_b():
        s = client(base).completions.create(**long_job)
        b_stream.append(s)
        b_first.append(next(iter(s)))

    tb = threading.Thread(target=run_b)
    tb.start()
    queued = 0
    for _ in range(400):  # bounded: 400 polls of /metrics
        queued = metrics(base).get("gemcl_queue_length", 0)
        if queued >= 1:
            break
        time.sleep(0.05)
    check(queued == 1, "request B waits in the queue")
    status, headers, body = post_raw(base, "/v1/completions", {"prompt": "Hello", "max_tokens": 4})
    err = json.loads(body).get("error", {})
    check(status == 503 and headers.get("Retry-After") and err.get("message"),
          "request C gets 503 with Retry-After and an error object: %s %s" % (status, err))
    a.close()  # the client goes away mid-stream
    tb.join(timeout=120)
    check(len(b_first) == 1, "closing A frees the slot: B is served")
    for s in b_stream:
        s.close()
    d = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=4, temperature=0)
    check(len(d.choices[0].text) > 0, "after B is closed too, request D is served")
    cancelled = 0
    for _ in range(100):  # the cancel is counted when the slot's generation returns
        cancelled = metrics(base).get("gemcl_requests_cancelled_total", 0)
        if cancelled >= 2:
            break
        time.sleep(0.05)
    check(cancelled >= 2, "metrics count both cancelled streams (%d)" % cancelled)


def replicas(base, n=12):
    """Through a load balancer: n chat requests, every one answered."""
    c = client(base)
    ok = 0
    for i in range(n):
        try:
            r = chat(c, "Once upon a time %d" % i, max_tokens=6, temperature=0)
            ok += bool(r.choices[0].message.content is not None)
        except Exception as e:
            print("     request %d: %s" % (i, e))
    check(ok == n, "%d of %d requests answered through the balancer" % (ok, n))


SCENARIOS = {f.__name__: f for f in (basics, gemfilter, cache, concurrency, queue, replicas)}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SCENARIOS:
        sys.exit("usage: client.py {%s} http://127.0.0.1:PORT" % "|".join(SCENARIOS))
    host = urlparse(sys.argv[2]).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("client.py talks to loopback servers only, not %s" % host)
    SCENARIOS[sys.argv[1]](sys.argv[2].rstrip("/"))
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)
