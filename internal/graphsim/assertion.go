package graphsim

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clientAssertionType is the only client_assertion_type Entra accepts.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionClockSkew is how far a client's clock may be off: an assertion is
// accepted from five minutes before its nbf until five minutes after its exp,
// the default allowance of Microsoft's token validation.
const assertionClockSkew = 5 * time.Minute

// thumbprintHeaders are the JOSE headers that name a certificate: SHA-256 as
// MSAL sends it, else SHA-1 as ADFS-style clients do.
var thumbprintHeaders = []string{"x5t#S256", "x5t"}

// clientAssertion is a client_assertion as read before any check: nothing in
// it is trusted until its signature has been verified.
type clientAssertion struct {
	raw    string
	header map[string]any
	claims jwt.RegisteredClaims
}

// readAssertion parses a client assertion without trusting it. A JWT that
// does not parse, or has no exp claim (Entra requires one), is malformed.
func readAssertion(raw string) (*clientAssertion, *rejection) {
	a := &clientAssertion{raw: raw}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &a.claims)
	if err != nil {
		return nil, invalidRequest(aadstsMalformedJWT,
			"JWT token is invalid or malformed. The client assertion could not be parsed.")
	}
	if a.claims.ExpiresAt == nil {
		return nil, invalidRequest(aadstsMalformedJWT,
			"JWT token is invalid or malformed. The client assertion has no 'exp' claim.")
	}
	a.header = tok.Header
	return a, nil
}

// thumbprintHeader returns the header naming the assertion's certificate, or
// "" for an assertion without one, which is an external issuer's token.
func (a *clientAssertion) thumbprintHeader() string {
	for _, h := range thumbprintHeaders {
		if _, ok := a.header[h]; ok {
			return h
		}
	}
	return ""
}

// signedBy reports whether key made the assertion's signature with one of the
// algorithms; any other algorithm, "none" included, fails.
func (a *clientAssertion) signedBy(key crypto.PublicKey, algs ...string) bool {
	parser := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation())
	_, err := parser.Parse(a.raw, func(*jwt.Token) (any, error) { return key, nil })
	return err == nil
}

// verifyCertificateAssertion checks an assertion the app signed with one of
// its certificates, in the order Entra reports failures:
//  1. the header names a certificate registered on the app;
//  2. that certificate's key signed it, with PS256 (MSAL) or RS256 (ADFS);
//  3. aud is this tenant's token endpoint;
//  4. iss and sub are both the client ID;
//  5. it is within its valid time range.
func (s *Server) verifyCertificateAssertion(
	a *clientAssertion, tenant string, app *App) (string, *rejection) {
	cert, rej := a.certificate(app)
	if rej != nil {
		return "", rej
	}
	if !a.signedBy(cert.key, "PS256", "RS256") {
		return "", invalidClient(aadstsAssertionSignature,
			"Client assertion failed signature validation.")
	}
	if !slices.ContainsFunc(a.claims.Audience, func(aud string) bool {
		return s.isTokenEndpoint(aud, tenant)
	}) {
		return "", invalidClient(aadstsAssertionAudience,
			"Client assertion audience claim does not match Realm issuer. Expected '%s'.",
			s.URL+"/"+tenant+"/oauth2/v2.0/token")
	}
	// Client IDs are GUIDs, which Entra compares regardless of case.
	if !strings.EqualFold(a.claims.Issuer, app.ClientID) ||
		!strings.EqualFold(a.claims.Subject, app.ClientID) {
		return "", invalidClient(aadstsAssertionAppID,
			"Client assertion application identifier doesn't match 'client_id' parameter. "+
				"Both iss and sub must be '%s'.", app.ClientID)
	}
	if rej := checkTimeRange(a.claims, s.now()); rej != nil {
		return "", rej
	}
	return credentialCertificatePrefix + hex.EncodeToString(cert.sha256[:]), nil
}

// certificate finds the app certificate the assertion's header names. MSAL
// writes x5t#S256 in standard base64 with padding where RFC 7515 asks for
// unpadded base64url, so both alphabets are read, with or without padding.
func (a *clientAssertion) certificate(app *App) (registeredCert, *rejection) {
	h := a.thumbprintHeader()
	text, _ := a.header[h].(string)
	text = strings.TrimRight(text, "=")
	text = strings.NewReplacer("+", "-", "/", "_").Replace(text)
	sum, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || len(sum) == 0 {
		return registeredCert{}, invalidRequest(aadstsMalformedJWT,
			"JWT token is invalid or malformed. The '%s' header is not a base64 thumbprint.", h)
	}
	for _, c := range app.certs {
		registered := c.sha256[:]
		if h == "x5t" {
			registered = c.sha1[:]
		}
		if bytes.Equal(sum, registered) {
			return c, nil
		}
	}
	return registeredCert{}, invalidClient(aadstsAssertionSignature,
		"Client assertion failed signature validation. The certificate with thumbprint '%X' "+
			"used to sign the client assertion is not registered on application '%s'.",
		sum, app.ClientID)
}

// isTokenEndpoint reports whether aud is this server's v2.0 token endpoint for
// the tenant. MSAL lowercases the tenant, so its case does not matter.
func (s *Server) isTokenEndpoint(aud, tenant string) bool {
	rest, ok := strings.CutPrefix(aud, s.URL+"/")
	if !ok {
		return false
	}
	audTenant, ok := strings.CutSuffix(rest, "/oauth2/v2.0/token")
	return ok && strings.EqualFold(audTenant, tenant)
}

// verifyFederatedAssertion checks an external issuer's token against the
// app's federated credentials, in the order Entra reports failures:
//  1. a credential trusts the token's issuer;
//  2. the issuer's key with the token's kid signed it, with RS256 or ES256;
//  3. one of those credentials names the token's subject;
//  4. one of those takes an audience the token names;
//  5. it is within its valid time range.
//
// Issuer and subject match exactly, as Entra matches them case-sensitively.
func (s *Server) verifyFederatedAssertion(a *clientAssertion, app *App) (string, *rejection) {
	c := a.claims
	trusted := slices.DeleteFunc(slices.Clone(app.FederatedCredentials),
		func(fc FederatedCredential) bool { return fc.Issuer != c.Issuer })
	if len(trusted) == 0 {
		return "", invalidClient(aadstsFederatedIssuer, "No matching federated identity record "+
			"found for presented assertion issuer '%s'. Check the federated identity credential's "+
			"Issuer, Subject and Audience against the presented assertion.", c.Issuer)
	}

	kid, _ := a.header["kid"].(string)
	key, ok := s.issuerKey(c.Issuer, kid)
	if !ok {
		return "", invalidClient(aadstsIssuerKeyNotFound, "The key with identifier '%s' used to "+
			"sign the federated credential was not found in the keys of identity provider '%s'.",
			kid, c.Issuer)
	}
	if !a.signedBy(key, "RS256", "ES256") {
		return "", invalidClient(aadstsAssertionSignature,
			"Client assertion failed signature validation.")
	}

	trusted = slices.DeleteFunc(trusted,
		func(fc FederatedCredential) bool { return fc.Subject != c.Subject })
	if len(trusted) == 0 {
		return "", invalidClient(aadstsFederatedSubject, "No matching federated identity record "+
			"found for presented assertion subject '%s'. Check the federated identity "+
			"credential's Issuer, Subject and Audience against the presented assertion.", c.Subject)
	}
	if !slices.ContainsFunc(trusted, func(fc FederatedCredential) bool {
		return acceptsAudience(fc, c.Audience)
	}) {
		return "", invalidClient(aadstsFederatedAudience, "No matching federated identity record "+
			"found for presented assertion audience '%s'. Check the federated identity "+
			"credential's Issuer, Subject and Audience against the presented assertion.",
			strings.Join(c.Audience, ","))
	}

	if rej := checkTimeRange(c, s.now()); rej != nil {
		return "", rej
	}
	return credentialFederatedPrefix + c.Subject, nil
}

// acceptsAudience reports whether the token names one of the credential's
// audiences.
func acceptsAudience(fc FederatedCredential, audiences []string) bool {
	want := fc.Audiences
	if len(want) == 0 {
		want = []string{defaultFederatedAudience}
	}
	return slices.ContainsFunc(audiences, func(aud string) bool { return slices.Contains(want, aud) })
}

// checkTimeRange rejects an assertion whose exp has passed or whose nbf has
// not come yet, each by more than assertionClockSkew; nbf is optional.
func checkTimeRange(c jwt.RegisteredClaims, now time.Time) *rejection {
	expired := now.After(c.ExpiresAt.Add(assertionClockSkew))
	early := c.NotBefore != nil && c.NotBefore.After(now.Add(assertionClockSkew))
	if !expired && !early {
		return nil
	}
	from := "(not set)"
	if c.NotBefore != nil {
		from = c.NotBefore.UTC().Format(time.RFC3339)
	}
	return invalidClient(aadstsAssertionTimeRange, "Client assertion is not within its valid "+
		"time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
		now.UTC().Format(time.RFC3339), from, c.ExpiresAt.UTC().Format(time.RFC3339))
}
