package accounts

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func cachedFor(userID string, now time.Time) cachedPrincipal {
	return cachedPrincipal{user: User{ID: userID}, sessionExpires: now.Add(time.Hour), fetched: now}
}

// A read stamped before an eviction, a flush or a prune must never be stored after it: what it
// read may be what the eviction was about.
func TestPrincipalCacheNeverStoresAReadThatRacedAnInvalidation(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for name, invalidate := range map[string]func(c *principalCache){
		"evictUser":               func(c *principalCache) { c.evictUser("u1") },
		"flush":                   func(c *principalCache) { c.flush(now) },
		"prune":                   func(c *principalCache) { c.prune(now) },
		"notification u:":         func(c *principalCache) { c.handle("u:u1", now, time.Minute) },
		"notification of a flush": func(c *principalCache) { c.handle("*", now, time.Minute) },
	} {
		t.Run(name, func(t *testing.T) {
			c := newPrincipalCache()
			c.enabled.Store(true)
			st := c.stamp("u1")
			invalidate(c)
			c.put("s1", cachedFor("u1", now), st)
			if _, ok := c.get("u1", "s1", "j1", now); ok {
				t.Fatal("a read stamped before the invalidation was stored")
			}
			c.put("s1", cachedFor("u1", now), c.stamp("u1"))
			if _, ok := c.get("u1", "s1", "j1", now); !ok {
				t.Fatal("a read stamped after the invalidation was not stored")
			}
		})
	}
}

func TestPrincipalCacheAnswersNothingForARevokedTokenOrWhenDisabled(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c := newPrincipalCache()
	c.enabled.Store(true)
	c.put("s1", cachedFor("u1", now), c.stamp("u1"))
	c.handle("j:j1", now, time.Minute)
	if _, ok := c.get("u1", "s1", "j1", now); ok {
		t.Error("a revoked token id was answered from the cache")
	}
	if _, ok := c.get("u1", "s1", "j2", now); !ok {
		t.Error("another token of the same session was not answered")
	}
	if _, ok := c.get("u1", "s1", "j2", now.Add(cacheTTL+time.Second)); ok {
		t.Error("an entry older than the cache's TTL was answered")
	}
	c.enabled.Store(false)
	if _, ok := c.get("u1", "s1", "j2", now); ok {
		t.Error("the cache answered while disabled (change notifications not received)")
	}
}

// Readers, writers and invalidations at once: run under -race (make test-race), this is the
// cache's data-race check; without -race it still checks the invariant that an entry put with a
// stamp taken after the last eviction of its user is the one a reader sees.
func TestPrincipalCacheUnderConcurrentUse(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	c := newPrincipalCache()
	c.enabled.Store(true)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				user := fmt.Sprintf("u%d", i%16)
				switch (g + i) % 7 {
				case 0:
					c.evictUser(user)
				case 1:
					c.handle("j:"+fmt.Sprint(i), now, time.Minute)
				case 2:
					if i%500 == 0 {
						c.flush(now)
					}
				default:
					c.put("s", cachedFor(user, now), c.stamp(user))
					c.get(user, "s", "jx", now)
				}
			}
		}()
	}
	wg.Wait()
	c.evictUser("u1")
	c.put("s", cachedFor("u1", now), c.stamp("u1"))
	if e, ok := c.get("u1", "s", "jx", now); !ok || e.user.ID != "u1" {
		t.Fatalf("after the storm, a fresh put is not answered: %v %+v", ok, e)
	}
}
