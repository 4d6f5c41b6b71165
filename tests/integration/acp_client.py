#!/usr/bin/env python3
"""acp_client.py — a scripted Agent Client Protocol client (an editor's side)
for tests: starts `agentctl acp`, drives initialize, session/new, one or more
session/prompt turns (answering session/request_permission as told), an
optional session/cancel and session/load, and prints a JSON summary of
everything it received. Every read is bounded in time."""
import json, subprocess, sys, time, select

def main():
    agentctl, sock, cwd, mode = sys.argv[1:5]
    dump = open(sys.argv[5], "a") if len(sys.argv) > 5 else None
    asked = {}
    p = subprocess.Popen([agentctl, "--socket", sock, "acp"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=sys.stderr, bufsize=0)
    buf = b""
    got = {"updates": [], "permission_requests": [], "responses": {}}
    nid = [0]

    def send(obj):
        p.stdin.write((json.dumps(obj) + "\n").encode())

    def request(method, params):
        nid[0] += 1
        asked[nid[0]] = method
        send({"jsonrpc": "2.0", "id": nid[0], "method": method, "params": params})
        return nid[0]

    def pump(until_id, answer="allow", cancel_after_tool=False, deadline=60):
        nonlocal buf
        end = time.time() + deadline
        cancelled = False
        while time.time() < end:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if not r:
                continue
            chunk = p.stdout.read1(65536) if hasattr(p.stdout, "read1") else p.stdout.read(65536)
            if not chunk:
                raise SystemExit("agentctl acp closed stdout")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                m = json.loads(line)
                assert m.get("jsonrpc") == "2.0", m
                if dump:
                    dump.write(json.dumps({"answer_to": asked.get(m.get("id")) if "method" not in m else None,
                                           "message": m}) + "\n")
                    dump.flush()
                if m.get("method") == "session/update":
                    got["updates"].append(m["params"])
                    u = m["params"]["update"]
                    if cancel_after_tool and not cancelled and u["sessionUpdate"] == "tool_call":
                        send({"jsonrpc": "2.0", "method": "session/cancel",
                              "params": {"sessionId": m["params"]["sessionId"]}})
                        cancelled = True
                elif m.get("method") == "session/request_permission":
                    got["permission_requests"].append(m["params"])
                    send({"jsonrpc": "2.0", "id": m["id"], "result": {"outcome":
                          {"outcome": "selected", "optionId": answer}}})
                elif "id" in m and "method" not in m:
                    got["responses"][str(m["id"])] = m
                    if m["id"] == until_id:
                        return m
        raise SystemExit("no answer to request %d in time" % until_id)

    init = pump(request("initialize", {"protocolVersion": 1, "clientCapabilities": {}}))
    got["initialize"] = init
    new = pump(request("session/new", {"cwd": cwd, "mcpServers": []}))
    sid = new["result"]["sessionId"]
    got["session"] = sid
    turns = mode.split(",")
    got["turns"] = []
    for t in turns:
        if t == "load":
            start = len(got["updates"])
            got["load"] = pump(request("session/load", {"sessionId": sid, "cwd": cwd, "mcpServers": []}))
            got["load_updates"] = [u["update"]["sessionUpdate"] for u in got["updates"][start:]]
            continue
        answer = "deny" if t == "deny" else "allow"
        rid = request("session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "Do the thing (" + t + ")"}]})
        got["turns"].append(pump(rid, answer=answer, cancel_after_tool=(t == "cancel")))
    bad = pump(request("no/such/method", {}))
    got["unknown_method"] = bad
    p.stdin.close()
    p.wait(timeout=10)
    got["exit"] = p.returncode
    print(json.dumps(got))

main()
