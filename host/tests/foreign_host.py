"""A host we did not write: wasmtime-py (the `wasmtime` PyPI package) loads
the component with EVERY import defined as a trap (no WASI at all), calls the
`source` interface, and drives a full read session against the simulator
(`iterable-sim` binary) with urllib.

Usage: python foreign_host.py COMPONENT.wasm ITERABLE_SIM_BINARY
Prints "N passed, N failed" and exits non-zero on a failure.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import wasmtime
import wasmtime.component as wc

KEY = "foreign-host-key"
checks = {"passed": 0, "failed": 0}


def check(cond, what):
    key = "passed" if cond else "failed"
    checks[key] += 1
    print(("ok   " if cond else "FAIL ") + what, flush=True)


def field(v, name):
    """Record fields may come back as attributes or dict entries."""
    if isinstance(v, dict):
        return v[name]
    return getattr(v, name.replace("-", "_"), None) if not hasattr(v, "__dict__") else v.__dict__[name]


def tag_payload(v):
    return getattr(v, "tag"), getattr(v, "payload", None)


class Component:
    def __init__(self, path):
        self.engine = wasmtime.Engine()
        t = time.time()
        self.component = wc.Component.from_file(self.engine, path)
        self.compile_s = time.time() - t
        self.store = wasmtime.Store(self.engine)
        linker = wc.Linker(self.engine)
        linker.define_unknown_imports_as_traps(self.component)
        t = time.time()
        self.inst = linker.instantiate(self.store, self.component)
        self.instantiate_s = time.time() - t
        self.src = self.inst.get_export_index(self.store, "iterable-connector:source/source@0.1.0")
        self.writer = self.inst.get_export_index(self.store, "iterable-connector:source/writer@0.1.0")

    def func(self, name, interface=None):
        idx = self.inst.get_export_index(self.store, name, interface or self.src)
        return self.inst.get_func(self.store, idx)

    def wfunc(self, name):
        return self.func(name, self.writer)

    def call(self, name, *args):
        return self.func(name)(self.store, *args)


def is_error(v):
    """result<_, connector-error>: wasmtime-py returns the error record (or raises)."""
    return v is not None and hasattr(v, "__dict__") and "kind" in v.__dict__


def main():
    wasm, sim_bin = sys.argv[1], sys.argv[2]
    c = Component(wasm)
    print(f"compiled in {c.compile_s:.2f}s, instantiated in {c.instantiate_s * 1e3:.1f}ms (all imports trap)")

    spec = json.loads(c.call("spec"))
    check("api_key" in spec["properties"], "spec() returns the config schema")

    err = c.call("validate-config", "{not json")
    check(is_error(err) and field(err, "kind") == "invalid-config", f"validate-config of bad JSON is an invalid-config error ({err and err.__dict__})")

    streams = c.call("discover", json.dumps({"base_url": "http://127.0.0.1:1"}), None)
    names = [field(s, "name") for s in streams]
    check(len(names) >= 71 and "email_send" in names, f"discover() lists {len(names)} streams")

    # --exit-on-stdin-eof: should this script die, the closed pipe stops the simulator.
    sim = subprocess.Popen([sim_bin, "--port", "0", "--seed", "3", "--scale", "tiny", "--api-key", KEY,
                            "--exit-on-stdin-eof"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base = None
        for line in sim.stdout:
            if "http://" in line:
                base = line[line.index("http://"):].split()[0]
                break
        check(base is not None, f"simulator started at {base}")
        records, commits, summary = sync(c, base, ["lists", "channels", "email_send"])
        for s in ["lists", "channels", "email_send"]:
            check(records.get(s, 0) > 0, f"{s}: {records.get(s, 0)} records read through wasmtime-py")
        check(commits >= 1, f"{commits} checkpoint(s) committed")
        got = {field(s, "stream"): field(s, "records") for s in field(summary, "streams")}
        check(got == records, f"summary {got} agrees with the batches")
        results, wsummary = write(c, base, [{"name": "foreign-a"}, {"description": "no name"}, {"name": "foreign-b"}])
        statuses = [results[i][0] for i in range(3)]
        check(statuses == ["ok", "failed", "ok"], f"writer: rows ended {statuses}")
        check(results[1][2] == "name", f"writer: the bad row names its field ({results[1][2]})")
        req = urllib.request.Request(base + "/api/lists", headers={"Api-Key": KEY})
        lists = json.load(urllib.request.urlopen(req, timeout=30))["lists"]
        made = sorted(entry["name"] for entry in lists if entry["name"].startswith("foreign-"))
        check(made == ["foreign-a", "foreign-b"], f"writer: the simulator holds {made}")
        check((field(wsummary, "ok"), field(wsummary, "failed")) == (2, 1), "writer: summary counts 2 ok, 1 failed")
    finally:
        sim.terminate()
        sim.wait()
    print(f"{checks['passed']} passed, {checks['failed']} failed")
    return 1 if checks["failed"] else 0


def sync(c, base, streams):
    config = json.dumps({"base_url": base, "time_scale": 60, "max_concurrency": 1})
    sels = []
    for n in streams:
        r = wc.Record()
        r.__dict__.update({"name": n, "incremental": True})
        sels.append(r)
    session = c.call("[static]read-session.open", config, sels, None)
    if is_error(session):
        raise SystemExit(f"open failed: {session.__dict__}")
    poll = c.func("[method]read-session.poll")
    head = c.func("[method]read-session.on-response-head")
    body = c.func("[method]read-session.on-response-body")
    end = c.func("[method]read-session.on-response-end")
    terr = c.func("[method]read-session.on-transport-error")
    records, commits = {}, 0
    while True:
        action = poll(c.store, session, int(time.time() * 1000))
        if is_error(action):
            raise SystemExit(f"poll failed: {action.__dict__}")
        tag, p = tag_payload(action)
        if tag == "fetch":
            send(c, session, p, head, body, end, terr)
        elif tag == "emit":
            rows = [json.loads(line) for line in bytes(field(p, "payload")).splitlines() if line.strip()]
            assert len(rows) == field(p, "rows")
            records[field(p, "stream")] = records.get(field(p, "stream"), 0) + len(rows)
        elif tag == "commit":
            json.loads(field(p, "state-json"))
            commits += 1
        elif tag == "sleep-until":
            time.sleep(max(0, p / 1000 - time.time()))
        elif tag == "log":
            pass
        elif tag == "done":
            return records, commits, p
        else:
            raise SystemExit(f"unexpected action {tag}")


def write(c, base, rows):
    """Creates lists through the writer interface; returns {row: (status, id, field)} and the summary."""
    config = json.dumps({"base_url": base, "time_scale": 60})
    session = c.wfunc("[static]write-session.open")(c.store, config, "lists", "insert", None, None)
    if is_error(session):
        raise SystemExit(f"write open failed: {session.__dict__}")
    poll = c.wfunc("[method]write-session.poll")
    push = c.wfunc("[method]write-session.push-rows")
    finish = c.wfunc("[method]write-session.finish-input")
    head = c.wfunc("[method]write-session.on-response-head")
    body = c.wfunc("[method]write-session.on-response-body")
    end = c.wfunc("[method]write-session.on-response-end")
    terr = c.wfunc("[method]write-session.on-transport-error")
    pending = "".join(json.dumps(r) + "\n" for r in rows).encode()
    results = {}
    while True:
        action = poll(c.store, session, now_ms())
        if is_error(action):
            raise SystemExit(f"write poll failed: {action.__dict__}")
        tag, p = tag_payload(action)
        if tag == "need-rows":
            if pending:
                added = push(c.store, session, pending)
                assert added == len(rows), added
                pending = b""
            else:
                finish(c.store, session)
        elif tag == "fetch":
            send(c, session, p, head, body, end, terr)
        elif tag == "results":
            for r in p:
                err = field(r, "error")
                results[field(r, "row")] = (str(field(r, "status")), field(r, "id"), err and field(err, "field"))
        elif tag == "sleep-until":
            time.sleep(max(0, p / 1000 - time.time()))
        elif tag in ("commit", "log"):
            pass
        elif tag == "done":
            return results, p
        else:
            raise SystemExit(f"unexpected write action {tag}")


def now_ms():
    return int(time.time() * 1000)


def send(c, session, req, head, body, end, terr):
    rid = field(req, "id")
    headers = dict(field(req, "headers"))
    if field(req, "needs-auth"):
        headers["Api-Key"] = KEY
    method = str(field(req, "method")).upper()
    data = field(req, "body")
    r = urllib.request.Request(field(req, "url"), data=bytes(data) if data is not None else None,
                               headers=headers, method=method)
    try:
        resp = urllib.request.urlopen(r, timeout=60)
    except urllib.error.HTTPError as e:
        resp = e
    except OSError as e:
        print(f"     {method} {field(req, 'url')}: {e}", flush=True)
        terr(c.store, session, now_ms(), rid, "connect")
        return
    status = getattr(resp, "status", None) or resp.code
    out = head(c.store, session, now_ms(), rid, status, [(k, v) for k, v in resp.headers.items()])
    assert not is_error(out), out.__dict__
    try:
        while True:
            chunk = resp.read(16384)
            if not chunk:
                break
            out = body(c.store, session, now_ms(), rid, chunk)
            assert not is_error(out), out.__dict__
    except OSError:
        terr(c.store, session, now_ms(), rid, "body-cut")
        return
    out = end(c.store, session, now_ms(), rid)
    assert not is_error(out), out.__dict__


if __name__ == "__main__":
    sys.exit(main())
