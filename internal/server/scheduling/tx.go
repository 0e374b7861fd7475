package scheduling

import "github.com/rsched/rsched/internal/server/store"

// On returns the service working on st, a store bound to the transaction of a change
// (store.Store.On), so that the change and its audit entry commit together.
func (s *Service) On(st *store.Store) *Service {
	c := *s
	c.st = st
	return &c
}
