package main

import (
	"fmt"
	"math"
	"strings"
)

// The targets of issue #8, checked against the cells of the run that exist.
// Ratios are per repetition (gateway and floor side by side) and a target is
// met when the median meets it; exact-count targets must hold in every
// repetition.

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

func (r *report) targets() string {
	var b strings.Builder
	b.WriteString("\n### Targets\n\n")
	n := 0
	latency := float64(r.opts.latency) / 1e6
	for _, k := range r.order {
		reps := r.cells[k]
		name := fmt.Sprintf("%s, %d bots over %d hosts", k.workload, k.bots, k.hosts)
		switch {
		case k.workload == workCold && k.bots == 100 && k.hosts == 5:
			p50 := ratio(reps, figP50)
			p99 := statOf(perRep(reps, func(g, fl sample) float64 { return figP99(g) / figP50(fl) }))
			b.WriteString(verdict(p50.med <= 1.10, name+": p50 ≤ 1.10× the floor",
				fmt.Sprintf("%s× the plain client's p50 (gateway p50 %s ms = %.2f× the %v upstream latency)", p50.format(3), gw(reps, figP50).format(2), gw(reps, figP50).med/latency, r.opts.latency)))
			b.WriteString(verdict(p99.med <= 1.20, name+": p99 ≤ 1.20× the floor",
				fmt.Sprintf("p99 %s ms = %s× the plain client's p50 (%s× its p99)", gw(reps, figP99).format(2), p99.format(3), ratio(reps, figP99).format(3))))
			n += 2
		case k.workload == workCold && k.bots == 1000:
			p50 := ratio(reps, figP50)
			b.WriteString(verdict(p50.med <= 1.15, name+": p50 ≤ 1.15× the plain Go client", p50.format(3)+"×"))
			n++
		case k.workload == workWarm && k.bots == 100 && k.hosts == 5:
			p50 := gw(reps, figP50)
			b.WriteString(verdict(p50.med <= 1, name+": p50 ≤ 1 ms", fmt.Sprintf("%s ms (REST floor %s ms)", p50.format(3), floorStat(reps, figP50).format(3))))
			n++
		case k.workload == workWarm && k.bots == 1000:
			p50 := ratio(reps, figP50)
			b.WriteString(verdict(p50.med <= 3, name+": p50 ≤ 3× the hand-written REST handler", fmt.Sprintf("%s× (%s ms vs %s ms)", p50.format(2), gw(reps, figP50).format(2), floorStat(reps, figP50).format(2))))
			n++
		}
	}
	exact := func(w, what string, ok func(k cellKey, s sample) bool, show func(s sample) string) {
		var bad, all []string
		for _, k := range r.order {
			if k.workload != w {
				continue
			}
			for _, x := range r.cells[k] {
				cell := fmt.Sprintf("%d/%d: %s", k.bots, k.hosts, show(x.gw))
				all = append(all, cell)
				if !ok(k, x.gw) {
					bad = append(bad, cell)
				}
			}
		}
		if len(all) == 0 {
			return
		}
		n++
		detail := "every repetition of every cell (bots/hosts: value): " + strings.Join(all, ", ")
		if len(bad) > 0 {
			detail = "missed in " + strings.Join(bad, ", ")
		}
		b.WriteString(verdict(len(bad) == 0, what, detail))
	}
	exact(workCold, "upstream requests per cold query = the distinct bots",
		func(k cellKey, s sample) bool { return s.upstream == float64(k.bots) },
		func(s sample) string { return fmt.Sprintf("%.3g", s.upstream) })
	exact(workCold, "≈0 new upstream connections per query once the pool is warm (≤ 1% of the bots)",
		func(k cellKey, s sample) bool { return s.conns <= 0.01*float64(k.bots) },
		func(s sample) string { return fmt.Sprintf("%.3g", s.conns) })
	exact(workWarm, "0 upstream requests per warm query",
		func(_ cellKey, s sample) bool { return s.upstream == 0 },
		func(s sample) string { return fmt.Sprintf("%.3g", s.upstream) })
	exact(workWarmFresh, "1 Redis round trip per ≤ 1,024 keys (a replica's first warm query)",
		func(k cellKey, s sample) bool { return s.redisRT <= math.Ceil(float64(k.bots)/1024) },
		func(s sample) string { return fmt.Sprintf("%.3g", s.redisRT) })
	exact(workHerd, "herd: at most one upstream request per bot per lifetime across the replicas (the most any one bot received; a herd slower than a lifetime spans more than one)",
		func(_ cellKey, s sample) bool { return s.maxPerBot <= max(1, s.lifetimes) },
		func(s sample) string {
			return fmt.Sprintf("%.3g in %.0f lifetime(s)", s.maxPerBot, max(1, s.lifetimes))
		})
	if n == 0 {
		b.WriteString("(no cell of this run is covered by a target)\n")
	}
	return b.String()
}
