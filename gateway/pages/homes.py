"""A first page for the operator (/desk) and the reviewer (/console): who is signed in and where
to go (/me is the privacy center's, gateway/pages/privacy/routes.py). A persona's own package
takes over its path by removing its line here. Each is a guarded read of the persona's own
consent or log view."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from gateway.pages.kit import PageRouter, own_resource, render
from gateway.policy.vocabulary import Action

router = PageRouter(tags=["pages"])


def home(request: Request) -> Response:
    return render(request, "home.html")


router.add("GET", "/desk", home, action=Action.consent_list, resource=own_resource("consent"),
           purpose="consent_management")
router.add("GET", "/console", home, action=Action.audit_query,
           resource=own_resource("audit_log"), purpose="audit_review")
