package roster

// mcf is a small min-cost flow network solved by successive shortest paths (Bellman-Ford on
// the residual graph, so negative arc costs are allowed as long as the network has no negative
// cycle: every network built here is acyclic).
type mcf struct {
	head []int
	to   []int
	next []int
	capa []int
	cost []int64
}

func newMCF(nodes int) *mcf {
	m := &mcf{head: make([]int, nodes)}
	for k := range m.head {
		m.head[k] = -1
	}
	return m
}

// arc adds u->v and returns its index (the reverse arc is index+1).
func (m *mcf) arc(u, v, c int, cost int64) int {
	k := len(m.to)
	m.to = append(m.to, v, u)
	m.capa = append(m.capa, c, 0)
	m.cost = append(m.cost, cost, -cost)
	m.next = append(m.next, m.head[u], m.head[v])
	m.head[u], m.head[v] = k, k+1
	return k
}

// flow sends as much as it can from s to t at least cost and returns (flow, cost).
func (m *mcf) flow(s, t int) (int, int64) {
	n := len(m.head)
	const inf = int64(1) << 62
	dist, via, inq := make([]int64, n), make([]int, n), make([]bool, n)
	total, cost := 0, int64(0)
	for {
		for k := range dist {
			dist[k], via[k] = inf, -1
		}
		dist[s] = 0
		queue := []int{s}
		inq[s] = true
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			inq[u] = false
			for e := m.head[u]; e >= 0; e = m.next[e] {
				if m.capa[e] > 0 && dist[u]+m.cost[e] < dist[m.to[e]] {
					v := m.to[e]
					dist[v], via[v] = dist[u]+m.cost[e], e
					if !inq[v] {
						inq[v] = true
						queue = append(queue, v)
					}
				}
			}
		}
		if dist[t] == inf {
			return total, cost
		}
		push := int(^uint(0) >> 1)
		for v := t; v != s; v = m.to[via[v]^1] {
			push = min(push, m.capa[via[v]])
		}
		for v := t; v != s; v = m.to[via[v]^1] {
			m.capa[via[v]] -= push
			m.capa[via[v]^1] += push
		}
		total += push
		cost += int64(push) * dist[t]
	}
}

// blockFlow is the min-cost flow of one block: every free resident (no rotation yet in s) goes
// to one eligible rotation with room or, at cost Unplaced, to none; a rotation's places up to
// its minimum earn -Minimum each. arcCost(i, r) prices resident i on rotation r (r = -1: none).
// It returns the rotation chosen for each free resident and the flow's cost plus the block's
// minimum deficit priced (so the result is the block's unplaced + minimum + arc costs).
func (s *plan) blockFlow(b int, arcCost func(i, r int) int64) (map[int]int, int64) {
	a := s.a
	var free []int
	for i := range a.res {
		if s.at[i][b] < 0 {
			free = append(free, i)
		}
	}
	nR := len(a.rot)
	src, sink := 0, 1
	rotNode := func(r int) int { return 2 + r }
	resNode := func(k int) int { return 2 + nR + k }
	m := newMCF(2 + nR + len(free))
	var deficit int64
	for r, rot := range a.rot {
		need := max(0, rot.MinResidents-s.cnt[b][r])
		room := max(0, rot.MaxResidents-s.cnt[b][r])
		deficit += int64(need) * a.w.Minimum
		if n := min(need, room); n > 0 {
			m.arc(rotNode(r), sink, n, -a.w.Minimum)
		}
		if n := room - min(need, room); n > 0 {
			m.arc(rotNode(r), sink, n, 0)
		}
	}
	arcs := make([][2]int, 0, len(free)*nR) // arc index, rotation
	for k, i := range free {
		m.arc(src, resNode(k), 1, 0)
		m.arc(resNode(k), sink, 1, a.w.Unplaced+arcCost(i, -1))
		for r := range a.rot {
			if a.eligible(i, r) && a.rot[r].MaxResidents > s.cnt[b][r] {
				arcs = append(arcs, [2]int{m.arc(resNode(k), rotNode(r), 1, arcCost(i, r)), k<<16 | r})
			}
		}
	}
	_, cost := m.flow(src, sink)
	out := map[int]int{}
	for _, e := range arcs {
		if m.capa[e[0]] == 0 {
			out[free[e[1]>>16]] = e[1] & 0xffff
		}
	}
	return out, cost + deficit
}

// construct fills every free cell block by block with blockFlow, pricing requests and steering
// residents toward the requirements they still miss and away from fair kinds they have had more of.
func (s *plan) construct() {
	a := s.a
	for b := range a.blocks {
		choice, _ := s.blockFlow(b, func(i, r int) int64 {
			c := a.requestCost(i, b, r)
			if r < 0 {
				return c
			}
			for _, q := range a.reqs[i] {
				if !q.counts[r] {
					continue
				}
				n := s.reqCount(i, q)
				if n < q.q.MinBlocks {
					c -= a.w.Requirement
				} else if q.q.MaxBlocks != nil && n >= *q.q.MaxBlocks {
					c += a.w.Requirement
				}
			}
			if k := a.fairOf[r]; k >= 0 {
				c += int64(s.fairCount(i, k)) * a.w.Fairness
			}
			return c
		})
		for i, r := range choice {
			s.set(i, b, r)
		}
	}
}
