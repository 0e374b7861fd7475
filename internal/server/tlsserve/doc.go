// Package tlsserve is the API server's TLS: the one policy both listeners serve with (TLS 1.2 at
// least, 1.3 preferred, only ECDHE key exchange with AEAD ciphers for 1.2, HTTP/2 by ALPN) and the
// Watcher that holds the serving certificate of a mounted Secret and replaces it, without a
// restart, when the kubelet swaps the files. New handshakes get the new certificate; connections
// already open finish on the one they began with.
package tlsserve
