package v1alpha1

// Condition types of a VppToken.
const (
	// ConditionReady is True when the last sync succeeded and Graph reports the
	// token as valid.
	ConditionReady = "Ready"
	// ConditionSynced is True when the last sync succeeded, Unknown while
	// Intune is still syncing.
	ConditionSynced = "Synced"
	// ConditionExpiring is True when the token expires within the operator's
	// warning window, or has expired.
	ConditionExpiring = "Expiring"
)

// SyncRequestedAtAnnotation asks for a sync: setting it to any new value, such
// as the current time, makes the operator sync the token once.
const SyncRequestedAtAnnotation = "intune.vpp-operator.io/sync-requested-at"

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
	// ReasonSyncFailed: Graph answered, but reports that Intune's sync with
	// Apple failed, or it did not finish in time.
	ReasonSyncFailed = "SyncFailed"
	// ReasonSyncInProgress: Intune accepted the sync and is still running it.
	ReasonSyncInProgress = "SyncInProgress"
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

// Reasons of the Expiring condition.
const (
	// ReasonExpiresSoon: the token expires within the warning window.
	ReasonExpiresSoon = "ExpiresSoon"
	// ReasonExpired: the token's expirationDateTime has passed.
	ReasonExpired = "Expired"
	// ReasonNotExpiring: the token's expiry is beyond the warning window.
	ReasonNotExpiring = "NotExpiring"
)
