package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"mailer/app/mailing"
	"mailer/app/store"
	"mailer/app/testutil"
)

// screenshotDir is where the README's pictures live, from this package's folder.
const screenshotDir = "../../docs/screenshots"

// readmeShot is one picture of the README and the viewport it is taken in.
type readmeShot struct {
	file          string
	width, height int64
}

var readmeShots = []readmeShot{
	{"home.png", 1280, 1000},
	{"mailing-in-progress.png", 1280, 1000},
	{"stats.png", 1280, 1000},
	{"phone.png", 360, 740},
}

// shotsAccount is the seeded account the pictures show.
const shotsAccount = "anna@greenleaf.example"

// shotsFixture is what the seeding made, for the assertions on the pages.
type shotsFixture struct {
	weeklyID         int64
	live             mailing.RunProgress // the weekly mailing's run in progress
	success, failure int                 // attempts in the stats page's 30 days
}

// TestREADMEScreenshots takes the README's pictures of a seeded account (home, a mailing
// whose run is half sent, statistics with a month of history, the mailings list on a phone)
// and checks each is a real picture of a page showing that account's data. They are written
// to docs/screenshots only with UPDATE_SCREENSHOTS=1 (`task screenshots`); every other run
// checks that the README's pictures are there, so its links never break.
func TestREADMEScreenshots(t *testing.T) {
	update := os.Getenv("UPDATE_SCREENSHOTS") == "1"
	if !update {
		checkCommittedScreenshots(t)
	}
	bctx := testutil.Browser(t)
	// No worker: the run in progress stays as seeded, whatever the machine's speed.
	srv := testutil.StartServer(t, testutil.ServerOptions{})
	fx := seedShowcase(t, srv)

	p := &chromeTab{t: t, ctx: bctx, srv: srv}
	ui := &uiFixture{t: t, srv: srv, owner: signedIn(t, srv, shotsAccount)}
	ui.signIn(p, "owner", "en")
	// The same data makes the same pictures: a fixed clock, and no transitions caught half
	// way. Only the busy badge's spinner (an SVG that animates itself) may differ by a few
	// pixels from one run to the next.
	p.do("reduce motion",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}})
			return err
		}))

	dir := t.TempDir()
	if update {
		dir = screenshotDir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	weekly := "/mailings/" + strconv.FormatInt(fx.weeklyID, 10)
	for _, s := range readmeShots {
		p.do("set the viewport of "+s.file, chromedp.EmulateViewport(s.width, s.height))
		switch s.file {
		case "home.png":
			p.open("/")
			for sel, want := range map[string]string{"#count-mailings": "3", "#count-running": "1", "#count-recipients": "48"} {
				if got := p.text(sel); got != want {
					t.Errorf("home %s = %q, want %q", sel, got, want)
				}
			}
			if got := p.eval(`document.querySelector("#recent-runs tbody tr [data-state]")?.dataset.state || ""`); got != mailing.RunRunning {
				t.Errorf("home's latest run is %q, want %q", got, mailing.RunRunning)
			}
		case "mailing-in-progress.png":
			p.open(weekly)
			want := map[string]int{"sent": fx.live.Sent, "failed": fx.live.Failed, "pending": fx.live.Pending, "suppressed": fx.live.Suppressed}
			for k, n := range want {
				if got := p.text(`#progress b[data-count="` + k + `"]`); got != strconv.Itoa(n) {
					t.Errorf("mailing progress %s = %q, want %d", k, got, n)
				}
			}
			if p.eval(`String(!!document.querySelector("#progress .badge-running"))`) != "true" {
				t.Errorf("the weekly mailing's run is not shown in progress")
			}
			if bottom := p.eval(`String(document.querySelector("#progress").getBoundingClientRect().bottom <= window.innerHeight)`); bottom != "true" {
				t.Errorf("the run's progress is below the picture's edge")
			}
		case "stats.png":
			p.open("/stats")
			if got := p.text(`#stat-success`); got != strconv.Itoa(fx.success) {
				t.Errorf("stats successes = %q, want %d", got, fx.success)
			}
			if got := p.text(`#stat-failure`); got != strconv.Itoa(fx.failure) {
				t.Errorf("stats failures = %q, want %d", got, fx.failure)
			}
			if got := p.text(`#stats-mailings`); !strings.Contains(got, "Holiday opening hours") || !strings.Contains(got, "your weekly garden notes") {
				t.Errorf("stats mailings table = %q, want both mailings that sent", got)
			}
			// The figures and the month's chart are the picture: it ends below the chart.
			p.do("scroll to the chart", chromedp.Evaluate[chromedp.Void](
				`window.scrollTo(0, document.querySelector("#stats-daily").getBoundingClientRect().bottom + window.scrollY + 24 - window.innerHeight)`))
			if in := p.eval(`String(document.querySelector("#stats-figures").getBoundingClientRect().top >= 0)`); in != "true" {
				t.Errorf("the figures are above the picture's edge")
			}
		case "phone.png":
			p.open("/mailings")
			if got := p.eval(`String(window.innerWidth)`); got != "360" {
				t.Errorf("phone view is %s px wide", got)
			}
			if got := p.eval(`getComputedStyle(document.querySelector("#list tbody tr")).display`); got != "block" {
				t.Errorf("the mailings list on a phone: rows are %q, want cards (block)", got)
			}
			if got := p.eval(`[...document.querySelectorAll("#list tbody tr")].map(tr => tr.textContent.replace(/\s+/g, " ")).join(" | ")`); !strings.Contains(got, "Spring seeds are in") || !strings.Contains(got, "Holiday opening hours") || !strings.Contains(got, "your weekly garden notes") {
				t.Errorf("the mailings list's cards = %q, want the three mailings", got)
			}
			if over := p.eval(`String(document.documentElement.scrollWidth - window.innerWidth)`); over != "0" {
				t.Errorf("the phone view scrolls sideways by %s px", over)
			}
		}
		shot := p.screenshot()
		img := checkScreenshot(t, s, shot)
		if update && t.Failed() {
			t.Fatalf("%s not written: the page is not as seeded", s.file)
		}
		out := filepath.Join(dir, s.file)
		if err := os.WriteFile(out, compressPNG(t, img, shot), 0o644); err != nil {
			t.Fatal(err)
		}
		if update {
			fi, _ := os.Stat(out)
			t.Logf("wrote %s (%d KB)", out, fi.Size()/1024)
		}
	}
}

// screenshot is the tab's viewport as a PNG, once fonts are loaded.
func (p *chromeTab) screenshot() []byte {
	p.t.Helper()
	p.waitJS("fonts loaded", `document.fonts.status === "loaded"`)
	ctx, cancel := context.WithTimeout(p.ctx, browserStepTimeout)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	return b
}

// checkScreenshot decodes a picture and fails unless it is a PNG of the shot's width and
// height with something on it (not one flat colour: a blank or unstyled page would be).
func checkScreenshot(t *testing.T, s readmeShot, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is no PNG: %v", s.file, err)
	}
	if got := img.Bounds().Size(); got.X != int(s.width) || got.Y != int(s.height) {
		t.Fatalf("%s is %dx%d, want %dx%d", s.file, got.X, got.Y, s.width, s.height)
	}
	colours := map[[4]uint32]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y && len(colours) < 16; y += 3 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
			r, g, b, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colours) < 16 {
		t.Fatalf("%s has only %d colours: the page did not draw", s.file, len(colours))
	}
	return img
}

// compressPNG re-encodes a picture at the best compression, keeping the original if that
// is no smaller.
func compressPNG(t *testing.T, img image.Image, orig []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() < len(orig) {
		return buf.Bytes()
	}
	return orig
}

var readmeImage = regexp.MustCompile(`\]\((docs/screenshots/[^)\s]+)\)`)

// checkCommittedScreenshots fails when a picture the README shows is missing or broken, or
// when one of the test's pictures is not in the README.
func checkCommittedScreenshots(t *testing.T) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, m := range readmeImage.FindAllStringSubmatch(string(readme), -1) {
		linked[m[1]] = true
		if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
			t.Errorf("README shows %s: %v", m[1], err)
		}
	}
	for _, s := range readmeShots {
		if !linked["docs/screenshots/"+s.file] {
			t.Errorf("README does not show docs/screenshots/%s", s.file)
		}
		b, err := os.ReadFile(filepath.Join(screenshotDir, s.file))
		if err != nil {
			t.Errorf("%v (run `task screenshots` and commit the pictures)", err)
			continue
		}
		if len(b) > 300<<10 {
			t.Errorf("%s is %d KB; keep README pictures under 300 KB", s.file, len(b)>>10)
		}
		checkScreenshot(t, s, b)
	}
}

// signedIn signs an existing account in through the form and returns its browser.
func signedIn(t *testing.T, srv *testutil.Server, email string) *browser {
	t.Helper()
	b := newBrowser(t, srv)
	if r := b.post("/login", url.Values{"email": {email}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: %d", email, r.StatusCode)
	}
	return b
}

// shotsClients are the seeded account's clients: first name, last name, domain.
var shotsClients = [][3]string{
	{"Olivia", "Bennett", "example.com"}, {"Liam", "Carter", "example.org"}, {"Sofia", "Rossi", "example.net"},
	{"Noah", "Fischer", "example.com"}, {"Emma", "Dubois", "example.org"}, {"Mateo", "García", "example.com"},
	{"Ava", "Thompson", "example.net"}, {"Lucas", "Novak", "example.com"}, {"Mia", "Jensen", "example.org"},
	{"Ethan", "Walsh", "example.com"}, {"Chloe", "Martin", "example.net"}, {"Leo", "Kowalski", "example.com"},
	{"Isla", "Murphy", "example.org"}, {"Daniel", "Ivanov", "example.com"}, {"Grace", "Okafor", "example.net"},
	{"Hugo", "Lefebvre", "example.com"}, {"Amelia", "Clarke", "example.org"}, {"Oscar", "Lindqvist", "example.com"},
	{"Zoe", "Papadopoulos", "example.net"}, {"Felix", "Schneider", "example.com"}, {"Nora", "Hansen", "example.org"},
	{"Samuel", "Reyes", "example.com"}, {"Lily", "O'Brien", "example.net"}, {"Max", "Weber", "example.com"},
	{"Ella", "Costa", "example.org"}, {"Jack", "Morgan", "example.com"}, {"Ruby", "Svensson", "example.net"},
	{"Adam", "Horvat", "example.com"}, {"Alice", "Moreau", "example.org"}, {"Theo", "Byrne", "example.com"},
	{"Hannah", "Kim", "example.net"}, {"Luca", "Bianchi", "example.com"}, {"Maya", "Patel", "example.org"},
	{"Jonas", "Berg", "example.com"}, {"Clara", "Nowak", "example.net"}, {"Elias", "Meyer", "example.com"},
	{"Freya", "Larsen", "example.org"}, {"David", "Cohen", "example.com"}, {"Ivy", "Sato", "example.net"},
	{"Anton", "Petrov", "example.com"}, {"Julia", "Santos", "example.org"}, {"Oliver", "Hughes", "example.com"},
	{"Elena", "Popescu", "example.net"}, {"Arthur", "Lambert", "example.com"}, {"Vera", "Sokolova", "example.org"},
	{"Henry", "Doyle", "example.com"}, {"Lena", "Vogel", "example.net"}, {"Victor", "Almeida", "example.com"},
}

// seedShowcase makes the account the pictures show, through the store and with the
// server's clock moved back for each step: clients from November, three messages, a weekly
// mailing sent every Monday since December 8 whose run of today (2026-01-05) is half sent, a
// one-off mailing sent before the holidays and one planned for February.
func seedShowcase(t *testing.T, srv *testutil.Server) shotsFixture {
	t.Helper()
	ctx := context.Background()
	st := srv.App.Store
	now := srv.Clock.Now()
	defer srv.Clock.Set(now)
	u, err := srv.App.Auth.CreateConfirmedUser(ctx, shotsAccount, pw, false)
	if err != nil {
		t.Fatal(err)
	}
	var fx shotsFixture
	at := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}

	srv.Clock.Set(at("2025-11-03 10:00"))
	for i, c := range shotsClients {
		cl := &mailing.Client{OwnerID: u.ID, FullName: c[0] + " " + c[1],
			Email: strings.ToLower(c[0]+"."+strings.ReplaceAll(c[1], "'", "")) + "@" + c[2], Tags: []string{"newsletter"}}
		switch {
		case i%7 == 0:
			cl.Tags = append(cl.Tags, "vip")
			cl.Comment = "Orders every spring"
		case i%5 == 0:
			cl.Tags = append(cl.Tags, "wholesale")
			cl.Comment = "Garden centre"
		}
		if errs := cl.Validate(); len(errs) > 0 {
			t.Fatal(errs)
		}
		if err := st.SaveClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
		srv.Clock.Advance(26 * time.Hour)
	}

	message := func(subject, body string) int64 {
		m := &mailing.Message{OwnerID: u.ID, Subject: subject, Body: body}
		if errs := m.Validate(); len(errs) > 0 {
			t.Fatal(errs)
		}
		if err := st.CreateMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	notes := message("{{.Name}}, your weekly garden notes", "Hello {{.Name}},\n\nThis week in the garden: what to sow, what to prune, and what is in the shop.")
	holiday := message("Holiday opening hours", "Hello {{.Name}},\n\nThe shop closes from December 24 to January 2. Happy holidays!")
	spring := message("Spring seeds are in", "Hello {{.Name}},\n\nThe new season's seeds have arrived.")

	save := func(m *mailing.Mailing, r mailing.Recipients) {
		if errs := m.Validate(); len(errs) > 0 {
			t.Fatal(errs)
		}
		if err := st.SaveMailing(ctx, m, r); err != nil {
			t.Fatal(err)
		}
	}
	srv.Clock.Set(at("2025-12-04 16:00"))
	weekly := &mailing.Mailing{OwnerID: u.ID, MessageID: notes, StartAt: at("2025-12-08 08:30"), EndAt: at("2026-03-30 12:00"),
		Period: mailing.PeriodWeekly, AllClients: true}
	save(weekly, mailing.Recipients{All: true})
	fx.weeklyID = weekly.ID
	srv.Clock.Set(at("2025-12-17 11:00"))
	xmas := &mailing.Mailing{OwnerID: u.ID, MessageID: holiday, StartAt: at("2025-12-19 10:00"), EndAt: at("2025-12-20 10:00"), Period: mailing.PeriodNone}
	save(xmas, mailing.Recipients{Tags: []string{"vip", "wholesale"}})
	srv.Clock.Set(at("2026-01-02 15:00"))
	save(&mailing.Mailing{OwnerID: u.ID, MessageID: spring, StartAt: at("2026-02-02 09:00"), EndAt: at("2026-02-03 09:00"), Period: mailing.PeriodNone},
		mailing.Recipients{All: true})

	// How a try goes, by address and date: a mistyped address bounces for good (and is
	// suppressed from then on), a full mailbox fails, a greylisting server takes the retry.
	outcome := func(email string, tries int, day time.Time) (status string, code int, reply, reason string) {
		switch {
		case email == "ethan.walsh@example.com":
			return mailing.AttemptFailure, 550, "550 5.1.1 <" + email + ">: Recipient address rejected: User unknown in virtual mailbox table", "550 5.1.1"
		case email == "ivy.sato@example.net" && day.Day() == 22, email == "hugo.lefebvre@example.com" && day.Day() == 5:
			return mailing.AttemptFailure, 552, "552 5.2.2 <" + email + ">: Mailbox full", "552 5.2.2"
		case email == "zoe.papadopoulos@example.net" && day.Day() == 15:
			return mailing.AttemptFailure, 0, "dial tcp 203.0.113.25:25: i/o timeout", "timeout"
		case strings.HasSuffix(email, "@example.org") && tries == 0 && (day.Day() == 29 || day.Day() == 5):
			return mailing.AttemptFailure, 451, "451 4.7.1 <" + email + ">: Recipient address rejected: Greylisted, try again in 5 minutes", "451 4.7.1"
		}
		return mailing.AttemptSuccess, 250, "250 2.0.0 Ok: queued", ""
	}
	// run sends m's run of start, up to limit first tries (all when 0), the greylisted again
	// a quarter of an hour later; it finishes the run unless something is left.
	statsFrom := at("2025-12-07 00:00")
	run := func(m *mailing.Mailing, kind string, start time.Time, limit int) *mailing.Run {
		srv.Clock.Set(start)
		var slot *time.Time
		if kind == mailing.RunSchedule {
			slot = &start
		}
		r, err := st.CreateRun(ctx, m, kind, slot, 0)
		if err != nil {
			t.Fatalf("run of %s: %v", start, err)
		}
		clock := start
		for pass := 0; pass < 2; pass++ {
			n := 1000
			if limit > 0 && pass == 0 {
				n = limit
			}
			ds, err := st.ClaimDeliveries(ctx, r.ID, "seed", n, clock.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var outs []store.Outcome
			for _, d := range ds {
				clock = clock.Add(1700 * time.Millisecond)
				status, code, reply, reason := outcome(d.Email, d.Tries, start)
				a := mailing.Attempt{MailingID: m.ID, RunID: r.ID, DeliveryID: d.ID, ClientID: d.ClientID, Email: d.Email,
					AttemptedAt: clock, Status: status, SMTPCode: code, Response: reply, Reason: reason, LatencyMS: 40 + int(d.ID%90)}
				o := store.Outcome{Delivery: d, Attempt: a, State: mailing.DeliverySent}
				switch {
				case status == mailing.AttemptSuccess:
				case code == 451:
					o.State, o.RetryAt = mailing.DeliveryPending, clock.Add(15*time.Minute)
				default:
					o.State = mailing.DeliveryFailed
				}
				if !start.Before(statsFrom) {
					if status == mailing.AttemptSuccess {
						fx.success++
					} else {
						fx.failure++
					}
				}
				outs = append(outs, o)
			}
			srv.Clock.Set(clock)
			if err := st.RecordOutcomes(ctx, "seed", outs); err != nil {
				t.Fatal(err)
			}
			if limit > 0 {
				break // today's run: the rest is still to go
			}
			clock = clock.Add(15 * time.Minute)
			srv.Clock.Set(clock)
		}
		if limit == 0 {
			if done, err := st.FinishRun(ctx, r.ID); err != nil || !done {
				t.Fatalf("finish the run of %s: %v (finished %v)", start, err, done)
			}
		}
		return r
	}
	for _, day := range []string{"2025-12-08", "2025-12-15", "2025-12-22", "2025-12-29"} {
		run(weekly, mailing.RunSchedule, at(day+" 08:30"), 0)
	}
	run(xmas, mailing.RunManual, at("2025-12-19 10:00"), 0)
	live := run(weekly, mailing.RunSchedule, at("2026-01-05 08:30"), 29)
	if fx.live, err = st.Progress(ctx, live.ID); err != nil {
		t.Fatal(err)
	}
	srv.App.Versions.Bump(ctx, u.ID)
	if fx.live.Done() || fx.live.Sent == 0 || fx.live.Failed == 0 || fx.live.Suppressed == 0 {
		t.Fatalf("the run in progress is not as meant: %+v", fx.live)
	}
	t.Logf("seeded: run in progress %s; stats %d successes, %d failures",
		fmt.Sprintf("%+v", fx.live), fx.success, fx.failure)
	return fx
}
