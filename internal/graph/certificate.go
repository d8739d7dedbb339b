package graph

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Certificate is an app's certificate credential: the certificate registered
// on the app registration, any intermediates after it, and its private key.
type Certificate struct {
	Chain []*x509.Certificate
	Key   *rsa.PrivateKey
}

// Thumbprint is the SHA-256 thumbprint of the leaf certificate, in hex, as the
// Entra admin center lists it; it identifies the certificate, not its key.
func (c *Certificate) Thumbprint() string {
	sum := sha256.Sum256(c.Chain[0].Raw)
	return hex.EncodeToString(sum[:])
}

// fingerprint identifies the certificate together with its key, so that a
// re-keyed certificate makes a new credential.
func (c *Certificate) fingerprint() string {
	h := sha256.New()
	h.Write(c.Chain[0].Raw)
	h.Write(x509.MarshalPKCS1PrivateKey(c.Key))
	return hex.EncodeToString(h.Sum(nil))
}

// minKeyBits is the smallest RSA key Entra ID accepts for a certificate credential.
const minKeyBits = 2048

// ParseCertificate reads a PEM certificate chain, leaf first, and the leaf's
// unencrypted PEM private key, the form cert-manager and kubernetes.io/tls
// Secrets use. Entra ID signs in with RSA certificates only. Errors say what
// is wrong and never quote the input.
func ParseCertificate(certPEM, keyPEM []byte, now time.Time) (*Certificate, error) {
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseRSAKey(keyPEM)
	if err != nil {
		return nil, err
	}

	leaf := chain[0]
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("the certificate's key is not RSA: Entra ID accepts RSA certificates only")
	}
	if key.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("the RSA key has %d bits: Entra ID requires at least %d", key.N.BitLen(), minKeyBits)
	}
	if !pub.Equal(&key.PublicKey) {
		return nil, errors.New("the private key does not belong to the first certificate")
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("the certificate expired on %s: renew it and upload the new one to the app",
			leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &Certificate{Chain: chain, Key: key}, nil
}

func parseChain(certPEM []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := bytes.TrimSpace(certPEM)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errors.New("a CERTIFICATE block is not a valid X.509 certificate")
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return chain, nil
}

func parseRSAKey(keyPEM []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(bytes.TrimSpace(keyPEM))
	if block == nil {
		return nil, errors.New("no PEM private key block found")
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("the private key is encrypted: store it unencrypted, as kubernetes.io/tls Secrets do")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return key, nil
		}
		return nil, errors.New("the RSA PRIVATE KEY block is not a valid PKCS #1 key")
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("the PRIVATE KEY block is not a valid PKCS #8 key")
		}
		if rsaKey, ok := key.(*rsa.PrivateKey); ok {
			return rsaKey, nil
		}
		return nil, errors.New("the private key is not RSA: Entra ID accepts RSA certificates only")
	case "EC PRIVATE KEY":
		return nil, errors.New("the private key is an EC key: Entra ID accepts RSA certificates only")
	default:
		// The label is not quoted: it is the Secret's content.
		return nil, errors.New("the key's PEM block is not a private key")
	}
}
