package config_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"helm.sh/helm/v4/pkg/action"
	helmchart "helm.sh/helm/v4/pkg/chart"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/kube"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

const (
	// chartPath is the chart, relative to this package.
	chartPath = "helm/vpp-operator"

	// chartRelease is the release name of the specs' installs: the chart's own name, which
	// gives the objects the kustomize install's names.
	chartRelease = "vpp-operator"

	// chartNamespace is the release namespace, created as the README says: labelled with the
	// restricted pod security level.
	chartNamespace = "vpp-operator-chart"

	// The namespaces the non-default values name.
	chartTeamA = "vpp-chart-team-a"
	chartTeamB = "vpp-chart-team-b"

	// keepPolicy is the annotation that makes Helm leave an object behind on uninstall.
	keepPolicy = "helm.sh/resource-policy"
)

// chartCase is one set of values the chart is installed with, and what that install must
// hold beyond what every install holds.
type chartCase struct {
	name    string
	release string // defaults to chartRelease
	values  string // YAML
	args    []string
	check   func(chartInstall)
}

var chartCases = []chartCase{
	{
		name: "the default values",
		args: []string{"--health-probe-bind-address=:8081", "--leader-elect",
			"--metrics-bind-address=:8443", "--metrics-secure=true"},
		check: func(install chartInstall) {
			Expect(install.deployment().Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
			Expect(install.bindingsTo("ClusterRole", chartRelease+"-manager-role")).To(
				ConsistOf("ClusterRoleBinding "+chartRelease+"-manager-rolebinding"),
				"without watchNamespaces the manager's role is bound cluster-wide")
			Expect(install.bindingsTo("ClusterRole", chartRelease+"-workload-identity-role")).To(
				BeEmpty(), "nobody may mint ServiceAccount tokens until an admin says where")
			Expect(install.kinds()).To(ContainElements("Service", "NetworkPolicy",
				"CustomResourceDefinition"))
			Expect(install.kinds()).NotTo(ContainElements("ServiceMonitor", "PrometheusRule"))
			Expect(install.notes).To(ContainSubstring("kubectl get vpptokens -A"))
			Expect(install.notes).To(ContainSubstring("kubectl describe vpptoken"))
			Expect(install.notes).To(ContainSubstring(chartRelease +
				"-controller-manager-metrics-service"))
		},
	},
	{
		name:   "two replicas with leader election",
		values: "replicas: 2\nleaderElection: {enabled: true}",
		args:   []string{"--leader-elect"},
		check: func(install chartInstall) {
			Expect(install.deployment().Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
			Expect(install.bindingsTo("Role", chartRelease+"-leader-election-role")).To(
				ConsistOf("RoleBinding " + chartNamespace + "/" + chartRelease +
					"-leader-election-rolebinding"))
		},
	},
	{
		name:   "one replica without leader election",
		values: "leaderElection: {enabled: false}",
		check: func(install chartInstall) {
			Expect(install.args()).NotTo(ContainElement("--leader-elect"))
			Expect(install.kinds()).NotTo(ContainElement("Role"))
		},
	},
	{
		name:   "watched namespaces",
		values: fmt.Sprintf("watchNamespaces: [%s, %s]", chartTeamA, chartTeamB),
		args:   []string{"--namespaces=" + chartTeamA + "," + chartTeamB},
		check: func(install chartInstall) {
			binding := chartRelease + "-manager-rolebinding"
			Expect(install.bindingsTo("ClusterRole", chartRelease+"-manager-role")).To(ConsistOf(
				"RoleBinding "+chartTeamA+"/"+binding, "RoleBinding "+chartTeamB+"/"+binding),
				"the manager needs its permissions only where it watches")
		},
	},
	{
		name:   "workload identity namespaces",
		values: fmt.Sprintf("workloadIdentity: {namespaces: [%s]}", chartTeamA),
		check: func(install chartInstall) {
			Expect(install.bindingsTo("ClusterRole", chartRelease+"-workload-identity-role")).To(
				ConsistOf("RoleBinding " + chartTeamA + "/" + chartRelease + "-workload-identity"))
		},
	},
	{
		name: "the ServiceMonitor and PrometheusRule",
		values: "serviceMonitor: {enabled: true, interval: 30s, labels: {release: prometheus}}\n" +
			"prometheusRule: {enabled: true, labels: {release: prometheus}}",
		check: func(install chartInstall) {
			monitor := install.only("ServiceMonitor")
			Expect(monitor.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
			endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
			Expect(endpoints).To(ConsistOf(HaveKeyWithValue("interval", "30s")))

			rule := install.only("PrometheusRule")
			Expect(rule.GetLabels()).To(HaveKeyWithValue("release", "prometheus"))
			Expect(rule.Object["spec"]).To(Equal(alertSource()["spec"]),
				"the chart's alerts are config/prometheus/prometheus_rule.yaml's")
			Expect(install.notes).NotTo(ContainSubstring("honor_labels"),
				"the ServiceMonitor scrapes as the alerts expect")
		},
	},
	{
		name: "the alerts without the ServiceMonitor, for a Prometheus that scrapes by its own " +
			"configuration",
		values: "prometheusRule: {enabled: true}",
		check: func(install chartInstall) {
			Expect(install.kinds()).To(ContainElement("PrometheusRule"))
			Expect(install.kinds()).NotTo(ContainElement("ServiceMonitor"))
			Expect(install.notes).To(ContainSubstring(`job="vpp-operator", which VppOperatorDown`),
				"the notes name the job label the alerts select")
			Expect(install.notes).To(ContainSubstring("honor_labels: true"))
			Expect(alertExpressions(install.only("PrometheusRule"))).To(ContainElement(
				ContainSubstring(`up{job="vpp-operator"}`)), "the job label the notes name")
		},
	},
	{
		name:   "a ServiceMonitor interval in each of Prometheus's units",
		values: "serviceMonitor: {enabled: true, interval: 1y2w3d4h5m6s7ms}",
		check: func(install chartInstall) {
			endpoints, _, _ := unstructured.NestedSlice(install.only("ServiceMonitor").Object,
				"spec", "endpoints")
			Expect(endpoints).To(ConsistOf(HaveKeyWithValue("interval", "1y2w3d4h5m6s7ms")))
		},
	},
	{
		name:   "a ServiceMonitor interval of 0, which the CRD accepts as a string",
		values: "serviceMonitor: {enabled: true, interval: '0'}",
		check: func(install chartInstall) {
			endpoints, _, _ := unstructured.NestedSlice(install.only("ServiceMonitor").Object,
				"spec", "endpoints")
			Expect(endpoints).To(ConsistOf(HaveKeyWithValue("interval", "0")),
				"a string, as the CRD's type says, not the number 0")
		},
	},
	{
		name:   "metrics disabled",
		values: "metrics: {enabled: false}",
		args:   []string{"--metrics-bind-address=0"},
		check: func(install chartInstall) {
			Expect(install.args()).NotTo(ContainElement(HavePrefix("--metrics-secure")))
			Expect(install.kinds()).NotTo(ContainElement("Service"))
			Expect(install.names()).NotTo(ContainElement(ContainSubstring("metrics")))
			manager := containerNamed(install.deployment().Spec.Template.Spec, "manager")
			Expect(manager.Ports).To(ConsistOf(HaveField("Name", "probes")))
			Expect(install.notes).NotTo(ContainSubstring("metrics"))
		},
	},
	{
		name:   "plain HTTP metrics",
		values: "metrics: {secure: false, port: 8080}\nserviceMonitor: {enabled: true}",
		args:   []string{"--metrics-bind-address=:8080", "--metrics-secure=false"},
		check: func(install chartInstall) {
			service := &corev1.Service{}
			toTyped(install.only("Service"), service)
			Expect(service.Spec.Ports).To(ConsistOf(SatisfyAll(
				HaveField("Name", "http"), HaveField("Port", BeEquivalentTo(8080)))))
			endpoints, _, _ := unstructured.NestedSlice(install.only("ServiceMonitor").Object,
				"spec", "endpoints")
			Expect(endpoints).To(ConsistOf(SatisfyAll(
				HaveKeyWithValue("scheme", "http"), Not(HaveKey("bearerTokenFile")),
				Not(HaveKey("tlsConfig")))))
			Expect(install.names()).NotTo(ContainElements(
				"ClusterRole "+chartRelease+"-metrics-auth-role",
				"ClusterRole "+chartRelease+"-metrics-reader"),
				"nothing checks who scrapes plain HTTP")
		},
	},
	{
		name:   "the NetworkPolicy disabled",
		values: "networkPolicy: {enabled: false}",
		check: func(install chartInstall) {
			Expect(install.kinds()).NotTo(ContainElement("NetworkPolicy"))
		},
	},
	{
		name:    "another release name, image, resources and every manager flag",
		release: "intune",
		values: strings.Join([]string{
			"image: {repository: registry.example/vpp-operator, tag: v9.9.9, pullPolicy: Always}",
			"imagePullSecrets: [{name: registry-credentials}]",
			"resources: {requests: {cpu: 50m, memory: 100Mi}, limits: {cpu: '1', memory: 1Gi}}",
			"manager:",
			"  graphEndpoint: https://graph-proxy.example",
			"  authorityHost: https://login-proxy.example",
			"  maxConcurrentReconciles: 4",
			"  graphRequestTimeout: 45s",
			"  appWriteLimit: 50",
			"  appWriteWindow: 30s",
			"  expiryWarning: 336h",
			"  logLevel: debug",
			"  extraArgs: [--zap-encoder=console]",
			"networkPolicy:",
			"  metricsFrom:",
			"    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}",
			"podLabels: {team: platform}",
			"podAnnotations: {example.com/owner: platform}",
			"nodeSelector: {kubernetes.io/os: linux}",
			"tolerations: [{key: dedicated, operator: Equal, value: operators, effect: NoSchedule}]",
			"affinity:",
			"  nodeAffinity:",
			"    requiredDuringSchedulingIgnoredDuringExecution:",
			"      nodeSelectorTerms:",
			"        - matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]",
		}, "\n"),
		args: []string{
			"--graph-endpoint=https://graph-proxy.example",
			"--authority-host=https://login-proxy.example",
			"--max-concurrent-reconciles=4",
			"--graph-request-timeout=45s",
			"--app-write-limit=50",
			"--app-write-window=30s",
			"--expiry-warning=336h",
			"--zap-log-level=debug",
			"--zap-encoder=console",
		},
		check: func(install chartInstall) {
			Expect(install.names()).To(ContainElements(
				"Deployment intune-vpp-operator-controller-manager",
				"ClusterRole intune-vpp-operator-manager-role"))
			Expect(install.args()[len(install.args())-1]).To(Equal("--zap-encoder=console"),
				"extraArgs come last")

			pod := install.deployment().Spec.Template
			manager := containerNamed(pod.Spec, "manager")
			Expect(manager.Image).To(Equal("registry.example/vpp-operator:v9.9.9"))
			Expect(manager.ImagePullPolicy).To(Equal(corev1.PullAlways))
			Expect(pod.Spec.ImagePullSecrets).To(ConsistOf(
				corev1.LocalObjectReference{Name: "registry-credentials"}))
			Expect(manager.Resources.Limits.Memory().String()).To(Equal("1Gi"))
			Expect(manager.Resources.Requests.Cpu().String()).To(Equal("50m"))
			Expect(pod.Labels).To(HaveKeyWithValue("team", "platform"))
			Expect(pod.Annotations).To(HaveKeyWithValue("example.com/owner", "platform"))
			Expect(pod.Spec.NodeSelector).To(HaveKeyWithValue("kubernetes.io/os", "linux"))
			Expect(pod.Spec.Tolerations).To(ConsistOf(HaveField("Key", "dedicated")))
			Expect(pod.Spec.Affinity).To(HaveField("NodeAffinity", Not(BeNil())))

			policy := &networkingv1.NetworkPolicy{}
			toTyped(install.only("NetworkPolicy"), policy)
			Expect(policy.Spec.Ingress).To(ContainElement(SatisfyAll(
				HaveField("Ports", ConsistOf(HaveField("Port.IntVal", BeEquivalentTo(8443)))),
				HaveField("From", ConsistOf(HaveField("NamespaceSelector.MatchLabels",
					HaveKeyWithValue("kubernetes.io/metadata.name", "monitoring")))))))
		},
	},
	{
		name: "an egress proxy on ports of its own",
		values: "manager: {graphEndpoint: 'https://egress-proxy.corp.example:8443/graph', " +
			"authorityHost: 'https://[fd00::10]:9443'}",
		args: []string{"--graph-endpoint=https://egress-proxy.corp.example:8443/graph",
			"--authority-host=https://[fd00::10]:9443"},
		check: func(install chartInstall) {
			policy := &networkingv1.NetworkPolicy{}
			toTyped(install.only("NetworkPolicy"), policy)
			var open []string
			for _, rule := range policy.Spec.Egress {
				Expect(rule.To).To(BeEmpty())
				open = append(open, portKeys(rule.Ports)...)
			}
			Expect(open).To(ContainElements("TCP/8443", "TCP/9443"),
				"the ports of manager.graphEndpoint and manager.authorityHost are open")
		},
	},
	{
		name: "an egress proxy on ports written with leading zeros, and the highest port",
		values: "manager: {graphEndpoint: 'https://egress-proxy.corp.example:0443/graph', " +
			"authorityHost: 'https://login-proxy.corp.example:65535'}",
		args: []string{"--graph-endpoint=https://egress-proxy.corp.example:0443/graph",
			"--authority-host=https://login-proxy.corp.example:65535"},
		check: func(install chartInstall) {
			policy := &networkingv1.NetworkPolicy{}
			toTyped(install.only("NetworkPolicy"), policy)
			var open []string
			for _, rule := range policy.Spec.Egress {
				open = append(open, portKeys(rule.Ports)...)
			}
			Expect(open).To(ContainElements("TCP/443", "TCP/65535"),
				"0443 is port 443 to the manager, which reads it in decimal")
			Expect(open).NotTo(ContainElement("TCP/291"), "0443 read as octal")
		},
	},
	{
		name: "the shortest durations the manager accepts, and an expiry warning of zero",
		values: "manager: {graphRequestTimeout: 1ns, appWriteWindow: 0.001us, " +
			"expiryWarning: 0s}",
		args: []string{"--graph-request-timeout=1ns", "--app-write-window=0.001us",
			"--expiry-warning=0s"},
	},
	{
		name: "an image tag of 128 characters, of every character a tag may hold",
		values: "image: {repository: 'localhost:5000/team_a/vpp__operator.x--y', tag: '_" +
			strings.Repeat("aZ9_.-", 21) + "b'}",
		check: func(install chartInstall) {
			manager := containerNamed(install.deployment().Spec.Template.Spec, "manager")
			Expect(manager.Image).To(Equal("localhost:5000/team_a/vpp__operator.x--y:_" +
				strings.Repeat("aZ9_.-", 21) + "b"))
		},
	},
	{
		name: "an API server on a port of its own",
		values: "networkPolicy: {extraEgress: [{to: [{ipBlock: {cidr: 192.168.49.2/32}}], " +
			"ports: [{protocol: TCP, port: 8443}]}]}",
		check: func(install chartInstall) {
			policy := &networkingv1.NetworkPolicy{}
			toTyped(install.only("NetworkPolicy"), policy)
			var original networkingv1.NetworkPolicy
			toTyped(kustomizeObject("NetworkPolicy", policy.Name), &original)
			Expect(policy.Spec.Egress).To(Equal(append(original.Spec.Egress,
				networkingv1.NetworkPolicyEgressRule{
					To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{
						CIDR: "192.168.49.2/32"}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP),
						Port: ptr.To(intstr.FromInt32(8443))}},
				})), "networkPolicy.extraEgress comes after the chart's rules, as written")
		},
	},
	{
		name: "an image by digest",
		values: "image: {repository: 'registry.example:5000/team/vpp-operator', tag: v9, " +
			"digest: 'sha256:" + strings.Repeat("0f", 32) + "'}",
		check: func(install chartInstall) {
			manager := containerNamed(install.deployment().Spec.Template.Spec, "manager")
			Expect(manager.Image).To(Equal("registry.example:5000/team/vpp-operator@sha256:"+
				strings.Repeat("0f", 32)), "the digest, not the tag")
		},
	},
	{
		name: "manager arguments YAML would read as something else, and the largest V-level",
		values: "manager:\n  logLevel: 127\n  extraArgs: ['--x=y #c', 'key: value', '&a', '*a', " +
			"'- x', '--zap-encoder=console']",
		check: func(install chartInstall) {
			Expect(install.args()).To(ContainElement("--zap-log-level=127"))
			Expect(install.args()[len(install.args())-6:]).To(Equal([]string{
				"--x=y #c", "key: value", "&a", "*a", "- x", "--zap-encoder=console"}),
				"extraArgs reach the manager as written")
		},
	},
}

var _ = Describe("The Helm chart", func() {
	var kubeVersion *common.KubeVersion

	BeforeEach(func() {
		if kubeVersion != nil {
			return
		}
		discoveryClient, err := discovery.NewDiscoveryClientForConfig(restConfig)
		Expect(err).NotTo(HaveOccurred())
		info, err := discoveryClient.ServerVersion()
		Expect(err).NotTo(HaveOccurred())
		kubeVersion, err = common.ParseKubeVersion(info.GitVersion)
		Expect(err).NotTo(HaveOccurred())
	})

	Describe("installed with", Ordered, ContinueOnFailure, func() {
		var (
			c        client.Client
			warnings *warningRecorder
		)

		BeforeAll(func() {
			c, warnings = newRecordingClient()
			createChartNamespaces(c)
			warnings.take()
		})

		for _, tc := range chartCases {
			It(tc.name+": renders, lints clean and is accepted by the API server without "+
				"warnings", func() {
				values := chartValues(tc.values)
				install, err := installChart(tc.release, values, kubeVersion)
				Expect(err).NotTo(HaveOccurred())

				result := lintChart(values, kubeVersion)
				Expect(result.Errors).To(BeEmpty())
				for _, message := range result.Messages {
					// Info is as far as lint goes for a chart without an icon.
					Expect(message.Severity).To(BeNumerically("<=", support.InfoSev),
						message.Error())
				}

				// Forced: the CRD's labels may belong to the release the lifecycle specs
				// below installed for real, and which manager owns a field is not what
				// these dry runs check.
				expectDryRunApplies(c, warnings, install.objects, client.ForceOwnership)

				Expect(install.args()).To(ContainElements(tc.args))
				install.checkReferences()
				install.checkHardening()
				if tc.check != nil {
					tc.check(install)
				}
			})
		}
	})

	Describe("values", func() {
		DescribeTable("refuses values the chart does not know or cannot honour",
			func(values string, wantMessage ...string) {
				_, err := installChart("", chartValues(values), kubeVersion)
				Expect(err).To(HaveOccurred())
				for _, want := range wantMessage {
					Expect(err.Error()).To(ContainSubstring(want))
				}
			},
			Entry("a misspelt top-level key", "replica: 2",
				"additional properties 'replica' not allowed"),
			Entry("a misspelt nested key", "metrics: {enabeld: true}",
				"at '/metrics': additional properties 'enabeld' not allowed"),
			Entry("a flag with the wrong type", "manager: {graphRequestTimeout: 30}",
				"/manager/graphRequestTimeout"),
			Entry("an unknown log level", "manager: {logLevel: verbose}",
				"/manager/logLevel"),
			Entry("a Graph endpoint that is not HTTPS",
				"manager: {graphEndpoint: 'http://graph.example'}", "/manager/graphEndpoint"),
			Entry("a namespace name that is not one", "watchNamespaces: [Team_A]",
				"/watchNamespaces/0"),
			Entry("a pod label the selector owns",
				"podLabels: {app.kubernetes.io/component: other}",
				"podLabels sets app.kubernetes.io/component, which the chart sets itself"),
			Entry("several replicas without leader election",
				"replicas: 2\nleaderElection: {enabled: false}",
				"replicas is 2 but leaderElection.enabled is false"),
			Entry("a ServiceMonitor without metrics",
				"metrics: {enabled: false}\nserviceMonitor: {enabled: true}",
				"serviceMonitor.enabled is true but metrics.enabled is false"),
			Entry("a metrics NetworkPolicy rule without metrics",
				"metrics: {enabled: false}\nnetworkPolicy: {metricsFrom: [{podSelector: {}}]}",
				"networkPolicy.metricsFrom is set but metrics.enabled is false"),
			Entry("alerts without metrics, where VppOperatorDown would fire for ever",
				"metrics: {enabled: false}\nprometheusRule: {enabled: true}",
				"prometheusRule.enabled is true but metrics.enabled is false"),
			Entry("an extra argument for a flag the chart sets from metrics",
				"manager: {extraArgs: [--metrics-secure=false]}",
				"manager.extraArgs sets --metrics-secure, which the chart sets from "+
					"metrics.secure"),
			Entry("an extra argument for the watched namespaces, with one dash and a value apart",
				"manager: {extraArgs: [-namespaces, team-a]}",
				"manager.extraArgs sets --namespaces, which the chart sets from watchNamespaces"),
			Entry("an extra argument for a flag of manager.*",
				"manager: {extraArgs: ['--zap-log-level=debug']}",
				"manager.extraArgs sets --zap-log-level, which the chart sets from "+
					"manager.logLevel"),
			Entry("an extra argument for another flag of manager.*",
				"manager: {extraArgs: [--max-concurrent-reconciles, '3']}",
				"manager.extraArgs sets --max-concurrent-reconciles, which the chart sets from "+
					"manager.maxConcurrentReconciles"),
			Entry("an extra argument for the probes' address",
				"manager: {extraArgs: ['--health-probe-bind-address=:9090']}",
				"manager.extraArgs sets --health-probe-bind-address"),
			Entry("an extra argument for leader election",
				"manager: {extraArgs: ['--leader-elect=false']}",
				"manager.extraArgs sets --leader-elect, which the chart sets from "+
					"leaderElection.enabled"),
			Entry("an image repository with a tag",
				"image: {repository: 'registry.example/vpp-operator:v1'}",
				"image.repository", "set the tag in image.tag"),
			Entry("an image repository with a digest",
				"image: {repository: 'registry.example/vpp-operator@sha256:"+
					strings.Repeat("0f", 32)+"'}",
				"image.repository", "image.digest"),
			Entry("a digest that is not one", "image: {digest: 'sha256:xyz'}", "/image/digest"),
			Entry("a digest of 32 characters that are not hex digits",
				"image: {digest: 'sha256:"+strings.Repeat("z", 32)+"'}", "/image/digest"),
			Entry("a digest in upper-case hex",
				"image: {digest: 'sha256:"+strings.Repeat("0F", 32)+"'}", "/image/digest"),
			Entry("a digest of another algorithm",
				"image: {digest: 'sha512:"+strings.Repeat("0f", 64)+"'}", "/image/digest"),
			Entry("a tag holding a digest, which would make the reference unpullable",
				"image: {tag: 'v1@sha256:abc'}", "/image/tag"),
			Entry("a tag starting with a dot", "image: {tag: '.v1'}", "/image/tag"),
			Entry("a tag longer than 128 characters",
				"image: {tag: '"+strings.Repeat("v", 129)+"'}", "/image/tag"),
			Entry("upper case in the repository",
				"image: {repository: 'registry.example/VPP-Operator'}",
				`image.repository "registry.example/VPP-Operator" is not a repository`,
				"lower-case path"),
			Entry("upper case in the first path component, which would be read as a registry",
				"image: {repository: 'Team/vpp-operator'}", "image.repository", "lower-case path"),
			Entry("a repository path ending in a separator",
				"image: {repository: 'registry.example/vpp-operator-'}", "image.repository",
				"lower-case path"),
			Entry("a ServiceMonitor interval given twice, which the CRD refuses",
				"serviceMonitor: {interval: 1s1s}", "/serviceMonitor/interval"),
			Entry("a ServiceMonitor interval in Go's syntax, not Prometheus's",
				"serviceMonitor: {interval: 1.5m}", "/serviceMonitor/interval"),
			Entry("a ServiceMonitor interval with its units out of order",
				"serviceMonitor: {interval: 30s1m}", "/serviceMonitor/interval"),
			Entry("a Graph endpoint on port 0",
				"manager: {graphEndpoint: 'https://proxy.example:0'}",
				`manager.graphEndpoint "https://proxy.example:0" names port 0, which is no TCP port`),
			Entry("an identity platform host on a port beyond 65535",
				"manager: {authorityHost: 'https://proxy:70000'}",
				`manager.authorityHost "https://proxy:70000" names port 70000, which is no TCP port`),
			Entry("an endpoint on a port too long for a number",
				"manager: {authorityHost: 'https://[fd00::10]:99999999999999999999'}",
				"manager.authorityHost", "names port 99999999999999999999"),
			Entry("a Graph endpoint with user information, which the manager refuses",
				"manager: {graphEndpoint: 'https://user:secret@proxy.example'}",
				"/manager/graphEndpoint"),
			Entry("a Graph endpoint with a query, which the manager refuses",
				"manager: {graphEndpoint: 'https://proxy.example/graph?x=1'}",
				"/manager/graphEndpoint"),
			Entry("an identity platform host with a fragment, which the manager refuses",
				"manager: {authorityHost: 'https://proxy.example/#x'}", "/manager/authorityHost"),
			Entry("an endpoint with no host", "manager: {authorityHost: 'https:///path'}",
				"/manager/authorityHost"),
			Entry("a request timeout of zero, which the manager refuses",
				"manager: {graphRequestTimeout: 0s}",
				`manager.graphRequestTimeout is "0s": the manager needs a positive duration`),
			Entry("a write window of zero in several parts",
				"manager: {appWriteWindow: 0m0.000s}",
				`manager.appWriteWindow is "0m0.000s": the manager needs a positive duration`),
			Entry("a write window under a nanosecond, which the manager reads as zero",
				"manager: {appWriteWindow: 0.0000000009s}",
				"manager.appWriteWindow", "positive duration"),
			Entry("a negative request timeout", "manager: {graphRequestTimeout: -30s}",
				"/manager/graphRequestTimeout"),
			Entry("a negative expiry warning", "manager: {expiryWarning: -1h}",
				"/manager/expiryWarning"),
			Entry("an expiry warning beyond what a Go duration holds",
				"manager: {expiryWarning: 2562048h}",
				`manager.expiryWarning is "2562048h", longer than the manager can hold`),
			Entry("no concurrent reconciles", "manager: {maxConcurrentReconciles: 0}",
				"/manager/maxConcurrentReconciles"),
			Entry("no app writes per window", "manager: {appWriteLimit: 0}",
				"/manager/appWriteLimit"),
			Entry("a log level beyond zap's", "manager: {logLevel: 100000000}",
				"/manager/logLevel"),
			Entry("a log level just beyond zap's", "manager: {logLevel: 128}", "/manager/logLevel"),
			Entry("a log level beyond zap's, as a string", "manager: {logLevel: '128'}",
				"/manager/logLevel"),
			Entry("a pod annotation the chart sets",
				"podAnnotations: {kubectl.kubernetes.io/default-container: other}",
				"podAnnotations sets kubectl.kubernetes.io/default-container, which the chart "+
					"sets itself"),
			Entry("a ServiceMonitor label the chart sets",
				"serviceMonitor: {labels: {app.kubernetes.io/managed-by: other}}",
				"serviceMonitor.labels sets app.kubernetes.io/managed-by, which the chart sets "+
					"itself"),
			Entry("a PrometheusRule label the chart sets",
				"prometheusRule: {labels: {app.kubernetes.io/instance: other}}",
				"prometheusRule.labels sets app.kubernetes.io/instance, which the chart sets "+
					"itself"),
		)

		It("refuses in podLabels, podAnnotations and the monitors' labels every key the chart "+
			"sets there, and only those", func() {
			monitors := "serviceMonitor: {enabled: true}\nprometheusRule: {enabled: true}"
			install, err := installChart("", chartValues(monitors), kubeVersion)
			Expect(err).NotTo(HaveOccurred())
			pod := install.deployment().Spec.Template
			chartKeys := map[string]map[string]string{
				"podLabels":             pod.Labels,
				"podAnnotations":        pod.Annotations,
				"serviceMonitor.labels": install.only("ServiceMonitor").GetLabels(),
				"prometheusRule.labels": install.only("PrometheusRule").GetLabels(),
			}
			for value, keys := range chartKeys {
				Expect(keys).NotTo(BeEmpty(), value)
				parent, field, _ := strings.Cut(value, ".")
				given := func(key string) map[string]any {
					values := chartValues(monitors)
					entry := map[string]any{key: "x"}
					if field == "" {
						values[parent] = entry
					} else {
						values[parent].(map[string]any)[field] = entry
					}
					return values
				}
				for key := range keys {
					_, err := installChart("", given(key), kubeVersion)
					Expect(err).To(MatchError(ContainSubstring(
						"%s sets %s, which the chart sets itself", value, key)))
				}
				_, err := installChart("", given("example.com/team"), kubeVersion)
				Expect(err).NotTo(HaveOccurred(), "%s may add a key of its own", value)
			}
		})

		It("leaves release names longer than Helm's 53 characters to Helm to refuse", func() {
			_, err := installChart(strings.Repeat("a", 63), nil, kubeVersion)
			Expect(err).To(MatchError(ContainSubstring("release name")))
		})

		DescribeTable("keeps every name distinct and binds each role where it belongs, however "+
			"long the release name",
			func(release string, length int) {
				Expect(release).To(HaveLen(length))
				for _, namespaced := range []bool{false, true} {
					values := fmt.Sprintf("workloadIdentity: {namespaces: [%s]}\n"+
						"serviceMonitor: {enabled: true}\nprometheusRule: {enabled: true}",
						chartTeamB)
					want := []string{
						"ClusterRoleBinding vpp-operator-manager-role",
						"ClusterRoleBinding vpp-operator-metrics-auth-role",
						"RoleBinding " + chartNamespace + " vpp-operator-leader-election-role",
						"RoleBinding " + chartTeamB + " vpp-operator-workload-identity-role",
					}
					if namespaced {
						values += fmt.Sprintf("\nwatchNamespaces: [%s, %s]", chartTeamA, chartTeamB)
						want[0] = "RoleBinding " + chartTeamA + " vpp-operator-manager-role"
						want = append(want, "RoleBinding "+chartTeamB+" vpp-operator-manager-role")
					}
					install, err := installChart(release, chartValues(values), kubeVersion)
					Expect(err).NotTo(HaveOccurred())

					seen := map[string]bool{}
					for _, object := range install.objects {
						Expect(seen).NotTo(HaveKey(describe(object)), "two objects have one name")
						seen[describe(object)] = true
						Expect(len(object.GetName())).To(BeNumerically("<=", 63), describe(object))
					}
					Expect(install.bindingPurposes()).To(ConsistOf(want), "watchNamespaces: %v",
						namespaced)
				}
			},
			Entry("the chart's name", chartRelease, 12),
			Entry("41 characters", "intune-"+strings.Repeat("a", 34), 41),
			Entry("48 characters", "intune-"+strings.Repeat("a", 41), 48),
			Entry("53 characters", "intune-"+strings.Repeat("a", 46), 53),
			Entry("53 characters holding the chart's name",
				"vpp-operator-"+strings.Repeat("a", 40), 53),
		)

		It("gives releases whose names differ only after where names are shortened names of "+
			"their own", func() {
			first, err := installChart(strings.Repeat("b", 40)+"-one", nil, kubeVersion)
			Expect(err).NotTo(HaveOccurred())
			second, err := installChart(strings.Repeat("b", 40)+"-two", nil, kubeVersion)
			Expect(err).NotTo(HaveOccurred())
			for _, object := range first.ofKind("ClusterRole") {
				Expect(second.names()).NotTo(ContainElement(object.GetKind()+" "+object.GetName()),
					"a second release would fail on the first's cluster-wide objects")
			}
		})

		It("closes every object of values.schema.json, so no misspelt key passes", func() {
			data, err := os.ReadFile(filepath.Join(chartPath, "values.schema.json"))
			Expect(err).NotTo(HaveOccurred())
			var schema map[string]any
			Expect(json.Unmarshal(data, &schema)).To(Succeed())
			Expect(openObjects("", schema)).To(BeEmpty())
		})

		DescribeTable("the schema check finds",
			func(schema string, want []string) {
				var parsed map[string]any
				Expect(json.Unmarshal([]byte(schema), &parsed)).To(Succeed())
				Expect(openObjects("", parsed)).To(Equal(want))
			},
			Entry("nothing in a closed object",
				`{"type": "object", "additionalProperties": false, "properties": {}}`, nil),
			Entry("an object open to any key",
				`{"type": "object", "properties": {"a": {"type": "object"}},
				  "additionalProperties": false}`, []string{"/a"}),
			Entry("an open object in an array",
				`{"type": "array", "items": {"type": "object", "properties": {}}}`,
				[]string{"/[]"}),
			Entry("nothing in a map of typed values",
				`{"type": "object", "additionalProperties": {"type": "string"}}`, nil),
		)
	})

	Describe("generated from the kustomize install's sources", func() {
		var install chartInstall

		BeforeEach(func() {
			var err error
			install, err = installChart("", nil, kubeVersion)
			Expect(err).NotTo(HaveOccurred())
		})

		It("carries each CRD controller-gen wrote, unchanged but for labels and the keep "+
			"policy", func() {
			sources, err := filepath.Glob(filepath.Join("crd", "bases", "*.yaml"))
			Expect(err).NotTo(HaveOccurred())
			Expect(sources).NotTo(BeEmpty())

			var want []string
			for _, source := range sources {
				want = append(want, "crd-"+filepath.Base(source))

				data, err := os.ReadFile(source)
				Expect(err).NotTo(HaveOccurred())
				crds, err := decodeObjects(data)
				Expect(err).NotTo(HaveOccurred())
				Expect(crds).To(HaveLen(1), source)
				original := crds[0]

				copied := install.named("CustomResourceDefinition", original.GetName()).DeepCopy()
				Expect(copied.GetAnnotations()).To(HaveKeyWithValue(keepPolicy, "keep"),
					"uninstalling the chart must not delete every VppToken")
				Expect(copied.GetLabels()).To(HaveKeyWithValue(
					"app.kubernetes.io/managed-by", "Helm"))

				annotations := copied.GetAnnotations()
				delete(annotations, keepPolicy)
				copied.SetAnnotations(annotations)
				copied.SetLabels(nil)
				Expect(copied.Object).To(Equal(original.Object), source)
			}

			copies, err := filepath.Glob(filepath.Join(chartPath, "templates", "crd-*.yaml"))
			Expect(err).NotTo(HaveOccurred())
			for i := range copies {
				copies[i] = filepath.Base(copies[i])
			}
			Expect(copies).To(ConsistOf(want), "one template per CRD of config/crd/bases")
			Expect(install.ofKind("CustomResourceDefinition")).To(HaveLen(len(sources)))
		})

		DescribeTable("grants the rules controller-gen wrote",
			func(role, source string) {
				data, err := os.ReadFile(source)
				Expect(err).NotTo(HaveOccurred())
				var generated rbacv1.ClusterRole
				Expect(yaml.UnmarshalStrict(data, &generated)).To(Succeed())
				Expect(generated.Rules).NotTo(BeEmpty())

				var copied rbacv1.ClusterRole
				toTyped(install.named("ClusterRole", role), &copied)
				Expect(copied.Rules).To(Equal(generated.Rules))
			},
			Entry("the manager's", chartRelease+"-manager-role",
				filepath.Join("rbac", "role.yaml")),
			Entry("workload identity's", chartRelease+"-workload-identity-role",
				filepath.Join("rbac", "workload-identity", "role.yaml")),
		)
	})

	Describe("compared with the kustomize install", func() {
		var install chartInstall

		BeforeEach(func() {
			var err error
			install, err = installChart("", chartValues(
				"serviceMonitor: {enabled: true}\nprometheusRule: {enabled: true}"), kubeVersion)
			Expect(err).NotTo(HaveOccurred())
		})

		It("has the same objects, by kind and name, but for the namespace", func() {
			var want []string
			for _, object := range renderedWithPrometheus {
				if object.GetKind() != "Namespace" {
					want = append(want, object.GetKind()+" "+object.GetName())
				}
			}
			Expect(install.names()).To(ConsistOf(want))
		})

		It("grants the same rules in each role", func() {
			for _, kind := range []string{"ClusterRole", "Role"} {
				for _, object := range install.ofKind(kind) {
					var copied, original struct {
						Rules []rbacv1.PolicyRule `json:"rules"`
					}
					toTyped(object, &copied)
					toTyped(kustomizeObject(kind, object.GetName()), &original)
					Expect(copied.Rules).To(Equal(original.Rules), describe(object))
				}
			}
		})

		It("runs the manager's pod with the same security settings, token volume, probes "+
			"and resources", func() {
			var original appsv1.Deployment
			toTyped(kustomizeObject("Deployment", install.deployment().Name), &original)
			want := original.Spec.Template.Spec
			got := install.deployment().Spec.Template.Spec

			Expect(got.SecurityContext).To(Equal(want.SecurityContext))
			Expect(got.AutomountServiceAccountToken).To(Equal(want.AutomountServiceAccountToken))
			Expect(got.Volumes).To(Equal(want.Volumes))
			Expect(got.TerminationGracePeriodSeconds).To(Equal(want.TerminationGracePeriodSeconds))

			gotManager, wantManager := containerNamed(got, "manager"), containerNamed(want, "manager")
			Expect(gotManager.SecurityContext).To(Equal(wantManager.SecurityContext))
			Expect(gotManager.VolumeMounts).To(Equal(wantManager.VolumeMounts))
			Expect(gotManager.LivenessProbe).To(Equal(wantManager.LivenessProbe))
			Expect(gotManager.ReadinessProbe).To(Equal(wantManager.ReadinessProbe))
			Expect(gotManager.Resources).To(Equal(wantManager.Resources))
			Expect(portsByName(gotManager.Ports)).To(Equal(portsByName(wantManager.Ports)))

			// The chart states --metrics-secure, which the kustomize install leaves at its
			// default, true.
			Expect(slices.DeleteFunc(slices.Clone(gotManager.Args), func(arg string) bool {
				return arg == "--metrics-secure=true"
			})).To(ConsistOf(wantManager.Args))

			var account, originalAccount corev1.ServiceAccount
			toTyped(install.only("ServiceAccount"), &account)
			toTyped(kustomizeObject("ServiceAccount", account.Name), &originalAccount)
			Expect(account.AutomountServiceAccountToken).To(
				Equal(originalAccount.AutomountServiceAccountToken))
		})

		It("binds each role to the same subjects as the kustomize binding of its name", func() {
			bindings := slices.Concat(install.ofKind("RoleBinding"),
				install.ofKind("ClusterRoleBinding"))
			Expect(bindings).NotTo(BeEmpty())
			for _, object := range bindings {
				var binding, original rbacv1.RoleBinding
				toTyped(object, &binding)
				toTyped(kustomizeObject(object.GetKind(), binding.Name), &original)

				// The role the chart binds, by its kustomize counterpart's name.
				role := install.named(binding.RoleRef.Kind, binding.RoleRef.Name)
				counterpart := kustomizeObject(role.GetKind(), role.GetName())
				Expect(original.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName,
					Kind: counterpart.GetKind(), Name: counterpart.GetName()}), describe(object))

				// The same ServiceAccount, in the release namespace instead of kustomize's.
				account := kustomizeObject("ServiceAccount",
					install.only("ServiceAccount").GetName())
				for i := range original.Subjects {
					if original.Subjects[i].Namespace == account.GetNamespace() {
						original.Subjects[i].Namespace = chartNamespace
					}
				}
				Expect(binding.Subjects).To(Equal(original.Subjects), describe(object))
			}
		})

		It("lets the same traffic through its NetworkPolicy", func() {
			var policy, original networkingv1.NetworkPolicy
			toTyped(install.only("NetworkPolicy"), &policy)
			toTyped(kustomizeObject("NetworkPolicy", policy.Name), &original)
			Expect(policy.Spec.PolicyTypes).To(Equal(original.Spec.PolicyTypes))
			Expect(policy.Spec.Ingress).To(Equal(original.Spec.Ingress))
			Expect(policy.Spec.Egress).To(Equal(original.Spec.Egress))
		})

		It("serves and scrapes metrics the same way, and carries the same alerts", func() {
			var service, originalService corev1.Service
			toTyped(install.only("Service"), &service)
			toTyped(kustomizeObject("Service", service.Name), &originalService)
			Expect(service.Spec.Ports).To(Equal(originalService.Spec.Ports))
			Expect(service.Labels).To(HaveKeyWithValue(jobLabel,
				originalService.Labels[jobLabel]), "the alerts select job=%q",
				originalService.Labels[jobLabel])

			monitor := install.only("ServiceMonitor")
			originalMonitor := kustomizeObject("ServiceMonitor", monitor.GetName())
			for _, field := range []string{"jobLabel", "endpoints"} {
				Expect(monitor.Object["spec"].(map[string]any)[field]).To(Equal(
					originalMonitor.Object["spec"].(map[string]any)[field]), field)
			}

			rule := install.only("PrometheusRule")
			Expect(rule.Object["spec"]).To(Equal(
				kustomizeObject("PrometheusRule", rule.GetName()).Object["spec"]))
		})
	})
})

var _ = Describe("The Helm chart's release", Ordered, func() {
	const release = "vpp-lifecycle"
	var (
		c     client.Client
		cfg   *action.Configuration
		chart helmchart.Charter
		token *unstructured.Unstructured
	)

	BeforeAll(func() {
		c, _ = newRecordingClient()
		createChartNamespaces(c)

		cfg = action.NewConfiguration(
			action.ConfigurationSetLogger(slog.NewTextHandler(GinkgoWriter, nil)))
		Expect(cfg.Init(helmClientGetter(), chartNamespace, "memory")).To(Succeed())
		var err error
		chart, err = loader.Load(chartPath)
		Expect(err).NotTo(HaveOccurred())

		data, err := os.ReadFile(filepath.Join("samples", "vpptoken.yaml"))
		Expect(err).NotTo(HaveOccurred())
		samples, err := decodeObjects(data)
		Expect(err).NotTo(HaveOccurred())
		token = samples[0]
		token.SetNamespace(chartNamespace)
		token.SetName(release + "-token")
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(c.Delete(ctx, token))).To(Succeed())
		})
	})

	const ownershipConflict = "exists and cannot be imported into the current release: " +
		"invalid ownership metadata"

	// install runs the README's `helm install` command with or without --take-ownership,
	// for the release name.
	install := func(name string, takeOwnership bool) error {
		command := readmeHelm("install", takeOwnership)
		install := action.NewInstall(cfg)
		install.ReleaseName = name
		install.Namespace = chartNamespace
		install.WaitStrategy = kube.HookOnlyStrategy
		install.CreateNamespace = command.createNamespace
		install.TakeOwnership = command.takeOwnership
		_, err := install.Run(chart, nil)
		return err
	}

	// uninstall runs the README's `helm uninstall` command for the release name, and returns
	// what Helm says it did.
	uninstall := func(name string) string {
		readmeHelm("uninstall", false)
		uninstall := action.NewUninstall(cfg)
		uninstall.WaitStrategy = kube.HookOnlyStrategy
		response, err := uninstall.Run(name)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		return response.Info
	}

	crdAnnotations := func() map[string]string {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		ExpectWithOffset(1, c.Get(ctx, client.ObjectKey{Name: "vpptokens.intune.vpp-operator.io"},
			crd)).To(Succeed())
		return crd.GetAnnotations()
	}

	It("refuses the README's install where the CRD was installed without Helm", func() {
		// The suite's control plane installed the CRD, as `make install` would have.
		Expect(install(release, false)).To(MatchError(ContainSubstring(ownershipConflict)))
	})

	It("installs with the README's --take-ownership, adopting that CRD", func() {
		Expect(install(release, true)).To(Succeed())
		Expect(crdAnnotations()).To(HaveKeyWithValue(keepPolicy, "keep"))
		Expect(crdAnnotations()).To(HaveKeyWithValue("meta.helm.sh/release-name", release))

		Expect(c.Create(ctx, token.DeepCopy())).To(Succeed())
	})

	It("upgrades the Deployment in place with the README's upgrade", func() {
		command := readmeHelm("upgrade", false)
		upgrade := action.NewUpgrade(cfg)
		upgrade.Namespace = chartNamespace
		upgrade.WaitStrategy = kube.HookOnlyStrategy
		upgrade.TakeOwnership = command.takeOwnership
		_, err := upgrade.Run(release, chart, chartValues("replicas: 2"))
		Expect(err).NotTo(HaveOccurred())

		deployment := &appsv1.Deployment{}
		key := client.ObjectKey{Namespace: chartNamespace,
			Name: release + "-vpp-operator-controller-manager"}
		Expect(c.Get(ctx, key, deployment)).To(Succeed())
		Expect(deployment.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
	})

	It("uninstalls everything but the CRD, and so keeps every VppToken", func() {
		Expect(uninstall(release)).To(ContainSubstring("vpptokens.intune.vpp-operator.io"),
			"Helm lists the objects it kept")

		role := &rbacv1.ClusterRole{}
		err := c.Get(ctx, client.ObjectKey{Name: release + "-vpp-operator-manager-role"}, role)
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
		deployment := &appsv1.Deployment{}
		err = c.Get(ctx, client.ObjectKey{Namespace: chartNamespace,
			Name: release + "-vpp-operator-controller-manager"}, deployment)
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)

		kept := token.DeepCopy()
		Expect(c.Get(ctx, client.ObjectKeyFromObject(token), kept)).To(Succeed())
		Expect(kept.GetDeletionTimestamp()).To(BeNil())
		Expect(crdAnnotations()).To(HaveKeyWithValue("meta.helm.sh/release-name", release),
			"the kept CRD still names the release")
	})

	It("installs again under the same name with the README's plain install", func() {
		Expect(install(release, false)).To(Succeed())
		uninstall(release)
	})

	It("installs under another name only with the README's --take-ownership", func() {
		const other = release + "-2"
		Expect(install(other, false)).To(MatchError(ContainSubstring(ownershipConflict)))
		Expect(install(other, true)).To(Succeed())
		Expect(crdAnnotations()).To(HaveKeyWithValue("meta.helm.sh/release-name", other))
		uninstall(other)
	})
})

// helmCommand is what the specs mirror of one of the README's helm commands.
type helmCommand struct {
	takeOwnership, createNamespace bool
}

// readmeHelm returns the one `helm <verb>` command of the README's "Install with Helm"
// section (in its code blocks) that has, or lacks, --take-ownership. A flag the specs do not
// mirror fails the spec, so the README cannot drift from what they run.
func readmeHelm(verb string, takeOwnership bool) helmCommand {
	GinkgoHelper()
	var commands []helmCommand
	blocks := strings.Split(readmeSection("Install with Helm"), "```")
	for i := 1; i < len(blocks); i += 2 {
		block := strings.ReplaceAll(blocks[i], "\\\n", " ")
		for line := range strings.Lines(block) {
			line, _, _ = strings.Cut(line, "#")
			fields := strings.Fields(line)
			if len(fields) < 2 || fields[0] != "helm" || fields[1] != verb {
				continue
			}
			var command helmCommand
			for j := 2; j < len(fields); j++ {
				switch fields[j] {
				case "--take-ownership":
					command.takeOwnership = true
				case "--create-namespace":
					command.createNamespace = true
				case "-n", "--namespace", "--set", "-f", "--values":
					j++ // the specs' own namespace and values
				default:
					Expect(fields[j]).NotTo(HavePrefix("-"),
						"the README's helm %s uses a flag the specs do not mirror", verb)
				}
			}
			if command.takeOwnership == takeOwnership {
				commands = append(commands, command)
			}
		}
	}
	Expect(commands).To(HaveLen(1),
		"helm %s commands in the README with --take-ownership %v", verb, takeOwnership)
	return commands[0]
}

// createChartNamespaces creates the release namespace and those the values name, labelled
// as the README says, unless an earlier spec has.
func createChartNamespaces(c client.Client) {
	for _, name := range []string{chartNamespace, chartTeamA, chartTeamB} {
		namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"pod-security.kubernetes.io/enforce": "restricted",
				"pod-security.kubernetes.io/warn":    "restricted",
				"pod-security.kubernetes.io/audit":   "restricted",
			},
		}}
		ExpectWithOffset(1, client.IgnoreAlreadyExists(c.Create(ctx, namespace))).To(Succeed())
	}
}

// chartInstall is a client-side dry-run install of the chart: its objects and its notes.
type chartInstall struct {
	objects []*unstructured.Unstructured
	notes   string
}

// installChart renders the chart as `helm install --dry-run=client` does, with the values'
// schema validated, for the release namespace chartNamespace.
func installChart(
	release string, values map[string]any, kubeVersion *common.KubeVersion,
) (chartInstall, error) {
	chart, err := loader.Load(chartPath)
	if err != nil {
		return chartInstall{}, err
	}

	logger := action.ConfigurationSetLogger(slog.NewTextHandler(GinkgoWriter, nil))
	install := action.NewInstall(action.NewConfiguration(logger))
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = cmp.Or(release, chartRelease)
	install.Namespace = chartNamespace
	install.KubeVersion = kubeVersion

	releaser, err := install.Run(chart, values)
	if err != nil {
		return chartInstall{}, err
	}
	rendered, ok := releaser.(*releasev1.Release)
	if !ok {
		return chartInstall{}, fmt.Errorf("install returned a %T", releaser)
	}
	objects, err := decodeObjects([]byte(rendered.Manifest))
	if err != nil {
		return chartInstall{}, err
	}
	return chartInstall{objects: objects, notes: rendered.Info.Notes}, nil
}

// lintChart runs `helm lint` on the chart with values.
func lintChart(values map[string]any, kubeVersion *common.KubeVersion) *action.LintResult {
	lint := action.NewLint()
	lint.Namespace = chartNamespace
	lint.KubeVersion = kubeVersion
	return lint.Run([]string{chartPath}, values)
}

// chartValues parses YAML values, as `helm install -f` reads them.
func chartValues(text string) map[string]any {
	values := map[string]any{}
	ExpectWithOffset(1, yaml.Unmarshal([]byte(text), &values)).To(Succeed())
	return values
}

func (i chartInstall) ofKind(kind string) []*unstructured.Unstructured {
	return ofKind(i.objects, kind)
}

// only returns the one object of a kind, failing the spec when there are more or none.
func (i chartInstall) only(kind string) *unstructured.Unstructured {
	GinkgoHelper()
	return only(i.objects, kind)
}

func (i chartInstall) named(kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	return objectNamed(i.objects, kind, name)
}

// kinds lists the kinds of the objects, each once.
func (i chartInstall) kinds() []string {
	var kinds []string
	for _, object := range i.objects {
		kinds = append(kinds, object.GetKind())
	}
	return distinct(kinds)
}

// names lists the objects as "<kind> <name>".
func (i chartInstall) names() []string {
	var names []string
	for _, object := range i.objects {
		names = append(names, object.GetKind()+" "+object.GetName())
	}
	return names
}

func (i chartInstall) deployment() *appsv1.Deployment {
	deployment := &appsv1.Deployment{}
	toTyped(i.only("Deployment"), deployment)
	return deployment
}

func (i chartInstall) args() []string {
	return containerNamed(i.deployment().Spec.Template.Spec, "manager").Args
}

// bindingsTo lists the role bindings whose roleRef names the role, as "<kind> <name>" or
// "<kind> <namespace>/<name>".
func (i chartInstall) bindingsTo(roleKind, role string) []string {
	var bindings []string
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, object := range i.ofKind(kind) {
			var binding rbacv1.RoleBinding
			toTyped(object, &binding)
			if binding.RoleRef.Kind != roleKind || binding.RoleRef.Name != role {
				continue
			}
			name := binding.Name
			if binding.Namespace != "" {
				name = binding.Namespace + "/" + name
			}
			bindings = append(bindings, kind+" "+name)
		}
	}
	return bindings
}

// bindingPurposes lists each role binding as "<kind> [<namespace>] <role>", where role is
// the kustomize install's role whose rules the bound role grants, or "unknown rules". Roles
// are looked up as the API server would hold them once every object is applied in order: of
// two objects with one name, the last.
func (i chartInstall) bindingPurposes() []string {
	type rules struct {
		Rules []rbacv1.PolicyRule `json:"rules"`
	}
	known := slices.Concat(ofKind(renderedWithPrometheus, "ClusterRole"),
		ofKind(renderedWithPrometheus, "Role"))
	applied := map[string]*unstructured.Unstructured{}
	for _, object := range i.objects {
		applied[describe(object)] = object
	}

	var purposes []string
	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, object := range i.ofKind(kind) {
			var binding rbacv1.RoleBinding
			toTyped(object, &binding)
			where := kind
			if binding.Namespace != "" {
				where += " " + binding.Namespace
			}
			roleNamespace := ""
			if binding.RoleRef.Kind == "Role" {
				roleNamespace = binding.Namespace
			}
			role, ok := applied[fmt.Sprintf("%s %s/%s", binding.RoleRef.Kind, roleNamespace,
				binding.RoleRef.Name)]
			if !ok {
				purposes = append(purposes, where+" a missing role")
				continue
			}
			var bound rules
			toTyped(role, &bound)
			purpose := "unknown rules"
			for _, candidate := range known {
				var want rules
				toTyped(candidate, &want)
				if candidate.GetKind() == role.GetKind() &&
					reflect.DeepEqual(want.Rules, bound.Rules) {
					purpose = candidate.GetName()
				}
			}
			purposes = append(purposes, where+" "+purpose)
		}
	}
	return purposes
}

// checkReferences checks that what the objects name is among them: bound roles, the bound
// ServiceAccount, the pods the Service and NetworkPolicy select, the Service and port the
// ServiceMonitor scrapes.
func (i chartInstall) checkReferences() {
	deployment := i.deployment()
	pods := labels.Set(deployment.Spec.Template.Labels)
	var account corev1.ServiceAccount
	toTyped(i.only("ServiceAccount"), &account)
	Expect(account.Namespace).To(Equal(chartNamespace))
	Expect(deployment.Spec.Template.Spec.ServiceAccountName).To(Equal(account.Name))

	for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
		for _, object := range i.ofKind(kind) {
			var binding rbacv1.RoleBinding
			toTyped(object, &binding)
			i.named(binding.RoleRef.Kind, binding.RoleRef.Name)
			Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount",
				Name: account.Name, Namespace: account.Namespace}), describe(object))
		}
	}

	for _, object := range i.ofKind("NetworkPolicy") {
		var policy networkingv1.NetworkPolicy
		toTyped(object, &policy)
		expectSelectsPodsOf(&policy, deployment)
	}

	for _, object := range i.ofKind("Service") {
		var service corev1.Service
		toTyped(object, &service)
		Expect(labels.SelectorFromSet(service.Spec.Selector).Matches(pods)).To(BeTrue())
		manager := containerNamed(deployment.Spec.Template.Spec, "manager")
		for _, port := range service.Spec.Ports {
			Expect(portsByName(manager.Ports)).To(HaveKey(port.TargetPort.StrVal))
		}

		for _, monitor := range i.ofKind("ServiceMonitor") {
			var spec struct {
				Spec struct {
					Selector  metav1.LabelSelector `json:"selector"`
					Endpoints []struct {
						Port string `json:"port"`
					} `json:"endpoints"`
				} `json:"spec"`
			}
			toTyped(monitor, &spec)
			selector, err := metav1.LabelSelectorAsSelector(&spec.Spec.Selector)
			Expect(err).NotTo(HaveOccurred())
			Expect(selector.Matches(labels.Set(service.Labels))).To(BeTrue())
			for _, endpoint := range spec.Spec.Endpoints {
				Expect(service.Spec.Ports).To(ContainElement(HaveField("Name", endpoint.Port)))
			}
		}
	}
}

// checkHardening checks what every install keeps whatever the values: the pod's security
// settings and token, and a NetworkPolicy that lets in only the ports the manager serves.
func (i chartInstall) checkHardening() {
	pod := i.deployment().Spec.Template.Spec
	Expect(pod.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
	Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	Expect(pod.SecurityContext.SeccompProfile).To(HaveValue(
		HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)))
	manager := containerNamed(pod, "manager")
	Expect(manager.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	Expect(manager.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	Expect(manager.SecurityContext.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))
	Expect(mountAt(manager, tokenMountPath)).NotTo(BeNil())

	for _, object := range i.ofKind("NetworkPolicy") {
		var policy networkingv1.NetworkPolicy
		toTyped(object, &policy)
		expectIngressOnlyTo(&policy, manager)
	}
}

// kustomizeObject returns the object of config/default, with config/prometheus, that has
// the kind and name.
func kustomizeObject(kind, name string) *unstructured.Unstructured {
	GinkgoHelper()
	return objectNamed(renderedWithPrometheus, kind, name)
}

// alertSource returns config/prometheus/prometheus_rule.yaml, the one source of the alerts.
func alertSource() map[string]any {
	data, err := os.ReadFile(filepath.Join("prometheus", "prometheus_rule.yaml"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	objects, err := decodeObjects(data)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, objects).To(HaveLen(1))
	return objects[0].Object
}

// alertExpressions lists the expressions of a PrometheusRule's rules.
func alertExpressions(rule *unstructured.Unstructured) []string {
	var spec struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Expr string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	toTyped(rule, &spec)
	var expressions []string
	for _, group := range spec.Spec.Groups {
		for _, rule := range group.Rules {
			expressions = append(expressions, rule.Expr)
		}
	}
	return expressions
}

// portsByName maps a container's named ports to their numbers.
func portsByName(ports []corev1.ContainerPort) map[string]int32 {
	named := map[string]int32{}
	for _, port := range ports {
		named[port.Name] = port.ContainerPort
	}
	return named
}

// openObjects lists the JSON pointers of the object schemas under schema that accept keys
// they do not name, so that a misspelt value would pass. An object schema is closed by
// additionalProperties false, or by a schema for additionalProperties (a map of typed
// values); one with a $comment naming a Kubernetes type is left to the API server, which
// checks that type's fields.
func openObjects(pointer string, schema map[string]any) []string {
	var open []string
	_, hasProperties := schema["properties"]
	_, closed := schema["additionalProperties"]
	comment, _ := schema["$comment"].(string)
	isObject := schema["type"] == "object" || hasProperties
	if isObject && !closed && !strings.HasPrefix(comment, "a Kubernetes ") {
		open = append(open, cmp.Or(pointer, "/"))
	}

	if properties, ok := schema["properties"].(map[string]any); ok {
		for _, name := range slices.Sorted(maps.Keys(properties)) {
			if property, ok := properties[name].(map[string]any); ok {
				open = append(open, openObjects(pointer+"/"+name, property)...)
			}
		}
	}
	if items, ok := schema["items"].(map[string]any); ok {
		open = append(open, openObjects(pointer+"/[]", items)...)
	}
	if values, ok := schema["additionalProperties"].(map[string]any); ok {
		open = append(open, openObjects(pointer+"/*", values)...)
	}
	return open
}

// helmClientGetter lets Helm's actions reach the suite's API server, as a kubeconfig would.
func helmClientGetter() genericclioptions.RESTClientGetter {
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["test"] = &clientcmdapi.Cluster{
		Server:                   restConfig.Host,
		CertificateAuthorityData: restConfig.CAData,
	}
	kubeconfig.AuthInfos["test"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: restConfig.CertData,
		ClientKeyData:         restConfig.KeyData,
		Token:                 restConfig.BearerToken,
	}
	kubeconfig.Contexts["test"] = &clientcmdapi.Context{
		Cluster: "test", AuthInfo: "test", Namespace: chartNamespace,
	}
	kubeconfig.CurrentContext = "test"

	discoveryClient, err := discovery.NewDiscoveryClientForConfig(restConfig)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return genericclioptions.NewTestConfigFlags().
		WithClientConfig(clientcmd.NewDefaultClientConfig(*kubeconfig, nil)).
		WithDiscoveryClient(memory.NewMemCacheClient(discoveryClient))
}
