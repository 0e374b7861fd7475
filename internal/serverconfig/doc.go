// Package serverconfig is the scheduling API server's configuration: a YAML file plus environment
// overrides. The file is the contract between the operator, which renders it from a
// SchedulerInstance into a ConfigMap, and the server, which reads it at start; its fields and
// bounds mirror the SchedulerInstance spec. Secrets never appear in it: the file names the files
// that hold them (mounted from Secrets), and Load refuses weak or default secrets.
//
// This package holds types and validation only, so the operator can import it without pulling in
// server code.
package serverconfig
