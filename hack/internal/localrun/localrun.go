// Package localrun holds the process plumbing that the demo and the benchmark share to run
// the operator on this machine: a loopback address for a child's listener, an admin
// kubeconfig for a local control plane, and children that log to a file and are stopped as
// a Pod is.
package localrun

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// FreeAddress returns a loopback address with a port nothing listens on now.
func FreeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// WriteAdminKubeconfig creates a user of the control plane in system:masters and writes
// its kubeconfig to path, readable by this user only, as it holds the user's key.
func WriteAdminKubeconfig(env *envtest.Environment, user, path string) error {
	u, err := env.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the admin user %s: %w", user, err)
	}
	raw, err := u.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// Process is a child started by Start.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs cmd with its output in a new file at logPath. The child leads a process group
// of its own, so that Stop reaches whatever it starts, and gets SIGKILL if this process
// dies first, so that no child outlives a crashed or killed parent.
func Start(cmd *exec.Cmd, logPath string) (*Process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the child's process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the child has exited and been waited for.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop sends the child's process group SIGTERM, as a Pod's deletion does, and SIGKILL if
// the child is still there after grace. It returns once the child has exited.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.exited:
		return // exited already; its group ID may belong to another process by now
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
}
