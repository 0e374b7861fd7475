// Package keyprobe reads what a scheduling API server pod says, on its Prometheus metrics page,
// about its keys: the keyring version it has loaded and the outcome of its last completed rewrap
// pass (re-encrypting confidential fields with the active encryption key). The operator scrapes
// every pod with it before it drops an old encryption key: the key may go only once every pod
// has loaded the keyring that activated its successor and has completed a pass under that
// successor with nothing pending.
//
// The metrics it reads are the server's (internal/server/app, internal/keyring):
//
//	rsched_keyring_version                               keyring version in use
//	rsched_fields_rewrap_pending                         values under another key after the last completed pass
//	rsched_fields_rewrap_failed                          of those, values the pass could not open
//	rsched_fields_rewrap_active_key_info{kid="..."} 1    the active encryption key of that pass
//	rsched_fields_rewrap_last_run_timestamp_seconds      when that pass started
package keyprobe
