package builders

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// Volume names inside the API server's pod.
const (
	configVolume   = "config"
	databaseVolume = "database"
	keyringVolume  = "keyring"
	tmpVolume      = "tmp"
	tlsVolume      = "tls"
)

// Health endpoints of the API server (internal/server/httpapi); both are exempt from rate limits.
const (
	livePath  = "/api/v1/health/live"
	readyPath = "/api/v1/health/ready"
)

// Values the API server would otherwise default. They are written out so that the stored
// Deployment equals the desired one in a steady state; see the package comment.
const (
	revisionHistoryLimit    = 10
	progressDeadlineSeconds = 600
	// terminationGracePeriod leaves the server's 20s drain (--shutdown-timeout) room to finish
	// before the kubelet sends SIGKILL.
	terminationGracePeriod = 30
	// secretFileMode is 0440: readable by the owner (root) and by the pod's fsGroup (ServerUID),
	// which the server runs as; never by others, never writable.
	secretFileMode = 0o440
	tmpSizeLimit   = "64Mi"
)

// Deployment runs the API server. image is the server image to run (spec.image or the manager's
// --scheduler-image, chosen by the caller); configHash is the hash returned by ConfigMap, set on
// the pod template so that a configuration change, and only that, rolls the pods.
//
// The pod meets the restricted Pod Security Standard with nothing left for the user to get wrong:
// the spec exposes scheduling knobs (node selector, tolerations, affinity, spread, priority) but no
// security context. Every field the API server would default is set explicitly (see the package
// comment), so a steady-state reconcile finds nothing to write.
func Deployment(si *rschedv1.SchedulerInstance, image, configHash string) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      DeploymentName(si),
			Namespace: si.Namespace,
			Labels:    Labels(si),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(Replicas(si)),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(si)},
			// Never below the desired count during a rollout: one new pod must be ready before an
			// old one goes, so an instance with a bad new config or image keeps serving.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr(intstr.FromInt32(0)),
					MaxSurge:       ptr(intstr.FromInt32(1)),
				},
			},
			RevisionHistoryLimit:    ptr(int32(revisionHistoryLimit)),
			ProgressDeadlineSeconds: ptr(int32(progressDeadlineSeconds)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels(si),
					Annotations: podAnnotations(si, configHash),
				},
				Spec: podSpec(si, image),
			},
		},
	}
}

// podLabels are the user's podLabels under ours: the selector labels must stay exactly ours or
// the Deployment would lose its pods (admission already rejects the reserved prefixes; this is
// the second line of defence for objects that bypassed it).
func podLabels(si *rschedv1.SchedulerInstance) map[string]string {
	out := make(map[string]string, len(si.Spec.PodLabels)+5)
	for k, v := range si.Spec.PodLabels {
		out[k] = v
	}
	for k, v := range Labels(si) {
		out[k] = v
	}
	return out
}

// podAnnotations are the user's podAnnotations plus the config hash, which the user cannot set.
func podAnnotations(si *rschedv1.SchedulerInstance, configHash string) map[string]string {
	out := make(map[string]string, len(si.Spec.PodAnnotations)+1)
	for k, v := range si.Spec.PodAnnotations {
		out[k] = v
	}
	out[ConfigHashAnnotation] = configHash
	return out
}

func podSpec(si *rschedv1.SchedulerInstance, image string) corev1.PodSpec {
	spec := si.Spec
	ps := corev1.PodSpec{
		ServiceAccountName: ServiceAccountName(si),
		// The API server copies serviceAccountName into this deprecated alias; writing it too
		// keeps the stored and desired templates equal.
		DeprecatedServiceAccount: ServiceAccountName(si),
		// The server never calls the Kubernetes API: no token in the pod.
		AutomountServiceAccountToken: ptr(false),
		// Service links would inject an environment variable per Service in the namespace:
		// noise at best, and a way for another Service's name to collide with RSCHED_SERVER_*.
		EnableServiceLinks: ptr(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr(true),
			RunAsUser:    ptr(int64(ServerUID)),
			RunAsGroup:   ptr(int64(ServerUID)),
			// fsGroup makes the 0440 secret and config files readable by the server's group.
			FSGroup:        ptr(int64(ServerUID)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers:                    []corev1.Container{container(si, image)},
		Volumes:                       volumes(si),
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		SchedulerName:                 corev1.DefaultSchedulerName,
		TerminationGracePeriodSeconds: ptr(int64(terminationGracePeriod)),

		NodeSelector:              copyMap(spec.NodeSelector),
		Affinity:                  spec.Affinity.DeepCopy(),
		PriorityClassName:         spec.PriorityClassName,
		TopologySpreadConstraints: topologySpread(si),
	}
	for _, t := range spec.Tolerations {
		ps.Tolerations = append(ps.Tolerations, *t.DeepCopy())
	}
	withAppSecrets(si, &ps)
	withDatabaseTLS(si, &ps)
	return ps
}

// topologySpread is spec.topologySpreadConstraints, or by default a best-effort spread across
// nodes so that replicas do not share a node when they need not. The default is applied whatever
// the replica count (with one pod it constrains nothing): were it added only above one replica,
// scaling from 1 to 2 would change the pod template and roll the running pod for no reason.
func topologySpread(si *rschedv1.SchedulerInstance) []corev1.TopologySpreadConstraint {
	if len(si.Spec.TopologySpreadConstraints) > 0 {
		out := make([]corev1.TopologySpreadConstraint, len(si.Spec.TopologySpreadConstraints))
		for i := range si.Spec.TopologySpreadConstraints {
			si.Spec.TopologySpreadConstraints[i].DeepCopyInto(&out[i])
		}
		return out
	}
	return []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       corev1.LabelHostname,
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(si)},
	}}
}

func container(si *rschedv1.SchedulerInstance, image string) corev1.Container {
	return corev1.Container{
		Name:            ContainerName,
		Image:           image,
		ImagePullPolicy: pullPolicy(image),
		Args:            []string{"--config=" + ConfigDir + "/" + ConfigFile},
		Ports: []corev1.ContainerPort{
			{Name: APIPortName, ContainerPort: APIPort, Protocol: corev1.ProtocolTCP},
			{Name: MetricsPortName, ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		Resources:       resources(si),
		SecurityContext: containerSecurityContext(),
		// The startup probe gives the server up to a minute (30 × 2s) to migrate the database and
		// load its keyring before liveness starts counting, without slowing liveness down.
		StartupProbe:   httpProbe(livePath, 2, 30),
		LivenessProbe:  httpProbe(livePath, 10, 3),
		ReadinessProbe: httpProbe(readyPath, 5, 3),
		VolumeMounts: []corev1.VolumeMount{
			{Name: configVolume, MountPath: ConfigDir, ReadOnly: true},
			{Name: databaseVolume, MountPath: DatabaseDir, ReadOnly: true},
			{Name: keyringVolume, MountPath: KeyringDir, ReadOnly: true},
			// Mounted whole (never with subPath), so that the kubelet swaps a renewed pair in
			// place and the server reloads it without a restart.
			{Name: tlsVolume, MountPath: TLSDir, ReadOnly: true},
			// The root filesystem is read-only; /tmp (os.TempDir) is the one writable place.
			{Name: tmpVolume, MountPath: "/tmp"},
		},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// containerSecurityContext is the restricted Pod Security Standard, field by field, plus a
// read-only root filesystem. It repeats runAsNonRoot and seccomp from the pod level so the
// container stays compliant even if the pod-level context were ever changed.
func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		RunAsNonRoot:             ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// resources are spec.resources, or requests of 100m CPU and 128Mi with a 512Mi memory limit.
// Memory is what matters: each concurrent login hashes with Argon2id at ~19 MiB, so the limit
// leaves room for a burst of logins above the server's baseline. No CPU limit: throttling would
// only slow logins down, and the request already reserves the baseline.
func resources(si *rschedv1.SchedulerInstance) corev1.ResourceRequirements {
	if si.Spec.Resources != nil {
		return *si.Spec.Resources.DeepCopy()
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		},
	}
}

// httpProbe probes path on the API port over HTTPS (the kubelet does not verify the
// certificate; the port serves nothing else), with every API-server default written out.
func httpProbe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   path,
			Port:   intstr.FromString(APIPortName),
			Scheme: corev1.URISchemeHTTPS,
		}},
		TimeoutSeconds:   1,
		PeriodSeconds:    period,
		SuccessThreshold: 1,
		FailureThreshold: failures,
	}
}

// volumes mount only the keys the server reads (items), so a key added to a Secret later never
// appears in the pod by surprise.
func volumes(si *rschedv1.SchedulerInstance) []corev1.Volume {
	return []corev1.Volume{
		{Name: configVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(si)},
			Items:                []corev1.KeyToPath{{Key: ConfigFile, Path: ConfigFile}},
			DefaultMode:          ptr(int32(secretFileMode)),
		}}},
		{Name: databaseVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  DatabaseSecretName(si),
			Items:       []corev1.KeyToPath{{Key: DatabaseURLKey, Path: DatabaseURLKey}},
			DefaultMode: ptr(int32(secretFileMode)),
		}}},
		{Name: keyringVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  KeyringSecretName(si),
			Items:       []corev1.KeyToPath{{Key: KeyringKey, Path: KeyringKey}},
			DefaultMode: ptr(int32(secretFileMode)),
		}}},
		{Name: tlsVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: ServingSecretName(si),
			Items: []corev1.KeyToPath{
				{Key: corev1.TLSCertKey, Path: corev1.TLSCertKey},
				{Key: corev1.TLSPrivateKeyKey, Path: corev1.TLSPrivateKeyKey},
			},
			DefaultMode: ptr(int32(secretFileMode)),
		}}},
		{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptr(resource.MustParse(tmpSizeLimit)),
		}}},
	}
}

// Volumes of spec.database.tls's Secrets, mounted only when named (whole, never with subPath, so
// that a rotation reaches the running server). What comes from Vault is mounted from the instance's
// own copy (DatabaseTLSSecretName) at the same paths: the server cannot tell the two apart, and a
// new value in Vault changes that Secret, never the pod template.
const (
	databaseCAVolume   = "database-ca"
	databaseCertVolume = "database-client"
)

func withDatabaseTLS(si *rschedv1.SchedulerInstance, pod *corev1.PodSpec) {
	t := si.Spec.Database.TLS
	add := func(name, secret, dir string, items []corev1.KeyToPath) {
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret, Items: items, DefaultMode: ptr(int32(secretFileMode)),
		}}})
		for i := range pod.Containers {
			pod.Containers[i].VolumeMounts = append(pod.Containers[i].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: dir, ReadOnly: true})
		}
	}
	switch {
	case t.CASecretRef != nil:
		add(databaseCAVolume, t.CASecretRef.Name, DatabaseCADir, []corev1.KeyToPath{{Key: t.CASecretRef.Key, Path: DatabaseCAFile}})
	case t.CAVault != nil:
		add(databaseCAVolume, DatabaseTLSSecretName(si), DatabaseCADir, []corev1.KeyToPath{{Key: DatabaseCAFile, Path: DatabaseCAFile}})
	}
	pair := []corev1.KeyToPath{{Key: corev1.TLSCertKey, Path: corev1.TLSCertKey}, {Key: corev1.TLSPrivateKeyKey, Path: corev1.TLSPrivateKeyKey}}
	switch {
	case t.ClientCertSecretRef != nil:
		add(databaseCertVolume, t.ClientCertSecretRef.Name, DatabaseCertDir, pair)
	case t.ClientCertVault != nil:
		add(databaseCertVolume, DatabaseTLSSecretName(si), DatabaseCertDir, pair)
	}
}

// appVolume is the application secrets read from Vault (all keys: they are whatever the Vault
// paths hold), mounted only when spec.vault.secrets names any.
const appVolume = "app-secrets"

func usesAppSecrets(si *rschedv1.SchedulerInstance) bool {
	return si.Spec.Vault != nil && len(si.Spec.Vault.Secrets) > 0
}

// withAppSecrets adds the application secrets' volume and mount to a pod spec.
func withAppSecrets(si *rschedv1.SchedulerInstance, pod *corev1.PodSpec) {
	if !usesAppSecrets(si) {
		return
	}
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: appVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: AppSecretName(si), DefaultMode: ptr(int32(secretFileMode)),
	}}})
	for i := range pod.Containers {
		pod.Containers[i].VolumeMounts = append(pod.Containers[i].VolumeMounts, corev1.VolumeMount{Name: appVolume, MountPath: AppSecretsDir, ReadOnly: true})
	}
}

// pullPolicy is what the API server would choose (k8s.io/kubernetes pkg/apis/core/v1
// SetDefaults_Container): Always for the tag "latest", written or implied by a reference with
// neither tag nor digest; IfNotPresent otherwise, digests included.
func pullPolicy(image string) corev1.PullPolicy {
	name, _, hasDigest := strings.Cut(image, "@")
	tag := ""
	// A tag follows the last ':' of the last path component; earlier colons are a registry port.
	last := name[strings.LastIndex(name, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		tag = last[i+1:]
	}
	if tag == "latest" || (tag == "" && !hasDigest) {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func copyMap(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
