package testenv

import (
	"fmt"
	"os"
	"path/filepath"
)

// Govulncheck returns the path of govulncheck and of the offline Go vulnerability database it
// reads (`govulncheck -db file://DB`), both from hack/get-vulncheck.sh's cache directory.
func Govulncheck() (bin, db string, err error) {
	bin, err = lookupExecutable("govulncheck and the Go vulnerability database", "RSCHED_VULNCHECK_DIR", "hack/get-vulncheck.sh", "govulncheck")
	if err != nil {
		return "", "", err
	}
	db = filepath.Join(os.Getenv("RSCHED_VULNCHECK_DIR"), "db")
	if _, err := os.Stat(filepath.Join(db, "index", "db.json")); err != nil {
		return "", "", &MissingComponentError{Component: "the Go vulnerability database", EnvVar: "RSCHED_VULNCHECK_DIR",
			Script: "hack/get-vulncheck.sh", Detail: fmt.Sprintf("no index in %s", db)}
	}
	return bin, db, nil
}
