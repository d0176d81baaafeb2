package load

import "time"

// seedRun is the seed's default LOCUST_RUN_TIME, 15m (seed-spec 4.1); every
// declaration below is written for it and WithDuration rescales it.
const seedRun = 900 * time.Second

// sec keeps the stage tables below readable.
const sec = time.Second

// stableWait is the seed's constant_throughput(1): users = RPS while latency
// stays under 1 s (seed-spec 4.1).
var stableWait = Wait{Kind: ConstantThroughput, TasksPerSecond: 1}

// obJourney is the upstream Online Boutique user journey,
// GoogleCloudPlatform/microservices-demo src/loadgenerator/locustfile.py
// (UserBehavior.tasks: index 1, setCurrency 2, browseProduct 10, addToCart 2,
// viewCart 3, checkout 1). The seed sent only GET /cart (seed-spec 4.2, 8 L1),
// which loads a fraction of the call graph; the upstream mix exercises every
// service. Upstream's addToCart also GETs the product page first and its
// checkout adds to the cart first; here each task is the one request of its
// type, so the request counts stay equal to task counts.
var obJourney = []Task{
	{RequestType: "home", Weight: 1},
	{RequestType: "set_currency", Weight: 2},
	{RequestType: "product", Weight: 10},
	{RequestType: "add_to_cart", Weight: 2},
	{RequestType: "view_cart", Weight: 3},
	{RequestType: "checkout", Weight: 1},
}

const (
	obSeedTasks = "GET /cart (1)"
	obSeedNote  = "ours: the upstream Online Boutique journey with its weights instead of the seed's single GET /cart; same users and wait as the seed."
)

// Redis task mixes, seed-spec 4.3 "Tasks and weights"; the seed reports each
// task as one Locust request named GET|SET|LIST|HASH|INFO|ZSET.
var (
	// peak, stable_peak, stable_offpeak.
	redisKV = []Task{
		{RequestType: "get", Weight: 40},
		{RequestType: "set", Weight: 30},
		{RequestType: "list", Weight: 20},
		{RequestType: "hash", Weight: 10},
	}
	// offpeak.
	redisOffpeak = []Task{
		{RequestType: "get", Weight: 50},
		{RequestType: "set", Weight: 30},
		{RequestType: "info", Weight: 20},
	}
	// rushsale, stable_rushsale: carts (HSET+EXPIRE as "SET", HGETALL as
	// "GET") and an order queue (LPUSH+LTRIM as "LIST").
	redisRush = []Task{
		{RequestType: "set", Weight: 3},
		{RequestType: "get", Weight: 2},
		{RequestType: "list", Weight: 1},
	}
	// fluctuating, stable_fluctuating: sessions, cache, counters, an event
	// queue and a leaderboard.
	redisFluct = []Task{
		{RequestType: "get", Weight: 4},
		{RequestType: "set", Weight: 3},
		{RequestType: "list", Weight: 2},
		{RequestType: "zset", Weight: 1},
	}
)

const (
	redisKVSeed      = "GET key_{1..1000} (40), SET key EX 300 (30), LIST LPUSH/RPOP list_{1..100} (20), HASH HSET/HGET hash_{1..50} (10)"
	redisOffpeakSeed = "GET key_{1..500} (50), SET key EX 600 (30), INFO memory (20)"
	redisRushSeed    = "SET: HSET cart:user_{n%1000} + EXPIRE 3600 (3), GET: HGETALL cart (2), LIST: LPUSH order_queue + LTRIM 0..999 (1)"
	redisFluctSeed   = "GET: HGETALL session / GET cache / GET counter (4), SET: HSET+EXPIRE / SETEX / INCR+EXPIRE (3), LIST: LPUSH+LTRIM or RPOP event_queue (2), ZSET: ZADD+ZREMRANGEBYRANK leaderboard (1)"
)

// quarters is the seed's fluctuating shape: four equal phases of the run
// (run_time / 4, seed-spec 4.2, 4.3).
func quarters(a, b, c, d float64) []Stage {
	return []Stage{{225 * sec, a}, {450 * sec, b}, {675 * sec, c}, {900 * sec, d}}
}

// scenarios is the registry, in the order Names and All report. Task slices
// are shared between declarations; Lookup and All hand out copies.
var scenarios = []Scenario{
	// ---- Online Boutique, seed-spec 4.2 (GRL HEAD loadtest/onlineboutique/).

	// seed-spec 4.2 locust_offpeak.py: 100 users constant (LOCUST_TARGET_RPS 100).
	{
		App: OnlineBoutique, Name: "offpeak", Duration: seedRun,
		Stages: []Stage{{900 * sec, 100}},
		Wait:   stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "100 constant", RequestsIn900s: 90_000,
			Notes: obSeedNote + " The seed's plain and stable offpeak files are identical."},
	},
	// seed-spec 4.2 locust_peak.py: 400 users constant (LOCUST_TARGET_RPS 400).
	{
		App: OnlineBoutique, Name: "peak", Duration: seedRun,
		Stages: []Stage{{900 * sec, 400}},
		Wait:   stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "400 constant", RequestsIn900s: 360_000,
			Notes: obSeedNote + " The seed's plain and stable peak files are identical; at its ~2.5 s peak latency the closed loop offered only ~157 RPS (seed-spec 8 L1)."},
	},
	// seed-spec 4.2 locust_rushsale.py: 100, then 800 from 180 s for 300 s,
	// then 100 (LOCUST_BASE_RPS, LOCUST_RUSH_RPS, LOCUST_RUSH_START, LOCUST_RUSH_DURATION).
	{
		App: OnlineBoutique, Name: "rushsale", Duration: seedRun,
		Stages: []Stage{{180 * sec, 100}, {480 * sec, 800}, {900 * sec, 100}},
		Wait:   stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "0-180 s: 100; 180-480 s: 800; 480-900 s: 100", RequestsIn900s: 300_000,
			Notes: obSeedNote + " The seed's plain and stable rushsale files are identical; the seed's rush start and length are absolute seconds, ours scale with the run (WithDuration)."},
	},
	// seed-spec 4.2 locust_fluctuating.py: four 225 s phases 50, 300, 50, 800 (LOCUST_PHASE{1..4}_RPS).
	{
		App: OnlineBoutique, Name: "fluctuating", Duration: seedRun,
		Stages: quarters(50, 300, 50, 800),
		Wait:   stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "225 s phases: 50, 300, 50, 800", RequestsIn900s: 270_000,
			Notes: obSeedNote + " The seed's report used 180 000 (the stable variant) as this scenario's theoretical requests (seed-spec 4.4)."},
	},
	// seed-spec 4.2 locust_stable_offpeak.py: as offpeak.
	{
		App: OnlineBoutique, Name: "stable_offpeak", Stable: true, Duration: seedRun,
		Stages: []Stage{{900 * sec, 100}},
		Wait:   stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "100 constant", RequestsIn900s: 90_000,
			Notes: obSeedNote + " Identical to offpeak in the seed; the name is kept so runs stay comparable."},
	},
	// seed-spec 4.2 locust_stable_peak.py: as peak.
	{
		App: OnlineBoutique, Name: "stable_peak", Stable: true, Duration: seedRun,
		Stages: []Stage{{900 * sec, 400}},
		Wait:   stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "400 constant", RequestsIn900s: 360_000,
			Notes: obSeedNote + " Identical to peak in the seed; the name is kept so runs stay comparable."},
	},
	// seed-spec 4.2 locust_stable_rushsale.py: as rushsale.
	{
		App: OnlineBoutique, Name: "stable_rushsale", Stable: true, Duration: seedRun,
		Stages: []Stage{{180 * sec, 100}, {480 * sec, 800}, {900 * sec, 100}},
		Wait:   stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "0-180 s: 100; 180-480 s: 800; 480-900 s: 100", RequestsIn900s: 300_000,
			Notes: obSeedNote + " Identical to rushsale in the seed; the name is kept so runs stay comparable."},
	},
	// seed-spec 4.2 locust_stable_fluctuating.py: phases 50, 300, 50, 800,
	// each capped at LOCUST_MAX_RPS 400, so the last phase runs 400.
	{
		App: OnlineBoutique, Name: "stable_fluctuating", Stable: true, Duration: seedRun,
		Stages:   quarters(50, 300, 50, 800),
		MaxUsers: 400,
		Wait:     stableWait, Tasks: obJourney,
		Seed: SeedNote{Tasks: obSeedTasks, Users: "225 s phases: 50, 300, 50, 400 (800 capped at LOCUST_MAX_RPS 400)", RequestsIn900s: 180_000,
			Notes: obSeedNote},
	},

	// ---- Redis, seed-spec 4.3 (GRL HEAD loadtest/redis/).

	// seed-spec 4.3 locust_redis_offpeak.py: 500 users with between(1, 3).
	{
		App: Redis, Name: "offpeak", Duration: seedRun,
		Stages: []Stage{{900 * sec, 500}},
		Wait:   Wait{Kind: Between, Min: 1 * sec, Max: 3 * sec}, Tasks: redisOffpeak,
		Seed: SeedNote{Tasks: redisOffpeakSeed, Users: "500 constant", RequestsIn900s: 225_000,
			Notes: "Kept as the seed ran it: between(1, 3) gives ~0.5 tasks/s per user, about half the nominal 500 RPS (seed-spec 8 L2 defect); stable_offpeak is the 1 task/s variant."},
	},
	// seed-spec 4.3 locust_redis_peak.py: 2000 users, constant_throughput(1).
	{
		App: Redis, Name: "peak", Duration: seedRun,
		Stages: []Stage{{900 * sec, 2000}},
		Wait:   stableWait, Tasks: redisKV,
		Seed: SeedNote{Tasks: redisKVSeed, Users: "2000 constant", RequestsIn900s: 1_800_000},
	},
	// seed-spec 4.3 locust_redis_rushsale.py: 500, then 6000 over 180-480 s, then 500.
	{
		App: Redis, Name: "rushsale", Duration: seedRun,
		Stages: []Stage{{180 * sec, 500}, {480 * sec, 6000}, {900 * sec, 500}},
		Wait:   stableWait, Tasks: redisRush,
		Seed: SeedNote{Tasks: redisRushSeed, Users: "0-180 s: 500; 180-480 s: 6000; 480-900 s: 500", RequestsIn900s: 2_100_000,
			Notes: "The seed's rush start and length are absolute seconds, ours scale with the run (WithDuration)."},
	},
	// seed-spec 4.3 locust_redis_fluctuating.py: 225 s phases 500, 2000, 500, 4000.
	{
		App: Redis, Name: "fluctuating", Duration: seedRun,
		Stages: quarters(500, 2000, 500, 4000),
		Wait:   stableWait, Tasks: redisFluct,
		Seed: SeedNote{Tasks: redisFluctSeed, Users: "225 s phases: 500, 2000, 500, 4000", RequestsIn900s: 1_575_000},
	},
	// seed-spec 4.3 locust_redis_stable_offpeak.py: 500 users, constant_throughput(1),
	// with the peak task mix.
	{
		App: Redis, Name: "stable_offpeak", Stable: true, Duration: seedRun,
		Stages: []Stage{{900 * sec, 500}},
		Wait:   stableWait, Tasks: redisKV,
		Seed: SeedNote{Tasks: redisKVSeed, Users: "500 constant", RequestsIn900s: 450_000,
			Notes: "Unlike offpeak, the seed's stable file uses the peak task mix."},
	},
	// seed-spec 4.3 locust_redis_stable_peak.py: 3000 users.
	{
		App: Redis, Name: "stable_peak", Stable: true, Duration: seedRun,
		Stages: []Stage{{900 * sec, 3000}},
		Wait:   stableWait, Tasks: redisKV,
		Seed: SeedNote{Tasks: redisKVSeed, Users: "3000 constant", RequestsIn900s: 2_700_000},
	},
	// seed-spec 4.3 locust_redis_stable_rushsale.py: 1000, and 3000 while
	// elapsed/run is in [0.2, 0.8] (180-720 s); cap LOCUST_MAX_RPS 3500.
	{
		App: Redis, Name: "stable_rushsale", Stable: true, Duration: seedRun,
		Stages:   []Stage{{180 * sec, 1000}, {720 * sec, 3000}, {900 * sec, 1000}},
		MaxUsers: 3500,
		Wait:     stableWait, Tasks: redisRush,
		Seed: SeedNote{Tasks: redisRushSeed, Users: "1000; 3000 while elapsed/run in [0.2, 0.8]; cap 3500", RequestsIn900s: 1_980_000,
			Notes: "The seed's rush includes the instant 0.8*run itself; ours ends just before it, which changes no integral."},
	},
	// seed-spec 4.3 locust_redis_stable_fluctuating.py: 225 s phases 750, 2000,
	// 750, 3000; cap LOCUST_MAX_RPS 3500.
	{
		App: Redis, Name: "stable_fluctuating", Stable: true, Duration: seedRun,
		Stages:   quarters(750, 2000, 750, 3000),
		MaxUsers: 3500,
		Wait:     stableWait, Tasks: redisFluct,
		Seed: SeedNote{Tasks: redisFluctSeed, Users: "225 s phases: 750, 2000, 750, 3000; cap 3500", RequestsIn900s: 1_462_500},
	},
}
