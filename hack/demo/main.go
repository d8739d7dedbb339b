// Command demo runs the operator end to end on this machine: a local
// kube-apiserver and etcd, the Graph simulator, the CRD and the samples from
// config/, and the manager binary. It waits until the sample token is Ready,
// prints what kubectl shows, and stops everything it started.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/vpp-operator/vpp-operator/hack/internal/localrun"
)

const sampleToken = "vpptoken/contoso-business"

type demo struct {
	bin, kubectl, work string
	kubeconfig         string
	metricsAddr        string
	procs              []*localrun.Process
}

// stopGrace is how long a child may take to exit on SIGTERM before it gets SIGKILL.
const stopGrace = 10 * time.Second

func main() {
	// A flag set of its own: controller-runtime adds --kubeconfig to the
	// default one, and the demo makes its own cluster.
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	binDir := fs.String("bin", "bin", "Folder holding the manager and graphsim binaries.")
	assets := fs.String("assets", "", "Folder holding kube-apiserver, etcd and kubectl (KUBEBUILDER_ASSETS).")
	kubectl := fs.String("kubectl", "", "kubectl binary; defaults to the one in --assets.")
	timeout := fs.Duration("timeout", 2*time.Minute, "How long to wait for the sample to become Ready.")
	keep := fs.Bool("keep", false, "Keep everything running after the demo, until interrupted, to try kubectl on it.")
	_ = fs.Parse(os.Args[1:])
	if *kubectl == "" {
		*kubectl = filepath.Join(*assets, "kubectl")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *binDir, *assets, *kubectl, *timeout, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, binDir, assets, kubectl string, timeout time.Duration, keep bool) error {
	work := filepath.Join(binDir, "demo")
	unlock, err := lockDemo(binDir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	d := &demo{bin: binDir, kubectl: kubectl, work: work}

	step("Starting a local control plane (kube-apiserver and etcd)")
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		// The manager and graphsim go first, so that no client holds a watch
		// open while the API server shuts down.
		step("Stopping the manager, the simulator and the control plane")
		d.stopProcesses()
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	d.kubeconfig = filepath.Join(work, "kubeconfig")
	if err := localrun.WriteAdminKubeconfig(env, "demo-admin", d.kubeconfig); err != nil {
		return err
	}

	step("Starting the Graph and identity platform simulator")
	graphURL, err := d.startGraphsim(ctx)
	if err != nil {
		return err
	}

	step("Installing the CRD: kubectl apply --server-side -k config/crd")
	if err := d.kubectlRun(ctx, "apply", "--server-side", "-k", "config/crd"); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/vpptokens.intune.vpp-operator.io"); err != nil {
		return err
	}

	step("Applying the samples: kubectl apply -f config/samples/")
	if err := d.kubectlRun(ctx, "apply", "-f", "config/samples/"); err != nil {
		return err
	}

	step("Running the manager against " + graphURL)
	if err := d.startManager(graphURL); err != nil {
		return err
	}

	step("Waiting for the token: kubectl wait --for=condition=Ready " + sampleToken)
	waitErr := d.kubectlRun(ctx, "wait", "--for=condition=Ready", "--timeout="+timeout.String(), sampleToken)

	step("kubectl get vpptokens -o wide")
	_ = d.kubectlRun(ctx, "get", "vpptokens", "-o", "wide")
	step("Status of " + sampleToken)
	if err := d.printStatus(ctx); err != nil {
		return err
	}
	step("Events of " + sampleToken)
	_ = d.kubectlRun(ctx, "get", "events", "--field-selector", "involvedObject.name=contoso-business")
	step("The operator's metrics, scraped as Prometheus would, with a ServiceAccount bound to metrics-reader")
	if err := d.printMetrics(ctx); err != nil {
		return err
	}

	if waitErr != nil {
		return fmt.Errorf("the sample did not become Ready; manager log: %s", filepath.Join(work, "manager.log"))
	}
	step("Done: the token synced. Logs of the manager and of every Graph request are in " + work)
	if keep {
		step("Still running, as --keep asked; press Ctrl-C to stop everything")
		kubeconfig, _ := filepath.Abs(d.kubeconfig)
		kubectlDir, _ := filepath.Abs(filepath.Dir(d.kubectl))
		fmt.Printf("  export KUBECONFIG=%s\n", kubeconfig)
		fmt.Printf("  export PATH=%s:$PATH   # the kubectl built with this API server\n", kubectlDir)
		fmt.Printf("  kubectl get vpptokens -o wide\n")
		fmt.Printf("  curl -sk -H \"Authorization: Bearer $(kubectl create token demo-prometheus)\" https://%s/metrics\n",
			d.metricsAddr)
		<-ctx.Done()
	}
	return nil
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

// lockDemo claims the demo's folder for this process: a second demo would
// replace the kubeconfig and logs of one left running with --keep. The lock
// goes with the process, however it ends.
func lockDemo(binDir string) (unlock func(), err error) {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(binDir, "demo.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("another demo is running from this checkout (make demo DEMO_ARGS=--keep?); " +
				"stop it with Ctrl-C first")
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { _ = f.Close() }, nil
}

// startGraphsim starts the simulator and returns its URL once it listens.
func (d *demo) startGraphsim(ctx context.Context) (string, error) {
	urlFile := filepath.Join(d.work, "graphsim.url")
	cmd := exec.Command(filepath.Join(d.bin, "graphsim"),
		"--ca-file", filepath.Join(d.work, "graphsim-ca.pem"), "--url-file", urlFile)
	if err := d.start(cmd, "graphsim.log"); err != nil {
		return "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if b, err := os.ReadFile(urlFile); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", errors.New("graphsim did not start; see " + filepath.Join(d.work, "graphsim.log"))
}

func (d *demo) startManager(graphURL string) error {
	addr, err := localrun.FreeAddress()
	if err != nil {
		return err
	}
	d.metricsAddr = addr
	cmd := exec.Command(filepath.Join(d.bin, "manager"),
		"--kubeconfig", d.kubeconfig,
		"--graph-endpoint", graphURL,
		"--authority-host", graphURL,
		"--health-probe-bind-address", "127.0.0.1:0",
		"--metrics-bind-address", d.metricsAddr,
		"--zap-log-level", "info")
	// The manager trusts the simulator's CA, and only it, as TLS verification
	// is always on.
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(d.work, "graphsim-ca.pem"))
	return d.start(cmd, "manager.log")
}

// start runs cmd in its own process group with its output in logName in the
// demo's folder.
func (d *demo) start(cmd *exec.Cmd, logName string) error {
	p, err := localrun.Start(cmd, filepath.Join(d.work, logName))
	if err != nil {
		return err
	}
	d.procs = append(d.procs, p)
	return nil
}

// stopProcesses ends what start started, newest first.
func (d *demo) stopProcesses() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		d.procs[i].Stop(stopGrace)
	}
	d.procs = nil
}

func (d *demo) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	return cmd
}

func (d *demo) kubectlRun(ctx context.Context, args ...string) error {
	cmd := d.kubectlCmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// printMetrics binds config/rbac's metrics-reader role to a ServiceAccount,
// scrapes the manager's secure metrics endpoint with that account's token and
// prints the operator's own series.
func (d *demo) printMetrics(ctx context.Context) error {
	steps := [][]string{
		{"apply", "--server-side", "-f", "config/rbac/metrics_reader_role.yaml"},
		{"create", "serviceaccount", "demo-prometheus"},
		{"create", "clusterrolebinding", "demo-prometheus", "--clusterrole=metrics-reader",
			"--serviceaccount=default:demo-prometheus"},
	}
	for _, args := range steps {
		cmd := d.kubectlCmd(ctx, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	cmd := d.kubectlCmd(ctx, "create", "token", "demo-prometheus", "--duration=10m")
	token, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("kubectl create token: %w", err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+d.metricsAddr+"/metrics", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	// The manager's certificate is self-signed, made at start, as in a cluster.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed by design
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("scraping the manager: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scraping the manager: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "vpp_operator_") && !strings.Contains(line, "_bucket{") {
			fmt.Println(line)
		}
	}
	return nil
}

// printStatus prints the sample's status as YAML.
func (d *demo) printStatus(ctx context.Context) error {
	cmd := d.kubectlCmd(ctx, "get", sampleToken, "-o", "jsonpath={.status}")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	var status map[string]any
	if err := json.Unmarshal(out.Bytes(), &status); err != nil {
		return fmt.Errorf("reading the status: %w", err)
	}
	y, err := yaml.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	fmt.Print(string(y))
	return nil
}
