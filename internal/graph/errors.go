package graph

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// APIError is an error reply from Graph. Callers branch on StatusCode and Code,
// never on Message.
type APIError struct {
	StatusCode int
	// Code is error.code of Graph's envelope, such as Forbidden or ResourceNotFound.
	Code string
	// InnerCode is the ErrorCode Intune nests inside error.message, if any.
	InnerCode string
	// Message is the human text, unwrapped from Intune's nested JSON.
	Message string
	// RequestID is Graph's request-id, for Microsoft support.
	RequestID string
	// RetryAfter is the server's Retry-After; zero when it sent none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph answered %d", e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request-id %s)", e.RequestID)
	}
	return b.String()
}

// AuthError is the identity platform refusing to issue an access token. It is a
// summary: the identity library's own error carries the raw exchange, and is
// never passed on.
type AuthError struct {
	StatusCode int
	// ErrorCode is the OAuth error, such as invalid_client.
	ErrorCode string
	// AADSTS is the Entra error number, such as 7000215; zero if none was sent.
	AADSTS int
	// CorrelationID identifies the request for Microsoft support.
	CorrelationID string
	// RetryAfter is the server's Retry-After; zero when it sent none.
	RetryAfter time.Duration
	// Problem describes credentials rejected before any request was sent.
	Problem string
}

func (e *AuthError) Error() string {
	if e.Problem != "" {
		return "credentials rejected: " + e.Problem
	}
	var b strings.Builder
	fmt.Fprintf(&b, "identity platform refused the token request (%d", e.StatusCode)
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, " %s", e.ErrorCode)
	}
	b.WriteString(")")
	if e.AADSTS != 0 {
		fmt.Fprintf(&b, ": AADSTS%d", e.AADSTS)
		if meaning, ok := aadstsMeanings[e.AADSTS]; ok {
			fmt.Fprintf(&b, " %s", meaning)
		}
	}
	if e.CorrelationID != "" {
		fmt.Fprintf(&b, " (correlation-id %s)", e.CorrelationID)
	}
	return b.String()
}

// aadstsMeanings explains the Entra errors admins meet when setting up an app.
var aadstsMeanings = map[int]string{
	7000215: "invalid client secret: use the secret's value, not its ID",
	7000222: "the client secret has expired: create a new one",
	700016:  "the app is not registered in this tenant: check clientId and tenantId",
	90002:   "the tenant does not exist: check tenantId and spec.cloud",
	90038:   "the tenant belongs to another national cloud: check spec.cloud",
	70011:   "the requested scope is invalid",
	7000112: "the app is disabled",
	700027:  "the client assertion's signature is invalid, or its certificate is not uploaded to the app",
	700024:  "the client assertion is expired or not yet valid: check the clock",
	700021:  "the client assertion's issuer or subject is not the app",
	700023:  "the client assertion's audience is not this tenant's token endpoint",
	700211:  "no federated credential of the app trusts the token's issuer",
	700212:  "no federated credential of the app accepts the token's audience",
	700213:  "no federated credential of the app matches the token's subject",
	7000272: "the token's signing key is not among the issuer's published keys",
	50027:   "the client assertion is not a valid JWT",
	50034:   "the account does not exist in the tenant",
}

// UnavailableError is a failure to get a usable reply: no connection, a
// timeout, a reply that is not what Graph sends, or a body over the size cap.
type UnavailableError struct {
	// Host is the host the request went to.
	Host string
	// Problem says what went wrong, without request or reply bodies.
	Problem string
	// RequestID is Graph's request-id when a reply arrived.
	RequestID string
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Host, e.Problem)
	if e.RequestID != "" {
		msg += fmt.Sprintf(" (request-id %s)", e.RequestID)
	}
	return msg
}

// parseAPIError builds an APIError from a non-success reply.
func parseAPIError(resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{
		StatusCode: resp.StatusCode,
		RequestID:  truncate(resp.Header.Get("request-id"), maxIdentifier),
		RetryAfter: RetryAfter(resp.Header.Get("Retry-After"), now),
	}
	var envelope struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &envelope) != nil {
		e.Message = http.StatusText(resp.StatusCode)
		return e
	}
	e.Code = truncate(envelope.Error.Code, maxIdentifier)
	e.Message, e.InnerCode = intuneMessage(envelope.Error.Message)
	if e.RequestID == "" {
		e.RequestID = truncate(envelope.Error.InnerError.RequestID, maxIdentifier)
	}
	return e
}

// intuneMessage unwraps the message of a Graph error. Intune puts a JSON
// document there, {"_version": 3, "Message": "...", ...}, sometimes with another
// such document inside its Message and an ErrorCode beside it. It returns the
// innermost human text, cut before Intune's "- Operation ID ..." trailer, and
// the innermost ErrorCode.
func intuneMessage(msg string) (text, errorCode string) {
	for depth := 0; depth < 4; depth++ {
		trimmed := strings.TrimSpace(msg)
		if !strings.HasPrefix(trimmed, "{") {
			break
		}
		var doc struct {
			Message   *string `json:"Message"`
			Lower     *string `json:"message"`
			ErrorCode string  `json:"ErrorCode"`
		}
		if json.Unmarshal([]byte(trimmed), &doc) != nil {
			break
		}
		if doc.ErrorCode != "" {
			errorCode = doc.ErrorCode
		}
		switch {
		case doc.Message != nil:
			msg = *doc.Message
		case doc.Lower != nil:
			msg = *doc.Lower
		default:
			return "", truncate(errorCode, maxIdentifier)
		}
	}
	if i := strings.Index(msg, " - Operation ID"); i >= 0 {
		msg = msg[:i]
	}
	return truncate(strings.Join(strings.Fields(msg), " "), maxMessage), truncate(errorCode, maxIdentifier)
}

// maxRetryAfter caps the wait a server can ask for. Either form of the header
// can name any future, so both are cut to the same day.
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads a Retry-After header: delay-seconds or an HTTP date. It
// returns zero when the header is absent, malformed, or in the past, and at
// most maxRetryAfter.
func RetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if isDigits(value) {
		// Clamp before converting so a huge value cannot overflow; one too
		// large for an int64 is as good as infinite.
		const maxSecs = int64(maxRetryAfter / time.Second)
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil || secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return min(at.Sub(now), maxRetryAfter)
	}
	return 0
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
