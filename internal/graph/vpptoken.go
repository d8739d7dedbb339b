package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// VppToken is the part of Graph's vppToken resource the operator keeps. The
// token property, Apple's secret, is deliberately absent: it is never decoded.
// Enum properties are plain strings so that values newer than this code pass
// through unchanged.
type VppToken struct {
	ID                      string
	OrganizationName        string
	VppTokenAccountType     string
	AppleID                 string
	State                   string
	LastSyncStatus          string
	CountryOrRegion         string
	AutomaticallyUpdateApps *bool
	// Times are in UTC. LastSyncDateTime is nil when Intune has never synced.
	ExpirationDateTime   *time.Time
	LastSyncDateTime     *time.Time
	LastModifiedDateTime *time.Time
}

// wireVppToken mirrors the JSON; nil means the property was absent or null.
type wireVppToken struct {
	ID                      *string         `json:"id"`
	OrganizationName        *string         `json:"organizationName"`
	VppTokenAccountType     *string         `json:"vppTokenAccountType"`
	AppleID                 *string         `json:"appleId"`
	State                   *string         `json:"state"`
	LastSyncStatus          *string         `json:"lastSyncStatus"`
	CountryOrRegion         *string         `json:"countryOrRegion"`
	AutomaticallyUpdateApps *bool           `json:"automaticallyUpdateApps"`
	ExpirationDateTime      *dateTimeOffset `json:"expirationDateTime"`
	LastSyncDateTime        *dateTimeOffset `json:"lastSyncDateTime"`
	LastModifiedDateTime    *dateTimeOffset `json:"lastModifiedDateTime"`
}

// complete reports whether every property the operator shows was present.
func (w *wireVppToken) complete() bool {
	return w.ID != nil && w.OrganizationName != nil && w.VppTokenAccountType != nil &&
		w.AppleID != nil && w.State != nil && w.LastSyncStatus != nil &&
		w.CountryOrRegion != nil && w.AutomaticallyUpdateApps != nil &&
		w.ExpirationDateTime != nil && w.LastSyncDateTime != nil && w.LastModifiedDateTime != nil
}

func (w *wireVppToken) vppToken() *VppToken {
	return &VppToken{
		ID:                      property(w.ID),
		OrganizationName:        property(w.OrganizationName),
		VppTokenAccountType:     property(w.VppTokenAccountType),
		AppleID:                 property(w.AppleID),
		State:                   property(w.State),
		LastSyncStatus:          property(w.LastSyncStatus),
		CountryOrRegion:         property(w.CountryOrRegion),
		AutomaticallyUpdateApps: w.AutomaticallyUpdateApps,
		ExpirationDateTime:      w.ExpirationDateTime.time(),
		LastSyncDateTime:        w.LastSyncDateTime.time(),
		LastModifiedDateTime:    w.LastModifiedDateTime.time(),
	}
}

// property is a string property as the operator keeps it: bounded in length.
func property(s *string) string {
	if s == nil {
		return ""
	}
	return truncate(*s, maxProperty)
}

// errMalformed marks a reply body that is not a vppToken.
var errMalformed = errors.New("reply is not a vppToken")

// decodeVppToken reads a syncLicenses or GET reply. It accepts the shapes Graph
// is known to send: the vppToken itself, the documentation's {"value": {...}}
// wrapping, and no body at all (a 204, or an empty 200 as Microsoft's own SDK
// allows). complete says whether every property was there; when it is false the
// caller GETs the token. An empty body yields a nil token.
func decodeVppToken(body []byte) (tok *VppToken, complete bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		return nil, false, nil
	}

	var envelope struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return nil, false, fmt.Errorf("%w: %s", errMalformed, jsonProblem(err))
	}
	if v := bytes.TrimSpace(envelope.Value); len(v) > 0 && v[0] == '{' {
		body = v
	}

	var w wireVppToken
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, false, fmt.Errorf("%w: %s", errMalformed, jsonProblem(err))
	}
	return w.vppToken(), w.complete(), nil
}

// jsonProblem describes a decoding error without quoting the body, which may
// hold the Apple token.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("property %q has JSON type %s", typ.Field, typ.Value)
	case errors.Is(err, errBadTime):
		return errBadTime.Error()
	default:
		return "invalid JSON"
	}
}

// dateTimeOffset is Graph's Edm.DateTimeOffset: RFC 3339 with an offset and up
// to 7 fractional digits. Values without an offset are read as UTC.
type dateTimeOffset struct{ t time.Time }

// Intune writes the zero DateTimeOffset for a time that has not happened yet.
const neverYear = 1

var errBadTime = errors.New("a time property is not a DateTimeOffset in years 1 to 9999")

func (d *dateTimeOffset) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t, err := parseDateTimeOffset(s)
	if err != nil {
		return err
	}
	// Kubernetes stores times as RFC 3339 in UTC, which has four-digit years:
	// 9999-12-31T23:59:59-14:00 is a DateTimeOffset it cannot hold.
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return errBadTime
	}
	d.t = t
	return nil
}

func (d *dateTimeOffset) time() *time.Time {
	if d == nil {
		return nil
	}
	// Judge by the UTC year: otherwise the offset a reply writes would decide
	// whether one instant is "never" or a time in year 1.
	t := d.t.UTC()
	if t.Year() <= neverYear {
		return nil
	}
	return &t
}

func parseDateTimeOffset(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if !strings.ContainsAny(s, "Zz+") && strings.Count(s, "-") == 2 {
		if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadTime
}
