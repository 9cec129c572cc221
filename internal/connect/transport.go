package connect

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
)

const (
	// maxBodyBytes caps what we read from a token endpoint. x/oauth2 silently
	// truncates at the same size; we turn the overflow into an error instead
	// of parsing half a document.
	maxBodyBytes = 1 << 20
	// maxTransports bounds the transports cached per distinct CA bundle.
	maxTransports = 32
)

// errBodyTooLarge is returned by the response body once it passes maxBodyBytes.
var errBodyTooLarge = errors.New("token endpoint response exceeds 1 MiB")

// transports caches one *http.Transport per CA bundle (by SHA-256), so
// connections to a token host are kept alive across refreshes instead of
// paying a TLS handshake per token. The zero key (no bundle) uses system roots.
type transports struct {
	cache *lru[[sha256.Size]byte, *http.Transport]
}

func newTransports() *transports {
	return &transports{cache: newLRU[[sha256.Size]byte](maxTransports, func(t *http.Transport) { t.CloseIdleConnections() })}
}

// get returns the transport trusting the system roots plus caBundle.
func (ts *transports) get(caBundle []byte) (*http.Transport, error) {
	var key [sha256.Size]byte
	if len(caBundle) > 0 {
		key = sha256.Sum256(caBundle)
	}
	return ts.cache.getOrAdd(key, func() (*http.Transport, error) { return newTransport(caBundle) })
}

// errNoCertificates reports a CA bundle without a single usable certificate.
var errNoCertificates = errors.New("caBundle holds no PEM-encoded certificate")

func newTransport(caBundle []byte) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caBundle) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caBundle) {
			return nil, errNoCertificates
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}

// exchange records what happened on the wire during one token request, for
// classification: x/oauth2 flattens transport and body errors into strings.
type exchange struct {
	status   int         // 0 until a response arrived
	header   http.Header // response headers
	overflow bool        // the body passed maxBodyBytes
	readErr  error       // a body read failure other than overflow
}

type exchangeKey struct{}

func withExchange(ctx context.Context, x *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// recordingTransport sets the User-Agent, records the response in the
// request's exchange and caps the response body.
type recordingTransport struct {
	base      http.RoundTripper
	userAgent string
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt.userAgent != "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", rt.userAgent)
	}
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	x, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if x == nil {
		x = &exchange{}
	}
	x.status, x.header = resp.StatusCode, resp.Header
	resp.Body = &cappedBody{rc: resp.Body, left: maxBodyBytes, x: x}
	return resp, nil
}

// cappedBody returns errBodyTooLarge instead of the byte past the cap. It
// looks one byte ahead when the cap is reached, because x/oauth2 stops
// reading at exactly 1 MiB and would never ask for the excess.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
	x    *exchange
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.x.overflow {
		return 0, errBodyTooLarge
	}
	if b.left <= 0 {
		return b.probe(0)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		b.x.readErr = err
	}
	if err == nil && b.left == 0 {
		return b.probe(n)
	}
	return n, err
}

// probe checks whether anything follows the cap; n bytes were already read.
func (b *cappedBody) probe(n int) (int, error) {
	var one [1]byte
	for range 100 { // a Reader may return 0, nil; don't spin on it forever
		m, err := b.rc.Read(one[:])
		if m > 0 {
			b.x.overflow = true
			return n, errBodyTooLarge
		}
		if err == io.EOF {
			return n, io.EOF
		}
		if err != nil {
			b.x.readErr = err
			return n, err
		}
	}
	return n, io.ErrNoProgress
}

func (b *cappedBody) Close() error { return b.rc.Close() }
