package graphsim

import (
	"context"
	"math/rand/v2"
	"time"
)

// replyDelay is how long one request is held back: the latency, moved by up
// to the jitter either way, in proportion to u in [0, 1) (0 is the latency
// less the whole jitter), and never below zero.
func replyDelay(latency, jitter time.Duration, u float64) time.Duration {
	d := latency + time.Duration((2*u-1)*float64(jitter))
	return max(d, 0)
}

// holdBack waits out a request's delay, or until its client gives up; it
// reports whether the wait ran to its end.
func (s *Server) holdBack(ctx context.Context) bool {
	if s.latency == 0 && s.jitter == 0 {
		return true
	}
	return sleep(ctx, replyDelay(s.latency, s.jitter, rand.Float64()))
}

// sleep waits for d, or until ctx ends; it reports whether it waited out d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
