// Package metrics holds the operator's own Prometheus metrics: the state of
// every VppToken, read from the cache when Prometheus scrapes, and the
// requests made to Graph and the identity platform.
//
// No label carries anything from a reply or a credential: tokens are named by
// namespace, name and organisation, requests by operation and status code.
package metrics

import (
	"context"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/internal/graph"
)

// The metric names; the README's Metrics section documents each.
const (
	TokenExpiration     = "vpp_operator_token_expiration_timestamp_seconds"
	TokenLastSuccess    = "vpp_operator_token_last_successful_sync_timestamp_seconds"
	TokenSyncInterval   = "vpp_operator_token_sync_interval_seconds"
	TokenReady          = "vpp_operator_token_ready"
	TokenState          = "vpp_operator_token_state"
	GraphRequestsTotal  = "vpp_operator_graph_requests_total"
	GraphRequestSeconds = "vpp_operator_graph_request_duration_seconds"
	ExpiryWarning       = "vpp_operator_expiry_warning_seconds"
)

// readyStatuses are the values of vpp_operator_token_ready's status label,
// one series each per token, as kube-state-metrics does for conditions.
var readyStatuses = []string{"True", "False", "Unknown"}

// tokenStates are the values of a vppToken's state that Graph documents.
// Graph may add more; the state label names any other as "other", so that a
// reply cannot add label values of its own.
var tokenStates = []string{"unknown", "valid", "expired", "invalid", "assignedToExternalMDM", "duplicateLocationId"}

// stateLabel is the state label's value for a token's status.state.
func stateLabel(state string) string {
	if slices.Contains(tokenStates, state) {
		return state
	}
	return "other"
}

// Register adds the token collector, reading through reader, the Graph
// request metrics and the expiry warning window to registry, and returns the
// Graph client's Observer.
func Register(registry prometheus.Registerer, reader client.Reader, log logr.Logger,
	expiryWarning time.Duration) (graph.Observer, error) {
	requests := NewGraphRequests()
	// The alerts compare expiry dates with this, so they warn when the
	// operator's Expiring condition does, whatever --expiry-warning says.
	warning := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: ExpiryWarning,
		Help: "How long before expiry a token counts as Expiring (--expiry-warning), in seconds.",
	})
	warning.Set(expiryWarning.Seconds())
	for _, c := range []prometheus.Collector{NewTokenCollector(reader, log), requests, warning} {
		if err := registry.Register(c); err != nil {
			return nil, err
		}
	}
	return requests.Observe, nil
}

// GraphRequests counts and times the Graph client's requests.
type GraphRequests struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewGraphRequests returns unregistered Graph request metrics.
func NewGraphRequests() *GraphRequests {
	return &GraphRequests{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: GraphRequestsTotal,
			Help: "Requests sent to Graph and the identity platform, by operation " +
				"(syncLicenses, getVppToken, token, discovery) and HTTP status code (\"error\": no reply).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: GraphRequestSeconds,
			Help: "Time from sending a request to Graph or the identity platform until the reply's headers arrived.",
			// 50 ms to about 26 s; the client gives up at --graph-request-timeout (30 s).
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 10),
		}, []string{"operation"}),
	}
}

// Observe records one request; it is a graph.Observer.
func (g *GraphRequests) Observe(operation, code string, elapsed time.Duration) {
	g.total.WithLabelValues(operation, code).Inc()
	g.duration.WithLabelValues(operation).Observe(elapsed.Seconds())
}

// Describe implements prometheus.Collector.
func (g *GraphRequests) Describe(ch chan<- *prometheus.Desc) {
	g.total.Describe(ch)
	g.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (g *GraphRequests) Collect(ch chan<- prometheus.Metric) {
	g.total.Collect(ch)
	g.duration.Collect(ch)
}

// listTimeout bounds the cache read of one scrape. A synced cache answers at
// once; before the first sync the read waits for it.
const listTimeout = 10 * time.Second

// TokenCollector reports each VppToken's state at scrape time, from the
// manager's cache. Series exist only for tokens that exist, so a deleted token
// leaves none behind, and a value the status lacks has no series.
type TokenCollector struct {
	reader client.Reader
	log    logr.Logger

	expiration, lastSuccess, interval, ready, state *prometheus.Desc
}

// NewTokenCollector returns a collector of the VppTokens reader lists.
func NewTokenCollector(reader client.Reader, log logr.Logger) *TokenCollector {
	labels := []string{"namespace", "name", "organization"}
	return &TokenCollector{
		reader: reader,
		log:    log,
		expiration: prometheus.NewDesc(TokenExpiration,
			"When the token expires, as Graph reports it, in seconds since the epoch.", labels, nil),
		lastSuccess: prometheus.NewDesc(TokenLastSuccess,
			"When a syncLicenses call for the token last succeeded, in seconds since the epoch.", labels, nil),
		interval: prometheus.NewDesc(TokenSyncInterval,
			"The token's spec.syncInterval, in seconds; absent while the token is suspended.", labels, nil),
		ready: prometheus.NewDesc(TokenReady,
			"1 for the status (True, False or Unknown) of the token's Ready condition, 0 for the others.",
			append(labels, "status"), nil),
		state: prometheus.NewDesc(TokenState,
			"1, labelled with the token's state as Graph last reported it (valid, expired, invalid, "+
				"assignedToExternalMDM, duplicateLocationId, unknown, or other); absent until Graph has reported one.",
			append(labels, "state"), nil),
	}
}

// Describe implements prometheus.Collector.
func (t *TokenCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{t.expiration, t.lastSuccess, t.interval, t.ready, t.state} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (t *TokenCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	var tokens intunev1alpha1.VppTokenList
	// The collector only reads, so it can skip the cache's copy of each token.
	if err := t.reader.List(ctx, &tokens, client.UnsafeDisableDeepCopy); err != nil {
		// A failed scrape, rather than one without tokens: Prometheus then
		// counts the target as down instead of every token as deleted.
		t.log.Error(err, "listing VppTokens for metrics")
		ch <- prometheus.NewInvalidMetric(t.ready, err)
		return
	}
	for i := range tokens.Items {
		t.collectToken(ch, &tokens.Items[i])
	}
}

func (t *TokenCollector) collectToken(ch chan<- prometheus.Metric, tok *intunev1alpha1.VppToken) {
	labels := []string{tok.Namespace, tok.Name, tok.Status.OrganizationName}
	gauge := func(desc *prometheus.Desc, value float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, value, append(labels, extra...)...)
	}
	if e := tok.Status.ExpirationDateTime; e != nil {
		gauge(t.expiration, seconds(e.Time))
	}
	if s := tok.Status.LastSuccessfulSyncTime; s != nil {
		gauge(t.lastSuccess, seconds(s.Time))
	}
	// A suspended token has no schedule, so nothing can be late.
	if !tok.Spec.Suspend {
		gauge(t.interval, tok.Spec.Interval().Seconds())
	}
	// One series, not one per state: a token's state rarely changes, and a
	// series for every state of every token would multiply what a tenant
	// with thousands of tokens costs Prometheus.
	if tok.Status.State != "" {
		gauge(t.state, 1, stateLabel(tok.Status.State))
	}

	status := "Unknown"
	if c := meta.FindStatusCondition(tok.Status.Conditions, intunev1alpha1.ConditionReady); c != nil {
		status = string(c.Status)
	}
	for _, s := range readyStatuses {
		value := 0.0
		if s == status {
			value = 1
		}
		gauge(t.ready, value, s)
	}
}

// seconds is t in fractional seconds since the epoch. Not from UnixNano,
// which overflows outside the years 1678 to 2262, and Graph sends dates in
// year 1 and year 9999.
func seconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
