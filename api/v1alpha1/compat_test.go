package v1alpha1_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/rsched/rsched/internal/testenv"
)

// snapshotFile is the committed contract of the v1alpha1 schemas: every field path of every
// served version with its type. Objects stored under it (and manifests in users' Git
// repositories) must keep working, so a field may be added but never removed or retyped within
// a version. Refresh it after an addition with:
//
//	RSCHED_UPDATE_CRD_SNAPSHOT=1 go test ./api/... -run TestCRDSchemaIsCompatible
const snapshotFile = "testdata/crd-schema-snapshot.json"

// schemaFields flattens a CRD's schemas into "Kind/version:path" → type: properties as ".name",
// list items as "[]", map values as "{}".
func schemaFields(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			walk(crd.Spec.Names.Kind+"/"+v.Name+":", v.Schema.OpenAPIV3Schema, out)
		}
	}
	return out
}

func walk(path string, s *apiextensionsv1.JSONSchemaProps, out map[string]string) {
	typ := s.Type
	if s.XIntOrString {
		typ = "int-or-string"
	}
	if s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields {
		typ += "+preserve-unknown"
	}
	out[path] = typ
	for name, p := range s.Properties {
		walk(path+"."+name, &p, out)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walk(path+"[]", s.Items.Schema, out)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walk(path+"{}", s.AdditionalProperties.Schema, out)
	}
}

// A field of the committed snapshot that is missing or has another type now fails the test:
// that would break stored objects and users' manifests. New fields fail it too, until the
// snapshot is refreshed, so that the snapshot always holds everything there is to protect.
func TestCRDSchemaIsCompatible(t *testing.T) {
	now := schemaFields(t)
	if os.Getenv("RSCHED_UPDATE_CRD_SNAPSHOT") == "1" {
		b, err := json.MarshalIndent(now, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(snapshotFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s with %d fields", snapshotFile, len(now))
		return
	}
	raw, err := os.ReadFile(snapshotFile)
	if err != nil {
		t.Fatalf("%v: create it with RSCHED_UPDATE_CRD_SNAPSHOT=1 go test ./api/... -run TestCRDSchemaIsCompatible", err)
	}
	var was map[string]string
	if err := json.Unmarshal(raw, &was); err != nil {
		t.Fatal(err)
	}
	for _, path := range slices.Sorted(maps.Keys(was)) {
		got, ok := now[path]
		switch {
		case !ok:
			t.Errorf("field %s was removed: stored objects and manifests that set it would break; deprecate it instead, or add a new API version", path)
		case got != was[path]:
			t.Errorf("field %s changed type from %q to %q: stored objects would no longer validate", path, was[path], got)
		}
	}
	var added []string
	for path := range now {
		if _, ok := was[path]; !ok {
			added = append(added, path)
		}
	}
	if len(added) > 0 {
		slices.Sort(added)
		t.Errorf("new fields are not in %s yet (adding is compatible; record them so they are protected too):\n  %s\nrun: RSCHED_UPDATE_CRD_SNAPSHOT=1 go test ./api/... -run TestCRDSchemaIsCompatible",
			snapshotFile, strings.Join(added, "\n  "))
	}
}
