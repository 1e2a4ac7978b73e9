package alerts

import (
	"context"
	"errors"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/upstream"
)

// CountingBudget wraps b so that every request it refuses (its error wraps
// upstream.ErrRateLimited) is counted as budget exhaustion of that
// environment.
func (o *Observer) CountingBudget(b budget.Budget) budget.Budget {
	if b == nil {
		return nil
	}
	return countingBudget{b, o}
}

type countingBudget struct {
	budget.Budget
	o *Observer
}

func (c countingBudget) Allow(ctx context.Context, env, bot string) error {
	err := c.Budget.Allow(ctx, env, bot)
	if errors.Is(err, upstream.ErrRateLimited) {
		c.o.BudgetExhausted(env)
	}
	return err
}
