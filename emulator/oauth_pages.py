"""HTML of the emulated Google consent and error pages (plain forms a script can fill)."""

from __future__ import annotations

from html import escape

from . import scopes as sc
from .state import OAuthClient, PendingConsent, User

BASIC = frozenset({sc.OPENID, sc.EMAIL, sc.PROFILE})

_STYLE = """body{font-family:sans-serif;max-width:40em;margin:2em auto;color:#202124}
li{margin:.4em 0;list-style:none}code{font-size:.8em;color:#5f6368}"""


def consent_page(pending: PendingConsent, client: OAuthClient, users: list[User],
                 already: list[str]) -> str:
    email = pending.login_hint or (users[0].email if users else "")
    accounts = "".join(
        f'<option value="{escape(u.email)}"{" selected" if u.email == email else ""}>'
        f"{escape(u.name)} &lt;{escape(u.email)}&gt;</option>" for u in users
    )
    items = []
    for scope in pending.scopes:
        desc = escape(sc.DESCRIPTIONS.get(scope, scope))
        if scope in BASIC:
            items.append(
                f'<li><input type="hidden" name="scope" value="{escape(scope)}">'
                f"{desc} <code>{escape(scope)}</code></li>"
            )
            continue
        note = " (already granted)" if scope in already else ""
        items.append(
            f'<li><label><input type="checkbox" name="scope" value="{escape(scope)}" checked> '
            f"{desc}{note} <code>{escape(scope)}</code></label></li>"
        )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in - Google Accounts (emulated)</title>
<style>{_STYLE}</style></head>
<body>
<h1>{escape(client.name)} wants access to your Google Account</h1>
<form method="post" action="/o/oauth2/approve" id="consent">
<input type="hidden" name="txn" value="{escape(pending.txn)}">
<p><label>Account <input type="email" name="email" value="{escape(email)}"></label>
<select name="account" onchange="this.form.email.value=this.value">{accounts}</select></p>
<p>Select what {escape(client.name)} can access:</p>
<ul>{"".join(items)}</ul>
<button type="submit" name="action" value="approve" id="approve">Continue</button>
<button type="submit" name="action" value="deny" id="deny">Cancel</button>
</form>
</body></html>"""


def error_page(code: int, error: str, detail: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Error {code} ({escape(error)})</title>
<style>{_STYLE}</style></head>
<body><h1>Access blocked: this app's request is invalid</h1>
<p id="error">Error {code}: {escape(error)}</p><p id="detail">{escape(detail)}</p></body></html>"""
