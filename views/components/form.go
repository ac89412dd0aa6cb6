package components

// FormState is what every form shows besides its values: a message under each field that
// is wrong and one about the whole form, both translated. Forms embed it; the web layer
// fills it from a domain error in one place.
type FormState struct {
	Errors map[string]string
	Error  string
}

// State gives the web layer the state embedded in any form.
func (f *FormState) State() *FormState { return f }
