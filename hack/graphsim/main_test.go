package main

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vpp-operator/vpp-operator/internal/graphsim"
)

func TestGraphsim(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "graphsim command")
}

var _ = Describe("The embedded demo data", func() {
	demoToken := func(now time.Time) map[string]any {
		var data graphsim.Data
		Expect(json.Unmarshal(demoData, &data)).To(Succeed())
		Expect(freshen(&data, now)).To(Succeed())
		return data.Tenants[0].VppTokens[0].Properties
	}

	It("keeps its dates on the day it was written", func() {
		props := demoToken(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
		Expect(props["expirationDateTime"]).To(Equal("2027-11-30T00:02:19.5114528+03:00"))
		Expect(props["lastModifiedDateTime"]).To(Equal("2026-11-29T23:59:09.8413999+03:00"))
	})

	It("moves every date forward by whole days, in Intune's form, so the token never expires", func() {
		props := demoToken(time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC))
		Expect(props["lastSyncDateTime"]).To(Equal("2030-06-15T00:01:38.9161849+03:00"))
		Expect(props["lastModifiedDateTime"]).To(Equal("2030-06-14T23:59:09.8413999+03:00"))
		expires, err := time.Parse(time.RFC3339Nano, props["expirationDateTime"].(string))
		Expect(err).NotTo(HaveOccurred())
		Expect(props["expirationDateTime"]).To(HaveSuffix("+03:00"))
		Expect(expires.Sub(time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC))).To(
			BeNumerically(">", 360*24*time.Hour), "a year ahead, as on the day the data was written")
	})

	It("leaves other properties alone", func() {
		props := demoToken(time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC))
		Expect(props["state"]).To(Equal("valid"))
		Expect(props["id"]).To(Equal("276433d2-33d2-2764-d233-6427d2336427"))
	})
})
