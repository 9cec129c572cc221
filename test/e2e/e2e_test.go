package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
)

const (
	annotationRequestHash = "connect.tokenop.dev/request-hash"
	labelConnectToken     = "connect.tokenop.dev/connect-token"
)

// The installer is real: CRD established, ServiceAccount present, RBAC as shipped and no more.
// The manager runs as that ServiceAccount for the whole suite, so every scenario proves the RBAC.
func TestInstallerGrantsTheManagerWhatItNeeds(t *testing.T) {
	s := setupSuite(t)
	g := NewWithT(t)
	t.Logf("installer: %s", s.installer)
	k := s.admin()
	k.run(t, "get", "serviceaccount", operatorSA, "-n", operatorNamespace)
	g.Expect(k.run(t, "get", "crd", crdName, "-o", "jsonpath={.status.conditions[?(@.type==\"Established\")].status}")).To(Equal("True"))

	as := "--as=system:serviceaccount:" + operatorNamespace + ":" + operatorSA
	can := func(args ...string) string {
		out, _, _ := k.execFull(t.Context(), "", append([]string{"auth", "can-i", "-A", as}, args...)...)
		return strings.TrimSpace(out)
	}
	for _, args := range [][]string{
		{"watch", "connecttokens.connect.tokenop.dev"},
		{"patch", "connecttokens.connect.tokenop.dev", "--subresource=status"},
		{"list", "secrets"},
		{"patch", "secrets"},
		{"create", "events.events.k8s.io"},
	} {
		g.Expect(can(args...)).To(Equal("yes"), "can-i %s", strings.Join(args, " "))
	}
	for _, args := range [][]string{
		{"delete", "secrets"},                           // the target Secret goes with its owner, by garbage collection
		{"update", "connecttokens.connect.tokenop.dev"}, // the spec is the user's; the manager writes status only
		{"*", "*"},
	} {
		g.Expect(can(args...)).To(Equal("no"), "can-i %s", strings.Join(args, " "))
	}
	s.expectNoForbidden(t)
}

// The README's real-cluster quickstart, command for command (namespace from the kubeconfig
// context), then rotation of the client secret and deletion.
func TestReadmeQuickstart(t *testing.T) {
	s := setupSuite(t)
	g := NewWithT(t)
	s.admin().run(t, "create", "namespace", "payments")
	k := s.inNamespace(t, "payments")
	start := s.clientStats(t, e2eClientID)

	k.dir = t.TempDir() // kubectl apply -f billing-api.yaml, from the directory holding it
	manifest := filepath.Join(k.dir, "billing-api.yaml")
	g.Expect(os.WriteFile(manifest, []byte(fmt.Sprintf(`apiVersion: connect.tokenop.dev/v1alpha1
kind: ConnectToken
metadata:
  name: billing-api
  namespace: payments
spec:
  issuerURL: %s        # token endpoint: <issuerURL>/oauth2/token
  credentialsSecretRef:
    name: billing-m2m-credentials            # keys client_id, client_secret (same namespace)
  scopes: [widgets:read, widgets:write]
  target:
    name: billing-api-token                  # created and kept fresh by the operator
`, s.fakeURL)), 0o600)).To(Succeed())

	k.run(t, "create", "secret", "generic", "billing-m2m-credentials",
		"--from-literal=client_id="+e2eClientID, "--from-literal=client_secret="+e2eClientSecret)
	k.run(t, "apply", "-f", "billing-api.yaml")
	k.run(t, "wait", "connecttoken/billing-api", "--for=condition=Ready", "--timeout=60s")
	issued := s.clientStats(t, e2eClientID)
	g.Expect(issued.Requests - start.Requests).To(Equal(1))
	g.Expect(issued.Issued - start.Issued).To(Equal(1))

	var firstToken, firstHash string
	t.Run("target Secret", func(t *testing.T) {
		g := NewWithT(t)
		out := k.run(t, "get", "secret", "billing-api-token", "-o",
			`jsonpath={.data.access_token}{"\n"}{.data.token_type}{"\n"}{.data.expires_at}{"\n"}{.metadata.annotations.connect\.tokenop\.dev/request-hash}`)
		f := strings.Split(out, "\n")
		g.Expect(f).To(HaveLen(4))
		data := map[string][]byte{}
		for i, key := range []string{"access_token", "token_type", "expires_at"} {
			v, err := base64.StdEncoding.DecodeString(f[i])
			g.Expect(err).NotTo(HaveOccurred(), key)
			data[key] = v
		}
		g.Expect(checkToken(data, map[string]string{annotationRequestHash: f[3]}, e2eClientID)).To(Succeed())
		exp, _ := time.Parse(time.RFC3339, string(data["expires_at"]))
		g.Expect(time.Until(exp)).To(BeNumerically("<=", tokenLifetime+time.Second))
		firstToken, firstHash = string(data["access_token"]), f[3]
	})

	t.Run("get -o wide", func(t *testing.T) {
		g := NewWithT(t)
		out := k.run(t, "get", "connecttokens", "-o", "wide")
		t.Logf("\n%s", out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		g.Expect(lines).To(HaveLen(2))
		header := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(lines[0]), -1)
		g.Expect(header).To(Equal([]string{"NAME", "READY", "REASON", "SECRET", "EXPIRES", "NEXT REFRESH", "AGE"}))
		row := strings.Fields(lines[1])
		g.Expect(row).To(HaveLen(7))
		g.Expect(row[:4]).To(Equal([]string{"billing-api", "True", "TokenIssued", "billing-api-token"}))
		expires, err := time.Parse(time.RFC3339, row[4])
		g.Expect(err).NotTo(HaveOccurred())
		next, err := time.Parse(time.RFC3339, row[5])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(next).To(BeTemporally("<", expires))
		g.Expect(next).To(BeTemporally(">", time.Now().Add(-time.Second)))
	})

	t.Run("describe shows the TokenIssued event", func(t *testing.T) {
		g := NewWithT(t)
		g.Eventually(func() string {
			return k.run(t, "describe", "connecttoken", "billing-api")
		}, 20*time.Second, time.Second).Should(MatchRegexp(`Normal\s+TokenIssued\s+.*Issued the first token into Secret billing-api-token`))
	})

	t.Run("explain", func(t *testing.T) {
		g := NewWithT(t)
		// The OpenAPI v3 document of a new CRD is published a moment after it is established.
		g.Eventually(func() string {
			out, _, _ := k.execFull(t.Context(), "", "explain", "connecttoken.spec.issuerURL")
			return out
		}, 30*time.Second, time.Second).Should(And(
			ContainSubstring("FIELD: issuerURL <string>"),
			ContainSubstring("WorkOS AuthKit domain"),
			ContainSubstring("/oauth2/token"),
		))
	})

	t.Run("rotate credentials", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(firstHash).NotTo(BeEmpty())
		s.setClient(t, connecttest.ClientUpdate{ID: e2eClientID, Secret: "new"})
		before := s.clientStats(t, e2eClientID)
		// kubectl create secret generic … --dry-run=client -o yaml | kubectl apply -f -
		rendered := k.run(t, "create", "secret", "generic", "billing-m2m-credentials", "--dry-run=client", "-o", "yaml",
			"--from-literal=client_id="+e2eClientID, "--from-literal=client_secret=new")
		k.runIn(t, rendered, "apply", "-f", "-")
		g.Eventually(func() string {
			return k.run(t, "get", "secret", "billing-api-token", "-o", `jsonpath={.metadata.annotations.connect\.tokenop\.dev/request-hash}`)
		}, 30*time.Second, 250*time.Millisecond).ShouldNot(Equal(firstHash))
		k.run(t, "wait", "connecttoken/billing-api", "--for=condition=Ready", "--timeout=60s")
		token := k.run(t, "get", "secret", "billing-api-token", "-o", "jsonpath={.data.access_token}")
		decoded, _ := base64.StdEncoding.DecodeString(token)
		g.Expect(string(decoded)).NotTo(Equal(firstToken))
		g.Consistently(func() connecttest.ClientStats { return s.clientStats(t, e2eClientID) }, 3*time.Second, 250*time.Millisecond).
			Should(Equal(connecttest.ClientStats{Requests: before.Requests + 1, Issued: before.Issued + 1}),
				"exactly one token request, with the new secret")
		g.Eventually(func() string {
			return k.run(t, "describe", "connecttoken", "billing-api")
		}, 20*time.Second, time.Second).Should(MatchRegexp(`Normal\s+TokenReissued`))
	})

	t.Run("delete", func(t *testing.T) {
		g := NewWithT(t)
		uid := k.run(t, "get", "connecttoken", "billing-api", "-o", "jsonpath={.metadata.uid}")
		var owners []metav1.OwnerReference
		g.Expect(json.Unmarshal([]byte(k.run(t, "get", "secret", "billing-api-token", "-o", "jsonpath={.metadata.ownerReferences}")), &owners)).To(Succeed())
		g.Expect(owners).To(HaveLen(1))
		g.Expect(owners[0].APIVersion).To(Equal("connect.tokenop.dev/v1alpha1"))
		g.Expect(owners[0].Kind).To(Equal("ConnectToken"))
		g.Expect(owners[0].Name).To(Equal("billing-api"))
		g.Expect(string(owners[0].UID)).To(Equal(uid))
		g.Expect(owners[0].Controller).To(HaveValue(BeTrue()))
		k.run(t, "delete", "connecttoken", "billing-api")
		g.Expect(k.fails(t, "", "get", "connecttoken", "billing-api")).To(ContainSubstring("NotFound"))
		// envtest runs no garbage collector; on a cluster the ownerReference deletes the Secret.
	})

	end := s.clientStats(t, e2eClientID)
	t.Logf("figures: quickstart issued 1 token with 1 request; rotation 1 more request; %d token requests in all for %s",
		end.Requests-start.Requests, e2eClientID)
	s.expectNoForbidden(t)
}

// Malformed ConnectTokens are refused by the API server at admission, and kubectl says which
// field and why.
func TestAdmissionRefusesMalformedConnectTokens(t *testing.T) {
	s := setupSuite(t)
	const ns = "admission"
	k := s.admin()
	k.run(t, "create", "namespace", ns)
	valid := map[string]string{
		"issuerURL": "  issuerURL: https://acme.authkit.app\n",
		"creds":     "  credentialsSecretRef:\n    name: creds\n",
		"scopes":    "  scopes: [widgets:read, widgets:write]\n",
		"target":    "  target:\n    name: token\n",
		"extra":     "",
	}
	doc := func(change map[string]string) string {
		var b strings.Builder
		b.WriteString("apiVersion: connect.tokenop.dev/v1alpha1\nkind: ConnectToken\nmetadata:\n  name: bad\n  namespace: " + ns + "\nspec:\n")
		for _, part := range []string{"issuerURL", "creds", "scopes", "target", "extra"} {
			v, ok := change[part]
			if !ok {
				v = valid[part]
			}
			b.WriteString(v)
		}
		return b.String()
	}
	// The unchanged document is accepted (server-side dry run), so each case fails for its own reason.
	k.runIn(t, doc(nil), "apply", "--dry-run=server", "-f", "-")

	cases := []struct {
		name   string
		change map[string]string
		want   []string
	}{
		{"http to a public host", map[string]string{"issuerURL": "  issuerURL: http://acme.authkit.app\n"},
			[]string{`spec.issuerURL: Invalid value`, "must use https; http is allowed only for a loopback host"}},
		{"both issuerURL and tokenURL", map[string]string{"extra": "  tokenURL: https://acme.authkit.app/oauth2/token\n"},
			[]string{"spec: Invalid value", "exactly one of spec.issuerURL or spec.tokenURL must be set"}},
		{"neither issuerURL nor tokenURL", map[string]string{"issuerURL": ""},
			[]string{"spec: Invalid value", "exactly one of spec.issuerURL or spec.tokenURL must be set"}},
		{"target name equals credentials name", map[string]string{"target": "  target:\n    name: creds\n"},
			[]string{"spec.target.name: Invalid value", "spec.target.name must differ from spec.credentialsSecretRef.name"}},
		{"duplicate scopes", map[string]string{"scopes": "  scopes: [widgets:read, widgets:read]\n"},
			[]string{`spec.scopes[1]: Duplicate value: "widgets:read"`}},
		{"scope with a space", map[string]string{"scopes": "  scopes: [\"widgets read\"]\n"},
			[]string{`spec.scopes[0]: Invalid value: "widgets read"`}},
		{"additionalParameters grant_type", map[string]string{"extra": "  additionalParameters:\n    grant_type: password\n"},
			[]string{"spec.additionalParameters: Invalid value", "grant_type, client_id, client_secret and scope are set"}},
		{"issuerURL with a query", map[string]string{"issuerURL": "  issuerURL: https://acme.authkit.app/?tenant=1\n"},
			[]string{"spec.issuerURL: Invalid value", "must not contain a query string or fragment"}},
		{"credentials in another namespace", map[string]string{"creds": "  credentialsSecretRef:\n    name: creds\n    namespace: other\n"},
			[]string{`unknown field "spec.credentialsSecretRef.namespace"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			stderr := k.fails(t, doc(tc.change), "apply", "-f", "-")
			t.Logf("$ kubectl apply -f bad.yaml  # %s\n%s", tc.name, strings.TrimSpace(stderr))
			for _, w := range tc.want {
				g.Expect(stderr).To(ContainSubstring(w))
			}
		})
	}
	NewWithT(t).Expect(k.run(t, "get", "connecttokens", "-n", ns, "-o", "name")).To(BeEmpty())
}

// A manager stopped with SIGTERM and restarted makes no token request and no write for tokens
// that are valid and not due.
func TestRestartMakesNoTokenRequests(t *testing.T) {
	s := setupSuite(t)
	g := NewWithT(t)
	const ns, client, n = "restart", "client_restart", 5
	k := s.admin()
	s.setClient(t, connecttest.ClientUpdate{ID: client, Secret: "secret_restart", Scopes: []string{"widgets:read"}})
	k.run(t, "create", "namespace", ns)
	k.run(t, "create", "secret", "generic", "creds", "-n", ns, "--from-literal=client_id="+client, "--from-literal=client_secret=secret_restart")
	k.runIn(t, connectTokens(ns, "api", n, s.fakeURL), "apply", "-f", "-")
	k.run(t, "wait", "--for=condition=Ready", "connecttoken", "--all", "-n", ns, "--timeout=60s")
	g.Expect(s.clientStats(t, client)).To(Equal(connecttest.ClientStats{Requests: n, Issued: n}))

	versions := func() string {
		return k.run(t, "get", "secrets,connecttokens", "-n", ns, "-o",
			`jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}`)
	}
	beforeVersions := versions()
	before, all := s.clientStats(t, client), s.stats(t)

	stopped := time.Now()
	g.Expect(s.mgr.stop(syscall.SIGTERM)).To(Succeed(), "SIGTERM is a clean shutdown")
	t.Logf("manager stopped by SIGTERM in %s", time.Since(stopped).Round(time.Millisecond))
	g.Expect(s.mgr.start()).To(Succeed())
	g.Expect(s.mgr.waitWorkers(60 * time.Second)).To(Succeed())
	time.Sleep(3 * time.Second)

	after, allAfter := s.clientStats(t, client), s.stats(t)
	g.Expect(after).To(Equal(before), "token requests after the restart")
	g.Expect(versions()).To(Equal(beforeVersions), "writes to the Secrets or ConnectTokens after the restart")
	k.run(t, "wait", "--for=condition=Ready", "connecttoken", "--all", "-n", ns, "--timeout=10s")
	t.Logf("figures: restart: %d token requests for %d valid tokens (all clients: %d), no write, within 3s after \"Starting workers\"",
		after.Requests-before.Requests, n, allAfter.Requests-all.Requests)
	s.expectNoForbidden(t)
}

// 50 ConnectTokens applied at once while the manager is SIGKILLed 10 times: every token ends up
// complete and Ready, and each kill costs at most one extra token request.
func TestChaosKillsDuringBurst(t *testing.T) {
	s := setupSuite(t)
	g := NewWithT(t)
	const ns, client, n, kills = "chaos", "client_chaos", 50, 10
	k := s.admin()
	s.setClient(t, connecttest.ClientUpdate{ID: client, Secret: "secret_chaos", Scopes: []string{"widgets:read"}})
	k.run(t, "create", "namespace", ns)
	k.run(t, "create", "secret", "generic", "creds", "-n", ns, "--from-literal=client_id="+client, "--from-literal=client_secret=secret_chaos")
	// One worker and slow token answers (250 ms each, about 12 s for the burst) make the kills
	// land while requests are in flight: each kill can lose at most the one in-flight request.
	g.Expect(s.mgr.stop(syscall.SIGTERM)).To(Succeed())
	s.mgr.extra = []string{"--max-concurrent-reconciles=1"}
	t.Cleanup(func() { s.mgr.extra = nil })
	g.Expect(s.mgr.start()).To(Succeed())
	g.Expect(s.mgr.waitWorkers(60 * time.Second)).To(Succeed())
	s.slowDown(t, n, 250*time.Millisecond)

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("random seed %d", seed)

	began := time.Now()
	applied := make(chan error, 1)
	go func() {
		_, err := k.exec(t.Context(), connectTokens(ns, "burst", n, s.fakeURL), "apply", "-f", "-")
		applied <- err
	}()
	var log []string
	killedWorking := 0
	for i := 1; i <= kills; i++ {
		delay := time.Duration(100+rng.IntN(601)) * time.Millisecond
		time.Sleep(delay)
		if p := s.mgr.current(); p.exited() {
			t.Errorf("the manager exited on its own before kill %d: %v\n%s", i, p.err, tail(p.logText(), 20))
		}
		working := s.mgr.workersStarted()
		if working {
			killedWorking++
		}
		_ = s.mgr.stop(syscall.SIGKILL) // exit status "signal: killed"
		st := s.clientStats(t, client)
		log = append(log, fmt.Sprintf("kill %2d after %3dms (workers started: %-5v) issued so far %d", i, delay.Milliseconds(), working, st.Issued))
		g.Expect(s.mgr.start()).To(Succeed())
	}
	g.Expect(<-applied).To(Succeed())
	chaos := time.Since(began)
	t.Logf("kills:\n%s", strings.Join(log, "\n"))

	k.run(t, "wait", "--for=condition=Ready", "connecttoken", "--all", "-n", ns, "--timeout=120s")
	allReady := time.Since(began)
	g.Expect(strings.Fields(k.run(t, "get", "connecttokens", "-n", ns, "-o", "name"))).To(HaveLen(n))

	var secrets corev1.SecretList
	g.Expect(json.Unmarshal([]byte(k.run(t, "get", "secrets", "-n", ns, "-l", labelConnectToken, "-o", "json")), &secrets)).To(Succeed())
	g.Expect(secrets.Items).To(HaveLen(n))
	for _, sec := range secrets.Items {
		g.Expect(checkToken(sec.Data, sec.Annotations, client)).To(Succeed(), "Secret %s", sec.Name)
	}

	time.Sleep(2 * time.Second) // let a late request show
	st := s.clientStats(t, client)
	extra := st.Requests - n
	t.Logf("figures: chaos: %d ConnectTokens, %d SIGKILLs survived (%d after the workers had started) in %s, all Ready after %s; "+
		"token requests %d, issued %d, extra %d (bound: %d kills)",
		n, kills, killedWorking, chaos.Round(100*time.Millisecond), allReady.Round(100*time.Millisecond), st.Requests, st.Issued, extra, kills)
	g.Expect(extra).To(BeNumerically(">=", 0))
	g.Expect(extra).To(BeNumerically("<=", kills), "extra token requests")
	g.Expect(s.mgr.current().exited()).To(BeFalse(), "the manager is left running")
	s.expectNoForbidden(t)
}

// connectTokens renders n ConnectTokens <prefix>-00… as one multi-document YAML. refreshBefore 5s
// keeps the 60s tokens from being refreshed (at 49s at the earliest, with jitter) while a test
// counts requests.
func connectTokens(ns, prefix string, n int, issuer string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: connect.tokenop.dev/v1alpha1
kind: ConnectToken
metadata:
  name: %[1]s-%02[2]d
  namespace: %[3]s
spec:
  issuerURL: %[4]s
  credentialsSecretRef:
    name: creds
  scopes: [widgets:read]
  refreshBefore: 5s
  target:
    name: %[1]s-%02[2]d-token
`, prefix, i, ns, issuer)
	}
	return b.String()
}

// checkToken checks a target Secret holds a complete token: a three-part JWT for clientID, a
// bearer type, an RFC 3339 expiry in the future, and the request hash.
func checkToken(data map[string][]byte, annotations map[string]string, clientID string) error {
	parts := strings.Split(string(data["access_token"]), ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("access_token is not a three-part JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("JWT payload: %w", err)
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return fmt.Errorf("JWT payload: %w", err)
	}
	if claims.Sub != clientID {
		return fmt.Errorf("JWT sub = %q, want %q", claims.Sub, clientID)
	}
	if !strings.EqualFold(string(data["token_type"]), "bearer") {
		return fmt.Errorf("token_type = %q", data["token_type"])
	}
	exp, err := time.Parse(time.RFC3339, string(data["expires_at"]))
	if err != nil {
		return fmt.Errorf("expires_at: %w", err)
	}
	if !exp.After(time.Now()) {
		return fmt.Errorf("expires_at %s is past", exp)
	}
	if annotations[annotationRequestHash] == "" {
		return fmt.Errorf("annotation %s missing", annotationRequestHash)
	}
	return nil
}

// expectNoForbidden fails the test if the manager, running as the installed ServiceAccount, was
// ever refused by the API server.
func (s *suite) expectNoForbidden(t *testing.T) {
	t.Helper()
	for _, line := range strings.Split(s.mgr.allLogs(), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the manager was refused by RBAC: %s", line)
		}
	}
}
