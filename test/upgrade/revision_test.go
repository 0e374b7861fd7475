package upgrade

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The previous release is the newest tag v* before HEAD, RSCHED_UPGRADE_FROM overrides it, and
// a repository without the pinned commit (a shallow clone) is an error that says what to do.
func TestPreviousRevisionPrefersTheNewestReleaseTagBeforeHead(t *testing.T) {
	repo := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	var c []string
	for _, m := range []string{"one", "two", "three"} {
		run("commit", "-q", "--allow-empty", "-m", m)
		c = append(c, run("rev-parse", "HEAD"))
	}
	t.Setenv("RSCHED_UPGRADE_FROM", "")

	_, _, err := previousRevision(repo)
	if err == nil || !strings.Contains(err.Error(), pinnedPrevious) || !strings.Contains(err.Error(), "git fetch --unshallow --tags") {
		t.Fatalf("no tag and no pinned commit: %v", err)
	}
	for _, step := range []struct {
		tag, at string
		want    string
	}{
		{"nightly", c[1], ""},  // not a release tag: still the pin, still missing
		{"v0.1.0", c[0], c[0]}, // the only release tag
		{"v0.2.0", c[1], c[1]}, // the newest one before HEAD
		{"v0.3.0", c[2], c[1]}, // HEAD's own tag is the release being tested, not the previous one
	} {
		run("tag", step.tag, step.at)
		got, source, err := previousRevision(repo)
		switch {
		case step.want == "" && err == nil:
			t.Fatalf("after tag %s: %s (%s), want the pin's error", step.tag, got, source)
		case step.want != "" && (err != nil || got != step.want):
			t.Fatalf("after tag %s: %s (%s) %v, want %s", step.tag, got, source, err, step.want)
		}
	}
	for _, bad := range []string{"--upload-pack=touch /tmp/x", "a:refs/heads/b", "-x", "v1 v2", ".hidden"} {
		t.Setenv("RSCHED_UPGRADE_FROM", bad)
		if _, _, err := previousRevision(repo); err == nil || !strings.Contains(err.Error(), "want a commit hash") {
			t.Errorf("RSCHED_UPGRADE_FROM=%q: %v, want it refused before git sees it", bad, err)
		}
	}
	t.Setenv("RSCHED_UPGRADE_FROM", c[0][:10])
	if got, source, err := previousRevision(repo); err != nil || got != c[0] || !strings.Contains(source, "RSCHED_UPGRADE_FROM") {
		t.Fatalf("RSCHED_UPGRADE_FROM: %s (%s) %v", got, source, err)
	}
}
