package monitoring

import (
	"slices"
	"strings"
	"testing"
)

// PromQL words that are not metric names: binary and set operators, grouping modifiers, and
// aggregations (an aggregation followed by `by`/`without` rather than `(`).
var (
	promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "atan2"}
	// Followed by a parenthesised list of label names.
	promqlLabelLists = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
	promqlAggregates = []string{"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk",
		"quantile", "count_values", "limitk", "limit_ratio"}
)

// metricNames returns the metric names a PromQL expression selects, in order of appearance. It
// skips what cannot be one: string literals (label_replace's arguments), label matchers `{...}`,
// ranges and subqueries `[...]`, Grafana variables ($namespace), numbers and durations, function
// and aggregation names, operators, and the label lists of by/without/on/ignoring/group_*.
// promtool check rules has parsed every rule expression before this runs (make test-alerts).
func metricNames(expr string) []string {
	var names []string
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		case c == '{':
			i = skipBlock(s, i, '{', '}')
		case c == '[':
			i = skipBlock(s, i, '[', ']')
		case c == '$':
			i = skipWord(s, i+1)
		case c >= '0' && c <= '9' || c == '.':
			i = skipWord(s, i) // a number, or a duration after offset
		case isWordStart(c):
			end := skipWord(s, i)
			word := s[i:end]
			next := nextNonSpace(s, end)
			switch {
			case slices.Contains(promqlLabelLists, word):
				if next < len(s) && s[next] == '(' {
					end = skipBlock(s, next, '(', ')')
				}
			case slices.Contains(promqlKeywords, word):
			case next < len(s) && s[next] == '(':
				// A function or an aggregation: its argument list is scanned as the loop goes on.
			case slices.Contains(promqlAggregates, word) && next < len(s) && isWordStart(s[next]):
				// sum by (...) (...)
			default:
				names = append(names, word)
			}
			i = end
		default:
			i++
		}
	}
	return names
}

func isWordStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func skipWord(s string, i int) int {
	for i < len(s) && (isWordStart(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return i
}

func nextNonSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
		i++
	}
	return i
}

// skipString returns the index after the string literal that starts at i (backslash escapes
// inside "..." and '...').
func skipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// skipBlock returns the index after the block that opens at i, skipping strings inside it.
func skipBlock(s string, i int, open, closing byte) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"' || c == '\'' || c == '`':
			j = skipString(s, j) - 1
		case c == open:
			depth++
		case c == closing:
			if depth--; depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

func TestMetricNamesOfAnExpression(t *testing.T) {
	for expr, want := range map[string][]string{
		`rsched_instance_ready == 0`:                                                                                           {"rsched_instance_ready"},
		`max by (namespace, name) (rsched_instance_ready) == 0`:                                                                {"rsched_instance_ready"},
		`sum without (pod) (rate(a_total{code=~"5..", route="/x{y}"}[5m] offset 1h))`:                                          {"a_total"},
		`time() - max by (namespace, name) (b_seconds) > 7 * 86400`:                                                            {"b_seconds"},
		`x unless on (namespace, name) group_left (kind) y and bool z or w`:                                                    {"x", "y", "z", "w"},
		`histogram_quantile(0.99, sum by (le) (rate(h_bucket{namespace=~"$namespace"}[$__rate_interval])))`:                    {"h_bucket"},
		`label_replace(v, "name", "$1", "pod", "(.+)-[a-z0-9]+-[a-z0-9]+") < on (namespace) group_left min by (namespace) (w)`: {"v", "w"},
		`absent(up{job=~".*rsched.*"} == 1)`:                                                                                   {"up"},
		`sum(rate(s_sum[5m])) / sum(rate(s_count[5m:1m]))`:                                                                     {"s_sum", "s_count"},
		`topk(3, sum by(x)(c)) * on() group_right() d`:                                                                         {"c", "d"},
		`max_over_time(e[1h]) - min(f) by (g)`:                                                                                 {"e", "f"},
		`1.5e3 + 0x1f`:                                                                                                         nil,
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}
