package config_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// hack/render-install.sh is what `make build-installer` and `make deploy` run.
var _ = Describe("The installer", func() {
	renderInstall := func(image string) (string, string, error) {
		GinkgoHelper()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "../hack/render-install.sh", image)
		cmd.Env = append(os.Environ(), "KUSTOMIZE="+kustomize)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	DescribeTable("runs the image it is given",
		func(image string) {
			out, stderr, err := renderInstall(image)
			Expect(err).NotTo(HaveOccurred(), stderr)
			objects, err := decodeObjects([]byte(out))
			Expect(err).NotTo(HaveOccurred())
			Expect(objects).To(HaveLen(len(rendered)), "the same objects as config/default")
			Expect(out).To(ContainSubstring("image: " + image + "\n"))
			Expect(strings.Count(out, "image: ")).To(Equal(1))
		},
		Entry("a tag", "registry.example/vpp-operator:1.2.3"),
		Entry("a registry with a port", "localhost:5000/team/vpp-operator:v1.2.3-rc.1"),
		Entry("a digest", "registry.example/vpp-operator@sha256:"+strings.Repeat("ab", 32)),
		Entry("a tag and a digest", "registry.example/vpp-operator:1.2.3@sha256:"+strings.Repeat("cd", 32)),
	)

	DescribeTable("refuses what no runtime could pull, writing nothing",
		func(image string) {
			out, stderr, err := renderInstall(image)
			var exit *exec.ExitError
			Expect(err).To(BeAssignableToTypeOf(exit))
			Expect(out).To(BeEmpty())
			Expect(stderr).To(ContainSubstring("is not an image reference with a tag or digest"))
		},
		Entry("no tag, which would keep config/manager's", "registry.example/vpp-operator"),
		Entry("a shell command", "registry.example/vpp:v1;echo INJECTED"),
		Entry("upper case in the repository", "registry.example/VPP-Operator:1"),
		Entry("a short digest", "registry.example/vpp-operator@sha256:abc"),
		Entry("nothing", ""),
	)
})
