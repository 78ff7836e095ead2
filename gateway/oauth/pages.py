"""The pages a person sees: the gateway's own consent page (before Google's), the result page
when no CRM return URL was given, and the error page of a link that cannot be used.
Plain server-rendered HTML, no script, readable on a phone.

Every response carries `Referrer-Policy: no-referrer` (the page URL holds the single-use link
secret, which must not leak to the privacy-policy site or to Google), a CSP that allows nothing
but the inline style, `frame-ancestors 'none'` against clickjacking, and `no-store`.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from fastapi.responses import HTMLResponse

from gateway.mailboxes.scopes import FEATURES, Feature

if TYPE_CHECKING:
    from gateway.oauth.result import ResultPageData

LIMITED_USE_DISCLOSURE = (
    "use of information received from Google APIs will adhere to the Google API Services User "
    "Data Policy, including the Limited Use requirements")
USER_DATA_POLICY_URL = "https://developers.google.com/terms/api-services-user-data-policy"

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}

_STYLE = """
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
margin:0;padding:1rem;background:#f6f8fa}
main{max-width:36rem;margin:0 auto;background:#fff;border:1px solid #d0d7de;border-radius:12px;
padding:1.25rem 1.25rem 1.5rem}
h1{font-size:1.35rem;line-height:1.3;margin:.2rem 0 1rem}
h2{font-size:1.05rem;margin:1.4rem 0 .4rem}
ul{padding-left:1.1rem;margin:.4rem 0}li{margin:.45rem 0}
.why{color:#57606a}.small{font-size:.9rem;color:#57606a}
.disclosure{background:#f6f8fa;border-left:4px solid #0969da;padding:.6rem .8rem;margin:1rem 0}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.4rem}
.button{display:inline-block;text-align:center;text-decoration:none;border-radius:8px;
padding:.8rem 1.2rem;font-weight:600;min-width:10rem;flex:1 1 10rem}
.primary{background:#0969da;color:#fff}.secondary{background:#fff;color:#1f2328;
border:1px solid #d0d7de}
a{color:#0969da}
"""


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body><main>{body}</main></body></html>"""


def _feature_items(features: list[Feature]) -> str:
    return "".join(f'<li data-feature="{f.value}"><strong>{escape(FEATURES[f].title)}</strong> '
                   f'<span class="why">{escape(FEATURES[f].why)}.</span></li>'
                   for f in features)


def consent_page(*, tenant_name: str, account_label: str, features: list[Feature],
                 google_url: str, cancel_url: str, expires_at: datetime,
                 privacy_policy_url: str | None) -> str:
    crm = escape(tenant_name or "your CRM")
    items = _feature_items(features)
    privacy = (f'<a href="{escape(privacy_policy_url)}" rel="noreferrer noopener">'
               "privacy policy</a>" if privacy_policy_url else "privacy policy")
    body = f"""
<h1>Connect your Gmail to {crm}</h1>
<p>You are connecting Gmail to the CRM account <strong>{escape(account_label)}</strong>.
Google will ask you to confirm on the next page; you can untick anything you do not want to
share, and the features that need it will stay off.</p>
<h2>What the CRM will be able to do</h2>
<ul id="features">{items}</ul>
<h2>How your email is handled</h2>
<ul>
<li>It is used only for the email features of the CRM that you use.</li>
<li>It is stored encrypted, never sold, never used for advertising, credit decisions or to train
AI models.</li>
<li>No person reads it unless you agree for specific messages, or it is needed for security or
to comply with the law.</li>
<li>You can disconnect at any time; your synced email is then deleted.</li>
</ul>
<p class="disclosure" id="limited-use">{crm}'s {escape(LIMITED_USE_DISCLOSURE)}. See the
<a href="{USER_DATA_POLICY_URL}" rel="noreferrer noopener">Google API Services User Data
Policy</a> and our {privacy}.</p>
<div class="actions">
<a class="button primary" id="continue" href="{escape(google_url)}" rel="noreferrer">Continue to
Google</a>
<a class="button secondary" id="cancel" href="{escape(cancel_url)}">Cancel</a>
</div>
<p class="small">This link works once and expires at {escape(expires_at.strftime("%H:%M UTC"))}.
</p>"""
    return _document(f"Connect Gmail to {tenant_name or 'your CRM'}", body)


def result_page(data: ResultPageData, reason_text: str) -> str:
    """The end of a consent that named no CRM page to return to."""
    crm = escape(data.tenant_name)
    if data.status == "connected":
        account = escape(data.account_email or "Your Gmail account")
        missing = ""
        if data.missing:
            again = (f'<div class="actions"><a class="button secondary" id="retry" '
                     f'href="{escape(data.retry_url)}">Connect again to add them</a></div>'
                     if data.retry_url else "")
            missing = f"""<h2>Not enabled</h2>
<p>These were not allowed on Google's page, so the CRM will not offer them:</p>
<ul id="missing">{_feature_items(data.missing)}</ul>{again}"""
        body = f"""<h1 id="status" data-status="connected">Gmail connected to {crm}</h1>
<p><strong id="account">{account}</strong> is connected. The gateway is now copying your email
into its encrypted store; the CRM shows it as it arrives.</p>
<h2>What the CRM can do</h2>
<ul id="granted">{_feature_items(data.granted)}</ul>
{missing}
<p class="small">You can close this page. You can disconnect at any time from the CRM; your synced
email is then deleted.</p>"""
        return _document(f"Gmail connected to {data.tenant_name}", body)
    expiry = (f" The retry link works once and expires at "
              f"{escape(data.retry_expires_at.strftime('%H:%M UTC'))}."
              if data.retry_expires_at else "")
    retry = (f'<div class="actions"><a class="button primary" id="retry" '
             f'href="{escape(data.retry_url)}">Try again</a></div>' if data.retry_url else
             '<p>Go back to the CRM to start connecting Gmail again.</p>')
    body = f"""<h1 id="status" data-status="{escape(data.status)}">Gmail was not connected</h1>
<p id="detail">{escape(reason_text)}</p>
<p>This attempt stored nothing and gave {crm} no new access to your email.</p>
{retry}
<p class="small">Reason code: <code id="code">{escape(data.reason or "error")}</code>.{expiry}
</p>"""
    return _document("Gmail was not connected", body)


def error_page(title: str, detail: str, code: str) -> str:
    body = f"""<h1>{escape(title)}</h1>
<p id="detail">{escape(detail)}</p>
<p class="small">Error code: <code id="code">{escape(code)}</code>. Go back to the CRM and start
connecting Gmail again.</p>"""
    return _document(title, body)


def html_response(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code, headers=dict(PAGE_HEADERS))
