package main

// The image holds no CA bundle (hack/imagefs): when the host provides no roots (no
// /etc/ssl/certs, no SSL_CERT_FILE), crypto/x509 falls back to the Mozilla roots compiled in
// from this pinned module, which go version -m and the release SBOM list. Roots the system does
// provide win, and every in-cluster peer (API server, Vault with caCert, PostgreSQL with
// sslrootcert) is verified against its explicit CA, not these.
import _ "golang.org/x/crypto/x509roots/fallback"
