// Package rbac is the scheduling API's authorization: the eight roles, the predecessor's declared
// permission matrix (which its routes never consulted) and the ownership rules. Every route of
// the HTTP API names one Permission when it is registered, and the router asks Allowed before
// the handler runs; nothing else grants access.
package rbac
