// Package rawio makes a TCP connection's reads and writes raw system calls, for the
// processes smp starts on the system under test (the builtin sample app and sidecar),
// whose CPU use is what a run measures, and for the load engine's HTTP/1.1 and HTTP/2
// clients, whose CPU per request is what the generator can send (Read and Write serve
// code that runs its own syscall.RawConn callbacks; ReadNow and Control serve an event
// loop of its own, the HTTP/2 client's poller); Pipe and Relay are the one relay loop of a TCP
// stream that the app's TCP echo and the sidecar's L4 mode share. It imports nothing of smp.
package rawio
