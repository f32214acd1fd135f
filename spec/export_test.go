package spec

// ClearSource forgets where a plan's fields were written, so that tests can compare a
// decoded plan with one built in code or decoded from another file.
func ClearSource(p *Plan) { p.src = nil }
