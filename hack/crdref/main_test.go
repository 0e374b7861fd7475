package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rsched/rsched/internal/testenv"
)

// docs/crd-reference.md is what `make docs` writes from the current CRDs: a field added, changed
// or documented differently without regenerating it fails here.
func TestCRDReferenceIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := write(&b, testenv.RepoRoot()); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "crd-reference.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, b.Bytes()) {
		t.Fatal("docs/crd-reference.md is stale: run `make docs`")
	}
	// Every documented field of the spec appears with its description.
	for _, want := range []string{"`.spec.scheduling.timeZone`", "`.spec.replicas`", "`.spec.targetRef.name`", "`.status.keys[].versions[].state`"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the reference lacks %s", want)
		}
	}
}
