"""Aggregated, anonymised analytics (Limited Use rule 6d): counts over cohorts of at least k
mailboxes, grouped only by non-identifying keys. The policy refuses anything else."""
