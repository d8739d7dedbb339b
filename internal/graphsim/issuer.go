package graphsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DiscoverIssuer reads an OIDC issuer's discovery document at base and the
// keys it names, as Entra ID does before it trusts a federated credential's
// issuer, without leaving base. hc carries whatever authentication base
// requires, as a Kubernetes API server does for its ServiceAccount issuer.
func DiscoverIssuer(ctx context.Context, hc *http.Client, base string) (Issuer, error) {
	get := func(u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s answered %d", u, resp.StatusCode)
		}
		return body, err
	}
	raw, err := get(strings.TrimRight(base, "/") + "/.well-known/openid-configuration")
	if err != nil {
		return Issuer{}, err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Issuer == "" || doc.JWKSURI == "" {
		return Issuer{}, fmt.Errorf("%s serves no usable OpenID discovery document", base)
	}
	// An API server names its advertised address in jwks_uri, which the
	// caller may not reach; the keys are served on base at the same path.
	jwks, err := url.Parse(doc.JWKSURI)
	if err != nil {
		return Issuer{}, fmt.Errorf("%s names a jwks_uri that is not a URL", base)
	}
	keys, err := get(strings.TrimRight(base, "/") + jwks.Path)
	if err != nil {
		return Issuer{}, err
	}
	return Issuer{URL: doc.Issuer, JWKS: keys}, nil
}
