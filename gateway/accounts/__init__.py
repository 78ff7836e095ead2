"""Callers: tenants, principals (end users, CRM services, operators, reviewers, analytics), API keys."""
