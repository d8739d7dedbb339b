package config_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// fieldOwner is the field manager of the specs' applies.
	fieldOwner = "vpp-operator-manifest-spec"

	// tokenMountPath is where client-go's in-cluster config reads the token, CA and namespace.
	tokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

	// The projected token's life: the API server refuses less than ten minutes, and the
	// manifests promise an hour at most (which also keeps clear of 3607 s, the length the API
	// server stretches to a year under --service-account-extend-token-expiration).
	minTokenSeconds = 600
	maxTokenSeconds = 3600

	// The manager's defaults for its listening flags (main.go, and the README's flag table).
	defaultProbeAddress   = ":8081"
	defaultMetricsAddress = "0"

	// The metrics endpoint's names, shared with the Helm chart and the ServiceMonitor.
	metricsContainerPort = "metrics"
	metricsServicePort   = "https"
	jobLabel             = "app.kubernetes.io/name"
)

var _ = Describe("config/default", func() {
	Describe("on the API server", Ordered, func() {
		var (
			c        client.Client
			warnings *warningRecorder
		)

		BeforeAll(func() {
			c, warnings = newRecordingClient()
			namespace := only(rendered, "Namespace").DeepCopy()
			Expect(c.Apply(ctx, client.ApplyConfigurationFromUnstructured(namespace),
				client.FieldOwner(fieldOwner))).To(Succeed())
			warnings.take()
		})

		It("enforces the restricted pod security level in the manager's namespace", func() {
			namespace := &corev1.Namespace{}
			key := client.ObjectKey{Name: managerDeployment().Namespace}
			Expect(c.Get(ctx, key, namespace)).To(Succeed())
			Expect(namespace.Labels).To(HaveKeyWithValue(
				"pod-security.kubernetes.io/enforce", "restricted"))
		})

		It("accepts every object in a server-side apply with dry-run, without warnings", func() {
			expectDryRunApplies(c, warnings, rendered)
		})

		It("accepts config/prometheus's ServiceMonitor and PrometheusRule in a server-side "+
			"apply with dry-run, without warnings", func() {
			monitoring := prometheusObjects()
			Expect(monitoring).To(HaveLen(2))
			expectDryRunApplies(c, warnings, monitoring)
		})

		It("refuses a ServiceMonitor whose endpoint is misspelt, so the one above was checked",
			func() {
				monitor := only(prometheusObjects(), "ServiceMonitor").DeepCopy()
				endpoints, _, err := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
				Expect(err).NotTo(HaveOccurred())
				endpoints[0].(map[string]any)["scheme"] = "htps"
				Expect(unstructured.SetNestedSlice(monitor.Object, endpoints,
					"spec", "endpoints")).To(Succeed())

				apply := client.ApplyConfigurationFromUnstructured(monitor)
				err = c.Apply(ctx, apply, client.FieldOwner(fieldOwner), client.DryRunAll)
				Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
				warnings.take()
			})

		It("admits the manager's pod template as a Pod in that namespace, without warnings",
			func() {
				Expect(c.Create(ctx, managerPod(), client.DryRunAll)).To(Succeed())
				Expect(warnings.take()).To(BeEmpty())
			})

		// These show that the admission above is pod security's judgement, not its absence:
		// the same template with one of its settings undone is refused.
		DescribeTable("refuses the manager's pod with one restricted setting undone",
			func(undo func(*corev1.PodSpec), violation string) {
				pod := managerPod()
				undo(&pod.Spec)

				err := c.Create(ctx, pod, client.DryRunAll)
				Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
				Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted:`))
				Expect(err.Error()).To(ContainSubstring(violation))
				warnings.take()
			},
			Entry("privilege escalation allowed", func(spec *corev1.PodSpec) {
				spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
			}, "allowPrivilegeEscalation != false"),
			Entry("capabilities kept", func(spec *corev1.PodSpec) {
				spec.Containers[0].SecurityContext.Capabilities = nil
			}, "unrestricted capabilities"),
			Entry("non-root not required", func(spec *corev1.PodSpec) {
				spec.SecurityContext.RunAsNonRoot = nil
			}, "runAsNonRoot != true"),
			Entry("running as root", func(spec *corev1.PodSpec) {
				spec.SecurityContext.RunAsUser = ptr.To[int64](0)
			}, "runAsUser=0"),
			Entry("no seccomp profile", func(spec *corev1.PodSpec) {
				spec.SecurityContext.SeccompProfile = nil
			}, "seccompProfile"),
		)

		It("warns when a Deployment's pod template breaks the restricted level", func() {
			deployment := managerDeployment()
			deployment.Spec.Template.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)

			Expect(c.Create(ctx, deployment, client.DryRunAll)).To(Succeed())
			Expect(warnings.take()).To(ContainElement(
				ContainSubstring(`would violate PodSecurity "restricted:`)))
		})
	})

	Describe("the manager's pod", func() {
		var pod corev1.PodSpec

		BeforeEach(func() {
			pod = managerDeployment().Spec.Template.Spec
		})

		It("runs as the image's non-root user and group", func() {
			uid, gid := imageUser()
			Expect(pod.SecurityContext).NotTo(BeNil())
			Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
			Expect(pod.SecurityContext.RunAsUser).To(HaveValue(Equal(uid)))
			Expect(pod.SecurityContext.RunAsGroup).To(HaveValue(Equal(gid)))

			for _, container := range allContainers(pod) {
				security := container.SecurityContext
				Expect(security).NotTo(BeNil(), container.Name)
				Expect(security.RunAsNonRoot).To(Or(BeNil(), HaveValue(BeTrue())), container.Name)
				Expect(security.RunAsUser).To(Or(BeNil(), HaveValue(Equal(uid))), container.Name)
				Expect(security.RunAsGroup).To(Or(BeNil(), HaveValue(Equal(gid))), container.Name)
			}
		})

		It("uses the container runtime's default seccomp profile", func() {
			Expect(pod.SecurityContext.SeccompProfile).To(HaveValue(Equal(corev1.SeccompProfile{
				Type: corev1.SeccompProfileTypeRuntimeDefault,
			})))
			for _, container := range allContainers(pod) {
				Expect(container.SecurityContext.SeccompProfile).To(Or(BeNil(),
					HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)), container.Name)
			}
		})

		It("gives every container a read-only root, no capabilities and no escalation", func() {
			for _, container := range allContainers(pod) {
				security := container.SecurityContext
				Expect(security.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()), container.Name)
				Expect(security.AllowPrivilegeEscalation).To(HaveValue(BeFalse()), container.Name)
				Expect(security.Privileged).To(Or(BeNil(), HaveValue(BeFalse())), container.Name)
				Expect(security.Capabilities).NotTo(BeNil(), container.Name)
				Expect(security.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")),
					container.Name)
				Expect(security.Capabilities.Add).To(BeEmpty(), container.Name)
			}
		})

		It("runs as the ServiceAccount, which mounts no token into any pod", func() {
			account := &corev1.ServiceAccount{}
			toTyped(only(rendered, "ServiceAccount"), account)
			Expect(pod.ServiceAccountName).To(Equal(account.Name))
			Expect(account.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
			Expect(pod.AutomountServiceAccountToken).To(HaveValue(BeFalse()),
				"the pod's own token is the projected volume; automounting would add a second")
		})

		It("mounts a short-lived API token, the cluster CA and its namespace read-only where "+
			"client-go reads them", func() {
			manager := containerNamed(pod, "manager")
			mount := mountAt(manager, tokenMountPath)
			Expect(mount).NotTo(BeNil(), "no volume at %s", tokenMountPath)
			Expect(mount.ReadOnly).To(BeTrue())
			Expect(mount.SubPath).To(BeEmpty(), "a subPath mount never sees the renewed token")

			projected := volumeNamed(pod, mount.Name).Projected
			Expect(projected).NotTo(BeNil(), "volume %s is not projected", mount.Name)
			Expect(projected.DefaultMode).To(HaveValue(
				Satisfy(readableByAnyUserWritableByNone)), "files owned by root, read by %d",
				*pod.SecurityContext.RunAsUser)

			files := projectedFiles(projected)
			Expect(files).To(HaveLen(3))

			token := files["token"].ServiceAccountToken
			Expect(token).NotTo(BeNil(), "token is not a serviceAccountToken projection")
			Expect(token.Audience).To(BeEmpty(), "the API server accepts only its own audience")
			Expect(token.ExpirationSeconds).To(HaveValue(SatisfyAll(
				BeNumerically(">=", minTokenSeconds),
				BeNumerically("<=", maxTokenSeconds))))

			ca := files["ca.crt"].ConfigMap
			Expect(ca).NotTo(BeNil(), "ca.crt is not a configMap projection")
			Expect(ca.Name).To(Equal("kube-root-ca.crt"))
			Expect(ca.Items).To(ContainElement(corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}))

			namespace := files["namespace"].DownwardAPI
			Expect(namespace).NotTo(BeNil(), "namespace is not a downwardAPI projection")
			Expect(namespace.Items).To(ContainElement(HaveField("FieldRef",
				HaveValue(HaveField("FieldPath", "metadata.namespace")))))
		})
	})

	Describe("the NetworkPolicy", func() {
		var (
			deployment *appsv1.Deployment
			policy     *networkingv1.NetworkPolicy
		)

		BeforeEach(func() {
			deployment = managerDeployment()
			policy = &networkingv1.NetworkPolicy{}
			toTyped(only(rendered, "NetworkPolicy"), policy)
		})

		It("selects the manager's pods, and only them", func() {
			Expect(policy.Namespace).To(Equal(deployment.Namespace))
			expectSelectsPodsOf(policy, deployment)
		})

		It("restricts both directions", func() {
			Expect(policy.Spec.PolicyTypes).To(ConsistOf(
				networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
		})

		It("lets in exactly the ports the manager listens on", func() {
			expectIngressOnlyTo(policy, containerNamed(deployment.Spec.Template.Spec, "manager"))
		})

		It("lets out only DNS, the API server and HTTPS, to any address", func() {
			var allowed, anywhere []string
			for _, rule := range policy.Spec.Egress {
				Expect(rule.Ports).NotTo(BeEmpty(), "an egress rule without ports opens all")
				allowed = append(allowed, portKeys(rule.Ports)...)
				if len(rule.To) == 0 {
					anywhere = append(anywhere, portKeys(rule.Ports)...)
				}
			}
			Expect(distinct(allowed)).To(ConsistOf("UDP/53", "TCP/53", "TCP/443", "TCP/6443"))
			Expect(anywhere).To(ContainElements("TCP/443", "TCP/6443"),
				"the API server's and Graph's addresses are not known in advance")
		})
	})

	Describe("the metrics endpoint", func() {
		var (
			deployment *appsv1.Deployment
			manager    corev1.Container
			service    *corev1.Service
		)

		BeforeEach(func() {
			deployment = managerDeployment()
			manager = containerNamed(deployment.Spec.Template.Spec, "manager")
			service = &corev1.Service{}
			toTyped(only(rendered, "Service"), service)
		})

		It("is served on the container port named metrics, with authentication", func() {
			port := containerPortNamed(manager, metricsContainerPort)
			Expect(port).NotTo(BeNil(), "no container port %q", metricsContainerPort)
			Expect(port.Protocol).To(Or(BeEmpty(), Equal(corev1.ProtocolTCP)))
			Expect(listeningPorts(manager)).To(ContainElement(
				fmt.Sprintf("TCP/%d", port.ContainerPort)),
				"--metrics-bind-address should listen on the metrics container port")
			Expect(metricsSecure(manager)).To(BeTrue(), "metrics must keep authentication")
		})

		It("has a Service that selects the manager's pods and targets the named port", func() {
			Expect(service.Namespace).To(Equal(deployment.Namespace))
			Expect(service.Spec.Selector).NotTo(BeEmpty(), "an empty selector selects no pods")
			Expect(labels.SelectorFromSet(service.Spec.Selector).Matches(
				labels.Set(deployment.Spec.Template.Labels))).To(BeTrue())

			Expect(service.Spec.Ports).To(HaveLen(1))
			port := service.Spec.Ports[0]
			Expect(port.Name).To(Equal(metricsServicePort))
			Expect(port.Port).To(BeEquivalentTo(8443))
			Expect(port.Protocol).To(Or(BeEmpty(), Equal(corev1.ProtocolTCP)))
			Expect(port.TargetPort).To(Equal(intstr.FromString(metricsContainerPort)))
		})

		It("names its job through the Service's labels", func() {
			Expect(service.Labels).To(HaveKeyWithValue(jobLabel, "vpp-operator"))
			Expect(service.Labels).To(HaveKeyWithValue("app.kubernetes.io/component", "metrics"))
		})

		It("is reachable through the NetworkPolicy from any address", func() {
			policy := &networkingv1.NetworkPolicy{}
			toTyped(only(rendered, "NetworkPolicy"), policy)
			port := containerPortNamed(manager, metricsContainerPort)
			Expect(port).NotTo(BeNil())

			metricsPort := fmt.Sprintf("TCP/%d", port.ContainerPort)
			var fromAnywhere []string
			for _, rule := range policy.Spec.Ingress {
				if len(rule.From) == 0 {
					fromAnywhere = append(fromAnywhere, portKeys(rule.Ports)...)
				}
			}
			Expect(fromAnywhere).To(ContainElement(metricsPort))
		})

		Describe("with config/prometheus enabled", func() {
			var monitor *serviceMonitor

			BeforeEach(func() {
				monitor = &serviceMonitor{}
				toTyped(only(prometheusObjects(), "ServiceMonitor"), monitor)
			})

			It("adds only the ServiceMonitor and the PrometheusRule to config/default", func() {
				var kinds []string
				for _, object := range prometheusObjects() {
					kinds = append(kinds, object.GetKind())
				}
				Expect(kinds).To(ConsistOf("ServiceMonitor", "PrometheusRule"))
				Expect(renderedWithPrometheus).To(HaveLen(len(rendered) + 2))
			})

			It("puts both in the manager's namespace, the rules as vpp-operator-alerts", func() {
				for _, object := range prometheusObjects() {
					Expect(object.GetNamespace()).To(Equal(deployment.Namespace), describe(object))
				}
				rule := only(prometheusObjects(), "PrometheusRule")
				Expect(rule.GetName()).To(Equal("vpp-operator-alerts"))
			})

			It("has a ServiceMonitor that selects the metrics Service and scrapes its port",
				func() {
					selector, err := metav1.LabelSelectorAsSelector(&monitor.Spec.Selector)
					Expect(err).NotTo(HaveOccurred())
					Expect(selector.Empty()).To(BeFalse(), "an empty selector selects every Service")
					Expect(selector.Matches(labels.Set(service.Labels))).To(BeTrue())
					Expect(monitor.Spec.NamespaceSelector).To(BeNil(),
						"the monitor's own namespace is the Service's")

					Expect(monitor.Spec.Endpoints).To(HaveLen(1))
					endpoint := monitor.Spec.Endpoints[0]
					Expect(endpoint.Port).To(Equal(service.Spec.Ports[0].Name))
					Expect(endpoint.Scheme).To(Equal("https"))
					Expect(endpoint.Path).To(Equal("/metrics"))
				})

			It("authenticates with Prometheus's ServiceAccount token over TLS", func() {
				endpoint := monitor.Spec.Endpoints[0]
				Expect(endpoint.BearerTokenFile).To(Equal(tokenMountPath + "/token"))
				Expect(endpoint.TLSConfig).NotTo(BeNil())
				Expect(endpoint.TLSConfig.InsecureSkipVerify).To(BeTrue(),
					"the manager's certificate is self-signed")
			})

			It("keeps the namespace label of the token series", func() {
				Expect(monitor.Spec.Endpoints[0].HonorLabels).To(BeTrue(),
					"a scraped namespace label would become exported_namespace")
			})

			It("takes the job label from the Service's app.kubernetes.io/name", func() {
				Expect(monitor.Spec.JobLabel).To(Equal(jobLabel))
				Expect(service.Labels).To(HaveKey(monitor.Spec.JobLabel))
			})
		})
	})

	Describe("the README", func() {
		It("names, to uninstall and keep the CRD, every other object of the install", func() {
			deleted := readmeDeletions()
			var clusterScoped []string
			for _, object := range renderedWithPrometheus {
				kind := strings.ToLower(object.GetKind())
				switch {
				case kind == "customresourcedefinition":
					Expect(deleted).NotTo(ContainElement(HavePrefix(kind + "/")))
				case object.GetNamespace() == "":
					clusterScoped = append(clusterScoped, kind+"/"+object.GetName())
				default:
					Expect(deleted).To(ContainElement("namespace/"+object.GetNamespace()),
						"%s goes only with its namespace", describe(object))
				}
			}
			Expect(deleted).To(ConsistOf(clusterScoped))
		})
	})

	Describe("RBAC", func() {
		It("lets the manager review scrapers' tokens and access, and nothing more", func() {
			Expect(policyRules("ClusterRole")).To(HaveKeyWithValue(
				"ClusterRole vpp-operator-metrics-auth-role", ConsistOf(
					rule([]string{"authentication.k8s.io"}, []string{"tokenreviews"}, "create"),
					rule([]string{"authorization.k8s.io"}, []string{"subjectaccessreviews"},
						"create"),
				)))

			binding := &rbacv1.ClusterRoleBinding{}
			toTyped(objectNamed(rendered, "ClusterRoleBinding",
				"vpp-operator-metrics-auth-rolebinding"), binding)
			Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName,
				Kind: "ClusterRole", Name: "vpp-operator-metrics-auth-role"}))
			account := only(rendered, "ServiceAccount")
			Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: rbacv1.ServiceAccountKind,
				Name: account.GetName(), Namespace: account.GetNamespace()}))
			Expect(account.GetName()).To(Equal(managerDeployment().Spec.Template.Spec.
				ServiceAccountName))
		})

		It("offers a role to read metrics, bound to nobody", func() {
			Expect(policyRules("ClusterRole")).To(HaveKeyWithValue(
				"ClusterRole vpp-operator-metrics-reader", ConsistOf(rbacv1.PolicyRule{
					NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"},
				})))
			bindings := slices.Concat(ofKind(rendered, "RoleBinding"),
				ofKind(rendered, "ClusterRoleBinding"))
			for _, object := range bindings {
				binding := &rbacv1.ClusterRoleBinding{}
				toTyped(object, binding)
				Expect(binding.RoleRef.Name).NotTo(Equal("vpp-operator-metrics-reader"),
					describe(object))
			}
		})

		It("names no wildcard API group, resource, URL or verb", func() {
			rules := policyRules("Role", "ClusterRole")
			Expect(rules).NotTo(BeEmpty())
			for owner, ownRules := range rules {
				for _, rule := range ownRules {
					Expect(wildcards(rule)).To(BeEmpty(), owner)
				}
			}
		})

		It("grants no ClusterRole a write to Secrets", func() {
			rules := policyRules("ClusterRole")
			Expect(rules).NotTo(BeEmpty())
			for owner, ownRules := range rules {
				for _, rule := range ownRules {
					Expect(secretWrites(rule)).To(BeEmpty(), owner)
				}
			}
		})

		DescribeTable("the rule checks find",
			func(rule rbacv1.PolicyRule, wantWildcards, wantWrites []string) {
				Expect(wildcards(rule)).To(Equal(wantWildcards))
				Expect(secretWrites(rule)).To(Equal(wantWrites))
			},
			Entry("nothing in a read of Secrets",
				rule([]string{""}, []string{"secrets"}, "get", "list", "watch"), nil, nil),
			Entry("the write verbs on Secrets",
				rule([]string{""}, []string{"secrets", "configmaps"}, "get", "patch", "delete"),
				nil, []string{"patch", "delete"}),
			Entry("every verb on Secrets",
				rule([]string{""}, []string{"secrets"}, "*"),
				[]string{"verbs: *"}, []string{"*"}),
			Entry("every core resource",
				rule([]string{""}, []string{"*"}, "create"),
				[]string{"resources: *"}, []string{"create"}),
			Entry("every API group",
				rule([]string{"*"}, []string{"secrets"}, "update"),
				[]string{"apiGroups: *"}, []string{"update"}),
			Entry("a wildcard subresource, and no Secrets in another group",
				rule([]string{"example.com"}, []string{"secrets", "*/status"}, "create"),
				[]string{"resources: */status"}, nil),
			Entry("every URL under /metrics",
				rbacv1.PolicyRule{NonResourceURLs: []string{"/metrics", "/metrics/*"},
					Verbs: []string{"get"}},
				[]string{"nonResourceURLs: /metrics/*"}, nil),
		)
	})
})

// readmeDeletions returns the objects the commands of the README's "Install with kustomize"
// section delete by name, as "<kind>/<name>": the way to uninstall and keep the CRD.
func readmeDeletions() []string {
	GinkgoHelper()
	var deleted []string
	for line := range strings.Lines(readmeSection("Install with kustomize")) {
		fields := strings.Fields(line)
		if len(fields) < 4 || fields[0] != "kubectl" || fields[1] != "delete" ||
			strings.HasPrefix(fields[2], "-") {
			continue
		}
		for _, name := range fields[3:] {
			deleted = append(deleted, fields[2]+"/"+name)
		}
	}
	return deleted
}

// prometheusObjects returns the objects that enabling config/prometheus adds to
// config/default.
func prometheusObjects() []*unstructured.Unstructured {
	var added []*unstructured.Unstructured
	for _, object := range renderedWithPrometheus {
		if !slices.ContainsFunc(rendered, func(o *unstructured.Unstructured) bool {
			return o.GetKind() == object.GetKind() && o.GetName() == object.GetName()
		}) {
			added = append(added, object)
		}
	}
	return added
}

// ofKind returns the objects of a kind among objects, in their order.
func ofKind(objects []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, object := range objects {
		if object.GetKind() == kind {
			found = append(found, object)
		}
	}
	return found
}

// only returns the one object of a kind among objects, failing the spec when there are more
// or none.
func only(objects []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	GinkgoHelper()
	found := ofKind(objects, kind)
	Expect(found).To(HaveLen(1), "objects of kind %s", kind)
	return found[0]
}

// objectNamed returns the first object of a kind and name among objects, failing the spec
// when there is none.
func objectNamed(
	objects []*unstructured.Unstructured, kind, name string,
) *unstructured.Unstructured {
	GinkgoHelper()
	index := slices.IndexFunc(objects, func(o *unstructured.Unstructured) bool {
		return o.GetKind() == kind && o.GetName() == name
	})
	Expect(index).NotTo(BeNumerically("<", 0), "no %s %s", kind, name)
	return objects[index]
}

// serviceMonitor holds the fields of a monitoring.coreos.com/v1 ServiceMonitor the specs
// check.
type serviceMonitor struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector map[string]any       `json:"namespaceSelector,omitempty"`
		Endpoints         []struct {
			Port            string `json:"port"`
			Scheme          string `json:"scheme"`
			Path            string `json:"path"`
			HonorLabels     bool   `json:"honorLabels"`
			BearerTokenFile string `json:"bearerTokenFile"`
			TLSConfig       *struct {
				InsecureSkipVerify bool `json:"insecureSkipVerify"`
			} `json:"tlsConfig"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// toTyped converts a rendered object into its Go type.
func toTyped(object *unstructured.Unstructured, into any) {
	err := runtime.DefaultUnstructuredConverter.FromUnstructured(object.Object, into)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), describe(object))
}

func describe(object *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", object.GetKind(), object.GetNamespace(), object.GetName())
}

func managerDeployment() *appsv1.Deployment {
	deployment := &appsv1.Deployment{}
	toTyped(only(rendered, "Deployment"), deployment)
	return deployment
}

// managerPod is the Deployment's pod template as a Pod of its namespace.
func managerPod() *corev1.Pod {
	deployment := managerDeployment()
	template := deployment.Spec.Template
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      deployment.Name + "-template",
			Namespace: deployment.Namespace,
			Labels:    template.Labels,
		},
		Spec: template.Spec,
	}
}

func allContainers(pod corev1.PodSpec) []corev1.Container {
	return slices.Concat(pod.InitContainers, pod.Containers)
}

func containerNamed(pod corev1.PodSpec, name string) corev1.Container {
	index := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool {
		return c.Name == name
	})
	ExpectWithOffset(1, index).NotTo(BeNumerically("<", 0), "no container %q", name)
	return pod.Containers[index]
}

func containerPortNamed(container corev1.Container, name string) *corev1.ContainerPort {
	for i := range container.Ports {
		if container.Ports[i].Name == name {
			return &container.Ports[i]
		}
	}
	return nil
}

func mountAt(container corev1.Container, path string) *corev1.VolumeMount {
	for i := range container.VolumeMounts {
		if container.VolumeMounts[i].MountPath == path {
			return &container.VolumeMounts[i]
		}
	}
	return nil
}

func volumeNamed(pod corev1.PodSpec, name string) corev1.Volume {
	index := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	ExpectWithOffset(1, index).NotTo(BeNumerically("<", 0), "no volume %q", name)
	return pod.Volumes[index]
}

// projectedFiles maps each file path of a projected volume to the source that writes it.
// A source that writes several files appears under each of them.
func projectedFiles(volume *corev1.ProjectedVolumeSource) map[string]corev1.VolumeProjection {
	files := map[string]corev1.VolumeProjection{}
	for _, source := range volume.Sources {
		switch {
		case source.ServiceAccountToken != nil:
			files[source.ServiceAccountToken.Path] = source
		case source.ConfigMap != nil:
			for _, item := range source.ConfigMap.Items {
				files[item.Path] = source
			}
		case source.DownwardAPI != nil:
			for _, item := range source.DownwardAPI.Items {
				files[item.Path] = source
			}
		default:
			files[fmt.Sprintf("unexpected source %d", len(files))] = source
		}
	}
	return files
}

// readableByAnyUserWritableByNone holds for a file mode that lets a non-root user read a
// file the kubelet writes as root, and lets nobody but root change it.
func readableByAnyUserWritableByNone(mode int32) bool {
	return mode&0o004 != 0 && mode&0o022 == 0
}

// imageUser returns the UID and GID of the Dockerfile's last USER instruction, the user the
// image runs as.
func imageUser() (uid, gid int64) {
	dockerfile, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())

	var user string
	for line := range strings.Lines(string(dockerfile)) {
		if fields := strings.Fields(line); len(fields) == 2 && strings.EqualFold(fields[0], "USER") {
			user = fields[1]
		}
	}
	uidText, gidText, found := strings.Cut(user, ":")
	ExpectWithOffset(1, found).To(BeTrue(), "the Dockerfile's USER %q names no group", user)

	uid, err = strconv.ParseInt(uidText, 10, 64)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "the Dockerfile's USER is not numeric")
	gid, err = strconv.ParseInt(gidText, 10, 64)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "the Dockerfile's USER is not numeric")
	return uid, gid
}

// listeningPorts returns the TCP ports the manager serves, as "TCP/<port>", from its
// --health-probe-bind-address and --metrics-bind-address arguments or their defaults; "0"
// turns an endpoint off.
func listeningPorts(manager corev1.Container) []string {
	addresses := map[string]string{
		"--health-probe-bind-address": defaultProbeAddress,
		"--metrics-bind-address":      defaultMetricsAddress,
	}
	args := slices.Concat(manager.Command, manager.Args)
	for i, arg := range args {
		name, value, hasValue := strings.Cut(arg, "=")
		if _, known := addresses[name]; !known {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		addresses[name] = value
	}

	var ports []string
	for _, address := range addresses {
		if address == "0" {
			continue
		}
		_, port, err := net.SplitHostPort(address)
		ExpectWithOffset(1, err).NotTo(HaveOccurred(), "listen address %q", address)
		ports = append(ports, "TCP/"+port)
	}
	return ports
}

// metricsSecure reports whether the manager's arguments leave --metrics-secure at its
// default, true, or set it true.
func metricsSecure(manager corev1.Container) bool {
	secure := true
	for _, arg := range slices.Concat(manager.Command, manager.Args) {
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name != "metrics-secure" {
			continue
		}
		if !hasValue {
			secure = true
			continue
		}
		parsed, err := strconv.ParseBool(value)
		ExpectWithOffset(1, err).NotTo(HaveOccurred(), "argument %q", arg)
		secure = parsed
	}
	return secure
}

// portKeys returns NetworkPolicy ports as "<protocol>/<number>". Named ports and ranges fail
// the spec: the policy states its numbers.
func portKeys(ports []networkingv1.NetworkPolicyPort) []string {
	var keys []string
	for _, port := range ports {
		ExpectWithOffset(1, port.Port).NotTo(BeNil(), "a port without a number opens them all")
		ExpectWithOffset(1, port.Port.Type).To(Equal(intstr.Int), "named port %v", port.Port)
		ExpectWithOffset(1, port.EndPort).To(BeNil(), "port range from %v", port.Port)

		protocol := ptr.Deref(port.Protocol, corev1.ProtocolTCP)
		keys = append(keys, fmt.Sprintf("%s/%d", protocol, port.Port.IntVal))
	}
	return keys
}

// distinct returns values sorted, each once.
func distinct(values []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(values)))
}

// expectSelectsPodsOf expects the NetworkPolicy's pod selector to select the Deployment's
// pods, and not to be empty, which would select every pod of the namespace.
func expectSelectsPodsOf(policy *networkingv1.NetworkPolicy, deployment *appsv1.Deployment) {
	GinkgoHelper()
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	Expect(err).NotTo(HaveOccurred())
	Expect(selector.Empty()).To(BeFalse(), "an empty selector selects every pod")
	Expect(selector.Matches(labels.Set(deployment.Spec.Template.Labels))).To(BeTrue())
}

// expectIngressOnlyTo expects the NetworkPolicy to let in exactly the ports the manager
// listens on, each ingress rule naming its ports.
func expectIngressOnlyTo(policy *networkingv1.NetworkPolicy, manager corev1.Container) {
	GinkgoHelper()
	var allowed []string
	for _, rule := range policy.Spec.Ingress {
		Expect(rule.Ports).NotTo(BeEmpty(), "an ingress rule without ports opens all")
		allowed = append(allowed, portKeys(rule.Ports)...)
	}
	Expect(distinct(allowed)).To(ConsistOf(listeningPorts(manager)))
}

// policyRules returns the rules of the rendered objects of the given kinds, keyed by
// "<kind> <name>".
func policyRules(kinds ...string) map[string][]rbacv1.PolicyRule {
	rules := map[string][]rbacv1.PolicyRule{}
	for _, kind := range kinds {
		for _, object := range ofKind(rendered, kind) {
			var role struct {
				Rules []rbacv1.PolicyRule `json:"rules"`
			}
			toTyped(object, &role)
			rules[kind+" "+object.GetName()] = role.Rules
		}
	}
	return rules
}

// wildcards lists the apiGroups, resources, nonResourceURLs and verbs of a rule that contain
// a "*", as
// "<field>: <value>".
func wildcards(rule rbacv1.PolicyRule) []string {
	var found []string
	for _, field := range []struct {
		name   string
		values []string
	}{
		{"apiGroups", rule.APIGroups},
		{"resources", rule.Resources},
		{"nonResourceURLs", rule.NonResourceURLs},
		{"verbs", rule.Verbs},
	} {
		for _, value := range field.values {
			if strings.Contains(value, "*") {
				found = append(found, field.name+": "+value)
			}
		}
	}
	return found
}

// secretWriteVerbs are the verbs that create, change or remove Secrets.
var secretWriteVerbs = []string{"create", "update", "patch", "delete", "deletecollection", "*"}

// secretWrites lists the verbs of a rule that write core Secrets, directly or through a
// wildcard group or resource.
func secretWrites(rule rbacv1.PolicyRule) []string {
	coreGroup := slices.Contains(rule.APIGroups, "") || slices.Contains(rule.APIGroups, "*")
	secrets := slices.Contains(rule.Resources, "secrets") || slices.Contains(rule.Resources, "*")
	if !coreGroup || !secrets {
		return nil
	}

	var writes []string
	for _, verb := range rule.Verbs {
		if slices.Contains(secretWriteVerbs, verb) {
			writes = append(writes, verb)
		}
	}
	return writes
}

func rule(apiGroups, resources []string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: apiGroups, Resources: resources, Verbs: verbs}
}

// readmeSection returns the text of the README's "### <title>" section, up to the next
// heading of its level or above.
func readmeSection(title string) string {
	GinkgoHelper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	Expect(err).NotTo(HaveOccurred())
	_, section, found := strings.Cut(string(readme), "\n### "+title+"\n")
	Expect(found).To(BeTrue(), "the README has no section %s", title)
	for _, heading := range []string{"\n## ", "\n### "} {
		if end := strings.Index(section, heading); end >= 0 {
			section = section[:end]
		}
	}
	return section
}
