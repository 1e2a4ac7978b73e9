// Package simulator is a real-HTTP stand-in for Kore.ai's Bot Publish APIs, used by the demo, the
// tests and the benchmarks (SPEC §5).
//
// It serves, for every configured [Account]:
//
//	GET  /api/public/bot/{botId}/publish/status      (also /api/1.1/public/..., each with or without a trailing slash)
//	POST /api/public/bot/{botId}/publish             (same forms)
//	GET  /api/public/bots?offset=0&limit=50          (same forms)
//
// and, for people and scripts driving it, a control API that is never counted in [Stats]:
//
//	GET  /_simulator/stats                 the counters as JSON
//	POST /_simulator/reset                 zero the counters, 204
//	GET  /_simulator/faults, PUT ...       {"global": Fault, "accounts": {clientId: Fault}, "bots": {botId: Fault}}
//	GET  /_simulator/ratelimits, PUT ...   {"perMinute": 60, "perHour": 1800}
//	POST /_simulator/publish/{botId}       start a publish as if someone had clicked Publish, 204
//	POST /_simulator/finish/{botId}?outcome=failed|successful   end the current publish now, 204
//
// # Order of checks
//
// Every request to an API route is answered by the first of these that applies, so a test can
// reason about which one wins:
//
//  1. unknown path: 404; known path, wrong method: 405 (Allow header set);
//  2. authentication: missing or badly signed JWT, unknown appId, expired token, replayed or
//     missing jti when the app enforces it: 401 code 4002; a value that is not a JWT: 401
//     "Invalid JWT token"; an app without the route's scope: 401 "Permission denied";
//  3. faults, the bot's over the account's over the global one (a whole [Fault] overrides, fields
//     are not merged): latency and jitter first, then Hang, then RateLimited (429), then
//     ErrorRate (500/502/503);
//  4. bot not in the authenticated app's account: 400 "Invalid StreamId";
//  5. the rolling per-bot (status, publish) or per-account (bot list) rate limits: 429;
//  6. request validation (publish without versionComment: 412; bad paging: 400);
//  7. Malformed turns what would have been a 200 into a 200 with a truncated JSON body.
//
// Jobs are not advanced by goroutines: a job's progress is computed from the injected clock each
// time it is read, so tests drive publishes by moving a fake clock and the simulator owns no
// background goroutine at all. The only waits are fault latency and Hang, both released by the
// request's context and by [Simulator.Close].
package simulator
