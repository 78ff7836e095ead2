"""Mail: Gmail client, sync engine, encrypted message store, MIME, the CRM mail API."""
