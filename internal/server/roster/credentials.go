package roster

import (
	"fmt"
	"regexp"
	"slices"
)

// Credentials: a template may require a credential of the faculty who supervise it (a procedure
// a faculty member is privileged for: "endoscopy", "central-line", "bronchoscopy"). Only faculty
// holding it are placed on it, so the supervision its residents need is always given by
// credentialed faculty; residents and learners on it need none (they are there to learn it).
// The solver, the validator (eligibility), the repair and the LP export all ask Credentialed.

// credentialPattern is what a credential looks like: a short lower-case name.
var credentialPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// short quotes user input for an error message, cut to 40 characters: a message never echoes
// an unbounded value back.
func short(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// MaxCredentials bounds how many credentials one person holds.
const MaxCredentials = 50

// ValidCredential says whether c is a well-formed credential name.
func ValidCredential(c string) bool { return credentialPattern.MatchString(c) }

// Credentialed says whether x may hold template t as far as credentials go: always for
// residents and learners and for templates that require none; for faculty, when they hold t's.
func (t Template) Credentialed(x Person) bool {
	return x.Type != Faculty || t.RequiredCredential == "" || slices.Contains(x.Credentials, t.RequiredCredential)
}

// validateCredentials checks a person's credentials.
func (x Person) validateCredentials() error {
	if len(x.Credentials) > MaxCredentials {
		return fmt.Errorf("person %s: at most %d credentials", x.ID, MaxCredentials)
	}
	for i, c := range x.Credentials {
		if !ValidCredential(c) {
			return fmt.Errorf("person %s: credential %s is not 1 to 63 lower-case letters, digits, '-' or '_'", x.ID, short(c))
		}
		if slices.Contains(x.Credentials[:i], c) {
			return fmt.Errorf("person %s: credential %q is repeated", x.ID, c)
		}
	}
	return nil
}

// credentialed is Credentialed by index, for the solver.
func (s *solver) credentialed(f personIdx, t templateIdx) bool {
	return s.templates[t].Credentialed(s.people[f])
}
