package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/ratelimit"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// Limits are the request limits per client address (and, for login, per account name).
type Limits struct {
	Login, Register, Refresh, MFA, CSPReport ratelimit.Limit
}

// Options wire the router.
type Options struct {
	Headers Headers
	Log     *slog.Logger
	// Ready is checked by GET /api/v1/health/ready.
	Ready Ready

	Accounts *accounts.Service
	Audit    *audit.Log
	Limiter  *ratelimit.Limiter
	Limits   Limits
	// APILimit is the lighter whole-API limit per address and per user (nil: none).
	APILimit *ratelimit.Local
	// TrustedProxies may set X-Forwarded-For; from anyone else it is ignored.
	TrustedProxies []netip.Prefix
	// AllowedOrigins may call the API from a browser, with credentials (CORS).
	AllowedOrigins []string
	// AccessTTL and RefreshTTL set the cookies' Max-Age and expires_in.
	AccessTTL, RefreshTTL time.Duration
	// Rewrap reports the field re-encryption progress (GET /api/v1/admin/keys/rewrap); optional.
	Rewrap func() any
	// Metrics receives the HTTP metrics; nil registers nothing.
	Metrics prometheus.Registerer
	// Scheduling is the scheduling domain (people, templates, assignments, absences, runs).
	Scheduling *scheduling.Service
	// Now is the clock (calendar stamps); time.Now when nil.
	Now func() time.Time
}

// route is one entry of the API's routing table: every route states the access it needs, and the
// router enforces it before the handler runs.
type route struct {
	Method, Pattern string
	Access          rbac.Access
	// Limit names the per-address limit checked before the handler ("" for only the API limit).
	Limit string
	// AllowRestricted lets a caller with a pending restriction (password to change, MFA to enrol)
	// through: the routes that resolve the restriction, /auth/me and /auth/logout.
	AllowRestricted bool
	Handler         handlerFunc
}

// server holds the handlers' dependencies.
type server struct {
	Options
	metrics *httpMetrics
}

// NewHandler returns the public API handler with all middleware applied.
func NewHandler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &server{Options: o, metrics: newHTTPMetrics(o.Metrics)}
	mux := http.NewServeMux()
	for _, rt := range slices.Concat(s.routes(), s.calendarRoutes(), s.planRoutes()) {
		if !rt.Access.Declared() {
			// Unreachable through the table below, which TestEveryRouteDeclaresItsAccess walks;
			// a route added without an access stops the server at start rather than serve open.
			panic(fmt.Sprintf("httpapi: route %s %s has no declared access", rt.Method, rt.Pattern))
		}
		mux.Handle(rt.Method+" "+rt.Pattern, s.guard(rt))
	}
	// No catch-all route: it would also catch known paths with another method, which must be a
	// 405. ServeMux's own plain-text 404 and 405 are rewritten as JSON instead (jsonMuxErrors).
	return chain(mux, o)
}

// routes is the routing table of the whole API.
func (s *server) routes() []route {
	pub, authed := rbac.Public(), rbac.Authenticated()
	return append(s.peopleRoutes(), []route{
		{Method: "GET", Pattern: "/api/v1/health/live", Access: pub, Handler: s.live},
		{Method: "GET", Pattern: "/api/v1/health/ready", Access: pub, Handler: s.ready},

		{Method: "POST", Pattern: "/api/v1/auth/login", Access: pub, Limit: "login", Handler: s.loginForm},
		{Method: "POST", Pattern: "/api/v1/auth/login/json", Access: pub, Limit: "login", Handler: s.loginJSON},
		{Method: "POST", Pattern: "/api/v1/auth/mfa/verify", Access: pub, Limit: "mfa", Handler: s.mfaVerify},
		{Method: "POST", Pattern: "/api/v1/auth/refresh", Access: pub, Limit: "refresh", Handler: s.refresh},
		// Public in the table because the very first registration has no caller; the handler
		// requires an administrator for every later one.
		{Method: "POST", Pattern: "/api/v1/auth/register", Access: pub, Limit: "register", Handler: s.register},
		{Method: "POST", Pattern: "/api/v1/auth/logout", Access: authed, AllowRestricted: true, Handler: s.logout},
		{Method: "GET", Pattern: "/api/v1/auth/me", Access: authed, AllowRestricted: true, Handler: s.me},
		{Method: "POST", Pattern: "/api/v1/auth/password", Access: authed, AllowRestricted: true, Handler: s.changePassword},
		{Method: "GET", Pattern: "/api/v1/auth/sessions", Access: authed, Handler: s.listSessions},
		{Method: "DELETE", Pattern: "/api/v1/auth/sessions/{id}", Access: authed, Handler: s.revokeSession},
		{Method: "POST", Pattern: "/api/v1/auth/mfa/enroll", Access: authed, AllowRestricted: true, Limit: "mfa", Handler: s.mfaEnroll},
		{Method: "POST", Pattern: "/api/v1/auth/mfa/confirm", Access: authed, AllowRestricted: true, Limit: "mfa", Handler: s.mfaConfirm},
		{Method: "POST", Pattern: "/api/v1/auth/mfa/disable", Access: authed, Limit: "mfa", Handler: s.mfaDisable},
		{Method: "GET", Pattern: "/api/v1/auth/users", Access: rbac.Need(rbac.User, rbac.List), Handler: s.listUsers},

		{Method: "GET", Pattern: "/api/v1/admin/users", Access: rbac.Need(rbac.User, rbac.List), Handler: s.listUsers},
		{Method: "POST", Pattern: "/api/v1/admin/users", Access: rbac.Need(rbac.User, rbac.Create), Handler: s.createUser},
		{Method: "GET", Pattern: "/api/v1/admin/users/{id}", Access: rbac.Need(rbac.User, rbac.Read), Handler: s.getUser},
		{Method: "PATCH", Pattern: "/api/v1/admin/users/{id}", Access: rbac.Need(rbac.User, rbac.Update), Handler: s.updateUser},
		{Method: "DELETE", Pattern: "/api/v1/admin/users/{id}", Access: rbac.Need(rbac.User, rbac.Delete), Handler: s.deleteUser},
		{Method: "POST", Pattern: "/api/v1/admin/users/{id}/lock", Access: rbac.Need(rbac.User, rbac.Update), Handler: s.lockUser},
		{Method: "POST", Pattern: "/api/v1/admin/users/{id}/unlock", Access: rbac.Need(rbac.User, rbac.Update), Handler: s.unlockUser},
		{Method: "GET", Pattern: "/api/v1/admin/keys/rewrap", Access: rbac.Need(rbac.Settings, rbac.Read), Handler: s.rewrapStatus},

		{Method: "GET", Pattern: "/api/v1/audit", Access: rbac.Need(rbac.AuditLog, rbac.List), Handler: s.listAudit},
		{Method: "GET", Pattern: "/api/v1/audit/verify", Access: rbac.Need(rbac.AuditLog, rbac.Read), Handler: s.verifyAudit},

		{Method: "GET", Pattern: "/api/v1/me/export", Access: authed, Handler: s.exportMe},

		{Method: "GET", Pattern: "/api/v1/blocks", Access: rbac.Need(rbac.Block, rbac.List), Handler: s.blocks},
		{Method: "GET", Pattern: "/api/v1/slots", Access: rbac.Need(rbac.Block, rbac.List), Handler: s.slots},

		{Method: "GET", Pattern: "/api/v1/rotation-templates", Access: rbac.Need(rbac.Rotation, rbac.List), Handler: s.listTemplates},
		{Method: "POST", Pattern: "/api/v1/rotation-templates", Access: rbac.Need(rbac.Rotation, rbac.Create), Handler: s.createTemplate},
		{Method: "GET", Pattern: "/api/v1/rotation-templates/{id}", Access: rbac.Need(rbac.Rotation, rbac.Read), Handler: s.getTemplate},
		{Method: "PATCH", Pattern: "/api/v1/rotation-templates/{id}", Access: rbac.Need(rbac.Rotation, rbac.Update), Handler: s.updateTemplate},
		{Method: "DELETE", Pattern: "/api/v1/rotation-templates/{id}", Access: rbac.Need(rbac.Rotation, rbac.Delete), Handler: s.deleteTemplate},

		{Method: "GET", Pattern: "/api/v1/assignments", Access: rbac.Need(rbac.Assignment, rbac.List), Handler: s.listAssignments},
		{Method: "POST", Pattern: "/api/v1/assignments", Access: rbac.Need(rbac.Assignment, rbac.Create), Handler: s.createAssignment},
		{Method: "GET", Pattern: "/api/v1/assignments/{id}", Access: rbac.Need(rbac.Assignment, rbac.Read), Handler: s.getAssignment},
		{Method: "PATCH", Pattern: "/api/v1/assignments/{id}", Access: rbac.Need(rbac.Assignment, rbac.Update), Handler: s.updateAssignment},
		{Method: "DELETE", Pattern: "/api/v1/assignments/{id}", Access: rbac.Need(rbac.Assignment, rbac.Delete), Handler: s.deleteAssignment},

		// Absences: residents and faculty see and act on their own only (the handlers scope
		// them to the person linked to their account); coordinators review.
		{Method: "GET", Pattern: "/api/v1/absences", Access: rbac.Need(rbac.Absence, rbac.Read), Handler: s.listAbsences},
		{Method: "POST", Pattern: "/api/v1/absences", Access: rbac.Need(rbac.Absence, rbac.Create), Handler: s.requestAbsence},
		{Method: "GET", Pattern: "/api/v1/absences/{id}", Access: rbac.Need(rbac.Absence, rbac.Read), Handler: s.getAbsence},
		{Method: "POST", Pattern: "/api/v1/absences/{id}/approve", Access: rbac.Need(rbac.Absence, rbac.Approve), Handler: s.reviewAbsence(store.AbsenceApproved, "approve")},
		{Method: "POST", Pattern: "/api/v1/absences/{id}/reject", Access: rbac.Need(rbac.Absence, rbac.Reject), Handler: s.reviewAbsence(store.AbsenceRejected, "reject")},
		{Method: "POST", Pattern: "/api/v1/absences/{id}/cancel", Access: rbac.Need(rbac.Absence, rbac.Update), Handler: s.cancelAbsence},
		{Method: "DELETE", Pattern: "/api/v1/absences/{id}", Access: rbac.Need(rbac.Absence, rbac.Delete), Handler: s.deleteAbsence},

		{Method: "POST", Pattern: "/api/v1/schedule/generate", Access: rbac.Need(rbac.Schedule, rbac.Execute), Handler: s.generate},
		{Method: "GET", Pattern: "/api/v1/schedule/runs", Access: rbac.Need(rbac.Schedule, rbac.List), Handler: s.listRuns},
		{Method: "GET", Pattern: "/api/v1/schedule/runs/{id}", Access: rbac.Need(rbac.Schedule, rbac.Read), Handler: s.getRun},
		{Method: "GET", Pattern: "/api/v1/schedule/runs/{id}/assignments", Access: rbac.Need(rbac.Schedule, rbac.Read), Handler: s.runAssignments},
		{Method: "POST", Pattern: "/api/v1/schedule/repair", Access: rbac.Need(rbac.Schedule, rbac.Execute), Handler: s.planRepair},
		{Method: "POST", Pattern: "/api/v1/schedule/repair/apply", Access: rbac.Need(rbac.Schedule, rbac.Execute), Handler: s.applyRepair},
		{Method: "GET", Pattern: "/api/v1/schedule/runs/{id}/diff", Access: rbac.Need(rbac.Schedule, rbac.Read), Handler: s.runDiff},
		{Method: "POST", Pattern: "/api/v1/schedule/runs/{id}/publish", Access: rbac.Need(rbac.Schedule, rbac.Execute), Handler: s.publishRun},
		{Method: "GET", Pattern: "/api/v1/schedule/publications", Access: rbac.Need(rbac.Schedule, rbac.List), Handler: s.listPublications},
		{Method: "GET", Pattern: "/api/v1/schedule/publications/{id}", Access: rbac.Need(rbac.Schedule, rbac.Read), Handler: s.getPublication},
		{Method: "POST", Pattern: "/api/v1/schedule/publications/{id}/rollback", Access: rbac.Need(rbac.Schedule, rbac.Execute), Handler: s.rollbackPublication},
		{Method: "GET", Pattern: "/api/v1/schedule/validate", Access: rbac.Need(rbac.Schedule, rbac.Read), Handler: s.validateSchedule},
		{Method: "GET", Pattern: "/api/v1/schedule/export.csv", Access: rbac.Need(rbac.Schedule, rbac.Export), Handler: s.exportCSV},
		{Method: "POST", Pattern: "/api/v1/security/csp-report", Access: pub, Limit: "csp", Handler: s.cspReport},
	}...)
}

// peopleRoutes are the routes of /people: records, archiving and the academic-year rollover.
func (s *server) peopleRoutes() []route {
	return []route{
		{Method: "GET", Pattern: "/api/v1/people", Access: rbac.Need(rbac.Person, rbac.List), Handler: s.listPeople},
		{Method: "POST", Pattern: "/api/v1/people/rollover", Access: rbac.Need(rbac.ResidentRecord, rbac.Update), Handler: s.rollOver},
		{Method: "POST", Pattern: "/api/v1/people/{id}/restore", Access: rbac.Need(rbac.Person, rbac.Update), Handler: s.restorePerson},
		{Method: "POST", Pattern: "/api/v1/people", Access: rbac.Need(rbac.Person, rbac.Create), Handler: s.createPerson},
		{Method: "GET", Pattern: "/api/v1/people/{id}", Access: rbac.Need(rbac.Person, rbac.Read), Handler: s.getPerson},
		{Method: "PATCH", Pattern: "/api/v1/people/{id}", Access: rbac.Need(rbac.Person, rbac.Update), Handler: s.updatePerson},
		{Method: "DELETE", Pattern: "/api/v1/people/{id}", Access: rbac.Need(rbac.Person, rbac.Delete), Handler: s.deletePerson},
		{Method: "GET", Pattern: "/api/v1/people/{id}/pgy-history", Access: rbac.Need(rbac.Person, rbac.Read), Handler: s.pgyHistory},
		{Method: "GET", Pattern: "/api/v1/people/{id}/calendar.ics", Access: rbac.Need(rbac.Schedule, rbac.Read), Handler: s.calendar},
	}
}

// calendarRoutes are the program's holidays and the compliance report (a table of their own:
// routes is a screen long already). Holidays are calendar data like blocks; the report is open to
// everyone who reads the schedule, and the handler narrows a caller without report:read to their
// own resident record.
func (s *server) calendarRoutes() []route {
	return []route{
		{Method: "GET", Pattern: "/api/v1/holidays", Access: rbac.Need(rbac.Block, rbac.List), Handler: s.listHolidays},
		{Method: "POST", Pattern: "/api/v1/holidays", Access: rbac.Need(rbac.Block, rbac.Create), Handler: s.createHoliday},
		{Method: "DELETE", Pattern: "/api/v1/holidays/{id}", Access: rbac.Need(rbac.Block, rbac.Delete), Handler: s.deleteHoliday},
		{Method: "GET", Pattern: "/api/v1/reports/compliance", Access: rbac.Need(rbac.Schedule, rbac.Read), Handler: s.complianceReport},
	}
}

// planRoutes are the block rotations and the block plan: rotations are read like templates,
// the plan like the academic blocks it fills; coordinators and administrators write both. The
// annual planner's inputs follow them: graduation requirements like rotations, rotation
// requests like the plan.
func (s *server) planRoutes() []route {
	return []route{
		{Method: "GET", Pattern: "/api/v1/rotations", Access: rbac.Need(rbac.Rotation, rbac.List), Handler: s.listRotations},
		{Method: "POST", Pattern: "/api/v1/rotations", Access: rbac.Need(rbac.Rotation, rbac.Create), Handler: s.createRotation},
		{Method: "GET", Pattern: "/api/v1/rotations/{id}", Access: rbac.Need(rbac.Rotation, rbac.Read), Handler: s.getRotation},
		{Method: "PATCH", Pattern: "/api/v1/rotations/{id}", Access: rbac.Need(rbac.Rotation, rbac.Update), Handler: s.updateRotation},
		{Method: "DELETE", Pattern: "/api/v1/rotations/{id}", Access: rbac.Need(rbac.Rotation, rbac.Delete), Handler: s.deleteRotation},
		{Method: "GET", Pattern: "/api/v1/block-plan", Access: rbac.Need(rbac.Block, rbac.List), Handler: s.getBlockPlan},
		{Method: "PUT", Pattern: "/api/v1/block-plan", Access: rbac.Need(rbac.Block, rbac.Update), Handler: s.putBlockPlan},
		{Method: "GET", Pattern: "/api/v1/block-plan/validate", Access: rbac.Need(rbac.Block, rbac.Read), Handler: s.validateBlockPlan},
		{Method: "POST", Pattern: "/api/v1/block-plan/fill", Access: rbac.Need(rbac.Block, rbac.Update), Handler: s.fillBlockPlan},
		{Method: "POST", Pattern: "/api/v1/block-plan/solve", Access: rbac.Need(rbac.Block, rbac.Update), Handler: s.solveBlockPlan},
		{Method: "PUT", Pattern: "/api/v1/block-plan/people/{id}", Access: rbac.Need(rbac.Block, rbac.Update), Handler: s.setPlanEntry},
		{Method: "DELETE", Pattern: "/api/v1/block-plan/people/{id}", Access: rbac.Need(rbac.Block, rbac.Delete), Handler: s.clearPlanEntry},
		{Method: "GET", Pattern: "/api/v1/graduation-requirements", Access: rbac.Need(rbac.Rotation, rbac.List), Handler: s.getRequirements},
		{Method: "PUT", Pattern: "/api/v1/graduation-requirements", Access: rbac.Need(rbac.Rotation, rbac.Update), Handler: s.putRequirements},
		// A year's requests of every resident are the planners' (they can encode personal
		// reasons); a resident reads their own through /people/{id}/rotation-requests.
		{Method: "GET", Pattern: "/api/v1/rotation-requests", Access: rbac.Need(rbac.Block, rbac.Update), Handler: s.getRotationRequests},
		{Method: "GET", Pattern: "/api/v1/people/{id}/rotation-requests", Access: rbac.Need(rbac.Leave, rbac.Update), Handler: s.getPersonRotationRequests},
		{Method: "PUT", Pattern: "/api/v1/rotation-requests", Access: rbac.Need(rbac.Block, rbac.Update), Handler: s.putRotationRequests},
		{Method: "PUT", Pattern: "/api/v1/people/{id}/rotation-requests", Access: rbac.Need(rbac.Leave, rbac.Update), Handler: s.putPersonRotationRequests},
	}
}

// RouteInfo describes one route of the table.
type RouteInfo struct {
	Method, Pattern string
	Access          rbac.Access
	AllowRestricted bool
}

// Routes lists every route, for the route walk test and docs.
func Routes() []RouteInfo {
	var out []RouteInfo
	s := &server{}
	for _, r := range slices.Concat(s.routes(), s.calendarRoutes(), s.planRoutes()) {
		out = append(out, RouteInfo{r.Method, r.Pattern, r.Access, r.AllowRestricted})
	}
	return out
}

// guard runs, in order: the whole-API limit, the route's own limit, authentication,
// the restriction gate, CSRF for cookie-authenticated changes, and the permission check.
func (s *server) guard(rt route) http.Handler {
	health := rt.Pattern == "/api/v1/health/live" || rt.Pattern == "/api/v1/health/ready"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() { s.metrics.observe(rt.Method, rt.Pattern, rec.status, time.Since(start)) }()
		w = rec
		ip := s.clientIP(r)
		r = r.WithContext(context.WithValue(r.Context(), clientIPKey, ip))
		who := addressKey(ip)
		if !health && s.APILimit != nil {
			if ok, retry := s.APILimit.Allow(who); !ok {
				s.respond(w, r, tooMany(retry, s.APILimit.Limit().Requests, 0, time.Now().Add(retry)))
				return
			}
		}
		if rt.Limit != "" {
			if err := s.limit(w, r, rt.Limit, who); err != nil {
				s.respond(w, r, err)
				return
			}
		}
		if rt.Access.IsPublic() {
			s.serveChecked(rt.Handler, w, r)
			return
		}
		p, viaCookie, err := s.authenticate(r)
		if err != nil {
			s.respond(w, r, s.authError(r, err))
			return
		}
		if s.APILimit != nil {
			if ok, retry := s.APILimit.Allow("user:" + p.ID); !ok {
				s.respond(w, r, tooMany(retry, s.APILimit.Limit().Requests, 0, time.Now().Add(retry)))
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey, p))
		if p.Restriction != accounts.NoRestriction && !rt.AllowRestricted {
			s.respond(w, r, errStatus(http.StatusForbidden, restrictionDetail(p.Restriction)))
			return
		}
		if viaCookie && !safeMethod(r.Method) && !p.CheckCSRF(r.Header.Get("X-CSRF-Token")) {
			s.record(r, p.ID, "security.csrf.refused", "route:"+rt.Method+" "+rt.Pattern, nil)
			s.respond(w, r, errStatus(http.StatusForbidden, "missing or invalid CSRF token: send the csrf_token from sign-in in the X-CSRF-Token header"))
			return
		}
		if !rt.Access.Permits(p.Role) {
			s.record(r, p.ID, "authz.denied", "route:"+rt.Method+" "+rt.Pattern, map[string]any{"role": p.Role, "needs": rt.Access.String()})
			s.respond(w, r, errStatus(http.StatusForbidden, forbiddenDetail(rt.Access)))
			return
		}
		s.serveChecked(rt.Handler, w, r)
	})
}

// serveChecked runs the handler once the query parameters pass the decode path's checks, so no
// handler reads a parameter that holds a NUL, invalid UTF-8 or two values.
func (s *server) serveChecked(h handlerFunc, w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.respond(w, r, err)
		return
	}
	s.handle(h)(w, r)
}

// addressKey is what per-address limits count: the address, or for IPv6 its /64, since one
// client commonly holds a whole /64 and could otherwise rotate through it.
func addressKey(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return "net:" + p.String()
	}
	return "ip:" + ip.String()
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func forbiddenDetail(a rbac.Access) string {
	if a.Resource == rbac.User || a.Resource == rbac.AuditLog || a.Resource == rbac.Settings {
		return "Admin access required"
	}
	return "permission denied: requires " + a.String()
}

func restrictionDetail(r accounts.Restriction) string {
	switch r {
	case accounts.PasswordChangeRequired:
		return "password change required: set a new password at POST /api/v1/auth/password"
	case accounts.PasswordExpired:
		return "password expired: set a new password at POST /api/v1/auth/password"
	case accounts.MFAEnrolmentRequired:
		return "MFA enrolment required for your role: enrol at POST /api/v1/auth/mfa/enroll"
	}
	return "forbidden"
}

// limit checks the named per-address (or per-account) limit: a 429 or, when the counters cannot
// be reached, a 503 (limits on credentials fail closed).
func (s *server) limit(w http.ResponseWriter, r *http.Request, name, key string) error {
	return s.limitWith(w, r, name, key, s.namedLimit(name), true)
}

func (s *server) namedLimit(name string) ratelimit.Limit {
	var l ratelimit.Limit
	switch name {
	case "login":
		l = s.Limits.Login
	case "register":
		l = s.Limits.Register
	case "refresh":
		l = s.Limits.Refresh
	case "mfa":
		l = s.Limits.MFA
	case "csp":
		l = s.Limits.CSPReport
	}
	return l
}

// limitWith checks limit l for key; headers says whether the X-RateLimit-* headers of an allowed
// request describe this limit (the per-address one) or are left to another.
func (s *server) limitWith(w http.ResponseWriter, r *http.Request, name, key string, l ratelimit.Limit, headers bool) error {
	d, err := s.Limiter.Allow(r.Context(), name+":"+key, l)
	if err != nil {
		s.Log.Error("rate limiter unavailable; refusing", "limit", name, "error", err, "request_id", RequestID(r.Context()))
		return &apiError{status: http.StatusServiceUnavailable, detail: "service temporarily unavailable", header: map[string]string{"Retry-After": "5"}}
	}
	if !d.Allowed {
		s.metrics.rateLimited.WithLabelValues(name).Inc()
		return tooMany(d.RetryAfter, d.Limit, d.Remaining, d.Reset)
	}
	if headers {
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	}
	return nil
}

// tooMany is the 429 of a limit, with the headers that say when to retry.
func tooMany(retry time.Duration, limit, remaining int, reset time.Time) error {
	secs := max(int(retry.Round(time.Second).Seconds()), 1)
	return &apiError{status: http.StatusTooManyRequests, detail: fmt.Sprintf("rate limit exceeded; retry in %d seconds", secs),
		header: map[string]string{
			"Retry-After":           strconv.Itoa(secs),
			"X-RateLimit-Limit":     strconv.Itoa(limit),
			"X-RateLimit-Remaining": strconv.Itoa(remaining),
			"X-RateLimit-Reset":     strconv.FormatInt(reset.Unix(), 10),
		}}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (the generate handler extends its
// write deadline).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *server) live(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *server) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			// The reason goes to the log; the probe needs only the status.
			s.Log.Warn("not ready", "error", err, "request_id", RequestID(r.Context()))
			return errStatus(http.StatusServiceUnavailable, "not ready")
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
