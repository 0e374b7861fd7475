package keyring

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, and whatever it accepts must be
// a keyring the server can use: exactly one active key of each purpose, usable for its job, and
// the same keyring again after Marshal.
func FuzzParse(f *testing.F) {
	valid, _ := json.Marshal(validFile(3))
	f.Add(valid)
	f.Add([]byte(`{"format":1,"version":1,"signing":[],"encryption":[]}`))
	f.Add([]byte(`{"format":1,"version":9223372036854775807,"signing":[{"kid":"a","algorithm":"HS256","state":"active","created_at":"2026-01-01T00:00:00Z","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}],"encryption":[{"kid":"b","algorithm":"AES256GCM","state":"active","created_at":"2026-01-01T00:00:00Z","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}`))
	f.Add([]byte(`{"format":1,"version":1,"signing":[{"kid":"a","algorithm":"none","state":"active"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := Parse(data)
		if err != nil {
			return
		}
		sk, ek := kr.ActiveSigningKey(), kr.ActiveEncryptionKey()
		if sk == nil || ek == nil || sk.State != Active || ek.State != Active {
			t.Fatalf("accepted a keyring without active keys: %v %v", sk, ek)
		}
		if sk.Secret() == nil && sk.PrivateKey() == nil {
			t.Fatalf("accepted an active signing key without material: %v", sk)
		}
		if len(ek.Key()) != 32 {
			t.Fatalf("accepted an active encryption key of %d bytes", len(ek.Key()))
		}
		var f File
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("Parse accepted what json.Unmarshal refuses: %v", err)
		}
		out, err := Marshal(&f)
		if err != nil {
			t.Fatalf("Marshal refused what Parse accepted: %v", err)
		}
		again, err := Parse(out)
		if err != nil || again.Version != kr.Version || again.ActiveSigningKey().KID != sk.KID ||
			!bytes.Equal(again.ActiveEncryptionKey().Key(), ek.Key()) {
			t.Fatalf("round trip changed the keyring: %v", err)
		}
	})
}
