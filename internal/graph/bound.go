package graph

import (
	"strings"
	"unicode/utf8"
)

// Limits on what the client passes on from a reply. Real values are far
// shorter; the limits keep a hostile or broken server from making the
// operator write more than the API server accepts into a status.
const (
	maxProperty   = 1024 // a vppToken string property
	maxIdentifier = 128  // error codes, request and correlation IDs
	maxMessage    = 300  // the human text of an error reply
)

// truncate cuts s to at most n bytes on a character boundary, marking the cut
// with an ellipsis. Invalid UTF-8 is replaced, so the result is always valid.
func truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
