package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

// ScenarioFor returns the named scenario for an app. Built-in apps have
// their own declarations; a synthetic app runs Online Boutique's user
// curves with its request types in equal shares.
func ScenarioFor(a *app.App, name string) (load.Scenario, error) {
	if slices.Contains(load.Apps(), a.Name) {
		return load.Lookup(a.Name, name)
	}
	sc, err := load.Lookup(load.OnlineBoutique, name)
	if err != nil {
		return load.Scenario{}, err
	}
	sc.App = a.Name
	sc.Tasks = nil
	for _, rt := range a.RequestTypes {
		sc.Tasks = append(sc.Tasks, load.Task{RequestType: rt.Name, Weight: 1})
	}
	sc.Seed = load.SeedNote{Notes: "synthetic app: Online Boutique's user curve, request types in equal shares"}
	return sc, nil
}

// SyntheticPrefix names generated apps: "synthetic-100" is a 100-service app.
const SyntheticPrefix = "synthetic-"

// LookupApp resolves a built-in app name or "synthetic-N" (generated from
// seed), with an error naming the valid choices.
func LookupApp(name string, seed uint64) (*app.App, error) {
	if rest, ok := strings.CutPrefix(name, SyntheticPrefix); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 2 {
			return nil, fmt.Errorf("unknown app %q: a synthetic app is named synthetic-N with N >= 2 services", name)
		}
		return app.Synthetic(seed, app.SyntheticOptions{Services: n})
	}
	a, err := app.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w, or synthetic-N", err)
	}
	return a, nil
}
