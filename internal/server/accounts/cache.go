package accounts

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// principalCache keeps, per user and session, what Authenticate read from the database, so that
// an authenticated read costs a signature check instead of a database round trip.
//
// It is only trusted while this replica listens to the rsched_auth channel, on which triggers
// (migration 005) announce every change to users, sessions and revoked token ids, whoever made
// it. While the listening connection is down the cache is bypassed and, when it is back,
// emptied: a notification missed while away can never leave a stale entry. Entries also expire
// after cacheTTL. The remaining window is the notification's delivery time (milliseconds) on
// other replicas; this replica evicts its own changes before it answers.
type principalCache struct {
	enabled atomic.Bool
	ttl     time.Duration

	mu      sync.RWMutex
	entries map[string]map[string]cachedPrincipal // user id -> session id -> entry
	revoked map[string]time.Time                  // jti -> when it may be forgotten
	size    int
	// gens count evictions per user and epoch flushes, so that a database read that raced with
	// an eviction never stores what it read (stamp before the read, put checks the stamp).
	gens  map[string]uint64
	epoch uint64
}

type stamp struct{ epoch, gen uint64 }

func (c *principalCache) stamp(userID string) stamp {
	if c == nil {
		return stamp{}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return stamp{c.epoch, c.gens[userID]}
}

type cachedPrincipal struct {
	user           User
	csrfHash       []byte
	sessionExpires time.Time
	fetched        time.Time
}

const (
	cacheTTL        = 30 * time.Second
	cacheMaxEntries = 100_000
	authChannel     = "rsched_auth"
)

func newPrincipalCache() *principalCache {
	return &principalCache{ttl: cacheTTL, entries: map[string]map[string]cachedPrincipal{}, revoked: map[string]time.Time{},
		gens: map[string]uint64{}}
}

func (c *principalCache) get(userID, sessionID, jti string, now time.Time) (cachedPrincipal, bool) {
	if c == nil || !c.enabled.Load() {
		return cachedPrincipal{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, gone := c.revoked[jti]; gone {
		return cachedPrincipal{}, false
	}
	e, ok := c.entries[userID][sessionID]
	if !ok || now.Sub(e.fetched) > c.ttl || !e.sessionExpires.After(now) {
		return cachedPrincipal{}, false
	}
	return e, true
}

func (c *principalCache) put(sessionID string, e cachedPrincipal, st stamp) {
	if c == nil || !c.enabled.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st != (stamp{c.epoch, c.gens[e.user.ID]}) {
		return // evicted while it was being read: what was read may be stale
	}
	if c.size >= cacheMaxEntries {
		c.entries, c.size = map[string]map[string]cachedPrincipal{}, 0
	}
	m := c.entries[e.user.ID]
	if m == nil {
		m = map[string]cachedPrincipal{}
		c.entries[e.user.ID] = m
	}
	if _, ok := m[sessionID]; !ok {
		c.size++
	}
	m[sessionID] = e
}

// evictUser forgets every entry of a user.
func (c *principalCache) evictUser(userID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.size -= len(c.entries[userID])
	delete(c.entries, userID)
	c.gens[userID]++
	c.mu.Unlock()
}

// revoke remembers a revoked token id for as long as any access token could live.
func (c *principalCache) revoke(jti string, until time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.revoked[jti] = until
	c.mu.Unlock()
}

// flush empties the cache and drops revoked ids whose tokens have expired.
func (c *principalCache) flush(now time.Time) {
	c.mu.Lock()
	c.entries, c.size = map[string]map[string]cachedPrincipal{}, 0
	c.gens = map[string]uint64{}
	c.epoch++
	for jti, until := range c.revoked {
		if now.After(until) {
			delete(c.revoked, jti)
		}
	}
	c.mu.Unlock()
}

// prune drops revoked ids whose tokens have expired and the eviction counters. Resetting the
// counters bumps the epoch, so a read stamped before the reset can never match after it.
func (c *principalCache) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for jti, until := range c.revoked {
		if now.After(until) {
			delete(c.revoked, jti)
		}
	}
	c.gens = map[string]uint64{}
	c.epoch++
}

// handle applies one notification.
func (c *principalCache) handle(payload string, now time.Time, tokenTTL time.Duration) {
	switch kind, id, _ := strings.Cut(payload, ":"); kind {
	case "u":
		c.evictUser(id)
	case "j":
		c.revoke(id, now.Add(tokenTTL+2*time.Minute))
	default:
		c.flush(now)
	}
}

// CacheEnabled reports whether authenticated requests may be answered from the principal cache
// (the change notifications are being received).
func (s *Service) CacheEnabled() bool { return s.cache.enabled.Load() }

// invalidate evicts a user's cached principals after this replica changed them; the trigger's
// notification does the same on every other replica.
func (s *Service) invalidate(userID string) { s.cache.evictUser(userID) }

// ListenForChanges keeps a connection listening to the change notifications and enables the
// principal cache while it is up. It returns when ctx ends. Without it the cache stays off and
// every request reads the database. dial opens the dedicated connection (store.Store.Connect: the
// pool's TLS settings and files).
func (s *Service) ListenForChanges(ctx context.Context, dial func(context.Context) (*pgx.Conn, error)) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := s.listen(ctx, dial)
		s.cache.enabled.Store(false)
		s.cache.flush(s.now())
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("auth change notifications interrupted; authenticating from the database until they are back", "error", err, "retryIn", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Service) listen(ctx context.Context, dial func(context.Context) (*pgx.Conn, error)) error {
	conn, err := dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The one statement of this package: LISTEN is not a query on the account tables but the
	// subscription of this dedicated connection (not the pool's: a pooled connection would be
	// handed back and its subscription lost), which WaitForNotification then reads; the store
	// would only hand the connection back.
	if _, err := conn.Exec(ctx, "LISTEN "+authChannel); err != nil {
		return err
	}
	// Anything cached before LISTEN took effect may have missed a notification.
	s.cache.flush(s.now())
	s.cache.enabled.Store(true)
	for {
		// Wake up at least every listenCheck to prove the connection is alive: a connection
		// dropped without a FIN (a NAT timeout, a failed-over database) would otherwise leave the
		// cache trusted while no notification can arrive.
		wait, cancel := context.WithTimeout(ctx, listenCheck)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			s.cache.handle(n.Payload, s.now(), s.cfg.AccessTTL)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case wait.Err() == nil:
			return err
		}
		ping, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = conn.Ping(ping)
		cancel()
		if err != nil {
			return err
		}
		s.cache.prune(s.now())
	}
}

// listenCheck is how often an idle notification connection is pinged.
const listenCheck = 10 * time.Second
