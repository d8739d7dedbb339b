package v1alpha1

// Condition types of a VppToken.
const (
	// ConditionReady is True when the last sync succeeded and Graph reports the
	// token as valid.
	ConditionReady = "Ready"
	// ConditionSynced is True when the last syncLicenses call succeeded.
	ConditionSynced = "Synced"
)

// Condition reasons. They are part of the API: alerts and scripts switch on them.
const (
	// ReasonSynced: the last sync succeeded and the token is valid.
	ReasonSynced = "Synced"
	// ReasonCredentialsMissing: the credentials Secret or one of its keys is absent.
	ReasonCredentialsMissing = "CredentialsMissing"
	// ReasonCredentialsInvalid: the identity platform rejected the app's credentials.
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonPermissionDenied: Graph refused the call (403), usually a missing
	// application permission or admin consent.
	ReasonPermissionDenied = "PermissionDenied"
	// ReasonTokenNotFound: Graph has no vppToken with the spec's tokenId (404).
	ReasonTokenNotFound = "TokenNotFound"
	// ReasonBadRequest: Graph rejected the request as malformed (400).
	ReasonBadRequest = "BadRequest"
	// ReasonThrottled: Graph or the identity platform answered 429.
	ReasonThrottled = "Throttled"
	// ReasonGraphUnavailable: Graph or the identity platform failed (5xx), timed
	// out, could not be reached, or sent a reply that is not a vppToken.
	ReasonGraphUnavailable = "GraphUnavailable"
	// ReasonSyncFailed: Graph answered, but reports that Intune's sync with Apple failed.
	ReasonSyncFailed = "SyncFailed"
	// ReasonTokenExpired: Graph reports the token as expired.
	ReasonTokenExpired = "TokenExpired"
	// ReasonTokenInvalid: Graph reports the token as invalid.
	ReasonTokenInvalid = "TokenInvalid"
	// ReasonAssignedToExternalMDM: another MDM holds the token.
	ReasonAssignedToExternalMDM = "AssignedToExternalMDM"
	// ReasonDuplicateLocation: the same location was uploaded twice.
	ReasonDuplicateLocation = "DuplicateLocation"
	// ReasonTokenStateUnknown: Graph reports a state this operator does not know.
	ReasonTokenStateUnknown = "TokenStateUnknown"
	// ReasonSuspended: spec.suspend is true, so the operator makes no Graph calls.
	ReasonSuspended = "Suspended"
)
