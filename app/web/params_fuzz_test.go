package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/config"
	"mailer/app/i18n"
	"mailer/app/mailing"
	"mailer/views/pages"
)

// Fuzz targets for the decoders of request input that forms_fuzz_test.go leaves out: the
// next= redirect target, the profile form and the statistics period. Like those, each goes
// through Fiber to the code the handler runs and checks what an accepted value promises.
//
// listParams has none: it copies query values into mailing.ListParams as they are (the
// page size is fixed), so a target could only restate it. What decodes them is the store —
// the opaque cursor is FuzzDecodeCursor's in app/store, the sort falls back to the list's
// default — and the mailing list's status filter is a slices.Contains.

// fuzzServer is a Server with configuration and catalog but no database.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	cfg, err := config.Load(func(k string) string {
		if k == "SECRET_KEY" {
			return "fuzz-test-secret-0123456789abcdefghijklm"
		}
		return ""
	})
	if err != nil {
		f.Fatal(err)
	}
	cat, err := i18n.Load(config.Languages)
	if err != nil {
		f.Fatal(err)
	}
	return &Server{Deps: Deps{Config: cfg, Catalog: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
}

// fuzzDo sends req to app and returns the response with its body read.
func fuzzDo(t *testing.T, app *fiber.App, req *http.Request) *http.Response {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// fuzzMailerBase is the origin FuzzLocalPath resolves redirect targets against.
var fuzzMailerBase, _ = url.Parse("https://mailer.example/")

// fuzzNotLocal says why a browser redirected to p from this site would leave it, or might
// not go anywhere sensible; "" when p is a path on this site.
func fuzzNotLocal(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			// Not allowed in a header value (RFC 9110), and browsers drop tabs and line
			// breaks anywhere in a URL, so "/\t/evil.example" is "//evil.example".
			return "a control character"
		}
	}
	// A path, not one a browser reads as //host: it reads a backslash as a slash in http(s)
	// URLs (so a lone backslash would do as "/", but localPath need not take it).
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(strings.ReplaceAll(p, `\`, "/"), "//") {
		return "not a path on this host"
	}
	u, err := url.Parse(p)
	if err != nil {
		// A browser takes a malformed %-escape literally; so does this check.
		u, err = url.Parse(strings.ReplaceAll(p, "%", "%25"))
		if err != nil {
			return "unparsable: " + err.Error()
		}
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "has a scheme or host"
	}
	if r := fuzzMailerBase.ResolveReference(u); r.Scheme != "https" || r.Host != "mailer.example" {
		return "resolves to " + r.Scheme + "://" + r.Host
	}
	return ""
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{
		"/mailings?page=2", "/", "/clients?q=a+b&sort=email&desc=1#top", "/ünï?q=ä", "/a\\b", "/%zz", "/@evil.example",
		"/.//evil.example", "/..//evil.example", "/%2F%2Fevil.example", "/?next=//evil.example",
		"//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/", "HTTPS:evil.example",
		"javascript:alert(1)", " /x", "", "/\t/evil.example", "/\r\nSet-Cookie: a=b", "/\x01", "/\xff\xfe",
	} {
		f.Add(s, uint8(0), false)
	}
	f.Add("/manager/users?role=manager", uint8(1), true)
	f.Add("//evil.example", uint8(2), true)

	s := fuzzServer(f)
	fallbacks := []string{"/", managerUsersPath, ""} // "" is login's: it keeps no bad next
	var fallback string
	app := fiber.New(fiber.Config{Immutable: true})
	// The language switch, as routed; and the redirect sign-in answers with.
	app.Post("/lang", s.switchLanguage)
	app.Post("/login", func(c *fiber.Ctx) error { return s.redirect(c, localPath(c.FormValue("next"), fallback)) })
	f.Fuzz(func(t *testing.T, next string, fb uint8, partial bool) {
		fallback = fallbacks[int(fb)%len(fallbacks)]
		got := localPath(next, fallback)
		if got != next && got != fallback {
			t.Fatalf("localPath(%q, %q) = %q: neither", next, fallback, got)
		}
		why := fuzzNotLocal(next)
		if why == "" && got != next {
			t.Fatalf("localPath(%q) refused a path on this site", next)
		}
		if got == next && got != fallback && why != "" {
			t.Fatalf("localPath(%q) accepted a target that is %s", next, why)
		}
		if fallback == "" {
			return
		}

		// Through Fiber, the header a browser follows carries that path, byte for byte but
		// for trailing spaces, which are not part of a header value (nor of a URL).
		got = strings.TrimRight(got, " ")
		post := func(path string, form url.Values) *http.Response {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if partial {
				req.Header.Set("HX-Request", "true")
			}
			return fuzzDo(t, app, req)
		}
		resp := post("/login", url.Values{"next": {next}})
		header, status := "Location", http.StatusSeeOther
		if partial {
			header, status = "HX-Redirect", http.StatusOK
		}
		if loc := resp.Header.Values(header); resp.StatusCode != status || len(loc) != 1 || loc[0] != got {
			t.Fatalf("sign-in redirect for next=%q: %d %s: %q, want %q", next, resp.StatusCode, header, loc, got)
		}
		if fallback == "/" {
			resp = post("/lang", url.Values{"lang": {"ru"}, "next": {next}})
			if loc := resp.Header.Values(header); resp.StatusCode != status || len(loc) != 1 || loc[0] != got {
				t.Fatalf("language switch for next=%q: %d %s %q, want %q", next, resp.StatusCode, header, loc, got)
			}
		}
	})
}

func FuzzProfileForm(f *testing.F) {
	for _, s := range [][2]string{
		{"en", "Europe/Berlin"}, {"ru", "Asia/Kamchatka"}, {"en", "UTC"}, {"ru", "America/Argentina/Buenos_Aires"},
		{"en", "Etc/GMT+12"}, {"en", "EST5EDT"}, {"en", "Local"}, {"", ""}, {"EN", "utc"}, {"en-US", "Europe/Kyiv "},
		{"de", "Europe/Kiev"}, {"en\x00", "Europe/Berlin\x00"}, {"ru", "../../etc/passwd"}, {"en", "/etc/passwd"},
		{"en", "\\etc\\passwd"}, {"en", "Europe/../../../etc/passwd"}, {"en", "Europe/./Berlin"}, {"en", "Europe"},
		{"en", "zone.tab"}, {"en", "+03:00"}, {"en", strings.Repeat("Europe/", 600) + "Berlin"},
	} {
		f.Add(s[0], s[1])
	}
	s := fuzzServer(f)
	for _, lang := range config.Languages {
		for _, id := range []string{"profile.bad_language", "profile.bad_timezone"} {
			if !s.Catalog.Has(lang, id) {
				f.Fatalf("%s has no %s", lang, id)
			}
		}
	}
	var form pages.ProfileForm
	app := fiber.New(fiber.Config{Immutable: true})
	app.Post("/", func(c *fiber.Ctx) error {
		form = s.profileFromForm(c)
		return c.SendStatus(http.StatusNoContent)
	})
	f.Fuzz(func(t *testing.T, language, timezone string) {
		fuzzPostForm(t, app, url.Values{"language": {language}, "timezone": {timezone}})
		if form.Language != language || form.Timezone != timezone {
			t.Fatalf("the form shows back %q %q, typed %q %q", form.Language, form.Timezone, language, timezone)
		}
		for field, id := range form.Errors {
			if field != "language" && field != "timezone" || id != "profile.bad_"+field {
				t.Fatalf("unexpected error %q: %q", field, id)
			}
		}
		if _, bad := form.Errors["language"]; bad == slices.Contains(config.Languages, language) {
			t.Fatalf("language %q: error %q", language, form.Errors["language"])
		}

		loc, err := time.LoadLocation(timezone)
		_, bad := form.Errors["timezone"]
		if bad != (err != nil || timezone == "" || timezone == "Local") {
			t.Fatalf("time zone %q (load error %v): error %q", timezone, err, form.Errors["timezone"])
		}
		if slices.Contains(pages.CommonZones, timezone) && bad {
			t.Fatalf("offered time zone %q refused", timezone)
		}
		if bad {
			return
		}
		// An accepted zone is a name from the zone database: no path out of it, and the
		// name pages load it by later (page.go) gives back the same zone.
		if strings.Contains(timezone, "..") || strings.HasPrefix(timezone, "/") || strings.HasPrefix(timezone, `\`) ||
			strings.ContainsFunc(timezone, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("time zone %q accepted", timezone)
		}
		if loc.String() != timezone || loc == time.Local {
			t.Fatalf("time zone %q loads as %q", timezone, loc)
		}
		again, err := time.LoadLocation(timezone)
		at := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
		if err != nil || at.In(again).Format(time.RFC3339) != at.In(loc).Format(time.RFC3339) {
			t.Fatalf("time zone %q loads differently again: %v", timezone, err)
		}
	})
}

// fuzzClock is a settable clock.
type fuzzClock struct{ now time.Time }

func (c *fuzzClock) Now() time.Time { return c.now }

// fuzzStatsZones add to fuzzZones zones whose midnight a clock change skips or repeats,
// the date line's extremes and a local mean time of odd seconds (Moscow before 1880).
var fuzzStatsZones = append(slices.Clone(fuzzZones), "America/Santiago", "America/Havana", "Asia/Beirut",
	"Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Moscow")

func FuzzStatsFilter(f *testing.F) {
	type seed struct {
		from, to string
		zone     uint8
		now      int64
	}
	for _, s := range []seed{
		{"2025-03-01", "2025-03-10", 0, 0},
		{"", "", 1, 300_000_000},
		{" 2025-03-01 ", "", 2, -700_000_000},
		{"", "2025-03-01", 3, 0},
		{"2025-03-10", "2025-03-01", 4, 0},
		{"2020-01-01", "2025-03-01", 5, 0},
		{"2024-01-01", "2024-12-31", 6, 0},
		{"2024-01-01", "2025-01-01", 7, 0},
		{"yesterday", "", 8, 0},
		{"2025-02-30", "2025-03-01", 9, 0},
		{"2025-3-1", "2025-03-01", 10, 0},
		{"1969-12-31", "1970-01-01", 0, 0},
		{"9999-12-01", "9999-12-31", 10, 0},
		{"2025-03-01T00:00", "+2025-03-01", 11, 0},
	} {
		f.Add(s.from, s.to, s.zone, s.now)
	}
	zones := make([]*time.Location, len(fuzzStatsZones))
	for i, name := range fuzzStatsZones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			f.Fatal(err)
		}
		zones[i] = loc
	}
	s := fuzzServer(f)
	clock := &fuzzClock{}
	s.Clock = clock
	var (
		loc      *time.Location
		from, to time.Time
		problem  string
	)
	// A request line longer than the read buffer is answered 431 before any handler runs.
	app := fiber.New(fiber.Config{Immutable: true, ReadBufferSize: 1 << 20})
	app.Get("/", func(c *fiber.Ctx) error {
		from, to, problem = s.statsPeriod(c, loc)
		return c.SendStatus(http.StatusNoContent)
	})
	period := func(t *testing.T, rawFrom, rawTo string) (time.Time, time.Time, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/?"+url.Values{"from": {rawFrom}, "to": {rawTo}}.Encode(), nil)
		if resp := fuzzDo(t, app, req); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("statsPeriod handler answered %d", resp.StatusCode)
		}
		return from, to, problem
	}
	f.Fuzz(func(t *testing.T, rawFrom, rawTo string, zone uint8, now int64) {
		loc = zones[int(zone)%len(zones)]
		clock.now = time.Unix(1_700_000_000+now%1_500_000_000, 0).UTC() // 1976 to 2071
		from, to, problem := period(t, rawFrom, rawTo)

		// What the period should be, worked out on calendar dates (in UTC, where every
		// day has 24 hours). Where a clock change skips midnight a day starts later, so
		// dates are compared, not instants.
		y, m, d := clock.now.In(loc).Date()
		today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		wantFrom, wantTo, want := today.AddDate(0, 0, 1-statsDefaultDays), today, ""
		date := func(raw string, def time.Time) (time.Time, bool) {
			if raw = strings.TrimSpace(raw); raw == "" {
				return def, true
			}
			d, err := time.Parse(time.DateOnly, raw)
			return d, err == nil && d.Year() >= statsFirstYear
		}
		fd, okF := date(rawFrom, wantFrom)
		ld, okL := date(rawTo, wantTo)
		switch {
		case !okF || !okL:
			want = "stats.bad_date"
		case fd.After(ld):
			want = "stats.bad_range"
		case ld.Sub(fd) >= statsMaxDays*24*time.Hour:
			wantFrom, wantTo, want = ld.AddDate(0, 0, 1-statsMaxDays), ld, "stats.too_long"
		default:
			wantFrom, wantTo = fd, ld
		}
		shownFrom, shownTo := from.Format(time.DateOnly), to.Format(time.DateOnly)
		if problem != want || shownFrom != wantFrom.Format(time.DateOnly) || shownTo != wantTo.Format(time.DateOnly) {
			t.Fatalf("from=%q to=%q in %s on %s: %s – %s %q, want %s – %s %q", rawFrom, rawTo, loc, clock.now,
				from, to, problem, wantFrom.Format(time.DateOnly), wantTo.Format(time.DateOnly), want)
		}

		// Whatever was asked, the period is days of loc, at most statsMaxDays of them, that
		// the store can look up: PostgreSQL has no year 0 (a 500 there).
		if from.After(to) || to.After(from.AddDate(0, 0, statsMaxDays-1)) || from.Location() != loc || to.Location() != loc {
			t.Fatalf("period %s – %s", from, to)
		}
		start, end := mailing.StatsFilter{Loc: loc, From: from, To: to}.Bounds()
		if !start.Before(end) || start.UTC().Year() < 1 || end.UTC().Year() > 10000 {
			t.Fatalf("from=%q to=%q in %s: the store looks up %s – %s", rawFrom, rawTo, loc, start.UTC(), end.UTC())
		}
		// The form shows the period as dates, which give the same period again, quietly.
		if again1, again2, p := period(t, shownFrom, shownTo); !again1.Equal(from) || !again2.Equal(to) || p != "" {
			t.Fatalf("period %s – %s, shown as %s – %s, reads back as %s – %s %q", from, to, shownFrom, shownTo, again1, again2, p)
		}
		if want == "" && (strings.TrimSpace(rawFrom) != "" && shownFrom != strings.TrimSpace(rawFrom) ||
			strings.TrimSpace(rawTo) != "" && shownTo != strings.TrimSpace(rawTo)) {
			t.Fatalf("from=%q to=%q shown as %s – %s", rawFrom, rawTo, shownFrom, shownTo)
		}
	})
}
