package connect

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/gomega"
)

func TestReadClaims(t *testing.T) {
	unsigned := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		token string
		want  Claims
	}{
		"WorkOS claims are read": {
			token: unsigned(jwt.MapClaims{"jti": "tok_1", "org_id": "org_1", "scope": "a b", "exp": exp.Unix()}),
			want:  Claims{TokenID: "tok_1", OrganizationID: "org_1", Scope: "a b", ExpiresAt: exp},
		},
		"a scp list stands in for a missing scope": {
			token: unsigned(jwt.MapClaims{"scp": []any{"a", "b"}}),
			want:  Claims{Scope: "a b"},
		},
		"claims of unexpected types are left empty": {
			token: unsigned(jwt.MapClaims{"jti": 42, "org_id": map[string]any{"x": 1}}),
			want:  Claims{},
		},
		"control characters are removed from claims": {
			token: unsigned(jwt.MapClaims{"jti": "tok\x1b[31m_1\n"}),
			want:  Claims{TokenID: "tok[31m_1"},
		},
		"an opaque token has no claims": {token: "opaque-" + tokenMarker, want: Claims{}},
		"a malformed JWT has no claims": {token: "a.b.c", want: Claims{}},
		"an exp that is not a number voids only exp": {
			token: unsigned(jwt.MapClaims{"jti": "tok_1", "exp": "tomorrow"}),
			want:  Claims{TokenID: "tok_1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(readClaims(tc.token)).To(Equal(tc.want))
		})
	}
}
