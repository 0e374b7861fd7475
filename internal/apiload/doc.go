// Package apiload drives a running scheduler's API as a coordinator would: it signs in (enrolling
// MFA when the role requires it), puts a synthetic program in (people, rotation templates,
// absences requested and approved) and generates a range there. hack/genprogram -load and the
// demo use it.
package apiload
