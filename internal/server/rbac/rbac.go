package rbac

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a user's role.
type Role string

// The eight roles of the predecessor (users.role CHECK constraint).
const (
	Admin         Role = "admin"
	Coordinator   Role = "coordinator"
	Faculty       Role = "faculty"
	Resident      Role = "resident"
	ClinicalStaff Role = "clinical_staff"
	RN            Role = "rn"
	LPN           Role = "lpn"
	MSA           Role = "msa"
)

// Roles lists every role, most privileged first.
var Roles = []Role{Admin, Coordinator, Faculty, Resident, ClinicalStaff, RN, LPN, MSA}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Action is what is done to a resource.
type Action byte

// Actions of the matrix (seed-project.md §3.3). Manage implies create, read, update, delete and
// list, never approve, reject, execute, export or import.
const (
	Create  Action = 'C'
	Read    Action = 'R'
	Update  Action = 'U'
	Delete  Action = 'D'
	List    Action = 'L'
	Approve Action = 'A'
	Reject  Action = 'J'
	Execute Action = 'X'
	Export  Action = 'E'
	Import  Action = 'I'
	Manage  Action = 'M'
)

func (a Action) String() string {
	switch a {
	case Create:
		return "create"
	case Read:
		return "read"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case List:
		return "list"
	case Approve:
		return "approve"
	case Reject:
		return "reject"
	case Execute:
		return "execute"
	case Export:
		return "export"
	case Import:
		return "import"
	case Manage:
		return "manage"
	}
	return fmt.Sprintf("action(%c)", byte(a))
}

// Resource is a kind of thing the API holds.
type Resource string

// Resources of the matrix.
const (
	Schedule        Resource = "schedule"
	Assignment      Resource = "assignment"
	Block           Resource = "block"
	Rotation        Resource = "rotation"
	Person          Resource = "person"
	ResidentRecord  Resource = "resident"
	FacultyMember   Resource = "faculty_member"
	Absence         Resource = "absence"
	Leave           Resource = "leave"
	Swap            Resource = "swap"
	SwapRequest     Resource = "swap_request"
	Procedure       Resource = "procedure"
	Credential      Resource = "credential"
	Certification   Resource = "certification"
	Conflict        Resource = "conflict"
	ConflictAlert   Resource = "conflict_alert"
	User            Resource = "user"
	Settings        Resource = "settings"
	FeatureFlag     Resource = "feature_flag"
	Report          Resource = "report"
	Analytics       Resource = "analytics"
	AuditLog        Resource = "audit_log"
	Notification    Resource = "notification"
	EmailTemplate   Resource = "email_template"
	ResilienceStat  Resource = "resilience_metric"
	ContingencyPlan Resource = "contingency_plan"
)

// all is every action: the admin column.
const all = "CRUDLAJXEIM"

// matrix is seed-project.md §3.3, one row per resource, columns in Roles order. "all" for admin;
// "" is no access. Kept as the same letters as the source so a reviewer can compare the two
// tables side by side.
var matrix = map[Resource][8]string{
	//                admin coordinator faculty  resident  clinical rn    lpn   msa
	Schedule:        {all, "CRUDLXEI", "RL", "RL", "RL", "RL", "RL", "RL"},
	Assignment:      {all, "CRUDLM", "RL", "RL", "RL", "RL", "RL", "RL"},
	Block:           {all, "CRUDL", "RL", "RL", "RL", "RL", "RL", "RL"},
	Rotation:        {all, "CRUDL", "RL", "RL", "RL", "RL", "RL", "RL"},
	Person:          {all, "CRUDL", "R", "R", "RL", "RL", "RL", "RL"},
	ResidentRecord:  {all, "CRUDL", "", "", "", "", "", ""},
	FacultyMember:   {all, "CRUDL", "", "", "", "", "", ""},
	Absence:         {all, "CRUDLAJ", "CRU", "CRU", "", "", "", ""},
	Leave:           {all, "CRUDLAJ", "CRU", "CRU", "", "", "", ""},
	Swap:            {all, "RULAJX", "CRUL", "CRUL", "", "", "", ""},
	SwapRequest:     {all, "RULAJ", "CRULAJ", "CRULAJ", "", "", "", ""},
	Procedure:       {all, "", "RL", "", "", "", "", ""},
	Credential:      {all, "", "RL", "", "", "", "", ""},
	Certification:   {all, "", "RL", "", "", "", "", ""},
	Conflict:        {all, "RULM", "", "RL", "", "", "", ""},
	ConflictAlert:   {all, "RULM", "", "", "", "", "", ""},
	User:            {all, "", "", "", "", "", "", ""},
	Settings:        {all, "", "", "", "", "", "", ""},
	FeatureFlag:     {all, "", "", "", "", "", "", ""},
	Report:          {all, "RLE", "", "", "", "", "", ""},
	Analytics:       {all, "RL", "", "", "", "", "", ""},
	AuditLog:        {all, "", "", "", "", "", "", ""},
	Notification:    {all, "CRL", "RL", "RL", "RL", "RL", "RL", "RL"},
	EmailTemplate:   {all, "", "", "", "", "", "", ""},
	ResilienceStat:  {all, "RL", "", "", "", "", "", ""},
	ContingencyPlan: {all, "RUL", "", "", "", "", "", ""},
}

// ownOnly are the context rules of the predecessor's matrix: for these roles and resources,
// update and delete are granted on the caller's own records only.
var ownOnly = map[Resource][]Role{
	Absence:     {Faculty, Resident},
	Leave:       {Faculty, Resident},
	SwapRequest: {Faculty, Resident},
	Person:      {Faculty, Resident},
}

// Resources lists every resource of the matrix, sorted.
func Resources() []Resource {
	out := make([]Resource, 0, len(matrix))
	for r := range matrix {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Allowed reports whether role may do action on resource at all (ownership aside).
func Allowed(role Role, res Resource, action Action) bool {
	i := slices.Index(Roles, role)
	row, ok := matrix[res]
	if i < 0 || !ok {
		return false
	}
	letters := row[i]
	if strings.IndexByte(letters, byte(action)) >= 0 {
		return true
	}
	switch action {
	case Create, Read, Update, Delete, List:
		return strings.IndexByte(letters, byte(Manage)) >= 0
	}
	return false
}

// OwnOnly reports whether role may do action on resource only to its own records: the handler
// must compare the record's owner with the caller (CanActOn).
func OwnOnly(role Role, res Resource, action Action) bool {
	if action != Update && action != Delete {
		return false
	}
	return slices.Contains(ownOnly[res], role) && Allowed(role, res, action)
}

// CanActOn is the full decision for one record: the matrix, then ownership. ownerID is the
// person or user the record belongs to, callerID the caller's; both empty means unknown, which
// never passes an ownership rule.
func CanActOn(role Role, res Resource, action Action, ownerID, callerID string) bool {
	if !Allowed(role, res, action) {
		return false
	}
	if OwnOnly(role, res, action) {
		return ownerID != "" && ownerID == callerID
	}
	return true
}

// Access is what a route requires. Exactly one of its forms is used:
//   - Public: no authentication (health, login, the CSP report sink),
//   - Authenticated: any active user, for the caller's own account (me, sessions, MFA),
//   - a resource and an action of the matrix.
type Access struct {
	kind     accessKind
	Resource Resource
	Action   Action
}

type accessKind int

const (
	undeclared accessKind = iota
	public
	authenticated
	permission
)

// Public is the access of routes that need no authentication.
func Public() Access { return Access{kind: public} }

// Authenticated is the access of routes any signed-in user may call on their own account.
func Authenticated() Access { return Access{kind: authenticated} }

// Need is the access of a route guarded by the matrix.
func Need(res Resource, action Action) Access {
	return Access{kind: permission, Resource: res, Action: action}
}

// Declared is false for the zero Access: a route registered without one is a programming error
// that the router refuses at start-up (and the route walk test at build time).
func (a Access) Declared() bool {
	if a.kind != permission {
		return a.kind == public || a.kind == authenticated
	}
	_, ok := matrix[a.Resource]
	return ok && strings.IndexByte(all, byte(a.Action)) >= 0
}

// IsPublic reports whether the route needs no authentication.
func (a Access) IsPublic() bool { return a.kind == public }

// Permits reports whether role may call a route with this access.
func (a Access) Permits(role Role) bool {
	switch a.kind {
	case public:
		return true
	case authenticated:
		return role.Valid()
	case permission:
		return Allowed(role, a.Resource, a.Action)
	}
	return false
}

func (a Access) String() string {
	switch a.kind {
	case public:
		return "public"
	case authenticated:
		return "authenticated"
	case permission:
		return string(a.Resource) + ":" + a.Action.String()
	}
	return "undeclared"
}
