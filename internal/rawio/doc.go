// Package rawio makes a TCP connection's reads and writes raw system calls, for the
// processes smp starts on the system under test (the builtin sample app and sidecar),
// whose CPU use is what a run measures. It imports nothing of smp.
package rawio
