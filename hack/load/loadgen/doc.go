// Package loadgen drives one HTTP endpoint with a fixed number of closed-loop clients and reports
// throughput and exact latency percentiles. It is the engine of hack/load (the command-line tool)
// and hack/apibench (the end-to-end benchmark against a real server).
//
// Each client sends its next request as soon as the previous response has been read, so the
// offered load adapts to the server (a closed loop, like wrk). Every latency is kept, in one slice
// per client, and the percentiles are read from the sorted union: exact, not a histogram's bucket
// bound.
package loadgen
