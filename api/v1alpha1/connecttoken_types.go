package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ForceRefreshAnnotation on a ConnectToken requests one immediate token refresh whenever its value
// changes (any new value, for example a timestamp). The handled value is recorded in
// status.lastForceRefresh, so a restart of the operator does not repeat the refresh.
const ForceRefreshAnnotation = "connect.tokenop.dev/force-refresh"

// ClientAuthenticationMethod says how the client credentials are presented to the token endpoint.
// +kubebuilder:validation:Enum=ClientSecretPost;ClientSecretBasic
type ClientAuthenticationMethod string

const (
	// ClientSecretPost sends client_id and client_secret in the form body (RFC 6749 §2.3.1);
	// the method WorkOS Connect documents, and the default.
	ClientSecretPost ClientAuthenticationMethod = "ClientSecretPost"
	// ClientSecretBasic sends the credentials in an HTTP Basic Authorization header.
	ClientSecretBasic ClientAuthenticationMethod = "ClientSecretBasic"
)

// ConnectTokenSpec is the desired state of a ConnectToken: where to get a token, with which
// credentials and scopes, and which Secret to keep it in.
// +kubebuilder:validation:XValidation:rule="has(self.issuerURL) != has(self.tokenURL)",message="exactly one of spec.issuerURL or spec.tokenURL must be set"
// +kubebuilder:validation:XValidation:rule="self.target.name != self.credentialsSecretRef.name",message="spec.target.name must differ from spec.credentialsSecretRef.name: the operator never writes into the credentials Secret",fieldPath=".target.name"
// +kubebuilder:validation:XValidation:rule="!(has(self.refreshBefore) && has(self.refreshBeforePercentage))",message="set at most one of spec.refreshBefore and spec.refreshBeforePercentage"
type ConnectTokenSpec struct {
	// issuerURL is the WorkOS AuthKit domain, for example https://acme.authkit.app.
	// The token endpoint is issuerURL + "/oauth2/token". It must use https; http is
	// accepted only for a loopback host (localhost, 127.0.0.0/8, [::1]) for local testing.
	// No user info, query or fragment. Exactly one of issuerURL and tokenURL is required.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != ''",message="must be an absolute URL such as https://acme.authkit.app"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() == 'https' || self.matches('^http://(localhost|127([.][0-9]{1,3}){3}|[[]::1[]])(:[0-9]{1,5})?(/[^?#]*)?$')",message="must use https; http is allowed only for a loopback host (localhost, 127.0.0.0/8, [::1])"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[^/]*//[^/?#]*@')",message="must not contain user info; put credentials in the credentials Secret"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="must not contain a query string or fragment"
	IssuerURL string `json:"issuerURL,omitempty"`

	// tokenURL is the full token endpoint URL, for OAuth 2.0 servers that do not serve it at
	// issuerURL + "/oauth2/token" (for example https://login.example.com/token).
	// Same rules as issuerURL. Exactly one of issuerURL and tokenURL is required.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != ''",message="must be an absolute URL such as https://acme.authkit.app/oauth2/token"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() == 'https' || self.matches('^http://(localhost|127([.][0-9]{1,3}){3}|[[]::1[]])(:[0-9]{1,5})?(/[^?#]*)?$')",message="must use https; http is allowed only for a loopback host (localhost, 127.0.0.0/8, [::1])"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[^/]*//[^/?#]*@')",message="must not contain user info; put credentials in the credentials Secret"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="must not contain a query string or fragment"
	TokenURL string `json:"tokenURL,omitempty"`

	// credentialsSecretRef names the Secret, in the ConnectToken's own namespace, that holds the
	// OAuth client id and client secret. Credentials are never read from another namespace.
	CredentialsSecretRef CredentialsSecretReference `json:"credentialsSecretRef"`

	// scopes are requested with the token, joined with single spaces, for example
	// ["widgets:read", "widgets:write"]. Each is a non-empty OAuth scope token (printable ASCII,
	// no spaces, quotes or backslashes); no duplicates. Empty means no scope parameter is sent.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	Scopes []string `json:"scopes,omitempty"`

	// clientAuthentication is how the credentials are sent: ClientSecretPost (in the form body,
	// as WorkOS documents; the default when empty) or ClientSecretBasic (HTTP Basic header).
	// +optional
	ClientAuthentication ClientAuthenticationMethod `json:"clientAuthentication,omitempty"`

	// refreshBefore is how long before the token expires it is refreshed, as a Go duration
	// (for example "2m"). When it is not shorter than the token's lifetime, the default applies:
	// refresh when a third of the lifetime remains. At most one of refreshBefore and
	// refreshBeforePercentage may be set.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive Go duration such as 90s or 2m"
	RefreshBefore *metav1.Duration `json:"refreshBefore,omitempty"`

	// refreshBeforePercentage refreshes the token when this share (1-99) of its actual lifetime
	// remains, for example 33 refreshes a 300 s token 100 s before expiry. The default behaves
	// as 33. At most one of refreshBefore and refreshBeforePercentage may be set.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	RefreshBeforePercentage *int32 `json:"refreshBeforePercentage,omitempty"`

	// target describes the Secret the operator creates and keeps up to date with the token.
	Target TargetSecret `json:"target"`

	// additionalParameters are extra form parameters sent with the token request, for servers
	// that need them (for example Auth0's "audience" or RFC 8707 "resource"). grant_type,
	// client_id, client_secret and scope are set by the operator and may not appear here.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 128 && k.matches('^[A-Za-z0-9_.-]+$'))",message="keys must be 1-128 characters of letters, digits, '_', '.' or '-'"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k in ['grant_type', 'client_id', 'client_secret', 'scope'])",message="grant_type, client_id, client_secret and scope are set by the operator and may not be overridden"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 2048)",message="values must be at most 2048 characters"
	AdditionalParameters map[string]string `json:"additionalParameters,omitempty"`

	// caBundle is a PEM bundle of certificate authorities to trust for the token endpoint, added
	// to the system roots, for endpoints behind a private CA. TLS verification is never skipped.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	// +kubebuilder:validation:XValidation:rule="self.contains('-----BEGIN CERTIFICATE-----')",message="must hold at least one PEM certificate (-----BEGIN CERTIFICATE-----)"
	CABundle string `json:"caBundle,omitempty"`

	// suspend stops all token requests while true; the target Secret and its last token are
	// kept. Setting it back to false resumes refreshing on schedule. Defaults to false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// CredentialsSecretReference names the Secret with the OAuth client credentials. The Secret is
// always read from the ConnectToken's own namespace; there is deliberately no namespace field.
type CredentialsSecretReference struct {
	// name of the Secret in the ConnectToken's namespace, for example "workos-m2m-credentials".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// clientIDKey is the data key holding the client id. Defaults to "client_id".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	ClientIDKey string `json:"clientIDKey,omitempty"`

	// clientSecretKey is the data key holding the client secret. Defaults to "client_secret".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	ClientSecretKey string `json:"clientSecretKey,omitempty"`
}

// TargetSecret describes the Secret that receives the token.
type TargetSecret struct {
	// name of the Secret to create and keep updated, in the ConnectToken's namespace, for example
	// "workos-m2m-token". The operator refuses to write into a Secret it does not own
	// (reason SecretConflict). It must differ from credentialsSecretRef.name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// labels are added to the Secret's own labels (app.kubernetes.io/managed-by and
	// connect.tokenop.dev/connect-token are always set). The ConnectToken's own labels are never copied.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name of up to 63 characters"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k in ['app.kubernetes.io/managed-by', 'connect.tokenop.dev/connect-token'])",message="app.kubernetes.io/managed-by and connect.tokenop.dev/connect-token are set by the operator"
	Labels map[string]LabelValue `json:"labels,omitempty"`

	// annotations are added to the Secret's own annotations (the connect.tokenop.dev/issued-at,
	// expires-at and request-hash annotations are always set). The ConnectToken's own annotations are never copied.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="keys must be valid annotation keys: an optional DNS subdomain prefix and '/', then a name of up to 63 characters"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k.startsWith('connect.tokenop.dev/'))",message="keys under connect.tokenop.dev/ are set by the operator"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 4096)",message="values must be at most 4096 characters"
	Annotations map[string]string `json:"annotations,omitempty"`

	// template adds rendered keys to the Secret beside access_token, token_type and expires_at.
	// +optional
	Template *SecretTemplate `json:"template,omitempty"`
}

// LabelValue is a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', beginning
// and ending with a letter or digit, or empty.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
type LabelValue string

// SecretTemplate renders extra data keys of the target Secret.
type SecretTemplate struct {
	// data maps a Secret data key to a Go text/template rendered with .AccessToken, .TokenType,
	// .ExpiresAt (RFC 3339) and .Scopes (a list), for example
	// {"authorization": "Bearer {{ .AccessToken }}"}. Keys must be valid Secret data keys and may
	// not be access_token, token_type or expires_at. A template that does not parse or fails to
	// render cannot be caught at admission: it is reported as Ready=False with reason
	// TemplateInvalid, no token is requested, and the Secret keeps its previous contents.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",message="keys must be valid Secret data keys: up to 253 letters, digits, '-', '_' or '.'"
	// +kubebuilder:validation:XValidation:rule="!self.exists(k, k in ['access_token', 'token_type', 'expires_at'])",message="access_token, token_type and expires_at are written by the operator and may not be templated"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 4096)",message="templates must be at most 4096 characters"
	Data map[string]string `json:"data,omitempty"`
}

// ConnectTokenStatus is the observed state of a ConnectToken. It never holds the token itself.
type ConnectTokenStatus struct {
	// conditions hold the Ready condition: True iff the target Secret holds an unexpired token
	// issued for the current spec. Its reason is one of the constants documented in conditions.go.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the last successful reconcile acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastIssuedTime is when the current token was issued (seconds precision).
	// +optional
	LastIssuedTime *metav1.Time `json:"lastIssuedTime,omitempty"`

	// expirationTime is when the current token expires (seconds precision).
	// +optional
	ExpirationTime *metav1.Time `json:"expirationTime,omitempty"`

	// nextRefreshTime is when the operator will next request a token (seconds precision).
	// +optional
	NextRefreshTime *metav1.Time `json:"nextRefreshTime,omitempty"`

	// tokenType is the token type the server returned, for example "bearer".
	// +optional
	TokenType string `json:"tokenType,omitempty"`

	// grantedScopes are the scopes the server granted (its "scope" answer, else the requested ones).
	// +optional
	// +listType=atomic
	GrantedScopes []string `json:"grantedScopes,omitempty"`

	// tokenID is the current token's JWT "jti" claim, read without verification, for display.
	// +optional
	TokenID string `json:"tokenID,omitempty"`

	// organizationID is the current token's JWT "org_id" claim, read without verification, for display.
	// +optional
	OrganizationID string `json:"organizationID,omitempty"`

	// failedAttempts counts consecutive failed token requests; it drives the backoff and is reset
	// by a success or by a change of spec or credentials.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`

	// lastFailureTime is when the last token request failed (seconds precision).
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// failedRequestHash is the digest of the request inputs that failed (the same one-way digest
	// as the target Secret's connect.tokenop.dev/request-hash annotation). A change of spec or
	// credentials changes the digest and so ends the backoff at once.
	// +optional
	FailedRequestHash string `json:"failedRequestHash,omitempty"`

	// lastForceRefresh is the last value of the connect.tokenop.dev/force-refresh annotation
	// that was handled.
	// +optional
	LastForceRefresh string `json:"lastForceRefresh,omitempty"`
}

// ConnectToken keeps a short-lived WorkOS Connect (OAuth 2.0 client credentials) access token
// fresh in a Secret of its namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ctoken;ctokens,categories=all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.target.name`
// +kubebuilder:printcolumn:name="Expires",type=string,format=date-time,JSONPath=`.status.expirationTime`
// +kubebuilder:printcolumn:name="Next Refresh",type=string,format=date-time,JSONPath=`.status.nextRefreshTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConnectToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired token and target Secret.
	Spec ConnectTokenSpec `json:"spec"`

	// status is the observed state, written by the operator.
	// +optional
	Status ConnectTokenStatus `json:"status,omitempty"`
}

// ConnectTokenList is a list of ConnectTokens.
// +kubebuilder:object:root=true
type ConnectTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the ConnectTokens.
	Items []ConnectToken `json:"items"`
}
