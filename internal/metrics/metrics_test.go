package metrics

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestMetrics(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Metrics")
}

var _ = Describe("seconds", func() {
	DescribeTable("is the time since the epoch, at any date Graph may send",
		func(t time.Time, want float64) {
			Expect(seconds(t)).To(Equal(want))
		},
		Entry("a date of this century", time.Date(2027, 11, 29, 21, 2, 19, 500_000_000, time.UTC), 1827522139.5),
		Entry("the epoch", time.Unix(0, 0), 0.0),
		Entry("year 9999, past what nanoseconds since the epoch can hold",
			time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), 253402300799.0),
		Entry("year 1601, before what nanoseconds since the epoch can hold",
			time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), -11644473600.0),
		Entry("year 1, Graph's date for never", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), -62135596800.0),
	)
})

var _ = Describe("stateLabel", func() {
	DescribeTable("names the states Graph documents as they are, and any other as other",
		func(state, want string) {
			Expect(stateLabel(state)).To(Equal(want))
		},
		Entry("valid", "valid", "valid"),
		Entry("expired", "expired", "expired"),
		Entry("invalid", "invalid", "invalid"),
		Entry("another MDM holds it", "assignedToExternalMDM", "assignedToExternalMDM"),
		Entry("a duplicate location", "duplicateLocationId", "duplicateLocationId"),
		Entry("unknown, as Graph sends it", "unknown", "unknown"),
		Entry("a state Graph adds later", "suspendedByApple", "other"),
		Entry("a state in another case", "Valid", "other"),
	)
})
