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

// App is an app registration with a client secret.
type App struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// Denied apps sign in but lack DeviceManagementServiceConfig.ReadWrite.All,
	// so Intune answers their calls with 403.
	Denied bool `json:"denied,omitempty"`
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
}

func newStore(d Data) (*store, error) {
	// A deep copy, so the caller's Data stays as it was.
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
		st.apps[tid+"|"+strings.ToLower(t.Apps[i].ClientID)] = &t.Apps[i]
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
