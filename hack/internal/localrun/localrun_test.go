package localrun

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestLocalrun(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Local processes")
}

var _ = Describe("A child process", func() {
	var logPath string
	BeforeEach(func() { logPath = filepath.Join(GinkgoT().TempDir(), "child.log") })

	start := func(script string) *Process {
		p, err := Start(exec.Command("sh", "-c", script), logPath)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { p.Stop(time.Second) })
		return p
	}

	It("writes its output to the log file", func() {
		p := start("echo out; echo err >&2")
		Eventually(p.Exited()).WithTimeout(10 * time.Second).Should(BeClosed())
		Expect(os.ReadFile(logPath)).To(Equal([]byte("out\nerr\n")))
	})

	It("stops on SIGTERM without waiting out the grace period", func() {
		p := start("echo ready; sleep 60 & wait")
		Eventually(func() ([]byte, error) { return os.ReadFile(logPath) }).WithTimeout(10 * time.Second).
			Should(Equal([]byte("ready\n")))
		begun := time.Now()
		p.Stop(time.Minute)
		Expect(p.Exited()).To(BeClosed())
		Expect(time.Since(begun)).To(BeNumerically("<", 30*time.Second))
	})

	It("gets SIGKILL when it ignores SIGTERM for the grace period", func() {
		p := start(`trap "" TERM; echo ready; while :; do sleep 1; done`)
		Eventually(func() ([]byte, error) { return os.ReadFile(logPath) }).WithTimeout(10 * time.Second).
			Should(Equal([]byte("ready\n")))
		begun := time.Now()
		p.Stop(500 * time.Millisecond)
		Expect(p.Exited()).To(BeClosed())
		Expect(time.Since(begun)).To(BeNumerically(">=", 500*time.Millisecond))
	})
})

var _ = Describe("FreeAddress", func() {
	It("returns a loopback address with a port", func() {
		addr, err := FreeAddress()
		Expect(err).NotTo(HaveOccurred())
		host, port, err := net.SplitHostPort(addr)
		Expect(err).NotTo(HaveOccurred())
		Expect(host).To(Equal("127.0.0.1"))
		Expect(port).NotTo(Equal("0"))
	})
})
