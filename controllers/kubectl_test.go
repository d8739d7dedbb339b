package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	intunev1alpha1 "github.com/vpp-operator/vpp-operator/api/v1alpha1"
)

// What a person sees: the kubectl built with the control plane, run against
// the suite's API server, on tokens the operator synced.
var _ = Describe("kubectl", Ordered, func() {
	var (
		w  *world
		id string
		// kubectl runs the built kubectl and returns what it printed.
		kubectl func(args ...string) string
	)

	BeforeAll(func() {
		path := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
		Expect(path).To(BeAnExistingFile(), "run `make envtest`, which builds kubectl beside the API server")
		user, err := testEnv.AddUser(envtest.User{Name: "kubectl-spec", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		raw, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		kubeconfig := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(kubeconfig, raw, 0o600)).To(Succeed())
		kubectl = func(args ...string) string {
			GinkgoHelper()
			runCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(runCtx, path, append([]string{"--kubeconfig", kubeconfig}, args...)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			Expect(cmd.Run()).To(Succeed(), "kubectl %s: %s", strings.Join(args, " "), stderr.String())
			return stdout.String()
		}

		id = newTokenID()
		w = newWorld(validToken(id))
		w.createToken("contoso", id)
		w.waitForReason("contoso", intunev1alpha1.ReasonSynced)
		w.createToken("missing", newTokenID())
		w.waitForReason("missing", intunev1alpha1.ReasonTokenNotFound)
	})

	It("is the release it was built from, as is the API server", func() {
		// make envtest builds into bin/k8s/<version>.
		release := "v" + filepath.Base(os.Getenv("KUBEBUILDER_ASSETS"))
		var versions struct {
			ClientVersion struct{ GitVersion string } `json:"clientVersion"`
			ServerVersion struct{ GitVersion string } `json:"serverVersion"`
		}
		Expect(json.Unmarshal([]byte(kubectl("version", "-o", "json")), &versions)).To(Succeed())
		Expect(versions.ClientVersion.GitVersion).To(Equal(release))
		Expect(versions.ServerVersion.GitVersion).To(Equal(release))
	})

	It("lists tokens with columns a person can read", func() {
		out := kubectl("get", "vpptokens", "-n", w.ns)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		Expect(lines).To(HaveLen(3), out)
		Expect(regexp.MustCompile(`\s{2,}`).Split(lines[0], -1)).To(Equal([]string{
			"NAME", "ORGANIZATION", "TYPE", "STATE", "READY", "REASON", "LAST SYNC", "EXPIRES", "AGE"}))
		// Ages print as durations; the expiry, in the future, prints as a date:
		// a date column would show <invalid>.
		Expect(lines[1]).To(MatchRegexp(
			`^contoso\s+Contoso Ltd\s+business\s+valid\s+True\s+Synced\s+\d+[smh]\s+2027-06-30T10:00:00Z\s+\d+[smh]$`))
		Expect(lines[2]).To(MatchRegexp(`^missing\s+False\s+TokenNotFound\s+\d+[smh]$`))
		Expect(out).NotTo(ContainSubstring("<invalid>"))

		By("answering to the short name and the intune category")
		Expect(kubectl("get", "vpp", "-n", w.ns, "-o", "name")).To(ContainSubstring("vpptoken.intune.vpp-operator.io/contoso"))
		Expect(kubectl("get", "intune", "-n", w.ns, "-o", "name")).To(ContainSubstring("vpptoken.intune.vpp-operator.io/missing"))
	})

	It("adds the token ID, interval and next sync in wide output", func() {
		out := kubectl("get", "vpptoken", "contoso", "-n", w.ns, "-o", "wide")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		Expect(lines).To(HaveLen(2), out)
		Expect(lines[0]).To(MatchRegexp(`AGE\s+TOKEN ID\s+INTERVAL\s+NEXT SYNC$`))
		next := w.get("contoso").Status.NextSyncTime.UTC().Format(time.RFC3339)
		Expect(lines[1]).To(MatchRegexp(`\s` + regexp.QuoteMeta(id) + `\s+12h\s+` + regexp.QuoteMeta(next) + `$`))
	})

	It("explains every field", func() {
		out := kubectl("explain", "vpptoken.spec")
		for _, field := range []string{"tokenId", "syncInterval", "credentials", "cloud", "suspend"} {
			Expect(out).To(MatchRegexp(`(?m)^  `+field+`\s`), field)
		}
		Expect(out).To(ContainSubstring("the Intune id of the vppToken"))
		Expect(kubectl("explain", "vpptoken.status.expirationDateTime")).To(ContainSubstring("when the token expires"))

		By("finding no field of the CRD without a description")
		raw, err := os.ReadFile(filepath.Join("..", "config", "crd", "bases", "intune.vpp-operator.io_vpptokens.yaml"))
		Expect(err).NotTo(HaveOccurred())
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(yaml.Unmarshal(raw, crd)).To(Succeed())
		Expect(undocumented("", crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"])).To(BeEmpty())
		Expect(undocumented("", crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"])).To(BeEmpty())
	})

	It("waits for a token to be Ready, and describes it with its events", func() {
		Expect(kubectl("wait", "--for=condition=Ready", "vpptoken/contoso", "-n", w.ns, "--timeout=30s")).
			To(ContainSubstring("vpptoken.intune.vpp-operator.io/contoso condition met"))
		Expect(kubectl("wait", "--for=condition=Ready=false", "vpptoken/missing", "-n", w.ns, "--timeout=30s")).
			To(ContainSubstring("condition met"))
		Expect(kubectl("wait", "--for=jsonpath={.status.state}=valid", "vpptoken/contoso", "-n", w.ns,
			"--timeout=30s")).To(ContainSubstring("condition met"))

		Eventually(func() []string { return w.events("missing") }).ShouldNot(BeEmpty())
		out := kubectl("describe", "vpptoken", "missing", "-n", w.ns)
		Expect(out).To(MatchRegexp(`(?m)^Events:\n.*Type\s+Reason\s+Age\s+From\s+Message`))
		Expect(out).To(MatchRegexp(`Warning\s+TokenNotFound\s+.*vpp-operator`))
	})
})

// undocumented lists the fields under schema that have no description.
func undocumented(path string, schema apiextensionsv1.JSONSchemaProps) []string {
	var missing []string
	for name, prop := range schema.Properties {
		field := path + "." + name
		if strings.TrimSpace(prop.Description) == "" {
			missing = append(missing, field)
		}
		missing = append(missing, undocumented(field, prop)...)
	}
	if schema.Items != nil && schema.Items.Schema != nil {
		missing = append(missing, undocumented(path+"[]", *schema.Items.Schema)...)
	}
	return missing
}
