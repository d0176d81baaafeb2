package experiment

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem in an experiment document. Parse and Validate
// return every FieldError they find, joined with errors.Join; use
// errors.As or Unwrap() []error to get at them.
type FieldError struct {
	// File is the file name given to Parse; empty from Validate.
	File string
	// Line and Column locate the field's key (or list item) in the file,
	// 1-based. A missing field is located at its parent. Column is 0 for
	// YAML syntax errors, whose column the YAML parser does not report;
	// both are 0 when unknown (Validate).
	Line, Column int
	// Path is the field path, e.g. spec.agent.hyperparameters.batchSize or
	// spec.evaluation.controllers[1].name; empty for the document as a
	// whole.
	Path string
	// Msg says what is wrong and, where it helps, the valid choices.
	Msg string

	secret bool // reported by the secret scan
}

// Error formats the error as "file:line:col: path: message".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":" + strconv.Itoa(e.Column))
			}
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// joinSorted orders errs by position (stable, so errors at the same place
// keep the order they were found in) and joins them.
func joinSorted(errs []*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// parentPath strips the last segment of a field path: ".name", "[3]" or
// `["key"]`.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if strings.HasSuffix(p, `"]`) {
			// A quoted key may contain '[' itself: find the opening `["`
			// whose quoted string runs to the end.
			for i := strings.LastIndex(p, `["`); i >= 0; i = strings.LastIndex(p[:i], `["`) {
				if _, err := strconv.Unquote(p[i+1 : len(p)-1]); err == nil {
					return p[:i]
				}
			}
		}
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// isIdent reports whether a key can be written after a dot in a path.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// childPath appends a mapping key to a path.
func childPath(parent, key string) string {
	if !isIdent(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// itemPath appends a list index to a path.
func itemPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}
