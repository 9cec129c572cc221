package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const unrelatedNS = "bench-unrelated"

type memoryResult struct {
	RSSBefore     int64   `json:"rssBeforeBytes"`
	RSSAfter      int64   `json:"rssAfterBytes"`
	RSSPeak       int64   `json:"rssPeakBytes"` // sampled every second from the first create to the end
	Ratio         float64 `json:"rssRatio"`
	Unrelated     int     `json:"unrelated"`
	UnrelatedSize int     `json:"unrelatedSize"`
	CreateSeconds float64 `json:"createSeconds"`
}

// memory reads the manager's RSS, creates the unrelated Secrets in another namespace, waits
// 15 s and reads it again: the operator's memory must not follow other people's Secrets.
func (r *rig) memory(ctx context.Context) (memoryResult, error) {
	res := memoryResult{Unrelated: r.o.Unrelated, UnrelatedSize: r.o.UnrelatedSize}
	var err error
	if res.RSSBefore, err = r.managerRSS(); err != nil {
		return res, err
	}
	res.RSSPeak = res.RSSBefore
	if err := ensureNamespace(ctx, r.c, unrelatedNS); err != nil {
		return res, err
	}
	blob := make([]byte, r.o.UnrelatedSize)
	_, _ = rand.Read(blob)

	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan int64, 1)
	go func() {
		peak := res.RSSBefore
		for sleep(sampleCtx, time.Second) == nil {
			if rss, err := r.managerRSS(); err == nil {
				peak = max(peak, rss)
			}
		}
		sampled <- peak
	}()
	defer stopSampling()

	start := time.Now()
	createCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := parallel(createCtx, r.o.Workers, r.o.Unrelated, func(i int) error {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: unrelatedNS, Name: fmt.Sprintf("unrelated-%05d", i),
				Labels: map[string]string{"app.kubernetes.io/name": "someone-else"}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"blob": blob},
		}
		if err := r.c.Create(createCtx, s); err != nil {
			return fmt.Errorf("creating unrelated Secret %s: %w", s.Name, err)
		}
		return nil
	}); err != nil {
		return res, err
	}
	res.CreateSeconds = time.Since(start).Seconds()
	say("  memory: %d unrelated Secrets created in %.1fs; waiting 15 s", r.o.Unrelated, res.CreateSeconds)
	if err := sleep(ctx, 15*time.Second); err != nil {
		return res, err
	}
	if err := r.mgr.exitedErr(); err != nil {
		return res, err
	}
	if res.RSSAfter, err = r.managerRSS(); err != nil {
		return res, err
	}
	stopSampling()
	res.RSSPeak = max(<-sampled, res.RSSAfter)
	res.Ratio = float64(res.RSSAfter) / float64(res.RSSBefore)
	return res, nil
}
