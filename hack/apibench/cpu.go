package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/testenv"
)

// clockTick is Linux's USER_HZ, the unit of utime and stime in /proc/<pid>/stat (fixed at 100 on
// every architecture Go supports).
const clockTick = 10 * time.Millisecond

// groupCPU returns a function reading the user plus system CPU time the live processes of
// process group pgid have used so far: the server alone (uvicorn: its master and workers),
// without the clients or PostgreSQL. Unlike requests/s it hardly moves when other work shares the
// cores, so it is the handshake's cost for the server itself.
func groupCPU(pgid int) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		var total time.Duration
		for _, pid := range testenv.ProcessGroupAlive(pgid) {
			t, err := processCPU(pid)
			if err != nil {
				continue // exited between the listing and the read
			}
			total += t
		}
		if total == 0 {
			return 0, fmt.Errorf("no CPU time read for process group %d", pgid)
		}
		return total, nil
	}
}

func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold anything; the fields after it start with
	// the state (field 3), so utime and stime (fields 14 and 15) are the 12th and 13th.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * clockTick, nil
}
