"""Server-rendered console pages: small string templates, every value through ``html.escape``.

No inline script or style anywhere (the app's CSP forbids them); behaviour comes from
``/console/static/console.js`` and reads its inputs from ``data-`` attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

from caseline.store.base import TranscriptEntry
from casework.config import CaseworkConfig
from casework.desk import OUTCOMES
from casework.model import Case, User


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _time(value: datetime | None) -> str:
    return (
        ""
        if value is None
        else f'<time datetime="{e(value.isoformat())}">{e(f"{value:%Y-%m-%d %H:%M}")}</time>'
    )


def layout(title: str, body: str, user: User | None = None, csrf: str = "", page: str = "") -> str:
    nav = ""
    if user is not None:
        links = [("/console/queue", "Queue")]
        if user.role == "supervisor":
            links.append(("/console/dashboard", "Dashboard"))
        if user.role in ("probation_officer", "supervisor"):  # probation check-ins (casework/probation)
            links.append(("/console/probation", "Check-ins"))
        links.append(("/console/account", "Account"))
        items = "".join(f'<li><a href="{h}">{t}</a></li>' for h, t in links)
        nav = (
            f'<nav aria-label="Console"><ul>{items}</ul><form method="post" action="/console/logout">'
            f'<input type="hidden" name="csrf" value="{e(csrf)}">'
            f"<span>{e(user.username)} ({e(user.role)})</span> "
            '<button type="submit">Log out</button></form></nav>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="csrf-token" content="{e(csrf)}"><title>{e(title)} · Caseline console</title>'
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script></head>'
        f'<body data-page="{e(page)}"><header><p class="brand">Caseline console</p>{nav}</header>'
        f'<main id="main"><h1>{e(title)}</h1>{body}</main></body></html>'
    )


def login_page(error: str = "") -> str:
    alert = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    return layout(
        "Log in",
        alert
        + (
            '<form method="post" action="/console/login" class="stack">'
            '<label for="username">Username</label>'
            '<input id="username" name="username" autocomplete="username" required autofocus>'
            '<label for="password">Password</label>'
            '<input id="password" name="password" type="password" autocomplete="current-password" required>'
            '<button type="submit">Log in</button></form>'
        ),
    )


def _ticket_form(ticket: str, label: str) -> str:
    return (
        '<form method="post" action="/console/login/totp" class="stack">'
        f'<input type="hidden" name="ticket" value="{e(ticket)}">'
        '<label for="totp">Code from your authenticator app</label>'
        '<input id="totp" name="totp" inputmode="numeric" pattern="[0-9 ]{6,7}" maxlength="7"'
        ' autocomplete="one-time-code" required autofocus>'
        f'<button type="submit">{e(label)}</button></form>'
    )


def totp_page(ticket: str, error: str = "") -> str:
    """The second login step: the password was right, now the one-time code."""
    alert = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    return layout("Two-step login", alert + _ticket_form(ticket, "Log in"))


def _secret_block(secret: str, uri: str) -> str:
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return (
        "<p>Add this account to an authenticator app (for example one that scans or accepts an"
        " <code>otpauth</code> link). This secret is shown only now.</p>"
        f'<dl class="facts"><dt>Secret</dt><dd><code>{e(grouped)}</code></dd>'
        f'<dt>Link</dt><dd><a href="{e(uri)}">{e(uri)}</a></dd></dl>'
    )


def enrol_page(ticket: str, secret: str, uri: str, error: str = "") -> str:
    """Enrolment during login, for roles that must have a second factor."""
    alert = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    return layout(
        "Set up two-step login",
        alert
        + "<p>Your role needs a code from an authenticator app as well as your password.</p>"
        + _secret_block(secret, uri)
        + _ticket_form(ticket, "Confirm and log in"),
    )


def account_page(user: User, csrf: str, enrolled: bool, secret: str = "", uri: str = "") -> str:
    if secret:
        body = _secret_block(secret, uri) + (
            "<p>Your next login will ask for a code from the app; the first code confirms the set-up.</p>"
        )
    elif enrolled:
        body = "<p>Two-step login is on. If you lose the device, ask an admin to reset it.</p>"
    else:
        body = (
            "<p>Two-step login is off. Turn it on so a stolen password alone cannot open the console.</p>"
            '<form method="post" action="/console/account/totp" class="stack">'
            f'{_hidden(csrf)}<button type="submit">Set up two-step login</button></form>'
        )
    return layout("Your account", body, user, csrf, "account")


def error_page(status: int, reason: str, user: User | None = None, csrf: str = "") -> str:
    return layout(
        f"Error {status}",
        f'<p class="error" role="alert">{e(reason)}</p><p><a href="/console/queue">Back to the queue</a></p>',
        user,
        csrf,
    )


def queue_rows(cases: Iterable[Case]) -> str:
    rows = []
    for c in cases:
        rows.append(
            f'<tr class="sev-{e(c.severity)}" data-case="{e(c.id)}">'
            f'<td><span class="badge sev-{e(c.severity)}">{e(c.severity)}</span></td>'
            f'<td><a href="/console/cases/{e(c.id)}">{e(c.id)}</a></td><td>{e(c.status)}</td>'
            f"<td>{e(c.assignee or '')}</td><td>{e(c.channel)}</td><td>{_time(c.opened_at)}</td>"
            f'<td class="sla" data-due="{e(c.sla_due.isoformat() if c.sla_due else "")}"'
            f' data-done="{e("1" if c.first_response_at else "")}">{_time(c.sla_due)}</td></tr>'
        )
    return "".join(rows) or '<tr><td colspan="7">No open cases.</td></tr>'


def queue_page(user: User, csrf: str, cases: Sequence[Case]) -> str:
    body = (
        '<form method="post" action="/console/queue/claim"><input type="hidden" name="csrf" '
        f'value="{e(csrf)}"><button type="submit">Claim next case</button></form>'
        '<p id="live-status" role="status" aria-live="polite"></p>'
        '<table id="queue"><caption>Open cases of your teams, most urgent first</caption><thead><tr>'
        '<th scope="col">Severity</th><th scope="col">Case</th><th scope="col">Status</th>'
        '<th scope="col">Worker</th><th scope="col">Channel</th><th scope="col">Opened</th>'
        f'<th scope="col">First reply due</th></tr></thead><tbody>{queue_rows(cases)}</tbody></table>'
    )
    return layout("Queue", body, user, csrf, "queue")


def _transcript(entries: Sequence[TranscriptEntry], opened_at: datetime) -> str:
    items, marked = [], False
    for t in entries:
        if not marked and t.at >= opened_at:
            items.append('<li class="marker">Case opened</li>')
            marked = True
        who = "Child" if t.author == "contact" else t.author
        items.append(
            f'<li class="{e(t.direction)}"><span class="who">{e(who)}</span> {_time(t.at)}'
            f"<p>{e(t.text)}</p></li>"
        )
    return f'<ol id="transcript" aria-label="Transcript">{"".join(items)}</ol>'


def _hidden(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(csrf)}">'


def _form(case: Case, action: str, csrf: str, inner: str, label: str) -> str:
    return (
        f'<form method="post" action="/console/cases/{e(case.id)}/{action}" class="stack">'
        f'{_hidden(csrf)}{inner}<button type="submit">{e(label)}</button></form>'
    )


def _options(values: Iterable[tuple[str, str]]) -> str:
    return "".join(f'<option value="{e(v)}">{e(t)}</option>' for v, t in values)


def case_page(
    user: User, csrf: str, case: Case, transcript: Sequence[TranscriptEntry], config: CaseworkConfig
) -> str:
    canned = config.canned_for(case.lang)
    mine = case.assignee == user.username and case.status in ("claimed", "awaiting_user")
    facts = "".join(
        f"<dt>{e(k)}</dt><dd>{v}</dd>"
        for k, v in [
            ("Severity", f'<span class="badge sev-{e(case.severity)}">{e(case.severity)}</span>'),
            ("Status", e(case.status)),
            ("Worker", e(case.assignee or "—")),
            ("Team", e(case.team)),
            ("Channel", e(case.channel)),
            ("Language", e(case.lang)),
            ("Categories", e(", ".join(case.categories) or "—")),
            ("Opened", _time(case.opened_at)),
            ("First reply due", _time(case.sla_due)),
            ("First reply", _time(case.first_response_at)),
            ("Outcome", e(case.outcome or "—")),
        ]
    )
    parts = [
        f'<dl class="facts">{facts}</dl>',
        "<h2>Conversation</h2>",
        _transcript(transcript, case.opened_at),
    ]
    if case.status == "waiting":
        parts.append(_form(case, "claim", csrf, "", "Claim this case"))
    if mine:
        parts.append(
            "<h2>Reply</h2>"
            + _form(
                case,
                "reply",
                csrf,
                (
                    '<label for="canned">Canned reply</label><select id="canned" name="canned">'
                    '<option value="">(write your own)</option>'
                    f"{_options((c.text, c.title) for c in canned)}</select>"
                    '<label for="reply-text">Message to the child</label>'
                    '<textarea id="reply-text" name="text" rows="4" maxlength="4096"></textarea>'
                ),
                "Send reply",
            )
        )
    if case.is_open:
        parts.append(
            "<h2>Notes</h2>"
            + _form(
                case,
                "note",
                csrf,
                (
                    '<label for="note-text">Internal note (never sent)</label>'
                    '<textarea id="note-text" name="text" rows="3" required maxlength="4000"></textarea>'
                ),
                "Add note",
            )
        )
        parts.append(
            "<h2>Referral</h2>"
            + _form(
                case,
                "refer",
                csrf,
                (
                    '<label for="service">Service</label><select id="service" name="service">'
                    f"{_options((r.id, f'{r.name} ({r.contact})') for r in config.referrals)}</select>"
                    '<label for="ref-note">Details</label><input id="ref-note" name="note" maxlength="4000">'
                ),
                "Refer",
            )
        )
        parts.append(
            "<h2>Transfer</h2>"
            + _form(
                case,
                "transfer",
                csrf,
                (
                    '<label for="to-user">To a colleague (username)</label>'
                    '<input id="to-user" name="to_user">'
                    '<label for="to-team">Or to a team</label><select id="to-team" name="to_team">'
                    f'<option value="">—</option>{_options((t, t) for t in config.teams)}</select>'
                ),
                "Transfer",
            )
        )
        parts.append(
            "<h2>Resolve</h2>"
            + _form(
                case,
                "resolve",
                csrf,
                (
                    '<label for="outcome">Outcome</label><select id="outcome" name="outcome">'
                    f"{_options((o, o.replace('_', ' ')) for o in OUTCOMES)}</select>"
                ),
                "Resolve and hand back to the bot",
            )
        )
    notes = "".join(
        f"<li>{_time(n.at)} <b>{e(n.author)}</b> {e(n.kind)}: {e(n.text)}</li>"
        for n in (*case.notes, *case.referrals)
    )
    if notes:
        parts.append(f"<h2>Notes and referrals</h2><ul>{notes}</ul>")
    return layout(f"Case {case.id}", "".join(parts), user, csrf, "case")
