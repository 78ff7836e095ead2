"""The compliance report: per Limited Use rule and privacy-policy clause, the policy rules that
implement it, the tests that prove it and the operation log's live figures, signed with the
log's checkpoint key (docs/compliance.md)."""
