package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
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

// cpuMeter tells how much of the machine other work took while a scenario ran: the CPU time all
// cores were busy (/proc/stat) minus what this run's own processes used (this process with its
// waited-for children such as wrk, the server's process group and PostgreSQL's). The 1-minute
// load average cannot tell: a run that saturates two cores raises it to 3 or more by itself.
type cpuMeter struct {
	groups []int // process groups of the run's servers (the server, PostgreSQL)
}

type cpuSample struct {
	at         time.Time
	busy, ours time.Duration
}

func (m cpuMeter) sample() (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return s, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq steal: busy is everything but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/stat: %q", v)
		}
		s.busy += time.Duration(n) * clockTick
	}
	self, err := selfCPU()
	if err != nil {
		return s, err
	}
	s.ours = self
	for _, g := range m.groups {
		if t, err := groupCPU(g)(); err == nil {
			s.ours += t
		}
	}
	return s, nil
}

// othersShare is the share of the machine (0..1 of all cores) other work used between a and b.
func othersShare(a, b cpuSample) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	others := (b.busy - a.busy) - (b.ours - a.ours)
	return max(0, float64(others)/(float64(wall)*float64(runtime.NumCPU())))
}

// selfCPU is this process's user and system time with that of its waited-for children.
func selfCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 15 {
		return 0, errors.New("/proc/self/stat: unexpected format")
	}
	var total time.Duration
	for _, v := range f[11:15] { // utime stime cutime cstime
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/stat: %q", v)
		}
		total += time.Duration(n) * clockTick
	}
	return total, nil
}
