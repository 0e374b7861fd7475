package pki

import (
	"crypto/x509"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
	"time"
)

const day = 24 * time.Hour

// fixture: a CA and its leaf issued at t0, another CA with its leaf (the wrong one), and the
// next CA of a replacement with its leaf.
type fixture struct {
	ca, leaf, other, otherLeaf, next, nextLeaf KeyPair
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{ca: mustCA(t, t0), other: mustCA(t, t0), next: mustCA(t, t0)}
	f.leaf = mustLeaf(t, f.ca, names, t0)
	f.otherLeaf = mustLeaf(t, f.other, names, t0)
	f.nextLeaf = mustLeaf(t, f.next, names, t0)
	return f
}

// steady is a converged instance at now: CA, leaf, both keys, the bundle holding the CA.
func (f fixture) steady(now time.Time) Input {
	return Input{Now: now, CA: f.ca.Cert, CAKeyPresent: true, Leaf: f.leaf.Cert, LeafKeyPresent: true, DNSNames: names, Bundle: []*x509.Certificate{f.ca.Cert}}
}

func (f fixture) propagating(now, published time.Time) Input {
	in := f.steady(now)
	in.Bundle = []*x509.Certificate{f.ca.Cert, f.next.Cert}
	in.Replacement = Replacement{Phase: Propagating, Next: f.next.Cert, NextKeyPresent: true, BundlePublished: published}
	return in
}

func (f fixture) overlapping(now, moved time.Time) Input {
	in := f.steady(now)
	in.CA, in.Leaf = f.next.Cert, f.nextLeaf.Cert
	in.Bundle = []*x509.Certificate{f.ca.Cert, f.next.Cert}
	in.Replacement = Replacement{Phase: Overlapping, Previous: f.ca.Cert, LeafMoved: moved}
	return in
}

type decisionCase struct {
	in     Input
	action Action
	reason Reason
	after  time.Duration
}

// decisionCases are the whole policy: every Reason, and the order of the checks.
func decisionCases(f fixture) map[string]decisionCase {
	now := t0.Add(day)
	leafDue := RenewalTime(f.leaf.Cert, 0)
	caDue := RenewalTime(f.ca.Cert, 0)
	base := f.steady(now)
	with := func(in Input, edit func(*Input)) Input { edit(&in); return in }
	at := func(t time.Time) Input { return f.steady(t) }
	prop := f.propagating(now, now.Add(-time.Minute))
	over := f.overlapping(now, now.Add(-time.Minute))
	// capped: a 720h CA, and a 720h leaf issued 420h into its life, so cut at the CA's end and
	// due at once with renewBefore 300h; renewing the leaf alone would give the same leaf again.
	capped := func(now time.Time) Input {
		ca, err := NewCA("short CA", now.Add(-420*time.Hour), 720*time.Hour)
		if err != nil {
			panic(err)
		}
		leaf, err := NewLeaf(ca, names, now, 720*time.Hour)
		if err != nil {
			panic(err)
		}
		return Input{Now: now, Policy: Policy{CALifetime: 720 * time.Hour, LeafLifetime: 720 * time.Hour, LeafRenewBefore: 300 * time.Hour},
			CA: ca.Cert, CAKeyPresent: true, Leaf: leaf.Cert, LeafKeyPresent: true, DNSNames: names, Bundle: []*x509.Certificate{ca.Cert}}
	}
	return map[string]decisionCase{
		"steady: wait for the leaf's renewal": {base, Nothing, NotDue, leafDue.Sub(now)},
		"right after issuance: nothing":       {at(t0), Nothing, NotDue, leafDue.Sub(t0)},
		"no CA":                               {with(base, func(i *Input) { i.CA, i.CAKeyPresent = nil, false }), IssueCA, CAMissing, 0},
		"no CA, nothing else either":          {Input{Now: now, DNSNames: names}, IssueCA, CAMissing, 0},
		"no CA while propagating":             {with(prop, func(i *Input) { i.CA = nil }), IssueCA, CAMissing, 0},
		"no bundle":                           {with(base, func(i *Input) { i.Bundle = nil }), PublishBundle, BundleOutOfDate, 0},
		"bundle with a foreign CA":            {with(base, func(i *Input) { i.Bundle = append(i.Bundle, f.other.Cert) }), PublishBundle, BundleOutOfDate, 0},
		"bundle without the current CA":       {with(base, func(i *Input) { i.Bundle = []*x509.Certificate{f.other.Cert} }), PublishBundle, BundleOutOfDate, 0},
		"leaf due at 2/3":                     {at(leafDue), RenewLeaf, LeafDue, 0},
		"leaf just before 2/3":                {at(leafDue.Add(-time.Second)), Nothing, NotDue, time.Second},
		"leaf renewBefore 2 days": {with(at(leafDue), func(i *Input) { i.Policy.LeafRenewBefore = 2 * day }),
			Nothing, NotDue, f.leaf.Cert.NotAfter.Add(-2 * day).Sub(leafDue)},
		"leaf renewBefore longer than its life: 2/3": {with(at(leafDue), func(i *Input) { i.Policy.LeafRenewBefore = 60 * day }), RenewLeaf, LeafDue, 0},
		"operator down past the leaf's expiry":       {at(t0.Add(90 * day)), ReissueLeaf, LeafExpired, 0},
		"leaf at its NotAfter":                       {at(f.leaf.Cert.NotAfter), ReissueLeaf, LeafExpired, 0},
		"leaf signed by another CA":                  {with(base, func(i *Input) { i.Leaf = f.otherLeaf.Cert }), ReissueLeaf, LeafNotSignedByCA, 0},
		"leaf signed by another CA, and expired":     {with(at(t0.Add(60*day)), func(i *Input) { i.Leaf = f.otherLeaf.Cert }), ReissueLeaf, LeafNotSignedByCA, 0},
		"no leaf":                                    {with(base, func(i *Input) { i.Leaf, i.LeafKeyPresent = nil, false }), IssueLeaf, LeafMissing, 0},
		"leaf key missing":                           {with(base, func(i *Input) { i.LeafKeyPresent = false }), ReissueLeaf, LeafKeyMissing, 0},
		"a name added":                               {with(base, func(i *Input) { i.DNSNames = ServiceDNSNames("demo", "team-a", "api.example.org", "b.example.org") }), ReissueLeaf, LeafNamesChanged, 0},
		"a renewal asked for":                        {with(base, func(i *Input) { i.RenewRequest = "r1" }), RenewLeaf, ManualRenewRequest, 0},
		"a CA renewal asked for":                     {with(base, func(i *Input) { i.RenewCARequest = "c1" }), RenewCA, ManualRenewCARequest, 0},
		"a renewal already acted on":                 {with(base, func(i *Input) { i.RenewRequest, i.LastRenewRequest = "r1", "r1" }), Nothing, NotDue, leafDue.Sub(now)},
		"the names reordered":                        {with(base, func(i *Input) { i.DNSNames = []string{names[4], names[3], names[2], names[1], names[0]} }), Nothing, NotDue, leafDue.Sub(now)},
		"CA due at 2/3, before the expired leaf":     {at(caDue), RenewCA, CADue, 0},
		"CA renewBefore 30 days":                     {with(at(caDue), func(i *Input) { i.Policy.CARenewBefore = 30 * day; i.Leaf = mustLeafAt(f, caDue) }), Nothing, NotDue, RenewalTime(mustLeafAt(f, caDue), 0).Sub(caDue)},
		"operator down past the CA's expiry":         {at(f.ca.Cert.NotAfter.Add(30 * day)), RenewCA, CAExpired, 0},
		"CA key missing":                             {with(base, func(i *Input) { i.CAKeyPresent = false }), StartCAReplacement, CAKeyMissing, 0},
		"CA key missing, CA near expiry":             {with(at(caDue), func(i *Input) { i.CAKeyPresent = false }), StartCAReplacement, CAKeyMissing, 0},
		"CA key missing, CA expired":                 {with(at(f.ca.Cert.NotAfter), func(i *Input) { i.CAKeyPresent = false }), StartCAReplacement, CAKeyMissing, 0},
		"manual replacement request":                 {with(base, func(i *Input) { i.ReplaceRequest = "r1" }), StartCAReplacement, ManualReplaceRequest, 0},
		"manual request acted on":                    {with(base, func(i *Input) { i.ReplaceRequest, i.LastReplaceRequest = "r1", "r1" }), Nothing, NotDue, leafDue.Sub(now)},
		"manual request beats a due leaf":            {with(at(leafDue), func(i *Input) { i.ReplaceRequest = "r2" }), StartCAReplacement, ManualReplaceRequest, 0},
		"unknown phase is none":                      {with(base, func(i *Input) { i.Replacement.Phase = "Bogus" }), Nothing, NotDue, leafDue.Sub(now)},

		"propagating: wait":                            {prop, Nothing, WaitingForTrust, 9 * time.Minute},
		"propagating: bundle lost the next CA":         {with(prop, func(i *Input) { i.Bundle = []*x509.Certificate{f.ca.Cert} }), PublishBundle, BundleOutOfDate, 0},
		"propagating: publication not recorded":        {with(prop, func(i *Input) { i.Replacement.BundlePublished = time.Time{} }), PublishBundle, BundleOutOfDate, 0},
		"propagating: done":                            {f.propagating(now, now.Add(-10*time.Minute)), PromoteCA, TrustPropagated, 0},
		"propagating: next CA's key lost":              {with(prop, func(i *Input) { i.Replacement.NextKeyPresent = false }), StartCAReplacement, ReplacementLost, 0},
		"propagating: next CA lost":                    {with(prop, func(i *Input) { i.Replacement.Next = nil }), StartCAReplacement, ReplacementLost, 0},
		"propagating: current CA expired":              {f.propagating(f.ca.Cert.NotAfter, f.ca.Cert.NotAfter), PromoteCA, ServingBroken, 0},
		"propagating: no CA key, leaf expired":         {with(f.propagating(t0.Add(40*day), t0.Add(40*day)), func(i *Input) { i.CAKeyPresent = false }), PromoteCA, ServingBroken, 0},
		"propagating: no CA key, leaf due: wait":       {with(f.propagating(leafDue, leafDue), func(i *Input) { i.CAKeyPresent = false }), Nothing, WaitingForTrust, 10 * time.Minute},
		"propagating: leaf due, CA key held: renew":    {f.propagating(leafDue, leafDue), RenewLeaf, LeafDue, 0},
		"propagating: CA due is the replacement's":     {with(f.propagating(caDue, caDue), func(i *Input) { i.Leaf = mustLeafAt(f, caDue) }), Nothing, WaitingForTrust, 10 * time.Minute},
		"propagating: a new request waits":             {with(prop, func(i *Input) { i.ReplaceRequest = "r9" }), Nothing, WaitingForTrust, 9 * time.Minute},
		"overlapping: wait":                            {over, Nothing, WaitingForOverlap, 9 * time.Minute},
		"overlapping: done":                            {f.overlapping(now, now.Add(-10*time.Minute)), DropPreviousCA, OverlapEnded, 0},
		"overlapping: leaf left under the previous CA": {with(over, func(i *Input) { i.Leaf = f.leaf.Cert }), ReissueLeaf, LeafNotSignedByCA, 0},
		// The promotion's leaf write was lost and the operator came back after the overlap: the
		// previous CA stays in the bundle until the leaf is one the new CA signed.
		"overlap over, leaf still under the previous CA": {with(f.overlapping(now, now.Add(-time.Hour)), func(i *Input) { i.Leaf = f.leaf.Cert }), ReissueLeaf, LeafNotSignedByCA, 0},
		"leaf due but ending with its CA: re-sign first": {capped(now), RenewCA, LeafCappedByCA, 0},
		"overlapping: bundle without the previous CA":    {with(over, func(i *Input) { i.Bundle = []*x509.Certificate{f.next.Cert} }), PublishBundle, BundleOutOfDate, 0},
		"overlapping: a new request waits":               {with(over, func(i *Input) { i.ReplaceRequest = "r9" }), Nothing, WaitingForOverlap, 9 * time.Minute},
	}
}

// mustLeafAt is a leaf under the fixture's CA issued at now (its certificate).
func mustLeafAt(f fixture, now time.Time) *x509.Certificate {
	l, err := NewLeaf(f.ca, names, now, DefaultLeafLifetime)
	if err != nil {
		panic(err)
	}
	return l.Cert
}

// TestDecisionChain pins the whole policy: every Reason, and the order of the checks.
func TestDecisionChain(t *testing.T) {
	for name, c := range decisionCases(newFixture(t)) {
		d := Decide(c.in)
		if d.Action != c.action || d.Reason != c.reason || d.After != c.after {
			t.Errorf("%s: %+v, want action=%q reason=%s after=%v", name, d, c.action, c.reason, c.after)
		}
	}
}

// TestDecisionChainCoversEveryReason: every Reason declared in decide.go is some case's answer.
func TestDecisionChainCoversEveryReason(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "decide.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[Reason]bool{}
	for _, c := range decisionCases(newFixture(t)) {
		covered[c.reason] = true
	}
	n := 0
	ast.Inspect(file, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Reason" {
			for i, name := range vs.Names {
				v, _ := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
				n++
				if !covered[Reason(v)] {
					t.Errorf("Reason %s (%s) is not in TestDecisionChain", name.Name, v)
				}
			}
		}
		return true
	})
	if n != len(covered) {
		t.Errorf("%d reasons declared, %d covered", n, len(covered))
	}
}

// TestEachCheckAlone pins each link of the chain on its own: it decides, or passes.
func TestEachCheckAlone(t *testing.T) {
	f := newFixture(t)
	now := t0.Add(day)
	base := f.steady(now)
	with := func(in Input, edit func(*Input)) Input { edit(&in); return in }
	prop := f.propagating(now, now.Add(-time.Minute))
	over := f.overlapping(now, now.Add(-time.Minute))
	for name, c := range map[string]struct {
		check  check
		in     Input
		decide bool
	}{
		"caMissing: present":                       {caMissing, base, false},
		"caMissing: absent":                        {caMissing, Input{}, true},
		"replacementLost: none":                    {replacementLost, base, false},
		"replacementLost: intact":                  {replacementLost, prop, false},
		"replacementLost: no next key":             {replacementLost, with(prop, func(i *Input) { i.Replacement.NextKeyPresent = false }), true},
		"replacementLost: overlap needs none":      {replacementLost, over, false},
		"bundleOutOfDate: same":                    {bundleOutOfDate, base, false},
		"bundleOutOfDate: same, reordered":         {bundleOutOfDate, with(over, func(i *Input) { i.Bundle = []*x509.Certificate{f.next.Cert, f.ca.Cert} }), false},
		"bundleOutOfDate: propagating, same":       {bundleOutOfDate, prop, false},
		"bundleOutOfDate: propagation unrecorded":  {bundleOutOfDate, with(prop, func(i *Input) { i.Replacement.BundlePublished = time.Time{} }), true},
		"bundleOutOfDate: stale":                   {bundleOutOfDate, with(base, func(i *Input) { i.Bundle = []*x509.Certificate{f.other.Cert} }), true},
		"trustPropagated: not propagating":         {trustPropagated, base, false},
		"trustPropagated: inside":                  {trustPropagated, prop, false},
		"trustPropagated: at its end":              {trustPropagated, f.propagating(now, now.Add(-10*time.Minute)), true},
		"servingBroken: not propagating":           {servingBroken, with(base, func(i *Input) { i.CAKeyPresent = false; i.Leaf = nil }), false},
		"servingBroken: serving":                   {servingBroken, prop, false},
		"servingBroken: no CA key, leaf fine":      {servingBroken, with(prop, func(i *Input) { i.CAKeyPresent = false }), false},
		"servingBroken: no CA key, no leaf":        {servingBroken, with(prop, func(i *Input) { i.CAKeyPresent = false; i.Leaf = nil }), true},
		"servingBroken: no keys at all":            {servingBroken, with(prop, func(i *Input) { i.CAKeyPresent = false; i.LeafKeyPresent = false }), true},
		"servingBroken: CA expired":                {servingBroken, f.propagating(f.ca.Cert.NotAfter, f.ca.Cert.NotAfter), true},
		"overlapEnded: not overlapping":            {overlapEnded, base, false},
		"overlapEnded: inside":                     {overlapEnded, over, false},
		"overlapEnded: at its end":                 {overlapEnded, f.overlapping(now, now.Add(-10*time.Minute)), true},
		"overlapEnded: at its end, leaf not moved": {overlapEnded, with(f.overlapping(now, now.Add(-10*time.Minute)), func(i *Input) { i.Leaf = f.leaf.Cert }), false},
		"caKeyMissing: held":                       {caKeyMissing, base, false},
		"caKeyMissing: missing":                    {caKeyMissing, with(base, func(i *Input) { i.CAKeyPresent = false }), true},
		"caKeyMissing: missing, overlapping":       {caKeyMissing, with(over, func(i *Input) { i.CAKeyPresent = false }), false},
		"manualReplace: none":                      {manualReplace, base, false},
		"manualReplace: new":                       {manualReplace, with(base, func(i *Input) { i.ReplaceRequest, i.LastReplaceRequest = "b", "a" }), true},
		"manualReplace: acted on":                  {manualReplace, with(base, func(i *Input) { i.ReplaceRequest, i.LastReplaceRequest = "a", "a" }), false},
		"manualReplace: during a replacement":      {manualReplace, with(prop, func(i *Input) { i.ReplaceRequest = "b" }), false},
		"caExpired: valid":                         {caExpired, base, false},
		"caExpired: expired":                       {caExpired, f.steady(f.ca.Cert.NotAfter), true},
		"caExpired: expired, no key":               {caExpired, with(f.steady(f.ca.Cert.NotAfter), func(i *Input) { i.CAKeyPresent = false }), false},
		"caExpired: expired, being replaced":       {caExpired, f.propagating(f.ca.Cert.NotAfter, f.ca.Cert.NotAfter), false},
		"caDue: not yet":                           {caDue, base, false},
		"caDue: at 2/3":                            {caDue, f.steady(RenewalTime(f.ca.Cert, 0)), true},
		"caDue: at 2/3, overlapping":               {caDue, f.overlapping(RenewalTime(f.next.Cert, 0), RenewalTime(f.next.Cert, 0)), true},
		"leafMissing: present":                     {leafMissing, base, false},
		"leafMissing: absent":                      {leafMissing, with(base, func(i *Input) { i.Leaf = nil }), true},
		"leafMissing: absent, no CA key":           {leafMissing, with(prop, func(i *Input) { i.Leaf = nil; i.CAKeyPresent = false }), false},
		"leafNotSignedByCA: signed":                {leafNotSignedByCA, base, false},
		"leafNotSignedByCA: other CA":              {leafNotSignedByCA, with(base, func(i *Input) { i.Leaf = f.otherLeaf.Cert }), true},
		"leafNotSignedByCA: by a re-signed CA":     {leafNotSignedByCA, with(base, func(i *Input) { i.CA = mustResign(t, f.ca, now).Cert }), false},
		"leafExpired: valid":                       {leafExpired, base, false},
		"leafExpired: a second before":             {leafExpired, f.steady(f.leaf.Cert.NotAfter.Add(-time.Second)), false},
		"leafExpired: at NotAfter":                 {leafExpired, f.steady(f.leaf.Cert.NotAfter), true},
		"leafKeyMissing: held":                     {leafKeyMissing, base, false},
		"leafKeyMissing: missing":                  {leafKeyMissing, with(base, func(i *Input) { i.LeafKeyPresent = false }), true},
		"leafNamesChanged: same":                   {leafNamesChanged, base, false},
		"leafNamesChanged: repeated":               {leafNamesChanged, with(base, func(i *Input) { i.DNSNames = append(names, names[0]) }), false},
		"leafNamesChanged: one removed":            {leafNamesChanged, with(base, func(i *Input) { i.DNSNames = names[:4] }), true},
		"manualRenewCA: new":                       {manualRenewCA, with(base, func(i *Input) { i.RenewCARequest = "c1" }), true},
		"manualRenewCA: acted on":                  {manualRenewCA, with(base, func(i *Input) { i.RenewCARequest, i.LastRenewCARequest = "c1", "c1" }), false},
		"manualRenewCA: while propagating":         {manualRenewCA, with(prop, func(i *Input) { i.RenewCARequest = "c1" }), false},
		"manualRenew: none":                        {manualRenew, base, false},
		"manualRenew: new":                         {manualRenew, with(base, func(i *Input) { i.RenewRequest, i.LastRenewRequest = "b", "a" }), true},
		"manualRenew: acted on":                    {manualRenew, with(base, func(i *Input) { i.RenewRequest, i.LastRenewRequest = "a", "a" }), false},
		"manualRenew: no CA key":                   {manualRenew, with(base, func(i *Input) { i.RenewRequest, i.CAKeyPresent = "b", false }), false},
		"leafDue: not yet":                         {leafDue, base, false},
		"leafDue: at 2/3":                          {leafDue, f.steady(RenewalTime(f.leaf.Cert, 0)), true},
		"leafDue: at 2/3, no CA key":               {leafDue, with(f.steady(RenewalTime(f.leaf.Cert, 0)), func(i *Input) { i.CAKeyPresent = false }), false},
	} {
		c.in.Policy = c.in.Policy.WithDefaults()
		if _, ok := c.check(c.in); ok != c.decide {
			t.Errorf("%s: decided %v, want %v", name, ok, c.decide)
		}
	}
}

func mustResign(t *testing.T, ca KeyPair, now time.Time) KeyPair {
	t.Helper()
	r, err := ResignCA(ca, now, DefaultCALifetime)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRenewalTimeIsTwoThirdsOfTheLifeUnlessRenewBeforeSaysOtherwise: cert-manager's rule, read
// from the certificate.
func TestRenewalTimeIsTwoThirdsOfTheLifeUnlessRenewBeforeSaysOtherwise(t *testing.T) {
	c := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(30 * day)}
	for rb, want := range map[time.Duration]time.Time{
		0:        t0.Add(20 * day),
		7 * day:  t0.Add(23 * day),
		30 * day: t0.Add(20 * day),
		90 * day: t0.Add(20 * day),
		-day:     t0.Add(20 * day),
	} {
		if got := RenewalTime(c, rb); !got.Equal(want) {
			t.Errorf("renewBefore %v: %v, want %v", rb, got, want)
		}
	}
}

// TestARestartDecidesTheSame: Decide reads only its input, so a restarted operator (or a new
// leader) that reads the same Secrets, bundle and status decides the same, and a converged
// instance is left alone however often it is looked at.
func TestARestartDecidesTheSame(t *testing.T) {
	f := newFixture(t)
	for name, c := range decisionCases(f) {
		first := Decide(c.in)
		for range 3 {
			if again := Decide(c.in); again != first {
				t.Fatalf("%s: %+v then %+v", name, first, again)
			}
		}
	}
	for _, now := range []time.Time{t0, t0.Add(time.Hour), t0.Add(10 * day), RenewalTime(f.leaf.Cert, 0).Add(-time.Second)} {
		if d := Decide(f.steady(now)); d.Action != Nothing {
			t.Errorf("converged at %v: %+v", now, d)
		}
	}
}

func TestPolicyDefaults(t *testing.T) {
	p := Policy{}.WithDefaults()
	if p.CALifetime != 365*day || p.LeafLifetime != 30*day || p.TrustPropagation != 10*time.Minute || p.Overlap != 10*time.Minute || p.CARenewBefore != 0 || p.LeafRenewBefore != 0 {
		t.Errorf("%+v", p)
	}
	if q := (Policy{LeafLifetime: 7 * day}).WithDefaults(); q.LeafLifetime != 7*day {
		t.Errorf("a set lifetime replaced: %+v", q)
	}
}
