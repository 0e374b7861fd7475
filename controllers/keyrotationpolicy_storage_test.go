package controllers

import "github.com/rsched/rsched/internal/keyringstore"

// The keyring store's own tests (which keyring is authoritative, the blocked messages, Vault's
// check-and-set, the Secret's annotations) are in internal/keyringstore; the policy's tests use
// its predicates under the names they had here.
var (
	hasStaged   = keyringstore.HasStaged
	sameKeyring = keyringstore.Same
)
