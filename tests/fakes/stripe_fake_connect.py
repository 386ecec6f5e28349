"""stripe_fake_connect.py — Stripe Connect and the hosted Checkout page, for
stripe_fake.py (loaded by its register()).

  POST /v1/accounts             an Express connected account (type, country,
                                email, capabilities[...][requested], metadata)
  GET  /v1/accounts/<id>        the account (Stripe-Account-less platform call)
  POST /v1/account_links        an onboarding link: account, type
                                account_onboarding, refresh_url, return_url
  GET  /connect/onboard/<acct>  the "onboarding" page the link points to; with
                                ?action=complete the account gets charges and
                                payouts enabled, account.updated is delivered
                                (Connect event: top-level "account") and the
                                browser is sent to return_url
  GET  /pay/<session id>        the hosted Checkout page: amount, a Pay button;
                                with ?action=pay the session is paid, its
                                checkout.session.completed is delivered signed
                                (with "account" when the session was made on a
                                connected account) and the browser is sent on to
                                success_url
  GET  /_fake/account?id=acct_..&charges_enabled=true&...
                                sets an account's flags (tests)

Events from the pages go to STRIPE_FAKE_WEBHOOK_URL signed with
STRIPE_FAKE_WEBHOOK_SECRET (environment, read at start); without them the
page only changes the stand-in's state. Shapes follow Stripe's API reference
(Account, AccountLink, Checkout Session); only the fields studiod reads or a
reader would expect are filled.
"""
import html
import json
import os
import time
import urllib.parse

ACCOUNTS = {}
FAKE = None


def _account_error(param, message):
    return FAKE.stripe_error(param, message)


def create_account(form, match, headers):
    if form.get("type") not in ("express", "standard", "custom"):
        return 400, _account_error("type", "Invalid type: must be one of express, standard, "
                                   "custom")
    country = form.get("country")
    if country is not None and (len(country) != 2 or not country.isalpha()):
        return 400, _account_error("country", "Invalid country")
    caps = {}
    for k, v in form.items():
        if k.startswith("capabilities[") and k.endswith("][requested]"):
            if v not in ("true", "false"):
                return 400, _account_error(k, "Invalid boolean: " + v)
            if v == "true":
                caps[k[len("capabilities["):-len("][requested]")]] = "inactive"
    acct = {
        "id": "acct_" + os.urandom(8).hex(), "object": "account", "type": form["type"],
        "country": (country or "US").upper(), "email": form.get("email"),
        "default_currency": form.get("default_currency"),
        "business_profile": {"name": form.get("business_profile[name]"),
                             "url": form.get("business_profile[url]")},
        "capabilities": caps, "charges_enabled": False, "payouts_enabled": False,
        "details_submitted": False, "created": int(time.time()),
        "metadata": {k[len("metadata["):-1]: v for k, v in form.items()
                     if k.startswith("metadata[") and k.endswith("]")},
        "requirements": {"currently_due": ["external_account", "tos_acceptance.date"],
                         "disabled_reason": "requirements.past_due"},
    }
    ACCOUNTS[acct["id"]] = acct
    return 200, acct


def get_account(query, match, headers):
    acct = ACCOUNTS.get(match.group(1))
    if not acct:
        return 404, _account_error("account", "No such account: '%s'" % match.group(1))
    return 200, acct


def create_account_link(form, match, headers):
    acct = ACCOUNTS.get(form.get("account", ""))
    if not acct:
        return 400, _account_error("account", "No such account: '%s'" % form.get("account"))
    if form.get("type") not in ("account_onboarding", "account_update"):
        return 400, _account_error("type", "Invalid type")
    for k in ("refresh_url", "return_url"):
        if not form.get(k):
            return 400, _account_error(k, "Missing required param: " + k)
    now = int(time.time())
    acct["_return_url"] = form["return_url"]
    return 200, {"object": "account_link", "created": now, "expires_at": now + 300,
                 "url": "http://127.0.0.1:%d/connect/onboard/%s" % (FAKE.PORT, acct["id"])}


def _webhook():
    return os.environ.get("STRIPE_FAKE_WEBHOOK_URL"), os.environ.get("STRIPE_FAKE_WEBHOOK_SECRET")


def _deliver_unlocked(event):
    """Delivers event to the configured target. Runs inside a GET handler, which holds
    FAKE.LOCK: the lock is let go meanwhile, since studiod may call back (a refund)."""
    target, secret = _webhook()
    if not target or not secret:
        return None
    FAKE.LOCK.release()
    try:
        return FAKE.deliver_event(event, target, secret)
    finally:
        FAKE.LOCK.acquire()


def _page(title, body):
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<link rel=\"icon\" href=\"data:,\"><title>%s</title></head>"
            "<body><main>%s</main></body></html>"
            % (html.escape(title), body))


def _go(url, text):
    u = html.escape(url, quote=True)
    return _page(text, "<p>%s</p><p><a id=\"continue\" href=\"%s\">Continue</a></p>"
                 "<script>location.replace(%s)</script>"
                 % (html.escape(text), u, json.dumps(url)))


def onboard_page(query, match, headers):
    acct = ACCOUNTS.get(match.group(1))
    if not acct:
        return 404, _page("Not found", "<p>No such account</p>")
    if query.get("action") != "complete":
        return 200, _page("Stripe onboarding (stand-in)",
                          "<h1>Set up payouts</h1><form method=\"get\">"
                          "<input type=\"hidden\" name=\"action\" value=\"complete\">"
                          "<button type=\"submit\">Complete onboarding</button></form>")
    acct.update(charges_enabled=True, payouts_enabled=True, details_submitted=True,
                requirements={"currently_due": [], "disabled_reason": None})
    acct["capabilities"] = {k: "active" for k in acct["capabilities"]}
    event = FAKE.make_event("account.updated", dict(acct), account=acct["id"])
    _deliver_unlocked(event)
    return 200, _go(acct.get("_return_url") or "/", "Onboarding complete")


def pay_page(query, match, headers):
    sid = match.group(1)
    s = FAKE.SESSIONS.get(sid)
    if not s:
        return 404, _page("Not found", "<p>No such Checkout Session</p>")
    amount = "%d %s" % (s["amount_total"], s["currency"].upper())
    if query.get("action") != "pay":
        if s["payment_status"] == "paid":
            return 200, _go(s["success_url"], "Paid already")
        return 200, _page("Checkout (stand-in)",
                          "<h1>Pay %s</h1><p id=\"amount\">%s</p>"
                          "<form method=\"get\"><input type=\"hidden\" name=\"action\" "
                          "value=\"pay\"><button type=\"submit\" id=\"pay\">Pay</button></form>"
                          "<p><a href=\"%s\">Cancel</a></p>"
                          % (html.escape(amount), html.escape(amount),
                             html.escape(s["cancel_url"], quote=True)))
    if s["payment_status"] != "paid":
        s["status"] = "complete"
        s["payment_status"] = "paid"
        event = FAKE.make_event("checkout.session.completed", dict(s),
                                account=FAKE.SESSION_ACCOUNT.get(sid))
        _deliver_unlocked(event)
    return 200, _go(s["success_url"], "Payment received")


def register(fake):
    global FAKE
    FAKE = fake
    fake.route("POST", r"/v1/accounts")(create_account)
    fake.route("GET", r"/v1/accounts/(acct_[A-Za-z0-9_]+)")(get_account)
    fake.route("POST", r"/v1/account_links")(create_account_link)
    fake.route("GET", r"/connect/onboard/(acct_[A-Za-z0-9_]+)")(onboard_page)
    fake.route("GET", r"/pay/(cs_[A-Za-z0-9_]+)")(pay_page)
    # Tests set an account's flags directly: GET /_fake/account?id=..&charges_enabled=true
    fake.route("GET", r"/_fake/account")(_set_flags)


def _set_flags(query, match, headers):
    acct = ACCOUNTS.get(query.get("id", ""))
    if not acct:
        return 404, _account_error("id", "No such account")
    for k in ("charges_enabled", "payouts_enabled", "details_submitted"):
        if k in query:
            acct[k] = query[k] == "true"
    return 200, acct
