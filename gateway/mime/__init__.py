"""RFC 5322 / MIME: parsing a raw message into headers, addresses, bodies and attachment
metadata, and the text rules (valid Unicode, snippets). Pure code: no database, no HTTP, no
Gmail; the mail store and the read API build on it."""
