package upgrade

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/testenv"
)

// pinnedPrevious is the previous release while the repository has no release tag: 762520f, the
// last commit that landed through CI before this test. The first tag v* that is an ancestor of
// HEAD replaces it (previousRevision prefers a tag), so this pin never needs editing after that.
const pinnedPrevious = "762520f88a3fea73fce20ff21b20d2ca2f276a0a"

// revisionName is what RSCHED_UPGRADE_FROM may hold: a hash, or a tag or branch name.
var revisionName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]*$`)

// previous is the release an upgrade starts from, built from git.
type previous struct {
	// Commit is the full commit hash; Source says how it was chosen.
	Commit, Source string
	// Manager is the manager binary built from Commit; CRDs is its config/crd/bases.
	Manager, CRDs string
}

// previousRevision chooses the release to upgrade from: RSCHED_UPGRADE_FROM when set (any git
// revision), else the newest tag v* reachable from HEAD other than HEAD itself, else the pin. It
// returns the full commit hash and a description of the choice.
func previousRevision(root string) (commit, source string, err error) {
	rev, source := os.Getenv("RSCHED_UPGRADE_FROM"), "RSCHED_UPGRADE_FROM"
	if rev != "" && !revisionName.MatchString(rev) {
		// It reaches git's command line (rev-parse, fetch): an option (--upload-pack=…) or a
		// refspec (a:b) there would do more than name a commit.
		return "", "", fmt.Errorf("RSCHED_UPGRADE_FROM=%q: want a commit hash or a tag or branch name (letters, digits, . _ / -; not starting with - or .)", rev)
	}
	if rev == "" {
		rev, source = pinnedPrevious, "the pinned commit (no release tag v* is an ancestor of HEAD)"
		head, _ := git(root, "rev-parse", "HEAD")
		for _, from := range []string{"HEAD", "HEAD^"} {
			tag, err := git(root, "describe", "--tags", "--abbrev=0", "--match", "v*", from)
			if err != nil {
				break // no tag; or HEAD^ does not exist
			}
			if c, _ := git(root, "rev-parse", tag+"^{commit}"); c != head {
				rev, source = tag, "the newest release tag before HEAD"
				break
			}
		}
	}
	commit, err = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		// A shallow clone lacks it: ask the clone's origin for that one commit (servers such as
		// GitHub's hand out any reachable commit by hash) before giving up.
		fetched := "no remote origin to fetch it from"
		if _, err := git(root, "remote", "get-url", "origin"); err == nil {
			fetched = "fetching it from origin failed"
			if _, err := git(root, "fetch", "--quiet", "--no-tags", "--depth=1", "--end-of-options", "origin", rev); err == nil {
				commit, err = git(root, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
				if err == nil {
					return commit, source + ", fetched from origin", nil
				}
			}
		}
		shallow, _ := git(root, "rev-parse", "--is-shallow-repository")
		return "", "", fmt.Errorf("the previous release %s (%s) is not in this repository (shallow clone: %s; %s): "+
			"fetch the full history (git fetch --unshallow --tags; actions/checkout with fetch-depth: 0) or set RSCHED_UPGRADE_FROM", rev, source, shallow, fetched)
	}
	if !strings.HasPrefix(commit, rev) {
		source = rev + ", " + source
	}
	return commit, source, nil
}

// buildPrevious returns the previous release's manager and CRDs, built once per commit into
// ~/.cache/rsched/upgrade/<commit>/ from `git archive` of that commit: the working tree and the
// index are never touched.
func buildPrevious(t *testing.T) previous {
	t.Helper()
	root := testenv.RepoRoot()
	commit, source, err := previousRevision(root)
	if err != nil {
		// Never a skip, in CI (CI=true) or elsewhere: a shallow clone would otherwise pass
		// without testing any upgrade.
		t.Fatal(err)
	}
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cacheRoot, "rsched", "upgrade", commit)
	p := previous{Commit: commit, Source: source, Manager: filepath.Join(dir, "manager"), CRDs: filepath.Join(dir, "crd")}
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		t.Logf("previous release %s (%s): cached in %s", commit[:12], source, dir)
		return p
	}
	start := time.Now()
	// Progress goes to stderr as it happens: the first build takes minutes on a busy machine.
	fmt.Fprintf(os.Stderr, "upgrade: building the manager of %s (%s) into %s, once...\n", commit[:12], source, dir)
	if err := build(root, commit, dir); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "upgrade: built the manager of %s in %s\n", commit[:12], time.Since(start).Round(time.Second))
	t.Logf("previous release %s (%s): built in %s", commit[:12], source, time.Since(start).Round(time.Second))
	return p
}

// build extracts commit into a temporary directory, builds its manager and copies its CRDs into
// a directory beside dir, marks it complete and renames it to dir: a build cut short is redone,
// and two test processes building at once never see each other's half.
func build(root, commit, dir string) error {
	src, err := os.MkdirTemp("", "rsched-upgrade-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	archive := exec.Command("sh", "-c", `git archive --format=tar "$1" | tar -x -C "$2"`, "sh", commit, src)
	archive.Dir = root
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %w\n%s", commit, err, out)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	out, err := os.MkdirTemp(filepath.Dir(dir), ".building-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	if err := buildInto(src, commit, out); err != nil {
		return err
	}
	_ = os.RemoveAll(dir) // an incomplete earlier build
	if err := os.Rename(out, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "complete")); statErr == nil {
			return nil // another process finished first
		}
		return err
	}
	return nil
}

// buildInto builds the manager of the source tree src into dir and copies its CRDs there.
func buildInto(src, commit, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "crd"), 0o755); err != nil {
		return err
	}
	gobuild := exec.Command("go", "build", "-o", filepath.Join(dir, "manager"), "./cmd/manager")
	gobuild.Dir = src
	// The old go.mod names its own toolchain; GOTOOLCHAIN=auto fetches it when it is newer.
	gobuild.Env = append(os.Environ(), "GOTOOLCHAIN=auto")
	if out, err := gobuild.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/manager at %s: %w\n%s", commit, err, out)
	}
	crds, err := filepath.Glob(filepath.Join(src, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		return errors.Join(err, fmt.Errorf("no CRDs in config/crd/bases at %s", commit))
	}
	for _, f := range crds {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "crd", filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "complete"), []byte(commit+"\n"), 0o644)
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
