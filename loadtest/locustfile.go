package loadtest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/grlscaler/grlscaler/envs/app"
	"github.com/grlscaler/grlscaler/envs/load"
)

// GenerateOptions tune a generated Locust file.
type GenerateOptions struct {
	// SpawnRate is the users Locust starts or stops per second when a stage
	// begins. Zero reaches every stage within about one second, as the
	// seed's shapes did (tick returned spawn_rate = users, seed-spec 4.1):
	// each stage's rate is the size of its step.
	SpawnRate float64
	// SampleInterval is how often the file's sampler writes a row of
	// <csv prefix>_samples.csv (see ParseResults); zero means one second.
	// An evaluation step is a natural choice: each row's percentiles are
	// exact for its interval.
	SampleInterval time.Duration
}

//go:embed locustfile.py.tmpl
var locustfileTemplate string

var locustfileTmpl = template.Must(template.New("locustfile").Parse(locustfileTemplate))

// Apps GenerateLocustfile has user classes for.
const (
	appOnlineBoutique = "onlineboutique"
	appRedis          = "redis"
)

// obForms are the form bodies Online Boutique's frontend reads for each
// POST request type (microservices-demo src/frontend/handlers.go). The
// values are the upstream load generator's (src/loadgenerator/locustfile.py),
// with the checkout form's fixed defaults instead of its faker data, so the
// file needs nothing beyond Locust.
var obForms = map[string]string{
	"set_currency": `{"currency_code": random.choice(CURRENCIES)}`,
	"add_to_cart":  `{"product_id": random.choice(PRODUCTS), "quantity": random.randint(1, 10)}`,
	"checkout":     `checkout_form()`,
}

// redisCommands are the Python functions (of a redis client r and the
// user's request counter n) each Redis request type runs: the seed's peak
// mix (seed-spec 4.3: GET/SET on key_{1..1000}, LPUSH/RPOP on list_{1..100},
// HSET/HGET on hash_{1..50}), its offpeak INFO memory, and its fluctuating
// leaderboard ZADD + ZREMRANGEBYRANK. The seed varied the commands behind a
// name from script to script; here a request type is one command pattern in
// every scenario, as the twin models it. Multi-command types use a
// non-transactional pipeline: one round trip, one request.
var redisCommands = map[string]string{
	"get": `def redis_get(r, n):
    return r.get("key_%d" % random.randint(1, 1000))`,
	"set": `def redis_set(r, n):
    return r.set("key_%d" % random.randint(1, 1000), "value_%d" % random.randint(1, 10000), ex=300)`,
	"list": `def redis_list(r, n):
    key = "list_%d" % random.randint(1, 100)
    if random.random() < 0.5:
        return r.lpush(key, "item_%d" % random.randint(1, 1000))
    return r.rpop(key)`,
	"hash": `def redis_hash(r, n):
    key, field = "hash_%d" % random.randint(1, 50), "field_%d" % random.randint(1, 100)
    if random.random() < 0.5:
        return r.hset(key, field, "value_%d" % random.randint(1, 1000))
    return r.hget(key, field)`,
	"info": `def redis_info(r, n):
    return r.info("memory")`,
	"zset": `def redis_zset(r, n):
    p = r.pipeline(transaction=False)
    p.zadd("leaderboard", {"user_%d" % (n % 1000): n % 1000})
    p.zremrangebyrank("leaderboard", 0, -101)
    return p.execute()`,
}

type stageData struct {
	EndS      string
	Users     int
	SpawnRate string
}

type taskData struct {
	Name, Method string
	Weight       int
	// Online Boutique: a Python expression for the path, and the form or "".
	PathExpr, Form string
	// Redis: the command function's definition.
	Command string
}

type fileData struct {
	Scenario, Summary, App string
	ExpectedRequests       string
	DurationS              string
	Stages                 []stageData
	MaxUsers               int
	Wait, WaitFunc         string
	SampleIntervalS        string
	TimeoutS               string
	Tasks                  []taskData
	HTTP, Redis            bool
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// pythonKeywords cannot name a task method.
var pythonKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true,
	"await": true, "break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true,
	"else": true, "except": true, "finally": true, "for": true, "from": true, "global": true, "if": true,
	"import": true, "in": true, "is": true, "lambda": true, "nonlocal": true, "not": true, "or": true,
	"pass": true, "raise": true, "return": true, "try": true, "while": true, "with": true, "yield": true,
}

// GenerateLocustfile returns the Locust file that runs scenario s against
// app a. The same inputs give the same bytes. It fails, naming the problem,
// when s is invalid, belongs to another app, names a request type a lacks,
// or cannot be run by Locust as declared (fractional users or weights), and
// for apps other than Online Boutique and Redis.
func GenerateLocustfile(s load.Scenario, a *app.App, opts GenerateOptions) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("generate locustfile for %s/%s: %w", s.App, s.Name, err)
	}
	if a == nil {
		return fail(errors.New("no app"))
	}
	if err := s.Validate(); err != nil {
		return fail(err)
	}
	if s.App != a.Name {
		return fail(fmt.Errorf("scenario is for app %q, not %q", s.App, a.Name))
	}
	if opts.SampleInterval < 0 {
		return fail(fmt.Errorf("SampleInterval %v must not be negative", opts.SampleInterval))
	}
	if opts.SampleInterval == 0 {
		opts.SampleInterval = time.Second
	}
	if opts.SpawnRate < 0 || math.IsInf(opts.SpawnRate, 0) || math.IsNaN(opts.SpawnRate) {
		return fail(fmt.Errorf("SpawnRate %g must be a finite number >= 0", opts.SpawnRate))
	}
	d := fileData{
		Scenario:         s.App + "/" + s.Name,
		Summary:          s.String(),
		App:              a.Name,
		ExpectedRequests: strconv.FormatFloat(math.Round(s.ExpectedRequests()), 'f', -1, 64),
		DurationS:        seconds(s.Duration),
		Wait:             s.Wait.String(),
		WaitFunc:         string(s.Wait.Kind),
		SampleIntervalS:  seconds(opts.SampleInterval),
		TimeoutS:         strconv.FormatFloat(a.RequestTimeoutSeconds, 'f', -1, 64),
	}
	switch a.Name {
	case appOnlineBoutique:
		d.HTTP = true
	case appRedis:
		d.Redis = true
	default:
		return fail(fmt.Errorf("no Locust user class for app %q (have %s, %s)", a.Name, appOnlineBoutique, appRedis))
	}

	maxUsers, err := wholeNumber("MaxUsers", s.MaxUsers)
	if err != nil {
		return fail(err)
	}
	d.MaxUsers = maxUsers
	// Spawn rates follow the capped counts, which are what Locust moves
	// between; the stages keep the declared counts so the file shows the
	// declaration and the cap that binds it.
	prev := 0
	for i, st := range s.Stages {
		users, err := wholeNumber(fmt.Sprintf("Stages[%d].Users", i), st.Users)
		if err != nil {
			return fail(err)
		}
		capped := users
		if maxUsers > 0 {
			capped = min(users, maxUsers)
		}
		rate := opts.SpawnRate
		if rate == 0 {
			rate = float64(max(abs(capped-prev), 1))
		}
		prev = capped
		d.Stages = append(d.Stages, stageData{EndS: seconds(st.End), Users: users, SpawnRate: strconv.FormatFloat(rate, 'f', -1, 64)})
	}

	for i, tk := range s.Tasks {
		weight, err := wholeNumber(fmt.Sprintf("Tasks[%d].Weight", i), tk.Weight)
		if err != nil {
			return fail(err)
		}
		idx := a.RequestTypeIndex(tk.RequestType)
		if idx < 0 {
			return fail(fmt.Errorf("task %d: app %s has no request type %q", i, a.Name, tk.RequestType))
		}
		rt := a.RequestTypes[idx]
		if !identifier.MatchString(rt.Name) || pythonKeywords[rt.Name] {
			return fail(fmt.Errorf("request type %q is not a Python identifier", rt.Name))
		}
		if !printableASCII(rt.Method) || rt.Method == "" {
			return fail(fmt.Errorf("request type %s: method %q must be printable ASCII", rt.Name, rt.Method))
		}
		td := taskData{Name: rt.Name, Method: strconv.Quote(rt.Method), Weight: weight}
		if d.HTTP {
			if td.PathExpr, err = pathExpr(rt.Path); err != nil {
				return fail(fmt.Errorf("request type %s: %w", rt.Name, err))
			}
			td.Form = obForms[rt.Name]
		} else {
			cmd, ok := redisCommands[rt.Name]
			if !ok {
				return fail(fmt.Errorf("no Redis command for request type %q", rt.Name))
			}
			td.Command = cmd
		}
		d.Tasks = append(d.Tasks, td)
	}

	var buf bytes.Buffer
	if err := locustfileTmpl.Execute(&buf, d); err != nil {
		return fail(err)
	}
	return buf.Bytes(), nil
}

// pathExpr renders an app path as a Python expression; {id} (a product id,
// the only placeholder Online Boutique's paths have) becomes a random
// catalogue product.
func pathExpr(path string) (string, error) {
	if !strings.HasPrefix(path, "/") || !printableASCII(path) {
		return "", fmt.Errorf("path %q must be printable ASCII starting with /", path)
	}
	before, after, found := strings.Cut(path, "{id}")
	if strings.ContainsAny(before, "{}") || strings.ContainsAny(after, "{}") {
		return "", fmt.Errorf("path %q: only {id} is supported as a placeholder", path)
	}
	if !found {
		return strconv.Quote(path), nil
	}
	expr := strconv.Quote(before) + " + random.choice(PRODUCTS)"
	if after != "" {
		expr += " + " + strconv.Quote(after)
	}
	return expr, nil
}

func printableASCII(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// wholeNumber converts a declared count to the integer Locust needs.
func wholeNumber(field string, x float64) (int, error) {
	if x != math.Trunc(x) || x < 0 || x > 1e9 {
		return 0, fmt.Errorf("%s %g must be a whole number in [0, 1e9]: Locust runs whole users and integer task weights", field, x)
	}
	return int(x), nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// seconds renders d in seconds, exactly and without an exponent.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
