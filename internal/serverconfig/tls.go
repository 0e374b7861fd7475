package serverconfig

import (
	"fmt"
	"os"
)

// TLS is the serving certificate of the API and metrics listeners. With neither file (the
// default) both listeners serve plain HTTP; with both, both serve HTTPS only, and the files are
// re-read when they change (a mounted kubernetes.io/tls Secret: tls.crt and tls.key). Environment
// overrides: RSCHED_SERVER_TLS_CERT_FILE and RSCHED_SERVER_TLS_KEY_FILE.
type TLS struct {
	// CertFile is the PEM certificate chain, the serving certificate first.
	CertFile string `json:"cert_file"`
	// KeyFile is the PEM private key of the serving certificate.
	KeyFile string `json:"key_file"`
}

// Enabled reports whether the listeners serve HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// validate checks what the operator can check too: both files or neither. Whether they can be read
// is the server's check at start (CheckFiles), since the operator renders paths it cannot open.
func (t TLS) validate(p *problems) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add("tls.cert_file and tls.key_file go together: set both to serve HTTPS, or neither to serve plain HTTP")
	}
}

// CheckFiles reports a certificate or key file that cannot be read. The server calls it at start,
// before it parses the pair; the error names the file, never its content.
func (t TLS) CheckFiles() error {
	if !t.Enabled() {
		return nil
	}
	for _, f := range []struct{ name, path string }{{"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
		fh, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("config: %s: %w", f.name, err)
		}
		_ = fh.Close()
	}
	return nil
}
