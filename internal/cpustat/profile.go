package cpustat

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// A Component names a part of a program by the functions that belong to
// it: a function belongs if its full name (as pprof prints it, e.g.
// "evote/idp/token.(*Issuer).Issue") starts with one of Prefixes.
type Component struct {
	Name     string
	Prefixes []string
	// Fallback: the component claims a sample only if no other component
	// claims a function on its stack (e.g. an HTTP server's plumbing,
	// which also runs under the components' HTTP clients).
	Fallback bool
	// Label, "key=value", restricts the component to samples with that
	// pprof label (e.g. those of one server's goroutines, labelled with
	// pprof.Do around its start). A component with a label and no
	// prefixes claims every sample with the label, before any other.
	Label string
}

// Attribute reads a CPU profile (the gzip'd protobuf runtime/pprof
// writes) and sums its CPU time by component: each sample goes to the
// component of the innermost function on its stack that belongs to one of
// comps (the first in comps when several claim it), so library code (a
// hash, a database driver, an HTTP client) counts for the component that
// called it; fallback components only where no other one claims a
// function of the stack; components restricted to a pprof label only
// samples with it (Component.Label). Samples that no component claims are
// summed under other.
func Attribute(profile []byte, comps []Component, other string) (map[string]time.Duration, error) {
	p, err := parseProfile(profile)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Duration)
	for _, smp := range p.samples {
		out[claim(p, smp, comps, other)] += time.Duration(smp.value)
	}
	return out, nil
}

// claim returns the component a sample counts for.
func claim(p *profile, smp sample, comps []Component, other string) string {
	for _, c := range comps {
		if c.Label != "" && len(c.Prefixes) == 0 && smp.labels[c.Label] {
			return c.Name
		}
	}
	for _, fallback := range []bool{false, true} {
		for _, loc := range smp.locs {
			for _, fn := range p.locs[loc] {
				name := p.funcs[fn]
				for _, c := range comps {
					if c.Fallback == fallback && (c.Label == "" || smp.labels[c.Label]) && hasAnyPrefix(name, c.Prefixes) {
						return c.Name
					}
				}
			}
		}
	}
	return other
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

type profile struct {
	funcs   map[uint64]string   // function id -> name
	locs    map[uint64][]uint64 // location id -> function ids, innermost first
	samples []sample
}

type sample struct {
	locs   []uint64        // leaf first
	value  int64           // CPU nanoseconds
	labels map[string]bool // "key=value"
}

var errProfile = errors.New("cpustat: malformed profile")

// parseProfile decodes what Attribute needs of profile.proto
// (github.com/google/pprof/proto/profile.proto): the sample types, the
// samples, the locations' lines and the functions' names.
func parseProfile(raw []byte) (*profile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("cpustat: profile: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("cpustat: profile: %w", err)
	}
	var (
		types   [][2]int64 // (type, unit) string indices
		strs    []string
		samples []rawSample
		fnName  = map[uint64]int64{}
	)
	p := &profile{funcs: map[uint64]string{}, locs: map[uint64][]uint64{}}
	err = fields(b, func(num protowire.Number, typ protowire.Type, v uint64, m []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType: // sample_type
			var t [2]int64
			err := fields(m, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				if n == 1 || n == 2 {
					t[n-1] = int64(v)
				}
				return nil
			})
			types = append(types, t)
			return err
		case num == 2 && typ == protowire.BytesType: // sample
			var s rawSample
			err := fields(m, func(n protowire.Number, t protowire.Type, v uint64, m []byte) error {
				switch n {
				case 1:
					return varints(t, v, m, func(x uint64) { s.locs = append(s.locs, x) })
				case 2:
					return varints(t, v, m, func(x uint64) { s.values = append(s.values, int64(x)) })
				case 3:
					var l [2]int64
					err := fields(m, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if n == 1 || n == 2 {
							l[n-1] = int64(v)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case num == 4 && typ == protowire.BytesType: // location
			var id uint64
			var fns []uint64
			err := fields(m, func(n protowire.Number, t protowire.Type, v uint64, m []byte) error {
				switch {
				case n == 1:
					id = v
				case n == 4 && t == protowire.BytesType: // line
					return fields(m, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if n == 1 {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			})
			p.locs[id] = fns
			return err
		case num == 5 && typ == protowire.BytesType: // function
			var id uint64
			var name int64
			err := fields(m, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				switch n {
				case 1:
					id = v
				case 2:
					name = int64(v)
				}
				return nil
			})
			fnName[id] = name
			return err
		case num == 6 && typ == protowire.BytesType: // string_table
			strs = append(strs, string(m))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, i := range fnName {
		if i < 0 || i >= int64(len(strs)) {
			return nil, errProfile
		}
		p.funcs[id] = strs[i]
	}
	cpu := -1
	for i, t := range types {
		if t[1] >= 0 && t[1] < int64(len(strs)) && strs[t[1]] == "nanoseconds" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, fmt.Errorf("%w: no sample type in nanoseconds (not a CPU profile)", errProfile)
	}
	for _, s := range samples {
		if cpu >= len(s.values) {
			return nil, errProfile
		}
		smp := sample{locs: s.locs, value: s.values[cpu], labels: map[string]bool{}}
		for _, l := range s.labels {
			if l[0] < 0 || l[0] >= int64(len(strs)) || l[1] < 0 || l[1] >= int64(len(strs)) {
				return nil, errProfile
			}
			smp.labels[strs[l[0]]+"="+strs[l[1]]] = true
		}
		p.samples = append(p.samples, smp)
	}
	return p, nil
}

type rawSample struct {
	locs   []uint64
	values []int64
	labels [][2]int64 // (key, str) string indices
}

// fields calls f for each field of the message b: its number and type,
// its value if a varint, its bytes if length-delimited.
func fields(b []byte, f func(protowire.Number, protowire.Type, uint64, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProfile
		}
		b = b[n:]
		var v uint64
		var m []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			m, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errProfile
		}
		b = b[n:]
		if err := f(num, typ, v, m); err != nil {
			return err
		}
	}
	return nil
}

// varints reads a repeated varint field, packed or not.
func varints(t protowire.Type, v uint64, m []byte, f func(uint64)) error {
	if t == protowire.VarintType {
		f(v)
		return nil
	}
	for len(m) > 0 {
		x, n := protowire.ConsumeVarint(m)
		if n < 0 {
			return errProfile
		}
		f(x)
		m = m[n:]
	}
	return nil
}
