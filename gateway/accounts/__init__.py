"""Callers: tenants, principals (end users, CRM services, operators, reviewers,
analytics) and their API keys."""
