package prometheus_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The suite checks the PrometheusRule with Prometheus's own code: its rule file validation, its
// PromQL parser and template engine, and its rule evaluation over a local TSDB loaded with
// synthetic series. It needs no API server.
func TestAlerts(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Alerting rules")
}
