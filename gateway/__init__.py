"""Gmail integration gateway: Limited Use enforced in code, encrypted at rest, audited."""
