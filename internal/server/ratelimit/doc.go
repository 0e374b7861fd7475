// Package ratelimit counts requests per key (client address, account) in PostgreSQL, so a limit
// holds across every replica of the server: two replicas behind a load balancer do not double it.
// The predecessor kept its counters in Redis and failed open when Redis was away; these fail
// closed (an error the caller turns into a refusal) for the endpoints that guard credentials.
//
// The window slides: the estimate is the current window's count plus the previous window's count
// weighted by the part of it still inside the last period, which avoids the double burst a fixed
// window allows at its edge.
package ratelimit
