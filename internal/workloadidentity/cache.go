// Package workloadidentity gets ServiceAccount tokens for Entra ID's
// federated credentials: it requests them with the TokenRequest API, with the
// audience Entra ID requires, and keeps each until most of its life has passed.
//
// Requesting tokens needs create on serviceaccounts/token, a permission that
// would let a compromised operator act as any ServiceAccount it may mint tokens
// for. It is therefore a ClusterRole of its own, generated from the marker
// below, that admins bind with a RoleBinding only in the namespaces whose
// VppTokens use workload identity.
//
// +kubebuilder:rbac:groups="",resources=serviceaccounts/token,verbs=create
package workloadidentity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Audience is the audience Entra ID requires of a federated token.
const Audience = "api://AzureADTokenExchange"

// serviceAccountTokenLife is the lifetime requested for a ServiceAccount
// token. An access token lives about an hour and the identity library asks
// for an assertion only when it needs a new one, so a longer-lived token
// would only widen the window in which a stolen one is useful.
const serviceAccountTokenLife = time.Hour

// refreshAfter is the fraction of a token's life after which it is replaced,
// as the kubelet does with projected tokens, so that an assertion presented to
// Entra ID always has minutes left.
const refreshAfter = 0.8

// Key names a ServiceAccount; the UID tells a recreated one apart.
type Key struct {
	Namespace, Name string
	UID             types.UID
}

// Token is a ServiceAccount token and what is known of it.
type Token struct {
	// Value is the token itself, a credential.
	Value string
	// Issuer is the token's iss claim, for advice about the federated credential.
	Issuer    string
	refreshAt time.Time
	expiresAt time.Time
}

// Cache requests tokens with the TokenRequest API and keeps each until most
// of its life has passed. It holds them in memory only and is safe for
// concurrent use.
type Cache struct {
	client client.Client
	now    func() time.Time

	mu        sync.Mutex
	entries   map[Key]*tokenEntry
	lastPrune time.Time
}

type tokenEntry struct {
	mu     sync.Mutex // serialises requests for one ServiceAccount
	issued Token
}

// NewCache returns a Cache that requests tokens through c.
func NewCache(c client.Client) *Cache {
	return &Cache{client: c, now: time.Now, entries: map[Key]*tokenEntry{}}
}

// Get returns a token for the ServiceAccount with the exchange audience,
// requesting one when none is cached or the cached one is due for refresh.
// Errors are the API server's, such as NotFound or Forbidden.
func (c *Cache) Get(ctx context.Context, key Key) (Token, error) {
	e := c.entry(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.issued.Value != "" && c.now().Before(e.issued.refreshAt) {
		return e.issued, nil
	}

	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{Audience},
		ExpirationSeconds: ptr.To(int64(serviceAccountTokenLife.Seconds())),
	}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	// client-go logs response bodies at high verbosity; this one is a credential.
	quiet := logr.NewContext(ctx, logr.Discard())
	requested := c.now()
	if err := c.client.SubResource("token").Create(quiet, sa, req); err != nil {
		return Token{}, err
	}
	if req.Status.Token == "" {
		return Token{}, errors.New("the API server returned an empty ServiceAccount token")
	}
	expires := req.Status.ExpirationTimestamp.Time
	e.issued = Token{
		Value:     req.Status.Token,
		Issuer:    issuerOf(req.Status.Token),
		expiresAt: expires,
		refreshAt: requested.Add(time.Duration(float64(expires.Sub(requested)) * refreshAfter)),
	}
	return e.issued, nil
}

// entry returns the cache entry for key. Once a minute it drops entries whose
// tokens have expired, so ServiceAccounts that are gone do not accumulate.
func (c *Cache) entry(key Key) *tokenEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.lastPrune) > time.Minute {
		c.lastPrune = now
		for k, e := range c.entries {
			// An entry being refreshed is in use; leave it.
			if k != key && e.mu.TryLock() {
				if now.After(e.issued.expiresAt) {
					delete(c.entries, k)
				}
				e.mu.Unlock()
			}
		}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &tokenEntry{}
		c.entries[key] = e
	}
	return e
}

// issuerOf reads the iss claim of a JWT without verifying it: the value only
// goes into advice about which issuer the app must trust.
func issuerOf(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "(unknown)"
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "(unknown)"
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Issuer == "" || len(claims.Issuer) > 256 {
		return "(unknown)"
	}
	return claims.Issuer
}
