package builders

import (
	"strconv"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// Labels and annotations on everything a SchedulerInstance owns.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"

	// ManagedBy is the value of LabelManagedBy; the manager caches only Secrets carrying it.
	ManagedBy = "rsched"
	// AppName is the value of LabelName for the API server's objects.
	AppName = "rsched-scheduler"

	// ConfigHashAnnotation on the pod template changes when, and only when, the rendered server
	// configuration changes: the one change that needs a restart. Secret data never enters it.
	ConfigHashAnnotation = "scheduling.rsched.io/config-hash"

	// RevisionAnnotation on the instance's database Secret counts the changes of its data (1 at
	// creation); the pod template carries the same number under DatabaseRevisionAnnotation, so a
	// changed database URL rolls the pods, which read it at start. A counter, never the data.
	RevisionAnnotation         = "scheduling.rsched.io/revision"
	DatabaseRevisionAnnotation = "scheduling.rsched.io/database-revision"
)

// Mount paths and file names inside the API server's pods (the server's config file names them).
const (
	ConfigDir        = "/etc/rsched"
	ConfigFile       = "config.yaml"
	DatabaseDir      = "/var/run/secrets/rsched/database"
	DatabaseURLKey   = "url"
	KeyringDir       = "/var/run/secrets/rsched/keyring"
	KeyringKey       = "keyring.json"
	AppSecretsDir    = "/var/run/secrets/rsched/app"
	TLSDir           = "/var/run/secrets/rsched/tls"
	DatabaseCADir    = "/var/run/secrets/rsched/database-ca"
	DatabaseCAFile   = "ca.crt"
	DatabaseCertDir  = "/var/run/secrets/rsched/database-client"
	APIPort          = 8080
	MetricsPort      = 9090
	DefaultService   = 8080
	ServerUID        = 65532
	APIPortName      = "https"
	MetricsPortName  = "metrics"
	ContainerName    = "scheduler"
	VaultTokenVolume = "vault-token"
)

// Names of the owned objects, derived from the instance's name. Instance names are DNS labels of
// at most 63 characters (admission); suffixes keep results within 253 (object names) except for
// the Service, which must itself be a DNS label: its name is the instance's name.
func ServiceAccountName(si *rschedv1.SchedulerInstance) string { return si.Name + "-scheduler" }
func ConfigMapName(si *rschedv1.SchedulerInstance) string      { return si.Name + "-config" }
func DeploymentName(si *rschedv1.SchedulerInstance) string     { return si.Name }
func ServiceName(si *rschedv1.SchedulerInstance) string        { return si.Name }
func PDBName(si *rschedv1.SchedulerInstance) string            { return si.Name }

// DatabaseSecretName holds the database URL copied from database.urlSecretRef or Vault.
func DatabaseSecretName(si *rschedv1.SchedulerInstance) string { return si.Name + "-database" }

// DatabaseTLSSecretName holds the database CA (ca.crt) and client certificate (tls.crt, tls.key)
// copied from database.tls.caVault and clientCertVault: the keys of whichever is set.
func DatabaseTLSSecretName(si *rschedv1.SchedulerInstance) string { return si.Name + "-database-tls" }

// KeyringSecretName holds the keyring (key "keyring.json"); the KeyRotationPolicy rotates it.
func KeyringSecretName(si *rschedv1.SchedulerInstance) string { return si.Name + "-keyring" }

// AppSecretName holds the application secrets read from vault.secrets.
func AppSecretName(si *rschedv1.SchedulerInstance) string { return si.Name + "-app" }

// TLSSecretName holds the serving certificate the operator issues (kubernetes.io/tls).
func TLSSecretName(si *rschedv1.SchedulerInstance) string { return si.Name + "-tls" }

// TLSCASecretName holds the instance's CA, with its key; only the operator reads it.
func TLSCASecretName(si *rschedv1.SchedulerInstance) string { return si.Name + "-tls-ca" }

// CABundleName is the ConfigMap (key ca.crt) holding the CA certificates clients trust.
func CABundleName(si *rschedv1.SchedulerInstance) string { return si.Name + "-ca" }

// CABundleKey is the key of the trust bundle in CABundleName.
const CABundleKey = "ca.crt"

// ServingSecretName is the kubernetes.io/tls Secret the pods mount: tls.secretRef, or the one
// the operator issues.
func ServingSecretName(si *rschedv1.SchedulerInstance) string {
	if ref := si.Spec.TLS.SecretRef; ref != nil {
		return ref.Name
	}
	return TLSSecretName(si)
}

// ServiceHost is the name the operator and in-cluster clients verify the serving certificate
// for: name.namespace.svc.
func ServiceHost(si *rschedv1.SchedulerInstance) string {
	return ServiceName(si) + "." + si.Namespace + ".svc"
}

// NetworkPolicyName names the instance's policies by purpose ("default-deny", "api").
func NetworkPolicyName(si *rschedv1.SchedulerInstance, purpose string) string {
	return si.Name + "-" + purpose
}

// Labels are the labels of every owned object.
func Labels(si *rschedv1.SchedulerInstance) map[string]string {
	return map[string]string{
		LabelName:      AppName,
		LabelInstance:  si.Name,
		LabelComponent: "api",
		LabelManagedBy: ManagedBy,
		LabelPartOf:    "rsched",
	}
}

// SelectorLabels select the instance's pods; they never change over an object's life.
func SelectorLabels(si *rschedv1.SchedulerInstance) map[string]string {
	return map[string]string{LabelName: AppName, LabelInstance: si.Name}
}

// Endpoint is the in-cluster URL of the instance's API.
func Endpoint(si *rschedv1.SchedulerInstance) string {
	return "https://" + ServiceHost(si) + ":" + strconv.Itoa(int(ServicePort(si)))
}

// ServicePort is spec.service.port or 8080.
func ServicePort(si *rschedv1.SchedulerInstance) int32 {
	if si.Spec.Service.Port != 0 {
		return si.Spec.Service.Port
	}
	return DefaultService
}

// DefaultReplicas is the replica count when spec.replicas is unset (the CRD defaults it to the
// same value; this covers objects built in Go without admission).
const DefaultReplicas = 2

// Replicas is spec.replicas or DefaultReplicas. The Deployment and the PodDisruptionBudget both
// use it, so they never disagree about whether the instance is highly available.
func Replicas(si *rschedv1.SchedulerInstance) int32 {
	if si.Spec.Replicas != nil {
		return *si.Spec.Replicas
	}
	return DefaultReplicas
}

// ptr returns a pointer to a copy of v, for the many optional fields of the Kubernetes API.
func ptr[T any](v T) *T { return &v }
