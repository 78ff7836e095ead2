"""Security and legal justifications: the recorded case under which a human operator may read a
mailbox without its owner's consent (Limited Use rule 6 b/c)."""
