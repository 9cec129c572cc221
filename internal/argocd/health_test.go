package argocd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

const (
	healthScriptPath = "../../config/argocd/health.lua"
	cmPatchPath      = "../../config/argocd/argocd-cm-patch.yaml"
	cmHealthKey      = "resource.customizations.health.connect.tokenop.dev_ConnectToken"
	conditionsPath   = "../../api/v1alpha1/conditions.go"
)

// healthStatus is what Argo CD reads from the table the script returns.
type healthStatus struct {
	Status  string
	Message string
}

// argoHealthCodes are the statuses Argo CD accepts from a health script; any other value
// turns into Unknown with "Lua returned an invalid health status".
var argoHealthCodes = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

// runHealth runs script the way Argo CD runs a resource health script from argocd-cm
// (argo-cd util/lua, custom health without useOpenLibs): a Lua state without the standard
// libraries except package, base and table (Argo CD adds a reduced os library this script
// does not use; string, math and io are absent), a one second deadline, the object as the
// global table obj, the script run with DoString and the table it returns read back.
func runHealth(script string, obj map[string]any) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type())
	}
	var hs healthStatus
	var errs []error
	ret.ForEach(func(k, v lua.LValue) {
		s, isString := v.(lua.LString)
		switch {
		case !isString:
			errs = append(errs, fmt.Errorf("field %s is a Lua %s, not a string", k, v.Type()))
		case k.String() == "status":
			hs.Status = string(s)
		case k.String() == "message":
			hs.Message = string(s)
		default:
			errs = append(errs, fmt.Errorf("unexpected field %s", k))
		}
	})
	if !argoHealthCodes[hs.Status] {
		errs = append(errs, fmt.Errorf("invalid health status %q", hs.Status))
	}
	return hs, errors.Join(errs...)
}

// toLua converts a decoded Kubernetes object to Lua values as Argo CD's decodeValue does:
// maps become hash tables, lists become 1-based array tables, numbers LNumber, null nil.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(l, item))
		}
		return tbl
	default:
		return lua.LNil
	}
}

// unstructuredFromJSON decodes an object as Argo CD holds it (integers are int64).
func unstructuredFromJSON(t *testing.T, data []byte) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatalf("decoding object: %v", err)
	}
	return u.Object
}

// fromYAML is an object written by hand (or by an older operator).
// withStatus is a ConnectToken at this generation with the status given as YAML, for the shapes
// the typed builders cannot express (conditions without observedGeneration, foreign conditions).
func withStatus(generation int, status string) func(t *testing.T) map[string]any {
	return func(t *testing.T) map[string]any {
		return fromYAML(t, fmt.Sprintf(`
apiVersion: connect.tokenop.dev/v1alpha1
kind: ConnectToken
metadata: {name: billing-api, namespace: payments, generation: %d}
spec: {issuerURL: "https://acme.authkit.app", credentialsSecretRef: {name: creds}, target: {name: token}}
%s
`, generation, status))
	}
}

func fromYAML(t *testing.T, doc string) map[string]any {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("converting YAML: %v", err)
	}
	return unstructuredFromJSON(t, data)
}

var (
	created     = metav1.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)
	issuedAt    = metav1.Date(2026, 12, 4, 17, 0, 12, 0, time.UTC)
	expiresAt   = metav1.Date(2026, 12, 4, 17, 5, 12, 0, time.UTC)
	refreshAt   = metav1.Date(2026, 12, 4, 17, 3, 1, 0, time.UTC)
	failedAt    = metav1.Date(2026, 12, 4, 17, 3, 1, 0, time.UTC)
	retryAt     = metav1.Date(2026, 12, 4, 17, 3, 21, 0, time.UTC)
	transitions = metav1.Date(2026, 12, 4, 16, 0, 2, 0, time.UTC)
)

// connectToken is a ConnectToken at generation 3, serialized exactly as the operator's API
// types serialize, after edits that give it the status the reconciler writes in some state.
func connectToken(t *testing.T, edits ...func(*connectv1alpha1.ConnectToken)) map[string]any {
	t.Helper()
	ct := &connectv1alpha1.ConnectToken{
		TypeMeta: metav1.TypeMeta{APIVersion: connectv1alpha1.GroupVersion.String(), Kind: "ConnectToken"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "billing-api", Namespace: "payments", Generation: 3, UID: "0b7e2f4a-55c1-4a8e-9d3e-2f1c6b8a9e10",
			ResourceVersion: "48213", CreationTimestamp: created,
		},
		Spec: connectv1alpha1.ConnectTokenSpec{
			IssuerURL:            "https://acme.authkit.app",
			CredentialsSecretRef: connectv1alpha1.CredentialsSecretReference{Name: "billing-m2m-credentials"},
			Scopes:               []string{"invoices:read", "invoices:write"},
			Target:               connectv1alpha1.TargetSecret{Name: "billing-api-token"},
		},
	}
	for _, edit := range edits {
		edit(ct)
	}
	data, err := json.Marshal(ct)
	if err != nil {
		t.Fatalf("encoding ConnectToken: %v", err)
	}
	return unstructuredFromJSON(t, data)
}

// ready sets the Ready condition as the reconciler does: stamped with the current generation.
func ready(status metav1.ConditionStatus, reason, message string) func(*connectv1alpha1.ConnectToken) {
	return func(ct *connectv1alpha1.ConnectToken) {
		ct.Status.Conditions = []metav1.Condition{{
			Type: connectv1alpha1.ConditionReady, Status: status, Reason: reason, Message: message,
			ObservedGeneration: ct.Generation, LastTransitionTime: transitions,
		}}
	}
}

// readyAt is a Ready condition written for an older generation.
func readyAt(generation int64, status metav1.ConditionStatus, reason, message string) func(*connectv1alpha1.ConnectToken) {
	return func(ct *connectv1alpha1.ConnectToken) {
		ready(status, reason, message)(ct)
		ct.Status.Conditions[0].ObservedGeneration = generation
	}
}

// observed sets status.observedGeneration, which the reconciler moves only when no failure
// or stall was met.
func observed(generation int64) func(*connectv1alpha1.ConnectToken) {
	return func(ct *connectv1alpha1.ConnectToken) { ct.Status.ObservedGeneration = generation }
}

// tokenIssued fills the status fields of an issued token.
func tokenIssued(ct *connectv1alpha1.ConnectToken) {
	ct.Status.LastIssuedTime, ct.Status.ExpirationTime, ct.Status.NextRefreshTime = &issuedAt, &expiresAt, &refreshAt
	ct.Status.TokenType = "bearer"
	ct.Status.GrantedScopes = []string{"invoices:read", "invoices:write"}
	ct.Status.TokenID = "tok_01JEXAMPLE"
	ct.Status.OrganizationID = "org_01JEXAMPLE"
}

// failing records a failure streak as the reconciler does.
func failing(attempts int32) func(*connectv1alpha1.ConnectToken) {
	return func(ct *connectv1alpha1.ConnectToken) {
		ct.Status.FailedAttempts, ct.Status.LastFailureTime, ct.Status.NextRefreshTime = attempts, &failedAt, &retryAt
		ct.Status.FailedRequestHash = "sha256:6f1d0c2b"
	}
}

func suspended(ct *connectv1alpha1.ConnectToken) { ct.Spec.Suspend = true }

const (
	validMsg         = "Token valid until 2026-12-04T17:05:12Z; next refresh at 2026-12-04T17:03:01Z"
	refreshFailedMsg = "Token valid until 2026-12-04T17:05:12Z, but refreshing failed (TokenRequestFailed): " +
		"token request failed (HTTP 503); next attempt at 2026-12-04T17:03:21Z"
	refreshRejectedMsg = "Token valid until 2026-12-04T17:05:12Z, but refreshing failed (TokenRequestRejected): " +
		"token request rejected: invalid_client (HTTP 401): Invalid client secret; next attempt at 2026-12-04T17:03:21Z"
	credsNotFoundMsg = `Secret "billing-m2m-credentials" with the client credentials was not found in namespace "payments"`
	credsInvalidMsg  = `Secret "billing-m2m-credentials" has no non-empty key "client_secret" (keys "client_id" and "client_secret" are expected)`
	rejectedMsg      = "token request rejected: invalid_scope (HTTP 400): scope invoices:admin is not allowed; next attempt at 2026-12-04T17:03:21Z"
	failedMsg        = "token request failed (HTTP 503); next attempt at 2026-12-04T17:03:21Z"
	urlMsg           = `token URL not allowed: host "login.example.com" is not in the allowed token hosts [*.authkit.app]`
	conflictMsg      = `Secret "billing-api-token" exists and is not controlled by this ConnectToken; delete it or choose another spec.target.name`
	expiredMsg       = "The token expired at 2026-12-04T17:05:12Z and refreshing failed (TokenRequestFailed): " +
		"token request failed: dial tcp: i/o timeout; next attempt at 2026-12-04T17:08:12Z"
	shortMsg = "The token endpoint issues tokens valid for 10s, too short to refresh safely (at least 15s needed); " +
		"tokens are refreshed at most every 5s"
	templateMsg   = `spec.target.template.data: template: authorization:1: function "upper" not defined`
	suspendValid  = "Suspended: no token requests; the current token stays valid until 2026-12-04T17:05:12Z"
	suspendBefore = "Suspended before a token was issued; set spec.suspend to false to issue one"
)

type healthCase struct {
	state   string // the sentence that names the state, also the subtest name
	object  func(t *testing.T) map[string]any
	status  string
	message string
}

func healthCases() []healthCase {
	const (
		T = metav1.ConditionTrue
		F = metav1.ConditionFalse
		U = metav1.ConditionUnknown
	)
	r := connectv1alpha1.ReasonTokenIssued
	obj := func(edits ...func(*connectv1alpha1.ConnectToken)) func(t *testing.T) map[string]any {
		return func(t *testing.T) map[string]any { return connectToken(t, edits...) }
	}
	return []healthCase{
		{"just created, the operator has not written a status yet",
			obj(), "Progressing", "Waiting for the operator to report the Ready condition"},
		{"the first token request is in flight (Unknown Issuing)",
			obj(observed(3), ready(U, connectv1alpha1.ReasonIssuing, "Requesting the first token")),
			"Progressing", "Issuing: Requesting the first token"},
		{"the first request is held back by the request interval (Unknown Issuing)",
			obj(observed(3), ready(U, connectv1alpha1.ReasonIssuing, "A new token will be requested at 2026-12-04T17:00:17Z")),
			"Progressing", "Issuing: A new token will be requested at 2026-12-04T17:00:17Z"},
		{"a token for the current spec is in the Secret (True TokenIssued)",
			obj(observed(3), tokenIssued, ready(T, r, validMsg)),
			"Healthy", validMsg},
		{"refreshing failed transiently while the current token is still valid (True, refreshing failed)",
			obj(observed(3), tokenIssued, failing(2), ready(T, r, refreshFailedMsg)),
			"Healthy", refreshFailedMsg},
		{"a refresh was rejected while the current token is still valid (True, refreshing failed)",
			obj(observed(3), tokenIssued, failing(1), ready(T, r, refreshRejectedMsg)),
			"Healthy", refreshRejectedMsg},
		{"the spec changed and the operator has not reconciled it yet (Ready from generation 2)",
			obj(observed(2), tokenIssued, readyAt(2, T, r, validMsg)),
			"Progressing", "Waiting for the operator to observe generation 3 (observed 2)"},
		{"the credentials Secret is missing on a new ConnectToken (False CredentialsNotFound, no status.observedGeneration)",
			obj(ready(F, connectv1alpha1.ReasonCredentialsNotFound, credsNotFoundMsg)),
			"Degraded", "CredentialsNotFound: " + credsNotFoundMsg},
		{"the credentials Secret lacks client_secret (False CredentialsInvalid)",
			obj(observed(2), ready(F, connectv1alpha1.ReasonCredentialsInvalid, credsInvalidMsg)),
			"Degraded", "CredentialsInvalid: " + credsInvalidMsg},
		{"the token endpoint rejected the request after a spec change (False TokenRequestRejected, status.observedGeneration behind)",
			obj(observed(2), failing(1), ready(F, connectv1alpha1.ReasonTokenRequestRejected, rejectedMsg)),
			"Degraded", "TokenRequestRejected: " + rejectedMsg},
		{"the first token request failed transiently (False TokenRequestFailed)",
			obj(failing(1), ready(F, connectv1alpha1.ReasonTokenRequestFailed, failedMsg)),
			"Degraded", "TokenRequestFailed: " + failedMsg},
		{"the token URL's host is not allowed (False TokenURLNotAllowed)",
			obj(ready(F, connectv1alpha1.ReasonTokenURLNotAllowed, urlMsg)),
			"Degraded", "TokenURLNotAllowed: " + urlMsg},
		{"the target Secret belongs to someone else (False SecretConflict)",
			obj(ready(F, connectv1alpha1.ReasonSecretConflict, conflictMsg)),
			"Degraded", "SecretConflict: " + conflictMsg},
		{"refreshing kept failing until the token expired (False TokenExpired)",
			obj(observed(3), tokenIssued, failing(9), ready(F, connectv1alpha1.ReasonTokenExpired, expiredMsg)),
			"Degraded", "TokenExpired: " + expiredMsg},
		{"the server issues tokens too short-lived to refresh safely (False LifetimeTooShort)",
			obj(observed(3), tokenIssued, ready(F, connectv1alpha1.ReasonLifetimeTooShort, shortMsg)),
			"Degraded", "LifetimeTooShort: " + shortMsg},
		{"a template does not parse (False TemplateInvalid)",
			obj(observed(2), tokenIssued, ready(F, connectv1alpha1.ReasonTemplateInvalid, templateMsg)),
			"Degraded", "TemplateInvalid: " + templateMsg},
		{"suspended with a valid token (True TokenIssued)",
			obj(suspended, observed(3), tokenIssued, ready(T, r, suspendValid)),
			"Suspended", "spec.suspend is true; TokenIssued: " + suspendValid},
		{"suspended before any token was issued (Unknown Suspended)",
			obj(suspended, observed(3), ready(U, connectv1alpha1.ReasonSuspended, suspendBefore)),
			"Suspended", "spec.suspend is true; Suspended: " + suspendBefore},
		{"suspended after the token expired (False TokenExpired)",
			obj(suspended, observed(3), tokenIssued, ready(F, connectv1alpha1.ReasonTokenExpired, "Suspended: the token expired at 2026-12-04T17:05:12Z")),
			"Suspended", "spec.suspend is true; TokenExpired: Suspended: the token expired at 2026-12-04T17:05:12Z"},
		{"spec.suspend was just set and the operator has not reconciled yet",
			obj(suspended, observed(2), tokenIssued, readyAt(2, T, r, validMsg)),
			"Suspended", "spec.suspend is true: no token requests are made"},
		{"spec.suspend was set back to false and the operator has not reconciled yet (Unknown Suspended from generation 2)",
			obj(observed(2), readyAt(2, U, connectv1alpha1.ReasonSuspended, suspendBefore)),
			"Progressing", "Waiting for the operator to observe generation 3 (observed 2)"},
		{"a Ready condition without observedGeneration, status.observedGeneration current",
			withStatus(3, `status:
  observedGeneration: 3
  conditions:
  - {type: Ready, status: "True", reason: TokenIssued, message: "Token valid", lastTransitionTime: "2026-12-04T16:00:02Z"}`),
			"Healthy", "Token valid"},
		{"a Ready condition without observedGeneration, status.observedGeneration behind",
			withStatus(4, `status:
  observedGeneration: 3
  conditions:
  - {type: Ready, status: "True", reason: TokenIssued, message: "Token valid", lastTransitionTime: "2026-12-04T16:00:02Z"}`),
			"Progressing", "Waiting for the operator to observe generation 4 (observed 3)"},
		{"a status with other conditions but no Ready condition",
			withStatus(1, `status:
  observedGeneration: 1
  conditions:
  - {type: Reconciling, status: "True", reason: Progressing, message: "", lastTransitionTime: "2026-12-04T16:00:02Z"}`),
			"Progressing", "Waiting for the operator to report the Ready condition"},
		{"an empty status object",
			withStatus(1, `status: {}`),
			"Progressing", "Waiting for the operator to report the Ready condition"},
	}
}

func readScript(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(healthScriptPath)
	if err != nil {
		t.Fatalf("reading %s: %v", healthScriptPath, err)
	}
	return string(data)
}

// TestHealthScriptStates runs health.lua against every state the operator reports and prints
// the resulting table (go test -v ./internal/argocd/ shows it, ready to paste into docs).
func TestHealthScriptStates(t *testing.T) {
	script := readScript(t)
	var table strings.Builder
	table.WriteString("\n| ConnectToken state | Argo CD health | message |\n|---|---|---|\n")
	for _, c := range healthCases() {
		t.Run(c.state, func(t *testing.T) {
			g := NewWithT(t)
			got, err := runHealth(script, c.object(t))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(healthStatus{Status: c.status, Message: c.message}))
		})
		fmt.Fprintf(&table, "| %s | %s | %s |\n", c.state, c.status, strings.ReplaceAll(c.message, "|", `\|`))
	}
	t.Log(table.String())
}

// TestHealthScriptCoversEveryReason: every Reason constant of conditions.go (read from the
// source, so a reason added later fails here until it gets a row) appears in a health case.
func TestHealthScriptCoversEveryReason(t *testing.T) {
	g := NewWithT(t)
	file, err := parser.ParseFile(token.NewFileSet(), conditionsPath, nil, 0)
	g.Expect(err).NotTo(HaveOccurred())
	reasons := map[string]string{} // value -> constant name
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(name.Name, "Reason") {
					value, err := strconv.Unquote(lit.Value)
					g.Expect(err).NotTo(HaveOccurred())
					reasons[value] = name.Name
				}
			}
		}
	}
	g.Expect(reasons).To(HaveLen(12), "conditions.go changed: check the health cases")

	covered := map[string]bool{}
	for _, c := range healthCases() {
		conditions, _, _ := unstructured.NestedSlice(c.object(t), "status", "conditions")
		for _, cond := range conditions {
			if m, ok := cond.(map[string]any); ok {
				covered[fmt.Sprint(m["reason"])] = true
			}
		}
	}
	for value, name := range reasons {
		g.Expect(covered).To(HaveKey(value), "no health case for %s (%q)", name, value)
	}
}

// TestConfigMapPatchHoldsTheScript: the argocd-cm patch carries health.lua verbatim, under the
// key Argo CD looks up for group connect.tokenop.dev, kind ConnectToken.
func TestConfigMapPatchHoldsTheScript(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(cmPatchPath)
	g.Expect(err).NotTo(HaveOccurred())
	var cm corev1.ConfigMap
	g.Expect(yaml.UnmarshalStrict(data, &cm)).To(Succeed())
	g.Expect(cm.APIVersion).To(Equal("v1"))
	g.Expect(cm.Kind).To(Equal("ConfigMap"))
	g.Expect(cm.Name).To(Equal("argocd-cm"))
	g.Expect(cm.Data).To(HaveLen(1))
	g.Expect(cm.Data).To(HaveKey(cmHealthKey))
	g.Expect(cm.Data[cmHealthKey]).To(Equal(readScript(t)),
		"argocd-cm-patch.yaml differs from health.lua: indent health.lua by four spaces under the key")

	// The copy Argo CD would run gives the same answers.
	for _, c := range healthCases() {
		got, err := runHealth(cm.Data[cmHealthKey], c.object(t))
		g.Expect(err).NotTo(HaveOccurred(), c.state)
		g.Expect(got.Status).To(Equal(c.status), c.state)
	}
}

// TestHealthScriptNeedsNoStandardLibraries: the harness really runs without the string, math
// and io libraries, as Argo CD does for argocd-cm health checks, so a script that used them
// would fail here as it would in Argo CD.
func TestHealthScriptNeedsNoStandardLibraries(t *testing.T) {
	g := NewWithT(t)
	obj := connectToken(t, observed(3), tokenIssued, ready(metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued, validMsg))
	for _, probe := range []string{`return {status = string.format("%s", "Healthy")}`, `return {status = obj.kind:lower()}`,
		`return {status = io.read()}`, `return {status = tostring(math.huge)}`} {
		_, err := runHealth(probe, obj)
		g.Expect(err).To(HaveOccurred(), probe)
	}
	_, err := runHealth(`return "Healthy"`, obj)
	g.Expect(err).To(MatchError(ContainSubstring("expect table output")))
	_, err = runHealth(`return {status = "Fine"}`, obj)
	g.Expect(err).To(MatchError(ContainSubstring("invalid health status")))
}
