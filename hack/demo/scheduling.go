package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/apiload"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/testenv"
)

// showScheduling uses the minimal instance's API from the host, through one of its pods (the
// node is this machine, so pod IPs are reachable): its first user becomes the administrator and
// enrols MFA as the instance requires, a synthetic program of the predecessor's size goes in
// (18 residents, 12 faculty, rotation templates, 5 % absences approved), block 1 is generated,
// validated and exported.
func showScheduling(ctx context.Context, kube *testenv.Kube) error {
	si := &rschedv1.SchedulerInstance{}
	si.Name, si.Namespace = "minimal", "demo"
	var sel []string
	for k, v := range builders.SelectorLabels(si) {
		sel = append(sel, k+"="+v)
	}
	ip, err := kube.Kubectl("get", "pods", "-n", "demo", "-l", strings.Join(sel, ","), "--field-selector=status.phase=Running",
		"-o", "jsonpath={.items[0].status.podIP}")
	if err != nil || ip == "" {
		fmt.Println("    no running pod of demo/minimal to call; skipping the scheduling tour")
		return nil
	}
	base := fmt.Sprintf("http://%s:%d", ip, builders.APIPort)
	step("the scheduling API of demo/minimal (%s): the first user signs in as administrator and enrols MFA", base)
	password, err := randomHex(16)
	if err != nil {
		return err
	}
	c := &apiload.Client{Base: base, HTTP: &http.Client{Timeout: 2 * time.Minute}}
	if _, err := c.Bootstrap(ctx, "demo-admin", "demo-admin@example.org", "Demo-"+password); err != nil {
		return fmt.Errorf("signing in to the scheduler: %w", err)
	}

	block := roster.AcademicYearOf(roster.DateOf(time.Now())).Blocks()[1]
	step("loading a program (18 residents, 12 faculty, 5 templates, 5 %% absences) and generating block 1 (%s to %s) with a 2 s budget", block.Start, block.End)
	p, err := roster.GenerateProgram(roster.ProgramConfig{Residents: 18, Faculty: 12, From: block.Start, To: block.End, AbsenceRate: 0.05, Seed: 1})
	if err != nil {
		return err
	}
	res, err := c.Load(ctx, p, 2*time.Second, 1)
	if err != nil {
		return err
	}
	var run struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Hard   int    `json:"hard_violations"`
		Stats  struct {
			Assignments  int     `json:"assignments"`
			CoverageRate float64 `json:"coverage_rate"`
			Iterations   int     `json:"iterations"`
			Construct    int64   `json:"construct_elapsed_ns"`
			StoppedBy    string  `json:"stopped_by"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(res.Run, &run); err != nil {
		return err
	}
	fmt.Printf("    loaded %d people, %d templates, %d approved absences in %.1f s\n", res.People, res.Templates, res.Absences, res.LoadSeconds)
	fmt.Printf("    POST /api/v1/schedule/generate: HTTP %d, run %s %s: %d assignments, coverage %.3f, %d hard violations,\n", res.HTTPStatus, run.ID, run.Status,
		run.Stats.Assignments, run.Stats.CoverageRate, run.Hard)
	fmt.Printf("    first compliant schedule after %s, %d iterations, stopped by %s\n", time.Duration(run.Stats.Construct).Round(100*time.Microsecond), run.Stats.Iterations, run.Stats.StoppedBy)
	var v struct {
		Compliant bool `json:"compliant"`
		Hard      int  `json:"hard_violations"`
		Total     int  `json:"total_violations"`
	}
	q := "?start_date=" + block.Start.String() + "&end_date=" + block.End.String()
	if _, err := c.Call(ctx, "GET", "/api/v1/schedule/validate"+q, nil, &v, http.StatusOK); err != nil {
		return err
	}
	fmt.Printf("    GET /api/v1/schedule/validate: compliant=%t, %d hard and %d soft violations\n", v.Compliant, v.Hard, v.Total-v.Hard)
	fmt.Printf("    more: curl -H \"Authorization: Bearer $TOKEN\" %s/api/v1/schedule/export.csv%s (the token stays in this process; sign in yourself)\n", base, q)
	return nil
}

// showPlugin runs the kubectl plugin (bin/kubectl-rsched, built by make demo) through kubectl, as
// a user would: the status of everything, then a manual rotation followed until it is active.
func showPlugin(root string, kube *testenv.Kube) error {
	run := func(args ...string) error {
		cmd := exec.Command(filepath.Join(kube.Assets, "kubectl"), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kube.Kubeconfig, "PATH="+filepath.Join(root, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	step("kubectl rsched status -A (the kubectl plugin, bin/kubectl-rsched)")
	if err := run("rsched", "status", "-A"); err != nil {
		return err
	}
	step("kubectl rsched rotate minimal-keys -n demo")
	if err := run("rsched", "rotate", "minimal-keys", "-n", "demo", "--timeout", "3m"); err != nil {
		return err
	}
	step("kubectl rsched keys minimal-keys -n demo")
	return run("rsched", "keys", "minimal-keys", "-n", "demo")
}
