package builders

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/serverconfig"
)

// configHashLen is how many hex characters of the SHA-256 the config hash keeps: 64 bits tell
// configurations apart, and the annotation stays short enough to read in kubectl.
const configHashLen = 16

// ServerConfig renders the API server's configuration file from the spec, over serverconfig.Default()
// so that every setting the SchedulerInstance does not expose keeps the server's own default. Each
// optional spec field overrides the default only when it is set, so an object built in Go without
// admission defaults renders exactly like its defaulted form.
//
// The result is canonical: lists that the API declares as sets (MFA roles, trusted proxies,
// allowed origins) are sorted and never nil, so reordering a set in Git or writing [] instead of
// omitting it does not change the file, its hash, or restart a pod. The config is validated with
// the server's own Validate, so a spec the server would refuse at start is reported by the
// operator instead of as a crash-looping pod.
func ServerConfig(si *rschedv1.SchedulerInstance) (serverconfig.Config, error) {
	cfg := serverconfig.Default()
	cfg.ListenAddr = fmt.Sprintf(":%d", APIPort)
	cfg.MetricsAddr = fmt.Sprintf(":%d", MetricsPort)
	cfg.Issuer = Endpoint(si)

	renderAuth(&cfg.Auth, &si.Spec.Auth)
	renderRateLimit(&cfg.RateLimit, &si.Spec.RateLimit)

	sec := si.Spec.Security
	cfg.Security.AllowedOrigins = sortedStrings(sec.AllowedOrigins)
	if sec.HSTS != nil {
		cfg.Security.HSTS = *sec.HSTS
	}
	cfg.Security.CSPReportOnly = sec.CSPReportOnly

	sch := si.Spec.Scheduling
	if sch.TimeZone != "" {
		cfg.Scheduling.TimeZone = sch.TimeZone
	}
	setDuration(&cfg.Scheduling.DefaultTimeBudget, sch.DefaultTimeBudget)
	setDuration(&cfg.Scheduling.MaxTimeBudget, sch.MaxTimeBudget)

	// The server reads its secrets from the files the Deployment mounts; the paths are the
	// contract between the two and never depend on the spec.
	cfg.Secrets.DatabaseURLFile = DatabaseDir + "/" + DatabaseURLKey
	cfg.Secrets.KeyringFile = KeyringDir + "/" + KeyringKey
	cfg.Database.TLS = DatabaseTLS(si)
	cfg.TLS.CertFile = TLSDir + "/" + corev1.TLSCertKey
	cfg.TLS.KeyFile = TLSDir + "/" + corev1.TLSPrivateKeyKey

	if err := cfg.Validate(); err != nil {
		return serverconfig.Config{}, err
	}
	return cfg, nil
}

func renderAuth(out *serverconfig.Auth, in *rschedv1.AuthSpec) {
	setDuration(&out.AccessTokenTTL, in.AccessTokenTTL)
	setDuration(&out.RefreshTokenTTL, in.RefreshTokenTTL)
	// session_idle_timeout is server-side (8h) but must lie within [access TTL, refresh TTL]: a
	// refresh TTL below 8h (allowed from 1h) would otherwise make the server refuse its config.
	// An idle timeout longer than the session itself could never fire anyway, so clamping to the
	// refresh TTL keeps the behaviour the user asked for.
	out.SessionIdleTimeout = min(out.SessionIdleTimeout, out.RefreshTokenTTL)
	out.SessionIdleTimeout = max(out.SessionIdleTimeout, out.AccessTokenTTL)

	if in.Lockout.MaxFailedAttempts != 0 {
		out.Lockout.MaxFailedAttempts = int(in.Lockout.MaxFailedAttempts)
	}
	setDuration(&out.Lockout.Duration, in.Lockout.Duration)

	// nil means "not set" (the default, [admin]); an explicit [] turns MFA off. The field has no
	// omitempty precisely so that the difference survives a round trip.
	if in.MFARequiredRoles != nil {
		roles := make([]string, len(in.MFARequiredRoles))
		for i, r := range in.MFARequiredRoles {
			roles[i] = string(r)
		}
		out.MFARequiredRoles = sortedStrings(roles)
	} else {
		out.MFARequiredRoles = sortedStrings(out.MFARequiredRoles)
	}

	pp := in.PasswordPolicy
	if pp.MinLength != 0 {
		out.PasswordPolicy.MinLength = int(pp.MinLength)
	}
	if pp.HistorySize != nil {
		out.PasswordPolicy.HistorySize = int(*pp.HistorySize)
	}
	// "0s" is meaningful (no expiry), which is why maxAge is a pointer: only nil keeps the default.
	setDuration(&out.PasswordPolicy.MaxAge, pp.MaxAge)
}

func renderRateLimit(out *serverconfig.RateLimit, in *rschedv1.RateLimitSpec) {
	setLimit(&out.Login, in.Login)
	setLimit(&out.Register, in.Register)
	setLimit(&out.API, in.API)
	out.TrustedProxies = sortedStrings(in.TrustedProxies)
}

func setDuration(out *serverconfig.Duration, in *metav1.Duration) {
	if in != nil {
		*out = serverconfig.Duration(in.Duration)
	}
}

func setLimit(out *serverconfig.Limit, in *rschedv1.RateLimit) {
	if in != nil {
		*out = serverconfig.Limit{Requests: int(in.Requests), Period: serverconfig.Duration(in.Period.Duration)}
	}
}

// sortedStrings copies a set-like list into a sorted, non-nil []string, so that it always
// renders as a YAML list ([] when empty) in a canonical order.
func sortedStrings[S ~string](in []S) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	slices.Sort(out)
	return out
}

// ConfigMap holds the rendered configuration file and returns its hash, the value of the pod
// template's ConfigHashAnnotation. The server reads its configuration only at start, so the hash
// is what turns a configuration change into a rolling restart; it covers exactly the bytes of the
// file, so changes elsewhere in the spec (replicas, pod labels and annotations, scheduling) never
// restart pods for nothing. The file holds no secret (only the paths of secret files), so its
// hash reveals nothing either.
func ConfigMap(si *rschedv1.SchedulerInstance) (*corev1.ConfigMap, string, error) {
	cfg, err := ServerConfig(si)
	if err != nil {
		return nil, "", err
	}
	doc, err := renderYAML(cfg)
	if err != nil {
		return nil, "", err
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      ConfigMapName(si),
			Namespace: si.Namespace,
			Labels:    Labels(si),
		},
		Data: map[string]string{ConfigFile: string(doc)},
	}
	return cm, configHash(doc), nil
}

// renderYAML writes the config as YAML. sigs.k8s.io/yaml marshals through encoding/json, whose
// output is fully determined by the struct (no maps in serverconfig.Config), and sorts keys, so the
// same config always gives the same bytes.
func renderYAML(cfg serverconfig.Config) ([]byte, error) {
	doc, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("rendering the server config: %w", err)
	}
	return doc, nil
}

func configHash(doc []byte) string {
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])[:configHashLen]
}

// DatabaseTLS is spec.database.tls as the server reads it: the mode, and the files the
// Deployment mounts from the Secrets it names (or the instance's copy of what it names in Vault:
// the same files either way).
func DatabaseTLS(si *rschedv1.SchedulerInstance) serverconfig.DatabaseTLS {
	in := si.Spec.Database.TLS
	out := serverconfig.DatabaseTLS{Mode: in.Mode, InsecureAllowUnverified: in.InsecureAllowUnverified}
	if out.Mode == "" {
		out.Mode = "verify-full"
	}
	if in.CASecretRef != nil || in.CAVault != nil {
		out.CAFile = DatabaseCADir + "/" + DatabaseCAFile
	}
	if in.ClientCertSecretRef != nil || in.ClientCertVault != nil {
		out.CertFile = DatabaseCertDir + "/" + corev1.TLSCertKey
		out.KeyFile = DatabaseCertDir + "/" + corev1.TLSPrivateKeyKey
	}
	return out
}
