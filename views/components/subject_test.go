package components

import (
	"reflect"
	"testing"
)

func TestSubjectParts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []SubjectPart
		text string
	}{
		{"Plain", []SubjectPart{{Text: "Plain"}}, "Plain"},
		{"Новости декабря для {{.Name}}", []SubjectPart{{Text: "Новости декабря для "}, {Text: "Name", Placeholder: true}}, "Новости декабря для ‹Name›"},
		{"{{ .Name }}, {{- .Email -}}!", []SubjectPart{{Text: "Name", Placeholder: true}, {Text: ", "}, {Text: "Email", Placeholder: true}, {Text: "!"}}, "‹Name›, ‹Email›!"},
		{`Hi {{or .Name "friend"}}`, []SubjectPart{{Text: "Hi "}, {Text: `or .Name "friend"`, Placeholder: true}}, `Hi ‹or .Name "friend"›`},
		{"Broken {{.Name", []SubjectPart{{Text: "Broken {{.Name"}}, "Broken {{.Name"},
	} {
		if got := SubjectParts(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SubjectParts(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if got := SubjectText(tc.in); got != tc.text {
			t.Errorf("SubjectText(%q) = %q, want %q", tc.in, got, tc.text)
		}
	}
}
