package experiment

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// An experiment document ends up in workflow history, in the object store
// (spec.yaml) and in reports, so it must never hold a secret. The spec has
// no field for a secret value; credentials are referenced by the name of an
// environment variable (cluster.k8s.tokenEnv) or live in a Kubernetes
// Secret. The checks below catch the two ways a secret gets pasted in
// anyway: under a key named for it, or as a value shaped like one.

// secretAdvice ends every secret error.
const secretAdvice = "the experiment spec never holds secrets: put the value in an environment variable or a Kubernetes Secret and reference its name (e.g. spec.cluster.k8s.tokenEnv: K8S_TOKEN)"

// secretWords are the key fragments that name a secret, compared with the
// key lowercased and without '-' and '_'.
var secretWords = []string{"token", "password", "passwd", "secret", "accesskey", "apikey", "privatekey", "credential"}

// isSecretKey reports whether a mapping key names a secret value. Keys
// ending in "Env" hold the name of an environment variable, not the value.
func isSecretKey(k string) bool {
	if strings.HasSuffix(k, "Env") {
		return false
	}
	l := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(k))
	for _, w := range secretWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// tokenRE matches values shaped like credentials: a JWT (base64url JSON
// header "eyJ", three dot-separated segments), an HTTP bearer credential,
// an AWS access key ID, a GitHub token, or a PEM private key.
var tokenRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*` +
	`|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}` +
	`|(?:^|[^A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}` +
	`|(?:^|[^A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}` +
	`|-----BEGIN [A-Z ]*PRIVATE KEY-----`)

// looksLikeToken reports whether s contains something shaped like a credential.
func looksLikeToken(s string) bool { return tokenRE.MatchString(s) }

// redact replaces anything shaped like a credential in an error message, a
// last guard so that no error ever repeats a pasted secret.
func redact(s string) string {
	if !tokenRE.MatchString(s) {
		return s
	}
	return tokenRE.ReplaceAllString(s, "[redacted]")
}

// skipKey reports whether a key is reported by the secret scan and must
// be left out of every other check, whose messages would repeat it.
func skipKey(k string) bool { return isSecretKey(k) || looksLikeToken(k) }

// scanSecrets walks the whole tree, including fields the schema does not
// know, and reports secret-named keys and credential-shaped keys, values
// and comments. It records the paths it reported in d.secret: their other
// errors are dropped because they would quote the secret.
func (d *decoder) scanSecrets(n *yaml.Node, path string, data []byte) {
	if n == nil {
		return
	}
	for _, c := range []string{n.HeadComment, n.LineComment, n.FootComment} {
		d.scanComment(n, c, path, data)
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = itemPath(path, i)
			}
			d.scanSecrets(c, p, data)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.scanSecrets(k, path, data)
				d.scanSecrets(v, path, data)
				continue
			}
			switch {
			case looksLikeToken(k.Value):
				// The path would repeat the key: report at the parent.
				d.secretAt(k.Line, k.Column, path, "a key looks like a credential; "+secretAdvice)
				continue
			case isSecretKey(k.Value):
				p := childPath(path, k.Value)
				d.secretAt(k.Line, k.Column, p, "a field for a secret value is not allowed; "+secretAdvice)
				d.scanComments(v, p, data)
				continue
			}
			d.scanComments(k, childPath(path, k.Value), data)
			d.scanSecrets(v, childPath(path, k.Value), data)
		}
	case yaml.ScalarNode:
		if looksLikeToken(n.Value) {
			d.secretAt(n.Line, n.Column, path, "the value looks like a credential; "+secretAdvice)
		}
	}
}

// scanComments checks only the comments of n and its descendants, for
// subtrees already reported as a whole.
func (d *decoder) scanComments(n *yaml.Node, path string, data []byte) {
	for _, c := range []string{n.HeadComment, n.LineComment, n.FootComment} {
		d.scanComment(n, c, path, data)
	}
	for _, c := range n.Content {
		d.scanComments(c, path, data)
	}
}

// scanComment reports a credential-shaped string in comment c of node n,
// located where it first occurs in the file.
func (d *decoder) scanComment(n *yaml.Node, c, path string, data []byte) {
	m := tokenRE.FindString(c)
	if m == "" {
		return
	}
	// Drop the boundary character the pattern may have matched first.
	if r, size := utf8.DecodeRuneInString(m); !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
		m = m[size:]
	}
	line, col := n.Line, n.Column
	if i := bytes.Index(data, []byte(m)); i >= 0 {
		line, col = lineCol(data, i)
	}
	d.secretAt(line, col, path, "a comment holds what looks like a credential; "+secretAdvice)
}

func (d *decoder) secretAt(line, col int, path, msg string) {
	d.secret[path] = true
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Column: col, Path: path, Msg: msg, secret: true})
}

// lineCol converts a byte offset into a 1-based line and column (in
// characters, as the YAML parser counts).
func lineCol(data []byte, off int) (line, col int) {
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, len([]rune(string(before[start:]))) + 1
}
