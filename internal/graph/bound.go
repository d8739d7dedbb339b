package graph

import (
	"strings"
	"unicode"
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
// with an ellipsis. Invalid UTF-8 is replaced, so the result is always valid,
// and so are characters a terminal would act on (see printable): the text
// reaches kubectl's tables, events and logs.
func truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(printable, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// printable keeps r unless it is a control character, which could move a
// terminal's cursor, retitle its window or shift a table's columns, or a
// bidirectional override, which could make text read differently from what
// it is, or an invisible character with no use in any script, which could
// make two names look alike. Line breaks become spaces; the others the
// replacement character. Joiners stay: scripts such as Arabic and Devanagari
// need them.
func printable(r rune) rune {
	switch {
	case r == '\t' || r == '\n' || r == '\r', r == '\u2028' || r == '\u2029':
		return ' '
	case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
		return '\uFFFD'
	case r == '\u200B' || r == '\u2060' || r == '\uFEFF': // zero-width space, word joiner, BOM
		return '\uFFFD'
	}
	return r
}
