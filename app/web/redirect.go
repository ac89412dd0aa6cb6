package web

import "strings"

// localPath returns next when it is a path on this site, else fallback, so a crafted link
// cannot send a user elsewhere after an action. No control character is let through:
// browsers drop tabs and line breaks anywhere in a URL ("/\t/evil.example" goes to
// //evil.example), and none may stand in the Location header (NUL or DEL did, FuzzLocalPath).
func localPath(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsFunc(next, isControl) {
		return fallback
	}
	return next
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
