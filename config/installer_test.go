package config_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// The Makefile hands IMG and the image's labels to its recipes in their environment, so that
// no value is read as shell code.
var _ = Describe("The Makefile's image targets", func() {
	// runMake runs make in the module root with args, outside any make that runs the specs.
	runMake := func(args ...string) (string, error) {
		GinkgoHelper()
		tool, err := filepath.Abs(kustomize)
		Expect(err).NotTo(HaveOccurred())
		// -o: the specs' kustomize is used as it is, never rebuilt.
		cmd := exec.CommandContext(ctx, "make", append([]string{"-C", "..", "--no-print-directory",
			"-o", tool, "KUSTOMIZE=" + tool}, args...)...)
		cmd.Env = slices.DeleteFunc(os.Environ(), func(variable string) bool {
			name, _, _ := strings.Cut(variable, "=")
			return slices.Contains([]string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}, name)
		})
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	DescribeTable("run no shell code a value holds, and say why they refuse it",
		func(variable, value string, args []string, message string) {
			marker := filepath.Join(GinkgoT().TempDir(), "injected")
			out, _ := runMake(append(args, variable+"="+strings.ReplaceAll(value, "MARKER", marker))...)
			Expect(marker).NotTo(BeAnExistingFile(), out)
			Expect(out).To(ContainSubstring(message))
		},
		// make deploy, not build-installer, which would write dist/ in the checkout; its
		// kubectl here reads nothing.
		Entry("IMG closing its quotes", "IMG", "x/y:1';touch MARKER;'",
			[]string{"deploy", "KUBECTL=true"}, "is not an image reference with a tag or digest"),
		Entry("IMG calling make's shell function", "IMG", "x/y:1$(shell touch MARKER)",
			[]string{"deploy", "KUBECTL=true"}, "IMG holds a $, which make would expand"),
		// Refused before the manager is built.
		Entry("VERSION closing its quotes", "VERSION", "v1';touch MARKER;'",
			[]string{"image"}, "is not a version such as v1.2.3"),
		Entry("VERSION adding linker flags", "VERSION", "v1 -X main.injected=MARKER",
			[]string{"image"}, "is not a version such as v1.2.3"),
	)
})
