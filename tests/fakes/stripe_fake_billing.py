"""stripe_fake_billing.py — Stripe Billing for the stand-in (tests/fakes/stripe_fake.py):
what studiod's platform subscriptions use (src/modules/billing), with Stripe's
object shapes (API version 2024-06-20: current_period_* on the subscription,
invoice.subscription a string).

  POST   /v1/customers                    a customer (email, name, metadata[...])
  GET    /v1/customers/:id
  POST   /v1/checkout/sessions            mode=subscription here (line_items[0][price],
                                          customer or customer_email); other modes go to
                                          whatever handled them before
  GET    /v1/subscriptions/:id
  POST   /v1/subscriptions/:id            items[0][id] + items[0][price] change the item's
                                          price (without items[0][id] an item is added, as
                                          Stripe does); proration_behavior
                                          (create_prorations|none|always_invoice),
                                          proration_date, payment_behavior,
                                          cancel_at_period_end, metadata[...]
  DELETE /v1/subscriptions/:id            cancels at once (status canceled)
  POST   /v1/billing_portal/sessions      customer, return_url → a portal session with url
  GET    /p/session/:id                   the "portal" page the url opens
  GET    /pay/:session?action=pay         (stripe_fake_connect.py's Checkout page) for a
                                          subscription session first makes the subscription

Test controls (no API key needed):
  POST /_fake/complete?session=cs_...     (the base's) for a subscription session first
                                          makes the subscription (status active, period
                                          from now) and names it on the session
  POST /_fake/billing/event?subscription=sub_...&type=...&target=URL&secret=...
       [&created=UNIX]                    sends type with the subscription as it is now
                                          (customer.subscription.*), or an invoice of it
                                          (invoice.paid / invoice.payment_failed)
  POST /_fake/billing/advance?subscription=sub_...
                                          rolls the period over (start = old end)
  POST /_fake/billing/set?subscription=sub_...&status=past_due
                                          sets the status (what Stripe's dunning does)
"""
import copy
import json
import re
import secrets
import time
import urllib.parse

MONTH = 30 * 86400
YEAR = 365 * 86400

PRICES = {}
CUSTOMERS = {}
SUBSCRIPTIONS = {}
PORTAL_SESSIONS = {}
fake = None


def _price(pid, amount, interval):
    PRICES[pid] = {"id": pid, "object": "price", "active": True, "currency": "eur",
                   "unit_amount": amount, "type": "recurring",
                   "recurring": {"interval": interval, "interval_count": 1},
                   "product": "prod_" + pid.rsplit("_", 1)[0], "livemode": False}


for _plan, _m, _y in (("starter", 1900, 19000), ("pro", 4900, 49000),
                      ("studio_plus", 9900, 99000)):
    _price("price_%s_monthly" % _plan, _m, "month")
    _price("price_%s_yearly" % _plan, _y, "year")


def missing(kind, oid, param="id"):
    return {"error": {"type": "invalid_request_error", "code": "resource_missing",
                      "message": "No such %s: '%s'" % (kind, oid), "param": param}}


def metadata_of(form, prefix="metadata"):
    p = prefix + "["
    return {k[len(p):-1]: v for k, v in form.items()
            if k.startswith(p) and k.endswith("]") and "][" not in k[len(p):]}


def create_customer(form, match, headers):
    cid = fake.new_id("cus")
    cust = {"id": cid, "object": "customer", "email": form.get("email"),
            "name": form.get("name"), "metadata": metadata_of(form),
            "created": int(time.time()), "livemode": False}
    CUSTOMERS[cid] = cust
    return 200, cust


def get_customer(query, match, headers):
    c = CUSTOMERS.get(match.group(1))
    return (200, c) if c else (404, missing("customer", match.group(1)))


def subscription_session(form):
    price = PRICES.get(form.get("line_items[0][price]", ""))
    if not price:
        return 400, missing("price", form.get("line_items[0][price]"),
                            "line_items[0][price]")
    customer = form.get("customer")
    if customer and customer not in CUSTOMERS:
        return 400, missing("customer", customer, "customer")
    if not customer and not form.get("customer_email"):
        customer = None
    for k in ("success_url", "cancel_url"):
        if not form.get(k):
            return 400, fake.stripe_error(k, "Missing required param: " + k)
    qty = int(form.get("line_items[0][quantity]", "1") or "1")
    sid = "cs_test_" + secrets.token_hex(16)
    session = {
        "id": sid, "object": "checkout.session",
        "url": "http://127.0.0.1:%d/pay/%s" % (fake.PORT, sid),
        "mode": "subscription", "amount_total": price["unit_amount"] * qty,
        "currency": price["currency"], "customer": customer,
        "customer_email": form.get("customer_email"),
        "metadata": metadata_of(form),
        "client_reference_id": form.get("client_reference_id"),
        "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
        "subscription": None, "payment_intent": None,
        "status": "open", "payment_status": "unpaid",
        # what the subscription will be made of (not a Stripe field; dropped from replies)
        "_price": price["id"], "_quantity": qty,
        "_subscription_metadata": metadata_of(form, "subscription_data[metadata]"),
    }
    fake.SESSIONS[sid] = session
    return 200, public(session)


def public(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def new_subscription(session):
    now = int(time.time())
    price = PRICES[session["_price"]]
    customer = session.get("customer")
    if not customer:
        _, cust = create_customer({"email": session.get("customer_email")}, None, None)
        customer = cust["id"]
        session["customer"] = customer
    sub_id = fake.new_id("sub")
    sub = {
        "id": sub_id, "object": "subscription", "customer": customer, "status": "active",
        "items": {"object": "list", "data": [item(sub_id, price, session["_quantity"])],
                  "has_more": False, "url": "/v1/subscription_items?subscription=" + sub_id},
        "current_period_start": now, "current_period_end": now + length(price),
        "billing_cycle_anchor": now, "cancel_at_period_end": False, "cancel_at": None,
        "canceled_at": None, "ended_at": None, "created": now,
        "collection_method": "charge_automatically", "currency": price["currency"],
        "latest_invoice": fake.new_id("in"), "livemode": False,
        "metadata": dict(session["_subscription_metadata"]),
    }
    SUBSCRIPTIONS[sub_id] = sub
    return sub


def item(sub_id, price, qty=1):
    return {"id": fake.new_id("si"), "object": "subscription_item", "price": copy.deepcopy(price),
            "quantity": qty, "subscription": sub_id, "created": int(time.time())}


def length(price):
    return YEAR if price["recurring"]["interval"] == "year" else MONTH


def get_subscription(query, match, headers):
    s = SUBSCRIPTIONS.get(match.group(1))
    return (200, s) if s else (404, missing("subscription", match.group(1)))


def update_subscription(form, match, headers):
    sub = SUBSCRIPTIONS.get(match.group(1))
    if not sub:
        return 404, missing("subscription", match.group(1))
    if sub["status"] in ("canceled", "incomplete_expired"):
        return 400, fake.stripe_error(None, "A canceled subscription can only update its "
                                      "cancellation_details and metadata.")
    behavior = form.get("proration_behavior")
    if behavior is not None and behavior not in ("create_prorations", "none", "always_invoice"):
        return 400, fake.stripe_error("proration_behavior", "Invalid proration_behavior")
    pay = form.get("payment_behavior")
    if pay is not None and pay not in ("allow_incomplete", "default_incomplete",
                                       "error_if_incomplete", "pending_if_incomplete"):
        return 400, fake.stripe_error("payment_behavior", "Invalid payment_behavior")
    pdate = form.get("proration_date")
    if pdate is not None and not pdate.isdigit():
        return 400, fake.stripe_error("proration_date", "Invalid integer: proration_date")
    cap = form.get("cancel_at_period_end")
    if cap is not None and cap not in ("true", "false"):
        return 400, fake.stripe_error("cancel_at_period_end", "Invalid boolean")
    new_price = form.get("items[0][price]")
    if new_price is not None:
        price = PRICES.get(new_price)
        if not price:
            return 400, missing("price", new_price, "items[0][price]")
        item_id = form.get("items[0][id]")
        items = sub["items"]["data"]
        if item_id:
            found = [i for i in items if i["id"] == item_id]
            if not found:
                return 400, missing("subscription_item", item_id, "items[0][id]")
            found[0]["price"] = copy.deepcopy(price)
        else:
            items.append(item(sub["id"], price))  # Stripe adds an item
    if cap is not None:
        sub["cancel_at_period_end"] = cap == "true"
        sub["cancel_at"] = sub["current_period_end"] if cap == "true" else None
        sub["canceled_at"] = int(time.time()) if cap == "true" else None
    sub["metadata"].update(metadata_of(form))
    return 200, sub


def portal_session(form, match, headers):
    customer = form.get("customer")
    if not customer:
        return 400, fake.stripe_error("customer", "Missing required param: customer")
    if customer not in CUSTOMERS:
        return 400, missing("customer", customer, "customer")
    pid = fake.new_id("bps")
    s = {"id": pid, "object": "billing_portal.session", "customer": customer,
         "return_url": form.get("return_url"), "created": int(time.time()),
         "livemode": False, "url": "http://127.0.0.1:%d/p/session/%s" % (fake.PORT, pid)}
    PORTAL_SESSIONS[pid] = s
    return 200, s


def portal_page(query, match, headers):
    s = PORTAL_SESSIONS.get(match.group(1))
    if not s:
        return 404, "<p>No such portal session</p>"
    return 200, "<!doctype html><title>Billing portal</title><h1>Customer portal</h1>" \
                "<p>%s</p>" % s["customer"]


def pay_page_first(query, match, headers):
    """Before the hosted Checkout page (stripe_fake_connect.py) completes a subscription
    session, the subscription is made, as Stripe does when the first invoice is paid; the
    page itself is the next route that matches."""
    s = fake.SESSIONS.get(match.group(1))
    if s and s.get("mode") == "subscription" and query.get("action") == "pay" \
            and not s.get("subscription"):
        s["subscription"] = new_subscription(s)["id"]
        for k in [k for k in s if k.startswith("_")]:
            del s[k]
    path = "/pay/" + match.group(1)
    mine = False
    for rx, fn in fake.GET_ROUTES:
        if fn is pay_page_first:
            mine = True
            continue
        m = rx.fullmatch(path) if mine else None
        if m:
            return fn(query, m, headers)
    return 404, "<p>No Checkout page</p>"


def invoice_of(sub, paid):
    price = sub["items"]["data"][0]["price"]
    amount = price["unit_amount"]
    return {"id": fake.new_id("in"), "object": "invoice", "customer": sub["customer"],
            "subscription": sub["id"], "status": "paid" if paid else "open", "paid": paid,
            "amount_due": amount, "amount_paid": amount if paid else 0,
            "currency": price["currency"], "billing_reason": "subscription_cycle",
            "period_start": sub["current_period_start"],
            "period_end": sub["current_period_end"], "attempt_count": 1,
            "livemode": False, "created": int(time.time())}


def register(module):
    global fake
    fake = module
    fake.route("POST", r"/v1/customers")(create_customer)
    fake.route("GET", r"/v1/customers/([A-Za-z0-9_]+)")(get_customer)
    fake.route("GET", r"/v1/subscriptions/([A-Za-z0-9_]+)")(get_subscription)
    fake.route("POST", r"/v1/subscriptions/([A-Za-z0-9_]+)")(update_subscription)
    fake.route("POST", r"/v1/billing_portal/sessions")(portal_session)
    fake.route("GET", r"/p/session/([A-Za-z0-9_]+)")(portal_page)
    fake.route("GET", r"/pay/(cs_[A-Za-z0-9_]+)")(pay_page_first)

    before = fake.create_session

    def create_session(form, headers=None):
        if form.get("mode") == "subscription":
            return subscription_session(form)
        try:
            return before(form, headers)
        except TypeError:
            return before(form)
    fake.create_session = create_session

    handler = fake.Handler
    base_complete = handler.complete
    base_post = handler.do_POST

    def complete(self, q):
        with fake.LOCK:
            s = fake.SESSIONS.get(q.get("session", ""))
            if s and s.get("mode") == "subscription" and not s.get("subscription"):
                s["subscription"] = new_subscription(s)["id"]
                for k in [k for k in s if k.startswith("_")]:
                    del s[k]
        return base_complete(self, q)

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith("/_fake/billing/"):
            return base_post(self)
        url, _ = self.record(self.read_body())
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        with fake.LOCK:
            sub = SUBSCRIPTIONS.get(q.get("subscription", ""))
            if not sub:
                return self.reply(404, missing("subscription", q.get("subscription")))
            if path == "/_fake/billing/advance":
                span = sub["current_period_end"] - sub["current_period_start"]
                sub["current_period_start"] = sub["current_period_end"]
                sub["current_period_end"] += span
                if sub["cancel_at_period_end"]:
                    sub["status"] = "canceled"
                    sub["ended_at"] = sub["current_period_start"]
                return self.reply(200, sub)
            if path == "/_fake/billing/set":
                sub["status"] = q.get("status", sub["status"])
                return self.reply(200, sub)
            if path != "/_fake/billing/event":
                return self.reply(404, fake.stripe_error(None, "Unknown control " + path))
            etype = q.get("type", "")
            if etype.startswith("invoice."):
                obj = invoice_of(sub, etype == "invoice.paid")
            else:
                obj = copy.deepcopy(sub)
            created = int(q["created"]) if q.get("created", "").isdigit() else None
            event = fake.make_event(etype, obj, None, None, created)
        self.send_event(event, q)

    def do_DELETE(self):
        url, _ = self.record(b"")
        m = re.fullmatch(r"/v1/subscriptions/([A-Za-z0-9_]+)", url.path)
        if not m:
            return self.reply(404, fake.stripe_error(
                None, "Unrecognized request URL (DELETE: %s)" % url.path))
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            return self.reply(401, fake.stripe_error(None, "You did not provide an API key."))
        with fake.LOCK:
            fail = fake.FAILURES.get(url.path)
            if fail and fail["count"] > 0:
                fail["count"] -= 1
            else:
                fail = None
        if fail:
            if fail["delay"]:
                time.sleep(fail["delay"])
            etype = "card_error" if fail["status"] == 402 else (
                "api_error" if fail["status"] >= 500 else "invalid_request_error")
            return self.reply(fail["status"], fake.stripe_error(None, "Injected failure", etype))
        with fake.LOCK:
            sub = SUBSCRIPTIONS.get(m.group(1))
            if not sub:
                return self.reply(404, missing("subscription", m.group(1)))
            if sub["status"] != "canceled":
                now = int(time.time())
                sub["status"] = "canceled"
                sub["canceled_at"] = now
                sub["ended_at"] = now
            self.reply(200, sub)

    handler.complete = complete
    handler.do_POST = do_POST
    handler.do_DELETE = do_DELETE
