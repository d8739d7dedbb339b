package controllers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
)

// Keys of the credentials Secret.
const (
	keyTenantID     = "tenantId"
	keyClientID     = "clientId"
	keyClientSecret = "clientSecret"
)

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// tenantPattern accepts a tenant GUID or a verified domain such as
// contoso.onmicrosoft.com, the two forms the identity platform takes.
var tenantPattern = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+)$`)

// loadedCredentials is the result of reading the credentials Secret.
type loadedCredentials struct {
	app graph.AppCredentials
	// resourceVersion of the Secret read, empty when it does not exist.
	resourceVersion string
	// problem, when set, says why the Secret cannot be used.
	problem *failure
}

// fingerprint identifies the credentials read, or their absence, without
// holding them. It never leaves the process.
func (lc *loadedCredentials) fingerprint() [sha256.Size]byte {
	problem := ""
	if lc.problem != nil {
		problem = lc.problem.Message
	}
	return sha256.Sum256([]byte(strings.Join([]string{
		lc.app.TenantID, lc.app.ClientID, lc.app.ClientSecret, problem}, "\x00")))
}

// loadCredentials reads the token's Secret from the API server, not a cache:
// the operator watches Secrets' metadata only and reads the data just before use.
// Kubernetes API errors are returned; a missing or unusable Secret is a problem.
func (r *VppTokenReconciler) loadCredentials(ctx context.Context, tok *intunev1alpha1.VppToken) (
	*loadedCredentials, error) {
	name := tok.Spec.Credentials.SecretRef.Name
	var secret corev1.Secret
	// client-go logs response bodies at high verbosity through the context's
	// logger; a Secret's must never reach the log.
	quiet := logr.NewContext(ctx, logr.Discard())
	err := r.APIReader.Get(quiet, types.NamespacedName{Namespace: tok.Namespace, Name: name}, &secret)
	if apierrors.IsNotFound(err) {
		return &loadedCredentials{problem: &failure{
			Reason: intunev1alpha1.ReasonCredentialsMissing,
			Message: fmt.Sprintf("Secret %q not found: create it in namespace %q with keys %s, %s and %s.",
				name, tok.Namespace, keyTenantID, keyClientID, keyClientSecret),
		}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", name, err)
	}

	lc := &loadedCredentials{resourceVersion: secret.ResourceVersion}
	value := func(key string) string { return strings.TrimSpace(string(secret.Data[key])) }
	lc.app = graph.AppCredentials{
		TenantID:     value(keyTenantID),
		ClientID:     value(keyClientID),
		ClientSecret: value(keyClientSecret),
	}
	lc.problem = checkCredentials(name, lc.app)
	return lc, nil
}

// checkCredentials says what is wrong with the Secret's values, if anything,
// before they are sent anywhere.
func checkCredentials(secretName string, app graph.AppCredentials) *failure {
	var missing []string
	for key, v := range map[string]string{
		keyTenantID: app.TenantID, keyClientID: app.ClientID, keyClientSecret: app.ClientSecret,
	} {
		if v == "" {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return &failure{Reason: intunev1alpha1.ReasonCredentialsMissing,
			Message: fmt.Sprintf("Secret %q has no value for %s: add the key with the app registration's value.",
				secretName, strings.Join(missing, ", "))}
	}
	if !tenantPattern.MatchString(app.TenantID) {
		return &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("Secret %q: %s must be the Directory (tenant) ID, a GUID, "+
				"or a domain such as contoso.onmicrosoft.com.", secretName, keyTenantID)}
	}
	if !guidPattern.MatchString(app.ClientID) {
		return &failure{Reason: intunev1alpha1.ReasonCredentialsInvalid,
			Message: fmt.Sprintf("Secret %q: %s must be the app's Application (client) ID, a GUID.", secretName, keyClientID)}
	}
	return nil
}

// secretResourceVersion is the cached resourceVersion of the token's Secret, or
// empty when the cache has no such Secret.
func (r *VppTokenReconciler) secretResourceVersion(ctx context.Context, tok *intunev1alpha1.VppToken) (string, error) {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	key := types.NamespacedName{Namespace: tok.Namespace, Name: tok.Spec.Credentials.SecretRef.Name}
	if err := r.Get(ctx, key, meta); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", err
	}
	return meta.ResourceVersion, nil
}
