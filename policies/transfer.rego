# Transfers to third parties (Limited Use rule 2): only to provide a user-facing feature with the
# user's consent, for security, to comply with law, or in a merger after explicit prior consent.
package gateway.authz

transfer_recipient_ok if non_empty_string(input.transfer.recipient)

transfer_consent if input.transfer.consent_recorded == true

consent_ground if {
	input.transfer.ground == "user_feature_consent"
} else if {
	input.transfer.ground == "merger"
}

justification_ground if {
	input.transfer.ground == "security"
} else if {
	input.transfer.ground == "legal"
}

# The ground fits the stated purpose and the actor (capabilities bind purposes to actors:
# user_facing to the owner and the CRM service; security, legal and merger to operators).
# METADATA
# title: A transfer's ground fits its purpose and names a recipient
# description: >-
#   The four grounds: a user-facing feature (purpose user_facing), security, legal compliance,
#   or a merger (purpose merger); a recipient is named.
# custom:
#   clauses:
#     - lu.transfer
transfer_ground_fits if {
	ground := input.transfer.ground
	ground == "user_feature_consent"
	input.purpose == "user_facing"
	transfer_recipient_ok
} else if {
	justification_ground
	input.purpose == input.transfer.ground
	transfer_recipient_ok
} else if {
	input.transfer.ground == "merger"
	input.purpose == "merger"
	transfer_recipient_ok
}

# METADATA
# title: Transfers only on the four grounds
# description: >-
#   A user-facing feature or a merger needs the user's recorded consent; security or legal
#   compliance a recorded, unexpired justification for this operator and mailbox. No other
#   transfer, so none to advertisers, data brokers or resellers.
# custom:
#   clauses:
#     - lu.transfer
#     - lu.sale
valid_transfer if {
	transfer_ground_fits
	consent_ground
	transfer_consent
} else if {
	transfer_ground_fits
	justification_ground
	justification_ok
}

transfer_problems contains "transfer_ground_invalid" if not transfer_ground_fits

transfer_problems contains "transfer_consent_required" if {
	consent_ground
	not transfer_consent
}

transfer_problems contains reason if {
	justification_ground
	transfer_ground_fits
	some reason in justification_problems
}
