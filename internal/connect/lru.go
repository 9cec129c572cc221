package connect

import (
	"container/list"
	"sync"
)

// lru is a small size-capped map that evicts the least recently used entry.
// It bounds the per-host and per-CA-bundle state of a long-running operator:
// token hosts and CA bundles come from user input, so their number is not ours
// to choose.
type lru[K comparable, V any] struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front = most recently used; values are *lruEntry
	items   map[K]*list.Element
	onEvict func(V)
}

type lruEntry[K comparable, V any] struct {
	key   K
	value V
}

func newLRU[K comparable, V any](max int, onEvict func(V)) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element), onEvict: onEvict}
}

// getOrAdd returns the value for k, creating it with mk when absent. mk runs
// under the lock, so it must be quick and must not call back into the cache.
func (c *lru[K, V]) getOrAdd(k K, mk func() (V, error)) (V, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry[K, V]).value, nil
	}
	v, err := mk()
	if err != nil {
		return v, err
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, value: v})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		e := oldest.Value.(*lruEntry[K, V])
		c.order.Remove(oldest)
		delete(c.items, e.key)
		if c.onEvict != nil {
			c.onEvict(e.value)
		}
	}
	return v, nil
}

// len reports the number of entries held.
func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
