# SPDX-License-Identifier: MIT
"""The outbound world of a test: a private unbound serving the test
domains, remote MXs (FakeMX / SmtpSink) on 127.0.0.x at one common port,
despatch's config pointed at them (outbound, queue, submission sections,
the submission listeners), the test clock file, and helpers: submission
through smtplib (STARTTLS + AUTH), `despatch queue ...`, waiting for the
queue to drain, reading reports from a local INBOX.

Every wait here has a deadline; every process started here is stopped in
the fixture's teardown.
"""
import email
import email.policy
import re
import smtplib
import ssl
import time
import types

import pytest

from conftest import DOMAIN, HOST, PASSWORD, wait_port
from dns_server import DnsServer
from fake_mx import FakeMX, SmtpSink, common_free_port

MX_IPS = [f"127.0.0.{i}" for i in range(2, 12)]

DEFAULT_QUEUE = {"retry_min_seconds": 1, "retry_max_seconds": 2}
DEFAULT_OUTBOUND = {"connect_timeout_seconds": 5, "timeout_seconds": 30}


def addr(local):
    return local if "@" in local else f"{local}@{DOMAIN}"


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_for(cond, timeout, what, interval=0.1):
    """Polls cond() (bounded by timeout); returns its truthy value or fails
    the test naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- config editing ---------------------------------------------------------
def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):  # a list of groups (routes)
        return "(" + ", ".join(
            "{ " + " ".join(f"{k} = {_value(x)};" for k, x in g.items())
            + " }" for g in v) + ")"
    raise TypeError(v)


def _strip_comment(line):
    out, q = [], False
    for ch in line:
        if ch == '"':
            q = not q
        if ch == "#" and not q:
            break
        out.append(ch)
    return "".join(out)


def remove_top_group(text, name):
    """text without the top-level `name = { ... };` setting (if any)."""
    lines = text.split("\n")
    for i, ln in enumerate(lines):
        if re.match(rf"^\s*{name}\s*[=:]\s*\{{", _strip_comment(ln)):
            depth, j = 0, i
            while j < len(lines):
                s = _strip_comment(lines[j])
                depth += s.count("{") - s.count("}")
                if depth <= 0 and "}" in s:
                    break
                j += 1
            return "\n".join(lines[:i] + lines[j + 1:])
    return text


def set_group(text, name, settings):
    text = remove_top_group(text, name)
    body = "\n".join(f"  {k} = {_value(v)};" for k, v in settings.items())
    return text.rstrip("\n") + f"\n\n{name} = {{\n{body}\n}};\n"


def ensure_listener(text, kind, port):
    """Adds `{ kind = "<kind>"; address = HOST; port = <port>; }` to the
    listeners list unless a listener of that kind is there."""
    if re.search(rf'kind\s*=\s*"{kind}"', text):
        return text
    m = re.search(r"listeners\s*=\s*\(", text)
    assert m, "config has no listeners list:\n" + text
    entry = f'\n  {{ kind = "{kind}"; address = "{HOST}"; port = {port}; }},'
    return text[:m.end()] + entry + text[m.end():]


def set_submission_ports(d):
    p = d.config_path()
    text = p.read_text()
    text = ensure_listener(text, "submission", 587 + d.offset)
    text = ensure_listener(text, "submissions", 465 + d.offset)
    p.write_text(text)


def configure(d, queue=None, outbound=None, submission=None):
    """Writes the queue / outbound / submission groups (each a dict, merged
    over the test defaults for queue and outbound) and the submission
    listeners into d's config file."""
    set_submission_ports(d)
    p = d.config_path()
    text = p.read_text()
    if queue is not None:
        text = set_group(text, "queue", queue)
    if outbound is not None:
        text = set_group(text, "outbound", outbound)
    if submission is not None:
        text = set_group(text, "submission", submission)
    p.write_text(text)


def with_env(d, extra):
    """Makes d's CLI and serve runs carry extra environment variables
    (the test clock file) without changing conftest's Despatch."""
    orig = type(d).env

    def env(self):
        e = orig(self)
        e.update(extra)
        return e
    d.env = types.MethodType(env, d)


# --- submission ---------------------------------------------------------------
def sub_port(d):
    return 587 + d.offset


def subs_port(d):
    return 465 + d.offset


def wait_submission(d, timeout=20):
    for p in (sub_port(d), subs_port(d)):
        if not wait_port(p, timeout, d.proc):
            pytest.fail(f"despatch serve does not accept submission on "
                        f"{HOST}:{p} within {timeout}s:\n"
                        + d.stderr_text()[-3000:])


def submission(d, user="alice", implicit=False, login=True, timeout=30):
    """An smtplib session on 587 (STARTTLS) or 465 (implicit TLS), logged
    in with AUTH PLAIN as user when login."""
    if implicit:
        c = smtplib.SMTP_SSL(HOST, subs_port(d), context=tls_ctx(),
                             local_hostname="client.example.org",
                             timeout=timeout)
        c.ehlo()
    else:
        c = smtplib.SMTP(HOST, sub_port(d), local_hostname="client.example.org",
                         timeout=timeout)
        c.ehlo()
        c.starttls(context=tls_ctx())
        c.ehlo()
    if login:
        c.user, c.password = addr(user), PASSWORD
        code, resp = c.auth("PLAIN", c.auth_plain)
        assert code == 235, (code, resp)
    return c


def submit(d, sender, rcpts, msg, mail_options=(), rcpt_options=(),
           user=None):
    """Sends msg through submission as user (default: sender's local
    part); returns smtplib's refused dict."""
    user = user or sender
    with submission(d, user) as c:
        return c.sendmail(addr(sender), [addr(r) for r in rcpts], msg,
                          mail_options=list(mail_options),
                          rcpt_options=list(rcpt_options))


def message(subject, to, sender="alice", body="Hello.\r\n", extra=()):
    import uuid
    tok = uuid.uuid4().hex
    hdrs = [f"From: <{addr(sender)}>", f"To: <{addr(to)}>",
            f"Subject: {subject}", f"Message-ID: <{tok}@example.test>",
            "Date: Thu, 01 Jan 2026 00:00:00 +0000", *extra]
    if isinstance(body, str):
        body = body.encode()
    return ("\r\n".join(hdrs) + "\r\n\r\n").encode() + body


# --- the queue CLI --------------------------------------------------------------
def queue_list(d):
    """`despatch queue list` as (stdout text, [(id, line)]) where a row is
    a line whose first integer token is the id and which names an
    address."""
    out = d.cli("queue", "list").stdout.decode("utf-8", "replace")
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*(?:id[=:\s]+)?(\d+)\b", line, re.I)
        if m and "@" in line:
            rows.append((int(m.group(1)), line))
    return out, rows


def queue_rows_for(d, rcpt):
    _, rows = queue_list(d)
    return [r for r in rows if addr(rcpt).lower() in r[1].lower()]


def wait_queue_empty(d, timeout=60):
    last = [""]

    def empty():
        out, rows = queue_list(d)
        last[0] = out
        return not rows

    deadline = time.monotonic() + timeout
    while True:
        if empty():
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"queue not empty after {timeout}s:\n{last[0]}\n"
                        f"serve log tail:\n{d.stderr_text()[-3000:]}")
        if d.proc is not None and d.proc.poll() is not None:
            pytest.fail("despatch serve exited while waiting for the queue:"
                        f"\n{d.stderr_text()[-3000:]}")
        time.sleep(0.3)


# --- reading reports from an INBOX ----------------------------------------------
def inbox(d, user):
    """[(uid, email.message.Message)] of user's INBOX."""
    out = []
    for uid in d.uids(user):
        raw = d.cat(user, uid)
        out.append((uid, email.message_from_bytes(raw)))
    return out


def is_report(m):
    return (m.get_content_type() == "multipart/report"
            and m.get_param("report-type") in ("delivery-status",
                                               "global-delivery-status"))


def reports(d, user):
    return [(u, m) for u, m in inbox(d, user) if is_report(m)]


STATUS_TYPES = ("message/delivery-status",
                "message/global-delivery-status")  # RFC 3464, RFC 6533


def status_blocks(part):
    """The field blocks of a (global-)delivery-status part as Message
    objects. Python's parser splits message/delivery-status itself; the
    RFC 6533 type (UTF-8 fields) arrives as text and is split here."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status":
        return payload
    if isinstance(payload, list):  # parsed as one message/* body
        text = "".join(x.as_string() for x in payload)
    else:
        raw = part.get_payload(decode=True) or b""
        text = raw.decode("utf-8", "replace")
    text = text.replace("\r\n", "\n")
    return [email.message_from_string(b.strip("\n") + "\n")
            for b in re.split(r"\n[ \t]*\n", text) if b.strip()]


def report_parts(m):
    """(human text part, per-message fields, [per-recipient fields],
    third part) of a multipart/report; fields are email.message.Message
    objects (header-like access)."""
    parts = m.get_payload()
    assert isinstance(parts, list) and len(parts) >= 2, m.as_string()[:2000]
    ds = [p for p in parts if p.get_content_type() in STATUS_TYPES]
    assert len(ds) == 1, [p.get_content_type() for p in parts]
    blocks = status_blocks(ds[0])
    assert isinstance(blocks, list) and len(blocks) >= 2, blocks
    third = parts[2] if len(parts) > 2 else None
    return parts[0], blocks[0], blocks[1:], third


def actions(m):
    _, _, per_rcpt, _ = report_parts(m)
    return [(b.get("Action", "").strip().lower(),
             b.get("Final-Recipient", "").strip(),
             b.get("Status", "").strip()) for b in per_rcpt]


def wait_reports(d, user, n, timeout=60, action=None):
    def got():
        rs = reports(d, user)
        if action is not None:
            rs = [(u, m) for u, m in rs
                  if any(a == action for a, _, _ in actions(m))]
        return rs if len(rs) >= n else None
    return wait_for(got, timeout, f"{n} report(s) ({action or 'any'}) in "
                    f"{user}'s INBOX", interval=0.3)


# --- the environment fixture ------------------------------------------------------
class Outbound:
    """DNS + remote MXs + a configured despatch. Use: add domains and MXs,
    then start(); stop() is the fixture's teardown."""

    def __init__(self, despatch, tmp_path):
        self.d = despatch
        self.tmp = tmp_path
        self.dns = DnsServer(tmp_path / "dns")
        self.port = common_free_port(MX_IPS)
        self.servers = {}  # ip -> FakeMX | SmtpSink
        self.clock_file = tmp_path / "clock"
        self.clock_file.write_text("0\n")
        with_env(despatch, {"DESPATCH_TEST_CLOCK_FILE": str(self.clock_file)})

    # the remote side
    def fake_mx(self, ip, behaviour=None, **kw):
        kw.setdefault("tls_dir", self.tmp / "mx-tls")
        mx = FakeMX(ip, self.port, behaviour, **kw).start()
        self.servers[ip] = mx
        return mx

    def sink(self, ip, extra=()):
        s = SmtpSink(ip, self.port, self.tmp / f"sink-{ip}" / "d", extra)
        s.start()
        self.servers[ip] = s
        return s

    def domain(self, dom, ips):
        """dom's MX records: mx1.dom -> ips[0] (pref 10), mx2.dom ->
        ips[1] (pref 20) ..."""
        self.dns.add_mx_domain(dom, [(10 * (i + 1), f"mx{i + 1}.{dom}", ip)
                                     for i, ip in enumerate(ips)])

    # despatch
    def start(self, queue=None, outbound=None, submission=None):
        self.dns.start()
        q = dict(DEFAULT_QUEUE)
        q.update(queue or {})
        o = dict(DEFAULT_OUTBOUND)
        o.update({"resolver": self.dns.resolver(), "port": self.port})
        o.update(outbound or {})
        configure(self.d, queue=q, outbound=o, submission=submission)
        self.d.start()
        wait_submission(self.d)
        return self

    def advance_clock(self, seconds):
        """Moves despatch's clock (lib/clock.h) by seconds more."""
        cur = int(self.clock_file.read_text().strip() or 0)
        self.clock_file.write_text(f"{cur + int(seconds)}\n")

    def stop(self):
        for s in self.servers.values():
            s.stop()
        self.dns.stop()


@pytest.fixture
def outbound(despatch, tmp_path):
    ob = Outbound(despatch, tmp_path)
    try:
        yield ob
    finally:
        # Stop despatch first so that it does not log a storm of connection
        # failures to the MXs going away; the despatch fixture's own
        # teardown then finds nothing running and checks the problems.
        if despatch.proc is not None:
            despatch.stop()
        ob.stop()
        # Every outbound test ends with a consistent store (queue rows,
        # messages kept by them, reports): `store verify` must pass.
        if not despatch.problems:
            r = despatch.verify()
            if r.returncode != 0:
                despatch.problems.append(
                    "store verify after the test exited "
                    f"{r.returncode}:\n"
                    + r.stdout.decode("utf-8", "replace")[-3000:]
                    + r.stderr.decode("utf-8", "replace")[-3000:])
