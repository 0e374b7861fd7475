package builders

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/serverconfig"
)

const testImage = "ghcr.io/rsched/scheduler:v0.1.0"

func TestDeploymentMeetsRestrictedPodSecurity(t *testing.T) {
	d := Deployment(newInstance(), testImage, "abc")
	ps := d.Spec.Template.Spec
	psc := ps.SecurityContext
	if psc == nil || !isTrue(psc.RunAsNonRoot) || psc.RunAsUser == nil || *psc.RunAsUser != ServerUID ||
		psc.RunAsGroup == nil || *psc.RunAsGroup != ServerUID || psc.FSGroup == nil || *psc.FSGroup != ServerUID ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v", psc)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("the service account token must not be mounted")
	}
	if ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		t.Error("service links must be off")
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		t.Error("no host namespaces")
	}
	if len(ps.Containers) != 1 || len(ps.InitContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(ps.Containers), len(ps.InitContainers))
	}
	csc := ps.Containers[0].SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		!isTrue(csc.ReadOnlyRootFilesystem) || !isTrue(csc.RunAsNonRoot) || csc.Privileged != nil ||
		csc.Capabilities == nil || !reflect.DeepEqual(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) != 0 ||
		csc.SeccompProfile == nil || csc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext = %+v", csc)
	}
	for _, v := range ps.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	for _, p := range ps.Containers[0].Ports {
		if p.HostPort != 0 {
			t.Errorf("port %s uses a host port", p.Name)
		}
	}
}

func TestDeploymentPodLabelsCannotOverrideSelectorLabels(t *testing.T) {
	si := with(func(si *rschedv1.SchedulerInstance) {
		si.Spec.PodLabels = map[string]string{
			LabelInstance: "someone-else", // rejected by admission; must not win if it gets through
			LabelName:     "evil",
			"team":        "scheduling",
		}
	})
	d := Deployment(si, testImage, "abc")
	labels := d.Spec.Template.Labels
	for k, v := range SelectorLabels(si) {
		if labels[k] != v {
			t.Errorf("pod label %s = %q, want %q", k, labels[k], v)
		}
	}
	if labels["team"] != "scheduling" {
		t.Error("the user's own pod label is missing")
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(k8slabels.Set(labels)) {
		t.Error("the Deployment's selector does not match its own pod template")
	}
	if !reflect.DeepEqual(d.Spec.Selector.MatchLabels, SelectorLabels(si)) || len(d.Spec.Selector.MatchExpressions) != 0 {
		t.Errorf("selector = %+v, want exactly the selector labels", d.Spec.Selector)
	}
	if !reflect.DeepEqual(d.Labels, Labels(si)) {
		t.Errorf("Deployment labels = %v, want %v", d.Labels, Labels(si))
	}
}

func TestDeploymentPodAnnotationsCarryTheConfigHash(t *testing.T) {
	tests := []struct {
		name string
		user map[string]string
		want map[string]string
	}{
		{"no user annotations", nil, map[string]string{ConfigHashAnnotation: "h1"}},
		{"user annotations are kept", map[string]string{"prometheus.io/scrape": "true"},
			map[string]string{"prometheus.io/scrape": "true", ConfigHashAnnotation: "h1"}},
		{"the hash cannot be overridden", map[string]string{ConfigHashAnnotation: "forged"},
			map[string]string{ConfigHashAnnotation: "h1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.PodAnnotations = tt.user })
			got := Deployment(si, testImage, "h1").Spec.Template.Annotations
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("annotations = %v, want %v", got, tt.want)
			}
		})
	}
	if len(Deployment(newInstance(), testImage, "h1").Annotations) != 0 {
		t.Error("the hash belongs on the pod template, not on the Deployment")
	}
}

func TestDeploymentReplicas(t *testing.T) {
	tests := []struct {
		name     string
		replicas *int32
		want     int32
	}{
		{"unset defaults to 2", nil, 2},
		{"one", ptr(int32(1)), 1},
		{"five", ptr(int32(5)), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = tt.replicas })
			got := Deployment(si, testImage, "h").Spec.Replicas
			if got == nil || *got != tt.want {
				t.Fatalf("replicas = %v, want %d", got, tt.want)
			}
		})
	}
}

func TestDeploymentResources(t *testing.T) {
	custom := &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
	}
	tests := []struct {
		name string
		spec *corev1.ResourceRequirements
		want corev1.ResourceRequirements
	}{
		{"default", nil, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		}},
		{"spec overrides the whole default", custom, *custom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.Resources = tt.spec })
			d := Deployment(si, testImage, "h")
			got := d.Spec.Template.Spec.Containers[0].Resources
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Fatalf("resources = %+v, want %+v", got, tt.want)
			}
			if tt.spec != nil {
				// The Deployment must not share memory with the spec it was built from.
				got.Limits[corev1.ResourceMemory] = resource.MustParse("1Ki")
				if q := si.Spec.Resources.Limits[corev1.ResourceMemory]; q.Cmp(resource.MustParse("2Gi")) != 0 {
					t.Fatal("changing the Deployment changed the spec")
				}
			}
		})
	}
}

func TestDeploymentContainer(t *testing.T) {
	si := newInstance()
	c := Deployment(si, testImage, "h").Spec.Template.Spec.Containers[0]
	if c.Name != ContainerName || c.Image != testImage {
		t.Errorf("container %s image %s", c.Name, c.Image)
	}
	if !reflect.DeepEqual(c.Args, []string{"--config=/etc/rsched/config.yaml"}) || c.Command != nil {
		t.Errorf("command %v args %v", c.Command, c.Args)
	}
	wantPorts := []corev1.ContainerPort{
		{Name: "https", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
	}
	if !reflect.DeepEqual(c.Ports, wantPorts) {
		t.Errorf("ports = %+v", c.Ports)
	}
	probes := []struct {
		name             string
		probe            *corev1.Probe
		path             string
		period, failures int32
	}{
		{"startup", c.StartupProbe, "/api/v1/health/live", 2, 30},
		{"liveness", c.LivenessProbe, "/api/v1/health/live", 10, 3},
		{"readiness", c.ReadinessProbe, "/api/v1/health/ready", 5, 3},
	}
	for _, p := range probes {
		want := &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: p.path, Port: intstr.FromString("https"), Scheme: corev1.URISchemeHTTPS,
			}},
			TimeoutSeconds: 1, PeriodSeconds: p.period, SuccessThreshold: 1, FailureThreshold: p.failures,
		}
		if !reflect.DeepEqual(p.probe, want) {
			t.Errorf("%s probe = %+v, want %+v", p.name, p.probe, want)
		}
	}
	wantMounts := []corev1.VolumeMount{
		{Name: "config", MountPath: "/etc/rsched", ReadOnly: true},
		{Name: "database", MountPath: "/var/run/secrets/rsched/database", ReadOnly: true},
		{Name: "keyring", MountPath: "/var/run/secrets/rsched/keyring", ReadOnly: true},
		{Name: "tls", MountPath: "/var/run/secrets/rsched/tls", ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if !reflect.DeepEqual(c.VolumeMounts, wantMounts) {
		t.Errorf("mounts = %+v", c.VolumeMounts)
	}
	if len(c.Env) != 0 || len(c.EnvFrom) != 0 {
		t.Error("no environment: secrets come from files and config from the ConfigMap")
	}
}

func TestDeploymentMountsOnlyTheKeysTheServerReads(t *testing.T) {
	vols := Deployment(newInstance(), testImage, "h").Spec.Template.Spec.Volumes
	mode := ptr(int32(0o440))
	want := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "demo-config"},
			Items:                []corev1.KeyToPath{{Key: "config.yaml", Path: "config.yaml"}},
			DefaultMode:          mode,
		}}},
		{Name: "database", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "demo-database", Items: []corev1.KeyToPath{{Key: "url", Path: "url"}}, DefaultMode: mode,
		}}},
		{Name: "keyring", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "demo-keyring", Items: []corev1.KeyToPath{{Key: "keyring.json", Path: "keyring.json"}}, DefaultMode: mode,
		}}},
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "demo-tls", Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}}, DefaultMode: mode,
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptr(resource.MustParse("64Mi")),
		}}},
	}
	if !equality.Semantic.DeepEqual(vols, want) {
		t.Errorf("volumes:\n got %+v\nwant %+v", vols, want)
	}
	// Your own certificate (tls.secretRef) is mounted as it is, under the same path.
	si := newInstance()
	si.Spec.TLS.SecretRef = &rschedv1.LocalObjectReference{Name: "mine"}
	vols = Deployment(si, testImage, "h").Spec.Template.Spec.Volumes
	want[3].Secret.SecretName = "mine"
	if !equality.Semantic.DeepEqual(vols, want) {
		t.Fatalf("volumes:\n got %+v\nwant %+v", vols, want)
	}
	if *mode != 288 {
		t.Fatal("0440 is 288")
	}
	// The mounted files are where the rendered config says they are.
	cfg, err := ServerConfig(newInstance())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secrets.DatabaseURLFile != DatabaseDir+"/url" || cfg.Secrets.KeyringFile != KeyringDir+"/keyring.json" {
		t.Fatalf("config secret paths %+v do not match the mounts", cfg.Secrets)
	}
}

func TestDeploymentCopiesSchedulingFromTheSpec(t *testing.T) {
	spread := []corev1.TopologySpreadConstraint{{
		MaxSkew: 2, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
	}}
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"api"}}},
		}}},
	}}
	tolerations := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "api", Effect: corev1.TaintEffectNoSchedule}}
	si := with(func(si *rschedv1.SchedulerInstance) {
		si.Spec.NodeSelector = map[string]string{"pool": "api"}
		si.Spec.Tolerations = tolerations
		si.Spec.Affinity = affinity
		si.Spec.TopologySpreadConstraints = spread
		si.Spec.PriorityClassName = "high"
	})
	ps := Deployment(si, testImage, "h").Spec.Template.Spec
	if !reflect.DeepEqual(ps.NodeSelector, map[string]string{"pool": "api"}) ||
		!reflect.DeepEqual(ps.Tolerations, tolerations) || !reflect.DeepEqual(ps.Affinity, affinity) ||
		!reflect.DeepEqual(ps.TopologySpreadConstraints, spread) || ps.PriorityClassName != "high" {
		t.Fatalf("scheduling fields not copied: %+v", ps)
	}
	// Copies, not aliases: the cached SchedulerInstance must never change under the reconciler.
	ps.NodeSelector["pool"] = "x"
	ps.Tolerations[0].Value = "x"
	ps.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] = "x"
	ps.TopologySpreadConstraints[0].LabelSelector.MatchLabels["a"] = "x"
	if si.Spec.NodeSelector["pool"] != "api" || si.Spec.Tolerations[0].Value != "api" ||
		si.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "api" ||
		si.Spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["a"] != "b" {
		t.Fatal("the Deployment aliases the spec")
	}
}

func TestDeploymentSpreadsAcrossNodesByDefault(t *testing.T) {
	for _, replicas := range []int32{1, 2, 7} {
		si := with(func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = ptr(replicas) })
		got := Deployment(si, testImage, "h").Spec.Template.Spec.TopologySpreadConstraints
		want := []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(si)},
		}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("replicas %d: spread = %+v", replicas, got)
		}
	}
	// Scaling alone must never roll the pods.
	one := Deployment(with(func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = ptr(int32(1)) }), testImage, "h")
	three := Deployment(with(func(si *rschedv1.SchedulerInstance) { si.Spec.Replicas = ptr(int32(3)) }), testImage, "h")
	if !equality.Semantic.DeepEqual(one.Spec.Template, three.Spec.Template) {
		t.Fatal("the pod template depends on the replica count")
	}
}

func TestDeploymentRollsOutWithoutLosingCapacity(t *testing.T) {
	s := Deployment(newInstance(), testImage, "h").Spec.Strategy
	want := appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptr(intstr.FromInt32(0)),
			MaxSurge:       ptr(intstr.FromInt32(1)),
		},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("strategy = %+v", s)
	}
}

func TestPullPolicyMatchesTheAPIServerDefault(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"ghcr.io/rsched/scheduler:v0.1.0", corev1.PullIfNotPresent},
		{"ghcr.io/rsched/scheduler:latest", corev1.PullAlways},
		{"ghcr.io/rsched/scheduler", corev1.PullAlways},
		{"scheduler", corev1.PullAlways},
		{"localhost:5000/scheduler", corev1.PullAlways},
		{"localhost:5000/scheduler:v1", corev1.PullIfNotPresent},
		{"localhost:5000/scheduler:latest", corev1.PullAlways},
		{"ghcr.io/rsched/scheduler@sha256:" + sha, corev1.PullIfNotPresent},
		{"ghcr.io/rsched/scheduler:v1@sha256:" + sha, corev1.PullIfNotPresent},
		{"ghcr.io/rsched/scheduler:latest@sha256:" + sha, corev1.PullAlways},
		{"localhost:5000/scheduler@sha256:" + sha, corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			if got := pullPolicy(tt.image); got != tt.want {
				t.Fatalf("pullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
			}
			if got := Deployment(newInstance(), tt.image, "h").Spec.Template.Spec.Containers[0].ImagePullPolicy; got != tt.want {
				t.Fatalf("container imagePullPolicy = %s, want %s", got, tt.want)
			}
		})
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestDeploymentNeedsNoAPIServerDefaults applies the defaulting the API server runs on apps/v1
// Deployments (k8s.io/kubernetes pkg/apis/apps/v1 SetObjectDefaults_Deployment and the core/v1
// functions it calls, v1.37), restricted to the fields these objects use, and checks it changes
// nothing: otherwise the stored object would differ from the desired one on every reconcile.
func TestDeploymentNeedsNoAPIServerDefaults(t *testing.T) {
	for name, si := range map[string]*rschedv1.SchedulerInstance{
		"empty spec": newInstance(),
		"full spec": with(fullInstance, func(si *rschedv1.SchedulerInstance) {
			si.Spec.Replicas = ptr(int32(3))
			si.Spec.PodLabels = map[string]string{"team": "x"}
			si.Spec.PodAnnotations = map[string]string{"a": "b"}
			si.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			want := Deployment(si, testImage, "h")
			got := want.DeepCopy()
			applyDeploymentDefaults(got)
			if !equality.Semantic.DeepEqual(got, want) {
				t.Fatalf("the API server would change the Deployment:\n got %+v\nwant %+v", got.Spec, want.Spec)
			}
		})
	}
}

// applyDeploymentDefaults mirrors the API server's defaulting for the fields a Deployment built
// here can carry.
func applyDeploymentDefaults(d *appsv1.Deployment) {
	s := &d.Spec
	if s.Replicas == nil {
		s.Replicas = ptr(int32(1))
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.Strategy.RollingUpdate.MaxUnavailable == nil {
			s.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("25%"))
		}
		if s.Strategy.RollingUpdate.MaxSurge == nil {
			s.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("25%"))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(int32(10))
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = ptr(int32(600))
	}
	ps := &s.Template.Spec
	if ps.ServiceAccountName == "" {
		ps.ServiceAccountName = ps.DeprecatedServiceAccount
	}
	ps.DeprecatedServiceAccount = ps.ServiceAccountName
	if ps.DNSPolicy == "" {
		ps.DNSPolicy = corev1.DNSClusterFirst
	}
	if ps.RestartPolicy == "" {
		ps.RestartPolicy = corev1.RestartPolicyAlways
	}
	if ps.SecurityContext == nil {
		ps.SecurityContext = &corev1.PodSecurityContext{}
	}
	if ps.TerminationGracePeriodSeconds == nil {
		ps.TerminationGracePeriodSeconds = ptr(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if ps.SchedulerName == "" {
		ps.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range ps.Volumes {
		v := &ps.Volumes[i]
		if v.Secret != nil && v.Secret.DefaultMode == nil {
			v.Secret.DefaultMode = ptr(int32(corev1.SecretVolumeSourceDefaultMode))
		}
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
			v.ConfigMap.DefaultMode = ptr(int32(corev1.ConfigMapVolumeSourceDefaultMode))
		}
	}
	for i := range ps.Containers {
		c := &ps.Containers[i]
		if c.ImagePullPolicy == "" {
			c.ImagePullPolicy = pullPolicy(c.Image)
		}
		if c.TerminationMessagePath == "" {
			c.TerminationMessagePath = corev1.TerminationMessagePathDefault
		}
		if c.TerminationMessagePolicy == "" {
			c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
		}
		for j := range c.Ports {
			if c.Ports[j].Protocol == "" {
				c.Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
		for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if p == nil {
				continue
			}
			if p.TimeoutSeconds == 0 {
				p.TimeoutSeconds = 1
			}
			if p.PeriodSeconds == 0 {
				p.PeriodSeconds = 10
			}
			if p.SuccessThreshold == 0 {
				p.SuccessThreshold = 1
			}
			if p.FailureThreshold == 0 {
				p.FailureThreshold = 3
			}
			if h := p.HTTPGet; h != nil {
				if h.Path == "" {
					h.Path = "/"
				}
				if h.Scheme == "" {
					h.Scheme = corev1.URISchemeHTTP
				}
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func TestAppSecretsAreMountedOnlyWhenVaultSecretsAreNamed(t *testing.T) {
	si := &rschedv1.SchedulerInstance{}
	si.Name, si.Namespace = "a", "ns"
	mounted := func(si *rschedv1.SchedulerInstance) bool {
		d := Deployment(si, "img:v1", "h")
		for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.MountPath == AppSecretsDir && m.ReadOnly {
				return true
			}
		}
		return false
	}
	if mounted(si) {
		t.Fatal("app secrets mounted without spec.vault.secrets")
	}
	si.Spec.Vault = &rschedv1.VaultSpec{Address: "https://vault:8200", Secrets: []rschedv1.VaultKVPath{{Path: "a/b"}}}
	if !mounted(si) {
		t.Fatal("app secrets not mounted")
	}
}

func TestDatabaseTLSSecretsAreMountedAndNamedInTheConfig(t *testing.T) {
	si := newInstance()
	if got := DatabaseTLS(si); got != (serverconfig.DatabaseTLS{Mode: "verify-full"}) {
		t.Fatalf("default: %+v", got)
	}
	for _, v := range Deployment(si, testImage, "h").Spec.Template.Spec.Volumes {
		if strings.HasPrefix(v.Name, "database-") {
			t.Fatalf("volume %s without spec.database.tls Secrets", v.Name)
		}
	}
	si.Spec.Database.TLS = rschedv1.DatabaseTLSSpec{Mode: "verify-ca",
		CASecretRef:         &rschedv1.SecretKeyRef{Name: "pg-ca", Key: "ca.crt"},
		ClientCertSecretRef: &rschedv1.LocalObjectReference{Name: "pg-client"}}
	want := serverconfig.DatabaseTLS{Mode: "verify-ca", CAFile: "/var/run/secrets/rsched/database-ca/ca.crt",
		CertFile: "/var/run/secrets/rsched/database-client/tls.crt", KeyFile: "/var/run/secrets/rsched/database-client/tls.key"}
	if got := DatabaseTLS(si); got != want {
		t.Fatalf("rendered %+v, want %+v", got, want)
	}
	cfg, err := ServerConfig(si)
	if err != nil || cfg.Database.TLS != want {
		t.Fatalf("server config: %v %+v", err, cfg.Database.TLS)
	}
	pod := Deployment(si, testImage, "h").Spec.Template.Spec
	mounts := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	vols := map[string]*corev1.SecretVolumeSource{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v.Secret
	}
	if mounts["database-ca"] != "/var/run/secrets/rsched/database-ca" || vols["database-ca"].SecretName != "pg-ca" ||
		vols["database-ca"].Items[0] != (corev1.KeyToPath{Key: "ca.crt", Path: "ca.crt"}) {
		t.Fatalf("CA volume %+v at %q", vols["database-ca"], mounts["database-ca"])
	}
	if mounts["database-client"] != "/var/run/secrets/rsched/database-client" || vols["database-client"].SecretName != "pg-client" || len(vols["database-client"].Items) != 2 {
		t.Fatalf("client certificate volume %+v at %q", vols["database-client"], mounts["database-client"])
	}
}

// What spec.database.tls reads from Vault is mounted from the instance's own copy, at the paths a
// user's Secrets would have, so the server's configuration is the same either way; the sources
// mix (a CA from Vault, a client certificate from a Secret).
func TestDatabaseTLSFromVaultIsMountedFromTheInstancesOwnSecret(t *testing.T) {
	caVault := &rschedv1.VaultKVRef{Path: "rsched/db-tls", Key: "ca.crt"}
	certVault := &rschedv1.VaultKVCertificateRef{Path: "rsched/db-client"}
	cases := []struct {
		name             string
		tls              rschedv1.DatabaseTLSSpec
		caFrom, certFrom string // the Secret each volume mounts ("": no volume)
	}{
		{"both from Vault", rschedv1.DatabaseTLSSpec{CAVault: caVault, ClientCertVault: certVault}, "si-database-tls", "si-database-tls"},
		{"CA from Vault only", rschedv1.DatabaseTLSSpec{CAVault: caVault}, "si-database-tls", ""},
		{"client certificate from Vault, CA from a Secret", rschedv1.DatabaseTLSSpec{CASecretRef: &rschedv1.SecretKeyRef{Name: "pg-ca", Key: "bundle.pem"}, ClientCertVault: certVault}, "pg-ca", "si-database-tls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			si := newInstance()
			si.Name = "si"
			si.Spec.Database.TLS = tc.tls
			pod := Deployment(si, testImage, "h").Spec.Template.Spec
			vols := map[string]*corev1.SecretVolumeSource{}
			for _, v := range pod.Volumes {
				vols[v.Name] = v.Secret
			}
			mounts := map[string]string{}
			for _, m := range pod.Containers[0].VolumeMounts {
				mounts[m.Name] = m.MountPath
			}
			want := serverconfig.DatabaseTLS{Mode: "verify-full"}
			if tc.caFrom == "" {
				if vols["database-ca"] != nil {
					t.Fatalf("a CA volume without a CA source: %+v", vols["database-ca"])
				}
			} else {
				want.CAFile = "/var/run/secrets/rsched/database-ca/ca.crt"
				key := "ca.crt"
				if tc.tls.CASecretRef != nil {
					key = tc.tls.CASecretRef.Key
				}
				if v := vols["database-ca"]; v == nil || v.SecretName != tc.caFrom || len(v.Items) != 1 || v.Items[0] != (corev1.KeyToPath{Key: key, Path: "ca.crt"}) ||
					mounts["database-ca"] != "/var/run/secrets/rsched/database-ca" {
					t.Fatalf("CA volume %+v at %q, want from %s", v, mounts["database-ca"], tc.caFrom)
				}
			}
			if v := vols["database-client"]; v == nil || v.SecretName != tc.certFrom || len(v.Items) != 2 ||
				v.Items[0] != (corev1.KeyToPath{Key: "tls.crt", Path: "tls.crt"}) || v.Items[1] != (corev1.KeyToPath{Key: "tls.key", Path: "tls.key"}) ||
				mounts["database-client"] != "/var/run/secrets/rsched/database-client" {
				if tc.certFrom != "" || v != nil {
					t.Fatalf("client certificate volume %+v at %q, want from %q", v, mounts["database-client"], tc.certFrom)
				}
			} else {
				want.CertFile, want.KeyFile = "/var/run/secrets/rsched/database-client/tls.crt", "/var/run/secrets/rsched/database-client/tls.key"
			}
			if got := DatabaseTLS(si); got != want {
				t.Fatalf("rendered %+v, want %+v", got, want)
			}
		})
	}
}
