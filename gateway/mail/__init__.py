"""Mail: the encrypted message store and the CRM mail API (read and write)."""
