package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"mailer/app/mailing"
)

// apiClientOut is a client as the API shows it.
type apiClientOut struct {
	ID             int64      `json:"id"`
	OwnerID        int64      `json:"owner_id"`
	Email          string     `json:"email"`
	FullName       string     `json:"full_name"`
	Comment        string     `json:"comment"`
	Tags           []string   `json:"tags"`
	UnsubscribedAt *time.Time `json:"unsubscribed_at"`
	CreatedAt      time.Time  `json:"created_at"`
}

func apiClientOf(c *mailing.Client) apiClientOut {
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	return apiClientOut{ID: c.ID, OwnerID: c.OwnerID, Email: c.Email, FullName: c.FullName, Comment: c.Comment,
		Tags: tags, UnsubscribedAt: c.UnsubscribedAt, CreatedAt: c.CreatedAt.UTC()}
}

// apiClientIn is a client as written: every field optional in a PATCH, where an absent
// one keeps its value (tags included: [] clears them).
type apiClientIn struct {
	Email    *string   `json:"email"`
	FullName *string   `json:"full_name"`
	Comment  *string   `json:"comment"`
	Tags     *[]string `json:"tags"`
}

// apply puts the fields given onto cl and validates it by the forms' rules (Client.Validate,
// ParseTags); errs uses the JSON field names prefixed with prefix.
func (in *apiClientIn) apply(cl *mailing.Client, prefix string) map[string]string {
	if in.Email != nil {
		cl.Email = *in.Email
	}
	if in.FullName != nil {
		cl.FullName = *in.FullName
	}
	if in.Comment != nil {
		cl.Comment = *in.Comment
	}
	errs := cl.Validate()
	if in.Tags != nil {
		tags, problem := mailing.ParseTags(*in.Tags...)
		for _, t := range *in.Tags {
			// ParseTags splits at commas, as a form's field is typed: in JSON a tag is one element.
			if strings.Contains(t, ",") {
				problem = "validation.tag_comma"
			}
		}
		if problem != "" {
			errs["tags"] = problem
		}
		if tags == nil {
			tags = []string{}
		}
		cl.Tags = tags
	}
	if prefix == "" {
		return errs
	}
	out := make(map[string]string, len(errs))
	for f, k := range errs {
		out[prefix+f] = k
	}
	return out
}

// apiClients lists clients in scope: q matches the start of the email or name, tag filters.
func (s *Server) apiClients(c *fiber.Ctx) error {
	p, err := s.apiListParams(c)
	if err != nil {
		return err
	}
	p.Tag = strings.TrimSpace(c.Query("tag"))
	page, err := s.Store.ListClients(c.UserContext(), readScope(c), p)
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, listOf(page.Items, page.Next, apiClientOf))
}

func (s *Server) apiClient(c *fiber.Ctx) error {
	cl, err := apiVisible(c, func(sc mailing.Scope, id int64) (*mailing.Client, error) {
		return s.Store.ClientByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, apiClientOf(cl))
}

func (s *Server) apiClientCreate(c *fiber.Ctx) error {
	var in apiClientIn
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	cl := mailing.Client{OwnerID: currentUser(c).ID}
	errs := in.apply(&cl, "")
	if in.Email == nil {
		errs["email"] = "validation.required"
	}
	if len(errs) > 0 {
		return apiInvalid(errs)
	}
	if err := s.Store.SaveClient(c.UserContext(), &cl); err != nil {
		return err
	}
	return s.apiClientAnswer(c, fiber.StatusCreated, cl.ID)
}

func (s *Server) apiClientAnswer(c *fiber.Ctx, status int, id int64) error {
	saved, err := s.Store.ClientByID(c.UserContext(), ownScope(c), id)
	if err != nil {
		return err
	}
	if status == fiber.StatusCreated {
		c.Location("/api/v1/clients/" + strconv.FormatInt(id, 10))
	}
	return apiJSON(c, status, apiClientOf(saved))
}

func (s *Server) apiClientUpdate(c *fiber.Ctx) error {
	cl, id, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Client, error) {
		return s.Store.ClientByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	var in apiClientIn
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	cl.Tags = nil // unchanged unless given
	if errs := in.apply(cl, ""); len(errs) > 0 {
		return apiInvalid(errs)
	}
	if err := s.Store.SaveClient(c.UserContext(), cl); err != nil {
		return err
	}
	return s.apiClientAnswer(c, fiber.StatusOK, id)
}

func (s *Server) apiClientDelete(c *fiber.Ctx) error {
	_, id, err := apiOwn(c, func(sc mailing.Scope, id int64) (*mailing.Client, error) {
		return s.Store.ClientByID(c.UserContext(), sc, id)
	})
	if err != nil {
		return err
	}
	if err := s.Store.DeleteClient(c.UserContext(), currentUser(c).ID, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// apiClientsBulk creates or updates up to 10,000 clients by email in one transaction (the
// CSV import's store method). Every item is validated first: one bad item refuses the
// whole request, with each bad field named by its index, and nothing is written.
func (s *Server) apiClientsBulk(c *fiber.Ctx) error {
	var in struct {
		Clients []apiClientIn `json:"clients"`
	}
	if err := s.apiBody(c, &in); err != nil {
		return err
	}
	switch {
	case in.Clients == nil:
		return apiInvalid(map[string]string{"clients": "validation.required"})
	case len(in.Clients) > apiBulkMax:
		return &apiError{status: fiber.StatusUnprocessableEntity, detail: "At most 10,000 clients per request.",
			fields: []apiFieldError{{Field: "clients", Code: "too_many", Message: "has more than 10000 items"}}}
	}
	clients := make([]mailing.Client, len(in.Clients))
	errs := map[string]string{}
	seen := make(map[string]int, len(in.Clients))
	for i := range in.Clients {
		prefix := "clients[" + strconv.Itoa(i) + "]."
		for f, k := range in.Clients[i].apply(&clients[i], prefix) {
			errs[f] = k
		}
		if in.Clients[i].Email == nil {
			errs[prefix+"email"] = "validation.required"
		}
		// One statement cannot upsert the same row twice: a repeated address is an error.
		if _, dup := seen[clients[i].Email]; dup && errs[prefix+"email"] == "" {
			errs[prefix+"email"] = "validation.duplicate_in_request"
		}
		seen[clients[i].Email] = i
		if len(errs) >= 100 {
			break // enough to fix a file by; the rest would only bloat the answer
		}
	}
	if len(errs) > 0 {
		return apiInvalid(errs)
	}
	created, updated, err := s.Store.UpsertClients(c.UserContext(), currentUser(c).ID, clients)
	if err != nil {
		return err
	}
	return apiJSON(c, fiber.StatusOK, map[string]int{"created": created, "updated": updated})
}
