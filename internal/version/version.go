package version

// Version of this build; "dev" when not set by the linker.
var Version = "dev"

// DefaultSchedulerImage is the scheduling API server image matching this build, used when neither
// a SchedulerInstance nor the manager's --scheduler-image flag names one.
func DefaultSchedulerImage() string {
	tag := Version
	if tag == "" || tag == "dev" {
		tag = "latest"
	}
	return "ghcr.io/rsched/scheduler:" + tag
}
