package ratelimit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/store"
	"github.com/rsched/rsched/internal/server/store/storetest"
	"github.com/rsched/rsched/internal/testenv"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithPostgres(m, func(p *testenv.Postgres) { pg = p }))
}

type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// replicas opens count server instances on one fresh database, sharing a test clock.
func replicas(t *testing.T, count int) ([]*Limiter, *clock) {
	t.Helper()
	c := &clock{}
	c.set(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	var out []*Limiter
	for _, s := range storetest.Instances(t, pg, count) {
		out = append(out, New(s, c.now))
	}
	return out, c
}

var login = Limit{Requests: 5, Period: time.Minute}

func TestTheLimitHoldsAcrossTwoServerInstances(t *testing.T) {
	ls, _ := replicas(t, 2)
	ctx := context.Background()
	for i := range 5 {
		d, err := ls[i%2].Allow(ctx, "login:ip:203.0.113.7", login)
		if err != nil || !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("request %d via replica %d: %+v %v", i+1, i%2, d, err)
		}
	}
	for r := range 2 {
		d, err := ls[r].Allow(ctx, "login:ip:203.0.113.7", login)
		if err != nil || d.Allowed || d.RetryAfter < time.Second || d.Remaining != 0 {
			t.Errorf("6th request via replica %d: %+v %v, want refused with Retry-After", r, d, err)
		}
	}
	// Another key is counted on its own.
	if d, _ := ls[1].Allow(ctx, "login:ip:198.51.100.9", login); !d.Allowed {
		t.Error("another address was refused")
	}
}

func TestConcurrentRequestsOnTwoInstancesAllowExactlyTheLimit(t *testing.T) {
	ls, _ := replicas(t, 2)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, err := ls[i%2].Allow(context.Background(), "register:ip:192.0.2.1", Limit{Requests: 20, Period: time.Minute})
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 20 {
		t.Errorf("%d of 60 concurrent requests allowed, want exactly 20", allowed.Load())
	}
}

func TestTheWindowSlides(t *testing.T) {
	ls, c := replicas(t, 1)
	l, ctx, key := ls[0], context.Background(), "login:user:dr_jones"
	for range 5 {
		if d, _ := l.Allow(ctx, key, login); !d.Allowed {
			t.Fatal("refused within the limit")
		}
	}
	// Half a minute into the next window, half of the previous 5 still count: 2.5 + 1 <= 5.
	c.add(90 * time.Second)
	allowed := 0
	for range 5 {
		if d, _ := l.Allow(ctx, key, login); d.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("%d allowed half-way into the next window, want 2 (a fixed window would allow 5)", allowed)
	}
	// Two full periods later nothing of the past counts.
	c.add(2 * time.Minute)
	if d, _ := l.Allow(ctx, key, login); !d.Allowed || d.Remaining != 4 {
		t.Errorf("after two periods: %+v", d)
	}
}

func TestKeysAreStoredHashedAndExpiredCountersCleanedUp(t *testing.T) {
	ls, c := replicas(t, 1)
	ctx := context.Background()
	if _, err := ls[0].Allow(ctx, "login:user:dr_jones@hospital.example", login); err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := ls[0].db.(*store.Store).Pool.QueryRow(ctx, "SELECT count(*) FROM rate_limits WHERE position('dr_jones'::bytea in key_hash) > 0").Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the user name is stored in clear (%d rows, %v)", stored, err)
	}
	c.add(3 * time.Minute)
	if deleted, err := ls[0].Cleanup(ctx); err != nil || deleted != 1 {
		t.Errorf("cleanup deleted %d (%v), want 1", deleted, err)
	}
}

func TestTheLimiterFailsClosedWithoutTheDatabase(t *testing.T) {
	own := testenv.StartPostgres(t)
	s, _, err := store.Open(context.Background(), own.URL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := New(s, nil)
	if err := own.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d, err := l.Allow(ctx, "login:ip:203.0.113.7", login); err == nil || d.Allowed {
		t.Errorf("without the database: %+v %v, want an error and no permission", d, err)
	}
}

// BenchmarkAllow is one rate-limit decision: one upsert round trip to a local PostgreSQL.
func BenchmarkAllow(b *testing.B) {
	s := storetest.Instances(b, pg, 1)[0]
	l := New(s, nil)
	var i atomic.Int64
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			key := fmt.Sprintf("api:user:%d", i.Add(1)%1000)
			if _, err := l.Allow(context.Background(), key, Limit{Requests: 1 << 30, Period: time.Minute}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
