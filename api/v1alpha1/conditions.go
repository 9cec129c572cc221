package v1alpha1

// ConditionReady is the one condition a ConnectToken carries. It is True iff the target Secret
// holds an unexpired token issued for the current spec. Argo CD's health check, alerts and
// `kubectl wait --for=condition=Ready` key on it.
const ConditionReady = "Ready"

// Reasons of the Ready condition. They are part of the API: the README's troubleshooting table,
// the Argo CD health check and alert rules rely on them, so they never change meaning.
const (
	// ReasonTokenIssued (True): the target Secret holds a valid token for the current spec.
	// The message says when it expires and when it will be refreshed, and whether the last
	// refresh attempt failed while the current token is still valid.
	ReasonTokenIssued = "TokenIssued"

	// ReasonIssuing (Unknown): the first token is being requested, or the operator is backing
	// off after a transient failure before any token was issued.
	ReasonIssuing = "Issuing"

	// ReasonSuspended (Unknown): spec.suspend is true and no token was issued yet. A suspended
	// ConnectToken with a token keeps reporting whether that token is still valid.
	ReasonSuspended = "Suspended"

	// ReasonCredentialsNotFound (False): the Secret named by spec.credentialsSecretRef does not
	// exist in the ConnectToken's namespace. Creating it triggers issuance at once.
	ReasonCredentialsNotFound = "CredentialsNotFound"

	// ReasonCredentialsInvalid (False): the credentials Secret lacks the client id or client
	// secret key, or one of them is empty.
	ReasonCredentialsInvalid = "CredentialsInvalid"

	// ReasonTokenRequestRejected (False): the token endpoint refused the request with an OAuth
	// error such as invalid_client or invalid_scope (HTTP 4xx) or a redirect. The user must act;
	// retries back off from minutes to an hour and restart at once when the spec or the
	// credentials change.
	ReasonTokenRequestRejected = "TokenRequestRejected"

	// ReasonTokenRequestFailed (False): the token request failed in a way that may pass: network
	// error, timeout, HTTP 429 or 5xx, or a malformed response. Retries back off from 5 s to
	// 5 min, honouring Retry-After.
	ReasonTokenRequestFailed = "TokenRequestFailed"

	// ReasonTokenURLNotAllowed (False): the token endpoint's host is not in the operator's
	// --allowed-token-hosts, or the URL breaks the URL policy. No request is made and the
	// credentials are never sent.
	ReasonTokenURLNotAllowed = "TokenURLNotAllowed"

	// ReasonSecretConflict (False): the target Secret exists and is not controlled by this
	// ConnectToken (created by someone else, or claimed by another ConnectToken). The operator
	// neither requests a token nor writes the Secret.
	ReasonSecretConflict = "SecretConflict"

	// ReasonTokenExpired (False): refreshing kept failing until the last token expired. The
	// Secret still holds that token; the message carries the last failure.
	ReasonTokenExpired = "TokenExpired"

	// ReasonLifetimeTooShort (False): the server issues tokens whose lifetime is too short to
	// refresh safely (the operator makes at most one token request per 5 seconds per
	// ConnectToken). The token is still written, but consumers may see expired tokens.
	ReasonLifetimeTooShort = "LifetimeTooShort"

	// ReasonTemplateInvalid (False): a spec.target.template.data entry does not parse or fails
	// to render. No token is requested and the Secret keeps its previous contents.
	ReasonTemplateInvalid = "TemplateInvalid"
)
