package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenop/connect-token-operator/internal/testenv"
)

var k8s client.Client

func TestMain(m *testing.M) {
	env := testenv.MustStart()
	k8s = env.Client
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// validSpec is a minimal well-formed spec; each case below changes one thing.
func validSpec() map[string]any {
	return map[string]any{
		"issuerURL":            "https://acme.authkit.app",
		"credentialsSecretRef": map[string]any{"name": "workos-creds"},
		"scopes":               []any{"widgets:read"},
		"target":               map[string]any{"name": "workos-token"},
	}
}

func connectToken(name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(testenv.GVK)
	u.SetNamespace("default")
	u.SetName(name)
	return u
}

func TestAdmissionRefusesMalformedConnectTokens(t *testing.T) {
	target := func(s map[string]any) map[string]any { return s["target"].(map[string]any) }
	cases := []struct {
		name   string
		mutate func(spec map[string]any)
		// want are substrings of the API server's message: the field path and what is wrong.
		want []string
	}{
		{"neither issuerURL nor tokenURL", func(s map[string]any) { delete(s, "issuerURL") },
			[]string{"spec", "exactly one of spec.issuerURL or spec.tokenURL must be set"}},
		{"both issuerURL and tokenURL", func(s map[string]any) { s["tokenURL"] = "https://acme.authkit.app/oauth2/token" },
			[]string{"exactly one of spec.issuerURL or spec.tokenURL must be set"}},
		{"empty issuerURL", func(s map[string]any) { s["issuerURL"] = "" },
			[]string{"spec.issuerURL", "at least 1 chars long"}},
		{"issuerURL not a URL", func(s map[string]any) { s["issuerURL"] = "acme.authkit.app" },
			[]string{"spec.issuerURL", "must be an absolute URL"}},
		{"issuerURL relative path", func(s map[string]any) { s["issuerURL"] = "/oauth2/token" },
			[]string{"spec.issuerURL", "must be an absolute URL"}},
		{"issuerURL plain http to a public host", func(s map[string]any) { s["issuerURL"] = "http://acme.authkit.app" },
			[]string{"spec.issuerURL", "must use https"}},
		{"issuerURL http to a host that only starts like loopback", func(s map[string]any) { s["issuerURL"] = "http://127.0.0.1.evil.example" },
			[]string{"spec.issuerURL", "must use https"}},
		{"issuerURL ftp scheme", func(s map[string]any) { s["issuerURL"] = "ftp://acme.authkit.app" },
			[]string{"spec.issuerURL", "must use https"}},
		{"issuerURL with user info", func(s map[string]any) { s["issuerURL"] = "https://user:pass@acme.authkit.app" },
			[]string{"spec.issuerURL", "must not contain user info"}},
		{"issuerURL with a query", func(s map[string]any) { s["issuerURL"] = "https://acme.authkit.app/?tenant=1" },
			[]string{"spec.issuerURL", "must not contain a query string or fragment"}},
		{"tokenURL with a fragment", func(s map[string]any) { delete(s, "issuerURL"); s["tokenURL"] = "https://acme.authkit.app/token#x" },
			[]string{"spec.tokenURL", "must not contain a query string or fragment"}},
		{"tokenURL http to a public host", func(s map[string]any) { delete(s, "issuerURL"); s["tokenURL"] = "http://login.example.com/token" },
			[]string{"spec.tokenURL", "must use https"}},
		{"issuerURL too long", func(s map[string]any) { s["issuerURL"] = "https://acme.authkit.app/" + strings.Repeat("a", 2048) },
			[]string{"spec.issuerURL", "may not be more than 2048"}},
		{"credentials name missing", func(s map[string]any) { s["credentialsSecretRef"] = map[string]any{} },
			[]string{"spec.credentialsSecretRef.name", "Required value"}},
		{"credentials name not a DNS name", func(s map[string]any) { s["credentialsSecretRef"] = map[string]any{"name": "Bad_Name"} },
			[]string{"spec.credentialsSecretRef.name", "should match"}},
		{"credentials key with a slash", func(s map[string]any) {
			s["credentialsSecretRef"] = map[string]any{"name": "creds", "clientSecretKey": "a/b"}
		}, []string{"spec.credentialsSecretRef.clientSecretKey", "should match"}},
		{"target name missing", func(s map[string]any) { s["target"] = map[string]any{} },
			[]string{"spec.target.name", "Required value"}},
		{"target name too long", func(s map[string]any) { target(s)["name"] = strings.Repeat("a", 254) },
			[]string{"spec.target.name", "may not be more than 253"}},
		{"target name equals credentials name", func(s map[string]any) { target(s)["name"] = "workos-creds" },
			[]string{"spec.target.name", "must differ from spec.credentialsSecretRef.name"}},
		{"empty scope", func(s map[string]any) { s["scopes"] = []any{""} },
			[]string{"spec.scopes[0]", "at least 1 chars long"}},
		{"scope with a space", func(s map[string]any) { s["scopes"] = []any{"widgets:read widgets:write"} },
			[]string{"spec.scopes[0]", "should match"}},
		{"scope with a control character", func(s map[string]any) { s["scopes"] = []any{"widgets\tread"} },
			[]string{"spec.scopes[0]", "should match"}},
		{"duplicate scopes", func(s map[string]any) { s["scopes"] = []any{"a", "a"} },
			[]string{"spec.scopes[1]", "Duplicate value"}},
		{"too many scopes", func(s map[string]any) {
			many := make([]any, 65)
			for i := range many {
				many[i] = fmt.Sprintf("s%d", i)
			}
			s["scopes"] = many
		}, []string{"spec.scopes", "must have at most 64 items"}},
		{"refreshBefore not a duration", func(s map[string]any) { s["refreshBefore"] = "soon" },
			[]string{"spec.refreshBefore", "must be a positive Go duration"}},
		{"refreshBefore zero", func(s map[string]any) { s["refreshBefore"] = "0s" },
			[]string{"spec.refreshBefore", "must be a positive Go duration"}},
		{"refreshBefore negative", func(s map[string]any) { s["refreshBefore"] = "-1m" },
			[]string{"spec.refreshBefore", "must be a positive Go duration"}},
		{"refreshBeforePercentage above 99", func(s map[string]any) { s["refreshBeforePercentage"] = int64(100) },
			[]string{"spec.refreshBeforePercentage", "less than or equal to 99"}},
		{"refreshBeforePercentage zero", func(s map[string]any) { s["refreshBeforePercentage"] = int64(0) },
			[]string{"spec.refreshBeforePercentage", "greater than or equal to 1"}},
		{"both refreshBefore and refreshBeforePercentage", func(s map[string]any) {
			s["refreshBefore"] = "1m"
			s["refreshBeforePercentage"] = int64(20)
		}, []string{"set at most one of spec.refreshBefore and spec.refreshBeforePercentage"}},
		{"unknown clientAuthentication", func(s map[string]any) { s["clientAuthentication"] = "PrivateKeyJWT" },
			[]string{"spec.clientAuthentication", "Unsupported value", "ClientSecretPost", "ClientSecretBasic"}},
		{"additionalParameters overriding grant_type", func(s map[string]any) {
			s["additionalParameters"] = map[string]any{"grant_type": "password"}
		}, []string{"spec.additionalParameters", "may not be overridden"}},
		{"additionalParameters overriding client_secret", func(s map[string]any) {
			s["additionalParameters"] = map[string]any{"client_secret": "x"}
		}, []string{"spec.additionalParameters", "may not be overridden"}},
		{"additionalParameters overriding scope", func(s map[string]any) {
			s["additionalParameters"] = map[string]any{"scope": "admin"}
		}, []string{"spec.additionalParameters", "may not be overridden"}},
		{"additionalParameters with a bad key", func(s map[string]any) {
			s["additionalParameters"] = map[string]any{"a b": "x"}
		}, []string{"spec.additionalParameters", "keys must be 1-128 characters"}},
		{"template key that is a fixed key", func(s map[string]any) {
			target(s)["template"] = map[string]any{"data": map[string]any{"access_token": "{{ .AccessToken }}"}}
		}, []string{"spec.target.template.data", "may not be templated"}},
		{"template key that is not a Secret key", func(s map[string]any) {
			target(s)["template"] = map[string]any{"data": map[string]any{"a/b": "x"}}
		}, []string{"spec.target.template.data", "valid Secret data keys"}},
		{"template too long", func(s map[string]any) {
			target(s)["template"] = map[string]any{"data": map[string]any{"header": strings.Repeat("x", 4097)}}
		}, []string{"spec.target.template.data", "at most 4096 characters"}},
		{"target label with a bad key", func(s map[string]any) { target(s)["labels"] = map[string]any{"-bad": "x"} },
			[]string{"spec.target.labels", "valid label keys"}},
		{"target label with a bad value", func(s map[string]any) { target(s)["labels"] = map[string]any{"team": "a b"} },
			[]string{"spec.target.labels.team", "should match"}},
		{"target label overriding managed-by", func(s map[string]any) {
			target(s)["labels"] = map[string]any{"app.kubernetes.io/managed-by": "me"}
		}, []string{"spec.target.labels", "set by the operator"}},
		{"target annotation in the operator's prefix", func(s map[string]any) {
			target(s)["annotations"] = map[string]any{"connect.tokenop.dev/expires-at": "never"}
		}, []string{"spec.target.annotations", "set by the operator"}},
		{"caBundle without a certificate", func(s map[string]any) { s["caBundle"] = "not a pem" },
			[]string{"spec.caBundle", "must hold at least one PEM certificate"}},
	}
	g := NewWithT(t)
	g.Expect(len(cases)).To(BeNumerically(">=", 25))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			spec := validSpec()
			tc.mutate(spec)
			err := k8s.Create(context.Background(), connectToken(fmt.Sprintf("bad-%d", i), spec))
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "expected Invalid, got %v", err)
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}
}

func TestAdmissionAcceptsWellFormedConnectTokens(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(spec map[string]any)
	}{
		{"minimal WorkOS AuthKit domain", func(map[string]any) {}},
		{"custom AuthKit domain with a port", func(s map[string]any) { s["issuerURL"] = "https://auth.example.com:8443" }},
		{"loopback http on 127.0.0.1", func(s map[string]any) { s["issuerURL"] = "http://127.0.0.1:8089" }},
		{"loopback http on localhost with a path", func(s map[string]any) { delete(s, "issuerURL"); s["tokenURL"] = "http://localhost:8089/oauth2/token" }},
		{"loopback http on [::1]", func(s map[string]any) { s["issuerURL"] = "http://[::1]:8089" }},
		{"tokenURL of another OAuth server", func(s map[string]any) { delete(s, "issuerURL"); s["tokenURL"] = "https://login.example.com/token" }},
		{"no scopes", func(s map[string]any) { delete(s, "scopes") }},
		{"basic auth and custom keys", func(s map[string]any) {
			s["clientAuthentication"] = "ClientSecretBasic"
			s["credentialsSecretRef"] = map[string]any{"name": "creds", "clientIDKey": "id", "clientSecretKey": "secret.txt"}
		}},
		{"refreshBefore as a duration", func(s map[string]any) { s["refreshBefore"] = "1m30s" }},
		{"refreshBeforePercentage", func(s map[string]any) { s["refreshBeforePercentage"] = int64(50) }},
		{"everything set", func(s map[string]any) {
			s["scopes"] = []any{"widgets:read", "widgets:write", "openid"}
			s["additionalParameters"] = map[string]any{"audience": "https://api.example.com", "resource": "urn:x"}
			s["caBundle"] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
			s["suspend"] = true
			s["target"] = map[string]any{
				"name":        "workos-token",
				"labels":      map[string]any{"team": "payments", "example.com/tier": "gold"},
				"annotations": map[string]any{"example.com/owner": "payments team"},
				"template":    map[string]any{"data": map[string]any{"authorization": "Bearer {{ .AccessToken }}", "config.json": `{"token":"{{ .AccessToken }}"}`}},
			}
		}},
	}
	g := NewWithT(t)
	g.Expect(len(cases)).To(BeNumerically(">=", 8))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			spec := validSpec()
			tc.mutate(spec)
			obj := connectToken(fmt.Sprintf("good-%d", i), spec)
			g.Expect(k8s.Create(context.Background(), obj)).To(Succeed())
			g.Expect(k8s.Delete(context.Background(), obj)).To(Succeed())
		})
	}
}
