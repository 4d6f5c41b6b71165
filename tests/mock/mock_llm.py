#!/usr/bin/env python3
"""mock_llm.py — a scripted OpenAI-compatible model server for agentd's tests.

Speaks the wire format of real servers (llama-server, Ollama /v1, vLLM):
streamed (SSE) or not as the request asks, with their chunk shapes and ids.
Replays a scenario turn by turn, validates every request like a strict
server (tool results must answer issued call ids, and so on), injects
faults, and records every request for the tests (GET /_log, GET /_stats).

    python3 mock_llm.py --scenario FILE --port 0 --port-file PATH [--log PATH]

Python 3 standard library only. See README.md beside it for the scenario format.
"""

import argparse
import json
import os
import random
import re
import signal
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALNUM = string.ascii_letters + string.digits
# Real captures of llama-server replies, replayed by the `replay:FILE` fault.
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                        "llama-server")
CTX_EXCEEDED = "Context size has been exceeded."


def rand_id(n, alphabet=ALNUM):
    return "".join(random.choice(alphabet) for _ in range(n))


def compact(obj):
    """JSON without spaces, as llama-server writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError, TimeoutError)):
            return      # a client that went away (timeouts, cancellation)
        super().handle_error(request, client_address)


class BadRequest(Exception):
    def __init__(self, message, status=400, extra=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra or {}


class State:
    def __init__(self, scenario, log_path):
        self.scenario = scenario
        self.flavor = scenario.get("flavor", "llama")
        self.n_ctx = int(scenario.get("n_ctx", 8192))
        self.slots = int(scenario.get("slots", 1))
        self.unified_kv = bool(scenario.get("unified_kv", True))
        self.kv_free = int(scenario.get("kv_free", 0))
        self.turns = scenario.get("turns", [])
        self.repeat_last = bool(scenario.get("repeat_last", False))
        self.model = scenario.get("model", {"llama": "tiny.gguf", "ollama": "qwen2.5:7b",
                                            "vllm": "Qwen/Qwen2.5-7B-Instruct"}.get(self.flavor, "mock"))
        self.lock = threading.Lock()
        self.fault_count = {}   # turn index -> requests seen for that turn
        self.log = []
        self.seq = 0
        self.log_path = log_path
        self.last_prompt = ""   # llama flavor: one slot's prompt cache

    def slot_ctx(self):
        """The window of one slot: with a unified KV cache (llama-server's
        default) every slot may use all of n_ctx, sharing it; without, each
        gets n_ctx / slots."""
        return self.n_ctx if self.unified_kv else self.n_ctx // max(1, self.slots)

    def arrival(self, rec):
        """Enter a request in the log as it arrives (its status and the rest
        are filled in while it is answered), so the log is in arrival order
        and a test reading it never misses a request already answered."""
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.log.append(rec)
            return rec

    def sorted_log(self):
        """A snapshot of the log (records still being answered may change
        under us: copy again then)."""
        for _ in range(100):
            try:
                with self.lock:
                    return json.loads(json.dumps(self.log))
            except RuntimeError:
                time.sleep(0.01)
        raise RuntimeError("log kept changing")

    def record(self, rec):
        """The request is answered: write it to the --log file."""
        with self.lock:
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")

    def next_fault(self, turn_index, turn):
        faults = turn.get("faults") or []
        with self.lock:
            k = self.fault_count.get(turn_index, 0)
            self.fault_count[turn_index] = k + 1
        return faults[k] if k < len(faults) else None


# ---- request validation (what strict servers reject) ----

def validate(body, state):
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise BadRequest("'messages' must be a non-empty array")
    tc = body.get("tool_choice")
    if tc is not None and tc not in ("auto", "none", "required") and not isinstance(tc, dict):
        raise BadRequest("Invalid tool_choice: %r" % (tc,))
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise BadRequest("'tools' must be an array")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or t.get("type") != "function" or \
                    not isinstance(t.get("function"), dict) or \
                    not isinstance(t["function"].get("name"), str):
                raise BadRequest("tools[%d] must be {\"type\":\"function\",\"function\":{\"name\",…}}" % i)
    issued = set()
    pending = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise BadRequest("messages[%d] is not an object" % i)
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise BadRequest("messages[%d]: unknown role %r" % (i, role))
        if role in ("user", "assistant", "system") and pending:
            raise BadRequest("messages[%d] (%s) comes before the tool calls %s of an earlier "
                             "assistant message were answered by tool messages" % (i, role, pending))
        content = m.get("content")
        if role == "assistant":
            calls = m.get("tool_calls")
            if calls is not None and not isinstance(calls, list):
                raise BadRequest("messages[%d].tool_calls must be an array" % i)
            if not calls and not isinstance(content, (str, list)):
                raise BadRequest("messages[%d]: assistant message must have content or tool_calls" % i)
            for j, c in enumerate(calls or []):
                where = "messages[%d].tool_calls[%d]" % (i, j)
                if not isinstance(c, dict) or c.get("type") != "function":
                    raise BadRequest(where + ": \"type\":\"function\" is required")
                if not isinstance(c.get("id"), str) or not c["id"]:
                    raise BadRequest(where + ": missing id")
                fn = c.get("function")
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise BadRequest(where + ": missing function.name")
                if not isinstance(fn.get("arguments"), str):
                    raise BadRequest(where + ": function.arguments must be a string")
                issued.add(c["id"])
                pending.append(c["id"])
        elif role == "tool":
            tid = m.get("tool_call_id")
            if not isinstance(tid, str):
                raise BadRequest("messages[%d]: tool message without tool_call_id" % i)
            if tid not in issued:
                raise BadRequest("messages[%d]: tool_call_id %r answers no call issued by an "
                                 "earlier assistant message" % (i, tid))
            if tid not in pending:
                raise BadRequest("messages[%d]: tool_call_id %r was already answered or is not "
                                 "from the latest assistant message" % (i, tid))
            pending.remove(tid)
            if not isinstance(content, (str, list)):
                raise BadRequest("messages[%d]: tool message must have content" % i)
        else:
            if not isinstance(content, (str, list)):
                raise BadRequest("messages[%d]: %s message must have content" % (i, role))
    if pending:
        raise BadRequest("the tool calls %s were not answered by tool messages" % pending)
    return msgs


def check_expect(expect, body, msgs):
    """Optional per-turn checks on the request; returns an error text or None."""
    if not expect:
        return None
    last = msgs[-1]
    if "last_role" in expect and last.get("role") != expect["last_role"]:
        return "expected the last message to be %r, got %r" % (expect["last_role"], last.get("role"))
    if "last_content_contains" in expect:
        text = last.get("content") if isinstance(last.get("content"), str) else json.dumps(last.get("content"))
        if expect["last_content_contains"] not in (text or ""):
            return "expected the last message to contain %r" % expect["last_content_contains"]
    if "system_contains" in expect:
        sysm = [m for m in msgs if m.get("role") == "system"]
        if not sysm or expect["system_contains"] not in (sysm[0].get("content") or ""):
            return "expected the system prompt to contain %r" % expect["system_contains"]
    if "tools_include" in expect:
        names = {t["function"]["name"] for t in body.get("tools") or []}
        missing = [n for n in expect["tools_include"] if n not in names]
        if missing:
            return "expected tools %s in the request" % missing
    if "stream" in expect and bool(body.get("stream")) != bool(expect["stream"]):
        return "expected stream=%s" % expect["stream"]
    if "min_messages" in expect and len(msgs) < expect["min_messages"]:
        return "expected at least %d messages" % expect["min_messages"]
    return None


# ---- rendering a turn ----

def args_text(args):
    return args if isinstance(args, str) else json.dumps(args)


def text_calls(fmt, calls):
    """Write tool calls into the content the way small models do."""
    def obj(c, key="arguments"):
        a = c.get("arguments", {})
        if isinstance(a, str):   # raw (possibly broken) text goes in verbatim
            return '{"name": %s, "%s": %s}' % (json.dumps(c["name"]), key, a)
        return json.dumps({"name": c["name"], key: a})
    if fmt == "hermes":
        return "\n".join("<tool_call>\n%s\n</tool_call>" % obj(c) for c in calls)
    if fmt == "mistral":
        return "[TOOL_CALLS][%s]" % ", ".join(
            obj(c)[:-1] + ', "id": "%s"}' % rand_id(9) for c in calls)
    if fmt == "mistral_args":
        return "".join("[TOOL_CALLS]%s[ARGS]%s" % (c["name"], args_text(c.get("arguments", {})))
                       for c in calls)
    if fmt == "llama":
        return "<|python_tag|>" + "; ".join(obj(c, "parameters") for c in calls) + "<|eom_id|>"
    if fmt == "bare":
        return obj(calls[0]) if len(calls) == 1 else "[" + ", ".join(obj(c) for c in calls) + "]"
    if fmt == "fenced":
        inner = obj(calls[0]) if len(calls) == 1 else "[" + ", ".join(obj(c) for c in calls) + "]"
        return "I will do that now.\n```json\n%s\n```" % inner
    raise ValueError("unknown text_format %r" % fmt)


def call_id(flavor):
    if flavor == "llama":
        return rand_id(32)
    if flavor == "vllm":
        return "chatcmpl-tool-" + rand_id(32, "0123456789abcdef")
    return "call_" + rand_id(8, string.ascii_lowercase + string.digits)


def render(turn, flavor):
    """The answer of a turn: content, reasoning, native calls, finish reason."""
    content = turn.get("content") or ""
    reasoning = turn.get("reasoning")
    calls = turn.get("tool_calls") or []
    native = []
    fmt = turn.get("text_format")
    if calls and fmt:
        content = (content + "\n" if content else "") + text_calls(fmt, calls)
    else:
        for c in calls:
            native.append({"id": c.get("id") or call_id(flavor), "type": "function",
                           "function": {"name": c["name"], "arguments": args_text(c.get("arguments", {}))}})
    if reasoning and turn.get("think_in_content"):
        content = "<think>\n%s\n</think>\n\n%s" % (reasoning, content)
        reasoning = None
    finish = turn.get("finish_reason") or ("tool_calls" if native else "stop")
    return content, reasoning, native, finish


def pieces(text):
    """One-token-ish pieces, as servers stream them."""
    return re.findall(r"\s*[\w]+|\s*[^\w\s]|\s+", text) or ([text] if text else [])


def approx_tokens(obj):
    return len(json.dumps(obj)) // 4 + 1


def prompt_text(msgs, tools):
    """What a chat template would render, for the prompt-cache model: the
    tools, then each message (key order does not matter to a template)."""
    return json.dumps(tools or [], sort_keys=True) + "".join(
        json.dumps(m, sort_keys=True) for m in msgs)


def common_prefix(a, b):
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llama.cpp"
    sys_version = ""

    def log_message(self, fmt, *args):   # quiet
        pass

    # -- plumbing --
    def send_json(self, status, obj, headers=None):
        data = compact(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_chunked(self, content_type="text/event-stream"):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def event(self, obj):
        self.chunk("data: " + (obj if isinstance(obj, str) else compact(obj)) + "\n\n")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    @property
    def st(self):
        return self.server.state

    def error_body(self, status, message, etype=None, **extra):
        e = {"code": status, "message": message,
             "type": etype or {400: "invalid_request_error", 429: "rate_limit_error",
                               503: "unavailable_error"}.get(status, "server_error")}
        e.update(extra)
        if self.st.flavor == "ollama":
            return {"error": {"message": message, "type": e["type"], "param": None, "code": None}}
        if self.st.flavor == "vllm":
            return {"object": "error", "message": message, "type": e["type"], "param": None,
                    "code": status}
        return {"error": e}

    # -- GET --
    def do_GET(self):
        st = self.st
        path = self.path.split("?")[0]
        if path in ("/_log", "/_stats"):
            rec = None
        else:
            rec = st.arrival({"method": "GET", "path": path, "body": None, "time": time.time()})
        if path == "/_log":
            self.send_json(200, st.sorted_log())
            return
        if path == "/_stats":
            with st.lock:
                by_status, by_turn, chat = {}, {}, 0
                for r in st.log:
                    by_status[str(r.get("status"))] = by_status.get(str(r.get("status")), 0) + 1
                    if r.get("turn") is not None:
                        chat += 1
                        by_turn[str(r["turn"])] = by_turn.get(str(r["turn"]), 0) + 1
                stats = {"requests": len(st.log), "chat": chat, "by_status": by_status,
                         "by_turn": by_turn,
                         "rejected": sum(1 for r in st.log if r.get("status") == 400)}
            self.send_json(200, stats)
            return
        if path == "/health":
            rec["status"] = 200
            self.send_json(200, {"status": "ok"})
        elif path == "/props" and st.flavor == "llama" and not st.scenario.get("no_props"):
            rec["status"] = 200
            self.send_json(200, {"default_generation_settings": {
                "params": {"temperature": 0.8, "top_k": 40, "n_predict": -1, "stream": False},
                "n_ctx": st.scenario.get("props_n_ctx", st.slot_ctx())}, "total_slots": st.slots, "model_alias": st.model,
                "model_path": st.model, "chat_template": "(mock)", "build_info": "b0-mock",
                "endpoint_slots": True})
        elif path == "/slots" and st.flavor == "llama" and not st.scenario.get("no_props"):
            rec["status"] = 200
            self.send_json(200, [{"id": i, "n_ctx": st.slot_ctx(), "is_processing": False}
                                 for i in range(st.slots)])
        elif path in ("/v1/models", "/models"):
            rec["status"] = 200
            if st.flavor == "llama":
                data = {"id": st.model, "object": "model", "created": int(time.time()),
                        "owned_by": "llamacpp", "meta": {"n_ctx": st.n_ctx, "n_ctx_train": st.n_ctx,
                                                         "n_vocab": 151936}}
            elif st.flavor == "vllm":
                data = {"id": st.model, "object": "model", "created": int(time.time()),
                        "owned_by": "vllm", "root": st.model, "max_model_len": st.n_ctx}
            else:
                data = {"id": st.model, "object": "model", "created": int(time.time()),
                        "owned_by": "library"}
            self.send_json(200, {"object": "list", "data": [data]})
        else:
            rec["status"] = 404
            self.send_json(404, {"error": {"code": 404, "message": "File Not Found",
                                           "type": "not_found_error"}})
        st.record(rec)

    # -- POST --
    def do_POST(self):
        st = self.st
        path = self.path.split("?")[0]
        raw = self.read_body()
        try:
            body = json.loads(raw.decode() or "null")
        except ValueError as e:
            body = None
            rec = st.arrival({"method": "POST", "path": path,
                              "body": raw.decode("utf-8", "replace")[:4000], "time": time.time(),
                              "status": 400, "error": "body is not JSON: %s" % e})
            st.record(rec)
            self.send_json(400, self.error_body(400, rec["error"]))
            return
        rec = st.arrival({"method": "POST", "path": path, "body": body, "time": time.time(),
                          "authorization": self.headers.get("Authorization")})
        if path == "/api/show" and st.flavor == "ollama":
            params = "stop \"<|im_end|>\""
            if st.scenario.get("ollama_num_ctx", True):
                params = "num_ctx %d\n" % st.n_ctx + params
            rec["status"] = 200
            self.send_json(200, {"modelfile": "FROM mock", "parameters": params,
                                 "details": {"family": "qwen2", "parameter_size": "7.6B"},
                                 "model_info": {"general.architecture": "qwen2",
                                                "qwen2.context_length": int(
                                                    st.scenario.get("n_ctx_train", 32768))}})
            st.record(rec)
            return
        if path in ("/apply-template", "/tokenize") and st.flavor == "llama":
            # llama-server renders a chat with its template / counts tokens
            rec["status"] = 200
            if path == "/apply-template" and isinstance(body, dict):
                out = {"prompt": prompt_text(body.get("messages") or [], body.get("tools"))}
            elif isinstance(body, dict) and isinstance(body.get("content"), str):
                out = {"tokens": list(range(len(body["content"]) // 4 + 1))}
            else:
                rec["status"] = 400
                out = self.error_body(400, "mock: bad request")
            self.send_json(rec["status"], out)
            st.record(rec)
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            rec["status"] = 404
            st.record(rec)
            self.send_json(404, {"error": {"code": 404, "message": "File Not Found",
                                           "type": "not_found_error"}})
            return
        try:
            self.chat(body, rec)
        except (BrokenPipeError, ConnectionResetError):
            rec.setdefault("note", "client went away")
        finally:
            st.record(rec)

    def chat(self, body, rec):
        st = self.st
        try:
            msgs = validate(body, st)
        except BadRequest as e:
            rec["status"] = e.status
            rec["error"] = e.message
            self.send_json(e.status, self.error_body(e.status, e.message))
            return
        turn_index = sum(1 for m in msgs if m.get("role") == "assistant")
        rec["turn"] = turn_index
        if turn_index >= len(st.turns):
            if not (st.repeat_last and st.turns):
                msg = "mock: the scenario has only %d turns; request for turn %d" % (
                    len(st.turns), turn_index + 1)
                rec["status"] = 500
                rec["error"] = msg
                self.send_json(500, self.error_body(500, msg))
                return
            turn = st.turns[-1]
            fault_key = len(st.turns) - 1
        else:
            turn = st.turns[turn_index]
            fault_key = turn_index
        stream = bool(body.get("stream"))
        prompt_tokens = approx_tokens(msgs) + approx_tokens(body.get("tools") or [])
        rec["prompt_tokens"] = prompt_tokens
        if prompt_tokens > st.n_ctx:
            if st.flavor == "llama":
                msg = "the request exceeds the available context size, try increasing it"
                rec["status"] = 400
                rec["error"] = msg
                self.send_json(400, self.error_body(400, msg, "exceed_context_size_error",
                                                    n_prompt_tokens=prompt_tokens, n_ctx=st.n_ctx))
                return
            rec["truncated"] = True     # Ollama and others cut the front silently
        if st.kv_free and prompt_tokens > st.kv_free:
            # other slots hold the rest of a shared KV cache: llama-server
            # fails the request although the prompt is within n_ctx
            rec["status"] = 200 if stream else 500
            rec["error"] = CTX_EXCEEDED
            if stream:
                self.start_chunked()
                self.event({"error": {"code": 500, "message": CTX_EXCEEDED, "type": "server_error"}})
                self.end_chunked()
            else:
                self.send_json(500, self.error_body(500, CTX_EXCEEDED))
            return
        bad = check_expect(turn.get("expect"), body, msgs)
        if bad:
            rec["status"] = 400
            rec["error"] = "expect failed: " + bad
            self.send_json(400, self.error_body(400, rec["error"]))
            return
        fault = st.next_fault(fault_key, turn)
        rec["fault"] = fault
        content, reasoning, calls, finish = render(turn, st.flavor)
        if fault:
            if self.fault(fault, rec, stream, content, calls):
                return
        rec["status"] = 200
        usage = {"prompt_tokens": prompt_tokens,
                 "completion_tokens": len(pieces(content)) + sum(
                     len(pieces(c["function"]["arguments"])) for c in calls) + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if st.flavor == "llama":
            # llama-server reuses its KV cache for the prompt's unchanged
            # prefix (one slot here): the share of the text in common with
            # the previous prompt, in prompt tokens
            text = prompt_text(msgs, body.get("tools"))
            with st.lock:
                same = common_prefix(st.last_prompt, text)
                st.last_prompt = text
            cached = min(prompt_tokens - 1, prompt_tokens * same // max(1, len(text)))
            usage["prompt_tokens_details"] = {"cached_tokens": max(0, cached)}
            rec["cached_tokens"] = max(0, cached)
        if stream:
            self.stream_reply(body, content, reasoning, calls, finish, usage)
        else:
            self.plain_reply(content, reasoning, calls, finish, usage)

    def fault(self, fault, rec, stream, content, calls):
        """Apply a fault; True when the request is answered by it."""
        name, _, arg = fault.partition(":")
        if name in ("500", "503"):
            status = int(name)
            rec["status"] = status
            msg = "Loading model" if status == 503 else "mock: injected internal error"
            self.send_json(status, self.error_body(status, msg))
            return True
        if name == "429":
            rec["status"] = 429
            self.send_json(429, self.error_body(429, "mock: too many requests"),
                           {"Retry-After": arg or "1"})
            return True
        if name == "400":
            rec["status"] = 400
            self.send_json(400, self.error_body(400, arg or "mock: bad request"))
            return True
        if name == "close":
            rec["status"] = 0
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        if name == "slow":
            time.sleep(float(arg or 5))
            return False
        if name == "stall":
            self.stall = float(arg or 5)
            return False
        if name == "stall_text":
            self.stall_text = float(arg or 5)
            return False
        if name == "error_event":
            msg = "The model produced output that does not match the expected peg-native format"
            if stream:
                rec["status"] = 200
                self.start_chunked()
                self.event({"error": {"code": 500, "message": msg, "type": "server_error"}})
                self.end_chunked()
            else:
                rec["status"] = 500
                self.send_json(500, self.error_body(500, msg))
            return True
        if name == "garbage_sse":
            rec["status"] = 200
            if stream:
                self.start_chunked()
                self.event(self.chunk_obj({"role": "assistant", "content": None}))
                self.chunk("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}\n\n")
                self.chunk("data: <html>upstream error</html>\n\n")
                self.end_chunked()
            else:
                data = b"<html><body>502 Bad Gateway</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            return True
        if name == "cut_mid_tool_call":
            rec["status"] = 200
            args = calls[0]["function"]["arguments"] if calls else '{"path": "README.md"}'
            cname = calls[0]["function"]["name"] if calls else "read_file"
            if stream:
                self.start_chunked()
                self.event(self.chunk_obj({"role": "assistant", "content": None}))
                self.event(self.chunk_obj({"tool_calls": [{"index": 0, "id": call_id(self.st.flavor),
                                                           "type": "function", "function": {
                                                               "name": cname, "arguments": args[:1]}}]}))
                self.event(self.chunk_obj({"tool_calls": [{"index": 0, "function": {
                    "arguments": args[1:max(2, len(args) // 2)]}}]}))
                # no terminating chunk: the connection just drops
            else:
                data = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant"}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) + 200))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        if name == "replay":
            return self.replay(arg, rec, stream)
        if name == "html":
            status = int(arg or 404)
            rec["status"] = status
            data = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<title>Error</title>\n<style>body{font-family:sans-serif}</style>\n</head>\n"
                    "<body>\n<pre>Cannot POST %s</pre>\n</body>\n</html>\n" % self.path).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return True
        raise ValueError("unknown fault %r" % fault)

    def replay(self, name, rec, stream):
        """Send a captured reply byte for byte: `.sse` as an HTTP 200 event
        stream, `.http` as the whole response (status line and headers as
        captured), `.json` as an HTTP 200 JSON body."""
        with open(os.path.join(FIXTURES, os.path.basename(name)), "rb") as f:
            data = f.read()
        if data.startswith(b"HTTP/"):
            head, _, body = data.replace(b"\r\n", b"\n").partition(b"\n\n")
            lines = head.decode().split("\n")
            status = int(lines[0].split()[1])
            rec["status"] = status
            self.send_response(status)
            chunked = False
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.lower() in ("content-length", "keep-alive", "server"):
                    continue
                chunked |= k.lower() == "transfer-encoding"
                self.send_header(k, v.strip())
            if not chunked:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if chunked:
                self.chunk(body)
                self.end_chunked()
            else:
                self.wfile.write(body)
            return True
        rec["status"] = 200
        if name.endswith(".sse"):
            self.start_chunked()
            self.chunk(data)
            self.end_chunked()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        return True

    # -- replies in each server's shape --
    def ids(self):
        if not hasattr(self, "_cid"):
            f = self.st.flavor
            self._cid = ("chatcmpl-" + rand_id(32) if f == "llama" else
                         "chatcmpl-" + rand_id(32, "0123456789abcdef") if f == "vllm" else
                         "chatcmpl-%d" % random.randint(100, 999))
            self._created = int(time.time())
        return self._cid, self._created

    def chunk_obj(self, delta, finish=None, choices=True):
        cid, created = self.ids()
        o = {"choices": [{"finish_reason": finish, "index": 0, "delta": delta}] if choices else [],
             "created": created, "id": cid, "model": self.st.model,
             "object": "chat.completion.chunk"}
        if self.st.flavor == "llama":
            o["system_fingerprint"] = "b0-unknown"
        elif self.st.flavor == "ollama":
            o["system_fingerprint"] = "fp_ollama"
        return o

    def stream_reply(self, body, content, reasoning, calls, finish, usage):
        flavor = self.st.flavor
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.start_chunked()
        rkey = "reasoning" if flavor == "ollama" else "reasoning_content"
        if flavor == "llama":
            self.event(self.chunk_obj({"role": "assistant", "content": None}))
        else:
            self.event(self.chunk_obj({"role": "assistant", "content": ""}))
        for p in pieces(reasoning or ""):
            self.event(self.chunk_obj({rkey: p}))
        stall = getattr(self, "stall", 0)
        if stall:
            time.sleep(stall)
        stall_text = getattr(self, "stall_text", 0)
        cut = content.find("\n") + 1 if stall_text else 0
        for p in pieces(content[:cut]):
            self.event(self.chunk_obj({"content": p}))
        if stall_text:
            time.sleep(stall_text)
        for p in pieces(content[cut:]):
            self.event(self.chunk_obj({"content": p}))
        for i, c in enumerate(calls):
            fn = c["function"]
            if flavor == "ollama":   # whole calls, all with index 0
                self.event(self.chunk_obj({"role": "assistant", "content": "", "tool_calls": [
                    {"id": c["id"], "index": 0, "type": "function",
                     "function": {"name": fn["name"], "arguments": fn["arguments"]}}]}))
                continue
            args = fn["arguments"]
            first = {"index": i, "id": c["id"], "type": "function", "function": {"name": fn["name"]}}
            rest = pieces(args)
            if flavor == "llama":
                first["function"]["arguments"] = rest[0] if rest else ""
                rest = rest[1:]
            self.event(self.chunk_obj({"tool_calls": [first]}))
            for p in rest:
                self.event(self.chunk_obj({"tool_calls": [{"index": i, "function": {"arguments": p}}]}))
        self.event(self.chunk_obj({} if flavor != "ollama" else {"role": "assistant", "content": ""},
                                  finish))
        if include_usage:
            o = self.chunk_obj(None, choices=False)
            o["usage"] = usage
            if flavor == "llama":
                cached = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
                o["timings"] = {"cache_n": cached, "prompt_n": usage["prompt_tokens"] - cached,
                                "predicted_n": usage["completion_tokens"]}
            self.event(o)
        self.event("[DONE]")
        self.end_chunked()

    def plain_reply(self, content, reasoning, calls, finish, usage):
        flavor = self.st.flavor
        msg = {"role": "assistant"}
        if flavor == "llama":
            msg["content"] = content
        else:
            msg["content"] = content if content or not calls else None
        if reasoning:
            msg["reasoning" if flavor == "ollama" else "reasoning_content"] = reasoning
        if calls:
            msg["tool_calls"] = calls
        cid, created = self.ids()
        o = {"choices": [{"finish_reason": finish, "index": 0, "message": msg}],
             "created": created, "model": self.st.model, "object": "chat.completion",
             "usage": usage, "id": cid}
        if flavor == "llama":
            o["system_fingerprint"] = "b0-unknown"
        self.send_json(200, o)


def main():
    ap = argparse.ArgumentParser(description="scripted OpenAI-compatible model server")
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args()
    if a.seed is not None:
        random.seed(a.seed)
    with open(a.scenario, encoding="utf-8") as f:
        scenario = json.load(f)
    srv = Server((a.host, a.port), Handler)
    srv.state = State(scenario, a.log)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, a.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    while not stop.wait(0.5):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
