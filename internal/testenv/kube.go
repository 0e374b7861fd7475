package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	schedulingv1alpha1 "github.com/rsched/rsched/api/v1alpha1"
)

var setLoggerOnce sync.Once

// Kube is a running kube-apiserver and etcd with rsched's CRDs installed.
type Kube struct {
	// Config reaches the API server as a cluster administrator (system:masters).
	Config *rest.Config
	// Client is a controller-runtime client on Config whose scheme knows rsched's types.
	Client client.Client
	// Scheme has the built-in Kubernetes types and rsched's types.
	Scheme *runtime.Scheme
	// Kubeconfig is a kubeconfig file for Config, for tools such as kubectl.
	Kubeconfig string
	// Assets is the directory holding etcd, kube-apiserver and kubectl.
	Assets string

	env *envtest.Environment
	dir string
}

// NewScheme returns a scheme with the built-in Kubernetes types, the CRD types and rsched's types.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, schedulingv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// StartKube starts an API server with the CRDs from config/crd/bases installed, and stops it
// when the test ends.
func StartKube(t testing.TB) *Kube {
	t.Helper()
	return StartKubeWith(t)
}

// StartKubeWith is StartKube with extra kube-apiserver flags, each "name=value" without the
// dashes (for example "runtime-config=certificates.k8s.io/v1=false"), for a test of an API the
// default set serves differently.
func StartKubeWith(t testing.TB, flags ...string) *Kube {
	t.Helper()
	k, err := NewKubeWith(flags...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Stop(); err != nil {
			t.Error(err)
		}
	})
	return k
}

// NewKube starts an API server with rsched's CRDs installed; the caller must Stop it. Start-up
// takes about 4 s, so a package shares one from TestMain.
func NewKube() (*Kube, error) { return NewKubeWith() }

// NewKubeWith is NewKube with extra kube-apiserver flags (see StartKubeWith).
func NewKubeWith(flags ...string) (*Kube, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := lookupExecutable("kube-apiserver/etcd/kubectl", "KUBEBUILDER_ASSETS", "hack/envtest-assets.sh", b); err != nil {
			return nil, err
		}
	}
	// envtest logs through controller-runtime's logger; without one it prints a warning with a
	// stack trace. Its failures come back as errors, so its chatter is not needed.
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logr.Discard()) })
	k := &Kube{Assets: assets, Scheme: NewScheme()}
	var err error
	if k.dir, err = os.MkdirTemp("", "rsched-kube-"); err != nil {
		return nil, err
	}
	k.env = &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   k.Scheme,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest starts etcd and kube-apiserver in their own process group but without a parent-
	// death signal, so a test binary killed by `go test -timeout` or kill -9 would leave them
	// running. Starting them through setpriv --pdeathsig KILL ties their lives to ours.
	apiserver, err := withParentDeathSignal(k.dir, filepath.Join(assets, "kube-apiserver"))
	if err != nil {
		_ = os.RemoveAll(k.dir)
		return nil, err
	}
	etcd, err := withParentDeathSignal(k.dir, filepath.Join(assets, "etcd"))
	if err != nil {
		_ = os.RemoveAll(k.dir)
		return nil, err
	}
	k.env.ControlPlane.GetAPIServer().Path = apiserver
	for _, f := range flags {
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" || strings.HasPrefix(name, "-") {
			_ = os.RemoveAll(k.dir)
			return nil, fmt.Errorf("kube-apiserver flag %q: want name=value without dashes", f)
		}
		k.env.ControlPlane.GetAPIServer().Configure().Append(name, value)
	}
	k.env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	cfg, err := k.env.Start()
	if err != nil {
		_ = os.RemoveAll(k.dir)
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	k.Config = cfg
	fail := func(err error) (*Kube, error) {
		_ = k.Stop()
		return nil, err
	}
	if k.Client, err = client.New(cfg, client.Options{Scheme: k.Scheme}); err != nil {
		return fail(err)
	}
	user, err := k.env.AddUser(envtest.User{Name: "rsched-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fail(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fail(err)
	}
	k.Kubeconfig = filepath.Join(k.dir, "kubeconfig")
	if err := os.WriteFile(k.Kubeconfig, kubeconfig, 0o600); err != nil {
		return fail(err)
	}
	return k, nil
}

// withParentDeathSignal returns a launcher for bin that makes the kernel kill it when the
// process that started it dies, or bin itself when setpriv (util-linux) is not installed.
func withParentDeathSignal(dir, bin string) (string, error) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return bin, nil
	}
	shim := filepath.Join(dir, filepath.Base(bin))
	script := fmt.Sprintf("#!/bin/sh\nexec %q --pdeathsig KILL -- %q \"$@\"\n", setpriv, bin)
	if err := os.WriteFile(shim, []byte(script), 0o700); err != nil {
		return "", err
	}
	return shim, nil
}

// Kubectl runs the real kubectl from the assets directory against this API server and returns
// its combined output.
func (k *Kube) Kubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(k.Assets, "kubectl"), append([]string{"--kubeconfig", k.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %v: %w\n%s", args, err, out)
	}
	return string(out), nil
}

// Stop stops the API server and etcd and removes their files.
func (k *Kube) Stop() error {
	var err error
	if k.env != nil {
		err = k.env.Stop()
		k.env = nil
	}
	if k.dir != "" {
		_ = os.RemoveAll(k.dir)
		k.dir = ""
	}
	return err
}
