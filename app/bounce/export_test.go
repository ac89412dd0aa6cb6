package bounce

// ParseSESForTest is the SES notification decoder (normally reached only through a
// verified SNS message), for the fuzz test.
var ParseSESForTest = parseSES
