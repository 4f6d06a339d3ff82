package group

import (
	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// This file holds the few twisted-Edwards formulas (Hisil, Wong, Carter,
// Dawson, "Twisted Edwards Curves Revisited", 2008, for a = -1) that the
// fixed-base tables and the bucket multi-scalar multiplication need in
// representations edwards25519 does not export.

// feOne and feFour are the field elements 1 and 4.
var (
	feOne  = new(field.Element).One()
	feFour = new(field.Element).Mult32(feOne, 4)
)

// extPoint is a point in extended coordinates: x = X/Z, y = Y/Z, xy = T/Z.
type extPoint struct{ X, Y, Z, T field.Element }

// completedPoint is the result of an addition before normalisation:
// x = X/Z, y = Y/T.
type completedPoint struct{ X, Y, Z, T field.Element }

// cachedPoint is a point prepared for addition: (Y+X, Y-X, Z, 2dT).
type cachedPoint struct{ YplusX, YminusX, Z, T2d field.Element }

// nielsPoint is an affine point prepared for addition: (y+x, y-x, 2dxy).
type nielsPoint struct{ YplusX, YminusX, T2d field.Element }

func (p *extPoint) setIdentity() *extPoint {
	p.X.Zero()
	p.Y.One()
	p.Z.One()
	p.T.Zero()
	return p
}

func (p *extPoint) fromPoint(q *edwards25519.Point) *extPoint {
	X, Y, Z, T := q.ExtendedCoordinates()
	p.X, p.Y, p.Z, p.T = *X, *Y, *Z, *T
	return p
}

func (p *extPoint) toPoint(q *edwards25519.Point) *edwards25519.Point {
	if _, err := q.SetExtendedCoordinates(&p.X, &p.Y, &p.Z, &p.T); err != nil {
		panic("group: internal point arithmetic left the curve")
	}
	return q
}

func (p *extPoint) fromCompleted(c *completedPoint) *extPoint {
	p.X.Multiply(&c.X, &c.T)
	p.Y.Multiply(&c.Y, &c.Z)
	p.Z.Multiply(&c.Z, &c.T)
	p.T.Multiply(&c.X, &c.Y)
	return p
}

func (c *cachedPoint) fromExt(p *extPoint) *cachedPoint {
	c.YplusX.Add(&p.Y, &p.X)
	c.YminusX.Subtract(&p.Y, &p.X)
	c.Z.Set(&p.Z)
	c.T2d.Multiply(&p.T, curveD2)
	return c
}

// nielsFromExt converts p to affine Niels form; it costs one inversion.
func (n *nielsPoint) fromExt(p *extPoint) *nielsPoint {
	var zInv, x, y field.Element
	zInv.Invert(&p.Z)
	x.Multiply(&p.X, &zInv)
	y.Multiply(&p.Y, &zInv)
	n.YplusX.Add(&y, &x)
	n.YminusX.Subtract(&y, &x)
	n.T2d.Multiply(&x, &y)
	n.T2d.Multiply(&n.T2d, curveD2)
	return n
}

func (n *nielsPoint) setIdentity() *nielsPoint {
	n.YplusX.One()
	n.YminusX.One()
	n.T2d.Zero()
	return n
}

// condNeg negates n if cond == 1, in constant time.
func (n *nielsPoint) condNeg(cond int) {
	n.YplusX.Swap(&n.YminusX, cond)
	var neg field.Element
	neg.Negate(&n.T2d)
	n.T2d.Select(&neg, &n.T2d, cond)
}

// addCached sets c = p + q.
func (c *completedPoint) addCached(p *extPoint, q *cachedPoint) *completedPoint {
	var ypx, ymx, pp, mm, tt, zz field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	pp.Multiply(&ypx, &q.YplusX)
	mm.Multiply(&ymx, &q.YminusX)
	tt.Multiply(&p.T, &q.T2d)
	zz.Multiply(&p.Z, &q.Z)
	zz.Add(&zz, &zz)
	c.X.Subtract(&pp, &mm)
	c.Y.Add(&pp, &mm)
	c.Z.Add(&zz, &tt)
	c.T.Subtract(&zz, &tt)
	return c
}

// addNiels sets c = p + q for an affine q (mixed addition).
func (c *completedPoint) addNiels(p *extPoint, q *nielsPoint) *completedPoint {
	var ypx, ymx, pp, mm, tt, zz field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	pp.Multiply(&ypx, &q.YplusX)
	mm.Multiply(&ymx, &q.YminusX)
	tt.Multiply(&p.T, &q.T2d)
	zz.Add(&p.Z, &p.Z)
	c.X.Subtract(&pp, &mm)
	c.Y.Add(&pp, &mm)
	c.Z.Add(&zz, &tt)
	c.T.Subtract(&zz, &tt)
	return c
}

// subNiels sets c = p - q for an affine q (mixed subtraction): -q is q with
// y+x and y-x swapped and 2dxy negated.
func (c *completedPoint) subNiels(p *extPoint, q *nielsPoint) *completedPoint {
	var ypx, ymx, pp, mm, tt, zz field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	pp.Multiply(&ypx, &q.YminusX)
	mm.Multiply(&ymx, &q.YplusX)
	tt.Multiply(&p.T, &q.T2d)
	zz.Add(&p.Z, &p.Z)
	c.X.Subtract(&pp, &mm)
	c.Y.Add(&pp, &mm)
	c.Z.Subtract(&zz, &tt)
	c.T.Add(&zz, &tt)
	return c
}

// fromNiels sets p to the affine point q, or to -q if neg, at the cost of one
// multiplication: with a = (y+x)-(y-x) = 2x and b = (y+x)+(y-x) = 2y it
// returns (2a : 2b : 4 : a·b), a representative of (x, y) scaled by 4.
func (p *extPoint) fromNiels(q *nielsPoint, neg bool) *extPoint {
	if neg {
		p.X.Subtract(&q.YminusX, &q.YplusX)
	} else {
		p.X.Subtract(&q.YplusX, &q.YminusX)
	}
	p.Y.Add(&q.YplusX, &q.YminusX)
	p.T.Multiply(&p.X, &p.Y)
	p.X.Add(&p.X, &p.X)
	p.Y.Add(&p.Y, &p.Y)
	p.Z.Set(feFour)
	return p
}

// double sets c = 2p.
func (c *completedPoint) double(p *extPoint) *completedPoint {
	var xx, yy, zz2, xy field.Element
	xx.Square(&p.X)
	yy.Square(&p.Y)
	zz2.Square(&p.Z)
	zz2.Add(&zz2, &zz2)
	xy.Add(&p.X, &p.Y)
	xy.Square(&xy)
	c.Y.Add(&yy, &xx)
	c.Z.Subtract(&yy, &xx)
	c.X.Subtract(&xy, &c.Y)
	c.T.Subtract(&zz2, &c.Z)
	return c
}
