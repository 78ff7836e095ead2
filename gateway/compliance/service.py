"""Building a report as a guarded, logged reviewer access (the CLI's path; the API's is the
enforcement point of its route), and checking one (`verify_report`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.audit.canonical import json_text
from gateway.audit.signing import TrustedKeys, load_signer, load_trusted_keys
from gateway.compliance.export_check import check_export
from gateway.compliance.live import figures_from_export
from gateway.compliance.report import Period, Requester, build_report, pdf_plan, write_report
from gateway.compliance.signature import check_directory
from gateway.kit.errors import NotFound
from gateway.kit.timeutil import utcnow
from gateway.policy.vocabulary import Action, ActorKind
from gateway.settings import Settings

PURPOSE = "audit_review"
RESOURCE_TYPE = "audit_log"


@dataclass(frozen=True)
class CliRequest:
    tenant: str
    reviewer: str
    since: datetime
    until: datetime
    out: Path
    junit: Path | None = None
    pdf: bool = True


def report_from_cli(settings: Settings, req: CliRequest) -> dict[str, Any]:
    """Decide and log the access (actor: the named reviewer principal of the tenant, purpose
    audit_review, action compliance.report, protocol `cli`), then build, write and sign."""
    from gateway.accounts import service as accounts
    from gateway.policy.enforcement import AccessRequest, Actor, Resource, Terminal
    from gateway.runtime import build_runtime

    with build_runtime(settings) as runtime:
        database, enforcer = runtime.database, runtime.enforcer
        with database.transaction() as session:
            tenant = accounts.get_tenant(session, req.tenant)
            principal = accounts.get_principal(session, tenant, req.reviewer)
            if principal.kind != ActorKind.reviewer.value or principal.disabled_at is not None:
                raise NotFound(f"no active reviewer {req.reviewer} in tenant {req.tenant}",
                               code="principal_not_found")
            tenant_id, groups = tenant.id, tuple(principal.groups or ())
        request_id = f"cli-{uuid.uuid4().hex}"
        actor = Actor(kind=ActorKind.reviewer.value, id=str(principal.id), tenant=str(tenant_id),
                      groups=groups, connection_id="cli:compliance-report")
        with database.transaction() as session:  # the allow is committed on its own
            enforcer.authorize(session, AccessRequest(
                actor=actor, purpose=PURPOSE, action=Action.compliance_report.value,
                resource=Resource(type=RESOURCE_TYPE, tenant=str(tenant_id)),
                terminal=Terminal(request_id=request_id, protocol="cli"),
                detail={"from": req.since.isoformat(), "to": req.until.isoformat()}))
        generated_at = utcnow()  # after the access: the report lists its own entry
        signer = load_signer(settings)
        with database.transaction() as session:
            report = build_report(
                session, settings, Period(tenant_id, req.since, req.until),
                requester=Requester(ActorKind.reviewer.value, str(principal.id), request_id,
                                    "cli"),
                trusted=load_trusted_keys(settings), signing_key_id=signer.key_id,
                junit=req.junit or settings.compliance_junit_file, pdf=pdf_plan(req.pdf),
                generated_at=generated_at)
        write_report(req.out, report, signer)
        return report


@dataclass
class ReportVerification:
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _differences(stated: Any, derived: Any, where: str = "figures") -> list[str]:
    if isinstance(stated, dict) and isinstance(derived, dict):
        out: list[str] = []
        for key in sorted(set(stated) | set(derived)):
            out += _differences(stated.get(key), derived.get(key), f"{where}.{key}")
        return out
    return [] if json_text(stated) == json_text(derived) else [
        f"{where}: the report says {json_text(stated)[:120]}, the log gives "
        f"{json_text(derived)[:120]}"]


def verify_report(directory: Path, trusted: TrustedKeys, export: Path | None) -> ReportVerification:
    """The signature and the files it covers; with `export` (an `audit export` directory),
    the export's chains and checkpoints and the report's figures re-derived from it."""
    outcome = ReportVerification()
    outcome.problems += check_directory(directory, trusted)
    outcome.checked.append(f"signature with trusted keys {', '.join(trusted.key_ids) or '-'}")
    try:
        report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        outcome.problems.append(f"report.json cannot be read: {type(exc).__name__}")
        return outcome
    if export is None:
        return outcome
    entries = export / "entries.jsonl"
    anchors = export / "anchors.jsonl"
    outcome.problems += check_export(_jsonl(entries), _jsonl(export / "checkpoints.jsonl"),
                                     trusted, _jsonl(anchors) if anchors.is_file() else ())
    outcome.checked.append(f"the export's chains and checkpoints ({export})")
    scope = report["scope"]
    since = datetime.fromisoformat(scope["from"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(scope["until_effective"].replace("Z", "+00:00"))
    derived = figures_from_export(_jsonl(entries), scope["tenant_id"], since, until)
    outcome.problems += _differences(report["figures"], derived)
    outcome.checked.append(f"the figures over {scope['from']} .. {scope['until_effective']}")
    return outcome


def trusted_keys(settings: Settings, key_files: list[Path]) -> TrustedKeys:
    """Keys named on the command line (PEM), or the deployment's own."""
    if not key_files:
        return load_trusted_keys(settings)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    trusted = TrustedKeys()
    for path in key_files:
        key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path} is not an Ed25519 public key")
        trusted.add(key)
    return trusted
