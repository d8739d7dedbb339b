package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/controllers"
	"github.com/vpp-operator/vpp-operator/hack/internal/localrun"
	"github.com/vpp-operator/vpp-operator/internal/graphsim"
	"github.com/vpp-operator/vpp-operator/internal/pacing"
)

// config is what the flags set.
type config struct {
	tokens, tenants int
	latency, jitter time.Duration
	// manager is the built manager binary; crds the CRD manifests' folder.
	manager, crds string
	out           string
	// timeout bounds each wait for tokens to become Ready.
	timeout time.Duration

	skipBaseline  bool
	baselineSleep time.Duration

	restartWindow time.Duration

	skipSteady   bool
	steadyTokens int
	steadyPeriod time.Duration
	steadyStep   time.Duration

	// extraFlags are the flags, beyond the workload's, that the command
	// repeating the run needs, as -name=value.
	extraFlags []string

	// progress gets a line per phase; nil means none.
	progress io.Writer
}

// concurrency is the manager's default --max-concurrent-reconciles.
const concurrency = controllers.DefaultMaxConcurrentReconciles

// perAppRate is Intune's documented write rate per app per tenant, per second.
const perAppRate = float64(pacing.DefaultLimit) * float64(time.Second) / float64(pacing.DefaultWindow)

// floor is the shortest time the limits allow for syncing every token: the
// longer of floorTerms.
func (c *config) floor(busiest int) time.Duration {
	return max(c.floorTerms(busiest))
}

// floorTerms are the two bounds on the time for syncing every token: the
// Graph calls spread over the workers, and the busiest tenant's writes at one
// app's rate.
func (c *config) floorTerms(busiest int) (byLatency, byRate time.Duration) {
	byLatency = time.Duration(float64(c.tokens) * float64(c.latency) / concurrency)
	byRate = time.Duration(float64(busiest) / perAppRate * float64(time.Second))
	return byLatency, byRate
}

// results is everything one benchmark run measured.
type results struct {
	cfg      config
	started  time.Time
	machine  machine
	busiest  int
	floor    time.Duration
	operator operatorResult
	baseline *baselineResult
	steady   *steadyResult
	elapsed  time.Duration
}

// bench is a run's shared set-up: the control plane and a client of it.
type bench struct {
	cfg        *config
	work       string
	restConfig *rest.Config
	// scheme holds client-go's types and the VppToken, for the client and
	// the in-process manager.
	scheme     *runtime.Scheme
	client     client.WithWatch
	api        *apiServer
	kubeconfig string
	workload   *workload
}

func (b *bench) logf(format string, args ...any) {
	if b.cfg.progress != nil {
		fmt.Fprintf(b.cfg.progress, "==> "+format+"\n", args...)
	}
}

// run is one benchmark: the operator, its restart, the steady-state hour and
// the baseline, each against its own simulator with the same data and limits,
// on one control plane. It writes the report and the chart into cfg.out.
func run(ctx context.Context, cfg config) (*results, error) {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "vpp-bench-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(work) }()

	b := &bench{cfg: &cfg, work: work, workload: newWorkload(cfg.tokens, cfg.tenants)}
	res := &results{cfg: cfg, started: time.Now(), machine: describeMachine(), busiest: b.workload.busiest()}
	res.floor = cfg.floor(res.busiest)

	b.logf("starting kube-apiserver and etcd")
	env := &envtest.Environment{CRDDirectoryPaths: []string{cfg.crds}, ErrorIfCRDPathMissing: true}
	if b.restConfig, err = env.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane (is KUBEBUILDER_ASSETS set?): %w", err)
	}
	defer func() { _ = env.Stop() }()
	if err := b.connect(env); err != nil {
		return nil, err
	}

	if res.operator, err = b.runOperator(ctx); err != nil {
		return res, fmt.Errorf("operator run: %w", err)
	}
	if !cfg.skipSteady {
		if res.steady, err = b.runSteady(ctx); err != nil {
			return res, fmt.Errorf("steady-state run: %w", err)
		}
	}
	if !cfg.skipBaseline {
		if res.baseline, err = b.runBaseline(ctx); err != nil {
			return res, fmt.Errorf("baseline run: %w", err)
		}
	}
	res.elapsed = time.Since(res.started)
	if err := writeOutputs(res); err != nil {
		return res, err
	}
	return res, nil
}

// connect makes the admin client, the kubeconfig the manager uses, and the
// API server metrics scraper.
func (b *bench) connect(env *envtest.Environment) error {
	b.scheme = runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(b.scheme); err != nil {
		return err
	}
	if err := intunev1alpha1.AddToScheme(b.scheme); err != nil {
		return err
	}
	cfg := rest.CopyConfig(b.restConfig)
	// The benchmark creates thousands of objects; client-go's default of 5
	// requests a second would make the set-up the slowest part.
	cfg.QPS, cfg.Burst = -1, 0
	var err error
	if b.client, err = client.NewWithWatch(cfg, client.Options{Scheme: b.scheme}); err != nil {
		return err
	}
	if b.api, err = newAPIServer(b.restConfig); err != nil {
		return err
	}
	b.kubeconfig = filepath.Join(b.work, "kubeconfig")
	return localrun.WriteAdminKubeconfig(env, "bench-admin", b.kubeconfig)
}

// startSim starts a simulator serving the workload with the run's latency and
// Intune's write limits, and writes its CA where the manager reads it.
func (b *bench) startSim(caFile string) (*graphsim.Server, error) {
	return b.startSimFor(b.workload, caFile)
}

func (b *bench) startSimFor(w *workload, caFile string) (*graphsim.Server, error) {
	limits := graphsim.IntuneWriteLimits
	sim, err := graphsim.Start(w.data(time.Now()), graphsim.Options{
		Throttle: &limits, Latency: b.cfg.latency, Jitter: b.cfg.jitter})
	if err != nil {
		return nil, err
	}
	if caFile != "" {
		if err := sim.WriteCAFile(caFile); err != nil {
			_ = sim.Close()
			return nil, err
		}
	}
	return sim, nil
}

// simCounts are what a simulator's request log says about a run.
type simCounts struct {
	posts, throttled, tokenRequests, discovery, gets, other int
}

func countRequests(reqs []graphsim.Request) simCounts {
	var c simCounts
	for _, r := range reqs {
		switch r.Op {
		case graphsim.OpSyncLicenses:
			c.posts++
			if r.Status == 429 {
				c.throttled++
			}
		case graphsim.OpToken:
			c.tokenRequests++
			if r.Status == 429 {
				c.throttled++
			}
		case graphsim.OpDiscovery:
			c.discovery++
		case graphsim.OpGetVppToken:
			c.gets++
		default:
			c.other++
		}
	}
	return c
}
