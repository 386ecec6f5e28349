#!/usr/bin/python3
"""stripe_fake.py — a Stripe stand-in for studiod's integration tests.

Standard library only. Usage: stripe_fake.py PORT (listens on 127.0.0.1).

  POST /v1/checkout/sessions   a Checkout Session (form body, bracketed keys)
  POST /v1/refunds             a refund of a payment_intent
  GET  /_fake/requests         every request recorded: method, path, headers, form
  POST /_fake/complete?session=cs_...&target=URL&secret=whsec_...
                               sends checkout.session.completed to target, signed
                               as Stripe does (Stripe-Signature: t=..,v1=HMAC-SHA256)
  POST /_fake/resend?event=evt_...&target=URL&secret=...
                               sends the same event again (fresh signature)

  POST /_fake/event?target=URL&secret=...   body: a JSON event (or its start:
                               {"type", "data": {"object": {...}}, "account"?});
                               id, object, created, api_version are filled in
                               when missing; sent signed to target
  POST /_fake/fail             body {"path": "/v1/refunds", "status": 500,
                               "count": 1, "delay": 0}: the next count requests
                               to path answer status with a Stripe error (402:
                               card_error), after delay seconds (a timeout test)
  POST /_fake/reset            forgets recorded requests and failures

Like Stripe, POSTs to /v1 require Authorization: Bearer and (here) an
Idempotency-Key; the same key with the same body gives the same reply, with
another body a 400 idempotency_error.

More endpoints live in stripe_fake_*.py next to this file (one per area:
connect, billing, ...). Each such module defines register(fake), where fake
is this module: it adds handlers to fake.POST_ROUTES / fake.GET_ROUTES, lists
of (regex, fn). A POST fn(form, match, headers) and a GET fn(query, match,
headers) return (status, object); they run under fake.LOCK. Shared state and
helpers (new_id, stripe_error, SESSIONS, EVENTS, make_event, deliver_event)
are this module's.
"""
import glob
import hashlib
import hmac
import importlib.util
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
REQUESTS = []
IDEMPOTENT = {}  # key -> (path, body, status, reply)
SESSIONS = {}
SESSION_ACCOUNT = {}  # session id -> the Stripe-Account it was made on (Connect)
EVENTS = {}
FAILURES = {}  # path -> {"status", "count", "delay"}
PORT = 0
# (compiled regex, fn) tried in order; modules add theirs in register().
POST_ROUTES = []
GET_ROUTES = []


def new_id(prefix):
    return prefix + "_test_" + secrets.token_hex(12)


def stripe_error(param, message, etype="invalid_request_error"):
    return {"error": {"type": etype, "message": message, "param": param}}


def create_session(form, headers=None):
    mode = form.get("mode")
    if mode != "payment":
        return 400, stripe_error("mode", "Invalid mode: must be payment")
    amount = form.get("line_items[0][price_data][unit_amount]")
    currency = form.get("line_items[0][price_data][currency]")
    name = form.get("line_items[0][price_data][product_data][name]")
    if not amount or not amount.isdigit() or int(amount) <= 0:
        return 400, stripe_error("line_items[0][price_data][unit_amount]",
                                 "Invalid integer: unit_amount")
    if not currency:
        return 400, stripe_error("line_items[0][price_data][currency]", "Missing currency")
    if not name:
        return 400, stripe_error("line_items[0][price_data][product_data][name]",
                                 "Missing product name")
    for k in ("success_url", "cancel_url"):
        if not form.get(k):
            return 400, stripe_error(k, "Missing required param: " + k)
    qty = int(form.get("line_items[0][quantity]", "1") or "1")
    metadata = {k[len("metadata["):-1]: v for k, v in form.items()
                if k.startswith("metadata[") and k.endswith("]")}
    sid = "cs_test_" + secrets.token_hex(16)
    session = {
        "id": sid, "object": "checkout.session",
        "url": "http://127.0.0.1:%d/pay/%s" % (PORT, sid),
        "mode": "payment", "amount_total": int(amount) * qty,
        "currency": currency.lower(), "metadata": metadata,
        "client_reference_id": form.get("client_reference_id"),
        "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
        "payment_intent": new_id("pi"), "status": "open", "payment_status": "unpaid",
    }
    SESSIONS[sid] = session
    if headers is not None and headers.get("Stripe-Account"):
        SESSION_ACCOUNT[sid] = headers.get("Stripe-Account")
    return 200, session


def create_refund(form):
    pi = form.get("payment_intent")
    if not pi:
        return 400, stripe_error("payment_intent", "Missing required param: payment_intent")
    amount = form.get("amount")
    if amount is not None and (not amount.isdigit() or int(amount) <= 0):
        return 400, stripe_error("amount", "Invalid integer: amount")
    return 200, {"id": new_id("re"), "object": "refund",
                 "amount": int(amount) if amount else 0,
                 "status": "succeeded", "payment_intent": pi}


def make_event(etype, obj, account=None, event_id=None, created=None):
    """An event as Stripe sends it, remembered for /_fake/resend."""
    event = {"id": event_id or new_id("evt"), "object": "event", "type": etype,
             "api_version": "2024-06-20", "created": created or int(time.time()),
             "livemode": False, "data": {"object": obj}}
    if account:
        event["account"] = account
    EVENTS[event["id"]] = event
    return event


def deliver_event(event, target, secret):
    """Signs and POSTs event to target (outside LOCK); (status, body)."""
    return deliver(event, target, secret)


def sign(payload, secret):
    t = int(time.time())
    mac = hmac.new(secret.encode(), ("%d." % t).encode() + payload, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def deliver(event, target, secret):
    payload = json.dumps(event).encode()
    req = urllib.request.Request(target, data=payload, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign(payload, secret),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return 0, str(e)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("stripe_fake: " + (fmt % args) + "\n")

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(8))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def record(self, body):
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        url = urllib.parse.urlsplit(self.path)
        with LOCK:
            REQUESTS.append({"method": self.command, "path": url.path, "query": url.query,
                             "headers": {k: v for k, v in self.headers.items()},
                             "form": form})
        return url, form

    def do_GET(self):
        url, _ = self.record(b"")
        if url.path == "/_fake/requests":
            with LOCK:
                self.reply(200, {"requests": list(REQUESTS)})
        elif url.path.startswith("/v1/checkout/sessions/"):
            s = SESSIONS.get(url.path.rsplit("/", 1)[1])
            self.reply(200, s) if s else self.reply(
                404, stripe_error("id", "No such checkout.session"))
        else:
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            for rx, fn in GET_ROUTES:
                m = rx.fullmatch(url.path)
                if m:
                    with LOCK:
                        status, obj = fn(q, m, self.headers)
                    if isinstance(obj, (bytes, str)):
                        return self.reply_raw(status, obj)
                    return self.reply(status, obj)
            self.reply(404, stripe_error(None, "Unrecognized request URL (GET: %s)" % url.path))

    def reply_raw(self, status, body, ctype="text/html; charset=utf-8", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.read_body()
        url, form = self.record(body)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path == "/_fake/complete":
            return self.complete(q)
        if url.path == "/_fake/resend":
            return self.resend(q)
        if url.path == "/_fake/event":
            return self.custom_event(q, body)
        if url.path == "/_fake/fail":
            spec = json.loads(body or b"{}")
            with LOCK:
                FAILURES[spec["path"]] = {"status": int(spec.get("status", 500)),
                                          "count": int(spec.get("count", 1)),
                                          "delay": float(spec.get("delay", 0))}
            return self.reply(200, {"ok": True})
        if url.path == "/_fake/reset":
            with LOCK:
                REQUESTS.clear()
                FAILURES.clear()
            return self.reply(200, {"ok": True})
        handlers = {"/v1/checkout/sessions": create_session, "/v1/refunds": create_refund}
        fn = handlers.get(url.path)
        match = None
        if fn:
            fn1 = fn
            fn = lambda form, m, h: (fn1(form, h) if fn1 is create_session  # noqa: E731
                                     else fn1(form))
        else:
            for rx, f in POST_ROUTES:
                match = rx.fullmatch(url.path)
                if match:
                    fn = f
                    break
        if not fn:
            return self.reply(404, stripe_error(None, "Unrecognized request URL (POST: %s)"
                                                % url.path))
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            return self.reply(401, stripe_error(None, "You did not provide an API key.",
                                                "invalid_request_error"))
        key = self.headers.get("Idempotency-Key")
        if not key:
            return self.reply(400, stripe_error(None, "An Idempotency-Key is required"))
        with LOCK:
            fail = FAILURES.get(url.path)
            if fail and fail["count"] > 0:
                fail["count"] -= 1
            else:
                fail = None
        if fail:
            if fail["delay"]:
                time.sleep(fail["delay"])
            etype = "card_error" if fail["status"] == 402 else (
                "api_error" if fail["status"] >= 500 else "invalid_request_error")
            return self.reply(fail["status"], stripe_error(None, "Injected failure", etype))
        with LOCK:
            seen = IDEMPOTENT.get(key)
            if seen:
                if seen[0] != url.path or seen[1] != body:
                    return self.reply(400, stripe_error(
                        None, "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.", "idempotency_error"))
                return self.reply(seen[2], seen[3])
            status, obj = fn(form, match, self.headers)
            IDEMPOTENT[key] = (url.path, body, status, obj)
        self.reply(status, obj)

    def complete(self, q):
        with LOCK:
            s = SESSIONS.get(q.get("session", ""))
            if not s:
                return self.reply(404, stripe_error("session", "No such checkout.session"))
            s["status"] = "complete"
            s["payment_status"] = "paid"
            event = make_event("checkout.session.completed", dict(s),
                               SESSION_ACCOUNT.get(s["id"]))
        self.send_event(event, q)

    def custom_event(self, q, body):
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            return self.reply(400, stripe_error(None, "body is not JSON"))
        with LOCK:
            event = make_event(spec.get("type", ""), spec.get("data", {}).get("object", {}),
                               spec.get("account"), spec.get("id"), spec.get("created"))
        self.send_event(event, q)

    def resend(self, q):
        with LOCK:
            event = EVENTS.get(q.get("event", ""))
        if not event:
            return self.reply(404, stripe_error("event", "No such event"))
        self.send_event(event, q)

    def send_event(self, event, q):
        if not q.get("target") or not q.get("secret"):
            return self.reply(400, stripe_error("target", "target and secret are required"))
        status, text = deliver(event, q["target"], q["secret"])
        self.reply(200, {"event_id": event["id"], "delivered_status": status,
                         "delivered_body": text})


def load_modules():
    """Imports every stripe_fake_*.py beside this file and calls its register()."""
    here = os.path.dirname(os.path.abspath(__file__))
    me = sys.modules[__name__]
    for path in sorted(glob.glob(os.path.join(here, "stripe_fake_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.register(me)


def route(method, pattern):
    """Decorator for modules: @fake.route("POST", r"/v1/accounts")."""
    def add(fn):
        (POST_ROUTES if method == "POST" else GET_ROUTES).append((re.compile(pattern), fn))
        return fn
    return add


def main():
    global PORT
    PORT = int(sys.argv[1])
    load_modules()
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
