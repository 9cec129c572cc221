package controllers

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/connect"
)

// The target Secret's fixed layout (DESIGN §3): users, docs and tests rely on these names.
const (
	// KeyAccessToken holds the access token.
	KeyAccessToken = "access_token"
	// KeyTokenType holds the token type, for example "bearer".
	KeyTokenType = "token_type"
	// KeyExpiresAt holds the expiry in RFC 3339, UTC.
	KeyExpiresAt = "expires_at"

	// LabelManagedBy marks every Secret the operator writes; its cache is filtered on it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "connect-token-operator"
	// LabelConnectToken names the ConnectToken a Secret belongs to.
	LabelConnectToken = "connect.tokenop.dev/connect-token"

	// AnnotationIssuedAt is when the token in the Secret was issued (RFC 3339).
	AnnotationIssuedAt = "connect.tokenop.dev/issued-at"
	// AnnotationExpiresAt is when the token in the Secret expires (RFC 3339).
	AnnotationExpiresAt = "connect.tokenop.dev/expires-at"
	// AnnotationRequestHash is a digest of everything that determines the token: token URL,
	// client id and secret, scopes, authentication method, additional parameters, CA bundle.
	// It cannot be reversed to the client secret.
	AnnotationRequestHash = "connect.tokenop.dev/request-hash"
	// AnnotationSpecHash is the digest of the spec part of the request hash; together with
	// AnnotationCredentialsVersion it lets a restart verify the request hash without reading
	// the credentials Secret's values.
	AnnotationSpecHash = "connect.tokenop.dev/spec-hash"
	// AnnotationCredentialsVersion is the credentials Secret's resourceVersion when the token was issued.
	AnnotationCredentialsVersion = "connect.tokenop.dev/credentials-version"
	// AnnotationTokenHash is a digest of the access token, so an edited token is detected and replaced.
	AnnotationTokenHash = "connect.tokenop.dev/token-hash"

	// AnnotationLastForceRefresh is the force-refresh value the token in the Secret answered.
	// With status.lastForceRefresh it keeps a force-refresh from being repeated, even by a
	// reconcile that runs before the cache has seen the status update.
	AnnotationLastForceRefresh = "connect.tokenop.dev/last-force-refresh"

	// FieldOwner is the server-side apply field manager of every write the operator makes.
	FieldOwner = "connect-token-operator"
)

// tokenState is the token held in the target Secret: the operator's state lives there, not in memory.
type tokenState struct {
	AccessToken        string
	TokenType          string
	IssuedAt           time.Time
	ExpiresAt          time.Time
	Scopes             []string
	RequestHash        string
	SpecHash           string
	CredentialsVersion string
	ForceRefresh       string
}

func (t *tokenState) lifetime() time.Duration { return t.ExpiresAt.Sub(t.IssuedAt) }

// tokenFromSecret reads the token the operator wrote into s; nil when s is absent, or its token
// is missing, unreadable or was edited by someone else (then it must be replaced).
func tokenFromSecret(s *corev1.Secret, scopes []string) *tokenState {
	if s == nil {
		return nil
	}
	at := string(s.Data[KeyAccessToken])
	issued, err1 := time.Parse(time.RFC3339, s.Annotations[AnnotationIssuedAt])
	expires, err2 := time.Parse(time.RFC3339, s.Annotations[AnnotationExpiresAt])
	if at == "" || err1 != nil || err2 != nil || s.Annotations[AnnotationTokenHash] != digest(at) {
		return nil
	}
	return &tokenState{
		AccessToken:        at,
		TokenType:          string(s.Data[KeyTokenType]),
		IssuedAt:           issued,
		ExpiresAt:          expires,
		Scopes:             scopes,
		RequestHash:        s.Annotations[AnnotationRequestHash],
		SpecHash:           s.Annotations[AnnotationSpecHash],
		CredentialsVersion: s.Annotations[AnnotationCredentialsVersion],
		ForceRefresh:       s.Annotations[AnnotationLastForceRefresh],
	}
}

// tokenFromResponse turns a token answer into the state to write, applying the default lifetime.
func tokenFromResponse(tok *connect.Token, defaultLifetime time.Duration, h hashes, credsVersion, forceRefresh string) *tokenState {
	lifetime := tok.Lifetime
	if lifetime <= 0 {
		lifetime = defaultLifetime
	}
	issued := tok.IssuedAt.UTC().Truncate(time.Second)
	return &tokenState{
		AccessToken:        tok.AccessToken,
		TokenType:          tok.TokenType,
		IssuedAt:           issued,
		ExpiresAt:          issued.Add(lifetime.Truncate(time.Second)),
		Scopes:             tok.GrantedScopes,
		RequestHash:        h.request,
		SpecHash:           h.spec,
		CredentialsVersion: credsVersion,
		ForceRefresh:       forceRefresh,
	}
}

// templateData is what spec.target.template.data entries see.
type templateData struct {
	AccessToken string
	TokenType   string
	ExpiresAt   string
	Scopes      []string
}

// renderTemplates renders spec.target.template.data; an error names the key and never the token.
func renderTemplates(tpl *connectv1alpha1.SecretTemplate, d templateData) (map[string][]byte, error) {
	if tpl == nil || len(tpl.Data) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(tpl.Data))
	for _, key := range slices.Sorted(maps.Keys(tpl.Data)) {
		t, err := template.New(key).Option("missingkey=error").Parse(tpl.Data[key])
		if err != nil {
			return nil, fmt.Errorf("template for key %q does not parse: %s", key, templateError(err, key))
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, d); err != nil {
			return nil, fmt.Errorf("template for key %q fails to render: %s", key, templateError(err, key))
		}
		out[key] = buf.Bytes()
	}
	return out, nil
}

// templateError strips text/template's "template: <name>:" prefix; its messages quote the
// template source, never the data, so they cannot carry the token.
func templateError(err error, key string) string {
	return strings.TrimPrefix(err.Error(), "template: "+key+":")
}

// checkTemplates renders the templates with placeholder values, so a broken template is found
// before a token is requested for it.
func checkTemplates(spec connectv1alpha1.ConnectTokenSpec) error {
	_, err := renderTemplates(spec.Target.Template, templateData{
		AccessToken: "placeholder", TokenType: "bearer", ExpiresAt: time.Unix(0, 0).UTC().Format(time.RFC3339), Scopes: spec.Scopes,
	})
	return err
}

// desiredSecret is the complete target Secret for token t: data, labels, annotations and the
// controller ownerReference. Applied with server-side apply, it is the whole of what we own.
func desiredSecret(ct *connectv1alpha1.ConnectToken, t *tokenState) (*corev1ac.SecretApplyConfiguration, error) {
	expires := t.ExpiresAt.UTC().Format(time.RFC3339)
	extra, err := renderTemplates(ct.Spec.Target.Template, templateData{
		AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresAt: expires, Scopes: t.Scopes,
	})
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{
		KeyAccessToken: []byte(t.AccessToken),
		KeyTokenType:   []byte(t.TokenType),
		KeyExpiresAt:   []byte(expires),
	}
	maps.Copy(data, extra)
	labels := map[string]string{}
	for k, v := range ct.Spec.Target.Labels {
		labels[k] = string(v)
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelConnectToken] = ct.Name
	annotations := maps.Clone(ct.Spec.Target.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationIssuedAt] = t.IssuedAt.UTC().Format(time.RFC3339)
	annotations[AnnotationExpiresAt] = expires
	annotations[AnnotationRequestHash] = t.RequestHash
	annotations[AnnotationSpecHash] = t.SpecHash
	annotations[AnnotationCredentialsVersion] = t.CredentialsVersion
	annotations[AnnotationTokenHash] = digest(t.AccessToken)
	if t.ForceRefresh != "" {
		annotations[AnnotationLastForceRefresh] = t.ForceRefresh
	}

	gvk := connectv1alpha1.GroupVersion.WithKind("ConnectToken")
	return corev1ac.Secret(ct.Spec.Target.Name, ct.Namespace).
		WithType(corev1.SecretTypeOpaque).
		WithLabels(labels).
		WithAnnotations(annotations).
		WithData(data).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(gvk.GroupVersion().String()).
			WithKind(gvk.Kind).
			WithName(ct.Name).
			WithUID(ct.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)), nil
}

// secretMatches reports whether the existing Secret already has everything desired, so an
// unchanged Secret costs no write. Keys and labels added by others are left alone.
func secretMatches(s *corev1.Secret, want *corev1ac.SecretApplyConfiguration) bool {
	if s == nil || s.Type != corev1.SecretTypeOpaque || !ownedBy(s.OwnerReferences, *want.OwnerReferences[0].UID) {
		return false
	}
	if len(s.Data) != len(want.Data) {
		return false
	}
	for k, v := range want.Data {
		if !bytes.Equal(s.Data[k], v) {
			return false
		}
	}
	return containsAll(s.Labels, want.Labels) && containsAll(s.Annotations, want.Annotations)
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ownedBy reports whether refs hold a controller reference to the object with this UID.
func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, ref := range refs {
		if ref.Controller != nil && *ref.Controller && ref.UID == uid {
			return true
		}
	}
	return false
}

// hashes are the digests that say whether a token was issued for the current request.
type hashes struct {
	spec    string // token URL, scopes, method, parameters, CA bundle, credentials reference
	request string // spec plus the client id and secret
}

// specHash digests the parts of the spec that determine the token.
func specHash(spec connectv1alpha1.ConnectTokenSpec) string {
	scopes := slices.Clone(spec.Scopes)
	sort.Strings(scopes)
	parts := make([]string, 0, 8+2*len(spec.AdditionalParameters))
	parts = append(parts, "v1", tokenURL(spec), string(authMethod(spec)), spec.CABundle,
		spec.CredentialsSecretRef.Name, clientIDKey(spec), clientSecretKey(spec), strings.Join(scopes, " "))
	for _, k := range slices.Sorted(maps.Keys(spec.AdditionalParameters)) {
		parts = append(parts, k, spec.AdditionalParameters[k])
	}
	return digest(parts...)
}

// requestHashes combines the spec digest with the credentials; one-way, so the client secret
// cannot be recovered from the annotation.
func requestHashes(spec connectv1alpha1.ConnectTokenSpec, clientID, clientSecret string) hashes {
	s := specHash(spec)
	return hashes{spec: s, request: digest(s, clientID, clientSecret)}
}

// digest is a SHA-256 over length-prefixed parts (so "ab","c" ≠ "a","bc"), hex, 32 characters.
func digest(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// tokenURL is the token endpoint: spec.tokenURL, else spec.issuerURL + "/oauth2/token".
func tokenURL(spec connectv1alpha1.ConnectTokenSpec) string {
	if spec.TokenURL != "" {
		return spec.TokenURL
	}
	return strings.TrimSuffix(spec.IssuerURL, "/") + "/oauth2/token"
}

func authMethod(spec connectv1alpha1.ConnectTokenSpec) connect.AuthMethod {
	if spec.ClientAuthentication == connectv1alpha1.ClientSecretBasic {
		return connect.AuthClientSecretBasic
	}
	return connect.AuthClientSecretPost
}

func clientIDKey(spec connectv1alpha1.ConnectTokenSpec) string {
	if k := spec.CredentialsSecretRef.ClientIDKey; k != "" {
		return k
	}
	return "client_id"
}

func clientSecretKey(spec connectv1alpha1.ConnectTokenSpec) string {
	if k := spec.CredentialsSecretRef.ClientSecretKey; k != "" {
		return k
	}
	return "client_secret"
}
