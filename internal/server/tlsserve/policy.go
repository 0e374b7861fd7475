package tlsserve

import (
	"crypto/tls"
	"net/http"
	"slices"
)

// CipherSuites are the TLS 1.2 suites served: forward-secret key exchange (ECDHE) and
// authenticated encryption (AES-GCM, ChaCha20-Poly1305) only, so no CBC (Lucky13, POODLE-style
// padding oracles), no static RSA key exchange (ROBOT, no forward secrecy) and no 3DES or RC4.
// TLS 1.3's suites are not configurable in Go and are all AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// MaxConcurrentStreams bounds the HTTP/2 streams a client may have open on one connection: the
// x/net default, stated here so a change of default does not change the server. Go's HTTP/2 server
// also counts streams a client resets and closes the connection of one that resets faster than
// its handlers run (the rapid-reset attack, CVE-2023-44487).
const MaxConcurrentStreams = 250

// NewConfig is the TLS configuration of a listener whose certificate comes from getCertificate
// (a Watcher's GetCertificate). Go prefers TLS 1.3 when the client offers it, and orders the 1.2
// suites itself (AES-GCM first where the CPU has AES instructions).
func NewConfig(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   slices.Clone(CipherSuites),
		GetCertificate: getCertificate,
	}
}

// Configure makes srv serve HTTPS with certs' certificate: HTTP/1.1 and HTTP/2 (by ALPN), never
// unencrypted HTTP/2. Serve it with srv.ServeTLS(listener, "", ""): a plain-HTTP request to that
// listener is answered "400 Bad Request: Client sent an HTTP request to an HTTPS server" by
// net/http before any handler runs.
func Configure(srv *http.Server, certs *Watcher) {
	srv.TLSConfig = NewConfig(certs.GetCertificate)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	srv.Protocols = &protocols
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: MaxConcurrentStreams}
}
