"""Shared infrastructure: database sessions, errors, logging, routing guard, crypto primitives."""
