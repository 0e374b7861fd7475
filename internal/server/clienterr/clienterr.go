package clienterr

import "fmt"

// Invalid is a request whose content is wrong, with a client-safe reason: 422 for a field that
// fails validation, 400 (BadRequest) for a request that is well-formed but not allowed.
type Invalid struct {
	Reason     string
	BadRequest bool
}

func (e *Invalid) Error() string { return e.Reason }

// Invalidf is an Invalid (422) with a formatted reason.
func Invalidf(format string, args ...any) error {
	return &Invalid{Reason: fmt.Sprintf(format, args...)}
}
