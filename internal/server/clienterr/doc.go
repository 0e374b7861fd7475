// Package clienterr holds the error kinds the server's domain packages (accounts, scheduling)
// return for a request they refuse on its own merits, with a reason written for the client. The
// HTTP layer maps them onto a status in one place (httpapi's respond); every other error is an
// internal one, logged and answered with a generic detail.
package clienterr
