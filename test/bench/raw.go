package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// rawResult is the API server's own ceiling: create+update pairs of target-shaped Secrets.
type rawResult struct {
	Pairs        int     `json:"pairs"`
	Seconds      float64 `json:"seconds"`
	PairsPerSec  float64 `json:"pairsPerSecond"`
	Workers      int     `json:"workers"`
	SecretBytes  int     `json:"secretDataBytes"`
	CleanupError string  `json:"cleanupError,omitempty"`
	CPU          counts  `json:"cpuSecondsByProcess"`
}

// fakeJWT returns a random string shaped like an RS256 JWT of about 900 bytes
// (header.payload.signature, base64url), the size of a WorkOS Connect access token.
func fakeJWT() string {
	payload, sig := make([]byte, 390), make([]byte, 256)
	_, _ = rand.Read(payload)
	_, _ = rand.Read(sig)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","kid":"bench","typ":"JWT"}`)) + "." +
		enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// targetShaped fills s like a target Secret the operator writes: three data keys, two labels,
// six annotations. The managed-by value is not the operator's, so no operator cache holds it.
func targetShaped(s *corev1.Secret, owner string) {
	now := time.Now().UTC()
	token := fakeJWT()
	exp := now.Add(time.Hour).Format(time.RFC3339)
	s.Type = corev1.SecretTypeOpaque
	s.Data = map[string][]byte{
		"access_token": []byte(token),
		"token_type":   []byte("bearer"),
		"expires_at":   []byte(exp),
	}
	s.Labels = map[string]string{
		"app.kubernetes.io/managed-by":      "connect-token-bench",
		"connect.tokenop.dev/connect-token": owner,
	}
	s.Annotations = map[string]string{
		"connect.tokenop.dev/issued-at":           now.Format(time.RFC3339),
		"connect.tokenop.dev/expires-at":          exp,
		"connect.tokenop.dev/request-hash":        digest(owner + "request"),
		"connect.tokenop.dev/spec-hash":           digest(owner + "spec"),
		"connect.tokenop.dev/credentials-version": "12345",
		"connect.tokenop.dev/token-hash":          digest(token),
	}
}

// rawCeiling has workers goroutines create, then update, n target-shaped Secrets in namespace
// ns, and returns the pairs per second: the rate at which this API server can take the two
// writes every issuance needs at least (the Secret and the ConnectToken's status).
func rawCeiling(ctx context.Context, c client.Client, ns string, n, workers int) (rawResult, error) {
	if err := ensureNamespace(ctx, c, ns); err != nil {
		return rawResult{}, err
	}
	cpu0 := processCPU()
	start := time.Now()
	err := parallel(ctx, workers, n, func(i int) error {
		name := fmt.Sprintf("raw-%05d", i)
		s := &corev1.Secret{}
		s.Namespace, s.Name = ns, name+"-token"
		targetShaped(s, name)
		if err := c.Create(ctx, s); err != nil {
			return fmt.Errorf("raw ceiling, creating Secret %s: %w", s.Name, err)
		}
		targetShaped(s, name) // a refreshed token, as a refresh writes
		if err := c.Update(ctx, s); err != nil {
			return fmt.Errorf("raw ceiling, updating Secret %s: %w", s.Name, err)
		}
		return nil
	})
	elapsed := time.Since(start)
	cpu := processCPU().minus(cpu0)
	if err != nil {
		return rawResult{}, err
	}
	probe := &corev1.Secret{}
	targetShaped(probe, "raw-00000")
	size := 0
	for _, v := range probe.Data {
		size += len(v)
	}
	r := rawResult{Pairs: n, Seconds: elapsed.Seconds(), PairsPerSec: float64(n) / elapsed.Seconds(), Workers: workers, SecretBytes: size, CPU: cpu}
	// Remove the scratch Secrets so they do not weigh on the phases that follow.
	if err := c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns)); err != nil {
		r.CleanupError = err.Error()
	}
	return r, nil
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	ns := &corev1.Namespace{}
	ns.Name = name
	if err := client.IgnoreAlreadyExists(c.Create(ctx, ns)); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// parallel runs f(0) … f(n-1) on workers goroutines (worker w takes w, w+workers, …) and returns
// the first error; a worker stops at its first error.
func parallel(ctx context.Context, workers, n int, f func(int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n && ctx.Err() == nil; i += workers {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
