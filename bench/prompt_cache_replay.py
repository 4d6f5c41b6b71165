#!/usr/bin/env python3
"""prompt_cache_replay.py — replay the requests agentd sent (recorded by the
scripted model server, see bench/prompt_cache.sh) against a real
llama-server and report how much of each prompt it served from its prompt
cache (timings.cache_n) over steps 2..N.

usage: prompt_cache_replay.py URL requests.jsonl [more.jsonl …]

Each request is sent as recorded (messages, tools), not streamed, with
max_tokens 1 and cache_prompt on; only requests that offered tools (the
loop's steps; summaries are their own conversation) are replayed, in order.
Start the server with one slot and a window large enough for the recorded
prompts as its tokenizer counts them, e.g.
  llama-server -m tiny.gguf --jinja -c 8192 -np 1 --port 8080 -t 1 -tb 1
Loopback only.
"""
import json
import sys
import urllib.request


def replay(url, path):
    url = url.rstrip("/")
    if not url.endswith("/v1"):
        url += "/v1"
    reqs = []
    for line in open(path, encoding="utf-8"):
        r = json.loads(line)
        b = r.get("body")
        if r.get("path", "").endswith("/chat/completions") and r.get("status") == 200 \
                and isinstance(b, dict) and b.get("tools"):
            reqs.append(b)
    cached = prompt = 0
    per_step = []
    for i, b in enumerate(reqs):
        body = {"messages": b["messages"], "tools": b["tools"], "tool_choice": "auto",
                "max_tokens": 1, "stream": False, "cache_prompt": True, "temperature": 0}
        req = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            o = json.loads(r.read())
        t = o.get("timings") or {}
        n = (o.get("usage") or {}).get("prompt_tokens", 0)
        c = t.get("cache_n", ((o.get("usage") or {}).get("prompt_tokens_details") or {})
                  .get("cached_tokens", 0))
        per_step.append((c, n))
        if i > 0:
            cached += c
            prompt += n
    return len(reqs), cached, prompt, per_step


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    for path in sys.argv[2:]:
        n, c, p, steps = replay(sys.argv[1], path)
        print(json.dumps({"requests": path, "steps": n, "cached_tokens": c, "prompt_tokens": p,
                          "share": round(c / max(1, p), 3),
                          "per_step": ["%d/%d" % s for s in steps]}))


if __name__ == "__main__":
    main()
