// Package graph is the operator's client for the two Microsoft Graph calls it
// makes on vppTokens, and for the identity platform sign-in that precedes them.
// It owns the cloud host table, the access-token cache, the decoding of Graph's
// replies and the typed errors the reconciler branches on. It knows nothing of
// Kubernetes.
package graph

import (
	"fmt"
	"net/url"
	"strings"
)

// Cloud hosts, from Microsoft's national cloud table. Resources only ever name a
// cloud; the hosts come from here or from the operator's own flags.
var clouds = map[string]Endpoints{
	"AzurePublic": {
		Graph:     "https://graph.microsoft.com",
		Authority: "https://login.microsoftonline.com",
	},
	"AzureUSGovernment": {
		Graph:     "https://graph.microsoft.us",
		Authority: "https://login.microsoftonline.us",
	},
	"AzureUSGovernmentDoD": {
		Graph:     "https://dod-graph.microsoft.us",
		Authority: "https://login.microsoftonline.us",
	},
	"AzureChina": {
		Graph:     "https://microsoftgraph.chinacloudapi.cn",
		Authority: "https://login.chinacloudapi.cn",
	},
}

// DefaultCloud is the cloud of a token that names none.
const DefaultCloud = "AzurePublic"

// Endpoints are the hosts the client talks to for one token.
type Endpoints struct {
	// Graph is the Graph root that requests go to, without the version segment.
	Graph string
	// Authority is the identity platform host that issues access tokens.
	Authority string
	// Scope is the OAuth scope requested for Graph. It is the cloud's own Graph
	// root even when requests go through an override, because it names the
	// audience of the token, not a host.
	Scope string
}

// Hosts resolves a cloud name into Endpoints, applying the operator-level
// overrides. The overrides are the only way to reach a host outside the table.
type Hosts struct {
	// GraphEndpoint, when set, replaces every cloud's Graph root.
	GraphEndpoint string
	// AuthorityHost, when set, replaces every cloud's identity platform host.
	AuthorityHost string
}

// Resolve returns the endpoints for a cloud; an empty name is DefaultCloud.
func (h Hosts) Resolve(cloud string) (Endpoints, error) {
	if cloud == "" {
		cloud = DefaultCloud
	}
	ep, ok := clouds[cloud]
	if !ok {
		return Endpoints{}, fmt.Errorf("unknown cloud %q", cloud)
	}
	ep.Scope = ep.Graph + "/.default"
	if h.GraphEndpoint != "" {
		ep.Graph = h.GraphEndpoint
	}
	if h.AuthorityHost != "" {
		ep.Authority = h.AuthorityHost
	}
	return ep, nil
}

// ParseEndpoint checks an operator-supplied host override and returns it in the
// form Endpoints uses: an https URL with no trailing slash, query or fragment.
func ParseEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	switch {
	case u.Scheme != "https":
		return "", fmt.Errorf("%q must be an https URL: TLS verification is always on", raw)
	case u.Host == "":
		return "", fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return "", fmt.Errorf("%q must not carry user information", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%q must not carry a query or fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// all returns every host that Resolve can name, lower case, with ports as given.
func (h Hosts) all() map[string]bool {
	hosts := map[string]bool{}
	for name := range clouds {
		ep, _ := h.Resolve(name)
		hosts[strings.ToLower(hostOf(ep.Graph))] = true
		hosts[strings.ToLower(hostOf(ep.Authority))] = true
	}
	return hosts
}
