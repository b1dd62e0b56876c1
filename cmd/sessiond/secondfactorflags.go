package main

import (
	"flag"
	"time"

	"github.com/sessiond/sessiond/api"
)

// SecondFactorFlags configure second factors and step-up (api/totp.go,
// api/authzstepup.go; docs/SECURITY.md, "Second factors").
type SecondFactorFlags struct {
	StepUpAge time.Duration // --step-up-age
}

func secondFactorFlags(fs *flag.FlagSet, f *SecondFactorFlags) {
	fs.DurationVar(&f.StepUpAge, "step-up-age", api.DefaultStepUpAge,
		"changing the password, a second factor or app passwords needs a sign-in at most this old")
}

// apply sets the api's step-up age; 0 or less keeps api.DefaultStepUpAge.
func (f SecondFactorFlags) apply(ac *api.Config) { ac.StepUpAge = f.StepUpAge }
