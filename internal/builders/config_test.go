package builders

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/serverconfig"
)

func TestServerConfigOfAnEmptySpecIsTheServerDefault(t *testing.T) {
	got, err := ServerConfig(newInstance())
	if err != nil {
		t.Fatal(err)
	}
	want := serverconfig.Default()
	want.Issuer = "https://demo.sched.svc:8080"
	// The one departure from the server's default: the operator always serves HTTPS.
	want.TLS = serverconfig.TLS{CertFile: "/var/run/secrets/rsched/tls/tls.crt", KeyFile: "/var/run/secrets/rsched/tls/tls.key"}
	// Set-like lists are always rendered as (sorted) lists, never null.
	want.RateLimit.TrustedProxies = []string{}
	want.Security.AllowedOrigins = []string{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ServerConfig(empty spec):\n got %+v\nwant %+v", got, want)
	}
}

func TestServerConfigCarriesEverySpecField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*rschedv1.SchedulerInstance)
		check  func(serverconfig.Config) bool
	}{
		{"issuer follows service.port", func(si *rschedv1.SchedulerInstance) { si.Spec.Service.Port = 9443 },
			func(c serverconfig.Config) bool { return c.Issuer == "https://demo.sched.svc:9443" }},
		{"auth.accessTokenTTL", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.AccessTokenTTL = dur(10 * time.Minute) },
			func(c serverconfig.Config) bool { return c.Auth.AccessTokenTTL.D() == 10*time.Minute }},
		{"auth.refreshTokenTTL", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.RefreshTokenTTL = dur(720 * time.Hour) },
			func(c serverconfig.Config) bool { return c.Auth.RefreshTokenTTL.D() == 720*time.Hour }},
		{"auth.lockout.maxFailedAttempts", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.Lockout.MaxFailedAttempts = 9 },
			func(c serverconfig.Config) bool { return c.Auth.Lockout.MaxFailedAttempts == 9 }},
		{"auth.lockout.duration", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.Lockout.Duration = dur(2 * time.Hour) },
			func(c serverconfig.Config) bool { return c.Auth.Lockout.Duration.D() == 2*time.Hour }},
		{"auth.mfaRequiredRoles sorted", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Auth.MFARequiredRoles = []rschedv1.UserRole{"coordinator", "admin"}
		}, func(c serverconfig.Config) bool {
			return reflect.DeepEqual(c.Auth.MFARequiredRoles, []string{"admin", "coordinator"})
		}},
		{"auth.passwordPolicy.minLength", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.PasswordPolicy.MinLength = 16 },
			func(c serverconfig.Config) bool { return c.Auth.PasswordPolicy.MinLength == 16 }},
		{"auth.passwordPolicy.historySize 0 allows reuse", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.PasswordPolicy.HistorySize = ptr(int32(0)) },
			func(c serverconfig.Config) bool { return c.Auth.PasswordPolicy.HistorySize == 0 }},
		{"auth.passwordPolicy.maxAge", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.PasswordPolicy.MaxAge = dur(48 * time.Hour) },
			func(c serverconfig.Config) bool { return c.Auth.PasswordPolicy.MaxAge.D() == 48*time.Hour }},
		{"auth.passwordPolicy.maxAge 0s turns expiry off", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.PasswordPolicy.MaxAge = dur(0) },
			func(c serverconfig.Config) bool { return c.Auth.PasswordPolicy.MaxAge == 0 }},
		{"rateLimit.login", func(si *rschedv1.SchedulerInstance) {
			si.Spec.RateLimit.Login = &rschedv1.RateLimit{Requests: 7, Period: *dur(2 * time.Minute)}
		}, func(c serverconfig.Config) bool {
			return c.RateLimit.Login == serverconfig.Limit{Requests: 7, Period: serverconfig.Duration(2 * time.Minute)}
		}},
		{"rateLimit.register", func(si *rschedv1.SchedulerInstance) {
			si.Spec.RateLimit.Register = &rschedv1.RateLimit{Requests: 1, Period: *dur(time.Hour)}
		}, func(c serverconfig.Config) bool {
			return c.RateLimit.Register == serverconfig.Limit{Requests: 1, Period: serverconfig.Duration(time.Hour)}
		}},
		{"rateLimit.api", func(si *rschedv1.SchedulerInstance) {
			si.Spec.RateLimit.API = &rschedv1.RateLimit{Requests: 1000, Period: *dur(time.Second)}
		}, func(c serverconfig.Config) bool {
			return c.RateLimit.API == serverconfig.Limit{Requests: 1000, Period: serverconfig.Duration(time.Second)}
		}},
		{"rateLimit.trustedProxies sorted", func(si *rschedv1.SchedulerInstance) {
			si.Spec.RateLimit.TrustedProxies = []rschedv1.CIDR{"fd00::/8", "10.0.0.0/8"}
		}, func(c serverconfig.Config) bool {
			return reflect.DeepEqual(c.RateLimit.TrustedProxies, []string{"10.0.0.0/8", "fd00::/8"})
		}},
		{"security.allowedOrigins", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Security.AllowedOrigins = []rschedv1.Origin{"https://b.example.org", "https://a.example.org:8443"}
		}, func(c serverconfig.Config) bool {
			return reflect.DeepEqual(c.Security.AllowedOrigins, []string{"https://a.example.org:8443", "https://b.example.org"})
		}},
		{"security.hsts false", func(si *rschedv1.SchedulerInstance) { si.Spec.Security.HSTS = ptr(false) },
			func(c serverconfig.Config) bool { return !c.Security.HSTS }},
		{"security.hsts true", func(si *rschedv1.SchedulerInstance) { si.Spec.Security.HSTS = ptr(true) },
			func(c serverconfig.Config) bool { return c.Security.HSTS }},
		{"security.cspReportOnly", func(si *rschedv1.SchedulerInstance) { si.Spec.Security.CSPReportOnly = true },
			func(c serverconfig.Config) bool { return c.Security.CSPReportOnly }},
		{"scheduling.timeZone", func(si *rschedv1.SchedulerInstance) { si.Spec.Scheduling.TimeZone = "America/Chicago" },
			func(c serverconfig.Config) bool { return c.Scheduling.TimeZone == "America/Chicago" }},
		{"scheduling.defaultTimeBudget", func(si *rschedv1.SchedulerInstance) { si.Spec.Scheduling.DefaultTimeBudget = dur(3 * time.Second) },
			func(c serverconfig.Config) bool { return c.Scheduling.DefaultTimeBudget.D() == 3*time.Second }},
		{"scheduling.maxTimeBudget", func(si *rschedv1.SchedulerInstance) { si.Spec.Scheduling.MaxTimeBudget = dur(5 * time.Minute) },
			func(c serverconfig.Config) bool { return c.Scheduling.MaxTimeBudget.D() == 5*time.Minute }},
		{"fixed addresses and secret paths", func(*rschedv1.SchedulerInstance) {},
			func(c serverconfig.Config) bool {
				return c.ListenAddr == ":8080" && c.MetricsAddr == ":9090" && c.Audience == "rsched-api" &&
					c.Secrets.DatabaseURLFile == "/var/run/secrets/rsched/database/url" &&
					c.Secrets.KeyringFile == "/var/run/secrets/rsched/keyring/keyring.json" &&
					c.TLS.CertFile == "/var/run/secrets/rsched/tls/tls.crt" && c.TLS.KeyFile == "/var/run/secrets/rsched/tls/tls.key"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ServerConfig(with(tt.mutate))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Fatalf("field not rendered: %+v", got)
			}
		})
	}
}

func TestMFARequiredRolesNilMeansAdminEmptyMeansOff(t *testing.T) {
	tests := []struct {
		name  string
		roles []rschedv1.UserRole
		want  []string
		yaml  string
	}{
		{"unset keeps the default", nil, []string{"admin"}, "mfa_required_roles:\n  - admin\n"},
		{"explicit empty list turns MFA off", []rschedv1.UserRole{}, []string{}, "mfa_required_roles: []\n"},
		{"explicit list", []rschedv1.UserRole{"resident"}, []string{"resident"}, "mfa_required_roles:\n  - resident\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.MFARequiredRoles = tt.roles })
			cm, _, err := ConfigMap(si)
			if err != nil {
				t.Fatal(err)
			}
			doc := cm.Data[ConfigFile]
			if !strings.Contains(doc, tt.yaml) {
				t.Errorf("YAML does not contain %q:\n%s", tt.yaml, doc)
			}
			// What matters is what the server reads back.
			parsed, err := serverconfig.Parse([]byte(doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(parsed.Auth.MFARequiredRoles) != len(tt.want) ||
				(len(tt.want) > 0 && !reflect.DeepEqual(parsed.Auth.MFARequiredRoles, tt.want)) {
				t.Errorf("server reads mfa_required_roles %v, want %v", parsed.Auth.MFARequiredRoles, tt.want)
			}
		})
	}
}

func TestSessionIdleTimeoutStaysWithinTheTokenLifetimes(t *testing.T) {
	tests := []struct {
		name    string
		refresh time.Duration
		want    time.Duration
	}{
		{"default refresh TTL keeps the 8h default", 0, 8 * time.Hour},
		{"refresh TTL above 8h keeps 8h", 24 * time.Hour, 8 * time.Hour},
		{"refresh TTL of exactly 8h", 8 * time.Hour, 8 * time.Hour},
		{"refresh TTL below 8h clamps to it", 2 * time.Hour, 2 * time.Hour},
		{"minimum refresh TTL", time.Hour, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := newInstance()
			if tt.refresh != 0 {
				si.Spec.Auth.RefreshTokenTTL = dur(tt.refresh)
			}
			got, err := ServerConfig(si)
			if err != nil {
				t.Fatal(err)
			}
			if got.Auth.SessionIdleTimeout.D() != tt.want {
				t.Fatalf("session_idle_timeout = %s, want %s", got.Auth.SessionIdleTimeout.D(), tt.want)
			}
		})
	}
}

// Admission normally refuses these; a spec that bypassed it must not reach the server.
func TestServerConfigRefusesWhatTheServerWouldRefuse(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*rschedv1.SchedulerInstance)
		want   string
	}{
		{"access TTL above 1h", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.AccessTokenTTL = dur(2 * time.Hour) }, "access_token_ttl"},
		{"refresh TTL not above access TTL", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Auth.AccessTokenTTL = dur(time.Hour)
			si.Spec.Auth.RefreshTokenTTL = dur(time.Hour)
		}, "refresh_token_ttl"},
		{"unknown MFA role", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.MFARequiredRoles = []rschedv1.UserRole{"root"} }, "mfa_required_roles"},
		{"/0 trusted proxy", func(si *rschedv1.SchedulerInstance) { si.Spec.RateLimit.TrustedProxies = []rschedv1.CIDR{"0.0.0.0/0"} }, "trusted_proxies"},
		{"origin with a path", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Security.AllowedOrigins = []rschedv1.Origin{"https://a.example.org/app"}
		}, "allowed_origins"},
		// Well formed, so admission lets it through; the time-zone database does not know it.
		{"a time zone the database does not know", func(si *rschedv1.SchedulerInstance) { si.Spec.Scheduling.TimeZone = "Mars/Olympus_Mons" }, "scheduling.time_zone"},
		{"a default budget above the maximum", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Scheduling.DefaultTimeBudget, si.Spec.Scheduling.MaxTimeBudget = dur(2*time.Minute), dur(time.Minute)
		}, "scheduling.default_time_budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(tt.mutate)
			if _, err := ServerConfig(si); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ServerConfig error = %v, want one naming %s", err, tt.want)
			}
			if cm, hash, err := ConfigMap(si); err == nil || cm != nil || hash != "" {
				t.Fatalf("ConfigMap = %v, %q, %v; want only an error", cm, hash, err)
			}
		})
	}
}

// fullInstance sets every field that reaches the config file to a non-default value.
func fullInstance(si *rschedv1.SchedulerInstance) {
	si.Spec.Service.Port = 9443
	si.Spec.Auth = rschedv1.AuthSpec{
		AccessTokenTTL:   dur(5 * time.Minute),
		RefreshTokenTTL:  dur(4 * time.Hour),
		Lockout:          rschedv1.LockoutSpec{MaxFailedAttempts: 3, Duration: dur(time.Hour)},
		MFARequiredRoles: []rschedv1.UserRole{"faculty", "admin"},
		PasswordPolicy: rschedv1.PasswordPolicySpec{
			MinLength: 14, HistorySize: ptr(int32(10)), MaxAge: dur(0),
		},
	}
	si.Spec.RateLimit = rschedv1.RateLimitSpec{
		Login:          &rschedv1.RateLimit{Requests: 10, Period: *dur(time.Minute)},
		Register:       &rschedv1.RateLimit{Requests: 2, Period: *dur(time.Hour)},
		API:            &rschedv1.RateLimit{Requests: 100, Period: *dur(10 * time.Second)},
		TrustedProxies: []rschedv1.CIDR{"10.0.0.0/8"},
	}
	si.Spec.Security = rschedv1.SecuritySpec{
		AllowedOrigins: []rschedv1.Origin{"https://schedule.example.org"},
		HSTS:           ptr(false),
		CSPReportOnly:  true,
	}
	si.Spec.Scheduling = rschedv1.SchedulingSpec{TimeZone: "Europe/Berlin", DefaultTimeBudget: dur(5 * time.Second), MaxTimeBudget: dur(2 * time.Minute)}
}

func TestConfigMapYAMLParsesBackIntoTheRenderedConfig(t *testing.T) {
	for name, si := range map[string]*rschedv1.SchedulerInstance{
		"empty spec": newInstance(),
		"full spec":  with(fullInstance),
	} {
		t.Run(name, func(t *testing.T) {
			want, err := ServerConfig(si)
			if err != nil {
				t.Fatal(err)
			}
			cm, _, err := ConfigMap(si)
			if err != nil {
				t.Fatal(err)
			}
			got, err := serverconfig.Parse([]byte(cm.Data[ConfigFile]), nil)
			if err != nil {
				t.Fatalf("the server refuses the rendered file: %v\n%s", err, cm.Data[ConfigFile])
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConfigMapIsNamedLabelledAndHoldsOnlyTheConfigFile(t *testing.T) {
	si := newInstance()
	cm, hash, err := ConfigMap(si)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Name != "demo-config" || cm.Namespace != "sched" || !reflect.DeepEqual(cm.Labels, Labels(si)) {
		t.Errorf("metadata = %+v", cm.ObjectMeta)
	}
	if len(cm.Data) != 1 || cm.Data[ConfigFile] == "" || cm.BinaryData != nil {
		t.Errorf("data keys = %v, want only %s", cm.Data, ConfigFile)
	}
	if len(hash) != 16 || strings.Trim(hash, "0123456789abcdef") != "" {
		t.Errorf("hash = %q, want 16 lower-case hex characters", hash)
	}
}

func TestConfigMapRenderingIsDeterministic(t *testing.T) {
	first, firstHash, err := ConfigMap(with(fullInstance))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		cm, hash, err := ConfigMap(with(fullInstance))
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[ConfigFile] != first.Data[ConfigFile] || hash != firstHash {
			t.Fatalf("render %d differs:\n%s\nvs\n%s", i, cm.Data[ConfigFile], first.Data[ConfigFile])
		}
	}
}

func TestConfigHashChangesWhenAndOnlyWhenTheConfigChanges(t *testing.T) {
	_, base, err := ConfigMap(with(fullInstance))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mutate  func(*rschedv1.SchedulerInstance)
		changes bool
	}{
		// Not part of the config file: no restart.
		{"replicas", func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = ptr(int32(5)) }, false},
		{"podAnnotations", func(si *rschedv1.SchedulerInstance) { si.Spec.PodAnnotations = map[string]string{"a": "b"} }, false},
		{"podLabels", func(si *rschedv1.SchedulerInstance) { si.Spec.PodLabels = map[string]string{"team": "x"} }, false},
		{"image", func(si *rschedv1.SchedulerInstance) { si.Spec.Image = "example.org/other:v2" }, false},
		{"resources", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
		}, false},
		{"service type", func(si *rschedv1.SchedulerInstance) { si.Spec.Service.Type = corev1.ServiceTypeLoadBalancer }, false},
		{"network policy", func(si *rschedv1.SchedulerInstance) { si.Spec.Network.Policy = rschedv1.NetworkPolicyDisabled }, false},
		{"egress rule", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Network.EgressTo = &rschedv1.EgressSpec{Database: &rschedv1.EgressRule{
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(5432))}},
			}}
		}, false},
		{"set order of MFA roles", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Auth.MFARequiredRoles = []rschedv1.UserRole{"admin", "faculty"}
		}, false},
		{"set order of origins", func(si *rschedv1.SchedulerInstance) {
			si.Spec.Security.AllowedOrigins = []rschedv1.Origin{"https://schedule.example.org"}
		}, false},
		// Part of the config file: restart.
		{"access TTL", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.AccessTokenTTL = dur(6 * time.Minute) }, true},
		{"MFA roles", func(si *rschedv1.SchedulerInstance) { si.Spec.Auth.MFARequiredRoles = []rschedv1.UserRole{} }, true},
		{"login limit", func(si *rschedv1.SchedulerInstance) { si.Spec.RateLimit.Login.Requests = 11 }, true},
		{"HSTS", func(si *rschedv1.SchedulerInstance) { si.Spec.Security.HSTS = nil }, true},
		{"service port (issuer)", func(si *rschedv1.SchedulerInstance) { si.Spec.Service.Port = 8443 }, true},
		{"instance name (issuer)", func(si *rschedv1.SchedulerInstance) { si.Name = "other" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, hash, err := ConfigMap(with(fullInstance, tt.mutate))
			if err != nil {
				t.Fatal(err)
			}
			if changed := hash != base; changed != tt.changes {
				t.Fatalf("hash changed = %v, want %v", changed, tt.changes)
			}
		})
	}
}
