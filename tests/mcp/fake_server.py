#!/usr/bin/env python3
"""A scripted MCP server over stdio for the client's fault tests.
argv[1]: ok | hang | garbage | badversion | modern
(modern: the 2026-07-28 revision, no initialize, _meta on every request)"""
import json, os, sys, time
mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if mode == "hang":
        time.sleep(3600)
    if mode == "garbage":
        print("this is not json", flush=True)
        continue
    meth = m["method"]
    if mode == "modern":
        meta = m.get("params", {}).get("_meta", {})
        if meth == "initialize" or meta.get("io.modelcontextprotocol/protocolVersion") != "2026-07-28":
            print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32600,
                  "message": "no _meta or an initialize: " + meth}}), flush=True)
            continue
        if meth == "server/discover":
            print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": {"resultType": "complete",
                  "supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "fake", "version": "1"}}}), flush=True)
            continue
    elif meth == "server/discover":  # a legacy server knows no such method
        print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32601, "message": "no"}}), flush=True)
        continue
    if meth == "initialize":
        r = {"protocolVersion": "1999-01-01" if mode == "badversion" else "2025-06-18",
             "capabilities": {"tools": {}}, "serverInfo": {"name": "fake", "version": "1"}}
    elif meth == "tools/list":
        cur = m.get("params", {}).get("cursor")
        if cur is None:
            r = {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}], "nextCursor": "p2"}
        else:
            r = {"tools": [{"name": "fail", "inputSchema": {"type": "object"}},
                           {"name": "pic", "inputSchema": {"type": "object"}}]}
    elif meth == "tools/call":
        n = m["params"]["name"]
        if n == "echo":
            print("log line on stderr", file=sys.stderr, flush=True)
            print(json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": {}}), flush=True)
            r = {"content": [{"type": "text", "text": m["params"]["arguments"]["message"]}]}
        elif n == "env":  # what it was started with: environment, folder, blocked signals
            blk = [l.split()[1] for l in open("/proc/self/status") if l.startswith("SigBlk:")]
            r = {"content": [{"type": "text", "text": json.dumps({"env": dict(os.environ),
                 "cwd": os.getcwd(), "sigblk": blk[0], "pid": os.getpid(), "sid": os.getsid(0)})}]}
        elif n == "fail":
            r = {"content": [{"type": "text", "text": "nope"}], "isError": True}
        else:
            r = {"content": [{"type": "image", "mimeType": "image/png", "data": "AAAA"}]}
    else:
        print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32601, "message": "no"}}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}), flush=True)
