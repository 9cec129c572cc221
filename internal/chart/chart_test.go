package chart

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	release   = "tokens"
	namespace = "ops"
	// fullname is the chart's resource name prefix for release "tokens".
	fullname = "tokens-connect-token-operator"
)

var (
	root     = filepath.Join("..", "..")
	chartDir = filepath.Join(root, "dist", "chart")
)

// values is a Helm values document, written to a file and passed with -f.
type values = map[string]any

// manifest is one rendered object: its kind and name, and the YAML to decode it from.
type manifest struct {
	Kind      string
	Name      string
	Namespace string
	raw       []byte
}

type rendered []manifest

func (r rendered) ofKind(kind string) []manifest {
	var out []manifest
	for _, m := range r {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

func (r rendered) find(kind, ns, name string) (manifest, bool) {
	for _, m := range r {
		if m.Kind == kind && m.Namespace == ns && m.Name == name {
			return m, true
		}
	}
	return manifest{}, false
}

func (r rendered) get(t *testing.T, kind, ns, name string) manifest {
	t.Helper()
	m, ok := r.find(kind, ns, name)
	if !ok {
		t.Fatalf("no %s %s/%s rendered; have %v", kind, ns, name, r.names())
	}
	return m
}

func (r rendered) names() []string {
	out := make([]string, 0, len(r))
	for _, m := range r {
		out = append(out, m.Kind+" "+m.Namespace+"/"+m.Name)
	}
	return out
}

// decode strictly unmarshals a manifest, so misspelled or misplaced fields fail.
func decode[T any](t *testing.T, m manifest) *T {
	t.Helper()
	out := new(T)
	if err := yaml.UnmarshalStrict(m.raw, out); err != nil {
		t.Fatalf("decoding %s %s/%s: %v\n%s", m.Kind, m.Namespace, m.Name, err, m.raw)
	}
	return out
}

// splitYAML parses a multi-document YAML stream into manifests, skipping empty documents.
func splitYAML(t *testing.T, data []byte) rendered {
	t.Helper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out rendered
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("splitting YAML: %v", err)
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("parsing a rendered document: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue // only comments or whitespace
		}
		out = append(out, manifest{Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, raw: doc})
	}
}

// helmBinary returns the helm CLI to test with: $HELM, or bin/helm built by hack/helm/build.sh.
// Without it the test skips, except under CI, where it fails.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join(root, "bin", "helm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("helm is missing at %s and CI is set: build it first with hack/helm/build.sh", p)
		}
		t.Skipf("helm is missing at %s: build it with hack/helm/build.sh (or set HELM) to test the chart; under CI this test fails instead", p)
	}
	return p
}

// runHelm runs helm with its cache, config and data directories in a temporary directory.
func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// template runs helm template for release "tokens" in namespace "ops" with the given values.
func template(t *testing.T, v values, extra ...string) (string, string, error) {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir(): its name follows the test's, and helm splits --values on commas.
	dir, err := os.MkdirTemp("", "chart-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"template", release, chartDir, "--namespace", namespace, "--values", file}, extra...)
	return runHelm(t, args...)
}

// render renders the chart and fails the test when helm fails.
func render(t *testing.T, v values, extra ...string) rendered {
	t.Helper()
	out, errOut, err := template(t, v, extra...)
	if err != nil {
		t.Fatalf("helm template failed: %v\n%s", err, errOut)
	}
	return splitYAML(t, []byte(out))
}

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{root}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func exists(parts ...string) bool {
	_, err := os.Stat(filepath.Join(append([]string{root}, parts...)...))
	return err == nil
}

// configManagerRules are the generated manager rules, config/rbac/role.yaml.
func configManagerRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(readFile(t, "config", "rbac", "role.yaml"), &role); err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// configDeployment is the hardened Deployment of config/manager/manager.yaml.
func configDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	docs := splitYAML(t, readFile(t, "config", "manager", "manager.yaml"))
	deps := docs.ofKind("Deployment")
	if len(deps) != 1 {
		t.Fatalf("config/manager/manager.yaml: want one Deployment, have %v", docs.names())
	}
	return decode[appsv1.Deployment](t, deps[0])
}

func manager(t *testing.T, r rendered) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	dep := decode[appsv1.Deployment](t, r.get(t, "Deployment", namespace, fullname))
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return dep, c
		}
	}
	t.Fatalf("the Deployment has no manager container")
	return nil, corev1.Container{}
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// managerFlags lists the flags cmd/main.go defines (controller-runtime's --kubeconfig and the
// --zap-* flags excepted), read from its source.
func managerFlags(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`flag\.\w+Var\(&[^,]+,\s*"([a-z0-9-]+)"`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(readFile(t, "cmd", "main.go")), -1) {
		out = append(out, m[1])
	}
	if len(out) < 10 {
		t.Fatalf("found only %d flags in cmd/main.go: %v; has the flag style changed?", len(out), out)
	}
	return out
}

func flagName(arg string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
	return name
}

// allFlags sets every manager flag value of the chart to something other than its default.
var allFlags = values{
	"leaderElection":          values{"enabled": true, "namespace": "leases"},
	"healthProbeBindAddress":  ":9091",
	"metrics":                 values{"bindAddress": ":9443", "secure": false, "enableHTTP2": true},
	"maxConcurrentReconciles": 8,
	"tokenRequestTimeout":     "30s",
	"tokenRequestsPerSecond":  2.5,
	"tokenRequestBurst":       5,
	"defaultTokenLifetime":    "10m",
	"allowedTokenHosts":       []string{"*.authkit.app", "auth.example.com"},
	"watchNamespaces":         []string{"team-a", "team-b"},
	"watchLabelSelector":      "shard in (a,b)",
	"pprofBindAddress":        "127.0.0.1:6060",
	"kubeApiQPS":              20,
	"kubeApiBurst":            40,
	"logging":                 values{"level": "debug", "encoder": "console", "stacktraceLevel": "panic"},
	"extraArgs":               []string{"--zap-time-encoding=rfc3339"},
}

var allFlagsArgs = []string{
	"--leader-elect",
	"--leader-election-namespace=leases",
	"--health-probe-bind-address=:9091",
	"--metrics-bind-address=:9443",
	"--metrics-secure=false",
	"--enable-http2=true",
	"--max-concurrent-reconciles=8",
	"--token-request-timeout=30s",
	"--token-requests-per-second=2.5",
	"--token-request-burst=5",
	"--default-token-lifetime=10m",
	"--allowed-token-hosts=*.authkit.app,auth.example.com",
	"--watch-namespaces=team-a,team-b",
	"--watch-label-selector=shard in (a,b)",
	"--pprof-bind-address=127.0.0.1:6060",
	"--kube-api-qps=20",
	"--kube-api-burst=40",
	"--zap-log-level=debug",
	"--zap-encoder=console",
	"--zap-stacktrace-level=panic",
	"--zap-time-encoding=rfc3339",
}

// valueSets are rendered by the tests that check every scenario (strict decoding, names).
var valueSets = []struct {
	name   string
	values values
}{
	{"the default values", nil},
	{"rbac.namespaced with two watchNamespaces", values{"rbac": values{"namespaced": true}, "watchNamespaces": []string{"team-a", "team-b"}}},
	{"the ServiceMonitor, PrometheusRule, NetworkPolicy and dashboards enabled", values{
		"metrics":       values{"serviceMonitor": values{"enabled": true}},
		"prometheus":    values{"rules": values{"enabled": true}},
		"networkPolicy": values{"enabled": true},
		"grafana":       values{"dashboard": values{"enabled": true}},
	}},
	{"two replicas", values{"replicas": 2}},
	{"every manager flag set", allFlags},
	{"metrics, leader election, user roles and the ServiceAccount turned off", values{
		"metrics":        values{"enabled": false},
		"leaderElection": values{"enabled": false},
		"rbac":           values{"userRoles": false},
		"serviceAccount": values{"create": false, "name": "existing"},
	}},
}

func TestChartCopiesAreIdenticalToConfig(t *testing.T) {
	cases := []struct {
		name, chartFile, configFile string
		// optional: the config file may not exist yet; then neither may the copy.
		optional bool
	}{
		{"the chart's CRD is a byte-identical copy of the generated CRD",
			"dist/chart/crds/connect.tokenop.dev_connecttokens.yaml", "config/crd/bases/connect.tokenop.dev_connecttokens.yaml", false},
		{"the chart's manager rules file is a byte-identical copy of the generated ClusterRole",
			"dist/chart/files/manager-role.yaml", "config/rbac/role.yaml", false},
		{"the chart's alert rules are a byte-identical copy of config/prometheus/rules",
			"dist/chart/files/connecttoken.rules.yaml", "config/prometheus/rules/connecttoken.rules.yaml", true},
		{"the chart's Grafana dashboard is a byte-identical copy of config/grafana",
			"dist/chart/files/dashboards/connect-token-operator.json", "config/grafana/connect-token-operator.json", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			if tc.optional && !exists(tc.configFile) {
				g.Expect(exists(tc.chartFile)).To(BeFalse(), "%s exists but %s does not", tc.chartFile, tc.configFile)
				t.Skipf("%s does not exist (yet)", tc.configFile)
			}
			want := readFile(t, tc.configFile)
			got := readFile(t, tc.chartFile)
			g.Expect(string(got)).To(Equal(string(want)), "%s is stale: cp %s %s", tc.chartFile, tc.configFile, tc.chartFile)
		})
	}
	t.Run("the CRD directory of the chart holds exactly the generated CRDs", func(t *testing.T) {
		g := NewWithT(t)
		list := func(dir string) []string {
			entries, err := os.ReadDir(filepath.Join(root, dir))
			g.Expect(err).NotTo(HaveOccurred())
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return names
		}
		g.Expect(list("dist/chart/crds")).To(Equal(list("config/crd/bases")))
	})
}

func TestHelmLint(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"the chart lints cleanly", []string{"lint", chartDir}},
		{"the chart lints cleanly with --strict", []string{"lint", "--strict", chartDir}},
		{"the chart lints cleanly with --strict and rbac.namespaced",
			[]string{"lint", "--strict", chartDir, "--set", "rbac.namespaced=true", "--set", "watchNamespaces={team-a,team-b}"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runHelm(t, tc.args...)
			if err != nil {
				t.Fatalf("helm %s: %v\n%s%s", strings.Join(tc.args, " "), err, out, errOut)
			}
			NewWithT(t).Expect(out).To(ContainSubstring("0 chart(s) failed"))
		})
	}
}

func TestRenderedObjectsAreValid(t *testing.T) {
	decoders := map[string]func(*testing.T, manifest){
		"ServiceAccount":     func(t *testing.T, m manifest) { decode[corev1.ServiceAccount](t, m) },
		"Service":            func(t *testing.T, m manifest) { decode[corev1.Service](t, m) },
		"ConfigMap":          func(t *testing.T, m manifest) { decode[corev1.ConfigMap](t, m) },
		"Deployment":         func(t *testing.T, m manifest) { decode[appsv1.Deployment](t, m) },
		"ClusterRole":        func(t *testing.T, m manifest) { decode[rbacv1.ClusterRole](t, m) },
		"ClusterRoleBinding": func(t *testing.T, m manifest) { decode[rbacv1.ClusterRoleBinding](t, m) },
		"Role":               func(t *testing.T, m manifest) { decode[rbacv1.Role](t, m) },
		"RoleBinding":        func(t *testing.T, m manifest) { decode[rbacv1.RoleBinding](t, m) },
		"NetworkPolicy":      func(t *testing.T, m manifest) { decode[networkingv1.NetworkPolicy](t, m) },
		// Prometheus Operator kinds: no Go types in k8s.io/api; checked by TestOptionalResources.
		"ServiceMonitor": func(*testing.T, manifest) {},
		"PrometheusRule": func(*testing.T, manifest) {},
	}
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true}
	for _, vs := range valueSets {
		t.Run("with "+vs.name+" every object decodes strictly and is named and placed", func(t *testing.T) {
			g := NewWithT(t)
			r := render(t, vs.values)
			g.Expect(r.ofKind("Deployment")).To(HaveLen(1))
			seen := map[string]bool{}
			for _, m := range r {
				dec, ok := decoders[m.Kind]
				g.Expect(ok).To(BeTrue(), "unexpected kind %s", m.Kind)
				dec(t, m)
				g.Expect(m.Name).To(HavePrefix(fullname), "%s %s", m.Kind, m.Name)
				if clusterScoped[m.Kind] {
					g.Expect(m.Namespace).To(BeEmpty(), "%s %s", m.Kind, m.Name)
				} else {
					g.Expect(m.Namespace).NotTo(BeEmpty(), "%s %s has no namespace", m.Kind, m.Name)
				}
				key := m.Kind + " " + m.Namespace + "/" + m.Name
				g.Expect(seen[key]).To(BeFalse(), "%s rendered twice", key)
				seen[key] = true
			}
		})
	}
}

func TestManagerRBAC(t *testing.T) {
	want := configManagerRules(t)
	namespaced := values{"rbac": values{"namespaced": true}, "watchNamespaces": []string{"team-a", "team-b"}}
	cases := []struct {
		name   string
		values values
		// roleNamespaces are the namespaces that get a Role with the manager rules; none means a ClusterRole.
		roleNamespaces []string
	}{
		{"by default a ClusterRole grants exactly the generated rules to the manager's ServiceAccount", nil, nil},
		{"watchNamespaces alone keeps the ClusterRole", values{"watchNamespaces": []string{"team-a"}}, nil},
		{"rbac.namespaced grants the generated rules with a Role in each watched namespace and no ClusterRole does",
			namespaced, []string{"team-a", "team-b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := render(t, tc.values)
			subject := rbacv1.Subject{Kind: "ServiceAccount", Name: fullname, Namespace: namespace}
			_, managerRoleIsCluster := r.find("ClusterRole", "", fullname+"-manager")
			_, managerBindingIsCluster := r.find("ClusterRoleBinding", "", fullname+"-manager")
			if len(tc.roleNamespaces) == 0 {
				role := decode[rbacv1.ClusterRole](t, r.get(t, "ClusterRole", "", fullname+"-manager"))
				g.Expect(role.Rules).To(Equal(want))
				binding := decode[rbacv1.ClusterRoleBinding](t, r.get(t, "ClusterRoleBinding", "", fullname+"-manager"))
				g.Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}))
				g.Expect(binding.Subjects).To(ConsistOf(subject))
				for _, m := range r.ofKind("Role") {
					g.Expect(decode[rbacv1.Role](t, m).Rules).NotTo(Equal(want), "Role %s/%s", m.Namespace, m.Name)
				}
				return
			}
			g.Expect(managerRoleIsCluster).To(BeFalse(), "no ClusterRole for the manager rules")
			g.Expect(managerBindingIsCluster).To(BeFalse(), "no ClusterRoleBinding for the manager rules")
			for _, m := range r.ofKind("ClusterRole") {
				for _, rule := range decode[rbacv1.ClusterRole](t, m).Rules {
					g.Expect(rule.Resources).NotTo(ContainElement("secrets"), "ClusterRole %s grants Secrets", m.Name)
				}
			}
			var got []string
			for _, m := range r.ofKind("Role") {
				role := decode[rbacv1.Role](t, m)
				if !equalRules(role.Rules, want) {
					continue
				}
				got = append(got, role.Namespace)
				g.Expect(role.Name).To(Equal(fullname + "-manager"))
				binding := decode[rbacv1.RoleBinding](t, r.get(t, "RoleBinding", role.Namespace, role.Name))
				g.Expect(binding.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}))
				g.Expect(binding.Subjects).To(ConsistOf(subject))
			}
			g.Expect(got).To(ConsistOf(tc.roleNamespaces))
			_, c := manager(t, r)
			g.Expect(c.Args).To(ContainElement("--watch-namespaces=" + strings.Join(tc.roleNamespaces, ",")))
		})
	}
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	return bytes.Equal(ya, yb)
}

func TestSupportingRBAC(t *testing.T) {
	cases := []struct {
		name   string
		values values
		// roles maps a Role or ClusterRole name suffix to whether it is rendered.
		roles map[string]bool
	}{
		{"by default leader election, metrics authentication, the metrics reader and the user roles are granted", nil, map[string]bool{
			"Role -leader-election": true, "ClusterRole -metrics-auth": true, "ClusterRole -metrics-reader": true,
			"ClusterRole -connecttoken-editor": true, "ClusterRole -connecttoken-viewer": true,
		}},
		{"rbac.namespaced keeps the cluster-scoped metrics authentication", values{"rbac": values{"namespaced": true}, "watchNamespaces": []string{"a"}},
			map[string]bool{"Role -leader-election": true, "ClusterRole -metrics-auth": true}},
		{"without leader election there is no leader-election Role", values{"leaderElection": values{"enabled": false}},
			map[string]bool{"Role -leader-election": false}},
		{"insecure metrics need no metrics authentication", values{"metrics": values{"secure": false}},
			map[string]bool{"ClusterRole -metrics-auth": false, "ClusterRole -metrics-reader": false}},
		{"rbac.userRoles=false drops the user roles", values{"rbac": values{"userRoles": false}},
			map[string]bool{"ClusterRole -connecttoken-editor": false, "ClusterRole -connecttoken-viewer": false}},
		{"rbac.create=false renders no RBAC at all", values{"rbac": values{"create": false}},
			map[string]bool{"Role -leader-election": false, "ClusterRole -manager": false, "ClusterRole -metrics-auth": false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := render(t, tc.values)
			for key, want := range tc.roles {
				kind, suffix, _ := strings.Cut(key, " ")
				ns := ""
				bindingKind := "ClusterRoleBinding"
				if kind == "Role" {
					ns, bindingKind = namespace, "RoleBinding"
				}
				_, ok := r.find(kind, ns, fullname+suffix)
				g.Expect(ok).To(Equal(want), "%s %s", kind, fullname+suffix)
				if !want || strings.Contains(suffix, "connecttoken-") || strings.Contains(suffix, "reader") {
					continue // user and reader roles are bound by the cluster admin
				}
				binding := r.get(t, bindingKind, ns, fullname+suffix)
				var b rbacv1.RoleBinding // same shape as a ClusterRoleBinding
				g.Expect(yaml.Unmarshal(binding.raw, &b)).To(Succeed())
				g.Expect(b.RoleRef.Kind).To(Equal(kind))
				g.Expect(b.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: fullname, Namespace: namespace}))
			}
		})
	}
	t.Run("the leader-election Role follows leaderElection.namespace", func(t *testing.T) {
		r := render(t, values{"leaderElection": values{"namespace": "leases"}})
		r.get(t, "Role", "leases", fullname+"-leader-election")
		r.get(t, "RoleBinding", "leases", fullname+"-leader-election")
	})
}

func TestDeploymentIsHardenedLikeConfig(t *testing.T) {
	g := NewWithT(t)
	cfg := configDeployment(t)
	cfgPod := cfg.Spec.Template.Spec
	cfgContainer := cfgPod.Containers[0]
	dep, c := manager(t, render(t, nil))
	pod := dep.Spec.Template.Spec

	g.Expect(pod.SecurityContext).To(Equal(cfgPod.SecurityContext), "pod securityContext")
	g.Expect(c.SecurityContext).To(Equal(cfgContainer.SecurityContext), "container securityContext")
	g.Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
	g.Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(pod.AutomountServiceAccountToken).To(Equal(cfgPod.AutomountServiceAccountToken))
	g.Expect(pod.TerminationGracePeriodSeconds).To(Equal(cfgPod.TerminationGracePeriodSeconds))
	g.Expect(pod.ServiceAccountName).To(Equal(fullname))
	g.Expect(c.Command).To(Equal(cfgContainer.Command))
	g.Expect(c.Resources).To(Equal(cfgContainer.Resources))
	g.Expect(c.Image).To(Equal("ghcr.io/tokenop/connect-token-operator:v0.1.0"))
	g.Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue("kubectl.kubernetes.io/default-container", "manager"))
	g.Expect(*dep.Spec.Replicas).To(Equal(*cfg.Spec.Replicas))
	for _, arg := range cfgContainer.Args {
		g.Expect(c.Args).To(ContainElement(arg), "config/manager passes %s", arg)
	}

	// Probes: the same paths, port and timing as config/manager, on the port named "probes".
	for _, p := range []struct{ name, path string }{{"liveness", "/healthz"}, {"readiness", "/readyz"}} {
		got, want := c.LivenessProbe, cfgContainer.LivenessProbe
		if p.name == "readiness" {
			got, want = c.ReadinessProbe, cfgContainer.ReadinessProbe
		}
		g.Expect(got).NotTo(BeNil(), p.name)
		g.Expect(got.HTTPGet.Path).To(Equal(p.path), p.name)
		g.Expect(got.HTTPGet.Path).To(Equal(want.HTTPGet.Path), p.name)
		g.Expect(got.HTTPGet.Port.StrVal).To(Equal("probes"), p.name)
		g.Expect(containerPort(c, "probes")).To(Equal(want.HTTPGet.Port.IntVal), p.name)
		g.Expect(got.InitialDelaySeconds).To(Equal(want.InitialDelaySeconds), p.name)
		g.Expect(got.PeriodSeconds).To(Equal(want.PeriodSeconds), p.name)
	}
	g.Expect(c.Ports).To(ConsistOf(
		corev1.ContainerPort{Name: "https", ContainerPort: 8443, Protocol: corev1.ProtocolTCP},
		corev1.ContainerPort{Name: "probes", ContainerPort: 8081, Protocol: corev1.ProtocolTCP},
	))
}

func TestDeploymentArgs(t *testing.T) {
	defaults := []string{
		"--leader-elect",
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8443",
		"--metrics-secure=true",
		"--enable-http2=false",
		"--max-concurrent-reconciles=4",
		"--token-request-timeout=10s",
		"--token-requests-per-second=10",
		"--token-request-burst=20",
		"--default-token-lifetime=5m",
		"--kube-api-qps=50",
		"--kube-api-burst=100",
		"--zap-log-level=info",
		"--zap-encoder=json",
		"--zap-stacktrace-level=error",
	}
	without := func(args []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return slices.Contains(drop, a) })
	}
	cases := []struct {
		name   string
		values values
		want   []string
	}{
		{"the defaults pass the manager's own defaults explicitly, with leader election on", nil, defaults},
		{"every flag value set becomes its argument", allFlags, allFlagsArgs},
		{"two replicas pass --leader-elect", values{"replicas": 2}, defaults},
		{"leaderElection.enabled=false drops --leader-elect", values{"leaderElection": values{"enabled": false}}, without(defaults, "--leader-elect")},
		{"metrics.enabled=false turns the metrics endpoint off", values{"metrics": values{"enabled": false}},
			append(without(defaults, "--metrics-bind-address=:8443"), "--metrics-bind-address=0")},
		{"a single watched namespace and host are passed alone", values{"watchNamespaces": []string{"team-a"}, "allowedTokenHosts": []string{"acme.authkit.app"}},
			append(slices.Clone(defaults), "--watch-namespaces=team-a", "--allowed-token-hosts=acme.authkit.app")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			dep, c := manager(t, render(t, tc.values))
			g.Expect(c.Args).To(ConsistOf(tc.want))
			seen := map[string]bool{}
			for _, a := range c.Args {
				g.Expect(seen[flagName(a)]).To(BeFalse(), "flag %s passed twice", flagName(a))
				seen[flagName(a)] = true
			}
			if r, ok := tc.values["replicas"]; ok {
				g.Expect(*dep.Spec.Replicas).To(BeEquivalentTo(r))
			}
		})
	}
	t.Run("every flag of cmd/main.go can be set from values", func(t *testing.T) {
		g := NewWithT(t)
		passed := map[string]bool{}
		for _, a := range allFlagsArgs {
			passed[flagName(a)] = true
		}
		for _, f := range managerFlags(t) {
			g.Expect(passed).To(HaveKey(f), "cmd/main.go defines --%s but the chart cannot pass it", f)
		}
	})
	t.Run("the ports follow the bind addresses", func(t *testing.T) {
		g := NewWithT(t)
		r := render(t, allFlags)
		_, c := manager(t, r)
		g.Expect(c.Ports).To(ConsistOf(
			corev1.ContainerPort{Name: "http", ContainerPort: 9443, Protocol: corev1.ProtocolTCP},
			corev1.ContainerPort{Name: "probes", ContainerPort: 9091, Protocol: corev1.ProtocolTCP},
		))
		svc := decode[corev1.Service](t, r.get(t, "Service", namespace, fullname+"-metrics"))
		g.Expect(svc.Spec.Ports).To(HaveLen(1))
		g.Expect(svc.Spec.Ports[0].Name).To(Equal("http"))
		g.Expect(svc.Spec.Ports[0].TargetPort.StrVal).To(Equal("http"))
	})
}

func TestDeploymentPodValues(t *testing.T) {
	g := NewWithT(t)
	tolerations := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ops", Effect: corev1.TaintEffectNoSchedule}}
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}}},
		}}},
	}}
	dep, c := manager(t, render(t, values{
		"image":             values{"repository": "registry.example/cto", "tag": "v9.9.9", "pullPolicy": "Always"},
		"imagePullSecrets":  []values{{"name": "regcred"}},
		"replicas":          3,
		"resources":         values{"requests": values{"cpu": "50m", "memory": "128Mi"}},
		"nodeSelector":      values{"kubernetes.io/os": "linux"},
		"tolerations":       tolerations,
		"affinity":          affinity,
		"podAnnotations":    values{"example.com/scrape": "false"},
		"podLabels":         values{"team": "platform", "app.kubernetes.io/name": "overridden"},
		"priorityClassName": "system-cluster-critical",
	}))
	pod := dep.Spec.Template.Spec
	g.Expect(c.Image).To(Equal("registry.example/cto:v9.9.9"))
	g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullAlways))
	g.Expect(pod.ImagePullSecrets).To(ConsistOf(corev1.LocalObjectReference{Name: "regcred"}))
	g.Expect(*dep.Spec.Replicas).To(BeEquivalentTo(3))
	g.Expect(c.Args).To(ContainElement("--leader-elect"))
	g.Expect(c.Resources.Requests.Cpu().String()).To(Equal("50m"))
	g.Expect(c.Resources.Requests.Memory().String()).To(Equal("128Mi"))
	g.Expect(c.Resources.Limits.Cpu().String()).To(Equal("500m"), "values merge: the default limits stay")
	g.Expect(pod.NodeSelector).To(Equal(map[string]string{"kubernetes.io/os": "linux"}))
	g.Expect(pod.Tolerations).To(Equal(tolerations))
	g.Expect(pod.Affinity).To(Equal(affinity))
	g.Expect(pod.PriorityClassName).To(Equal("system-cluster-critical"))
	g.Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue("example.com/scrape", "false"))
	g.Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue("kubectl.kubernetes.io/default-container", "manager"))
	g.Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue("team", "platform"))
	selector, err := labels.ValidatedSelectorFromSet(dep.Spec.Selector.MatchLabels)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(selector.Matches(labels.Set(dep.Spec.Template.Labels))).To(BeTrue(), "podLabels must not break the selector")

	_, c = manager(t, render(t, values{"image": values{"digest": "sha256:" + strings.Repeat("ab", 32)}}))
	g.Expect(c.Image).To(Equal("ghcr.io/tokenop/connect-token-operator@sha256:" + strings.Repeat("ab", 32)))
}

// rulesGroups returns the alert groups of files/connecttoken.rules.yaml (a Prometheus rule file
// or a PrometheusRule), or nil while the file does not exist.
func rulesGroups(t *testing.T) []any {
	t.Helper()
	if !exists("dist", "chart", "files", "connecttoken.rules.yaml") {
		return nil
	}
	var doc struct {
		Groups []any `json:"groups"`
		Spec   struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, "dist", "chart", "files", "connecttoken.rules.yaml"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Groups) > 0 {
		return doc.Groups
	}
	return doc.Spec.Groups
}

func TestOptionalResources(t *testing.T) {
	hasRules := len(rulesGroups(t)) > 0
	dashboards, err := filepath.Glob(filepath.Join(chartDir, "files", "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	hasDashboards := len(dashboards) > 0
	all := values{
		"metrics":       values{"serviceMonitor": values{"enabled": true}},
		"prometheus":    values{"rules": values{"enabled": true}},
		"networkPolicy": values{"enabled": true},
		"grafana":       values{"dashboard": values{"enabled": true}},
	}
	cases := []struct {
		name   string
		values values
		want   map[string]bool
	}{
		{"the defaults render the metrics Service and none of the optional resources", nil,
			map[string]bool{"Service": true, "ServiceMonitor": false, "PrometheusRule": false, "NetworkPolicy": false, "ConfigMap": false}},
		{"metrics.serviceMonitor.enabled renders a ServiceMonitor", values{"metrics": values{"serviceMonitor": values{"enabled": true}}},
			map[string]bool{"ServiceMonitor": true, "PrometheusRule": false, "NetworkPolicy": false}},
		{"networkPolicy.enabled renders a NetworkPolicy", values{"networkPolicy": values{"enabled": true}},
			map[string]bool{"ServiceMonitor": false, "NetworkPolicy": true}},
		{"prometheus.rules.enabled renders a PrometheusRule when the chart has alert rules", values{"prometheus": values{"rules": values{"enabled": true}}},
			map[string]bool{"PrometheusRule": hasRules, "ServiceMonitor": false}},
		{"grafana.dashboard.enabled renders a ConfigMap when the chart has dashboards", values{"grafana": values{"dashboard": values{"enabled": true}}},
			map[string]bool{"ConfigMap": hasDashboards}},
		{"everything enabled renders every optional resource the chart has files for", all,
			map[string]bool{"Service": true, "ServiceMonitor": true, "PrometheusRule": hasRules, "NetworkPolicy": true, "ConfigMap": hasDashboards}},
		{"metrics.enabled=false renders neither the metrics Service nor a ServiceMonitor",
			values{"metrics": values{"enabled": false, "serviceMonitor": values{"enabled": true}}},
			map[string]bool{"Service": false, "ServiceMonitor": false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := render(t, tc.values)
			for kind, want := range tc.want {
				g.Expect(r.ofKind(kind)).To(HaveLen(map[bool]int{true: 1, false: 0}[want]), "%s", kind)
			}
		})
	}

	t.Run("the ServiceMonitor scrapes the metrics Service's port over HTTPS with the scraper's token, honoring labels", func(t *testing.T) {
		g := NewWithT(t)
		r := render(t, all)
		svc := decode[corev1.Service](t, r.get(t, "Service", namespace, fullname+"-metrics"))
		var sm struct {
			Spec struct {
				Endpoints []struct {
					Port, Scheme, Path, BearerTokenFile string
					HonorLabels                         bool
					TLSConfig                           map[string]any `json:"tlsConfig"`
				} `json:"endpoints"`
				NamespaceSelector struct {
					MatchNames []string `json:"matchNames"`
				} `json:"namespaceSelector"`
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
			} `json:"spec"`
		}
		g.Expect(yaml.Unmarshal(r.get(t, "ServiceMonitor", namespace, fullname+"-metrics").raw, &sm)).To(Succeed())
		g.Expect(sm.Spec.Endpoints).To(HaveLen(1))
		ep := sm.Spec.Endpoints[0]
		g.Expect(ep.Port).To(Equal(svc.Spec.Ports[0].Name))
		g.Expect(ep.Scheme).To(Equal("https"))
		g.Expect(ep.Path).To(Equal("/metrics"))
		g.Expect(ep.BearerTokenFile).NotTo(BeEmpty())
		g.Expect(ep.HonorLabels).To(BeTrue(), "the metrics' namespace label is the ConnectToken's, which the alerts aggregate by")
		g.Expect(ep.TLSConfig).To(HaveKeyWithValue("insecureSkipVerify", false))
		g.Expect(sm.Spec.NamespaceSelector.MatchNames).To(ConsistOf(namespace))
		g.Expect(labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels))).To(BeTrue())
		dep, _ := manager(t, r)
		g.Expect(labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels))).To(BeTrue())
	})

	t.Run("the NetworkPolicy restricts the manager pods' egress to DNS, the token endpoints and the API server", func(t *testing.T) {
		g := NewWithT(t)
		r := render(t, values{"networkPolicy": values{
			"enabled": true, "tokenEndpointCIDRs": []string{"203.0.113.0/24"}, "apiServerCIDRs": []string{"198.51.100.1/32"}, "apiServerPorts": []int{6443},
		}})
		np := decode[networkingv1.NetworkPolicy](t, r.ofKind("NetworkPolicy")[0])
		dep, _ := manager(t, r)
		sel, err := labels.ValidatedSelectorFromSet(np.Spec.PodSelector.MatchLabels)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sel.Matches(labels.Set(dep.Spec.Template.Labels))).To(BeTrue())
		g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeEgress))
		g.Expect(np.Spec.Egress).To(HaveLen(3))
		g.Expect(np.Spec.Egress[1].To[0].IPBlock.CIDR).To(Equal("203.0.113.0/24"))
		g.Expect(np.Spec.Egress[1].Ports[0].Port.IntVal).To(BeEquivalentTo(443))
		g.Expect(np.Spec.Egress[2].To[0].IPBlock.CIDR).To(Equal("198.51.100.1/32"))
		g.Expect(np.Spec.Egress[2].Ports).To(HaveLen(1))
		g.Expect(np.Spec.Egress[2].Ports[0].Port.IntVal).To(BeEquivalentTo(6443))
	})

	t.Run("the dashboard ConfigMap holds each dashboard file verbatim", func(t *testing.T) {
		if !hasDashboards {
			t.Skip("dist/chart/files/dashboards has no dashboard (yet): the ConfigMap renders nothing")
		}
		g := NewWithT(t)
		cm := decode[corev1.ConfigMap](t, render(t, all).get(t, "ConfigMap", namespace, fullname+"-dashboards"))
		g.Expect(cm.Labels).To(HaveKeyWithValue("grafana_dashboard", "1"))
		g.Expect(cm.Data).To(HaveLen(len(dashboards)))
		for _, path := range dashboards {
			want, err := os.ReadFile(path)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cm.Data).To(HaveKeyWithValue(filepath.Base(path), strings.TrimRight(string(want), "\n")))
		}
	})

	t.Run("the PrometheusRule holds the groups of files/connecttoken.rules.yaml", func(t *testing.T) {
		want := rulesGroups(t)
		if len(want) == 0 {
			t.Skip("dist/chart/files/connecttoken.rules.yaml does not exist (yet): the PrometheusRule renders nothing")
		}
		g := NewWithT(t)
		var pr struct {
			Spec struct {
				Groups []any `json:"groups"`
			} `json:"spec"`
		}
		g.Expect(yaml.Unmarshal(render(t, all).get(t, "PrometheusRule", namespace, fullname).raw, &pr)).To(Succeed())
		g.Expect(pr.Spec.Groups).To(Equal(want))
	})
}

func TestInvalidValuesFailWithAClearMessage(t *testing.T) {
	cases := []struct {
		name   string
		values values
		want   string
	}{
		{"rbac.namespaced without watchNamespaces", values{"rbac": values{"namespaced": true}},
			"rbac.namespaced=true needs watchNamespaces"},
		{"two replicas without leader election", values{"replicas": 2, "leaderElection": values{"enabled": false}},
			"replicas > 1 needs leaderElection.enabled=true"},
		{"a misspelled value", values{"watchNamespace": []string{"team-a"}},
			"additional properties 'watchNamespace' not allowed"},
		{"a duration without a unit", values{"tokenRequestTimeout": 10},
			"/tokenRequestTimeout"},
		{"an existing ServiceAccount without its name", values{"serviceAccount": values{"create": false}},
			"serviceAccount.name is required when serviceAccount.create is false"},
		{"a watched namespace that is not a namespace name", values{"watchNamespaces": []string{"Team_A"}},
			"/watchNamespaces/0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, errOut, err := template(t, tc.values)
			g.Expect(err).To(HaveOccurred(), "helm template should fail")
			g.Expect(errOut).To(ContainSubstring(tc.want))
		})
	}
}

func TestCRDsAreInstalledFromCRDsDirectory(t *testing.T) {
	g := NewWithT(t)
	r := render(t, nil, "--include-crds")
	crds := r.ofKind("CustomResourceDefinition")
	g.Expect(crds).To(HaveLen(1))
	g.Expect(crds[0].Name).To(Equal("connecttokens.connect.tokenop.dev"))
	var fromChart, fromConfig map[string]any
	g.Expect(yaml.Unmarshal(crds[0].raw, &fromChart)).To(Succeed())
	g.Expect(yaml.Unmarshal(readFile(t, "config", "crd", "bases", "connect.tokenop.dev_connecttokens.yaml"), &fromConfig)).To(Succeed())
	g.Expect(fromChart).To(Equal(fromConfig))
	g.Expect(render(t, nil).ofKind("CustomResourceDefinition")).To(BeEmpty(), "templates must not carry the CRD")
}
