"""The reviewer's review console (/console): search the operation log, open an entry, verify
the log, export it, and keep the security/legal justifications.

Each page is one guarded decision through `PageRouter` with the action, resource and service
of the API (docs/pages.md#the-review-console), so a reviewer's page views are logged exactly as
their API queries are:
- GET  /console                          audit.query (audit_review), the API's filters
- GET  /console/export                   audit.query (audit_review), JSON Lines or CSV
- GET  /console/entries/{id}             audit.query (audit_review), entry and chain position
- GET  /console/entries/{id}/verification  audit.verify (audit_review), its chain segment
- GET  /console/verify                   audit.verify (audit_review), the whole log or a window
- GET  /console/compliance/report?from=&to=  compliance.report (audit_review), the signed files
- GET  /console/justifications           justification.list (audit_review)
- GET  /console/justifications/new?mailbox_id=...  justification.list (audit_review)
- POST /console/mailboxes/{id}/justifications/{security|legal}  justification.record (its kind)
- POST /console/justifications/{id}/revoke/{security|legal}     justification.revoke (its kind)
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime
from typing import cast

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gateway.accounts.deps import Caller, SessionDep
from gateway.audit.models import AuditEntry
from gateway.audit.signing import load_trusted_keys
from gateway.audit_api import router as audit_api
from gateway.audit_api.router import tenant_log_resource
from gateway.compliance import router as compliance_api
from gateway.guard.routing import AccessDep, tenant_resource
from gateway.justifications import router as justifications_api
from gateway.justifications.service import Status
from gateway.kit.errors import ValidationFailed
from gateway.mailboxes.models import Mailbox
from gateway.mailboxes.resolvers import mailbox_resource
from gateway.pages.console import views
from gateway.pages.console.search import SearchForm, field_choices
from gateway.pages.forms import FormDep
from gateway.pages.kit import NAV, PageRouter, render
from gateway.pages.resolvers import mailbox_in_query
from gateway.policy.enforcement import Resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of

router = PageRouter(prefix="/console", tags=["console"])
NAV["console"] = [("Search", "/console"), ("Verify", "/console/verify"),
                  ("Justifications", "/console/justifications")]
REVIEW = "audit_review"
PAGE_SIZE = 50
KINDS = ("security", "legal")
STATUSES = ("active", "expired", "revoked")


def _tenant(request: Request) -> uuid.UUID:
    caller: Caller = request.state.caller
    return caller.tenant_id


def search(request: Request, access: AccessDep) -> Response:
    form = SearchForm.of(request.query_params)
    cursor = request.query_params.get("cursor") or None
    page = None
    status = 200
    try:
        query = form.build(_tenant(request))
        page = audit_api.entries_page(request, access, query, PAGE_SIZE, cursor)
    except ValidationFailed:
        status = 422
    return render(request, "console/search.html", {
        "form": form, "page": page, "choices": field_choices(), "cursor": cursor},
        status_code=status)


def export(request: Request, access: AccessDep) -> Response:
    form = SearchForm.of(request.query_params)
    fmt = request.query_params.get("format", "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise ValidationFailed("format must be jsonl or csv", extra={"errors": [
            {"location": ["query", "format"], "message": "jsonl or csv", "type": "enum"}]})
    query = form.build(_tenant(request))
    return audit_api.export_response(request, access, query, "csv" if fmt == "csv" else "jsonl",
                                     "audit-log")


def entry_resource(session: Session, caller: Caller, request: Request) -> Resource:
    """The tenant's log, as for the search; the entry must be the tenant's (404 otherwise,
    answered before the decision and logged as a refusal)."""
    request.state.entry = views.entry_in_tenant(session, caller.tenant_id,
                                                str(request.path_params["entry_id"]))
    return tenant_log_resource(session, caller, request)


def _entry_context(session: Session, entry: AuditEntry) -> dict[str, object]:
    return {"entry": views.entry_out(entry), "position": views.chain_position(session, entry)}


def entry_page(entry_id: str, request: Request, session: SessionDep,
               access: AccessDep) -> Response:
    return render(request, "console/entry.html", _entry_context(session, request.state.entry))


def entry_verification(entry_id: str, request: Request, session: SessionDep,
                       access: AccessDep) -> Response:
    entry: AuditEntry = request.state.entry
    trusted = load_trusted_keys(runtime_of(request).settings)
    check = views.check_entry(session, trusted, entry)
    return render(request, "console/entry.html", {**_entry_context(session, entry),
                                                  "check": check})


def _window(form: SearchForm) -> tuple[datetime | None, datetime | None]:
    built = form.build(uuid.UUID(int=0))
    return built.since, built.until


def verify_page(request: Request, access: AccessDep) -> Response:
    form = SearchForm.of({k: request.query_params.get(k, "") for k in ("since", "until")})
    report = None
    status = 200
    if request.query_params.get("run"):
        try:
            since, until = _window(form)
            report = audit_api.verify_log(request, access, since, until)
        except ValidationFailed:
            status = 422
    return render(request, "console/verify.html", {"form": form, "report": report},
                  status_code=status)


def compliance_report(request: Request, access: AccessDep) -> Response:
    """The compliance report's signed files as one zip (report.json, report.html,
    signature.json: unzipped into one directory they verify with `gmail-gateway compliance
    verify`). The HTML is a download: it carries its own inline style, which the pages' CSP
    would refuse."""
    form = SearchForm.of({"since": request.query_params.get("from", ""),
                          "until": request.query_params.get("to", "")})
    since, until = _window(form)
    if since is None or until is None:
        raise ValidationFailed("name the period: from and to", extra={"errors": [
            {"location": ["query", name], "message": "a date and time (UTC)", "type": "missing"}
            for name, value in (("from", since), ("to", until)) if value is None]})
    made = compliance_api.compliance_report(request, access, since, until, "json")
    assert isinstance(made, compliance_api.ComplianceReportOut)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in made.files.items():
            archive.writestr(name, text)
    stamp = since.strftime("%Y%m%dT%H%M%SZ")
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="compliance-report-{stamp}.zip"'})


def justifications(request: Request, session: SessionDep, access: AccessDep) -> Response:
    status = request.query_params.get("status") or None
    chosen = cast(Status, status) if status in STATUSES else None
    found = justifications_api.list_justifications(
        request, session, access, mailbox_id=None, operator_id=None, case_ref=None,
        status=chosen, limit=200)
    return render(request, "console/justifications.html", {
        "items": found.items, "status": chosen or "", "statuses": STATUSES,
        "recorded": request.query_params.get("recorded"),
        "revoked": request.query_params.get("revoked")})


def new_justification(request: Request, access: AccessDep) -> Response:
    mailbox: Mailbox = request.state.mailbox
    return render(request, "console/new_justification.html", {
        "mailbox": mailbox, "form": views.JustificationForm(), "kinds": KINDS,
        "case_ref_pattern": views.CASE_REF_HTML_PATTERN})


def _record(kind: str) -> Callable[..., Response]:
    def record(mailbox_id: str, request: Request, session: SessionDep, access: AccessDep,
               data: FormDep) -> Response:
        mailbox: Mailbox = request.state.mailbox
        form = views.JustificationForm.of(data, kind)
        try:
            made = justifications_api.record_justification(mailbox_id, form.body(), request,
                                                           session, access)
        except ValidationFailed as exc:  # refused before anything was written
            return render(request, "console/new_justification.html", {
                "mailbox": mailbox, "form": form.with_errors(exc), "kinds": KINDS,
                "case_ref_pattern": views.CASE_REF_HTML_PATTERN}, status_code=422)
        return RedirectResponse(f"/console/justifications?recorded={made.id}#j-{made.id}",
                                status_code=303)

    return record


def revoke(justification_id: str, request: Request, session: SessionDep,
           access: AccessDep) -> Response:
    done = justifications_api.revoke_justification(justification_id, request, session, access)
    return RedirectResponse(f"/console/justifications?revoked={done.id}#j-{done.id}",
                            status_code=303)


router.add("GET", "", search, action=Action.audit_query, resource=tenant_log_resource,
           purpose=REVIEW)
router.add("GET", "/export", export, action=Action.audit_query, resource=tenant_log_resource,
           purpose=REVIEW)
router.add("GET", "/entries/{entry_id}", entry_page, action=Action.audit_query,
           resource=entry_resource, purpose=REVIEW)
router.add("GET", "/entries/{entry_id}/verification", entry_verification,
           action=Action.audit_verify, resource=entry_resource, purpose=REVIEW)
router.add("GET", "/verify", verify_page, action=Action.audit_verify,
           resource=tenant_log_resource, purpose=REVIEW)
router.add("GET", "/compliance/report", compliance_report, action=Action.compliance_report,
           resource=compliance_api.report_resource, purpose=REVIEW)
router.add("GET", "/justifications", justifications, action=Action.justification_list,
           resource=tenant_resource(justifications_api.RESOURCE_TYPE), purpose=REVIEW)
router.add("GET", "/justifications/new", new_justification, action=Action.justification_list,
           resource=mailbox_in_query(justifications_api.RESOURCE_TYPE), purpose=REVIEW)
for _kind in KINDS:
    router.add("POST", f"/mailboxes/{{mailbox_id}}/justifications/{_kind}", _record(_kind),
               action=Action.justification_record,
               resource=mailbox_resource(justifications_api.RESOURCE_TYPE), purpose=_kind)
    router.add("POST", f"/justifications/{{justification_id}}/revoke/{_kind}", revoke,
               action=Action.justification_revoke,
               resource=justifications_api.justification_resource, purpose=_kind)
