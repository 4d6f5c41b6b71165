#!/usr/bin/env python3
"""An MCP stdio server whose tools misbehave on purpose, for the daemon's
tests (tests/integration/test_mcp.sh). It runs in the workspace (the sandbox
starts it there) and leaves traces in files of it.

argv[1]: "ok" (default) or "hang" (reads nothing, never answers: a server
stuck at start).

Tools:
  note {text, sleep_s?}  side-effecting: appends text to notes.txt, sleeps,
                         answers "noted"; writes note-started.txt first
  peek {}                readOnlyHint: notes.txt's contents
  slow {steps}           sends notifications/progress each 0.1 s; a
                         notifications/cancelled is written to cancelled.txt
  whoami {}              an id drawn at its start (a restart changes it)
  die {}                 exits without answering
  flood {}               writes 5 MiB without a newline
  garbage {}             writes a line that is not JSON
  rich {}                text, an image, a resource and structuredContent
  grow {name}            adds a tool `name` (answers "NAME here"), answers
                         "grown", then sends notifications/tools/list_changed
"""
import json, os, sys, threading, time

mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
if mode == "hang":
    time.sleep(3600)
    sys.exit(0)

out_lock = threading.Lock()
START_ID = os.urandom(8).hex()
cancelled = set()


def send(msg):
    with out_lock:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


def answer(mid, result):
    send({"jsonrpc": "2.0", "id": mid, "result": result})


def text(t, err=False):
    r = {"content": [{"type": "text", "text": t}]}
    if err:
        r["isError"] = True
    return r


OBJ = {"type": "object"}
TOOLS = [
    {"name": "note", "description": "Append a line of text to notes.txt in the workspace.",
     "inputSchema": {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#",
                     "properties": {"text": {"type": "string", "minLength": 1},
                                    "sleep_s": {"type": "number"}},
                     "required": ["text"], "additionalProperties": False}},
    {"name": "peek", "description": "Read notes.txt.", "inputSchema": OBJ,
     "annotations": {"readOnlyHint": True}},
    {"name": "slow", "description": "A long operation that reports its progress.",
     "inputSchema": {"type": "object", "properties": {"steps": {"type": "integer"}},
                     "required": ["steps"]}},
    {"name": "whoami", "description": "An id drawn when the server started.", "inputSchema": OBJ,
     "annotations": {"readOnlyHint": True}},
    {"name": "die", "description": "Exit in the middle of the call.", "inputSchema": OBJ},
    {"name": "flood", "description": "Write 5 MiB without a newline.", "inputSchema": OBJ},
    {"name": "garbage", "description": "Write a line that is not JSON.", "inputSchema": OBJ},
    {"name": "rich", "description": "Every kind of content.", "inputSchema": OBJ,
     "annotations": {"readOnlyHint": True}},
    {"name": "grow", "description": "Add a tool, then say that the list changed.",
     "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}},
                     "required": ["name"]}},
]
BUILT_IN = len(TOOLS)


def call(mid, name, args, meta):
    token = meta.get("progressToken")
    if name == "note":
        open("note-started.txt", "a").write(args["text"] + "\n")
        time.sleep(float(args.get("sleep_s", 0)))
        with open("notes.txt", "a") as f:
            f.write(args["text"] + "\n")
        answer(mid, text("noted"))
    elif name == "peek":
        answer(mid, text(open("notes.txt").read() if os.path.exists("notes.txt") else ""))
    elif name == "slow":
        for i in range(int(args["steps"])):
            if mid in cancelled:
                return
            if token is not None:
                send({"jsonrpc": "2.0", "method": "notifications/progress",
                      "params": {"progressToken": token, "progress": i + 1,
                                 "total": int(args["steps"]), "message": "step %d" % (i + 1)}})
            time.sleep(0.1)
        answer(mid, text("slow done"))
    elif name == "whoami":
        answer(mid, text(START_ID))
    elif name == "die":
        os._exit(3)
    elif name == "flood":
        with out_lock:
            sys.stdout.write("x" * (5 << 20))
            sys.stdout.flush()
        time.sleep(3600)
    elif name == "garbage":
        with out_lock:
            sys.stdout.write("this is not JSON\n")
            sys.stdout.flush()
    elif name == "rich":
        answer(mid, {"content": [{"type": "text", "text": "plain words"},
                                 {"type": "image", "mimeType": "image/png", "data": "AAAAAAAA"},
                                 {"type": "resource", "resource": {"uri": "file:///x", "text": "y"}}],
                     "structuredContent": {"answer": 42}})
    elif name == "grow":
        TOOLS.append({"name": args["name"], "description": "A tool that came later.",
                      "inputSchema": OBJ, "annotations": {"readOnlyHint": True}})
        answer(mid, text("grown"))
        # after the answer: the client reads it between its requests
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    elif any(t["name"] == name for t in TOOLS[BUILT_IN:]):
        answer(mid, text(name + " here"))
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "no tool " + name}})


for line in sys.stdin:
    m = json.loads(line)
    meth = m.get("method")
    if meth == "notifications/cancelled":
        rid = m["params"]["requestId"]
        cancelled.add(rid)
        open("cancelled.txt", "a").write("%s %s\n" % (rid, m["params"].get("reason", "")))
        continue
    if "id" not in m:
        continue
    mid = m["id"]
    if meth == "initialize":
        answer(mid, {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                     "serverInfo": {"name": "fault", "version": "1"}})
    elif meth == "tools/list":
        answer(mid, {"tools": TOOLS})
    elif meth == "tools/call":
        p = m.get("params", {})
        threading.Thread(target=call, args=(mid, p["name"], p.get("arguments", {}),
                                            p.get("_meta", {})), daemon=True).start()
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no " + meth}})
