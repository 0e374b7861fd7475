// Package secretsource follows the references a SchedulerInstance's spec makes to secrets it
// does not own: a key of a Kubernetes Secret the user names, and the instance's Vault identity
// (spec.vault: address, CA bundle, login method and its credentials). The SchedulerInstance
// reads its secrets through it and the KeyRotationPolicy stores keyrings in Vault through it.
//
// A reference that cannot be followed is an outcome.Blocked with the condition reason that says
// so (SecretNotFound, SecretKeyMissing, VaultAuthFailed); a Vault call that fails is an
// outcome.Failed whose reason and message are classified from the vault package's error kinds,
// never taken from Vault's own text.
package secretsource
