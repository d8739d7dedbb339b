package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Cloud names the Microsoft cloud that holds a tenant. It selects the Graph and
// identity platform hosts from a fixed table; no resource can name a host.
// +kubebuilder:validation:Enum=AzurePublic;AzureUSGovernment;AzureUSGovernmentDoD;AzureChina
type Cloud string

const (
	// CloudAzurePublic is the global cloud, which also serves Microsoft 365 GCC.
	CloudAzurePublic Cloud = "AzurePublic"
	// CloudAzureUSGovernment is GCC High (L4).
	CloudAzureUSGovernment Cloud = "AzureUSGovernment"
	// CloudAzureUSGovernmentDoD is the US Department of Defense cloud (L5).
	CloudAzureUSGovernmentDoD Cloud = "AzureUSGovernmentDoD"
	// CloudAzureChina is the cloud operated by 21Vianet.
	CloudAzureChina Cloud = "AzureChina"
)

// DefaultSyncInterval is the sync interval of a token that sets none. The API
// server defaults the field; objects stored before the default existed may lack it.
const DefaultSyncInterval = 12 * time.Hour

// Interval is the token's sync interval, DefaultSyncInterval when unset.
func (s *VppTokenSpec) Interval() time.Duration {
	if s.SyncInterval == nil || s.SyncInterval.Duration <= 0 {
		return DefaultSyncInterval
	}
	return s.SyncInterval.Duration
}

// VppTokenSpec declares an Apple VPP location token held by Intune and how often
// the operator syncs its licences.
type VppTokenSpec struct {
	// TokenID is the Intune id of the vppToken (a GUID), as shown by
	// GET /deviceAppManagement/vppTokens.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	TokenID string `json:"tokenId"`

	// SyncInterval is the time between two syncLicenses calls for this token,
	// as a Go duration such as "12h" or "90m", each number at most five digits.
	// The minimum is 15m.
	// +optional
	// +kubebuilder:default="12h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]{1,5}([.][0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$') || duration(self) >= duration('15m')",message="must be at least 15m: Intune syncs each token with Apple about once a day and throttles writes per tenant"
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty"`

	// Credentials says how the operator signs in to the tenant that holds the token.
	// +required
	Credentials Credentials `json:"credentials"`

	// Cloud is the Microsoft cloud of the tenant. It fixes the Graph and identity
	// platform hosts the operator talks to for this token.
	// +optional
	// +kubebuilder:default=AzurePublic
	Cloud Cloud `json:"cloud,omitempty"`

	// Suspend stops all Graph calls for this token while true.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// Credentials says how the operator signs in as an Entra app registration
// that has the application permission DeviceManagementServiceConfig.ReadWrite.All.
// Exactly one source is set, and it lives in the token's own namespace.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != has(self.workloadIdentity)",message="set exactly one of secretRef or workloadIdentity"
type Credentials struct {
	// SecretRef names a Secret with the app's client secret (key clientSecret)
	// or certificate (keys tls.crt and tls.key, as in a kubernetes.io/tls
	// Secret), and its tenantId and clientId unless secretRef gives them.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// WorkloadIdentity signs in with a federated credential: the operator
	// requests a token for the ServiceAccount and presents it to Entra ID,
	// which trusts it when the app has a federated credential for the
	// ServiceAccount's subject.
	// +optional
	WorkloadIdentity *WorkloadIdentity `json:"workloadIdentity,omitempty"`
}

// SecretReference names a Secret in the same namespace as the VppToken.
type SecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// TenantID is the Directory (tenant) ID, for a Secret without a tenantId
	// key, such as a kubernetes.io/tls Secret from a certificate issuer.
	// +optional
	TenantID TenantID `json:"tenantId,omitempty"`

	// ClientID is the Application (client) ID, for a Secret without a clientId key.
	// +optional
	ClientID ClientID `json:"clientId,omitempty"`
}

// WorkloadIdentity names a ServiceAccount in the same namespace as the
// VppToken. Because the ServiceAccount must be in the token's namespace, a
// team can only sign in as apps that trust its own ServiceAccounts.
type WorkloadIdentity struct {
	// ServiceAccountName is the ServiceAccount whose token the operator
	// exchanges, with audience api://AzureADTokenExchange.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ServiceAccountName string `json:"serviceAccountName"`

	// TenantID is the Directory (tenant) ID; when empty, the ServiceAccount's
	// azure.workload.identity/tenant-id annotation.
	// +optional
	TenantID TenantID `json:"tenantId,omitempty"`

	// ClientID is the Application (client) ID; when empty, the ServiceAccount's
	// azure.workload.identity/client-id annotation.
	// +optional
	ClientID ClientID `json:"clientId,omitempty"`
}

// TenantID is an Entra tenant: its GUID, or a verified domain such as
// contoso.onmicrosoft.com.
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?([.][a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+)$`
type TenantID string

// ClientID is an app registration's Application (client) ID, a GUID.
// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
type ClientID string

// VppTokenStatus is what Graph last said about the token, under Graph's own
// property names, and how the operator's syncs went.
type VppTokenStatus struct {
	// OrganizationName is the organisation the token belongs to.
	// +optional
	OrganizationName string `json:"organizationName,omitempty"`

	// AppleID is the Managed Apple ID of the VPP account.
	// +optional
	AppleID string `json:"appleId,omitempty"`

	// VppTokenAccountType is business or education, as Graph sends it.
	// +optional
	VppTokenAccountType string `json:"vppTokenAccountType,omitempty"`

	// State is the token's state as Graph sends it: valid, expired, invalid,
	// assignedToExternalMDM, or a value newer than this operator.
	// +optional
	State string `json:"state,omitempty"`

	// LastSyncStatus is the state of Intune's last sync with Apple: none,
	// inProgress, completed or failed.
	// +optional
	LastSyncStatus string `json:"lastSyncStatus,omitempty"`

	// AutomaticallyUpdateApps says whether Intune updates apps bought with this token.
	// +optional
	AutomaticallyUpdateApps *bool `json:"automaticallyUpdateApps,omitempty"`

	// CountryOrRegion is the token's storefront, such as us or gb.
	// +optional
	CountryOrRegion string `json:"countryOrRegion,omitempty"`

	// ExpirationDateTime is when the token expires, in UTC.
	// +optional
	ExpirationDateTime *metav1.Time `json:"expirationDateTime,omitempty"`

	// LastSyncDateTime is when Intune last synced the token with Apple, in UTC.
	// Absent when Intune has never synced it.
	// +optional
	LastSyncDateTime *metav1.Time `json:"lastSyncDateTime,omitempty"`

	// LastModifiedDateTime is when the token was last changed in Intune, in UTC.
	// +optional
	LastModifiedDateTime *metav1.Time `json:"lastModifiedDateTime,omitempty"`

	// ObservedGeneration is the metadata.generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastSyncAttemptTime is when the operator last called syncLicenses.
	// +optional
	LastSyncAttemptTime *metav1.Time `json:"lastSyncAttemptTime,omitempty"`

	// LastSuccessfulSyncTime is when a syncLicenses call last succeeded.
	// +optional
	LastSuccessfulSyncTime *metav1.Time `json:"lastSuccessfulSyncTime,omitempty"`

	// NextSyncTime is when the operator will call syncLicenses next.
	// +optional
	NextSyncTime *metav1.Time `json:"nextSyncTime,omitempty"`

	// ConsecutiveFailures counts the failed sync attempts since the last success;
	// it sets how long the operator backs off.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// LastFailureTime is when a sync attempt last failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// SyncPolls counts the reads of a sync that Intune reported inProgress.
	// +optional
	SyncPolls int32 `json:"syncPolls,omitempty"`

	// LastHandledSyncRequest is the value of the sync-requested-at annotation
	// that the operator last acted on.
	// +optional
	LastHandledSyncRequest string `json:"lastHandledSyncRequest,omitempty"`

	// LastExpiryWarningTime is when the operator last recorded a Warning event
	// about the token's expiry.
	// +optional
	LastExpiryWarningTime *metav1.Time `json:"lastExpiryWarningTime,omitempty"`

	// CredentialsResourceVersion is the resourceVersion of the credentials
	// Secret or ServiceAccount at the last sync attempt. A failing token whose
	// credentials change is retried at once.
	// +optional
	CredentialsResourceVersion string `json:"credentialsResourceVersion,omitempty"`

	// Conditions are Ready (the token synced and is valid), Synced (the last
	// sync succeeded) and Expiring (the token expires within the warning
	// window, or has expired).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// VppToken is an Apple VPP location token held by Intune, whose licences the
// operator syncs on a schedule through Microsoft Graph.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vpp,categories=intune
// +kubebuilder:printcolumn:name="Organization",type=string,JSONPath=`.status.organizationName`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.status.vppTokenAccountType`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSuccessfulSyncTime`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expirationDateTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Token ID",type=string,JSONPath=`.spec.tokenId`,priority=1
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.syncInterval`,priority=1
// +kubebuilder:printcolumn:name="Next Sync",type=string,JSONPath=`.status.nextSyncTime`,priority=1
type VppToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec VppTokenSpec `json:"spec"`

	// +optional
	Status VppTokenStatus `json:"status,omitempty"`
}

// VppTokenList is a list of VppTokens.
// +kubebuilder:object:root=true
type VppTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VppToken `json:"items"`
}

func init() {
	SchemeBuilder.Register(&VppToken{}, &VppTokenList{})
}
