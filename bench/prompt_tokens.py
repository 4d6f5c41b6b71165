#!/usr/bin/env python3
"""prompt_tokens.py — how many tokens agentd's fixed prompt (system message
and tool definitions) costs, as a model server counts them.

Takes the first chat request agentd sent (from the scripted model server's
--log, see bench/prompt_cache.sh, or a file holding one request body) and
counts its system message plus its tools:

  --server URL   ask a real llama-server: POST /apply-template with the
                 system message and the tools (its own chat template), then
                 POST /tokenize on the text it renders. This is the number
                 the server uses for its window.
  --vocab GGUF --template JINJA
                 count offline: render the chat template with jinja2 (the
                 way llama-server's template engine does: tojson with ", "
                 and ": " separators, keys in order) and tokenize with the
                 byte-level BPE vocabulary of a GGUF file (e.g. llama.cpp's
                 models/ggml-vocab-gpt-2.gguf; needs llama.cpp's gguf-py on
                 PYTHONPATH, and the Python modules regex and jinja2).

Prints one JSON object: {"tokens", "how", "system_bytes", "tools_bytes",
"tools"}.
"""
import argparse
import json
import sys
import urllib.request


def first_request(path):
    """The first chat request body with tools in a mock log (JSON lines) or a
    file holding one request body."""
    text = open(path, encoding="utf-8").read()
    try:
        body = json.loads(text)
        if isinstance(body, dict) and "messages" in body:
            return body
    except ValueError:
        pass
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        b = rec.get("body")
        if isinstance(b, dict) and b.get("tools") and b.get("messages"):
            return b
    sys.exit("no chat request with tools in %s" % path)


def post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def count_server(root, system, tools):
    root = root.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    text = post(root + "/apply-template", {"messages": [system], "tools": tools})["prompt"]
    toks = post(root + "/tokenize", {"content": text, "add_special": False,
                                     "parse_special": True})["tokens"]
    return len(toks)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class BPE:
    """GPT-2 byte-level BPE from a GGUF vocabulary."""

    def __init__(self, gguf_path):
        import gguf
        import regex
        r = gguf.GGUFReader(gguf_path)
        f = r.fields
        merges = [bytes(f["tokenizer.ggml.merges"].parts[i]).decode("utf-8")
                  for i in f["tokenizer.ggml.merges"].data]
        self.ranks = {tuple(m.split(" ", 1)): i for i, m in enumerate(merges)}
        self.pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
        self.enc = bytes_to_unicode()
        self.cache = {}

    def word(self, w):
        if w in self.cache:
            return self.cache[w]
        parts = list(w)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                rk = self.ranks.get((parts[i], parts[i + 1]))
                if rk is not None and (best is None or rk < best[0]):
                    best = (rk, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        self.cache[w] = len(parts)
        return len(parts)

    def count(self, text, specials):
        import re
        n = 0
        for piece in re.split("(" + "|".join(map(re.escape, specials)) + ")", text):
            if piece in specials:
                n += 1
                continue
            for w in self.pat.findall(piece):
                n += self.word("".join(self.enc[b] for b in w.encode("utf-8")))
        return n


def render(template_path, system, tools):
    import jinja2
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
    t = env.from_string(open(template_path, encoding="utf-8").read())
    return t.render(messages=[system], tools=tools, add_generation_prompt=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("request", help="mock log (JSON lines) or a request body")
    ap.add_argument("--server")
    ap.add_argument("--vocab")
    ap.add_argument("--template")
    a = ap.parse_args()
    body = first_request(a.request)
    system = body["messages"][0]
    tools = body["tools"]
    out = {"system_bytes": len(system["content"].encode()),
           "tools_bytes": len(json.dumps(tools, separators=(",", ":")).encode()),
           "tools": len(tools)}
    if a.server:
        out["tokens"] = count_server(a.server, system, tools)
        out["how"] = "llama-server /apply-template + /tokenize at " + a.server
    elif a.vocab and a.template:
        text = render(a.template, system, tools)
        out["tokens"] = BPE(a.vocab).count(text, ["<|im_start|>", "<|im_end|>", "<tool_call>",
                                                  "</tool_call>"])
        out["how"] = "offline: %s rendered with jinja2, BPE of %s" % (a.template, a.vocab)
    else:
        sys.exit("give --server URL, or --vocab GGUF and --template JINJA")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
