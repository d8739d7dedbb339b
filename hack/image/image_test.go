package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

func TestImage(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager image")
}

const (
	// testVersion is stamped into the test's manager binary and the image's labels.
	testVersion = "v0.0.0-image-test"
	testTag     = "example.com/vpp-operator:image-test"

	// buildTimeout bounds the build of the manager, which is slow only with a cold cache.
	buildTimeout = 10 * time.Minute
	// runTimeout bounds one run of the image's binary with a flag that makes it exit.
	runTimeout = time.Minute

	// moduleRoot is the manager's module, relative to this package.
	moduleRoot = "../.."
)

// The inputs of every spec: a static manager built as `make image` builds it, and a CA bundle
// of one freshly made certificate.
var (
	managerBinary string
	caBundleFile  string
)

var _ = BeforeSuite(func() {
	dir := GinkgoT().TempDir()
	managerBinary = filepath.Join(dir, "manager")
	caBundleFile = filepath.Join(dir, "ca.pem")

	buildCtx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	// As `make image` builds it, but for -trimpath, so that the build shares Go's cache with
	// the other tests' (make test builds everything with CGO_ENABLED=0).
	build := exec.CommandContext(buildCtx, "go", "build",
		"-ldflags", "-s -w -X main.version="+testVersion, "-o", managerBinary, ".")
	build.Dir = moduleRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "build the manager: %s", out)

	Expect(os.WriteFile(caBundleFile, newCABundle(), 0o644)).To(Succeed())
})

var _ = Describe("make image", func() {
	Describe("the image tarball", Ordered, func() {
		var (
			img      v1.Image
			config   *v1.ConfigFile
			manifest tarball.Manifest
			files    map[string]layerEntry
		)

		BeforeAll(func() {
			output := filepath.Join(GinkgoT().TempDir(), "image.tar")
			Expect(run(testOptions(), testTag, output)).To(Succeed())

			tag, err := name.NewTag(testTag)
			Expect(err).NotTo(HaveOccurred())
			img, err = tarball.ImageFromPath(output, &tag)
			Expect(err).NotTo(HaveOccurred())
			config, err = img.ConfigFile()
			Expect(err).NotTo(HaveOccurred())
			manifest, err = tarball.LoadManifest(func() (io.ReadCloser, error) {
				return os.Open(output)
			})
			Expect(err).NotTo(HaveOccurred())
			files = readLayers(img)
		})

		It("is tagged as asked, one image in the docker save format", func() {
			Expect(manifest).To(HaveLen(1))
			Expect(manifest[0].RepoTags).To(ConsistOf(testTag))
		})

		It("runs /manager as 65532:65532 from /, for Linux on the build's architecture", func() {
			Expect(config.OS).To(Equal("linux"))
			Expect(config.Architecture).To(Equal(runtime.GOARCH))
			Expect(config.Config.User).To(Equal("65532:65532"))
			Expect(config.Config.Entrypoint).To(Equal([]string{"/manager"}))
			Expect(config.Config.Cmd).To(BeEmpty())
			Expect(config.Config.WorkingDir).To(Equal("/"))
			Expect(config.Created.Unix()).To(BeZero(), "a fixed time keeps builds reproducible")
		})

		It("is labelled with its title, licence and version", func() {
			Expect(config.Config.Labels).To(SatisfyAll(
				HaveKeyWithValue("org.opencontainers.image.title", "vpp-operator"),
				HaveKeyWithValue("org.opencontainers.image.licenses", "Apache-2.0"),
				HaveKeyWithValue("org.opencontainers.image.version", testVersion),
				HaveKeyWithValue("org.opencontainers.image.revision", "0123abc"),
			))
		})

		It("holds one layer of exactly the expected files, all owned by root", func() {
			layers, err := img.Layers()
			Expect(err).NotTo(HaveOccurred())
			Expect(layers).To(HaveLen(1))
			Expect(config.RootFS.DiffIDs).To(HaveLen(1))

			binary, ca := readFile(managerBinary), readFile(caBundleFile)
			Expect(files).To(Equal(map[string]layerEntry{
				"etc/":                              {tar.TypeDir, 0o755, 0, 0, 0},
				"etc/group":                         {tar.TypeReg, 0o644, 0, 0, int64(len(group))},
				"etc/passwd":                        {tar.TypeReg, 0o644, 0, 0, int64(len(passwd))},
				"etc/ssl/":                          {tar.TypeDir, 0o755, 0, 0, 0},
				"etc/ssl/certs/":                    {tar.TypeDir, 0o755, 0, 0, 0},
				"etc/ssl/certs/ca-certificates.crt": {tar.TypeReg, 0o644, 0, 0, int64(len(ca))},
				"manager":                           {tar.TypeReg, 0o755, 0, 0, int64(len(binary))},
				"tmp/":                              {tar.TypeDir, 0o1777, 0, 0, 0},
			}))
		})

		It("holds the manager binary and the CA bundle unchanged", func() {
			Expect(fileContents(img, "manager")).To(Equal(readFile(managerBinary)))
			Expect(fileContents(img, "etc/ssl/certs/ca-certificates.crt")).To(
				Equal(readFile(caBundleFile)))
		})

		It("trusts Mozilla's roots by default, not the build machine's", func() {
			opts := testOptions()
			opts.caBundle = ""
			img, err := build(opts)
			Expect(err).NotTo(HaveOccurred())
			want := map[string]bool{}
			for root := range bundle.Roots() {
				if root.Constraint == nil {
					want[string(root.Certificate)] = true
				}
			}
			Expect(len(want)).To(BeNumerically(">", 100), "the NSS store holds well over a hundred roots")

			got := map[string]bool{}
			for rest := fileContents(img, "etc/ssl/certs/ca-certificates.crt"); len(rest) > 0; {
				var block *pem.Block
				if block, rest = pem.Decode(rest); block == nil {
					break
				}
				Expect(block.Type).To(Equal("CERTIFICATE"))
				got[string(block.Bytes)] = true
			}
			Expect(got).To(Equal(want), "exactly the unconstrained NSS roots")
		})

		It("names the user and group 65532 nonroot", func() {
			Expect(string(fileContents(img, "etc/passwd"))).To(ContainSubstring(
				"\nnonroot:x:65532:65532:"))
			Expect(string(fileContents(img, "etc/group"))).To(ContainSubstring(
				"\nnonroot:x:65532:"))
		})

		It("holds a statically linked manager for the image's architecture", func() {
			file, err := elf.NewFile(bytes.NewReader(fileContents(img, "manager")))
			Expect(err).NotTo(HaveOccurred())
			defer file.Close()
			Expect(file.Machine).To(Equal(elfMachines[config.Architecture]))
			for _, prog := range file.Progs {
				Expect(prog.Type).NotTo(Equal(elf.PT_INTERP), "the binary needs a loader")
			}
		})

		It("holds a manager that runs: --help prints its flags and exits 0", func() {
			code, output := runImageBinary(fileContents(img, "manager"), "--help")
			Expect(code).To(Equal(0), output)
			Expect(output).To(ContainSubstring("-metrics-bind-address"))
		})

		It("holds a manager that refuses an unknown flag with exit status 2", func() {
			code, output := runImageBinary(fileContents(img, "manager"), "--no-such-flag")
			Expect(code).To(Equal(2), output)
			Expect(output).To(ContainSubstring("no-such-flag"))
		})
	})

	It("gives the same digest for the same inputs", func() {
		first, err := build(testOptions())
		Expect(err).NotTo(HaveOccurred())
		second, err := build(testOptions())
		Expect(err).NotTo(HaveOccurred())

		firstDigest, err := first.Digest()
		Expect(err).NotTo(HaveOccurred())
		Expect(second.Digest()).To(Equal(firstDigest))

		other := testOptions()
		other.version = "v0.0.1"
		changed, err := build(other)
		Expect(err).NotTo(HaveOccurred())
		Expect(changed.Digest()).NotTo(Equal(firstDigest))
	})

	DescribeTable("refuses inputs the image could not run",
		func(change func(*options), message string) {
			opts := testOptions()
			change(&opts)
			_, err := build(opts)
			Expect(err).To(MatchError(ContainSubstring(message)))
		},
		Entry("a script instead of the binary", func(opts *options) {
			opts.binary = writeTemp("manager.sh", []byte("#!/bin/sh\nexit 0\n"))
		}, "not an ELF binary"),
		Entry("a dynamically linked binary", func(opts *options) {
			opts.binary = writeTemp("manager-dynamic", withInterpreter(readFile(managerBinary)))
		}, "dynamically linked"),
		Entry("a binary for another architecture", func(opts *options) {
			opts.arch = otherArch()
		}, "built for"),
		Entry("an architecture without an ELF machine", func(opts *options) {
			opts.arch = "wasm"
		}, `architecture "wasm"`),
		Entry("a CA bundle without certificates", func(opts *options) {
			opts.caBundle = writeTemp("ca.pem", []byte("# no certificates\n"))
		}, "no PEM certificates"),
		Entry("a CA bundle with a broken certificate", func(opts *options) {
			broken := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")})
			opts.caBundle = writeTemp("ca.pem", broken)
		}, "certificate 1"),
		Entry("a CA bundle with a private key in it", func(opts *options) {
			key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("planted-key")})
			opts.caBundle = writeTemp("ca.pem", append(readFile(caBundleFile), key...))
		}, `PEM block 2 is a "PRIVATE KEY", not a certificate`),
		Entry("a missing CA bundle", func(opts *options) {
			opts.caBundle = filepath.Join(GinkgoT().TempDir(), "missing.pem")
		}, "read the CA bundle"),
	)

	It("has a Dockerfile that copies every file the manager is built from", func() {
		sources := dockerfileSources()
		Expect(sources).NotTo(BeEmpty())
		for _, file := range managerSourceFiles() {
			covered := slices.ContainsFunc(sources, func(source string) bool {
				return file == source || strings.HasPrefix(file, source)
			})
			Expect(covered).To(BeTrue(), "the Dockerfile's build stage does not copy %s", file)
		}
	})

	DescribeTable("refuses IMG without a tag of its own, writing nothing",
		func(tag, message string) {
			output := filepath.Join(GinkgoT().TempDir(), "image.tar")
			err := run(testOptions(), tag, output)
			Expect(err).To(MatchError(ContainSubstring(message)))
			Expect(err).To(MatchError(ContainSubstring("such as registry.example/vpp-operator:1.0.0")),
				"the message says what to pass")
			Expect(output).NotTo(BeAnExistingFile())
		},
		Entry("no reference at all", "Not A Tag",
			"IMG='Not A Tag' (--tag) is not an image reference with a tag"),
		Entry("no tag, which would be tagged latest", "vpp-operator",
			"IMG='vpp-operator' (--tag) is not an image reference with a tag"),
		Entry("a registry's port but no tag", "localhost:5000/vpp-operator",
			"IMG='localhost:5000/vpp-operator' (--tag) is not an image reference with a tag"),
		Entry("an empty tag", "registry.example/vpp-operator:",
			"is not an image reference with a tag"),
		Entry("a digest, which the image gets only once it is built",
			"registry.example/vpp-operator@sha256:"+strings.Repeat("ab", 32), "names a digest"),
		Entry("a tag and a digest",
			"registry.example/vpp-operator:1.0.0@sha256:"+strings.Repeat("ab", 32), "names a digest"),
	)

	It("takes a tag after a registry's port", func() {
		output := filepath.Join(GinkgoT().TempDir(), "image.tar")
		Expect(run(testOptions(), "localhost:5000/team/vpp-operator:v1.2.3-rc.1", output)).To(Succeed())
		manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) {
			return os.Open(output)
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(manifest).To(ConsistOf(HaveField("RepoTags",
			ConsistOf("localhost:5000/team/vpp-operator:v1.2.3-rc.1"))))
	})
})

// managerSourceFiles lists the files of this module the manager is built from (Go and embedded
// files), relative to the module root.
func managerSourceFiles() []string {
	listCtx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	list := exec.CommandContext(listCtx, "go", "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}
{{end}}{{end}}`, ".")
	list.Dir = moduleRoot
	var stderr bytes.Buffer
	list.Stderr = &stderr
	out, err := list.Output()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "go list: %s", stderr.String())

	root, err := filepath.Abs(moduleRoot)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var files []string
	for _, path := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, path)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		files = append(files, filepath.ToSlash(rel))
	}
	ExpectWithOffset(1, files).To(ContainElement("main.go"))
	return files
}

// dockerfileSources returns the sources of the COPY instructions that copy from the build
// context: file names, and directories with a trailing slash.
func dockerfileSources() []string {
	dockerfile := readFile(filepath.Join(moduleRoot, "Dockerfile"))
	var sources []string
	for line := range strings.Lines(string(dockerfile)) {
		fields := strings.Fields(line)
		if len(fields) < 3 || !strings.EqualFold(fields[0], "COPY") ||
			strings.HasPrefix(fields[1], "--from") {
			continue
		}
		for _, source := range fields[1 : len(fields)-1] {
			sources = append(sources, strings.TrimPrefix(source, "./"))
		}
	}
	return sources
}

func testOptions() options {
	return options{
		binary:   managerBinary,
		caBundle: caBundleFile,
		arch:     runtime.GOARCH,
		version:  testVersion,
		revision: "0123abc",
	}
}

// layerEntry is what the specs check of one file in a layer.
type layerEntry struct {
	typeflag byte
	mode     int64
	uid, gid int
	size     int64
}

// readLayers lists every entry of the image's layers, by path.
func readLayers(img v1.Image) map[string]layerEntry {
	layers, err := img.Layers()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())

	entries := map[string]layerEntry{}
	for _, layer := range layers {
		forEachEntry(layer, func(header *tar.Header, _ io.Reader) {
			entries[header.Name] = layerEntry{
				typeflag: header.Typeflag,
				mode:     header.Mode,
				uid:      header.Uid,
				gid:      header.Gid,
				size:     header.Size,
			}
		})
	}
	return entries
}

// fileContents returns the contents of the file at path in the image's layers.
func fileContents(img v1.Image, path string) []byte {
	layers, err := img.Layers()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())

	var contents []byte
	for _, layer := range layers {
		forEachEntry(layer, func(header *tar.Header, r io.Reader) {
			if header.Name == path {
				contents, err = io.ReadAll(r)
				ExpectWithOffset(3, err).NotTo(HaveOccurred())
			}
		})
	}
	ExpectWithOffset(1, contents).NotTo(BeNil(), "no file %s in the image", path)
	return contents
}

func forEachEntry(layer v1.Layer, visit func(*tar.Header, io.Reader)) {
	r, err := layer.Uncompressed()
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	defer r.Close()

	tr := tar.NewReader(r)
	for {
		header, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		ExpectWithOffset(2, err).NotTo(HaveOccurred())
		visit(header, tr)
	}
}

// runImageBinary runs binary, taken from the image, with args and returns its exit status and
// combined output.
func runImageBinary(binary []byte, args ...string) (int, string) {
	path := filepath.Join(GinkgoT().TempDir(), "manager")
	ExpectWithOffset(1, os.WriteFile(path, binary, 0o755)).To(Succeed())

	runCtx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, path, args...)
	// An empty environment: no KUBECONFIG, no proxy, nothing of the caller's.
	cmd.Env = []string{}
	output, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(output)
	}
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return 0, string(output)
}

func readFile(path string) []byte {
	contents, err := os.ReadFile(path)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return contents
}

func writeTemp(name string, contents []byte) string {
	path := filepath.Join(GinkgoT().TempDir(), name)
	ExpectWithOffset(1, os.WriteFile(path, contents, 0o755)).To(Succeed())
	return path
}

// withInterpreter returns a copy of an ELF64 binary whose first program header claims to be a
// PT_INTERP, as a dynamically linked binary's does.
func withInterpreter(binary []byte) []byte {
	file, err := elf.NewFile(bytes.NewReader(binary))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, file.Class).To(Equal(elf.ELFCLASS64))
	order := file.ByteOrder
	ExpectWithOffset(1, file.Close()).To(Succeed())

	patched := bytes.Clone(binary)
	// e_phoff is at 0x20 in an ELF64 header; p_type opens each program header.
	programHeaders := order.Uint64(patched[0x20:])
	order.PutUint32(patched[programHeaders:], uint32(elf.PT_INTERP))
	return patched
}

// otherArch returns a supported architecture other than this machine's.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// newCABundle returns a PEM bundle of one self-signed CA certificate.
func newCABundle() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "image test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
