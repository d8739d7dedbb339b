package schedule

import "time"

// ExpiryWarningEvery is how often a token within its warning window gets a
// Warning event: once a day, for as long as it stays unrenewed, expired too.
const ExpiryWarningEvery = 24 * time.Hour

// Expiry is the verdict on a token's expirationDateTime.
type Expiry struct {
	// Expiring says the token expires within the warning window, or has expired.
	Expiring bool
	// DaysLeft counts UTC calendar days from today to the expiry date;
	// zero on the day itself, negative once past.
	DaysLeft int
	// Warn says a Warning event is due now.
	Warn bool
}

// CheckExpiry judges an expiry time against the warning window, given when the
// last warning event was recorded (nil if never).
func CheckExpiry(now, expires time.Time, window time.Duration, lastWarning *time.Time) Expiry {
	day := func(t time.Time) time.Time {
		y, m, d := t.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	e := Expiry{
		// In seconds, not a Duration, which ends about 292 years out: Graph
		// sends dates in year 9999.
		DaysLeft: int((day(expires).Unix() - day(now).Unix()) / (24 * 60 * 60)),
		Expiring: expires.Sub(now) <= window,
	}
	e.Warn = e.Expiring && (lastWarning == nil || now.Sub(*lastWarning) >= ExpiryWarningEvery)
	return e
}
