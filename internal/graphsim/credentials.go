package graphsim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// defaultFederatedAudience is the audience Entra gives a federated credential
// when none is set, and the one workload identity asks its tokens for.
const defaultFederatedAudience = "api://AzureADTokenExchange"

// registeredCert is an app certificate as the token endpoint looks it up: by
// the thumbprint an assertion's header names. SHA-1 only names a certificate
// (x5t, for ADFS-style clients); the signature is what proves the key.
type registeredCert struct {
	sha1   [sha1.Size]byte
	sha256 [sha256.Size]byte
	key    *rsa.PublicKey
}

// parseCertificate reads one PEM certificate. Only RSA keys are accepted, as
// Entra accepts them for an app's certificate credentials.
func parseCertificate(text string) (registeredCert, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE" {
		return registeredCert{}, errors.New("not a PEM certificate")
	}
	// One entry is one credential; a second block would be silently unused.
	if next, _ := pem.Decode(rest); next != nil {
		return registeredCert{}, errors.New("more than one PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return registeredCert{}, err
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return registeredCert{}, fmt.Errorf("a %T key; an RSA key is required", cert.PublicKey)
	}
	return registeredCert{
		sha1:   sha1.Sum(cert.Raw),
		sha256: sha256.Sum256(cert.Raw),
		key:    key,
	}, nil
}

// keySet is an issuer's signing keys by key ID.
type keySet map[string]crypto.PublicKey

// jsonWebKey holds the members of an RFC 7517 key that graphsim uses.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS reads a JSON Web Key Set. Every signing key must have a kid, as
// assertions pick their key by it, and be one graphsim can verify with (RSA,
// or EC on P-256), so that a typo fails at load rather than as a puzzling
// sign-in error. Encryption keys are skipped. An empty set is allowed.
func parseJWKS(raw []byte) (keySet, error) {
	keys := keySet{}
	if len(raw) == 0 || string(raw) == "null" {
		return keys, nil
	}
	var doc struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("reading the JWKS: %w", err)
	}
	for i, jwk := range doc.Keys {
		if jwk.Use == "enc" {
			continue
		}
		if jwk.Kid == "" {
			return nil, fmt.Errorf("key %d has no kid", i)
		}
		if _, dup := keys[jwk.Kid]; dup {
			return nil, fmt.Errorf("kid %q appears twice", jwk.Kid)
		}
		key, err := jwk.publicKey()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", jwk.Kid, err)
		}
		keys[jwk.Kid] = key
	}
	return keys, nil
}

func (jwk jsonWebKey) publicKey() (crypto.PublicKey, error) {
	switch jwk.Kty {
	case "RSA":
		n, err := base64.RawURLEncoding.DecodeString(jwk.N)
		if err != nil || len(n) == 0 {
			return nil, errors.New("n is not base64url")
		}
		e, err := base64.RawURLEncoding.DecodeString(jwk.E)
		// Four bytes keep the exponent within an int; real ones are 65537.
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("e is not a base64url exponent")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		if jwk.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q; only P-256 (ES256) is supported", jwk.Crv)
		}
		x, errX := base64.RawURLEncoding.DecodeString(jwk.X)
		y, errY := base64.RawURLEncoding.DecodeString(jwk.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("x and y must be 32 bytes of base64url each")
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	default:
		return nil, fmt.Errorf("key type %q is not supported", jwk.Kty)
	}
}

// SetIssuerKeys adds an external issuer's signing keys, or replaces them, as
// when a cluster rotates its service account signing key. issuerURL is the
// issuer as its tokens name it; jwks is its JSON Web Key Set.
func (s *Server) SetIssuerKeys(issuerURL string, jwks []byte) error {
	keys, err := parseJWKS(jwks)
	if err != nil {
		return fmt.Errorf("issuer %s: %w", issuerURL, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.issuers[issuerURL] = keys
	return nil
}

// issuerKey returns the key an issuer signs with under kid.
func (s *Server) issuerKey(issuerURL, kid string) (crypto.PublicKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.data.issuers[issuerURL][kid]
	return key, ok
}
