package connect

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]struct {
		header string
		want   time.Duration
	}{
		"absent":                          {header: "", want: 0},
		"delta-seconds":                   {header: "120", want: 2 * time.Minute},
		"delta-seconds with spaces":       {header: " 5 ", want: 5 * time.Second},
		"zero":                            {header: "0", want: 0},
		"delta-seconds above the cap":     {header: "3601", want: time.Hour},
		"an absurd number is capped":      {header: "99999999999999999999999", want: time.Hour},
		"an HTTP-date":                    {header: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		"an HTTP-date in the past":        {header: now.Add(-time.Minute).Format(http.TimeFormat), want: 0},
		"an HTTP-date beyond the cap":     {header: now.Add(48 * time.Hour).Format(http.TimeFormat), want: time.Hour},
		"an RFC 850 date is an HTTP-date": {header: now.Add(time.Minute).Format(time.RFC850), want: time.Minute},
		"a negative number":               {header: "-5", want: 0},
		"garbage":                         {header: "soon", want: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(parseRetryAfter(tc.header, now)).To(Equal(tc.want))
		})
	}
}

func TestSanitizing(t *testing.T) {
	red := newRedactor("hunter2", "tok\x00en")
	tests := map[string]struct {
		got, want string
	}{
		"control characters are removed and line breaks become spaces": {got: red.description("a\r\n\tb\x00c\x1b[0m\u200bd"), want: "a bc[0md"},
		"invalid UTF-8 is dropped":                                     {got: red.description("ok\xff\xfe!"), want: "ok!"},
		"the secret is redacted":                                       {got: red.description("your secret hunter2 is wrong"), want: "your secret [redacted] is wrong"},
		"a secret with control characters is redacted in both forms":   {got: red.description("tok\x00en and token"), want: "[redacted] and [redacted]"},
		"descriptions are capped at 256 bytes":                         {got: red.description(strings.Repeat("a", 1000)), want: strings.Repeat("a", 253) + "..."},
		"codes keep RFC 6749 characters only":                          {got: red.code("invalid_\"client\\\n\u00e9"), want: "invalid_client"},
		"codes are capped":                                             {got: red.code(strings.Repeat("x", 100)), want: strings.Repeat("x", 61) + "..."},
		"codes are redacted too":                                       {got: red.code("hunter2"), want: "[redacted]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(tc.got).To(Equal(tc.want))
		})
	}
}

func TestCappedBody(t *testing.T) {
	tests := map[string]struct {
		size     int
		overflow bool
	}{
		"a body of exactly 1 MiB is read whole":  {size: maxBodyBytes},
		"a body one byte over 1 MiB is an error": {size: maxBodyBytes + 1, overflow: true},
		"a small body is read whole":             {size: 10},
		"an empty body is fine":                  {size: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			x := &exchange{}
			b := &cappedBody{rc: io.NopCloser(bytes.NewReader(make([]byte, tc.size))), left: maxBodyBytes, x: x}

			// Read the way x/oauth2 does: never more than 1 MiB.
			got, err := io.ReadAll(io.LimitReader(b, maxBodyBytes))

			g.Expect(x.overflow).To(Equal(tc.overflow))
			if tc.overflow {
				g.Expect(err).To(MatchError(errBodyTooLarge))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(HaveLen(tc.size))
		})
	}
}

func TestLRUEvictsTheLeastRecentlyUsed(t *testing.T) {
	g := NewWithT(t)
	var evicted []int
	c := newLRU[string](2, func(v int) { evicted = append(evicted, v) })
	add := func(k string, v int) int {
		got, _ := c.getOrAdd(k, func() (int, error) { return v, nil })
		return got
	}

	add("a", 1)
	add("b", 2)
	g.Expect(add("a", 99)).To(Equal(1), "a hit returns the cached value and refreshes it")
	add("c", 3)

	g.Expect(evicted).To(Equal([]int{2}))
	g.Expect(c.len()).To(Equal(2))
}

func TestLimitersAndTransportsAreBounded(t *testing.T) {
	g := NewWithT(t)
	c := NewClient(Options{})
	for i := range maxLimitedHosts + 10 {
		g.Expect(c.limiters.wait(t.Context(), "host-"+strconv.Itoa(i)+":443")).To(Succeed())
	}
	g.Expect(c.limiters.cache.len()).To(Equal(maxLimitedHosts))

	ca := selfSignedPEM(t)
	for i := range maxTransports + 5 {
		// Text before a PEM block is ignored, so each bundle differs but parses.
		_, err := c.transports.get(append([]byte("# bundle "+strconv.Itoa(i)+"\n"), ca...))
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(c.transports.cache.len()).To(Equal(maxTransports))
}

// selfSignedPEM returns a throwaway CA certificate in PEM.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
