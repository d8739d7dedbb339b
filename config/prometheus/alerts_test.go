package prometheus_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/template"
	"sigs.k8s.io/yaml"

	"github.com/vpp-operator/vpp-operator/internal/metrics"
)

// ruleFile is the PrometheusRule kustomize installs and the Helm chart copies its groups from.
const ruleFile = "prometheus_rule.yaml"

// The alerts. A renamed, added or dropped alert fails the specs: receivers and silences match
// on these names.
const (
	expiringSoon = "VppTokenExpiringSoon"
	expired      = "VppTokenExpired"
	syncFailing  = "VppTokenSyncFailing"
	notValid     = "VppTokenNotValid"
	operatorDown = "VppOperatorDown"
)

// promQL parses as a stock Prometheus does, with no experimental features.
var promQL = parser.NewParser(parser.Options{})

var ctx = context.Background()

var discard = slog.New(slog.DiscardHandler)

var _ = Describe("The PrometheusRule", func() {
	It("is the alerts object of the operator's kustomization", func() {
		rule, _ := readRule()
		Expect(rule.APIVersion).To(Equal("monitoring.coreos.com/v1"))
		Expect(rule.Kind).To(Equal("PrometheusRule"))
		Expect(rule.Metadata.Name).To(Equal("alerts"))
		Expect(rule.Metadata.Namespace).To(Equal("system"))
		Expect(rule.Metadata.Labels).To(HaveKeyWithValue("app.kubernetes.io/name", "vpp-operator"))
	})

	It("holds exactly the five alerts and no other rule", func() {
		_, groups := readRule()
		var names []string
		for _, group := range groups.Groups {
			for _, rule := range group.Rules {
				Expect(rule.Record).To(BeEmpty(), "group %s holds a recording rule", group.Name)
				names = append(names, rule.Alert)
			}
		}
		Expect(names).To(ConsistOf(expiringSoon, expired, syncFailing, notValid, operatorDown))
	})

	It("has expressions that Prometheus's PromQL parser reads as instant vectors", func() {
		_, groups := readRule()
		for _, rule := range allRules(groups) {
			expr, err := promQL.ParseExpr(rule.Expr)
			Expect(err).NotTo(HaveOccurred(), "%s: %s", rule.Alert, rule.Expr)
			Expect(expr.Type()).To(Equal(parser.ValueTypeVector), "%s", rule.Alert)
		}
	})

	It("lets every token alert ride out a gap of a few failed scrapes", func() {
		_, groups := readRule()
		for _, rule := range allRules(groups) {
			if rule.Alert != operatorDown {
				Expect(time.Duration(rule.KeepFiringFor)).To(BeNumerically(">=", 10*time.Minute), "%s", rule.Alert)
			}
		}
	})

	It("gives every alert a severity, a summary and a description that says what to run", func() {
		_, groups := readRule()
		for _, rule := range allRules(groups) {
			Expect(rule.Labels).To(HaveKeyWithValue("severity", BeElementOf("warning", "critical")),
				"%s", rule.Alert)
			Expect(rule.Annotations).To(HaveKeyWithValue("summary", Not(BeEmpty())), "%s", rule.Alert)
			Expect(rule.Annotations).To(HaveKeyWithValue("description", ContainSubstring("kubectl ")),
				"%s", rule.Alert)
		}
	})

	It("has label and annotation templates that Prometheus parses and expands", func() {
		_, groups := readRule()
		alertLabels := map[string]string{"namespace": "tokens", "name": "contoso"}
		for _, rule := range allRules(groups) {
			for _, templates := range []map[string]string{rule.Labels, rule.Annotations} {
				for key, text := range templates {
					expander := newExpander(rule.Alert, text, alertLabels, 1234)
					Expect(expander.ParseTest()).To(Succeed(), "%s %s", rule.Alert, key)

					expanded, err := expander.Expand()
					Expect(err).NotTo(HaveOccurred(), "%s %s", rule.Alert, key)
					Expect(expanded).NotTo(Or(ContainSubstring("{{"), ContainSubstring("<no value>")),
						"%s %s", rule.Alert, key)
				}
			}
		}
	})
})

var _ = Describe("VppTokenExpiringSoon", func() {
	contoso := token{namespace: "tokens", name: "contoso", organization: "Contoso"}

	It("fires for a token that expires in 10 days, once that held for an hour", func() {
		series := append(contoso.healthy(10*day), operatorUp()...)

		Expect(firingAt(30*time.Minute, series...)).To(BeEmpty())

		fired := firingAt(90*time.Minute, series...)
		Expect(alertLabels(fired)).To(ConsistOf(tokenAlert(expiringSoon, "warning", "tokens", "contoso")))
		description := fired[0].Annotations["description"]
		// 10 days from time 0, evaluated 90 minutes in.
		Expect(description).To(ContainSubstring("tokens/contoso expires in 9d 22h 30m 0s"))
		Expect(description).To(ContainSubstring("kubectl describe vpptoken -n tokens contoso"))
	})

	It("keeps firing through a gap in the series, as a failed scrape leaves", func() {
		series := append([]string{
			// Scrapes fail from 100m to 105m: Prometheus marks the series stale.
			contoso.series(metrics.TokenExpiration,
				fmt.Sprintf("%dx99 stale _x5 %dx%d", 10*day, 10*day, samples-106)),
			contoso.series(metrics.TokenLastSuccess, fmt.Sprintf("0+60x%d", samples)),
			contoso.series(metrics.TokenSyncInterval, constant(12*hour)),
		}, operatorUp()...)
		Expect(alertLabels(firingAt(90*time.Minute, series...))).To(ConsistOf(
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")))
		Expect(alertLabels(firingAt(103*time.Minute, series...))).To(ConsistOf(
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")), "during the gap")
		Expect(alertLabels(firingAt(110*time.Minute, series...))).To(ConsistOf(
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")), "after it, without another hour's wait")
	})

	It("follows the operator's --expiry-warning", func() {
		inTwentyDays := append(contoso.healthy(20*day), operatorWarning(14*day)...)
		Expect(firingAt(4*time.Hour, inTwentyDays...)).To(BeEmpty(), "outside a 14-day window")
		inTenDays := append(contoso.healthy(10*day), operatorWarning(14*day)...)
		Expect(alertLabels(firingAt(90*time.Minute, inTenDays...))).To(ConsistOf(
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")))
		inFiftyDays := append(contoso.healthy(50*day), operatorWarning(60*day)...)
		Expect(alertLabels(firingAt(90*time.Minute, inFiftyDays...))).To(ConsistOf(
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")), "inside a 60-day window")
	})

	It("stays quiet for a token that expires in 40 days", func() {
		series := append(contoso.healthy(40*day), operatorUp()...)
		Expect(firingAt(4*time.Hour, series...)).To(BeEmpty())
	})

	It("raises one alert per token, whichever replica serves it and whatever its organization", func() {
		replica1 := token{namespace: "tokens", name: "contoso", instance: replicaAddress(1)}
		renamed := replica1
		renamed.organization = "Contoso"
		replica2 := renamed
		replica2.instance = replicaAddress(2)
		expiry := fmt.Sprint(10 * day)
		series := append([]string{
			// Graph names the organization after an hour; the other replica knew it from the start.
			replica1.series(metrics.TokenExpiration, fmt.Sprintf("%sx60", expiry)),
			renamed.series(metrics.TokenExpiration, fmt.Sprintf("_x61 %sx%d", expiry, samples-61)),
			replica2.series(metrics.TokenExpiration, constant(10*day)),
			replica1.series(metrics.TokenLastSuccess, fmt.Sprintf("0+60x%d", samples)),
			replica2.series(metrics.TokenLastSuccess, fmt.Sprintf("0+60x%d", samples)),
			replica1.series(metrics.TokenSyncInterval, constant(12*hour)),
			replica2.series(metrics.TokenSyncInterval, constant(12*hour)),
		}, operatorUp()...)

		// Pending since time 0: an alert keyed on the organization would start again at 61m.
		Expect(alertLabels(firingAt(90*time.Minute, series...))).To(ConsistOf(
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")))
	})
})

var _ = Describe("VppTokenExpired", func() {
	contoso := token{namespace: "tokens", name: "contoso", organization: "Contoso"}

	It("fires, and VppTokenExpiringSoon does not, for a token that expired a day ago", func() {
		series := append(contoso.healthy(-day), operatorUp()...)

		Expect(firingAt(3*time.Minute, series...)).To(BeEmpty())

		fired := firingAt(10*time.Minute, series...)
		Expect(alertLabels(fired)).To(ConsistOf(tokenAlert(expired, "critical", "tokens", "contoso")))
		Expect(fired[0].Annotations["description"]).To(
			ContainSubstring("tokens/contoso expired at 1969-12-31 00:00:00 +0000 UTC"))
	})

	It("takes over from VppTokenExpiringSoon when the expiry passes", func() {
		series := append(contoso.healthy(2*hour), operatorUp()...)

		Expect(alertLabels(firingAt(90*time.Minute, series...))).To(ConsistOf(
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")))
		// VppTokenExpiringSoon's keep_firing_for holds it a while after the expiry.
		Expect(alertLabels(firingAt(2*time.Hour+10*time.Minute, series...))).To(ConsistOf(
			tokenAlert(expired, "critical", "tokens", "contoso"),
			tokenAlert(expiringSoon, "warning", "tokens", "contoso")))
		Expect(alertLabels(firingAt(2*time.Hour+20*time.Minute, series...))).To(ConsistOf(
			tokenAlert(expired, "critical", "tokens", "contoso")))
	})
})

var _ = Describe("VppTokenSyncFailing", func() {
	// The shortest interval the API allows, so that two intervals pass within the series.
	const interval = 15 * 60
	contoso := token{namespace: "tokens", name: "contoso", organization: "Contoso"}

	It("fires for a token last synced three intervals ago, once that held for 30 minutes", func() {
		series := append([]string{
			contoso.expiresAt(365 * day),
			contoso.series(metrics.TokenLastSuccess, constant(-3*interval)),
			contoso.series(metrics.TokenSyncInterval, constant(interval)),
		}, operatorUp()...)

		Expect(firingAt(20*time.Minute, series...)).To(BeEmpty())

		fired := firingAt(40*time.Minute, series...)
		Expect(alertLabels(fired)).To(ConsistOf(tokenAlert(syncFailing, "warning", "tokens", "contoso")))
		// Three intervals before time 0, evaluated 40 minutes in: 45m + 40m.
		Expect(fired[0].Annotations["description"]).To(
			ContainSubstring("tokens/contoso last synced successfully 1h 25m 0s ago"))
	})

	It("waits for two intervals without a sync before it starts counting", func() {
		series := append([]string{
			contoso.expiresAt(365 * day),
			// Synced every minute for an hour, then never again.
			contoso.series(metrics.TokenLastSuccess, fmt.Sprintf("0+60x60 3600x%d", samples-60)),
			contoso.series(metrics.TokenSyncInterval, constant(interval)),
		}, operatorUp()...)

		// Two intervals after the last sync is 90m; 30 minutes more is 120m.
		Expect(firingAt(110*time.Minute, series...)).To(BeEmpty())
		Expect(alertLabels(firingAt(125*time.Minute, series...))).To(ConsistOf(
			tokenAlert(syncFailing, "warning", "tokens", "contoso")))
	})

	It("stays quiet for a token that syncs on time", func() {
		series := append(contoso.healthy(365*day), operatorUp()...)
		Expect(firingAt(4*time.Hour, series...)).To(BeEmpty())
	})

	It("fires for a token that never synced successfully, once that held for 30 minutes", func() {
		series := append([]string{
			contoso.series(metrics.TokenSyncInterval, constant(12*hour)),
		}, operatorUp()...)

		Expect(firingAt(20*time.Minute, series...)).To(BeEmpty())

		fired := firingAt(40*time.Minute, series...)
		Expect(alertLabels(fired)).To(ConsistOf(tokenAlert(syncFailing, "warning", "tokens", "contoso")))
		Expect(fired[0].Annotations["description"]).To(
			ContainSubstring("tokens/contoso has never synced successfully"))
	})

	It("stays quiet for a new token whose first sync takes a few minutes", func() {
		series := append([]string{
			contoso.series(metrics.TokenSyncInterval, constant(12*hour)),
			// The first sync succeeds five minutes after the token appeared.
			contoso.series(metrics.TokenLastSuccess, fmt.Sprintf("_x5 300+60x%d", samples-5)),
			contoso.expiresAt(365 * day),
		}, operatorUp()...)
		Expect(firingAt(4*time.Hour, series...)).To(BeEmpty())
	})

	It("compares each token with its own interval, even where names repeat across namespaces", func() {
		daily := token{namespace: "tokens", name: "contoso", organization: "Contoso"}
		frequent := token{namespace: "other", name: "contoso", organization: "Fabrikam"}
		series := append([]string{
			// Both last synced an hour before time 0.
			daily.series(metrics.TokenLastSuccess, constant(-hour)),
			daily.series(metrics.TokenSyncInterval, constant(12*hour)),
			frequent.series(metrics.TokenLastSuccess, constant(-hour)),
			frequent.series(metrics.TokenSyncInterval, constant(interval)),
		}, operatorUp()...)

		Expect(alertLabels(firingAt(time.Hour, series...))).To(ConsistOf(
			tokenAlert(syncFailing, "warning", "other", "contoso")))
	})
})

var _ = Describe("VppTokenNotValid", func() {
	contoso := token{namespace: "tokens", name: "contoso", organization: "Contoso"}
	// notValidAlert is the alert's labels: the token's, and the state Graph reported.
	notValidAlert := func(state string) string {
		return labels.FromStrings(labels.AlertName, notValid, "severity", "critical",
			"namespace", "tokens", "name", "contoso", "state", state).String()
	}

	It("fires for a token another MDM holds, though it syncs on time, once that held for 15 minutes", func() {
		series := append(append(contoso.healthy(365*day), contoso.state("assignedToExternalMDM", constant(1))),
			operatorUp()...)

		Expect(firingAt(10*time.Minute, series...)).To(BeEmpty())

		fired := firingAt(20*time.Minute, series...)
		Expect(alertLabels(fired)).To(ConsistOf(notValidAlert("assignedToExternalMDM")))
		Expect(fired[0].Annotations["summary"]).To(Equal(
			"Intune reports Apple VPP token tokens/contoso as assignedToExternalMDM."))
		Expect(fired[0].Annotations["description"]).To(ContainSubstring("remove the token from the other MDM"))
	})

	It("fires for an invalid token and for a state the operator does not know", func() {
		invalid := append(append(contoso.healthy(365*day), contoso.state("invalid", constant(1))), operatorUp()...)
		Expect(alertLabels(firingAt(20*time.Minute, invalid...))).To(ConsistOf(notValidAlert("invalid")))
		other := append(append(contoso.healthy(365*day), contoso.state("other", constant(1))), operatorUp()...)
		Expect(alertLabels(firingAt(20*time.Minute, other...))).To(ConsistOf(notValidAlert("other")))
	})

	It("stays quiet for a valid token", func() {
		series := append(append(contoso.healthy(365*day), contoso.state("valid", constant(1))), operatorUp()...)
		Expect(firingAt(4*time.Hour, series...)).To(BeEmpty())
	})

	It("stops when Intune reports the token valid again", func() {
		series := append(append(contoso.healthy(365*day),
			contoso.state("invalid", "1x60"), contoso.state("valid", fmt.Sprintf("_x60 1x%d", samples-60))),
			operatorUp()...)
		Expect(alertLabels(firingAt(time.Hour, series...))).To(ConsistOf(notValidAlert("invalid")))
		Expect(firingAt(2*time.Hour, series...)).To(BeEmpty())
	})

	It("leaves a token past its expiry date to VppTokenExpired", func() {
		series := append(append(contoso.healthy(-day), contoso.state("expired", constant(1))), operatorUp()...)
		Expect(alertLabels(firingAt(time.Hour, series...))).To(ConsistOf(
			tokenAlert(expired, "critical", "tokens", "contoso")))
	})

	It("leaves a suspended token alone", func() {
		series := append([]string{
			contoso.expiresAt(365 * day),
			contoso.series(metrics.TokenLastSuccess, constant(0)),
			contoso.state("invalid", constant(1)),
		}, operatorUp()...)
		Expect(firingAt(time.Hour, series...)).To(BeEmpty())
	})
})

var _ = Describe("VppOperatorDown", func() {
	contoso := token{namespace: "tokens", name: "contoso", organization: "Contoso"}

	It("fires when a target's scrapes fail for 5 minutes", func() {
		series := []string{
			fmt.Sprintf(`up{job="vpp-operator",instance=%q,namespace="vpp-operator-system",pod=%q} %s`,
				replicaAddress(1), managerPod, constant(0)),
		}

		Expect(firingAt(3*time.Minute, series...)).To(BeEmpty())

		fired := firingAt(10*time.Minute, series...)
		Expect(alertLabels(fired)).To(ConsistOf(labels.FromStrings(
			labels.AlertName, operatorDown, "severity", "critical", "job", "vpp-operator",
			"instance", replicaAddress(1), "namespace", "vpp-operator-system", "pod", managerPod,
		).String()))
		Expect(fired[0].Annotations["description"]).To(ContainSubstring(
			"failed to scrape the vpp-operator's metrics at " + replicaAddress(1) +
				" (pod vpp-operator-system/" + managerPod + ")"))
	})

	It("fires when Prometheus has no vpp-operator target at all", func() {
		series := []string{`up{job="kube-state-metrics",instance="10.0.0.9:8080"} ` + constant(1)}

		Expect(firingAt(3*time.Minute, series...)).To(BeEmpty())

		fired := firingAt(10*time.Minute, series...)
		Expect(alertLabels(fired)).To(ConsistOf(labels.FromStrings(
			labels.AlertName, operatorDown, "severity", "critical", "job", "vpp-operator").String()))
		Expect(fired[0].Annotations["description"]).To(ContainSubstring("Prometheus has no vpp-operator target"))
	})

	It("stays quiet while the operator is scraped", func() {
		series := append(append(contoso.healthy(365*day), operatorUp()...),
			`up{job="kube-state-metrics",instance="10.0.0.9:8080"} `+constant(0))
		Expect(alertLabels(firingAt(time.Hour, series...))).NotTo(ContainElement(ContainSubstring(operatorDown)))
	})
})

// prometheusRule is the part of a monitoring.coreos.com/v1 PrometheusRule the specs read.
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	// Spec has the shape of a Prometheus rule file: {groups: [...]}.
	Spec map[string]any `json:"spec"`
}

// readRule reads ruleFile and validates its groups as Prometheus validates a rule file:
// known fields only, expressions parsed, label names and templates checked.
func readRule() (*prometheusRule, *rulefmt.RuleGroups) {
	GinkgoHelper()
	data, err := os.ReadFile(ruleFile)
	Expect(err).NotTo(HaveOccurred())

	rule := &prometheusRule{}
	Expect(yaml.Unmarshal(data, rule)).To(Succeed())
	spec, err := yaml.Marshal(rule.Spec)
	Expect(err).NotTo(HaveOccurred())

	groups, errs := rulefmt.Parse(spec, false, model.LegacyValidation, promQL, discard)
	Expect(errs).To(BeEmpty(), "Prometheus rejects the groups of %s", ruleFile)
	Expect(groups.Groups).NotTo(BeEmpty())
	return rule, groups
}

// allRules returns the rules of every group.
func allRules(groups *rulefmt.RuleGroups) []rulefmt.Rule {
	var all []rulefmt.Rule
	for _, group := range groups.Groups {
		all = append(all, group.Rules...)
	}
	return all
}

// alertingRules builds each alert of groups as Prometheus's rule manager does.
func alertingRules(groups *rulefmt.RuleGroups) []*rules.AlertingRule {
	GinkgoHelper()
	var built []*rules.AlertingRule
	for _, rule := range allRules(groups) {
		expr, err := promQL.ParseExpr(rule.Expr)
		Expect(err).NotTo(HaveOccurred(), "%s", rule.Alert)
		built = append(built, rules.NewAlertingRule(rule.Alert, expr,
			time.Duration(rule.For), time.Duration(rule.KeepFiringFor),
			labels.FromMap(rule.Labels), labels.FromMap(rule.Annotations), labels.EmptyLabels(),
			"", true, discard))
	}
	return built
}

// newExpander returns the expander Prometheus uses for an alert's labels and annotations,
// with the same $labels and $value shorthands, for one sample.
func newExpander(alert, text string, sampleLabels map[string]string, value float64) *template.Expander {
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}" +
		"{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	data := template.AlertTemplateData(sampleLabels, nil, "", promql.Sample{F: value})
	return template.NewTemplateExpander(ctx, defs+text, "__alert_"+alert, data, 0, nil, nil, nil)
}

// evaluationInterval is how often the specs evaluate the rules, Prometheus's default.
const evaluationInterval = time.Minute

// firing is an alert in the firing state.
type firing struct {
	// Labels are the alert's labels, as Prometheus prints them.
	Labels      string
	Annotations map[string]string
}

// firingAt loads series (promqltest's load syntax: a sample a minute from time 0) into a new
// TSDB, evaluates every rule once per evaluationInterval from time 0 up to at, so that each
// `for` runs as it does in Prometheus, and returns the alerts firing at the last evaluation.
func firingAt(at time.Duration, series ...string) []firing {
	GinkgoHelper()
	storage := promqltest.LoadedStorage(GinkgoTB(), "load 1m\n  "+strings.Join(series, "\n  "))
	DeferCleanup(storage.Close)
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 1_000_000,
		Timeout:    time.Minute,
		Parser:     promQL,
	})
	DeferCleanup(engine.Close)
	query := rules.EngineQueryFunc(engine, storage)

	_, groups := readRule()
	alerting := alertingRules(groups)
	for ts := time.Duration(0); ts <= at; ts += evaluationInterval {
		for _, rule := range alerting {
			_, err := rule.Eval(ctx, 0, time.Unix(0, 0).Add(ts), query, nil, 0)
			Expect(err).NotTo(HaveOccurred(), "evaluate %s at %s", rule.Name(), ts)
		}
	}

	var fired []firing
	for _, rule := range alerting {
		for _, alert := range rule.ActiveAlerts() {
			if alert.State != rules.StateFiring {
				continue
			}
			annotations := alert.Annotations.Map()
			for key, text := range annotations {
				Expect(text).NotTo(ContainSubstring("<error expanding template"), "%s %s", rule.Name(), key)
			}
			fired = append(fired, firing{Labels: alert.Labels.String(), Annotations: annotations})
		}
	}
	return fired
}

// alertLabels returns the labels of each alert, as Prometheus prints them.
func alertLabels(fired []firing) []string {
	printed := make([]string, 0, len(fired))
	for _, alert := range fired {
		printed = append(printed, alert.Labels)
	}
	return printed
}

// tokenAlert returns the labels of a token alert as Prometheus prints them: the token's
// namespace and name, and nothing of the replica or organization that served its series.
func tokenAlert(alert, severity, namespace, name string) string {
	return labels.FromStrings(labels.AlertName, alert, "severity", severity,
		"namespace", namespace, "name", name).String()
}

// Durations in seconds, the unit of the metrics.
const (
	hour = 60 * 60
	day  = 24 * hour
)

// samples is how many samples follow the first in a series: four hours, one a minute.
const samples = 240

// managerPod is the name of the pod a target belongs to.
const managerPod = "vpp-operator-controller-manager-7f9c6d5b8-x2kqp"

// token is one VppToken as served by one replica.
type token struct {
	namespace, name, organization string
	// instance is the replica's metrics address; replica 1 when empty.
	instance string
}

// series formats one series of the token with points in promqltest's syntax, with the labels
// a scrape through the ServiceMonitor gives it (honorLabels keeps the token's namespace).
func (t token) series(metric, points string) string {
	instance := t.instance
	if instance == "" {
		instance = replicaAddress(1)
	}
	return fmt.Sprintf(`%s{job="vpp-operator",instance=%q,pod=%q,namespace=%q,name=%q,organization=%q} %s`,
		metric, instance, managerPod, t.namespace, t.name, t.organization, points)
}

// state is the token's state series for one state Graph reported.
func (t token) state(state, points string) string {
	series := t.series(metrics.TokenState, points)
	return strings.Replace(series, "} ", fmt.Sprintf(",state=%q} ", state), 1)
}

// expiresAt is the token's expiry series: at seconds after time 0 (before it when negative).
func (t token) expiresAt(at int64) string {
	return t.series(metrics.TokenExpiration, constant(at))
}

// healthy returns the series of a token that syncs every minute with a 12h interval and
// expires at seconds after time 0.
func (t token) healthy(expiresAt int64) []string {
	return []string{
		t.expiresAt(expiresAt),
		t.series(metrics.TokenLastSuccess, fmt.Sprintf("0+60x%d", samples)),
		t.series(metrics.TokenSyncInterval, constant(12*hour)),
	}
}

// operatorUp is a successful scrape of the operator, at every sample, with the default
// --expiry-warning of 30 days.
func operatorUp() []string {
	return operatorWarning(30 * day)
}

// operatorWarning is a successful scrape of the operator running with --expiry-warning of
// seconds.
func operatorWarning(seconds int64) []string {
	return []string{
		fmt.Sprintf(`up{job="vpp-operator",instance=%q,namespace="vpp-operator-system",pod=%q} %s`,
			replicaAddress(1), managerPod, constant(1)),
		fmt.Sprintf(`%s{job="vpp-operator",instance=%q,namespace="vpp-operator-system",pod=%q} %s`,
			metrics.ExpiryWarning, replicaAddress(1), managerPod, constant(seconds)),
	}
}

// replicaAddress is the metrics address of the n-th replica.
func replicaAddress(n int) string {
	return fmt.Sprintf("10.244.0.%d:8443", 10+n)
}

// constant is value at every sample.
func constant(value int64) string {
	return fmt.Sprintf("%dx%d", value, samples)
}
