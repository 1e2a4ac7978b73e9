package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The targets of the issue "Batch-native coordination", checked against the
// cells of the run that exist, with the invariants of issue #8 that still
// hold (one upstream request per distinct bot and per lifetime, none when
// warm, one Redis round trip per ≤ 1,024 keys on a fresh replica). Its
// latency targets are replaced by this issue's, which ask the same of the
// cold path with the budgets on, and more of the warm one.
//
// Targets are checked on the new binary; with -baseline, the old binary's
// figure follows. Ratios are per repetition (gateway and floor side by
// side) and a target is met when the median meets it; count targets must
// hold in every repetition.

// verdict renders one target line.
func verdict(ok bool, what, detail string) string {
	mark := "NOT MET"
	if ok {
		mark = "met"
	}
	return fmt.Sprintf("- **%s**: %s — %s\n", mark, what, detail)
}

// perRep returns f(gw, floor) for every repetition.
func perRep(reps []rep, f func(g, fl sample) float64) []float64 {
	var xs []float64
	for _, r := range reps {
		xs = append(xs, f(r.gw, r.floor))
	}
	return xs
}

// p99OverFloorP50 is the gateway's p99 over the floor's p50, per repetition.
func p99OverFloorP50(g, fl sample) float64 { return figP99(g) / figP50(fl) }

// old renders the old binary's figure of cell k after a new one, "" without
// -baseline.
func (r *report) old(k cellKey, show func(reps []rep) string) string {
	if !r.compared() {
		return ""
	}
	return "; old: " + show(r.base[k])
}

func (r *report) targets() string {
	var b strings.Builder
	b.WriteString("\n### Targets\n\n")
	n := 0
	line := func(ok bool, what, detail string) {
		b.WriteString(verdict(ok, what, detail))
		n++
	}
	for _, k := range r.order {
		reps := r.cells[k]
		if len(reps) == 0 {
			continue
		}
		name := fmt.Sprintf("%s, %d bots over %d hosts", k.workload, k.bots, k.hosts)
		switch {
		case k.workload == workColdBudget && k.bots == 100 && k.hosts == 5:
			p50 := ratio(reps, figP50)
			p99 := statOf(perRep(reps, p99OverFloorP50))
			line(p50.med <= 1.10, name+" (Redis and budgets on): p50 ≤ 1.10× the plain Go client",
				fmt.Sprintf("%s× (gateway %s ms, floor %s ms)", p50.format(3), gw(reps, figP50).format(2), floorStat(reps, figP50).format(2))+
					r.old(k, func(o []rep) string { return ratio(o, figP50).format(3) + "×" }))
			line(p99.med <= 1.20, name+" (Redis and budgets on): p99 ≤ 1.20× the plain Go client",
				fmt.Sprintf("p99 %s ms = %s× the floor's p50 (%s× its p99)", gw(reps, figP99).format(2), p99.format(3), ratio(reps, figP99).format(3))+
					r.old(k, func(o []rep) string { return statOf(perRep(o, p99OverFloorP50)).format(3) + "×" }))
		case k.workload == workColdBudget && k.bots == 1000:
			p50 := ratio(reps, figP50)
			line(p50.med <= 1.20, name+" (Redis and budgets on): p50 ≤ 1.20× the plain Go client",
				fmt.Sprintf("%s× (gateway %s ms, floor %s ms)", p50.format(3), gw(reps, figP50).format(2), floorStat(reps, figP50).format(2))+
					r.old(k, func(o []rep) string { return ratio(o, figP50).format(3) + "×" }))
		case (k.workload == workHerd || k.workload == workHerdBudget) && k.bots == 1000:
			p50 := ratio(reps, figP50)
			line(p50.med <= 1.5, fmt.Sprintf("%s (a herd of %d over %d replicas): p50 ≤ 1.5× the cold floor", name, r.opts.herd, r.opts.replicas),
				fmt.Sprintf("%s× (herd p50 %s ms, plain client %s ms)", p50.format(2), gw(reps, figP50).format(2), floorStat(reps, figP50).format(2))+
					r.old(k, func(o []rep) string { return ratio(o, figP50).format(2) + "×" }))
		case k.workload == workWarm && k.bots == 1000:
			p50 := ratio(reps, figP50)
			line(p50.med <= 2, name+": p50 ≤ 2× the hand-written REST handler over the same cache",
				fmt.Sprintf("%s× (%s ms vs %s ms)", p50.format(2), gw(reps, figP50).format(2), floorStat(reps, figP50).format(2))+
					r.old(k, func(o []rep) string { return ratio(o, figP50).format(2) + "×" }))
		case k.workload == workWarmFresh && k.bots == 1000:
			p50 := ratio(reps, figP50)
			line(p50.med <= 5, name+" (a fresh replica's first query over a warm Redis): ≤ 5× one MGET of the same keys",
				fmt.Sprintf("%s× (%s ms vs %s ms)", p50.format(2), gw(reps, figP50).format(2), floorStat(reps, figP50).format(2))+
					r.old(k, func(o []rep) string { return ratio(o, figP50).format(2) + "×" }))
		}
	}
	// exact checks ok in every repetition of the cells of works whose bots
	// are in bots (any when empty).
	exact := func(works []string, bots []int, what string, ok func(k cellKey, s sample) bool, show func(s sample) string) {
		var bad, all, old []string
		for _, k := range r.order {
			if !slices.Contains(works, k.workload) || (len(bots) > 0 && !slices.Contains(bots, k.bots)) {
				continue
			}
			label := fmt.Sprintf("%d/%d", k.bots, k.hosts)
			if len(works) > 1 {
				label = k.workload + " " + label
			}
			for _, x := range r.cells[k] {
				cell := label + ": " + show(x.gw)
				all = append(all, cell)
				if !ok(k, x.gw) {
					bad = append(bad, cell)
				}
			}
			for _, x := range r.base[k] {
				old = append(old, label+": "+show(x.gw))
			}
		}
		if len(all) == 0 {
			return
		}
		detail := "every repetition of every cell (bots/hosts: value): " + strings.Join(all, ", ")
		if len(bad) > 0 {
			detail = "missed in " + strings.Join(bad, ", ")
		}
		if r.compared() {
			detail += "; old: " + strings.Join(old, ", ")
		}
		line(len(bad) == 0, what, detail)
	}
	exact([]string{workColdBudget}, []int{100, 1000}, "Redis round trips per cold query with the budgets on ≤ 3 per Redis node touched (100 and 1,000 bots)",
		func(k cellKey, s sample) bool { return s.redisNodes > 0 && s.redisRT <= 3*s.redisNodes },
		func(s sample) string { return fmt.Sprintf("%s over %.0f node(s)", short(s.redisRT), s.redisNodes) })
	exact([]string{workHerd, workHerdBudget}, []int{1000}, "herd of 1,000 bots right after expiry: exactly one upstream request per bot across the replicas",
		func(_ cellKey, s sample) bool { return s.upstreamPerBot == 1 && s.maxPerBot == 1 },
		func(s sample) string {
			return fmt.Sprintf("%s per bot, at most %.0f", short(s.upstreamPerBot), s.maxPerBot)
		})
	exact([]string{workCold, workColdBudget}, nil, "upstream requests per cold query = the distinct bots (#8; with the budgets on, none refused)",
		func(k cellKey, s sample) bool { return s.upstream == float64(k.bots) },
		func(s sample) string { return short(s.upstream) })
	exact([]string{workCold, workColdBudget}, nil, "≈0 new upstream connections per query once the pool is warm (≤ 1% of the bots; #8)",
		func(k cellKey, s sample) bool { return s.conns <= 0.01*float64(k.bots) },
		func(s sample) string { return short(s.conns) })
	exact([]string{workWarm}, nil, "0 upstream requests per warm query (#8)",
		func(_ cellKey, s sample) bool { return s.upstream == 0 },
		func(s sample) string { return short(s.upstream) })
	exact([]string{workWarmFresh}, nil, "1 Redis round trip per ≤ 1,024 keys per node (a replica's first warm query; #8)",
		func(k cellKey, s sample) bool {
			return s.redisRT <= math.Ceil(float64(k.bots)/1024)*max(1, s.redisNodes)
		},
		func(s sample) string { return short(s.redisRT) })
	exact([]string{workHerd, workHerdBudget}, nil, "herd: at most one upstream request per bot per lifetime across the replicas (the most any one bot received; a herd slower than a lifetime spans more than one; #8)",
		func(_ cellKey, s sample) bool { return s.maxPerBot <= max(1, s.lifetimes) },
		func(s sample) string {
			return fmt.Sprintf("%s in %.0f lifetime(s)", short(s.maxPerBot), max(1, s.lifetimes))
		})
	if n == 0 {
		b.WriteString("(no cell of this run is covered by a target)\n")
	}
	return b.String()
}

// short renders x with at most two decimals, trailing zeros dropped.
func short(x float64) string {
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
}
