package serverconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSIsOffByDefaultAndTakesBothFilesOrNeither(t *testing.T) {
	cfg, err := Parse([]byte(minimal), nil)
	if err != nil || cfg.TLS.Enabled() || cfg.TLS.CheckFiles() != nil {
		t.Fatalf("default: %v, TLS enabled %v", err, cfg.TLS.Enabled())
	}
	for name, c := range map[string]struct {
		doc     string
		env     []string
		wantErr bool
	}{
		"both in the file":    {doc: "tls: {cert_file: /tls/tls.crt, key_file: /tls/tls.key}\n"},
		"both by environment": {env: []string{"RSCHED_SERVER_TLS_CERT_FILE=/tls/tls.crt", "RSCHED_SERVER_TLS_KEY_FILE=/tls/tls.key"}},
		"certificate only":    {doc: "tls: {cert_file: /tls/tls.crt}\n", wantErr: true},
		"key only by env":     {env: []string{"RSCHED_SERVER_TLS_KEY_FILE=/tls/tls.key"}, wantErr: true},
		"a misspelt key":      {doc: "tls: {cert: /tls/tls.crt}\n", wantErr: true},
	} {
		cfg, err := Parse([]byte(minimal+c.doc), c.env)
		switch {
		case c.wantErr && err == nil:
			t.Errorf("%s: accepted", name)
		case c.wantErr && strings.Contains(name, "only") && !strings.Contains(err.Error(), "go together"):
			t.Errorf("%s: %v, want the both-or-neither message", name, err)
		case !c.wantErr && (err != nil || !cfg.TLS.Enabled() || cfg.TLS.CertFile != "/tls/tls.crt"):
			t.Errorf("%s: %v, %+v", name, err, cfg.TLS)
		}
	}
}

func TestTLSCheckFilesNamesTheUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	crt := filepath.Join(dir, "tls.crt")
	if err := os.WriteFile(crt, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := TLS{CertFile: crt, KeyFile: filepath.Join(dir, "tls.key")}.CheckFiles()
	if err == nil || !strings.Contains(err.Error(), "tls.key_file") {
		t.Errorf("missing key: %v, want an error naming tls.key_file", err)
	}
}
