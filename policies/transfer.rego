# Transfers to third parties (Limited Use rule 2): only to provide a user-facing feature with the
# user's consent, for security, to comply with law, or in a merger after explicit prior consent.
package gateway.authz

transfer_recipient_ok if non_empty_string(input.transfer.recipient)

transfer_consent if input.transfer.consent_recorded == true

# The ground fits the stated purpose and the actor.
transfer_ground_fits if {
	input.transfer.ground == "user_feature_consent"
	input.purpose == "user_facing"
	input.actor.kind in {"end_user", "crm_service"}
	transfer_recipient_ok
}

transfer_ground_fits if {
	input.transfer.ground in {"security", "legal"}
	input.purpose == input.transfer.ground
	transfer_recipient_ok
}

transfer_ground_fits if {
	input.transfer.ground == "merger"
	input.purpose == "merger"
	transfer_recipient_ok
}

valid_transfer if {
	transfer_ground_fits
	input.transfer.ground in {"user_feature_consent", "merger"}
	transfer_consent
}

valid_transfer if {
	transfer_ground_fits
	input.transfer.ground in {"security", "legal"}
	justification_ok
}

transfer_relevant if {
	input.action == "data.transfer"
	judged
}

denies contains "transfer_ground_invalid" if {
	transfer_relevant
	not transfer_ground_fits
}

denies contains "transfer_consent_required" if {
	transfer_relevant
	input.transfer.ground in {"user_feature_consent", "merger"}
	not transfer_consent
}

denies contains reason if {
	transfer_relevant
	input.transfer.ground in {"security", "legal"}
	input.purpose == input.transfer.ground
	some reason in justification_problems
}
