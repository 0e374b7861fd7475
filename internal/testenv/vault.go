package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// Vault is a running `vault server -dev` on a loopback port: in-memory storage, unsealed, KV v2
// mounted at secret/. Each one gets a random root token.
type Vault struct {
	// Addr is the server's base URL, http://127.0.0.1:<port>.
	Addr string
	// Token is the root token.
	Token string
	// Client is a Vault API client logged in with the root token.
	Client *vaultapi.Client

	proc *process
	home string
}

// StartVault starts a Vault dev server and stops it when the test ends.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	v, err := NewVault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vault server output:\n%s", v.output())
		}
		if err := v.Stop(); err != nil {
			t.Error(err)
		}
	})
	return v
}

// NewVault starts a Vault dev server; the caller must Stop it. For TestMain.
func NewVault() (*Vault, error) { return NewVaultOn("127.0.0.1") }

// NewVaultOn starts a Vault dev server listening on the IPv4 address listen (Addr names it), so
// pods of a local cluster can reach it on the host. For end-to-end tests.
func NewVaultOn(listen string) (*Vault, error) {
	bin, err := lookupExecutable("Vault", "RSCHED_VAULT_BIN", "hack/get-vault.sh", "")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a port found free can be taken before vault binds it; try another
		v, err := startVault(bin, listen)
		if err == nil {
			return v, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startVault(bin, listen string) (*Vault, error) {
	port, err := freePort(true)
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "rsched-vault-")
	if err != nil {
		return nil, err
	}
	v := &Vault{
		Addr:  "http://" + net.JoinHostPort(listen, strconv.Itoa(port)),
		Token: "rsched-test-" + hex.EncodeToString(tok),
		home:  home,
	}
	cmd := exec.Command(bin, "server", "-dev",
		"-dev-listen-address="+net.JoinHostPort(listen, strconv.Itoa(port)),
		"-dev-no-store-token")
	// The root token goes in the environment, not argv, where any local user could read it in
	// /proc/<pid>/cmdline. HOME keeps Vault away from the user's ~/.vault-token and config.
	cmd.Env = []string{"HOME=" + home, "VAULT_LOG_LEVEL=warn", "PATH=/usr/bin:/bin", "VAULT_DEV_ROOT_TOKEN_ID=" + v.Token}
	cmd.Dir = home
	if v.proc, err = startProcess("vault", cmd); err != nil {
		_ = os.RemoveAll(home)
		return nil, err
	}
	if err := v.waitHealthy(30 * time.Second); err != nil {
		_ = v.Stop()
		return nil, err
	}
	cfg := vaultapi.DefaultConfig()
	cfg.Address = v.Addr
	if v.Client, err = vaultapi.NewClient(cfg); err != nil {
		_ = v.Stop()
		return nil, err
	}
	v.Client.SetToken(v.Token)
	return v, nil
}

// waitHealthy polls sys/health until Vault reports itself initialised and unsealed (200), then
// checks the root token: if another server had taken the port, the health check alone would
// pass against the wrong Vault.
func (v *Vault) waitHealthy(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if v.proc.exited() {
			return fmt.Errorf("vault exited before it became healthy:\n%s", v.output())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.Addr+"/v1/sys/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vault at %s not healthy after %s:\n%s", v.Addr, timeout, v.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.Addr+"/v1/auth/token/lookup-self", nil)
	req.Header.Set("X-Vault-Token", v.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("vault at %s: token lookup: %w", v.Addr, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || v.proc.exited() {
		return fmt.Errorf("the Vault answering at %s is not the one started (token lookup: %d)", v.Addr, resp.StatusCode)
	}
	return nil
}

// output is the server's output with the root token and the dev unseal key removed, so that it
// can go into an error or a test log.
func (v *Vault) output() string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(v.proc.out.String(), "\n") {
		if strings.Contains(line, "Unseal Key:") {
			line = "Unseal Key: <redacted>\n"
		}
		b.WriteString(line)
	}
	return strings.ReplaceAll(b.String(), v.Token, "<redacted>")
}

// Pid is the process ID of the server (also its process group).
func (v *Vault) Pid() int { return v.proc.Pid() }

// Stop shuts the server down (SIGTERM, then SIGKILL after 10 s) and removes its files. It fails
// if any process of the server outlives it.
func (v *Vault) Stop() error {
	if v.proc == nil {
		return nil
	}
	err := v.proc.stop(syscall.SIGTERM, 10*time.Second)
	_ = os.RemoveAll(v.home)
	v.proc = nil
	return err
}
