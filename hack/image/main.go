// Command image assembles the manager's container image without a container engine: one layer
// on an empty base holding the static manager binary, a CA bundle and the nonroot user, written
// as a `docker save` style tarball that `docker load` reads. `make image` runs it.
//
// The image matches the Dockerfile's: it runs /manager as 65532:65532. The build is
// reproducible: the same binary and CA bundle give the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

const (
	// binaryPath is the manager's place in the image, and its entrypoint.
	binaryPath = "/manager"

	// caBundlePath is where Go's crypto/x509 looks first for the system roots on Linux, so
	// the manager needs no SSL_CERT_FILE.
	caBundlePath = "/etc/ssl/certs/ca-certificates.crt"

	// The distroless nonroot user's UID and GID, which config/manager/manager.yaml runs as.
	nonrootID = 65532
)

// The accounts the image knows, so that tools inside and outside the container can name the
// user. The nonroot user has no home and no shell.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n"
	group = "root:x:0:\n" +
		"nonroot:x:65532:\n"
)

// epoch is the image's creation time and the modification time of every file in its layer, so
// that the digest depends on the contents alone.
var epoch = time.Unix(0, 0).UTC()

// options are the inputs of one image build.
type options struct {
	binary   string // the static Linux manager binary
	caBundle string // PEM certificates for /etc/ssl/certs/ca-certificates.crt
	arch     string // GOARCH of the binary and the image
	version  string // the manager's version, for the labels
	revision string // the source revision, for the labels; may be empty
}

// elfMachines maps the GOARCH values the image supports to their ELF machine.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

func main() {
	var (
		opts   options
		tag    string
		output string
	)
	flag.StringVar(&opts.binary, "binary", "", "Static Linux manager binary to put at /manager.")
	flag.StringVar(&opts.caBundle, "ca-bundle", "",
		"PEM file of CA certificates to put at "+caBundlePath+"; empty means Mozilla's roots "+
			"from the pinned golang.org/x/crypto/x509roots/fallback module, not this machine's.")
	flag.StringVar(&opts.arch, "arch", runtime.GOARCH, "GOARCH of the binary and the image.")
	flag.StringVar(&opts.version, "version", "dev", "Version for the image's labels.")
	flag.StringVar(&opts.revision, "revision", "", "Source revision for the image's labels.")
	flag.StringVar(&tag, "tag", "vpp-operator:dev",
		"Reference the tarball tags the image with, such as "+exampleTag+"; the tag is required.")
	flag.StringVar(&output, "output", "", "Path of the image tarball to write.")
	flag.Parse()

	if err := run(opts, tag, output); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(opts options, tag, output string) error {
	if opts.binary == "" || output == "" {
		return errors.New("--binary and --output are required")
	}
	ref, err := imageTag(tag)
	if err != nil {
		return err
	}

	img, err := build(opts)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("image digest: %w", err)
	}
	if err := writeTarball(output, ref, img); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("image ID: %w", err)
	}
	fmt.Printf("wrote %s: %s, manifest %s, image ID %s (what docker images shows after docker load)\n",
		output, ref, digest, id)
	return nil
}

// exampleTag is the kind of reference --tag takes, for messages.
const exampleTag = "registry.example/vpp-operator:1.0.0"

// imageTag parses --tag, which `make image` sets from IMG. It must name a tag: without one the
// tarball would quietly tag the image latest, where build-installer refuses an IMG that names
// neither a tag nor a digest.
func imageTag(reference string) (name.Tag, error) {
	// A digest names an image already built; this one's is known only once it is.
	if strings.Contains(reference, "@") {
		return name.Tag{}, fmt.Errorf("IMG='%s' (--tag) names a digest, which the image is given only "+
			"once it is built: give a tag, such as %s", reference, exampleTag)
	}
	// The tag follows the last path component; a colon before it is a registry's port.
	lastComponent := reference[strings.LastIndex(reference, "/")+1:]
	if !strings.Contains(lastComponent, ":") {
		return name.Tag{}, fmt.Errorf("IMG='%s' (--tag) is not an image reference with a tag, such "+
			"as %s: without one the image would be tagged latest", reference, exampleTag)
	}
	ref, err := name.NewTag(reference)
	if err != nil {
		return name.Tag{}, fmt.Errorf("IMG='%s' (--tag) is not an image reference with a tag, such "+
			"as %s: %w", reference, exampleTag, err)
	}
	return ref, nil
}

// build assembles the image: an empty base, one layer, and a config that runs /manager as the
// nonroot user.
func build(opts options) (v1.Image, error) {
	binary, err := os.ReadFile(opts.binary)
	if err != nil {
		return nil, fmt.Errorf("read the manager binary: %w", err)
	}
	if err := checkStaticBinary(binary, opts.arch); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.binary, err)
	}
	caBundle := mozillaRoots()
	if opts.caBundle != "" {
		if caBundle, err = os.ReadFile(opts.caBundle); err != nil {
			return nil, fmt.Errorf("read the CA bundle: %w", err)
		}
	}
	if err := checkCABundle(caBundle); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.caBundle, err)
	}

	layerTar, err := layerContents(binary, caBundle)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("make the layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("add the layer: %w", err)
	}

	config, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read the image config: %w", err)
	}
	config = config.DeepCopy()
	config.Created = v1.Time{Time: epoch}
	config.History = []v1.History{{Created: v1.Time{Time: epoch}, CreatedBy: "make image"}}
	config.OS = "linux"
	config.Architecture = opts.arch
	config.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonrootID, nonrootID),
		Entrypoint: []string{binaryPath},
		WorkingDir: "/",
		Labels:     labels(opts),
	}
	img, err = mutate.ConfigFile(img, config)
	if err != nil {
		return nil, fmt.Errorf("set the image config: %w", err)
	}
	return img, nil
}

// description is the image's one-line summary, the README's first sentence.
const description = "Keeps Apple VPP licences in sync for tokens held by Microsoft Intune"

// labels are the image's OCI annotations of its contents.
func labels(opts options) map[string]string {
	labels := map[string]string{
		"org.opencontainers.image.title":       "vpp-operator",
		"org.opencontainers.image.description": description,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     opts.version,
	}
	if opts.revision != "" {
		labels["org.opencontainers.image.revision"] = opts.revision
	}
	return labels
}

// layerFile is one entry of the layer.
type layerFile struct {
	path     string
	mode     int64
	contents []byte // nil for a directory
}

// layerContents returns the layer as an uncompressed tar: parents before children, every
// entry owned by root, so that only the kernel's permission bits let the nonroot user read
// and run them.
func layerContents(binary, caBundle []byte) ([]byte, error) {
	files := []layerFile{
		{path: "etc/", mode: 0o755},
		{path: "etc/group", mode: 0o644, contents: []byte(group)},
		{path: "etc/passwd", mode: 0o644, contents: []byte(passwd)},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: caBundlePath[1:], mode: 0o644, contents: caBundle},
		{path: binaryPath[1:], mode: 0o755, contents: binary},
		// Scratch space for libraries that expect one, as on distroless. The manager writes
		// no files, and in a cluster the root file system is read-only.
		{path: "tmp/", mode: 0o1777},
	}

	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, file := range files {
		header := &tar.Header{
			Name:    file.path,
			Mode:    file.mode,
			Uname:   "root",
			Gname:   "root",
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if file.contents == nil {
			header.Typeflag = tar.TypeDir
		} else {
			header.Typeflag = tar.TypeReg
			header.Size = int64(len(file.contents))
		}
		if err := w.WriteHeader(header); err != nil {
			return nil, fmt.Errorf("write %s to the layer: %w", file.path, err)
		}
		if _, err := w.Write(file.contents); err != nil {
			return nil, fmt.Errorf("write %s to the layer: %w", file.path, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("close the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// checkStaticBinary refuses what cannot run on an empty base: anything but an ELF executable
// for arch, and a binary that needs a dynamic loader (build it with CGO_ENABLED=0).
func checkStaticBinary(binary []byte, arch string) error {
	machine, known := elfMachines[arch]
	if !known {
		return fmt.Errorf("architecture %q is not one of the supported GOARCH values", arch)
	}
	file, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer file.Close()

	if file.Type != elf.ET_EXEC && file.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %s is not an executable", file.Type)
	}
	if file.Machine != machine {
		return fmt.Errorf("built for %s, not %s (%s)", file.Machine, arch, machine)
	}
	for _, prog := range file.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New("dynamically linked: it names a program interpreter, which " +
				"the image does not have; build it with CGO_ENABLED=0")
		}
	}
	return nil
}

// checkCABundle refuses a bundle without a single certificate: the manager could then reach
// neither Graph nor the identity platform.
func checkCABundle(bundle []byte) error {
	count := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		// A bundle is public; a key or anything else in it would ship, world-readable,
		// in every copy of the image.
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %d is a %s, not a certificate: a CA bundle holds certificates only",
				count+1, pemType(block.Type))
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", count+1, err)
		}
		count++
	}
	if count == 0 {
		return errors.New("no PEM certificates")
	}
	return nil
}

// mozillaRoots is the NSS trust store's roots as a PEM bundle, from a pinned module: the
// image then trusts what browsers do, not whatever private or interception CAs the build
// machine added to its own bundle. Roots that NSS trusts only with a distrust-after date are
// left out, as a PEM bundle cannot carry the constraint.
func mozillaRoots() []byte {
	var out bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
	}
	return out.Bytes()
}

// pemType names a PEM block's type for a message, as Go would quote it, and
// only a short one: the label comes from the file.
func pemType(label string) string {
	if len(label) > 40 {
		label = label[:40] + "..."
	}
	return strconv.Quote(label)
}

// writeTarball writes img, tagged ref, where `docker load -i` reads it. The file appears
// complete or not at all.
func writeTarball(output string, ref name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
		return fmt.Errorf("create the output directory: %w", err)
	}
	partial := output + ".partial"
	if err := tarball.WriteToFile(partial, ref, img); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("write the image tarball: %w", err)
	}
	if err := os.Rename(partial, output); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("write the image tarball: %w", err)
	}
	return nil
}
