package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/rsched/rsched/internal/server/store"
	"github.com/rsched/rsched/internal/testenv"
)

var databases atomic.Int32

// Instances creates an empty database in pg, migrates it, and opens count Stores on it, each with
// its own pool; they are closed when the test ends.
func Instances(t testing.TB, pg *testenv.Postgres, count int) []*store.Store {
	t.Helper()
	url, err := pg.CreateDatabase(fmt.Sprintf("t_%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*store.Store, 0, count)
	for range count {
		s, _, err := store.Open(context.Background(), url, store.Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		out = append(out, s)
	}
	return out
}
