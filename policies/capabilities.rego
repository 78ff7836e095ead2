# Which actor kind may perform which action, for which purposes.
# Being capable is necessary, never sufficient: tenant, ownership, mailbox state, scopes and the
# kind-specific conditions (grants, justifications, cohorts, transfer grounds) must hold too.
# Written out literally (no object.union: regopy's is not recursive and constants are cheap).
package gateway.authz

capabilities := {
	# The mailbox owner: the mail client inside the CRM (Limited Use rule 1), their rights, and
	# consent. Only the owner gives affirmative agreement (grants, decisions on requests).
	"end_user": {
		"consent.grant.create": {"consent_management"},
		"consent.grant.revoke": {"consent_management"},
		"consent.list": {"consent_management"},
		"consent.request.decide": {"consent_management"},
		"data.delete": {"user_rights"},
		"data.export": {"user_rights"},
		"data.restrict": {"user_rights"},
		"data.transfer": {"user_facing"},
		"mail.attachment.read": {"user_facing", "contact_linking"},
		"mail.contact_timeline": {"user_facing", "contact_linking"},
		"mail.draft.read": {"user_facing", "contact_linking"},
		"mail.draft.write": {"user_facing"},
		"mail.label.modify": {"user_facing"},
		"mail.label.read": {"user_facing", "contact_linking"},
		"mail.mailbox.list": {"user_facing"},
		"mail.mailbox.read": {"user_facing", "contact_linking"},
		"mail.message.delete": {"user_facing"},
		"mail.message.list": {"user_facing", "contact_linking"},
		"mail.message.modify": {"user_facing"},
		"mail.message.read_content": {"user_facing", "contact_linking"},
		"mail.message.read_metadata": {"user_facing", "contact_linking"},
		"mail.message.send": {"user_facing"},
		"mail.search": {"user_facing", "contact_linking"},
		"mail.thread.read_content": {"user_facing", "contact_linking"},
		"mail.thread.read_metadata": {"user_facing", "contact_linking"},
		"oauth.connect": {"user_facing"},
		"oauth.disconnect": {"user_facing", "user_rights"},
	},
	# The CRM backend acting for the users of its tenant: the same, minus giving consent.
	"crm_service": {
		"consent.grant.revoke": {"consent_management"},
		"consent.list": {"consent_management"},
		"data.delete": {"user_rights"},
		"data.export": {"user_rights"},
		"data.restrict": {"user_rights"},
		"data.transfer": {"user_facing"},
		"mail.attachment.read": {"user_facing", "contact_linking"},
		"mail.contact_timeline": {"user_facing", "contact_linking"},
		"mail.draft.read": {"user_facing", "contact_linking"},
		"mail.draft.write": {"user_facing"},
		"mail.label.modify": {"user_facing"},
		"mail.label.read": {"user_facing", "contact_linking"},
		"mail.mailbox.list": {"user_facing"},
		"mail.mailbox.read": {"user_facing", "contact_linking"},
		"mail.message.delete": {"user_facing"},
		"mail.message.list": {"user_facing", "contact_linking"},
		"mail.message.modify": {"user_facing"},
		"mail.message.read_content": {"user_facing", "contact_linking"},
		"mail.message.read_metadata": {"user_facing", "contact_linking"},
		"mail.message.send": {"user_facing"},
		"mail.search": {"user_facing", "contact_linking"},
		"mail.thread.read_content": {"user_facing", "contact_linking"},
		"mail.thread.read_metadata": {"user_facing", "contact_linking"},
		"oauth.connect": {"user_facing"},
		"oauth.disconnect": {"user_facing", "user_rights"},
	},
	# Human support staff (Limited Use rule 6): metadata views, content only under a grant
	# (support) or a recorded justification (security, legal), consent requests, transfers on
	# the security/legal/merger grounds.
	"operator": {
		"consent.list": {"consent_management"},
		"consent.request.create": {"consent_management"},
		"data.transfer": {"security", "legal", "merger"},
		"mail.attachment.read": {"support", "security", "legal"},
		"mail.draft.read": {"support", "security", "legal"},
		"mail.label.read": {"support", "security", "legal"},
		"mail.mailbox.read": {"support", "security", "legal"},
		"mail.message.list": {"support", "security", "legal"},
		"mail.message.read_content": {"support", "security", "legal"},
		"mail.message.read_metadata": {"support", "security", "legal"},
		"mail.search": {"security", "legal"},
		"mail.thread.read_content": {"support", "security", "legal"},
		"mail.thread.read_metadata": {"support", "security", "legal"},
	},
	"reviewer": {
		"audit.query": {"audit_review"},
		"audit.verify": {"audit_review"},
	},
	"analytics": {"analytics.aggregate": {"analytics_internal"}},
	# Background work, never given an API key.
	"system": {
		"audit.purge": {"legal"},
		"data.delete": {"user_rights"},
		"data.export": {"user_rights"},
		"keys.rotate": {"security"},
		"mail.sync": {"sync"},
	},
}
