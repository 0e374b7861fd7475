// Package keyringtest builds keyrings for tests of the packages that use them (tokens, field
// encryption). Pure construction: it writes no file and starts nothing.
package keyringtest
