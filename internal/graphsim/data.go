package graphsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
)

// Data is what graphsim serves: tenants, their app registrations and their
// vppTokens. It reads from JSON so a command can serve a file.
type Data struct {
	Tenants []Tenant `json:"tenants"`
	// Issuers are the external OIDC issuers whose tokens federated credentials
	// trust. Their keys are data because graphsim never fetches a JWKS itself.
	Issuers []Issuer `json:"issuers,omitempty"`
}

// Issuer is an external OIDC issuer, such as a Kubernetes API server.
type Issuer struct {
	// URL is the issuer exactly as its tokens' iss claim spells it.
	URL string `json:"url"`
	// JWKS is the issuer's JSON Web Key Set, as served at its jwks_uri (for a
	// Kubernetes API server, /openid/v1/jwks). Keys must be RSA or EC P-256.
	JWKS json.RawMessage `json:"jwks"`
}

// Tenant is an Entra tenant with Intune.
type Tenant struct {
	ID string `json:"id"`
	// Cloud is the national cloud the tenant lives in; empty means AzurePublic.
	// Access tokens are only issued for that cloud's Graph.
	Cloud     string     `json:"cloud,omitempty"`
	Apps      []App      `json:"apps"`
	VppTokens []VppToken `json:"vppTokens"`
}

// App is an app registration and the credentials it can sign in with.
type App struct {
	ClientID string `json:"clientId"`
	// ClientSecret is the secret's value; empty means the app has no secret.
	ClientSecret string `json:"clientSecret,omitempty"`
	// Certificates are PEM public certificates with RSA keys, one per entry,
	// whose private keys may sign client assertions.
	Certificates []string `json:"certificates,omitempty"`
	// FederatedCredentials trust tokens of external issuers as client
	// assertions (workload identity federation).
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
	// Denied apps sign in but lack DeviceManagementServiceConfig.ReadWrite.All,
	// so Intune answers their calls with 403.
	Denied bool `json:"denied,omitempty"`

	// certs are Certificates, parsed when the data is loaded.
	certs []registeredCert
}

// FederatedCredential trusts the tokens one external issuer gives one subject.
type FederatedCredential struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	// Audiences the token must name one of; empty means
	// ["api://AzureADTokenExchange"], as Entra sets by default.
	Audiences []string `json:"audiences,omitempty"`
}

// Reply shapes of syncLicenses.
const (
	ShapeBare           = "bare"           // the vppToken, as Microsoft's SDK parses it
	ShapeWrapped        = "wrapped"        // {"value": {...}}, as the documentation's example
	ShapeWrappedPartial = "wrappedPartial" // {"value": {...}} with most properties left out
	ShapeEmpty          = "empty"          // 200 with no body
	ShapeNoContent      = "noContent"      // 204
)

// VppToken is a token's Graph properties, served as given (so a test can use
// any value or time format), plus how syncLicenses answers for it.
type VppToken struct {
	// Properties are the vppToken's Graph properties; "id" is required.
	Properties map[string]any `json:"properties"`
	// ReplyShape is how syncLicenses answers; empty means ShapeBare.
	ReplyShape string `json:"replyShape,omitempty"`
	// SyncPolls is how many GETs after a syncLicenses still find the sync
	// inProgress, as Intune's sync with Apple runs asynchronously; zero
	// finishes it within the call.
	SyncPolls int `json:"syncPolls,omitempty"`
	// SyncResult is the lastSyncStatus a sync ends in: "completed" (the
	// default) or "failed".
	SyncResult string `json:"syncResult,omitempty"`

	// pendingPolls counts down the GETs of a sync in progress.
	pendingPolls int
}

// store is the mutable copy of Data that requests read and change.
type store struct {
	tenants map[string]*Tenant   // by lower-case ID
	apps    map[string]*App      // by tenant|client, lower-case
	tokens  map[string]*VppToken // by lower-case token ID
	owners  map[string]string    // token ID to tenant ID, lower-case
	issuers map[string]keySet    // by issuer URL, exactly as given
}

func newStore(d Data) (*store, error) {
	issuers := map[string]keySet{}
	for _, iss := range d.Issuers {
		keys, err := parseJWKS(iss.JWKS)
		if err != nil {
			return nil, fmt.Errorf("issuer %s: %w", iss.URL, err)
		}
		issuers[iss.URL] = keys
	}

	// A deep copy, so the caller's Data stays as it was. The issuers' keys are
	// parsed already, and leaving them out spares a JWKS the JSON round trip.
	d.Issuers = nil
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var own Data
	if err := json.Unmarshal(raw, &own); err != nil {
		return nil, err
	}

	st := &store{
		tenants: map[string]*Tenant{},
		apps:    map[string]*App{},
		tokens:  map[string]*VppToken{},
		owners:  map[string]string{},
		issuers: issuers,
	}
	for i := range own.Tenants {
		if err := st.addTenant(&own.Tenants[i]); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func (st *store) addTenant(t *Tenant) error {
	tid := strings.ToLower(t.ID)
	if tid == "" {
		return fmt.Errorf("a tenant has no id")
	}
	if t.Cloud == "" {
		t.Cloud = "AzurePublic"
	}
	if _, ok := graphRoots[t.Cloud]; !ok {
		return fmt.Errorf("tenant %s: unknown cloud %q", t.ID, t.Cloud)
	}
	st.tenants[tid] = t
	for i := range t.Apps {
		app := &t.Apps[i]
		for j, text := range app.Certificates {
			cert, err := parseCertificate(text)
			if err != nil {
				return fmt.Errorf("tenant %s: app %s: certificate %d: %w", t.ID, app.ClientID, j, err)
			}
			app.certs = append(app.certs, cert)
		}
		st.apps[tid+"|"+strings.ToLower(app.ClientID)] = app
	}
	for i := range t.VppTokens {
		tok := &t.VppTokens[i]
		id, _ := tok.Properties["id"].(string)
		if id == "" {
			return fmt.Errorf("tenant %s: a vppToken has no id", t.ID)
		}
		st.tokens[strings.ToLower(id)] = tok
		st.owners[strings.ToLower(id)] = tid
	}
	return nil
}

// SetTokenProperty changes one Graph property of a token, such as its state.
func (s *Server) SetTokenProperty(tokenID, name string, value any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.data.tokens[strings.ToLower(tokenID)]
	if !ok {
		return fmt.Errorf("token %s: %w", tokenID, errNotFound)
	}
	tok.Properties[name] = value
	return nil
}

// SetReplyShape changes how syncLicenses answers for a token.
func (s *Server) SetReplyShape(tokenID, shape string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.data.tokens[strings.ToLower(tokenID)]
	if !ok {
		return fmt.Errorf("token %s: %w", tokenID, errNotFound)
	}
	tok.ReplyShape = shape
	return nil
}

// TokenProperties returns a copy of a token's current Graph properties.
func (s *Server) TokenProperties(tokenID string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.data.tokens[strings.ToLower(tokenID)]
	if !ok {
		return nil, fmt.Errorf("token %s: %w", tokenID, errNotFound)
	}
	return maps.Clone(tok.Properties), nil
}
