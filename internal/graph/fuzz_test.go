package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets below feed the parsers what a broken or hostile Graph, or
// something posing as it, could send. Each checks the promises the rest of the
// operator builds on: bounded valid strings for status and logs, UTC times
// Kubernetes can store, errors that never echo a body, and waits that stay
// within their clamp.

// syncLicensesExample is the reply on Graph's syncLicenses page, wrapped in
// "value" as the page shows it.
const syncLicensesExample = `{
  "value": {
    "@odata.type": "#microsoft.graph.vppToken",
    "id": "276433d2-33d2-2764-d233-6427d2336427",
    "organizationName": "Organization Name value",
    "vppTokenAccountType": "String",
    "appleId": "Apple Id value",
    "expirationDateTime": "2017-01-01T00:02:19.5114528+03:00",
    "lastSyncDateTime": "2017-01-01T00:01:38.9161849+03:00",
    "token": "Token value",
    "lastModifiedDateTime": "2016-12-31T23:59:09.8413999+03:00",
    "state": "String",
    "lastSyncStatus": "String",
    "automaticallyUpdateApps": true,
    "countryOrRegion": "Country Or Region value"
  }
}`

// bareVppToken is the entity itself, as a GET and Microsoft's Go SDK see it.
const bareVppToken = `{
"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#deviceAppManagement/vppTokens/$entity",
"id":"3a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","organizationName":"Fabrikam",
"vppTokenAccountType":"education","appleId":"vpp@fabrikam.example",
"expirationDateTime":"2027-01-01T00:00:00.0000001+01:00","lastSyncDateTime":"0001-01-01T00:00:00Z",
"token":null,"lastModifiedDateTime":"2026-01-01T00:00:00Z","state":"assignedToExternalMDM",
"lastSyncStatus":"inProgress","automaticallyUpdateApps":false,"countryOrRegion":"gb"}`

func FuzzDecodeVppToken(f *testing.F) {
	for _, body := range []string{
		syncLicensesExample,
		bareVppToken,
		`{"value":{"id":"a","lastSyncStatus":"inProgress"}}`,
		`{"id":"a","state":"duplicateLocationId","displayName":"beta only"}`,
		"", " \n\t", "null", "{}", `{"value":null}`, `{"value":[]}`, `{"value":{"value":{"id":"a"}}}`,
		`{"id":"a","lastSyncDateTime":"0001-01-01T00:00:00Z"}`,
		`{"id":"a","expirationDateTime":"2027-03-04T05:06:07.1234567"}`,
		`{"id":"a","expirationDateTime":"9999-12-31T23:59:59-14:00"}`,
		`{"id":"a","expirationDateTime":"0001-01-01T00:00:00+14:00"}`,
		`{"id":"a","lastModifiedDateTime":"0002-01-01T00:30:00+01:00"}`,
		`{"id":"a","state":"` + strings.Repeat("é", maxProperty) + `"}`,
		`{"id":"a\ud800b","appleId":"\u00e9\u0000"}`,
		"{\"id\":\"a\xff\xfeb\"}",
		`{"token":"s3cret","state":5}`,
		`{"token":"s3cret","automaticallyUpdateApps":"yes"}`,
		`{"token":"s3cret","expirationDateTime":12}`,
		`{"token":"s3cret","state":`,
		`["s3cret"]`,
		`<html>s3cret</html>`,
	} {
		f.Add([]byte(body))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		tok, complete, err := decodeVppToken(body)

		again, againComplete, againErr := decodeVppToken(body)
		if !reflect.DeepEqual(tok, again) || complete != againComplete || !sameError(err, againErr) {
			t.Fatalf("two decodes of one body differ")
		}

		if err != nil {
			checkDecodeError(t, tok, complete, err)
			return
		}

		trimmed := strings.TrimSpace(string(body))
		if empty := trimmed == "" || trimmed == "null"; empty != (tok == nil) {
			t.Fatalf("token %v for body %q: only an empty body yields no token", tok, trimmed)
		}
		if tok == nil {
			if complete {
				t.Fatalf("no token, yet complete")
			}
			return
		}
		checkVppToken(t, tok, complete)
	})
}

// decodeErrorText is every message decodeVppToken may return. Only offsets,
// our own property names and JSON type words vary, so no byte of the body,
// which may hold the Apple token, can reach a log or a status.
var decodeErrorText = regexp.MustCompile(`^` + regexp.QuoteMeta(errMalformed.Error()) + `: (` +
	`invalid JSON at byte [0-9]+|` +
	`property "([a-zA-Z]*)" has JSON type (string|number|bool|array|object)|` +
	regexp.QuoteMeta(errBadTime.Error()) + `|` +
	`invalid JSON)$`)

func checkDecodeError(t *testing.T, tok *VppToken, complete bool, err error) {
	t.Helper()
	if tok != nil || complete {
		t.Fatalf("an error came with a token")
	}
	if !errors.Is(err, errMalformed) {
		t.Fatalf("error %q does not wrap errMalformed", err)
	}
	m := decodeErrorText.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error %q is not one of the known, body-free messages", err)
	}
	if name := m[2]; name != "" && !wirePropertyNames[name] {
		t.Fatalf("error %q names %q, which is not a vppToken property", err, name)
	}
}

// wirePropertyNames are the JSON names of wireVppToken, read from its tags so
// the check follows the type.
var wirePropertyNames = func() map[string]bool {
	names := map[string]bool{}
	typ := reflect.TypeFor[wireVppToken]()
	for i := range typ.NumField() {
		names[strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	return names
}()

func checkVppToken(t *testing.T, tok *VppToken, complete bool) {
	t.Helper()
	for name, s := range map[string]string{
		"id": tok.ID, "organizationName": tok.OrganizationName,
		"vppTokenAccountType": tok.VppTokenAccountType, "appleId": tok.AppleID,
		"state": tok.State, "lastSyncStatus": tok.LastSyncStatus,
		"countryOrRegion": tok.CountryOrRegion,
	} {
		checkBounded(t, name, s, maxProperty)
	}

	for name, tm := range map[string]*time.Time{
		"expirationDateTime":   tok.ExpirationDateTime,
		"lastSyncDateTime":     tok.LastSyncDateTime,
		"lastModifiedDateTime": tok.LastModifiedDateTime,
	} {
		if tm == nil {
			continue
		}
		if tm.Location() != time.UTC {
			t.Fatalf("%s %v is not in UTC", name, tm)
		}
		// Years up to neverYear are how Intune says "never", which is nil;
		// past 9999 Kubernetes' RFC 3339 timestamps cannot hold the value.
		if y := tm.Year(); y <= neverYear || y > 9999 {
			t.Fatalf("%s %v is outside years %d to 9999", name, tm, neverYear+1)
		}
	}

	if complete && tok.AutomaticallyUpdateApps == nil {
		t.Fatalf("complete, yet automaticallyUpdateApps is missing")
	}
}

// checkBounded fails unless s is valid UTF-8 without control or bidi
// characters and at most n bytes plus the ellipsis truncate marks a cut with.
func checkBounded(t *testing.T, name, s string, n int) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s %q is not valid UTF-8", name, s)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return printable(r) != r }); i >= 0 {
		t.Fatalf("%s %q holds a control character at byte %d", name, s, i)
	}
	if len(s) > n+len("…") {
		t.Fatalf("%s is %d bytes, over its bound of %d", name, len(s), n)
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// intuneOnce is Intune's usual reply: a JSON document in error.message.
const intuneOnce = `{"error":{"code":"Forbidden","message":"{\"_version\": 3, \"Message\": ` +
	`\"Application is not authorized to perform this operation. - Operation ID (for customer ` +
	`support): 00000000-0000-0000-0000-000000000000 - Activity ID: 1 - Url: ` +
	`https://fef.example/x\", \"CustomApiErrorPhrase\": \"\", \"RetryAfter\": null}",` +
	`"innerError":{"date":"2026-12-04T12:00:00","request-id":"req-1","client-request-id":"c-1"}}}`

// intuneTwice is the doubly nested form seen with a 401 when the app has no
// Intune rights: UnknownError outside, the real ErrorCode inside.
var intuneTwice = envelope("UnknownError", nest(
	`{"_version": 3, "RetryAfter": 30, "Message": %s}`,
	nest(`{"ErrorCode": "Forbidden", "Message": %s}`,
		nest(`{"_version": 3, "Message": %s}`,
			jsonQuote("No Intune rights - Operation ID (for customer support): 0")))))

// envelope is Graph's error body with the given code and raw JSON message.
func envelope(code, message string) string {
	return `{"error":{"code":` + jsonQuote(code) + `,"message":` + message +
		`,"innerError":{"request-id":"req-2"}}}`
}

// nest puts inner, a JSON value, into the document format and returns the
// document as a JSON string, the way Intune stacks its messages.
func nest(format, inner string) string {
	return jsonQuote(fmt.Sprintf(format, inner))
}

func jsonQuote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func FuzzParseAPIError(f *testing.F) {
	type seed struct {
		status                int
		requestID, retryAfter string
		body                  string
	}
	for _, s := range []seed{
		{403, "", "", intuneOnce},
		{401, "hdr-id", "", intuneTwice},
		{429, "", "17", `{"error":{"code":"TooManyRequests","message":"{\"_version\": 3, ` +
			`\"Message\": \"Too many requests\", \"RetryAfter\": \"17\"}"}}`},
		{503, "req-3", "Fri, 04 Dec 2026 12:01:30 GMT", `{"error":{"code":"ServiceUnavailable"}}`},
		{404, "", "", `{"error":{"code":"ResourceNotFound","message":"Resource not found ` +
			`for the segment 'syncLicense'."}}`},
		{400, "", "", `{"error":{"code":"BadRequest","message":"{\"ErrorCode\":\"Forbidden\"}"}}`},
		{401, "", "", envelope("UnknownError", nest(`{"ErrorCode": %s}`,
			jsonQuote(strings.Repeat("Forbidden", 40))))},
		{400, "", "", `{"error":{"code":"BadRequest","message":"{\"message\":\"lower case\"}"}}`},
		{500, "", "", `{"error":{"code":"x","message":"{{{{"}}`},
		{500, "", "", envelope("", nest(`{"Message": %s}`, nest(`{"Message": %s}`,
			nest(`{"Message": %s}`, nest(`{"Message": %s}`, jsonQuote("five deep"))))))},
		{502, "", "", "<html>Bad gateway</html>"},
		{500, "", "", ""},
		{500, "", "", "null"},
		{500, "", "", `{"error":"a string"}`},
		{418, "a\xffb", "-5", "{\"error\":{\"code\":\"a\xffb\",\"message\":\"\\t x \\n y \\u00e9\"}}"},
		{400, strings.Repeat("r", 200), "99999999999999999999",
			`{"error":{"code":"` + strings.Repeat("c", 200) + `","message":"` +
				strings.Repeat("é", 400) + `"}}`},
	} {
		f.Add(uint16(s.status), s.requestID, s.retryAfter, []byte(s.body), fuzzNow.Unix())
	}

	f.Fuzz(func(t *testing.T, status uint16, requestID, retryAfter string, body []byte,
		nowSecs int64) {
		// Go's HTTP client only hands on three-digit status codes.
		code := 100 + int(status)%900
		now := timeInRange(nowSecs)
		reply := func() *http.Response {
			h := http.Header{}
			h.Set("request-id", requestID)
			h.Set("Retry-After", retryAfter)
			return &http.Response{StatusCode: code, Header: h}
		}

		e := parseAPIError(reply(), body, now)
		if again := parseAPIError(reply(), body, now); !reflect.DeepEqual(e, again) {
			t.Fatalf("two parses of one reply differ: %+v and %+v", e, again)
		}

		if e.StatusCode != code {
			t.Fatalf("status %d became %d", code, e.StatusCode)
		}
		checkBounded(t, "code", e.Code, maxIdentifier)
		checkBounded(t, "inner code", e.InnerCode, maxIdentifier)
		checkBounded(t, "request-id", e.RequestID, maxIdentifier)
		checkBounded(t, "message", e.Message, maxMessage)
		if e.Message != strings.Join(strings.Fields(e.Message), " ") {
			t.Fatalf("message %q keeps runs of white space or line breaks", e.Message)
		}

		// A body that is not JSON yields only the status line's text, so an HTML
		// page from a proxy cannot reach a status condition.
		if !json.Valid(body) && (e.Code != "" || e.InnerCode != "" ||
			e.Message != http.StatusText(code)) {
			t.Fatalf("a body that is not JSON gave %+v", e)
		}

		if hdr := truncate(requestID, maxIdentifier); hdr != "" && e.RequestID != hdr {
			t.Fatalf("request-id %q, want the header's %q", e.RequestID, hdr)
		}
		if want := RetryAfter(retryAfter, now); e.RetryAfter != want {
			t.Fatalf("retry after %v, want %v as RetryAfter reads the header", e.RetryAfter, want)
		}

		msg := e.Error()
		if !utf8.ValidString(msg) {
			t.Fatalf("Error() %q is not valid UTF-8", msg)
		}
		if prefix := "graph answered " + strconv.Itoa(code); !strings.HasPrefix(msg, prefix) {
			t.Fatalf("Error() %q does not start with %q", msg, prefix)
		}
		if len(msg) > maxAPIErrorText {
			t.Fatalf("Error() is %d bytes, over %d", len(msg), maxAPIErrorText)
		}
	})
}

// maxAPIErrorText is the longest APIError.Error() can be when every field
// holds at most its bound.
const maxAPIErrorText = len("graph answered 999 ") + maxIdentifier + len("…") +
	len(": ") + maxMessage + len("…") + len(" (request-id )") + maxIdentifier + len("…")

// fuzzNow is the seeds' clock, fixed so that their HTTP dates lie where
// they are meant to: ahead, behind, or more than a day away.
var fuzzNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// timeInRange maps any int64 onto a second within years 1 to 9999, where a
// clock can be and where adding a second cannot overflow time.Time.
func timeInRange(secs int64) time.Time {
	const first, last = -62135596800, 253402300799 // 0001-01-01 and 9999-12-31T23:59:59 UTC
	span := int64(last - first + 1)
	return time.Unix(first+((secs-first)%span+span)%span, 0).UTC()
}

func FuzzRetryAfter(f *testing.F) {
	soon := fuzzNow.Add(90 * time.Second)
	for _, value := range []string{
		"", " ", "0", "1", "17", " 7 ", "120", "86400", "86401", "-5", "+5", "1.5", "1e3",
		"99999999999999999", "99999999999999999999", "0000000000000000000000000000042",
		soon.Format(http.TimeFormat),
		soon.Format(time.RFC850),
		soon.Format(time.ANSIC),
		fuzzNow.Add(-time.Minute).Format(http.TimeFormat),
		fuzzNow.Add(48 * time.Hour).Format(http.TimeFormat),
		"Fri, 31 Dec 9999 23:59:59 GMT",
		"Mon, 01 Jan 0001 00:00:00 GMT",
		"soon", "Fri, 04 Dec 2026 25:61:00 GMT", "\u0663\u0660",
	} {
		f.Add(value, fuzzNow.Unix())
	}

	f.Fuzz(func(t *testing.T, value string, nowSecs int64) {
		now := timeInRange(nowSecs)
		d := RetryAfter(value, now)

		if d < 0 || d > maxRetryAfter {
			t.Fatalf("RetryAfter(%q, %v) = %v, outside [0, %v]", value, now, d, maxRetryAfter)
		}
		if again := RetryAfter(value, now); again != d {
			t.Fatalf("RetryAfter(%q, %v) gave %v, then %v", value, now, d, again)
		}
		// White space around the value is not part of it, wherever it came from.
		if padded := RetryAfter(" \t"+value+" ", now); padded != d {
			t.Fatalf("padding %q changed the wait from %v to %v", value, d, padded)
		}

		later := RetryAfter(value, now.Add(time.Second))
		trimmed := strings.TrimSpace(value)
		if !isDigits(trimmed) {
			// A date is a fixed instant: a later clock can only shorten the wait.
			if later > d {
				t.Fatalf("RetryAfter(%q) grew from %v to %v a second later", value, d, later)
			}
			return
		}

		// delay-seconds do not depend on the clock and are whole seconds.
		if later != d {
			t.Fatalf("RetryAfter(%q) changed with the clock: %v, then %v", value, d, later)
		}
		if d%time.Second != 0 {
			t.Fatalf("RetryAfter(%q) = %v is not whole seconds", value, d)
		}
		if secs, err := strconv.ParseInt(trimmed, 10, 64); err == nil &&
			secs <= int64(maxRetryAfter/time.Second) && d != time.Duration(secs)*time.Second {
			t.Fatalf("RetryAfter(%q) = %v, want %d s", value, d, secs)
		}
	})
}
