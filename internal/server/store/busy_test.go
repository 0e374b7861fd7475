package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestIsBusyKnowsTheCodesOfConcurrentChanges(t *testing.T) {
	for code, want := range map[string]bool{"55P03": true, "40P01": true, "40001": true, "23505": false, "57014": false} {
		err := fmt.Errorf("store: locking: %w", &pgconn.PgError{Code: code})
		if IsBusy(err) != want {
			t.Errorf("%s: IsBusy %v, want %v", code, !want, want)
		}
	}
	if IsBusy(errors.New("plain")) || IsBusy(nil) {
		t.Error("a plain error is not busy")
	}
}
