#!/usr/bin/env python3
"""A scripted MCP server over Streamable HTTP for the client's tests
(tests/unit/test_mcp.c). Listens on 127.0.0.1 only, prints its port, and
appends one line per request to LOG: "VERB rpc-method header=value ...",
plus "BAD reason" when the client broke a rule the mode checks.

argv: MODE LOG. Modes:
  legacy   initialize -> 2025-06-18, JSON answers, a session, bearer "sekret"
  sse      like legacy, answers on SSE: a notification, a ping the client must
           answer before the result comes, then the response
  cut      tools/call's stream is closed after a priming event (id, retry 0);
           the GET with Last-Event-ID gets the answer
  modern   2026-07-28 only: server/discover, _meta on every request, headers
  dual-old answers server/discover with a plain-text 400, then legacy
  modern-future  only "2099-01-01": UnsupportedProtocolVersion to everything
  input    modern, and tools/call answers resultType "input_required"
  big      tools/call answers a JSON body over 4 MiB
  flood    tools/call answers an SSE stream of notifications that never ends
  hang     tools/call never answers
  badsid   initialize's answer carries a session id with a space
"""
import base64, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE, LOG = sys.argv[1], sys.argv[2]
MODERN = "2026-07-28"
lock = threading.Lock()
state = {"session": "sess-1", "ping_answered": threading.Event(), "events": {}}


def log(line):
    with lock:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def tools():
    return [{"name": "echo", "inputSchema": {"type": "object"}},
            {"name": "héllo", "inputSchema": {"type": "object"}}]


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def hdr(self, name):
        return self.headers.get(name)

    def bad(self, why):
        log("BAD " + why)

    def send_json(self, obj, status=200, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def sse_start(self, extra=None):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True

    def event(self, obj, eid=None):
        s = ""
        if eid:
            s += "id: %s\n" % eid
        s += "event: message\ndata: %s\n\n" % json.dumps(obj)
        self.wfile.write(s.encode())
        self.wfile.flush()

    def do_DELETE(self):
        log("DELETE - session=%s" % self.hdr("Mcp-Session-Id"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        last = self.hdr("Last-Event-ID")
        log("GET - last-event-id=%s session=%s" % (last, self.hdr("Mcp-Session-Id")))
        if MODE != "cut" or last not in state["events"]:
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.sse_start()
        self.event(state["events"].pop(last), "e-2")
        time.sleep(5)  # the stream stays open: the client stops reading once answered

    def do_POST(self):
        n = int(self.hdr("Content-Length") or 0)
        m = json.loads(self.rfile.read(n))
        meth = m.get("method")
        log("POST %s version=%s session=%s auth=%s mcp-method=%s mcp-name=%s" % (
            meth if meth else "response", self.hdr("MCP-Protocol-Version"), self.hdr("Mcp-Session-Id"),
            self.hdr("Authorization"), self.hdr("Mcp-Method"), self.hdr("Mcp-Name")))
        acc = self.hdr("Accept") or ""
        if "application/json" not in acc or "text/event-stream" not in acc:
            self.bad("Accept: " + acc)
        if MODE in ("modern", "input", "modern-future"):
            return self.modern(m, meth)
        if MODE == "dual-old" and meth == "server/discover":
            body = b"Bad Request: unknown session"
            self.send_response(400)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if meth == "server/discover":
            return self.send_json({"jsonrpc": "2.0", "id": m["id"],
                                   "error": {"code": -32601, "message": "Method not found"}})
        if meth == "initialize":
            if self.hdr("Mcp-Session-Id"):
                self.bad("a session id before initialize")
            extra = {"Mcp-Session-Id": "bad id" if MODE == "badsid" else state["session"]}
            return self.send_json({"jsonrpc": "2.0", "id": m["id"], "result": {
                "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-http", "version": "1"}}}, extra=extra)
        if self.hdr("Mcp-Session-Id") != state["session"]:
            self.bad("session id %r" % self.hdr("Mcp-Session-Id"))
        if self.hdr("MCP-Protocol-Version") != "2025-06-18":
            self.bad("MCP-Protocol-Version %r" % self.hdr("MCP-Protocol-Version"))
        if self.hdr("Authorization") != "Bearer sekret":
            self.send_json({"jsonrpc": "2.0", "error": {"code": -32001, "message": "no"}}, 401)
            return
        if "id" not in m or meth is None:  # a notification, or our ping's answer
            if meth is None and m.get("id") == "srv-ping" and m.get("result") == {}:
                state["ping_answered"].set()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if meth == "tools/list":
            return self.send_json({"jsonrpc": "2.0", "id": m["id"], "result": {"tools": tools()}})
        if meth != "tools/call":
            return self.send_json({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32601, "message": "no"}})
        res = {"jsonrpc": "2.0", "id": m["id"], "result": {
            "content": [{"type": "text", "text": "got " + json.dumps(m["params"]["arguments"])}]}}
        if MODE == "sse":
            self.sse_start()
            self.event({"jsonrpc": "2.0", "method": "notifications/message",
                        "params": {"level": "info", "data": "working"}}, "e-1")
            self.event({"jsonrpc": "2.0", "id": "srv-ping", "method": "ping"}, "e-2")
            if not state["ping_answered"].wait(10):
                self.bad("the client did not answer the ping")
            self.wfile.write(b": a comment\r\n\r\n")
            self.event(res, "e-3")
            return
        if MODE == "cut":
            self.sse_start()
            state["events"]["e-1"] = res
            self.wfile.write(b"id: e-1\nretry: 0\ndata:\n\n")
            self.wfile.flush()
            return
        if MODE == "big":
            res["result"]["content"][0]["text"] = "x" * (5 << 20)
            return self.send_json(res)
        if MODE == "flood":
            self.sse_start()
            note = ("data: " + json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                            "params": {"progress": 1, "message": "y" * 60000}}) + "\n\n").encode()
            try:
                for _ in range(2000):  # 120 MB at most, far past the cap
                    self.wfile.write(note)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if MODE == "hang":
            time.sleep(30)
            return
        return self.send_json(res)

    def modern(self, m, meth):
        meta = (m.get("params") or {}).get("_meta") or {}
        v = meta.get("io.modelcontextprotocol/protocolVersion")
        if MODE == "modern-future":
            return self.send_json({"jsonrpc": "2.0", "id": m.get("id"), "error": {
                "code": -32022, "message": "Unsupported protocol version",
                "data": {"supported": ["2099-01-01"], "requested": v}}}, 400)
        if meth == "initialize":
            self.bad("initialize sent to a modern server")
            return self.send_json({"jsonrpc": "2.0", "id": m.get("id"),
                                   "error": {"code": -32601, "message": "Method not found"}}, 404)
        if v != MODERN or "io.modelcontextprotocol/clientCapabilities" not in meta:
            self.bad("_meta %r" % meta)
        if self.hdr("MCP-Protocol-Version") != MODERN:
            self.bad("MCP-Protocol-Version %r" % self.hdr("MCP-Protocol-Version"))
        if self.hdr("Mcp-Method") != meth:
            self.bad("Mcp-Method %r" % self.hdr("Mcp-Method"))
        if self.hdr("Mcp-Session-Id"):
            self.bad("a session id in the modern era")
        if meth == "tools/call":
            name = self.hdr("Mcp-Name") or ""
            if name.startswith("=?base64?") and name.endswith("?="):
                name = base64.b64decode(name[9:-2]).decode()
            if name != m["params"]["name"]:
                self.bad("Mcp-Name %r" % self.hdr("Mcp-Name"))
        if meth == "server/discover":
            r = {"resultType": "complete", "supportedVersions": [MODERN], "capabilities": {"tools": {}},
                 "serverInfo": {"name": "fake-modern", "version": "1"}}
        elif meth == "tools/list":
            r = {"resultType": "complete", "tools": tools()}
        elif meth == "tools/call" and MODE == "input":
            r = {"resultType": "input_required", "inputRequests": {}}
        elif meth == "tools/call":
            r = {"resultType": "complete", "content": [{"type": "text", "text": "modern " + m["params"]["name"]}]}
        else:
            return self.send_json({"jsonrpc": "2.0", "id": m.get("id"),
                                   "error": {"code": -32601, "message": "Method not found"}}, 404)
        return self.send_json({"jsonrpc": "2.0", "id": m["id"], "result": r})


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
