// Command manager runs the vpp-operator: a controller that syncs the licences
// of Apple VPP tokens held by Intune, declared as VppToken resources.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
	"github.com/vpp-operator/vpp-operator/controllers"
	"github.com/vpp-operator/vpp-operator/internal/graph"
	"github.com/vpp-operator/vpp-operator/internal/metrics"
	"github.com/vpp-operator/vpp-operator/internal/pacing"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// config is what the flags set.
type config struct {
	metricsAddr             string
	metricsSecure           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	namespaces              []string
	graphEndpoint           string
	authorityHost           string
	maxConcurrentReconciles int
	graphTimeout            time.Duration
	appWriteLimit           int
	appWriteWindow          time.Duration
	expiryWarning           time.Duration
	zap                     zap.Options
}

func parseFlags(fs *flag.FlagSet, args []string) (*config, error) {
	c := &config{}
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", "0",
		"Address the metrics endpoint binds to, such as :8443; 0 disables it.")
	fs.BoolVar(&c.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, only to callers the API server authenticates and authorises "+
			"(get on the non-resource URL /metrics); false serves plain HTTP to anyone.")
	fs.StringVar(&c.probeAddr, "health-probe-bind-address", ":8081",
		"Address the health and readiness probes bind to.")
	fs.BoolVar(&c.leaderElect, "leader-elect", false,
		"Elect a leader among replicas, so that only one calls Graph.")
	fs.StringVar(&c.leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election Lease; empty means the manager's own namespace in a cluster.")
	namespaces := fs.String("namespaces", "",
		"Comma-separated namespaces to watch VppTokens, Secrets and ServiceAccounts in; empty means all. "+
			"With a list, the manager needs its permissions only in those namespaces.")
	fs.StringVar(&c.graphEndpoint, "graph-endpoint", "",
		"HTTPS URL that replaces every cloud's Graph root, for proxies and tests.")
	fs.StringVar(&c.authorityHost, "authority-host", "",
		"HTTPS URL that replaces every cloud's identity platform host, for proxies and tests.")
	fs.IntVar(&c.maxConcurrentReconciles, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles,
		"How many VppTokens are synced at the same time.")
	fs.DurationVar(&c.graphTimeout, "graph-request-timeout", graph.DefaultTimeout,
		"Time limit of one request to Graph or the identity platform.")
	fs.IntVar(&c.appWriteLimit, "app-write-limit", pacing.DefaultLimit,
		"syncLicenses calls each app registration may make per --app-write-window in a tenant (Intune allows 100 per 20s).")
	fs.DurationVar(&c.appWriteWindow, "app-write-window", pacing.DefaultWindow,
		"The window of --app-write-limit.")
	fs.DurationVar(&c.expiryWarning, "expiry-warning", controllers.DefaultExpiryWarning,
		"How long before expiry a token counts as Expiring and gets a daily Warning event.")
	c.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// Parsing stops at the first word that is not a flag; every flag after it
	// would be dropped without a word.
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: the manager takes only flags, and a boolean flag's "+
			"value goes after an equals sign (--flag=false)", fs.Arg(0))
	}

	var err error
	if c.namespaces, err = parseNamespaces(*namespaces); err != nil {
		return nil, fmt.Errorf("--namespaces: %w", err)
	}
	if c.graphEndpoint != "" {
		if c.graphEndpoint, err = graph.ParseEndpoint(c.graphEndpoint); err != nil {
			return nil, fmt.Errorf("--graph-endpoint: %w", err)
		}
	}
	if c.authorityHost != "" {
		if c.authorityHost, err = graph.ParseEndpoint(c.authorityHost); err != nil {
			return nil, fmt.Errorf("--authority-host: %w", err)
		}
	}
	if c.maxConcurrentReconciles < 1 {
		return nil, errors.New("--max-concurrent-reconciles must be at least 1")
	}
	if c.graphTimeout <= 0 {
		return nil, errors.New("--graph-request-timeout must be positive")
	}
	if c.appWriteLimit < 1 || c.appWriteWindow <= 0 {
		return nil, errors.New("--app-write-limit must be at least 1 and --app-write-window positive")
	}
	if c.expiryWarning < 0 {
		return nil, errors.New("--expiry-warning must not be negative")
	}
	return c, nil
}

// parseNamespaces reads a comma-separated list of namespace names.
func parseNamespaces(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []string
	for _, ns := range strings.Split(list, ",") {
		ns = strings.TrimSpace(ns)
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// cacheOptions limits the manager's caches, and so its watches, to the
// namespaces given; none means the whole cluster.
func cacheOptions(namespaces []string) cache.Options {
	if len(namespaces) == 0 {
		return cache.Options{}
	}
	opts := cache.Options{DefaultNamespaces: map[string]cache.Config{}}
	for _, ns := range namespaces {
		opts.DefaultNamespaces[ns] = cache.Config{}
	}
	return opts
}

// metricsOptions serves metrics as the flags say. Served securely, the
// endpoint asks the API server to authenticate each caller (TokenReview) and
// authorise it (SubjectAccessReview), under a self-signed certificate made at
// start. HTTP/2 is off: its stream handling has been a denial-of-service
// vector (CVE-2023-44487, CVE-2023-39325), and scrapes do not need it.
func metricsOptions(cfg *config) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: cfg.metricsAddr, SecureServing: cfg.metricsSecure}
	if cfg.metricsSecure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) {
			c.NextProtos = []string{"http/1.1"}
			c.MinVersion = tls.VersionTLS12
		}}
	}
	return opts
}

func main() {
	// controller-runtime registers --kubeconfig on the default flag set.
	cfg, err := parseFlags(flag.CommandLine, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&cfg.zap)))
	// The identity library moves sign-ins to a regional host named by this
	// variable, and may ask the instance metadata service for the region:
	// hosts nobody configured. Sign-ins go to the cloud's or --authority-host.
	if region, set := os.LookupEnv("AZURE_REGIONAL_AUTHORITY_NAME"); set {
		ctrl.Log.Info("ignoring AZURE_REGIONAL_AUTHORITY_NAME; use --authority-host for another host", "value", region)
		_ = os.Unsetenv("AZURE_REGIONAL_AUTHORITY_NAME")
	}
	if err := run(ctrl.SetupSignalHandler(), cfg); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(intunev1alpha1.AddToScheme(scheme))

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("finding the cluster: %w", err)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(cfg),
		HealthProbeBindAddress:  cfg.probeAddr,
		LeaderElection:          cfg.leaderElect,
		LeaderElectionID:        "vpp-operator.intune.vpp-operator.io",
		LeaderElectionNamespace: cfg.leaderElectionNamespace,
		// The process exits as soon as the manager stops, so it can hand the
		// Lease over at once instead of making the next leader wait it out.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOptions(cfg.namespaces),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}

	observe, err := metrics.Register(crmetrics.Registry, mgr.GetClient(), ctrl.Log.WithName("metrics"),
		controllers.ExpiryWindow(cfg.expiryWarning))
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	reconciler := &controllers.VppTokenReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("vpp-operator"),
		Clock:         clock.RealClock{},
		Pacer:         pacing.New(cfg.appWriteLimit, cfg.appWriteWindow),
		ExpiryWarning: cfg.expiryWarning,
		Graph: graph.NewClient(graph.Options{
			Hosts:     graph.Hosts{GraphEndpoint: cfg.graphEndpoint, AuthorityHost: cfg.authorityHost},
			Timeout:   cfg.graphTimeout,
			UserAgent: "vpp-operator/" + version,
			Observe:   observe,
		}),
	}
	opts := controller.Options{MaxConcurrentReconciles: cfg.maxConcurrentReconciles}
	if err := reconciler.SetupWithManager(ctx, mgr, opts); err != nil {
		return fmt.Errorf("setting up the VppToken controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	ctrl.Log.Info("starting manager", "version", version, "namespaces", cfg.namespaces,
		"graphEndpoint", cfg.graphEndpoint, "authorityHost", cfg.authorityHost)
	return mgr.Start(ctx)
}
