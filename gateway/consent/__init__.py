"""Consent for human access: owners grant operators time-limited, revocable read access to
specific messages or threads; operators request it with a justification; everything is listed
back to the owner (Limited Use rule 6)."""
