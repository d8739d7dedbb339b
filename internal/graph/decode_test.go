package graph

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Decoding a vppToken reply", func() {
	// The example of the syncLicenses documentation page, verbatim.
	const seed = syncLicensesExample

	It("reads the documentation's wrapped example and converts its times to UTC", func() {
		tok, complete, err := decodeVppToken([]byte(seed))
		Expect(err).NotTo(HaveOccurred())
		Expect(complete).To(BeTrue())
		Expect(tok.ID).To(Equal("276433d2-33d2-2764-d233-6427d2336427"))
		Expect(tok.OrganizationName).To(Equal("Organization Name value"))
		Expect(tok.State).To(Equal("String"), "enum values pass through")
		Expect(*tok.ExpirationDateTime).To(Equal(time.Date(2016, 12, 31, 21, 2, 19, 511452800, time.UTC)))
		Expect(*tok.LastSyncDateTime).To(Equal(time.Date(2016, 12, 31, 21, 1, 38, 916184900, time.UTC)))
		Expect(*tok.LastModifiedDateTime).To(Equal(time.Date(2016, 12, 31, 20, 59, 9, 841399900, time.UTC)))
		Expect(tok.AutomaticallyUpdateApps).To(HaveValue(BeTrue()))
	})

	DescribeTable("tells complete replies from those that need a GET",
		func(body string, wantToken, wantComplete bool) {
			tok, complete, err := decodeVppToken([]byte(body))
			Expect(err).NotTo(HaveOccurred())
			Expect(tok != nil).To(Equal(wantToken))
			Expect(complete).To(Equal(wantComplete))
		},
		Entry("no body", "", false, false),
		Entry("white space", " \n", false, false),
		Entry("JSON null", "null", false, false),
		Entry("a wrapped token missing properties", `{"value":{"id":"a","lastSyncStatus":"inProgress"}}`, true, false),
		Entry("a bare token missing properties", `{"id":"a","state":"valid"}`, true, false),
		Entry("a bare token with every property", `{"id":"a","organizationName":"o","vppTokenAccountType":"business",
			"appleId":"x","state":"valid","lastSyncStatus":"completed","countryOrRegion":"us",
			"automaticallyUpdateApps":false,"expirationDateTime":"2027-01-01T00:00:00Z",
			"lastSyncDateTime":"0001-01-01T00:00:00Z","lastModifiedDateTime":"2026-01-01T00:00:00Z"}`, true, true),
	)

	It("bounds string properties", func() {
		tok, _, err := decodeVppToken([]byte(`{"id":"a","state":"` + strings.Repeat("s", 40000) + `"}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(len(tok.State)).To(BeNumerically("<=", maxProperty+len("…")))
	})

	It("reads Intune's zero time as never", func() {
		tok, _, err := decodeVppToken([]byte(`{"id":"a","lastSyncDateTime":"0001-01-01T00:00:00Z"}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(tok.LastSyncDateTime).To(BeNil())
	})

	DescribeTable("judges Intune's never by the UTC year, whatever the offset",
		func(value string, want OmegaMatcher) {
			tok, _, err := decodeVppToken([]byte(`{"id":"a","lastModifiedDateTime":"` + value + `"}`))
			Expect(err).NotTo(HaveOccurred())
			Expect(tok.LastModifiedDateTime).To(want)
		},
		Entry("year 2 locally, year 1 in UTC", "0002-01-01T00:30:00+01:00", BeNil()),
		Entry("year 1 locally, year 2 in UTC", "0001-12-31T23:30:00-01:00",
			HaveValue(Equal(time.Date(2, 1, 1, 0, 30, 0, 0, time.UTC)))),
	)

	DescribeTable("passes on no character a terminal would act on",
		func(sent, kept string) {
			body, err := json.Marshal(map[string]string{"id": "a", "organizationName": sent})
			Expect(err).NotTo(HaveOccurred())
			tok, _, err := decodeVppToken(body)
			Expect(err).NotTo(HaveOccurred())
			Expect(tok.OrganizationName).To(Equal(kept))
		},
		Entry("escape sequences that clear the screen and retitle the window",
			"Evil\x1b[2J\x1b]0;pwned\aOrg", "Evil\uFFFD[2J\uFFFD]0;pwned\uFFFDOrg"),
		Entry("a tab and a newline, which shift kubectl's columns", "Contoso\tLtd\nUK", "Contoso Ltd UK"),
		Entry("a C1 control", "Contoso\u009bLtd", "Contoso\uFFFDLtd"),
		Entry("a right-to-left override", "Contoso \u202eDTL", "Contoso \uFFFDDTL"),
		Entry("a line separator, which breaks a line in some terminals", "Contoso\u2028Ltd", "Contoso Ltd"),
		Entry("invisible characters that make two names look alike", "Con\u200Btoso\uFEFF Ltd\u2060",
			"Con\uFFFDtoso\uFFFD Ltd\uFFFD"),
		Entry("letters of any script", "Contoso Ünïcødé 日本 ﻣﺮﺣﺒﺎ", "Contoso Ünïcødé 日本 ﻣﺮﺣﺒﺎ"),
		Entry("a joiner, which scripts need", "क्\u200Dष", "क्\u200Dष"),
	)

	It("reads a time without an offset as UTC", func() {
		tok, _, err := decodeVppToken([]byte(`{"id":"a","expirationDateTime":"2027-03-04T05:06:07.1234567"}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(*tok.ExpirationDateTime).To(Equal(time.Date(2027, 3, 4, 5, 6, 7, 123456700, time.UTC)))
	})

	DescribeTable("rejects bodies that are not a vppToken, without quoting them",
		func(body, problem string) {
			_, _, err := decodeVppToken([]byte(body))
			Expect(errors.Is(err, errMalformed)).To(BeTrue())
			Expect(err.Error()).To(ContainSubstring(problem))
			Expect(err.Error()).NotTo(ContainSubstring("s3cret"))
		},
		Entry("HTML from a proxy", `<html>s3cret</html>`, "invalid JSON"),
		Entry("truncated JSON", `{"id":"a","token":"s3cret","state":`, "invalid JSON"),
		Entry("an array", `["s3cret"]`, "JSON type array"),
		Entry("a number where a string belongs", `{"token":"s3cret","state":5}`, `"state" has JSON type number`),
		Entry("a time that is not a time", `{"token":"s3cret","expirationDateTime":"next year"}`, "not a DateTimeOffset"),
		Entry("a time past year 9999 in UTC", `{"token":"s3cret","expirationDateTime":"9999-12-31T23:59:59-14:00"}`,
			"years 1 to 9999"),
	)
})

var _ = Describe("Graph error replies", func() {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	reply := func(status int, headers ...string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return r
	}

	It("unwraps Intune's JSON message and keeps the request-id", func() {
		body := `{"error":{"code":"Forbidden","message":"{\"_version\": 3, \"Message\": \"Application is not authorized to perform this operation. - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: 1 - Url: https://fef.example/x\", \"CustomApiErrorPhrase\": \"\", \"RetryAfter\": null}","innerError":{"date":"2026-12-04T12:00:00","request-id":"req-1","client-request-id":"c-1"}}}`
		e := parseAPIError(reply(403), []byte(body), now)
		Expect(e.Code).To(Equal("Forbidden"))
		Expect(e.Message).To(Equal("Application is not authorized to perform this operation."))
		Expect(e.RequestID).To(Equal("req-1"))
		Expect(e.Error()).To(Equal("graph answered 403 Forbidden: Application is not authorized to perform this operation. (request-id req-1)"))
	})

	It("unwraps a message nested twice, with the inner ErrorCode", func() {
		inner := `{"ErrorCode":"Forbidden","Message":"{\"_version\": 3, \"Message\": \"No Intune rights - Operation ID (for customer support): 0\"}"}`
		outer := `{"_version": 3, "Message": ` + jsonString(inner) + `}`
		body := `{"error":{"code":"UnknownError","message":` + jsonString(outer) + `}}`
		e := parseAPIError(reply(401, "request-id", "hdr-id"), []byte(body), now)
		Expect(e.Message).To(Equal("No Intune rights"))
		Expect(e.InnerCode).To(Equal("Forbidden"))
		Expect(e.RequestID).To(Equal("hdr-id"), "the header wins over the body")
	})

	It("copes with a body that is not an envelope", func() {
		e := parseAPIError(reply(502), []byte("<html>Bad gateway</html>"), now)
		Expect(e.StatusCode).To(Equal(502))
		Expect(e.Message).To(Equal("Bad Gateway"))
	})

	It("bounds a huge message on a character boundary", func() {
		text, _ := intuneMessage(strings.Repeat("a", maxMessage-1) + strings.Repeat("é", 100))
		Expect(len(text)).To(BeNumerically("<=", maxMessage+len("…")))
		Expect(utf8.ValidString(text)).To(BeTrue())
		Expect(text).To(HaveSuffix("a…"))
	})

	It("bounds every identifier a reply carries", func() {
		huge := strings.Repeat("x", 40000)
		body := `{"error":{"code":"` + huge + `","message":"{\"ErrorCode\":\"` + huge + `\",\"Message\":\"m\"}",` +
			`"innerError":{"request-id":"` + huge + `"}}}`
		e := parseAPIError(reply(400), []byte(body), now)
		Expect(len(e.Code)).To(BeNumerically("<=", maxIdentifier+len("…")))
		Expect(len(e.InnerCode)).To(BeNumerically("<=", maxIdentifier+len("…")))
		Expect(len(e.RequestID)).To(BeNumerically("<=", maxIdentifier+len("…")))
		Expect(e.Message).To(Equal("m"))
	})

	It("bounds an inner ErrorCode that comes without a message", func() {
		inner := `{"ErrorCode":"` + strings.Repeat("x", 40000) + `"}`
		body := `{"error":{"code":"UnknownError","message":` + jsonString(inner) + `}}`
		e := parseAPIError(reply(401), []byte(body), now)
		Expect(len(e.InnerCode)).To(BeNumerically("<=", maxIdentifier+len("…")))
		Expect(e.Message).To(BeEmpty())
	})

	DescribeTable("read Retry-After as seconds or an HTTP date",
		func(value string, want time.Duration) {
			Expect(RetryAfter(value, now)).To(Equal(want))
		},
		Entry("absent", "", time.Duration(0)),
		Entry("seconds", "120", 2*time.Minute),
		Entry("seconds with spaces", " 7 ", 7*time.Second),
		Entry("zero", "0", time.Duration(0)),
		Entry("negative", "-5", time.Duration(0)),
		Entry("absurdly large, clamped to a day", "99999999999999999", 24*time.Hour),
		Entry("too large for an int64, clamped to a day", "99999999999999999999", 24*time.Hour),
		Entry("an HTTP date", now.Add(90*time.Second).Format(http.TimeFormat), 90*time.Second),
		Entry("an HTTP date in the past", now.Add(-time.Minute).Format(http.TimeFormat), time.Duration(0)),
		Entry("an HTTP date more than a day away, clamped to a day", "Fri, 10 Dec 2027 00:00:00 GMT",
			24*time.Hour),
		Entry("the last HTTP date there is, clamped to a day", "Fri, 31 Dec 9999 23:59:59 GMT",
			24*time.Hour),
		Entry("garbage", "soon", time.Duration(0)),
	)
})

func jsonString(s string) string {
	b, err := json.Marshal(s)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}
