// Command bench measures the operator at scale: thousands of VppTokens over
// many tenants, synced by the manager binary through the Graph simulator with
// Intune's latency and write limits, on a local kube-apiserver and etcd. It
// measures the same workload through a script that does what users' scripts
// do today, simulates an hour of steady state, and writes a Markdown report
// and a chart of tokens Ready over time. `make bench` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	c, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	c.progress = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
	fmt.Printf("==> report: %s\n", filepath.Join(c.out, res.name()+".md"))
}

// Bounds of the workload. Intune holds at most 3,000 location tokens per
// tenant; the benchmark builds every token in memory before it starts, and
// its control plane is one local etcd.
const (
	maxTokensPerTenant = 3000
	maxTokens          = 100_000
)

// parseConfig reads the benchmark's flags and refuses values that would
// hang it, exhaust the machine or make its figures meaningless.
func parseConfig(args []string) (config, error) {
	// A flag set of its own: controller-runtime adds --kubeconfig to the
	// default one, and the benchmark makes its own cluster.
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.tokens, "tokens", 2000, "VppTokens in all (N).")
	fs.IntVar(&c.tenants, "tenants", 40, "Tenants (T), each with one app registration, namespace and Secret.")
	fs.DurationVar(&c.latency, "latency", 150*time.Millisecond,
		"Mean time the simulator takes to answer a request.")
	fs.DurationVar(&c.jitter, "jitter", 50*time.Millisecond,
		"How far each answer's delay varies either way from -latency; at most -latency.")
	fs.StringVar(&c.manager, "manager", "bin/manager", "The manager binary to measure.")
	fs.StringVar(&c.crds, "crds", filepath.Join("config", "crd", "bases"), "Folder of the CRD manifests.")
	fs.StringVar(&c.out, "out", filepath.Join("hack", "bench", "results"), "Folder for the report, chart and logs.")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "Time limit of each wait for the runs to finish.")
	fs.BoolVar(&c.skipBaseline, "skip-baseline", false,
		"Leave out the baseline script (about 10 minutes at the defaults).")
	fs.DurationVar(&c.baselineSleep, "baseline-sleep", 5*time.Second, "The baseline's sleep after a 429.")
	fs.DurationVar(&c.restartWindow, "restart-window", time.Minute, "How long after a restart Graph calls are counted.")
	fs.BoolVar(&c.skipSteady, "skip-steady", false, "Leave out the simulated steady-state hour.")
	fs.IntVar(&c.steadyTokens, "steady-tokens", 0, "Tokens in the steady-state hour; 0 means -tokens.")
	fs.DurationVar(&c.steadyPeriod, "steady-period", time.Hour,
		"Simulated time of the steady state; at least the shortest sync interval, 15m.")
	fs.DurationVar(&c.steadyStep, "steady-step", 10*time.Second,
		"Simulated time the steady state's clock jumps past the next due sync, batching syncs due within it.")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q: flags take a dash and come with their values "+
			"(-tokens 500), and every flag after it would be ignored", fs.Arg(0))
	}
	if c.steadyTokens == 0 {
		c.steadyTokens = c.tokens
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	// The report repeats the run's command: every flag that changes what is measured.
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "tokens", "tenants", "latency", "jitter", "steady-tokens", "manager", "crds", "out":
			return // always in the command, or a path of this machine's
		}
		if f.Value.String() != f.DefValue {
			c.extraFlags = append(c.extraFlags, fmt.Sprintf("-%s=%s", f.Name, f.Value))
		}
	})
	return c, nil
}

// validate refuses a configuration the benchmark cannot measure.
func (c *config) validate() error {
	switch {
	case c.tokens < 1 || c.tenants < 1 || c.tenants > c.tokens:
		return errors.New("-tokens must be at least -tenants, and -tenants at least 1")
	case c.tokens > maxTokens:
		return fmt.Errorf("-tokens must be at most %d", maxTokens)
	case (c.tokens+c.tenants-1)/c.tenants > maxTokensPerTenant:
		return fmt.Errorf("-tokens %d over -tenants %d is more than Intune's %d tokens per tenant: add tenants",
			c.tokens, c.tenants, maxTokensPerTenant)
	case c.steadyTokens < 1 || c.steadyTokens > maxTokens:
		return fmt.Errorf("-steady-tokens must be between 1 and %d, or 0 for -tokens", maxTokens)
	case (c.steadyTokens+c.tenants-1)/c.tenants > maxTokensPerTenant:
		return fmt.Errorf("-steady-tokens %d over -tenants %d is more than Intune's %d tokens per tenant",
			c.steadyTokens, c.tenants, maxTokensPerTenant)
	case c.latency < 0 || c.jitter < 0 || c.jitter > c.latency:
		return errors.New("-latency and -jitter must not be negative, and -jitter at most -latency")
	case c.timeout <= 0:
		return errors.New("-timeout must be positive")
	case c.baselineSleep < 0:
		return errors.New("-baseline-sleep must not be negative")
	case c.restartWindow <= 0:
		return errors.New("-restart-window must be positive")
	case c.steadyPeriod < steadyInterval:
		return fmt.Errorf("-steady-period must be at least the shortest sync interval, %s", steadyInterval)
	case c.steadyStep <= 0:
		return errors.New("-steady-step must be positive")
	}
	return nil
}
