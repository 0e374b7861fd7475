// Package vault is the operator's Vault client: it logs in with the Kubernetes auth method (a
// TokenRequest token of the instance's ServiceAccount), AppRole or a token, keeps one client per
// identity with its token renewed before expiry, logs in again when Vault answers 403, reads KV
// version 2 secrets and writes new versions of them with check-and-set. Errors are classified so
// the reconciler can tell "Vault unreachable" from "login refused" from "no such secret" from
// "someone else wrote first", and no error, log line or metric label ever carries a token, a
// secret ID or a secret value: Vault's own error texts are not passed on.
package vault
