package v1alpha1

// Condition types of a SchedulerInstance. Messages are stable sentences with no timestamps or
// counters, so that a steady state writes no status; times live in their own status fields.
const (
	// ConditionReady is True when the API server is deployed, all replicas are ready and its
	// secrets are in place.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout of the API server is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the instance runs with fewer ready replicas than desired or
	// with stale secrets.
	ConditionDegraded = "Degraded"
	// ConditionSecretsSynced is True when the server's secrets were copied from their source
	// (Kubernetes Secret or Vault) on the last attempt.
	ConditionSecretsSynced = "SecretsSynced"
	// ConditionVaultReachable is True when the operator could log in to Vault and read from it.
	ConditionVaultReachable = "VaultReachable"
	// ConditionNetworkPolicyApplied is True when the NetworkPolicies match spec.network.
	ConditionNetworkPolicyApplied = "NetworkPolicyApplied"
	// ConditionCertificateReady is True when the pods' serving certificate is valid, carries the
	// names it must, and (operator-managed) is signed by a CA the published bundle holds.
	ConditionCertificateReady = "CertificateReady"
	// ConditionStalled is True, on SchedulerInstances and KeyRotationPolicies, when the object
	// cannot converge until a person changes its spec or what the spec names (a Secret, a Vault
	// role, a name taken by someone else): Ready is False with one of the reasons docs/gitops.md
	// lists, and Stalled carries the same reason and message. kstatus (Flux, kubectl-style waits)
	// reads it as Failed. Absent otherwise.
	ConditionStalled = "Stalled"
	// ConditionReconciling is True while the operator is converging the object (a rollout, pods
	// not ready yet, a transient Vault or API failure it retries, a key rotation under way), with
	// the reason of the condition that says so. kstatus reads it as InProgress. Absent otherwise.
	ConditionReconciling = "Reconciling"
)

// Reasons of SchedulerInstance conditions.
const (
	ReasonAvailable             = "Available"
	ReasonDeploymentUnavailable = "DeploymentUnavailable"
	ReasonRollingOut            = "RollingOut"
	ReasonRolloutComplete       = "RolloutComplete"
	ReasonReplicasUnavailable   = "ReplicasUnavailable"
	ReasonSecretsSynced         = "Synced"
	ReasonSecretNotFound        = "SecretNotFound"
	ReasonSecretKeyMissing      = "SecretKeyMissing"
	ReasonVaultAuthFailed       = "VaultAuthFailed"
	ReasonVaultUnreachable      = "VaultUnreachable"
	ReasonVaultReadFailed       = "VaultReadFailed"
	ReasonVaultOK               = "Reachable"
	ReasonVaultNotConfigured    = "NotConfigured"
	ReasonPolicyEnforced        = "Enforced"
	ReasonPolicyDisabled        = "Disabled"
	ReasonReconcileError        = "ReconcileError"
	ReasonImageNotSet           = "ImageNotSet"
	ReasonNameConflict          = "NameConflict"
	// ReasonKeyringMissing: the keyring Secret of an instance that ran is gone. The operator
	// never writes a new one over it (every token and encrypted field would become invalid): it
	// waits for the keyring to be restored.
	ReasonKeyringMissing = "KeyringMissing"
	// ReasonInvalidConfig: the spec passed admission but the server would refuse the
	// configuration rendered from it (a time zone missing from the time-zone database); nothing
	// is deployed with it.
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonInvalidDatabaseTLS: the database CA or client certificate read from Vault
	// (spec.database.tls.caVault, clientCertVault) is not usable: not PEM, a bundle without a CA
	// certificate, a key that is not the certificate's. Nothing is written; the last good Secrets
	// stay and the read is retried with the Vault backoff.
	ReasonInvalidDatabaseTLS = "InvalidDatabaseTLS"
	// ReasonCertificateValid: the serving certificate is in place and not due.
	ReasonCertificateValid = "Valid"
	// ReasonCertificateInvalid: the Secret of tls.secretRef does not hold a usable serving
	// certificate (missing, unparsable, key not its pair, expired).
	ReasonCertificateInvalid = "CertificateInvalid"
	// ReasonCertificateIssuing: cert-manager has not issued the serving certificate yet, or its
	// Certificate is not Ready (a renewal under way, or the issuer failing).
	ReasonCertificateIssuing = "Issuing"
	// ReasonCertManagerMissing: spec.tls.issuerRef is set but the cluster does not serve
	// cert-manager's Certificate kind.
	ReasonCertManagerMissing = "CertManagerNotInstalled"
	// ReasonCAReplacement: a CA key replacement is in progress; the certificate serves.
	ReasonCAReplacement = "CAReplacementInProgress"
	// ReasonPending (Reconciling, both kinds): the operator has not reported Ready yet (a policy
	// whose instance or keyring it has not read).
	ReasonPending = "Pending"
)

// Events of a SchedulerInstance's certificates.
const (
	EventCertificateIssued  = "CertificateIssued"
	EventCertificateRenewed = "CertificateRenewed"
	EventCARenewed          = "CARenewed"
	EventCAReplaced         = "CAReplaced"
	EventTrustBundleUpdated = "TrustBundleUpdated"
)
