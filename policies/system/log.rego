# What OPA's decision logs keep, when decision logging is configured (`decision_logs` in OPA's
# configuration; it is off unless configured). The whole input (principal, mailbox, message and
# thread ids, grants, justifications) is erased from every logged decision before it is written
# or uploaded; the result (allow, reasons, obligations, revision) is kept. The gateway's own
# operation log is the record of every access (docs/audit.md).
package system.log

mask contains "/input"
