// Package proc launches the programs smp depends on (sidecar proxies, the sample app,
// external load generators) so that nothing outlives its run and every failure can be
// pasted back into a shell.
//
// It owns: starting a child in its own process group, binding it to a context (cancel
// → SIGTERM to the whole group, SIGKILL after a grace period), capturing its output in
// a bounded ring buffer, and turning a failure into a *RunError that carries a
// shell-quoted command line and the tail of the output. LookPath finds a binary or says
// how to install it.
//
// Edge cases worth knowing:
//   - The whole process group is signalled, so grandchildren (nginx and haproxy workers,
//     anything a shell script spawns) end with their parent. When the leader exits on
//     its own, whatever is left in its group is killed too: a Process never leaves
//     stragglers behind. A grandchild that moves itself to another group or session
//     (setsid, daemonising) escapes; run such programs in the foreground.
//   - The child gets PR_SET_PDEATHSIG=SIGTERM, so if smp itself is killed outright the
//     direct child is told to stop (and a well-behaved master stops its workers).
//   - Output beyond Cmd.OutputLimit keeps only the tail: the last lines are what explain
//     a failure.
//
// Unix only (process groups); on Linux the leader is waited for without reaping it
// before its group is killed, so its pid cannot be reused in between.
//
// Imports: the standard library only.
package proc
