package controllers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
	"github.com/vpp-operator/vpp-operator/internal/workloadidentity"
)

// Keys of a credentials Secret. The certificate keys are those of a
// kubernetes.io/tls Secret.
const (
	keyTenantID     = "tenantId"
	keyClientID     = "clientId"
	keyClientSecret = "clientSecret"
	keyTLSCert      = corev1.TLSCertKey
	keyTLSKey       = corev1.TLSPrivateKeyKey
)

// Annotations of Azure Workload Identity that name a ServiceAccount's app.
const (
	annotationClientID = "azure.workload.identity/client-id"
	annotationTenantID = "azure.workload.identity/tenant-id"
)

// tenantPattern accepts a tenant GUID or a verified domain such as
// contoso.onmicrosoft.com, the two forms the identity platform takes.
var tenantPattern = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+)$`)

// loadedCredentials is the result of reading a token's credential source.
type loadedCredentials struct {
	app graph.AppCredentials
	// resourceVersion of the Secret or ServiceAccount read, empty when it
	// does not exist.
	resourceVersion string
	// material identifies the credentials read, or their absence, without
	// holding a secret in the clear; see fingerprint.
	material []string
	// signInAdvice says what to check when the identity platform refuses them.
	signInAdvice string
	// problem, when set, says why the credentials cannot be used.
	problem *failure
}

// fingerprint identifies the credentials read, or their absence, by hash. It
// never leaves the process.
func (lc *loadedCredentials) fingerprint() [sha256.Size]byte {
	problem := ""
	if lc.problem != nil {
		problem = lc.problem.Message
	}
	parts := append([]string{lc.app.TenantID, lc.app.ClientID, problem}, lc.material...)
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

// loadCredentials reads the token's credential source: its Secret, or its
// ServiceAccount and a token for it. Kubernetes API errors are returned; a
// missing or unusable source is a problem.
func (r *VppTokenReconciler) loadCredentials(ctx context.Context, tok *intunev1alpha1.VppToken) (
	*loadedCredentials, error) {
	creds := tok.Spec.Credentials
	switch {
	case creds.WorkloadIdentity != nil:
		return r.loadWorkloadIdentity(ctx, tok, creds.WorkloadIdentity)
	case creds.SecretRef != nil:
		return r.loadSecret(ctx, tok, creds.SecretRef)
	default:
		// The API server refuses such a spec; this is an object stored before it did.
		return &loadedCredentials{problem: &failure{Reason: intunev1alpha1.ReasonCredentialsMissing,
			Message: "spec.credentials names no source: set secretRef or workloadIdentity."}}, nil
	}
}

// loadSecret reads the Secret from the API server, not a cache: the operator
// watches Secrets' metadata only and reads the data just before use.
func (r *VppTokenReconciler) loadSecret(ctx context.Context, tok *intunev1alpha1.VppToken,
	ref *intunev1alpha1.SecretReference) (*loadedCredentials, error) {
	var secret corev1.Secret
	// client-go logs response bodies at high verbosity through the context's
	// logger; a Secret's must never reach the log.
	quiet := logr.NewContext(ctx, logr.Discard())
	err := r.APIReader.Get(quiet, types.NamespacedName{Namespace: tok.Namespace, Name: ref.Name}, &secret)
	if apierrors.IsNotFound(err) {
		return &loadedCredentials{problem: &failure{
			Reason: intunev1alpha1.ReasonCredentialsMissing,
			Message: fmt.Sprintf("Secret %q not found: create it in namespace %q with keys %s, %s and "+
				"either %s or %s and %s.", ref.Name, tok.Namespace, keyTenantID, keyClientID, keyClientSecret,
				keyTLSCert, keyTLSKey),
		}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", ref.Name, err)
	}

	lc := &loadedCredentials{resourceVersion: secret.ResourceVersion}
	source := fmt.Sprintf("Secret %q", ref.Name)
	value := func(key string) string { return strings.TrimSpace(string(secret.Data[key])) }
	field := "spec.credentials.secretRef."
	tenant, p1 := pickID(source, "key "+keyTenantID, value(keyTenantID), field+"tenantId", string(ref.TenantID))
	client, p2 := pickID(source, "key "+keyClientID, value(keyClientID), field+"clientId", string(ref.ClientID))
	lc.app = graph.AppCredentials{TenantID: tenant, ClientID: client}
	if lc.problem = firstProblem(p1, p2); lc.problem != nil {
		return lc, nil
	}

	secretValue := value(keyClientSecret)
	certPEM, keyPEM := secret.Data[keyTLSCert], secret.Data[keyTLSKey]
	hasCert := len(certPEM) > 0 || len(keyPEM) > 0
	switch {
	case secretValue != "" && hasCert:
		lc.problem = &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("%s holds both %s and a certificate: keep one credential in it.",
				source, keyClientSecret)}
	case secretValue != "":
		lc.app.ClientSecret = secretValue
		lc.material = []string{"secret", secretValue}
		lc.signInAdvice = fmt.Sprintf("Fix %s, %s or %s in %s: the client secret's value, not its ID.",
			keyTenantID, keyClientID, keyClientSecret, source)
	case hasCert:
		lc.problem = useCertificate(lc, source, certPEM, keyPEM)
	default:
		lc.problem = missing(fmt.Sprintf("%s has no credential: add the key %s, or %s and %s.",
			source, keyClientSecret, keyTLSCert, keyTLSKey))
	}
	if lc.problem == nil {
		lc.problem = checkIDs(source, lc.app, fmt.Sprintf("add the keys %s and %s, or set them in "+
			"spec.credentials.secretRef", keyTenantID, keyClientID))
	}
	return lc, nil
}

// useCertificate parses a certificate and its key into lc.
func useCertificate(lc *loadedCredentials, source string, certPEM, keyPEM []byte) *failure {
	switch {
	case len(certPEM) == 0:
		return missing(fmt.Sprintf("%s has %s but no %s: add the certificate.", source, keyTLSKey, keyTLSCert))
	case len(keyPEM) == 0:
		return missing(fmt.Sprintf("%s has %s but no %s: add the certificate's private key.",
			source, keyTLSCert, keyTLSKey))
	}
	// Certificates expire on real time, whatever clock drives the schedule.
	cert, err := graph.ParseCertificate(certPEM, keyPEM, time.Now())
	if err != nil {
		return &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("%s: %s/%s: %s.", source, keyTLSCert, keyTLSKey, err)}
	}
	lc.app.Certificate = cert
	lc.material = []string{"certificate", string(certPEM), string(keyPEM)}
	lc.signInAdvice = fmt.Sprintf("Check %s and %s, and that the certificate in %s (SHA-256 thumbprint %s) "+
		"is uploaded to the app registration.", keyTenantID, keyClientID, source, cert.Thumbprint())
	return nil
}

// loadWorkloadIdentity reads the ServiceAccount's metadata from the cache and
// gets a token for it, so that a missing ServiceAccount or permission shows
// before any call to the identity platform.
func (r *VppTokenReconciler) loadWorkloadIdentity(ctx context.Context, tok *intunev1alpha1.VppToken,
	wi *intunev1alpha1.WorkloadIdentity) (*loadedCredentials, error) {
	name := wi.ServiceAccountName
	source := fmt.Sprintf("ServiceAccount %q", name)
	subject := fmt.Sprintf("system:serviceaccount:%s:%s", tok.Namespace, name)
	sa := &metav1.PartialObjectMetadata{}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	err := r.Get(ctx, types.NamespacedName{Namespace: tok.Namespace, Name: name}, sa)
	if err == nil && sa.DeletionTimestamp != nil {
		// Deleting a ServiceAccount is how an admin revokes it.
		err = apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
	}
	if apierrors.IsNotFound(err) {
		return &loadedCredentials{problem: missing(fmt.Sprintf("%s not found in namespace %q: create it, and add "+
			"a federated credential for subject %s to the app.", source, tok.Namespace, subject))}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ServiceAccount %s: %w", name, err)
	}

	lc := &loadedCredentials{resourceVersion: sa.ResourceVersion}
	field := "spec.credentials.workloadIdentity."
	annotation := func(key string) string { return strings.TrimSpace(sa.Annotations[key]) }
	tenant, p1 := pickID(source, "annotation "+annotationTenantID, annotation(annotationTenantID),
		field+"tenantId", string(wi.TenantID))
	client, p2 := pickID(source, "annotation "+annotationClientID, annotation(annotationClientID),
		field+"clientId", string(wi.ClientID))
	lc.app = graph.AppCredentials{TenantID: tenant, ClientID: client}
	where := fmt.Sprintf("annotate it with %s and %s, or set them in spec.credentials.workloadIdentity",
		annotationTenantID, annotationClientID)
	if lc.problem = firstProblem(p1, p2, checkIDs(source, lc.app, where)); lc.problem != nil {
		return lc, nil
	}

	key := workloadidentity.Key{Namespace: tok.Namespace, Name: name, UID: sa.UID}
	tokens := r.serviceAccountTokens()
	issued, err := tokens.Get(ctx, key)
	switch {
	case apierrors.IsNotFound(err):
		lc.problem = missing(fmt.Sprintf("%s was deleted: create it again.", source))
		return lc, nil
	case apierrors.IsForbidden(err):
		lc.problem = &failure{Reason: intunev1alpha1.ReasonPermissionDenied,
			Message: fmt.Sprintf("The API server refused the operator a token for %s (%s). If RBAC refused it, "+
				"bind the ClusterRole vpp-operator-workload-identity-role to the operator's own ServiceAccount, "+
				"not to %q, with a RoleBinding in namespace %q.", source, apiMessage(err), name, tok.Namespace)}
		return lc, nil
	case isRefusal(err):
		lc.problem = &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("The API server refused a token for %s: %s.", source, apiMessage(err))}
		return lc, nil
	case err != nil:
		return nil, fmt.Errorf("requesting a token for ServiceAccount %s: %w", name, err)
	}

	lc.app.Assertion = &graph.ClientAssertion{
		ID:  fmt.Sprintf("serviceaccount:%s/%s/%s", key.Namespace, key.Name, key.UID),
		Get: func(ctx context.Context) (string, error) { t, err := tokens.Get(ctx, key); return t.Value, err },
	}
	lc.material = []string{"serviceaccount", string(sa.UID)}
	lc.signInAdvice = fmt.Sprintf("Check that the app %s has a federated credential with issuer %s, "+
		"subject %s and audience %s.", client, issued.Issuer, subject, workloadidentity.Audience)
	return lc, nil
}

// pickID takes an ID from the credential source or from the spec. Both may
// give it, but then they must agree: a silent choice would sign in as an app
// the user did not mean.
func pickID(source, where, fromSource, field, fromSpec string) (string, *failure) {
	switch {
	case fromSpec == "":
		return fromSource, nil
	case fromSource == "" || strings.EqualFold(fromSource, fromSpec):
		return fromSpec, nil
	default:
		return "", &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("%s's %s differs from %s: remove one of them.", source, where, field)}
	}
}

// checkIDs says what is wrong with the tenant and client IDs, if anything,
// before they are sent anywhere; where says how to give a missing one.
func checkIDs(source string, app graph.AppCredentials, where string) *failure {
	var absent []string
	if app.TenantID == "" {
		absent = append(absent, "tenant")
	}
	if app.ClientID == "" {
		absent = append(absent, "client")
	}
	if len(absent) > 0 {
		slices.Sort(absent)
		return missing(fmt.Sprintf("No %s ID for %s: %s.", strings.Join(absent, " or "), source, where))
	}
	if !tenantPattern.MatchString(app.TenantID) || !labelsFit(app.TenantID) {
		return &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("%s: the tenant ID must be the Directory (tenant) ID, a GUID, "+
				"or a domain such as contoso.onmicrosoft.com.", source)}
	}
	if !graph.IsGUID(app.ClientID) {
		return &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("%s: the client ID must be the app's Application (client) ID, a GUID.", source)}
	}
	return nil
}

// labelsFit says whether a tenant domain is within DNS's limits: 253
// characters, 63 to a label.
func labelsFit(tenant string) bool {
	if len(tenant) > 253 {
		return false
	}
	for label := range strings.SplitSeq(tenant, ".") {
		if len(label) > 63 {
			return false
		}
	}
	return true
}

func missing(message string) *failure {
	return &failure{Reason: intunev1alpha1.ReasonCredentialsMissing, Message: message}
}

func firstProblem(problems ...*failure) *failure {
	for _, p := range problems {
		if p != nil {
			return p
		}
	}
	return nil
}

// credentialsResourceVersion is the cached resourceVersion of the token's
// Secret or ServiceAccount, or empty when the cache has no such object.
func (r *VppTokenReconciler) credentialsResourceVersion(ctx context.Context, tok *intunev1alpha1.VppToken) (
	string, error) {
	meta := &metav1.PartialObjectMetadata{}
	var name string
	switch creds := tok.Spec.Credentials; {
	case creds.WorkloadIdentity != nil:
		meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
		name = creds.WorkloadIdentity.ServiceAccountName
	case creds.SecretRef != nil:
		meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		name = creds.SecretRef.Name
	default:
		return "", nil
	}
	if err := r.Get(ctx, types.NamespacedName{Namespace: tok.Namespace, Name: name}, meta); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", err
	}
	return meta.ResourceVersion, nil
}

// serviceAccountTokens returns the reconciler's ServiceAccount token cache,
// made on first use.
func (r *VppTokenReconciler) serviceAccountTokens() *workloadidentity.Cache {
	r.tokensOnce.Do(func() { r.tokens = workloadidentity.NewCache(r.Client) })
	return r.tokens
}

// isRefusal says whether the API server refused a request for good, as an
// admission policy does, rather than failing in a way worth retrying soon.
func isRefusal(err error) bool {
	code := apierrors.ReasonForError(err)
	status, ok := err.(apierrors.APIStatus)
	return ok && code != metav1.StatusReasonTooManyRequests && code != metav1.StatusReasonTimeout &&
		status.Status().Code >= 400 && status.Status().Code < 500
}

// apiMessage is the API server's own message of a refusal, bounded; it names
// the policy or permission involved, never a credential.
func apiMessage(err error) string {
	msg := err.Error()
	if status, ok := err.(apierrors.APIStatus); ok && status.Status().Message != "" {
		msg = status.Status().Message
	}
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	return msg
}
