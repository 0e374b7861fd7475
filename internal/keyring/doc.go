// Package keyring defines the keyring file shared by the operator, which writes it into a Secret,
// and the scheduling API server, which mounts that Secret and reads it. It is defined once, here:
// File is the format on disk, Parse turns it into a validated Keyring, and Watcher keeps the
// current Keyring of a mounted file up to date without a restart.
//
// The format (docs/keyring.md) is JSON:
//
//	{
//	  "format": 1,
//	  "version": 7,
//	  "signing": [
//	    {"kid": "jwt-7", "algorithm": "EdDSA", "state": "active", "created_at": "...", "key": "<base64 Ed25519 seed>"},
//	    {"kid": "jwt-6", "algorithm": "EdDSA", "state": "verify-only", "not_after": "...", "created_at": "...", "key": "..."}
//	  ],
//	  "encryption": [
//	    {"kid": "fields-3", "algorithm": "AES256GCM", "state": "active", "created_at": "...", "key": "<base64 32 bytes>"},
//	    {"kid": "fields-2", "algorithm": "AES256GCM", "state": "decrypt-only", "created_at": "...", "key": "..."}
//	  ]
//	}
//
// Key material never leaves this package in a printable form: errors name keys by kid only, and
// the key types redact themselves when formatted.
package keyring
