package accounts

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/server/store"
)

// RewrapStatus is the progress of re-encrypting confidential fields with the active key, as the
// admin endpoint and the metrics report it.
type RewrapStatus struct {
	ActiveKID string    `json:"active_kid"`
	Pending   int64     `json:"pending"`
	Rewrapped int64     `json:"rewrapped"`
	Failed    int64     `json:"failed"`
	StartedAt time.Time `json:"started_at"` // a pass that ran to the end saw every value sealed before then
	LastRun   time.Time `json:"last_run"`   // when the pass ended
	Running   bool      `json:"running"`
}

// Rewrapper re-seals every encrypted column with the active encryption key, so that an old key
// version can be retired. It works in small batches, writes a value back only if nobody changed
// it meanwhile, and is safe to run on every replica at once.
type Rewrapper struct {
	s      *Service
	keyKID func() string

	mu     sync.Mutex
	status RewrapStatus
}

// encryptedColumns are the sealed columns: the users' MFA secrets and the absences' reasons.
var encryptedColumns = []struct{ table, column string }{
	{"users", "totp_secret"}, {"users", "totp_pending"}, {"absences", "reason_sealed"},
}

// NewRewrapper returns a Rewrapper; activeKID names the active encryption key.
func (s *Service) NewRewrapper(activeKID func() string) *Rewrapper {
	return &Rewrapper{s: s, keyKID: activeKID}
}

// Status is the last run's outcome.
func (rw *Rewrapper) Status() RewrapStatus {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.status
}

// Run does one pass over every sealed value not under the active key and returns the outcome:
// Pending counts the values still under another key when it ends.
// Values that cannot be opened are counted as failed and left as they are (never overwritten):
// they need a person, and the count says so.
func (rw *Rewrapper) Run(ctx context.Context) (RewrapStatus, error) {
	started := rw.s.now()
	active := rw.keyKID()
	rw.mu.Lock()
	rw.status.Running, rw.status.ActiveKID = true, active
	rw.mu.Unlock()
	st := RewrapStatus{ActiveKID: active, StartedAt: started}
	defer func() {
		st.LastRun = rw.s.now()
		rw.mu.Lock()
		rw.status = st
		rw.mu.Unlock()
	}()
	for _, ec := range encryptedColumns {
		if err := rw.column(ctx, ec.table, ec.column, active, &st); err != nil {
			return st, fmt.Errorf("accounts: rewrap: %w", err)
		}
	}
	return st, nil
}

// column re-seals the values of one column that are not under the active key, counting into st.
// It walks the rows in id order, a batch at a time (keyset pagination).
func (rw *Rewrapper) column(ctx context.Context, table, col, active string, st *RewrapStatus) error {
	var after uuid.UUID
	for {
		batch, err := rw.s.st.SealedValues(ctx, table, col, after, 200)
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, v := range batch {
			after = v.ID
			if err := rw.value(ctx, table, col, active, v, st); err != nil {
				return err
			}
		}
	}
}

// value re-seals one value unless it is under the active key already. A value that cannot be
// opened is counted as failed and left as it is.
func (rw *Rewrapper) value(ctx context.Context, table, col, active string, v store.SealedValue, st *RewrapStatus) error {
	if kid, err := fieldcrypt.KeyID(v.Value); err == nil && kid == active {
		return nil
	}
	st.Pending++
	fresh, changed, err := rw.s.fields.Rewrap(v.Value, fieldcrypt.Binding{Table: table, Column: col, Row: v.ID.String()})
	if err != nil {
		st.Failed++
		rw.s.log.Error("sealed field cannot be re-encrypted", "table", table, "column", col, "row", v.ID.String())
		return nil
	}
	if !changed {
		return nil
	}
	// Compare-and-set: a concurrent change (a new enrolment) wins over the rewrap.
	resealed, err := rw.s.st.ResealValue(ctx, table, col, v.ID, fresh, v.Value)
	if err != nil || !resealed {
		return err
	}
	st.Rewrapped++
	st.Pending--
	return nil
}
