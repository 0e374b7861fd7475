package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rsched/rsched/internal/pki"
)

// serverName is the name the serving certificate is issued for and every client verifies. The
// servers listen on 127.0.0.1; pki.NewLeaf issues DNS names only, so the clients dial the address
// and check the certificate against this name (tls.Config.ServerName).
const serverName = "localhost"

// tlsFiles are the throw-away CA and serving certificate of one run, in PEM files in the run's
// temporary directory, and the pool the clients verify against.
type tlsFiles struct {
	caFile, certFile, keyFile string
	roots                     *x509.CertPool
}

// issueTLS creates a CA and an ECDSA P-256 serving certificate for serverName under it (the same
// key type and issuer shape as the operator's certificates, internal/pki), valid for a day, and
// writes ca.crt, tls.crt and tls.key into dir. The keys never leave dir, which the run removes.
func issueTLS(dir string, now time.Time) (tlsFiles, error) {
	ca, err := pki.NewCA("rsched apibench CA", now, 24*time.Hour)
	if err != nil {
		return tlsFiles{}, err
	}
	leaf, err := pki.NewLeaf(ca, []string{serverName}, now, 24*time.Hour)
	if err != nil {
		return tlsFiles{}, err
	}
	key, err := pki.EncodePrivateKey(leaf.Key)
	if err != nil {
		return tlsFiles{}, err
	}
	f := tlsFiles{
		caFile:   filepath.Join(dir, "ca.crt"),
		certFile: filepath.Join(dir, "tls.crt"),
		keyFile:  filepath.Join(dir, "tls.key"),
		roots:    x509.NewCertPool(),
	}
	f.roots.AddCert(ca.Cert)
	for _, w := range []struct {
		path string
		data []byte
	}{
		{f.caFile, pki.EncodeCertificates(ca.Cert)},
		{f.certFile, pki.EncodeCertificates(leaf.Cert)},
		{f.keyFile, key},
	} {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return tlsFiles{}, err
		}
	}
	return f, nil
}

// clientTLS verifies the server against the run's CA only, for serverName. No session cache: a
// new connection is always a full handshake, never a resumption.
func (f tlsFiles) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: f.roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

// newClient is an HTTP/1.1 client for the benchmark (wrk and uvicorn speak HTTP/1.1 only, so
// both servers are measured on the same protocol; a Transport with its own TLSClientConfig does
// not attempt HTTP/2). keepAlive false sends every request on a new connection
// (DisableKeepAlives: "Connection: close", then the connection is closed). tlsConf nil: plain HTTP.
// Proxy settings from the environment are ignored: a benchmark measures the server.
func newClient(tlsConf *tls.Config, conns int, keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsConf,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true, // like wrk
			DisableKeepAlives:   !keepAlive,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// negotiated connects once with tlsConf and describes what the server chose: "TLS 1.3
// X25519MLKEM768 TLS_AES_128_GCM_SHA256 (certificate for localhost from the run's CA)". The
// handshake verifies the chain, so a server presenting anything else fails here, before any load.
func negotiated(ctx context.Context, addr string, tlsConf *tls.Config) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d := tls.Dialer{Config: tlsConf}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("TLS handshake with %s verifying the run's CA: %w", addr, err)
	}
	defer c.Close()
	tc, ok := c.(*tls.Conn)
	if !ok {
		return "", errors.New("tls.Dialer returned a non-TLS connection")
	}
	st := tc.ConnectionState()
	return fmt.Sprintf("%s %s %s", tls.VersionName(st.Version), st.CurveID, tls.CipherSuiteName(st.CipherSuite)), nil
}
