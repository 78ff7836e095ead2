"""The report for the review console: `GET /v1/compliance/report?from=...&to=...`, guarded
(action compliance.report, purpose audit_review, reviewers of the tenant) and logged like any
access before anything is read. The answer carries the signed files (report.json and
report.html as text, and signature.json): saved into one directory, they verify with
`gmail-gateway compliance verify`. `format=html` answers the page itself. The PDF is printed by
the CLI only (a browser in the API process is not worth its cost)."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from gateway.accounts.deps import Caller
from gateway.audit.signing import load_signer, load_trusted_keys
from gateway.compliance.report import Period, Requester, build_report, write_report
from gateway.guard.routing import AccessDep, GuardedRouter
from gateway.kit.db import Database
from gateway.kit.errors import ValidationFailed
from gateway.kit.strict import Instant
from gateway.policy.enforcement import Resource
from gateway.policy.vocabulary import Action
from gateway.runtime import runtime_of
from gateway.settings import Settings

router = GuardedRouter(prefix="/v1", tags=["compliance"])

PDF_NOTE = "not rendered: the API serves JSON and HTML; `gmail-gateway compliance report` " \
           "prints the PDF"
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                 "Cache-Control": "no-store"}


class ComplianceReportOut(BaseModel):
    files: dict[str, str] = Field(description="file name → its exact text (report.json, "
                                  "report.html, signature.json)")
    key_id: str = Field(description="the signing key (the operation log's checkpoint key)")


def report_resource(_session: Any, caller: Caller, _request: Request) -> Resource:
    return Resource(type="audit_log", tenant=str(caller.tenant_id))


def _junit(settings: Settings) -> Path | None:
    path = settings.compliance_junit_file
    return path if path is not None and path.is_file() else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def compliance_report(request: Request, access: AccessDep,
                      since: Annotated[Instant, Query(alias="from",
                                                      description="inclusive, ISO 8601")],
                      until: Annotated[Instant, Query(alias="to",
                                                      description="exclusive, ISO 8601")],
                      format: Literal["json", "html"] = "json") -> Any:
    since, until = _utc(since), _utc(until)
    if until <= since:
        raise ValidationFailed("`to` must be after `from`", code="invalid_date_range")
    settings: Settings = runtime_of(request).settings
    database: Database = runtime_of(request).database
    actor = access.request.actor
    signer = load_signer(settings)
    with database.transaction() as session:
        report = build_report(
            session, settings, Period(uuid.UUID(actor.tenant), since, until),
            requester=Requester(actor.kind, actor.id, access.request.terminal.request_id,
                                access.request.terminal.protocol),
            trusted=load_trusted_keys(settings), signing_key_id=signer.key_id, pdf=PDF_NOTE,
            junit=_junit(settings))
    with tempfile.TemporaryDirectory(prefix="compliance-") as tmp:
        names = write_report(Path(tmp), report, signer)
        files = {name: (Path(tmp) / name).read_text(encoding="utf-8") for name in names}
    if format == "html":
        return HTMLResponse(files["report.html"], headers=_PAGE_HEADERS)
    return ComplianceReportOut(files=files, key_id=signer.key_id)


router.add("GET", "/compliance/report", compliance_report, action=Action.compliance_report,
           resource=report_resource, response_model=ComplianceReportOut,
           responses={200: {"content": {"text/html": {}}}},
           summary="Build the signed Limited Use evidence report over a period (reviewers)")
