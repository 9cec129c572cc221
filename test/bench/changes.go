package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/testenv"
)

// watchChanges counts the watch events (ADDED, MODIFIED, DELETED) of the bench namespace's
// ConnectTokens and Secrets from now on: the changes the API server actually stored, as opposed
// to the write requests it received (a patch that changes nothing is a request, not a change).
// The returned function stops watching and returns the counts, keyed "connecttokens MODIFIED".
func (r *rig) watchChanges(ctx context.Context) (func() counts, error) {
	wc, err := client.NewWithWatch(r.cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
		c  = counts{}
	)
	lists := map[string]func() client.ObjectList{
		"connecttokens": func() client.ObjectList { return &connectv1alpha1.ConnectTokenList{} },
		"secrets":       func() client.ObjectList { return &corev1.SecretList{} },
	}
	for kind, newList := range lists {
		// Watch from the current resourceVersion, so existing objects are not replayed as ADDED.
		l := newList()
		if err := r.c.List(ctx, l, client.InNamespace(benchNS), client.Limit(1)); err != nil {
			cancel()
			return nil, fmt.Errorf("listing %s: %w", kind, err)
		}
		rv := l.(metav1.ListInterface).GetResourceVersion()
		w, err := wc.Watch(ctx, newList(), client.InNamespace(benchNS), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("watching %s: %w", kind, err)
		}
		wg.Go(func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					mu.Lock()
					c[kind+" "+string(ev.Type)]++
					mu.Unlock()
				}
			}
		})
	}
	return func() counts {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(c)
	}, nil
}

// readyWatcher counts the bench namespace's Ready=True ConnectTokens from a watch (-ready-watch):
// the same figure as a List, without making the API server encode every ConnectToken each poll.
type readyWatcher struct {
	mu    sync.Mutex
	ready map[string]bool
	err   error
	stop  context.CancelFunc
	done  chan struct{}
}

func (r *rig) watchReady(ctx context.Context) (*readyWatcher, error) {
	wc, err := client.NewWithWatch(r.cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return nil, err
	}
	var l connectv1alpha1.ConnectTokenList
	if err := r.c.List(ctx, &l, client.InNamespace(benchNS)); err != nil {
		return nil, err
	}
	rw := &readyWatcher{ready: map[string]bool{}, done: make(chan struct{})}
	for i := range l.Items {
		rw.ready[l.Items[i].Name] = meta.IsStatusConditionTrue(l.Items[i].Status.Conditions, connectv1alpha1.ConditionReady)
	}
	ctx, rw.stop = context.WithCancel(ctx)
	w, err := wc.Watch(ctx, &connectv1alpha1.ConnectTokenList{}, client.InNamespace(benchNS),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: l.ResourceVersion}})
	if err != nil {
		rw.stop()
		return nil, err
	}
	go func() {
		defer close(rw.done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					rw.fail(errors.New("the ConnectToken watch ended"))
					return
				}
				ct, isCT := ev.Object.(*connectv1alpha1.ConnectToken)
				if !isCT {
					rw.fail(fmt.Errorf("ConnectToken watch: %s event %T", ev.Type, ev.Object))
					return
				}
				rw.mu.Lock()
				if ev.Type == watch.Deleted {
					delete(rw.ready, ct.Name)
				} else {
					rw.ready[ct.Name] = meta.IsStatusConditionTrue(ct.Status.Conditions, connectv1alpha1.ConditionReady)
				}
				rw.mu.Unlock()
			}
		}
	}()
	return rw, nil
}

func (rw *readyWatcher) fail(err error) {
	rw.mu.Lock()
	rw.err = err
	rw.mu.Unlock()
}

// count returns the number of Ready ConnectTokens seen so far.
func (rw *readyWatcher) count() (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	n := 0
	for _, ok := range rw.ready {
		if ok {
			n++
		}
	}
	return n, rw.err
}

func (rw *readyWatcher) close() {
	rw.stop()
	<-rw.done
}
