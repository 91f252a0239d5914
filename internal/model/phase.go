package model

import (
	"errors"
	"fmt"
	"sync"
)

// phase is work every part does at once, each its own list. On more than one
// device a phase ends when every part is done and synced, so the next may copy
// what another part wrote; the parts meet only there.
type phase [][]func() error

// task is one part's piece of work, or a barrier: a join between parts, where
// what came before must be finished everywhere before what comes after starts.
type task struct {
	barrier bool
	part    int
	f       func() error
}

// buildPhases lays out each layer's work forwards and backwards as tasks, and
// cuts them into phases at the barriers: for the whole passes (consecutive layers
// share a phase until a join) and for each layer alone.
func (m *Network) buildPhases() {
	m.fwdLayer, m.bwdLayer = make([][]phase, len(m.Plan)), make([][]phase, len(m.Plan))
	var fwd, bwd []task
	for i := range m.Plan {
		ts := m.forwardTasks(i)
		m.fwdLayer[i] = m.phases(ts)
		fwd = append(fwd, ts...)
	}
	m.fwd = m.phases(fwd)
	if m.inference {
		return
	}
	for i := len(m.Plan) - 1; i >= 0; i-- {
		ts := m.backwardTasks(i)
		m.bwdLayer[i] = m.phases(ts)
		bwd = append(bwd, ts...)
	}
	m.bwd = m.phases(bwd)
}

// forwardTasks: each part runs its layers on its own until a layer that reads
// another part's buffers, where all wait, copy, and wait again (so that none
// overwrites what another is still reading) before going on.
func (m *Network) forwardTasks(i int) []task {
	var ts []task
	exchange := false
	for t := range m.parts {
		exchange = exchange || remote(t, m.Plan[i].Parts[t].fwdIn)
	}
	ts = m.addCopies(ts, exchange, i, func(tl *partLayer) *copySet { return tl.fwdIn })
	for _, pt := range m.parts {
		if tl := pt.layers[i]; tl.op != nil {
			ts = append(ts, task{part: pt.t, f: func() error {
				if err := tl.op.forward(m.train, m.seeds[i]); err != nil {
					return fmt.Errorf("forward %s%s: %w", m.Plan[i].Name, m.on(pt), err)
				}
				return tl.fwdOut.run()
			}})
		}
	}
	return ts
}

// backwardTasks: the layer's output gradient is gathered where another part holds
// some of it (Halo), each part runs its op backwards, and the input gradients
// computed on one part for another cross back and are added (Gather, OnLead).
func (m *Network) backwardTasks(i int) []task {
	l := m.Plan[i]
	var ts []task
	exIn, exOut := false, false
	for t := range m.parts {
		exIn = exIn || remote(t, l.Parts[t].bwdIn)
		exOut = exOut || remote(t, l.Parts[t].bwdOut) || remote(t, l.Parts[t].bwdAdd)
	}
	ts = m.addCopies(ts, exIn, i, func(tl *partLayer) *copySet { return tl.bwdIn })
	for _, pt := range m.parts {
		if tl := pt.layers[i]; tl.op != nil {
			ts = append(ts, task{part: pt.t, f: func() error {
				if err := tl.op.backward(); err != nil {
					return fmt.Errorf("backward %s%s: %w", l.Name, m.on(pt), err)
				}
				return nil
			}})
		}
	}
	if exOut {
		ts = append(ts, task{barrier: true})
	}
	for _, pt := range m.parts {
		tl := pt.layers[i]
		if tl.bwdOut != nil {
			ts = append(ts, task{part: pt.t, f: tl.bwdOut.run})
		}
		if tl.bwdAdd != nil {
			ts = append(ts, task{part: pt.t, f: tl.bwdAdd.run}, task{part: pt.t, f: func() error {
				if err := pt.b.Axpy(1, tl.sum, tl.inDx); err != nil {
					return fmt.Errorf("backward %s%s: add the other tower's input gradient: %w", l.Name, m.on(pt), err)
				}
				return nil
			}})
		}
	}
	if exOut {
		ts = append(ts, task{barrier: true})
	}
	return ts
}

// addCopies appends each part's copy set of layer i, between barriers when the
// copies cross between parts.
func (m *Network) addCopies(ts []task, exchange bool, i int, pick func(*partLayer) *copySet) []task {
	if exchange {
		ts = append(ts, task{barrier: true})
	}
	for _, pt := range m.parts {
		if c := pick(pt.layers[i]); c != nil {
			ts = append(ts, task{part: pt.t, f: c.run})
		}
	}
	if exchange {
		ts = append(ts, task{barrier: true})
	}
	return ts
}

// phases cuts tasks into phases at the barriers.
func (m *Network) phases(ts []task) []phase {
	var out []phase
	cur := make(phase, len(m.parts))
	empty := true
	flush := func() {
		if !empty {
			out = append(out, cur)
			cur, empty = make(phase, len(m.parts)), true
		}
	}
	for _, t := range ts {
		if t.barrier {
			flush()
			continue
		}
		cur[t.part] = append(cur[t.part], t.f)
		empty = false
	}
	flush()
	return out
}

// run runs phases in order. One part runs its work on the caller's goroutine
// and never waits for its device: that is one device's stream of work, queued.
func (m *Network) run(phases []phase) error {
	for _, ph := range phases {
		err := m.all(func(pt *part) error {
			for _, f := range ph[pt.t] {
				if err := f(); err != nil {
					return err
				}
			}
			if len(m.parts) == 1 {
				return nil
			}
			// The next phase may copy what this one wrote, from another device.
			if err := pt.b.Sync(); err != nil {
				return fmt.Errorf("tower %d: %w", pt.t, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// all runs f for every part at once, the first on the caller's goroutine.
func (m *Network) all(f func(pt *part) error) error {
	if len(m.parts) == 1 {
		return f(m.parts[0])
	}
	errs := make([]error, len(m.parts))
	var wg sync.WaitGroup
	for _, pt := range m.parts[1:] {
		wg.Go(func() { errs[pt.t] = f(pt) })
	}
	errs[0] = f(m.parts[0])
	wg.Wait()
	return errors.Join(errs...)
}
